"""Fixtures of the one suite: every store, and hypothesis profiles ("ci": 200 examples, "dev": 30)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so test modules can import tests.strategies, tests.stores, tests.support
    sys.path.insert(0, str(ROOT))

from tests.stores import STORE_PARAMS, StoreFactory, StoreKind, examples_cap  # noqa: E402

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
           "print_blob": True}
settings.register_profile("ci", max_examples=200, **_COMMON)
settings.register_profile("dev", max_examples=30, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(params=STORE_PARAMS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes fresh empty stores of one kind (one per hypothesis example: ``with store_factory.fresh()``)."""
    kind: StoreKind = request.param
    factory = StoreFactory(kind, tmp_path)
    try:
        with examples_cap(request.function, kind):  # a slow engine (Spark) runs fewer examples
            yield factory
    finally:
        factory.close_all()


@pytest.fixture
def store(store_factory: StoreFactory) -> Any:
    """A fresh empty store (currency PLN) of each kind: memory, sqlite, duckdb, postgres."""
    return store_factory()
