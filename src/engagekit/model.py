"""Contacts, events and items (SPEC §1), validated at construction.

Models are frozen attrs classes. Construction validates every field and raises
:class:`~engagekit.InvalidContact` / :class:`~engagekit.InvalidEvent` naming the field and value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import attrs

from .errors import InvalidContact, InvalidEvent, InvalidInstant, InvalidRecord
from .money import MAX_MINOR, currency_code, finite_float, fits_minor, from_minor, places, to_decimal
from .text import clean_text, norm_key, text_problem
from .time import instant

STATUSES = ("subscribed", "unknown", "unsubscribed")
MAX_QUANTITY = 2**31 - 1


class EventType(StrEnum):
    """The event types of SPEC §1."""

    PRODUCT_VIEW = "product_view"
    ADD_TO_CART = "add_to_cart"
    ORDER = "order"
    EMAIL_SENT = "email_sent"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    SPAM_COMPLAINT = "spam_complaint"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"

    def __str__(self) -> str:
        return self.value


EVENT_TYPES = tuple(t.value for t in EventType)
PRODUCT_TYPES = frozenset({"product_view", "add_to_cart"})
CAMPAIGN_TYPES = frozenset(
    {"email_sent", "email_open", "email_click", "hard_bounce", "soft_bounce", "spam_complaint"}
)
FORM_TYPES = frozenset({"subscribe", "unsubscribe"})
ENGAGEMENT_TYPES = frozenset({"email_open", "email_click", "product_view", "add_to_cart", "order"})
BLOCKING_TYPES = frozenset({"hard_bounce", "spam_complaint"})


def _identifier(value: object, field: str, error: type[InvalidRecord], *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str) or value == "":
        raise error(f"{field}: expected a non-empty string, got {value!r}")
    problem = text_problem(value)
    if problem:
        raise error(f"{field}: {value!r} {problem}")
    return value


def _optional_text(value: object, field: str, error: type[InvalidRecord]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise error(f"{field}: expected a string or None, got {type(value).__name__} {value!r}")
    problem = text_problem(value)
    if problem:
        raise error(f"{field}: {value!r} {problem}")
    return clean_text(value)


def _instant(value: object, field: str, error: type[InvalidRecord]) -> datetime:
    try:
        return instant(value, field=field)
    except InvalidInstant as exc:
        raise error(str(exc)) from None


def _categories(value: object, field: str, error: type[InvalidRecord]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise error(f"{field}: expected a tuple of strings, got {value!r}")
    result = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise error(f"{field}[{i}]: expected a string, got {item!r}")
        problem = text_problem(item)
        if problem:
            raise error(f"{field}[{i}]: {item!r} {problem}")
        result.append(item)
    return tuple(result)


def _json_value(value: object, field: str) -> Any:
    """Custom attribute values: JSON scalars (str, int, float, bool, None, Decimal)."""
    if value is None or isinstance(value, (str, bool, int, float, Decimal)):
        if isinstance(value, float) and math.isnan(value):
            raise InvalidContact(f"{field}: NaN is not a value")
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) \
                and finite_float(value) is None:
            # numbers compare as float64 (docs/ARCHITECTURE.md): one without a finite float64 cannot
            raise InvalidContact(f"{field}: {value!r} is not a finite number")
        problem = text_problem(value) if isinstance(value, str) else None
        if problem:
            raise InvalidContact(f"{field}: {value!r} {problem}")
        return value
    raise InvalidContact(f"{field}: expected a string, number, boolean or None, got {type(value).__name__} {value!r}")


def _freeze_attributes(value: object) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise InvalidContact(f"attributes: expected a mapping, got {value!r}")
    clean: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidContact(f"attributes: key {key!r} must be a non-empty string")
        problem = text_problem(key)
        if problem:
            raise InvalidContact(f"attributes: key {key!r} {problem}")
        clean[key] = _json_value(item, f"attributes.{key}")
    return MappingProxyType(clean)


def _freeze_tags(value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidContact(f"tags: expected a set of strings, got {value!r}")
    tags = set()
    for tag in value:
        if not isinstance(tag, str):
            raise InvalidContact(f"tags: expected strings, got {tag!r}")
        problem = text_problem(tag)
        if problem:
            raise InvalidContact(f"tags: {tag!r} {problem}")
        if tag.strip():
            tags.add(tag)
    return frozenset(tags)


def _check_keys(data: Mapping[str, Any], cls: type, required: tuple[str, ...],
                error: type[InvalidRecord], what: str) -> None:
    """A mapping for ``from_dict``: no unknown field (the first named), every required one present."""
    unknown = sorted(set(data) - {f.name for f in attrs.fields(cls)})
    if unknown:
        raise error(f"{unknown[0]}: unknown {what} field")
    for name in required:
        if name not in data:
            raise error(f"{name}: required")


def _hash_mapping(mapping: Mapping[str, Any]) -> int:
    return hash(tuple(sorted((k, repr(v)) for k, v in mapping.items())))


@attrs.frozen(kw_only=True, eq=False)
class Contact:
    """A person a shop can message (SPEC §1).

    >>> c = Contact(id="c1", city=" warszawa", country="pl", created_at="2026-01-01T00:00:00+00:00")
    >>> c.country, c.city_key
    ('PL', 'warszawa')
    """

    id: str
    created_at: datetime
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    city: str | None = None
    country: str | None = None
    language: str | None = None
    gender: str | None = None
    tags: frozenset[str] = attrs.field(factory=frozenset, converter=_freeze_tags)
    status: str = "unknown"
    attributes: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze_attributes)

    def __attrs_post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "id", _identifier(self.id, "id", InvalidContact))
        set_(self, "created_at", _instant(self.created_at, "created_at", InvalidContact))
        for name in ("email", "phone", "first_name", "last_name", "city", "language", "gender"):
            set_(self, name, _optional_text(getattr(self, name), name, InvalidContact))
        country = _optional_text(self.country, "country", InvalidContact)
        if country is not None:
            country = country.strip().upper()
            if len(country) != 2 or not country.isascii() or not country.isalpha():
                raise InvalidContact(f"country: {self.country!r} is not an ISO 3166-1 alpha-2 code such as 'PL'")
        set_(self, "country", country)
        if self.status not in STATUSES:
            raise InvalidContact(f"status: {self.status!r} is not one of {', '.join(STATUSES)}")

    @property
    def city_key(self) -> str | None:
        return norm_key(self.city)

    def field_key(self, name: str) -> str | None:
        """The normalised key of a text attribute (city, country, language, gender)."""
        return norm_key(getattr(self, name))

    @property
    def tag_keys(self) -> frozenset[str]:
        return frozenset(k for k in (norm_key(t) for t in self.tags) if k is not None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Contact):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash((self.id, self.created_at)) ^ _hash_mapping(self.attributes)

    def _identity(self) -> tuple[Any, ...]:
        return (self.id, self.created_at, self.email, self.phone, self.first_name, self.last_name,
                self.city, self.country, self.language, self.gender, self.tags, self.status,
                dict(self.attributes))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Contact:
        """A contact from a JSON-like mapping (tags as a list, instants as ISO strings)."""
        _check_keys(data, cls, ("id", "created_at"), InvalidContact, "contact")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "email": self.email, "phone": self.phone, "first_name": self.first_name,
            "last_name": self.last_name, "city": self.city, "country": self.country,
            "language": self.language, "gender": self.gender, "tags": sorted(self.tags),
            "status": self.status, "created_at": self.created_at.isoformat(),
            "attributes": {k: (str(v) if isinstance(v, Decimal) else v) for k, v in self.attributes.items()},
        }


def _float_hint(value: object) -> str:
    """Money is exact: a float is refused rather than guessed, and the error says what to pass."""
    if isinstance(value, float):
        return f" (a float is not exact; pass Decimal({str(value)!r}) or the string {str(value)!r})"
    return ""


def _item_price(value: object) -> Decimal:
    parsed = to_decimal(value)
    if parsed is None:
        raise InvalidEvent(f"price: {value!r} is not a decimal amount{_float_hint(value)}")
    return parsed


@attrs.frozen(kw_only=True)
class Item:
    """One line of an order: what was bought. Items are not summed into the order's value."""

    product_id: str
    categories: tuple[str, ...] = ()
    quantity: int = 1
    price: Decimal = Decimal(0)

    def __attrs_post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "product_id", _identifier(self.product_id, "product_id", InvalidEvent))
        set_(self, "categories", _categories(self.categories, "categories", InvalidEvent))
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int) or self.quantity < 1:
            raise InvalidEvent(f"quantity: expected a positive integer, got {self.quantity!r}")
        if self.quantity > MAX_QUANTITY:  # SQL stores keep it in a 32-bit integer column
            raise InvalidEvent(f"quantity: {self.quantity} is more than {MAX_QUANTITY}")
        price = _item_price(self.price)
        if price < 0:
            raise InvalidEvent(f"price: {price} is negative; prices must be >= 0")
        set_(self, "price", price)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Item:
        if not isinstance(data, Mapping):
            raise InvalidEvent(f"items: expected an object, got {data!r}")
        unknown = sorted(set(data) - {"product_id", "categories", "quantity", "price"})
        if unknown:
            raise InvalidEvent(f"{unknown[0]}: unknown item field")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return {"product_id": self.product_id, "categories": list(self.categories),
                "quantity": self.quantity, "price": str(self.price)}


