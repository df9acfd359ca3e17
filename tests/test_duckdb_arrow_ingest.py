"""DuckDBStore.add_events_arrow: the same reports and the same stored rows as add_events of the same records.

A batch is drawn as records (what ``add_events`` takes: dicts, null fields left out) and written as
a pyarrow table in the flat event layout; one DuckDB store loads the table, another the records, and
the outcome (report, or the BatchRejected message and report) and every event table row must agree.
"""

from __future__ import annotations

import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from engagekit import BatchRejected, InvalidEvent, MemoryStore, everyone, ordered, viewed
from tests.stores import unavailable
from tests.strategies import CAMPAIGNS, CATEGORIES, FORMS, PRODUCTS, instants

try:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engagekit.stores.sql.arrow_ingest import COLUMNS, event_records
    from engagekit.stores.sql.duckdb import DuckDBStore
except ImportError as exc:  # pragma: no cover - depends on the environment
    MISSING: str | None = f"duckdb and pyarrow are needed: {exc}"
else:
    MISSING = None


@pytest.fixture(autouse=True)
def _backend() -> None:
    if MISSING:
        unavailable(MISSING)


NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
TYPES = ["product_view", "add_to_cart", "order", "email_sent", "email_open", "email_click", "hard_bounce",
         "soft_bounce", "spam_complaint", "subscribe", "unsubscribe"]
ALLOWED = {"product_view": {"product_id", "categories"}, "add_to_cart": {"product_id", "categories"},
           "order": {"order_id", "value", "currency", "items"}, "email_click": {"campaign_id", "url"},
           "subscribe": {"form_id"}, "unsubscribe": {"form_id"}}
OPTIONAL = ["product_id", "categories", "order_id", "value", "currency", "items", "campaign_id", "url", "form_id"]
BLANKS = ["", "  ", "\u3000", "\x85", " \x1c "]  # str.isspace() beyond SQL's trim(): a blank url is no url


