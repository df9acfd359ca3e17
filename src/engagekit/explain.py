"""Why a contact is (or is not) in a segment, and what a changed filter would do (SPEC §9).

:func:`explain` is one more target of the filter walk: :class:`_Explainer` visits each node once and
keeps its verdict and the evidence that decided it. It asks the store only through its primitives
(``_holds``, ``_matching_events``, ``_order_values``, ``contact``), so every store returns the same tree.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .errors import UnknownContact
from .filters import (
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
    blocked,
    engaged,
    status,
)
from .money import exponent, from_minor, quantize_money
from .time import from_micros

if TYPE_CHECKING:
    from .model import Contact
    from .stores.base import StoreBase

__all__ = ["Explanation", "Preview", "explain", "preview"]

_T = TypeVar("_T")

MAX_MATCHES = 5
MAX_EXAMPLES = 10
PREVIEW_SETS = ("entering", "leaving", "staying")


@attrs.frozen
class Explanation:
    """One node of a filter, whether it holds for a contact at an instant, and what decided it.

    ``children`` explain the parts of ``&``, ``|``, ``~`` and ``in_segment`` in the filter's order.
    Count leaves carry ``window`` (start or None, end), ``count`` and ``matches`` (instants of up to 5
    matching events, most recent first); ``spent`` carries ``total``, ``aov`` ``mean`` (None without
    orders); attribute leaves carry ``value`` as stored; engagement leaves ``state``.

    >>> from engagekit import MemoryStore, Contact, tag
    >>> store = MemoryStore(currency="PLN")
    >>> _ = store.add_contacts([Contact(id="c1", tags={"vip"}, created_at="2026-01-01T00:00:00+00:00")])
    >>> e = store.explain(tag("vip"), "c1", at="2026-06-30T12:00:00+00:00")
    >>> e.holds, e.value
    (True, ('vip',))
    """

    filter: Filter
    holds: bool
    children: tuple[Explanation, ...] = ()
    window: tuple[datetime | None, datetime] | None = None
    count: int | None = None
    matches: tuple[datetime, ...] | None = None
    total: Decimal | None = None
    mean: Decimal | None = None
    value: Any = None
    state: str | None = None

    def render(self, lang: str = "en") -> str:
        """An indented text tree: ✓/✗, the node's name in ``lang`` ("en" or "pl") and its evidence."""
        lines: list[str] = []
        self._render(lang, 0, lines)
        return "\n".join(lines)

    def _render(self, lang: str, depth: int, lines: list[str]) -> None:
        words = _WORDS[lang] if lang in _WORDS else _WORDS["en"]
        mark = "✓" if self.holds else "✗"
        if self.filter.node in ("and", "or", "not"):
            text = f"{words[self.filter.node]}:"
        else:
            text = self.filter.describe(lang)
            evidence = self._evidence(words)
            if evidence:
                text = f"{text}: {evidence}"
        lines.append(f"{'  ' * depth}{mark} {text}")
        for child in self.children:
            child._render(lang, depth + 1, lines)

    def _evidence(self, words: Mapping[str, str]) -> str:
        node = self.filter
        if self.count is not None:
            found = words["found"].format(n=self.count)
            if self.matches:
                found += " " + words["last_at"].format(when=_when(self.matches[0]))
            return found
        if isinstance(node, _Money):
            if node.measure == "spent":
                return words["total"].format(total=self.total)
            return words["no_orders"] if self.mean is None else words["mean"].format(mean=self.mean)
        if self.state is not None:
            return words["state"].format(state=words[self.state])
        if isinstance(node, _Joined):
            return words["joined"].format(when=_when(self.value))
        if isinstance(node, _Tag):
            tags = ", ".join(repr(t) for t in self.value)
            return words["tags"].format(tags=tags) if tags else words["no_tags"]
        if isinstance(node, (_Profile, _Has, _Status, _AttrCompare)):
            return words["no_value"] if self.value is None else words["value"].format(value=self.value)
        return ""

    def __str__(self) -> str:
        return self.render()

    def _repr_html_(self) -> str:
        from .display import explanation_html

        return explanation_html(self)


@attrs.frozen
class Preview:
    """What replacing ``against`` with a filter would change (SPEC §9).

    ``count`` members of the filter; ``entering`` (in the filter, not in ``against``), ``leaving`` and
    ``staying`` are counts; ``examples`` maps each of those names to up to 10 ids, smallest first.
    """

    count: int
    entering: int
    leaving: int
    staying: int
    examples: Mapping[str, tuple[str, ...]]

    def _repr_html_(self) -> str:
        from .display import preview_html

        return preview_html(self)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_WORDS: dict[str, dict[str, str]] = {
    "en": {"and": "all of", "or": "any of", "not": "not", "found": "found {n}", "last_at": "(last at {when})",
           "total": "total: {total}", "mean": "mean: {mean}", "no_orders": "no orders",
           "state": "state: {state}", "engaged": "engaged", "unengaged": "unengaged", "blocked": "blocked",
           "joined": "joined: {when}", "tags": "tags: {tags}", "no_tags": "no tags", "value": "value: {value!r}",
           "no_value": "no value"},
    "pl": {"and": "wszystkie z", "or": "dowolny z", "not": "nie", "found": "znaleziono {n}",
           "last_at": "(ostatnio {when})", "total": "suma: {total}", "mean": "średnia: {mean}",
           "no_orders": "brak zamówień", "state": "stan: {state}", "engaged": "zaangażowany",
           "unengaged": "niezaangażowany", "blocked": "zablokowany", "joined": "dołączenie: {when}",
           "tags": "tagi: {tags}", "no_tags": "brak tagów", "value": "wartość: {value!r}",
           "no_value": "brak wartości"},
}


