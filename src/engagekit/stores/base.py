"""The ``Store`` protocol and the behaviour every store shares.

Validation, defaults of ``at``, resolving saved segments, the Decimal division of SPEC §4 and the
assembly of the dashboard live here, once. A concrete store implements only the primitives marked
"store primitive": how to persist and how to evaluate.

``explain`` and ``preview`` (SPEC §9) are implemented once, in :mod:`engagekit.explain`, over three
primitives every store provides, so that every store returns the same tree:

- ``_holds(flt, contact_id, at) -> bool``: whether one contact is a member of a resolved filter at
  ``at``. The default asks ``_members``; a SQL store should override it with a query restricted to
  that contact.
- ``_matching_events(leaf, contact_id, span) -> list[tuple[int, str]]``: ``(micros, event id)`` of
  every event of that contact counted by the count leaf ``leaf`` (its type, product / category /
  campaign / form match) with ``span.lo <= micros < span.hi`` (``lo`` None is open), in any order.
- ``_order_values(contact_id, span) -> list[int]``: the values, in integer minor units, of that
  contact's orders with instants in ``span``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

import attrs

from engagekit.campaigns import CampaignResultsMixin  # campaign_results (SPEC §10)
from engagekit.errors import BatchRejected, InvalidFilter, InvalidRecord
from engagekit.explain import Explanation, Preview, explain, preview
from engagekit.filters import (
    DEFAULT_TIMEFRAME,
    Filter,
    Visitor,
    _And,
    _Count,
    _InSegment,
    _Not,
    _Or,
    blocked,
    engaged,
    everyone,
    status,
    unengaged,
    view_filter,
)
from engagekit.metrics import Metrics, OrderTotals, percent_change, ratio
from engagekit.model import Contact, Event
from engagekit.money import currency_code
from engagekit.reports import STATES, Dashboard, DashboardGroup, LoadReport, Rejection
from engagekit.time import EVER, Clock, Instant, Span, Window, as_timedelta, instant, utc_now

from .segments import SegmentsMixin

OnInvalid = Literal["raise", "skip"]
ENGAGEMENT_RATE_TIMEFRAME = timedelta(days=30)
DASHBOARD_LOOKBACK = timedelta(days=30)
VALUE_FIELDS = ("city", "country", "language", "gender", "tag", "category", "product")
UNDEFINED = "UNDEFINED"
AUDIENCE_STATUSES = {"newsletter": frozenset({"subscribed"}),
                     "automation": frozenset({"subscribed", "unknown"})}


@runtime_checkable
class Store(Protocol):
    """What every store offers, whatever is underneath (SPEC §1)."""

    currency: str

    def add_contacts(self, contacts: Iterable[Contact], *, on_invalid: OnInvalid = "raise") -> LoadReport: ...
    def add_events(self, events: Iterable[Event], *, on_invalid: OnInvalid = "raise") -> LoadReport: ...
    def contact(self, contact_id: str) -> Contact | None: ...
    def members(self, filter: Filter, *, at: Instant | None = None) -> frozenset[str]: ...
    def count(self, filter: Filter, *, at: Instant | None = None) -> int: ...
    def metrics(self, filter: Filter, *, at: Instant | None = None, within: Window = EVER) -> Metrics: ...
    def engagement(self, *, at: Instant | None = None, timeframe: timedelta = DEFAULT_TIMEFRAME,
                   view: str = "subscribed+unknown") -> Dashboard: ...
    def audience(self, segment_or_filter: str | Filter, *, kind: str = "newsletter",
                 at: Instant | None = None) -> frozenset[str]: ...
    def value_counts(self, field: str, filter: Filter | None = None, *,
                     at: Instant | None = None) -> list[tuple[str, int]]: ...
    def forget(self, contact_id: str) -> bool: ...


@attrs.frozen
class ValueRows:
    """What a store finds for ``value_counts``: the raw material SPEC §8 orders and labels.

    ``spellings``: (key, spelling, contacts using that spelling); ``groups``: key → distinct
    contacts; ``undefined``: members with no value.
    """

    spellings: Sequence[tuple[str, str, int]]
    groups: Mapping[str, int]
    undefined: int


class StoreBase(CampaignResultsMixin, SegmentsMixin, abc.ABC):  # SegmentsMixin: SPEC §6 (stores/segments.py)
    """Shared behaviour of every store; subclasses implement the store primitives."""

    currency: str

    def __init__(self, *, currency: str, clock: Clock | None = None) -> None:
        try:
            self.currency = currency_code(currency)
        except InvalidRecord as exc:
            raise InvalidRecord(f"currency: {exc}") from None
        self.clock: Clock = clock or utc_now

    # --- instants --------------------------------------------------------------------------------

    def _at(self, at: Instant | None) -> datetime:
        return instant(self.clock() if at is None else at, field="at")

    # --- ingestion -------------------------------------------------------------------------------

    def add_contacts(self, contacts: Iterable[Contact], *, on_invalid: OnInvalid = "raise") -> LoadReport:
        """Add or update contacts (an existing id is updated). All-or-nothing unless ``on_invalid="skip"``."""
        _check_on_invalid(on_invalid)
        valid: dict[str, Contact] = {}
        rejected: list[Rejection] = []
        for index, record in enumerate(contacts):
            try:
                contact = record if isinstance(record, Contact) else Contact.from_dict(record)
            except InvalidRecord as exc:
                rejected.append(_rejection(index, record, exc))
                continue
            except (TypeError, AttributeError) as exc:
                rejected.append(Rejection(index, None, "record", f"not a Contact: {exc}"))
                continue
            valid[contact.id] = contact  # the last version of an id in a batch wins
        _raise_if_rejected(rejected, on_invalid, "contacts")
        added, updated = self._store_contacts(list(valid.values())) if valid else (0, 0)
        return LoadReport(added=added, updated=updated, rejected=tuple(rejected))

    def add_events(self, events: Iterable[Event], *, on_invalid: OnInvalid = "raise") -> LoadReport:
        """Add events; an id already stored (or repeated in the batch) is a duplicate and a no-op."""
        _check_on_invalid(on_invalid)
        fresh: dict[str, Event] = {}
        duplicates = 0
        rejected: list[Rejection] = []
        for index, record in enumerate(events):
            event = checked_event(index, record, self.currency)
            if isinstance(event, Rejection):
                rejected.append(event)
                continue
            if event.id in fresh:
                duplicates += 1
            else:
                fresh[event.id] = event
        _raise_if_rejected(rejected, on_invalid, "events")
        known = self._known_event_ids(list(fresh)) if fresh else set()
        new = [e for eid, e in fresh.items() if eid not in known]
        if new:
            self._store_events(new)
        return LoadReport(added=len(new), duplicates=duplicates + len(known), rejected=tuple(rejected))

    def add_events_arrow(self, data: object, *, on_invalid: OnInvalid = "raise") -> LoadReport:
        """Add events given as columns: a pyarrow Table, RecordBatchReader or Parquet path in the flat
        event layout (:mod:`engagekit.stores.sql.arrow_ingest`). This generic form makes each row its
        record and calls ``add_events``; DuckDBStore checks and copies the columns inside DuckDB.
        """
        from engagekit.stores.sql.arrow_ingest import event_records

        return self.add_events(event_records(data), on_invalid=on_invalid)  # type: ignore[arg-type]

    def bulk_load(self) -> AbstractContextManager[None]:
        """A ``with`` block for a bulk load (many ``add_*`` batches in a row, e.g. an import).

        Settings that suit questions but grow with a long append are held small inside it and
        restored when it ends, also after an error: SQLite's page cache, DuckDB's memory limit. On
        other stores it changes nothing. ``engagekit.io`` imports run inside one.

        >>> from engagekit import MemoryStore, Event
        >>> store = MemoryStore(currency="PLN")
        >>> with store.bulk_load():
        ...     store.add_events([Event(id="e1", contact_id="c1", type="email_open", campaign_id="k1",
        ...                             at="2026-06-01T10:00:00+00:00")]).added
        1
        """
        return nullcontext()

    def contact(self, contact_id: str) -> Contact | None:
        """The stored contact with this id, or ``None``."""
        return self._get_contact(contact_id)

    def forget(self, contact_id: str) -> bool:
        """Erase a contact and all its events; True when something was erased."""
        self._forget_segment_data(contact_id)  # its membership log entries (stores/segments.py)
        return self._erase(contact_id)

    # --- questions -------------------------------------------------------------------------------

    def members(self, filter: Filter, *, at: Instant | None = None) -> frozenset[str]:
        """Ids of the contacts that ``filter`` selects at ``at``."""
        return self._members(self.resolve(filter), self._at(at))

    def count(self, filter: Filter, *, at: Instant | None = None) -> int:
        """``len(members(filter, at=at))``, computed without building the set where a store can."""
        return self._count(self.resolve(filter), self._at(at))

    def metrics(self, filter: Filter, *, at: Instant | None = None, within: Window = EVER) -> Metrics:
        """SPEC §4 metrics of the filter's members over their visible orders in ``within``."""
        if not isinstance(within, Window):
            raise InvalidFilter(f"within: expected a window, got {within!r}")
        moment = self._at(at)
        resolved = self.resolve(filter)
        totals = self._order_totals(resolved, moment, within)
        engaged_count = self._count(_And.of(resolved, engaged(timeframe=ENGAGEMENT_RATE_TIMEFRAME)), moment)
        return Metrics.from_totals(totals, engaged_count, self.currency)

    def engagement(self, *, at: Instant | None = None, timeframe: timedelta = DEFAULT_TIMEFRAME,
                   view: str = "subscribed+unknown") -> Dashboard:
        """The contacts dashboard of SPEC §5."""
        timeframe = as_timedelta(timeframe, field="timeframe")
        in_view = view_filter(view)
        moment = self._at(at)
        before = lookback(moment)
        if before is None:  # 30 days before `at` precede the calendar: nobody existed then
            flows: dict[tuple[str, str], int] = {}
            for (_, to), n in self._flows(in_view, timeframe, moment, moment).items():
                if n and to != "absent":
                    flows[("absent", to)] = flows.get(("absent", to), 0) + n
        else:
            flows = {pair: n for pair, n in self._flows(in_view, timeframe, moment, before).items() if n}
        counts = {s: sum(n for (_, to), n in flows.items() if to == s) for s in STATES}
        counts_before = {s: sum(n for (frm, _), n in flows.items() if frm == s) for s in STATES}
        total = sum(counts.values())
        classes = _classes(timeframe)
        groups = {}
        for state in STATES:
            group_filter = _And.of(in_view, classes[state])
            totals = self._order_totals(group_filter, moment, EVER)
            engaged_count = self._count(
                _And.of(group_filter, engaged(timeframe=ENGAGEMENT_RATE_TIMEFRAME)), moment)
            groups[state] = DashboardGroup(
                count=counts[state],
                share=ratio(counts[state], total),
                count_before=counts_before[state],
                change=counts[state] - counts_before[state],
                change_pct=percent_change(counts[state], counts_before[state]),
                metrics=Metrics.from_totals(totals, engaged_count, self.currency),
            )
        return Dashboard(view=view, timeframe=timeframe, groups=groups, flows=flows)

    def audience(self, segment_or_filter: str | Filter, *, kind: str = "newsletter",
                 at: Instant | None = None) -> frozenset[str]:
        """Members a campaign of ``kind`` may be sent to (SPEC §7)."""
        if kind not in AUDIENCE_STATUSES:
            raise InvalidFilter(f"kind: {kind!r} is not one of {', '.join(AUDIENCE_STATUSES)}")
        base = self._segment_or_filter(segment_or_filter, "segment_or_filter")
        allowed = _And.of(base, status(AUDIENCE_STATUSES[kind]), _Not(blocked()))
        return self.members(allowed, at=at)

    def value_counts(self, field: str, filter: Filter | None = None, *,
                     at: Instant | None = None) -> list[tuple[str, int]]:
        """``(label, count)`` pairs of SPEC §8, most frequent first, ties by label."""
        if field not in VALUE_FIELDS:
            raise InvalidFilter(f"field: {field!r} is not one of {', '.join(VALUE_FIELDS)}")
        flt = everyone() if filter is None else self.resolve(filter)
        rows = self._value_rows(field, flt, self._at(at))
        return label_value_counts(rows)

    # --- explain and preview (SPEC §9) ----------------------------------------------------------

    def explain(self, filter_or_segment_id: str | Filter, contact_id: str, *,
                at: Instant | None = None) -> Explanation:
        """Why ``contact_id`` is or is not selected at ``at``: a tree with a verdict per node.

        A segment id explains as its ``in_segment`` node with the saved filter's explanation as its
        one child. A contact that does not exist at ``at`` raises :class:`~engagekit.UnknownContact`.
        """
        flt = self._segment_or_filter(filter_or_segment_id, "filter_or_segment_id")
        return explain(self, flt, contact_id, self._at(at))

    def preview(self, filter: Filter, *, against: str | Filter, at: Instant | None = None) -> Preview:
        """How the members of ``filter`` differ from those of ``against`` (a segment id or a filter)."""
        moment = self._at(at)
        now = self.members(filter, at=moment)
        saved = self.members(self._segment_or_filter(against, "against"), at=moment)
        return preview(now, saved)

    # --- segments --------------------------------------------------------------------------------

    def resolve(self, flt: Filter) -> Filter:
        """The filter with every ``in_segment`` replaced by the saved filter it names."""
        if not isinstance(flt, Filter):
            raise InvalidFilter(f"filter: expected a Filter, got {type(flt).__name__} {flt!r}")
        return flt.accept(_SegmentResolver(self._segment_filter, ()))

    def _segment_or_filter(self, value: str | Filter, field: str) -> Filter:
        if isinstance(value, str):
            from engagekit.filters import in_segment

            return in_segment(value)
        if isinstance(value, Filter):
            return value
        raise InvalidFilter(f"{field}: expected a segment id or a Filter, got {value!r}")

    # --- store primitives ------------------------------------------------------------------------

    @abc.abstractmethod
    def _store_contacts(self, contacts: list[Contact]) -> tuple[int, int]:
        """Insert or replace contacts atomically; return (added, updated)."""

    @abc.abstractmethod
    def _known_event_ids(self, ids: list[str]) -> set[str]:
        """Which of these event ids are already stored."""

    @abc.abstractmethod
    def _store_events(self, events: list[Event]) -> None:
        """Insert new events atomically (ids are known to be new)."""

    @abc.abstractmethod
    def _get_contact(self, contact_id: str) -> Contact | None: ...

    @abc.abstractmethod
    def _erase(self, contact_id: str) -> bool: ...

    @abc.abstractmethod
    def _members(self, flt: Filter, at: datetime) -> frozenset[str]:
        """Members of a filter free of ``in_segment`` at an aware UTC instant."""

    def _count(self, flt: Filter, at: datetime) -> int:
        return len(self._members(flt, at))

    @abc.abstractmethod
    def _order_totals(self, flt: Filter, at: datetime, within: Window) -> OrderTotals:
        """Exact aggregates of SPEC §4 over the members' visible orders in ``within``."""

    def _flows(self, in_view: Filter, timeframe: timedelta, at: datetime,
               before: datetime) -> dict[tuple[str, str], int]:
        """Counts of contacts per (state at ``before``, state at ``at``), SPEC §5.

        This default asks for member sets; SQL stores answer it in one query.
        """
        def states(moment: datetime) -> dict[str, str]:
            existing = self._members(everyone(), moment)
            viewed = self._members(in_view, moment)
            state = dict.fromkeys(existing - viewed, "outside")
            for name, flt in _classes(timeframe).items():
                for cid in self._members(_And.of(in_view, flt), moment):
                    state[cid] = name
            return state

        now, then = states(at), states(before)
        flows: dict[tuple[str, str], int] = {}
        for cid in now.keys() | then.keys():
            pair = (then.get(cid, "absent"), now.get(cid, "absent"))
            flows[pair] = flows.get(pair, 0) + 1
        return flows

    def _holds(self, flt: Filter, contact_id: str, at: datetime) -> bool:
        """Whether one contact is among the members of a resolved filter at ``at`` (explain)."""
        return contact_id in self._members(flt, at)

    @abc.abstractmethod
    def _matching_events(self, leaf: _Count, contact_id: str, span: Span) -> list[tuple[int, str]]:
        """``(micros, event id)`` of the contact's events the count leaf counts, instants in ``span``."""

    @abc.abstractmethod
    def _order_values(self, contact_id: str, span: Span) -> list[int]:
        """Values in integer minor units of the contact's orders with instants in ``span``."""

    @abc.abstractmethod
    def _value_rows(self, field: str, flt: Filter, at: datetime) -> ValueRows:
        """Spellings, groups and the undefined count of SPEC §8 among the filter's members."""


