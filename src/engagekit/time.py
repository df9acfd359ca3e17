"""Instants and windows (SPEC §1 "Instants", §2).

Every instant is timezone-aware; internally it is held in UTC and, for stores, as integer
microseconds since the epoch. Every window resolves at an instant ``at`` to one half-open span of
microseconds ``[lo, hi)`` so that each store only ever compares integers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import attrs
from dateutil.parser import isoparse
from dateutil.relativedelta import relativedelta

from .errors import InvalidFilter, InvalidInstant

Instant: TypeAlias = datetime | str
"""An aware ``datetime`` or an ISO-8601 string with an offset."""

Clock: TypeAlias = Callable[[], datetime]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def instant(value: object, *, field: str = "at") -> datetime:
    """Return ``value`` as an aware UTC ``datetime``; refuse naive or malformed values.

    >>> instant("2026-06-30T14:00:00+02:00")
    datetime.datetime(2026, 6, 30, 12, 0, tzinfo=datetime.timezone.utc)
    """
    if isinstance(value, str):
        try:
            parsed = isoparse(value.strip())
        except (ValueError, OverflowError) as exc:
            raise InvalidInstant(f"{field}: {value!r} is not an ISO-8601 instant ({exc})") from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise InvalidInstant(
                f"{field}: {value!r} has no UTC offset; write it as e.g. '2026-06-30T12:00:00+00:00'"
            )
        return _in_utc(parsed, field, value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInstant(
                f"{field}: {value!r} is naive; pass an aware datetime (e.g. tzinfo=timezone.utc)"
            )
        return _in_utc(value, field, value)
    raise InvalidInstant(
        f"{field}: expected an aware datetime or an ISO-8601 string with an offset, "
        f"got {type(value).__name__} {value!r}"
    )


def _in_utc(moment: datetime, field: str, given: object) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise InvalidInstant(f"{field}: {given!r} falls outside the years 1-9999 in UTC") from None


def to_micros(moment: datetime) -> int:
    """Integer microseconds since the epoch of an aware datetime."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of integer microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=micros)


MIN_MICROS = -62_135_596_800_000_000
"""Microseconds of the earliest aware instant, 0001-01-01T00:00:00Z (``to_micros(datetime.min)``)."""
BEFORE_ALL = MIN_MICROS - 1
"""A bound before every instant: where a window's start falls before year 1."""


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


@attrs.frozen
class Span:
    """Resolved window: event instants ``t`` (microseconds) with ``lo <= t < hi``; ``lo`` None is open."""

    lo: int | None
    hi: int

    def __contains__(self, micros: object) -> bool:
        if not isinstance(micros, int):
            return False
        return (self.lo is None or micros >= self.lo) and micros < self.hi

    @property
    def empty(self) -> bool:
        return self.lo is not None and self.lo >= self.hi


_DURATION_UNITS = ("months", "weeks", "days", "hours")


@attrs.frozen
class Duration:
    """A calendar duration: months via dateutil's relativedelta, the rest exact.

    Arithmetic happens in UTC, so ``days=1`` is always 24 hours and a month is counted on the UTC
    calendar (docs/windows.md).
    """

    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def of(cls, *, path: str = "within", **parts: Any) -> Duration:
        unknown = sorted(set(parts) - set(_DURATION_UNITS))
        if unknown:
            raise InvalidFilter(f"{path}.{unknown[0]}: unknown unit; use one of {', '.join(_DURATION_UNITS)}")
        clean: dict[str, int] = {}
        for unit, value in parts.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidFilter(f"{path}.{unit}: expected a non-negative integer, got {value!r}")
            clean[unit] = value
        duration = cls(**clean)
        if duration.is_zero():
            raise InvalidFilter(f"{path}: the duration must be positive, got {duration.describe_code()}")
        return duration

    def is_zero(self) -> bool:
        return not (self.months or self.weeks or self.days or self.hours)

    def subtract_micros(self, moment: datetime) -> int:
        """Integer microseconds of ``moment - self``; a result before year 1 is clamped to :data:`BEFORE_ALL`.

        Windows reaching further back than any instant can be (``last(days=10**6)``) count from the
        beginning of time instead of overflowing ``datetime``, and every bound stays a 64-bit integer.

        >>> Duration(days=1).subtract_micros(EPOCH + timedelta(days=2)) == 86_400_000_000
        True
        >>> Duration(days=10**12).subtract_micros(EPOCH) == BEFORE_ALL
        True
        """
        moment = moment.astimezone(UTC)
        if self.months:
            month_index = moment.year * 12 + moment.month - 1 - self.months  # months since 0000-01
            if month_index < 12:  # before January of year 1
                return BEFORE_ALL
            moment = moment - relativedelta(months=self.months)
        exact = ((self.weeks * 7 + self.days) * 24 + self.hours) * 3_600_000_000
        return max(BEFORE_ALL, to_micros(moment) - exact)

    def subtract_from(self, moment: datetime) -> datetime:
        """``moment - self`` (months on the UTC calendar); clamped to the earliest instant, 0001-01-01Z."""
        micros = self.subtract_micros(moment)
        return from_micros(max(micros, MIN_MICROS))

    def add_to(self, moment: datetime) -> datetime:
        """The instant ``d`` with ``d - self == moment`` as far as the calendar allows (UTC)."""
        moment = moment.astimezone(UTC)
        moment = moment + timedelta(weeks=self.weeks, days=self.days, hours=self.hours)
        if self.months:
            moment = moment + relativedelta(months=self.months)
        return moment

    def items(self) -> list[tuple[str, int]]:
        return [(unit, getattr(self, unit)) for unit in _DURATION_UNITS if getattr(self, unit)]

    def describe_code(self) -> str:
        return ", ".join(f"{unit}={value}" for unit, value in self.items()) or "0"

    def to_json(self) -> dict[str, int]:
        return dict(self.items())


