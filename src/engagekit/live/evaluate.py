"""Per-contact evaluation for the live engine: a filter compiled into closures over one contact.

The engine keeps, per contact, time-sorted ``array('q')`` columns of event instants (microseconds),
one per *matcher* (an event type with a product / category / campaign / form condition), shared by
every condition that counts the same events whatever its window or bounds. A compiled node is a
closure ``node(state, t) -> (value, next)``: its value for that contact at instant ``t``, and an
instant ``next > t`` before which the value cannot change unless new records arrive (``NEVER`` when
it never will). ``next`` is derived from the node's windows: an event leaves ``last(N)`` and enters
``before(N)`` at exactly ``event.at + N``; a count condition knows how many expiries it takes to
flip; an engagement class changes when the newest engaging event leaves the timeframe; records
already stored but later than ``t`` are candidates too. ``&`` and ``|`` take the earliest ``next``
of their parts, except that a part that decides the result for good (false in ``&``, true in
``|``, with no next change) decides the result for good.

This is one more target of the filter walk (STYLE §2): :class:`Compiler` is a visitor.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from calendar import monthrange
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Context, Decimal
from functools import lru_cache
from typing import Any

from engagekit.errors import UnsupportedFilter
from engagekit.filters import (
    Filter,
    Visitor,
    _And,
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
    profile_key,
)
from engagekit.model import BLOCKING_TYPES, ENGAGEMENT_TYPES, PRODUCT_TYPES, Contact
from engagekit.text import norm_key
from engagekit.time import Duration, Window, _Before, _Between, _Ever, _Last, from_micros, to_micros

NEVER = 1 << 62
# exact products of a money bound (at most 80 digits, filters.MONEY_DIGITS) and an order count
_EXACT = Context(prec=200)
"""An instant after every real one: "no change ahead"."""

Result = tuple[Any, int]
Node = Callable[["ContactState", int], Result]

STATES = ("engaged", "unengaged", "blocked")
_STATE_INDEX = {name: i for i, name in enumerate(STATES)}

# matcher encodings
PLAIN, STATUS, MONEY = 0, 1, 2


class ContactState:
    """What the engine knows of one contact: its record and its event columns per matcher."""

    __slots__ = ("cache", "contact", "created", "due", "lists", "next", "values")

    def __init__(self) -> None:
        self.contact: Contact | None = None
        self.created: int = NEVER
        self.lists: list[array[int] | None] = []  # by matcher id (may be shorter: missing is empty)
        self.values: list[Decimal] | None = None  # order values, parallel to the orders column
        self.due: list[int] = []  # per engine slot: the next instant its value may change
        self.next: int = NEVER  # min(due): the contact's entry in the engine's heap
        self.cache: list[bool | None] | None = None  # conditions on the contact's record, by index


@lru_cache(maxsize=1 << 16)
def _key(name: str) -> str | None:
    return norm_key(name)


def _item_matcher(products: frozenset[str] | None,
                  categories: frozenset[str] | None) -> Callable[[Any, tuple[str, ...]], bool]:
    memo: dict[tuple[str, ...], bool] = {}

    def test(product_id: Any, names: tuple[str, ...]) -> bool:
        if products is not None and product_id not in products:
            return False
        if categories is None:
            return True
        found = memo.get(names)
        if found is None:
            if len(memo) > 100_000:
                memo.clear()
            found = memo[names] = any(_key(n) in categories for n in names)
        return found
    return test


def count_predicate(node: _Count) -> Callable[[Any], bool] | None:
    """Which events of ``node``'s type it counts (``None``: all of them), as the reference says."""
    etype = node.event_type
    if etype == "order" or etype in PRODUCT_TYPES:
        if node.products is None and node.categories is None:
            return None
        test = _item_matcher(node.products, node.category_keys)
        if etype == "order":
            return lambda e: any(test(i.product_id, i.categories) for i in e.items)
        return lambda e: test(e.product_id, e.categories)
    if etype == "subscribe":
        forms = node.forms
        return None if forms is None else (lambda e: e.form_id in forms)
    campaigns = node.campaigns
    return None if campaigns is None else (lambda e: e.campaign_id in campaigns)


