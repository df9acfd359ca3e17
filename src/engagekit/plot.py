"""Pictures of what a store returns, as plotly figures (extra ``engagekit[plot]``).

plotly is imported only when a picture is asked for; without it these functions raise
:class:`~engagekit.errors.MissingExtra` naming ``engagekit[plot]``. Each function returns a
``plotly.graph_objects.Figure``: interactive in Jupyter, and written to one self-contained HTML
file that needs no network with ``fig.write_html(path, include_plotlyjs=True)``.

The numbers in a figure's data are exactly the ones the store returned (``Decimal`` rates stay
``Decimal``, counts stay ``int``), so a figure can be checked against the store. Labels that come
from data (cities, tags, campaign ids, segment names) are data too: plotly reads a small HTML subset
in the text it draws (``<b>``, ``<a href>``…), so the text it draws is escaped (``&lt;b&gt;``), while
the trace's ``x`` keeps the label exactly as stored.

>>> from engagekit.plot import value_counts
>>> fig = value_counts([("warszawa", 2), ("<b>kraków</b>", 1)])
>>> fig.data[0].x, fig.data[0].y
(('warszawa', '<b>kraków</b>'), (2, 1))
>>> fig.layout.xaxis.ticktext
('warszawa', '&lt;b&gt;kraków&lt;/b&gt;')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .display import fmt_change, fmt_change_pct, fmt_percent
from .errors import InvalidFilter, MissingExtra
from .reports import FLOW_STATES, STATES
from .time import Instant, instant

if TYPE_CHECKING:
    from .campaigns import CampaignResult
    from .reports import Dashboard

RATES = ("open_rate", "click_rate", "click_to_open", "conversion_rate")
"""The campaign rates that carry a Wilson interval (``<rate>_ci``), for :func:`campaign_rates`."""

ENTRIES_COLOR = "#1a7f37"
EXITS_COLOR = "#cf222e"
GROUP_COLORS = {"engaged": "#1a7f37", "unengaged": "#9a6700", "blocked": "#cf222e",
                "absent": "#8c959f", "outside": "#57606a"}
_BEFORE_COLOR = "#afb8c1"
_DAY = timedelta(days=1)


def _graph_objects() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError as err:
        raise MissingExtra("pictures need plotly: pip install 'engagekit[plot]'") from err
    return go


def _text(value: object) -> str:
    """Text plotly draws as text: its HTML subset escaped (plotly decodes ``&lt; &gt; &amp;``)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _categories(fig: Any, axis: str, labels: Sequence[str]) -> None:
    """A category axis whose ticks show the labels escaped (a label such as ``2026`` stays a category)."""
    fig.update_layout({axis: {"type": "category", "tickmode": "array", "tickvals": list(labels),
                              "ticktext": [_text(label) for label in labels]}})


def dashboard(d: Dashboard) -> Any:
    """The contacts dashboard as bars per group: the count 30 days before and now, the change on top.

    Trace 0 (``"30 days before"``) has each group's ``count_before``, trace 1 (``"now"``) its
    ``count``; trace 1's ``customdata`` holds ``(change, change_pct)`` per group.

    >>> from engagekit import MemoryStore, Contact
    >>> store = MemoryStore(currency="PLN")
    >>> _ = store.add_contacts([Contact(id="c1", created_at="2026-01-01T00:00:00+00:00")])
    >>> fig = dashboard(store.engagement(at="2026-06-01T00:00:00+00:00"))
    >>> fig.data[1].x, fig.data[1].y
    (('engaged', 'unengaged', 'blocked'), (0, 1, 0))
    """
    go = _graph_objects()
    names = [g for g in STATES if g in d.groups] + [g for g in d.groups if g not in STATES]
    groups = [d.groups[g] for g in names]
    labels = [f"{fmt_change(g.change)} ({fmt_change_pct(g.change_pct)})" for g in groups]
    fig = go.Figure([
        go.Bar(name="30 days before", x=names, y=[g.count_before for g in groups], marker_color=_BEFORE_COLOR,
               hovertemplate="%{x}, 30 days before: %{y}<extra></extra>"),
        go.Bar(name="now", x=names, y=[g.count for g in groups],
               marker_color=[GROUP_COLORS.get(n, "#0969da") for n in names],
               customdata=[[g.change, g.change_pct] for g in groups],
               text=labels, textposition="outside",
               hovertext=[f"{n}: {g.count} ({fmt_percent(g.share)} of the view), {label}"
                          for n, g, label in zip(names, groups, labels, strict=True)],
               hoverinfo="text"),
    ])
    fig.update_layout(barmode="group", title=f"Contacts by engagement ({_text(d.view)}), change over 30 days",
                      yaxis_title="contacts", legend_title_text="")
    return fig


