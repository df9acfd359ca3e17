"""Saved segments, campaigns and membership log entries (SPEC §6): the values stores hand back."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

from engagekit.errors import InvalidFilter
from engagekit.filters import Filter

CAMPAIGN_KINDS = ("newsletter", "automation")
CHANGES = ("added", "removed")
Change = Literal["added", "removed"]


@attrs.frozen
class Segment:
    """A saved, named filter. Its members at any instant are the filter's result at that instant.

    ``last_generated_at`` and ``member_count`` are set by a :class:`~engagekit.LiveEngine` each time
    it brings the segment's membership up to date (``None`` until one has): the engine's instant and
    the members there, saved again whenever a record or an edit given to the engine changes them.
    A snapshot: the members at any instant are ``store.count(in_segment(id), at=…)``.

    >>> from engagekit import MemoryStore, ordered, last
    >>> from engagekit.time import instant
    >>> store = MemoryStore(currency="PLN", clock=lambda: instant("2026-06-01T00:00:00+00:00"))
    >>> seg = store.create_segment(ordered(within=last(days=30)), name="buyers")
    >>> seg.id, seg.name, seg.active
    ('seg-1', 'buyers', True)
    """

    id: str
    name: str
    filter: Filter
    created_at: datetime
    updated_at: datetime
    active: bool = True
    last_generated_at: datetime | None = None
    member_count: int | None = None


def _check_kind(instance: object, attribute: object, value: object) -> None:
    if value not in CAMPAIGN_KINDS:
        raise InvalidFilter(f"kind: {value!r} is not one of {', '.join(CAMPAIGN_KINDS)}")


def _check_id(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidFilter(f"{attribute.name}: expected a non-empty string, got {value!r}")


@attrs.frozen
class Campaign:
    """A campaign sending to a segment; an active one keeps its segment from being deleted.

    >>> Campaign("cmp-1", "seg-1", kind="automation")
    Campaign(id='cmp-1', segment_id='seg-1', kind='automation', active=True)
    """

    id: str = attrs.field(validator=_check_id)
    segment_id: str = attrs.field(validator=_check_id)
    kind: str = attrs.field(default="newsletter", validator=_check_kind)
    active: bool = attrs.field(default=True, converter=bool)


@attrs.frozen(order=False)
class LogEntry:
    """One change of a segment's membership: ``change`` took effect at exactly ``at``.

    ``late`` marks a change caused by a record older than the engine's instant when it arrived: it
    is stamped with the instant the engine learnt of it.
    """

    segment_id: str
    contact_id: str
    change: Change
    at: datetime
    late: bool = False

__all__ = ["CAMPAIGN_KINDS", "Campaign", "LogEntry", "Segment"]
