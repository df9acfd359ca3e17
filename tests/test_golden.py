"""The golden shop (tests/golden/README.md): every case against the Reference and against every store.

If a golden answer contradicted SPEC.md, SPEC.md would win: such a case gets a strict xfail naming
why in ``SPEC_WINS`` (none so far).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import engagekit
from engagekit import Metrics
from engagekit.filters import _Count, _Engagement, _Money
from tests.stores import STORE_PARAMS, StoreFactory, StoreKind
from tests.support import (
    dec,
    flatten_explanation,
    golden_cases,
    golden_shop,
    nonzero,
    preview_view,
    reference_explanation,
)

CASES = golden_cases()
SHOP = golden_shop()
ENV: dict[str, Any] = {**vars(engagekit), "Decimal": Decimal, "timedelta": timedelta}

# case name -> why SPEC.md contradicts the golden answer (each becomes a strict xfail)
SPEC_WINS: dict[str, str] = {}


def case_params() -> list[Any]:
    params = []
    for case in CASES:
        marks = []
        if case["name"] in SPEC_WINS:
            marks.append(pytest.mark.xfail(strict=True, reason=SPEC_WINS[case["name"]]))
        params.append(pytest.param(case, id=case["name"], marks=marks))
    return params


def expr(text: str | None) -> Any:
    return None if text is None else eval(text, ENV)  # noqa: S307 - the golden README prescribes eval


def metrics_view(m: Metrics) -> dict[str, Any]:
    return {"contacts": m.contacts, "customers": m.customers, "orders": m.orders, "revenue": m.revenue,
            "aov": m.aov, "acv": m.acv, "ano": m.ano,
            "tbo": None if m.tbo is None else int(m.tbo.total_seconds())}


def expected_metrics(e: dict[str, Any]) -> dict[str, Any]:
    return {"contacts": e["contacts"], "customers": e["customers"], "orders": e["orders"],
            "revenue": dec(e["revenue"]), "aov": dec(e["aov"]), "acv": dec(e["acv"]), "ano": dec(e["ano"]),
            "tbo": e["tbo"]}


def instant_or_none(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def explain_view(rows: list[tuple[Any, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The README's projection: holds; count leaves add count, window, matches; spent total; aov mean;
    engagement leaves state."""
    out = []
    for node, ev in rows:
        row: dict[str, Any] = {"holds": ev["holds"]}
        if isinstance(node, _Count):
            row.update(count=ev["count"], window=ev["window"], matches=ev["matches"])
        elif isinstance(node, _Money):
            key = "total" if node.measure == "spent" else "mean"
            row[key] = ev[key]
        elif isinstance(node, _Engagement):
            row["state"] = ev["state"]
        out.append(row)
    return out


def expected_explain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        parsed: dict[str, Any] = {}
        for key, value in row.items():
            if key == "window":
                parsed[key] = (instant_or_none(value[0]), instant_or_none(value[1]))
            elif key == "matches":
                parsed[key] = tuple(datetime.fromisoformat(m) for m in value)
            elif key in ("total", "mean"):
                parsed[key] = dec(value)
            else:
                parsed[key] = value
        out.append(parsed)
    return out


def check(asker: Any, case: dict[str, Any], *, is_reference: bool) -> None:
    """Ask ``asker`` (a store or the Reference) the case's question and compare as the README says."""
    kind, at, expected = case["kind"], case["at"], case["expected"]
    flt = expr(case["expr"])
    if kind == "members":
        assert sorted(asker.members(flt, at=at)) == expected
    elif kind == "metrics":
        within = expr(case["within"]) if case.get("within") else engagekit.ever()
        assert metrics_view(asker.metrics(flt, at=at, within=within)) == expected_metrics(expected)
    elif kind == "engagement":
        dashboard = asker.engagement(at=at, timeframe=timedelta(days=case["timeframe_days"]), view=case["view"])
        groups = {
            name: {"count": g.count, "share": g.share, "count_before": g.count_before, "change": g.change,
                   "change_pct": g.change_pct, "metrics": metrics_view(g.metrics)}
            for name, g in dashboard.groups.items()
        }
        want = {
            name: {**{k: (dec(v) if k in ("share", "change_pct") else v) for k, v in g.items() if k != "metrics"},
                   "metrics": expected_metrics(g["metrics"])}
            for name, g in expected["groups"].items()
        }
        assert groups == want
        flows = sorted([frm, to, n] for (frm, to), n in nonzero(dashboard.flows).items())
        assert flows == expected["flows"]
    elif kind == "value_counts":
        got = asker.value_counts(case["field"], flt, at=at)
        assert [list(pair) for pair in got] == expected
    elif kind == "audience":
        assert sorted(asker.audience(flt, kind=case["audience_kind"], at=at)) == expected
    elif kind == "preview":
        got = preview_view(asker.preview(flt, against=expr(case["against"]), at=at))
        want = {**expected, "examples": {k: tuple(v) for k, v in expected["examples"].items()}}
        assert got == want
    elif kind == "explain":
        result = asker.explain(flt, case["contact"], at=at)
        rows = reference_explanation(result) if is_reference else flatten_explanation(result)
        assert explain_view(rows) == expected_explain(expected)
    else:  # pragma: no cover - a new kind in the golden set must be taught here
        pytest.fail(f"unknown golden case kind {kind!r}")


REFERENCE = SHOP.reference()


def test_golden_set_is_complete() -> None:
    assert len(CASES) == 89
    assert len({c["name"] for c in CASES}) == len(CASES)
    assert len(SHOP.contacts) == 25
    assert len(SHOP.events) == 229
    assert len(REFERENCE.events) == 225  # 4 lines repeat an earlier id


@pytest.mark.parametrize("case", case_params())
def test_reference(case: dict[str, Any]) -> None:
    check(REFERENCE, case, is_reference=True)


@pytest.fixture(scope="module", params=STORE_PARAMS)
def golden_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One store of each kind holding the golden shop, shared by the module's cases (read-only)."""
    kind: StoreKind = request.param
    factory = StoreFactory(kind, tmp_path_factory.mktemp(f"golden-{kind.name}"))
    try:
        store = factory()
        SHOP.load(store)
        yield store
    finally:
        factory.close_all()


@pytest.mark.parametrize("case", case_params())
def test_store(golden_store: Any, case: dict[str, Any]) -> None:
    check(golden_store, case, is_reference=False)
