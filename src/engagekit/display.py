"""HTML for notebooks (``_repr_html_``) and plain-text summaries (SPEC §9).

Every value that comes from data or from a filter goes through :func:`html.escape`: it is shown as
text, never as markup. Objects are read by attribute name (duck typing), so these functions work
for any store's results and for objects built by hand in tests.

>>> from engagekit import city
>>> "&lt;b&gt;" in filter_html(city("<b>"))
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any

from .filters import Filter, _And, _Not, _Or

GROUPS = ("engaged", "unengaged", "blocked")
FLOW_FROM = ("absent", "outside", "engaged", "unengaged", "blocked")

HOLDS_COLOR = "#1a7f37"
FAILS_COLOR = "#cf222e"

_TABLE = 'style="border-collapse:collapse"'
_CELL = 'style="padding:2px 8px;text-align:right"'
_LEFT = 'style="padding:2px 8px;text-align:left"'


def _e(value: object) -> str:
    """Any value as escaped text (quotes too: values may land in attributes)."""
    return escape(str(value), quote=True)


# --- formatting (plain text, escaped by the callers) ---------------------------------------------


def fmt_value(value: object) -> str:
    """A value as a person reads it: ``None`` → "—", instants in UTC, Decimals as written.

    >>> fmt_value(None), fmt_value(Decimal("1.50")), fmt_value(timedelta(days=2, hours=6))
    ('—', '1.50', '2 days 06:00:00')
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, timedelta):
        return fmt_duration(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return value
    if isinstance(value, frozenset | set):
        return ", ".join(fmt_value(v) for v in sorted(value, key=str))
    if isinstance(value, tuple | list):
        return ", ".join(fmt_value(v) for v in value)
    return str(value)


def _instant(moment: datetime) -> str:
    text = moment.isoformat(sep=" ")
    return text.removesuffix("+00:00") + " UTC" if text.endswith("+00:00") else text


def fmt_duration(value: timedelta) -> str:
    """``2 days 06:00:00``; whole days drop the clock (``30 days``).

    >>> fmt_duration(timedelta(days=1)), fmt_duration(timedelta(hours=5, seconds=3))
    ('1 day', '05:00:03')
    """
    days = value.days
    rest = value - timedelta(days=days)
    seconds = int(rest.total_seconds())
    clock = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if rest.microseconds:
        clock += f".{rest.microseconds:06d}"
    if not days:
        return clock
    unit = "day" if days in (1, -1) else "days"
    return f"{days} {unit}" if not rest else f"{days} {unit} {clock}"


def fmt_percent(fraction: Decimal | None) -> str:
    """A fraction (``Decimal('0.1234')``) as a percent (``12.34 %``); ``None`` → "—".

    >>> fmt_percent(Decimal("0.1234")), fmt_percent(None)
    ('12.34 %', '—')
    """
    if fraction is None:
        return "—"
    return f"{format((fraction * 100).quantize(Decimal('0.01')), 'f')} %"


def fmt_change(change: int) -> str:
    """An absolute change with an arrow: ``▲ 12``, ``▼ 3``, ``0``.

    >>> fmt_change(12), fmt_change(-3), fmt_change(0)
    ('▲ 12', '▼ 3', '0')
    """
    if change > 0:
        return f"▲ {change}"
    if change < 0:
        return f"▼ {-change}"
    return "0"


def fmt_change_pct(pct: Decimal | None) -> str:
    """A relative change in percent: ``+12.50 %``, ``-3.00 %``, ``—`` when undefined.

    >>> fmt_change_pct(Decimal("12.50")), fmt_change_pct(Decimal("-3.00")), fmt_change_pct(None)
    ('+12.50 %', '-3.00 %', '—')
    """
    if pct is None:
        return "—"
    sign = "+" if pct > 0 else ""
    return f"{sign}{format(pct, 'f')} %"


def _describe(flt: object) -> str:
    if isinstance(flt, Filter):
        return flt.describe()
    return "" if flt is None else str(flt)


# --- filters -------------------------------------------------------------------------------------


def _filter_tree(flt: Filter) -> str:
    if isinstance(flt, _And | _Or | _Not):
        label = {"and": "all of", "or": "any of", "not": "not"}[flt.node]
        items = "".join(_filter_tree(child) for child in flt.children())
        return f"<li><b>{label}</b><ul>{items}</ul></li>"
    return f"<li>{_e(flt.describe())} <code>{_e(repr(flt))}</code></li>"


def filter_html(flt: Filter) -> str:
    """A filter's sentence and its tree as nested lists.

    >>> from engagekit import tag, city
    >>> print(filter_html(city("Kraków") | ~tag("vip")))  # doctest: +NORMALIZE_WHITESPACE
    <div class="engagekit-filter"><p>city is Kraków or not tagged &#x27;vip&#x27;</p><ul><li><b>any of</b><ul><li>city
    is Kraków <code>city(&#x27;Kraków&#x27;)</code></li><li><b>not</b><ul><li>tagged &#x27;vip&#x27;
    <code>tag(&#x27;vip&#x27;)</code></li></ul></li></ul></li></ul></div>
    """
    return (f'<div class="engagekit-filter"><p>{_e(flt.describe())}</p>'
            f"<ul>{_filter_tree(flt)}</ul></div>")


# --- metrics -------------------------------------------------------------------------------------

METRIC_ROWS = (
    ("contacts", "contacts"), ("customers", "customers"), ("orders", "orders"), ("revenue", "revenue"),
    ("aov", "AOV (average order value)"), ("acv", "ACV (average customer value)"),
    ("ano", "ANO (average number of orders)"), ("tbo", "TBO (time between orders)"),
    ("engagement_rate", "engagement rate (30 days)"),
)


def _metric(m: object, name: str) -> str:
    value = getattr(m, name, None)
    if name == "engagement_rate":
        return fmt_percent(value)
    return fmt_value(value)


def metrics_html(m: object) -> str:
    """A two-column table of SPEC §4's metrics; ``—`` where a metric is undefined."""
    rows = "".join(f"<tr><th {_LEFT}>{_e(label)}</th><td {_CELL}>{_e(_metric(m, name))}</td></tr>"
                   for name, label in METRIC_ROWS)
    return f'<table class="engagekit-metrics" {_TABLE}><tbody>{rows}</tbody></table>'


def metrics_text(m: object) -> str:
    """SPEC §4's metrics, one per line."""
    width = max(len(label) for _, label in METRIC_ROWS)
    return "\n".join(f"{label:<{width}}  {_metric(m, name)}" for name, label in METRIC_ROWS)


# --- dashboard -----------------------------------------------------------------------------------

DASHBOARD_COLUMNS = ("group", "count", "share", "count 30 days before", "change", "change %", "AOV", "ACV",
                     "ANO", "TBO", "engagement rate")


def _group_cells(name: str, group: object) -> list[str]:
    metrics = getattr(group, "metrics", None)
    change = getattr(group, "change", 0) or 0
    return [
        name,
        fmt_value(getattr(group, "count", None)),
        fmt_percent(getattr(group, "share", None)),
        fmt_value(getattr(group, "count_before", None)),
        fmt_change(int(change)),
        fmt_change_pct(getattr(group, "change_pct", None)),
        _metric(metrics, "aov"),
        _metric(metrics, "acv"),
        _metric(metrics, "ano"),
        _metric(metrics, "tbo"),
        _metric(metrics, "engagement_rate"),
    ]


def _group_names(groups: Mapping[str, object]) -> list[str]:
    return [g for g in GROUPS if g in groups] + sorted(g for g in groups if g not in GROUPS)


def _flow_states(flows: Mapping[tuple[str, str], int]) -> tuple[list[str], list[str]]:
    """Rows: every from-state; columns: every to-state but "absent" (unless some flow ends there)."""
    froms = list(FLOW_FROM) + sorted({f for f, _ in flows} - set(FLOW_FROM))
    tos = [s for s in FLOW_FROM if s != "absent" or any(t == s for _, t in flows)]
    return froms, tos + sorted({t for _, t in flows} - set(FLOW_FROM))


def flows_html(flows: Mapping[tuple[str, str], int]) -> str:
    """A table of from-states (rows) by to-states (columns) of SPEC §5's flows (a missing pair reads as 0)."""
    froms, tos = _flow_states(flows)
    head = "".join(f"<th {_CELL}>{_e(t)}</th>" for t in tos)
    body = ""
    for frm in froms:
        cells = "".join(f"<td {_CELL}>{_e(flows.get((frm, to), 0))}</td>" for to in tos)
        body += f"<tr><th {_LEFT}>{_e(frm)}</th>{cells}</tr>"
    return (f'<table class="engagekit-flows" {_TABLE}><caption>flows: 30 days before (rows) → now (columns)'
            f"</caption><thead><tr><th {_LEFT}>from \\ to</th>{head}</tr></thead><tbody>{body}</tbody></table>")


def dashboard_html(d: object) -> str:
    """SPEC §5's dashboard: a table with one row per group, then the flows table."""
    groups: Mapping[str, object] = getattr(d, "groups", {}) or {}
    flows: Mapping[tuple[str, str], int] = getattr(d, "flows", {}) or {}
    caption = "contacts dashboard"
    view = getattr(d, "view", None)
    timeframe = getattr(d, "timeframe", None)
    if view is not None:
        caption += f" — view {view}"
    if timeframe is not None:
        caption += f", timeframe {fmt_value(timeframe)}"
    head = "".join(f"<th {_CELL if i else _LEFT}>{_e(c)}</th>" for i, c in enumerate(DASHBOARD_COLUMNS))
    rows = ""
    for name in _group_names(groups):
        cells = _group_cells(name, groups[name])
        rows += (f'<tr class="engagekit-group-{_e(name)}"><th {_LEFT}>{_e(cells[0])}</th>'
                 + "".join(f"<td {_CELL}>{_e(c)}</td>" for c in cells[1:]) + "</tr>")
    table = (f'<table class="engagekit-dashboard" {_TABLE}><caption>{_e(caption)}</caption>'
             f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return f'<div class="engagekit-dashboard">{table}{flows_html(flows)}</div>'


def dashboard_text(d: object) -> str:
    """The dashboard as aligned plain text (groups, then non-zero flows)."""
    groups: Mapping[str, object] = getattr(d, "groups", {}) or {}
    flows: Mapping[tuple[str, str], int] = getattr(d, "flows", {}) or {}
    table = [list(DASHBOARD_COLUMNS)] + [_group_cells(n, groups[n]) for n in _group_names(groups)]
    widths = [max(len(row[i]) for row in table) for i in range(len(DASHBOARD_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths,
                                                                                                  strict=True)))
             for row in table]
    pairs = sorted(flows.items())
    if pairs:
        lines.append("")
        lines.append("flows (30 days before → now):")
        lines.extend(f"  {frm} → {to}: {n}" for (frm, to), n in pairs if n)
    return "\n".join(line.rstrip() for line in lines)


# --- explain and preview -------------------------------------------------------------------------

EVIDENCE = ("window", "count", "matches", "total", "mean", "value", "state")


def _window_text(window: object) -> str:
    if not isinstance(window, tuple) or len(window) != 2:
        return fmt_value(window)
    start, end = window
    return f"{'(open)' if start is None else fmt_value(start)} → {fmt_value(end)}"


_ATTRIBUTE_NODES = ("profile", "has", "tag", "status", "joined", "attr")


def _evidence(e: object) -> list[tuple[str, str]]:
    """What decided a leaf: the SPEC §9 fields it carries (a missing attribute value shows as such)."""
    if getattr(e, "children", ()):
        return []
    attribute = getattr(getattr(e, "filter", None), "node", None) in _ATTRIBUTE_NODES
    found = []
    for name in EVIDENCE:
        value = getattr(e, name, None)
        if value is None:
            if name == "value" and attribute and hasattr(e, "value"):
                found.append((name, "(missing)"))
            continue
        if name == "window":
            text = _window_text(value)
        elif isinstance(value, frozenset | set | tuple | list):
            text = "[" + fmt_value(value) + "]"
        else:
            text = fmt_value(value)
        found.append((name, text))
    return found


def _explanation_item(e: object) -> str:
    holds = bool(getattr(e, "holds", False))
    color, mark, cls = (HOLDS_COLOR, "✓", "holds") if holds else (FAILS_COLOR, "✗", "fails")
    text = _describe(getattr(e, "filter", None))
    pairs = _evidence(e)
    evidence = " <small>(" + "; ".join(f"{_e(n)}: {_e(t)}" for n, t in pairs) + ")</small>" if pairs else ""
    children: Iterable[object] = getattr(e, "children", ()) or ()
    inner = "".join(_explanation_item(c) for c in children)
    nested = f"<ul>{inner}</ul>" if inner else ""
    return f'<li class="engagekit-{cls}" style="color:{color}">{mark} {_e(text)}{evidence}{nested}</li>'


def explanation_html(e: object) -> str:
    """An explanation tree (SPEC §9): holding nodes green ✓, failing nodes red ✗, with the evidence."""
    return f'<div class="engagekit-explanation"><ul>{_explanation_item(e)}</ul></div>'


def explanation_text(e: object, indent: int = 0) -> str:
    """An explanation tree as indented plain text, one node a line (✓ holds, ✗ fails)."""
    holds = bool(getattr(e, "holds", False))
    line = f"{'  ' * indent}{'✓' if holds else '✗'} {_describe(getattr(e, 'filter', None))}"
    pairs = _evidence(e)
    if pairs:
        line += " (" + "; ".join(f"{n}: {t}" for n, t in pairs) + ")"
    children: Iterable[object] = getattr(e, "children", ()) or ()
    return "\n".join([line, *(explanation_text(c, indent + 1) for c in children)])


PREVIEW_ROWS = ("entering", "leaving", "staying")


def preview_html(p: object) -> str:
    """A preview (SPEC §9): members, and entering / leaving / staying with example ids."""
    examples: Mapping[str, Any] = getattr(p, "examples", {}) or {}
    rows = f"<tr><th {_LEFT}>members</th><td {_CELL}>{_e(fmt_value(getattr(p, 'count', None)))}</td><td></td></tr>"
    for name in PREVIEW_ROWS:
        ids = ", ".join(_e(i) for i in examples.get(name, ()))
        rows += (f"<tr><th {_LEFT}>{name}</th><td {_CELL}>{_e(fmt_value(getattr(p, name, None)))}</td>"
                 f"<td {_LEFT}>{ids}</td></tr>")
    head = f"<thead><tr><th {_LEFT}></th><th {_CELL}>count</th><th {_LEFT}>examples</th></tr></thead>"
    return f'<table class="engagekit-preview" {_TABLE}>{head}<tbody>{rows}</tbody></table>'


def preview_text(p: object) -> str:
    """A preview as plain text."""
    examples: Mapping[str, Any] = getattr(p, "examples", {}) or {}
    lines = [f"members   {fmt_value(getattr(p, 'count', None))}"]
    for name in PREVIEW_ROWS:
        ids = ", ".join(str(i) for i in examples.get(name, ()))
        lines.append(f"{name:<9} {fmt_value(getattr(p, name, None))}" + (f"  e.g. {ids}" if ids else ""))
    return "\n".join(lines)


# --- segments ------------------------------------------------------------------------------------

SEGMENT_ROWS = ("id", "name", "active", "created_at", "updated_at")


def segment_html(s: object) -> str:
    """A saved segment: id, name, active, created and updated instants (and its filter, when it has one)."""
    rows = "".join(f"<tr><th {_LEFT}>{name.replace('_', ' ')}</th><td {_LEFT}>{_e(fmt_value(getattr(s, name, None)))}"
                   "</td></tr>" for name in SEGMENT_ROWS)
    flt = getattr(s, "filter", None)
    if isinstance(flt, Filter):
        rows += f"<tr><th {_LEFT}>filter</th><td {_LEFT}><code>{_e(repr(flt))}</code></td></tr>"
    return f'<table class="engagekit-segment" {_TABLE}><tbody>{rows}</tbody></table>'


# --- campaign results and the segment report (issue #10) ---------------------------------------


def fmt_rate_ci(rate: Decimal | None, ci: tuple[Decimal, Decimal] | None) -> str:
    """A rate with its 95% interval: ``15.00 % [12.92-17.35]``; ``—`` when undefined.

    >>> fmt_rate_ci(Decimal("0.15"), (Decimal("0.1292"), Decimal("0.1735")))
    '15.00 % [12.92-17.35]'
    """
    if rate is None:
        return "—"
    if ci is None:
        return fmt_percent(rate)
    low, high = ((bound * 100).quantize(Decimal("0.01")) for bound in ci)
    return f"{fmt_percent(rate)} [{format(low, 'f')}-{format(high, 'f')}]"


CAMPAIGN_COLUMNS = ("campaign", "sent", "delivered", "opened", "open rate [95% CI]", "CTR [95% CI]",
                    "conversion [95% CI]", "orders", "revenue", "revenue / 1000", "unsubscribed")


def _campaign_cells(r: object, label: str | None = None) -> list[str]:
    def get(name: str) -> Any:
        return getattr(r, name, None)

    return [
        label if label is not None else fmt_value(get("campaign_id")),
        fmt_value(get("sent")), fmt_value(get("delivered")), fmt_value(get("opened")),
        fmt_rate_ci(get("open_rate"), get("open_rate_ci")), fmt_rate_ci(get("click_rate"), get("click_rate_ci")),
        fmt_rate_ci(get("conversion_rate"), get("conversion_rate_ci")), fmt_value(get("orders")),
        fmt_value(get("revenue")), fmt_value(get("revenue_per_1000")), fmt_value(get("unsubscribed")),
    ]


def _html_table(cls: str, caption: str | None, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = "".join(f"<th {_CELL if i else _LEFT}>{_e(h)}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td {_CELL if i else _LEFT}>{_e(c)}</td>" for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    title = f"<caption>{_e(caption)}</caption>" if caption else ""
    return (f'<table class="{cls}" {_TABLE}>{title}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _text_table(headers: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    body = [list(r) for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in body)])


def campaign_results_html(results: Iterable[object]) -> str:
    """Campaign results (SPEC §10) as a table, one row per campaign, rates with their 95% intervals.

    >>> class R:
    ...     campaign_id = "<script>"
    >>> "&lt;script&gt;" in campaign_results_html([R()])
    True
    """
    return _html_table("engagekit-campaigns", "campaign results", CAMPAIGN_COLUMNS,
                       [_campaign_cells(r) for r in results])


def campaign_results_text(results: Iterable[object]) -> str:
    """Campaign results as an aligned plain-text table (``—`` where a figure is undefined)."""
    return _text_table(CAMPAIGN_COLUMNS, [_campaign_cells(r) for r in results])


SEGMENT_REPORT_COLUMNS = ("segment", "name", "contacts", "engagement (30 days)", "AOV", "ACV", "ANO", "TBO",
                          "campaigns", "last generated", "sent", "open rate", "CTR [95% CI]", "conversion",
                          "revenue / 1000")


def _segment_report_cells(row: object) -> list[str]:
    def get(source: object, name: str) -> Any:
        return getattr(source, name, None)

    r = get(row, "results")
    return [
        fmt_value(get(row, "segment_id")), fmt_value(get(row, "name")), fmt_value(get(row, "contacts")),
        fmt_percent(get(row, "engagement_rate")), fmt_value(get(row, "aov")), fmt_value(get(row, "acv")),
        fmt_value(get(row, "ano")), fmt_value(get(row, "tbo")), fmt_value(get(row, "campaigns")),
        fmt_value(get(row, "last_generated")), fmt_value(get(r, "sent")), fmt_percent(get(r, "open_rate")),
        fmt_rate_ci(get(r, "click_rate"), get(r, "click_rate_ci")), fmt_percent(get(r, "conversion_rate")),
        fmt_value(get(r, "revenue_per_1000")),
    ]


def _segment_report_caption(report: object) -> str:
    at = getattr(report, "at", None)
    caption = "segments" if at is None else f"segments at {fmt_value(at)}"
    return caption + "; campaign figures pooled over the campaigns sent to each segment"


def segment_report_html(report: object) -> str:
    """A segment report (issue #10): one row per saved segment, escaped like every other table."""
    rows: Iterable[object] = getattr(report, "rows", ()) or ()
    return _html_table("engagekit-segment-report", _segment_report_caption(report), SEGMENT_REPORT_COLUMNS,
                       [_segment_report_cells(r) for r in rows])


def segment_report_text(report: object) -> str:
    """A segment report as plain text: a caption line, then an aligned table."""
    rows: Iterable[object] = getattr(report, "rows", ()) or ()
    table = _text_table(SEGMENT_REPORT_COLUMNS, [_segment_report_cells(r) for r in rows], left=2)
    return f"{_segment_report_caption(report)}\n\n{table}"


__all__ = [
    "campaign_results_html", "campaign_results_text", "dashboard_html", "dashboard_text", "explanation_html",
    "explanation_text", "filter_html", "flows_html",
    "fmt_change", "fmt_change_pct", "fmt_duration", "fmt_percent", "fmt_rate_ci", "fmt_value", "metrics_html",
    "metrics_text", "preview_html", "preview_text", "segment_html", "segment_report_html", "segment_report_text",
]
