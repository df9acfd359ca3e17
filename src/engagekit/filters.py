"""The filter algebra (SPEC §3): immutable values combined with ``&``, ``|`` and ``~``.

Users call the lowercase builders (``viewed``, ``ordered``, ``city`` …); they validate their
arguments and return private frozen nodes. Every target — the memory store, the SQL compiler,
``describe()``, JSON, explain — is a :class:`Visitor` with one method per node type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from .errors import InvalidFilter, UnsupportedFilter
from .money import finite_float, places, to_decimal
from .text import norm_key, text_problem
from .time import EVER, Window, as_timedelta, window_from_json

JSON_VERSION = 1
T = TypeVar("T")

DEFAULT_TIMEFRAME = timedelta(days=180)


class Filter:
    """A set of contacts, described by conditions. Combine with ``&``, ``|`` and ``~``.

    >>> f = ordered(at_least=5, within=last(days=365)) & ~tag("vip")
    >>> f
    ordered(at_least=5, within=last(days=365)) & ~tag('vip')
    >>> Filter.from_json(f.to_json()) == f
    True
    """

    __slots__ = ()
    node: ClassVar[str] = ""

    def __and__(self, other: object) -> Filter:
        if not isinstance(other, Filter):
            return NotImplemented
        return _And.of(self, other)

    def __or__(self, other: object) -> Filter:
        if not isinstance(other, Filter):
            return NotImplemented
        return _Or.of(self, other)

    def __invert__(self) -> Filter:
        return _Not(self)

    def __bool__(self) -> bool:
        raise TypeError("a Filter has no truth value; combine filters with & | ~")

    def accept(self, visitor: Visitor[T]) -> T:
        method = getattr(visitor, f"visit_{self.node}", None)
        if method is None:
            raise UnsupportedFilter(f"{type(visitor).__name__} cannot handle {self.node} ({self!r})")
        result: T = method(self)
        return result

    def children(self) -> tuple[Filter, ...]:
        return ()

    def describe(self, lang: str = "en") -> str:
        """A deterministic human name, in English (``lang="en"``) or Polish (``lang="pl"``)."""
        from .describe import describe

        return describe(self, lang=lang)

    def to_json(self) -> str:
        """The versioned JSON form; :meth:`Filter.from_json` reads it back to an equal filter."""
        return json.dumps({"engagekit_filter": JSON_VERSION, "filter": self.accept(_ToJson())},
                          ensure_ascii=False, sort_keys=False)

    @staticmethod
    def from_json(text: str | bytes | dict[str, Any]) -> Filter:
        """Read the JSON form written by :meth:`to_json`; errors name the offending path."""
        return _from_json_document(text)

    def _repr_html_(self) -> str:
        from .display import filter_html

        return filter_html(self)


class Visitor(Generic[T]):
    """Base of every target of the filter walk; subclasses define ``visit_<node>`` methods."""

    def visit(self, flt: Filter) -> T:
        return flt.accept(self)


# --- combinators ---------------------------------------------------------------------------------


#: How deeply ``&``, ``|`` and ``~`` may nest (``a & b & c`` is one level: it is flattened). Far beyond
#: what a segment needs; a deeper tree would overflow the recursion of the walks that evaluate,
#: describe and compile it (SQLite's parser gives up near 120 levels), so it is refused when built.
MAX_DEPTH = 32


def depth(flt: Filter) -> int:
    """Levels of the filter tree: 1 for a condition, 1 + the deepest part for ``&``, ``|``, ``~``.

    >>> depth(viewed()), depth(viewed() & ~(tag("a") | tag("b")))
    (1, 4)
    """
    return getattr(flt, "_depth", 1)


def _set_depth(node: Filter, parts: tuple[Filter, ...]) -> None:
    levels = 1 + max(depth(p) for p in parts)
    if levels > MAX_DEPTH:
        raise InvalidFilter(f"filter: {node.node} nested {levels} levels deep; a filter nests at most "
                            f"{MAX_DEPTH} levels of &, | and ~ (in_segment references count once resolved)")
    object.__setattr__(node, "_depth", levels)


@attrs.frozen(repr=False)
class _Combinator(Filter):
    """``&``, ``|`` and ``~``: each knows its depth, checked when it is built."""

    _depth: int = attrs.field(init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _set_depth(self, self.children())


def _check_filter(value: object, where: str) -> Filter:
    if not isinstance(value, Filter):
        raise InvalidFilter(f"{where}: expected a Filter, got {type(value).__name__} {value!r}")
    return value


@attrs.frozen(repr=False)
class _And(_Combinator):
    node: ClassVar[str] = "and"
    parts: tuple[Filter, ...]

    @classmethod
    def of(cls, *filters: Filter) -> Filter:
        flat: list[Filter] = []
        for f in filters:
            flat.extend(f.parts if isinstance(f, _And) else (f,))
        return flat[0] if len(flat) == 1 else cls(tuple(flat))

    def children(self) -> tuple[Filter, ...]:
        return self.parts

    def __repr__(self) -> str:
        return " & ".join(_wrap(p, (_Or, _AttrCompare)) for p in self.parts)


@attrs.frozen(repr=False)
class _Or(_Combinator):
    node: ClassVar[str] = "or"
    parts: tuple[Filter, ...]

    @classmethod
    def of(cls, *filters: Filter) -> Filter:
        flat: list[Filter] = []
        for f in filters:
            flat.extend(f.parts if isinstance(f, _Or) else (f,))
        return flat[0] if len(flat) == 1 else cls(tuple(flat))

    def children(self) -> tuple[Filter, ...]:
        return self.parts

    def __repr__(self) -> str:
        return " | ".join(_wrap(p, (_And, _AttrCompare)) for p in self.parts)


@attrs.frozen(repr=False)
class _Not(_Combinator):
    node: ClassVar[str] = "not"
    part: Filter

    def __new__(cls, part: Filter) -> Any:  # ~~f is f
        if isinstance(part, _Not):
            return part.part
        return super().__new__(cls)

    def children(self) -> tuple[Filter, ...]:
        return (self.part,)

    def __repr__(self) -> str:
        return "~" + _wrap(self.part, (_And, _Or, _AttrCompare))


def _wrap(f: Filter, kinds: tuple[type, ...]) -> str:
    return f"({f!r})" if isinstance(f, kinds) else repr(f)


def all_of(*filters: Filter) -> Filter:
    """``f1 & f2 & …`` of any number of filters (at least one)."""
    if not filters:
        raise InvalidFilter("all_of: needs at least one filter")
    return _And.of(*(_check_filter(f, f"all_of[{i}]") for i, f in enumerate(filters)))


def any_of(*filters: Filter) -> Filter:
    """``f1 | f2 | …`` of any number of filters (at least one)."""
    if not filters:
        raise InvalidFilter("any_of: needs at least one filter")
    return _Or.of(*(_check_filter(f, f"any_of[{i}]") for i, f in enumerate(filters)))


@attrs.frozen(repr=False)
class _Everyone(Filter):
    node: ClassVar[str] = "everyone"

    def __repr__(self) -> str:
        return "everyone()"


def everyone() -> Filter:
    """Every contact existing at the question's instant.

    >>> everyone()
    everyone()
    """
    return _Everyone()


# --- behaviour: count conditions -----------------------------------------------------------------

COUNT_KINDS: dict[str, str] = {
    "viewed": "product_view",
    "added_to_cart": "add_to_cart",
    "ordered": "order",
    "opened": "email_open",
    "clicked": "email_click",
    "received": "email_sent",
    "subscribed_via": "subscribe",
}


def _check_text(value: str, path: str) -> None:
    """Refuse a string no store can bind as text (NUL, a lone surrogate), naming the path."""
    problem = text_problem(value)
    if problem:
        raise InvalidFilter(f"{path}: {value!r} {problem}")


def _ids(value: object, path: str) -> frozenset[str] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, Iterable):
        raise InvalidFilter(f"{path}: expected an id or a set of ids, got {value!r}")
    result = set()
    for v in values:
        if not isinstance(v, str) or v == "":
            raise InvalidFilter(f"{path}: expected non-empty strings, got {v!r}")
        _check_text(v, path)
        result.add(v)
    if not result:
        raise InvalidFilter(f"{path}: an empty set matches nothing; leave it out to match any")
    return frozenset(result)


def _names(value: object, path: str) -> frozenset[str] | None:
    """Typed names (categories): kept as written, compared through their normalised keys."""
    names = _ids(value, path)
    if names is not None:
        for name in names:
            if norm_key(name) is None:
                raise InvalidFilter(f"{path}: {name!r} is blank")
    return names


MAX_COUNT = 2**63 - 1
"""The largest count bound: stores bind counts as 64-bit integers."""
MONEY_DIGITS = 40
"""Money bounds are below ``10**40`` with at most 40 decimal places (far beyond any store's sums)."""


def _count_arg(value: object, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidFilter(f"{path}: expected a non-negative integer, got {value!r}")
    if value < 0:
        raise InvalidFilter(f"{path}: expected a non-negative integer, got {value}")
    if value > MAX_COUNT:  # stores bind counts as 64-bit integers
        raise InvalidFilter(f"{path}: {value} is more than {MAX_COUNT}")
    return value


def count_bounds(at_least: object, at_most: object, exactly: object, path: str) -> tuple[int, int | None]:
    """The one place that decides SPEC §3's defaults: ``at_least`` is 1 unless a bound is given."""
    lo = _count_arg(at_least, f"{path}.at_least")
    hi = _count_arg(at_most, f"{path}.at_most")
    ex = _count_arg(exactly, f"{path}.exactly")
    if ex is not None:
        if lo is not None or hi is not None:
            raise InvalidFilter(f"{path}.exactly: cannot be combined with at_least or at_most")
        return ex, ex
    if lo is None:
        lo = 1 if hi is None else 0
    if hi is not None and lo > hi:
        raise InvalidFilter(f"{path}: at_least ({lo}) is greater than at_most ({hi})")
    return lo, hi


def _window(value: object, path: str) -> Window:
    if not isinstance(value, Window):
        raise InvalidFilter(
            f"{path}.within: expected a window (ever(), last(days=N), before(…), between(…)), got {value!r}"
        )
    return value


@attrs.frozen(repr=False)
class _Count(Filter):
    """``at_least <= (number of matching events in the window) <= at_most``."""

    node: ClassVar[str] = "count"
    kind: str
    at_least: int
    at_most: int | None
    within: Window = EVER
    products: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    campaigns: frozenset[str] | None = None
    forms: frozenset[str] | None = None

    @property
    def event_type(self) -> str:
        return COUNT_KINDS[self.kind]

    @property
    def category_keys(self) -> frozenset[str] | None:
        if self.categories is None:
            return None
        return frozenset(k for k in (norm_key(c) for c in self.categories) if k is not None)

    def __repr__(self) -> str:
        args = []
        for name, value in (("product", self.products), ("category", self.categories),
                            ("campaign", self.campaigns), ("form", self.forms)):
            if value is not None:
                args.append(f"{name}={_set_repr(value)}")
        if self.at_most is not None and self.at_least == self.at_most:
            args.append(f"exactly={self.at_least}")
        else:
            if self.at_least != (1 if self.at_most is None else 0):
                args.append(f"at_least={self.at_least}")
            if self.at_most is not None:
                args.append(f"at_most={self.at_most}")
        if self.within != EVER:
            args.append(f"within={self.within!r}")
        return f"{self.kind}({', '.join(args)})"


def _set_repr(values: frozenset[str]) -> str:
    if len(values) == 1:
        return repr(next(iter(values)))
    return "{" + ", ".join(repr(v) for v in sorted(values)) + "}"


def _count(kind: str, *, at_least: object, at_most: object, exactly: object, within: object,
           **match: frozenset[str] | None) -> Filter:
    lo, hi = count_bounds(at_least, at_most, exactly, kind)
    return _Count(kind, lo, hi, _window(within, kind), **match)


def viewed(*, product: str | Iterable[str] | None = None, category: str | Iterable[str] | None = None,
           at_least: int | None = None, at_most: int | None = None, exactly: int | None = None,
           within: Window = EVER) -> Filter:
    """Contacts whose number of ``product_view`` events in the window is within the bounds.

    >>> viewed(category="bluzy", at_least=3, within=last(days=14))
    viewed(category='bluzy', at_least=3, within=last(days=14))
    """
    return _count("viewed", at_least=at_least, at_most=at_most, exactly=exactly, within=within,
                  products=_ids(product, "viewed.product"), categories=_names(category, "viewed.category"))


def added_to_cart(*, product: str | Iterable[str] | None = None,
                  category: str | Iterable[str] | None = None, at_least: int | None = None,
                  at_most: int | None = None, exactly: int | None = None, within: Window = EVER) -> Filter:
    """Contacts by their number of ``add_to_cart`` events.

    >>> added_to_cart(within=last(days=30))
    added_to_cart(within=last(days=30))
    """
    return _count("added_to_cart", at_least=at_least, at_most=at_most, exactly=exactly, within=within,
                  products=_ids(product, "added_to_cart.product"),
                  categories=_names(category, "added_to_cart.category"))


def ordered(*, product: str | Iterable[str] | None = None, category: str | Iterable[str] | None = None,
            at_least: int | None = None, at_most: int | None = None, exactly: int | None = None,
            within: Window = EVER) -> Filter:
    """Contacts by their number of orders; an order matches when any of its items matches.

    >>> ordered(at_least=5, within=last(days=365))
    ordered(at_least=5, within=last(days=365))
    """
    return _count("ordered", at_least=at_least, at_most=at_most, exactly=exactly, within=within,
                  products=_ids(product, "ordered.product"), categories=_names(category, "ordered.category"))


def opened(*, campaign: str | Iterable[str] | None = None, at_least: int | None = None,
           at_most: int | None = None, exactly: int | None = None, within: Window = EVER) -> Filter:
    """Contacts by their number of ``email_open`` events (optionally of given campaigns).

    >>> opened(within=last(days=90))
    opened(within=last(days=90))
    """
    return _count("opened", at_least=at_least, at_most=at_most, exactly=exactly, within=within,
                  campaigns=_ids(campaign, "opened.campaign"))


def clicked(*, campaign: str | Iterable[str] | None = None, at_least: int | None = None,
            at_most: int | None = None, exactly: int | None = None, within: Window = EVER) -> Filter:
    """Contacts by their number of ``email_click`` events.

    >>> clicked(campaign="cmp-04")
    clicked(campaign='cmp-04')
    """
    return _count("clicked", at_least=at_least, at_most=at_most, exactly=exactly, within=within,
                  campaigns=_ids(campaign, "clicked.campaign"))


def received(*, campaign: str | Iterable[str] | None = None, at_least: int | None = None,
             at_most: int | None = None, exactly: int | None = None, within: Window = EVER) -> Filter:
    """Contacts by their number of ``email_sent`` events.

    >>> received(at_least=4)
    received(at_least=4)
    """
    return _count("received", at_least=at_least, at_most=at_most, exactly=exactly, within=within,
                  campaigns=_ids(campaign, "received.campaign"))


def subscribed_via(*, form: str | Iterable[str] | None = None, at_least: int | None = None,
                   at_most: int | None = None, exactly: int | None = None, within: Window = EVER) -> Filter:
    """Contacts by their number of ``subscribe`` events (optionally through given forms).

    >>> subscribed_via(form="popup-summer")
    subscribed_via(form='popup-summer')
    """
    return _count("subscribed_via", at_least=at_least, at_most=at_most, exactly=exactly, within=within,
                  forms=_ids(form, "subscribed_via.form"))


# --- order value ---------------------------------------------------------------------------------


def _money_arg(value: object, path: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        value = repr(value)  # 300.5 means 300.5, not its binary neighbour
    parsed = to_decimal(value)
    if parsed is None:
        raise InvalidFilter(f"{path}: expected a decimal amount, got {value!r}")
    if parsed < 0:
        raise InvalidFilter(f"{path}: expected an amount >= 0, got {parsed}")
    if parsed and (parsed.adjusted() >= MONEY_DIGITS or places(parsed) > MONEY_DIGITS):
        # exact comparison scales a bound to an integer: 1E+999999999 would never finish
        raise InvalidFilter(f"{path}: {parsed} is out of range; an amount is below 10**{MONEY_DIGITS} "
                            f"with at most {MONEY_DIGITS} decimal places")
    return parsed


def _money_bounds(at_least: object, at_most: object, path: str) -> tuple[Decimal | None, Decimal | None]:
    lo = _money_arg(at_least, f"{path}.at_least")
    hi = _money_arg(at_most, f"{path}.at_most")
    if lo is None and hi is None:
        raise InvalidFilter(f"{path}: give at_least, at_most or both")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidFilter(f"{path}: at_least ({lo}) is greater than at_most ({hi})")
    return lo, hi


@attrs.frozen(repr=False)
class _Money(Filter):
    """``spent`` (sum of order values) or ``aov`` (their exact mean) within bounds."""

    node: ClassVar[str] = "money"
    measure: str  # "spent" | "aov"
    at_least: Decimal | None
    at_most: Decimal | None
    within: Window = EVER

    def __repr__(self) -> str:
        args = []
        if self.at_least is not None:
            args.append(f"at_least={_decimal_repr(self.at_least)}")
        if self.at_most is not None:
            args.append(f"at_most={_decimal_repr(self.at_most)}")
        if self.within != EVER:
            args.append(f"within={self.within!r}")
        return f"{self.measure}({', '.join(args)})"


def _decimal_repr(value: Decimal) -> str:
    return str(value) if value == value.to_integral_value() and "E" not in str(value) and "." not in str(value) \
        else f"Decimal('{value}')"


def spent(*, at_least: Decimal | int | str | None = None, at_most: Decimal | int | str | None = None,
          within: Window = EVER) -> Filter:
    """Contacts whose sum of order values in the window is within the bounds (0 with no orders).

    >>> spent(at_least=300)
    spent(at_least=300)
    """
    lo, hi = _money_bounds(at_least, at_most, "spent")
    return _Money("spent", lo, hi, _window(within, "spent"))


def aov(*, at_least: Decimal | int | str | None = None, at_most: Decimal | int | str | None = None,
        within: Window = EVER) -> Filter:
    """Contacts whose exact mean order value in the window is within the bounds.

    A contact with no order in the window never matches.

    >>> aov(at_least=300)
    aov(at_least=300)
    """
    lo, hi = _money_bounds(at_least, at_most, "aov")
    return _Money("aov", lo, hi, _window(within, "aov"))


# --- attributes ----------------------------------------------------------------------------------

PROFILE_FIELDS = ("city", "country", "language", "gender")


def profile_key(field: str, value: str | None) -> str | None:
    """The key a profile value compares through (countries are codes, stored upper-case)."""
    key = norm_key(value)
    if key is not None and field == "country":
        return key.upper()
    return key


@attrs.frozen(repr=False)
class _Profile(Filter):
    """A text attribute (city, country, language, gender) is one of the values; None is missing."""

    node: ClassVar[str] = "profile"
    field: str
    values: frozenset[str | None]

    @property
    def keys(self) -> frozenset[str | None]:
        return frozenset(profile_key(self.field, v) for v in self.values)

    def __repr__(self) -> str:
        if len(self.values) == 1:
            return f"{self.field}({next(iter(self.values))!r})"
        ordered_values = sorted(self.values, key=lambda v: (v is not None, v or ""))
        return f"{self.field}({{{', '.join(repr(v) for v in ordered_values)}}})"


def _profile(field: str, value: object) -> Filter:
    values = [value] if value is None or isinstance(value, str) else value
    if not isinstance(values, Iterable):
        raise InvalidFilter(f"{field}: expected a value, None or a set of them, got {value!r}")
    clean: set[str | None] = set()
    for v in values:
        if v is not None and not isinstance(v, str):
            raise InvalidFilter(f"{field}: expected strings or None, got {v!r}")
        if v is not None:
            _check_text(v, field)
        clean.add(None if v is None or norm_key(v) is None else v)
    if not clean:
        raise InvalidFilter(f"{field}: an empty set matches nothing")
    if field == "country":
        for v in clean:
            if v is not None and (len(v.strip()) != 2 or not v.strip().isascii() or not v.strip().isalpha()):
                raise InvalidFilter(f"country: {v!r} is not an ISO 3166-1 alpha-2 code such as 'PL'")
    return _Profile(field, frozenset(clean))


def city(value: str | Iterable[str | None] | None) -> Filter:
    """Contacts whose city is the value (or one of a set), compared through the normalised key.

    >>> city("Warszawa")
    city('Warszawa')
    """
    return _profile("city", value)


def country(value: str | Iterable[str | None] | None) -> Filter:
    """Contacts whose ISO 3166-1 alpha-2 country is the value (case-insensitive).

    >>> country("pl")
    country('pl')
    """
    return _profile("country", value)


def language(value: str | Iterable[str | None] | None) -> Filter:
    """Contacts whose language is the value (or one of a set).

    >>> language("de")
    language('de')
    """
    return _profile("language", value)


def gender(value: str | Iterable[str | None] | None) -> Filter:
    """Contacts whose gender is the value (or one of a set).

    >>> gender("f")
    gender('f')
    """
    return _profile("gender", value)


@attrs.frozen(repr=False)
class _Has(Filter):
    """The contact has a (non-blank) e-mail or phone."""

    node: ClassVar[str] = "has"
    field: str

    def __repr__(self) -> str:
        return f"has_{self.field}()"


def has_phone() -> Filter:
    """Contacts with a phone number.

    >>> has_phone()
    has_phone()
    """
    return _Has("phone")


def has_email() -> Filter:
    """Contacts with an e-mail address.

    >>> has_email()
    has_email()
    """
    return _Has("email")


@attrs.frozen(repr=False)
class _Tag(Filter):
    node: ClassVar[str] = "tag"
    name: str

    @property
    def key(self) -> str:
        key = norm_key(self.name)
        assert key is not None
        return key

    def __repr__(self) -> str:
        return f"tag({self.name!r})"


def tag(name: str) -> Filter:
    """Contacts tagged ``name`` (tags compare through the normalised key).

    >>> tag("vip")
    tag('vip')
    """
    if not isinstance(name, str) or norm_key(name) is None:
        raise InvalidFilter(f"tag: expected a non-blank string, got {name!r}")
    _check_text(name, "tag")
    return _Tag(name)


STATUS_VALUES = ("subscribed", "unknown", "unsubscribed")


@attrs.frozen(repr=False)
class _Status(Filter):
    """Subscription status at the question's instant is one of the values."""

    node: ClassVar[str] = "status"
    values: frozenset[str]

    def __repr__(self) -> str:
        return f"status({_set_repr(self.values)})"


def status(value: str | Iterable[str]) -> Filter:
    """Contacts whose subscription status at the question's instant is the value (or one of a set).

    >>> status({"subscribed", "unknown"})
    status({'subscribed', 'unknown'})
    """
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, Iterable):
        raise InvalidFilter(f"status: expected a status or a set of them, got {value!r}")
    clean = set()
    for v in values:
        if v not in STATUS_VALUES:
            raise InvalidFilter(f"status: {v!r} is not one of {', '.join(STATUS_VALUES)}")
        clean.add(v)
    if not clean:
        raise InvalidFilter("status: an empty set matches nothing")
    return _Status(frozenset(clean))


def subscribed() -> Filter:
    """``status("subscribed")``.

    >>> subscribed()
    status('subscribed')
    """
    return status("subscribed")


@attrs.frozen(repr=False)
class _Joined(Filter):
    """The contact's ``created_at`` lies in the window."""

    node: ClassVar[str] = "joined"
    within: Window

    def __repr__(self) -> str:
        return f"joined(within={self.within!r})"


def joined(*, within: Window) -> Filter:
    """Contacts created within the window.

    >>> joined(within=last(days=1))
    joined(within=last(days=1))
    """
    return _Joined(_window(within, "joined"))


# --- custom attributes ---------------------------------------------------------------------------

ATTR_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "exists")
_OP_SYMBOL = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
AttrValue = str | int | float | Decimal | bool


def _attr_value(value: object, path: str) -> AttrValue:
    if isinstance(value, bool | str):
        if isinstance(value, str):
            _check_text(value, path)
        return value
    if isinstance(value, int | float | Decimal):
        # numbers compare as float64 (docs/ARCHITECTURE.md): refuse one without a finite float64
        if finite_float(value) is None:
            raise InvalidFilter(f"{path}: {value!r} is not a finite number")
        return value
    raise InvalidFilter(f"{path}: expected a string, number or boolean, got {type(value).__name__} {value!r}")


def _attr_identity(value: AttrValue) -> tuple[bool, AttrValue]:
    """Booleans match only booleans, so ``True`` and ``1`` (equal in Python) must stay apart."""
    return (isinstance(value, bool), value)


@attrs.frozen(repr=False, eq=False)
class _AttrCompare(Filter):
    """A custom attribute compared with a value (see docs/filters.md for the typing rules)."""

    node: ClassVar[str] = "attr"
    name: str
    op: str
    values: tuple[AttrValue, ...] = ()

    def _key(self) -> tuple[Any, ...]:
        return (self.name, self.op, tuple(_attr_identity(v) for v in self.values))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _AttrCompare):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self.op == "exists":
            return f"attr({self.name!r}).exists()"
        if self.op == "in":
            return f"attr({self.name!r}).is_in({{{', '.join(repr(v) for v in self.values)}}})"
        return f"attr({self.name!r}) {_OP_SYMBOL[self.op]} {self.values[0]!r}"


