"""Human names of filters in English and Polish (SPEC §3 ``describe()``).

Each language is one :class:`~engagekit.filters.Visitor` with a method per node type. Negation is a
second dispatch (``negate_<node>``) so that ``~tag('vip')`` reads "not tagged 'vip'" rather than
"not (tagged 'vip')"; a node without a natural negated form falls back to a generic "not …".
Sets are listed in code-point order, so the same filter always gets the same name.

>>> from engagekit import viewed, city, tag, last
>>> f = viewed(category="bluzy", within=last(days=14)) & city("Warszawa") & ~tag("vip")
>>> describe(f)
"viewed category 'bluzy' at least once in the last 14 days and city is Warszawa and not tagged 'vip'"
>>> describe(f, lang="pl")
"oglądał kategorię 'bluzy' co najmniej raz w ciągu ostatnich 14 dni i miasto to Warszawa i nie ma tagu 'vip'"
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from .errors import InvalidFilter
from .filters import (
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
)
from .time import EVER, Window, _Before, _Between, _Ever, _Last

LANGUAGES = ("en", "pl")

_ATTR_SYMBOL = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}


def describe(flt: Filter, lang: str = "en") -> str:
    """A deterministic human name of ``flt`` in English (``"en"``) or Polish (``"pl"``).

    >>> from engagekit import ordered, last
    >>> describe(ordered(at_most=2, within=last(months=1)))
    'ordered at most twice in the last month'
    >>> describe(ordered(at_most=2, within=last(months=1)), lang="pl")
    'złożył zamówienie co najwyżej 2 razy w ciągu ostatniego miesiąca'
    """
    if not isinstance(flt, Filter):
        raise InvalidFilter(f"describe: expected a Filter, got {type(flt).__name__} {flt!r}")
    describer: _Describer
    if lang == "en":
        describer = EnglishDescriber()
    elif lang == "pl":
        describer = PolishDescriber()
    else:
        raise InvalidFilter(f"lang: {lang!r} is not supported; use one of {', '.join(map(repr, LANGUAGES))}")
    return flt.accept(describer)


# --- shared helpers ------------------------------------------------------------------------------


def _quote(value: str) -> str:
    """An identifier or typed name as the user wrote it, in quotes."""
    return repr(value)


def _plain(value: str) -> str:
    """A profile value shown without quotes: inner whitespace collapsed."""
    return " ".join(value.split())


def _amount(value: Decimal) -> str:
    """A Decimal without exponent notation (``1E+3`` → ``1000``)."""
    return format(value, "f")


def _attr_value(value: object, lang: str) -> str:
    if isinstance(value, bool):
        if lang == "pl":
            return "prawda" if value else "fałsz"
        return "true" if value else "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, Decimal):
        return _amount(value)
    return repr(value)


def _sorted_strs(values: Iterable[str]) -> list[str]:
    return sorted(values)


def _instant_text(moment: datetime) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M")
    if moment.microsecond:
        text = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    elif moment.second:
        text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return text + " UTC"


def _timeframe_parts(value: timedelta) -> list[tuple[str, int]] | None:
    """An engagement timeframe as whole days, hours or seconds (None when it has microseconds)."""
    if value % timedelta(days=1) == timedelta(0):
        return [("days", value.days)]
    if value % timedelta(hours=1) == timedelta(0):
        return [("hours", int(value.total_seconds()) // 3600)]
    if value % timedelta(seconds=1) == timedelta(0):
        return [("seconds", int(value.total_seconds()))]
    return None


def _complement(lo: int, hi: int | None) -> tuple[int, int | None] | None:
    """Count bounds selecting exactly the contacts the given bounds do not (one interval), or None."""
    if hi is None:
        return None if lo == 0 else (0, lo - 1)
    if lo == 0:
        return (hi + 1, None)
    return None


class _Describer(Visitor[str]):
    """Structure shared by every language: groups, parentheses and negation dispatch."""

    AND = " and "
    OR = " or "

    def visit_and(self, f: _And) -> str:
        return self.AND.join(self._grouped(p, _Or) for p in f.parts)

    def visit_or(self, f: _Or) -> str:
        return self.OR.join(self._grouped(p, _And) for p in f.parts)

    def _grouped(self, part: Filter, kind: type) -> str:
        text = part.accept(self)
        return f"({text})" if isinstance(part, kind) else text

    def visit_not(self, f: _Not) -> str:
        part = f.part
        method = getattr(self, f"negate_{part.node}", None)
        if method is not None:
            result = method(part)
            if result is not None:
                assert isinstance(result, str)
                return result
        text = part.accept(self)
        if isinstance(part, _And | _Or):
            return self.not_group(text)
        return self.not_leaf(text)

    def not_group(self, text: str) -> str:
        raise NotImplementedError  # pragma: no cover - abstract

    def not_leaf(self, text: str) -> str:
        raise NotImplementedError  # pragma: no cover - abstract

    def negate_count(self, f: _Count) -> str | None:
        bounds = _complement(f.at_least, f.at_most)
        if bounds is None:
            return None
        return attrs.evolve(f, at_least=bounds[0], at_most=bounds[1]).accept(self)


# --- English -------------------------------------------------------------------------------------

_EN_UNITS = {"months": ("month", "months", "a month"), "weeks": ("week", "weeks", "a week"),
             "days": ("day", "days", "a day"), "hours": ("hour", "hours", "an hour"),
             "seconds": ("second", "seconds", "a second")}

_EN_FIELDS = {"city": "city", "country": "country", "language": "language", "gender": "gender"}


def _en_times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _en_list(values: list[str], word: str = "or") -> str:
    if len(values) == 1:
        return values[0]
    return f"{', '.join(values[:-1])} {word} {values[-1]}"


class EnglishDescriber(_Describer):
    """``describe(f, lang="en")``."""

    def not_group(self, text: str) -> str:
        return f"not ({text})"

    def not_leaf(self, text: str) -> str:
        return f"not {text}"

    # windows and bounds

    def duration(self, parts: list[tuple[str, int]], *, article: bool) -> str:
        if len(parts) == 1 and parts[0][1] == 1:
            singular, _, with_article = _EN_UNITS[parts[0][0]]
            return with_article if article else singular
        return ", ".join(f"{n} {_EN_UNITS[unit][0 if n == 1 else 1]}" for unit, n in parts)

    def window(self, window: Window) -> str:
        if isinstance(window, _Ever):
            return ""
        if isinstance(window, _Last):
            return f"in the last {self.duration(window.duration.items(), article=False)}"
        if isinstance(window, _Before):
            return f"more than {self.duration(window.duration.items(), article=True)} ago"
        if isinstance(window, _Between):
            return f"between {_instant_text(window.start)} and {_instant_text(window.end)}"
        raise InvalidFilter(f"describe: unknown window {window!r}")  # pragma: no cover

    def bounds(self, lo: int, hi: int | None) -> str:
        if hi is None:
            return "any number of times" if lo == 0 else f"at least {_en_times(lo)}"
        if lo == hi:
            return "exactly once" if lo == 1 else f"exactly {lo} times"
        if lo == 0:
            return f"at most {_en_times(hi)}"
        return f"between {lo} and {hi} times"

    @staticmethod
    def _join(*pieces: str) -> str:
        return " ".join(p for p in pieces if p)

    # nodes

    def visit_everyone(self, f: _Everyone) -> str:
        return "everyone"

    def negate_everyone(self, f: _Everyone) -> str:
        return "no one"

    def _count_phrase(self, f: _Count) -> str:
        """The verb phrase before the count bound: "viewed category 'bluzy'"."""

        def listed(values: frozenset[str] | None) -> str | None:
            return None if values is None else _en_list([_quote(v) for v in _sorted_strs(values)])

        products, categories = listed(f.products), listed(f.categories)
        campaigns, forms = listed(f.campaigns), listed(f.forms)
        if f.kind in ("viewed", "added_to_cart", "ordered"):
            if products and categories:
                obj = f"product {products} in category {categories}"
            elif products:
                obj = f"product {products}"
            elif categories:
                obj = f"category {categories}" if f.kind == "viewed" else (
                    f"a product in category {categories}" if f.kind == "added_to_cart"
                    else f"from category {categories}")
            else:
                obj = "" if f.kind == "ordered" else "a product"
            if f.kind == "added_to_cart":
                return self._join("added", obj, "to cart")
            return self._join(f.kind, obj)
        if f.kind == "subscribed_via":
            return self._join("subscribed", f"via form {forms}" if forms else "")
        return self._join(f.kind, f"campaign {campaigns}" if campaigns else "an email")

    def visit_count(self, f: _Count) -> str:
        phrase = self._count_phrase(f)
        window = self.window(f.within)
        if f.at_least == 0 and f.at_most == 0:
            return self._join("never", phrase, window)
        return self._join(phrase, self.bounds(f.at_least, f.at_most), window)

    def _money_bounds(self, lo: Decimal | None, hi: Decimal | None) -> str:
        if lo is not None and hi is not None:
            if lo == hi:
                return f"exactly {_amount(lo)}"
            return f"between {_amount(lo)} and {_amount(hi)}"
        if lo is not None:
            return f"at least {_amount(lo)}"
        assert hi is not None
        return f"at most {_amount(hi)}"

    def visit_money(self, f: _Money) -> str:
        head = "spent" if f.measure == "spent" else "average order value is"
        return self._join(head, self._money_bounds(f.at_least, f.at_most), self.window(f.within))

    def negate_money(self, f: _Money) -> str | None:
        if f.measure == "aov":
            return self._join("average order value is not", self._money_bounds(f.at_least, f.at_most),
                              self.window(f.within))
        if f.at_least is not None and f.at_most is not None:
            return None
        bound = f"less than {_amount(f.at_least)}" if f.at_least is not None else f"more than {_amount(f.at_most)}" \
            if f.at_most is not None else ""
        return self._join("spent", bound, self.window(f.within))

    def _profile_values(self, f: _Profile) -> tuple[list[str], bool]:
        shown = [v.strip().upper() if f.field == "country" else _plain(v) for v in f.values if v is not None]
        return _sorted_strs(shown), None in f.values

    def visit_profile(self, f: _Profile) -> str:
        values, missing = self._profile_values(f)
        name = _EN_FIELDS[f.field]
        if not values:
            return f"{name} is missing"
        listed = values[0] if len(values) == 1 else f"one of {', '.join(values)}"
        return f"{name} is missing or {listed}" if missing else f"{name} is {listed}"

    def negate_profile(self, f: _Profile) -> str:
        values, missing = self._profile_values(f)
        name = _EN_FIELDS[f.field]
        if not values:
            return f"{name} is not missing"
        listed = values[0] if len(values) == 1 else f"one of {', '.join(values)}"
        return f"{name} is neither missing nor {listed}" if missing else f"{name} is not {listed}"

    def visit_has(self, f: _Has) -> str:
        return "has a phone" if f.field == "phone" else "has an email"

    def negate_has(self, f: _Has) -> str:
        return f"has no {f.field}"

    def visit_tag(self, f: _Tag) -> str:
        return f"tagged {_quote(f.name)}"

    def negate_tag(self, f: _Tag) -> str:
        return f"not tagged {_quote(f.name)}"

    def visit_status(self, f: _Status) -> str:
        values = _sorted_strs(f.values)
        return f"status is {values[0]}" if len(values) == 1 else f"status is one of {', '.join(values)}"

    def negate_status(self, f: _Status) -> str:
        values = _sorted_strs(f.values)
        return f"status is not {values[0]}" if len(values) == 1 else f"status is not one of {', '.join(values)}"

    def visit_joined(self, f: _Joined) -> str:
        return "joined at any time" if f.within == EVER else f"joined {self.window(f.within)}"

    def negate_joined(self, f: _Joined) -> str | None:
        return "no one" if f.within == EVER else None

    def visit_attr(self, f: _AttrCompare) -> str:
        name = f"attribute {_quote(f.name)}"
        if f.op == "exists":
            return f"{name} is set"
        if f.op == "in":
            return f"{name} is one of {', '.join(_attr_value(v, 'en') for v in f.values)}"
        return f"{name} {_ATTR_SYMBOL[f.op]} {_attr_value(f.values[0], 'en')}"

    def negate_attr(self, f: _AttrCompare) -> str | None:
        return f"attribute {_quote(f.name)} is not set" if f.op == "exists" else None

    def _timeframe(self, value: timedelta) -> str:
        parts = _timeframe_parts(value)
        if parts is None:
            return f"in the last {value.total_seconds()} seconds"
        return f"in the last {self.duration(parts, article=False)}"

    def visit_engagement(self, f: _Engagement) -> str:
        if f.state == "blocked":
            return "blocked"
        return f"{f.state} {self._timeframe(f.timeframe)}"

    def visit_in_segment(self, f: _InSegment) -> str:
        return f"in segment {_quote(f.segment_id)}"


# --- Polish --------------------------------------------------------------------------------------

# unit: (singular nominative, accusative singular, nominative plural 2-4, genitive plural, genitive singular)
_PL_UNITS = {
    "months": ("miesiąc", "miesiąc", "miesiące", "miesięcy", "miesiąca"),
    "weeks": ("tydzień", "tydzień", "tygodnie", "tygodni", "tygodnia"),
    "days": ("dzień", "dzień", "dni", "dni", "dnia"),
    "hours": ("godzina", "godzinę", "godziny", "godzin", "godziny"),
    "seconds": ("sekunda", "sekundę", "sekundy", "sekund", "sekundy"),
}
_PL_LAST_ONE = {"months": "ostatniego miesiąca", "weeks": "ostatniego tygodnia", "days": "ostatniego dnia",
                "hours": "ostatniej godziny", "seconds": "ostatniej sekundy"}

# field: (nominative, genitive)
_PL_FIELDS = {"city": ("miasto", "miasta"), "country": ("kraj", "kraju"), "language": ("język", "języka"),
              "gender": ("płeć", "płci")}
_PL_STATES = {"engaged": "zaangażowany", "unengaged": "niezaangażowany", "blocked": "zablokowany"}
_PL_STATUS = {"subscribed": "zapisany", "unknown": "nieznany", "unsubscribed": "wypisany"}


def plural_pl(n: int, one: str, few: str, many: str) -> str:
    """The Polish form agreeing with ``n`` (1 dzień, 2 dni; 1 tydzień, 3 tygodnie, 5 tygodni).

    >>> [plural_pl(n, "miesiąc", "miesiące", "miesięcy") for n in (1, 2, 5, 12, 22, 25)]
    ['miesiąc', 'miesiące', 'miesięcy', 'miesięcy', 'miesiące', 'miesięcy']
    """
    if n == 1:
        return one
    if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        return few
    return many


def _pl_times(n: int) -> str:
    return "raz" if n == 1 else f"{n} razy"


def _pl_list(values: list[str], word: str = "lub") -> str:
    if len(values) == 1:
        return values[0]
    return f"{', '.join(values[:-1])} {word} {values[-1]}"


class PolishDescriber(_Describer):
    """``describe(f, lang="pl")``: natural Polish, with number agreement."""

    AND = " i "
    OR = " lub "

    def not_group(self, text: str) -> str:
        return f"nie ({text})"

    def not_leaf(self, text: str) -> str:
        return f"nieprawda, że {text}"

    # windows and bounds

    @staticmethod
    def _genitive(parts: list[tuple[str, int]]) -> str:
        """``ostatnich 14 dni`` / ``ostatniego miesiąca``: after "w ciągu" (genitive)."""
        if len(parts) == 1 and parts[0][1] == 1:
            return _PL_LAST_ONE[parts[0][0]]
        return "ostatnich " + ", ".join(
            f"{n} {_PL_UNITS[unit][4] if n == 1 else _PL_UNITS[unit][3]}" for unit, n in parts)

    @staticmethod
    def _accusative(parts: list[tuple[str, int]]) -> str:
        """``30 dni`` / ``2 tygodnie`` / ``godzinę``: after "ponad" (accusative)."""
        if len(parts) == 1 and parts[0][1] == 1:
            return _PL_UNITS[parts[0][0]][1]
        pieces = []
        for unit, n in parts:
            _, acc_one, few, many, _ = _PL_UNITS[unit]
            pieces.append(f"{n} {plural_pl(n, acc_one, few, many)}")
        return ", ".join(pieces)

    def window(self, window: Window) -> str:
        if isinstance(window, _Ever):
            return ""
        if isinstance(window, _Last):
            return f"w ciągu {self._genitive(window.duration.items())}"
        if isinstance(window, _Before):
            return f"ponad {self._accusative(window.duration.items())} temu"
        if isinstance(window, _Between):
            return f"od {_instant_text(window.start)} do {_instant_text(window.end)}"
        raise InvalidFilter(f"describe: unknown window {window!r}")  # pragma: no cover

    def bounds(self, lo: int, hi: int | None) -> str:
        if hi is None:
            return "dowolną liczbę razy" if lo == 0 else f"co najmniej {_pl_times(lo)}"
        if lo == hi:
            return f"dokładnie {_pl_times(lo)}"
        if lo == 0:
            return f"co najwyżej {_pl_times(hi)}"
        return f"od {lo} do {hi} razy"

    @staticmethod
    def _join(*pieces: str) -> str:
        return " ".join(p for p in pieces if p)

    # nodes

    def visit_everyone(self, f: _Everyone) -> str:
        return "wszyscy"

    def negate_everyone(self, f: _Everyone) -> str:
        return "nikt"

    def _count_phrase(self, f: _Count, *, negated: bool) -> str:
        """Verb and object; ``negated`` puts the object in the genitive (nie oglądał kategorii …)."""
        join = "ani" if negated else "lub"

        def listed(values: frozenset[str] | None) -> str | None:
            return None if values is None else _pl_list([_quote(v) for v in _sorted_strs(values)], join)

        products, categories = listed(f.products), listed(f.categories)
        campaigns, forms = listed(f.campaigns), listed(f.forms)
        product = "produktu" if negated else "produkt"
        if f.kind in ("viewed", "added_to_cart", "ordered"):
            verb = {"viewed": "oglądał", "added_to_cart": "dodał do koszyka", "ordered": "zamówił"}[f.kind]
            if products and categories:
                return f"{verb} {product} {products} z kategorii {categories}"
            if products:
                return f"{verb} {product} {products}"
            if categories:
                if f.kind == "viewed":
                    return f"{verb} {'kategorii' if negated else 'kategorię'} {categories}"
                return f"{verb} {product} z kategorii {categories}"
            if f.kind == "ordered":
                return "złożył zamówienia" if negated else "złożył zamówienie"
            return f"{verb} {'produktów' if negated else 'produkty'}"
        if f.kind == "subscribed_via":
            return f"zapisał się przez formularz {forms}" if forms else "zapisał się"
        email = {"opened": "otworzył e-mail", "clicked": "kliknął w e-mail", "received": "otrzymał e-mail"}[f.kind]
        if negated and f.kind != "clicked":
            email += "a"  # e-mail → e-maila (genitive after "nie")
        return f"{email} z kampanii {campaigns}" if campaigns else email

    def visit_count(self, f: _Count) -> str:
        window = self.window(f.within)
        if f.at_least == 0 and f.at_most == 0:
            return self._join("nigdy nie", self._count_phrase(f, negated=True), window)
        return self._join(self._count_phrase(f, negated=False), self.bounds(f.at_least, f.at_most), window)

    def negate_count(self, f: _Count) -> str:
        result = super().negate_count(f)
        if result is not None:
            return result
        phrase = self._count_phrase(f, negated=True)
        return self._join("nie", phrase, self.bounds(f.at_least, f.at_most), self.window(f.within))

    def _money_bounds(self, lo: Decimal | None, hi: Decimal | None) -> str:
        if lo is not None and hi is not None:
            if lo == hi:
                return f"dokładnie {_amount(lo)}"
            return f"od {_amount(lo)} do {_amount(hi)}"
        if lo is not None:
            return f"co najmniej {_amount(lo)}"
        assert hi is not None
        return f"co najwyżej {_amount(hi)}"

    def visit_money(self, f: _Money) -> str:
        head = "wydał" if f.measure == "spent" else "średnia wartość zamówienia wynosi"
        return self._join(head, self._money_bounds(f.at_least, f.at_most), self.window(f.within))

    def negate_money(self, f: _Money) -> str | None:
        if f.measure == "aov":
            return self._join("średnia wartość zamówienia nie wynosi", self._money_bounds(f.at_least, f.at_most),
                              self.window(f.within))
        if f.at_least is not None and f.at_most is not None:
            return None
        bound = f"mniej niż {_amount(f.at_least)}" if f.at_least is not None else f"ponad {_amount(f.at_most)}" \
            if f.at_most is not None else ""
        return self._join("wydał", bound, self.window(f.within))

    def _profile_values(self, f: _Profile) -> tuple[list[str], bool]:
        shown = [v.strip().upper() if f.field == "country" else _plain(v) for v in f.values if v is not None]
        return _sorted_strs(shown), None in f.values

    def visit_profile(self, f: _Profile) -> str:
        values, missing = self._profile_values(f)
        nominative, genitive = _PL_FIELDS[f.field]
        if not values:
            return f"nie podano {genitive}"
        listed = f"{nominative} to {values[0]}" if len(values) == 1 else \
            f"{nominative} z listy: {', '.join(values)}"
        return f"nie podano {genitive} lub {listed}" if missing else listed

    def negate_profile(self, f: _Profile) -> str:
        values, missing = self._profile_values(f)
        nominative, _ = _PL_FIELDS[f.field]
        if not values:
            return f"podano {nominative}"
        if missing:
            return f"podano {nominative} spoza listy: {', '.join(values)}"
        if len(values) == 1:
            return f"{nominative} inne niż {values[0]}" if f.field == "city" else \
                f"{nominative} {'inna' if f.field == 'gender' else 'inny'} niż {values[0]}"
        return f"{nominative} spoza listy: {', '.join(values)}"

    def visit_has(self, f: _Has) -> str:
        return "ma telefon" if f.field == "phone" else "ma e-mail"

    def negate_has(self, f: _Has) -> str:
        return "nie ma telefonu" if f.field == "phone" else "nie ma e-maila"

    def visit_tag(self, f: _Tag) -> str:
        return f"ma tag {_quote(f.name)}"

    def negate_tag(self, f: _Tag) -> str:
        return f"nie ma tagu {_quote(f.name)}"

    def _statuses(self, f: _Status) -> list[str]:
        return [_PL_STATUS[v] for v in _sorted_strs(f.values)]

    def visit_status(self, f: _Status) -> str:
        values = self._statuses(f)
        return f"status to {values[0]}" if len(values) == 1 else f"status z listy: {', '.join(values)}"

    def negate_status(self, f: _Status) -> str:
        values = self._statuses(f)
        return f"status inny niż {values[0]}" if len(values) == 1 else f"status spoza listy: {', '.join(values)}"

    def visit_joined(self, f: _Joined) -> str:
        return "dołączył kiedykolwiek" if f.within == EVER else f"dołączył {self.window(f.within)}"

    def negate_joined(self, f: _Joined) -> str:
        return "nikt" if f.within == EVER else f"nie dołączył {self.window(f.within)}"

    def visit_attr(self, f: _AttrCompare) -> str:
        name = f"atrybut {_quote(f.name)}"
        if f.op == "exists":
            return f"{name} jest ustawiony"
        if f.op == "in":
            return f"{name} z listy: {', '.join(_attr_value(v, 'pl') for v in f.values)}"
        return f"{name} {_ATTR_SYMBOL[f.op]} {_attr_value(f.values[0], 'pl')}"

    def negate_attr(self, f: _AttrCompare) -> str | None:
        return f"atrybut {_quote(f.name)} nie jest ustawiony" if f.op == "exists" else None

    def _timeframe(self, value: timedelta) -> str:
        parts = _timeframe_parts(value)
        if parts is None:
            return f"w ciągu ostatnich {value.total_seconds()} s"
        return f"w ciągu {self._genitive(parts)}"

    def visit_engagement(self, f: _Engagement) -> str:
        if f.state == "blocked":
            return "zablokowany"
        return f"{_PL_STATES[f.state]} {self._timeframe(f.timeframe)}"

    def negate_engagement(self, f: _Engagement) -> str:
        return f"nie jest {f.accept(self)}"

    def visit_in_segment(self, f: _InSegment) -> str:
        return f"należy do segmentu {_quote(f.segment_id)}"

    def negate_in_segment(self, f: _InSegment) -> str:
        return f"nie należy do segmentu {_quote(f.segment_id)}"


__all__ = ["LANGUAGES", "EnglishDescriber", "PolishDescriber", "describe", "plural_pl"]
