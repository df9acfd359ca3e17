"""A realistic synthetic shop for demos, tests and benchmarks (issue #2, point 6).

``generate(contacts=N, seed=S)`` makes a Polish fashion shop with two years of history ending at
``now``: heavy-tailed activity (most contacts do little, a few a lot), Zipf-popular products in
categories people type (``bluzy``, ``spodnie``, ``buty`` …), cities with many missing and mixed
spellings (``" warszawa"``, ``"WARSZAWA"``), all three statuses with subscribe/unsubscribe events,
weekly newsletters (sent, opened, clicked), a few hard bounces and spam complaints, soft bounces, and
orders in PLN with items. About 20 events per contact on average.

Besides the weekly mass newsletters (``nl-YYYY-MM-DD``), the shop sends :data:`TARGETED` campaigns to
four of the :data:`SEED_SEGMENTS`: each goes to exactly the segment's newsletter audience at its
start (SPEC §7: members subscribed and not blocked then), and its readers open, click and buy more
often, so a segment report shows segmentation paying off. :func:`load` saves the seed segments
(ids :data:`SEED_SEGMENT_IDS`) and registers the targeted campaigns with them.

The same seed always gives the same shop, ids included, so loading it twice into a store is a
no-op the second time (event ids repeat). Events are produced lazily, in batches, so a million
contacts (twenty million events) never sit in memory at once.

>>> shop = generate(contacts=50, seed=7)
>>> len(shop.contacts), shop.contacts[0].id
(50, 'c0000000')
>>> sum(len(batch) for batch in shop.event_batches()) == sum(1 for _ in shop.events())
True
>>> [e.id for e in shop.events()][:2] == [e.id for e in generate(contacts=50, seed=7).events()][:2]
True
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeAlias

import attrs

from .campaigns import CampaignResult, Comparison, by_segment, compare, pool
from .errors import EngagekitError
from .filters import Filter, aov, city, opened, ordered, tag, viewed
from .metrics import Metrics
from .model import Contact, Event, Item
from .reports import STATES, Dashboard
from .stores.base import Store
from .text import norm_key
from .time import EPOCH, Instant, instant, last

__all__ = ["DEMO_NOW", "SEED_SEGMENTS", "SEED_SEGMENT_IDS", "TARGETED", "VIEWS", "DemoError", "LoadSummary", "Shop",
           "TargetedCampaign", "campaign_comparison", "demo_report", "generate", "load", "register", "seed_dashboard",
           "targeted_campaigns"]

class DemoError(EngagekitError, ValueError):
    """An argument of the demo generator is out of range."""


DEMO_NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
"""The default ``now`` of a generated shop: fixed, so a seed always gives the same shop."""

HISTORY_DAYS = 730
CURRENCY = "PLN"
VIEWS = ("subscribed", "unknown", "subscribed+unknown", "all")

SEED_SEGMENTS: tuple[Filter, ...] = (
    opened(within=last(days=90)),
    viewed(category="bluzy", within=last(days=14)),
    ordered(within=last(days=30)),
    ordered(at_least=5, within=last(days=365)),
    aov(at_least=300),
    city("Warszawa") & ~tag("vip"),
)
"""The six seed segments of the demo dashboard (issue #2, point 6)."""

SEED_SEGMENT_IDS = ("openers-90d", "bluzy-14d", "buyers-30d", "loyal-5-orders", "aov-300", "warszawa-not-vip")
"""The ids :func:`load` saves :data:`SEED_SEGMENTS` under, in the same order."""

TARGETED: tuple[tuple[int, int, str], ...] = (
    # (days before now, index in SEED_SEGMENTS, what it is about)
    (161, 0, "nowa-kolekcja"), (147, 5, "otwarcie-warszawa"), (126, 3, "dla-stalych"), (98, 1, "bluzy-promo"),
    (70, 0, "wyprzedaz"), (49, 5, "warszawa-event"), (28, 3, "vip-early"), (14, 1, "bluzy-nowosci"),
)
"""The targeted campaigns, sent at 10:00 UTC that many days before the shop's ``now``."""

# --- the catalogue and the people ----------------------------------------------------------------

_CATEGORIES = (  # (name, weight, price median in PLN)
    ("bluzy", 14, 149), ("spodnie", 14, 169), ("buty", 13, 259), ("koszulki", 12, 59),
    ("kurtki", 8, 349), ("sukienki", 9, 199), ("akcesoria", 12, 49), ("sport", 8, 129),
    ("bielizna", 6, 39), ("torebki", 4, 229),
)
_SPELLINGS = {"bluzy": ("Bluzy", "BLUZY"), "buty": ("Buty", " buty"), "sport": ("Sport",),
              "spodnie": ("Spodnie",), "akcesoria": ("Akcesoria",)}
_N_PRODUCTS = 1500
_ZIPF_S = 1.07

# city, weight, spellings with their weights (most contacts type it properly)
_CITIES = (
    ("Warszawa", 30, ((" warszawa", 1), ("WARSZAWA", 1), ("warszawa", 2), ("Warszawa ", 1))),
    ("Kraków", 14, (("kraków", 2), ("KRAKÓW", 1))),
    ("Wrocław", 11, (("wrocław", 2), ("Wrocław ", 1))),
    ("Łódź", 9, (("łódź", 2), ("ŁÓDŹ", 1))),
    ("Poznań", 9, (("poznań", 2),)),
    ("Gdańsk", 8, (("gdańsk", 1), (" Gdańsk", 1))),
    ("Szczecin", 4, ()), ("Lublin", 4, ()), ("Katowice", 4, ()), ("Bydgoszcz", 3, ()),
    ("Białystok", 2, ()), ("Gdynia", 2, ()),
)
_CITY_MISSING = 0.42
_FIRST_F = ("Anna", "Maria", "Katarzyna", "Małgorzata", "Agnieszka", "Barbara", "Ewa", "Krystyna",
            "Magdalena", "Joanna", "Aleksandra", "Zofia", "Monika", "Natalia", "Julia", "Zuzanna")
_FIRST_M = ("Piotr", "Krzysztof", "Andrzej", "Tomasz", "Paweł", "Jan", "Michał", "Marcin",
            "Jakub", "Adam", "Łukasz", "Mateusz", "Wojciech", "Kamil", "Szymon", "Bartosz")
_LAST = (("Nowak", "Nowak"), ("Kowalski", "Kowalska"), ("Wiśniewski", "Wiśniewska"),
         ("Wójcik", "Wójcik"), ("Kowalczyk", "Kowalczyk"), ("Kamiński", "Kamińska"),
         ("Lewandowski", "Lewandowska"), ("Zieliński", "Zielińska"), ("Szymański", "Szymańska"),
         ("Woźniak", "Woźniak"), ("Dąbrowski", "Dąbrowska"), ("Kozłowski", "Kozłowska"),
         ("Jankowski", "Jankowska"), ("Mazur", "Mazur"), ("Krawczyk", "Krawczyk"))
_DOMAINS = ("gmail.com", "wp.pl", "onet.pl", "o2.pl", "interia.pl", "op.pl", "outlook.com")
_ASCII = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")
_COUNTRIES = (("PL", 93), ("DE", 2), ("CZ", 1), ("UA", 2), ("GB", 1), (None, 1))
_LANGUAGES = {"PL": "pl", "DE": "de", "CZ": "cs", "UA": "uk", "GB": "en", None: None}
_SOURCES = ("popup", "checkout", "facebook", "google", "instagram", "import")
_STATUS_WEIGHTS = (("subscribed", 50), ("unknown", 36), ("unsubscribed", 14))
_FORMS = ("popup-rabat-10", "stopka", "checkout", "konkurs")

_DAY = 86_400
_WEEK = 7 * _DAY


@attrs.frozen
class _Product:
    id: str
    categories: tuple[str, ...]
    price: int  # grosze


@attrs.frozen
class _Plan:
    """Hidden per-contact traits that drive its events (not part of the public data)."""

    index: int
    id: str
    created: int  # epoch seconds
    status: str
    change: tuple[int, str] | None  # (when, "subscribe" | "unsubscribe")
    via_form: str | None  # subscribed through a form at creation
    sessions: int
    active_until: int
    open_p: float
    bounce: str | None  # "hard" | "spam" | None


def _catalogue(rng: random.Random) -> tuple[tuple[_Product, ...], list[float]]:
    names = [c[0] for c in _CATEGORIES]
    weights = [c[1] for c in _CATEGORIES]
    medians = {c[0]: c[2] for c in _CATEGORIES}
    products = []
    for i in range(_N_PRODUCTS):
        main = rng.choices(names, weights)[0]
        cats: tuple[str, ...] = (main,)
        if main != "sport" and rng.random() < 0.18:
            cats = (main, "sport")
        if main in _SPELLINGS and rng.random() < 0.05:  # someone typed it differently in the CMS
            cats = (rng.choice(_SPELLINGS[main]), *cats[1:])
        zloty = max(9, int(medians[main] * math.exp(rng.gauss(0, 0.45))))
        price = zloty * 100 + rng.choice((99, 99, 90, 0))
        products.append(_Product(f"p{i:05d}", cats, price))
    rng.shuffle(products)  # popularity rank independent of category
    cum = list(itertools.accumulate(1 / (r + 1) ** _ZIPF_S for r in range(len(products))))
    return tuple(products), cum


def _campaigns(start: int, end: int) -> list[tuple[int, str]]:
    """Weekly newsletters, Tuesdays at 08:00 UTC, over the history."""
    first = datetime.fromtimestamp(start, UTC).replace(hour=8, minute=0, second=0)
    first += timedelta(days=(1 - first.weekday()) % 7)
    out = []
    moment = int(first.timestamp())
    while moment <= end - 3 * 3600:
        out.append((moment, f"nl-{datetime.fromtimestamp(moment, UTC):%Y-%m-%d}"))
        moment += _WEEK
    return out


def _weighted(rng: random.Random, pairs: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([p[0] for p in pairs], [p[1] for p in pairs])[0]


def _new_contact(fields: dict[str, Any]) -> Contact:
    """A Contact from values valid by construction, without re-running validation (10x faster).

    tests/test_demo.py checks that these equal validated ``Contact(...)`` objects.
    """
    contact: Contact = object.__new__(Contact)
    for name in _CONTACT_FIELDS:
        object.__setattr__(contact, name, fields.get(name, _CONTACT_DEFAULTS[name]))
    return contact


_CONTACT_FIELDS = tuple(f.name for f in attrs.fields(Contact))
_CONTACT_DEFAULTS: dict[str, Any] = dict.fromkeys(_CONTACT_FIELDS)
_CONTACT_DEFAULTS.update(tags=frozenset(), status="unknown", attributes=MappingProxyType({}))


def _person(rng: random.Random, index: int, created: int, status: str, vip: bool) -> dict[str, Any]:
    female = rng.random() < 0.62
    first = rng.choice(_FIRST_F if female else _FIRST_M)
    last_name = rng.choice(_LAST)[1 if female else 0]
    country = _weighted(rng, _COUNTRIES)
    city_name: str | None = None
    if country == "PL" and rng.random() >= _CITY_MISSING:
        name, _, spellings = _weighted(rng, [(c, c[1]) for c in _CITIES])
        city_name = name
        if spellings and rng.random() < 0.25:
            city_name = _weighted(rng, spellings)
    tags = set()
    if vip:
        tags.add("VIP" if rng.random() < 0.1 else "vip")
    if rng.random() < 0.12:
        tags.add("klub")
    if rng.random() < 0.06:
        tags.add("outlet")
    if rng.random() < 0.02:
        tags.add("b2b")
    login = f"{first}.{last_name}".lower().translate(_ASCII)
    return {
        "id": f"c{index:07d}",
        "created_at": EPOCH + timedelta(seconds=created),
        "email": f"{login}{index}@{rng.choice(_DOMAINS)}" if rng.random() < 0.97 else None,
        "phone": f"+48 {rng.randrange(500, 900)} {rng.randrange(1000):03d} {rng.randrange(1000):03d}"
        if rng.random() < 0.55 else None,
        "first_name": first,
        "last_name": last_name,
        "city": city_name,
        "country": country,
        "language": _LANGUAGES[country] if rng.random() < 0.9 else None,
        "gender": ("female" if female else "male") if rng.random() < 0.8 else None,
        "tags": frozenset(tags),
        "status": status,
        "attributes": MappingProxyType({"source": rng.choice(_SOURCES),
                                        "loyalty_points": int(rng.paretovariate(1.5) * 20) - 20}),
    }


def _plan(rng: random.Random, index: int, start: int, end: int) -> tuple[_Plan, bool]:
    span = end - start
    created = start + int(span * math.sqrt(rng.random()))  # the shop grows: more recent sign-ups
    status = _weighted(rng, _STATUS_WEIGHTS)
    change: tuple[int, str] | None = None
    if rng.random() < {"subscribed": 0.14, "unknown": 0.22, "unsubscribed": 0.05}[status]:
        when = created + int((end - created) * rng.random())
        change = (when, "unsubscribe" if status == "subscribed" else "subscribe")
    via_form = rng.choice(_FORMS) if status == "subscribed" and rng.random() < 0.6 else None
    # heavy-tailed activity: a third never come back, most a little, a few a lot
    life = end - created
    if rng.random() < 0.35:
        rate = 0.0
    else:
        rate = min(12.0, 0.25 * (rng.paretovariate(1.35) - 0.6))  # sessions per 30 days
    active_until = created + int(life * min(1.0, rng.random() ** 1.5 * 1.3))  # churn
    sessions = int(rate * (active_until - created) / (30 * _DAY) + rng.random())
    if rng.random() < 0.45:
        sessions += 1  # the visit that made them a contact
    open_p = rng.random() ** 2.5 * (0.7 if rate else 0.25)
    roll = rng.random()
    bounce = "hard" if roll < 0.015 else "spam" if roll < 0.019 else None
    vip = sessions > 40 and rng.random() < 0.7
    return _Plan(index, f"c{index:07d}", created, status, change, via_form, sessions, active_until,
                 open_p, bounce), vip


# --- raw rows ------------------------------------------------------------------------------------

Row: TypeAlias = tuple[Any, ...]
"""A raw event row: ``(id, contact_index, type, at_seconds, ref, categories, value_grosze, items)``.

``ref`` is the product id (views, carts), the order id, the campaign id or the form id;
``items`` is a tuple of ``(product_id, categories, quantity, price_grosze)``.
"""


class _Generator:
    """Streams each contact's events in contact order from one deterministic random stream."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.rng = random.Random(shop.seed * 1_000_003 + 17)
        self.products, self.cum = _catalogue(random.Random(shop.seed))
        self.end = int(shop.now.timestamp())
        self.campaigns = _campaigns(self.end - HISTORY_DAYS * _DAY, self.end)
        self.campaign_times = [c[0] for c in self.campaigns]
        # targeted campaigns draw from a stream of their own, so the rest of the shop is the same with them
        self.trng = random.Random(shop.seed * 1_000_033 + 29)
        self.targeted = targeted_campaigns(shop.now)
        self.bluzy = frozenset(p.id for p in self.products if "bluzy" in {norm_key(c) for c in p.categories})
        self.bluzy_products = [p for p in self.products if p.id in self.bluzy]

    def pick_products(self, k: int) -> list[_Product]:
        return self.rng.choices(self.products, cum_weights=self.cum, k=k)

    def rows(self) -> Iterator[list[Row]]:
        """One list of rows per contact, in contact order, each sorted by time."""
        for plan in self.shop.plans:
            yield self.contact_rows(plan)

    def contact_rows(self, plan: _Plan) -> list[Row]:
        rng = self.rng
        random_ = rng.random
        end = self.end
        out: list[tuple[Any, ...]] = []  # (at, type, ref, cats, value, items)
        add = out.append
        cid = plan.id
        # subscription history
        if plan.via_form is not None:
            add((plan.created, "subscribe", plan.via_form, (), 0, ()))
        if plan.change is not None:
            when, kind = plan.change
            add((when, kind, rng.choice(_FORMS) if kind == "subscribe" else None, (), 0, ()))

        def subscribed_at(t: int) -> bool:
            if plan.change is not None and t >= plan.change[0]:
                return plan.change[1] == "subscribe"
            return plan.status == "subscribed"

        # newsletters
        first = bisect.bisect_right(self.campaign_times, plan.created)
        sends = 0
        for moment, campaign in itertools.islice(self.campaigns, first, None):
            if not subscribed_at(moment) or random_() < 0.38:
                continue
            at = moment + int(random_() * 1800)
            add((at, "email_sent", campaign, (), 0, ()))
            sends += 1
            if plan.bounce == "hard":
                add((at + 20, "hard_bounce", campaign, (), 0, ()))
                break
            if plan.bounce == "spam" and sends >= 3:
                add((at + int(random_() * _DAY), "spam_complaint", campaign, (), 0, ()))
                break
            if random_() < 0.006:
                add((at + 40, "soft_bounce", campaign, (), 0, ()))
                continue
            if random_() < (plan.open_p if moment < plan.active_until else plan.open_p * 0.2):
                opened_at = at + int(rng.expovariate(1 / 20_000))
                if opened_at <= end:
                    add((opened_at, "email_open", campaign, (), 0, ()))
                    if random_() < 0.18:
                        click = opened_at + int(random_() * 120)
                        if click <= end:
                            add((click, "email_click", campaign, (), 0, ()))
                            if random_() < 0.5:
                                self.session(out, click + 30, cid)
        # visits to the shop
        life = max(1, plan.active_until - plan.created)
        for _ in range(plan.sessions):
            self.session(out, plan.created + int(life * random_()), cid)
        out = [r for r in out if r[0] <= end]
        out.sort(key=_first)
        rows = [(f"{cid}-{k}", plan.index, *r) for k, r in enumerate(out)]
        if self.targeted and plan.created <= self.targeted[-1].at:
            rows = self.targeted_rows(plan, rows)
        return rows

    def targeted_rows(self, plan: _Plan, rows: list[Row]) -> list[Row]:
        """Add the targeted campaigns' events to one contact's rows (sorted by time).

        Membership is decided from the contact's own rows at each campaign's start, exactly as the
        seed segment's filter would decide it, so every recipient is in the segment's audience then.
        A targeted unsubscribe, hard bounce or complaint ends the contact's later newsletters.
        """
        contact = self.shop.contacts[plan.index]
        warsaw = norm_key(contact.city) == "warszawa" and "vip" not in {norm_key(t) for t in contact.tags}
        rng = self.trng
        random_ = rng.random
        extra: list[tuple[Any, ...]] = []  # (at, type, ref, cats, value, items)
        stopped: int | None = None
        for campaign in self.targeted:
            t = campaign.at
            if t < plan.created:
                continue
            if stopped is not None and stopped <= t:
                break
            every = rows if not extra else sorted([*rows, *((None, None, *r) for r in extra)], key=_at)
            if not _in_audience(every, t, plan.status) or not _member(
                    campaign.segment, every, t, warsaw, self.bluzy):
                continue
            at = t + int(random_() * 1800)
            add = extra.append
            ref = campaign.id
            add((at, "email_sent", ref, (), 0, ()))
            if plan.bounce == "hard":
                add((at + 20, "hard_bounce", ref, (), 0, ()))
                stopped = at + 20
                continue
            if random_() < 0.006:
                add((at + 40, "soft_bounce", ref, (), 0, ()))
                continue
            if plan.bounce == "spam" and random_() < 0.3:
                stopped = at + int(random_() * _DAY)
                add((stopped, "spam_complaint", ref, (), 0, ()))
                continue
            if random_() < 0.006 and not any(r[3] in {"subscribe", "unsubscribe"} and r[2] > t for r in rows):
                stopped = at + 600 + int(random_() * 3 * _DAY)
                add((stopped, "unsubscribe", None, (), 0, ()))
            if random_() >= min(0.85, 0.2 + plan.open_p):
                continue
            opened_at = at + int(rng.expovariate(1 / 10_000))
            add((opened_at, "email_open", ref, (), 0, ()))
            if random_() >= 0.28:
                continue
            click = opened_at + 5 + int(random_() * 120)
            add((click, "email_click", ref, (), 0, ()))
            if random_() < 0.3:
                self.order_after_click(extra, click, plan.id, bluzy=campaign.segment == 1)
        if not extra:
            return rows
        if stopped is not None:  # no newsletter after an unsubscribe, hard bounce or complaint
            rows = [r for r in rows if not (r[2] > stopped and r[3] in _NEWSLETTER_TYPES and r[4].startswith("nl-"))]
        mine = [(f"{plan.id}-t{k}", plan.index, *r) for k, r in enumerate(sorted(extra, key=_first))
                if r[0] <= self.end]
        return sorted([*rows, *mine], key=_at)

    def order_after_click(self, out: list[tuple[Any, ...]], click: int, cid: str, *, bluzy: bool) -> None:
        """A visit right after the click and, within two days, an order of what was viewed."""
        rng = self.trng
        at = click + 30
        pool_ = self.bluzy_products if bluzy and self.bluzy_products else None
        seen = rng.choices(pool_, k=1 + int(rng.random() * 2)) if pool_ else rng.choices(
            self.products, cum_weights=self.cum, k=1 + int(rng.random() * 2))
        for product in seen:
            out.append((at, "product_view", product.id, product.categories, 0, ()))
            at += 20 + int(rng.random() * 90)
        lines: dict[str, list[Any]] = {}
        for product in seen:
            line = lines.setdefault(product.id, [product.id, product.categories, 0, product.price])
            line[2] += 1
        subtotal = sum(line[2] * line[3] for line in lines.values())
        value = subtotal + (1499 if subtotal < 19900 else 0)
        ordered_at = at + int(rng.random() * 2 * _DAY)
        out.append((ordered_at, "order", f"{cid}-t-o{ordered_at}", (), value,
                    tuple(tuple(line) for line in lines.values())))

    def session(self, out: list[tuple[Any, ...]], at: int, cid: str) -> None:
        rng = self.rng
        random_ = rng.random
        views = 1 + int(rng.expovariate(0.55))
        seen = self.pick_products(views)
        for product in seen:
            out.append((at, "product_view", product.id, product.categories, 0, ()))
            at += 15 + int(random_() * 120)
        if random_() >= 0.3:
            return
        cart = [p for p in seen if random_() < 0.3] or seen[:1]
        for product in cart:
            out.append((at, "add_to_cart", product.id, product.categories, 0, ()))
            at += 10 + int(random_() * 60)
        if random_() >= 0.5:
            return
        if random_() < 0.2:
            cart += self.pick_products(1)
        lines: dict[str, list[Any]] = {}
        for product in cart:
            line = lines.setdefault(product.id, [product.id, product.categories, 0, product.price])
            line[2] += 2 if random_() < 0.08 else 1
        subtotal = sum(line[2] * line[3] for line in lines.values())
        if random_() < 0.15:
            subtotal -= subtotal // 10  # a 10% discount code
        value = subtotal + (1499 if subtotal < 19900 else 0)  # shipping
        order_id = f"{cid}-o{at}"
        items = tuple(tuple(line) for line in lines.values())
        out.append((at + 120 + int(random_() * 600), "order", order_id, (), value, items))


def _first(row: tuple[Any, ...]) -> int:
    return int(row[0])


def _at(row: Row) -> int:
    return int(row[2])


_NEWSLETTER_TYPES = frozenset({"email_sent", "email_open", "email_click", "soft_bounce", "hard_bounce",
                               "spam_complaint"})
_BLOCKING = frozenset({"hard_bounce", "spam_complaint"})


def _in_audience(rows: Sequence[Row], t: int, declared: str) -> bool:
    """SPEC §7 for a newsletter at ``t``: subscribed then (the latest subscribe/unsubscribe at or
    before ``t``, unsubscribe winning a tie; else the declared status) and not blocked."""
    latest: int | None = None
    state = declared
    for row in rows:
        at, kind = row[2], row[3]
        if at > t:
            break
        if kind in _BLOCKING:
            return False
        if kind in {"subscribe", "unsubscribe"}:
            if latest is None or at > latest or kind == "unsubscribe":
                state = "subscribed" if kind == "subscribe" else "unsubscribed"
            latest = at
    return state == "subscribed"


def _member(segment: int, rows: Sequence[Row], t: int, warsaw: bool, bluzy: frozenset[str]) -> bool:
    """Whether the contact is in seed segment ``segment`` at ``t`` (the filters of SEED_SEGMENTS)."""
    if segment == 5:  # city("Warszawa") & ~tag("vip")
        return warsaw
    days = {0: 90, 1: 14, 3: 365}[segment]
    since = t - days * _DAY
    n = 0
    for row in rows:
        at, kind = row[2], row[3]
        if at > t:
            break
        if at <= since:
            continue
        if segment == 0 and kind == "email_open":  # opened(within=last(days=90))
            return True
        if segment == 1 and kind == "product_view" and row[4] in bluzy:  # viewed(category="bluzy", last 14 d)
            return True
        if segment == 3 and kind == "order":  # ordered(at_least=5, within=last(days=365))
            n += 1
            if n >= 5:
                return True
    return False


# --- Event objects -------------------------------------------------------------------------------

_EVENT_FIELDS = tuple(f.name for f in attrs.fields(Event))
_ITEM_FIELDS = tuple(f.name for f in attrs.fields(Item))


def _decimal(grosze: int) -> Decimal:
    return Decimal(grosze).scaleb(-2)


class _Builder:
    """Turns raw rows into Events, skipping re-validation of values valid by construction.

    ``Event(...)`` validates every field (~15 µs); the generator's values are valid by construction,
    so this sets the slots directly (~1.5 µs). tests/test_demo.py checks the result equals validated
    ``Event(...)`` objects, field for field.
    """

    def __init__(self, shop: Shop) -> None:
        self.ids = [c.id for c in shop.contacts]
        self.items: dict[tuple[str, int, int], Item] = {}

    def event(self, row: Row) -> Event:
        eid, index, at, kind, ref, cats, value, items = row
        event: Event = _NEW(Event)
        _S_ID(event, eid)
        _S_CONTACT(event, self.ids[index])
        _S_TYPE(event, kind)
        _S_AT(event, _FROMTS(at, UTC))
        _S_CATEGORIES(event, cats)
        if kind in {"product_view", "add_to_cart"}:
            _S_PRODUCT(event, ref)
            _S_ORDER(event, None)
            _S_VALUE(event, None)
            _S_CURRENCY(event, None)
            _S_ITEMS(event, ())
            _S_CAMPAIGN(event, None)
            _S_URL(event, None)
            _S_FORM(event, None)
            return event
        _S_PRODUCT(event, None)
        if kind == "order":
            _S_ORDER(event, ref)
            _S_VALUE(event, _decimal(value))
            _S_CURRENCY(event, CURRENCY)
            _S_ITEMS(event, tuple([self.item(*line) for line in items]))
            _S_CAMPAIGN(event, None)
            _S_URL(event, None)
            _S_FORM(event, None)
            return event
        _S_ORDER(event, None)
        _S_VALUE(event, None)
        _S_CURRENCY(event, None)
        _S_ITEMS(event, ())
        if kind in {"subscribe", "unsubscribe"}:
            _S_CAMPAIGN(event, None)
            _S_URL(event, None)
            _S_FORM(event, ref)
            return event
        _S_CAMPAIGN(event, ref)
        _S_URL(event, f"https://sklep.example.pl/newsletter/{ref}" if kind == "email_click" else None)
        _S_FORM(event, None)
        return event

    def item(self, product_id: str, categories: tuple[str, ...], quantity: int, price: int) -> Item:
        key = (product_id, quantity, price)
        found = self.items.get(key)
        if found is None:
            found = _NEW(Item)
            for name, value in (("product_id", product_id), ("categories", categories),
                                ("quantity", quantity), ("price", _decimal(price))):
                object.__setattr__(found, name, value)
            self.items[key] = found
        return found


def _slot_setter(name: str) -> Any:
    return Event.__dict__[name].__set__


_NEW = object.__new__
_FROMTS = datetime.fromtimestamp
(_S_ID, _S_CONTACT, _S_TYPE, _S_AT, _S_PRODUCT, _S_CATEGORIES, _S_ORDER, _S_VALUE, _S_CURRENCY, _S_ITEMS,
 _S_CAMPAIGN, _S_URL, _S_FORM) = (_slot_setter(name) for name in _EVENT_FIELDS)


assert _EVENT_FIELDS == ("id", "contact_id", "type", "at", "product_id", "categories", "order_id", "value",
                         "currency", "items", "campaign_id", "url", "form_id"), "Event changed: update _Builder"
assert _ITEM_FIELDS == ("product_id", "categories", "quantity", "price"), "Item changed: update _Builder"


# --- the shop ------------------------------------------------------------------------------------


@attrs.frozen
class Shop:
    """A generated shop: its contacts, ``now`` (the end of its history) and its events, made lazily.

    Iterate :meth:`events` or :meth:`event_batches`; each call regenerates the same events.
    """

    contacts: tuple[Contact, ...]
    now: datetime
    seed: int
    plans: tuple[_Plan, ...] = attrs.field(repr=False, eq=False)

    @property
    def currency(self) -> str:
        return CURRENCY

    def rows(self, batch_size: int = 50_000) -> Iterator[Row]:
        """Raw event rows (see :data:`Row`): for baselines that do not need Event objects."""
        for batch in self._batches(batch_size, None):
            yield from batch

    def events(self) -> Iterator[Event]:
        """Every event, contact by contact, each contact's in time order."""
        for batch in self.event_batches():
            yield from batch

    def event_batches(self, size: int = 50_000) -> Iterator[list[Event]]:
        """The events in lists of about ``size`` (whole contacts: a batch may exceed ``size`` by one
        contact's events)."""
        return self._batches(size, _Builder(self).event)

    def _batches(self, size: int, build: Callable[[Row], Any] | None) -> Iterator[list[Any]]:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise DemoError(f"size: expected a positive integer, got {size!r}")
        per_contact = _Generator(self).rows()
        while True:
            batch: list[Any] = []
            with _gc_paused():  # millions of young objects, no cycles: the collector only costs time
                for rows in per_contact:
                    batch.extend(rows if build is None else map(build, rows))
                    if len(batch) >= size:
                        break
            if not batch:
                return
            yield batch


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a batch (restored before it is handed out)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def generate(contacts: int = 2000, seed: int = 0, now: Instant | None = None) -> Shop:
    """A realistic synthetic shop of ``contacts`` contacts with two years of history ending at ``now``.

    ``now`` defaults to :data:`DEMO_NOW` (fixed, so a seed always gives the same shop).

    >>> shop = generate(contacts=10, seed=1)
    >>> shop.now.isoformat()
    '2026-06-30T12:00:00+00:00'
    """
    if isinstance(contacts, bool) or not isinstance(contacts, int) or contacts < 0:
        raise DemoError(f"contacts: expected a non-negative integer, got {contacts!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DemoError(f"seed: expected an integer, got {seed!r}")
    moment = DEMO_NOW if now is None else instant(now, field="now")
    moment = moment.replace(microsecond=0)
    end = int(moment.timestamp())
    start = end - HISTORY_DAYS * _DAY
    rng = random.Random(seed * 7_919 + 3)
    plans = []
    people = []
    with _gc_paused():
        for index in range(contacts):
            plan, vip = _plan(rng, index, start, end)
            plans.append(plan)
            people.append(_new_contact(_person(rng, index, plan.created, plan.status, vip)))
    return Shop(contacts=tuple(people), now=moment, seed=seed, plans=tuple(plans))


# --- targeted campaigns --------------------------------------------------------------------------


@attrs.frozen
class TargetedCampaign:
    """A campaign of the demo sent to a seed segment: its id, start (epoch seconds) and segment."""

    id: str
    at: int
    segment: int  # index in SEED_SEGMENTS

    @property
    def segment_id(self) -> str:
        return SEED_SEGMENT_IDS[self.segment]

    @property
    def start(self) -> datetime:
        return EPOCH + timedelta(seconds=self.at)


def targeted_campaigns(now: datetime) -> tuple[TargetedCampaign, ...]:
    """The :data:`TARGETED` campaigns of a shop ending at ``now``, in time order.

    >>> [c.id for c in targeted_campaigns(DEMO_NOW)][:2]
    ['promo-2026-01-20-nowa-kolekcja', 'promo-2026-02-03-otwarcie-warszawa']
    """
    out = []
    for days, segment, slug in TARGETED:
        start = (now - timedelta(days=days)).replace(hour=10, minute=0, second=0, microsecond=0)
        out.append(TargetedCampaign(f"promo-{start:%Y-%m-%d}-{slug}", int(start.timestamp()), segment))
    return tuple(sorted(out, key=lambda c: c.at))


# --- loading -------------------------------------------------------------------------------------


@attrs.frozen
class LoadSummary:
    """What :func:`load` did."""

    contacts_added: int
    contacts_updated: int
    events_added: int
    events_duplicate: int


def load(store: Store, shop: Shop, *, batch_size: int = 50_000) -> LoadSummary:
    """Add the shop's contacts and events to ``store``, events in batches, then :func:`register`
    the seed segments and targeted campaigns (idempotent)."""
    report = store.add_contacts(shop.contacts)
    added = duplicates = 0
    for batch in shop.event_batches(batch_size):
        events = store.add_events(batch)
        added += events.added
        duplicates += events.duplicates
    register(store, shop)
    return LoadSummary(report.added, report.updated, added, duplicates)


def register(store: Any, shop: Shop) -> None:
    """Save :data:`SEED_SEGMENTS` under :data:`SEED_SEGMENT_IDS` (those missing) and register every
    targeted campaign with its segment (``store.add_campaign``; re-registering is a no-op)."""
    from .errors import UnknownSegment
    from .live import Campaign

    for segment_id, flt in zip(SEED_SEGMENT_IDS, SEED_SEGMENTS, strict=True):
        try:
            store.segment(segment_id)
        except UnknownSegment:
            store.create_segment(flt, id=segment_id)
    for campaign in targeted_campaigns(shop.now):
        store.add_campaign(Campaign(campaign.id, campaign.segment_id))


# --- the report ----------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    """An aligned plain-text table; the first ``left`` columns are left-aligned, the rest right."""
    body = [list(r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in body)])


def _int(n: int) -> str:
    return f"{n:,}"


def _pct(fraction: Decimal | None) -> str:
    return "-" if fraction is None else f"{fraction * 100:.2f}%"


def _signed(n: int) -> str:
    return f"{n:+,}"


def _signed_pct(percent: Decimal | None) -> str:
    return "-" if percent is None else f"{percent:+.2f}%"


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f} {CURRENCY}"


def _plain(value: Decimal | None) -> str:
    return "-" if value is None else f"{value}"


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "-"
    days = value.total_seconds() / _DAY
    return f"{days:.1f} d"


def name_of(flt: Filter) -> str:
    """A segment's display name: ``describe()`` (English)."""
    return flt.describe()


def dashboard_rows(dashboards: Sequence[Dashboard]) -> list[list[str]]:
    rows = []
    for dash in dashboards:
        for state in STATES:
            g = dash.groups[state]
            rows.append([dash.view, state, _int(g.count), _pct(g.share), _int(g.count_before),
                         _signed(g.change), _signed_pct(g.change_pct)])
    return rows


def segment_rows(segments: Sequence[tuple[str, Metrics]]) -> list[list[str]]:
    return [[name, _int(m.contacts), _pct(m.engagement_rate), _money(m.aov), _money(m.acv), _plain(m.ano),
             _duration(m.tbo)] for name, m in segments]


def seed_dashboard(store: Store, at: Instant, *,
                   timeframe: timedelta = timedelta(days=180)) -> tuple[list[Dashboard], list[tuple[str, Metrics]]]:
    """The seed dashboard: engagement for every view and the seed segments' metrics."""
    dashboards = [store.engagement(at=at, timeframe=timeframe, view=view) for view in VIEWS]
    segments = [(name_of(f), store.metrics(f, at=at)) for f in SEED_SEGMENTS]
    return dashboards, segments


def campaign_comparison(store: Any, at: Instant) -> tuple[list[CampaignResult], Comparison | None]:
    """Every campaign's results at ``at``, and the campaigns registered with a segment (targeted)
    pooled against the others (mass newsletters): ``compare(targeted, mass)``, ``None`` when either
    group is empty."""
    results = list(store.campaign_results(at=at))
    groups = by_segment(results, store.campaigns())
    mass = groups.pop(None, [])
    targeted = [r for group in groups.values() for r in group]
    if not mass or not targeted:
        return results, None
    return results, compare(pool(targeted, label="targeted"), pool(mass, label="mass"))


RECENT_NEWSLETTERS = 4
"""How many of the latest mass newsletters the demo report lists beside the targeted campaigns."""


def campaign_report(store: Any, at: Instant) -> str:
    """The targeted campaigns, the latest mass newsletters and both groups pooled, then the
    comparison of targeted against mass, as plain text."""
    from .display import campaign_results_text

    results, comparison = campaign_comparison(store, at)
    if not results:
        return "Campaigns\n\nno campaign has a visible event\n"
    registered = {c.id for c in store.campaigns()}
    targeted = [r for r in results if r.campaign_id in registered]
    mass = [r for r in results if r.campaign_id not in registered]
    shown = [*targeted, *mass[-RECENT_NEWSLETTERS:]]
    pooled = []
    if comparison is not None:
        pooled = [attrs.evolve(comparison.a, campaign_id=f"all targeted ({len(targeted)})"),
                  attrs.evolve(comparison.b, campaign_id=f"all mass ({len(mass)})")]
    table = campaign_results_text([*shown, *pooled])
    text = (f"Campaigns: {len(targeted)} sent to seed segments, {len(mass)} mass newsletters "
            f"(the latest {min(len(mass), RECENT_NEWSLETTERS)} shown); orders attributed to the last click "
            f"within 5 days\n\n{table}\n")
    if comparison is not None:
        text += f"\nTargeted vs mass\n\n{comparison.sentence('click_rate')}\n"
        text += "".join(f"{line}\n" for line in comparison.sentences() if not line.startswith("CTR "))
    return text


def demo_report(store: Store, at: Instant, *, timeframe: timedelta = timedelta(days=180)) -> str:
    """The contacts dashboard per subscription view, the seed segments' table and the campaigns
    (:func:`campaign_report`), as plain text."""
    moment = instant(at, field="at")
    dashboards, segments = seed_dashboard(store, moment, timeframe=timeframe)
    days = timeframe.days if timeframe % timedelta(days=1) == timedelta(0) else None
    frame = f"{days} days" if days is not None else str(timeframe)
    title = f"Contacts at {moment.isoformat()} (engaged: activity in the last {frame}; change vs 30 days before)"
    dash = _table(["view", "state", "contacts", "share", "30 d ago", "change", "change %"],
                  dashboard_rows(dashboards), left=2)
    seg = _table(["segment", "contacts", "engaged 30 d", "AOV", "ACV", "ANO", "TBO"], segment_rows(segments))
    campaigns = campaign_report(store, moment)
    return f"{title}\n\n{dash}\n\nSeed segments\n\n{seg}\n\n{campaigns}"
