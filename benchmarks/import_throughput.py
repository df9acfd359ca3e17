"""Import throughput (events/s) and peak memory, CSV and Parquet, into the SQLite and DuckDB stores.

    python benchmarks/import_throughput.py                    # 50k and 200k events
    python benchmarks/import_throughput.py --sizes 200000,20000000 --stores sqlite --formats csv
    python benchmarks/import_throughput.py --sizes 100000,300000,1000000 --formats csv   # is memory flat?
    python benchmarks/import_throughput.py --large --stores sqlite --formats csv --no-baseline  # 20M (long)
    python benchmarks/import_throughput.py --sizes 20000000 --dir /big/disk --keep ...   # generate once, reuse
    ... --progress 1000000    # figures so far every 1M rows, on stderr

Each import runs in its own subprocess, so its peak resident memory (``ru_maxrss``) is its own: an
import streams in chunks, so the peak must not grow with the file's size — the summary prints each
store's peak per size and the ratio of the largest to the smallest (1.00 = flat). The acceptance is
a 20M-event CSV import under 1 GiB. Files are generated row by row straight to disk (``--dir``; a
20M-event CSV is about 2.5 GB), never in memory. The baseline is the same import into a store that
keeps nothing (reading, mapping and validating only); the ratio shows what storing costs on top.
With ``--keep`` the generated files stay in ``--dir`` (as ``events-SIZE.FORMAT``) and a later run
reuses them instead of generating them again (a file is written under ``.partial`` and renamed when
complete, so a generation cut short is never reused). ``cpu s`` is the worker's CPU time (start-up included), so ``ev/cpu s`` holds up on a busy machine
where wall-clock events/s also measure the neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HEADER = ["id", "contact_id", "type", "at", "product_id", "categories", "order_id", "value", "currency",
          "items", "campaign_id", "url", "form_id"]
CONTACTS = 10_000


def event_row(i: int) -> list[str]:
    """A deterministic mix: 60% product views, 25% opens, 15% orders with one item."""
    contact = f"c{i % CONTACTS:05d}"
    at = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00+00:00"
    kind = i % 20
    if kind < 12:
        return [f"e{i}", contact, "product_view", at, f"p{i % 500}", '["bluzy"]', "", "", "", "", "", "", ""]
    if kind < 17:
        return [f"e{i}", contact, "email_open", at, "", "", "", "", "", "", f"k{i % 40}", "", ""]
    items = f'[{{"product_id": "p{i % 500}", "categories": ["bluzy"], "quantity": 1, "price": "49.90"}}]'
    return [f"e{i}", contact, "order", at, "", "", f"o{i}", "49.90", "PLN", items, "", "", ""]


def write_csv(path: Path, n: int) -> None:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for i in range(n):
            writer.writerow(event_row(i))


def write_parquet(path: Path, n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, pa.string()) for name in HEADER])
    with pq.ParquetWriter(str(path), schema) as writer:
        for start in range(0, n, 100_000):
            rows = [event_row(i) for i in range(start, min(n, start + 100_000))]
            columns = {name: [r[j] or None for r in rows] for j, name in enumerate(HEADER)}
            writer.write_table(pa.Table.from_pydict(columns, schema=schema))


class NullStore:
    """Keeps nothing: the baseline (reading, mapping and validating only)."""

    currency = "PLN"

    def add_events(self, events, *, on_invalid="raise"):
        from engagekit import LoadReport

        return LoadReport(added=len(list(events)))

    def add_contacts(self, contacts, *, on_invalid="raise"):
        from engagekit import LoadReport

        return LoadReport(added=len(list(contacts)))


def make_store(kind: str, folder: Path):
    if kind == "null":
        return NullStore()
    if kind == "sqlite":
        from engagekit.stores.sql.sqlite import SQLiteStore

        return SQLiteStore(str(folder / "bench.sqlite"), currency="PLN")
    if kind == "duckdb":
        from engagekit.stores.sql.duckdb import DuckDBStore

        return DuckDBStore(str(folder / "bench.duckdb"), currency="PLN")
    raise SystemExit(f"unknown store {kind!r}")


def worker(kind: str, source: str, chunk_size: int, progress: int = 0) -> None:
    """One import in this process; prints a JSON line with the figures (and, every ``progress``
    rows, a line on stderr with the figures so far: a long run cut short still says something)."""
    from engagekit.io import import_events

    # the store goes next to the source file: a 20M-event store is several GB, more than /tmp may hold
    with tempfile.TemporaryDirectory(dir=Path(source).parent) as folder:
        store = make_store(kind, Path(folder))
        start = time.perf_counter()
        shown = [0]

        def tick(report: Any) -> None:
            if progress and report.rows - shown[0] >= progress:
                shown[0] = report.rows
                usage = resource.getrusage(resource.RUSAGE_SELF)
                print(f"#   {kind}: {report.rows:,} rows, {time.perf_counter() - start:,.0f} s, "
                      f"cpu {usage.ru_utime + usage.ru_stime:,.0f} s, peak {usage.ru_maxrss / 1024:,.0f} MiB, "
                      f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)

        report = import_events(store, source, chunk_size=chunk_size, on_chunk=tick)
        seconds = time.perf_counter() - start
        close = getattr(store, "close", None)
        if callable(close):
            close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU seconds as well as wall seconds: on a shared machine the wall clock measures the neighbours too
    print(json.dumps({"added": report.added, "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
                      "peak_mib": usage.ru_maxrss / 1024}))  # ru_maxrss is in KiB on Linux


def run(kind: str, source: Path, chunk_size: int, progress: int = 0) -> dict[str, float] | str:
    command = [sys.executable, __file__, "--worker", kind, str(source), "--chunk-size", str(chunk_size),
               "--progress", str(progress)]
    # with progress, the worker's stderr goes straight to ours (its last line still names a failure)
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=None if progress else subprocess.PIPE,
                          text=True, check=False)
    if done.returncode != 0:
        lines = ((done.stderr or "").strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()
        return lines[-1][:100]
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50000,200000", help="comma-separated event counts")
    parser.add_argument("--large", action="store_true", help="sizes 200000 and 20000000")
    parser.add_argument("--stores", default="sqlite,duckdb")
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--dir", default=None, help="where to write the generated files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated files in --dir and reuse them when they are already there")
    parser.add_argument("--progress", type=int, default=0, metavar="ROWS",
                        help="every ROWS rows, print the figures so far on stderr (for long runs)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the store that keeps nothing")
    parser.add_argument("--worker", nargs=2, metavar=("STORE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.chunk_size, args.progress)
        return
    sizes = [200_000, 20_000_000] if args.large else [int(s) for s in args.sizes.split(",")]
    stores = [*([] if args.no_baseline else ["null"]), *args.stores.split(",")]
    formats = args.formats.split(",")
    if args.keep and not args.dir:
        parser.error("--keep needs --dir (where the files are kept)")
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        folder = args.dir if args.keep else scratch
        print(f"{'format':8} {'store':7} {'events':>11} {'seconds':>9} {'events/s':>10} {'vs null':>8} "
              f"{'cpu s':>8} {'ev/cpu s':>9} {'peak MiB':>9}")
        peaks: dict[tuple[str, str], list[float]] = {}
        for fmt in formats:
            for size in sizes:
                source = Path(folder) / f"events-{size}.{fmt}"
                if args.keep and source.exists():
                    print(f"# {source.name}: {source.stat().st_size / 2**20:,.0f} MiB, reused", flush=True)
                else:
                    started = time.perf_counter()
                    partial = source.with_name(source.name + ".partial")
                    (write_csv if fmt == "csv" else write_parquet)(partial, size)
                    partial.rename(source)
                    print(f"# {source.name}: {source.stat().st_size / 2**20:,.0f} MiB written in "
                          f"{time.perf_counter() - started:.0f} s", flush=True)
                baseline = None
                for kind in stores:
                    result = run(kind, source, args.chunk_size, args.progress)
                    if isinstance(result, str):
                        print(f"{fmt:8} {kind:7} {size:>11,} unavailable: {result}")
                        continue
                    rate = result["added"] / result["seconds"]
                    if kind == "null":
                        baseline = rate
                    ratio = f"{rate / baseline:7.2f}x" if baseline else "       -"
                    print(f"{fmt:8} {kind:7} {int(result['added']):>11,} {result['seconds']:>9.1f} {rate:>10,.0f} "
                          f"{ratio} {result['cpu']:>8.1f} {result['added'] / result['cpu']:>9,.0f} "
                          f"{result['peak_mib']:>9.0f}", flush=True)
                    peaks.setdefault((fmt, kind), []).append(result["peak_mib"])
                if not args.keep:
                    os.unlink(source)
        if len(sizes) > 1:
            print(f"\npeak RSS in MiB per size; ratio {sizes[-1]:,} vs {sizes[0]:,} events (1.00 = flat):")
            print(f"  {'format':8} {'store':7} " + " ".join(f"{size:>11,}" for size in sizes) + "   ratio")
            for (fmt, kind), values in peaks.items():
                if len(values) == len(sizes):
                    print(f"  {fmt:8} {kind:7} " + " ".join(f"{v:>11.0f}" for v in values)
                          + f"   {values[-1] / values[0]:.2f}")


if __name__ == "__main__":
    main()
