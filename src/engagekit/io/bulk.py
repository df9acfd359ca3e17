"""What imports and exports need from a store beyond its protocol: bounded caches, contacts by the chunk.

The store protocol answers one contact per call (``store.contact(id)``) and leaves each database's
caches as its queries like them. A bulk load wants the opposite on both counts, so this module
reaches into the SQL stores (the only place in ``engagekit.io`` that does) and falls back to the
protocol for every other store:

- :func:`bounded_caches`: while an import runs, SQLite's page cache is held to
  :data:`IMPORT_CACHE_KIB`. The store opens with 256 MiB of page cache, good for its queries; an import
  appends, so that cache only fills with pages just written, and the process grew with the file
  (84 MiB at 100k events, 376 MiB at 1M). With a small cache the peak stays flat; written pages are
  still in the operating system's file cache, so throughput does not suffer.
- :func:`contacts_by_id`: one ``SELECT … WHERE id IN (…)`` per batch of ids on the SQL stores instead of
  one query per contact.

>>> from engagekit import MemoryStore, Contact
>>> store = MemoryStore(currency="PLN")
>>> _ = store.add_contacts([Contact(id="c1", created_at="2026-01-01T00:00:00+00:00")])
>>> [c.id for c in contacts_by_id(store, ["c1", "missing"])]
['c1']
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from engagekit.model import Contact
from engagekit.stores.base import Store

__all__ = ["IMPORT_CACHE_KIB", "LOOKUP_BATCH", "bounded_caches", "contacts_by_id"]

IMPORT_CACHE_KIB = 16 * 1024
"""SQLite page cache during an import (KiB); the store's own setting is restored afterwards."""

LOOKUP_BATCH = 500
"""Ids per ``IN (…)`` list: well below SQLite's oldest limit of 999 bound parameters."""


def _sql(store: Store) -> Any:
    """The store's :class:`~engagekit.stores.sql.db.Database`, or None for a store that is not SQL."""
    from engagekit.stores.sql.store import SQLStore

    return store._db if isinstance(store, SQLStore) else None


@contextmanager
def bounded_caches(store: Store) -> Iterator[None]:
    """Hold the database's page cache small for the duration of a bulk load (SQLite; others as they are)."""
    db = _sql(store)
    if db is None or db.dialect != "sqlite":
        yield
        return
    previous = int(db.execute("PRAGMA cache_size")[0][0])
    # PRAGMA takes no bound parameters: both values are integers, formatted as such
    db.execute(f"PRAGMA cache_size = {-int(IMPORT_CACHE_KIB)}")
    try:
        yield
    finally:
        db.execute(f"PRAGMA cache_size = {previous}")


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