class Matchers:
    """The registry of event columns, shared by every compiled filter of one engine."""

    def __init__(self) -> None:
        self.ids: dict[tuple[Any, ...], int] = {}
        self.by_type: dict[str, list[tuple[int, Callable[[Any], bool] | None, int]]] = {}
        self.fresh: list[int] = []  # matchers added since the engine last backfilled them
        self.statics = 0  # cache slots of conditions on the contact's record (ContactState.cache)
        self.orders = self.add(("orders",), ("order",), None, MONEY)
        self.status = self.add(("status",), ("subscribe", "unsubscribe"), None, STATUS)
        self.engaging = self.add(("engaging",), tuple(sorted(ENGAGEMENT_TYPES)), None, PLAIN)
        self.blocking = self.add(("blocking",), tuple(sorted(BLOCKING_TYPES)), None, PLAIN)
        self.fresh.clear()

    def add(self, key: tuple[Any, ...], types: tuple[str, ...], pred: Callable[[Any], bool] | None,
            encoding: int) -> int:
        mid = self.ids.get(key)
        if mid is None:
            mid = self.ids[key] = len(self.ids)
            for etype in types:
                self.by_type.setdefault(etype, []).append((mid, pred, encoding))
            self.fresh.append(mid)
        return mid

    def count(self, node: _Count) -> int:
        key = ("count", node.event_type, node.products, node.category_keys, node.campaigns, node.forms)
        return self.add(key, (node.event_type,), count_predicate(node), PLAIN)

    def ingest(self, st: ContactState, event: Any, t: int, only: frozenset[int] | None = None) -> None:
        """Put one event (anything with Event's attributes) at instant ``t`` into the contact's columns."""
        for mid, pred, encoding in self.by_type.get(event.type, ()):
            if only is not None and mid not in only:
                continue
            if pred is not None and not pred(event):
                continue
            lists = st.lists
            if mid >= len(lists):
                lists.extend([None] * (mid + 1 - len(lists)))
            column = lists[mid]
            if column is None:
                column = lists[mid] = array("q")
            value = t * 2 + (event.type == "unsubscribe") if encoding == STATUS else t
            if not column or value >= column[-1]:
                index = len(column)
                column.append(value)
            else:
                index = bisect_right(column, value)
                column.insert(index, value)
            if encoding == MONEY:
                if st.values is None:
                    st.values = []
                st.values.insert(index, event.value)


# --- windows ------------------------------------------------------------------------------------------


class Edge:
    """A duration's boundary arithmetic in microseconds.

    ``threshold(t)``: an event at ``x`` is in ``last(N)`` at ``t`` iff ``x > threshold(t)`` (and in
    ``before(N)`` iff ``x <= threshold(t)``). ``crossing(x, t)``: an instant after ``t`` no later
    than the first at which an event at ``x`` leaves ``last(N)`` (enters ``before(N)``). For exact
    durations that is exactly ``x + N``, and ``threshold`` only grows.

    With months, ``threshold`` is ``t - N`` on the UTC calendar, and it is *not* monotone: a month
    end clamps (``07-30 18:00`` and ``07-31 12:00`` both map to June 30), so at the midnight that
    starts a clamped day the threshold steps back by a day and an event can come back into
    ``last(N)``. Between such midnights (*drops*) it grows; so for months ``crossing`` searches the
    current piece and answers the next drop when the event does not cross within it, and
    ``drop(t)`` (the next drop after ``t``) is a candidate change for every window with months.
    """

    __slots__ = ("duration", "exact")

    def __init__(self, duration: Duration) -> None:
        self.duration = duration
        self.exact: int | None = None
        if not duration.months:
            self.exact = timedelta(weeks=duration.weeks, days=duration.days,
                                   hours=duration.hours) // timedelta(microseconds=1)

    def threshold(self, t: int) -> int:
        if self.exact is not None:
            return t - self.exact
        return _months_threshold(self.duration, t)

    def crossing(self, x: int, t: int) -> int:
        if self.exact is not None:
            return x + self.exact
        return _months_crossing(self.duration, x, t, _next_drop(self.duration.months, t))

    def drop(self, t: int) -> int:
        """The next instant after ``t`` at which the threshold steps back (``NEVER`` if it never does)."""
        if self.exact is not None:
            return NEVER
        return _next_drop(self.duration.months, t)


