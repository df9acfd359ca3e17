"""Laws of the filter algebra (SPEC §3), on the Reference and on the memory store; JSON; hashing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagekit import (
    Filter,
    InvalidFilter,
    MemoryStore,
    added_to_cart,
    attr,
    before,
    blocked,
    clicked,
    engaged,
    ever,
    everyone,
    last,
    opened,
    ordered,
    received,
    spent,
    subscribed_via,
    tag,
    unengaged,
    viewed,
)
from engagekit.filters import _And, _Not, _Or
from tests.strategies import TIMEFRAMES, count_filters, filters, question_instants, shops
from tests.support import Shop

COUNT_BUILDERS = [viewed, added_to_cart, ordered, opened, clicked, received, subscribed_via]
DURATIONS = [{"days": 30}, {"days": 1}, {"hours": 48}, {"weeks": 2}, {"months": 1}]


class Both:
    """Asks the Reference and a fresh memory store the same question; they must agree, and it is returned."""

    def __init__(self, shop: Shop) -> None:
        self.ref = shop.reference()
        self.store = MemoryStore(currency="PLN")
        shop.load(self.store)

    def members(self, flt: Filter, at: datetime) -> frozenset[str]:
        expected = self.ref.members(flt, at=at)
        assert self.store.members(flt, at=at) == expected, flt
        return expected

    def existing(self, at: datetime) -> frozenset[str]:
        return frozenset(c.id for c in self.ref.existing(at))


@given(shop=shops(), a=filters(3), b=filters(3), at=question_instants())
def test_de_morgan_and_set_algebra(shop: Shop, a: Filter, b: Filter, at: datetime) -> None:
    both = Both(shop)
    ma, mb, everybody = both.members(a, at), both.members(b, at), both.existing(at)
    assert both.members(a & b, at) == ma & mb
    assert both.members(a | b, at) == ma | mb
    assert both.members(~a, at) == everybody - ma
    assert both.members(~(a & b), at) == both.members(~a | ~b, at)
    assert both.members(~(a | b), at) == both.members(~a & ~b, at)
    assert both.members(everyone(), at) == everybody


@given(f=filters())
def test_double_negation_is_the_filter(f: Filter) -> None:
    assert ~~f == f
    assert hash(~~f) == hash(f)
    if not isinstance(f, _Not):
        assert ~~f is f  # the negation of a negation is its part itself, not a copy
    assert ~~~f == ~f


@given(shop=shops(), builder=st.sampled_from(COUNT_BUILDERS), duration=st.sampled_from(DURATIONS),
       at=question_instants())
def test_at_most_zero_is_not_and_last_or_before_is_ever(shop: Shop, builder: Any, duration: dict[str, int],
                                                         at: datetime) -> None:
    both = Both(shop)
    for window in (ever(), last(**duration), before(**duration)):
        assert both.members(builder(at_most=0, within=window), at) == both.members(~builder(within=window), at)
        assert both.members(builder(exactly=0, within=window), at) == both.members(~builder(within=window), at)
    split = builder(within=last(**duration)) | builder(within=before(**duration))
    assert both.members(split, at) == both.members(builder(), at)


@given(shop=shops(), leaf=count_filters(), duration=st.sampled_from(DURATIONS), at=question_instants())
def test_last_and_before_partition_the_visible_events(shop: Shop, leaf: Any, duration: dict[str, int],
                                                      at: datetime) -> None:
    ref = shop.reference()
    for contact in ref.existing(at):
        counts = {}
        for name, window in (("ever", ever()), ("last", last(**duration)), ("before", before(**duration))):
            node = type(leaf)(leaf.kind, 0, None, window, leaf.products, leaf.categories, leaf.campaigns, leaf.forms)
            counts[name] = ref.explain(node, contact.id, at=at)[0]["count"]
        assert counts["last"] + counts["before"] == counts["ever"]


@given(shop=shops(), timeframe=st.sampled_from(TIMEFRAMES), at=question_instants())
def test_exactly_one_engagement_class(shop: Shop, timeframe: timedelta, at: datetime) -> None:
    both = Both(shop)
    classes = [both.members(engaged(timeframe=timeframe), at), both.members(unengaged(timeframe=timeframe), at),
               both.members(blocked(), at)]
    assert frozenset().union(*classes) == both.existing(at)
    assert sum(len(c) for c in classes) == len(both.existing(at))


def test_and_or_flatten_in_order() -> None:
    a, b, c, d = tag("a"), tag("b"), tag("c"), tag("d")
    assert (a & b) & c == a & (b & c) == _And((a, b, c))
    assert ((a & b) & (c & d)).children() == (a, b, c, d)
    assert (a | b) | c == a | (b | c) == _Or((a, b, c))
    assert (c & a).children() == (c, a)  # order is kept, not sorted
    assert (a & b) | c == _Or((_And((a, b)), c))
    assert ~(a & b) == _Not(_And((a, b)))
    assert json.loads((a & b & c).to_json())["filter"] == {"and": [{"tag": "a"}, {"tag": "b"}, {"tag": "c"}]}


def test_filters_have_no_truth_value() -> None:
    with pytest.raises(TypeError, match="no truth value"):
        bool(tag("a"))


@given(f=filters(8))
def test_json_round_trip(f: Filter) -> None:
    text = f.to_json()
    assert Filter.from_json(text) == f
    assert Filter.from_json(json.loads(text)) == f
    assert Filter.from_json(text).to_json() == text


@given(f=filters(), g=filters())
def test_hashable_and_equal_filters_hash_alike(f: Filter, g: Filter) -> None:
    assert hash(f) == hash(Filter.from_json(f.to_json()))
    assert len({f, Filter.from_json(f.to_json())}) == 1
    if f == g:
        assert hash(f) == hash(g)
    assert {f: 1}[Filter.from_json(f.to_json())] == 1


def test_booleans_and_numbers_stay_apart() -> None:
    # True == 1 in Python, but a boolean attribute matches only booleans (docs/ARCHITECTURE.md)
    assert (attr("x") == True) != (attr("x") == 1)  # noqa: E712
    assert len(attr("x").is_in([1, True]).values) == 2
    assert Filter.from_json((attr("x") == True).to_json()) == (attr("x") == True)  # noqa: E712


def _doc(node: Any) -> str:
    return json.dumps({"engagekit_filter": 1, "filter": node})


@pytest.mark.parametrize(("text", "path"), [
    (_doc({"and": [{"tag": "vip"}, {"ordered": {"at_least": -1}}]}), "$.filter.and[1].ordered.at_least"),
    (_doc({"and": [{"tag": "vip"}, {"ordered": {"at_least": "2"}}]}), "$.filter.and[1].ordered.at_least"),
    (_doc({"or": [{"tag": "vip"}, {"not": {"viewed": {"within": {"last": {"days": "14d"}}}}}]}),
     "$.filter.or[1].not.viewed.within.last.days"),
    (_doc({"ordered": {"colour": "red"}}), "$.filter.ordered.colour"),
    (_doc({"spent": {"at_least": "abc"}}), "$.filter.spent.at_least"),
    (_doc({"engaged": {"timeframe_seconds": 0}}), "$.filter.engaged.timeframe_seconds"),
    (_doc({"ordered": {"within": {"between": {"start": "2026-01-01T00:00:00", "end": "2026-02-01T00:00:00+00:00"}}}}),
     "$.filter.ordered.within.between.start"),
    (_doc({"attr": {"name": "x", "op": "eq", "values": [1, 2]}}), "$.filter.attr.values"),
    (_doc({"bogus": {}}), "$.filter"),
    (json.dumps({"engagekit_filter": 2, "filter": {"tag": "vip"}}), "$.engagekit_filter"),
    ("not json", "$"),
])
def test_bad_json_names_the_path(text: str, path: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        Filter.from_json(text)
    assert str(info.value).startswith(path + ":"), str(info.value)


@pytest.mark.parametrize(("build", "words"), [
    (lambda: ordered(at_least=-1), ["ordered.at_least", "-1"]),
    (lambda: ordered(at_least=3, at_most=1), ["at_least (3)", "at_most (1)"]),
    (lambda: ordered(exactly=1, at_most=2), ["ordered.exactly"]),
    (lambda: last(days=0), ["last", "positive"]),
    (lambda: last(days=-1), ["last.days", "-1"]),
    (lambda: viewed(within=30), ["viewed.within", "30"]),
    (spent, ["spent", "at_least"]),
    (lambda: spent(at_least=-5), ["spent.at_least", "-5"]),
    (lambda: tag("  "), ["tag", "'  '"]),
    (lambda: engaged(timeframe=30), ["engaged.timeframe", "30"]),
    (lambda: attr("x").is_in([]), ["attr('x').is_in"]),
])
def test_bad_arguments_name_the_argument(build: Any, words: list[str]) -> None:
    with pytest.raises(InvalidFilter) as info:
        build()
    for word in words:
        assert word in str(info.value)