def _items(value: object) -> tuple[Item, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        raise InvalidEvent(f"items: expected a tuple of Item, got {value!r}")
    result = []
    for i, item in enumerate(value):
        try:
            result.append(item if isinstance(item, Item) else Item.from_dict(item))
        except InvalidEvent as exc:
            raise InvalidEvent(f"items[{i}].{exc}") from None
    return tuple(result)


_TYPE_FIELDS: dict[str, frozenset[str]] = {
    "product_view": frozenset({"product_id", "categories"}),
    "add_to_cart": frozenset({"product_id", "categories"}),
    "order": frozenset({"order_id", "value", "currency", "items"}),
    "email_sent": frozenset({"campaign_id"}),
    "email_open": frozenset({"campaign_id"}),
    "email_click": frozenset({"campaign_id", "url"}),
    "hard_bounce": frozenset({"campaign_id"}),
    "soft_bounce": frozenset({"campaign_id"}),
    "spam_complaint": frozenset({"campaign_id"}),
    "subscribe": frozenset({"form_id"}),
    "unsubscribe": frozenset({"form_id"}),
}
_OPTIONAL_FIELDS = frozenset({"product_id", "categories", "order_id", "value", "currency", "items",
                              "campaign_id", "url", "form_id"})


@attrs.frozen(kw_only=True)
class Event:
    """Something a contact did or received (SPEC §1). Fields beyond the type's are refused.

    >>> Event(id="e1", contact_id="c1", type="order", at="2026-01-01T10:00:00+01:00",
    ...       order_id="o1", value="149.90", currency="PLN").value
    Decimal('149.90')
    """

    id: str
    contact_id: str
    type: str
    at: datetime
    product_id: str | None = None
    categories: tuple[str, ...] = ()
    order_id: str | None = None
    value: Decimal | None = None
    currency: str | None = None
    items: tuple[Item, ...] = attrs.field(default=(), converter=_items)
    campaign_id: str | None = None
    url: str | None = None
    form_id: str | None = None

    def __attrs_post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "id", _identifier(self.id, "id", InvalidEvent))
        set_(self, "contact_id", _identifier(self.contact_id, "contact_id", InvalidEvent))
        kind = self.type.value if isinstance(self.type, EventType) else self.type
        if kind not in _TYPE_FIELDS:
            raise InvalidEvent(f"type: {self.type!r} is not one of {', '.join(EVENT_TYPES)}")
        set_(self, "type", kind)
        set_(self, "at", _instant(self.at, "at", InvalidEvent))
        allowed = _TYPE_FIELDS[kind]
        for name in sorted(_OPTIONAL_FIELDS - allowed):
            if getattr(self, name) not in (None, ()):
                raise InvalidEvent(f"{name}: a {kind} event has no {name} (got {getattr(self, name)!r})")
        if kind in PRODUCT_TYPES:
            set_(self, "product_id", _identifier(self.product_id, "product_id", InvalidEvent))
            set_(self, "categories", _categories(self.categories, "categories", InvalidEvent))
        elif kind == "order":
            set_(self, "order_id", _identifier(self.order_id, "order_id", InvalidEvent))
            value = to_decimal(self.value)
            if value is None:
                raise InvalidEvent(f"value: {self.value!r} is not a decimal amount{_float_hint(self.value)}")
            if value < 0:
                raise InvalidEvent(f"value: {value} is negative; order values must be >= 0")
            set_(self, "value", value.copy_abs() if value == 0 else value)  # "-0.00" is 0.00
            if self.currency is None:
                raise InvalidEvent("currency: an order needs its currency, e.g. 'PLN'")
            try:
                set_(self, "currency", currency_code(self.currency))
            except InvalidRecord as exc:
                raise InvalidEvent(str(exc)) from None
        elif kind in CAMPAIGN_TYPES:
            required = kind in ("email_sent", "email_open", "email_click")
            set_(self, "campaign_id",
                 _identifier(self.campaign_id, "campaign_id", InvalidEvent, optional=not required))
            if self.url is not None:
                set_(self, "url", _optional_text(self.url, "url", InvalidEvent))
        else:
            set_(self, "form_id", _identifier(self.form_id, "form_id", InvalidEvent, optional=True))

    def check_currency(self, currency: str) -> None:
        """Refuse an order in another currency or with more decimal places than ``currency`` has."""
        if self.type != "order":
            return
        from .money import exponent

        assert self.value is not None
        if self.currency != currency:
            raise InvalidEvent(f"currency: {self.currency!r} differs from the store's currency {currency!r}")
        if places(self.value) > exponent(currency):
            raise InvalidEvent(
                f"value: {self.value} has more decimal places than {currency} has ({exponent(currency)})"
            )
        if not fits_minor(self.value, currency):
            raise InvalidEvent(
                f"value: {self.value} is too large; a store keeps at most "
                f"{from_minor(MAX_MINOR, currency)} {currency} per order (64-bit minor units)"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """An event from a JSON-like mapping (money as strings, lists for tuples)."""
        _check_keys(data, cls, ("id", "contact_id", "type", "at"), InvalidEvent, "event")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "contact_id": self.contact_id, "type": self.type,
                               "at": self.at.isoformat()}
        for name in sorted(_TYPE_FIELDS[self.type]):
            value = getattr(self, name)
            if name == "items":
                out[name] = [item.to_dict() for item in value]
            elif name == "categories":
                out[name] = list(value)
            elif name == "value":
                out[name] = str(value)
            elif value is not None:
                out[name] = value
        return out

    @property
    def category_keys(self) -> frozenset[str]:
        """Normalised categories this event matches: its own, or any of an order's items'."""
        names: list[str] = list(self.categories)
        for item in self.items:
            names.extend(item.categories)
        return frozenset(k for k in (norm_key(n) for n in names) if k is not None)

    @property
    def product_ids(self) -> frozenset[str]:
        if self.type == "order":
            return frozenset(item.product_id for item in self.items)
        return frozenset({self.product_id}) if self.product_id is not None else frozenset()