def lookback(at: datetime) -> datetime | None:
    """The instant the dashboard compares ``at`` with (:data:`DASHBOARD_LOOKBACK` earlier), or ``None``
    when that precedes 0001-01-01, the first instant there is (then every contact counts as absent)."""
    if at - datetime.min.replace(tzinfo=at.tzinfo) < DASHBOARD_LOOKBACK:
        return None
    return at - DASHBOARD_LOOKBACK


def _classes(timeframe: timedelta) -> dict[str, Filter]:
    return {"engaged": engaged(timeframe=timeframe), "unengaged": unengaged(timeframe=timeframe),
            "blocked": blocked()}


def label_value_counts(rows: ValueRows) -> list[tuple[str, int]]:
    """Label each group by its most frequent spelling (ties: smallest string) and order SPEC §8's way."""
    best: dict[str, tuple[int, str]] = {}
    for key, spelling, n in rows.spellings:
        current = best.get(key)
        if current is None or n > current[0] or (n == current[0] and spelling < current[1]):
            best[key] = (n, spelling)
    pairs = [(best[key][1], n) for key, n in rows.groups.items() if n]
    if rows.undefined:
        pairs.append((UNDEFINED, rows.undefined))
    pairs.sort(key=lambda pair: (-pair[1], pair[0]))
    return pairs