_DAY = 86_400_000_000


@lru_cache(maxsize=1 << 14)
def _months_threshold(duration: Duration, t: int) -> int:
    return to_micros(duration.subtract_from(from_micros(t)))


@lru_cache(maxsize=1 << 12)
def _next_drop(months: int, t: int) -> int:
    """The first midnight after ``t`` whose day of month does not exist ``months`` months earlier."""
    day = t // _DAY + 1
    while True:
        moment = from_micros(day * _DAY)
        earlier = moment.month - months
        year = moment.year + (earlier - 1) // 12
        month = (earlier - 1) % 12 + 1
        if moment.day > monthrange(year, month)[1]:
            return day * _DAY
        day += 1


@lru_cache(maxsize=1 << 16)
def _months_crossing(duration: Duration, x: int, t: int, drop: int) -> int:
    """The least ``u`` in ``(t, drop)`` with ``threshold(u) >= x`` (``threshold(t) < x``, and the
    threshold grows on ``[t, drop)``); ``drop`` itself when there is none."""
    hi = drop - 1
    if _months_threshold(duration, hi) < x:
        return drop
    lo = t
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _months_threshold(duration, mid) >= x:
            hi = mid
        else:
            lo = mid
    return hi


def _bounds(window: Window) -> tuple[str, Edge | None, int, int]:
    if isinstance(window, _Ever):
        return ("ever", None, 0, 0)
    if isinstance(window, _Last):
        return ("last", Edge(window.duration), 0, 0)
    if isinstance(window, _Before):
        return ("before", Edge(window.duration), 0, 0)
    if isinstance(window, _Between):
        return ("between", None, to_micros(window.start), to_micros(window.end))
    raise UnsupportedFilter(f"the live engine cannot handle window {window!r}")


def _window_slice(window: tuple[str, Edge | None, int, int], column: array[int], t: int,
                  vis: int) -> tuple[int, int, int]:
    """``(a, b, change)``: the column's events in the window at ``t`` are ``column[a:b]``; the
    window's own next change (an event crossing its edge) is at ``change``."""
    kind, edge, start, end = window
    if kind == "ever":
        return 0, vis, NEVER
    if kind == "between":
        a = bisect_left(column, start)
        b = bisect_left(column, min(end, t + 1))
        return a, max(a, b), NEVER
    assert edge is not None
    threshold = edge.threshold(t)
    cut = bisect_right(column, threshold, 0, vis)
    change = edge.crossing(column[cut], t) if cut < vis else NEVER
    if edge.exact is None and vis:
        change = min(change, edge.drop(t))
    if kind == "last":
        return cut, vis, change
    return 0, cut, change


def _next_future(kind: str, start: int, end: int, column: array[int], vis: int) -> int:
    """The next stored event after ``t`` (index ``vis``) that can change the window's content."""
    if kind == "between":
        i = max(vis, bisect_left(column, start))
        return column[i] if i < len(column) and column[i] < end else NEVER
    return column[vis] if vis < len(column) else NEVER


# --- the compiler -------------------------------------------------------------------------------------


