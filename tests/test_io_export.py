"""Exports (members, contacts, the membership log) and round trips: import → export → import."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from engagekit import (
    MemoryStore,
    city,
    engaged,
    everyone,
    last,
    ordered,
    status,
    subscribed,
    tag,
    viewed,
)
from engagekit.io import (
    MappingError,
    export_contacts,
    export_log,
    export_members,
    import_contacts,
    import_events,
)

GOLDEN = Path(__file__).parent / "golden"
NOW = "2026-06-30T12:00:00+00:00"
FORMATS = ["csv", "jsonl", "parquet", "csv.gz"]
FILTERS = [
    everyone(), city("warszawa"), tag("vip"), ordered(within=last(days=365)), viewed(category="bluzy"),
    subscribed() & ~ordered(within=last(days=30)), engaged(), status("unknown") | tag("newsletter"),
]


def needs(fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")


def golden(store):
    import_contacts(store, GOLDEN / "contacts.jsonl")
    import_events(store, GOLDEN / "events.jsonl")
    return store


def answers(store) -> list:
    result = []
    for at in (NOW, "2026-05-16T12:00:00+00:00"):
        for flt in FILTERS:
            result.append((store.members(flt, at=at), store.metrics(flt, at=at)))
        result.append(store.value_counts("city", at=at))
    return result


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_contacts(store_factory, tmp_path, fmt):
    needs(fmt)
    first = golden(store_factory())
    path = tmp_path / f"contacts.{fmt}"
    assert export_contacts(first, path) == 25  # every stored contact, even one created after NOW
    second = store_factory()
    report = import_contacts(second, path)
    assert (report.added, report.rejected) == (25, 0)
    import_events(second, GOLDEN / "events.jsonl")
    assert answers(second) == answers(first)
    for contact_id in first.members(everyone(), at="2100-01-01T00:00:00+00:00"):
        assert second.contact(contact_id) == first.contact(contact_id)


@pytest.mark.parametrize("fmt", FORMATS)
def test_members_export_reads_back(store, tmp_path, fmt):
    needs(fmt)
    golden(store)
    flt = subscribed() | tag("vip")
    path = tmp_path / f"members.{fmt}"
    rows = export_members(store, flt, path, ("id", "email", "city", "tags", "created_at", "attributes.plan"), at=NOW)
    expected = sorted(store.members(flt, at=NOW))
    assert rows == len(expected) > 0
    got = read(path, fmt)
    assert [r["id"] for r in got] == expected  # code-point order of ids
    c01 = next(r for r in got if r["id"] == "c01")
    if fmt.startswith("csv"):
        assert c01 == {"id": "c01", "email": "c01@example.com", "city": "Warszawa", "tags": '["newsletter","vip"]',
                       "created_at": "2025-06-01T08:00:00+00:00", "attributes.plan": "gold"}
    elif fmt == "jsonl":
        assert c01["tags"] == ["newsletter", "vip"] and c01["attributes.plan"] == "gold"
        assert c01["created_at"] == "2025-06-01T08:00:00+00:00"
    else:
        assert c01["tags"] == ["newsletter", "vip"] and c01["attributes.plan"] == "gold"
        assert c01["created_at"] == datetime(2025, 6, 1, 8, tzinfo=UTC)
    assert not list(tmp_path.glob("*.partial"))


def read(path: Path, fmt: str) -> list[dict]:
    if fmt == "parquet":
        import pyarrow.parquet as pq
        return pq.read_table(path).to_pylist()
    if fmt == "csv.gz":
        import gzip
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    if fmt == "csv":
        with open(path, encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_members_of_a_saved_segment(store, tmp_path):
    if not hasattr(store, "create_segment"):
        pytest.skip("this store has no segments yet")
    golden(store)
    segment = store.create_segment(city("warszawa"), name="Warsaw")
    assert export_members(store, segment.id, tmp_path / "m.csv", ("id",), at=NOW) == len(
        store.members(city("warszawa"), at=NOW))


def test_unknown_field_is_refused(tmp_path):
    with pytest.raises(MappingError, match="'colour' is not a contact field"):
        export_members(MemoryStore(currency="PLN"), everyone(), tmp_path / "m.csv", ("id", "colour"))


def test_export_of_a_deep_filter_is_streamed_in_chunks(tmp_path):
    store = golden(MemoryStore(currency="PLN"))
    path = tmp_path / "m.jsonl"
    assert export_members(store, everyone(), path, ("id",), at=NOW, chunk_size=3) == len(
        store.members(everyone(), at=NOW))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_log_export(tmp_path, fmt):
    needs(fmt)
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    entries = [SimpleNamespace(segment_id="s1", contact_id="c1", change="added", at=at, late=False),
               SimpleNamespace(segment_id="s1", contact_id="c2", change="removed", at=at, late=True)]
    calls = []

    class Logged:
        def log(self, segment_id, *, since=None, until=None, contact_id=None):
            calls.append((segment_id, since, until, contact_id))
            return iter(entries)

    path = tmp_path / f"log.{fmt}"
    assert export_log(Logged(), "s1", path, since=NOW, chunk_size=1) == 2
    assert calls == [("s1", NOW, None, None)]
    rows = read(path, fmt)
    assert [r["contact_id"] for r in rows] == ["c1", "c2"]
    if fmt == "csv":
        assert rows[1] == {"segment_id": "s1", "contact_id": "c2", "change": "removed",
                           "at": "2026-01-02T03:04:05.000006+00:00", "late": "true"}
    elif fmt == "jsonl":
        assert rows[1]["late"] is True and rows[1]["at"] == "2026-01-02T03:04:05.000006+00:00"
    else:
        assert rows[1]["late"] is True and rows[1]["at"] == at


def test_log_export_of_a_store(store, tmp_path):
    if not hasattr(store, "log"):
        pytest.skip("this store keeps no membership log yet")
    golden(store)
    segment = store.create_segment(city("warszawa"))
    expected = list(store.log(segment.id))
    assert export_log(store, segment.id, tmp_path / "log.jsonl") == len(expected)


def test_decimal_attributes_survive_a_round_trip(tmp_path):
    from engagekit import Contact
    store = MemoryStore(currency="PLN")
    store.add_contacts([Contact(id="c1", created_at=NOW, attributes={"score": Decimal("1.5"), "n": 3,
                                                                     "flag": True, "name": "x"})])
    for fmt in ("csv", "jsonl"):
        path = tmp_path / f"c.{fmt}"
        export_contacts(store, path)
        other = MemoryStore(currency="PLN")
        import_contacts(other, path)
        assert dict(other.contact("c1").attributes) == {"score": Decimal("1.5"), "n": 3, "flag": True, "name": "x"}


# --- contacts fetched by the batch --------------------------------------------------------------------

def _many_contacts(n: int):
    from engagekit import Contact

    return [Contact(id=f"c{i:04d}", email=f"u{i}@example.com", city=["Kraków", "Gdańsk", None][i % 3],
                    tags={"vip"} if i % 7 == 0 else set(), attributes={"plan": "pro"} if i % 5 == 0 else {},
                    created_at="2026-01-01T00:00:00+00:00") for i in range(n)]


def test_contacts_by_id_keeps_the_order_and_leaves_out_unknown_ids(store):
    from engagekit.io.bulk import LOOKUP_BATCH, contacts_by_id
    from engagekit.stores.sql.store import SQLStore

    # three batches on the SQL stores; elsewhere it is one contact() call per id, so a few suffice
    contacts = _many_contacts(LOOKUP_BATCH * 2 + 7 if isinstance(store, SQLStore) else 7)
    store.add_contacts(contacts)
    wanted = [contacts[5].id, "nobody", *(c.id for c in reversed(contacts))]
    got = contacts_by_id(store, wanted)
    assert got == [contacts[5], *reversed(contacts)]  # the contacts stored, field for field
    assert contacts_by_id(store, []) == []


def test_sqlite_export_fetches_contacts_with_one_query_per_batch(tmp_path):
    from engagekit.io.bulk import LOOKUP_BATCH
    from engagekit.stores.sql.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "s.db", currency="PLN")
    contacts = _many_contacts(LOOKUP_BATCH * 2 + 7)
    store.add_contacts(contacts)
    statements: list[str] = []
    store._db.conn.set_trace_callback(statements.append)
    rows = export_members(store, everyone(), tmp_path / "m.csv", ("id", "email", "city"), at=NOW)
    store._db.conn.set_trace_callback(None)
    assert rows == len(contacts)
    lookups = [s for s in statements if "FROM contacts WHERE id" in s or 'FROM "contacts" WHERE id' in s]
    assert len(lookups) == 3, lookups[:5]
    with open(tmp_path / "m.csv", newline="", encoding="utf-8") as handle:
        read = list(csv.DictReader(handle))
    assert [(r["id"], r["email"], r["city"]) for r in read] == [(c.id, c.email, c.city or "") for c in contacts]
    store.close()
