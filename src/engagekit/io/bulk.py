"""Contacts by the chunk: what an export needs from a store beyond its protocol.

The store protocol answers one contact per call (``store.contact(id)``); an export of a segment's
members wants them by the batch. :func:`contacts_by_id` asks the SQL stores with one
``SELECT … WHERE id IN (…)`` per batch of ids (the only place in ``engagekit.io`` that reaches into a
store's database) and falls back to the protocol for every other store. The settings a bulk load
wants (SQLite's page cache, DuckDB's memory limit) belong to the stores: ``store.bulk_load()``.

>>> from engagekit import MemoryStore, Contact
>>> store = MemoryStore(currency="PLN")
>>> _ = store.add_contacts([Contact(id="c1", created_at="2026-01-01T00:00:00+00:00")])
>>> [c.id for c in contacts_by_id(store, ["c1", "missing"])]
['c1']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engagekit.model import Contact
from engagekit.stores.base import Store

__all__ = ["LOOKUP_BATCH", "contacts_by_id"]

LOOKUP_BATCH = 500
"""Ids per ``IN (…)`` list: well below SQLite's oldest limit of 999 bound parameters."""


def _sql(store: Store) -> Any:
    """The store's :class:`~engagekit.stores.sql.db.Database`, or None for a store that is not SQL."""
    from engagekit.stores.sql.store import SQLStore

    return store._db if isinstance(store, SQLStore) else None


def contacts_by_id(store: Store, ids: Sequence[str]) -> list[Contact]:
    """The stored contacts among ``ids``, in the order of ``ids`` (unknown ids are left out).

    SQL stores answer with one query per :data:`LOOKUP_BATCH` ids; other stores one ``contact()`` call each.
    """
    db = _sql(store)
    if db is None:
        found = (store.contact(contact_id) for contact_id in ids)
        return [c for c in found if c is not None]
    from engagekit.stores.sql.schema import CONTACT_COLUMNS, contact_from_row

    table = db.table("contacts")
    by_id: dict[str, Contact] = {}
    for start in range(0, len(ids), LOOKUP_BATCH):
        chunk = list(ids[start:start + LOOKUP_BATCH])
        marks = ", ".join("?" * len(chunk))
        for row in db.execute(f"SELECT {CONTACT_COLUMNS} FROM {table} WHERE id IN ({marks})", chunk):
            contact = contact_from_row(row)
            by_id[contact.id] = contact
    return [by_id[contact_id] for contact_id in ids if contact_id in by_id]
