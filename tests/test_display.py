"""HTML for notebooks: everything from data or filters is escaped; the dashboard has a row per group."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

from engagekit import Dashboard, DashboardGroup, Metrics, city, last, ordered, tag
from engagekit.display import (
    dashboard_html,
    dashboard_text,
    explanation_html,
    explanation_text,
    filter_html,
    fmt_change,
    fmt_change_pct,
    fmt_percent,
    metrics_html,
    metrics_text,
    preview_html,
    preview_text,
    segment_html,
)

HOSTILE_CITY = "<script>alert(1)</script>"
HOSTILE_TAG = "&\"'<>"
T0 = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


class _Collector(HTMLParser):
    """Parses HTML and records tags and text, to check no injected markup got through."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.rows: dict[str, int] = {}
        self._table: list[str] = []
        self._section: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "table":
            self._table.append(dict(attrs).get("class") or "")
        elif tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody" and self._table:
            self.rows[self._table[-1]] = self.rows.get(self._table[-1], 0) + 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table.pop()
        elif tag in ("thead", "tbody"):
            self._section = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


def assert_escaped(html: str) -> _Collector:
    """No injected tag, no raw hostile characters, and the hostile values read back as text."""
    assert "<script" not in html
    assert HOSTILE_TAG not in html
    parsed = parse(html)
    assert "script" not in parsed.tags
    return parsed


def metrics(**overrides: object) -> Metrics:
    values: dict[str, object] = {
        "contacts": 10, "customers": 4, "orders": 7, "revenue": Decimal("700.00"), "aov": Decimal("100.00"),
        "acv": Decimal("175.00"), "ano": Decimal("1.75"), "tbo": timedelta(days=12, hours=3),
        "engagement_rate": Decimal("0.4000"),
    }
    values.update(overrides)
    return Metrics(**values)  # type: ignore[arg-type]


def dashboard(view: str = "subscribed+unknown") -> Dashboard:
    empty = metrics(contacts=0, customers=0, orders=0, revenue=Decimal("0.00"), aov=None, acv=None, ano=None,
                    tbo=None, engagement_rate=None)
    groups = {
        "engaged": DashboardGroup(count=6, share=Decimal("0.6000"), count_before=4, change=2,
                                  change_pct=Decimal("50.00"), metrics=metrics()),
        "unengaged": DashboardGroup(count=3, share=Decimal("0.3000"), count_before=5, change=-2,
                                    change_pct=Decimal("-40.00"), metrics=metrics()),
        "blocked": DashboardGroup(count=1, share=Decimal("0.1000"), count_before=0, change=1, change_pct=None,
                                  metrics=empty),
    }
    flows = {("absent", "engaged"): 2, ("engaged", "engaged"): 4, ("unengaged", "unengaged"): 3,
             ("unengaged", "blocked"): 1, ("unengaged", "outside"): 1}
    return Dashboard(view=view, timeframe=timedelta(days=180), groups=groups, flows=flows)


# --- filters -------------------------------------------------------------------------------------


def test_filter_html_escapes_values_from_the_filter() -> None:
    flt = city(HOSTILE_CITY) & ~tag(HOSTILE_TAG)
    html = filter_html(flt)
    parsed = assert_escaped(html)
    text = "".join(parsed.text)
    assert HOSTILE_CITY in text  # shown as text
    assert flt.describe() in text
    assert flt._repr_html_() == html


def test_filter_html_is_a_sentence_and_a_tree() -> None:
    flt = (city("Kraków") | tag("a")) & ~tag("b")
    parsed = parse(filter_html(flt))
    assert parsed.tags.count("ul") == 4  # root, and, or, not
    assert parsed.tags.count("li") == 6  # and, or, city, tag a, not, tag b
    assert "".join(parsed.text).startswith(flt.describe())


# --- metrics and dashboard -----------------------------------------------------------------------


def test_metrics_html_and_text() -> None:
    html = metrics_html(metrics())
    assert "175.00" in html and "1.75" in html and "40.00 %" in html and "12 days 03:00:00" in html
    assert metrics()._repr_html_() == html
    empty = metrics(aov=None, acv=None, ano=None, tbo=None, engagement_rate=None)
    assert metrics_html(empty).count("—") == 5
    assert "AOV" in metrics_text(metrics())


def test_dashboard_has_one_row_per_group() -> None:
    d = dashboard()
    html = dashboard_html(d)
    parsed = parse(html)
    assert parsed.rows["engagekit-dashboard"] == 3
    for name in ("engaged", "unengaged", "blocked"):
        assert len(re.findall(rf'<tr class="engagekit-group-{name}">', html)) == 1
    assert d._repr_html_() == html


def test_dashboard_cells() -> None:
    html = dashboard_html(dashboard())
    assert "60.00 %" in html and "▲ 2" in html and "▼ 2" in html and "+50.00 %" in html and "-40.00 %" in html
    blocked_row = re.search(r'<tr class="engagekit-group-blocked">(.*?)</tr>', html)
    assert blocked_row is not None
    cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", blocked_row.group(1))
    assert cells == ["blocked", "1", "10.00 %", "0", "▲ 1", "—", "—", "—", "—", "—", "—"]


