"""Bulk loads: an import runs inside ``store.bulk_load()``, which holds SQLite's page cache and
DuckDB's memory limit small while it runs and restores them after (also after an error).

The settings are read back from the database itself (``PRAGMA cache_size``,
``current_setting('memory_limit')``) from the import's ``on_chunk`` callback, i.e. while it runs.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engagekit import Event, MemoryStore
from engagekit.io import ImportRejected, import_events
from engagekit.reports import LoadReport
from tests.stores import unavailable


def events_file(tmp_path: Path, n: int = 5, *, bad: bool = False) -> Path:
    """``n`` valid email opens, and with ``bad`` a last line whose instant does not parse."""
    lines = [json.dumps({"id": f"e{i}", "contact_id": "c1", "type": "email_open", "campaign_id": "k1",
                         "at": "2026-06-01T10:00:00+00:00"}) for i in range(n)]
    if bad:
        lines.append(json.dumps({"id": "e-bad", "contact_id": "c1", "type": "email_open", "at": "not an instant"}))
    path = tmp_path / ("bad.jsonl" if bad else "events.jsonl")
    path.write_text("\n".join(lines) + "\n")
    return path


# --- SQLite: the page cache ------------------------------------------------------------------------------

def sqlite_store(tmp_path: Path) -> Any:
    from engagekit.stores.sql.sqlite import SQLiteStore

    return SQLiteStore(tmp_path / "s.db", currency="PLN")


def cache_size(store: Any) -> int:
    return int(store._db.execute("PRAGMA cache_size")[0][0])


def test_sqlite_page_cache_is_small_during_an_import_and_restored_after(tmp_path):
    store = sqlite_store(tmp_path)
    assert cache_size(store) == -262144  # 256 MiB (a negative cache_size counts KiB)
    during: list[int] = []
    report = import_events(store, events_file(tmp_path), chunk_size=2,
                           on_chunk=lambda _: during.append(cache_size(store)))
    assert report.added == 5
    assert during == [-16384] * 3  # 16 MiB in each of the three chunks
    assert cache_size(store) == -262144
    store.close()


def test_sqlite_page_cache_is_restored_after_a_failed_import(tmp_path):
    store = sqlite_store(tmp_path)
    during: list[int] = []
    with pytest.raises(ImportRejected):
        import_events(store, events_file(tmp_path, 4, bad=True), chunk_size=2,
                      on_chunk=lambda _: during.append(cache_size(store)))
    assert during == [-16384] * 2  # the two valid chunks ran with the small cache
    assert cache_size(store) == -262144
    store.close()


def test_sqlite_bulk_load_restores_a_setting_of_the_callers_own(tmp_path):
    store = sqlite_store(tmp_path)
    store._db.execute("PRAGMA cache_size = -4096")
    with pytest.raises(RuntimeError, match="boom"), store.bulk_load():
        assert cache_size(store) == -16384
        raise RuntimeError("boom")
    assert cache_size(store) == -4096
    store.close()


def temp_store(store: Any) -> int:
    return int(store._db.execute("PRAGMA temp_store")[0][0])  # 1 FILE, 2 MEMORY


def test_sqlite_sorts_spill_to_disk_during_a_bulk_load_and_stay_in_memory_after(tmp_path):
    store = sqlite_store(tmp_path)
    assert temp_store(store) == 2
    with pytest.raises(RuntimeError, match="boom"), store.bulk_load():
        assert temp_store(store) == 1
        raise RuntimeError("boom")
    assert temp_store(store) == 2
    store.close()


def test_an_older_sqlite_file_gets_its_missing_index_built_under_the_bulk_settings(tmp_path, monkeypatch):
    from engagekit.stores.sql.sqlite import SQLiteDatabase

    store = sqlite_store(tmp_path)
    import_events(store, events_file(tmp_path), chunk_size=2)
    store._db.execute("DROP INDEX ix_items_contact_id_type_product_id_at_us")
    store.close()
    seen: list[tuple[str, int, int]] = []
    execute = SQLiteDatabase.execute

    def spy(self: Any, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        if sql.startswith("CREATE INDEX"):
            cache = int(self.conn.execute("PRAGMA cache_size").fetchone()[0])
            seen.append((sql.split()[5], cache, int(self.conn.execute("PRAGMA temp_store").fetchone()[0])))
        return execute(self, sql, params)

    monkeypatch.setattr(SQLiteDatabase, "execute", spy)
    reopened = sqlite_store(tmp_path)
    assert seen == [("ix_items_contact_id_type_product_id_at_us", -16384, 1)]
    assert (cache_size(reopened), temp_store(reopened)) == (-262144, 2)
    names = {name for (name,) in reopened._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "ix_items_contact_id_type_product_id_at_us" in names
    reopened.close()


# --- SQLite: an empty store's event indexes are built once, at the end ------------------------------------

EVENT_INDEXES = {"ix_events_type_at_us", "ix_events_contact_id_type_at_us", "ix_items_type_product_id_at_us",
                 "ix_items_contact_id_type_product_id_at_us", "ix_items_event_id",
                 "ix_item_categories_type_cat_key_at_us", "ix_item_categories_contact_id_type_cat_key_at_us"}


def index_names(store: Any) -> set[str]:
    return {name for (name,) in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                  "AND name LIKE 'ix_%'")}


def views_file(tmp_path: Path, start: int, n: int) -> Path:
    lines = [json.dumps({"id": f"v{i}", "contact_id": f"c{i % 3}", "type": "product_view", "product_id": f"p{i % 4}",
                         "categories": ["bluzy"], "at": f"2026-06-{1 + i % 20:02d}T10:00:00+00:00"})
             for i in range(start, start + n)]
    path = tmp_path / f"views-{start}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_empty_sqlite_store_builds_its_event_indexes_after_the_import(tmp_path):
    from engagekit import everyone, viewed
    from engagekit.stores.sql.schema import INDEXES

    store = sqlite_store(tmp_path)
    every = index_names(store)
    assert every >= EVENT_INDEXES and len(every) == len(INDEXES)  # the names this test knows are the real ones
    during: list[set[str]] = []
    import_events(store, views_file(tmp_path, 0, 30), chunk_size=10, on_chunk=lambda _: during.append(index_names(store)))
    assert during == [every - EVENT_INDEXES] * 3  # contact tables keep theirs: upserts look tags up by contact
    assert index_names(store) == every
    # a later import into the store that now has events keeps every index all along
    during.clear()
    import_events(store, views_file(tmp_path, 30, 20), chunk_size=10, on_chunk=lambda _: during.append(index_names(store)))
    assert during == [every] * 2
    memory = MemoryStore(currency="PLN")
    import_events(memory, views_file(tmp_path, 0, 30))
    import_events(memory, views_file(tmp_path, 30, 20))
    at = "2026-07-01T00:00:00+00:00"
    for flt in (viewed(at_least=5), viewed(product="p1", at_least=2), viewed(category="bluzy", at_least=17)):
        assert store.members(flt, at=at) == memory.members(flt, at=at)
    assert store.count(everyone(), at=at) == 0  # events only: no contact exists
    store.close()


def test_sqlite_event_indexes_come_back_after_a_failed_import_and_only_the_outer_bulk_load_rebuilds(tmp_path):
    store = sqlite_store(tmp_path)
    every = index_names(store)
    with pytest.raises(ImportRejected):
        import_events(store, events_file(tmp_path, 4, bad=True), chunk_size=2)
    assert index_names(store) == every
    store._db.execute("DELETE FROM events")  # empty again (the two valid chunks were stored)
    store._db.execute("DELETE FROM items")
    with store.bulk_load():
        assert index_names(store) == every - EVENT_INDEXES
        import_events(store, events_file(tmp_path), chunk_size=2)  # its own bulk_load is nested
        assert index_names(store) == every - EVENT_INDEXES
    assert index_names(store) == every
    store.close()


def test_a_sqlite_file_left_without_its_event_indexes_by_a_crash_gets_them_when_opened(tmp_path):
    every = index_names(sqlite_store(tmp_path))
    # a process that dies inside the block: the end of the block never runs
    crash = (f"import os; from engagekit.stores.sql.sqlite import SQLiteStore\n"
             f"from engagekit.io import import_events\n"
             f"store = SQLiteStore({str(tmp_path / 's.db')!r}, currency='PLN')\n"
             f"with store.bulk_load():\n"
             f"    import_events(store, {str(events_file(tmp_path))!r}, chunk_size=2)\n"
             f"    print(sorted(n for (n,) in store._db.execute(\"SELECT name FROM sqlite_master WHERE type = 'index'\")))\n"
             f"    os._exit(3)\n")
    done = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 3, done.stderr
    assert not EVENT_INDEXES & set(ast.literal_eval(done.stdout.strip()))  # gone when it died
    reopened = sqlite_store(tmp_path)
    assert index_names(reopened) == every
    assert reopened._db.execute("SELECT COUNT(*) FROM events") == [(5,)]
    reopened.close()


# --- DuckDB: the memory limit ----------------------------------------------------------------------------

def duckdb_module() -> Any:
    try:
        import duckdb
    except ImportError as exc:
        unavailable(f"duckdb store: {exc}")
    return duckdb


def duckdb_store(path: Any) -> Any:
    duckdb_module()
    from engagekit.stores.sql.duckdb import DuckDBStore

    return DuckDBStore(path, currency="PLN")


def memory_limit(store: Any) -> str:
    return str(store._db.execute("SELECT current_setting('memory_limit')")[0][0])


def test_duckdb_memory_limit_is_bounded_during_an_import_and_reset_after(tmp_path):
    store = duckdb_store(tmp_path / "s.duckdb")
    before = memory_limit(store)
    assert before != "64.0 MiB"  # the default (80% of the machine's memory), so the change is visible
    during: list[str] = []
    report = import_events(store, events_file(tmp_path), chunk_size=2,
                           on_chunk=lambda _: during.append(memory_limit(store)))
    assert report.added == 5
    assert during == ["64.0 MiB"] * 3
    assert memory_limit(store) == before
    store.close()


def test_duckdb_memory_limit_is_reset_after_a_failed_import(tmp_path):
    store = duckdb_store(tmp_path / "s.duckdb")
    before = memory_limit(store)
    during: list[str] = []
    with pytest.raises(ImportRejected):
        import_events(store, events_file(tmp_path, 4, bad=True), chunk_size=2,
                      on_chunk=lambda _: during.append(memory_limit(store)))
    assert during == ["64.0 MiB"] * 2
    assert memory_limit(store) == before
    with pytest.raises(RuntimeError, match="boom"), store.bulk_load():
        raise RuntimeError("boom")
    assert memory_limit(store) == before
    store.close()


def test_duckdb_nested_bulk_loads_keep_the_limit_until_the_outer_one_ends(tmp_path):
    store = duckdb_store(tmp_path / "s.duckdb")
    before = memory_limit(store)
    with store.bulk_load():
        with store.bulk_load():
            assert memory_limit(store) == "64.0 MiB"
        assert memory_limit(store) == "64.0 MiB"  # the inner block did not reset it under the outer one
    assert memory_limit(store) == before
    store.close()


def test_duckdb_in_memory_database_keeps_its_memory_limit(tmp_path):
    # its data cannot be evicted to a file: a bounded pool would only make DuckDB spill or fail
    store = duckdb_store(":memory:")
    before = memory_limit(store)
    during: list[str] = []
    assert import_events(store, events_file(tmp_path), chunk_size=2,
                         on_chunk=lambda _: during.append(memory_limit(store))).added == 5
    assert during == [before] * 3 and before != "64.0 MiB"
    store.close()


def test_duckdb_callers_connection_keeps_its_memory_limit(tmp_path):
    duckdb = duckdb_module()
    conn = duckdb.connect(str(tmp_path / "own.duckdb"))
    conn.execute("SET memory_limit = '1GiB'")
    store = duckdb_store(conn)
    during: list[str] = []
    report = import_events(store, events_file(tmp_path), chunk_size=2,
                           on_chunk=lambda _: during.append(memory_limit(store)))
    assert report.added == 5
    assert during == ["1.0 GiB"] * 3
    assert memory_limit(store) == "1.0 GiB"
    store.close()
    conn.close()


def test_duckdb_duplicate_check_of_a_large_batch_finds_exactly_the_stored_ids(tmp_path):
    # more than 500 ids: the check joins the stored ids with the batch registered as an Arrow table
    store = duckdb_store(tmp_path / "s.duckdb")

    def opens(ids: range) -> list[Event]:
        return [Event(id=f"e{i}", contact_id=f"c{i % 7}", type="email_open", campaign_id="k1",
                      at="2026-06-01T10:00:00+00:00") for i in ids]

    assert store.add_events(opens(range(0, 1200, 2))).added == 600  # the even ids
    report = store.add_events(opens(range(1200)))
    assert (report.added, report.duplicates) == (600, 600)
    asked = [f"e{i}" for i in range(1000, 1600)]  # 600 ids, of which e1000 … e1199 are stored
    assert store._existing("events", "id", asked) == {f"e{i}" for i in range(1000, 1200)}
    store.close()


# --- stores without settings, and stores without bulk_load ----------------------------------------------

def test_memory_store_bulk_load_changes_nothing_and_imports_work_inside_it(tmp_path):
    store = MemoryStore(currency="PLN")
    with store.bulk_load():
        assert import_events(store, events_file(tmp_path)).added == 5
    assert import_events(store, events_file(tmp_path)).duplicates == 5


class ProtocolOnly:
    """A store with only the protocol's ingestion methods (no ``bulk_load``)."""

    currency = "PLN"

    def __init__(self) -> None:
        self.events: list[str] = []

    def add_events(self, events: Any, *, on_invalid: str = "raise") -> LoadReport:
        batch = [e.id for e in events]
        self.events.extend(batch)
        return LoadReport(added=len(batch))


def test_a_store_without_bulk_load_is_imported_into_as_before(tmp_path):
    store = ProtocolOnly()
    report = import_events(store, events_file(tmp_path), chunk_size=2)  # type: ignore[arg-type]
    assert report.added == 5 and store.events == [f"e{i}" for i in range(5)]
