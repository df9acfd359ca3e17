"""Campaign results and honest comparisons (SPEC §10).

A store computes exact integer totals per campaign (:class:`CampaignTotals`);
:meth:`CampaignResult.from_totals` is the one place that divides, so every store agrees to the
last digit. :func:`compare` says whether a difference between two campaigns (or two groups of
campaigns) is larger than chance would make it.

>>> a = CampaignResult.from_totals(CampaignTotals("spring", sent=1000, opened=400, clicked=150),
...                                currency="PLN")
>>> b = CampaignResult.from_totals(CampaignTotals("mass", sent=1000, opened=300, clicked=61),
...                                currency="PLN")
>>> a.click_rate, a.click_rate_ci
(Decimal('0.1500'), (Decimal('0.1292'), Decimal('0.1735')))
>>> print(compare(a, b).sentence("click_rate"))
CTR 15.0% vs 6.1%: higher, and unlikely to be chance, p < 0.001
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterable, Iterator
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import attrs

from .errors import InvalidFilter
from .model import CAMPAIGN_TYPES, Event
from .money import exponent, from_minor, quantize_money, to_minor
from .time import Clock, Instant, as_timedelta, instant, to_micros

if TYPE_CHECKING:
    from .reports import SegmentReport

__all__ = [
    "CAMPAIGN_ROW_TYPES", "DEFAULT_WINDOW", "RATES", "TOUCHES", "CampaignResult", "CampaignResults",
    "CampaignResultsMixin", "CampaignTotals", "Comparison", "RateDifference", "by_segment", "compare", "event_rows",
    "pool", "totals_from_rows",
    "two_proportion_p_value", "wilson",
]

Interval: TypeAlias = tuple[Decimal, Decimal]

DEFAULT_WINDOW = timedelta(days=5)
TOUCHES = ("click", "open")
Z_95 = Fraction(196, 100)
RATE_DIGITS = 4
ALPHA = 0.05

_TOUCH_TYPES = {"click": frozenset({"email_click"}), "open": frozenset({"email_open", "email_click"})}
_BOUNCES = frozenset({"hard_bounce", "soft_bounce"})
CAMPAIGN_ROW_TYPES = (*sorted(CAMPAIGN_TYPES), "order", "unsubscribe")
"""The event types SPEC §10 reads."""


# --- exact totals (what a store computes) ----------------------------------------------------------


@attrs.frozen
class CampaignTotals:
    """Exact integer totals of one campaign (SPEC §10), as every store computes them.

    ``revenue_minor`` is in the currency's minor units. ``delivered`` is derived: ``sent - bounced``.
    """

    campaign_id: str
    sent: int = 0
    bounced: int = 0
    opened: int = 0
    clicked: int = 0
    orders: int = 0
    revenue_minor: int = 0
    converted: int = 0
    unsubscribed: int = 0
    complaints: int = 0

    @property
    def delivered(self) -> int:
        return self.sent - self.bounced


# --- the one place that divides ---------------------------------------------------------------------


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    if denominator <= 0:
        return None
    return _decimal(_round_half_even(numerator * 10**RATE_DIGITS, denominator), RATE_DIGITS)


def _round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` (``denominator > 0``) rounded to an integer, half to even."""
    q, r = divmod(numerator, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q % 2):
        q += 1
    return q


def _decimal(units: int, digits: int) -> Decimal:
    """``units * 10**-digits`` as a Decimal with exactly ``digits`` places."""
    return Decimal(units).scaleb(-digits)


def _quantize(value: Fraction, digits: int) -> Decimal:
    return _decimal(_round_half_even(value.numerator * 10**digits, value.denominator), digits)


