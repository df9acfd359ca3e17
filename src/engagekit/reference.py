"""SPEC as plain Python: the slow, obviously-correct oracle the conformance suite compares stores with.

Every question is answered contact by contact and event by event, straight from SPEC.md's
wording. Nothing here is shared with a store's evaluation: only the models, the normalised key,
the windows' calendar arithmetic and the one place that divides (:meth:`Metrics.from_totals`).
It is meant for tests, so it favours being readable over being fast.

>>> from engagekit import Contact, Event, ordered, last
>>> ref = Reference(
...     [Contact(id="c1", created_at="2026-01-01T00:00:00+00:00")],
...     [Event(id="e1", contact_id="c1", type="order", at="2026-06-20T00:00:00+00:00",
...            order_id="o1", value="10.00", currency="PLN")],
... )
>>> sorted(ref.members(ordered(within=last(days=30)), at="2026-06-30T00:00:00+00:00"))
['c1']
>>> sorted(ref.members(ordered(within=last(days=30)), at="2026-07-20T00:00:00+00:00"))
[]
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .errors import InvalidFilter, UnknownContact, UnsupportedFilter
from .filters import (
    COUNT_KINDS,
    DEFAULT_TIMEFRAME,
    Filter,
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
from .metrics import Metrics, OrderTotals, percent_change, ratio
from .model import Contact, Event
from .money import exponent, quantize_money
from .reports import Dashboard, DashboardGroup
from .text import norm_key
from .time import EVER, Instant, Window, _Before, _Between, _Ever, _Last, as_timedelta, instant, to_micros

__all__ = ["Reference"]

UNDEFINED = "UNDEFINED"
STATES = ("engaged", "unengaged", "blocked")
ENGAGING = ("email_open", "email_click", "product_view", "add_to_cart", "order")
BLOCKING = ("hard_bounce", "spam_complaint")
LOOKBACK = timedelta(days=30)
RATE_TIMEFRAME = timedelta(days=30)
VIEW_STATUSES: dict[str, tuple[str, ...]] = {
    "subscribed": ("subscribed",),
    "unknown": ("unknown",),
    "subscribed+unknown": ("subscribed", "unknown"),
    "all": ("subscribed", "unknown", "unsubscribed"),
}
AUDIENCE_STATUSES: dict[str, tuple[str, ...]] = {
    "newsletter": ("subscribed",),
    "automation": ("subscribed", "unknown"),
}
VALUE_FIELDS = ("city", "country", "language", "gender", "tag", "category", "product")
MAX_MATCHES = 5
MAX_EXAMPLES = 10


def in_window(window: Window, moment: datetime, at: datetime) -> bool:
    """Whether an instant lies in a window at ``at`` (SPEC §2), visibility included."""
    if moment > at:
        return False
    if isinstance(window, _Ever):
        return True
    if isinstance(window, _Last):
        return window.duration.subtract_micros(at) < to_micros(moment)
    if isinstance(window, _Before):
        return to_micros(moment) <= window.duration.subtract_micros(at)
    if isinstance(window, _Between):
        return window.start <= moment < window.end
    raise UnsupportedFilter(f"Reference cannot handle window {window!r}")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


class Reference:
    """Answers every question of SPEC.md for fixed contacts and events.

    Events are deduplicated by id (the first wins); a contact id given twice keeps its last version.
    """

    def __init__(self, contacts: Iterable[Contact], events: Iterable[Event], currency: str = "PLN") -> None:
        self.currency = currency
        self.contacts: dict[str, Contact] = {}
        for contact in contacts:
            self.contacts[contact.id] = contact
        seen: set[str] = set()
        self.events: list[Event] = []
        for event in events:
            if event.id not in seen:
                seen.add(event.id)
                self.events.append(event)

    # --- what exists and what is visible -------------------------------------------------------------

    def existing(self, at: datetime) -> list[Contact]:
        """Contacts with ``created_at <= at``."""
        return [c for c in self.contacts.values() if c.created_at <= at]

    def visible_events(self, contact_id: str, at: datetime, types: Iterable[str] | None = None) -> list[Event]:
        """The contact's events with ``event.at <= at`` (of the given types)."""
        wanted = None if types is None else set(types)
        return [e for e in self.events
                if e.contact_id == contact_id and e.at <= at and (wanted is None or e.type in wanted)]

    def status_at(self, contact: Contact, at: datetime) -> str:
        """Status set by the latest visible subscribe/unsubscribe (unsubscribe wins ties), else declared."""
        latest: datetime | None = None
        result = contact.status
        for event in self.visible_events(contact.id, at, ("subscribe", "unsubscribe")):
            if latest is None or event.at > latest:
                latest = event.at
                result = "subscribed" if event.type == "subscribe" else "unsubscribed"
            elif event.at == latest and event.type == "unsubscribe":
                result = "unsubscribed"
        return result

    def state_at(self, contact: Contact, at: datetime, timeframe: timedelta) -> str:
        """``"blocked"``, ``"engaged"`` or ``"unengaged"`` (SPEC §3 "Engagement")."""
        if self.visible_events(contact.id, at, BLOCKING):
            return "blocked"
        start = to_micros(at) - timeframe // timedelta(microseconds=1)  # integers: any timeframe fits
        for event in self.visible_events(contact.id, at, ENGAGING):
            if start < to_micros(event.at):
                return "engaged"
        return "unengaged"

    def orders_in(self, contact_id: str, at: datetime, within: Window) -> list[Event]:
        return [e for e in self.visible_events(contact_id, at, ("order",)) if in_window(within, e.at, at)]

    # --- one contact, one node -------------------------------------------------------------------------

    def _count_matches(self, node: _Count, contact: Contact, at: datetime) -> list[Event]:
        found = []
        for event in self.visible_events(contact.id, at, (COUNT_KINDS[node.kind],)):
            if in_window(node.within, event.at, at) and self._event_matches(node, event):
                found.append(event)
        return found

    @staticmethod
    def _event_matches(node: _Count, event: Event) -> bool:
        wanted_categories = None if node.categories is None else {norm_key(c) for c in node.categories}

        def matches_product(product_id: str | None, categories: Iterable[str]) -> bool:
            if node.products is not None and product_id not in node.products:
                return False
            if wanted_categories is not None:
                return any(norm_key(c) in wanted_categories for c in categories if norm_key(c) is not None)
            return True

        if event.type == "order":
            if node.products is None and wanted_categories is None:
                return True
            return any(matches_product(item.product_id, item.categories) for item in event.items)
        if event.type in ("product_view", "add_to_cart"):
            return matches_product(event.product_id, event.categories)
        if event.type in ("email_open", "email_click", "email_sent"):
            return node.campaigns is None or event.campaign_id in node.campaigns
        if event.type == "subscribe":
            return node.forms is None or event.form_id in node.forms
        return False

    def _attr_holds(self, node: _AttrCompare, contact: Contact) -> bool:
        value = contact.attributes.get(node.name)
        if node.op == "exists":
            return value is not None
        if value is None:
            return False
        if node.op == "ne":
            return not _attr_equal(value, node.values[0])
        if node.op == "eq":
            return _attr_equal(value, node.values[0])
        if node.op == "in":
            return any(_attr_equal(value, v) for v in node.values)
        return _attr_order(value, node.op, node.values[0])

    def judge(self, flt: Filter, contact: Contact, at: datetime) -> list[dict[str, Any]]:
        """Verdict and evidence of every node for one existing contact, in pre-order (SPEC §9).

        Each row has ``node`` (the filter node), ``holds`` and the leaf's evidence.
        """
        rows: list[dict[str, Any]] = []
        self._judge(flt, contact, at, rows)
        return rows

    def _judge(self, flt: Filter, contact: Contact, at: datetime, rows: list[dict[str, Any]]) -> bool:
        row: dict[str, Any] = {"node": flt}
        rows.append(row)
        holds: bool
        if isinstance(flt, _And):
            results = [self._judge(p, contact, at, rows) for p in flt.parts]
            holds = all(results)
        elif isinstance(flt, _Or):
            results = [self._judge(p, contact, at, rows) for p in flt.parts]
            holds = any(results)
        elif isinstance(flt, _Not):
            holds = not self._judge(flt.part, contact, at, rows)
        elif isinstance(flt, _Everyone):
            holds = True
        elif isinstance(flt, _Count):
            found = self._count_matches(flt, contact, at)
            count = len(found)
            holds = flt.at_least <= count and (flt.at_most is None or count <= flt.at_most)
            latest = sorted(found, key=lambda e: (e.at, e.id), reverse=True)[:MAX_MATCHES]
            row.update(count=count, window=flt.within.bounds(at), matches=tuple(e.at for e in latest))
        elif isinstance(flt, _Money):
            orders = self.orders_in(contact.id, at, flt.within)
            total = sum((e.value for e in orders if e.value is not None), Decimal(0))
            n = len(orders)
            row["window"] = flt.within.bounds(at)
            if flt.measure == "spent":
                holds = ((flt.at_least is None or total >= flt.at_least)
                         and (flt.at_most is None or total <= flt.at_most))
                row["total"] = quantize_money(Fraction(total), self.currency)
            else:
                # the exact mean against the exact bound (a Decimal product rounds to 28 digits)
                mean = Fraction(total) / n if n else None
                holds = mean is not None and ((flt.at_least is None or mean >= Fraction(flt.at_least))
                                              and (flt.at_most is None or mean <= Fraction(flt.at_most)))
                row["mean"] = quantize_money(Fraction(total) / n, self.currency) if n else None
        elif isinstance(flt, _Profile):
            value = getattr(contact, flt.field)
            holds = profile_key(flt.field, value) in {profile_key(flt.field, v) for v in flt.values}
            row["value"] = value
        elif isinstance(flt, _Has):
            value = getattr(contact, flt.field)
            holds = value is not None and value.strip() != ""
            row["value"] = value
        elif isinstance(flt, _Tag):
            holds = norm_key(flt.name) in {norm_key(t) for t in contact.tags}
            row["value"] = tuple(sorted(contact.tags))
        elif isinstance(flt, _Status):
            value = self.status_at(contact, at)
            holds = value in flt.values
            row["value"] = value
        elif isinstance(flt, _Joined):
            holds = in_window(flt.within, contact.created_at, at)
            row.update(value=contact.created_at, window=flt.within.bounds(at))
        elif isinstance(flt, _AttrCompare):
            holds = self._attr_holds(flt, contact)
            row["value"] = contact.attributes.get(flt.name)
        elif isinstance(flt, _Engagement):
            state = self.state_at(contact, at, flt.timeframe)
            holds = state == flt.state
            row["state"] = state
        elif isinstance(flt, _InSegment):
            raise UnsupportedFilter(f"Reference cannot handle in_segment ({flt!r}); resolve segments first")
        else:
            raise UnsupportedFilter(f"Reference cannot handle {flt.node} ({flt!r})")
        row["holds"] = holds
        return holds

    def holds(self, flt: Filter, contact: Contact, at: datetime) -> bool:
        return bool(self.judge(flt, contact, at)[0]["holds"])

    # --- the store's questions ---------------------------------------------------------------------------

    def members(self, flt: Filter, at: Instant) -> frozenset[str]:
        """Ids of existing contacts that ``flt`` selects at ``at``."""
        moment = instant(at)
        return frozenset(c.id for c in self.existing(moment) if self.holds(flt, c, moment))

    def count(self, flt: Filter, at: Instant) -> int:
        return len(self.members(flt, at))

    def _metrics_of(self, ids: Iterable[str], at: datetime, within: Window) -> Metrics:
        contacts = customers = orders = 0
        revenue = Decimal(0)
        span = gaps = engaged_count = 0
        for cid in ids:
            contacts += 1
            mine = self.orders_in(cid, at, within)
            if mine:
                customers += 1
            orders += len(mine)
            revenue += sum((e.value for e in mine if e.value is not None), Decimal(0))
            if len(mine) >= 2:
                span += to_micros(max(e.at for e in mine)) - to_micros(min(e.at for e in mine))
                gaps += len(mine) - 1
            if self.state_at(self.contacts[cid], at, RATE_TIMEFRAME) == "engaged":
                engaged_count += 1
        minor = revenue.scaleb(exponent(self.currency))
        assert minor == minor.to_integral_value(), f"revenue {revenue} has sub-minor-unit digits"
        totals = OrderTotals(contacts=contacts, customers=customers, orders=orders, revenue_minor=int(minor),
                             tbo_span=span, tbo_gaps=gaps)
        return Metrics.from_totals(totals, engaged_count, self.currency)

    def metrics(self, flt: Filter, at: Instant, within: Window = EVER) -> Metrics:
        """SPEC §4 over the members' visible orders in ``within``."""
        moment = instant(at)
        return self._metrics_of(self.members(flt, moment), moment, within)

    def flow_state(self, contact: Contact, at: datetime | None, timeframe: timedelta, view: str) -> str:
        """A contact's dashboard state at ``at``; ``None`` is an instant before year 1, when nobody existed."""
        if at is None or contact.created_at > at:
            return "absent"
        if self.status_at(contact, at) not in VIEW_STATUSES[view]:
            return "outside"
        return self.state_at(contact, at, timeframe)

    def engagement(self, at: Instant, timeframe: timedelta = DEFAULT_TIMEFRAME,
                   view: str = "subscribed+unknown") -> Dashboard:
        """The contacts dashboard of SPEC §5."""
        if view not in VIEW_STATUSES:
            raise InvalidFilter(f"view: {view!r} is not one of {', '.join(VIEW_STATUSES)}")
        timeframe = as_timedelta(timeframe, field="timeframe")
        moment = instant(at)
        earlier: datetime | None = None if moment - datetime.min.replace(tzinfo=UTC) < LOOKBACK else moment - LOOKBACK
        flows: dict[tuple[str, str], int] = {}
        now_members: dict[str, list[str]] = {s: [] for s in STATES}
        before_count: dict[str, int] = dict.fromkeys(STATES, 0)
        for contact in self.contacts.values():
            then = self.flow_state(contact, earlier, timeframe, view)
            now = self.flow_state(contact, moment, timeframe, view)
            if then == "absent" and now == "absent":
                continue
            flows[(then, now)] = flows.get((then, now), 0) + 1
            if now in now_members:
                now_members[now].append(contact.id)
            if then in before_count:
                before_count[then] += 1
        total = sum(len(ids) for ids in now_members.values())
        groups = {}
        for state in STATES:
            count = len(now_members[state])
            groups[state] = DashboardGroup(
                count=count,
                share=ratio(count, total),
                count_before=before_count[state],
                change=count - before_count[state],
                change_pct=percent_change(count, before_count[state]),
                metrics=self._metrics_of(now_members[state], moment, EVER),
            )
        return Dashboard(view=view, timeframe=timeframe, groups=groups, flows=flows)

    def _values_of(self, field: str, contact: Contact, at: datetime) -> list[str]:
        """Every spelling of ``field`` the contact uses (SPEC §8)."""
        if field in ("city", "country", "language", "gender"):
            value = getattr(contact, field)
            return [] if value is None else [value]
        if field == "tag":
            return list(contact.tags)
        found: list[str] = []
        for event in self.visible_events(contact.id, at, ("product_view", "add_to_cart", "order")):
            if field == "category":
                found.extend(event.categories)
                for item in event.items:
                    found.extend(item.categories)
            elif event.type == "order":
                found.extend(item.product_id for item in event.items)
            elif event.product_id is not None:
                found.append(event.product_id)
        return found

    def value_counts(self, field: str, flt: Filter | None, at: Instant) -> list[tuple[str, int]]:
        """``(label, count)`` pairs of SPEC §8, most frequent first, ties by label.

        Products are identifiers: they group exactly, not through the normalised key.
        """
        if field not in VALUE_FIELDS:
            raise InvalidFilter(f"field: {field!r} is not one of {', '.join(VALUE_FIELDS)}")
        moment = instant(at)
        ids = sorted(self.members(_Everyone() if flt is None else flt, moment))
        group_members: dict[str, set[str]] = {}
        spelling_users: dict[str, dict[str, set[str]]] = {}
        undefined = 0
        for cid in ids:
            has_value = False
            for spelling in self._values_of(field, self.contacts[cid], moment):
                key = spelling if field == "product" else norm_key(spelling)
                if key is None:
                    continue
                has_value = True
                group_members.setdefault(key, set()).add(cid)
                spelling_users.setdefault(key, {}).setdefault(spelling, set()).add(cid)
            if not has_value:
                undefined += 1
        pairs: list[tuple[str, int]] = []
        for key, members in group_members.items():
            spellings = spelling_users[key]
            label = min(spellings, key=lambda s: (-len(spellings[s]), s))
            pairs.append((label, len(members)))
        if undefined:
            pairs.append((UNDEFINED, undefined))
        return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))

    def audience(self, flt: Filter, kind: str, at: Instant) -> frozenset[str]:
        """Members a campaign of ``kind`` may be sent to (SPEC §7)."""
        if kind not in AUDIENCE_STATUSES:
            raise InvalidFilter(f"kind: {kind!r} is not one of {', '.join(AUDIENCE_STATUSES)}")
        if not isinstance(flt, Filter):
            raise UnsupportedFilter(f"Reference cannot resolve the segment {flt!r}; pass a filter")
        moment = instant(at)
        result = set()
        for cid in self.members(flt, moment):
            contact = self.contacts[cid]
            if (self.status_at(contact, moment) in AUDIENCE_STATUSES[kind]
                    and self.state_at(contact, moment, DEFAULT_TIMEFRAME) != "blocked"):
                result.add(cid)
        return frozenset(result)

    def preview(self, flt: Filter, against: Filter, at: Instant) -> dict[str, Any]:
        """``count``, ``entering``, ``leaving``, ``staying`` and ``examples`` of SPEC §9."""
        now = self.members(flt, at)
        saved = self.members(against, at)
        sets = {"entering": now - saved, "leaving": saved - now, "staying": now & saved}
        return {
            "count": len(now),
            **{name: len(ids) for name, ids in sets.items()},
            "examples": {name: tuple(sorted(ids)[:MAX_EXAMPLES]) for name, ids in sets.items()},
        }

    def explain(self, flt: Filter, contact_id: str, at: Instant) -> list[dict[str, Any]]:
        """One row per node in pre-order: ``node``, ``holds`` and the evidence SPEC §9 lists.

        Count leaves: ``count``, ``window`` (start or None, end), ``matches`` (up to 5 instants, most
        recent first, ties by larger event id); ``spent``: ``window``, ``total``; ``aov``: ``window``,
        ``mean``; ``joined``: ``window``, ``value``; attribute leaves: ``value``; engagement: ``state``.
        """
        moment = instant(at)
        contact = self.contacts.get(contact_id)
        if contact is None or contact.created_at > moment:
            raise UnknownContact(f"contact {contact_id!r} does not exist at {_iso(moment)}")
        return self.judge(flt, contact, moment)


# --- custom attributes (docs/ARCHITECTURE.md "Decisions") --------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _attr_equal(value: object, operand: object) -> bool:
    if isinstance(value, bool) or isinstance(operand, bool):
        return isinstance(value, bool) and isinstance(operand, bool) and value == operand
    if _is_number(value) and _is_number(operand):
        return float(value) == float(operand)  # type: ignore[arg-type]
    if isinstance(value, str) and isinstance(operand, str):
        return (norm_key(value) or "") == (norm_key(operand) or "")
    return False


def _attr_order(value: object, op: str, operand: object) -> bool:
    left: Any
    right: Any
    if _is_number(value) and _is_number(operand):
        left, right = float(value), float(operand)  # type: ignore[arg-type]
    elif isinstance(value, str) and isinstance(operand, str):
        left, right = norm_key(value) or "", norm_key(operand) or ""
    else:
        return False
    if op == "lt":
        return bool(left < right)
    if op == "le":
        return bool(left <= right)
    if op == "gt":
        return bool(left > right)
    if op == "ge":
        return bool(left >= right)
    raise UnsupportedFilter(f"Reference cannot handle attribute operator {op!r}")
