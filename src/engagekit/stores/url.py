"""``open_store(url)``: one spelling of a store for the CLI, the demo and user code (STYLE §3).

| url | store |
|---|---|
| ``memory`` | ``MemoryStore`` (nothing persists) |
| ``sqlite:PATH`` (``sqlite:///abs/path`` too) | ``SQLiteStore(PATH)`` |
| ``duckdb:PATH`` | ``DuckDBStore(PATH)`` |
| ``postgres:DSN``, ``postgresql://…``, ``postgres://…`` | ``PostgresStore(DSN)`` |
| ``spark:DATABASE`` | ``SparkStore`` in the active ``SparkSession`` (else a new local one) |
"""

from __future__ import annotations

from typing import Any

from engagekit.errors import EngagekitError


class InvalidStoreURL(EngagekitError, ValueError):
    """A store URL names no store engagekit knows."""


def _path(rest: str, url: str) -> str:
    if rest.startswith("//"):
        rest = rest[2:]  # sqlite:///tmp/shop.db → /tmp/shop.db; sqlite://shop.db → shop.db
    if not rest:
        raise InvalidStoreURL(f"store: {url!r} names no file; write e.g. 'sqlite:shop.db'")
    return rest


def open_store(url: str, *, currency: str = "PLN") -> Any:
    """Open (creating when needed) the store a URL names.

    >>> open_store("memory").currency
    'PLN'
    >>> open_store("sqlite::memory:", currency="EUR").currency
    'EUR'
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidStoreURL(f"store: expected a URL such as 'sqlite:shop.db', got {url!r}")
    url = url.strip()
    scheme, _, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme == "memory" and rest in ("", "//"):
        from .memory import MemoryStore

        return MemoryStore(currency=currency)
    if scheme == "sqlite":
        from .sql.sqlite import SQLiteStore

        return SQLiteStore(_path(rest, url), currency=currency)
    if scheme == "duckdb":
        from .sql.duckdb import DuckDBStore

        return DuckDBStore(_path(rest, url), currency=currency)
    if scheme in ("postgres", "postgresql"):
        from .sql.postgres import PostgresStore

        dsn = url if rest.startswith("//") else rest
        if not dsn:
            raise InvalidStoreURL(f"store: {url!r} has no DSN; write e.g. 'postgresql://user@host/db'")
        return PostgresStore(dsn, currency=currency)
    if scheme == "spark":
        from .spark import SparkStore, spark_session

        if not rest:
            raise InvalidStoreURL(f"store: {url!r} names no database; write e.g. 'spark:shop_pl'")
        return SparkStore(spark_session(), database=rest, currency=currency)
    raise InvalidStoreURL(
        f"store: {url!r} is not a store URL; use memory, sqlite:PATH, duckdb:PATH, postgres:DSN or spark:DATABASE")


__all__ = ["InvalidStoreURL", "open_store"]