def _round_surd(c: int, sign: int, b: int, r: int) -> int:
    """``(c + sign·√b) / r`` rounded half-even to an integer, exactly (``b >= 0``, ``r > 0``).

    When ``b`` is a perfect square the value is rational and rounds as such. Otherwise it is
    irrational, so never a tie: it rounds to ``floor((2c + r ± √(4b)) / 2r)``, and with
    ``t = isqrt(4b)`` (``t < √(4b) < t + 1``) that floor is ``(2c + r + t) // 2r`` for ``+`` and
    ``(2c + r - t - 1) // 2r`` for ``-``: a multiple of ``2r`` minus an integer is an integer, and no
    integer lies between ``t`` and ``√(4b)``.
    """
    s = math.isqrt(b)
    if s * s == b:
        return _round_half_even(c + sign * s, r)
    t = math.isqrt(4 * b)
    top = 2 * c + r + t if sign > 0 else 2 * c + r - t - 1
    return top // (2 * r)


def wilson(successes: int, trials: int, z: Fraction = Z_95) -> Interval | None:
    """The Wilson score interval of ``successes / trials``, bounds quantized to 0.0001 half-even.

    ``(k + z²/2 ± z·√(k(n-k)/n + z²/4)) / (n + z²)``, rounded exactly in integer arithmetic, so every
    store gets the same digits. ``None`` when there are no trials (or, for inconsistent data, more
    successes than trials).

    >>> wilson(15, 100)
    (Decimal('0.0931'), Decimal('0.2328'))
    >>> wilson(0, 10)
    (Decimal('0.0000'), Decimal('0.2775'))
    >>> wilson(3, 0) is None
    True
    """
    if trials <= 0 or not 0 <= successes <= trials:
        return None
    k, n, zn, zd = successes, trials, z.numerator, z.denominator
    # multiplied through by 2·zd²·n: (P ± √T) / R with integers P, T, R
    p = n * (2 * zd * zd * k + zn * zn)
    t = zn * zn * n * (4 * zd * zd * k * (n - k) + zn * zn * n)
    r = 2 * n * (zd * zd * n + zn * zn)
    scale = 10**RATE_DIGITS
    low = _round_surd(scale * p, -1, scale * scale * t, r)
    high = _round_surd(scale * p, 1, scale * scale * t, r)
    return (_decimal(low, RATE_DIGITS), _decimal(high, RATE_DIGITS))


