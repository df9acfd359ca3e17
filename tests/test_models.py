"""Validation of contacts, events and instants (SPEC §1): each error names the field and the value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from engagekit import (
    Contact,
    EngagekitError,
    Event,
    InvalidContact,
    InvalidEvent,
    InvalidInstant,
    Item,
    MemoryStore,
    everyone,
    last,
    ordered,
)
from engagekit.time import instant, to_micros

T0 = "2026-01-01T10:00:00+00:00"


def order(**overrides: Any) -> Event:
    fields: dict[str, Any] = {"id": "e1", "contact_id": "c1", "type": "order", "at": T0, "order_id": "o1",
                              "value": "149.90", "currency": "PLN"}
    fields.update(overrides)
    return Event(**fields)


@pytest.mark.parametrize("value", [datetime(2026, 1, 1, 10, 0), "2026-01-01T10:00:00", "2026-01-01"])
def test_naive_instants_are_refused_everywhere(value: Any) -> None:
    with pytest.raises(InvalidContact) as info:
        Contact(id="c1", created_at=value)
    assert str(info.value).startswith("created_at:") and repr(value) in str(info.value)
    with pytest.raises(InvalidEvent) as info2:
        order(at=value)
    assert str(info2.value).startswith("at:")
    with pytest.raises(InvalidInstant) as info3:
        MemoryStore(currency="PLN").members(everyone(), at=value)
    assert str(info3.value).startswith("at:")
    assert isinstance(info3.value, EngagekitError) and isinstance(info3.value, ValueError)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01",
                                   datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=2)))])
def test_instants_outside_utc_years_1_to_9999_are_refused_not_overflowed(value: Any) -> None:
    # datetime.astimezone raises OverflowError for these; a user must get engagekit's error instead
    with pytest.raises(InvalidEvent, match=r"^at: .* falls outside the years 1-9999 in UTC"):
        order(at=value)
    with pytest.raises(InvalidInstant, match="outside the years"):
        MemoryStore(currency="PLN").members(everyone(), at=value)
    assert instant("0001-01-01T00:00:00-01:00") == datetime(1, 1, 1, 1, tzinfo=UTC)  # the edge itself is fine


def test_instants_keep_the_moment_and_microseconds() -> None:
    warsaw = instant("2026-06-30T14:00:00.000001+02:00")
    assert warsaw == datetime(2026, 6, 30, 12, 0, 0, 1, tzinfo=UTC)
    assert warsaw.tzinfo is UTC
    assert instant(datetime(2026, 6, 30, 7, 0, tzinfo=timezone(timedelta(hours=-5)))) == datetime(2026, 6, 30, 12,
                                                                                                  tzinfo=UTC)
    assert to_micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005
    with pytest.raises(InvalidInstant, match="not an ISO-8601"):
        instant("yesterday")
    with pytest.raises(InvalidInstant, match="int"):
        instant(1234)


def test_negative_order_value() -> None:
    with pytest.raises(InvalidEvent) as info:
        order(value="-12.50")
    assert str(info.value).startswith("value:") and "-12.50" in str(info.value)


def test_value_that_is_not_a_number() -> None:
    with pytest.raises(InvalidEvent) as info:
        order(value="12,50")
    assert str(info.value).startswith("value:") and "'12,50'" in str(info.value)


def test_order_currency_other_than_the_stores() -> None:
    event = order(currency="eur")
    assert event.currency == "EUR"
    with pytest.raises(InvalidEvent) as info:
        event.check_currency("PLN")
    assert str(info.value).startswith("currency:") and "'EUR'" in str(info.value) and "'PLN'" in str(info.value)


def test_order_needs_a_currency_code() -> None:
    with pytest.raises(InvalidEvent, match="^currency:"):
        order(currency=None)
    with pytest.raises(InvalidEvent) as info:
        order(currency="złoty")
    assert str(info.value).startswith("currency:") and "'złoty'" in str(info.value)


@pytest.mark.parametrize(("value", "ok"), [("1.005", False), ("0.001", False), ("1.50", True), ("1.500", True),
                                           ("7", True), ("0", True)])
def test_more_decimal_places_than_the_currency(value: str, ok: bool) -> None:
    event = order(value=value)
    if ok:
        event.check_currency("PLN")
        return
    with pytest.raises(InvalidEvent) as info:
        event.check_currency("PLN")
    assert str(info.value).startswith("value:") and value in str(info.value) and "PLN" in str(info.value)
    order(value=value, currency="KWD").check_currency("KWD")  # three places are fine in Kuwaiti dinars


def test_zero_decimal_currency() -> None:
    with pytest.raises(InvalidEvent, match="JPY"):
        order(value="100.5", currency="JPY").check_currency("JPY")


def test_unknown_field_names() -> None:
    with pytest.raises(InvalidContact) as info:
        Contact.from_dict({"id": "c1", "created_at": T0, "citty": "Warszawa"})
    assert str(info.value).startswith("citty:")
    with pytest.raises(InvalidEvent) as info2:
        Event.from_dict({"id": "e1", "contact_id": "c1", "type": "product_view", "at": T0, "product_id": "p1",
                         "colour": "red"})
    assert str(info2.value).startswith("colour:")
    with pytest.raises(InvalidEvent) as info3:
        Item.from_dict({"product_id": "p1", "sku": "x"})
    assert str(info3.value).startswith("sku:")


def test_a_field_the_event_type_does_not_have() -> None:
    with pytest.raises(InvalidEvent) as info:
        Event(id="e1", contact_id="c1", type="email_open", at=T0, campaign_id="k1", product_id="p1")
    assert str(info.value).startswith("product_id:") and "'p1'" in str(info.value)


def test_unknown_event_type() -> None:
    with pytest.raises(InvalidEvent) as info:
        Event(id="e1", contact_id="c1", type="purchase", at=T0)
    assert str(info.value).startswith("type:") and "'purchase'" in str(info.value)


def test_unknown_status() -> None:
    with pytest.raises(InvalidContact) as info:
        Contact(id="c1", created_at=T0, status="active")
    assert str(info.value).startswith("status:") and "'active'" in str(info.value)


def test_country_must_be_alpha_2() -> None:
    with pytest.raises(InvalidContact) as info:
        Contact(id="c1", created_at=T0, country="POL")
    assert str(info.value).startswith("country:") and "'POL'" in str(info.value)
    assert Contact(id="c1", created_at=T0, country=" de ").country == "DE"


def test_ids_must_be_non_empty() -> None:
    with pytest.raises(InvalidContact, match="^id:"):
        Contact(id="", created_at=T0)
    with pytest.raises(InvalidEvent, match="^contact_id:"):
        order(contact_id="")
    with pytest.raises(InvalidEvent) as info:
        Event(id="e1", contact_id="c1", type="product_view", at=T0)
    assert str(info.value).startswith("product_id:") and "None" in str(info.value)


def test_item_errors_name_their_index() -> None:
    with pytest.raises(InvalidEvent) as info:
        order(items=[{"product_id": "p1"}, {"product_id": "p2", "quantity": 0}])
    assert str(info.value).startswith("items[1].quantity:") and "0" in str(info.value)
    with pytest.raises(InvalidEvent) as info2:
        Item(product_id="p1", price="-1")
    assert str(info2.value).startswith("price:") and "-1" in str(info2.value)


def test_blank_text_is_missing_and_tags_are_kept_as_written() -> None:
    c = Contact(id="c1", created_at=T0, city="  ", email="", tags={"VIP", "  ", "vip"})
    assert c.city is None and c.email is None
    assert c.tags == frozenset({"VIP", "vip"})
    assert c.tag_keys == frozenset({"vip"})


def test_attributes_are_json_scalars() -> None:
    with pytest.raises(InvalidContact) as info:
        Contact(id="c1", created_at=T0, attributes={"sizes": [38, 39]})
    assert str(info.value).startswith("attributes.sizes:") and "[38, 39]" in str(info.value)
    with pytest.raises(InvalidContact, match="^attributes.score: NaN"):
        Contact(id="c1", created_at=T0, attributes={"score": float("nan")})


def test_models_are_values() -> None:
    a = order(items=[Item(product_id="p1", categories=["bluzy"], price="10")])
    b = order(items=[{"product_id": "p1", "categories": ("bluzy",), "price": Decimal("10.00")}])
    assert a == b and hash(a) == hash(b)
    assert a.value == Decimal("149.90")
    assert Event.from_dict(a.to_dict()) == a
    c = Contact(id="c1", created_at=T0, tags=["x"], attributes={"p": Decimal("1.5")})
    assert Contact.from_dict(c.to_dict() | {"attributes": {"p": Decimal("1.5")}}) == c


def test_filter_builders_refuse_naive_instants() -> None:
    from engagekit import between

    with pytest.raises(InvalidInstant, match="between.start"):
        between("2026-01-01T00:00:00", "2026-02-01T00:00:00+00:00")
    assert ordered(within=last(days=1)) == ordered(within=last(days=1))
