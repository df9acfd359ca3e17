"""Parsers that turn one source value (a CSV cell, a JSON value, a Parquet value) into a field value.

Every parser takes the raw value(s) of its column(s), returns the field's value or ``None`` for a
missing one, and raises :class:`ParseError` with a reason (no field name: the importer adds it, with
the line and the column). Parsers are tolerant of the type a format brings: the same mapping reads
``"2026-01-01T10:00:00+02:00"`` from CSV, the same string from JSON Lines, and an aware
``datetime`` from a Parquet timestamp column.

>>> money("149.90")
Decimal('149.90')
>>> str_list("vip, newsletter ,")
('vip', 'newsletter')
>>> str_list('["a, b", "c"]')
('a, b', 'c')
>>> instant("2025-10-07 09:50:26 +0200").isoformat()
'2025-10-07T07:50:26+00:00'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engagekit.errors import EngagekitError, InvalidInstant
from engagekit.money import to_decimal
from engagekit.time import instant as _instant

__all__ = [
    "ParseError", "blank", "boolean", "instant", "integer", "items_json", "json_object", "lower",
    "money", "str_list", "text",
]


class ParseError(EngagekitError, ValueError):
    """A source value cannot be read as the field it maps to; the message is the reason."""


def blank(value: object) -> bool:
    """True for a missing value: ``None`` or a string of whitespace only."""
    return value is None or (isinstance(value, str) and not value.strip())


def text(value: object) -> str | None:
    """A string field: kept as written (models clean it); numbers from JSON/Parquet become strings."""
    if blank(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ParseError(f"{value!r} is not text")
    if isinstance(value, (int, Decimal)):
        return str(value)
    raise ParseError(f"{value!r} is not text")


def lower(value: object) -> str | None:
    """Text stripped and lower-cased (e-mail addresses used as ids)."""
    result = text(value)
    return None if result is None else result.strip().lower()


def instant(value: object) -> datetime | None:
    """An aware instant: an aware ``datetime``, ISO-8601 with an offset, or ``2025-10-07 09:50:26 +0200``.

    A naive value is refused, never taken as local time or UTC (SPEC §1).
    """
    if blank(value):
        return None
    if isinstance(value, str):
        cleaned = value.strip()
        fast = _fromisoformat(cleaned)
        if fast is not None:
            return fast
        try:
            return _instant(cleaned, field="")
        except InvalidInstant as exc:
            shopify = _space_offset(cleaned)
            if shopify is not None:
                return shopify
            raise ParseError(_reason(str(exc))) from None
    try:
        return _instant(value, field="")
    except InvalidInstant as exc:
        raise ParseError(_reason(str(exc))) from None


def _fromisoformat(value: str) -> datetime | None:
    # the common case, fast: the standard library's parser; anything unusual goes to dateutil
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None  # refused below, with engagekit's message
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None  # outside years 1-9999 in UTC: refused below, with engagekit's message


def _space_offset(value: str) -> datetime | None:
    # Shopify writes "2025-10-07 09:50:26 +0200": ISO-8601 but for the space before the offset.
    head, sep, offset = value.rpartition(" ")
    if not sep or not offset or offset[0] not in "+-":
        return None
    try:
        return _instant(f"{head}{offset}", field="")
    except InvalidInstant:
        return None


def _reason(message: str) -> str:
    return message[2:] if message.startswith(": ") else message


def money(value: object) -> Decimal | None:
    """An exact amount: a Decimal, an int, a numeric string, or a float (read through its repr)."""
    if blank(value):
        return None
    if isinstance(value, float):
        value = repr(value)
    parsed = to_decimal(value)
    if parsed is None:
        raise ParseError(f"{value!r} is not a decimal amount")
    return parsed


# far beyond any field's range (quantity is 32-bit); the field's own check names the real limit
_MAX_INTEGER_DIGITS = 40


def integer(value: object) -> int | None:
    """A whole number (``"3"``, ``3``, ``"3.0"``)."""
    if blank(value):
        return None
    if isinstance(value, bool):
        raise ParseError(f"{value!r} is not a whole number")
    if isinstance(value, int):
        return value
    parsed = money(value)
    if parsed is None or parsed != parsed.to_integral_value():
        raise ParseError(f"{value!r} is not a whole number")
    if parsed.adjusted() > _MAX_INTEGER_DIGITS:
        # "1e10000000" is a whole number, but building it would take minutes and gigabytes
        raise ParseError(f"{value!r} is too large (more than {_MAX_INTEGER_DIGITS + 1} digits)")
    return int(parsed)


_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f"})


def boolean(value: object) -> bool | None:
    """``yes``/``no``, ``true``/``false``, ``1``/``0`` (any case) or a bool."""
    if blank(value):
        return None
    if isinstance(value, bool):
        return value
    key = str(value).strip().casefold()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ParseError(f"{value!r} is not yes/no or true/false")


def str_list(value: object, separator: str = ",") -> tuple[str, ...] | None:
    """Tags or categories: a list, a JSON array (``'["a", "b"]'``) or ``"a, b"`` split on commas."""
    if blank(value):
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except ValueError as exc:
                raise ParseError(f"{value!r} is not a JSON array ({exc})") from None
            except RecursionError:
                raise ParseError(f"{_head(stripped)} is nested too deeply") from None
        else:
            return tuple(part.strip() for part in stripped.split(separator) if part.strip())
    if isinstance(value, (list, tuple, frozenset, set)):
        result = []
        for item in value:
            if not isinstance(item, str):
                raise ParseError(f"{item!r} in {value!r} is not a string")
            result.append(item)
        return tuple(result)
    raise ParseError(f"{value!r} is not a list of strings")


def pipe_list(value: object) -> tuple[str, ...] | None:
    """Like :func:`str_list`, split on ``|`` instead of commas."""
    return str_list(value, "|")


def _head(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _json(value: object, expected: type, what: str) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_float=Decimal)
        except ValueError as exc:
            raise ParseError(f"{value!r} is not {what} ({exc})") from None
        except RecursionError:  # the C decoder's answer to "[[[[…" thousands deep
            raise ParseError(f"{_head(value)} is nested too deeply to be {what}") from None
    if not isinstance(value, expected):
        raise ParseError(f"{value!r} is not {what}")
    return value


def json_object(value: object) -> dict[str, Any] | None:
    """Custom attributes: a mapping or a JSON object string (numbers with a point read as Decimal)."""
    if blank(value):
        return None
    if isinstance(value, Mapping):
        return dict(value)
    return dict(_json(value, dict, "a JSON object"))


def items_json(value: object) -> list[Any] | None:
    """Order items: a list of ``{product_id, categories, quantity, price}`` or its JSON string."""
    if blank(value):
        return None
    if isinstance(value, (list, tuple)):
        return list(value)
    return list(_json(value, list, "a JSON array of items"))