@attrs.frozen(kw_only=True)
class CampaignResult:
    """The results of one campaign (SPEC §10), or of a pooled group of campaigns (:func:`pool`).

    Rates are ``Decimal`` fractions quantized to 0.0001, money to the currency's minor unit, both
    half-even; a rate (and its 95% Wilson interval ``*_ci``) is ``None`` when its denominator is 0.
    ``conversion_rate`` is converted / clicked (with ``touch="open"``: / opened).

    >>> r = CampaignResult.from_totals(
    ...     CampaignTotals("c1", sent=4, bounced=1, opened=2, clicked=1, orders=1, revenue_minor=12000,
    ...                    converted=1), currency="PLN")
    >>> r.delivered, r.open_rate, r.click_to_open, r.revenue, r.revenue_per_1000
    (3, Decimal('0.6667'), Decimal('0.5000'), Decimal('120.00'), Decimal('30000.00'))
    """

    campaign_id: str
    sent: int
    bounced: int
    delivered: int
    opened: int
    clicked: int
    open_rate: Decimal | None
    click_rate: Decimal | None
    click_to_open: Decimal | None
    orders: int
    revenue: Decimal
    converted: int
    conversion_rate: Decimal | None
    revenue_per_1000: Decimal | None
    unsubscribed: int
    complaints: int
    open_rate_ci: Interval | None
    click_rate_ci: Interval | None
    click_to_open_ci: Interval | None
    conversion_rate_ci: Interval | None
    currency: str
    touch: str = "click"

    @classmethod
    def from_totals(cls, totals: CampaignTotals, *, currency: str, touch: str = "click") -> CampaignResult:
        """Divide, once: the only place a campaign's rates and money are computed."""
        _check_touch(touch)
        t = totals
        delivered = t.delivered
        converting = t.clicked if touch == "click" else t.opened
        revenue = Fraction(t.revenue_minor, 10 ** exponent(currency))
        return cls(
            campaign_id=t.campaign_id,
            sent=t.sent,
            bounced=t.bounced,
            delivered=delivered,
            opened=t.opened,
            clicked=t.clicked,
            open_rate=_ratio(t.opened, delivered),
            click_rate=_ratio(t.clicked, delivered),
            click_to_open=_ratio(t.clicked, t.opened),
            orders=t.orders,
            revenue=from_minor(t.revenue_minor, currency),
            converted=t.converted,
            conversion_rate=_ratio(t.converted, converting),
            revenue_per_1000=quantize_money(revenue * 1000 / t.sent, currency) if t.sent > 0 else None,
            unsubscribed=t.unsubscribed,
            complaints=t.complaints,
            open_rate_ci=wilson(t.opened, delivered),
            click_rate_ci=wilson(t.clicked, delivered),
            click_to_open_ci=wilson(t.clicked, t.opened),
            conversion_rate_ci=wilson(t.converted, converting),
            currency=currency,
            touch=touch,
        )

    def totals(self) -> CampaignTotals:
        """The exact totals this result was divided from."""
        return CampaignTotals(
            self.campaign_id, sent=self.sent, bounced=self.bounced, opened=self.opened, clicked=self.clicked,
            orders=self.orders, revenue_minor=to_minor(self.revenue, self.currency), converted=self.converted,
            unsubscribed=self.unsubscribed, complaints=self.complaints)

    def _repr_html_(self) -> str:
        from .display import campaign_results_html

        return campaign_results_html([self])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly mapping: Decimals as strings, intervals as two-element lists."""
        out: dict[str, Any] = {}
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) for v in value]
            out[field.name] = value
        return out


RATES = ("open_rate", "click_rate", "click_to_open", "conversion_rate")
"""The rates of a result; each has its interval under ``<name>_ci``."""


class CampaignResults(list[CampaignResult]):
    """What ``store.campaign_results`` returns: a plain list of results that also shows itself as a
    table (``str()``, ``_repr_html_`` in notebooks) and converts to Arrow or pandas.

    >>> rs = CampaignResults([CampaignResult.from_totals(CampaignTotals("nl-1", sent=200, opened=50,
    ...                                                                 clicked=10), currency="PLN")])
    >>> rs == [rs[0]], len(rs)
    (True, 1)
    >>> str(rs).splitlines()[2].split()[:8]
    ['nl-1', '200', '200', '50', '25.00', '%', '[19.51-31.43]', '5.00']
    """

    def __str__(self) -> str:
        from .display import campaign_results_text

        return campaign_results_text(self)

    def _repr_html_(self) -> str:
        from .display import campaign_results_html

        return campaign_results_html(self)

    def to_arrow(self) -> Any:
        """One row per campaign (extra ``engagekit[parquet]``): every figure, each interval as
        ``<rate>_low`` / ``<rate>_high`` (see :func:`engagekit.reports.campaign_results_table`)."""
        from .reports import campaign_results_table

        return campaign_results_table(self)

    def to_pandas(self) -> Any:
        """:meth:`to_arrow` as a pandas DataFrame (extra ``engagekit[pandas]``)."""
        from .tables import to_pandas

        return to_pandas(self.to_arrow())

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every result's :meth:`CampaignResult.to_dict`, for JSON."""
        return [r.to_dict() for r in self]


def _check_touch(touch: object) -> None:
    if touch not in TOUCHES:
        raise InvalidFilter(f"touch: {touch!r} is not one of {', '.join(map(repr, TOUCHES))}")


