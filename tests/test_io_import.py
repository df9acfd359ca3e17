"""Imports in engagekit's own format: chunks, every rejection path, skip vs raise, rejects files, idempotence."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

import engagekit
from engagekit import EngagekitError, MemoryStore, everyone, ordered, viewed
from engagekit.io import (
    ENGAGEKIT_EVENTS,
    FormatError,
    ImportRejected,
    Mapping,
    MappingError,
    col,
    import_contacts,
    import_events,
    parse,
)

NOW = "2026-06-30T12:00:00+00:00"
EVENT_HEADER = "id,contact_id,type,at,product_id,categories,order_id,value,currency,items,campaign_id,url,form_id"


def order_row(i: int, value: str = "10.00", at: str = "2026-01-02T10:00:00+01:00", currency: str = "PLN",
              type_: str = "order") -> str:
    return f"e{i},c1,{type_},{at},,,o{i},{value},{currency},,,,"


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def contacts_file(tmp_path: Path) -> Path:
    return write(tmp_path / "contacts.csv", [
        "id,email,city,tags,status,created_at,attributes",
        'c1,a@example.com,Warszawa,"[""vip""]",subscribed,2026-01-01T00:00:00+00:00,"{""points"": 5}"',
        "c2,b@example.com,Kraków,newsletter,unknown,2026-01-01T00:00:00+00:00,",
    ])


def memory() -> MemoryStore:
    return MemoryStore(currency="PLN")


# --- the happy path, on every store -------------------------------------------------------------

def test_csv_contacts_and_events_on_every_store(store, tmp_path):
    report = import_contacts(store, contacts_file(tmp_path))
    assert (report.rows, report.added, report.rejected, report.chunks) == (2, 2, 0, 1)
    c1 = store.contact("c1")
    assert c1.tags == frozenset({"vip"}) and c1.attributes["points"] == 5 and c1.status == "subscribed"
    assert store.contact("c2").tags == frozenset({"newsletter"})
    events = write(tmp_path / "events.csv", [
        EVENT_HEADER,
        order_row(1, "149.90"),
        'e2,c2,product_view,2026-01-03T10:00:00+00:00,p-1,"[""bluzy""]",,,,,,,',
        "e3,c1,email_open,2026-01-04T10:00:00+00:00,,,,,,,camp-1,,",
    ])
    report = import_events(store, events, chunk_size=2)
    assert (report.added, report.duplicates, report.chunks) == (3, 0, 2)
    assert store.members(viewed(category="BLUZY"), at=NOW) == {"c2"}
    assert store.metrics(everyone(), at=NOW).revenue == Decimal("149.90")
    again = import_events(store, events)
    assert (again.added, again.duplicates) == (0, 3)  # ids are idempotent
    assert store.metrics(everyone(), at=NOW).orders == 1


def test_jsonl_golden_set(store):
    golden = Path(__file__).parent / "golden"
    assert import_contacts(store, golden / "contacts.jsonl").added == 25
    report = import_events(store, golden / "events.jsonl", chunk_size=50)
    assert (report.added, report.duplicates, report.rows) == (225, 4, 229)
    assert report.chunks == 5


def test_parquet_events(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from datetime import UTC, datetime
    table = pa.table({
        "id": ["e1", "e2"], "contact_id": ["c1", "c1"], "type": ["order", "product_view"],
        "at": pa.array([datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC)],
                       pa.timestamp("us", tz="UTC")),
        "product_id": [None, "p-1"], "categories": [None, ["bluzy"]], "order_id": ["o1", None],
        "value": pa.array([Decimal("12.50"), None], pa.decimal128(10, 2)), "currency": ["PLN", None],
    })
    pq.write_table(table, tmp_path / "events.parquet")
    store = memory()
    import_contacts(store, contacts_file(tmp_path))
    report = import_events(store, tmp_path / "events.parquet")
    assert report.added == 2
    assert store.metrics(everyone(), at=NOW).revenue == Decimal("12.50")


def test_parquet_reading_holds_a_row_group_not_the_whole_file(tmp_path):
    """Bounded memory: reading holds about one row group in Arrow's memory, not every byte read
    (pyarrow's pre-buffering kept what it had read, so the reader grew with the file)."""
    import hashlib

    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from engagekit.io.formats import Rows

    groups, per_group = 40, 2_000
    ids = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(groups * per_group)]  # incompressible
    pq.write_table(pa.table({"id": ids}), tmp_path / "e.parquet", row_group_size=per_group)
    file_bytes = (tmp_path / "e.parquet").stat().st_size
    before, peak, read = pa.total_allocated_bytes(), 0, 0
    with Rows(tmp_path / "e.parquet", "parquet", 500) as rows:
        for _, row in rows:
            read += 1
            peak = max(peak, pa.total_allocated_bytes() - before)
    assert read == groups * per_group and file_bytes > 4_000_000
    assert peak < file_bytes // 4  # one row group is 1/40 of the file


