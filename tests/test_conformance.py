"""Every store gives exactly the Reference's answer (SPEC §1–§9), on random tiny shops.

Building a SQL store costs far more than asking it, so each hypothesis example builds one fresh store
(from the ``store_factory`` fixture), loads its shop once and asks every kind of question of it —
members, count, metrics, the engagement dashboard, value counts of every field, audience, preview and
explain — comparing each answer with the Reference's. The store is disposed of after the example, so
no example sees another's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagekit import EngagekitError, Filter, Window
from engagekit.reference import Reference
from engagekit.stores.base import VALUE_FIELDS
from tests.stores import StoreFactory
from tests.strategies import TIMEFRAMES, filters, question_instants, shops, windows
from tests.support import NOW, Shop, flatten_explanation, nonzero, preview_view, reference_explanation

VIEWS = ["subscribed", "unknown", "subscribed+unknown", "all"]


@dataclass(frozen=True)
class Questions:
    """What one example asks of a store."""

    flts: list[Filter]
    at: datetime
    within: Window
    timeframe: timedelta
    view: str
    vc_filter: Filter | None
    against: Filter
    kind: str


def questions() -> st.SearchStrategy[Questions]:
    return st.builds(
        Questions,
        flts=st.lists(filters(), min_size=1, max_size=3),
        at=question_instants(),
        within=windows(),
        timeframe=st.sampled_from(TIMEFRAMES),
        view=st.sampled_from(VIEWS),
        vc_filter=st.one_of(st.none(), filters(max_leaves=3)),
        against=filters(max_leaves=3),
        kind=st.sampled_from(["newsletter", "automation"]),
    )


def check_members_and_count(store: Any, ref: Reference, q: Questions) -> None:
    for flt in q.flts:
        expected = ref.members(flt, at=q.at)
        got = store.members(flt, at=q.at)
        assert isinstance(got, frozenset)
        assert got == expected, f"members of {flt!r}"
        assert store.count(flt, at=q.at) == len(expected), f"count of {flt!r}"


def check_metrics(store: Any, ref: Reference, q: Questions) -> None:
    flt = q.flts[0]
    assert store.metrics(flt, at=q.at) == ref.metrics(flt, at=q.at), f"metrics of {flt!r}"
    assert store.metrics(flt, at=q.at, within=q.within) == ref.metrics(flt, at=q.at, within=q.within), \
        f"metrics of {flt!r} within {q.within!r}"


def check_engagement(store: Any, ref: Reference, q: Questions) -> None:
    got = store.engagement(at=q.at, timeframe=q.timeframe, view=q.view)
    expected = ref.engagement(at=q.at, timeframe=q.timeframe, view=q.view)
    assert dict(got.groups) == dict(expected.groups), "dashboard groups"
    assert nonzero(got.flows) == nonzero(expected.flows), "dashboard flows"
    assert (got.view, got.timeframe) == (q.view, q.timeframe)


def check_value_counts(store: Any, ref: Reference, q: Questions) -> None:
    for field in VALUE_FIELDS:
        got = [tuple(pair) for pair in store.value_counts(field, q.vc_filter, at=q.at)]
        assert got == ref.value_counts(field, q.vc_filter, at=q.at), f"value_counts({field!r})"


def check_audience_and_preview(store: Any, ref: Reference, q: Questions) -> None:
    flt = q.flts[-1]
    assert store.audience(flt, kind=q.kind, at=q.at) == ref.audience(flt, q.kind, at=q.at), f"{q.kind} audience"
    got = preview_view(store.preview(flt, against=q.against, at=q.at))
    assert got == preview_view(ref.preview(flt, q.against, at=q.at)), "preview"


def check_explain(store: Any, ref: Reference, shop: Shop, q: Questions) -> None:
    """Explain the first filter for the smallest and largest existing ids, and refuse a missing contact."""
    flt = q.flts[0]
    existing = sorted(c.id for c in ref.existing(q.at.astimezone(UTC)))
    for cid in sorted({existing[0], existing[-1]} if existing else set()):
        got = flatten_explanation(store.explain(flt, cid, at=q.at))
        assert got == reference_explanation(ref.explain(flt, cid, at=q.at)), f"explain {cid}"
        assert got[0][1]["holds"] == (cid in ref.members(flt, at=q.at))
    missing = sorted({c.id for c in shop.contacts} - set(existing)) or ["ghost"]
    with pytest.raises(KeyError) as info:
        store.explain(flt, missing[0], at=q.at)
    assert isinstance(info.value, EngagekitError)


@given(shop=shops(), q=questions())
def test_store_agrees_with_reference(store_factory: StoreFactory, shop: Shop, q: Questions) -> None:
    ref = shop.reference()
    with store_factory.fresh() as store:
        shop.load(store)
        check_members_and_count(store, ref, q)
        check_metrics(store, ref, q)
        check_engagement(store, ref, q)
        check_value_counts(store, ref, q)
        check_audience_and_preview(store, ref, q)
        check_explain(store, ref, shop, q)


def test_reference_explain_refuses_missing_contact() -> None:
    from engagekit import everyone

    ref = Shop((), ()).reference()
    with pytest.raises(KeyError) as info:
        ref.explain(everyone(), "nobody", at=NOW)
    assert isinstance(info.value, EngagekitError)