def pool(results: Iterable[CampaignResult], *, label: str | None = None) -> CampaignResult:
    """Several campaigns as one: their totals summed, then divided once.

    Contacts reached by two pooled campaigns count once per campaign (each is a message sent).
    ``label`` names the group (default: the ids joined by ``+``).

    >>> r1 = CampaignResult.from_totals(CampaignTotals("a", sent=10, clicked=2), currency="PLN")
    >>> r2 = CampaignResult.from_totals(CampaignTotals("b", sent=30, clicked=2), currency="PLN")
    >>> p = pool([r1, r2])
    >>> p.campaign_id, p.sent, p.click_rate
    ('a+b', 40, Decimal('0.1000'))
    """
    items = list(results)
    if not items:
        raise InvalidFilter("pool: needs at least one campaign result")
    for item in items:
        if not isinstance(item, CampaignResult):
            raise InvalidFilter(f"pool: expected CampaignResult values, got {type(item).__name__} {item!r}")
    currencies = {r.currency for r in items}
    touches = {r.touch for r in items}
    if len(currencies) > 1:
        raise InvalidFilter(f"pool: results in different currencies {sorted(currencies)} cannot be pooled")
    if len(touches) > 1:
        raise InvalidFilter(f"pool: results attributed by different touches {sorted(touches)} cannot be pooled")
    summed = [r.totals() for r in items]
    totals = CampaignTotals(
        label if label is not None else "+".join(r.campaign_id for r in items),
        **{name: sum(getattr(t, name) for t in summed)
           for name in ("sent", "bounced", "opened", "clicked", "orders", "revenue_minor", "converted",
                        "unsubscribed", "complaints")},
    )
    return CampaignResult.from_totals(totals, currency=items[0].currency, touch=items[0].touch)


