"""Declarative column mappings: which source column feeds which field, read by which parser.

A :class:`Mapping` says, for each field of a :class:`~engagekit.Contact` or
:class:`~engagekit.Event`, which column(s) of the source it comes from and how the value is parsed.
Ready mappings cover engagekit's own format (``ENGAGEKIT_CONTACTS``, ``ENGAGEKIT_EVENTS``) and
Shopify's customer and order CSV exports (``SHOPIFY_CUSTOMERS``, ``SHOPIFY_ORDERS``).

>>> from engagekit.io import Mapping, col, parse
>>> m = Mapping.events({"id": "event_id", "contact_id": "user", "type": "kind",
...                     "at": col("ts", parse.instant)}, name="tracking")
>>> record = m.build({"event_id": "e1", "user": "c1", "kind": "email_open", "ts": "2026-01-01T10:00:00+01:00"})
>>> record["type"], record["at"].isoformat()
('email_open', '2026-01-01T09:00:00+00:00')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from collections.abc import Mapping as AbcMapping
from typing import Any, Literal

import attrs

from engagekit.errors import EngagekitError

from . import parse

__all__ = [
    "ENGAGEKIT_CONTACTS", "ENGAGEKIT_EVENTS", "SHOPIFY_CUSTOMERS", "SHOPIFY_ORDERS", "Column",
    "FieldError", "Mapping", "MappingError", "col", "derived",
]

Kind = Literal["contact", "event"]
Parser = Callable[..., Any]

CONTACT_FIELDS = ("id", "email", "phone", "first_name", "last_name", "city", "country", "language",
                  "gender", "tags", "status", "created_at", "attributes")
EVENT_FIELDS = ("id", "contact_id", "type", "at", "product_id", "categories", "order_id", "value",
                "currency", "items", "campaign_id", "url", "form_id")
ITEM_FIELDS = ("product_id", "categories", "quantity", "price")
REQUIRED = {"contact": ("id", "created_at"), "event": ("id", "contact_id", "type", "at")}


class MappingError(EngagekitError, ValueError):
    """A mapping is malformed, or a file does not have the columns a mapping needs."""


class FieldError(EngagekitError, ValueError):
    """One field of one source row could not be read (raised while building a record)."""

    def __init__(self, field: str, column: str | None, value: object, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.column = column
        self.value = value
        self.reason = reason


@attrs.frozen
class Column:
    """Where one field comes from: ``sources`` (column names), a parser called with their values.

    With one source the parser gets its value; with several (see :func:`derived`) it gets one value
    per source, ``None`` for a source the file does not have. ``required``: the file must have at
    least one of the sources (checked once, on the header, for CSV and Parquet).
    """

    sources: tuple[str, ...]
    parse: Parser = parse.text
    required: bool = False

    def read(self, row: AbcMapping[str, Any]) -> Any:
        if len(self.sources) == 1:
            return self.parse(row.get(self.sources[0]))
        return self.parse(*[row.get(s) for s in self.sources])


def col(source: str, parse_: Parser = parse.text, *, required: bool = False) -> Column:
    """One column read by a parser: ``col("Total", parse.money)``."""
    return Column((source,), parse_, required)


def derived(function: Parser, *sources: str, required: bool = False) -> Column:
    """A field computed from several columns: ``derived(lambda sku, name: sku or name, "SKU", "Name")``."""
    if not sources:
        raise MappingError("derived: name at least one source column")
    return Column(tuple(sources), function, required)


def _as_column(target: str, spec: str | Column) -> Column:
    if isinstance(spec, Column):
        return spec
    if isinstance(spec, str):
        return Column((spec,), _DEFAULT_PARSERS.get(target.split(".", 1)[0], parse.text))
    raise MappingError(f"{target}: expected a column name or a Column, got {spec!r}")


@attrs.frozen
class Mapping:
    """How the rows of a source become contacts or events.

    - ``fields``: target field → :class:`Column` (a plain column name uses the field's default
      parser: instants for ``at``/``created_at``, money for ``value``/``price``, lists for
      ``tags``/``categories``…). A contact target ``attributes.NAME`` sets one custom attribute.
    - ``constants``: target field → a fixed value (``type="order"``); a column value, when present,
      wins over a constant of the same field.
    - ``group_by``: source columns; consecutive rows with the same values form one record (an order
      with one row per line item). ``items`` then reads one :class:`~engagekit.Item` per row.
    - ``strict``: columns the mapping does not name are an error (engagekit's own format).
    """

    kind: Kind
    fields: AbcMapping[str, Column]
    name: str = "mapping"
    constants: AbcMapping[str, Any] = attrs.field(factory=dict)
    group_by: tuple[str, ...] = ()
    items: AbcMapping[str, Column] = attrs.field(factory=dict)
    strict: bool = False
    _columns: frozenset[str] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        names = {s for c in (*self.fields.values(), *self.items.values()) for s in c.sources}
        object.__setattr__(self, "_columns", frozenset(names | set(self.group_by)))
        allowed = CONTACT_FIELDS if self.kind == "contact" else EVENT_FIELDS
        for target in (*self.fields, *self.constants):
            base = target.split(".", 1)[0]
            if base not in allowed:
                article = "an" if self.kind == "event" else "a"
                raise MappingError(f"{self.name}: {target!r} is not {article} {self.kind} field "
                                   f"(one of {', '.join(allowed)})")
            if "." in target and (self.kind != "contact" or base != "attributes"):
                raise MappingError(f"{self.name}: {target!r}: only contact attributes take a dotted name")
        for target in self.items:
            if target not in ITEM_FIELDS:
                raise MappingError(f"{self.name}: items.{target} is not an item field ({', '.join(ITEM_FIELDS)})")
        if self.items and not self.group_by:
            raise MappingError(f"{self.name}: items are read per row of a group; give group_by")

    @classmethod
    def contacts(cls, fields: AbcMapping[str, str | Column], *, name: str = "contacts",
                 constants: AbcMapping[str, Any] | None = None, strict: bool = False) -> Mapping:
        """A mapping for contacts: ``Mapping.contacts({"id": "customer_id", "email": "Email", ...})``."""
        return cls("contact", {t: _as_column(t, s) for t, s in fields.items()}, name,
                   dict(constants or {}), strict=strict)

    @classmethod
    def events(cls, fields: AbcMapping[str, str | Column], *, name: str = "events",
               constants: AbcMapping[str, Any] | None = None, group_by: Iterable[str] = (),
               items: AbcMapping[str, str | Column] | None = None, strict: bool = False) -> Mapping:
        """A mapping for events; with ``group_by`` and ``items``, several rows make one order."""
        return cls("event", {t: _as_column(t, s) for t, s in fields.items()}, name,
                   dict(constants or {}), tuple(group_by),
                   {t: _as_column(t, s) for t, s in (items or {}).items()}, strict)

    def with_defaults(self, **constants: Any) -> Mapping:
        """This mapping with more constants, e.g. ``SHOPIFY_CUSTOMERS.with_defaults(created_at=...)``."""
        return attrs.evolve(self, constants={**self.constants, **constants})

    # --- reading ---------------------------------------------------------------------------------

    @property
    def columns(self) -> frozenset[str]:
        """Every source column this mapping reads."""
        return self._columns

    def check_header(self, header: Iterable[str]) -> None:
        """Refuse a file that lacks a required column (or, when strict, has an unknown one)."""
        present = set(header)
        for target, column in (*self.fields.items(), *(("items." + t, c) for t, c in self.items.items())):
            if column.required and not present.intersection(column.sources):
                wanted = " or ".join(repr(s) for s in column.sources)
                raise MappingError(f"line 1: missing column {wanted} ({self.name} reads {target} from it)")
        for target in REQUIRED[self.kind]:
            needed = self.fields.get(target)
            if target in self.constants or (needed is not None and present.intersection(needed.sources)):
                continue
            where = f"no column {' or '.join(repr(s) for s in needed.sources)}" if needed else "no column"
            raise MappingError(f"line 1: {self.name} needs {target} and the file has {where} for it; "
                               f"add the column or give a value: {self.name}.with_defaults({target}=...)")
        for source in self.group_by:
            if source not in present:
                raise MappingError(f"line 1: missing column {source!r} ({self.name} groups rows by it)")
        if self.strict:
            unknown = sorted(present - self.columns)
            if unknown:
                raise MappingError(f"line 1: unknown column {unknown[0]!r}; {self.name} reads "
                                   f"{', '.join(sorted(self.columns))}")

    def group_key(self, row: AbcMapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row.get(s) for s in self.group_by)

    def build(self, row: AbcMapping[str, Any], item_rows: Iterable[AbcMapping[str, Any]] = ()) -> dict[str, Any]:
        """The keyword arguments of a Contact/Event from one row (plus its group's rows for items).

        Raises :class:`FieldError` naming the field, the column and the value.
        """
        record: dict[str, Any] = {}
        attributes: dict[str, Any] = {}
        if self.strict and not self._columns.issuperset(row):
            unknown = sorted(k for k in row if k not in self._columns)
            if unknown:
                raise FieldError(unknown[0], unknown[0], row[unknown[0]], f"unknown {self.kind} field")
        for target, column in self.fields.items():
            if len(column.sources) == 1:
                raw = row.get(column.sources[0])
                if raw is None or raw == "":  # the common missing cell, without a parser call
                    continue
            value = _read(target, column, row)
            if value is None:
                continue
            if target.startswith("attributes."):
                attributes[target.split(".", 1)[1]] = value
            elif target == "attributes":
                attributes = {**value, **attributes}
            else:
                record[target] = value
        for target, value in self.constants.items():
            if target.startswith("attributes."):
                attributes.setdefault(target.split(".", 1)[1], value)
        if attributes:
            record["attributes"] = attributes
        if self.items:
            items = []
            for index, item_row in enumerate(item_rows):
                item: dict[str, Any] = {}
                for target, column in self.items.items():
                    value = _read(f"items[{index}].{target}", column, item_row)
                    if value is not None:
                        item[target] = value
                if item:
                    items.append(item)
            record.setdefault("items", items)
        for target, value in self.constants.items():
            if not target.startswith("attributes."):
                record.setdefault(target, value)
        for required in REQUIRED[self.kind]:
            if record.get(required) is None:
                source = self.fields.get(required)
                if source is None:
                    raise FieldError(required, None, None, f"required ({self.name} gives no column for it)")
                names = " or ".join(repr(s) for s in source.sources)
                raise FieldError(required, ", ".join(source.sources), row.get(source.sources[0]),
                                 f"required (column {names} is empty or absent)")
        return record


def _read(target: str, column: Column, row: AbcMapping[str, Any]) -> Any:
    try:
        return column.read(row)
    except parse.ParseError as exc:
        raw = row.get(column.sources[0]) if len(column.sources) == 1 else tuple(row.get(s) for s in column.sources)
        raise FieldError(target, ", ".join(column.sources), raw, str(exc)) from None


_DEFAULT_PARSERS: dict[str, Parser] = {
    "created_at": parse.instant, "at": parse.instant, "value": parse.money, "price": parse.money,
    "quantity": parse.integer, "tags": parse.str_list, "categories": parse.str_list,
    "items": parse.items_json, "attributes": parse.json_object,
}


# --- engagekit's own format ----------------------------------------------------------------------

ENGAGEKIT_CONTACTS = Mapping.contacts(
    {name: col(name, _DEFAULT_PARSERS.get(name, parse.text), required=name in REQUIRED["contact"])
     for name in CONTACT_FIELDS},
    name="ENGAGEKIT_CONTACTS", strict=True,
)
"""engagekit's own contact format: the fields of ``Contact.to_dict()`` as JSON Lines keys or CSV columns.

In CSV, ``tags`` is a JSON array (``["vip","newsletter"]``; a plain ``vip,newsletter`` is read too)
and ``attributes`` a JSON object. Every column but ``id`` and ``created_at`` may be left out.
"""

ENGAGEKIT_EVENTS = Mapping.events(
    {name: col(name, _DEFAULT_PARSERS.get(name, parse.text), required=name in REQUIRED["event"])
     for name in EVENT_FIELDS},
    name="ENGAGEKIT_EVENTS", strict=True,
)
"""engagekit's own event format: the fields of ``Event.to_dict()``; in CSV, ``categories`` and
``items`` are JSON arrays and a field a type does not have is left empty."""


# --- Shopify -------------------------------------------------------------------------------------

def shopify_id(value: object) -> str | None:
    """A Shopify numeric id; the apostrophe Shopify adds to keep spreadsheets from mangling it is dropped."""
    text = parse.text(value)
    return None if text is None else (text.strip().lstrip("'").strip() or None)


def shopify_contact_id(email: object, customer_id: object = None) -> str | None:
    """The contact id of a Shopify customer: the e-mail, lower-cased; without one, ``shopify:<Customer ID>``.

    Orders carry the e-mail but not the customer id, so the e-mail is the one key both exports share.

    >>> shopify_contact_id(" Anna@Example.com ", "'7011")
    'anna@example.com'
    >>> shopify_contact_id("", "'7011")
    'shopify:7011'
    """
    address = parse.lower(email)
    if address:
        return address
    number = shopify_id(customer_id)
    return None if number is None else f"shopify:{number}"


def shopify_status(accepts: object) -> str | None:
    """``Accepts Email Marketing`` yes → ``subscribed``; no → ``unknown`` (not an explicit opt-out)."""
    flag = parse.boolean(accepts)
    if flag is None:
        return None
    return "subscribed" if flag else "unknown"


def _first(*values: object) -> Any:
    for value in values:
        if not parse.blank(value):
            return value
    return None


def _shopify_order_event_id(order_id: object, name: object) -> str | None:
    number = shopify_id(order_id)
    if number is not None:
        return f"shopify-order:{number}"
    label = parse.text(name)
    return None if label is None else f"shopify-order:{label.strip()}"


def _shopify_product(sku: object, name: object) -> str | None:
    return parse.text(_first(sku, name))


def _int_text(value: object) -> int | None:
    return parse.integer(value)


SHOPIFY_CUSTOMERS = Mapping.contacts(
    {
        "id": derived(shopify_contact_id, "Email", "Customer ID", required=True),
        "email": col("Email", parse.lower),
        "first_name": "First Name",
        "last_name": "Last Name",
        "phone": derived(lambda *v: parse.text(_first(*v)), "Phone", "Default Address Phone"),
        "city": derived(lambda *v: parse.text(_first(*v)), "Default Address City", "City"),
        "country": derived(lambda *v: parse.text(_first(*v)), "Default Address Country Code",
                           "Country Code"),
        "tags": col("Tags", parse.str_list),
        "status": derived(lambda *v: shopify_status(_first(*v)), "Accepts Email Marketing",
                          "Accepts Marketing"),
        "created_at": derived(lambda *v: parse.instant(_first(*v)), "Created At", "Created at"),
        "attributes.shopify_customer_id": col("Customer ID", shopify_id),
        "attributes.total_spent": col("Total Spent", parse.money),
        "attributes.total_orders": col("Total Orders", _int_text),
    },
    name="SHOPIFY_CUSTOMERS",
)
"""Shopify's customer CSV export (Customers → Export). Contact id: the e-mail, lower-cased
(``shopify:<Customer ID>`` without one), the same key :data:`SHOPIFY_ORDERS` uses. The export has
no creation date: give one with ``SHOPIFY_CUSTOMERS.with_defaults(created_at=...)`` (a ``Created At``
column, as some export apps write, wins)."""

SHOPIFY_ORDERS = Mapping.events(
    {
        "id": derived(_shopify_order_event_id, "Id", "Name", required=True),
        "contact_id": col("Email", parse.lower, required=True),
        "at": derived(lambda *v: parse.instant(_first(*v)), "Created at", "Paid at", required=True),
        "order_id": col("Name", required=True),
        "value": col("Total", parse.money, required=True),
        "currency": col("Currency", required=True),
    },
    name="SHOPIFY_ORDERS",
    constants={"type": "order"},
    group_by=("Name",),
    items={
        "product_id": derived(_shopify_product, "Lineitem sku", "Lineitem name", required=True),
        "quantity": col("Lineitem quantity", parse.integer),
        "price": col("Lineitem price", parse.money),
    },
)
"""Shopify's order CSV export (Orders → Export): one row per line item; consecutive rows with the
same ``Name`` make one ``order`` event (order-level columns are read from the first row, as Shopify
fills them only there). Event id ``shopify-order:<Id>``, order id the ``Name`` (``#1001``), value
``Total``, instant ``Created at``; the contact is the order's e-mail, lower-cased."""
