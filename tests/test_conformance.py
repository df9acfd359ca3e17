"""Every store gives exactly the Reference's answer (SPEC §1–§9), on random tiny shops.

Each hypothesis example builds its own fresh store from the ``store_factory`` fixture, loads the shop,
asks, and disposes of the store, so no example sees another's data.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagekit import EngagekitError, Filter, Window
from engagekit.stores.base import VALUE_FIELDS
from tests.stores import StoreFactory
from tests.strategies import TIMEFRAMES, filters, question_instants, shops, windows
from tests.support import NOW, Shop, flatten_explanation, nonzero, preview_view, reference_explanation

VIEWS = ["subscribed", "unknown", "subscribed+unknown", "all"]


@given(shop=shops(), flts=st.lists(filters(), min_size=1, max_size=4), at=question_instants())
def test_members_and_count(store_factory: StoreFactory, shop: Shop, flts: list[Filter], at: datetime) -> None:
    ref = shop.reference()
    with store_factory.fresh() as store:
        shop.load(store)
        for flt in flts:
            expected = ref.members(flt, at=at)
            got = store.members(flt, at=at)
            assert isinstance(got, frozenset)
            assert got == expected, flt
            assert store.count(flt, at=at) == len(expected), flt


@given(shop=shops(), flt=filters(), at=question_instants(), within=windows())
def test_metrics(store_factory: StoreFactory, shop: Shop, flt: Filter, at: datetime, within: Window) -> None:
    ref = shop.reference()
    with store_factory.fresh() as store:
        shop.load(store)
        assert store.metrics(flt, at=at, within=within) == ref.metrics(flt, at=at, within=within)
        assert store.metrics(flt, at=at) == ref.metrics(flt, at=at)


@given(shop=shops(), at=question_instants(), timeframe=st.sampled_from(TIMEFRAMES), view=st.sampled_from(VIEWS))
def test_engagement_dashboard(store_factory: StoreFactory, shop: Shop, at: datetime, timeframe: timedelta,
                              view: str) -> None:
    ref = shop.reference()
    with store_factory.fresh() as store:
        shop.load(store)
        got = store.engagement(at=at, timeframe=timeframe, view=view)
        expected = ref.engagement(at=at, timeframe=timeframe, view=view)
        assert dict(got.groups) == dict(expected.groups)
        assert nonzero(got.flows) == nonzero(expected.flows)
        assert got.view == view
        assert got.timeframe == timeframe


@given(shop=shops(), flt=st.one_of(st.none(), filters(max_leaves=3)), at=question_instants())
def test_value_counts(store_factory: StoreFactory, shop: Shop, flt: Filter | None, at: datetime) -> None:
    ref = shop.reference()
    with store_factory.fresh() as store:
        shop.load(store)
        for field in VALUE_FIELDS:
            got = [tuple(pair) for pair in store.value_counts(field, flt, at=at)]
            assert got == ref.value_counts(field, flt, at=at), field


@given(shop=shops(), flt=filters(), against=filters(max_leaves=3), at=question_instants(),
       kind=st.sampled_from(["newsletter", "automation"]))
def test_audience_and_preview(store_factory: StoreFactory, shop: Shop, flt: Filter, against: Filter,
                              at: datetime, kind: str) -> None:
    ref = shop.reference()
    with store_factory.fresh() as store:
        shop.load(store)
        assert store.audience(flt, kind=kind, at=at) == ref.audience(flt, kind, at=at)
        got = preview_view(store.preview(flt, against=against, at=at))
        assert got == preview_view(ref.preview(flt, against, at=at))


@given(shop=shops(), flt=filters(), at=question_instants())
def test_explain(store_factory: StoreFactory, shop: Shop, flt: Filter, at: datetime) -> None:
    ref = shop.reference()
    with store_factory.fresh() as store:
        shop.load(store)
        existing = {c.id for c in ref.existing(at.astimezone(NOW.tzinfo))}
        for cid in sorted({c.id for c in shop.contacts} | {"ghost"}):
            if cid not in existing:
                with pytest.raises(KeyError) as info:
                    store.explain(flt, cid, at=at)
                assert isinstance(info.value, EngagekitError)
                continue
            got = flatten_explanation(store.explain(flt, cid, at=at))
            expected = reference_explanation(ref.explain(flt, cid, at=at))
            assert got == expected, cid
            assert got[0][1]["holds"] == (cid in store.members(flt, at=at))


def test_reference_explain_refuses_missing_contact() -> None:
    shop = Shop((), ())
    with pytest.raises(KeyError):
        shop.reference().explain(flt_everyone(), "nobody", at=NOW)


def flt_everyone() -> Any:
    from engagekit import everyone

    return everyone()