@attrs.frozen
class AttributeRef:
    """``attr(name)``: compare a custom attribute with ``== != < <= > >=``, ``.is_in``, ``.exists``."""

    name: str

    def _op(self, op: str, value: object) -> Filter:
        return _AttrCompare(self.name, op, (_attr_value(value, f"attr({self.name!r})"),))

    def __eq__(self, value: object) -> Filter:  # type: ignore[override]
        return self._op("eq", value)

    def __ne__(self, value: object) -> Filter:  # type: ignore[override]
        return self._op("ne", value)

    def __lt__(self, value: object) -> Filter:
        return self._op("lt", value)

    def __le__(self, value: object) -> Filter:
        return self._op("le", value)

    def __gt__(self, value: object) -> Filter:
        return self._op("gt", value)

    def __ge__(self, value: object) -> Filter:
        return self._op("ge", value)

    def __hash__(self) -> int:
        return hash(("attr", self.name))

    def is_in(self, values: Iterable[object]) -> Filter:
        if isinstance(values, str) or not isinstance(values, Iterable):
            raise InvalidFilter(f"attr({self.name!r}).is_in: expected one collection of values, got {values!r}")
        unique = {_attr_identity(v): v for v in (_attr_value(v, f"attr({self.name!r}).is_in") for v in values)}
        clean = sorted(unique.values(), key=_attr_sort_key)
        if not clean:
            raise InvalidFilter(f"attr({self.name!r}).is_in: an empty collection matches nothing")
        return _AttrCompare(self.name, "in", tuple(clean))

    def exists(self) -> Filter:
        return _AttrCompare(self.name, "exists", ())


