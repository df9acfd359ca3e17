"""The fast in-process store: columns of integers, time-sorted indexes and a filter compiler.

A :class:`MemoryStore` keeps no ``Event`` objects. Each event becomes one row of a few integer
columns (``array``): its instant in microseconds, its contact's *slot* (a dense integer standing for a
contact id), its type and a *payload* — an interned number for what it is about (a product with its
categories, an order's basket, a campaign, a form). Per event type a time-sorted copy of those columns
answers every window with two ``bisect`` calls; a filter is compiled by :class:`_Plan` (one method per
node) into set algebra over slots. Indexes are rebuilt lazily on the first question after a write, and
rows appended in time order (the common case) only extend them.

The dashboard (SPEC §5) is not set algebra: one byte per slot holds its state at an instant
(subscription status and engagement class, or absent), so the flows of every view are a count of
(state before, state now) pairs and the metrics per group one pass over per-slot order aggregates.
Member sets, states and aggregates are kept until the next write.

Forgetting a contact detaches its slot: its rows stay in the columns but belong to no contact, so they
count for no one, and a contact added later with the same id starts a fresh slot with no history.
"""

from __future__ import annotations

import operator
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import repeat
from typing import Any

from engagekit.campaigns import CAMPAIGN_ROW_TYPES, CampaignTotals, totals_from_rows
from engagekit.errors import UnsupportedFilter
from engagekit.explain import Preview, preview
from engagekit.filters import (
    DEFAULT_TIMEFRAME,
    STATUS_VALUES,
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
    engaged,
    profile_key,
    view_filter,
)
from engagekit.metrics import OrderTotals
from engagekit.model import (
    BLOCKING_TYPES,
    ENGAGEMENT_TYPES,
    EVENT_TYPES,
    PRODUCT_TYPES,
    Contact,
    Event,
)
from engagekit.money import exponent, to_minor
from engagekit.reports import STATES, Dashboard
from engagekit.text import norm_key
from engagekit.time import EPOCH, EVER, Clock, Instant, Span, Window, as_timedelta, to_micros

from .base import ENGAGEMENT_RATE_TIMEFRAME, StoreBase, ValueRows, _classes

__all__ = ["MemoryStore"]

TYPE_CODE: dict[str, int] = {name: code for code, name in enumerate(EVENT_TYPES)}
ORDER = TYPE_CODE["order"]
SUBSCRIBE = TYPE_CODE["subscribe"]
UNSUBSCRIBE = TYPE_CODE["unsubscribe"]
_PRODUCT_CODES = tuple(TYPE_CODE[t] for t in sorted(PRODUCT_TYPES))
_ENGAGING_CODES = tuple(TYPE_CODE[t] for t in sorted(ENGAGEMENT_TYPES))
_BLOCKING_CODES = tuple(TYPE_CODE[t] for t in sorted(BLOCKING_TYPES))
NOBODY = 2**63 - 1  # created_at of a slot without a contact: it never exists
_ONE_MICROSECOND = timedelta(microseconds=1)
NONE = -1  # payload of an event without a campaign or form
_MEMO_LIMIT = 8_000_000  # slots held by memoised results before the memo is emptied
_GROUPED_SHARE = 4  # use a payload sub-index when it touches < 1/4 of the window's rows
_GROUP_INSERTS = 10_000  # late rows inserted one by one into a sub-index; more rebuild it
_DERIVED_LIMIT = 64  # per-instant derived results kept before they are emptied
# dashboard state codes (one byte per slot): 3 * status index + class index, or absent
_ABSENT = 3 * len(STATUS_VALUES)
_PAIR = _ABSENT + 1  # (state code before, state code now) packed as before * _PAIR + now
_TO_ABSENT = bytes(min(b, _ABSENT) for b in range(256))  # bytes.translate table: codes past _ABSENT → _ABSENT


class _Column:
    """The rows of one event type sorted by instant: parallel ``us``, ``slot``, ``pay`` (and ``val``).

    ``rows`` are the global row numbers in the same order; ``pending`` rows were stored since the last
    sort. ``groups`` (built on demand) splits the sorted rows by payload, so a condition about one
    product or campaign bisects only that payload's rows.
    """

    __slots__ = ("aggregates", "groups", "pay", "pending", "rows", "slot", "us", "val")

    def __init__(self) -> None:
        self.us = array("q")
        self.slot = array("i")
        self.pay = array("i")
        self.val = array("q")  # order values in minor units (orders only)
        self.rows = array("i")
        self.pending = array("i")
        self.groups: dict[int, tuple[array[int], array[int]]] | None = None
        self.aggregates: dict[tuple[int, int], _OrderAggregates] = {}

    def range(self, span: Span) -> tuple[int, int]:
        lo = 0 if span.lo is None else bisect_left(self.us, span.lo)
        return lo, max(lo, bisect_left(self.us, span.hi))

    def visible(self, at_us: int) -> int:
        return bisect_right(self.us, at_us)