class _SegmentResolver(Visitor[Filter]):
    """Rebuilds a filter with ``in_segment`` nodes replaced, refusing cycles."""

    def __init__(self, lookup: object, trail: tuple[str, ...]) -> None:
        self.lookup = lookup
        self.trail = trail

    def __getattr__(self, name: str) -> object:
        if name.startswith("visit_"):
            return lambda node: node
        raise AttributeError(name)

    def visit_and(self, f: _And) -> Filter:
        return _And.of(*(p.accept(self) for p in f.parts))

    def visit_or(self, f: _Or) -> Filter:
        return _Or.of(*(p.accept(self) for p in f.parts))

    def visit_not(self, f: _Not) -> Filter:
        return _Not(f.part.accept(self))

    def visit_in_segment(self, f: _InSegment) -> Filter:
        from engagekit.errors import SegmentCycle

        if f.segment_id in self.trail:
            chain = " → ".join((*self.trail, f.segment_id))
            raise SegmentCycle(f"in_segment: segments refer to each other in a cycle: {chain}")
        saved = self.lookup(f.segment_id)  # type: ignore[operator]
        assert isinstance(saved, Filter)
        return saved.accept(_SegmentResolver(self.lookup, (*self.trail, f.segment_id)))


def _check_on_invalid(on_invalid: str) -> None:
    if on_invalid not in ("raise", "skip"):
        raise InvalidRecord(f"on_invalid: {on_invalid!r} is not 'raise' or 'skip'")


