"""Money: exact Decimals in a store's one currency, integer minor units in SQL (SPEC §1, §4)."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction
from typing import TypeAlias

Money: TypeAlias = Decimal

# ISO 4217 exponents that differ from 2; every other three-letter code has 2 decimal places.
_EXPONENTS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}


def currency_code(value: object, *, field: str = "currency") -> str:
    from .errors import InvalidRecord

    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isalpha():
        raise InvalidRecord(f"{field}: {value!r} is not an ISO 4217 currency code such as 'PLN'")
    return value.upper()


def exponent(currency: str) -> int:
    """Decimal places of a currency (PLN: 2, JPY: 0, KWD: 3)."""
    return _EXPONENTS.get(currency.upper(), 2)


def to_decimal(value: object) -> Decimal | None:
    """A Decimal from a Decimal, int or numeric string; None when it is not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return None
        return parsed if parsed.is_finite() else None
    return None


def places(value: Decimal) -> int:
    """Number of decimal places ``value`` needs: trailing zeros are harmless (1.500 PLN is 1.50 PLN).

    Counted on the digits themselves:
    ``Decimal.normalize`` would round to the context's 28 digits first and hide the 31st place.

    >>> places(Decimal("1.0000000000000000000000000000001")), places(Decimal("1E+3")), places(Decimal("0.000"))
    (31, 0, 0)
    """
    _, digits, exp = value.as_tuple()
    assert isinstance(exp, int)
    if not any(digits):
        return 0  # zero needs no places, however it is written
    count = len(digits)
    while digits[count - 1] == 0:
        count -= 1
    return max(0, -(exp + len(digits) - count))


# SQL stores keep an amount as integer minor units in a signed 64-bit column.
MAX_MINOR = 2**63 - 1


def to_minor(value: Decimal, currency: str) -> int:
    """Exact integer minor units of a validated amount.

    Exact at any size: ``Decimal.scaleb`` would round to the context's 28 digits.

    >>> to_minor(Decimal("12345678901234567890123456789.01"), "PLN")
    1234567890123456789012345678901
    """
    return int(Fraction(value) * 10 ** exponent(currency))


def neighbours(value: Fraction, max_denominator: int) -> tuple[Fraction, Fraction]:
    """The closest fractions ``lower <= value <= upper`` with denominators up to ``max_denominator``.

    No fraction with a denominator up to ``max_denominator`` lies strictly between them (they are
    neighbours in the Farey sequence, or both ``value``): so for any such fraction ``r``,
    ``r >= value`` exactly when ``r >= upper``, and ``r <= value`` exactly when ``r <= lower``.
    The SQL stores use it to compare an average (a fraction whose denominator is a count of
    orders) with a bound of any precision in 64-bit integers.

    >>> neighbours(Fraction(1, 3), 10)
    (Fraction(1, 3), Fraction(1, 3))
    >>> neighbours(Fraction("0.3333333333333333333334"), 10)
    (Fraction(1, 3), Fraction(3, 8))
    """
    if value.denominator <= max_denominator:
        return value, value
    # the continued-fraction walk of Fraction.limit_denominator, keeping both candidates
    p0, q0, p1, q1 = 0, 1, 1, 0
    n, d = value.numerator, value.denominator
    while True:
        a = n // d
        q2 = q0 + a * q1
        if q2 > max_denominator:
            break
        p0, q0, p1, q1 = p1, q1, p0 + a * p1, q2
        n, d = d, n - a * d
    k = (max_denominator - q0) // q1
    first, second = Fraction(p0 + k * p1, q0 + k * q1), Fraction(p1, q1)
    return (first, second) if first < second else (second, first)


def fits_minor(value: Decimal, currency: str) -> bool:
    """Whether an amount's minor units fit a signed 64-bit integer (every store can keep it exactly)."""
    if value.adjusted() > 40:  # far too large; skip building a huge integer
        return False
    return abs(to_minor(value, currency)) <= MAX_MINOR


def finite_float(value: object) -> float | None:
    """A number (int, float, Decimal; never bool) as a finite float64, else None.

    Custom attributes compare as float64 (docs/ARCHITECTURE.md), so a number that has no finite
    float64 (``Decimal("NaN")``, ``10**400``) is refused where it is given.

    >>> finite_float(Decimal("1.5")), finite_float(Decimal("1e400")), finite_float(10**400)
    (1.5, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    try:
        result = float(value)
    except (OverflowError, ValueError):  # ValueError: a signalling Decimal NaN
        return None
    return result if math.isfinite(result) else None


def quantize_money(amount: Fraction, currency: str) -> Decimal:
    """A money amount (exact fraction of major units) to the currency's minor unit, half-even."""
    return quantize_fraction(amount, exponent(currency))


def quantize_fraction(value: Fraction, digits: int) -> Decimal:
    """An exact fraction rounded half-even to ``digits`` decimal places, as a Decimal."""
    scaled = value * (10**digits)
    rounded = round(scaled)  # Fraction rounds half to even
    result = Decimal(rounded).scaleb(-digits)
    return result.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)


def from_minor(minor: int, currency: str) -> Decimal:
    digits = exponent(currency)
    return Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))
