"""Placeholder: the indexed in-process store is being written (issue #2)."""

from __future__ import annotations

from .base import StoreBase


class MemoryStore(StoreBase):  # type: ignore[misc]
    """Not yet implemented."""
