"""Explaining one contact in SQLite reads that contact's rows through indexes (issue #9, point 9).

``explain`` runs a few statements per filter node; each must reach the contact's rows by an index
search on ``contact_id`` (or on the contact's own event ids), never by scanning a table or by
aggregating every contact's rows before picking one. SQLite's ``EXPLAIN QUERY PLAN`` of every
statement ``explain`` runs says which. Older SQLite files get the indexes this relies on when opened.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engagekit import (
    added_to_cart,
    aov,
    attr,
    blocked,
    city,
    clicked,
    engaged,
    last,
    opened,
    ordered,
    spent,
    status,
    tag,
    viewed,
)
from engagekit.demo import generate, load
from engagekit.stores.sql.sqlite import SQLiteStore

# every kind of leaf the compiler has, under &, | and ~ (the grouped-join forms) and alone
FILTERS = (
    ordered(within=last(days=90)) & city("Warszawa") & ~tag("vip"),
    opened(within=last(days=30)) | viewed(category="bluzy", within=last(days=14)),
    aov(at_least=300) & spent(at_least=500, within=last(days=365)),
    ordered(at_least=2, at_most=5) | ~ordered(at_most=1, within=last(days=30)),
    viewed(product="p0001") | ordered(product="p0002", category="buty") | added_to_cart(category=["bluzy", "buty"]),
    clicked(campaign="nl-2026-01-05") | opened(campaign=["a", "b"], at_least=2),
    status("subscribed") | blocked() | engaged(timeframe=timedelta(days=60)),
    (attr("loyalty_points") >= 10) | ~(attr("plan") == "gold"),
)

SCAN = re.compile(r"^SCAN (\w+)")
SEARCH = re.compile(r"^SEARCH (\w+) USING (?:COVERING )?INDEX \w+ \((.*)\)$")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    shop = generate(contacts=150, seed=4)
    s = SQLiteStore(str(tmp_path_factory.mktemp("one") / "shop.sqlite"), currency="PLN")
    load(s, shop)
    s.now = shop.now  # type: ignore[attr-defined]
    yield s
    s.close()


def plans(store: Any, run: Any) -> list[tuple[str, list[str]]]:
    """``(sql, plan lines)`` of every statement ``run()`` executes on the store's connection."""
    seen: list[tuple[str, Any]] = []
    execute = store._db.execute

    def traced(sql: str, params: Any = ()) -> Any:
        seen.append((sql, params))
        return execute(sql, params)

    store._db.execute = traced
    try:
        run()
    finally:
        del store._db.execute
    conn: sqlite3.Connection = store._db.conn
    out = []
    for sql, params in seen:
        bound = params if isinstance(params, dict) else tuple(params)
        out.append((sql, [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, bound)]))
    return out


@pytest.mark.parametrize("flt", FILTERS, ids=range(len(FILTERS)))
def test_explain_reaches_one_contacts_rows_by_index(store: Any, flt: Any) -> None:
    contact = sorted(store.members(ordered(), at=store.now))[3]
    statements = plans(store, lambda: store.explain(flt, contact, at=store.now))
    assert len(statements) >= 3
    for sql, lines in statements:
        materialized = {line.split()[1] for line in lines if line.startswith("MATERIALIZE")}
        for line in lines:
            scanned = SCAN.match(line)
            # a materialised derived table (one contact's grouped row) may be scanned; a table may not
            assert scanned is None or scanned.group(1) in materialized, f"{line!r} in {sql}"
            searched = SEARCH.match(line)
            if searched is not None:
                terms = searched.group(2)
                assert re.search(r"\b(contact_id|id|event_id)=\?", terms), f"{line!r} in {sql}"
            assert "USE TEMP B-TREE" not in line, f"{line!r} in {sql}"


def test_old_file_gets_the_contact_indexes_and_answers_the_same(tmp_path: Path) -> None:
    shop = generate(contacts=60, seed=5)
    path = str(tmp_path / "old.sqlite")
    with SQLiteStore(path, currency="PLN") as s:
        load(s, shop)
        expected = [s.explain(f, "c0000007", at=shop.now) for f in FILTERS]
    conn = sqlite3.connect(path)
    # a file of an engagekit before the (contact_id, type, …) indexes of items and categories
    conn.execute("DROP INDEX ix_items_contact_id_type_product_id_at_us")
    conn.execute("DROP INDEX ix_item_categories_contact_id_type_cat_key_at_us")
    conn.execute("CREATE INDEX ix_items_contact_id ON items (contact_id)")
    conn.commit()
    conn.close()
    with SQLiteStore(path, currency="PLN") as s:
        names = {r[0] for r in s._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"ix_items_contact_id_type_product_id_at_us", "ix_item_categories_contact_id_type_cat_key_at_us",
                "ix_items_contact_id"} <= names
        assert [s.explain(f, "c0000007", at=shop.now) for f in FILTERS] == expected
