"""Doctests in src/ see the public API without importing it in every example."""

from datetime import timedelta
from decimal import Decimal

import pytest

import engagekit


@pytest.fixture(autouse=True)
def _engagekit_doctest_namespace(doctest_namespace: dict[str, object]) -> None:
    doctest_namespace.update({name: getattr(engagekit, name) for name in engagekit.__all__})
    doctest_namespace.update(Decimal=Decimal, timedelta=timedelta)
