"""DuckDB bulk load: ``add_events_arrow`` of a Parquet file against ``add_events`` of the same records.

    python benchmarks/duckdb_bulk_load.py                          # 1M events, baseline on all 1M
    python benchmarks/duckdb_bulk_load.py --events 20000000        # issue #3: 20M events in under 60 s
    python benchmarks/duckdb_bulk_load.py --events 100000 --baseline-events 100000 --dir /tmp/x

The events are written once as Parquet in the flat event layout (``--dir``, default
``engagekit-bulk-load`` in the temp directory, as ``events-N.parquet``; reused by later runs), column by column with numpy
and pyarrow, never through ``Event`` objects. The mix: 45% product views (1-3 categories), 5%
add-to-cart, 15% email sends, 15% opens, 4% clicks (a url), 10% orders of 1-3 items (each with a
category, a quantity and a price; the order's value is their sum), 3% bounces, 3% subscribe /
unsubscribe; instants spread over two years; one contact per 20 events.

Timed, each into its own empty DuckDBStore file in ``--dir``:

- ``arrow``: ``store.add_events_arrow(path)`` of the whole file (reading the Parquet included);
- ``arrow (slice)``: the same call on the baseline's slice (the first ``--baseline-events`` rows,
  as an in-memory pyarrow Table), so the ratio compares equal work;
- ``add_events``: the baseline, ``store.add_events(records)`` of that slice, the records (dicts, as
  ``event_records`` makes them) built before the clock starts.

It prints events/s, CPU seconds, the ratio to the baseline and the load average, since on a shared
machine the wall-clock figures also measure the neighbours.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

MIX = [("product_view", 0.45), ("add_to_cart", 0.05), ("email_sent", 0.15), ("email_open", 0.15),
       ("email_click", 0.04), ("order", 0.10), ("hard_bounce", 0.01), ("soft_bounce", 0.02),
       ("subscribe", 0.02), ("unsubscribe", 0.01)]
CATEGORIES = ["bluzy", "Bluzy", "buty", "Buty sportowe", "sukienki", "kurtki", "Kurtki zimowe", "akcesoria",
              "torby", "zegarki", "biżuteria", "Äpfel", "skarpety", "czapki", "szaliki", "rękawiczki", "spodnie",
              "jeansy", "koszule", "t-shirty", "swetry", "płaszcze", "sandały", "kozaki", "trampki", "okulary",
              "paski", "portfele", "plecaki", "walizki"]
PRODUCTS = 20_000
CAMPAIGNS = 400
CHUNK = 1_000_000
START_US = 1_719_792_000_000_000  # 2024-07-01T00:00:00Z
SPAN_US = 2 * 365 * 86_400 * 1_000_000


def _labels(prefix: str, numbers: Any) -> Any:
    """Strings ``prefix`` + number, built in Arrow (no Python loop)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(pa.scalar(prefix), pc.cast(pa.array(numbers), pa.string()), "")


