"""What stores return besides ids and metrics: load reports and the contacts dashboard."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs

from .metrics import Metrics


@attrs.frozen
class Rejection:
    """One invalid record of a batch: its index in the batch, the field, the value and why."""

    index: int
    record_id: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        who = f" (id {self.record_id!r})" if self.record_id else ""
        return f"[{self.index}]{who} {self.reason}"


@attrs.frozen
class LoadReport:
    """What a batch did: records added (or updated, for contacts), duplicates skipped, rejected."""

    added: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: tuple[Rejection, ...] = ()


STATES = ("engaged", "unengaged", "blocked")
FLOW_STATES = ("absent", "outside", *STATES)


@attrs.frozen
class DashboardGroup:
    """One engagement class of the contacts dashboard (SPEC §5)."""

    count: int
    share: Decimal | None
    count_before: int
    change: int
    change_pct: Decimal | None
    metrics: Metrics


@attrs.frozen
class Dashboard:
    """The contacts dashboard: engaged / unengaged / blocked, their 30-day change and flows."""

    view: str
    timeframe: timedelta
    groups: Mapping[str, DashboardGroup]
    flows: Mapping[tuple[str, str], int]

    def _repr_html_(self) -> str:
        from .display import dashboard_html

        return dashboard_html(self)

    def to_arrow(self) -> Any:
        """This as a pyarrow Table (extra ``engagekit[parquet]``; see :mod:`engagekit.tables`)."""
        from .tables import dashboard_table

        return dashboard_table(self)

    def to_pandas(self) -> Any:
        """This as a pandas DataFrame (extra ``engagekit[pandas]``; see :mod:`engagekit.tables`)."""
        from .tables import to_pandas

        return to_pandas(self.to_arrow())
