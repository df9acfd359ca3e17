"""A small database interface shared by the SQL stores (and the segment persistence built on them).

``execute(sql, params)`` takes either

- a sequence of values with ``?`` placeholders in ``sql`` (translated to ``%s`` for psycopg), for
  fixed SQL written by hand, or
- a mapping of named values with placeholders as the dialect writes them (``:p0`` for SQLite,
  ``$p0`` for DuckDB, ``%(p0)s`` for psycopg), which is what the compiler renders through sqlglot.

User values always travel as parameters, never inside the SQL text.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

Params = Sequence[object] | Mapping[str, object]


class Database(abc.ABC):
    """One database connection (or pool) as the SQL stores use it."""

    dialect: str
    writes: int = 0  # statements that may have changed data, run through this object

    def note(self, sql: str) -> None:
        """Count ``sql`` as a write unless it only reads (see :meth:`change_token`)."""
        if sql.lstrip()[:6].upper() not in ("SELECT", "WITH ", "WITH\n"):
            self.writes += 1

    def change_token(self) -> object | None:
        """A value that differs whenever the stored data may have changed since it was taken, or
        ``None`` when this database cannot tell (then nothing is reused between questions).

        The SQL stores reuse a dashboard's per-contact grid between ``engagement()`` calls for the
        same instant only while this token stays the same.
        """
        return None

    @abc.abstractmethod
    def execute(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (an empty list for statements without rows)."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement with ``?`` placeholders once per row."""

    @abc.abstractmethod
    def transaction(self) -> Any:
        """A context manager: everything inside commits together or not at all (nests)."""

    def table(self, name: str) -> str:
        """The (qualified, quoted where needed) name of one of the store's tables in SQL text."""
        return name

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Settings for a bulk load (an import), restored when it ends, also after an error.

        A database whose caches suit queries but fill up during a long append overrides this
        (SQLite holds its page cache small, DuckDB its memory limit); the default changes nothing.
        """
        yield

    @abc.abstractmethod
    def has_table(self, name: str) -> bool: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def describe(self) -> str:
        return f"the {self.dialect} database"


def translate_qmarks(sql: str) -> str:
    """``?`` placeholders to ``%s`` (and ``%`` to ``%%``) outside quoted strings and identifiers."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote is not None:
            if ch == quote:
                quote = None
            out.append("%%" if ch == "%" else ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


class TransactionDepth:
    """Counts nested ``transaction()`` blocks so that only the outermost one commits."""

    def __init__(self) -> None:
        self.depth = 0

    @contextmanager
    def nest(self, begin: Any, commit: Any, rollback: Any) -> Iterator[None]:
        if self.depth:
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
            return
        begin()
        self.depth = 1
        try:
            yield
        except BaseException:
            self.depth = 0
            rollback()
            raise
        self.depth = 0
        commit()
