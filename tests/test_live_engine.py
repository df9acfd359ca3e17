"""The live engine (SPEC §6) agrees with batch evaluation, instant for instant, on every store.

The property: random saved segments, a random shop split into history (in the store before the
engine starts) and a stream given to the engine in time order with random checkpoints. At every
checkpoint the engine's members equal ``store.members`` at ``engine.now``; and at every instant where
membership can change (every record's instant, every window edge after it, every logged instant) the
log holds exactly the difference between the batch evaluations just before and at that instant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagekit import (
    Campaign,
    Contact,
    Event,
    Filter,
    InvalidInstant,
    LiveEngine,
    MemoryStore,
    UnknownSegment,
    aov,
    before,
    blocked,
    city,
    engaged,
    in_segment,
    joined,
    last,
    opened,
    ordered,
    spent,
    subscribed,
    unengaged,
    viewed,
)
from engagekit.filters import _Count, _Engagement, _Joined, _Money, walk
from engagekit.live.evaluate import Edge
from engagekit.time import _Before, _Last, to_micros
from tests.strategies import count_filters, filters, money_filters, shops
from tests.support import NOW, Shop

US = timedelta(microseconds=1)
DAY = timedelta(days=1)
END = NOW + 200 * DAY
CLASSES = ("engaged", "unengaged", "blocked")


def _filters_edges(flts: list[Filter], timeframe: timedelta) -> list[Any]:
    """Every duration after which a record can change some filter's value: windows and timeframes."""
    edges: list[Any] = [timeframe // US]
    for flt in flts:
        for node in walk(flt):
            within = getattr(node, "within", None)
            if isinstance(node, (_Count, _Money, _Joined)) and isinstance(within, (_Last, _Before)):
                edges.append(Edge(within.duration))
            if isinstance(node, _Engagement):
                edges.append(node.timeframe // US)
    return edges


def _change_instants(contacts: list[Contact], events: list[Event], edges: list[Any], start: datetime) -> set[int]:
    """Every instant at which some record can change some filter: the records' own instants, and
    each one plus every window length; for months, every instant where ``t - N`` (calendar) passes
    the record, found piece by piece between the midnights where the calendar clamps."""
    out: set[int] = set()
    xs = [to_micros(c.created_at) for c in contacts] + [to_micros(e.at) for e in events]
    day = 86_400_000_000
    for edge in edges:
        if isinstance(edge, Edge) and edge.exact is None:
            drops, t = [], to_micros(start) - 40 * day
            while t < to_micros(END):
                t = edge.drop(t)
                drops.append(t)
            out.update(drops)
            for x in xs:
                for lo, hi in zip(drops, drops[1:]):  # the threshold grows on [lo, hi)
                    if edge.threshold(lo) < x <= edge.threshold(hi - 1):
                        a, b = lo, hi - 1
                        while b - a > 1:
                            mid = (a + b) // 2
                            a, b = (a, mid) if edge.threshold(mid) >= x else (mid, b)
                        out.add(b)
    for x in xs:
        out.add(x)
        for edge in edges:
            if isinstance(edge, int):
                out.add(x + edge)
            elif edge.exact is not None:
                out.add(x + edge.exact)
    return out


def _at(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def _check_log(oracle: Any, store: Any, segment_ids: list[str], start: datetime, instants: set[int]) -> None:
    """The store's log holds, at every instant, exactly the difference of the oracle's batch answers."""
    lo, hi = to_micros(start), to_micros(END)
    logs = {sid: store.log(sid) for sid in segment_ids}
    for sid, entries in logs.items():
        assert all(not e.late for e in entries), "events in time order are never late"
        instants |= {to_micros(e.at) for e in entries}
    for t in sorted(i for i in instants if lo < i <= hi):
        for sid in segment_ids:
            flt = in_segment(sid)
            after, before_ = oracle.members(flt, at=_at(t)), oracle.members(flt, at=_at(t - 1))
            logged = [e for e in logs[sid] if to_micros(e.at) == t]
            assert {e.contact_id for e in logged if e.change == "added"} == after - before_, (sid, _at(t))
            assert {e.contact_id for e in logged if e.change == "removed"} == before_ - after, (sid, _at(t))
            assert len(logged) == len(after ^ before_)


def _check_members(engine: LiveEngine, store: Any, segment_ids: list[str]) -> None:
    for sid in segment_ids:
        assert engine.members(sid) == store.members(in_segment(sid), at=engine.now), (sid, engine.now)
    for state, flt in zip(CLASSES, (engaged(), unengaged(), blocked()), strict=True):
        assert engine.engagement(state) == store.members(flt, at=engine.now), (state, engine.now)


STARTS = st.sampled_from([NOW - 90 * DAY, NOW - 30 * DAY, NOW, NOW - 400 * DAY])


@given(shop=shops(max_contacts=6, max_events=24), flts=st.lists(filters(max_leaves=4), min_size=1, max_size=3),
       start=STARTS, nested=st.booleans(), data=st.data())
def test_engine_equals_batch(store_factory: Any, shop: Any, flts: list[Filter], start: datetime, nested: bool,
                             data: st.DataObject) -> None:
    _engine_equals_batch(store_factory, shop, flts, start, nested, data)


@st.composite
def dense_shops(draw: st.DrawFn) -> Any:
    """One or two contacts with many orders, views and opens a few days apart."""
    people = [Contact(id=cid, created_at=NOW - draw(st.integers(-20, 120)) * DAY, status="subscribed")
              for cid in draw(st.sampled_from([["c1"], ["c1", "c2"]]))]
    n = draw(st.integers(1, 30))
    evts = []
    for i in range(n):
        kind = draw(st.sampled_from(["order", "order", "product_view", "email_open", "unsubscribe", "hard_bounce"]))
        at = NOW + timedelta(days=draw(st.integers(-60, 30)), hours=draw(st.sampled_from([0, 0, 5, 23])))
        fields: dict[str, Any] = {}
        if kind == "order":
            fields = {"order_id": f"o{i}", "value": Decimal(draw(st.sampled_from([0, 10, 50, 150, 400]))),
                      "currency": "PLN"}
        elif kind == "product_view":
            fields = {"product_id": "p1", "categories": ("bluzy",)}
        elif kind == "email_open":
            fields = {"campaign_id": "k1"}
        evts.append(Event(id=f"e{i:03d}", contact_id=draw(st.sampled_from([p.id for p in people])), type=kind,
                          at=at, **fields))
    return Shop(tuple(people), tuple(evts))


def _dense_leaf() -> st.SearchStrategy[Filter]:
    bounds = st.sampled_from([{}, {"at_least": 2}, {"at_most": 1}, {"exactly": 2}, {"at_least": 1, "at_most": 2},
                              {"at_most": 0}, {"at_least": 3}])
    window = st.one_of(st.integers(1, 30).map(lambda d: last(days=d)), st.integers(1, 30).map(lambda d: before(days=d)),
                       st.just(last(months=1)), st.just(before(months=1)))
    return st.one_of(
        st.builds(lambda b, w: ordered(**b, within=w), bounds, window),
        st.builds(lambda b, w: viewed(category="Bluzy", **b, within=w), bounds, window),
        st.builds(lambda b, w: opened(**b, within=w), bounds, window),
        st.builds(lambda lo, w: spent(at_least=lo, within=w), st.sampled_from([10, 100, 300]), window),
        st.builds(lambda lo, w: aov(at_least=lo, within=w), st.sampled_from([10, 100, 300]), window),
        st.sampled_from([engaged(timeframe=timedelta(days=7)), unengaged(timeframe=timedelta(days=3)), blocked(),
                         subscribed(), joined(within=last(days=10)), joined(within=before(days=10))]),
        money_filters(), count_filters(),
    )


DENSE_FILTERS = st.recursive(_dense_leaf(), lambda kids: st.one_of(
    st.tuples(kids, kids).map(lambda p: p[0] & p[1]), st.tuples(kids, kids).map(lambda p: p[0] | p[1]),
    kids.map(lambda f: ~f)), max_leaves=3)


@given(shop=dense_shops(), flts=st.lists(DENSE_FILTERS, min_size=1, max_size=3), start=STARTS, data=st.data())
def test_engine_equals_batch_dense(store_factory: Any, shop: Any, flts: list[Filter], start: datetime,
                                   data: st.DataObject) -> None:
    """Few contacts with many events a few days apart: count bounds and money sums cross often."""
    _engine_equals_batch(store_factory, shop, flts, start, False, data)


def _engine_equals_batch(store_factory: Any, shop: Any, flts: list[Filter], start: datetime, nested: bool,
                         data: st.DataObject) -> None:
    contacts = list({c.id: c for c in shop.contacts}.values())  # the last version of an id wins
    seen: set[str] = set()
    events = []
    for e in shop.events:
        if e.id not in seen:
            seen.add(e.id)
            events.append(e)
    history_contacts = [c for c in contacts if c.created_at < start or data.draw(st.booleans())]
    history_events = [e for e in events if e.at < start or data.draw(st.integers(0, 4)) == 0]
    stream: list[tuple[datetime, int, Any]] = sorted(
        [(c.created_at, 0, c) for c in contacts if c not in history_contacts]
        + [(e.at, 1, e) for e in events if e not in history_events], key=lambda r: (r[0], r[1], r[2].id))
    # Batch evaluation at many instants is what costs; a MemoryStore fed the same records at the same
    # moments answers it for every store (the conformance suite shows every store answers as it
    # does), and the store under the engine is asked directly at the start and the end.
    oracle = MemoryStore(currency="PLN")
    with store_factory.fresh() as store:
        for target in (store, oracle):
            target.add_contacts(history_contacts)
            target.add_events(history_events)
            for i, f in enumerate(flts):
                target.create_segment(f, name=f"s{i}")
            if nested:
                target.create_segment(in_segment("seg-1") & ~city("Warszawa"), name="nested")
        ids = [s.id for s in store.segments()]
        assert ids == [s.id for s in oracle.segments()]
        engine = LiveEngine(store, start=start)
        _check_members(engine, store, ids)
        for moment, kind, record in stream:
            if data.draw(st.integers(0, 2)) == 0 and moment > engine.now:
                checkpoint = data.draw(st.sampled_from([moment, moment - US, engine.now + (moment - engine.now) / 2]))
                engine.advance(to=checkpoint)
                _check_members(engine, oracle, ids)
            if kind == 0:
                engine.add_contacts([record])
                oracle.add_contacts([record])
            else:
                engine.add_events([record])
                oracle.add_events([record])
        for checkpoint in sorted({NOW, NOW + 31 * DAY, END}):
            if checkpoint >= engine.now:
                engine.advance(to=checkpoint)
                _check_members(engine, oracle, ids)
        _check_members(engine, store, ids)
        edges = _filters_edges([oracle.resolve(in_segment(i)) for i in ids], timedelta(days=180))
        _check_log(oracle, store, ids, start, _change_instants(contacts, events, edges, start))


# --- by hand ----------------------------------------------------------------------------------------

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _order(eid: str, cid: str, at: datetime, value: str = "100.00") -> Event:
    return Event(id=eid, contact_id=cid, type="order", at=at, order_id=eid, value=Decimal(value), currency="PLN")


def _log(store: Any, sid: str, **kw: Any) -> list[tuple[str, str, datetime, bool]]:
    return [(e.contact_id, e.change, e.at, e.late) for e in store.log(sid, **kw)]


def test_window_expiry_and_entry_are_exact(store: Any) -> None:
    recent = store.create_segment(ordered(within=last(days=30)))
    old = store.create_segment(ordered(within=before(days=7)))
    store.add_contacts([Contact(id="c1", created_at=T0 - 100 * DAY)])
    engine = LiveEngine(store, start=T0)
    x = T0 + timedelta(days=2, hours=3, microseconds=7)
    engine.add_events([_order("o1", "c1", x)])
    engine.advance(to=T0 + 60 * DAY)
    assert _log(store, recent.id) == [("c1", "added", x, False), ("c1", "removed", x + 30 * DAY, False)]
    assert _log(store, old.id) == [("c1", "added", x + 7 * DAY, False)]
    assert engine.members(recent.id) == frozenset()
    assert engine.members(old.id) == {"c1"}


def test_average_bounds_finer_than_28_digits_compare_exactly(store: Any) -> None:
    # 92233720368547758.07 × 1 against a 30-digit bound: a Decimal product rounds it to equality
    top = "92233720368547758.07"
    over = store.create_segment(aov(at_least=top + "0000000001"))
    at_top = store.create_segment(aov(at_least=top, at_most=top + "0000000001"))
    third = store.create_segment(aov(at_most="33.33333333333333333333333333333"))  # 100.00 / 3 is above it
    store.add_contacts([Contact(id="c1", created_at=T0 - DAY), Contact(id="c2", created_at=T0 - DAY)])
    engine = LiveEngine(store, start=T0)
    engine.add_events([_order("o1", "c1", T0 + DAY, top)]
                      + [_order(f"o{i}", "c2", T0 + DAY, v) for i, v in enumerate(["33.33", "33.33", "33.34"], 2)])
    engine.advance(to=T0 + 2 * DAY)
    assert engine.members(over.id) == frozenset()
    assert engine.members(at_top.id) == {"c1"}
    assert engine.members(third.id) == frozenset()
    for segment in (over, at_top, third):
        assert engine.members(segment.id) == store.members(in_segment(segment.id), at=T0 + 2 * DAY)


def test_at_most_in_windows(store: Any) -> None:
    few = store.create_segment(ordered(at_least=1, at_most=1, within=last(days=30)))
    old = store.create_segment(ordered(at_most=1, within=before(days=10)))
    store.add_contacts([Contact(id="c1", created_at=T0 - 100 * DAY)])
    engine = LiveEngine(store, start=T0)
    xs = [T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY]
    engine.add_events([_order(f"o{i}", "c1", x) for i, x in enumerate(xs)])
    engine.advance(to=T0 + 100 * DAY)
    assert _log(store, few.id) == [("c1", "added", xs[0], False), ("c1", "removed", xs[1], False),
                                   ("c1", "added", xs[1] + 30 * DAY, False), ("c1", "removed", xs[2] + 30 * DAY, False)]
    assert _log(store, old.id) == [("c1", "removed", xs[1] + 10 * DAY, False)]


def test_months_window_expiry(store: Any) -> None:
    seg = store.create_segment(ordered(within=last(months=1)))
    store.add_contacts([Contact(id="c1", created_at=T0 - 100 * DAY)])
    engine = LiveEngine(store, start=datetime(2026, 1, 1, tzinfo=UTC))
    x = datetime(2026, 1, 31, 12, tzinfo=UTC)
    engine.add_events([_order("o1", "c1", x)])
    engine.advance(to=datetime(2026, 4, 1, tzinfo=UTC))
    (_, added), (removed_at, removed) = [(e.at, e.change) for e in store.log(seg.id)]
    assert (added, removed) == ("added", "removed")
    assert "c1" in store.members(seg.filter, at=removed_at - US)
    assert "c1" not in store.members(seg.filter, at=removed_at)


def test_months_window_can_come_back(store: Any) -> None:
    """July 31 minus a month is June 30, as is July 30: an order of June 30, noon, leaves ``last(months=1)``
    on July 30 at noon, is back at midnight (July 31 00:00 minus a month is June 30 00:00) and leaves
    again at noon."""
    seg = store.create_segment(ordered(within=last(months=1)))
    store.add_contacts([Contact(id="c1", created_at=T0 - 100 * DAY)])
    engine = LiveEngine(store, start=T0)
    x = datetime(2026, 6, 30, 12, tzinfo=UTC)
    engine.add_events([_order("o1", "c1", x)])
    engine.advance(to=datetime(2026, 9, 1, tzinfo=UTC))
    assert _log(store, seg.id) == [("c1", "added", x, False),
                                   ("c1", "removed", datetime(2026, 7, 30, 12, tzinfo=UTC), False),
                                   ("c1", "added", datetime(2026, 7, 31, tzinfo=UTC), False),
                                   ("c1", "removed", datetime(2026, 7, 31, 12, tzinfo=UTC), False)]
    for entry in store.log(seg.id):
        assert ("c1" in store.members(seg.filter, at=entry.at)) == (entry.change == "added")
        assert ("c1" in store.members(seg.filter, at=entry.at - US)) == (entry.change == "removed")


def test_future_records_take_effect_at_their_instant(store: Any) -> None:
    seg = store.create_segment(ordered(within=last(days=30)))
    everyone_seg = store.create_segment(~ordered())
    engine = LiveEngine(store, start=T0)
    born = T0 + 5 * DAY
    engine.add_contacts([Contact(id="c1", created_at=born)])
    engine.add_events([_order("o1", "c1", T0 + 10 * DAY)])
    assert engine.members(everyone_seg.id) == frozenset()  # not yet
    engine.advance(to=T0 + 20 * DAY)
    assert _log(store, everyone_seg.id) == [("c1", "added", born, False),
                                            ("c1", "removed", T0 + 10 * DAY, False)]
    assert _log(store, seg.id) == [("c1", "added", T0 + 10 * DAY, False)]
    engine.advance(to=T0 + 20 * DAY)  # advancing to now again is a no-op
    assert len(store.log(seg.id)) == 1


def test_late_event_is_logged_now_and_marked_late(store: Any) -> None:
    seg = store.create_segment(ordered(within=last(days=30)))
    gone = store.create_segment(ordered(within=last(days=3)))
    store.add_contacts([Contact(id="c1", created_at=T0 - 100 * DAY)])
    engine = LiveEngine(store, start=T0)
    engine.advance(to=T0 + 10 * DAY)
    engine.add_events([_order("o1", "c1", T0 + 2 * DAY)])  # 8 days late
    assert _log(store, seg.id) == [("c1", "added", T0 + 10 * DAY, True)]
    assert _log(store, gone.id) == []  # it entered and left the 3-day window before the engine knew
    assert engine.members(seg.id) == store.members(seg.filter, at=engine.now) == {"c1"}
    engine.advance(to=T0 + 40 * DAY)
    assert _log(store, seg.id)[-1] == ("c1", "removed", T0 + 32 * DAY, False)


def _saved(store: Any, sid: str) -> tuple[int | None, datetime | None]:
    segment = store.segment(sid)
    return segment.member_count, segment.last_generated_at


def test_saved_member_count_follows_late_records_and_edits(store: Any) -> None:
    """``Segment.member_count`` is the count at ``last_generated_at``: a late record, a new segment and
    an edited filter change membership at ``engine.now`` without an advance, and the saved count follows."""
    seg = store.create_segment(ordered(within=last(days=30)))
    store.add_contacts([Contact(id=c, created_at=T0 - 100 * DAY) for c in ("c1", "c2")])
    engine = LiveEngine(store, start=T0)
    engine.advance(to=T0 + 10 * DAY)
    assert _saved(store, seg.id) == (0, T0 + 10 * DAY)
    engine.add_events([_order("o1", "c1", T0 + 2 * DAY)])  # 8 days late: c1 is a member now
    assert _saved(store, seg.id) == (1, T0 + 10 * DAY)
    assert store.count(in_segment(seg.id), at=T0 + 10 * DAY) == 1
    engine.add_events([_order("o2", "c2", T0 + 20 * DAY)])  # in the future: nothing changes yet
    assert _saved(store, seg.id) == (1, T0 + 10 * DAY)
    engine.add_contacts([Contact(id="c3", created_at=T0 - DAY)])  # a late contact that is not a member
    everyone_seg = engine.create_segment(~ordered(), name="never ordered")  # saved at once: c2, c3
    assert _saved(store, everyone_seg.id) == (2, T0 + 10 * DAY)
    engine.add_contacts([Contact(id="c4", created_at=T0 - DAY)])  # late, and a member of everyone_seg
    assert _saved(store, everyone_seg.id) == (3, T0 + 10 * DAY)
    engine.advance(to=T0 + 21 * DAY)
    assert _saved(store, seg.id) == (2, T0 + 21 * DAY)
    engine.update_segment(seg.id, filter=ordered(within=last(days=5)))  # c1's order is 19 days old
    assert _saved(store, seg.id) == (1, T0 + 21 * DAY)
    assert store.count(in_segment(seg.id), at=T0 + 21 * DAY) == 1


def test_late_contact_upsert(store: Any) -> None:
    seg = store.create_segment(city("Warszawa"))
    store.add_contacts([Contact(id="c1", city="Kraków", created_at=T0 - DAY)])
    engine = LiveEngine(store, start=T0)
    engine.advance(to=T0 + DAY)
    engine.add_contacts([Contact(id="c1", city=" warszawa", created_at=T0 - DAY)])
    assert _log(store, seg.id) == [("c1", "added", T0 + DAY, True)]
    # an upsert that moves created_at past now: the contact stops existing now, and exists again then
    engine.add_contacts([Contact(id="c1", city="Warszawa", created_at=T0 + 3 * DAY)])
    assert engine.members(seg.id) == store.members(seg.filter, at=engine.now) == frozenset()
    engine.advance(to=T0 + 5 * DAY)
    # the late "added" and this "removed" are at one instant: they cancel, the log keeps the net change
    assert _log(store, seg.id) == [("c1", "added", T0 + 3 * DAY, False)]


def test_segment_edit_logs_the_difference_at_now(store: Any) -> None:
    seg = store.create_segment(ordered(within=last(days=30)))
    store.add_contacts([Contact(id="c1", created_at=T0 - 100 * DAY), Contact(id="c2", created_at=T0 - 100 * DAY)])
    store.add_events([_order("o1", "c1", T0 - 10 * DAY), _order("o2", "c2", T0 - 50 * DAY)])
    engine = LiveEngine(store, start=T0)
    assert engine.members(seg.id) == {"c1"}
    engine.advance(to=T0 + DAY)
    engine.update_segment(seg.id, filter=ordered(within=last(days=60)))
    assert _log(store, seg.id) == [("c2", "added", T0 + DAY, False)]
    # an edit made on the store directly is noticed at the next advance, at the engine's instant
    engine.advance(to=T0 + 2 * DAY)
    store.update_segment(seg.id, filter=ordered(within=last(days=5)))
    engine.advance(to=T0 + 3 * DAY)
    assert _log(store, seg.id, since=T0 + 2 * DAY) == [("c1", "removed", T0 + 2 * DAY, False),
                                                       ("c2", "removed", T0 + 2 * DAY, False)]
    assert engine.members(seg.id) == store.members(in_segment(seg.id), at=engine.now) == frozenset()
    # c2's order leaves 60 days at T0 + 10 days: the rebuilt segment must not log it
    engine.advance(to=T0 + 30 * DAY)
    assert all(e.at <= T0 + 2 * DAY for e in store.log(seg.id))


def test_new_and_deactivated_segments(store: Any) -> None:
    store.add_contacts([Contact(id="c1", created_at=T0 - DAY)])
    engine = LiveEngine(store, start=T0)
    seg = engine.create_segment(~ordered(), name="never ordered")
    assert engine.members(seg.id) == {"c1"}
    assert store.log(seg.id) == []  # a new segment starts silently
    engine.update_segment(seg.id, active=False)
    with pytest.raises(UnknownSegment):
        engine.members(seg.id)
    engine.add_events([_order("o1", "c1", T0 + DAY)])
    engine.update_segment(seg.id, active=True)
    assert engine.members(seg.id) == {"c1"}  # the order is at T0 + 1 day, later than now
    engine.advance(to=T0 + 2 * DAY)
    assert engine.members(seg.id) == frozenset()
    assert _log(store, seg.id) == [("c1", "removed", T0 + DAY, False)]
    assert store.segment(seg.id).member_count == 0
    assert store.segment(seg.id).last_generated_at == T0 + 2 * DAY


def test_engagement_classes_and_nested_segment(store: Any) -> None:
    store.add_contacts([Contact(id="c1", created_at=T0 - DAY, status="subscribed")])
    base = store.create_segment(opened(within=last(days=90)))
    nested = store.create_segment(in_segment(base.id) & engaged(timeframe=timedelta(days=30)))
    engine = LiveEngine(store, start=T0)
    assert engine.engagement("unengaged") == {"c1"}
    at = T0 + DAY
    engine.add_events([Event(id="e1", contact_id="c1", type="email_open", at=at, campaign_id="k1")])
    assert engine.engagement("engaged") == frozenset()  # not yet: the open is later than now
    engine.advance(to=at)
    assert engine.engagement("engaged") == {"c1"}
    assert engine.members(nested.id) == {"c1"}
    engine.advance(to=T0 + 200 * DAY)
    assert engine.engagement("unengaged") == {"c1"}
    assert _log(store, nested.id) == [("c1", "added", at, False), ("c1", "removed", at + 30 * DAY, False)]
    assert _log(store, base.id) == [("c1", "added", at, False), ("c1", "removed", at + 90 * DAY, False)]
    engine.add_events([Event(id="b1", contact_id="c1", type="hard_bounce", at=engine.now)])
    assert engine.engagement("blocked") == {"c1"}
    assert store.audience(base.id, at=engine.now) == frozenset()


def test_duplicates_and_going_back(store: Any) -> None:
    seg = store.create_segment(ordered(at_least=2))
    store.add_contacts([Contact(id="c1", created_at=T0 - DAY)])
    engine = LiveEngine(store, start=T0)
    report = engine.add_events([_order("o1", "c1", T0 + DAY), _order("o1", "c1", T0 + DAY)])
    assert (report.added, report.duplicates) == (1, 1)
    engine.add_events([_order("o1", "c1", T0 + DAY)])
    engine.advance(to=T0 + 2 * DAY)
    assert engine.members(seg.id) == frozenset()
    with pytest.raises(InvalidInstant):
        engine.advance(to=T0)


def test_campaign_keeps_segment(store: Any) -> None:
    seg = store.create_segment(ordered())
    store.add_campaign(Campaign("cmp", seg.id))
    engine = LiveEngine(store, start=T0)
    assert engine.members(seg.id) == frozenset()


def test_forget_through_the_engine(store: Any) -> None:
    """An erased contact leaves every segment and class at once, with no log entry and its old entries
    erased; the saved count follows; the engine goes on, and the same id can come back as a new contact."""
    seg = store.create_segment(ordered(within=last(days=30)))
    store.add_contacts([Contact(id=c, created_at=T0 - 100 * DAY) for c in ("c1", "c2")])
    store.add_events([_order("o2", "c2", T0 - 2 * DAY)])
    engine = LiveEngine(store, start=T0)
    engine.add_events([_order("o1", "c1", T0 + DAY), _order("o3", "c1", T0 + 5 * DAY)])
    engine.advance(to=T0 + 2 * DAY)
    assert _log(store, seg.id) == [("c1", "added", T0 + DAY, False)]
    assert engine.members(seg.id) == {"c1", "c2"}
    assert engine.forget("c1") is True
    assert engine.members(seg.id) == frozenset({"c2"}) == store.members(seg.filter, at=engine.now)
    assert "c1" not in engine.engagement("engaged")
    assert _saved(store, seg.id) == (1, T0 + 2 * DAY)
    assert _log(store, seg.id) == []
    engine.advance(to=T0 + 40 * DAY)  # c1's due at T0 + 5 days is skipped; c2's order expires
    assert engine.members(seg.id) == frozenset() == store.members(seg.filter, at=engine.now)
    assert _log(store, seg.id) == [("c2", "removed", T0 + 28 * DAY, False)]
    assert engine.forget("nobody") is False
    engine.add_contacts([Contact(id="c1", created_at=T0 + 40 * DAY)])
    engine.add_events([_order("o4", "c1", T0 + 41 * DAY)])
    engine.advance(to=T0 + 42 * DAY)
    assert engine.members(seg.id) == {"c1"} == store.members(seg.filter, at=engine.now)