def _attr_sort_key(value: AttrValue) -> tuple[str, str]:
    return (type(value).__name__, repr(value))


def attr(name: str) -> AttributeRef:
    """A custom attribute, to compare: ``attr("loyalty_points") >= 100``.

    >>> attr("plan") == "gold"
    attr('plan') == 'gold'
    """
    if not isinstance(name, str) or not name:
        raise InvalidFilter(f"attr: expected a non-empty attribute name, got {name!r}")
    _check_text(name, "attr")
    return AttributeRef(name)


# --- engagement ----------------------------------------------------------------------------------

ENGAGEMENT_STATES = ("engaged", "unengaged", "blocked")


@attrs.frozen(repr=False)
class _Engagement(Filter):
    """The contact's engagement class (SPEC §3 "Engagement") is ``state``."""

    node: ClassVar[str] = "engagement"
    state: str
    timeframe: timedelta = DEFAULT_TIMEFRAME

    def __repr__(self) -> str:
        if self.state == "blocked":
            return "blocked()"
        if self.timeframe == DEFAULT_TIMEFRAME:
            return f"{self.state}()"
        return f"{self.state}(timeframe={_timedelta_repr(self.timeframe)})"


def _timedelta_repr(value: timedelta) -> str:
    if value % timedelta(days=1) == timedelta(0):
        return f"timedelta(days={value.days})"
    return f"timedelta(seconds={int(value.total_seconds())})" if value % timedelta(seconds=1) == timedelta(0) \
        else f"timedelta(microseconds={value // timedelta(microseconds=1)})"


