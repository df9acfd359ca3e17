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
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
from engagekit.money import exponent, neighbours
from engagekit.time import BEFORE_ALL, EVER, Span, Window, to_micros

from .schema import TABLES, as_float

DIALECTS = ("sqlite", "duckdb", "postgres", "spark")
STATE_SQL = ("blocked", "engaged", "unengaged")
FACTS = "ev"  # the alias of the one derived table of per-contact event facts of a statement
MAX_INT64 = 2**63 - 1  # what SQLite and Spark bind and sum; every order's minor units fit it
MAX_DECIMAL38 = 10**38 - 1  # the widest exact number every dialect casts to
# an average compares exactly for contacts with up to this many orders in the window (2^31 - 1:
# the remainder and denominator products of Compiler.mean_compared stay under 2^62)
MAX_ORDERS = 2**31 - 1

_TEMPLATES: dict[str, exp.Expr] = {}


def _parse(template: str) -> exp.Expr:
    tree = _TEMPLATES.get(template)
    if tree is None:
        tree = sqlglot.parse_one(template)
        _TEMPLATES[template] = tree
    return tree.copy()


def _start_us(at_us: int, timeframe: timedelta) -> int:
    """``at - timeframe`` in microseconds, in integers: a timeframe reaching before year 1 counts
    from the beginning of time (a datetime would overflow)."""
    return max(at_us - timeframe // timedelta(microseconds=1), BEFORE_ALL)


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
        self._facts: dict[Hashable, exp.Column] = {}
        self._fact_specs: list[tuple[str, str, str | None, int]] = []
        self._branches: dict[Hashable, int] = {}
        self._branch_selects: list[exp.Select] = []

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

    def fact(self, aggregate: str, types: Iterable[str], span: Span, *, value: str | None = None,
             ids: tuple[str, frozenset[str]] | None = None) -> exp.Column:
        """A per-contact aggregate over the ``events`` rows of ``types`` in ``span``: a column.

        ``aggregate`` is ``count``, or ``sum``/``min``/``max`` of the column ``value``; NULL for a
        contact without such rows. ``ids`` narrows the rows to ``(column, values)`` (``campaign_id``
        or ``form_id``). Facts over the same rows share one derived table ``evN`` (one filtered scan
        and one ``GROUP BY contact_id`` computing them all: the orders' count, sum, first and last
        instant come from one pass).
        """
        names = tuple(sorted(types))
        assert all(n.replace("_", "").isalpha() for n in names)  # constants of model.py
        assert value in (None, "at_us", "value_minor") and (ids is None or ids[0] in ("campaign_id", "form_id"))
        condition_key = (names, span.lo, span.hi, ids)
        key = (aggregate, value, condition_key)
        found = self._facts.get(key)
        if found is not None:
            return found.copy()
        branch = self._branches.get(condition_key)
        if branch is None:
            bounds = {"hi": span.hi} if span.lo is None else {"lo": span.lo, "hi": span.hi}
            where = f"type IN ({_type_list(names)}) AND {window_where(self, 'at_us', span)}"
            if ids is not None:
                where += f" AND {ids[0]} IN (:ids)"
            branch = len(self._branches)
            self._branches[condition_key] = branch
            select = self.fill(f"SELECT contact_id FROM events WHERE {where}",
                               **({"ids": ids[1]} if ids is not None else {}), **bounds)
            assert isinstance(select, exp.Select)
            self._branch_selects.append(select)
        name = f"x{len(self._facts)}"
        self._fact_specs.append((name, aggregate, value, branch))
        column = col(f"{FACTS}{branch}", name)
        self._facts[key] = column
        return column.copy()

    def exists(self, types: Iterable[str], span: Span, *, ids: tuple[str, frozenset[str]] | None = None,
               ) -> exp.Expr:
        """``c.id IN (SELECT contact_id FROM events WHERE …)``: has at least one such event.

        A semi-join: no aggregation, and the engine stops at the first match (an index probe in
        SQLite/PostgreSQL). ``events.contact_id`` is never NULL, so the predicate is two-valued.
        """
        return self.semi(self.event_rows(types, span, ids=ids))

    def event_rows(self, types: Iterable[str], span: Span, *,
                   ids: tuple[str, frozenset[str]] | None = None) -> exp.Select:
        """``SELECT contact_id FROM events`` of ``types`` in ``span`` (``ids``: ``(column, values)``)."""
        names = tuple(sorted(types))
        assert all(n.replace("_", "").isalpha() for n in names)  # constants of model.py
        assert ids is None or ids[0] in ("campaign_id", "form_id")
        bounds = {"hi": span.hi} if span.lo is None else {"lo": span.lo, "hi": span.hi}
        where = f"type IN ({_type_list(names)}) AND {window_where(self, 'at_us', span)}"
        if ids is not None:
            where += f" AND {ids[0]} IN (:ids)"
        select = self.fill(f"SELECT contact_id FROM events WHERE {where}",
                           **({"ids": ids[1]} if ids is not None else {}), **bounds)
        assert isinstance(select, exp.Select)
        return select

    def having(self, rows: exp.Expr, test: exp.Expr, *, zero_holds: bool) -> exp.Expr:
        """Contacts whose ``rows`` (a ``SELECT contact_id …``) pass the aggregate ``test``.

        A semi-join on ``GROUP BY contact_id HAVING test``, the pre-aggregation a person writes by
        hand, instead of aggregating into a joined table. A contact without rows is not grouped:
        when the test holds for no rows (``zero_holds``: ``ordered(at_most=2)``), the complement is
        selected instead, ``NOT c.id IN (… HAVING NOT test)``. Both forms are two-valued.
        """
        assert isinstance(rows, exp.Select)
        key = rows.expressions[0].copy()
        if isinstance(test, exp.Boolean):
            test_holds = bool(test.this)
            if test_holds == zero_holds:
                return exp.true() if test_holds else exp.false()
            return not_(self.semi(rows)) if zero_holds else self.semi(rows)
        grouped = rows.group_by(key, copy=False).having(not_(test) if zero_holds else test, copy=False)
        semi = self.semi(grouped)
        return not_(semi) if zero_holds else semi

    @staticmethod
    def semi(select: exp.Expr) -> exp.Expr:
        """``c.id IN (select)`` for a select of non-NULL contact ids."""
        assert isinstance(select, exp.Select)
        return exp.In(this=col("c", "id"), query=select.subquery(copy=False))

    def _fact_joins(self) -> list[exp.Join]:
        """One ``LEFT JOIN (SELECT contact_id, <facts> FROM events WHERE … GROUP BY contact_id)`` per branch."""
        make: dict[str, type[exp.Func]] = {"count": exp.Count, "sum": exp.Sum, "min": exp.Min, "max": exp.Max}
        joins = []
        for branch, select in enumerate(self._branch_selects):
            alias = f"{FACTS}{branch}"
            columns: list[exp.Expr] = [exp.column("contact_id")]
            for name, aggregate, value, b in self._fact_specs:
                if b != branch:
                    continue
                aggregated: exp.Expr = make[aggregate](this=exp.Star() if value is None else exp.column(value))
                columns.append(exp.alias_(aggregated, name, copy=False))
            source = select.copy().select(*columns, append=False, copy=False).group_by(
                exp.column("contact_id"), copy=False)
            condition = exp.EQ(this=col(alias, "contact_id"), expression=col("c", "id"))
            joins.append(exp.Join(this=source.subquery(alias, copy=False), on=condition, side="LEFT"))
        return joins

    def from_contacts(self, *projections: exp.Expr, source: str = "contacts") -> exp.Select:
        """``SELECT projections FROM source AS c`` with this statement's joins."""
        select = exp.select(*projections).from_(exp.alias_(exp.to_table(source), "c", table=True), copy=False)
        joins = [*self.joins, *self._fact_joins()] if self._facts else self.joins
        for join in joins:
            select = select.join(join, copy=False)
        return select


def window_where(query: Query, column: str, span: Span) -> str:
    """Template text bounding ``column`` to a span (placeholders named ``lo``/``hi``)."""
    return (f"{column} >= :lo AND {column} < :hi" if span.lo is not None else f"{column} < :hi")


@dataclass(frozen=True)
class OrderFacts:
    """Per-contact order columns of a window: ``n`` orders and ``s`` minor units (0 without orders),
    ``f``/``l`` the first and last instants (NULL without orders)."""

    n: exp.Expr
    s: exp.Expr
    f: exp.Expr
    l: exp.Expr  # noqa: E741 - first/last


ORDER_COLUMNS = ("cust", "n", "s", "span", "gaps")


class Compiler(Visitor[exp.Expr]):
    """Compiles a filter at one instant to a predicate over ``contacts AS c`` (registering joins).

    ``top``: the predicate is the statement's ``WHERE``. A condition that is a top-level conjunct
    there becomes a semi-join ``c.id IN (SELECT contact_id …)``, which every engine runs as one
    (PostgreSQL pulls it up into a semi-join, SQLite builds the list once, DuckDB a mark join).
    Under ``NOT`` or ``OR``, or in a projection, it becomes a ``LEFT JOIN`` of the contact ids
    grouped once, tested ``IS [NOT] NULL``: PostgreSQL cannot turn ``NOT IN`` or an ``IN`` inside
    ``OR`` into a join, and falls back to scanning the subquery's rows per contact when they do not
    fit ``work_mem``.
    """

    def __init__(self, query: Query, at: datetime, currency: str, *, top: bool = True) -> None:
        self.q = query
        self.at = at
        self.at_us = to_micros(at)
        self.currency = currency
        self.top = top

    @contextmanager
    def nested(self) -> Iterator[None]:
        """Compile what follows as not a top-level conjunct (under ``NOT``/``OR``, in a ``CASE``)."""
        top, self.top = self.top, False
        try:
            yield
        finally:
            self.top = top

    def semi(self, rows: exp.Expr) -> exp.Expr:
        """Contacts with a row in ``rows`` (``SELECT contact_id …``): a semi-join or a grouped join."""
        if self.top:
            return self.q.semi(rows)
        assert isinstance(rows, exp.Select)
        grouped = rows.group_by(rows.expressions[0].copy(), copy=False)
        return not_null(col(self.q.join(object(), lambda: grouped), "contact_id"))

    def having(self, rows: exp.Expr, test: exp.Expr, *, zero_holds: bool) -> exp.Expr:
        """Contacts whose ``rows`` pass the aggregate ``test`` (see :meth:`Query.having`); when the
        test holds for a contact without rows (``zero_holds``) the complement is tested, as a
        grouped join (``IS NULL``), never as ``NOT IN``."""
        assert isinstance(rows, exp.Select)
        if isinstance(test, exp.Boolean):
            if bool(test.this) == zero_holds:
                return exp.true() if zero_holds else exp.false()
            if not zero_holds:
                return self.semi(rows)
            with self.nested():
                return not_(self.semi(rows))
        if self.top and not zero_holds:
            return self.q.having(rows, test, zero_holds=False)
        grouped = rows.group_by(rows.expressions[0].copy(), copy=False).having(
            not_(test) if zero_holds else test, copy=False)
        found = col(self.q.join(object(), lambda: grouped), "contact_id")
        return is_null(found) if zero_holds else not_null(found)

    # --- shape -----------------------------------------------------------------------------------

    def visit_and(self, f: _AndNode) -> exp.Expr:
        return and_(*(p.accept(self) for p in f.parts))

    def visit_or(self, f: _Or) -> exp.Expr:
        with self.nested():
            return or_(*(p.accept(self) for p in f.parts))

    def visit_not(self, f: _Not) -> exp.Expr:
        with self.nested():
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
        plain = f.products is None and f.category_keys is None
        ids = (("campaign_id", f.campaigns) if f.campaigns is not None
               else ("form_id", f.forms) if f.forms is not None else None)
        if f.at_least == 1 and f.at_most is None:  # "did it at least once": a semi-join, no counting
            if plain:
                return self.semi(self.q.event_rows((f.event_type,), span, ids=ids))
            return self.semi(self.item_rows(f, span, "{t}contact_id"))
        rows: exp.Expr
        if plain:
            rows, n = self.q.event_rows((f.event_type,), span, ids=ids), exp.Count(this=exp.Star())
        else:
            rows = self.item_rows(f, span, "{t}contact_id")
            joined = f.products is not None and f.category_keys is not None  # item_rows' join form: ``i.``
            n = exp.Count(this=exp.Distinct(expressions=[exp.column("event_id", table="i" if joined else None)]))
        conditions: list[exp.Expr] = []
        if f.at_least > 0:
            conditions.append(exp.GTE(this=n, expression=self.q.value(f.at_least)))
        if f.at_most is not None:
            conditions.append(exp.LTE(this=n.copy(), expression=self.q.value(f.at_most)))
        return self.having(rows, and_(*conditions), zero_holds=f.at_least == 0)

    def item_rows(self, f: _Count, span: Span, projection: str, group: str = "") -> exp.Expr:
        """``SELECT projection`` over the item rows a count with products or categories counts.

        ``{t}`` in ``projection`` and ``group`` stands for the table prefix of the join form (``i.``)."""
        event_type = f.event_type
        assert event_type.replace("_", "").isalpha()  # a constant of model.py, safe as a literal
        categories = f.category_keys
        bounds = {"hi": span.hi} if span.lo is None else {"lo": span.lo, "hi": span.hi}
        if f.products is not None and categories is not None:
            return self.q.fill(
                f"SELECT {projection.format(t='i.')} "
                "FROM items AS i JOIN item_categories AS ic ON ic.event_id = i.event_id AND ic.item_no = i.item_no "
                f"WHERE i.type = '{event_type}' AND i.product_id IN (:products) AND ic.cat_key IN (:categories) "
                f"AND {window_where(self.q, 'i.at_us', span)}{group.format(t='i.')}",
                products=f.products, categories=categories, **bounds)
        if f.products is not None:
            return self.q.fill(
                f"SELECT {projection.format(t='')} FROM items WHERE type = '{event_type}' AND product_id IN "
                f"(:products) AND {window_where(self.q, 'at_us', span)}{group.format(t='')}",
                products=f.products, **bounds)
        assert categories is not None
        return self.q.fill(
            f"SELECT {projection.format(t='')} FROM item_categories WHERE type = '{event_type}' AND cat_key IN "
            f"(:categories) AND {window_where(self.q, 'at_us', span)}{group.format(t='')}",
            categories=categories, **bounds)

    def orders(self, span: Span) -> OrderFacts:
        """Per contact: ``n`` orders, ``s`` minor units, ``f``/``l`` first and last instants in the span."""
        return OrderFacts(n=coalesce(self.q.fact("count", ("order",), span), num(0)),
                          s=coalesce(self.q.fact("sum", ("order",), span, value="value_minor"), num(0)),
                          f=self.q.fact("min", ("order",), span, value="at_us"),
                          l=self.q.fact("max", ("order",), span, value="at_us"))

    def visit_money(self, f: _Money) -> exp.Expr:
        span = f.within.span(self.at)
        scale = 10 ** exponent(self.currency)
        lo = None if f.at_least is None else Fraction(f.at_least) * scale
        hi = None if f.at_most is None else Fraction(f.at_most) * scale
        if f.measure == "spent":
            zero_holds = (lo is None or lo <= 0) and (hi is None or hi >= 0)
            if span.empty:
                return exp.true() if zero_holds else exp.false()
            total = coalesce(exp.Sum(this=exp.column("value_minor")), num(0))
            conditions: list[exp.Expr] = []
            if lo is not None and lo > 0:  # integer sums: s >= lo  ⇔  s >= ceil(lo)
                conditions.append(exp.GTE(this=total, expression=self.wide_int(math.ceil(lo))))
            if hi is not None:
                conditions.append(exp.LTE(this=total.copy(), expression=self.wide_int(math.floor(hi))))
            if not conditions:
                return exp.true()
            return self.having(self.q.event_rows(("order",), span), and_(*conditions), zero_holds=zero_holds)
        if f.measure != "aov":
            raise UnsupportedFilter(f"the SQL compiler cannot handle the money measure {f.measure!r}")
        if span.empty:
            return exp.false()
        # a contact without orders has no mean: only contacts with orders are grouped
        conditions = []
        if lo is not None:
            conditions.append(self.mean_compared(lo, at_least=True))
        if hi is not None:
            conditions.append(self.mean_compared(hi, at_least=False))
        return self.having(self.q.event_rows(("order",), span), and_(*conditions), zero_holds=False)

    def wide_int(self, value: int) -> exp.Expr:
        """A bound on a sum: a parameter, or past 64 bits a DECIMAL(38, 0) made from its digits.

        SQLite and Spark cannot bind an integer beyond 64 bits; their sums stop there too, but
        DuckDB's and PostgreSQL's do not, so the bound must keep its exact value. Past 10^38 - 1
        it is clamped: no sum of 64-bit values reaches it."""
        if -MAX_INT64 - 1 <= value <= MAX_INT64:
            return self.q.value(value)
        clamped = max(-MAX_DECIMAL38, min(MAX_DECIMAL38, value))
        return exp.Cast(this=self.q.value(str(clamped)), to=exp.DataType.build("DECIMAL(38, 0)"))

    def mean_compared(self, bound: Fraction, *, at_least: bool) -> exp.Expr:
        """``SUM(value_minor) / COUNT(*) >= bound`` (or ``<=``), exactly, in 64-bit integers.

        The mean ``s / n`` is split into its whole part ``k = s DIV n`` and remainder ``r = s - k * n``;
        the bound into its whole part ``a`` and a fraction, replaced by its nearest neighbour with a
        denominator ``d`` of at most ``MAX_ORDERS`` (:func:`~engagekit.money.neighbours`): ``r / n``
        has ``n <= MAX_ORDERS``, so the comparison is unchanged. Then ``mean >= bound`` is
        ``k > a OR (k = a AND r * d >= c * n)``, where no product passes 2^62. (Cross-multiplying,
        ``s * q >= p * n``, overflowed SQLite and Spark for a bound finer than the currency.)
        """
        s, n = exp.Sum(this=exp.column("value_minor")), exp.Count(this=exp.Star())
        whole = math.floor(bound)
        if whole > MAX_INT64:  # every order fits 64 bits, so every mean does
            return exp.false() if at_least else exp.true()
        lower, upper = neighbours(bound - whole, MAX_ORDERS)
        part = upper if at_least else lower
        if part == 1:  # at_least: r / n < 1 always, so the whole part must be larger
            whole, part = whole + 1, Fraction(0)
            if whole > MAX_INT64:
                return exp.false()
        k = exp.IntDiv(this=s.copy(), expression=n.copy())
        if part == 0 and at_least:
            return exp.GTE(this=k, expression=self.q.value(whole))
        a = self.q.value(whole)
        # r = s - k * n, not s % n: "%" is psycopg's placeholder character
        r = _paren(exp.Sub(this=s.copy(), expression=exp.Mul(this=k.copy(), expression=n.copy())))
        exact = exp.Mul(this=r, expression=self.q.value(part.denominator))
        scaled = exp.Mul(this=self.q.value(part.numerator), expression=n.copy())
        beyond = exp.GT(this=k, expression=a) if at_least else exp.LT(this=k, expression=a)
        tie = exp.GTE(this=exact, expression=scaled) if at_least else exp.LTE(this=exact, expression=scaled)
        return or_(beyond, and_(exp.EQ(this=k.copy(), expression=a.copy()), tie))

    def status_expr(self) -> exp.Expr:
        """The subscription status of ``c`` at the instant (latest subscribe/unsubscribe, else declared)."""
        upto = Span(None, self.at_us + 1)
        s = self.q.fact("max", ("subscribe",), upto, value="at_us")
        u = self.q.fact("max", ("unsubscribe",), upto, value="at_us")
        unsubscribed = and_(not_null(u), or_(is_null(s), exp.GTE(this=u.copy(), expression=s.copy())))
        return exp.Case(
            ifs=[exp.If(this=unsubscribed, true=lit("unsubscribed")),
                 exp.If(this=not_null(s.copy()), true=lit("subscribed"))],
            default=col("c", "status"))

    def visit_status(self, f: _Status) -> exp.Expr:
        return exp.In(this=self.status_expr(), expressions=self.q.values(f.values))

    def blocked_expr(self) -> exp.Expr:
        return self.semi(self.q.event_rows(BLOCKING_TYPES, Span(None, self.at_us + 1)))

    def active_expr(self, timeframe: timedelta) -> exp.Expr:
        span = Span(_start_us(self.at_us, timeframe) + 1, self.at_us + 1)
        return self.semi(self.q.event_rows(ENGAGEMENT_TYPES, span))

    def state_expr(self, state: str, timeframe: timedelta) -> exp.Expr:
        if state == "blocked":
            return self.blocked_expr()
        with self.nested():
            not_blocked = not_(self.blocked_expr())
        if state == "engaged":
            return and_(not_blocked, self.active_expr(timeframe))
        with self.nested():
            return and_(not_blocked, not_(self.active_expr(timeframe)))

    def state_case(self, timeframe: timedelta) -> exp.Expr:
        """``'blocked'`` / ``'engaged'`` / ``'unengaged'`` of ``c`` at the instant."""
        with self.nested():
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
        return self.semi(self.q.fill("SELECT contact_id FROM contact_tags WHERE tag_key = :key", key=key))

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
    # As one writes it by hand: the members ``m`` first; then the engaged among them (semi-joins)
    # and the orders aggregated for those members only — no pass over every contact's orders.
    q = Query()
    where = and_(exists_at(q, at), flt.accept(Compiler(q, at, currency)))
    members = q.from_contacts(col("c", "id")).where(where, copy=False)
    among = Query()
    among.params = q.params  # one statement: one set of placeholder names
    engaged = Compiler(among, at, currency).state_expr("engaged", engaged_timeframe)
    count_engaged = among.from_contacts(exp.Count(this=exp.Star()), source="m").where(
        engaged, copy=False).subquery(copy=False)
    m = exp.alias_(exp.to_table("m"), "c", table=True)
    count_all = exp.select(exp.Count(this=exp.Star())).from_(m, copy=False).subquery(copy=False)
    span = within.span(at)
    if span.empty:
        select = exp.select(count_all, count_engaged, *([num(0)] * 5))
    else:
        bounds = {"hi": span.hi} if span.lo is None else {"lo": span.lo, "hi": span.hi}
        orders = q.fill("SELECT contact_id, COUNT(*) AS n, SUM(value_minor) AS s, MIN(at_us) AS f, MAX(at_us) AS l "
                        f"FROM events WHERE type = 'order' AND {window_where(q, 'at_us', span)} "
                        "AND contact_id IN (SELECT id FROM m) GROUP BY contact_id", **bounds)
        assert isinstance(orders, exp.Select)
        o = OrderFacts(n=col("o", "n"), s=coalesce(col("o", "s"), num(0)), f=col("o", "f"), l=col("o", "l"))
        select = exp.select(count_all, count_engaged, *_order_aggregates(o)).from_(
            orders.subquery("o", copy=False), copy=False)
    return select.with_("m", as_=members, copy=False), q


def _sum_if(condition: exp.Expr) -> exp.Expr:
    return coalesce(exp.Sum(this=exp.Case(ifs=[exp.If(this=condition, true=num(1))], default=num(0))), num(0))


def _order_aggregates(o: OrderFacts) -> list[exp.Expr]:
    """customers, orders, revenue, tbo span and gaps summed over the rows (SPEC §4 totals)."""
    return [coalesce(exp.Sum(this=column), num(0)) for column in _order_columns(o)]


def _order_columns(o: OrderFacts) -> list[exp.Expr]:
    """Per contact: is a customer (0/1), orders, revenue, tbo span (microseconds between first and last
    order when two or more), tbo gaps (orders - 1 when two or more)."""
    many = exp.GTE(this=o.n.copy(), expression=num(2))
    return [
        exp.Case(ifs=[exp.If(this=exp.GT(this=o.n.copy(), expression=num(0)), true=num(1))], default=num(0)),
        o.n.copy(),
        o.s.copy(),
        exp.Case(ifs=[exp.If(this=many, true=exp.Sub(this=o.l.copy(), expression=o.f.copy()))], default=num(0)),
        exp.Case(ifs=[exp.If(this=many.copy(), true=exp.Sub(this=o.n.copy(), expression=num(1)))],
                 default=num(0)),
    ]


def dashboard_select(in_view: Filter, timeframe: timedelta, at: datetime, before: datetime, *, currency: str,
                     engaged_timeframe: timedelta) -> tuple[exp.Select, Query]:
    """Rows ``(state_before, state_now, contacts, engaged, customers, orders, revenue, tbo_span, tbo_gaps)``.

    One statement answers the whole contacts dashboard of SPEC §5: the flows, and every group's
    metrics as sums over the rows that share ``state_now``.
    """
    q = Query()
    now, then = Compiler(q, at, currency, top=False), Compiler(q, before, currency, top=False)

    def state(compiler: Compiler, moment: datetime) -> exp.Expr:
        view = in_view.accept(compiler)
        return exp.Case(ifs=[exp.If(this=exp.GT(this=col("c", "created_us"), expression=q.value(to_micros(moment))),
                                    true=lit("absent")),
                             exp.If(this=not_(view), true=lit("outside"))],
                        default=compiler.state_case(timeframe))

    sb = state(then, before)
    sn = state(now, at)
    engaged = now.state_expr("engaged", engaged_timeframe)
    orders = _order_columns(now.orders(EVER.span(at)))
    inner = q.from_contacts(
        exp.alias_(sb, "sb"), exp.alias_(sn, "sn"),
        exp.alias_(exp.Case(ifs=[exp.If(this=engaged, true=num(1))], default=num(0)), "eng"),
        *(exp.alias_(column, name) for column, name in zip(orders, ORDER_COLUMNS, strict=True)),
    ).where(exists_at(q, at), copy=False)
    t = "t"
    outer = exp.select(
        col(t, "sb"), col(t, "sn"), exp.Count(this=exp.Star()),
        *(exp.Sum(this=col(t, name)) for name in ("eng", "cust", "n", "s", "span", "gaps")),
    ).from_(inner.subquery(t, copy=False), copy=False).group_by(col(t, "sb"), col(t, "sn"), copy=False)
    return outer, q


def preview_select(flt: Filter, against: Filter, at: datetime, currency: str, *,
                   examples: int = 10) -> tuple[exp.Select, Query]:
    """One statement for SPEC §9's preview: rows ``(kind, n, id)``, ``kind`` one of ``entering``,
    ``leaving``, ``staying``, ``n`` that kind's count, ``id`` one of its ``examples`` smallest ids
    (code-point order: SQLite's and DuckDB's binary order, PostgreSQL's ``COLLATE "C"``). A kind
    without contacts has no row.

    Both member sets are CTEs; each id is tagged 1 (new filter) or 2 (``against``) and summed per
    id, so 1 is entering, 2 leaving and 3 staying, with no FULL JOIN (older SQLite lacks it).
    """
    q = Query()
    where = and_(exists_at(q, at), flt.accept(Compiler(q, at, currency)))  # first: it registers the joins
    new = q.from_contacts(exp.alias_(col("c", "id"), "id")).where(where, copy=False)
    other = Query()
    other.params = q.params  # one statement: one set of placeholder names
    where = and_(exists_at(other, at), against.accept(Compiler(other, at, currency)))
    old = other.from_contacts(exp.alias_(col("c", "id"), "id")).where(where, copy=False)
    body = q.fill(
        "SELECT r.kind, r.n, r.id FROM (SELECT CASE g.w WHEN 1 THEN 'entering' WHEN 2 THEN 'leaving' "
        "ELSE 'staying' END AS kind, g.id AS id, ROW_NUMBER() OVER (PARTITION BY g.w ORDER BY g.id) AS rn, "
        "COUNT(*) OVER (PARTITION BY g.w) AS n FROM (SELECT t.id AS id, SUM(t.w) AS w FROM "
        "(SELECT id, 1 AS w FROM a UNION ALL SELECT id, 2 AS w FROM b) AS t GROUP BY t.id) AS g) AS r "
        "WHERE r.rn <= :examples", examples=examples)
    assert isinstance(body, exp.Select)
    return body.with_("a", as_=new, copy=False).with_("b", as_=old, copy=False), q


GRID_COLUMNS = ("existed_before", "status_before", "status_now", "state_before", "state_now", "contacts",
                "engaged", "customers", "orders", "revenue", "tbo_span", "tbo_gaps")


def dashboard_grid_select(timeframe: timedelta, at: datetime, before: datetime, *,
                          engaged_timeframe: timedelta) -> tuple[exp.Select, Query]:
    """The contacts of ``at`` grouped by what every dashboard view is made of: rows of
    :data:`GRID_COLUMNS`.

    A view of SPEC §5 is a set of subscription statuses, so the flows and group metrics of every
    view are sums over these rows (``SQLStore`` adds them up in Python: a few dozen rows). The
    per-contact facts come from four scans of ``events`` — subscription changes, blocking events,
    engagement (the three windows at once) and orders — each aggregated once per contact with
    conditional aggregates, then joined: the query one writes by hand for a dashboard.
    """
    q = Query()
    at_us, before_us = to_micros(at), to_micros(before)
    hi_n, hi_b = at_us + 1, before_us + 1
    lo_n, lo_b = _start_us(at_us, timeframe) + 1, _start_us(before_us, timeframe) + 1
    lo_30 = _start_us(at_us, engaged_timeframe) + 1
    status = (
        "CASE WHEN sk.u_{w} IS NOT NULL AND (sk.s_{w} IS NULL OR sk.u_{w} >= sk.s_{w}) THEN 'unsubscribed' "
        "WHEN sk.s_{w} IS NOT NULL THEN 'subscribed' ELSE c.status END")
    tree = q.fill(
        "SELECT f.eb, f.st_b, f.st_n, f.cls_b, f.cls_n, COUNT(*), SUM(f.eng), "
        "SUM(CASE WHEN f.n > 0 THEN 1 ELSE 0 END), SUM(f.n), SUM(f.s), "
        "SUM(CASE WHEN f.n >= 2 THEN f.l - f.f ELSE 0 END), SUM(CASE WHEN f.n >= 2 THEN f.n - 1 ELSE 0 END) "
        "FROM (SELECT CASE WHEN c.created_us < :hi_b THEN 1 ELSE 0 END AS eb, "
        f"{status.format(w='b')} AS st_b, {status.format(w='n')} AS st_n, "
        "CASE WHEN blk.first_us < :hi_b THEN 'blocked' WHEN act.a_b = 1 THEN 'engaged' ELSE 'unengaged' END AS cls_b, "
        "CASE WHEN blk.first_us IS NOT NULL THEN 'blocked' WHEN act.a_n = 1 THEN 'engaged' ELSE 'unengaged' END "
        "AS cls_n, CASE WHEN blk.first_us IS NULL AND act.a_30 = 1 THEN 1 ELSE 0 END AS eng, "
        "COALESCE(o.n, 0) AS n, COALESCE(o.s, 0) AS s, o.f AS f, o.l AS l "
        "FROM contacts AS c "
        "LEFT JOIN (SELECT contact_id, MAX(CASE WHEN type = 'subscribe' THEN at_us END) AS s_n, "
        "MAX(CASE WHEN type = 'unsubscribe' THEN at_us END) AS u_n, "
        "MAX(CASE WHEN type = 'subscribe' AND at_us < :hi_b THEN at_us END) AS s_b, "
        "MAX(CASE WHEN type = 'unsubscribe' AND at_us < :hi_b THEN at_us END) AS u_b "
        "FROM events WHERE type IN ('subscribe', 'unsubscribe') AND at_us < :hi_n GROUP BY contact_id) AS sk "
        "ON sk.contact_id = c.id "
        "LEFT JOIN (SELECT contact_id, MIN(at_us) AS first_us FROM events "
        f"WHERE type IN ({_type_list(BLOCKING_TYPES)}) AND at_us < :hi_n GROUP BY contact_id) AS blk "
        "ON blk.contact_id = c.id "
        "LEFT JOIN (SELECT contact_id, MAX(CASE WHEN at_us >= :lo_n THEN 1 ELSE 0 END) AS a_n, "
        "MAX(CASE WHEN at_us >= :lo_b AND at_us < :hi_b THEN 1 ELSE 0 END) AS a_b, "
        "MAX(CASE WHEN at_us >= :lo_30 THEN 1 ELSE 0 END) AS a_30 FROM events "
        f"WHERE type IN ({_type_list(ENGAGEMENT_TYPES)}) AND at_us >= :lo AND at_us < :hi_n "
        "GROUP BY contact_id) AS act ON act.contact_id = c.id "
        "LEFT JOIN (SELECT contact_id, COUNT(*) AS n, SUM(value_minor) AS s, MIN(at_us) AS f, MAX(at_us) AS l "
        "FROM events WHERE type = 'order' AND at_us < :hi_n GROUP BY contact_id) AS o ON o.contact_id = c.id "
        "WHERE c.created_us < :hi_n) AS f "
        "GROUP BY f.eb, f.st_b, f.st_n, f.cls_b, f.cls_n",
        hi_n=hi_n, hi_b=hi_b, lo_n=lo_n, lo_b=lo_b, lo_30=lo_30, lo=min(lo_n, lo_b, lo_30))
    assert isinstance(tree, exp.Select)
    return tree, q


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


CONTACT_KEYED = frozenset(("events", "items", "item_categories", "contact_tags", "contact_attributes"))
"""Tables with a ``contact_id`` column, each indexed on it first (schema ``INDEXES``, ``PG_INDEXES``)."""


def one_contact(flt: Filter, contact_id: str, at: datetime, currency: str) -> tuple[exp.Select, Query]:
    """``SELECT <holds>`` for one contact (no row when it does not exist at ``at``).

    Every derived table reads only that contact's rows: a ``contact_id = :cid`` is added for each
    contact-keyed table it scans (see :func:`_only_contact`).
    """
    q = Query()
    predicate = flt.accept(Compiler(q, at, currency, top=False))  # a projection, not a WHERE
    holds = exp.Case(ifs=[exp.If(this=predicate, true=num(1))], default=num(0))
    where = and_(exp.EQ(this=col("c", "id"), expression=q.value(contact_id)), exists_at(q, at))
    return _only_contact(q.from_contacts(holds).where(where, copy=False), q, contact_id), q


def _only_contact(select: exp.Select, q: Query, contact_id: str) -> exp.Select:
    """Restrict every subquery of ``select`` to the rows of one contact.

    The derived tables are joined on ``contact_id = c.id`` with ``c.id = :cid``, so rows of other
    contacts never reach the result; but SQLite materialises a grouped derived table before the join
    (it cannot push ``c.id`` into it), and would aggregate every contact's rows for one answer. With
    ``contact_id = :cid`` inside, each is an index search on the contact's rows in every dialect.
    Rows of one event share its contact, so a join of items and categories restricts both tables.
    """
    for sub in list(select.find_all(exp.Select)):
        if sub is select:
            continue
        sources = [sub.args.get("from_") or sub.args.get("from"), *(sub.args.get("joins") or [])]
        for source in sources:
            table = source.this if source is not None else None
            if isinstance(table, exp.Table) and table.name in CONTACT_KEYED:
                key = col(table.alias, "contact_id") if table.alias else exp.column("contact_id")
                sub.where(exp.EQ(this=key, expression=q.value(contact_id)), append=True, copy=False)
    return select


def matching_events_select(leaf: _Count, contact_id: str, span: Span) -> tuple[exp.Expr, Query]:
    """``(at_us, id)`` of one contact's events that a count leaf counts, instants in ``span``."""
    q = Query()
    event_type = leaf.event_type
    assert event_type.replace("_", "").isalpha()
    bounds = {"hi": span.hi} if span.lo is None else {"lo": span.lo, "hi": span.hi}
    extra, values = "", {}
    categories = leaf.category_keys
    if leaf.products is not None or categories is not None:
        # the contact and type on every table: each is searched through its (contact_id, type, …) index
        conditions = ["i.contact_id = :cid", f"i.type = '{event_type}'"]
        join = ""
        if leaf.products is not None:
            conditions.append("i.product_id IN (:products)")
            values["products"] = leaf.products
        if categories is not None:
            join = " JOIN item_categories AS ic ON ic.event_id = i.event_id AND ic.item_no = i.item_no"
            conditions.extend(("ic.contact_id = :cid", f"ic.type = '{event_type}'", "ic.cat_key IN (:categories)"))
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
    if dialect == "sqlite":
        # sqlglot writes SQLite's integer division through REAL, which rounds past 2^53; the
        # operands here are integers, for which SQLite's own "/" is the exact quotient
        tree = tree.transform(lambda node: exp.Div(this=node.this, expression=node.expression, typed=True)
                              if isinstance(node, exp.IntDiv) else node)
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


__all__ = ["GRID_COLUMNS", "Compiler", "Query", "compile_members", "dashboard_grid_select", "dashboard_select",
           "members_select", "one_contact", "preview_select",
           "render", "totals_select", "used_params", "value_rows_select"]
