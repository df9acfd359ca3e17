"""Pictures (issue 9 §5): each figure's data is exactly what the store returned, on every store;
labels from data are drawn as text; figures export to offline HTML."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engagekit import Contact, Event, LiveEngine, in_segment, last, ordered
from engagekit.errors import EngagekitError, InvalidFilter, MissingExtra
from engagekit.plot import campaign_rates, dashboard, flows, segment_history, value_counts

T0 = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HOSTILE = "<a href='javascript:alert(1)'>x</a>"
SCRIPT = "</script><script>alert(1)</script>"


def order(eid: str, cid: str, at: datetime, value: str = "10.00") -> Event:
    return Event(id=eid, contact_id=cid, type="order", at=at, order_id=eid, value=value, currency="PLN")


def shop(store: Any) -> Any:
    store.clock = lambda: T0
    store.add_contacts([
        Contact(id="c1", created_at=T0 - 90 * DAY, city="Warszawa", status="subscribed"),
        Contact(id="c2", created_at=T0 - 60 * DAY, city=HOSTILE),
        Contact(id="c3", created_at=T0 - 10 * DAY, city="Warszawa"),
        Contact(id="c4", created_at=T0 - 5 * DAY, city=SCRIPT, status="subscribed"),
        Contact(id="c5", created_at=T0 - 80 * DAY, status="unsubscribed"),
        Contact(id="c6", created_at=T0 - 200 * DAY, status="subscribed"),
    ])
    store.add_events([
        order("o1", "c1", T0 - 40 * DAY, "100.10"),
        order("o2", "c1", T0 - 5 * DAY, "20.00"),
        order("o3", "c2", T0 - 3 * DAY, "7.33"),
        Event(id="v1", contact_id="c3", type="email_open", at=T0 - 2 * DAY, campaign_id="k1"),
        Event(id="b1", contact_id="c6", type="hard_bounce", at=T0 - 50 * DAY),
    ])
    return store


# --- the dashboard and its flows ------------------------------------------------------------------


def test_dashboard_bars_are_the_dashboards_counts(store: Any) -> None:
    d = shop(store).engagement()
    fig = dashboard(d)
    before, now = fig.data
    assert now.x == before.x == ("engaged", "unengaged", "blocked")
    assert now.y == tuple(d.groups[g].count for g in now.x)
    assert before.y == tuple(d.groups[g].count_before for g in now.x)
    assert [tuple(c) for c in now.customdata] == [(d.groups[g].change, d.groups[g].change_pct) for g in now.x]
    # the shop, read by hand: now c1, c2 (orders) and c3 (an open) engaged, c4 (new, no activity)
    # unengaged, c6 blocked by its bounce, c5 (unsubscribed) outside the view; 30 days before only
    # c1 had engaged, c2 had not, c3 and c4 did not exist yet
    assert now.y == (3, 1, 1) and before.y == (1, 1, 1)
    assert now.text == ("▲ 2 (+200.00 %)", "0 (0.00 %)", "0 (0.00 %)")


def test_flows_sankey_links_are_the_dashboards_flows(store: Any) -> None:
    d = shop(store).engagement()
    sankey = flows(d).data[0]
    labels, sides = sankey.node.label, sankey.node.customdata
    links = {(labels[s], labels[t]): v for s, t, v in zip(sankey.link.source, sankey.link.target, sankey.link.value,
                                                           strict=True)}
    assert links == {pair: n for pair, n in d.flows.items() if n}
    assert len(sankey.link.value) == len(links)
    for s, t in zip(sankey.link.source, sankey.link.target, strict=True):
        assert sides[s] == "30 days before" and sides[t] == "now"
    # c3 and c4 were created within the 30 days; c5 is outside the view at both ends
    assert links[("absent", "engaged")] == 1 and sum(v for (f, _), v in links.items() if f == "absent") == 2
    assert links[("outside", "outside")] == 1
    assert sum(sankey.link.value) == 6


# --- a segment's history --------------------------------------------------------------------------


def test_segment_history_from_the_log(store: Any) -> None:
    if not hasattr(store, "log"):
        pytest.skip("this store keeps no membership log")
    store.clock = lambda: T0
    store.add_contacts([Contact(id=c, created_at=T0 - 90 * DAY) for c in ("a", "b", "c")])
    store.add_events([order("o0", "c", T0 - DAY)])                # a member at `since`, leaves at T0 + 1 day
    segment = store.create_segment(ordered(within=last(days=2)), name=HOSTILE)
    engine = LiveEngine(store, start=T0)
    engine.add_events([order("o1", "a", T0 + DAY + timedelta(hours=10)),
                       order("o2", "a", T0 + 2 * DAY + timedelta(hours=12)),
                       order("o3", "b", T0 + 2 * DAY + timedelta(hours=9))])
    engine.advance(to=T0 + 6 * DAY)
    fig = segment_history(store, segment.id, T0, T0 + 5 * DAY)
    size, entries, exits = fig.data
    days = tuple(date(2026, 6, d) for d in range(1, 6))
    assert size.x == entries.x == exits.x == days
    # read by hand: c leaves on June 2 at 00:00 as a enters at 10:00; b enters on June 3;
    # a and b both leave on June 5 (last order + 2 days)
    assert entries.y == (0, 1, 1, 0, 0)
    assert exits.y == (0, 1, 0, 0, 2)
    assert size.y == (1, 1, 2, 2, 0)
    log = store.log(segment.id, since=T0, until=T0 + 5 * DAY)
    assert sum(entries.y) == sum(e.change == "added" for e in log)
    assert sum(exits.y) == sum(e.change == "removed" for e in log)
    # with no late record the log agrees with the store's count at each day's end
    for day, n in zip(days, size.y, strict=True):
        end = datetime(day.year, day.month, day.day, tzinfo=UTC) + DAY
        assert store.count(in_segment(segment.id), at=end - timedelta(microseconds=1)) == n
    assert "&lt;a href=" in fig.layout.title.text and "<a" not in fig.layout.title.text


def test_segment_history_needs_until_after_since(store: Any) -> None:
    segment = shop(store).create_segment(ordered())
    with pytest.raises(InvalidFilter, match="until"):
        segment_history(store, segment.id, T0, T0)


# --- value counts ---------------------------------------------------------------------------------


def test_value_counts_bars_are_the_stores_pairs(store: Any) -> None:
    pairs = shop(store).value_counts("city")
    fig = value_counts(pairs)
    bar = fig.data[0]
    assert list(zip(bar.x, bar.y, strict=True)) == list(pairs)
    assert set(bar.x) >= {HOSTILE, SCRIPT}        # the labels as stored, untouched
    assert dict(pairs)[HOSTILE] == 1
    ticks = fig.layout.xaxis.ticktext
    assert fig.layout.xaxis.tickvals == bar.x
    assert "&lt;a href='javascript:alert(1)'&gt;x&lt;/a&gt;" in ticks
    assert not any("<" in t or ">" in t for t in ticks)
    assert not any("<" in t for t in bar.customdata)
    assert fig.layout.xaxis.type == "category"


def test_offline_html_has_the_library_inline_and_labels_as_data(tmp_path: Path) -> None:
    fig = value_counts([(SCRIPT, 2), (HOSTILE, 1)], title=HOSTILE)
    path = tmp_path / "counts.html"
    fig.write_html(path, include_plotlyjs=True)
    html = path.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html                          # the label cannot close the script
    assert not re.search(r"<script[^>]+src=", html)                 # no library fetched from a network
    assert "Plotly.newPlot" in html and len(html) > 1_000_000       # plotly.js is in the file itself


# --- campaign rates -------------------------------------------------------------------------------


def test_campaign_rates_with_wilson_intervals(store: Any) -> None:
    store.clock = lambda: T0 + 30 * DAY
    people = [f"p{i}" for i in range(5)]
    store.add_contacts([Contact(id=p, created_at=T0 - 90 * DAY) for p in people])
    weird = "<img src=x onerror=alert(1)>"
    events = [Event(id=f"s-{p}", contact_id=p, type="email_sent", at=T0, campaign_id="k1") for p in people[:4]]
    events += [Event(id=f"w-{p}", contact_id=p, type="email_sent", at=T0, campaign_id=weird) for p in people]
    events += [Event(id="k1-click", contact_id="p0", type="email_click", at=T0 + DAY, campaign_id="k1"),
               Event(id="w-c1", contact_id="p1", type="email_click", at=T0 + DAY, campaign_id=weird),
               Event(id="w-c2", contact_id="p2", type="email_click", at=T0 + DAY, campaign_id=weird),
               Event(id="z-sent", contact_id="p4", type="email_sent", at=T0, campaign_id="z"),
               Event(id="z-bounce", contact_id="p4", type="hard_bounce", at=T0 + DAY, campaign_id="z")]
    store.add_events(events)
    results = store.campaign_results()
    fig = campaign_rates(results)
    bar = fig.data[0]
    assert bar.x == tuple(r.campaign_id for r in results) == (weird, "k1", "z")
    assert bar.y == (Decimal("0.4000"), Decimal("0.2500"), None)
    assert bar.y == tuple(r.click_rate for r in results)
    for r, ci, above, below, y in zip(results, bar.customdata, bar.error_y.array, bar.error_y.arrayminus, bar.y,
                                      strict=True):
        if r.click_rate_ci is None:
            assert ci is None and above is None and below is None
            continue
        assert tuple(ci) == r.click_rate_ci
        assert y + above == r.click_rate_ci[1] and y - below == r.click_rate_ci[0]
    assert fig.layout.xaxis.ticktext[0] == "&lt;img src=x onerror=alert(1)&gt;"
    assert "<img" not in "".join(bar.hovertext)
    opened = campaign_rates(results, rate="open_rate").data[0]
    assert opened.y == tuple(r.open_rate for r in results)


def test_campaign_rates_refuses_an_unknown_rate() -> None:
    with pytest.raises(InvalidFilter, match="'ctr'"):
        campaign_rates([], rate="ctr")


def test_missing_plotly_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def refuse(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".", maxsplit=1)[0] == "plotly":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    with pytest.raises(MissingExtra, match=r"engagekit\[plot\]") as info:
        value_counts([("a", 1)])
    assert isinstance(info.value, ImportError) and isinstance(info.value, EngagekitError)