class _Registered(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def segment_id(self) -> str: ...


def by_segment(results: Iterable[CampaignResult],
               campaigns: Iterable[_Registered]) -> dict[str | None, list[CampaignResult]]:
    """Results grouped by the segment their campaign was registered with (``store.campaigns()``).

    Campaigns never registered with ``add_campaign`` go under ``None``. Feed a group to
    :func:`compare`: ``compare(groups["seg-vip"], groups[None])``.

    >>> from engagekit.live.segments import Campaign
    >>> r = [CampaignResult.from_totals(CampaignTotals(i, sent=10), currency="PLN") for i in ("a", "b", "c")]
    >>> groups = by_segment(r, [Campaign("a", "vip"), Campaign("c", "vip")])
    >>> {k: [x.campaign_id for x in v] for k, v in groups.items()}
    {'vip': ['a', 'c'], None: ['b']}
    """
    segment_of = {c.id: c.segment_id for c in campaigns}
    groups: dict[str | None, list[CampaignResult]] = {}
    for result in results:
        groups.setdefault(segment_of.get(result.campaign_id), []).append(result)
    return groups


# --- comparisons ----------------------------------------------------------------------------------------


def two_proportion_p_value(k1: int, n1: int, k2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test of ``k1/n1`` against ``k2/n2``.

    ``None`` when the test is undefined: an empty group, a count outside ``0..n``, or a pooled
    proportion of 0 or 1 (both groups all-or-nothing alike: nothing to test).

    >>> round(two_proportion_p_value(150, 1000, 61, 1000), 12)
    9.3e-11
    >>> two_proportion_p_value(0, 10, 0, 20) is None
    True
    """
    if n1 <= 0 or n2 <= 0 or not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        return None
    pooled = Fraction(k1 + k2, n1 + n2)
    if pooled in (0, 1):
        return None
    diff = Fraction(k1, n1) - Fraction(k2, n2)
    variance = pooled * (1 - pooled) * (Fraction(1, n1) + Fraction(1, n2))
    z = abs(float(diff)) / math.sqrt(float(variance))
    return math.erfc(z / math.sqrt(2))


_RATES: tuple[tuple[str, str, str, str], ...] = (
    # name, label, numerator, denominator
    ("open_rate", "open rate", "opened", "delivered"),
    ("click_rate", "CTR", "clicked", "delivered"),
    ("click_to_open", "click-to-open", "clicked", "opened"),
    ("conversion_rate", "conversion", "converted", "<touch>"),
)


def _denominator_name(name: str, touch: str) -> str:
    if name == "<touch>":
        return "clicked" if touch == "click" else "opened"
    return name


@attrs.frozen(kw_only=True)
class RateDifference:
    """One rate of two results side by side, with the z-test's verdict."""

    name: str
    label: str
    a: Decimal | None
    b: Decimal | None
    difference: Decimal | None
    """``a - b`` of the exact fractions, quantized to 0.0001 half-even."""
    p_value: float | None
    sentence: str


@attrs.frozen(kw_only=True)
class Comparison:
    """Two results (or two pooled groups) compared rate by rate (:func:`compare`)."""

    a: CampaignResult
    b: CampaignResult
    rates: tuple[RateDifference, ...]
    revenue_per_1000_difference: Decimal | None
    alpha: float = ALPHA

    def __getitem__(self, name: str) -> RateDifference:
        for rate in self.rates:
            if rate.name == name:
                return rate
        raise KeyError(name)

    def sentence(self, name: str) -> str:
        """The marketer's sentence for one rate (``"click_rate"``, ``"open_rate"``, …)."""
        return self[name].sentence

    def sentences(self) -> list[str]:
        """One sentence per rate, then revenue per 1000 messages."""
        money = _revenue_sentence(self.a, self.b)
        return [r.sentence for r in self.rates] + [money]

    def __str__(self) -> str:
        return f"{self.a.campaign_id} vs {self.b.campaign_id}\n" + "\n".join(self.sentences())


def _percent(rate: Decimal | None) -> str:
    if rate is None:
        return "n/a"
    return f"{(rate * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_EVEN)}%"


def _format_p(p: float, alpha: float) -> str:
    if p < 0.001:
        return "p < 0.001"
    text = f"{p:.3f}" if p < 0.1 else f"{p:.2f}"
    if p < alpha <= float(text):  # never print "p = 0.050" beside "unlikely to be chance"
        return f"p < {alpha:g}"
    return f"p = {text}"


def _rate_sentence(label: str, a: Decimal | None, b: Decimal | None, *, exact: tuple[Fraction, Fraction] | None,
                   p: float | None, alpha: float) -> str:
    head = f"{label} {_percent(a)} vs {_percent(b)}"
    if exact is None:
        return f"{head}: nothing to compare (a group has no messages to count from)"
    fa, fb = exact
    if fa == fb:
        return f"{head}: the same"
    direction = "higher" if fa > fb else "lower"
    if p is None:
        return f"{head}: {direction}, no test possible"
    if p < alpha:
        return f"{head}: {direction}, and unlikely to be chance, {_format_p(p, alpha)}"
    return f"{head}: {direction}, but could be chance, {_format_p(p, alpha)}"


def _revenue_sentence(a: CampaignResult, b: CampaignResult) -> str:
    def money(value: Decimal | None) -> str:
        return "n/a" if value is None else f"{value} {a.currency}"

    head = f"revenue per 1000 messages {money(a.revenue_per_1000)} vs {money(b.revenue_per_1000)}"
    if a.revenue_per_1000 is None or b.revenue_per_1000 is None:
        return f"{head}: nothing to compare (a group sent no messages)"
    diff = a.revenue_per_1000 - b.revenue_per_1000
    if diff == 0:
        return f"{head}: the same"
    return f"{head}: {'higher' if diff > 0 else 'lower'} by {abs(diff)} {a.currency}"


def _as_result(value: CampaignResult | Iterable[CampaignResult], side: str) -> CampaignResult:
    if isinstance(value, CampaignResult):
        return value
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidFilter(f"compare: {side} must be a CampaignResult or a list of them, got {value!r}")
    return pool(value, label=None)


def compare(a: CampaignResult | Iterable[CampaignResult], b: CampaignResult | Iterable[CampaignResult], *,
            alpha: float = ALPHA) -> Comparison:
    """Compare two campaign results, or two groups of them (each group pooled by summing totals).

    For each rate: both values, their difference (``a - b``), the pooled two-sided two-proportion
    z-test's p-value and a sentence; for revenue per 1000 messages, the difference. A difference
    is called "unlikely to be chance" when ``p < alpha`` (default 0.05).

    >>> a = CampaignResult.from_totals(CampaignTotals("a", sent=200, opened=60, clicked=12),
    ...                                currency="PLN")
    >>> b = CampaignResult.from_totals(CampaignTotals("b", sent=220, opened=59, clicked=11),
    ...                                currency="PLN")
    >>> print(compare(a, b).sentence("click_rate"))
    CTR 6.0% vs 5.0%: higher, but could be chance, p = 0.65
    """
    first, second = _as_result(a, "a"), _as_result(b, "b")
    if first.currency != second.currency:
        raise InvalidFilter(f"compare: currencies differ ({first.currency} vs {second.currency})")
    if first.touch != second.touch:
        raise InvalidFilter(f"compare: attributed by different touches ({first.touch} vs {second.touch})")
    rates = []
    for name, label, num, den in _RATES:
        ka, kb = getattr(first, num), getattr(second, num)
        na = getattr(first, _denominator_name(den, first.touch))
        nb = getattr(second, _denominator_name(den, second.touch))
        exact = (Fraction(ka, na), Fraction(kb, nb)) if na > 0 and nb > 0 else None
        p = two_proportion_p_value(ka, na, kb, nb)
        ra, rb = getattr(first, name), getattr(second, name)
        rates.append(RateDifference(
            name=name, label=label, a=ra, b=rb,
            difference=_quantize(exact[0] - exact[1], RATE_DIGITS) if exact else None,
            p_value=p, sentence=_rate_sentence(label, ra, rb, exact=exact, p=p, alpha=alpha)))
    money_diff = (first.revenue_per_1000 - second.revenue_per_1000
                  if first.revenue_per_1000 is not None and second.revenue_per_1000 is not None else None)
    return Comparison(a=first, b=second, rates=tuple(rates), revenue_per_1000_difference=money_diff, alpha=alpha)


# --- the store API -------------------------------------------------------------------------------------


def campaign_ids_arg(campaigns: object) -> frozenset[str] | None:
    """Validate ``campaigns=``: ``None`` (all), one id, or an iterable of ids."""
    if campaigns is None:
        return None
    if isinstance(campaigns, str):
        campaigns = (campaigns,)
    if not isinstance(campaigns, Iterable):
        raise InvalidFilter(f"campaigns: expected a campaign id or a collection of ids, got {campaigns!r}")
    ids = []
    for i, cid in enumerate(campaigns):
        if not isinstance(cid, str) or not cid:
            raise InvalidFilter(f"campaigns[{i}]: expected a non-empty string, got {cid!r}")
        ids.append(cid)
    return frozenset(ids)


def window_micros(window: object) -> int:
    """A positive ``timedelta`` as exact integer microseconds."""
    delta = as_timedelta(window, field="window")
    return delta // timedelta(microseconds=1)


class CampaignResultsMixin:
    """``campaign_results`` for every store; a store implements the ``_campaign_totals`` primitive."""

    currency: str
    clock: Clock

    def campaign_results(self, campaigns: str | Iterable[str] | None = None, *, at: Instant | None = None,
                         window: timedelta = DEFAULT_WINDOW, touch: str = "click") -> CampaignResults:
        """SPEC §10 results per campaign at ``at``, ordered by campaign id.

        ``campaigns``: one id, several, or ``None`` for every campaign with a visible event; an id
        with no visible event is absent from the list. ``window`` bounds attribution and the
        unsubscribe count; ``touch`` is ``"click"`` or ``"open"``.

        >>> from engagekit import Contact, Event, MemoryStore
        >>> store = MemoryStore(currency="PLN")
        >>> _ = store.add_contacts([Contact(id="c1", created_at="2026-01-01T00:00:00+00:00")])
        >>> _ = store.add_events([
        ...     Event(id="e1", contact_id="c1", type="email_sent", at="2026-03-02T08:00:00+00:00", campaign_id="nl-1"),
        ...     Event(id="e2", contact_id="c1", type="email_click", at="2026-03-02T09:00:00+00:00", campaign_id="nl-1"),
        ...     Event(id="e3", contact_id="c1", type="order", at="2026-03-03T10:00:00+00:00", order_id="o1",
        ...           value="120.00", currency="PLN")])
        >>> [(r.campaign_id, r.opened, r.clicked, r.orders, r.revenue)
        ...  for r in store.campaign_results(at="2026-04-01T00:00:00+00:00")]
        [('nl-1', 1, 1, 1, Decimal('120.00'))]
        """
        ids = campaign_ids_arg(campaigns)
        window_us = window_micros(window)
        _check_touch(touch)
        moment = instant(self.clock() if at is None else at, field="at")
        if ids is not None and not ids:
            return CampaignResults()
        totals = self._campaign_totals(ids, to_micros(moment), window_us, touch)
        totals = sorted(totals, key=lambda t: t.campaign_id)
        return CampaignResults(CampaignResult.from_totals(t, currency=self.currency, touch=touch) for t in totals)

    def segment_report(self, at: Instant | None = None, *, window: timedelta = DEFAULT_WINDOW,
                       touch: str = "click") -> SegmentReport:
        """One row per saved segment: its contacts and SPEC §4 metrics at ``at``, the campaigns
        registered with it, and their results pooled (see :class:`engagekit.reports.SegmentReport`).

        >>> from engagekit import Campaign, Contact, Event, MemoryStore, everyone
        >>> store = MemoryStore(currency="PLN")
        >>> _ = store.add_contacts([Contact(id="c1", created_at="2026-01-01T00:00:00+00:00")])
        >>> _ = store.add_events([
        ...     Event(id="e1", contact_id="c1", type="email_sent", at="2026-03-02T08:00:00+00:00", campaign_id="p1")])
        >>> seg = store.create_segment(everyone(), name="all")
        >>> _ = store.add_campaign(Campaign("p1", seg.id))
        >>> row = store.segment_report(at="2026-04-01T00:00:00+00:00")[0]
        >>> row.name, row.contacts, row.campaigns, row.results.sent
        ('all', 1, 1, 1)
        """
        from .reports import build_segment_report

        _check_touch(touch)
        window_micros(window)
        moment = instant(self.clock() if at is None else at, field="at")
        return build_segment_report(self, moment, window=window, touch=touch)

    def _campaign_totals(self, campaign_ids: frozenset[str] | None, at_us: int, window_us: int,
                         touch: str) -> list[CampaignTotals]:
        """Store primitive: exact totals of SPEC §10 per campaign with a visible event."""
        raise NotImplementedError(f"{type(self).__name__} does not compute campaign results yet")


# --- totals over plain rows (the memory store's primitive) ------------------------------------------

EventRow: TypeAlias = tuple[Hashable, str, int, "str | None", "int | None"]
"""``(contact, type, at_us, campaign_id, value_minor)``: the part of an event SPEC §10 reads."""


def event_rows(events: Iterable[Event], currency: str) -> Iterator[EventRow]:
    """Rows for :func:`totals_from_rows` from validated events."""
    for e in events:
        value = None if e.value is None else to_minor(e.value, currency)
        yield (e.contact_id, e.type, to_micros(e.at), e.campaign_id, value)


def totals_from_rows(rows: Iterable[EventRow], *, exists: Callable[[Any], bool],
                     campaign_ids: frozenset[str] | None, at_us: int, window_us: int,
                     touch: str) -> list[CampaignTotals]:
    """SPEC §10 totals in one pass over event rows plus a sort: the in-memory store's primitive.

    ``exists(contact)`` says whether a contact exists at the question's instant; events of other
    contacts count for no one. ``campaign_id`` is read only for the campaign event types.
    Attribution looks at every campaign's touches, so a campaign's results do not depend on which
    others were asked for.
    """
    touch_types = _TOUCH_TYPES[touch]
    wanted: Callable[[str], bool] = (lambda _cid: True) if campaign_ids is None else campaign_ids.__contains__
    present: set[str] = set()
    first_sent: dict[str, dict[Hashable, int]] = {}
    bounced: dict[str, set[Hashable]] = {}
    opened: dict[str, set[Hashable]] = {}
    clicked: dict[str, set[Hashable]] = {}
    complained: dict[str, set[Hashable]] = {}
    touches: dict[Hashable, list[tuple[int, str]]] = {}
    orders: list[tuple[Hashable, int, int]] = []
    unsubscribes: dict[Hashable, list[int]] = {}
    alive: dict[Hashable, bool] = {}

    for contact, kind, at, cid, value in rows:
        if at > at_us:
            continue
        ok = alive.get(contact)
        if ok is None:
            ok = alive[contact] = exists(contact)
        if not ok:
            continue
        if kind == "order":
            assert value is not None
            orders.append((contact, at, value))
            continue
        if kind == "unsubscribe":
            unsubscribes.setdefault(contact, []).append(at)
            continue
        if cid is None or kind not in CAMPAIGN_TYPES:
            continue
        if kind in touch_types:
            touches.setdefault(contact, []).append((at, cid))  # every campaign's touches, asked or not
        if not wanted(cid):
            continue
        present.add(cid)
        if kind == "email_sent":
            sent = first_sent.setdefault(cid, {})
            if at < sent.get(contact, at + 1):
                sent[contact] = at
        elif kind in _BOUNCES:
            bounced.setdefault(cid, set()).add(contact)
        elif kind == "email_open":
            opened.setdefault(cid, set()).add(contact)
        elif kind == "email_click":
            opened.setdefault(cid, set()).add(contact)
            clicked.setdefault(cid, set()).add(contact)
        elif kind == "spam_complaint":
            complained.setdefault(cid, set()).add(contact)

    attributed_orders: dict[str, int] = {}
    revenue: dict[str, int] = {}
    converted: dict[str, set[Hashable]] = {}
    touch_times: dict[Hashable, list[int]] = {}
    for contact, contact_touches in touches.items():
        contact_touches.sort()
        touch_times[contact] = [t for t, _ in contact_touches]
    for contact, at, value in orders:
        mine = touches.get(contact)
        if not mine:
            continue
        i = bisect_right(touch_times[contact], at)  # touches at or before the order
        if i == 0:
            continue
        touch_at, cid = mine[i - 1]  # the latest; at equal instants the largest campaign id
        if touch_at <= at - window_us or not wanted(cid):
            continue
        attributed_orders[cid] = attributed_orders.get(cid, 0) + 1
        revenue[cid] = revenue.get(cid, 0) + value
        converted.setdefault(cid, set()).add(contact)

    for times in unsubscribes.values():
        times.sort()
    unsubscribed: dict[str, int] = {}
    for cid, sent in first_sent.items():
        n = 0
        for contact, first in sent.items():
            times = unsubscribes.get(contact, [])
            if times and bisect_right(times, first) < bisect_right(times, first + window_us):
                n += 1
        unsubscribed[cid] = n

    return [
        CampaignTotals(
            cid,
            sent=len(first_sent.get(cid, ())),
            bounced=len(bounced.get(cid, ())),
            opened=len(opened.get(cid, ())),
            clicked=len(clicked.get(cid, ())),
            orders=attributed_orders.get(cid, 0),
            revenue_minor=revenue.get(cid, 0),
            converted=len(converted.get(cid, ())),
            unsubscribed=unsubscribed.get(cid, 0),
            complaints=len(complained.get(cid, ())),
        )
        for cid in sorted(present)
    ]