def _masked(values: Any, mask: Any) -> Any:
    """``values`` where ``mask`` is true, null elsewhere."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pa.array(mask), values, pa.scalar(None, values.type))


def _category_lists(rng: Any, count: int, low: int, high: int, mask: Any | None = None) -> Any:
    import numpy as np
    import pyarrow as pa

    sizes = rng.integers(low, high + 1, size=count)
    if mask is not None:
        sizes = np.where(mask, sizes, 0)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    names = pa.array(CATEGORIES).take(pa.array(rng.integers(0, len(CATEGORIES), size=int(offsets[-1]))))
    return pa.ListArray.from_arrays(pa.array(offsets), names, mask=None if mask is None else pa.array(~mask))


def chunk(rng: Any, first: int, n: int, contacts: int) -> Any:
    """Events ``first`` … ``first + n - 1`` as one pyarrow Table in the flat event layout."""
    import numpy as np
    import pyarrow as pa

    kinds = np.array([k for k, _ in MIX])
    kind = rng.choice(len(MIX), size=n, p=[p for _, p in MIX])
    types = kinds[kind]
    is_product = np.isin(types, ["product_view", "add_to_cart"])
    is_order = types == "order"
    is_campaign = np.isin(types, ["email_sent", "email_open", "email_click", "hard_bounce", "soft_bounce"])
    is_form = np.isin(types, ["subscribe", "unsubscribe"])
    numbers = np.arange(first, first + n)

    # orders: 1-3 items, each with one category, a quantity and a price; the value is their sum
    order_rows = np.flatnonzero(is_order)
    item_counts = rng.integers(1, 4, size=len(order_rows))
    all_counts = np.zeros(n, dtype=np.int64)
    all_counts[order_rows] = item_counts
    offsets = np.concatenate([[0], np.cumsum(all_counts)]).astype(np.int32)
    m = int(offsets[-1])
    quantity = rng.integers(1, 4, size=m)
    cents = rng.integers(5, 400, size=m) * 100 - rng.choice([0, 1, 10], size=m)  # 4.99, 49.90, 129.00 …
    line_cents = quantity * cents
    value_cents = np.zeros(n, dtype=np.int64)
    np.add.at(value_cents, np.repeat(np.arange(n), all_counts), line_cents)
    items = pa.StructArray.from_arrays(
        [_labels("p", rng.integers(0, PRODUCTS, size=m)), _category_lists(rng, m, 1, 1),
         pa.array(quantity, pa.int64()), _cents(cents)],
        names=["product_id", "categories", "quantity", "price"])
    return pa.table({
        "id": _labels("e", numbers),
        "contact_id": _labels("c", rng.integers(0, contacts, size=n)),
        "type": pa.array(types),
        "at": pa.array(START_US + rng.integers(0, SPAN_US, size=n), pa.timestamp("us", tz="UTC")),
        "product_id": _masked(_labels("p", rng.integers(0, PRODUCTS, size=n)), is_product),
        "categories": _category_lists(rng, n, 1, 3, is_product),
        "order_id": _masked(_labels("o", numbers), is_order),
        "value": _masked(_cents(value_cents), is_order),
        "currency": _masked(pa.array(np.full(n, "PLN")), is_order),
        "items": pa.ListArray.from_arrays(pa.array(offsets), items, mask=pa.array(~is_order)),
        "campaign_id": _masked(_labels("k", rng.integers(0, CAMPAIGNS, size=n)), is_campaign),
        "url": _masked(_labels("https://shop.example/p/", rng.integers(0, PRODUCTS, size=n)), types == "email_click"),
        "form_id": _masked(_labels("f", rng.integers(0, 3, size=n)), is_form),
    })


def _cents(cents: Any) -> Any:
    """Non-negative integer cents as exact decimal128(12, 2) amounts (4990 → 49.90).

    A decimal128 is its unscaled value as a 16-byte little-endian integer: (cents, 0) word pairs.
    """
    import numpy as np
    import pyarrow as pa

    words = np.zeros((len(cents), 2), dtype="<i8")
    words[:, 0] = cents
    return pa.Array.from_buffers(pa.decimal128(12, 2), len(cents), [None, pa.py_buffer(words.tobytes())])


def generate(path: Path, n: int, seed: int = 0) -> None:
    """Write ``n`` events to ``path`` (via ``.partial``, renamed when complete)."""
    import numpy as np
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    partial = path.with_name(path.name + ".partial")
    writer = None
    try:
        for first in range(0, n, CHUNK):
            table = chunk(rng, first, min(CHUNK, n - first), contacts=max(1, n // 20))
            if writer is None:
                writer = pq.ParquetWriter(str(partial), table.schema)
            writer.write_table(table, row_group_size=CHUNK)
    finally:
        if writer is not None:
            writer.close()
    os.replace(partial, path)


def timed(call: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def baseline_load(store: Any, records: list[dict[str, Any]]) -> tuple[float, float]:
    """The Python path: ``add_events`` of records already in memory; (wall, cpu) seconds."""
    report, wall, cpu = timed(lambda: store.add_events(records))
    assert report.added == len(records), report
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline-events", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "engagekit-bulk-load",
                        help="where the Parquet file (kept for later runs) and the stores go")
    args = parser.parse_args()

    import pyarrow.parquet as pq

    from engagekit.stores.sql.arrow_ingest import event_records
    from engagekit.stores.sql.duckdb import DuckDBStore

    args.dir.mkdir(parents=True, exist_ok=True)
    source = args.dir / f"events-{args.events}.parquet"
    if not source.exists():
        print(f"generating {args.events:,} events into {source} …", flush=True)
        _, wall, _ = timed(lambda: generate(source, args.events))
        print(f"  generated in {wall:.1f} s ({source.stat().st_size / 2**20:.0f} MiB)", flush=True)

    def fresh(name: str) -> Any:
        folder = args.dir / "stores"
        folder.mkdir(exist_ok=True)
        path = folder / f"{name}.duckdb"
        for leftover in (path, path.with_name(path.name + ".wal")):
            leftover.unlink(missing_ok=True)
        return DuckDBStore(str(path), currency="PLN")

    rows = []
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cpus",
          flush=True)
    with fresh("arrow") as store:
        report, wall, cpu = timed(lambda: store.add_events_arrow(source))
    assert report.added == args.events and not report.rejected, report
    rows.append(("add_events_arrow (Parquet path)", args.events, wall, cpu))
    print(f"  {rows[-1][0]}: {wall:.1f} s, load average {os.getloadavg()[0]:.2f}", flush=True)

    n = min(args.baseline_events, args.events)
    groups = range(-(-n // CHUNK))  # the file's row groups hold CHUNK rows each
    sliced = pq.ParquetFile(str(source)).read_row_groups(list(groups)).slice(0, n)
    with fresh("arrow-slice") as store:
        report, wall, cpu = timed(lambda: store.add_events_arrow(sliced))
    assert report.added == n, report
    rows.append(("add_events_arrow (slice, in memory)", n, wall, cpu))
    print(f"  {rows[-1][0]}: {wall:.1f} s", flush=True)
    with fresh("python") as store:
        wall, cpu = baseline_load(store, list(event_records(sliced)))
    rows.append(("add_events (baseline, records)", n, wall, cpu))
    print(f"  {rows[-1][0]}: {wall:.1f} s", flush=True)
    shutil.rmtree(args.dir / "stores", ignore_errors=True)

    baseline = rows[-1][1] / rows[-1][2]
    print(f"\nDuckDB bulk load, {args.events:,} events ({source.stat().st_size / 2**20:.0f} MiB Parquet); "
          f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'path':38} {'events':>12} {'wall s':>8} {'cpu s':>8} {'events/s':>12} {'x baseline':>11}")
    for name, count, wall, cpu in rows:
        rate = count / wall
        print(f"{name:38} {count:>12,} {wall:>8.2f} {cpu:>8.2f} {rate:>12,.0f} {rate / baseline:>10.1f}x")


if __name__ == "__main__":
    main()