def _record_id(record: object) -> str | None:
    if isinstance(record, (Contact, Event)):
        return record.id
    if isinstance(record, Mapping):
        value = record.get("id")
        return value if isinstance(value, str) else None
    return None


def checked_event(index: int, record: object, currency: str) -> Event | Rejection:
    """Record ``index`` of a batch as a valid :class:`Event` in ``currency``, or why it is refused."""
    try:
        event = record if isinstance(record, Event) else Event.from_dict(record)  # type: ignore[arg-type]
        event.check_currency(currency)
    except InvalidRecord as exc:
        return _rejection(index, record, exc)
    except (TypeError, AttributeError) as exc:
        return Rejection(index, None, "record", f"not an Event: {exc}")
    return event


def _rejection(index: int, record: object, exc: Exception) -> Rejection:
    message = str(exc)
    field = message.split(":", 1)[0] if ":" in message else "record"
    return Rejection(index, _record_id(record), field, message)


def _raise_if_rejected(rejected: list[Rejection], on_invalid: str, what: str) -> None:
    if rejected and on_invalid == "raise":
        first = rejected[0]
        more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
        raise BatchRejected(
            f"{what}[{first.index}].{first.reason}{more}; nothing was stored "
            f"(pass on_invalid='skip' to store the valid records)",
            LoadReport(rejected=tuple(rejected)),
        )
