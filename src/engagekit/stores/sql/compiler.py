"""One compiler from the filter algebra to SQL, rendered per dialect by sqlglot.

A filter, already free of ``in_segment``, compiles at an instant to a boolean expression over one
row of ``contacts AS c``. Conditions that need aggregates over events (counts, order sums, the
status at ``at``, engagement) become ``LEFT JOIN (SELECT contact_id, … GROUP BY contact_id) AS jN``
derived tables; the predicate reads their columns (``COALESCE(jN.n, 0)``). Identical derived tables
are joined once per query, so a dashboard that asks about the same windows many times scans them
once. Every predicate is two-valued (never NULL), so ``NOT`` is exact.

No value is ever formatted into the SQL text: every user value — ids, categories, names, numbers,
window bounds (integer microseconds computed in Python) — becomes a named placeholder
(``:p0`` / ``$p0`` / ``%(p0)s``) bound at execution. Only constants of this module (event types,
status names) appear as literals, escaped by sqlglot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlglot
from sqlglot import exp

from engagekit.errors import UnsupportedFilter
from engagekit.filters import (
    Filter,
    Visitor,
    _AttrCompare,
    _Count,
    _Engagement,
    _Everyone,
    _Has,
    _InSegment,
    _Joined,
    _Money,
    _Not,
    _Or,
    _Profile,
    _Status,
    _Tag,
)
from engagekit.filters import _And as _AndNode
from engagekit.model import BLOCKING_TYPES, ENGAGEMENT_TYPES
from engagekit.money import exponent
from engagekit.time import EVER, Span, Window, to_micros

from .schema import TABLES, as_float

DIALECTS = ("sqlite", "duckdb", "postgres", "spark")
STATE_SQL = ("blocked", "engaged", "unengaged")

_TEMPLATES: dict[str, exp.Expr] = {}


def _parse(template: str) -> exp.Expr:
    tree = _TEMPLATES.get(template)
    if tree is None:
        tree = sqlglot.parse_one(template)
        _TEMPLATES[template] = tree
    return tree.copy()


def _sorted(values: Iterable[Any]) -> list[Any]:
    return sorted(values, key=lambda v: (type(v).__name__, v))


def col(table: str, name: str) -> exp.Column:
    return exp.column(name, table=table)


def lit(value: str) -> exp.Literal:
    """A constant of this module (never a user value) as an escaped string literal."""
    return exp.Literal.string(value)


def num(value: int) -> exp.Expr:
    return exp.Literal.number(value)


def _paren(e: exp.Expr) -> exp.Expr:
    return e if isinstance(e, (exp.Column, exp.Paren, exp.Boolean)) else exp.Paren(this=e)


def not_(e: exp.Expr) -> exp.Expr:
    if isinstance(e, exp.Boolean):
        return exp.false() if e.this else exp.true()
    if isinstance(e, exp.Not):  # NOT NOT x is x (every predicate here is two-valued)
        inner: exp.Expr = e.this
        return inner.unnest() if isinstance(inner, exp.Paren) else inner
    return exp.Not(this=_paren(e))


def and_(*parts: exp.Expr) -> exp.Expr:
    parts = tuple(p for p in parts if not (isinstance(p, exp.Boolean) and p.this))
    if any(isinstance(p, exp.Boolean) and not p.this for p in parts):
        return exp.false()
    if not parts:
        return exp.true()
    return parts[0] if len(parts) == 1 else exp.and_(*parts, copy=False)


def or_(*parts: exp.Expr) -> exp.Expr:
    parts = tuple(p for p in parts if not (isinstance(p, exp.Boolean) and not p.this))
    if any(isinstance(p, exp.Boolean) and p.this for p in parts):
        return exp.true()
    if not parts:
        return exp.false()
    return parts[0] if len(parts) == 1 else exp.or_(*parts, copy=False)


def is_null(e: exp.Expr) -> exp.Expr:
    return exp.Is(this=e, expression=exp.Null())


def not_null(e: exp.Expr) -> exp.Expr:
    return exp.Not(this=exp.Is(this=e, expression=exp.Null()))


def coalesce(e: exp.Expr, default: exp.Expr) -> exp.Expr:
    return exp.Coalesce(this=e, expressions=[default])


class Query:
    """Parameters and derived tables of one statement being built."""

    def __init__(self) -> None:
        self.params: dict[str, object] = {}
        self.joins: list[exp.Join] = []
        self._aliases: dict[Hashable, str] = {}

    def value(self, value: object) -> exp.Placeholder:
        """A new named placeholder bound to ``value``."""
        name = f"p{len(self.params)}"
        self.params[name] = value
        return exp.Placeholder(this=name)

    def values(self, values: Iterable[object]) -> list[exp.Expr]:
        return [self.value(v) for v in _sorted(values)]

    def fill(self, template: str, **values: object) -> exp.Expr:
        """Parse a constant SQL template and bind its ``:name`` placeholders (``IN (:name)`` takes a set)."""
        tree = _parse(template)
        for node in list(tree.find_all(exp.In)):
            items = node.expressions
            if len(items) == 1 and isinstance(items[0], exp.Placeholder) and items[0].name in values:
                chosen = values[items[0].name]
                assert isinstance(chosen, (set, frozenset, list, tuple))
                node.set("expressions", self.values(chosen))

        def bind(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Placeholder) and node.name in values:
                return self.value(values[node.name])
            return node

        return tree.transform(bind, copy=False)

    def join(self, key: Hashable, build: Callable[[], exp.Expr], on: Callable[[str], exp.Expr]
             | None = None) -> str:
        """LEFT JOIN a derived table (built once per ``key``) on ``contact_id = c.id``; its alias."""
        alias = self._aliases.get(key)
        if alias is not None:
            return alias
        alias = f"j{len(self._aliases)}"
        self._aliases[key] = alias
        source = build()
        if isinstance(source, exp.Select):
            source = source.subquery(alias, copy=False)
        else:
            source = exp.alias_(source, alias, table=True, copy=False)
        condition: exp.Expr = exp.EQ(this=col(alias, "contact_id"), expression=col("c", "id"))
        if on is not None:
            condition = exp.and_(condition, on(alias), copy=False)
        self.joins.append(exp.Join(this=source, on=condition, side="LEFT"))
        return alias

    def from_contacts(self, *projections: exp.Expr) -> exp.Select:
        select = exp.select(*projections).from_(exp.alias_(exp.to_table("contacts"), "c", table=True), copy=False)
        for join in self.joins:
            select = select.join(join, copy=False)
        return select


def window_where(query: Query, column: str, span: Span) -> str:
    """Template text bounding ``column`` to a span (placeholders named ``lo``/``hi``)."""
    return (f"{column} >= :lo AND {column} < :hi" if span.lo is not None else f"{column} < :hi")


class Compiler(Visitor[exp.Expr]):
    """Compiles a filter at one instant to a predicate over ``contacts AS c`` (registering joins)."""

    def __init__(self, query: Query, at: datetime, currency: str) -> None:
        self.q = query
        self.at = at
        self.at_us = to_micros(at)
        self.currency = currency

    # --- shape -----------------------------------------------------------------------------------

    def visit_and(self, f: _AndNode) -> exp.Expr:
        return and_(*(p.accept(self) for p in f.parts))

    def visit_or(self, f: _Or) -> exp.Expr:
        return or_(*(p.accept(self) for p in f.parts))

    def visit_not(self, f: _Not) -> exp.Expr:
        return not_(f.part.accept(self))

    def visit_everyone(self, f: _Everyone) -> exp.Expr:
        return exp.true()

    def visit_in_segment(self, f: _InSegment) -> exp.Expr:
        raise UnsupportedFilter(f"the SQL compiler cannot handle in_segment ({f!r}); resolve segments first")

    # --- events ----------------------------------------------------------------------------------

    def visit_count(self, f: _Count) -> exp.Expr:
        span = f.within.span(self.at)
        if span.empty:
            return exp.true() if f.at_least == 0 else exp.false()
        if f.at_least == 0 and f.at_most is None:
            return exp.true()
        alias = self.count_join(f, span)
        n = coalesce(col(alias, "n"), num(0))
        conditions: list[exp.Expr] = []
        if f.at_least > 0:
            conditions.append(exp.GTE(this=n, expression=self.q.value(f.at_least)))
        if f.at_most is not None:
            conditions.append(exp.LTE(this=n.copy(), expression=self.q.value(f.at_most)))
        return and_(*conditions)

    def count_join(self, f: _Count, span: Span) -> str:
        event_type = f.event_type
        categories = f.category_keys
        key = ("count", event_type, span.lo, span.hi, f.products, categories, f.campaigns, f.forms)

        def build() -> exp.Expr:
            bounds = {"hi": span.hi} if span.lo is None else {"lo": span.lo, "hi": span.hi}
            if f.products is not None and categories is not None:
                where = window_where(self.q, "i.at_us", span)
                return self.q.fill(
                    "SELECT i.contact_id AS contact_id, COUNT(DISTINCT i.event_id) AS n FROM items AS i "
                    "JOIN item_categories AS ic ON ic.event_id = i.event_id AND ic.item_no = i.item_no "
                    f"WHERE i.type = '{event_type}' AND i.product_id IN (:products) "
                    f"AND ic.cat_key IN (:categories) AND {where} GROUP BY i.contact_id",
                    products=f.products, categories=categories, **bounds)
            if f.products is not None:
                return self.q.fill(
                    "SELECT contact_id, COUNT(DISTINCT event_id) AS n FROM items "
                    f"WHERE type = '{event_type}' AND product_id IN (:products) AND "
                    f"{window_where(self.q, 'at_us', span)} GROUP BY contact_id",
                    products=f.products, **bounds)
            if categories is not None:
                return self.q.fill(
                    "SELECT contact_id, COUNT(DISTINCT event_id) AS n FROM item_categories "
                    f"WHERE type = '{event_type}' AND cat_key IN (:categories) AND "
                    f"{window_where(self.q, 'at_us', span)} GROUP BY contact_id",
                    categories=categories, **bounds)
            extra = ""
            ids: dict[str, object] = {}
            if f.campaigns is not None:
                extra, ids = " AND campaign_id IN (:ids)", {"ids": f.campaigns}
            elif f.forms is not None:
                extra, ids = " AND form_id IN (:ids)", {"ids": f.forms}
            return self.q.fill(
                f"SELECT contact_id, COUNT(*) AS n FROM events WHERE type = '{event_type}'{extra} AND "
                f"{window_where(self.q, 'at_us', span)} GROUP BY contact_id",
                **ids, **bounds)

        assert event_type.replace("_", "").isalpha()  # a constant of model.py, safe as a literal
        return self.q.join(key, build)

    def orders_join(self, span: Span) -> str:
        """Per contact: ``n`` orders, ``s`` minor units, ``f``/``l`` first and last instants in the span."""
        def build() -> exp.Expr:
            bounds = {"hi": span.hi} if span.lo is None else {"lo": span.lo, "hi": span.hi}
            return self.q.fill(
                "SELECT contact_id, COUNT(*) AS n, SUM(value_minor) AS s, MIN(at_us) AS f, MAX(at_us) AS l "
                f"FROM events WHERE type = 'order' AND {window_where(self.q, 'at_us', span)} "
                "GROUP BY contact_id", **bounds)

        return self.q.join(("orders", span.lo, span.hi), build)

    def visit_money(self, f: _Money) -> exp.Expr:
        span = f.within.span(self.at)
        scale = 10 ** exponent(self.currency)
        lo = None if f.at_least is None else Fraction(f.at_least) * scale
        hi = None if f.at_most is None else Fraction(f.at_most) * scale
        if f.measure == "spent":
            zero_holds = (lo is None or lo <= 0) and (hi is None or hi >= 0)
            if span.empty:
                return exp.true() if zero_holds else exp.false()
            alias = self.orders_join(span)
            total = coalesce(col(alias, "s"), num(0))
            conditions: list[exp.Expr] = []
            if lo is not None and lo > 0:  # integer sums: s >= lo  ⇔  s >= ceil(lo)
                conditions.append(exp.GTE(this=total, expression=self.q.value(math.ceil(lo))))
            if hi is not None:
                conditions.append(exp.LTE(this=total.copy(), expression=self.q.value(math.floor(hi))))
            return and_(*conditions)
        if f.measure != "aov":
            raise UnsupportedFilter(f"the SQL compiler cannot handle the money measure {f.measure!r}")
        if span.empty:
            return exp.false()
        alias = self.orders_join(span)
        conditions = [not_null(col(alias, "n"))]  # a contact without orders has no mean
        # exact mean: s / n >= p / q  ⇔  s * q >= p * n  (all integers)
        if lo is not None:
            conditions.append(exp.GTE(
                this=exp.Mul(this=col(alias, "s"), expression=self.q.value(lo.denominator)),
                expression=exp.Mul(this=self.q.value(lo.numerator), expression=col(alias, "n"))))
        if hi is not None:
            conditions.append(exp.LTE(
                this=exp.Mul(this=col(alias, "s"), expression=self.q.value(hi.denominator)),
                expression=exp.Mul(this=self.q.value(hi.numerator), expression=col(alias, "n"))))
        return and_(*conditions)

    def status_expr(self) -> exp.Expr:
        """The subscription status of ``c`` at the instant (latest subscribe/unsubscribe, else declared)."""
        hi = self.at_us + 1

        def build() -> exp.Expr:
            return self.q.fill(
                "SELECT contact_id, MAX(CASE WHEN type = 'subscribe' THEN at_us END) AS s, "
                "MAX(CASE WHEN type = 'unsubscribe' THEN at_us END) AS u FROM events "
                "WHERE type IN ('subscribe', 'unsubscribe') AND at_us < :hi GROUP BY contact_id", hi=hi)

        a = self.q.join(("status", hi), build)
        s, u = col(a, "s"), col(a, "u")
        unsubscribed = and_(not_null(u), or_(is_null(s), exp.GTE(this=u.copy(), expression=s.copy())))
        return exp.Case(
            ifs=[exp.If(this=unsubscribed, true=lit("unsubscribed")),
                 exp.If(this=not_null(s.copy()), true=lit("subscribed"))],
            default=col("c", "status"))

    def visit_status(self, f: _Status) -> exp.Expr:
        return exp.In(this=self.status_expr(), expressions=self.q.values(f.values))

    def blocked_expr(self) -> exp.Expr:
        hi = self.at_us + 1
        types = frozenset(BLOCKING_TYPES)
        a = self.q.join(("blocked", hi), lambda: self.q.fill(
            f"SELECT contact_id FROM events WHERE type IN ({_type_list(types)}) AND at_us < :hi GROUP BY contact_id",
            hi=hi))
        return not_null(col(a, "contact_id"))

    def active_expr(self, timeframe: timedelta) -> exp.Expr:
        lo, hi = to_micros(self.at - timeframe) + 1, self.at_us + 1
        a = self.q.join(("active", lo, hi), lambda: self.q.fill(
            f"SELECT contact_id FROM events WHERE type IN ({_type_list(ENGAGEMENT_TYPES)}) "
            "AND at_us >= :lo AND at_us < :hi GROUP BY contact_id", lo=lo, hi=hi))
        return not_null(col(a, "contact_id"))

    def state_expr(self, state: str, timeframe: timedelta) -> exp.Expr:
        blocked = self.blocked_expr()
        if state == "blocked":
            return blocked
        active = self.active_expr(timeframe)
        if state == "engaged":
            return and_(not_(blocked), active)
        return and_(not_(blocked), not_(active))

    def state_case(self, timeframe: timedelta) -> exp.Expr:
        """``'blocked'`` / ``'engaged'`` / ``'unengaged'`` of ``c`` at the instant."""
        return exp.Case(ifs=[exp.If(this=self.blocked_expr(), true=lit("blocked")),
                             exp.If(this=self.active_expr(timeframe), true=lit("engaged"))],
                        default=lit("unengaged"))

    def visit_engagement(self, f: _Engagement) -> exp.Expr:
        return self.state_expr(f.state, f.timeframe)

    # --- profile ---------------------------------------------------------------------------------

    def visit_profile(self, f: _Profile) -> exp.Expr:
        column = col("c", f"{f.field}_key")
        keys = f.keys
        present = [k for k in keys if k is not None]
        parts: list[exp.Expr] = []
        if present:  # `NULL IN (…)` is NULL, not false: test for a value first so `NOT` stays exact
            parts.append(and_(not_null(column.copy()), exp.In(this=column, expressions=self.q.values(present))))
        if None in keys:
            parts.append(is_null(column.copy()))
        return or_(*parts)

    def visit_has(self, f: _Has) -> exp.Expr:
        if f.field not in ("email", "phone"):
            raise UnsupportedFilter(f"the SQL compiler cannot handle has_{f.field}")
        return not_null(col("c", f.field))

    def visit_tag(self, f: _Tag) -> exp.Expr:
        key = f.key
        a = self.q.join(("tag", key), lambda: self.q.fill(
            "SELECT contact_id FROM contact_tags WHERE tag_key = :key GROUP BY contact_id", key=key))
        return not_null(col(a, "contact_id"))

    def visit_joined(self, f: _Joined) -> exp.Expr:
        span = f.within.span(self.at)
        if span.empty:
            return exp.false()
        created = col("c", "created_us")
        parts: list[exp.Expr] = [exp.LT(this=created, expression=self.q.value(span.hi))]
        if span.lo is not None:
            parts.insert(0, exp.GTE(this=created.copy(), expression=self.q.value(span.lo)))
        return and_(*parts)

    def visit_attr(self, f: _AttrCompare) -> exp.Expr:
        a = self.q.join(("attr", f.name), lambda: exp.to_table("contact_attributes"),
                        on=lambda alias: exp.EQ(this=col(alias, "name"), expression=self.q.value(f.name)))
        kind = coalesce(col(a, "kind"), lit(""))

        def typed(kind_name: str, column: str, make: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
            return and_(exp.EQ(this=kind.copy(), expression=lit(kind_name)), make(col(a, column)))

        def equal(values: tuple[Any, ...]) -> exp.Expr:
            bools = [v for v in values if isinstance(v, bool)]
            nums = [as_float(v) for v in values if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)]
            strs = [_str_key(v) for v in values if isinstance(v, str)]
            parts = []
            for kind_name, column, group in (("num", "num", nums), ("str", "str_key", strs), ("bool", "bool", bools)):
                if group:
                    parts.append(typed(kind_name, column, lambda c, g=group: exp.In(  # type: ignore[misc]
                        this=c, expressions=self.q.values(set(g)))))
            return or_(*parts)

        if f.op == "exists":
            return not_null(col(a, "kind"))
        if f.op == "eq":
            return equal(f.values)
        if f.op == "in":
            return equal(f.values)
        if f.op == "ne":
            return and_(not_null(col(a, "kind")), not_(equal(f.values)))
        ops: dict[str, type[exp.Binary]] = {"lt": exp.LT, "le": exp.LTE, "gt": exp.GT, "ge": exp.GTE}
        if f.op not in ops:
            raise UnsupportedFilter(f"the SQL compiler cannot handle the attribute operator {f.op!r}")
        value = f.values[0]
        op = ops[f.op]
        if isinstance(value, bool):
            return exp.false()
        if isinstance(value, str):
            return typed("str", "str_key", lambda c: op(this=c, expression=self.q.value(_str_key(value))))
        return typed("num", "num", lambda c: op(this=c, expression=self.q.value(as_float(value))))


def _str_key(value: str) -> str:
    from engagekit.text import norm_key

    return norm_key(value) or ""


def _type_list(types: Iterable[str]) -> str:
    names = sorted(types)
    assert all(n.replace("_", "").isalpha() for n in names)  # constants of model.py
    return ", ".join(f"'{n}'" for n in names)


# --- statements ----------------------------------------------------------------------------------


def exists_at(query: Query, at: datetime) -> exp.Expr:
    return exp.LTE(this=col("c", "created_us"), expression=query.value(to_micros(at)))


def members_select(flt: Filter, at: datetime, currency: str, *, count: bool = False) -> tuple[exp.Select, Query]:
    """``SELECT c.id`` (or ``COUNT(*)``) of the filter's members at ``at``."""
    q = Query()
    where = and_(exists_at(q, at), flt.accept(Compiler(q, at, currency)))
    projection: exp.Expr = exp.Count(this=exp.Star()) if count else col("c", "id")
    return q.from_contacts(projection).where(where, copy=False), q