class MemoryStore(StoreBase):
    """A fast in-process store (SPEC §1), for notebooks, tests and shops that fit in memory.

    >>> from engagekit import Contact, Event, ordered, last
    >>> store = MemoryStore(currency="PLN")
    >>> store.add_contacts([Contact(id="c1", created_at="2026-01-01T00:00:00+00:00")]).added
    1
    >>> store.add_events([Event(id="e1", contact_id="c1", type="order", at="2026-06-20T10:00:00+00:00",
    ...                         order_id="o1", value="99.90", currency="PLN")]).added
    1
    >>> sorted(store.members(ordered(within=last(days=30)), at="2026-06-30T00:00:00+00:00"))
    ['c1']
    """

    def __init__(self, *, currency: str, clock: Clock | None = None) -> None:
        super().__init__(currency=currency, clock=clock)
        self._exp = exponent(self.currency)
        # contacts, by slot
        self._slot_of: dict[str, int] = {}
        self._slot_id: list[str] = []
        self._contact: list[Contact | None] = []
        self._created = array("q")
        self._slot_rows: list[array[int] | None] = []
        # attribute indexes: slot sets per normalised value
        self._profile: dict[str, dict[str | None, set[int]]] = {
            f: {} for f in ("city", "country", "language", "gender")}
        self._has: dict[str, set[int]] = {"email": set(), "phone": set()}
        self._tags: dict[str, set[int]] = {}
        self._declared: dict[str, set[int]] = {s: set() for s in STATUS_VALUES}
        self._attrs: dict[str, dict[int, Any]] = {}
        # contacts sorted by created_at (lazy)
        self._by_created_us = array("q")
        self._by_created_slot = array("i")
        self._created_dirty = False
        # events: global rows
        self._ev_us = array("q")
        self._ev_slot = array("i")
        self._ev_type = array("b")
        self._ev_pay = array("i")
        self._ev_id: list[str] = []
        self._ev_value: dict[int, int] = {}  # row → order value in minor units
        self._event_ids: set[str] = set()
        self._columns = [_Column() for _ in EVENT_TYPES]
        # interned payloads
        self._pcat_of: dict[tuple[str, tuple[str, ...]], int] = {}
        self._pcat: list[tuple[str, tuple[str, ...], frozenset[str]]] = []  # product, spellings, keys
        self._basket_of: dict[tuple[int, ...], int] = {}
        self._basket: list[tuple[int, ...]] = []
        self._name_of: dict[str, int] = {}  # campaign and form ids
        self._matchers: dict[tuple[Any, ...], tuple[set[int], int]] = {}
        self._memo: dict[tuple[object, int], set[int]] = {}
        self._memo_size = 0
        self._derived: dict[tuple[object, ...], object] = {}  # per-instant results other than slot sets
        self._prefetched: dict[tuple[object, ...], object] = {}  # answers engagement() hands to the base

    # --- writing ------------------------------------------------------------------------------------

    def _slot(self, contact_id: str) -> int:
        slot = self._slot_of.get(contact_id)
        if slot is None:
            slot = len(self._slot_id)
            self._slot_of[contact_id] = slot
            self._slot_id.append(contact_id)
            self._contact.append(None)
            self._created.append(NOBODY)
            self._slot_rows.append(None)
        return slot

    def _store_contacts(self, contacts: list[Contact]) -> tuple[int, int]:
        added = updated = 0
        for contact in contacts:
            slot = self._slot(contact.id)
            old = self._contact[slot]
            if old is None:
                added += 1
            else:
                updated += 1
                self._unindex_contact(slot, old)
            self._contact[slot] = contact
            created = to_micros(contact.created_at)
            self._created[slot] = created
            self._index_contact(slot, contact)
            if old is not None or self._created_dirty or (
                    self._by_created_us and created < self._by_created_us[-1]):
                self._created_dirty = True
            else:
                self._by_created_us.append(created)
                self._by_created_slot.append(slot)
        self._forget_memo()
        return added, updated

    def _index_contact(self, slot: int, contact: Contact) -> None:
        for field, index in self._profile.items():
            index.setdefault(profile_key(field, getattr(contact, field)), set()).add(slot)
        for field, holders in self._has.items():
            if getattr(contact, field) is not None:
                holders.add(slot)
        for key in contact.tag_keys:
            self._tags.setdefault(key, set()).add(slot)
        self._declared[contact.status].add(slot)
        for name, value in contact.attributes.items():
            if value is not None:
                self._attrs.setdefault(name, {})[slot] = value

    def _unindex_contact(self, slot: int, contact: Contact) -> None:
        for field, index in self._profile.items():
            index[profile_key(field, getattr(contact, field))].discard(slot)
        for holders in self._has.values():
            holders.discard(slot)
        for key in contact.tag_keys:
            self._tags[key].discard(slot)
        self._declared[contact.status].discard(slot)
        for name in contact.attributes:
            self._attrs.get(name, {}).pop(slot, None)

    def _known_event_ids(self, ids: list[str]) -> set[str]:
        known = self._event_ids
        return {i for i in ids if i in known}

    def _store_events(self, events: list[Event]) -> None:
        # everything that can go wrong was checked by the base; from here on nothing raises
        first = len(self._ev_id)
        slot_of = self._slot_of
        for event in events:
            if event.contact_id not in slot_of:
                self._slot(event.contact_id)
        slots = [slot_of[e.contact_id] for e in events]
        codes = [TYPE_CODE[e.type] for e in events]
        ids = [e.id for e in events]
        self._ev_us.extend([(e.at - EPOCH) // _ONE_MICROSECOND for e in events])
        self._ev_slot.extend(slots)
        self._ev_type.extend(codes)
        self._ev_pay.extend([self._payload(e) for e in events])
        self._ev_id.extend(ids)
        self._event_ids.update(ids)
        slot_rows, columns = self._slot_rows, self._columns
        for row, slot, code in zip(range(first, first + len(events)), slots, codes, strict=True):
            rows = slot_rows[slot]
            if rows is None:
                rows = slot_rows[slot] = array("i")
            rows.append(row)
            columns[code].pending.append(row)
        for row, event in enumerate(events, first):
            if event.value is not None:  # orders only
                self._ev_value[row] = to_minor(event.value, self.currency)
        self._forget_memo()

    def _payload(self, event: Event) -> int:
        if event.type in PRODUCT_TYPES:
            assert event.product_id is not None
            return self._intern_pcat(event.product_id, event.categories)
        if event.type == "order":
            items = tuple(sorted({self._intern_pcat(i.product_id, i.categories) for i in event.items}))
            basket = self._basket_of.get(items)
            if basket is None:
                basket = self._basket_of[items] = len(self._basket)
                self._basket.append(items)
            return basket
        name = event.campaign_id if event.campaign_id is not None else event.form_id
        if name is None:
            return NONE
        code = self._name_of.get(name)
        if code is None:
            code = self._name_of[name] = len(self._name_of)
        return code

    def _intern_pcat(self, product_id: str, categories: tuple[str, ...]) -> int:
        key = (product_id, categories)
        pcat = self._pcat_of.get(key)
        if pcat is None:
            pcat = self._pcat_of[key] = len(self._pcat)
            keys = frozenset(k for k in (norm_key(c) for c in categories) if k is not None)
            self._pcat.append((product_id, categories, keys))
        return pcat

    def _get_contact(self, contact_id: str) -> Contact | None:
        slot = self._slot_of.get(contact_id)
        return None if slot is None else self._contact[slot]

    def _erase(self, contact_id: str) -> bool:
        slot = self._slot_of.pop(contact_id, None)
        if slot is None:
            return False
        contact = self._contact[slot]
        if contact is not None:
            self._unindex_contact(slot, contact)
            self._contact[slot] = None
            self._created[slot] = NOBODY
            self._created_dirty = True
        rows = self._slot_rows[slot]
        if rows is not None:
            for row in rows:
                self._event_ids.discard(self._ev_id[row])
                self._ev_value.pop(row, None)
            self._slot_rows[slot] = None
        # the slot's rows stay in the columns, detached: they belong to no contact any more
        self._forget_memo()
        return True

    # --- indexes ------------------------------------------------------------------------------------

    def build_indexes(self) -> None:
        """Merge every record added since the last question into the time-sorted indexes now.

        Records are indexed lazily, at the first question that needs them, so a bulk load stays
        cheap; call this after a bulk load to pay that cost up front instead (a service warming up
        before it takes traffic, a benchmark that counts index building as loading). Answers never
        depend on it.

        >>> store = MemoryStore(currency="PLN")
        >>> _ = store.add_events([Event(id="e1", contact_id="c1", type="email_open",
        ...                             at="2026-06-01T00:00:00+00:00", campaign_id="nl-1")])
        >>> store.build_indexes()
        """
        for code in range(len(self._columns)):
            self._column(code)
        self._created_in(Span(None, 0))

    def _column(self, code: int) -> _Column:
        col = self._columns[code]
        if col.pending:
            self._merge_pending(code, col)
        return col

    def _merge_pending(self, code: int, col: _Column) -> None:
        ev_us = self._ev_us
        pending = sorted(col.pending, key=ev_us.__getitem__)
        col.pending = array("i")
        col.aggregates = {}
        if col.us and ev_us[pending[0]] < col.us[-1]:
            # late rows: re-sort only the tail they fall into (stable: ties keep row order)
            cut = bisect_right(col.us, ev_us[pending[0]])
            rows = sorted([*col.rows[cut:], *pending], key=ev_us.__getitem__)
            for part in (col.us, col.slot, col.pay, col.val, col.rows):
                del part[cut:]
            if col.groups is not None and len(pending) <= _GROUP_INSERTS:
                for r in pending:
                    self._group_insert(col.groups, self._ev_pay[r], ev_us[r], self._ev_slot[r])
            else:
                col.groups = None
        else:
            rows = pending
        slot, pay, values = self._ev_slot, self._ev_pay, self._ev_value
        col.rows.extend(rows)
        col.us.extend(_gather(ev_us, rows))
        col.slot.extend(_gather(slot, rows))
        col.pay.extend(_gather(pay, rows))
        if code == ORDER:
            col.val.extend([values.get(r, 0) for r in rows])
        if col.groups is not None and rows is pending:
            for r in rows:
                self._group_append(col.groups, pay[r], ev_us[r], slot[r])

    @staticmethod
    def _group_insert(groups: dict[int, tuple[array[int], array[int]]], pay: int, us: int, slot: int) -> None:
        group = groups.get(pay)
        if group is None:
            group = groups[pay] = (array("q"), array("i"))
        at = bisect_right(group[0], us)
        group[0].insert(at, us)
        group[1].insert(at, slot)

    @staticmethod
    def _group_append(groups: dict[int, tuple[array[int], array[int]]], pay: int, us: int, slot: int) -> None:
        group = groups.get(pay)
        if group is None:
            group = groups[pay] = (array("q"), array("i"))
        group[0].append(us)
        group[1].append(slot)

    def _groups(self, col: _Column) -> dict[int, tuple[array[int], array[int]]]:
        if col.groups is None:
            groups: dict[int, tuple[array[int], array[int]]] = {}
            for pay, us, slot in zip(col.pay, col.us, col.slot, strict=True):
                self._group_append(groups, pay, us, slot)
            col.groups = groups
        return col.groups

    def _created_in(self, span: Span) -> set[int]:
        """Slots of the contacts created in a span (every slot with a contact, sorted by created_at)."""
        if self._created_dirty:
            created = self._created
            slots = sorted(range(len(created)), key=created.__getitem__)
            del slots[bisect_left(slots, NOBODY, key=created.__getitem__):]  # slots without a contact sort last
            self._by_created_slot = array("i", slots)
            self._by_created_us = array("q", _gather(created, slots))
            self._created_dirty = False
        lo = 0 if span.lo is None else bisect_left(self._by_created_us, span.lo)
        return set(self._by_created_slot[lo:max(lo, bisect_left(self._by_created_us, span.hi))])

    def _forget_memo(self) -> None:
        self._memo.clear()
        self._memo_size = 0
        self._derived.clear()

    def _remember(self, key: tuple[object, ...], value: object) -> None:
        """Keep a derived result (statuses, dashboard states) until the next write."""
        if len(self._derived) >= _DERIVED_LIMIT:
            self._derived.clear()
        self._derived[key] = value

    def _matching(self, node: _Count) -> set[int] | None:
        """Payloads an event of ``node``'s type must carry to match (None: every event matches)."""
        if node.event_type in PRODUCT_TYPES or node.event_type == "order":
            if node.products is None and node.categories is None:
                return None
            pcats = self._extend_matcher(("pcat", node.products, node.category_keys), self._pcat,
                                         _pcat_test(node.products, node.category_keys))
            if node.event_type != "order":
                return pcats
            return self._extend_matcher(("basket", node.products, node.category_keys), self._basket,
                                        lambda items: any(i in pcats for i in items))
        names = node.campaigns if node.campaigns is not None else node.forms
        if names is None:
            return None
        return {self._name_of[n] for n in names if n in self._name_of}

    def _extend_matcher(self, key: tuple[Any, ...], table: list[Any], test: Callable[[Any], bool]) -> set[int]:
        found, seen = self._matchers.get(key, (set(), 0))
        if seen < len(table):
            found = found | {i for i in range(seen, len(table)) if test(table[i])}
            self._matchers[key] = (found, len(table))
        return found

    def _slots_in(self, code: int, span: Span, pays: set[int] | None) -> Iterable[int]:
        """Slots of the events of a type in a span (one per event), optionally of given payloads."""
        col = self._column(code)
        i, j = col.range(span)
        if pays is None:
            return col.slot[i:j]
        # building the sub-index costs a pass over the whole column, so a narrow window (the last
        # 14 days of a two-year column) scans its rows instead unless the sub-index already exists
        if len(pays) * _GROUPED_SHARE < j - i and (col.groups is not None or (j - i) * 2 > len(col.us)):
            groups = self._groups(col)
            parts = [groups[p] for p in pays if p in groups]
            if sum(len(g[0]) for g in parts) * _GROUPED_SHARE < j - i:
                return _grouped_slots(parts, span)
        return [s for s, p in zip(col.slot[i:j], col.pay[i:j], strict=True) if p in pays]

    def _order_aggregates(self, span: Span) -> _OrderAggregates:
        """Per slot aggregates of the orders in a span (cached per row range until the next write)."""
        col = self._column(ORDER)
        i, j = col.range(span)
        cached = col.aggregates.get((i, j))
        if cached is not None:
            return cached
        aggregates = _OrderAggregates(col.slot[i:j], col.val[i:j], col.us[i:j])
        if len(col.aggregates) > 8:
            col.aggregates.clear()
        col.aggregates[(i, j)] = aggregates
        return aggregates

    def _statuses(self, at_us: int) -> tuple[set[int], set[int]]:
        """Slots whose latest subscription event visible at ``at_us`` subscribes, and those it unsubscribes."""
        key = ("statuses", at_us)
        found = self._derived.get(key)
        if found is None:
            # a dict built from time-sorted rows keeps each slot's latest instant (C speed, no loop)
            sub, unsub = (self._column(code) for code in (SUBSCRIBE, UNSUBSCRIBE))
            last_sub = dict(zip(sub.slot[:sub.visible(at_us)], sub.us[:sub.visible(at_us)], strict=True))
            last_unsub = dict(zip(unsub.slot[:unsub.visible(at_us)], unsub.us[:unsub.visible(at_us)], strict=True))
            both = last_sub.keys() & last_unsub.keys()
            # at equal instants, unsubscribe wins
            unsubscribed_last = {s for s in both if last_unsub[s] >= last_sub[s]}
            found = (last_sub.keys() - unsubscribed_last, (last_unsub.keys() - both) | unsubscribed_last)
            self._remember(key, found)
        assert isinstance(found, tuple)
        return found

    def _blocked(self, at_us: int) -> set[int]:
        found: set[int] = set()
        for code in _BLOCKING_CODES:
            col = self._column(code)
            found.update(col.slot[:col.visible(at_us)])
        return found

    def _active(self, at_us: int, timeframe: timedelta) -> set[int]:
        span = Span(at_us - timeframe // timedelta(microseconds=1) + 1, at_us + 1)
        found: set[int] = set()
        for code in _ENGAGING_CODES:
            found.update(self._slots_in(code, span, None))
        return found

    # --- questions ----------------------------------------------------------------------------------

    def _evaluate(self, flt: Filter, at: datetime) -> tuple[set[int], _Plan]:
        plan = _Plan(self, at)
        return plan.run(flt) & plan.existing, plan

    def _members(self, flt: Filter, at: datetime) -> frozenset[str]:
        slots, _ = self._evaluate(flt, at)
        ids = self._slot_id
        return frozenset([ids[s] for s in slots])

    def preview(self, filter: Filter, *, against: str | Filter, at: Instant | None = None) -> Preview:
        """SPEC §9 on slot sets, both filters in one plan (shared parts computed once); only the
        examples become ids."""
        moment = self._at(at)
        new, saved = self.resolve(filter), self.resolve(self._segment_or_filter(against, "against"))
        plan = _Plan(self, moment)
        return preview(plan.run(new) & plan.existing, plan.run(saved) & plan.existing, self._slot_id.__getitem__)

    def _count(self, flt: Filter, at: datetime) -> int:
        cached = self._prefetched.get(("count", flt, at))
        if cached is not None:
            assert isinstance(cached, int)
            return cached
        return len(self._evaluate(flt, at)[0])

    def _order_totals(self, flt: Filter, at: datetime, within: Window) -> OrderTotals:
        cached = self._prefetched.get(("totals", flt, at, within))
        if cached is not None:
            assert isinstance(cached, OrderTotals)
            return cached
        members, _ = self._evaluate(flt, at)
        return self._order_aggregates(within.span(at)).totals(members)

    # --- the dashboard (SPEC §5) ----------------------------------------------------------------------
    # One byte per slot gives its state at an instant (status x engagement class, or absent); a
    # dashboard is then a histogram of (state before, state now) pairs and one pass over the customers,
    # shared by every view, instead of member sets and metrics per view, state and instant.

    def engagement(self, *, at: Instant | None = None, timeframe: timedelta = DEFAULT_TIMEFRAME,
                   view: str = "subscribed+unknown") -> Dashboard:
        """The contacts dashboard of SPEC §5, from per-slot state codes; assembled by the shared base."""
        timeframe = as_timedelta(timeframe, field="timeframe")
        in_view = view_filter(view)
        moment = self._at(at)
        allowed = _view_statuses(in_view)
        if allowed is None:
            return super().engagement(at=moment, timeframe=timeframe, view=view)
        contacts, engaged_now, sums = self._state_facts(moment, timeframe)
        prefetched: dict[tuple[object, ...], object] = {}
        classes = _classes(timeframe)
        for index, state in enumerate(STATES):
            codes = [3 * st + index for st in allowed]
            customers, orders, revenue, span, gaps = (sum(sums[c][i] for c in codes) for i in range(5))
            group_filter = _And.of(in_view, classes[state])
            prefetched[("totals", group_filter, moment, EVER)] = OrderTotals(
                contacts=sum(contacts[c] for c in codes), customers=customers, orders=orders,
                revenue_minor=revenue, tbo_span=span, tbo_gaps=gaps)
            prefetched[("count", _And.of(group_filter, engaged(timeframe=ENGAGEMENT_RATE_TIMEFRAME)), moment)] = \
                sum(engaged_now[c] for c in codes)
        self._prefetched = prefetched
        try:
            return super().engagement(at=moment, timeframe=timeframe, view=view)
        finally:
            self._prefetched = {}

    def _flows(self, in_view: Filter, timeframe: timedelta, at: datetime,
               before: datetime) -> dict[tuple[str, str], int]:
        """SPEC §5 flows from a histogram of (state code before, state code now) over the slots."""
        allowed = _view_statuses(in_view)
        if allowed is None:
            return super()._flows(in_view, timeframe, at, before)
        names = [STATES[code % 3] if code // 3 in allowed else "outside" for code in range(_ABSENT)] + ["absent"]
        flows: dict[tuple[str, str], int] = {}
        for (then, now), n in self._state_pairs(at, before, timeframe).items():
            if then != _ABSENT or now != _ABSENT:
                pair = (names[then], names[now])
                flows[pair] = flows.get(pair, 0) + n
        return flows

    def _state_codes(self, at: datetime, timeframe: timedelta) -> bytes:
        """Per slot, its dashboard state at ``at``: ``3 * status index + class index``, or ``_ABSENT``.

        Status indexes follow ``STATUS_VALUES``, class indexes ``STATES`` (engaged, unengaged, blocked).
        """
        plan = _Plan(self, at)
        key = ("states", plan.at_us, timeframe)
        found = self._derived.get(key)
        if found is None:
            n = len(self._slot_id)
            status = bytearray([_ABSENT]) * n
            for index, value in enumerate(STATUS_VALUES):
                _fill(status, self._declared[value], 3 * index)
            subscribed, unsubscribed = self._statuses(plan.at_us)
            _fill(status, subscribed, 3 * STATUS_VALUES.index("subscribed"))
            _fill(status, unsubscribed, 3 * STATUS_VALUES.index("unsubscribed"))
            # absent again: contacts created after ``at`` and slots without a contact that have a status event
            _fill(status, self._created_in(Span(plan.at_us + 1, NOBODY)), _ABSENT)
            _fill(status, (subscribed | unsubscribed) - plan.existing, _ABSENT)
            engagement = bytearray([STATES.index("unengaged")]) * n
            _fill(engagement, plan.active(timeframe), STATES.index("engaged"))
            _fill(engagement, plan.blocked(), STATES.index("blocked"))  # blocked wins over engaged
            # the bytewise sum status + class without a Python loop: added as big integers, no byte
            # carries into the next (every sum is at most _ABSENT + 2 < 256); absent + any class is absent
            total = int.from_bytes(status, "big") + int.from_bytes(engagement, "big")
            found = total.to_bytes(n, "big").translate(_TO_ABSENT)
            self._remember(key, found)
        assert isinstance(found, bytes)
        return found

    def _state_pairs(self, at: datetime, before: datetime, timeframe: timedelta) -> Counter[tuple[int, int]]:
        """Slots per (state code at ``before``, state code at ``at``)."""
        key = ("pairs", to_micros(at), to_micros(before), timeframe)
        found = self._derived.get(key)
        if found is None:
            then, now = self._state_codes(before, timeframe), self._state_codes(at, timeframe)
            # one byte per slot, then * _PAIR + now (< 256), made as big integers and counted in C:
            # no tuple per slot to allocate
            packed = int.from_bytes(then, "big") * _PAIR + int.from_bytes(now, "big")
            found = Counter({divmod(code, _PAIR): n for code, n in Counter(packed.to_bytes(len(now), "big")).items()})
            self._remember(key, found)
        assert isinstance(found, Counter)
        return found

    def _state_facts(self, at: datetime, timeframe: timedelta) -> tuple[list[int], list[int], list[list[int]]]:
        """Per state code at ``at``: contacts, contacts engaged in the last 30 days, and
        ``[customers, orders, revenue, TBO span, TBO gaps]`` over every visible order (SPEC §4)."""
        key = ("facts", to_micros(at), timeframe)
        found = self._derived.get(key)
        if found is None:
            codes = self._state_codes(at, timeframe)
            contacts = [codes.count(code) for code in range(_ABSENT)]
            engaged_slots = _Plan(self, at).run(engaged(timeframe=ENGAGEMENT_RATE_TIMEFRAME))
            by_code = Counter(map(codes.__getitem__, engaged_slots))
            engaged_now = [by_code[code] for code in range(_ABSENT)]
            sums = [[0] * 5 for _ in range(_ABSENT + 1)]  # the last row collects absent customers
            aggregates = self._order_aggregates(EVER.span(at))
            revenue, span = aggregates.revenue, aggregates.span
            for slot, n in aggregates.orders.items():
                row = sums[codes[slot]]
                row[0] += 1
                row[1] += n
                row[2] += revenue[slot]
                if n >= 2:
                    row[3] += span[slot]
                    row[4] += n - 1
            found = (contacts, engaged_now, sums)
            self._remember(key, found)
        assert isinstance(found, tuple)
        return found

    def _value_rows(self, field: str, flt: Filter, at: datetime) -> ValueRows:
        members, _ = self._evaluate(flt, at)
        if field in ("category", "product"):
            return self._event_value_rows(field, members, to_micros(at))
        extract = _tag_values if field == "tag" else lambda c: _profile_values(field, c)
        spellings: Counter[tuple[str, str]] = Counter()
        groups: Counter[str] = Counter()
        defined = 0
        for slot in members:
            mine = set(extract(self._contact[slot]))
            if mine:
                defined += 1
                spellings.update(mine)
                groups.update({key for key, _ in mine})
        return ValueRows(spellings=[(k, sp, n) for (k, sp), n in spellings.items()],
                         groups=dict(groups), undefined=len(members) - defined)

    def _event_value_rows(self, field: str, members: set[int], at_us: int) -> ValueRows:
        """SPEC §8 for products or categories of the members' visible views, carts and orders.

        Works on integers: distinct (slot, product-with-categories) pairs, then distinct
        (slot, spelling) pairs, each packed into one int, so a contact counts once per spelling and
        once per group.
        """
        n_pcat = len(self._pcat) or 1
        seen: set[int] = set()
        for code in _PRODUCT_CODES:
            col = self._column(code)
            j = col.visible(at_us)
            seen.update([s * n_pcat + p for s, p in zip(col.slot[:j], col.pay[:j], strict=True) if s in members])
        col = self._column(ORDER)
        j = col.visible(at_us)
        n_basket = len(self._basket) or 1
        baskets = {s * n_basket + b for s, b in zip(col.slot[:j], col.pay[:j], strict=True) if s in members}
        for packed in baskets:
            slot, basket = divmod(packed, n_basket)
            seen.update([slot * n_pcat + p for p in self._basket[basket]])
        # spellings as small integers, per product-with-categories
        spelling_of: dict[tuple[str, str], int] = {}
        pcat_spellings: list[list[int]] = []
        for product, categories, _ in self._pcat:
            names = [(product, product)] if field == "product" else \
                [(k, c) for c, k in ((c, norm_key(c)) for c in categories) if k is not None]
            pcat_spellings.append([spelling_of.setdefault(pair, len(spelling_of)) for pair in names])
        n_sp = len(spelling_of) or 1
        used: set[int] = set()
        for packed in seen:
            slot, pcat = divmod(packed, n_pcat)
            used.update([slot * n_sp + sp for sp in pcat_spellings[pcat]])
        pairs = list(spelling_of)
        key_ids = {key: i for i, key in enumerate(dict.fromkeys(k for k, _ in pairs))}
        key_of = [key_ids[k] for k, _ in pairs]
        n_keys = len(key_ids) or 1
        by_spelling = Counter([u % n_sp for u in used])
        by_key = Counter([k % n_keys for k in {u // n_sp * n_keys + key_of[u % n_sp] for u in used}])
        keys = list(key_ids)
        defined = len({u // n_sp for u in used})
        return ValueRows(spellings=[(*pairs[sp], n) for sp, n in by_spelling.items()],
                         groups={keys[k]: n for k, n in by_key.items()}, undefined=len(members) - defined)

    # --- explain primitives -------------------------------------------------------------------------

    def _holds(self, flt: Filter, contact_id: str, at: datetime) -> bool:
        slot = self._slot_of.get(contact_id)
        plan = _Plan(self, at)
        return slot is not None and slot in plan.existing and slot in plan.run(flt)

    def _rows_of(self, contact_id: str, code: int, span: Span) -> list[int]:
        slot = self._slot_of.get(contact_id)
        rows = None if slot is None else self._slot_rows[slot]
        if rows is None:
            return []
        types, us = self._ev_type, self._ev_us
        return [r for r in rows if types[r] == code and us[r] in span]

    def _matching_events(self, leaf: _Count, contact_id: str, span: Span) -> list[tuple[int, str]]:
        pays = self._matching(leaf)
        code = TYPE_CODE[leaf.event_type]
        return [(self._ev_us[r], self._ev_id[r]) for r in self._rows_of(contact_id, code, span)
                if pays is None or self._ev_pay[r] in pays]

    def _order_values(self, contact_id: str, span: Span) -> list[int]:
        return [self._ev_value[r] for r in self._rows_of(contact_id, ORDER, span)]

    def _campaign_totals(self, campaign_ids: frozenset[str] | None, at_us: int, window_us: int,
                         touch: str) -> list[CampaignTotals]:
        """SPEC §10 totals: one pass over the visible rows of the types §10 reads (campaigns.totals_from_rows)."""
        names = {code: name for name, code in self._name_of.items()}

        def rows() -> Iterator[tuple[int, str, int, str | None, int | None]]:
            for kind in CAMPAIGN_ROW_TYPES:
                col = self._column(TYPE_CODE[kind])
                n = col.visible(at_us)
                values: Iterable[int | None] = col.val[:n] if kind == "order" else repeat(None, n)
                yield from zip(col.slot[:n], repeat(kind, n), col.us[:n], map(names.get, col.pay[:n]), values,
                               strict=True)

        return totals_from_rows(rows(), exists=lambda slot: self._created[slot] <= at_us, campaign_ids=campaign_ids,
                                at_us=at_us, window_us=window_us, touch=touch)


class _OrderAggregates:
    """Per slot aggregates of the orders of one row range: ``orders`` (count), ``revenue`` (minor
    units) and, for slots with two orders or more, ``span`` (last instant - first instant).

    Dicts of plain ints rather than a list per slot: no container per customer to allocate (and for
    the garbage collector to walk), and totals over a member set are sums over ``map``.
    """

    __slots__ = ("orders", "revenue", "span")

    def __init__(self, slots: array[int], values: array[int], instants: array[int]) -> None:
        self.orders: dict[int, int] = Counter(slots)
        revenue = dict.fromkeys(self.orders, 0)
        for slot, value in zip(slots, values, strict=True):
            revenue[slot] += value
        self.revenue = revenue
        # rows are time-sorted: the last write of a slot in a dict is its latest order
        last = dict(zip(slots, instants, strict=True))
        first = dict(zip(reversed(slots), reversed(instants), strict=True))
        self.span = {s: last[s] - first[s] for s, n in self.orders.items() if n >= 2}

    def totals(self, members: set[int]) -> OrderTotals:
        """SPEC §4 aggregates over the orders of ``members``."""
        customers = members.intersection(self.orders)
        repeat = customers.intersection(self.span)
        return OrderTotals(contacts=len(members), customers=len(customers),
                           orders=sum(map(self.orders.__getitem__, customers)),
                           revenue_minor=sum(map(self.revenue.__getitem__, customers)),
                           tbo_span=sum(map(self.span.__getitem__, repeat)),
                           tbo_gaps=sum(map(self.orders.__getitem__, repeat)) - len(repeat))


def _gather(column: array[int], rows: list[int] | array[int]) -> tuple[int, ...]:
    """``column[r] for r in rows``, at C speed."""
    if len(rows) == 1:
        return (column[rows[0]],)
    return operator.itemgetter(*rows)(column) if rows else ()


def _view_statuses(in_view: Filter) -> tuple[int, ...] | None:
    """Indexes in ``STATUS_VALUES`` of the statuses a dashboard view covers; None for another filter."""
    if isinstance(in_view, _Everyone):
        return tuple(range(len(STATUS_VALUES)))  # every contact has one of the statuses
    if isinstance(in_view, _Status):
        return tuple(i for i, value in enumerate(STATUS_VALUES) if value in in_view.values)
    return None


def _fill(buffer: bytearray, slots: Iterable[int], value: int) -> None:
    """``buffer[s] = value`` for every slot, without a Python-level loop."""
    deque(map(buffer.__setitem__, slots, repeat(value)), maxlen=0)


def _grouped_slots(parts: list[tuple[array[int], array[int]]], span: Span) -> list[int]:
    found: list[int] = []
    for us, slots in parts:
        lo = 0 if span.lo is None else bisect_left(us, span.lo)
        found.extend(slots[lo:max(lo, bisect_left(us, span.hi))])
    return found


def _pcat_test(products: frozenset[str] | None,
               keys: frozenset[str] | None) -> Callable[[tuple[str, tuple[str, ...], frozenset[str]]], bool]:
    def test(pcat: tuple[str, tuple[str, ...], frozenset[str]]) -> bool:
        return (products is None or pcat[0] in products) and (keys is None or not keys.isdisjoint(pcat[2]))
    return test


def _profile_values(field: str, contact: Contact | None) -> list[tuple[str, str]]:
    value = None if contact is None else getattr(contact, field)
    key = profile_key(field, value)
    return [] if value is None or key is None else [(key, value)]


def _tag_values(contact: Contact | None) -> list[tuple[str, str]]:
    if contact is None:
        return []
    return [(k, t) for t, k in ((t, norm_key(t)) for t in contact.tags) if k is not None]


class _Plan(Visitor[set[int]]):
    """Compiles a filter into set algebra over the store's indexes, at one instant.

    Results are sets of slots; a leaf may include slots that do not exist at ``at`` (the caller
    intersects with :attr:`existing`). Results are memoised per (node, instant) until the next write,
    so the dashboard's repeated classes are computed once. Returned sets are never mutated.
    """

    def __init__(self, store: MemoryStore, at: datetime) -> None:
        self.store = store
        self.at = at
        self.at_us = to_micros(at)
        self._existing: set[int] | None = None

    @property
    def existing(self) -> set[int]:
        if self._existing is None:
            self._existing = self.cached(_Everyone(), lambda: self.store._created_in(Span(None, self.at_us + 1)))
        return self._existing

    def cached(self, node: object, compute: Callable[[], set[int]]) -> set[int]:
        store = self.store
        key = (node, self.at_us)
        found = store._memo.get(key)
        if found is None:
            found = compute()
            if store._memo_size + len(found) > _MEMO_LIMIT:
                store._forget_memo()
            store._memo[key] = found
            store._memo_size += len(found)
        return found

    def run(self, flt: Filter) -> set[int]:
        return self.cached(flt, lambda: flt.accept(self))

    def visit_and(self, f: _And) -> set[int]:
        result: set[int] | None = None
        for part in f.parts:
            found = self.run(part)
            result = found if result is None else result & found
            if not result:
                break
        assert result is not None
        return result

    def visit_or(self, f: _Or) -> set[int]:
        result: set[int] = set()
        for part in f.parts:
            result = result | self.run(part)
        return result

    def visit_not(self, f: _Not) -> set[int]:
        return self.existing - self.run(f.part)

    def visit_everyone(self, f: _Everyone) -> set[int]:
        return self.existing

    def visit_count(self, f: _Count) -> set[int]:
        slots = self.store._slots_in(TYPE_CODE[f.event_type], f.within.span(self.at), self.store._matching(f))
        if f.at_least == 1 and f.at_most is None:
            return set(slots)
        counts = Counter(slots)
        if f.at_least == 0:
            if f.at_most is None:
                return self.existing
            return self.existing - {s for s, n in counts.items() if n > f.at_most}
        hi = f.at_most
        return {s for s, n in counts.items() if n >= f.at_least and (hi is None or n <= hi)}

    def visit_money(self, f: _Money) -> set[int]:
        aggregates = self.store._order_aggregates(f.within.span(self.at))
        scale = 10 ** self.store._exp
        lo = None if f.at_least is None else Fraction(f.at_least) * scale
        hi = None if f.at_most is None else Fraction(f.at_most) * scale
        if f.measure == "spent":
            def fits(total: int) -> bool:
                return (lo is None or total >= lo) and (hi is None or total <= hi)

            if fits(0):  # contacts without orders spent 0 and match
                return self.existing - {s for s, total in aggregates.revenue.items() if not fits(total)}
            return {s for s, total in aggregates.revenue.items() if fits(total)}
        # aov: compare the exact mean, sum >= lo * n and sum <= hi * n, in integers
        lo_n, lo_d = (0, 1) if lo is None else (lo.numerator, lo.denominator)
        hi_n, hi_d = (0, 0) if hi is None else (hi.numerator, hi.denominator)
        orders = aggregates.orders
        return {s for s, total in aggregates.revenue.items()
                if total * lo_d >= lo_n * orders[s] and (hi is None or total * hi_d <= hi_n * orders[s])}

    def visit_profile(self, f: _Profile) -> set[int]:
        index = self.store._profile[f.field]
        found: set[int] = set()
        for key in f.keys:
            found |= index.get(key, set())
        return found

    def visit_has(self, f: _Has) -> set[int]:
        return self.store._has[f.field]

    def visit_tag(self, f: _Tag) -> set[int]:
        return self.store._tags.get(f.key, set())

    def visit_status(self, f: _Status) -> set[int]:
        subscribed, unsubscribed = self.store._statuses(self.at_us)
        found: set[int] = set()
        for value in f.values:
            found |= self.store._declared[value]
        found = found - subscribed - unsubscribed  # an event's status replaces the declared one
        if "subscribed" in f.values:
            found |= subscribed
        if "unsubscribed" in f.values:
            found |= unsubscribed
        return found

    def visit_joined(self, f: _Joined) -> set[int]:
        return self.store._created_in(f.within.span(self.at))

    def visit_attr(self, f: _AttrCompare) -> set[int]:
        values = self.store._attrs.get(f.name, {})
        return {s for s, v in values.items() if attr_matches(f.op, v, f.values)}

    def blocked(self) -> set[int]:
        """Slots with a bounce or complaint visible at the instant (existing or not)."""
        return self.cached("blocked", lambda: self.store._blocked(self.at_us))

    def active(self, timeframe: timedelta) -> set[int]:
        """Slots with an engaging event in the ``timeframe`` up to the instant (blocked or not)."""
        return self.cached(("active", timeframe), lambda: self.store._active(self.at_us, timeframe))

    def visit_engagement(self, f: _Engagement) -> set[int]:
        blocked = self.blocked()
        if f.state == "blocked":
            return blocked
        active = self.active(f.timeframe)
        if f.state == "engaged":
            return active - blocked
        return self.existing - active - blocked

    def visit_in_segment(self, f: _InSegment) -> set[int]:
        raise UnsupportedFilter(f"MemoryStore evaluates filters with segments resolved; got {f!r}")


def attr_matches(op: str, value: Any, operands: tuple[Any, ...]) -> bool:
    """Whether a stored custom attribute satisfies ``op`` (docs/ARCHITECTURE.md "Decisions")."""
    if op == "exists":
        return value is not None
    if value is None:
        return False
    if op == "eq":
        return _attr_equal(value, operands[0])
    if op == "ne":
        return not _attr_equal(value, operands[0])
    if op == "in":
        return any(_attr_equal(value, v) for v in operands)
    left, right = _attr_comparable(value), _attr_comparable(operands[0])
    if isinstance(left, float) and isinstance(right, float):
        return _ORDERINGS[op](left, right)
    if isinstance(left, str) and isinstance(right, str):
        return _ORDERINGS[op](left, right)
    return False


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}


def _attr_comparable(value: object) -> float | str | None:
    """Numbers as float64, strings as their normalised key; booleans and the rest do not order."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, str):
        return norm_key(value) or ""
    return None


def _attr_equal(value: object, operand: object) -> bool:
    if isinstance(value, bool) or isinstance(operand, bool):
        return isinstance(value, bool) and isinstance(operand, bool) and value == operand
    left, right = _attr_comparable(value), _attr_comparable(operand)
    return left is not None and type(left) is type(right) and left == right