class Compiler(Visitor[Node]):
    """Compiles a resolved filter into a closure over one contact; records the event types it reads."""

    def __init__(self, matchers: Matchers) -> None:
        self.m = matchers
        self.types: set[str] = set()

    def compile(self, flt: Filter) -> Node:
        body: Node = flt.accept(self)

        def top(st: ContactState, t: int) -> Result:
            if t < st.created:
                return False, st.created
            return body(st, t)
        return top

    def classes(self, timeframe: timedelta) -> Node:
        """The engagement class (index into ``STATES``, -1 for a contact that does not exist)."""
        klass = self._klass(timeframe)

        def top(st: ContactState, t: int) -> Result:
            if t < st.created:
                return -1, st.created
            return klass(st, t)
        return top

    # --- combinators ---

    def visit_and(self, f: _And) -> Node:
        parts = [p.accept(self) for p in f.parts]

        def node(st: ContactState, t: int) -> Result:
            value, nxt = True, NEVER
            for part in parts:
                v, n = part(st, t)
                if not v:
                    if n == NEVER:
                        return False, NEVER
                    value = False
                if n < nxt:  # noqa: PLR1730 - hot path: min() costs a call
                    nxt = n
            return value, nxt
        return node

    def visit_or(self, f: _Or) -> Node:
        parts = [p.accept(self) for p in f.parts]

        def node(st: ContactState, t: int) -> Result:
            value, nxt = False, NEVER
            for part in parts:
                v, n = part(st, t)
                if v:
                    if n == NEVER:
                        return True, NEVER
                    value = True
                if n < nxt:  # noqa: PLR1730 - hot path: min() costs a call
                    nxt = n
            return value, nxt
        return node

    def visit_not(self, f: _Not) -> Node:
        part = f.part.accept(self)

        def node(st: ContactState, t: int) -> Result:
            v, n = part(st, t)
            return not v, n
        return node

    def visit_everyone(self, f: _Everyone) -> Node:
        return lambda st, t: (True, NEVER)

    def visit_in_segment(self, f: _InSegment) -> Node:
        raise UnsupportedFilter(f"the live engine evaluates filters with segments resolved; got {f!r}")

    # --- events ---

    def visit_count(self, f: _Count) -> Node:
        mid = self.m.count(f)
        self.types.add(f.event_type)
        lo, hi = f.at_least, f.at_most
        window = kind, edge, start, end = _bounds(f.within)
        expiring = kind == "last"

        exact_last = expiring and edge is not None and edge.exact is not None
        n = edge.exact if exact_last and edge is not None and edge.exact is not None else 0

        def node(st: ContactState, t: int) -> Result:
            lists = st.lists
            column = lists[mid] if mid < len(lists) else None
            if not column:
                return lo == 0, NEVER
            vis = bisect_right(column, t)
            if exact_last:  # the common case, inlined: last(N) with N exact
                nxt = column[vis] if vis < len(column) else NEVER
                a = bisect_right(column, t - n, 0, vis)
                k = vis - a
                if k < lo:
                    return False, nxt
                if hi is not None and k > hi:
                    e = column[a + k - hi - 1] + n
                    return False, (e if e < nxt else nxt)
                if lo == 0:
                    return True, nxt
                e = column[a + k - lo] + n
                return True, (e if e < nxt else nxt)
            nxt = _next_future(kind, start, end, column, vis)
            a, b, _ = _window_slice(window, column, t, vis)
            k = b - a
            if edge is None:  # ever, between: only new events change the count
                return lo <= k and (hi is None or k <= hi), nxt
            if edge.exact is None:
                nxt = min(nxt, edge.drop(t))  # months: an event may come back (Edge)
            if expiring:  # last(N): column[a:b] leave one by one at crossing(x)
                if k < lo:
                    return False, nxt
                if hi is not None and k > hi:
                    return False, min(nxt, edge.crossing(column[a + k - hi - 1], t))
                if lo == 0:
                    return True, nxt
                return True, min(nxt, edge.crossing(column[a + k - lo], t))
            # before(N): column[b:vis] enter one by one at crossing(x)
            waiting = vis - b
            if hi is not None and k > hi:
                return False, nxt
            if k < lo:
                need = lo - k
                return False, (min(nxt, edge.crossing(column[b + need - 1], t)) if need <= waiting else nxt)
            if hi is None:
                return True, nxt
            need = hi - k + 1
            return True, (min(nxt, edge.crossing(column[b + need - 1], t)) if need <= waiting else nxt)
        return node

    def visit_money(self, f: _Money) -> Node:
        mid = self.m.orders
        self.types.add("order")
        window = kind, _, start, end = _bounds(f.within)
        lo, hi, spent = f.at_least, f.at_most, f.measure == "spent"

        def fits(total: Decimal, n: int) -> bool:
            if spent:
                return (lo is None or total >= lo) and (hi is None or total <= hi)
            # the exact products: the default context rounds a 30-digit bound times n to 28 digits
            return n > 0 and (lo is None or total >= _EXACT.multiply(lo, n)) \
                and (hi is None or total <= _EXACT.multiply(hi, n))

        def node(st: ContactState, t: int) -> Result:
            lists = st.lists
            column = lists[mid] if mid < len(lists) else None
            if not column:
                return fits(Decimal(0), 0), NEVER
            vis = bisect_right(column, t)
            a, b, change = _window_slice(window, column, t, vis)
            values = st.values
            assert values is not None
            total = sum(values[a:b], Decimal(0))
            return fits(total, b - a), min(change, _next_future(kind, start, end, column, vis))
        return node

    def visit_status(self, f: _Status) -> Node:
        mid = self.m.status
        self.types.update(("subscribe", "unsubscribe"))
        wanted = f.values

        def node(st: ContactState, t: int) -> Result:
            lists = st.lists
            column = lists[mid] if mid < len(lists) else None
            if not column:
                assert st.contact is not None
                return st.contact.status in wanted, NEVER
            vis = bisect_right(column, t * 2 + 1)
            nxt = column[vis] >> 1 if vis < len(column) else NEVER
            if vis == 0:
                assert st.contact is not None
                return st.contact.status in wanted, nxt
            return ("unsubscribed" if column[vis - 1] & 1 else "subscribed") in wanted, nxt
        return node

    def _klass(self, timeframe: timedelta) -> Node:
        engaging, blocking = self.m.engaging, self.m.blocking
        self.types.update(ENGAGEMENT_TYPES | BLOCKING_TYPES)
        span = timeframe // timedelta(microseconds=1)

        def klass(st: ContactState, t: int) -> Result:
            lists = st.lists
            size = len(lists)
            blocks = lists[blocking] if blocking < size else None
            nxt = NEVER
            if blocks:
                if blocks[0] <= t:
                    return 2, NEVER
                nxt = blocks[0]
            column = lists[engaging] if engaging < size else None
            if not column:
                return 1, nxt
            vis = bisect_right(column, t)
            if vis < len(column) and column[vis] < nxt:
                nxt = column[vis]
            if vis and column[vis - 1] > t - span:
                expiry = column[vis - 1] + span
                return 0, (expiry if expiry < nxt else nxt)
            return 1, nxt
        return klass

    def visit_engagement(self, f: _Engagement) -> Node:
        klass = self._klass(f.timeframe)
        wanted = _STATE_INDEX[f.state]

        def node(st: ContactState, t: int) -> Result:
            k, n = klass(st, t)
            return k == wanted, n
        return node

    # --- the contact's record ---

    def visit_joined(self, f: _Joined) -> Node:
        kind, edge, start, end = _bounds(f.within)

        def node(st: ContactState, t: int) -> Result:
            created = st.created
            if kind == "ever":
                return True, NEVER
            if kind == "between":
                return start <= created < end, NEVER
            assert edge is not None
            inside = created > edge.threshold(t)
            change = edge.crossing(created, t) if inside else edge.drop(t)
            return (inside if kind == "last" else not inside), change
        return node

    def _cached(self, test: Callable[[Contact], bool]) -> Node:
        index = self.m.statics
        self.m.statics += 1

        def node(st: ContactState, t: int) -> Result:
            cache = st.cache
            if cache is None:
                cache = st.cache = []
            if index >= len(cache):
                cache.extend([None] * (index + 1 - len(cache)))
            value = cache[index]
            if value is None:
                assert st.contact is not None
                value = cache[index] = test(st.contact)
            return value, NEVER
        return node

    def visit_profile(self, f: _Profile) -> Node:
        keys, field = f.keys, f.field
        return self._cached(lambda c: profile_key(field, getattr(c, field)) in keys)

    def visit_has(self, f: _Has) -> Node:
        field = f.field

        def test(c: Contact) -> bool:
            value = getattr(c, field)
            return value is not None and value.strip() != ""
        return self._cached(test)

    def visit_tag(self, f: _Tag) -> Node:
        key = f.key
        return self._cached(lambda c: key in c.tag_keys)

    def visit_attr(self, f: _AttrCompare) -> Node:
        from engagekit.stores.memory import attr_matches

        name, op, values = f.name, f.op, f.values
        return self._cached(lambda c: attr_matches(op, c.attributes.get(name), values))


def micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware UTC datetime (fast path of ``time.to_micros``)."""
    return to_micros(moment)
