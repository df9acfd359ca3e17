"""What a live engine reads from a store when it starts: every contact and every event.

A store offers ``_iter_contacts()`` and ``_iter_events()`` (store primitives of the live engine).
The memory store keeps no ``Event`` objects, so for it the rows are read back from its columns as
light :class:`Fact` records carrying the attributes the engine's matchers read.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, NamedTuple

from engagekit.model import EVENT_TYPES, PRODUCT_TYPES, Contact
from engagekit.time import to_micros


class FactItem(NamedTuple):
    product_id: str
    categories: tuple[str, ...]


class Fact(NamedTuple):
    """An event as the engine needs it (``at_us`` in microseconds)."""

    id: str
    contact_id: str
    type: str
    at_us: int
    product_id: str | None = None
    categories: tuple[str, ...] = ()
    items: tuple[FactItem, ...] = ()
    value: Decimal | None = None
    campaign_id: str | None = None
    form_id: str | None = None


def history(store: Any) -> tuple[list[Contact], Iterator[Any]]:
    """Every contact of ``store`` and an iterator over its events (``Event`` or :class:`Fact`)."""
    contacts = getattr(store, "_iter_contacts", None)
    events = getattr(store, "_iter_events", None)
    if contacts is not None and events is not None:
        return list(contacts()), iter(events())
    from engagekit.stores.memory import MemoryStore

    if isinstance(store, MemoryStore):
        return _memory_contacts(store), _memory_events(store)
    db = getattr(store, "_db", None)
    if db is not None:
        return _sql_contacts(db), _sql_events(db, store.currency)
    raise NotImplementedError(
        f"{type(store).__name__} cannot list its contacts and events; the live engine needs the store "
        f"primitives _iter_contacts() and _iter_events()")


def _memory_contacts(store: Any) -> list[Contact]:
    return [c for c in store._contact if c is not None]


def _memory_events(store: Any) -> Iterator[Fact]:
    from engagekit.money import exponent

    scale = exponent(store.currency)
    slot_of, slot_id = store._slot_of, store._slot_id
    names = {code: name for name, code in store._name_of.items()}
    pcats, baskets = store._pcat, store._basket
    for row, event_id in enumerate(store._ev_id):
        slot = store._ev_slot[row]
        contact_id = slot_id[slot]
        if slot_of.get(contact_id) != slot:  # a forgotten contact's detached row
            continue
        etype = EVENT_TYPES[store._ev_type[row]]
        pay = store._ev_pay[row]
        at_us = store._ev_us[row]
        if etype in PRODUCT_TYPES:
            product, spellings, _ = pcats[pay]
            yield Fact(event_id, contact_id, etype, at_us, product_id=product, categories=spellings)
        elif etype == "order":
            items = tuple(FactItem(pcats[p][0], pcats[p][1]) for p in baskets[pay])
            value = Decimal(store._ev_value.get(row, 0)).scaleb(-scale)
            yield Fact(event_id, contact_id, etype, at_us, items=items, value=value)
        elif etype in ("subscribe", "unsubscribe"):
            yield Fact(event_id, contact_id, etype, at_us, form_id=names.get(pay))
        else:
            yield Fact(event_id, contact_id, etype, at_us, campaign_id=names.get(pay))


def event_micros(event: Any) -> int:
    """The instant of an ``Event`` or a :class:`Fact`, in microseconds."""
    at_us = getattr(event, "at_us", None)
    return at_us if at_us is not None else to_micros(event.at)


def _sql_contacts(db: Any) -> list[Contact]:
    from engagekit.stores.sql.schema import CONTACT_COLUMNS, contact_from_row

    return [contact_from_row(row) for row in db.execute(f"SELECT {CONTACT_COLUMNS} FROM {db.table('contacts')}")]


def _sql_events(db: Any, currency: str) -> Iterator[Fact]:
    """Events read back from the SQL store's tables (``events``, ``items``, ``item_categories``)."""
    from engagekit.money import exponent

    scale = exponent(currency)
    categories: dict[tuple[str, int], list[str]] = {}
    for event_id, item_no, category in db.execute(
            f"SELECT event_id, item_no, category FROM {db.table('item_categories')}"):
        categories.setdefault((event_id, int(item_no)), []).append(category)
    items: dict[str, list[tuple[int, str]]] = {}
    for event_id, item_no, product_id in db.execute(
            f"SELECT event_id, item_no, product_id FROM {db.table('items')}"):
        items.setdefault(event_id, []).append((int(item_no), product_id))
    rows = db.execute(f"SELECT id, contact_id, type, at_us, value_minor, campaign_id, form_id "
                      f"FROM {db.table('events')}")
    for event_id, contact_id, etype, at_us, value_minor, campaign_id, form_id in rows:
        lines = [FactItem(product, tuple(categories.get((event_id, no), ())))
                 for no, product in sorted(items.get(event_id, ()))]
        if etype in PRODUCT_TYPES:
            product_id, cats = (lines[0].product_id, lines[0].categories) if lines else (None, ())
            yield Fact(event_id, contact_id, etype, int(at_us), product_id=product_id, categories=cats)
        elif etype == "order":
            value = Decimal(int(value_minor or 0)).scaleb(-scale)
            yield Fact(event_id, contact_id, etype, int(at_us), items=tuple(lines), value=value)
        else:
            yield Fact(event_id, contact_id, etype, int(at_us), campaign_id=campaign_id, form_id=form_id)