def flows(d: Dashboard) -> Any:
    """The dashboard's 30-day flows as a Sankey diagram: state 30 days before → state now.

    States are ``absent`` (no contact yet, or forgotten), ``outside`` (not in the view), ``engaged``,
    ``unengaged`` and ``blocked``. Nodes 0..k-1 are the "before" side, k.. the "now" side; every node's
    ``label`` is its state and its ``customdata`` its side. Each link is one nonzero flow.

    >>> from engagekit import MemoryStore, Contact
    >>> store = MemoryStore(currency="PLN")
    >>> _ = store.add_contacts([Contact(id="c1", created_at="2026-05-20T00:00:00+00:00")])
    >>> sankey = flows(store.engagement(at="2026-06-01T00:00:00+00:00")).data[0]
    >>> [(sankey.node.label[s], sankey.node.label[t], v)
    ...  for s, t, v in zip(sankey.link.source, sankey.link.target, sankey.link.value)]
    [('absent', 'unengaged', 1)]
    """
    go = _graph_objects()
    pairs = [(pair, n) for pair, n in d.flows.items() if n]
    order = {s: i for i, s in enumerate(FLOW_STATES)}
    before = sorted({frm for (frm, _), _ in pairs}, key=lambda s: (order.get(s, len(order)), s))
    now = sorted({to for (_, to), _ in pairs}, key=lambda s: (order.get(s, len(order)), s))
    index = {("before", s): i for i, s in enumerate(before)}
    index.update({("now", s): len(before) + i for i, s in enumerate(now)})
    states = before + now
    sides = ["30 days before"] * len(before) + ["now"] * len(now)
    sankey = go.Sankey(
        arrangement="snap",
        node={"label": [_text(s) for s in states], "customdata": sides,
              "color": [GROUP_COLORS.get(s, "#0969da") for s in states],
              "hovertemplate": "%{label} (%{customdata}): %{value}<extra></extra>"},
        link={"source": [index["before", frm] for (frm, _), _ in pairs],
              "target": [index["now", to] for (_, to), _ in pairs],
              "value": [n for _, n in pairs],
              "hovertemplate": "%{source.label} → %{target.label}: %{value}<extra></extra>"},
    )
    fig = go.Figure([sankey])
    fig.update_layout(title="Where contacts went in 30 days (left: 30 days before, right: now)")
    return fig


def segment_history(store: Any, segment_id: str, since: Instant, until: Instant) -> Any:
    """A segment's size per UTC day from ``since`` to ``until``, with its entries and exits per day.

    Entries and exits are the ``added`` and ``removed`` entries of the membership log
    (``store.log(segment_id, since=since, until=until)``) counted by the UTC day of their ``at``. The
    size starts from ``store.count(in_segment(segment_id), at=since)`` and follows the log: at the
    end of each day it is the start plus the day's and earlier days' entries minus exits (the log
    is what the live engine saw, late changes at the instant it learnt of them).

    Trace 0 (``"size"``) has the size at each day's end (or at ``until``, for the last day); trace 1
    (``"entries"``) and trace 2 (``"exits"``) the day's counts. ``x`` is the ``datetime.date`` of
    each day.

    >>> from engagekit import MemoryStore, Contact, Event, LiveEngine, ordered, last
    >>> store = MemoryStore(currency="PLN")
    >>> _ = store.add_contacts([Contact(id="c1", created_at="2026-01-01T00:00:00+00:00")])
    >>> seg = store.create_segment(ordered(within=last(days=1)))
    >>> engine = LiveEngine(store, start="2026-06-01T00:00:00+00:00")
    >>> _ = engine.add_events([Event(id="o1", contact_id="c1", type="order", at="2026-06-02T10:00:00+00:00",
    ...                              order_id="o1", value="10.00", currency="PLN")])
    >>> engine.advance(to="2026-06-05T00:00:00+00:00")
    >>> fig = segment_history(store, seg.id, "2026-06-01T00:00:00+00:00", "2026-06-05T00:00:00+00:00")
    >>> [d.isoformat() for d in fig.data[0].x]
    ['2026-06-01', '2026-06-02', '2026-06-03', '2026-06-04']
    >>> fig.data[0].y, fig.data[1].y, fig.data[2].y
    ((0, 1, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0))
    """
    go = _graph_objects()
    from plotly.subplots import make_subplots

    from .filters import in_segment

    start, end = instant(since, field="since"), instant(until, field="until")
    if end <= start:
        raise InvalidFilter(f"until: {end.isoformat()} is not after since {start.isoformat()}")
    segment = store.segment(segment_id)
    days = _days(start, end)
    entries = dict.fromkeys(days, 0)
    exits = dict.fromkeys(days, 0)
    for entry in store.log(segment_id, since=start, until=end):
        counts = entries if entry.change == "added" else exits
        counts[entry.at.date()] += 1
    size = store.count(in_segment(segment_id), at=start)
    sizes = []
    for day in days:
        size += entries[day] - exits[day]
        sizes.append(size)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.06)
    fig.add_trace(go.Scatter(name="size", x=days, y=sizes, mode="lines+markers", line_shape="hv",
                             hovertemplate="%{x}: %{y} members at the day's end<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(name="entries", x=days, y=[entries[d] for d in days], marker_color=ENTRIES_COLOR,
                         hovertemplate="%{x}: %{y} entered<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Bar(name="exits", x=days, y=[exits[d] for d in days], marker_color=EXITS_COLOR,
                         hovertemplate="%{x}: %{y} left<extra></extra>"), row=2, col=1)
    fig.update_layout(barmode="group", title=f"{_text(segment.name)} ({_text(segment.id)}): size per day",
                      hovermode="x unified")
    fig.update_yaxes(title_text="members", row=1, col=1)
    fig.update_yaxes(title_text="per day", row=2, col=1)
    return fig