def engaged(*, timeframe: timedelta = DEFAULT_TIMEFRAME) -> Filter:
    """Not blocked, with an open, click, view, add-to-cart or order in the last ``timeframe``.

    >>> engaged(timeframe=timedelta(days=30))
    engaged(timeframe=timedelta(days=30))
    """
    return _Engagement("engaged", as_timedelta(timeframe, field="engaged.timeframe"))


def unengaged(*, timeframe: timedelta = DEFAULT_TIMEFRAME) -> Filter:
    """Existing, not blocked and not engaged.

    >>> unengaged()
    unengaged()
    """
    return _Engagement("unengaged", as_timedelta(timeframe, field="unengaged.timeframe"))


def blocked() -> Filter:
    """Contacts with a visible hard bounce or spam complaint (ever).

    >>> blocked()
    blocked()
    """
    return _Engagement("blocked", DEFAULT_TIMEFRAME)


# --- segments ------------------------------------------------------------------------------------


@attrs.frozen(repr=False)
class _InSegment(Filter):
    node: ClassVar[str] = "in_segment"
    segment_id: str

    def __repr__(self) -> str:
        return f"in_segment({self.segment_id!r})"


def in_segment(segment_id: str) -> Filter:
    """Members of a saved segment (its filter, evaluated at the question's instant).

    >>> in_segment("seg-1")
    in_segment('seg-1')
    """
    if not isinstance(segment_id, str) or not segment_id:
        raise InvalidFilter(f"in_segment: expected a segment id, got {segment_id!r}")
    _check_text(segment_id, "in_segment")
    return _InSegment(segment_id)


