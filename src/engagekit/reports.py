"""What stores return besides ids and metrics: load reports, the contacts dashboard and the
segment report (issue #10), with Arrow tables of campaign results."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from .campaigns import RATES, CampaignResult, pool
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


# --- the segment report (issue #10) ----------------------------------------------------------------

SEGMENT_METRICS = ("contacts", "engagement_rate", "aov", "acv", "ano", "tbo")
"""The seed product's columns of a segment, read from its :class:`~engagekit.Metrics`."""


@attrs.frozen(kw_only=True)
class SegmentReportRow:
    """One saved segment in a :class:`SegmentReport`.

    ``metrics`` are SPEC §4's over the segment's members at the report's instant (every visible
    order, no window); ``contacts``, ``engagement_rate`` (30 days), ``aov``, ``acv``, ``ano`` and
    ``tbo`` read them. ``campaigns`` counts the campaigns registered with the segment
    (``store.add_campaign(Campaign(id, segment_id))``), active or not; ``active_campaigns`` the
    active ones. ``last_generated`` is the instant a :class:`~engagekit.LiveEngine` last brought the
    segment's saved membership up to date (``Segment.last_generated_at``), ``None`` when none has.
    ``results`` pools the results of its campaigns (:func:`engagekit.campaigns.pool`: totals summed,
    rates divided once), ``None`` when none of them has a visible event; ``campaign_ids`` lists the
    campaigns pooled.
    """

    segment_id: str
    name: str
    active: bool
    metrics: Metrics
    campaigns: int
    active_campaigns: int
    last_generated: datetime | None
    campaign_ids: tuple[str, ...]
    results: CampaignResult | None

    @property
    def contacts(self) -> int:
        return self.metrics.contacts

    @property
    def engagement_rate(self) -> Decimal | None:
        return self.metrics.engagement_rate

    @property
    def aov(self) -> Decimal | None:
        return self.metrics.aov

    @property
    def acv(self) -> Decimal | None:
        return self.metrics.acv

    @property
    def ano(self) -> Decimal | None:
        return self.metrics.ano

    @property
    def tbo(self) -> timedelta | None:
        return self.metrics.tbo

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly mapping: Decimals as strings, TBO in seconds, instants in ISO 8601,
        ``results`` as :meth:`CampaignResult.to_dict` (or ``None``)."""
        return {
            "segment_id": self.segment_id, "name": self.name, "active": self.active,
            "contacts": self.contacts, "customers": self.metrics.customers, "orders": self.metrics.orders,
            "revenue": str(self.metrics.revenue),
            **{name: _json_scalar(getattr(self, name)) for name in SEGMENT_METRICS[1:]},
            "campaigns": self.campaigns, "active_campaigns": self.active_campaigns,
            "last_generated": _json_scalar(self.last_generated), "campaign_ids": list(self.campaign_ids),
            "results": None if self.results is None else self.results.to_dict(),
        }


def _json_scalar(value: object) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@attrs.frozen(kw_only=True)
class SegmentReport:
    """Every saved segment, as the seed product lists them, plus the results of the campaigns sent
    to each (``store.segment_report(at=None)``).

    A sequence of :class:`SegmentReportRow` in the order the segments were created; a row is found
    by position or by segment id (``report["seg-2"]``). ``at`` is the instant every figure is
    computed for; ``window`` and ``touch`` are those of the campaign results (SPEC §10).
    ``str()`` is a plain-text table, ``_repr_html_`` the same in a notebook, ``to_arrow()`` /
    ``to_pandas()`` one row per segment, ``to_dicts()`` JSON-friendly rows.
    """

    at: datetime
    rows: tuple[SegmentReportRow, ...]
    currency: str
    window: timedelta
    touch: str

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[SegmentReportRow]:
        return iter(self.rows)

    def __getitem__(self, key: int | str) -> SegmentReportRow:
        if isinstance(key, str):
            for row in self.rows:
                if row.segment_id == key:
                    return row
            raise KeyError(key)
        return self.rows[key]

    def __repr__(self) -> str:
        names = ", ".join(repr(r.segment_id) for r in self.rows[:5]) + (", …" if len(self.rows) > 5 else "")
        return f"<SegmentReport at {self.at.isoformat()}: {len(self.rows)} segment(s) [{names}]>"

    def __str__(self) -> str:
        from .display import segment_report_text

        return segment_report_text(self)

    def _repr_html_(self) -> str:
        from .display import segment_report_html

        return segment_report_html(self)

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every row's :meth:`SegmentReportRow.to_dict`."""
        return [row.to_dict() for row in self.rows]

    def to_arrow(self) -> Any:
        """One row per segment (extra ``engagekit[parquet]``; :func:`segment_report_table`)."""
        return segment_report_table(self)

    def to_pandas(self) -> Any:
        """:meth:`to_arrow` as a pandas DataFrame (extra ``engagekit[pandas]``)."""
        from .tables import to_pandas

        return to_pandas(self.to_arrow())