def test_parquet_naive_timestamp_is_rejected_with_row_number(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from datetime import datetime
    pq.write_table(pa.table({"id": ["e1"], "contact_id": ["c1"], "type": ["email_open"],
                             "at": [datetime(2026, 1, 2)], "campaign_id": ["k"]}), tmp_path / "e.parquet")
    with pytest.raises(ImportRejected) as info:
        import_events(memory(), tmp_path / "e.parquet")
    (rejection,) = info.value.report.rejections
    assert (rejection.line, rejection.field) == (1, "at") and "naive" in rejection.reason


def test_gzip_and_explicit_format(tmp_path):
    import gzip
    path = tmp_path / "events.data.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "e1", "contact_id": "c1", "type": "email_sent", "at": NOW,
                                 "campaign_id": "k1"}) + "\n")
    assert import_events(memory(), path, format="jsonl").added == 1
    with pytest.raises(FormatError, match="extension"):
        import_events(memory(), path)


# --- every rejection path -----------------------------------------------------------------------

BAD_ROWS = [
    ("bad instant", order_row(1, at="yesterday"), "at", "yesterday", "ISO-8601"),
    ("naive instant", order_row(1, at="2026-01-02T10:00:00"), "at", "2026-01-02T10:00:00", "no UTC offset"),
    ("instant before year 1 in UTC", order_row(1, at="0001-01-01T00:00:00+01:00"), "at", "0001-01-01T00:00:00+01:00",
     "outside the years 1-9999"),
    ("negative value", order_row(1, "-12.50"), "value", "-12.50", "negative"),
    ("wrong currency", order_row(1, currency="EUR"), "currency", "EUR", "differs from the store's currency"),
    ("too many decimals", order_row(1, "1.999"), "value", "1.999", "more decimal places"),
    ("unknown type", "e1,c1,purchase,2026-01-02T10:00:00+00:00,,,,,,,,,", "type", "purchase", "is not one of"),
    ("not a number", order_row(1, "\"12,50\""), "value", "12,50", "not a decimal amount"),
    ("missing id", ",c1,email_open,2026-01-02T10:00:00+00:00,,,,,,,k,,", "id", "", "required"),
    ("field of another type", "e1,c1,email_open,2026-01-02T10:00:00+00:00,p-1,,,,,,k,,", "product_id", "p-1",
     "has no product_id"),
    # thousands deep: the JSON decoder raises RecursionError, which must become a rejection
    ("JSON nested too deeply", f"e1,c1,order,2026-01-02T10:00:00+00:00,,,o1,10.00,PLN,{'[' * 3000},,,", "items",
     "[" * 3000, "nested too deeply"),
    ("categories nested too deeply", f"e1,c1,product_view,2026-01-02T10:00:00+00:00,p-1,{'[' * 3000},,,,,,,",
     "categories", "[" * 3000, "nested too deeply"),
]