class _Explainer(Visitor[Explanation]):
    """Explains each node for one existing contact at one instant, through the store's primitives."""

    def __init__(self, store: StoreBase, contact: Contact, at: datetime) -> None:
        self.store = store
        self.contact = contact
        self.at = at

    def holds(self, node: Filter) -> bool:
        return self.store._holds(self.store.resolve(node), self.contact.id, self.at)

    def visit_and(self, f: _And) -> Explanation:
        children = tuple(p.accept(self) for p in f.parts)
        return Explanation(f, all(c.holds for c in children), children)

    def visit_or(self, f: _Or) -> Explanation:
        children = tuple(p.accept(self) for p in f.parts)
        return Explanation(f, any(c.holds for c in children), children)

    def visit_not(self, f: _Not) -> Explanation:
        child = f.part.accept(self)
        return Explanation(f, not child.holds, (child,))

    def visit_in_segment(self, f: _InSegment) -> Explanation:
        child = self.store._segment_filter(f.segment_id).accept(self)
        return Explanation(f, child.holds, (child,))

    def visit_everyone(self, f: _Everyone) -> Explanation:
        return Explanation(f, self.holds(f))

    def visit_count(self, f: _Count) -> Explanation:
        found = self.store._matching_events(f, self.contact.id, f.within.span(self.at))
        latest = sorted(found, reverse=True)[:MAX_MATCHES]  # most recent first; ties: larger event id
        return Explanation(f, self.holds(f), window=f.within.bounds(self.at), count=len(found),
                           matches=tuple(from_micros(us) for us, _ in latest))

    def visit_money(self, f: _Money) -> Explanation:
        values = self.store._order_values(self.contact.id, f.within.span(self.at))
        currency = self.store.currency
        window = f.within.bounds(self.at)
        if f.measure == "spent":
            return Explanation(f, self.holds(f), window=window, total=from_minor(sum(values), currency))
        mean = None
        if values:
            mean = quantize_money(Fraction(sum(values), len(values)) / 10 ** exponent(currency), currency)
        return Explanation(f, self.holds(f), window=window, mean=mean)

    def visit_profile(self, f: _Profile) -> Explanation:
        return Explanation(f, self.holds(f), value=getattr(self.contact, f.field))

    def visit_has(self, f: _Has) -> Explanation:
        return Explanation(f, self.holds(f), value=getattr(self.contact, f.field))

    def visit_tag(self, f: _Tag) -> Explanation:
        return Explanation(f, self.holds(f), value=tuple(sorted(self.contact.tags)))

    def visit_status(self, f: _Status) -> Explanation:
        found = next((s for s in STATUS_VALUES if self.holds(status(s))), None)
        return Explanation(f, self.holds(f), value=found)

    def visit_joined(self, f: _Joined) -> Explanation:
        return Explanation(f, self.holds(f), window=f.within.bounds(self.at), value=self.contact.created_at)

    def visit_attr(self, f: _AttrCompare) -> Explanation:
        return Explanation(f, self.holds(f), value=self.contact.attributes.get(f.name))

    def visit_engagement(self, f: _Engagement) -> Explanation:
        if self.holds(blocked()):
            state = "blocked"
        elif self.holds(engaged(timeframe=f.timeframe)):
            state = "engaged"
        else:
            state = "unengaged"
        return Explanation(f, self.holds(f), state=state)


def explain(store: StoreBase, flt: Filter, contact_id: str, at: datetime) -> Explanation:
    """The explanation tree of ``flt`` (already validated, segments not yet expanded) for a contact."""
    store.resolve(flt)  # refuses unknown segments and cycles before any work
    contact = store.contact(contact_id)
    if contact is None or contact.created_at > at:
        raise UnknownContact(f"contact {contact_id!r} does not exist at {at.isoformat()}")
    return flt.accept(_Explainer(store, contact, at))


def preview(now: AbstractSet[_T], saved: AbstractSet[_T], id_of: Callable[[_T], str] = str) -> Preview:
    """Counts and examples of SPEC §9 from the members of the new and the saved filter.

    Members may be ids or any store-internal keys (the memory store's slots) that ``id_of`` names:
    only the examples are turned into ids, not every member.
    """
    sets = {"entering": now - saved, "leaving": saved - now, "staying": now & saved}
    return Preview(count=len(now), entering=len(sets["entering"]), leaving=len(sets["leaving"]),
                   staying=len(sets["staying"]),
                   examples={name: tuple(heapq.nsmallest(MAX_EXAMPLES, map(id_of, keys)))
                             for name, keys in sets.items()})
