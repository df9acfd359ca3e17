"""How deeply filters nest: every store answers the deepest filter the algebra allows, and a deeper
one, or a hostile JSON document, is refused with an ``InvalidFilter`` instead of exhausting the
stack (a RecursionError, or SQLite's "parser stack overflow", was what a user got before)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engagekit import (
    Filter,
    InvalidFilter,
    MemoryStore,
    city,
    engaged,
    everyone,
    in_segment,
    opened,
    ordered,
    spent,
    tag,
    viewed,
)
from engagekit.filters import MAX_DEPTH, depth
from tests.support import NOW, flatten_explanation, golden_shop, reference_explanation

LEAVES = [viewed(at_least=1), ordered(at_least=2), spent(at_least="100"), tag("vip"), city("Warszawa"),
          opened(), engaged()]


def deepest(levels: int) -> Filter:
    """A filter ``levels`` deep: alternating &, | and ~ over different kinds of conditions."""
    flt: Filter = LEAVES[0]
    while depth(flt) < levels:
        leaf = LEAVES[depth(flt) % len(LEAVES)]
        step = depth(flt) % 3
        flt = (flt & leaf) if step == 0 else (flt | leaf) if step == 1 else ~flt
    assert depth(flt) == levels
    return flt


def test_the_deepest_filter_gives_the_reference_answer_on_every_store(store: Any) -> None:
    shop = golden_shop()
    shop.load(store)
    ref = shop.reference()
    flt = deepest(MAX_DEPTH)
    expected = ref.members(flt, at=NOW)
    assert 0 < len(expected) < len(ref.members(everyone(), at=NOW))  # a question with some answer
    assert store.members(flt, at=NOW) == expected
    assert store.count(flt, at=NOW) == len(expected)
    assert Filter.from_json(flt.to_json()) == flt
    assert flt.describe()
    some = sorted(expected)[0]
    assert flatten_explanation(store.explain(flt, some, at=NOW)) == \
        reference_explanation(ref.explain(flt, some, at=NOW))


def test_one_level_more_is_refused_when_built() -> None:
    flt = deepest(MAX_DEPTH)
    with pytest.raises(InvalidFilter, match=f"nested {MAX_DEPTH + 1} levels deep; a filter nests at most {MAX_DEPTH}"):
        _ = ~flt
    assert flt.node == "or"
    with pytest.raises(InvalidFilter, match="nested"):
        _ = flt & tag("x")  # & over an | adds a level
    assert depth(flt | tag("x")) == MAX_DEPTH  # | into an | is flattened: no new level


def nested_json(levels: int) -> str:
    node: dict[str, Any] = {"everyone": {}}
    for _ in range(levels - 1):
        node = {"not": node} if isinstance(node.get("and"), list) else {"and": [node, {"tag": "vip"}]}
    return json.dumps({"engagekit_filter": 1, "filter": node})


def test_json_deeper_than_allowed_is_refused_on_the_way_down() -> None:
    assert depth(Filter.from_json(nested_json(MAX_DEPTH))) == MAX_DEPTH
    with pytest.raises(InvalidFilter, match=rf"^\$\.filter\.(and|not)[^ ]*: nested more than {MAX_DEPTH}"):
        Filter.from_json(nested_json(MAX_DEPTH + 1))
    # thousands deep: the JSON decoder's own recursion limit, reported as a filter error
    hostile = '{"engagekit_filter": 1, "filter": ' + '{"not": ' * 100_000 + "{}" + "}" * 100_001
    with pytest.raises(InvalidFilter, match=r"^\$: nested too deeply"):
        Filter.from_json(hostile)
    # deep enough to exhaust the parser's own recursion, shallow enough for the JSON decoder
    nots = '{"engagekit_filter": 1, "filter": ' + '{"not": ' * 500 + '{"everyone": {}}' + "}" * 501
    with pytest.raises(InvalidFilter, match="nested more than"):
        Filter.from_json(nots)


def test_a_segment_whose_references_resolve_too_deep_is_refused() -> None:
    store = MemoryStore(currency="PLN")
    inner = store.create_segment(deepest(MAX_DEPTH - 1), name="deep")
    outer = store.create_segment(~in_segment(inner.id), name="ok")  # resolved: depth 32
    golden_shop().load(store)
    assert store.count(in_segment(outer.id), at=NOW) == store.count(~deepest(MAX_DEPTH - 1), at=NOW)
    with pytest.raises(InvalidFilter, match="in_segment references count once resolved"):
        store.create_segment(~in_segment(inner.id) | tag("vip"), name="too deep")
    assert [s.name for s in store.segments()] == ["deep", "ok"]  # nothing half-saved
