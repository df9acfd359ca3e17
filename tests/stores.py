"""The registry of stores the one suite runs on (STYLE §5): memory, sqlite, duckdb, postgres, spark.

Each entry knows how to make a fresh, empty store with currency PLN. A store whose module, driver,
server or DSN is missing is skipped locally, but fails the run when the environment variable ``CI``
is set: CI must never pass by skipping.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engagekit.errors import StoreUnavailable

CURRENCY = "PLN"
PG_DSN_ENV = "ENGAGEKIT_PG_DSN"
SPARK_EXAMPLES_ENV = "ENGAGEKIT_SPARK_EXAMPLES"


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (in CI) a test whose store cannot be had."""
    if in_ci():
        pytest.fail(f"store unavailable in CI (CI is set, so this fails instead of skipping): {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class StoreKind:
    """How to make a fresh store of one kind in a scratch folder."""

    name: str
    module: str
    driver: str | None
    make: Callable[[Any, Path], Any]  # (module, folder) -> store
    max_examples: int | None = None  # at most this many hypothesis examples per property (a slow engine)

    def load_module(self) -> Any:
        try:
            return importlib.import_module(self.module)
        except ModuleNotFoundError as exc:
            if exc.name in {self.module, self.driver} or (exc.name and self.module.startswith(exc.name + ".")):
                unavailable(f"{self.name}: cannot import {exc.name} ({exc})")
            raise


def _memory(module: Any, folder: Path) -> Any:
    return module.MemoryStore(currency=CURRENCY)


def _sqlite(module: Any, folder: Path) -> Any:
    return module.SQLiteStore(str(folder / f"{uuid.uuid4().hex}.sqlite"), currency=CURRENCY)


def _duckdb(module: Any, folder: Path) -> Any:
    return module.DuckDBStore(str(folder / f"{uuid.uuid4().hex}.duckdb"), currency=CURRENCY)


def _postgres(module: Any, folder: Path) -> Any:
    dsn = os.environ.get(PG_DSN_ENV)
    if not dsn:
        unavailable(f"postgres: set {PG_DSN_ENV} to a libpq DSN of a server the tests may write to")
    schema = f"ek_test_{uuid.uuid4().hex[:16]}"
    return module.PostgresStore(dsn, currency=CURRENCY, schema=schema)


_SPARK: dict[str, Any] = {}


def spark_session() -> Any:
    """The one local SparkSession of this test process (starting one costs seconds; a store, little).

    ``local[2]``, two shuffle partitions, no UI, the warehouse in a temporary folder, no generated
    code; a missing PySpark or Java makes ``StoreUnavailable`` (so it fails under CI).
    """
    session = _SPARK.get("session")
    if session is None:
        import shutil
        import tempfile

        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise StoreUnavailable(f"spark: cannot import pyspark ({exc}); pip install 'engagekit[spark]'") from None
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise StoreUnavailable("spark: no Java found (install a Java 17 runtime or set JAVA_HOME)")
        warehouse = tempfile.mkdtemp(prefix="engagekit-spark-")
        session = (SparkSession.builder.master("local[2]").appName("engagekit-tests")
                   .config("spark.ui.enabled", "false")
                   .config("spark.sql.shuffle.partitions", "2")
                   .config("spark.default.parallelism", "2")
                   .config("spark.sql.warehouse.dir", warehouse)
                   .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={warehouse}")
                   # tiny tables: planning and code generation cost more than the data, so skip
                   # adaptive re-planning and generated code (about 2x faster per query here)
                   .config("spark.sql.adaptive.enabled", "false")
                   .config("spark.sql.codegen.wholeStage", "false")
                   .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
                   .getOrCreate())
        session.sparkContext.setLogLevel("ERROR")
        _SPARK["session"] = session
    return session


def _spark_examples() -> int:
    """Hypothesis examples per property on Spark: every Spark query costs ~0.1–1 s, so the 200 of the
    CI profile would take hours. Every golden case still runs on Spark; ``ENGAGEKIT_SPARK_EXAMPLES``
    raises the cap (e.g. on a bigger machine)."""
    return int(os.environ.get(SPARK_EXAMPLES_ENV) or (5 if in_ci() else 3))


def _spark(module: Any, folder: Path) -> Any:
    return module.SparkStore(spark_session(), database=f"ek_{uuid.uuid4().hex[:16]}", currency=CURRENCY)


STORE_KINDS: tuple[StoreKind, ...] = (
    StoreKind("memory", "engagekit.stores.memory", None, _memory),
    StoreKind("sqlite", "engagekit.stores.sql.sqlite", "sqlite3", _sqlite),
    StoreKind("duckdb", "engagekit.stores.sql.duckdb", "duckdb", _duckdb),
    StoreKind("postgres", "engagekit.stores.sql.postgres", "psycopg", _postgres),
    StoreKind("spark", "engagekit.stores.spark", "pyspark", _spark, max_examples=_spark_examples()),
)
STORE_PARAMS = [pytest.param(kind, id=kind.name) for kind in STORE_KINDS]


@contextmanager
def examples_cap(test: Any, kind: StoreKind) -> Iterator[None]:
    """Run a hypothesis property with at most ``kind.max_examples`` examples (for this kind only).

    The settings of a ``@given`` test are read when it is called, from the attribute hypothesis keeps
    on it; the cap replaces them for the duration of one parametrised call and restores them after.
    """
    current = getattr(test, "_hypothesis_internal_use_settings", None)
    cap = kind.max_examples
    if cap is None or current is None or not hasattr(test, "hypothesis") or current.max_examples <= cap:
        yield
        return
    from hypothesis import settings

    test._hypothesis_internal_use_settings = settings(current, max_examples=cap)
    try:
        yield
    finally:
        test._hypothesis_internal_use_settings = current


def dispose(store: Any) -> None:
    """Drop what a store created (a Postgres schema) and close it; tolerate either being absent."""
    for name in ("drop", "close"):
        method = getattr(store, name, None)
        if callable(method):
            with suppress(Exception):
                method()


@dataclass
class StoreFactory:
    """Makes fresh empty stores of one kind; every store it made is disposed of at teardown."""

    kind: StoreKind
    folder: Path
    made: list[Any] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.kind.name

    def __call__(self) -> Any:
        module = self.kind.load_module()
        try:
            store = self.kind.make(module, self.folder)
        except StoreUnavailable as exc:
            unavailable(f"{self.kind.name}: {exc}")
        self.made.append(store)
        return store

    @contextmanager
    def fresh(self) -> Iterator[Any]:
        """A fresh store for one hypothesis example, disposed of when the block ends."""
        store = self()
        try:
            yield store
        finally:
            self.made = [s for s in self.made if s is not store]
            dispose(store)

    def close_all(self) -> None:
        while self.made:
            dispose(self.made.pop())