def totals_select(flt: Filter, at: datetime, within: Window, currency: str,
                  engaged_timeframe: timedelta) -> tuple[exp.Select, Query]:
    """One row: contacts, engaged (with ``engaged_timeframe``), customers, orders, revenue, tbo span, gaps."""
    q = Query()
    compiler = Compiler(q, at, currency)
    where = and_(exists_at(q, at), flt.accept(compiler))
    engaged = compiler.state_expr("engaged", engaged_timeframe)
    span = within.span(at)
    projections = [exp.Count(this=exp.Star()), _sum_if(engaged)]
    if span.empty:
        projections += [num(0)] * 5
    else:
        o = compiler.orders_join(span)
        projections += _order_aggregates(o)
    return q.from_contacts(*projections).where(where, copy=False), q


def _sum_if(condition: exp.Expr) -> exp.Expr:
    return coalesce(exp.Sum(this=exp.Case(ifs=[exp.If(this=condition, true=num(1))], default=num(0))), num(0))


def _order_aggregates(o: str) -> list[exp.Expr]:
    n = col(o, "n")
    many = exp.GTE(this=n, expression=num(2))
    return [
        exp.Count(this=col(o, "contact_id")),
        coalesce(exp.Sum(this=col(o, "n")), num(0)),
        coalesce(exp.Sum(this=col(o, "s")), num(0)),
        coalesce(exp.Sum(this=exp.Case(ifs=[exp.If(this=many, true=exp.Sub(this=col(o, "l"),
                                                                            expression=col(o, "f")))],
                                       default=num(0))), num(0)),
        coalesce(exp.Sum(this=exp.Case(ifs=[exp.If(this=many.copy(), true=exp.Sub(this=col(o, "n"),
                                                                                   expression=num(1)))],
                                       default=num(0))), num(0)),
    ]


