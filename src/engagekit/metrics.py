"""Metrics of a set of contacts (SPEC §4) and the one place that divides.

Stores compute exact integer aggregates (:class:`OrderTotals`); :meth:`Metrics.from_totals` divides
once, in Python, so every store agrees to the last digit.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

from .money import from_minor, quantize_fraction, quantize_money


@attrs.frozen
class OrderTotals:
    """Exact aggregates over the visible (windowed) orders of a set of contacts.

    ``tbo_span`` is Σ(last - first) in microseconds and ``tbo_gaps`` is Σ(n - 1), both over members
    with at least two orders.
    """

    contacts: int = 0
    customers: int = 0
    orders: int = 0
    revenue_minor: int = 0
    tbo_span: int = 0
    tbo_gaps: int = 0


@attrs.frozen
class Metrics:
    """AOV, ACV, ANO, TBO and engagement rate of a set of contacts (SPEC §4).

    Each ratio is ``None`` when its denominator is 0.
    """

    contacts: int
    customers: int
    orders: int
    revenue: Decimal
    aov: Decimal | None
    acv: Decimal | None
    ano: Decimal | None
    tbo: timedelta | None
    engagement_rate: Decimal | None

    @classmethod
    def from_totals(cls, totals: OrderTotals, engaged: int, currency: str) -> Metrics:
        revenue = Fraction(totals.revenue_minor) / 10 ** _exp(currency)
        return cls(
            contacts=totals.contacts,
            customers=totals.customers,
            orders=totals.orders,
            revenue=from_minor(totals.revenue_minor, currency),
            aov=quantize_money(revenue / totals.orders, currency) if totals.orders else None,
            acv=quantize_money(revenue / totals.customers, currency) if totals.customers else None,
            ano=quantize_fraction(Fraction(totals.orders, totals.customers), 2) if totals.customers else None,
            tbo=_tbo(totals),
            engagement_rate=ratio(engaged, totals.contacts),
        )

    def _repr_html_(self) -> str:
        from .display import metrics_html

        return metrics_html(self)

    def to_arrow(self) -> Any:
        """This as a pyarrow Table (extra ``engagekit[parquet]``; see :mod:`engagekit.tables`)."""
        from .tables import metrics_table

        return metrics_table(self)

    def to_pandas(self) -> Any:
        """This as a pandas DataFrame (extra ``engagekit[pandas]``; see :mod:`engagekit.tables`)."""
        from .tables import to_pandas

        return to_pandas(self.to_arrow())


def _exp(currency: str) -> int:
    from .money import exponent

    return exponent(currency)


def _tbo(totals: OrderTotals) -> timedelta | None:
    if not totals.tbo_gaps:
        return None
    seconds = round(Fraction(totals.tbo_span, totals.tbo_gaps * 1_000_000))  # half-even
    return timedelta(seconds=seconds)


def ratio(numerator: int, denominator: int) -> Decimal | None:
    """A fraction quantized to 0.0001 half-even; None for an empty denominator."""
    if not denominator:
        return None
    return quantize_fraction(Fraction(numerator, denominator), 4)


def percent_change(now: int, before: int) -> Decimal | None:
    """Relative change in percent, quantized to 0.01 half-even; None when ``before`` is 0."""
    if not before:
        return None
    return quantize_fraction(Fraction(now - before, before) * 100, 2)