def test_dashboard_flows_table() -> None:
    parsed = parse(dashboard_html(dashboard()))
    assert parsed.rows["engagekit-flows"] == 5  # absent, outside, engaged, unengaged, blocked
    text = dashboard_text(dashboard())
    assert "absent → engaged: 2" in text and "unengaged → outside: 1" in text
    assert len(text.splitlines()[0].split()) >= 11


def test_dashboard_escapes_its_view() -> None:
    assert_escaped(dashboard_html(dashboard(view=HOSTILE_CITY + HOSTILE_TAG)))


def test_dashboard_duck_typed() -> None:
    group = SimpleNamespace(count=1, share=Decimal("1.0000"), count_before=1, change=0, change_pct=Decimal("0.00"),
                            metrics=metrics())
    d = SimpleNamespace(groups={"blocked": group, "engaged": group, "unengaged": group}, flows={})
    html = dashboard_html(d)
    assert parse(html).rows["engagekit-dashboard"] == 3
    assert html.index("engagekit-group-engaged") < html.index("engagekit-group-unengaged") \
        < html.index("engagekit-group-blocked")


# --- explain, preview, segments ------------------------------------------------------------------


def explanation() -> SimpleNamespace:
    flt = city(HOSTILE_CITY) & tag(HOSTILE_TAG) & ordered(within=last(days=3))
    leaf_city = SimpleNamespace(filter=flt.parts[0], holds=True, children=(), window=None, count=None,
                                matches=None, total=None, mean=None, value=HOSTILE_CITY, state=None)
    leaf_tag = SimpleNamespace(filter=flt.parts[1], holds=False, children=(), window=None, count=None,
                               matches=None, total=None, mean=None, value=None, state=None)
    leaf_order = SimpleNamespace(filter=flt.parts[2], holds=False, children=(),
                                 window=(T0 - timedelta(days=3), T0), count=0, matches=(), total=None,
                                 mean=None, value=None, state=None)
    return SimpleNamespace(filter=flt, holds=False, children=(leaf_city, leaf_tag, leaf_order), window=None,
                           count=None, matches=None, total=None, mean=None, value=None, state=None)


def test_explanation_html_escapes_and_colours() -> None:
    html = explanation_html(explanation())
    parsed = assert_escaped(html)
    assert html.count('class="engagekit-holds"') == 1
    assert html.count('class="engagekit-fails"') == 3
    assert "color:#1a7f37" in html and "color:#cf222e" in html
    text = "".join(parsed.text)
    assert f"value: {HOSTILE_CITY}" in text
    assert "2026-06-27 12:00:00 UTC → 2026-06-30 12:00:00 UTC" in text
    assert "count: 0" in text


def test_explanation_text() -> None:
    lines = explanation_text(explanation()).splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("✗ city is <script>")
    assert lines[1].startswith("  ✓ city is")
    assert "value: (missing)" in lines[2]


def test_preview_html_escapes_ids() -> None:
    p = SimpleNamespace(count=3, entering=1, leaving=2, staying=2,
                        examples={"entering": (HOSTILE_CITY,), "leaving": ("c1", HOSTILE_TAG), "staying": ("c2",)})
    html = preview_html(p)
    parsed = assert_escaped(html)
    assert parsed.rows["engagekit-preview"] == 4
    assert HOSTILE_CITY in "".join(parsed.text)
    assert "leaving   2  e.g. c1, " in preview_text(p)


def test_segment_html() -> None:
    s = SimpleNamespace(id="seg-1", name=HOSTILE_CITY, active=True, created_at=T0, updated_at=T0,
                        filter=tag(HOSTILE_TAG))
    html = segment_html(s)
    parsed = assert_escaped(html)
    text = "".join(parsed.text)
    assert "seg-1" in text and HOSTILE_CITY in text and "2026-06-30 12:00:00 UTC" in text and "yes" in text


@pytest.mark.parametrize(("value", "expected"), [(3, "▲ 3"), (-4, "▼ 4"), (0, "0")])
def test_change_arrows(value: int, expected: str) -> None:
    assert fmt_change(value) == expected


def test_percent_formats() -> None:
    assert fmt_percent(Decimal("0.0125")) == "1.25 %"
    assert fmt_change_pct(Decimal("0.00")) == "0.00 %"
    assert fmt_change_pct(None) == "—"


def test_real_explanation_and_preview_render_escaped() -> None:
    from engagekit import Contact, Event, MemoryStore, everyone, viewed

    store = MemoryStore(currency="PLN")
    store.add_contacts([Contact(id="c1", city=HOSTILE_CITY, tags={HOSTILE_TAG}, created_at="2026-01-01T00:00:00+00:00")])
    store.add_events([Event(id="e1", contact_id="c1", type="product_view", at="2026-06-25T10:00:00+00:00",
                            product_id="p1", categories=("bluzy",))])
    flt = viewed(category="bluzy", within=last(days=14)) & city(HOSTILE_CITY) & ~tag(HOSTILE_TAG)
    explained = store.explain(flt, "c1", at=T0)
    html = explained._repr_html_()
    assert html == explanation_html(explained)
    assert_escaped(html)
    assert html.count('class="engagekit-holds"') == 3 and html.count('class="engagekit-fails"') == 2
    preview = store.preview(flt, against=everyone(), at=T0)
    assert_escaped(preview._repr_html_())
