"""Shopify's customer and order CSV exports through the ready mappings."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from engagekit import MemoryStore, everyone, ordered, spent, tag
from engagekit.io import SHOPIFY_CUSTOMERS, SHOPIFY_ORDERS, ImportRejected, MappingError, import_contacts, import_events

DATA = Path(__file__).parent / "data"
NOW = "2026-06-30T12:00:00+00:00"
CUSTOMERS = SHOPIFY_CUSTOMERS.with_defaults(created_at="2026-01-01T00:00:00+00:00")
ANNA = "anna.nowak@example.com"


def load(store, chunk_size=10_000):
    import_contacts(store, DATA / "shopify_customers.csv", CUSTOMERS)
    return import_events(store, DATA / "shopify_orders.csv", SHOPIFY_ORDERS, chunk_size=chunk_size)


def test_customers(store):
    report = import_contacts(store, DATA / "shopify_customers.csv", CUSTOMERS)
    assert (report.rows, report.added, report.rejected) == (3, 3, 0)
    anna = store.contact(ANNA)
    assert (anna.email, anna.first_name, anna.city, anna.country, anna.phone) == (
        ANNA, "Anna", "Warszawa", "PL", "+48600100001")
    assert anna.tags == frozenset({"vip", "newsletter"}) and anna.status == "subscribed"
    assert anna.attributes["shopify_customer_id"] == "7001"
    assert Decimal(str(anna.attributes["total_spent"])) == Decimal("469.80")
    jan = store.contact("jan@example.com")
    assert (jan.status, jan.phone, jan.city) == ("unknown", "+48600100002", "Kraków")
    ola = store.contact("shopify:7003")  # no e-mail: the customer id makes the contact id
    assert (ola.email, ola.country, ola.status) == (None, "PL", "subscribed")
    assert store.members(tag("newsletter"), at=NOW) == {ANNA, "shopify:7003"}


@pytest.mark.parametrize("chunk_size", [1, 2, 10_000])
def test_orders_one_event_per_order_whatever_the_chunks(store, chunk_size):
    report = load(store, chunk_size)
    assert (report.rows, report.records, report.added, report.rejected) == (6, 3, 3, 0)
    assert report.chunks == (3 if chunk_size == 1 else 2 if chunk_size == 2 else 1)
    metrics = store.metrics(everyone(), at=NOW)
    assert (metrics.orders, metrics.customers, metrics.revenue) == (3, 2, Decimal("519.80"))
    # the e-mail's case does not matter: JAN@example.com is jan@example.com
    assert store.members(ordered(), at=NOW) == {ANNA, "jan@example.com"}
    # #1003 has three line items: one order, found by any of its products (a row without SKU uses its name)
    assert store.members(ordered(product="SK-1"), at=NOW) == {ANNA}
    assert store.members(ordered(product="Karta podarunkowa"), at=NOW) == {"jan@example.com"}
    assert store.members(ordered(product="BL-1", at_least=2), at=NOW) == {ANNA}
    assert store.members(spent(at_least=Decimal("469.80")), at=NOW) == {ANNA}
    # "2026-03-01 10:00:00 +0100" (Shopify's form) is read as an instant with its offset
    assert store.metrics(everyone(), at="2026-03-01T09:00:00+00:00").orders == 1
    assert store.metrics(everyone(), at="2026-03-01T08:59:59+00:00").orders == 0
    assert store.metrics(everyone(), at=NOW).tbo == timedelta(days=39, hours=21)


def test_reimport_is_idempotent():
    store = MemoryStore(currency="PLN")
    load(store)
    again = load(store)
    assert (again.added, again.duplicates) == (0, 3)
    assert store.metrics(everyone(), at=NOW).orders == 3


def test_customers_without_a_creation_date_need_one():
    with pytest.raises(MappingError, match=r"with_defaults\(created_at=...\)"):
        import_contacts(MemoryStore(currency="PLN"), DATA / "shopify_customers.csv", SHOPIFY_CUSTOMERS)


def test_bad_order_row_points_at_its_line(tmp_path):
    text = (DATA / "shopify_orders.csv").read_text().splitlines()
    # line 6 is #1003's second item: make its quantity bad
    text[5] = text[5].replace(",,1,Czapka,", ",,x,Czapka,")
    (tmp_path / "orders.csv").write_text("\n".join(text) + "\n")
    store = MemoryStore(currency="PLN")
    with pytest.raises(ImportRejected) as info:
        import_events(store, tmp_path / "orders.csv", SHOPIFY_ORDERS, chunk_size=2)
    (rejection,) = info.value.report.rejections
    assert (rejection.line, rejection.field, rejection.column, rejection.value) == (
        6, "items[1].quantity", "Lineitem quantity", "x")
    assert rejection.record_id == "shopify-order:5550003"
    report = import_events(store, tmp_path / "orders.csv", SHOPIFY_ORDERS, on_invalid="skip")
    assert (report.added, report.duplicates, report.rejected) == (0, 2, 1)  # the first chunk was stored before


def test_eur_order_is_rejected(tmp_path):
    text = (DATA / "shopify_orders.csv").read_text().replace(",PLN,50.00,", ",EUR,50.00,")
    (tmp_path / "orders.csv").write_text(text)
    report = import_events(MemoryStore(currency="PLN"), tmp_path / "orders.csv", SHOPIFY_ORDERS, on_invalid="skip")
    (rejection,) = report.rejections
    assert (rejection.line, rejection.field, rejection.value) == (4, "currency", "EUR")
    assert report.added == 2


def test_missing_shopify_column(tmp_path):
    text = (DATA / "shopify_orders.csv").read_text().replace("Total,", "Grand Total,", 1)
    (tmp_path / "orders.csv").write_text(text)
    with pytest.raises(MappingError, match="missing column 'Total'"):
        import_events(MemoryStore(currency="PLN"), tmp_path / "orders.csv", SHOPIFY_ORDERS)
