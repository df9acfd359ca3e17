"""Every error engagekit raises on purpose derives from :class:`EngagekitError`.

Subclasses also inherit the matching built-in exception, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class EngagekitError(Exception):
    """Root of every error raised on purpose by engagekit."""


class InvalidInstant(EngagekitError, ValueError):
    """An instant is naive, malformed or of the wrong type."""


class InvalidRecord(EngagekitError, ValueError):
    """A contact or event failed validation."""


class InvalidContact(InvalidRecord):
    """A contact failed validation."""


class InvalidEvent(InvalidRecord):
    """An event failed validation."""


class InvalidFilter(EngagekitError, ValueError):
    """A filter's arguments or its JSON form are malformed."""


class UnsupportedFilter(EngagekitError, TypeError):
    """A target (a store, a describer) cannot handle a filter node."""


class UnknownContact(EngagekitError, KeyError):
    """A contact does not exist (at the instant asked)."""

    def __str__(self) -> str:  # KeyError quotes its argument; a message reads better plain
        return str(self.args[0]) if self.args else ""


class UnknownSegment(EngagekitError, KeyError):
    """A segment id is not stored."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SegmentInUse(EngagekitError, ValueError):
    """A segment used by an active campaign cannot be deleted."""


class SegmentCycle(InvalidFilter):
    """A segment would refer to itself through ``in_segment``."""


class BatchRejected(InvalidRecord):
    """A batch held invalid records and nothing was stored.

    ``report`` holds every rejection (index, field, value, reason).
    """

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report


class InvalidTables(EngagekitError, ValueError):
    """``load_tables`` was given tables it cannot load (unknown name, wrong layout, a non-empty store)."""


class SchemaVersionError(EngagekitError, RuntimeError):
    """A database was written by an unknown version of engagekit's schema."""


class StoreUnavailable(EngagekitError, RuntimeError):
    """A store's driver or server is missing."""


class MissingExtra(EngagekitError, ImportError):
    """An optional dependency (an extra such as ``engagekit[pandas]``) is not installed."""