def dashboard_select(in_view: Filter, timeframe: timedelta, at: datetime, before: datetime, *, currency: str,
                     engaged_timeframe: timedelta) -> tuple[exp.Select, Query]:
    """Rows ``(state_before, state_now, contacts, engaged, customers, orders, revenue, tbo_span, tbo_gaps)``.

    One statement answers the whole contacts dashboard of SPEC §5: the flows, and every group's
    metrics as sums over the rows that share ``state_now``.
    """
    q = Query()
    now, then = Compiler(q, at, currency), Compiler(q, before, currency)

    def state(compiler: Compiler, moment: datetime) -> exp.Expr:
        view = in_view.accept(compiler)
        return exp.Case(ifs=[exp.If(this=exp.GT(this=col("c", "created_us"), expression=q.value(to_micros(moment))),
                                    true=lit("absent")),
                             exp.If(this=not_(view), true=lit("outside"))],
                        default=compiler.state_case(timeframe))

    sb = state(then, before)
    sn = state(now, at)
    engaged = now.state_expr("engaged", engaged_timeframe)
    o = now.orders_join(EVER.span(at))
    n = col(o, "n")
    inner = q.from_contacts(
        exp.alias_(sb, "sb"), exp.alias_(sn, "sn"),
        exp.alias_(exp.Case(ifs=[exp.If(this=engaged, true=num(1))], default=num(0)), "eng"),
        exp.alias_(exp.Case(ifs=[exp.If(this=not_null(n), true=num(1))], default=num(0)), "cust"),
        exp.alias_(coalesce(n.copy(), num(0)), "n"),
        exp.alias_(coalesce(col(o, "s"), num(0)), "s"),
        exp.alias_(exp.Case(ifs=[exp.If(this=exp.GTE(this=n.copy(), expression=num(2)),
                                        true=exp.Sub(this=col(o, "l"), expression=col(o, "f")))],
                            default=num(0)), "span"),
        exp.alias_(exp.Case(ifs=[exp.If(this=exp.GTE(this=n.copy(), expression=num(2)),
                                        true=exp.Sub(this=n.copy(), expression=num(1)))],
                            default=num(0)), "gaps"),
    ).where(exists_at(q, at), copy=False)
    t = "t"
    outer = exp.select(
        col(t, "sb"), col(t, "sn"), exp.Count(this=exp.Star()),
        *(exp.Sum(this=col(t, name)) for name in ("eng", "cust", "n", "s", "span", "gaps")),
    ).from_(inner.subquery(t, copy=False), copy=False).group_by(col(t, "sb"), col(t, "sn"), copy=False)
    return outer, q