def build_segment_report(store: Any, at: datetime, *, window: timedelta, touch: str) -> SegmentReport:
    """The report of ``store.segment_report``, from the store's public primitives only.

    ``store.metrics(in_segment(id), at=at)`` per segment and one ``store.campaign_results`` for every
    registered campaign, so every store gives the same report without SQL of its own.
    """
    from .filters import in_segment

    segments = store.segments()
    registered = store.campaigns()
    ids = sorted({c.id for c in registered})
    found = {r.campaign_id: r for r in store.campaign_results(ids, at=at, window=window, touch=touch)} if ids else {}
    rows = []
    for segment in segments:
        mine = sorted(c.id for c in registered if c.segment_id == segment.id)
        pooled = [found[cid] for cid in mine if cid in found]
        rows.append(SegmentReportRow(
            segment_id=segment.id, name=segment.name, active=segment.active,
            metrics=store.metrics(in_segment(segment.id), at=at),
            campaigns=len(mine),
            active_campaigns=sum(1 for c in registered if c.segment_id == segment.id and c.active),
            last_generated=segment.last_generated_at,
            campaign_ids=tuple(r.campaign_id for r in pooled),
            results=pool(pooled, label=segment.id) if pooled else None,
        ))
    return SegmentReport(at=at, rows=tuple(rows), currency=store.currency, window=window, touch=touch)


# --- Arrow tables of campaign results and segment reports --------------------------------------------

_RESULT_COUNTS = ("sent", "bounced", "delivered", "opened", "clicked", "orders", "converted", "unsubscribed",
                  "complaints")


def _result_columns(results: Sequence[CampaignResult | None], currency: str) -> list[tuple[str, str, list[Any]]]:
    """``(name, kind, values)`` of every figure of SPEC §10, each interval as ``_low`` / ``_high``."""
    def get(name: str) -> list[Any]:
        return [None if r is None else getattr(r, name) for r in results]

    columns: list[tuple[str, str, list[Any]]] = [(n, "int", get(n)) for n in _RESULT_COUNTS[:5]]
    for rate in RATES:
        columns.append((rate, "rate", get(rate)))
        bounds = get(f"{rate}_ci")
        columns.append((f"{rate}_low", "rate", [None if b is None else b[0] for b in bounds]))
        columns.append((f"{rate}_high", "rate", [None if b is None else b[1] for b in bounds]))
    columns += [(n, "int", get(n)) for n in _RESULT_COUNTS[5:]]
    columns += [("revenue", "money", get("revenue")), ("revenue_per_1000", "money", get("revenue_per_1000"))]
    return columns


def _arrow_table(columns: Sequence[tuple[str, str, Sequence[Any]]], currency: str) -> Any:
    from .money import exponent
    from .tables import _pyarrow

    pa = _pyarrow()
    types = {"str": pa.string(), "int": pa.int64(), "bool": pa.bool_(), "rate": pa.decimal128(38, 4),
             "money": pa.decimal128(38, exponent(currency)), "ano": pa.decimal128(38, 2),
             "duration": pa.duration("s"), "instant": pa.timestamp("us", tz="UTC")}
    return pa.table({name: pa.array(list(values), type=types[kind]) for name, kind, values in columns})


def campaign_results_table(results: Sequence[CampaignResult], currency: str | None = None) -> Any:
    """Campaign results as an Arrow table, one row per result: ``campaign_id``, the counts, each
    rate with ``<rate>_low`` / ``<rate>_high`` (decimal128 scale 4), ``revenue`` and
    ``revenue_per_1000`` (decimal128 at the currency's scale). Types as :mod:`engagekit.tables`.

    >>> from engagekit.campaigns import CampaignTotals
    >>> t = campaign_results_table([CampaignResult.from_totals(CampaignTotals("a", sent=10, clicked=3),
    ...                                                       currency="PLN")])
    >>> t.column("click_rate").to_pylist(), t.column("click_rate_high").to_pylist()
    ([Decimal('0.3000')], [Decimal('0.6032')])
    """
    rows = list(results)
    money = currency or (rows[0].currency if rows else "PLN")
    columns: list[tuple[str, str, Sequence[Any]]] = [("campaign_id", "str", [r.campaign_id for r in rows])]
    columns += _result_columns(rows, money)
    return _arrow_table(columns, money)


def segment_report_table(report: SegmentReport) -> Any:
    """A segment report as an Arrow table, one row per segment: ``segment_id, name, active``, the
    metrics ``contacts, customers, orders, revenue, engagement_rate, aov, acv, ano, tbo``,
    ``campaigns, active_campaigns, last_generated``, then the pooled campaign figures as in
    :func:`campaign_results_table`, each prefixed ``campaign_`` (null where a segment has no results)."""
    rows = report.rows
    metrics = [r.metrics for r in rows]
    columns: list[tuple[str, str, Sequence[Any]]] = [
        ("segment_id", "str", [r.segment_id for r in rows]), ("name", "str", [r.name for r in rows]),
        ("active", "bool", [r.active for r in rows]),
        ("contacts", "int", [m.contacts for m in metrics]), ("customers", "int", [m.customers for m in metrics]),
        ("orders", "int", [m.orders for m in metrics]), ("revenue", "money", [m.revenue for m in metrics]),
        ("engagement_rate", "rate", [m.engagement_rate for m in metrics]),
        ("aov", "money", [m.aov for m in metrics]), ("acv", "money", [m.acv for m in metrics]),
        ("ano", "ano", [m.ano for m in metrics]), ("tbo", "duration", [m.tbo for m in metrics]),
        ("campaigns", "int", [r.campaigns for r in rows]),
        ("active_campaigns", "int", [r.active_campaigns for r in rows]),
        ("last_generated", "instant", [r.last_generated for r in rows]),
    ]
    columns += [(f"campaign_{name}", kind, values)
                for name, kind, values in _result_columns([r.results for r in rows], report.currency)]
    return _arrow_table(columns, report.currency)