def _mostly(good: list[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    """Each bad value about a thirtieth as often as all the good ones, so that batches are not all refused."""
    return st.sampled_from(good * max(1, 30 * len(bad) // max(1, len(good))) + bad)


# --- records in the flat event layout ------------------------------------------------------------

LAYOUTS = st.fixed_dictionaries({
    "at": st.sampled_from(["tz"] * 4 + ["text"] * 4 + ["naive"]),
    "value": st.sampled_from(["dec2", "dec3", "dec0", "text", "int"]),
    "price": st.sampled_from(["dec2", "text", "int"]),
    "drop_empty": st.booleans(),  # a column without a value is left out of the table
})


def _amount(kind: str) -> st.SearchStrategy[Any]:
    if kind.startswith("dec"):
        scale = int(kind[3:])
        # mostly whole cents (a 3-place column holds 1.500 as well as 1.501), now and then too large
        cents = st.integers(-30, 40_000).map(lambda n: n * 10 ** max(0, scale - 2) if n % 7 else n)
        unscaled = st.one_of(*[cents] * 6, st.sampled_from([0, 1, 10**20, 10**30, 5 * 10**scale]))
        return unscaled.map(lambda n: Decimal(f"{n}E-{scale}"))  # exact: scaleb rounds to 28 digits
    if kind == "int":
        return st.one_of(*[st.integers(-3, 500)] * 6, st.sampled_from([10**17, 92233720368547758]))
    good = ["0", "10", "10.5", "10.50", "149.90", "0.00", "1E+2", " 12.50 ", "-0.00"]
    return _mostly(good, ["abc", "-1", "1.001", "NaN", "", "Infinity", "1e30", "99999999999999999999"])


def _categories() -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(_mostly(CATEGORIES, ["a\x00b", None, ""]), max_size=3).map(tuple)


@st.composite
def _items(draw: st.DrawFn, layout: dict[str, Any]) -> dict[str, Any] | None:
    if draw(st.integers(0, 19)) == 0:
        return None  # a null item
    item: dict[str, Any] = {"product_id": draw(_mostly(PRODUCTS, ["", None, "p\x00"]))}
    for name, values in (("categories", _categories()),
                         ("quantity", _mostly([1, 2, 3], [0, -1, 2**31 - 1, 2**31])),
                         ("price", _amount(layout["price"]))):
        value = draw(st.one_of(st.none(), values))
        if value is not None:
            item[name] = value
    return item


def _at(layout: dict[str, Any]) -> st.SearchStrategy[Any]:
    moment = instants()
    if layout["at"] == "tz":
        return moment
    if layout["at"] == "naive":
        return moment.map(lambda d: d.replace(tzinfo=None))
    text = moment.map(lambda d: d.isoformat())
    odd = ["2026-06-30T12:00:00", "not a date", " 2026-06-30T12:00:00Z ", "2026-06-30T12:00:00.000001+02:00",
           "20260630T120000Z", "2026-02-30T00:00:00Z", "2026-06-30T24:00:00Z", ""]
    return st.one_of(*[text] * 9, st.sampled_from(odd))


@st.composite
def records(draw: st.DrawFn, layout: dict[str, Any]) -> dict[str, Any]:
    """One event as add_events takes it; fields the type lacks appear now and then, and bad values too."""
    kind = draw(_mostly(TYPES, ["", "Order", None]))
    allowed = ALLOWED.get(kind, {"campaign_id"} if kind else set())
    record: dict[str, Any] = {}
    for name, values in (("id", _mostly([f"e{i}" for i in range(6)], ["", None, "e\x00"])),
                         ("contact_id", _mostly(["c1", "c2", "c3"], ["", None])),
                         ("type", st.just(kind)),
                         ("at", _mostly([True], [None]))):
        value = draw(values)
        if name == "at" and value is not None:
            value = draw(_at(layout))
        if value is not None:
            record[name] = value
    pools: dict[str, st.SearchStrategy[Any]] = {
        "product_id": _mostly(PRODUCTS, ["", None, "p\x00"]),
        "categories": _categories(),
        "order_id": _mostly(["o1", "o2"], ["", None]),
        "value": st.one_of(*[_amount(layout["value"])] * 9, st.none()),
        "currency": _mostly(["PLN"], ["pln", "EUR", "PL", "P\x00N", None, "Zł!"]),
        "items": st.lists(_items(layout), max_size=3).map(tuple),
        "campaign_id": _mostly(CAMPAIGNS, ["", None, "k\x00"]),
        "url": st.sampled_from([None, "https://shop.example/p1", "u\x00", *BLANKS]),
        "form_id": _mostly(FORMS, ["", None]),
    }
    for name in OPTIONAL:
        if name in allowed or draw(st.integers(0, 39)) == 0:
            value = draw(pools[name])
            if value is not None:
                record[name] = value
    return record


def table_of(records: list[dict[str, Any]], layout: dict[str, Any]) -> Any:
    """The flat-layout pyarrow table of these records (an empty list is written as null now and then)."""
    amount = {"dec2": pa.decimal128(38, 2), "dec3": pa.decimal128(38, 3), "dec0": pa.decimal128(38, 0),
              "text": pa.string(), "int": pa.int64()}
    at = {"tz": pa.timestamp("us", tz="UTC"), "naive": pa.timestamp("us"), "text": pa.string()}[layout["at"]]
    item = pa.struct([("product_id", pa.string()), ("categories", pa.list_(pa.string())),
                      ("quantity", pa.int64()), ("price", amount[layout["price"]])])
    types = {"at": at, "categories": pa.list_(pa.string()), "items": pa.list_(item),
             "value": amount[layout["value"]]}
    columns = {}
    for name in COLUMNS:
        cells = []
        for n, record in enumerate(records):
            value = record.get(name)
            if name in ("categories", "items") and value is not None:
                value = None if not value and n % 2 else list(value)
            cells.append(value)
        if layout["drop_empty"] and all(c is None for c in cells):
            continue
        columns[name] = pa.array(cells, type=types.get(name, pa.string()))
    return pa.table(columns) if columns else pa.table({"id": pa.array([], pa.string())})


def as_input(table: Any, form: str, folder: Path) -> Any:
    """The table as add_events_arrow may be given it: itself, a RecordBatchReader of small batches, a Parquet file."""
    if form == "reader":
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=3))
    if form == "parquet":
        pq.write_table(table, folder / "events.parquet", row_group_size=4)
        return folder / "events.parquet"
    return table


# --- comparing two stores ------------------------------------------------------------------------

def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        return ("stored", call())
    except BatchRejected as exc:
        return ("refused", str(exc), exc.report)


def stored(store: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {table: store._db.execute(f"SELECT * FROM {table} ORDER BY ALL")
            for table in ("events", "items", "item_categories")}


@pytest.fixture
def pair() -> Iterator[tuple[Any, Any]]:
    with DuckDBStore(":memory:", currency="PLN") as fast, DuckDBStore(":memory:", currency="PLN") as slow:
        yield fast, slow


@given(data=st.data())
def test_arrow_load_agrees_with_add_events(data: st.DataObject) -> None:
    layout = data.draw(LAYOUTS, label="layout")
    batch = data.draw(st.lists(records(layout), min_size=1, max_size=12), label="records")
    earlier = data.draw(st.lists(records(layout), max_size=4), label="stored before")
    on_invalid = data.draw(st.sampled_from(["raise", "skip"]), label="on_invalid")
    form = data.draw(st.sampled_from(["table", "reader", "parquet"]), label="given as")
    with DuckDBStore(":memory:", currency="PLN") as fast, DuckDBStore(":memory:", currency="PLN") as slow, \
            tempfile.TemporaryDirectory() as folder:
        for store in (fast, slow):
            store.add_events(earlier, on_invalid="skip")
        given_as = as_input(table_of(batch, layout), form, Path(folder))
        got = outcome(lambda: fast.add_events_arrow(given_as, on_invalid=on_invalid))
        want = outcome(lambda: slow.add_events(batch, on_invalid=on_invalid))
        assert got == want
        assert stored(fast) == stored(slow)
        event(f"{got[0]}, {'some' if len(got[-1].rejected) else 'no'} rejections")
        event(f"rows stored: {'some' if got[0] == 'stored' and got[1].added else 'none'}")
        assert fast._db.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary") == [(0,)]


# --- each rejection, worded as add_events words it ----------------------------------------------

AT = "2026-06-01T10:00:00+02:00"
OPEN = {"id": "e1", "contact_id": "c1", "type": "email_open", "at": AT, "campaign_id": "k1"}
ORDER = {"id": "e2", "contact_id": "c1", "type": "order", "at": AT, "order_id": "o1", "value": "10.00",
         "currency": "PLN", "items": ({"product_id": "p1", "categories": ("Buty",), "quantity": 2,
                                       "price": "5.00"},)}
VIEW = {"id": "e3", "contact_id": "c1", "type": "product_view", "at": AT, "product_id": "p1",
        "categories": ("Bluzy", " BLUZY ")}
REJECTIONS = [  # (record, the field named, a piece of the reason)
    ({**OPEN, "id": ""}, "id", "expected a non-empty string, got ''"),
    ({k: v for k, v in OPEN.items() if k != "id"}, "id", "required"),
    ({**OPEN, "contact_id": "c\x00"}, "contact_id", "contains a NUL character"),
    ({**OPEN, "type": "Email_Open"}, "type", "'Email_Open' is not one of"),
    ({**OPEN, "at": "2026-06-01T10:00:00"}, "at", "has no UTC offset"),
    ({**OPEN, "at": "yesterday"}, "at", "is not an ISO-8601 instant"),
    ({**OPEN, "campaign_id": ""}, "campaign_id", "expected a non-empty string"),
    ({k: v for k, v in OPEN.items() if k != "campaign_id"}, "campaign_id", "got None"),
    ({**OPEN, "url": "https://x"}, "url", "a email_open event has no url"),
    ({**OPEN, "categories": ("a",)}, "categories", "has no categories"),
    ({**VIEW, "product_id": ""}, "product_id", "expected a non-empty string"),
    ({**VIEW, "categories": ("ok", "a\x00")}, "categories[1]", "contains a NUL character"),
    ({**VIEW, "categories": ("ok", None)}, "categories[1]", "expected a string, got None"),
    ({**VIEW, "order_id": "o1"}, "order_id", "a product_view event has no order_id"),
    ({**ORDER, "value": "-1.00"}, "value", "-1.00 is negative"),
    ({**ORDER, "value": "1.001"}, "value", "more decimal places than PLN has (2)"),
    ({**ORDER, "value": "abc"}, "value", "'abc' is not a decimal amount"),
    ({**ORDER, "value": "100000000000000000"}, "value", "is too large"),
    ({k: v for k, v in ORDER.items() if k != "value"}, "value", "None is not a decimal amount"),
    ({**ORDER, "currency": "EUR"}, "currency", "'EUR' differs from the store's currency 'PLN'"),
    ({**ORDER, "currency": "PL"}, "currency", "is not an ISO 4217 currency code"),
    ({k: v for k, v in ORDER.items() if k != "currency"}, "currency", "an order needs its currency"),
    ({**ORDER, "order_id": ""}, "order_id", "expected a non-empty string"),
    ({**ORDER, "items": ({"product_id": ""},)}, "items[0].product_id", "expected a non-empty string"),
    ({**ORDER, "items": ({"product_id": "p1"}, {"product_id": "p2", "quantity": 0})}, "items[1].quantity",
     "expected a positive integer, got 0"),
    ({**ORDER, "items": ({"product_id": "p1", "quantity": 2**31},)}, "items[0].quantity", "is more than"),
    ({**ORDER, "items": ({"product_id": "p1", "price": "-0.01"},)}, "items[0].price", "is negative"),
    ({**ORDER, "items": ({"product_id": "p1", "price": "x"},)}, "items[0].price", "'x' is not a decimal amount"),
    ({**ORDER, "items": ({"product_id": "p1", "categories": ("\x00",)},)}, "items[0].categories[0]", "NUL"),
    ({**ORDER, "items": (None,)}, "items[0].items", "expected an object, got None"),
    ({**ORDER, "product_id": "p1"}, "product_id", "a order event has no product_id"),
    ({**OPEN, "type": "subscribe", "campaign_id": None, "form_id": ""}, "form_id", "expected a non-empty string"),
]


def _table(batch: list[dict[str, Any]]) -> Any:
    return table_of(batch, {"at": "text", "value": "text", "price": "text", "drop_empty": True})


@pytest.mark.parametrize(("record", "field", "reason"), REJECTIONS, ids=[r[1] + ":" + r[2] for r in REJECTIONS])
def test_each_rejection_names_row_id_field_and_value(pair: tuple[Any, Any], record: dict[str, Any], field: str,
                                                     reason: str) -> None:
    fast, slow = pair
    record = {k: v for k, v in record.items() if v is not None}
    batch = [OPEN, record, VIEW]
    report = fast.add_events_arrow(_table(batch), on_invalid="skip")
    assert [(r.index, r.record_id, r.field) for r in report.rejected] == [(1, record.get("id"), field)]
    assert reason in report.rejected[0].reason
    assert report == slow.add_events(batch, on_invalid="skip")
    assert (report.added, report.duplicates) == (2, 0) or record.get("id") in ("e1", "e3")


def test_a_refused_batch_stores_nothing(pair: tuple[Any, Any]) -> None:
    fast, _ = pair
    batch = [OPEN, ORDER, VIEW, {**ORDER, "id": "e9", "value": "-5"}]
    with pytest.raises(BatchRejected) as caught:
        fast.add_events_arrow(_table(batch))
    assert str(caught.value).startswith("events[3].value: -5 is negative; order values must be >= 0; nothing was stored")
    assert [(r.index, r.record_id, r.field) for r in caught.value.report.rejected] == [(3, "e9", "value")]
    assert stored(fast) == {"events": [], "items": [], "item_categories": []}
    report = fast.add_events_arrow(_table(batch), on_invalid="skip")
    assert (report.added, report.duplicates, len(report.rejected)) == (3, 0, 1)
    assert len(stored(fast)["events"]) == 3


def test_duplicates_in_the_batch_and_in_the_store(pair: tuple[Any, Any]) -> None:
    fast, _ = pair
    assert fast.add_events_arrow(_table([OPEN])).added == 1
    later = {**OPEN, "campaign_id": "k2"}
    report = fast.add_events_arrow(_table([later, VIEW, {**VIEW, "product_id": "p2"}, ORDER]))
    assert (report.added, report.duplicates) == (2, 2)
    rows = fast._db.execute("SELECT id, campaign_id FROM events WHERE id = 'e1'")
    assert rows == [("e1", "k1")]  # the stored one stays
    assert fast._db.execute("SELECT product_id FROM items WHERE event_id = 'e3'") == [("p1",)]  # first in batch wins


def test_stored_rows_hold_keys_minor_units_and_instants(pair: tuple[Any, Any]) -> None:
    fast, _ = pair
    click = {"id": "e4", "contact_id": "c2", "type": "email_click", "at": AT, "campaign_id": "k1", "url": "\u3000"}
    fast.add_events_arrow(_table([ORDER, VIEW, click]))
    assert fast._db.execute("SELECT id, at_us, value_minor, currency, url FROM events ORDER BY id") == [
        ("e2", 1780300800000000, 1000, "PLN", None),
        ("e3", 1780300800000000, None, None, None),
        ("e4", 1780300800000000, None, None, None),
    ]
    assert fast._db.execute("SELECT event_id, item_no, product_id, quantity, price FROM items ORDER BY ALL") == [
        ("e2", 0, "p1", 2, "5.00"), ("e3", 0, "p1", None, None)]
    assert fast._db.execute("SELECT event_id, category, cat_key FROM item_categories ORDER BY ALL") == [
        ("e2", "Buty", "buty"), ("e3", " BLUZY ", "bluzy"), ("e3", "Bluzy", "bluzy")]


def test_store_answers_match(pair: tuple[Any, Any]) -> None:
    from engagekit import Contact

    fast, slow = pair
    people = [Contact(id=c, created_at="2026-01-01T00:00:00+00:00", status="subscribed") for c in ("c1", "c2")]
    batch = [OPEN, ORDER, VIEW, {**VIEW, "id": "e5", "contact_id": "c2",
                                 "categories": (unicodedata.normalize("NFD", "Äpfel"),)}]
    for store in pair:
        store.add_contacts(people)
    fast.add_events_arrow(_table(batch))
    slow.add_events(batch)
    at = "2026-06-30T00:00:00+00:00"
    for flt in (everyone(), viewed(category="bluzy"), viewed(category="äpfel"), ordered(category="BUTY")):
        assert fast.members(flt, at=at) == slow.members(flt, at=at)
        assert fast.metrics(flt, at=at) == slow.metrics(flt, at=at)
    assert fast.members(viewed(category="äpfel"), at=at) == frozenset({"c2"})
    assert fast.engagement(at=at) == slow.engagement(at=at)


# --- inputs and layouts --------------------------------------------------------------------------

def test_parquet_path_and_record_batch_reader(pair: tuple[Any, Any], tmp_path: Path) -> None:
    fast, slow = pair
    table = _table([OPEN, ORDER, VIEW])
    pq.write_table(table, tmp_path / "events.parquet", row_group_size=1)
    assert fast.add_events_arrow(tmp_path / "events.parquet").added == 3
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=1))
    assert slow.add_events_arrow(reader).added == 3
    assert stored(fast) == stored(slow)


def test_timestamps_of_any_zone_and_unit(pair: tuple[Any, Any]) -> None:
    fast, slow = pair
    moment = datetime(2026, 6, 1, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    table = pa.table({"id": ["a", "b"], "contact_id": ["c1", "c1"], "type": ["subscribe", "unsubscribe"],
                      "at": pa.array([moment, moment], pa.timestamp("ns", tz="Europe/Warsaw"))})
    fast.add_events_arrow(table)
    slow.add_events([{"id": i, "contact_id": "c1", "type": t, "at": moment} for i, t in (("a", "subscribe"),
                                                                                          ("b", "unsubscribe"))])
    assert stored(fast) == stored(slow)
    lossy = pa.table({"id": ["a"], "at": pa.array([1], pa.timestamp("ns", tz="UTC"))})
    with pytest.raises(InvalidEvent, match="^at: an instant has nanoseconds"):
        fast.add_events_arrow(lossy)


@pytest.mark.parametrize(("table", "message"), [
    (lambda: pa.table({"id": ["e1"], "colour": ["red"]}), "^colour: unknown event column"),
    (lambda: pa.table({"id": pa.array([1])}), r"^id: expected a string column, got int64"),
    (lambda: pa.table({"at": pa.array([1.5])}), "^at: expected a timestamp or ISO-8601 string column"),
    (lambda: pa.table({"items": pa.array([[{"sku": "x"}]])}), "^items.sku: unknown item field"),
    (lambda: "no/such/file.parquet", "^data: 'no/such/file.parquet' is not a readable Parquet file"),
    (lambda: [OPEN], "^data: expected a pyarrow Table, RecordBatchReader or a Parquet path, got list"),
])
def test_a_table_outside_the_layout_is_refused_whole(pair: tuple[Any, Any], table: Callable[[], Any],
                                                     message: str) -> None:
    fast, _ = pair
    with pytest.raises(InvalidEvent, match=message):
        fast.add_events_arrow(table())
    assert stored(fast)["events"] == []


def test_an_empty_table_adds_nothing(pair: tuple[Any, Any]) -> None:
    fast, _ = pair
    assert fast.add_events_arrow(pa.table({"id": pa.array([], pa.string())})) == fast.add_events([])


def test_other_stores_take_the_same_table_through_records() -> None:
    table = _table([OPEN, ORDER, VIEW, {**OPEN, "id": ""}])
    assert list(event_records(_table([VIEW]))) == [VIEW]
    memory = MemoryStore(currency="PLN")
    report = memory.add_events_arrow(table, on_invalid="skip")
    assert (report.added, [(r.index, r.field) for r in report.rejected]) == (3, [(3, "id")])


def test_dictionary_strings_and_null_typed_columns(pair: tuple[Any, Any]) -> None:
    fast, slow = pair
    batch = [OPEN, ORDER, VIEW, {**VIEW, "id": "e7", "product_id": ""}]
    plain = _table(batch)
    encoded = pa.table({name: (plain.column(name).dictionary_encode()
                               if name in ("type", "contact_id", "currency") else plain.column(name))
                        for name in plain.column_names}).append_column("form_id", pa.nulls(len(batch)))
    assert pa.types.is_dictionary(encoded.schema.field("type").type)
    assert fast.add_events_arrow(encoded, on_invalid="skip") == slow.add_events(batch, on_invalid="skip")
    assert stored(fast) == stored(slow)


def test_a_parquet_file_of_nanosecond_instants(pair: tuple[Any, Any], tmp_path: Path) -> None:
    fast, slow = pair
    moment = datetime(2026, 6, 1, 10, 0, 0, 123456, tzinfo=UTC)
    table = pa.table({"id": ["a"], "contact_id": ["c1"], "type": ["subscribe"],
                      "at": pa.array([moment], pa.timestamp("ns", tz="UTC"))})
    pq.write_table(table, tmp_path / "ns.parquet", version="2.6")
    assert pq.read_schema(tmp_path / "ns.parquet").field("at").type.unit == "ns"
    assert fast.add_events_arrow(tmp_path / "ns.parquet").added == 1
    slow.add_events([{"id": "a", "contact_id": "c1", "type": "subscribe", "at": moment}])
    assert stored(fast) == stored(slow)


def test_an_instant_no_datetime_holds_is_refused(pair: tuple[Any, Any]) -> None:
    fast, _ = pair
    after_9999 = 253_402_300_800_000_000  # 10000-01-01T00:00:00Z in µs
    table = pa.table({"id": ["a", "b"], "contact_id": ["c1", "c1"], "type": ["subscribe", "subscribe"],
                      "at": pa.array([after_9999, 0], pa.timestamp("us", tz="UTC"))})
    report = fast.add_events_arrow(table, on_invalid="skip")
    assert [(r.index, r.record_id, r.field, r.reason) for r in report.rejected] == [
        (0, "a", "at", "at: 253402300800000000 µs since the epoch is outside the years 1-9999")]
    assert report.added == 1