VALUE_SOURCES = {
    "tag": "SELECT DISTINCT t.contact_id AS cid, t.tag_key AS k, t.tag AS v FROM contact_tags AS t "
           "JOIN m ON t.contact_id = m.id",
    "category": "SELECT DISTINCT x.contact_id AS cid, x.cat_key AS k, x.category AS v FROM item_categories AS x "
                "JOIN m ON x.contact_id = m.id WHERE x.at_us < :hi",
    "product": "SELECT DISTINCT x.contact_id AS cid, x.product_id AS k, x.product_id AS v FROM items AS x "
               "JOIN m ON x.contact_id = m.id WHERE x.at_us < :hi",
}


def value_rows_select(field: str, flt: Filter, at: datetime, currency: str) -> tuple[exp.Expr, Query]:
    """Rows ``(kind, key, spelling, n)``: kind ``s`` a spelling's contacts, ``g`` a group's, ``u`` undefined."""
    if field in ("city", "country", "language", "gender"):
        q = Query()
        where = and_(exists_at(q, at), flt.accept(Compiler(q, at, currency)))
        key, spelling = col("c", f"{field}_key"), col("c", field)
        select = q.from_contacts(lit("s"), key, spelling, exp.Count(this=exp.Star())).where(where, copy=False)
        return select.group_by(key.copy(), spelling.copy(), copy=False), q
    members, q = members_select(flt, at, currency)
    values = q.fill(VALUE_SOURCES[field], **({} if field == "tag" else {"hi": to_micros(at) + 1}))
    body = _parse(
        "SELECT 's', k, v, COUNT(*) FROM v GROUP BY k, v "
        "UNION ALL SELECT 'g', k, NULL, COUNT(DISTINCT cid) FROM v GROUP BY k "
        "UNION ALL SELECT 'u', NULL, NULL, COUNT(*) FROM m WHERE NOT EXISTS (SELECT 1 FROM v WHERE v.cid = m.id)")
    members = members.select(exp.alias_(col("c", "id"), "id"), append=False, copy=False)
    assert isinstance(body, exp.Union)
    return body.with_("m", as_=members, copy=False).with_("v", as_=values, copy=False), q


