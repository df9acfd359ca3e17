"""The suite's store registry: a store that cannot be had skips locally and fails in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stores import STORE_KINDS, StoreFactory, StoreKind, unavailable


def test_every_store_is_registered() -> None:
    assert [kind.name for kind in STORE_KINDS] == ["memory", "sqlite", "duckdb", "postgres", "spark"]


def test_unavailable_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no server"):
        unavailable("no server")


def test_unavailable_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no server"):
        unavailable("no server")


def test_a_missing_store_module_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ghost = StoreKind("ghost", "engagekit.stores.sql.no_such_store", None, lambda module, folder: None)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="no_such_store"):
        StoreFactory(ghost, tmp_path)()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="no_such_store"):
        StoreFactory(ghost, tmp_path)()


def test_a_missing_postgres_dsn_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    postgres = next(kind for kind in STORE_KINDS if kind.name == "postgres")
    monkeypatch.delenv("ENGAGEKIT_PG_DSN", raising=False)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="ENGAGEKIT_PG_DSN"):
        StoreFactory(postgres, tmp_path)()
