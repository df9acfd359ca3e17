"""Helpers shared by the suite: a shop to load, the golden set, and one view of explain/preview.

Store answers and the Reference's answers are both brought to plain data here, by the same code, so
a comparison never depends on how a store spells its result objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from engagekit import Contact, Event
from engagekit.filters import _AttrCompare, _Count, _Engagement, _Has, _Joined, _Money, _Profile, _Status, _Tag
from engagekit.reference import Reference

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
GOLDEN = Path(__file__).resolve().parent / "golden"


@dataclass(frozen=True)
class Shop:
    """Contacts and events as given to a store, in order (duplicates and upserts included)."""

    contacts: tuple[Contact, ...]
    events: tuple[Event, ...]
    split: int = 0  # events[:split] go in a first batch, the rest in a second one

    def reference(self) -> Reference:
        return Reference(self.contacts, self.events, currency="PLN")

    def load(self, store: Any) -> None:
        store.add_contacts(list(self.contacts))
        if self.split:
            store.add_events(list(self.events[: self.split]))
        store.add_events(list(self.events[self.split:]))


# --- the golden set --------------------------------------------------------------------------------


def golden_contacts() -> list[Contact]:
    lines = (GOLDEN / "contacts.jsonl").read_text(encoding="utf-8").splitlines()
    return [Contact.from_dict(json.loads(line)) for line in lines if line.strip()]


def golden_events() -> list[Event]:
    lines = (GOLDEN / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [Event.from_dict(json.loads(line)) for line in lines if line.strip()]


def golden_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((GOLDEN / "cases.json").read_text(encoding="utf-8"))
    return cases


def golden_shop() -> Shop:
    return Shop(tuple(golden_contacts()), tuple(golden_events()))


# --- one view of explain and preview ---------------------------------------------------------------


def _get(source: Any, name: str) -> Any:
    if isinstance(source, Mapping):
        return source.get(name)
    return getattr(source, name, None)


def utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def evidence(node: Any, source: Any) -> dict[str, Any]:
    """What SPEC §9 says a node of this kind shows, read from a store's or the Reference's row."""
    out: dict[str, Any] = {"holds": bool(_get(source, "holds"))}
    window = _get(source, "window")
    if isinstance(node, (_Count, _Money, _Joined)):
        out["window"] = None if window is None else (utc(window[0]), utc(window[1]))
    if isinstance(node, _Count):
        out["count"] = _get(source, "count")
        out["matches"] = tuple(utc(m) for m in (_get(source, "matches") or ()))
    elif isinstance(node, _Money):
        out["total" if node.measure == "spent" else "mean"] = _get(source, "total" if node.measure == "spent"
                                                                    else "mean")
    elif isinstance(node, _Engagement):
        out["state"] = _get(source, "state")
    elif isinstance(node, (_Profile, _Has, _Tag, _Status, _AttrCompare, _Joined)):
        value = _get(source, "value")
        out["value"] = utc(value) if isinstance(value, datetime) else value
    return out


def flatten_explanation(explanation: Any) -> list[tuple[Any, dict[str, Any]]]:
    """A store's ``Explanation`` tree as ``(node, evidence)`` pairs in pre-order."""
    rows: list[tuple[Any, dict[str, Any]]] = []

    def walk(item: Any) -> None:
        node = _get(item, "filter")
        rows.append((node, evidence(node, item)))
        for child in _get(item, "children") or ():
            walk(child)

    walk(explanation)
    return rows


def reference_explanation(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, dict[str, Any]]]:
    """The Reference's explain rows in the same form as :func:`flatten_explanation`."""
    return [(row["node"], evidence(row["node"], row)) for row in rows]


def preview_view(preview: Any) -> dict[str, Any]:
    """A ``Preview`` (or the Reference's dict) as plain data."""
    examples = _get(preview, "examples") or {}
    return {
        "count": _get(preview, "count"),
        "entering": _get(preview, "entering"),
        "leaving": _get(preview, "leaving"),
        "staying": _get(preview, "staying"),
        "examples": {name: tuple(examples.get(name, ())) for name in ("entering", "leaving", "staying")},
    }


def nonzero(flows: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    return {pair: n for pair, n in flows.items() if n}


def sorted_ids(ids: Iterable[str]) -> list[str]:
    return sorted(ids)


def dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