# --- one contact (explain) -----------------------------------------------------------------------


def one_contact(flt: Filter, contact_id: str, at: datetime, currency: str) -> tuple[exp.Select, Query]:
    """``SELECT <holds>`` for one contact (no row when it does not exist at ``at``)."""
    q = Query()
    predicate = flt.accept(Compiler(q, at, currency))
    holds = exp.Case(ifs=[exp.If(this=predicate, true=num(1))], default=num(0))
    where = and_(exp.EQ(this=col("c", "id"), expression=q.value(contact_id)), exists_at(q, at))
    return q.from_contacts(holds).where(where, copy=False), q


def matching_events_select(leaf: _Count, contact_id: str, span: Span) -> tuple[exp.Expr, Query]:
    """``(at_us, id)`` of one contact's events that a count leaf counts, instants in ``span``."""
    q = Query()
    event_type = leaf.event_type
    assert event_type.replace("_", "").isalpha()
    bounds = {"hi": span.hi} if span.lo is None else {"lo": span.lo, "hi": span.hi}
    extra, values = "", {}
    categories = leaf.category_keys
    if leaf.products is not None or categories is not None:
        conditions = ["i.contact_id = :cid"]
        join = ""
        if leaf.products is not None:
            conditions.append("i.product_id IN (:products)")
            values["products"] = leaf.products
        if categories is not None:
            join = " JOIN item_categories AS ic ON ic.event_id = i.event_id AND ic.item_no = i.item_no"
            conditions.append("ic.cat_key IN (:categories)")
            values["categories"] = categories
        extra = f" AND e.id IN (SELECT i.event_id FROM items AS i{join} WHERE {' AND '.join(conditions)})"
    elif leaf.campaigns is not None:
        extra, values = " AND e.campaign_id IN (:ids)", {"ids": leaf.campaigns}
    elif leaf.forms is not None:
        extra, values = " AND e.form_id IN (:ids)", {"ids": leaf.forms}
    tree = q.fill(f"SELECT e.at_us, e.id FROM events AS e WHERE e.contact_id = :cid AND e.type = '{event_type}' "
                  f"AND {window_where(q, 'e.at_us', span)}{extra}", cid=contact_id, **values, **bounds)
    return tree, q


