"""describe() in English and Polish: every builder, grouping, determinism, and golden snapshots.

Golden snapshots live in tests/golden_text/describe.json (code → en, pl). After an intended change of
wording, rewrite them with ``ENGAGEKIT_UPDATE_GOLDEN=1 pytest tests/test_describe.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

import engagekit
from engagekit import (
    Filter,
    InvalidFilter,
    added_to_cart,
    all_of,
    any_of,
    aov,
    attr,
    before,
    between,
    blocked,
    city,
    clicked,
    country,
    engaged,
    ever,
    everyone,
    gender,
    has_email,
    has_phone,
    in_segment,
    joined,
    language,
    last,
    opened,
    ordered,
    received,
    spent,
    status,
    subscribed,
    subscribed_via,
    tag,
    unengaged,
    viewed,
)
from engagekit.describe import describe, plural_pl

GOLDEN_TEXT = Path(__file__).resolve().parent / "golden_text" / "describe.json"

SPEC_EXAMPLE = viewed(category="bluzy", within=last(days=14)) & city("Warszawa") & ~tag("vip")
MAY = between("2026-05-01T00:00:00+00:00", "2026-06-01T00:00:00+00:00")

# (filter, English, Polish) — hand-written, one or more per builder
CASES: list[tuple[Filter, str, str]] = [
    # count conditions: defaults and bounds
    (viewed(), "viewed a product at least once", "oglądał produkty co najmniej raz"),
    (viewed(category="bluzy", within=last(days=14)),
     "viewed category 'bluzy' at least once in the last 14 days",
     "oglądał kategorię 'bluzy' co najmniej raz w ciągu ostatnich 14 dni"),
    (viewed(product="p1", at_least=3),
     "viewed product 'p1' at least 3 times",
     "oglądał produkt 'p1' co najmniej 3 razy"),
    (viewed(product={"p2", "p1"}, category="bluzy", at_least=5, within=last(weeks=2)),
     "viewed product 'p1' or 'p2' in category 'bluzy' at least 5 times in the last 2 weeks",
     "oglądał produkt 'p1' lub 'p2' z kategorii 'bluzy' co najmniej 5 razy w ciągu ostatnich 2 tygodni"),
    (added_to_cart(within=last(hours=48)),
     "added a product to cart at least once in the last 48 hours",
     "dodał do koszyka produkty co najmniej raz w ciągu ostatnich 48 godzin"),
    (added_to_cart(category="buty", exactly=2),
     "added a product in category 'buty' to cart exactly 2 times",
     "dodał do koszyka produkt z kategorii 'buty' dokładnie 2 razy"),
    (added_to_cart(product="p9", at_most=1),
     "added product 'p9' to cart at most once",
     "dodał do koszyka produkt 'p9' co najwyżej raz"),
    (ordered(at_most=2, within=last(months=1)),
     "ordered at most twice in the last month",
     "złożył zamówienie co najwyżej 2 razy w ciągu ostatniego miesiąca"),
    (ordered(at_most=0, within=last(days=30)),
     "never ordered in the last 30 days",
     "nigdy nie złożył zamówienia w ciągu ostatnich 30 dni"),
    (ordered(at_least=2, at_most=5, within=before(days=30)),
     "ordered between 2 and 5 times more than 30 days ago",
     "złożył zamówienie od 2 do 5 razy ponad 30 dni temu"),
    (ordered(category="buty", exactly=1, within=MAY),
     "ordered from category 'buty' exactly once between 2026-05-01 00:00 UTC and 2026-06-01 00:00 UTC",
     "zamówił produkt z kategorii 'buty' dokładnie raz od 2026-05-01 00:00 UTC do 2026-06-01 00:00 UTC"),
    (ordered(product="p1", at_least=0),
     "ordered product 'p1' any number of times",
     "zamówił produkt 'p1' dowolną liczbę razy"),
    (opened(within=last(days=90)),
     "opened an email at least once in the last 90 days",
     "otworzył e-mail co najmniej raz w ciągu ostatnich 90 dni"),
    (opened(campaign="c1", at_most=0),
     "never opened campaign 'c1'",
     "nigdy nie otworzył e-maila z kampanii 'c1'"),
    (clicked(campaign={"c2", "c1"}, at_least=2),
     "clicked campaign 'c1' or 'c2' at least twice",
     "kliknął w e-mail z kampanii 'c1' lub 'c2' co najmniej 2 razy"),
    (received(at_least=4, within=last(weeks=1)),
     "received an email at least 4 times in the last week",
     "otrzymał e-mail co najmniej 4 razy w ciągu ostatniego tygodnia"),
    (received(campaign={"b", "a"}, at_most=0),
     "never received campaign 'a' or 'b'",
     "nigdy nie otrzymał e-maila z kampanii 'a' ani 'b'"),
    (subscribed_via(form="popup-summer"),
     "subscribed via form 'popup-summer' at least once",
     "zapisał się przez formularz 'popup-summer' co najmniej raz"),
    (subscribed_via(within=last(hours=1)),
     "subscribed at least once in the last hour",
     "zapisał się co najmniej raz w ciągu ostatniej godziny"),
    # money
    (spent(at_least=300), "spent at least 300", "wydał co najmniej 300"),
    (spent(at_most="49.90", within=last(days=365)),
     "spent at most 49.90 in the last 365 days",
     "wydał co najwyżej 49.90 w ciągu ostatnich 365 dni"),
    (aov(at_least=100, at_most=500, within=last(days=90)),
     "average order value is between 100 and 500 in the last 90 days",
     "średnia wartość zamówienia wynosi od 100 do 500 w ciągu ostatnich 90 dni"),
    # profile
    (city("Warszawa"), "city is Warszawa", "miasto to Warszawa"),
    (city({"Warszawa", "Kraków"}), "city is one of Kraków, Warszawa", "miasto z listy: Kraków, Warszawa"),
    (city(None), "city is missing", "nie podano miasta"),
    (city({None, "Łódź"}), "city is missing or Łódź", "nie podano miasta lub miasto to Łódź"),
    (country("pl"), "country is PL", "kraj to PL"),
    (language({"pl", "de"}), "language is one of de, pl", "język z listy: de, pl"),
    (gender("f"), "gender is f", "płeć to f"),
    (has_phone(), "has a phone", "ma telefon"),
    (has_email(), "has an email", "ma e-mail"),
    (tag("vip"), "tagged 'vip'", "ma tag 'vip'"),
    (status("unsubscribed"), "status is unsubscribed", "status to wypisany"),
    (status({"unknown", "subscribed"}), "status is one of subscribed, unknown", "status z listy: zapisany, nieznany"),
    (subscribed(), "status is subscribed", "status to zapisany"),
    (joined(within=last(days=7)), "joined in the last 7 days", "dołączył w ciągu ostatnich 7 dni"),
    (joined(within=before(weeks=3)), "joined more than 3 weeks ago", "dołączył ponad 3 tygodnie temu"),
    (joined(within=ever()), "joined at any time", "dołączył kiedykolwiek"),
    # custom attributes
    (attr("plan") == "gold", "attribute 'plan' = 'gold'", "atrybut 'plan' = 'gold'"),
    (attr("plan") != "gold", "attribute 'plan' ≠ 'gold'", "atrybut 'plan' ≠ 'gold'"),
    (attr("points") < 10, "attribute 'points' < 10", "atrybut 'points' < 10"),
    (attr("points") <= 10, "attribute 'points' ≤ 10", "atrybut 'points' ≤ 10"),
    (attr("points") > 2.5, "attribute 'points' > 2.5", "atrybut 'points' > 2.5"),
    (attr("points") >= 100, "attribute 'points' ≥ 100", "atrybut 'points' ≥ 100"),
    (attr("beta") == True, "attribute 'beta' = true", "atrybut 'beta' = prawda"),  # noqa: E712
    (attr("plan").is_in(["silver", "gold"]), "attribute 'plan' is one of 'gold', 'silver'",
     "atrybut 'plan' z listy: 'gold', 'silver'"),
    (attr("plan").exists(), "attribute 'plan' is set", "atrybut 'plan' jest ustawiony"),
    # engagement, everyone, segments
    (engaged(), "engaged in the last 180 days", "zaangażowany w ciągu ostatnich 180 dni"),
    (engaged(timeframe=timedelta(days=30)), "engaged in the last 30 days", "zaangażowany w ciągu ostatnich 30 dni"),
    (unengaged(timeframe=timedelta(days=1)), "unengaged in the last day", "niezaangażowany w ciągu ostatniego dnia"),
    (unengaged(timeframe=timedelta(hours=12)), "unengaged in the last 12 hours",
     "niezaangażowany w ciągu ostatnich 12 godzin"),
    (blocked(), "blocked", "zablokowany"),
    (everyone(), "everyone", "wszyscy"),
    (in_segment("seg-1"), "in segment 'seg-1'", "należy do segmentu 'seg-1'"),
    # negation
    (~tag("vip"), "not tagged 'vip'", "nie ma tagu 'vip'"),
    (~city("Warszawa"), "city is not Warszawa", "miasto inne niż Warszawa"),
    (~city({"Warszawa", "Kraków"}), "city is not one of Kraków, Warszawa", "miasto spoza listy: Kraków, Warszawa"),
    (~city(None), "city is not missing", "podano miasto"),
    (~gender("f"), "gender is not f", "płeć inna niż f"),
    (~country("PL"), "country is not PL", "kraj inny niż PL"),
    (~has_phone(), "has no phone", "nie ma telefonu"),
    (~has_email(), "has no email", "nie ma e-maila"),
    (~subscribed(), "status is not subscribed", "status inny niż zapisany"),
    (~ordered(within=last(days=30)), "never ordered in the last 30 days",
     "nigdy nie złożył zamówienia w ciągu ostatnich 30 dni"),
    (~viewed(category="bluzy"), "never viewed category 'bluzy'", "nigdy nie oglądał kategorii 'bluzy'"),
    (~ordered(at_least=3), "ordered at most twice", "złożył zamówienie co najwyżej 2 razy"),
    (~ordered(at_most=0), "ordered at least once", "złożył zamówienie co najmniej raz"),
    (~viewed(at_least=2, at_most=5), "not viewed a product between 2 and 5 times",
     "nie oglądał produktów od 2 do 5 razy"),
    (~spent(at_least=300), "spent less than 300", "wydał mniej niż 300"),
    (~spent(at_most=50), "spent more than 50", "wydał ponad 50"),
    (~aov(at_least=100), "average order value is not at least 100", "średnia wartość zamówienia nie wynosi co najmniej 100"),
    (~(attr("plan") == "gold"), "not attribute 'plan' = 'gold'", "nieprawda, że atrybut 'plan' = 'gold'"),
    (~attr("plan").exists(), "attribute 'plan' is not set", "atrybut 'plan' nie jest ustawiony"),
    (~blocked(), "not blocked", "nie jest zablokowany"),
    (~engaged(), "not engaged in the last 180 days", "nie jest zaangażowany w ciągu ostatnich 180 dni"),
    (~everyone(), "no one", "nikt"),
    (~in_segment("seg-1"), "not in segment 'seg-1'", "nie należy do segmentu 'seg-1'"),
    (~joined(within=last(days=7)), "not joined in the last 7 days", "nie dołączył w ciągu ostatnich 7 dni"),
    # groups
    (SPEC_EXAMPLE,
     "viewed category 'bluzy' at least once in the last 14 days and city is Warszawa and not tagged 'vip'",
     "oglądał kategorię 'bluzy' co najmniej raz w ciągu ostatnich 14 dni i miasto to Warszawa i nie ma tagu 'vip'"),
    ((tag("a") | tag("b")) & city("Gdańsk"), "(tagged 'a' or tagged 'b') and city is Gdańsk",
     "(ma tag 'a' lub ma tag 'b') i miasto to Gdańsk"),
    ((tag("a") & tag("b")) | tag("c"), "(tagged 'a' and tagged 'b') or tagged 'c'",
     "(ma tag 'a' i ma tag 'b') lub ma tag 'c'"),
    (~(tag("a") | tag("b")), "not (tagged 'a' or tagged 'b')", "nie (ma tag 'a' lub ma tag 'b')"),
    (all_of(tag("a"), tag("b"), tag("c")), "tagged 'a' and tagged 'b' and tagged 'c'",
     "ma tag 'a' i ma tag 'b' i ma tag 'c'"),
    (any_of(tag("a"), ~tag("b")), "tagged 'a' or not tagged 'b'", "ma tag 'a' lub nie ma tagu 'b'"),
]


@pytest.mark.parametrize(("flt", "english", "polish"), CASES, ids=[repr(c[0]) for c in CASES])
def test_describe_every_builder(flt: Filter, english: str, polish: str) -> None:
    assert describe(flt) == english
    assert describe(flt, lang="en") == english
    assert describe(flt, lang="pl") == polish
    assert flt.describe() == english
    assert flt.describe("pl") == polish


def test_spec_example_exactly() -> None:
    assert SPEC_EXAMPLE.describe() == (
        "viewed category 'bluzy' at least once in the last 14 days and city is Warszawa and not tagged 'vip'"
    )


@pytest.mark.parametrize(("unit", "numbers", "expected"), [
    ("days", (1, 2, 5), ["ponad dzień temu", "ponad 2 dni temu", "ponad 5 dni temu"]),
    ("weeks", (1, 3, 5, 12, 22), ["ponad tydzień temu", "ponad 3 tygodnie temu", "ponad 5 tygodni temu",
                                  "ponad 12 tygodni temu", "ponad 22 tygodnie temu"]),
    ("months", (1, 4, 6), ["ponad miesiąc temu", "ponad 4 miesiące temu", "ponad 6 miesięcy temu"]),
    ("hours", (1, 2, 48), ["ponad godzinę temu", "ponad 2 godziny temu", "ponad 48 godzin temu"]),
])
def test_polish_number_agreement_in_windows(unit: str, numbers: tuple[int, ...], expected: list[str]) -> None:
    got = [joined(within=before(**{unit: n})).describe("pl").removeprefix("dołączył ") for n in numbers]
    assert got == expected


@pytest.mark.parametrize(("window", "english", "polish"), [
    (last(days=1), "in the last day", "w ciągu ostatniego dnia"),
    (last(weeks=2), "in the last 2 weeks", "w ciągu ostatnich 2 tygodni"),
    (last(months=1), "in the last month", "w ciągu ostatniego miesiąca"),
    (last(months=3), "in the last 3 months", "w ciągu ostatnich 3 miesięcy"),
    (last(hours=48), "in the last 48 hours", "w ciągu ostatnich 48 godzin"),
    (before(days=30), "more than 30 days ago", "ponad 30 dni temu"),
    (before(hours=1), "more than an hour ago", "ponad godzinę temu"),
    (MAY, "between 2026-05-01 00:00 UTC and 2026-06-01 00:00 UTC",
     "od 2026-05-01 00:00 UTC do 2026-06-01 00:00 UTC"),
    (between("2026-05-01T10:30:15+02:00", "2026-05-02T00:00:00+00:00"),
     "between 2026-05-01 08:30:15 UTC and 2026-05-02 00:00 UTC",
     "od 2026-05-01 08:30:15 UTC do 2026-05-02 00:00 UTC"),
])
def test_windows(window: engagekit.Window, english: str, polish: str) -> None:
    assert opened(within=window).describe() == f"opened an email at least once {english}"
    assert opened(within=window).describe("pl") == f"otworzył e-mail co najmniej raz {polish}"


def test_ever_adds_nothing() -> None:
    assert opened(within=ever()).describe() == "opened an email at least once"
    assert opened(within=ever()).describe("pl") == "otworzył e-mail co najmniej raz"


@pytest.mark.parametrize(("n", "english", "polish"), [
    (1, "at least once", "co najmniej raz"), (2, "at least twice", "co najmniej 2 razy"),
    (3, "at least 3 times", "co najmniej 3 razy"), (5, "at least 5 times", "co najmniej 5 razy"),
    (22, "at least 22 times", "co najmniej 22 razy"),
])
def test_count_words(n: int, english: str, polish: str) -> None:
    assert ordered(at_least=n).describe() == f"ordered {english}"
    assert ordered(at_least=n).describe("pl") == f"złożył zamówienie {polish}"


def test_plural_pl() -> None:
    forms = ("tydzień", "tygodnie", "tygodni")
    assert [plural_pl(n, *forms) for n in (1, 2, 4, 5, 11, 12, 14, 21, 22, 104, 112)] == [
        "tydzień", "tygodnie", "tygodnie", "tygodni", "tygodni", "tygodni", "tygodni", "tygodni", "tygodnie",
        "tygodnie", "tygodni"]


def test_sets_are_sorted_by_code_point() -> None:
    values = ["b", "a", "Z", "ą", "á"]
    names = {city(set(order)).describe() for order in (values, values[::-1], sorted(values))}
    assert names == {"city is one of Z, a, b, á, ą"}
    assert tag("x").describe() == tag("x").describe()
    f1 = viewed(category=["buty", "bluzy", "Akcesoria"])
    f2 = viewed(category=("Akcesoria", "buty", "bluzy"))
    assert f1.describe() == f2.describe() == "viewed category 'Akcesoria', 'bluzy' or 'buty' at least once"
    assert status(["unsubscribed", "subscribed"]).describe("pl") == "status z listy: zapisany, wypisany"


def test_json_round_trip_keeps_the_name() -> None:
    for flt, english, polish in CASES:
        back = Filter.from_json(flt.to_json())
        assert (back.describe(), back.describe("pl")) == (english, polish)


def test_unknown_language_is_refused() -> None:
    with pytest.raises(InvalidFilter, match="'de'"):
        tag("vip").describe("de")
    with pytest.raises(engagekit.EngagekitError, match="'EN'"):
        describe(tag("vip"), lang="EN")


def test_not_a_filter_is_refused() -> None:
    with pytest.raises(InvalidFilter):
        describe("tag('vip')")  # type: ignore[arg-type]


# --- golden snapshots -------------------------------------------------------------------------------

GOLDEN_FILTERS: list[Filter] = [
    SPEC_EXAMPLE,
    (viewed(category="bluzy", at_least=3, within=last(days=14)) | added_to_cart(category="bluzy", within=last(days=7)))
    & ~ordered(category="bluzy", within=last(days=30)) & subscribed(),
    ordered(at_least=2, within=last(days=365)) & spent(at_least=500, within=last(days=365))
    & ~tag("vip") & country({"PL", "CZ"}),
    ~(opened(within=last(days=90)) | clicked(within=last(days=90))) & received(at_least=5, within=last(days=90)),
    engaged(timeframe=timedelta(days=30)) & (city({"Warszawa", "Kraków", None}) | language("pl"))
    & ~in_segment("seg-vip"),
    joined(within=last(weeks=2)) & ordered(at_most=0) & (attr("points") >= 100) & has_phone(),
    unengaged(timeframe=timedelta(days=90)) & ~blocked() & ~(gender("f") & aov(at_least=300, within=MAY)),
    subscribed_via(form="popup-summer", within=before(months=1)) & ~has_email() & status({"subscribed", "unknown"}),
]


def _snapshot() -> list[dict[str, str]]:
    return [{"code": repr(f), "en": f.describe("en"), "pl": f.describe("pl")} for f in GOLDEN_FILTERS]


def test_golden_snapshots() -> None:
    current = _snapshot()
    if os.environ.get("ENGAGEKIT_UPDATE_GOLDEN"):
        GOLDEN_TEXT.parent.mkdir(exist_ok=True)
        GOLDEN_TEXT.write_text(json.dumps(current, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    stored = json.loads(GOLDEN_TEXT.read_text(encoding="utf-8"))
    assert stored == current

