"""SQL stores (SQLite, DuckDB, PostgreSQL) built on one filter compiler.

Import the store you need from its module (``engagekit.stores.sql.sqlite`` …) or from here; the
DuckDB and PostgreSQL drivers are only imported when their store is asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DuckDBStore", "PostgresStore", "SQLiteStore"]


def __getattr__(name: str) -> Any:
    if name == "SQLiteStore":
        from .sqlite import SQLiteStore

        return SQLiteStore
    if name == "DuckDBStore":
        from .duckdb import DuckDBStore

        return DuckDBStore
    if name == "PostgresStore":
        from .postgres import PostgresStore

        return PostgresStore
    raise AttributeError(name)