def segment_refs(flt: Filter) -> frozenset[str]:
    """Segment ids a filter refers to directly."""
    if isinstance(flt, _InSegment):
        return frozenset({flt.segment_id})
    refs: set[str] = set()
    for child in flt.children():
        refs |= segment_refs(child)
    return frozenset(refs)


def walk(flt: Filter) -> Iterable[Filter]:
    """Every node of a filter in pre-order (node, then its children in order)."""
    yield flt
    for child in flt.children():
        yield from walk(child)


# --- JSON ----------------------------------------------------------------------------------------


def _window_json(window: Window) -> dict[str, Any]:
    return window.to_json()


def _json_attr_value(value: AttrValue) -> Any:
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    return value


class _ToJson(Visitor[Any]):
    def visit_and(self, f: _And) -> Any:
        return {"and": [p.accept(self) for p in f.parts]}

    def visit_or(self, f: _Or) -> Any:
        return {"or": [p.accept(self) for p in f.parts]}

    def visit_not(self, f: _Not) -> Any:
        return {"not": f.part.accept(self)}

    def visit_everyone(self, f: _Everyone) -> Any:
        return {"everyone": {}}

    def visit_count(self, f: _Count) -> Any:
        body: dict[str, Any] = {}
        for name, value in (("product", f.products), ("category", f.categories),
                            ("campaign", f.campaigns), ("form", f.forms)):
            if value is not None:
                body[name] = sorted(value)
        body["at_least"] = f.at_least
        body["at_most"] = f.at_most
        body["within"] = _window_json(f.within)
        return {f.kind: body}

    def visit_money(self, f: _Money) -> Any:
        return {f.measure: {"at_least": None if f.at_least is None else str(f.at_least),
                            "at_most": None if f.at_most is None else str(f.at_most),
                            "within": _window_json(f.within)}}

    def visit_profile(self, f: _Profile) -> Any:
        return {f.field: sorted(f.values, key=lambda v: (v is not None, v or ""))}

    def visit_has(self, f: _Has) -> Any:
        return {f"has_{f.field}": {}}

    def visit_tag(self, f: _Tag) -> Any:
        return {"tag": f.name}

    def visit_status(self, f: _Status) -> Any:
        return {"status": sorted(f.values)}

    def visit_joined(self, f: _Joined) -> Any:
        return {"joined": {"within": _window_json(f.within)}}

    def visit_attr(self, f: _AttrCompare) -> Any:
        return {"attr": {"name": f.name, "op": f.op, "values": [_json_attr_value(v) for v in f.values]}}

    def visit_engagement(self, f: _Engagement) -> Any:
        if f.state == "blocked":
            return {"blocked": {}}
        micros = f.timeframe // timedelta(microseconds=1)
        if micros % 1_000_000 == 0:
            return {f.state: {"timeframe_seconds": micros // 1_000_000}}
        return {f.state: {"timeframe_microseconds": micros}}

    def visit_in_segment(self, f: _InSegment) -> Any:
        return {"in_segment": f.segment_id}


def _from_json_document(text: str | bytes | dict[str, Any]) -> Filter:
    if isinstance(text, dict):
        doc: Any = text
    else:
        try:
            doc = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise InvalidFilter(f"$: not valid JSON ({exc})") from None
        except RecursionError:
            raise InvalidFilter(f"$: nested too deeply to read (a filter nests at most {MAX_DEPTH} levels)") from None
    if not isinstance(doc, dict):
        raise InvalidFilter(f"$: expected an object with engagekit_filter and filter, got {doc!r}")
    unknown = sorted(set(doc) - {"engagekit_filter", "filter"})
    if unknown:
        raise InvalidFilter(f"$.{unknown[0]}: unknown key")
    version = doc.get("engagekit_filter")
    if version != JSON_VERSION:
        raise InvalidFilter(
            f"$.engagekit_filter: unsupported version {version!r}; this engagekit reads version {JSON_VERSION}"
        )
    if "filter" not in doc:
        raise InvalidFilter("$.filter: required")
    return _parse_node(doc["filter"], "$.filter")


def _only_keys(body: dict[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidFilter(f"{path}.{unknown[0]}: unknown key; expected one of {', '.join(sorted(allowed))}")


def _parse_node(data: Any, path: str, level: int = 1) -> Filter:
    if level > MAX_DEPTH:  # refused on the way down: a hostile document must not exhaust the stack
        raise InvalidFilter(f"{path}: nested more than {MAX_DEPTH} levels deep; a filter nests at most "
                            f"{MAX_DEPTH} levels of and, or and not")
    if not isinstance(data, dict) or len(data) != 1:
        raise InvalidFilter(f"{path}: expected an object with exactly one node key, got {data!r}")
    ((key, body),) = data.items()
    here = f"{path}.{key}"
    try:
        if key in ("and", "or"):
            if not isinstance(body, list) or len(body) < 2:
                raise InvalidFilter(f"{here}: expected a list of at least two filters, got {body!r}")
            parts = [_parse_node(item, f"{here}[{i}]", level + 1) for i, item in enumerate(body)]
            return _And.of(*parts) if key == "and" else _Or.of(*parts)
        if key == "not":
            return _Not(_parse_node(body, here, level + 1))
        if key == "everyone":
            _expect_empty(body, here)
            return everyone()
        if key in COUNT_KINDS:
            return _parse_count(key, body, here)
        if key in ("spent", "aov"):
            if not isinstance(body, dict):
                raise InvalidFilter(f"{here}: expected an object, got {body!r}")
            _only_keys(body, {"at_least", "at_most", "within"}, here)
            lo, hi = _money_bounds(body.get("at_least"), body.get("at_most"), here)
            within = window_from_json(body.get("within", {"ever": {}}), f"{here}.within")
            return _Money(key, lo, hi, within)
        if key in PROFILE_FIELDS:
            if not isinstance(body, list) or not body:
                raise InvalidFilter(f"{here}: expected a non-empty list of values, got {body!r}")
            return _profile(key, body)
        if key in ("has_phone", "has_email"):
            _expect_empty(body, here)
            return _Has(key.removeprefix("has_"))
        if key == "tag":
            return tag(body)
        if key == "status":
            if not isinstance(body, list):
                raise InvalidFilter(f"{here}: expected a list of statuses, got {body!r}")
            return status(body)
        if key == "joined":
            if not isinstance(body, dict):
                raise InvalidFilter(f"{here}: expected an object, got {body!r}")
            _only_keys(body, {"within"}, here)
            return _Joined(window_from_json(body.get("within"), f"{here}.within"))
        if key == "attr":
            return _parse_attr(body, here)
        if key == "blocked":
            _expect_empty(body, here)
            return blocked()
        if key in ("engaged", "unengaged"):
            return _parse_engagement(key, body, here)
        if key == "in_segment":
            return in_segment(body)
    except InvalidFilter as exc:
        message = str(exc)
        if message.startswith("$"):
            raise
        raise InvalidFilter(f"{here}: {message}") from None
    raise InvalidFilter(f"{path}: unknown filter node {key!r}")


def _expect_empty(body: Any, path: str) -> None:
    if body != {}:
        raise InvalidFilter(f"{path}: takes no arguments, got {body!r}")


def _parse_count(kind: str, body: Any, path: str) -> Filter:
    if not isinstance(body, dict):
        raise InvalidFilter(f"{path}: expected an object, got {body!r}")
    match_keys = {"viewed": {"product", "category"}, "added_to_cart": {"product", "category"},
                  "ordered": {"product", "category"}, "opened": {"campaign"}, "clicked": {"campaign"},
                  "received": {"campaign"}, "subscribed_via": {"form"}}[kind]
    _only_keys(body, match_keys | {"at_least", "at_most", "exactly", "within"}, path)
    lo, hi = count_bounds(body.get("at_least"), body.get("at_most"), body.get("exactly"), path)
    within = window_from_json(body.get("within", {"ever": {}}), f"{path}.within")
    return _Count(kind, lo, hi, within,
                  products=_ids(body.get("product"), f"{path}.product"),
                  categories=_names(body.get("category"), f"{path}.category"),
                  campaigns=_ids(body.get("campaign"), f"{path}.campaign"),
                  forms=_ids(body.get("form"), f"{path}.form"))


def _parse_attr(body: Any, path: str) -> Filter:
    if not isinstance(body, dict):
        raise InvalidFilter(f"{path}: expected an object, got {body!r}")
    _only_keys(body, {"name", "op", "values"}, path)
    name, op, values = body.get("name"), body.get("op"), body.get("values", [])
    if not isinstance(name, str) or not name:
        raise InvalidFilter(f"{path}.name: expected a non-empty string, got {name!r}")
    if op not in ATTR_OPS:
        raise InvalidFilter(f"{path}.op: {op!r} is not one of {', '.join(ATTR_OPS)}")
    if not isinstance(values, list):
        raise InvalidFilter(f"{path}.values: expected a list, got {values!r}")
    parsed = [_parse_attr_value(v, f"{path}.values[{i}]") for i, v in enumerate(values)]
    ref = attr(name)
    if op == "exists":
        if parsed:
            raise InvalidFilter(f"{path}.values: exists takes no values")
        return ref.exists()
    if op == "in":
        return ref.is_in(parsed)
    if len(parsed) != 1:
        raise InvalidFilter(f"{path}.values: {op} takes exactly one value, got {len(parsed)}")
    return ref._op(op, parsed[0])


def _parse_attr_value(value: Any, path: str) -> AttrValue:
    if isinstance(value, dict):
        if set(value) != {"decimal"} or not isinstance(value["decimal"], str):
            raise InvalidFilter(f"{path}: expected a scalar or {{\"decimal\": \"…\"}}, got {value!r}")
        parsed = to_decimal(value["decimal"])
        if parsed is None:
            raise InvalidFilter(f"{path}.decimal: {value['decimal']!r} is not a decimal")
        return parsed
    return _attr_value(value, path)


def _parse_engagement(kind: str, body: Any, path: str) -> Filter:
    if not isinstance(body, dict):
        raise InvalidFilter(f"{path}: expected an object, got {body!r}")
    _only_keys(body, {"timeframe_seconds", "timeframe_microseconds"}, path)
    if not body:
        timeframe = DEFAULT_TIMEFRAME
    elif len(body) != 1:
        raise InvalidFilter(f"{path}: give one of timeframe_seconds or timeframe_microseconds")
    else:
        ((unit, amount),) = body.items()
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise InvalidFilter(f"{path}.{unit}: expected a positive integer, got {amount!r}")
        timeframe = timedelta(seconds=amount) if unit == "timeframe_seconds" else timedelta(microseconds=amount)
    builder = engaged if kind == "engaged" else unengaged
    return builder(timeframe=timeframe)


VIEWS: dict[str, Filter] = {
    "subscribed": status("subscribed"),
    "unknown": status("unknown"),
    "subscribed+unknown": status({"subscribed", "unknown"}),
    "all": everyone(),
}


def view_filter(view: str) -> Filter:
    """The contacts a dashboard view (SPEC §5) covers."""
    try:
        return VIEWS[view]
    except KeyError:
        raise InvalidFilter(f"view: {view!r} is not one of {', '.join(VIEWS)}") from None


__all__ = [
    "MAX_DEPTH", "AttributeRef", "Filter", "Visitor", "added_to_cart", "all_of", "any_of", "aov", "attr",
    "blocked", "city", "clicked", "count_bounds", "country", "depth", "engaged", "everyone", "gender",
    "has_email", "has_phone", "in_segment", "joined", "language", "opened", "ordered", "received",
    "segment_refs", "spent", "status", "subscribed", "subscribed_via", "tag", "unengaged",
    "view_filter", "viewed", "walk",
]