def _days(start: datetime, end: datetime) -> list[date]:
    """The UTC dates from ``start``'s to the one holding the last instant before ``end``."""
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    return [first + k * _DAY for k in range((last - first).days + 1)]


def value_counts(pairs: Iterable[tuple[str, int]], *, title: str | None = None) -> Any:
    """``store.value_counts(...)`` pairs as a bar chart, in the order given (most frequent first).

    >>> fig = value_counts([("PL", 7), ("DE", 3)], title="contacts by country")
    >>> fig.data[0].y
    (7, 3)
    """
    go = _graph_objects()
    rows = list(pairs)
    labels = [label for label, _ in rows]
    fig = go.Figure([go.Bar(x=labels, y=[n for _, n in rows], customdata=[_text(label) for label in labels],
                            hovertemplate="%{customdata}: %{y}<extra></extra>")])
    _categories(fig, "xaxis", labels)
    fig.update_layout(title=_text(title) if title is not None else None, yaxis_title="contacts")
    return fig


def campaign_rates(results: Iterable[CampaignResult], rate: str = "click_rate") -> Any:
    """One bar per campaign: its ``rate`` with the 95% Wilson interval (``<rate>_ci``) as error bars.

    ``rate`` is one of :data:`RATES`. ``y`` holds the rates as the store returned them
    (``Decimal``, ``None`` where the rate is undefined); ``customdata`` the interval ``(low, high)``;
    the error bars reach exactly from ``low`` to ``high`` (``array = high - rate``,
    ``arrayminus = rate - low``).

    >>> from engagekit.campaigns import CampaignResult, CampaignTotals
    >>> r = CampaignResult.from_totals(CampaignTotals("spring", sent=100, clicked=15), currency="PLN")
    >>> fig = campaign_rates([r])
    >>> fig.data[0].y, fig.data[0].customdata
    ((Decimal('0.1500'),), ([Decimal('0.0931'), Decimal('0.2328')],))
    """
    if rate not in RATES:
        raise InvalidFilter(f"rate: {rate!r} is not one of {', '.join(RATES)}")
    go = _graph_objects()
    items = list(results)
    ids = [r.campaign_id for r in items]
    values: list[Decimal | None] = [getattr(r, rate) for r in items]
    intervals: list[tuple[Decimal, Decimal] | None] = [getattr(r, f"{rate}_ci") for r in items]
    above = [None if v is None or ci is None else ci[1] - v for v, ci in zip(values, intervals, strict=True)]
    below = [None if v is None or ci is None else v - ci[0] for v, ci in zip(values, intervals, strict=True)]
    hover = [f"{_text(i)}: {fmt_percent(v)} (95% CI {fmt_percent(ci[0]) if ci else '—'} to "
             f"{fmt_percent(ci[1]) if ci else '—'})" for i, v, ci in zip(ids, values, intervals, strict=True)]
    fig = go.Figure([go.Bar(
        name=rate, x=ids, y=values, customdata=[ci if ci else None for ci in intervals],
        error_y={"type": "data", "symmetric": False, "array": above, "arrayminus": below},
        hovertext=hover, hoverinfo="text")])
    _categories(fig, "xaxis", ids)
    fig.update_layout(title=f"{rate.replace('_', ' ')} per campaign, with 95% Wilson intervals",
                      yaxis={"tickformat": ".1%", "title": rate.replace("_", " "), "rangemode": "tozero"})
    return fig


__all__ = ["RATES", "campaign_rates", "dashboard", "flows", "segment_history", "value_counts"]
