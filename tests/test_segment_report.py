"""The segment report (issue #10): one row per saved segment with its SPEC §4 metrics, the campaigns
registered with it and their pooled SPEC §10 results — hand-worked on every store, and every store
against the reference evaluator plus the plain transcription of §10 in tests/test_campaigns.py.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagekit import Campaign, Contact, EngagekitError, Event, LiveEngine, city, tag
from engagekit.campaigns import CampaignResult, CampaignResults, CampaignTotals
from engagekit.errors import MissingExtra
from engagekit.filters import Filter
from engagekit.reports import SegmentReport
from tests.stores import StoreFactory
from tests.strategies import CAMPAIGNS, filters, question_instants, shops
from tests.support import Shop
from tests.test_campaigns import reference_totals

AT = datetime(2026, 4, 1, tzinfo=UTC)
CURRENCY = "PLN"


def t(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}+00:00")


def ev(eid: str, who: str, kind: str, at: str, **fields: Any) -> Event:
    if kind == "order":
        fields.setdefault("order_id", eid)
        fields.setdefault("currency", CURRENCY)
    return Event(id=eid, contact_id=who, type=kind, at=t(at), **fields)


CONTACTS = [
    Contact(id="c1", city="Kraków", created_at=t("01-01T00:00:00")),
    Contact(id="c2", city="KRAKÓW", created_at=t("01-01T00:00:00")),
    Contact(id="c3", city="Warszawa", created_at=t("01-01T00:00:00")),
    Contact(id="c4", city="Kraków", created_at=t("05-01T00:00:00")),  # not existing yet at AT
]
EVENTS = [
    # p2 (Kraków): both sent, c2 opens (more than 30 days before AT), c1 unsubscribes 2 days later
    ev("e01", "c1", "email_sent", "02-15T08:00:00", campaign_id="p2"),
    ev("e02", "c2", "email_sent", "02-15T08:00:00", campaign_id="p2"),
    ev("e03", "c2", "email_open", "02-15T10:00:00", campaign_id="p2"),
    ev("e04", "c1", "unsubscribe", "02-17T08:00:00"),
    # nl-1: a mass newsletter no segment registers
    ev("e05", "c1", "email_sent", "03-01T08:00:00", campaign_id="nl-1"),
    ev("e06", "c3", "email_sent", "03-01T08:00:00", campaign_id="nl-1"),
    ev("e07", "c3", "email_click", "03-01T09:00:00", campaign_id="nl-1"),
    # p1 (Kraków): c2 soft-bounces, c1 clicks without an open and orders an hour later
    ev("e08", "c1", "email_sent", "03-03T08:00:00", campaign_id="p1"),
    ev("e09", "c2", "email_sent", "03-03T08:00:00", campaign_id="p1"),
    ev("e10", "c2", "soft_bounce", "03-03T08:01:00", campaign_id="p1"),
    ev("e11", "c1", "email_click", "03-03T09:00:00", campaign_id="p1"),
    ev("e12", "c1", "order", "03-03T10:00:00", value=Decimal("100.00")),
    # p4 (Warszawa, inactive): c3 clicks and orders the next day
    ev("e13", "c3", "email_sent", "03-09T08:00:00", campaign_id="p4"),
    ev("e14", "c3", "email_open", "03-09T08:30:00", campaign_id="p4"),
    ev("e15", "c3", "email_click", "03-09T09:00:00", campaign_id="p4"),
    ev("e16", "c3", "order", "03-10T09:00:00", value=Decimal("30.00")),
    # c1's second order, not attributed (no touch within 5 days)
    ev("e17", "c1", "order", "03-20T10:00:00", value=Decimal("50.00")),
    # p3 (Warszawa): sent after AT, so invisible at AT
    ev("e18", "c3", "email_sent", "05-01T08:00:00", campaign_id="p3"),
    ev("e19", "c4", "order", "05-02T08:00:00", value=Decimal("10.00")),
]


def load_hand_worked(store: Any) -> None:
    store.add_contacts(CONTACTS)
    store.add_events(EVENTS)
    store.create_segment(city("Kraków"), name="Kraków", id="krakow")
    store.create_segment(city("Warszawa"), name="Warszawa", id="warszawa")
    store.create_segment(tag("nobody"), name="<b>empty</b>", id="empty")
    store.add_campaign(Campaign("p1", "krakow"))
    store.add_campaign(Campaign("p2", "krakow"))
    store.add_campaign(Campaign("p3", "warszawa"))
    store.add_campaign(Campaign("p4", "warszawa", active=False))


def wilson_float(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The textbook formula, in floats, for comparison to 4 places."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def close(ci: tuple[Decimal, Decimal] | None, k: int, n: int) -> bool:
    assert ci is not None
    low, high = wilson_float(k, n)
    return abs(float(ci[0]) - low) <= 0.00005 + 1e-9 and abs(float(ci[1]) - high) <= 0.00005 + 1e-9


def test_hand_worked(store: Any) -> None:
    load_hand_worked(store)
    report = store.segment_report(at=AT)
    assert isinstance(report, SegmentReport)
    assert [r.segment_id for r in report] == ["krakow", "warszawa", "empty"]
    assert report.at == AT and len(report) == 3

    krakow = report["krakow"]
    assert (krakow.name, krakow.active, krakow.contacts) == ("Kraków", True, 2)  # c4 does not exist yet
    assert krakow.engagement_rate == Decimal("0.5000")  # c1 ordered on 03-20; c2's open is 45 days old
    assert (krakow.aov, krakow.acv, krakow.ano) == (Decimal("75.00"), Decimal("150.00"), Decimal("2.00"))
    assert krakow.tbo == timedelta(days=17)  # 03-03 10:00 → 03-20 10:00
    assert (krakow.campaigns, krakow.active_campaigns, krakow.last_generated) == (2, 2, None)
    assert krakow.campaign_ids == ("p1", "p2")
    r = krakow.results
    assert r is not None
    # p1: sent 2, bounced 1, opened 1 (a click without an open), clicked 1, order 100.00
    # p2: sent 2, opened 1, unsubscribed 1 (c1, two days after the send)
    assert (r.sent, r.bounced, r.delivered, r.opened, r.clicked) == (4, 1, 3, 2, 1)
    assert (r.orders, r.revenue, r.converted, r.unsubscribed, r.complaints) == (1, Decimal("100.00"), 1, 1, 0)
    assert (r.open_rate, r.click_rate, r.click_to_open, r.conversion_rate) == (
        Decimal("0.6667"), Decimal("0.3333"), Decimal("0.5000"), Decimal("1.0000"))
    assert r.revenue_per_1000 == Decimal("25000.00")  # 100.00 × 1000 / 4 messages
    assert close(r.click_rate_ci, 1, 3) and close(r.open_rate_ci, 2, 3)
    assert r.campaign_id == "krakow"

    warszawa = report["warszawa"]
    assert (warszawa.contacts, warszawa.engagement_rate) == (1, Decimal("1.0000"))
    assert (warszawa.aov, warszawa.acv, warszawa.ano, warszawa.tbo) == (
        Decimal("30.00"), Decimal("30.00"), Decimal("1.00"), None)
    # p3 has no visible event at AT: counted as a campaign, absent from the results; p4 is inactive
    assert (warszawa.campaigns, warszawa.active_campaigns, warszawa.campaign_ids) == (2, 1, ("p4",))
    w = warszawa.results
    assert w is not None
    assert (w.sent, w.delivered, w.opened, w.clicked, w.orders, w.revenue) == (1, 1, 1, 1, 1, Decimal("30.00"))
    assert w.revenue_per_1000 == Decimal("30000.00")

    empty = report["empty"]
    assert (empty.contacts, empty.engagement_rate, empty.aov, empty.acv, empty.ano, empty.tbo) == (
        0, None, None, None, None, None)
    assert (empty.campaigns, empty.results, empty.campaign_ids) == (0, None, ())
    with pytest.raises(KeyError):
        report["nope"]


def test_the_report_moves_with_at(store: Any) -> None:
    load_hand_worked(store)
    later = store.segment_report(at=t("06-01T00:00:00"))
    assert later["krakow"].contacts == 3  # c4 exists now
    assert later["warszawa"].campaign_ids == ("p3", "p4")
    assert later["warszawa"].results is not None and later["warszawa"].results.sent == 2
    before = store.segment_report(at=t("02-01T00:00:00"))
    assert before["krakow"].results is None and before["krakow"].campaigns == 2


def test_window_and_touch_pass_through(store: Any) -> None:
    load_hand_worked(store)
    short = store.segment_report(at=AT, window=timedelta(minutes=30))
    r = short["krakow"].results
    assert r is not None and r.orders == 0 and r.unsubscribed == 0  # the order came 1 h after the click
    assert short.window == timedelta(minutes=30)
    by_open = store.segment_report(at=AT, touch="open")
    assert by_open["warszawa"].results is not None and by_open["warszawa"].results.touch == "open"


def test_last_generated_is_the_live_engines_instant(store: Any) -> None:
    load_hand_worked(store)
    engine = LiveEngine(store, start=AT)
    engine.advance(to=AT + timedelta(days=1))
    report = store.segment_report(at=AT)
    for row in report:
        saved = store.segment(row.segment_id).last_generated_at
        assert saved is not None and row.last_generated == saved
        assert AT <= saved <= AT + timedelta(days=1)


def test_bad_arguments(store: Any) -> None:
    load_hand_worked(store)
    with pytest.raises(EngagekitError, match="touch"):
        store.segment_report(at=AT, touch="view")
    with pytest.raises(EngagekitError, match="window"):
        store.segment_report(at=AT, window=timedelta(0))
    with pytest.raises(EngagekitError):
        store.segment_report(at="2026-04-01T00:00:00")  # naive


def test_no_segments_is_an_empty_report(store: Any) -> None:
    report = store.segment_report(at=AT)
    assert len(report) == 0 and list(report) == [] and "0 segment" in repr(report)


# --- every store against the reference ---------------------------------------------------------------


def expected_report(shop: Shop, segments: list[tuple[str, Filter]], registered: dict[str, str],
                    at: datetime) -> list[dict[str, Any]]:
    """Each row worked out independently: metrics from the reference evaluator, campaign totals from
    the transcription of SPEC §10 in tests/test_campaigns.py, summed here, divided by from_totals."""
    ref = shop.reference()
    rows = []
    for seg_id, flt in segments:
        mine = sorted(cid for cid, owner in registered.items() if owner == seg_id)
        totals = reference_totals(shop.contacts, shop.events, at=at, campaigns=mine) if mine else []
        summed = None
        if totals:
            summed = CampaignResult.from_totals(CampaignTotals(
                seg_id, **{name: sum(getattr(x, name) for x in totals)
                           for name in ("sent", "bounced", "opened", "clicked", "orders", "revenue_minor",
                                        "converted", "unsubscribed", "complaints")}), currency=CURRENCY)
        rows.append({"segment_id": seg_id, "metrics": ref.metrics(flt, at), "campaigns": len(mine),
                     "campaign_ids": tuple(x.campaign_id for x in totals), "results": summed})
    return rows


@given(shop=shops(), at=question_instants(), flts=st.lists(filters(max_leaves=3), min_size=1, max_size=3),
       owners=st.lists(st.integers(-1, 2), min_size=len(CAMPAIGNS), max_size=len(CAMPAIGNS)))
def test_every_store_equals_the_reference(store_factory: StoreFactory, shop: Shop, at: datetime,
                                          flts: list[Filter], owners: list[int]) -> None:
    segments = [(f"s{i}", flt) for i, flt in enumerate(flts)]
    registered = {cid: segments[o % len(segments)][0] for cid, o in zip(CAMPAIGNS, owners, strict=True) if o >= 0}
    expected = expected_report(shop, segments, registered, at)
    with store_factory.fresh() as store:
        shop.load(store)
        for seg_id, flt in segments:
            store.create_segment(flt, id=seg_id)
        for cid, seg_id in registered.items():
            store.add_campaign(Campaign(cid, seg_id))
        report = store.segment_report(at=at)
        got = [{"segment_id": r.segment_id, "metrics": r.metrics, "campaigns": r.campaigns,
                "campaign_ids": r.campaign_ids, "results": r.results} for r in report]
        assert got == expected


def test_every_store_gives_the_memory_stores_report_on_the_demo(store: Any) -> None:
    from engagekit import MemoryStore
    from engagekit.demo import generate, load

    shop = generate(contacts=120, seed=11)
    memory = MemoryStore(currency=CURRENCY)
    load(memory, shop)
    load(store, shop)
    expected = memory.segment_report(at=shop.now)
    assert len(expected) > 0
    assert any(r.results is not None for r in expected)
    assert store.segment_report(at=shop.now).to_dicts() == expected.to_dicts()


# --- how it shows itself ----------------------------------------------------------------------------


@pytest.fixture
def report() -> SegmentReport:
    from engagekit import MemoryStore

    store = MemoryStore(currency=CURRENCY)
    load_hand_worked(store)
    result: SegmentReport = store.segment_report(at=AT)
    return result


def test_text_and_repr(report: SegmentReport) -> None:
    text = str(report)
    lines = text.splitlines()
    assert lines[0].startswith("segments at 2026-04-01 00:00:00 UTC")
    header = lines[2]
    for column in ("segment", "contacts", "engagement (30 days)", "AOV", "ACV", "ANO", "TBO", "campaigns",
                   "last generated", "CTR [95% CI]", "revenue / 1000"):
        assert column in header
    krakow = next(line for line in lines if line.startswith("krakow "))
    assert "50.00 %" in krakow and "75.00" in krakow and "17 days" in krakow and "25000.00" in krakow
    assert "33.33 % [" in krakow
    assert repr(report) == "<SegmentReport at 2026-04-01T00:00:00+00:00: 3 segment(s) ['krakow', 'warszawa', 'empty']>"


def test_html_escapes_values(report: SegmentReport) -> None:
    html = report._repr_html_()
    assert "<b>empty</b>" not in html and "&lt;b&gt;empty&lt;/b&gt;" in html
    assert html.count("<tr>") == 4  # the header and one row per segment
    assert "Kraków" in html


def test_to_dicts(report: SegmentReport) -> None:
    rows = report.to_dicts()
    assert rows[0]["segment_id"] == "krakow" and rows[0]["aov"] == "75.00" and rows[0]["tbo"] == 17 * 86_400
    assert rows[0]["results"]["sent"] == 4 and rows[0]["results"]["click_rate"] == "0.3333"
    assert rows[2]["results"] is None and rows[2]["engagement_rate"] is None


def test_to_arrow_and_pandas(report: SegmentReport) -> None:
    pa = pytest.importorskip("pyarrow")
    table = report.to_arrow()
    assert table.num_rows == 3
    assert table.column("segment_id").to_pylist() == ["krakow", "warszawa", "empty"]
    assert table.schema.field("aov").type == pa.decimal128(38, 2)
    assert table.schema.field("engagement_rate").type == pa.decimal128(38, 4)
    assert table.schema.field("tbo").type == pa.duration("s")
    assert table.schema.field("last_generated").type == pa.timestamp("us", tz="UTC")
    assert table.column("campaign_sent").to_pylist() == [4, 1, None]
    assert table.column("campaign_click_rate").to_pylist() == [Decimal("0.3333"), Decimal("1.0000"), None]
    assert table.column("campaign_revenue_per_1000").to_pylist() == [Decimal("25000.00"), Decimal("30000.00"), None]
    pytest.importorskip("pandas")
    frame = report.to_pandas()
    assert list(frame["contacts"]) == [2, 1, 0]


def test_tables_name_the_missing_extra(report: SegmentReport, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingExtra, match="parquet"):
        report.to_arrow()


# --- campaign results as a table ----------------------------------------------------------------------


def test_campaign_results_show_as_tables() -> None:
    from engagekit import MemoryStore

    store = MemoryStore(currency=CURRENCY)
    load_hand_worked(store)
    results = store.campaign_results(at=AT)
    assert isinstance(results, CampaignResults) and isinstance(results, list)
    assert [r.campaign_id for r in results] == ["nl-1", "p1", "p2", "p4"]
    lines = str(results).splitlines()
    assert lines[0].split()[:3] == ["campaign", "sent", "delivered"]
    p1 = next(line for line in lines if line.startswith("p1 "))
    assert p1.split()[:4] == ["p1", "2", "1", "1"]  # sent, delivered, opened
    html = results._repr_html_()
    assert html.count("<tr>") == 5 and "nl-1" in html
    assert "&lt;x&gt;" in CampaignResults([CampaignResult.from_totals(CampaignTotals("<x>"), currency="PLN")])._repr_html_()
    assert "p1" in results[1]._repr_html_()
    assert results.to_dicts()[1]["campaign_id"] == "p1"
    pa = pytest.importorskip("pyarrow")
    table = results.to_arrow()
    assert table.column("campaign_id").to_pylist() == ["nl-1", "p1", "p2", "p4"]
    assert table.column("bounced").to_pylist() == [0, 1, 0, 0]
    assert table.schema.field("revenue").type == pa.decimal128(38, 2)
    low = table.column("click_rate_low").to_pylist()[1]
    assert low is not None and abs(float(low) - wilson_float(1, 1)[0]) <= 0.00005 + 1e-9
    assert CampaignResults().to_arrow().num_rows == 0


# --- the command line ---------------------------------------------------------------------------------


def cli(*args: str) -> Any:
    import subprocess

    return subprocess.run([sys.executable, "-m", "engagekit", *args], capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    from engagekit.stores.sql.sqlite import SQLiteStore

    path = tmp_path / "shop.db"
    store = SQLiteStore(str(path), currency=CURRENCY)
    load_hand_worked(store)
    store.close()
    return f"sqlite:{path}"


def test_cli_report_segments(sqlite_url: str) -> None:
    import json

    at = AT.isoformat()
    result = cli("report", "segments", "--store", sqlite_url, "--at", at, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["at"] == at
    rows = {row["segment_id"]: row for row in data["segments"]}
    assert list(rows) == ["krakow", "warszawa", "empty"]
    assert (rows["krakow"]["contacts"], rows["krakow"]["aov"], rows["krakow"]["campaigns"]) == (2, "75.00", 2)
    assert rows["krakow"]["results"]["sent"] == 4 and rows["krakow"]["results"]["revenue_per_1000"] == "25000.00"
    assert rows["empty"]["results"] is None
    table = cli("report", "segments", "--store", sqlite_url, "--at", at)
    assert table.returncode == 0, table.stderr
    krakow = next(line for line in table.stdout.splitlines() if line.startswith("krakow "))
    assert "Kraków" in krakow and "25000.00" in krakow
    short = json.loads(cli("report", "segments", "--store", sqlite_url, "--at", at, "--json",
                           "--window-days", "1", "--touch", "open").stdout)
    assert short["segments"][0]["results"]["touch"] == "open"


def test_cli_report_campaigns(sqlite_url: str) -> None:
    import json

    result = cli("report", "campaigns", "--store", sqlite_url, "--at", AT.isoformat(), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [r["campaign_id"] for r in data] == ["nl-1", "p1", "p2", "p4"]
    p1 = data[1]
    assert (p1["sent"], p1["bounced"], p1["clicked"], p1["orders"], p1["revenue"]) == (2, 1, 1, 1, "100.00")
    assert p1["click_rate_ci"] is not None and len(p1["click_rate_ci"]) == 2
    table = cli("report", "campaigns", "--store", sqlite_url, "--at", AT.isoformat())
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:2] == ["campaign", "sent"]
    assert any(line.split()[:3] == ["p1", "2", "1"] for line in table.stdout.splitlines())


@pytest.mark.parametrize("args", [["report"], ["report", "people"], ["report", "campaigns", "--touch", "view"],
                                  ["report", "segments", "--at", "2026-04-01T00:00:00"]])
def test_cli_report_usage_errors(sqlite_url: str, args: list[str]) -> None:
    result = cli(*args, "--store", sqlite_url) if len(args) > 1 else cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("engagekit: error:") and len(result.stderr.strip().splitlines()) == 1
