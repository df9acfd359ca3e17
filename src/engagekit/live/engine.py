"""The live engine (SPEC §6): exact segment membership as records arrive, and the membership log.

Design
------
At ``start`` the engine reads every contact and event of the store (:mod:`.history`) into
per-contact columns (:mod:`.evaluate`), takes each active segment's members and the three engagement
classes from ``store.members(…, at=start)``, and computes for every (segment, contact) the *due*
instant: the next instant at which that contact's membership could change. Dues live in a heap.

``advance(to=…)`` pops dues in time order; at each one it re-evaluates that one contact for that one
segment at exactly that instant, logs a change if there is one (with that instant) and pushes the
contact's next due. A record that arrives adds itself to its contact's columns and lowers the
contact's due to its own instant for the segments that read its type; a record earlier than
``engine.now`` is *late*: its contact is re-evaluated at ``engine.now`` at once and the changes are
logged there with ``late=True``.

Cost: an event costs a few ``bisect`` calls per segment that reads its type; an expiry costs one
evaluation of one contact. Nothing rescans the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from heapq import heapify, heappop, heappush
from typing import Any

from engagekit.errors import InvalidInstant, UnknownSegment
from engagekit.filters import DEFAULT_TIMEFRAME, Filter, blocked, engaged, in_segment, unengaged
from engagekit.live.evaluate import NEVER, STATES, Compiler, ContactState, Matchers, Node
from engagekit.live.history import event_micros, history
from engagekit.live.segments import Segment
from engagekit.model import Contact, Event
from engagekit.reports import LoadReport
from engagekit.time import Instant, as_timedelta, from_micros, instant, to_micros

LogRow = tuple[str, str, str, int, bool]


class _Slot:
    """One tracked unit: a segment (``members``) or the engagement classes (``classes``)."""

    __slots__ = ("filter", "fn", "index", "members", "segment_id", "types")

    def __init__(self, index: int, segment_id: str | None, flt: Filter | None, fn: Node,
                 types: frozenset[str]) -> None:
        self.index = index
        self.segment_id = segment_id
        self.filter = flt
        self.fn = fn
        self.types = types
        self.members: list[set[str]] = [set()] if segment_id is not None else [set(), set(), set()]


class LiveEngine:
    """Keeps every active segment and the engagement classes exact as records arrive (SPEC §6).

    >>> from engagekit import MemoryStore, Contact, Event, LiveEngine, ordered, last
    >>> store = MemoryStore(currency="PLN")
    >>> seg = store.create_segment(ordered(within=last(days=30)), name="buyers")
    >>> engine = LiveEngine(store, start="2026-06-01T00:00:00+00:00")
    >>> _ = engine.add_contacts([Contact(id="c1", created_at="2026-01-01T00:00:00+00:00")])
    >>> _ = engine.add_events([Event(id="o1", contact_id="c1", type="order", at="2026-06-02T10:00:00+00:00",
    ...                              order_id="o1", value="99.90", currency="PLN")])
    >>> engine.advance(to="2026-07-03T00:00:00+00:00")
    >>> [(e.contact_id, e.change, e.at.isoformat()) for e in store.log(seg.id)]
    [('c1', 'added', '2026-06-02T10:00:00+00:00'), ('c1', 'removed', '2026-07-02T10:00:00+00:00')]
    """

    def __init__(self, store: Any, *, start: Instant, timeframe: timedelta = DEFAULT_TIMEFRAME) -> None:
        self.store = store
        self._now = to_micros(instant(start, field="start"))
        self._timeframe = as_timedelta(timeframe, field="timeframe")
        self._matchers = Matchers()
        self._states: dict[str, ContactState] = {}
        self._heap: list[tuple[int, str]] = []  # (instant, contact id): ContactState.next
        self._slots: list[_Slot | None] = []
        self._segment_slot: dict[str, int] = {}
        self._by_type: dict[str, list[_Slot]] = {}
        self._pending_log: list[LogRow] = []
        self._late: set[tuple[int, str]] = set()
        self._instant = -1  # the instant of the latest log rows, and those rows by (segment, contact)
        self._at_instant: dict[tuple[str, str], LogRow] = {}
        self._marked: dict[str, tuple[int, int]] = {}  # what _set_generated last saved: (at, count)

        # compile first, so that one pass over the history fills every matcher's columns
        compiler = Compiler(self._matchers)
        classes = compiler.classes(self._timeframe)
        active = [(segment, self._compile(segment.id)) for segment in store.segments() if segment.active]
        self._matchers.fresh.clear()
        contacts, events = history(store)
        for contact in contacts:
            st = self._state(contact.id)
            st.contact = contact
            st.created = to_micros(contact.created_at)
        ingest, state = self._matchers.ingest, self._state
        for event in events:
            ingest(state(event.contact_id), event, event_micros(event))

        self._classes = self._new_slot(None, None, classes, frozenset(compiler.types))
        moment = from_micros(self._now)
        for i, flt in enumerate((engaged(timeframe=self._timeframe), unengaged(timeframe=self._timeframe),
                                 blocked())):
            self._classes.members[i] = set(store.members(flt, at=moment))
        self._schedule_all(self._classes)
        for segment, compiled in active:
            self._track(segment, silent=True, compiled=compiled)
        self._mark_generated()

    # --- public API ---------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The engine's current instant: membership is exact here."""
        return from_micros(self._now)

    def members(self, segment_id: str) -> frozenset[str]:
        """Members of an active segment at ``engine.now`` (a segment new to the engine starts now)."""
        if segment_id not in self._segment_slot:
            self.sync_segments()
        slot = self._slot_of(segment_id)
        return frozenset(slot.members[0])

    def engagement(self, state: str) -> frozenset[str]:
        """Contacts in an engagement class (``engaged``, ``unengaged``, ``blocked``) at ``engine.now``."""
        if state not in STATES:
            raise ValueError(f"state: {state!r} is not one of {', '.join(STATES)}")
        return frozenset(self._classes.members[STATES.index(state)])

    def add_contacts(self, contacts: Iterable[Contact | dict[str, Any]], *, on_invalid: str = "raise") -> LoadReport:
        """Add or update contacts in the store and the engine; each takes effect at its ``created_at``."""
        batch = list(contacts)
        report: LoadReport = self.store.add_contacts(batch, on_invalid=on_invalid)
        rejected = {r.index for r in report.rejected}
        now = self._now
        for index, record in enumerate(batch):
            if index in rejected:
                continue
            contact = record if isinstance(record, Contact) else Contact.from_dict(record)
            st = self._state(contact.id)
            existed = st.created <= now  # an upsert of a contact that exists now changes it now
            st.contact = contact
            st.created = created = to_micros(contact.created_at)
            st.cache = None
            effect = now if existed else created
            for slot in self._live_slots():
                if created < now:
                    self._late.add((slot.index, contact.id))
                elif effect < st.due[slot.index]:
                    st.due[slot.index] = effect
            if created >= now and effect < st.next:
                st.next = effect
                heappush(self._heap, (effect, contact.id))
        self._settle()
        return report

    def add_events(self, events: Iterable[Event | dict[str, Any]], *, on_invalid: str = "raise") -> LoadReport:
        """Add events to the store and the engine; each takes effect at its own ``at``.

        An event already stored (same id) is a no-op, as in the store. An event earlier than
        ``engine.now`` is late: its changes are logged at ``engine.now`` with ``late=True``.
        """
        batch: list[Any] = list(events)
        try:
            ids = [e.id for e in batch]
            plain = True
        except AttributeError:  # mappings (Event.from_dict) among the records
            ids = [i for i in map(_record_id, batch) if i is not None]
            plain = False
        known = self.store._known_event_ids(ids) if ids else set()
        report: LoadReport = self.store.add_events(batch, on_invalid=on_invalid)
        if plain and not report.rejected and not report.duplicates:
            fresh: list[Event] = batch  # every record is a new, valid Event: the common case
        else:
            rejected = {r.index for r in report.rejected}
            seen: set[str] = set(known)
            fresh = []
            for index, record in enumerate(batch):
                if index not in rejected:
                    event = record if isinstance(record, Event) else Event.from_dict(record)
                    if event.id not in seen:
                        seen.add(event.id)
                        fresh.append(event)
        now, states, ingest, by_type = self._now, self._states, self._matchers.ingest, self._by_type
        late, heap, epoch = self._late, self._heap, _EPOCH
        for event in fresh:
            cid = event.contact_id
            st = states.get(cid)
            if st is None:
                st = self._state(cid)
            delta = event.at - epoch
            t = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
            ingest(st, event, t)
            slots = by_type.get(event.type)
            if not slots:
                continue
            if t < now:
                for slot in slots:
                    late.add((slot.index, cid))
                continue
            due = st.due
            for slot in slots:
                if t < due[slot.index]:  # noqa: PLR1730 - hot path
                    due[slot.index] = t
            if t < st.next:
                st.next = t
                heappush(heap, (t, cid))
        self._settle()
        return report

    def forget(self, contact_id: str) -> bool:
        """``store.forget`` (erase the contact, its events and its log entries) and drop the contact
        from every tracked segment and engagement class at once. Nothing is logged for it: its
        history is erased, not ended. The saved member counts follow. True when the store erased
        something.

        Erasing through ``store.forget`` while an engine runs leaves the engine counting the contact
        until this call is made; erase through the engine instead.
        """
        erased: bool = self.store.forget(contact_id)
        self._states.pop(contact_id, None)  # the heap may still name it: _run skips unknown ids
        for slot in self._live_slots():
            for members in slot.members:
                members.discard(contact_id)
        self._late = {(s, cid) for s, cid in self._late if cid != contact_id}
        self._at_instant = {key: row for key, row in self._at_instant.items() if key[1] != contact_id}
        self._mark_generated(changed_only=True)
        return erased

    def advance(self, to: Instant) -> None:
        """Apply everything up to ``to`` in time order; ``engine.now`` becomes ``to``."""
        target = to_micros(instant(to, field="to"))
        if target < self._now:
            raise InvalidInstant(
                f"to: {from_micros(target).isoformat()} is before the engine's instant "
                f"{self.now.isoformat()}; the engine never goes back")
        self._sync()
        self._run(target)
        self._now = target
        self._flush()
        self._mark_generated()

    def sync_segments(self) -> None:
        """Catch up with the store's segments: new and re-activated ones start silently at
        ``engine.now``; a changed filter is rebuilt and the difference logged at ``engine.now``;
        deleted or deactivated ones stop being tracked. The saved member counts follow."""
        self._sync()
        self._mark_generated(changed_only=True)

    def _sync(self) -> None:
        wanted: dict[str, Segment] = {s.id: s for s in self.store.segments() if s.active}
        for segment_id in list(self._segment_slot):
            if segment_id not in wanted:
                self._untrack(segment_id)
        for segment_id, segment in wanted.items():
            index = self._segment_slot.get(segment_id)
            if index is None:
                self._track(segment, silent=True)
                continue
            old = self._slots[index]
            assert old is not None
            if self.store.resolve(in_segment(segment_id)) != old.filter:
                self._track(segment, silent=False)
        self._flush()

    def create_segment(self, filter: Filter, name: str | None = None, active: bool = True, *,
                       id: str | None = None) -> Segment:
        """``store.create_segment`` and start tracking it at ``engine.now``."""
        segment: Segment = self.store.create_segment(filter, name=name, active=active, id=id)
        self.sync_segments()
        return segment

    def update_segment(self, segment_id: str, *, filter: Filter | None = None, name: str | None = None,
                       active: bool | None = None) -> Segment:
        """``store.update_segment``; a new filter is rebuilt and the difference logged at ``engine.now``."""
        segment: Segment = self.store.update_segment(segment_id, filter=filter, name=name, active=active)
        self.sync_segments()
        return segment

    def delete_segment(self, segment_id: str) -> None:
        """``store.delete_segment`` and stop tracking it."""
        self.store.delete_segment(segment_id)
        self.sync_segments()

    # --- tracking -----------------------------------------------------------------------------------

    def _state(self, contact_id: str) -> ContactState:
        st = self._states.get(contact_id)
        if st is None:
            st = self._states[contact_id] = ContactState()
            st.due = [NEVER] * len(self._slots)
        return st

    def _slot_of(self, segment_id: str) -> _Slot:
        index = self._segment_slot.get(segment_id)
        slot = None if index is None else self._slots[index]
        if slot is None:
            raise UnknownSegment(f"segment {segment_id!r} is not tracked by this engine (unknown or inactive)")
        return slot

    def _live_slots(self) -> list[_Slot]:
        return [s for s in self._slots if s is not None]

    def _new_slot(self, segment_id: str | None, flt: Filter | None, fn: Node, types: frozenset[str]) -> _Slot:
        slot = _Slot(len(self._slots), segment_id, flt, fn, types)
        self._slots.append(slot)
        for etype in types:
            self._by_type.setdefault(etype, []).append(slot)
        return slot

    def _drop_slot(self, slot: _Slot) -> None:
        self._slots[slot.index] = None
        for etype in slot.types:
            self._by_type[etype] = [s for s in self._by_type[etype] if s is not slot]

    def _compile(self, segment_id: str) -> tuple[Filter, Node, frozenset[str]]:
        resolved = self.store.resolve(in_segment(segment_id))
        compiler = Compiler(self._matchers)
        fn = compiler.compile(resolved)
        return resolved, fn, frozenset(compiler.types)

    def _track(self, segment: Segment, *, silent: bool,
               compiled: tuple[Filter, Node, frozenset[str]] | None = None) -> None:
        """Start tracking a segment at ``engine.now``, or rebuild it (logging the difference)."""
        resolved, fn, types = compiled or self._compile(segment.id)
        self._backfill()
        slot = self._new_slot(segment.id, resolved, fn, types)
        now = self._now
        members = set(self.store.members(in_segment(segment.id), at=from_micros(now)))
        old_index = self._segment_slot.get(segment.id)
        if old_index is not None:
            old = self._slots[old_index]
            assert old is not None
            if not silent:
                before = old.members[0]
                for cid in sorted(members - before):
                    self._log((segment.id, cid, "added", now, False))
                for cid in sorted(before - members):
                    self._log((segment.id, cid, "removed", now, False))
            self._drop_slot(old)
        slot.members[0] = members
        self._segment_slot[segment.id] = slot.index
        self._schedule_all(slot)

    def _untrack(self, segment_id: str) -> None:
        index = self._segment_slot.pop(segment_id)
        self._marked.pop(segment_id, None)
        slot = self._slots[index]
        if slot is not None:
            self._drop_slot(slot)

    def _backfill(self) -> None:
        """Fill columns of matchers added since the start from the store's events."""
        fresh = frozenset(self._matchers.fresh)
        if not fresh:
            return
        self._matchers.fresh.clear()
        _, events = history(self.store)
        ingest, state = self._matchers.ingest, self._state
        for event in events:
            ingest(state(event.contact_id), event, event_micros(event), only=fresh)

    def _schedule_all(self, slot: _Slot) -> None:
        """Compute every contact's due for a new slot (its members are already set)."""
        s, fn, now, heap = slot.index, slot.fn, self._now, self._heap
        for cid, st in self._states.items():
            _, n = fn(st, now)
            due = st.due
            while len(due) < s:  # pragma: no cover - states are sized with the slots
                due.append(NEVER)
            due.append(n)
            if n < st.next:
                st.next = n
                heap.append((n, cid))
        heapify(heap)

    # --- applying changes ---------------------------------------------------------------------------

    def _settle(self) -> None:
        """After records arrived: apply what is due at ``engine.now`` and the late records."""
        self._run(self._now)
        if self._late:
            late, self._late = sorted(self._late), set()
            now, states, slots = self._now, self._states, self._slots
            for s, cid in late:
                slot = slots[s]
                if slot is not None:
                    states[cid].due[s] = self._apply(slot, states[cid], cid, now, True)
            for cid in {cid for _, cid in late}:
                self._reschedule(states[cid], cid)
        self._flush()
        # records at or before engine.now change membership at engine.now: the saved count must follow,
        # or it would claim a count at last_generated_at that store.count() there contradicts
        self._mark_generated(changed_only=True)

    def _reschedule(self, st: ContactState, cid: str) -> None:
        nxt = min(st.due, default=NEVER)
        if nxt != st.next:
            st.next = nxt
            if nxt != NEVER:
                heappush(self._heap, (nxt, cid))

    def _run(self, until: int) -> None:
        """Apply every due instant up to ``until``, in time order."""
        heap, states, slots, apply = self._heap, self._states, self._slots, self._apply
        while heap and heap[0][0] <= until:
            t, cid = heappop(heap)
            st = states.get(cid)
            if st is None or st.next != t:
                continue  # superseded, or forgotten
            due = st.due
            nxt = NEVER
            for s, d in enumerate(due):
                after = d
                if d <= t:
                    slot = slots[s]
                    after = due[s] = NEVER if slot is None else apply(slot, st, cid, t, False)
                if after < nxt:  # noqa: PLR1730 - hot path
                    nxt = after
            st.next = nxt
            if nxt != NEVER:
                heappush(heap, (nxt, cid))

    def _apply(self, slot: _Slot, st: ContactState, cid: str, t: int, late: bool) -> int:
        """Evaluate one contact for one slot at ``t``, log a change; return the slot's next due."""
        value, n = slot.fn(st, t)
        if slot.segment_id is not None:
            members = slot.members[0]
            if value:
                if cid not in members:
                    members.add(cid)
                    self._log((slot.segment_id, cid, "added", t, late))
            elif cid in members:
                members.discard(cid)
                self._log((slot.segment_id, cid, "removed", t, late))
        else:
            groups = slot.members
            if value < 0 or cid not in groups[value]:  # a class changed (or the contact is gone)
                for i, group in enumerate(groups):
                    if i == value:
                        group.add(cid)
                    else:
                        group.discard(cid)
        return n

    def _log(self, row: LogRow) -> None:
        """Log a change; a change undone at the same instant (records arriving one by one at
        ``engine.now``) cancels out, so the log holds the net difference at each instant."""
        t = row[3]
        if t != self._instant:
            self._instant, self._at_instant = t, {}
        key = (row[0], row[1])
        previous = self._at_instant.pop(key, None)
        if previous is None:
            self._at_instant[key] = row
            self._pending_log.append(row)
        elif previous in self._pending_log:
            self._pending_log.remove(previous)
        else:
            self.store._delete_log([previous])

    def _flush(self) -> None:
        if self._pending_log:
            rows, self._pending_log = self._pending_log, []
            self.store._append_log(rows)

    def _mark_generated(self, *, changed_only: bool = False) -> None:
        """Save ``(engine.now, member count)`` of every tracked segment; with ``changed_only``, only
        those that differ from what this engine saved last (records arriving one call at a time
        must not cost a write per segment each)."""
        now, marked = self._now, self._marked
        updates: list[tuple[str, int, int]] = []
        for segment_id, index in self._segment_slot.items():
            slot = self._slots[index]
            if slot is None:
                continue
            mark = (now, len(slot.members[0]))
            if not changed_only or marked.get(segment_id) != mark:
                marked[segment_id] = mark
                updates.append((segment_id, *mark))
        if updates or not changed_only:
            self.store._set_generated(updates)


_EPOCH = from_micros(0)


def _record_id(record: object) -> str | None:
    if isinstance(record, Event):
        return record.id
    if isinstance(record, dict):
        value = record.get("id")
        return value if isinstance(value, str) else None
    return None