@pytest.mark.parametrize(("row", "field", "value", "reason"), [b[1:] for b in BAD_ROWS], ids=[b[0] for b in BAD_ROWS])
def test_every_rejection_names_line_field_value_reason(tmp_path, row, field, value, reason):
    path = write(tmp_path / "events.csv", [EVENT_HEADER, order_row(0), row, order_row(2)])
    store = memory()
    with pytest.raises(ImportRejected) as info:
        import_events(store, path, rejects=tmp_path / "rejects.csv")
    error = info.value
    assert isinstance(error, EngagekitError) and isinstance(error, ValueError)
    assert f"line 3: {field}:" in str(error)
    (rejection,) = error.report.rejections
    assert (rejection.line, rejection.field, rejection.value) == (3, field, value)
    assert reason in rejection.reason
    assert store.metrics(everyone(), at=NOW).orders == 0  # nothing of the chunk was stored
    assert error.report.added == 0 and error.report.chunks == 0
    with open(tmp_path / "rejects.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1
    assert (rows[0]["line"], rows[0]["field"], rows[0]["value"]) == ("3", field, value)
    assert reason in rows[0]["reason"]


def test_missing_column_is_refused_before_anything_is_stored(tmp_path):
    path = write(tmp_path / "events.csv", ["id,contact_id,type,campaign_id", "e1,c1,email_open,k"])
    with pytest.raises(MappingError, match=r"line 1: .*missing column 'at'"):
        import_events(memory(), path)


def test_unknown_column_in_own_format_is_refused(tmp_path):
    path = write(tmp_path / "events.csv", [EVENT_HEADER + ",colour", order_row(1) + ",red"])
    with pytest.raises(MappingError, match="unknown column 'colour'"):
        import_events(memory(), path)


def test_unknown_key_and_bad_json_in_jsonl(tmp_path):
    good = {"id": "e1", "contact_id": "c1", "type": "email_sent", "at": NOW, "campaign_id": "k"}
    path = write(tmp_path / "events.jsonl", [
        json.dumps(good), json.dumps({**good, "id": "e2", "colour": "red"}), "", "{not json",
        json.dumps([1, 2]), json.dumps({**good, "id": "e5"}), "[" * 5000 + "]" * 5000,
    ])
    store = memory()
    report = import_events(store, path, on_invalid="skip", rejects=tmp_path / "rejects.jsonl")
    assert (report.rows, report.added, report.rejected) == (6, 2, 4)
    assert [(r.line, r.field) for r in report.rejections] == [(2, "colour"), (4, "record"), (5, "record"),
                                                              (7, "record")]
    assert report.rejections[-1].reason == "JSON nested too deeply to read"
    lines = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [x["line"] for x in lines] == [2, 4, 5, 7]
    assert lines[0] == {"line": 2, "field": "colour", "column": "colour", "value": "red",
                        "reason": "unknown event field", "record_id": "e2"}


def test_item_rejection_points_at_its_own_row(tmp_path):
    items = json.dumps([{"product_id": "p1", "quantity": 1, "price": "5.00"},
                        {"product_id": "p2", "quantity": 0, "price": "5.00"}]).replace('"', '""')
    path = write(tmp_path / "events.csv", [EVENT_HEADER, f'e1,c1,order,{NOW},,,o1,10.00,PLN,"{items}",,,'])
    with pytest.raises(ImportRejected) as info:
        import_events(memory(), path)
    (rejection,) = info.value.report.rejections
    assert rejection.field == "items[1].quantity" and rejection.line == 2 and rejection.record_id == "e1"


# --- skip vs raise, across chunks ---------------------------------------------------------------

def make_events(tmp_path: Path, bad_at: set[int], n: int = 10) -> Path:
    rows = [order_row(i, "-1.00" if i in bad_at else "10.00") for i in range(n)]
    return write(tmp_path / "events.csv", [EVENT_HEADER, *rows])


def test_raise_stores_earlier_chunks_only_and_names_the_line(tmp_path):
    store = memory()
    import_contacts(store, contacts_file(tmp_path))
    path = make_events(tmp_path, bad_at={5, 6})  # rows 5 and 6 are on lines 7 and 8, in the second chunk
    with pytest.raises(ImportRejected, match=r"line 7: value: .*\(and 1 more in this chunk\)") as info:
        import_events(store, path, chunk_size=4)
    report = info.value.report
    assert (report.added, report.chunks, report.rejected) == (4, 1, 2)
    assert [r.line for r in report.rejections] == [7, 8]
    assert store.metrics(everyone(), at=NOW).orders == 4  # chunk 1 only: chunk 2 and 3 are not stored
    # fix the file and run again: every event stored exactly once
    fixed = make_events(tmp_path, bad_at=set())
    again = import_events(store, fixed, chunk_size=4)
    assert (again.added, again.duplicates) == (6, 4)
    assert store.metrics(everyone(), at=NOW).orders == 10


def test_skip_stores_valid_rows_and_reports_the_rest(tmp_path):
    store = memory()
    import_contacts(store, contacts_file(tmp_path))
    report = import_events(store, make_events(tmp_path, bad_at={0, 5, 9}), chunk_size=4, on_invalid="skip",
                           rejects=tmp_path / "rejects.csv")
    assert (report.rows, report.records, report.added, report.rejected) == (10, 7, 7, 3)
    assert [r.line for r in report.rejections] == [2, 7, 11]
    assert not report.ok
    assert store.metrics(everyone(), at=NOW).orders == 7
    text = (tmp_path / "rejects.csv").read_text().splitlines()
    assert text[0] == "line,field,column,value,reason,record_id"
    assert text[1] == "2,value,value,-1.00,-1.00 is negative; order values must be >= 0,e0"


def test_on_chunk_reports_progress(tmp_path):
    seen = []
    import_events(memory(), make_events(tmp_path, set()), chunk_size=3, on_chunk=lambda r: seen.append(r.added))
    assert seen == [3, 6, 9, 10]


def test_arguments_are_checked(tmp_path):
    path = make_events(tmp_path, set())
    with pytest.raises(engagekit.InvalidRecord, match="on_invalid"):
        import_events(memory(), path, on_invalid="ignore")
    with pytest.raises(engagekit.InvalidRecord, match="chunk_size"):
        import_events(memory(), path, chunk_size=0)
    with pytest.raises(MappingError, match="maps contacts, not events"):
        import_events(memory(), path, mapping=engagekit.io.ENGAGEKIT_CONTACTS)


# --- custom mappings ------------------------------------------------------------------------------

def test_custom_mapping_with_constants_and_attributes(tmp_path):
    contacts = Mapping.contacts({
        "id": col("user_id", required=True), "email": col("mail", parse.lower),
        "attributes.points": col("pts", parse.integer), "tags": col("labels", parse.pipe_list),
    }, constants={"created_at": "2026-01-01T00:00:00+00:00", "status": "subscribed", "attributes.source": "crm"})
    path = write(tmp_path / "crm.csv", ["user_id,mail,pts,labels,ignored", "u1, A@X.PL ,7,vip|b2b,zzz"])
    store = memory()
    assert import_contacts(store, path, contacts).added == 1
    c = store.contact("u1")
    assert (c.email, c.attributes["points"], c.tags, c.status) == ("a@x.pl", 7, frozenset({"vip", "b2b"}), "subscribed")
    assert c.attributes["source"] == "crm"
    views = Mapping.events({"id": "id", "contact_id": "user", "at": "ts", "product_id": "sku",
                            "categories": "cats"}, constants={"type": "product_view"})
    path = write(tmp_path / "views.csv", ["id,user,ts,sku,cats", f'v1,u1,{NOW},p-1,"bluzy, swetry"'])
    assert import_events(store, path, views).added == 1
    assert store.members(viewed(category="swetry"), at=NOW) == {"u1"}
    assert store.members(ordered(), at=NOW) == frozenset()


def test_a_huge_whole_number_is_refused_before_it_is_built(tmp_path):
    # "1e10000000" is a whole number whose int would take minutes and gigabytes to build
    contacts = Mapping.contacts({"id": col("user_id", required=True), "attributes.points": col("pts", parse.integer)},
                                constants={"created_at": "2026-01-01T00:00:00+00:00"})
    path = write(tmp_path / "crm.csv", ["user_id,pts", "u1,1e10000000", "u2,1e3"])
    store = memory()
    report = import_contacts(store, path, contacts, on_invalid="skip")
    (rejection,) = report.rejections
    assert (rejection.line, rejection.field, rejection.value) == (2, "attributes.points", "1e10000000")
    assert "too large" in rejection.reason
    assert store.contact("u2").attributes["points"] == 1000
    assert parse.integer("-" + "9" * 41) == -int("9" * 41)
    with pytest.raises(parse.ParseError, match="too large"):
        parse.integer("1" + "0" * 41)


def test_mapping_refuses_unknown_targets():
    with pytest.raises(MappingError, match="is not an event field"):
        Mapping.events({"colour": "c"})
    with pytest.raises(MappingError, match="only contact attributes"):
        Mapping.events({"value.x": "c"})
    with pytest.raises(MappingError, match="give group_by"):
        Mapping.events({"id": "id"}, items={"price": "p"})
    assert ENGAGEKIT_EVENTS.strict
