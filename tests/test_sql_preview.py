"""SQL stores: preview (SPEC §9) in one statement equals the set differences of two member lists."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engagekit import Contact, Event, city, everyone, opened, ordered, tag
from engagekit.filters import Filter
from tests.test_sql_schema import Opener

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
# ids whose order differs between code points and a locale, case or byte-length: "Z" < "a" < "é" < "😀"
NAMES = ["a", "Z", "é", "😀", "b10", "b9", "B", "ä", "z", "0", "'; DROP TABLE contacts; --", "%s", "?"]
IDS = [f"{name}{i}" for i in range(3) for name in NAMES]  # 39 contacts: more than 10 of each kind
CONTACTS = [Contact(id=cid, city="Kraków" if n % 2 else "Warszawa", tags={"vip"} if n % 3 == 0 else set(),
                    created_at="2026-01-01T00:00:00+00:00") for n, cid in enumerate(IDS)]
EVENTS = [Event(id=f"e{n}", contact_id=cid, type="email_open", at="2026-06-01T00:00:00+00:00", campaign_id="k1")
          for n, cid in enumerate(IDS) if n % 5 != 0]
CASES: list[tuple[Filter, Filter]] = [
    (city("Kraków"), tag("vip")),
    (opened(), city("Warszawa") | tag("vip")),
    (everyone(), opened()),
    (opened(), everyone()),
    (ordered(), ordered()),  # nobody in either
    (city("Kraków"), city("Kraków")),  # staying only
]


@pytest.fixture(params=["sqlite", "duckdb", "postgres"])
def loaded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    opener = Opener(request.param, tmp_path)
    store = opener.open()
    try:
        store.add_contacts(CONTACTS)
        store.add_events(EVENTS)
        yield store
    finally:
        store.close()
        opener.cleanup()


def smallest(ids: frozenset[str]) -> tuple[str, ...]:
    return tuple(heapq.nsmallest(10, ids))


@pytest.mark.parametrize(("new", "against"), CASES, ids=[repr(c) for c in CASES])
def test_preview_is_the_set_differences(loaded: Any, new: Filter, against: Filter) -> None:
    now, saved = loaded.members(new, at=NOW), loaded.members(against, at=NOW)
    got = loaded.preview(new, against=against, at=NOW)
    assert (got.count, got.entering, got.leaving, got.staying) == (
        len(now), len(now - saved), len(saved - now), len(now & saved))
    assert dict(got.examples) == {"entering": smallest(now - saved), "leaving": smallest(saved - now),
                                  "staying": smallest(now & saved)}


def test_preview_against_a_saved_segment(loaded: Any) -> None:
    segment = loaded.create_segment(tag("vip"), name="vip")
    by_id = loaded.preview(city("Kraków"), against=segment.id, at=NOW)
    assert by_id == loaded.preview(city("Kraków"), against=tag("vip"), at=NOW)
    assert by_id.entering == len({c.id for c in CONTACTS if c.city == "Kraków" and "vip" not in c.tags})


def test_the_examples_are_code_point_order(loaded: Any) -> None:
    got = loaded.preview(everyone(), against=ordered(), at=NOW)
    assert got.examples["entering"] == ("%s0", "%s1", "%s2", "'; DROP TABLE contacts; --0",
                                        "'; DROP TABLE contacts; --1", "'; DROP TABLE contacts; --2", "00", "01",
                                        "02", "?0")
    assert loaded.count(everyone(), at=NOW) == len(IDS)  # the schema is intact


def test_preview_of_filters_with_counts_and_status(loaded: Any) -> None:
    from engagekit import opened, status

    new, against = opened(at_least=2) | status("subscribed"), opened(at_most=0) & ~tag("vip")
    now, saved = loaded.members(new, at=NOW), loaded.members(against, at=NOW)
    got = loaded.preview(new, against=against, at=NOW)
    assert (got.count, got.entering, got.leaving, got.staying) == (
        len(now), len(now - saved), len(saved - now), len(now & saved))
    assert got.examples["leaving"] == smallest(saved - now)