class Window:
    """Which events a condition counts (SPEC §2). Build with ``ever``, ``last``, ``before``, ``between``."""

    __slots__ = ()

    def span(self, at: datetime) -> Span:  # pragma: no cover - abstract
        raise NotImplementedError

    def bounds(self, at: datetime) -> tuple[datetime | None, datetime]:
        """The ``(start, end)`` instants this window covers at ``at``, as SPEC §9 shows them."""
        raise NotImplementedError  # pragma: no cover - abstract

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover - abstract


@attrs.frozen
class _Ever(Window):
    def span(self, at: datetime) -> Span:
        return Span(None, to_micros(at) + 1)

    def bounds(self, at: datetime) -> tuple[datetime | None, datetime]:
        return (None, at)

    def to_json(self) -> dict[str, Any]:
        return {"ever": {}}

    def __repr__(self) -> str:
        return "ever()"


@attrs.frozen
class _Last(Window):
    duration: Duration

    def span(self, at: datetime) -> Span:
        return Span(self.duration.subtract_micros(at) + 1, to_micros(at) + 1)

    def bounds(self, at: datetime) -> tuple[datetime | None, datetime]:
        start = self.duration.subtract_micros(at)
        return (None if start == BEFORE_ALL else from_micros(start), at)  # before year 1: open

    def to_json(self) -> dict[str, Any]:
        return {"last": self.duration.to_json()}

    def __repr__(self) -> str:
        return f"last({self.duration.describe_code()})"


@attrs.frozen
class _Before(Window):
    duration: Duration

    def span(self, at: datetime) -> Span:
        return Span(None, self.duration.subtract_micros(at) + 1)

    def bounds(self, at: datetime) -> tuple[datetime | None, datetime]:
        return (None, self.duration.subtract_from(at))

    def to_json(self) -> dict[str, Any]:
        return {"before": self.duration.to_json()}

    def __repr__(self) -> str:
        return f"before({self.duration.describe_code()})"


@attrs.frozen
class _Between(Window):
    start: datetime
    end: datetime

    def span(self, at: datetime) -> Span:
        return Span(to_micros(self.start), min(to_micros(self.end), to_micros(at) + 1))

    def bounds(self, at: datetime) -> tuple[datetime | None, datetime]:
        return (self.start, self.end)

    def to_json(self) -> dict[str, Any]:
        return {"between": {"start": self.start.isoformat(), "end": self.end.isoformat()}}

    def __repr__(self) -> str:
        return f"between({self.start.isoformat()!r}, {self.end.isoformat()!r})"


EVER: Window = _Ever()


def ever() -> Window:
    """Every visible event (the default window).

    >>> ever()
    ever()
    """
    return EVER


def last(*, days: int | None = None, hours: int | None = None, weeks: int | None = None,
         months: int | None = None) -> Window:
    """Events with ``at - N < event.at <= at``.

    >>> last(days=14)
    last(days=14)
    """
    return _Last(Duration.of(path="last", days=days, hours=hours, weeks=weeks, months=months))


def before(*, days: int | None = None, hours: int | None = None, weeks: int | None = None,
           months: int | None = None) -> Window:
    """Events with ``event.at <= at - N``: the complement of ``last(N)`` among visible events.

    >>> before(days=30)
    before(days=30)
    """
    return _Before(Duration.of(path="before", days=days, hours=hours, weeks=weeks, months=months))


def between(start: Instant, end: Instant) -> Window:
    """Events with ``start <= event.at < end`` (and visible at the question's instant).

    >>> between("2026-05-01T00:00:00+00:00", "2026-06-01T00:00:00+00:00")
    between('2026-05-01T00:00:00+00:00', '2026-06-01T00:00:00+00:00')
    """
    lo = instant(start, field="between.start")
    hi = instant(end, field="between.end")
    if hi < lo:
        raise InvalidFilter(f"between: end {hi.isoformat()} is before start {lo.isoformat()}")
    return _Between(lo, hi)


def window_from_json(data: object, path: str) -> Window:
    """Parse the JSON form of a window, naming ``path`` in errors."""
    if not isinstance(data, dict) or len(data) != 1:
        raise InvalidFilter(f"{path}: expected an object with one of ever, last, before, between; got {data!r}")
    ((kind, body),) = data.items()
    if not isinstance(body, dict):
        raise InvalidFilter(f"{path}.{kind}: expected an object, got {body!r}")
    if kind == "ever":
        if body:
            raise InvalidFilter(f"{path}.ever: takes no arguments, got {body!r}")
        return EVER
    if kind in ("last", "before"):
        duration = Duration.of(path=f"{path}.{kind}", **body)
        return _Last(duration) if kind == "last" else _Before(duration)
    if kind == "between":
        unknown = sorted(set(body) - {"start", "end"})
        if unknown or "start" not in body or "end" not in body:
            raise InvalidFilter(f"{path}.between: expected exactly start and end, got {sorted(body)}")
        try:
            return between(body["start"], body["end"])
        except InvalidInstant as exc:
            raise InvalidFilter(f"{path}.{exc}") from None
    raise InvalidFilter(f"{path}: unknown window {kind!r}; use ever, last, before or between")


def as_timedelta(value: object, *, field: str) -> timedelta:
    """A positive ``timedelta`` (engagement timeframes, attribution windows)."""
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise InvalidFilter(f"{field}: must be a positive duration, got {value!r}")
        return value
    raise InvalidFilter(f"{field}: expected a datetime.timedelta, got {type(value).__name__} {value!r}")