def order_values_select(contact_id: str, span: Span) -> tuple[exp.Expr, Query]:
    """Values in minor units of one contact's orders with instants in ``span``."""
    q = Query()
    bounds = {"hi": span.hi} if span.lo is None else {"lo": span.lo, "hi": span.hi}
    tree = q.fill("SELECT value_minor FROM events WHERE contact_id = :cid AND type = 'order' AND "
                  f"{window_where(q, 'at_us', span)}", cid=contact_id, **bounds)
    return tree, q


# --- rendering -----------------------------------------------------------------------------------


def render(tree: exp.Expr, dialect: str, schema: str | None = None) -> str:
    """SQL text of a compiled tree in a dialect; store tables qualified by ``schema`` (PostgreSQL)."""
    if dialect not in DIALECTS:
        raise UnsupportedFilter(f"no SQL dialect {dialect!r}; use one of {', '.join(DIALECTS)}")
    if schema is not None:
        def qualify(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Table) and not node.args.get("db") and node.name in TABLES:
                return exp.Table(this=exp.to_identifier(node.name, quoted=True),
                                 db=exp.to_identifier(schema, quoted=True), alias=node.args.get("alias"))
            return node

        tree = tree.transform(qualify)
    return tree.sql(dialect=dialect)


def used_params(tree: exp.Expr, query: Query) -> dict[str, object]:
    """The parameters whose placeholders are in the tree (folding ``FALSE AND …`` drops some)."""
    names = {node.name for node in tree.find_all(exp.Placeholder)}
    return {name: value for name, value in query.params.items() if name in names}


def compile_members(flt: Filter, at: datetime, dialect: str, *, currency: str = "PLN",
                    schema: str | None = None) -> tuple[str, dict[str, object]]:
    """SQL and parameters selecting the ids of a filter's members: what a store runs, for reading.

    >>> from engagekit import city
    >>> from datetime import datetime, timezone
    >>> sql, params = compile_members(city("Kraków"), datetime(2026, 6, 30, tzinfo=timezone.utc), "sqlite")
    >>> sql
    'SELECT c.id FROM contacts AS c WHERE c.created_us <= :p0 AND (NOT c.city_key IS NULL AND c.city_key IN (:p1))'
    >>> params
    {'p0': 1782777600000000, 'p1': 'kraków'}
    """
    select, q = members_select(flt, at, currency)
    return render(select, dialect, schema), used_params(select, q)


__all__ = ["Compiler", "Query", "compile_members", "dashboard_select", "members_select", "one_contact",
           "render", "totals_select", "used_params", "value_rows_select"]
