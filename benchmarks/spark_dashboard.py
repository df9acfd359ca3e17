"""Benchmark: the seed dashboard on local Spark (SparkStore) beside DuckDBStore, in one run.

For each size, the generated shop (``engagekit.demo.generate``, ~20 events per contact) is loaded
into a DuckDBStore file, whose tables are then copied to Parquet (DuckDB's ``COPY … TO``). The
seed dashboard — ``engagement()`` for the four views and ``metrics()`` of the six seed segments —
runs on DuckDB (the baseline), then, for each ``--cores`` value, in a fresh worker process with its
own ``SparkSession`` (``local[N]``), on a SparkStore bulk-loaded from those Parquet files
(``SparkStore.load_tables``: no row passes through Python). Every answer is reduced to the digest
of ``seed_dashboard.py``; the run checks that all agree.

Columns: **load** (DuckDB: ``demo.load``, generation included; Spark: ``load_tables`` from
Parquet), **first** (the first dashboard, cold: plans, code generation, file listing), **best**
(best of ``--repeat`` further runs; DuckDB's load of a ``--tile`` shop is the tiling and its
``load_tables``), **vs duckdb** (first / DuckDB's first, measured in the same
run). The ratio compares first runs because DuckDB's repeats may answer the dashboard views from
its per-contact grid cache (reused while nothing is written); SparkStore keeps no such cache.
Shops and their Parquet copies are kept in ``--dir`` and reused by later runs with the same size
and seed, so a scale series pays for generation once.

    python benchmarks/spark_dashboard.py --sizes 10000                     # local[1], local[2]
    python benchmarks/spark_dashboard.py --sizes 1000000 10000000 --cores 1 2 4 8 --dir /data/ek
    python benchmarks/spark_dashboard.py --sizes 1000000 --tile 10 --dir /data/ek   # 10M: ten copies of 1M
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, timed
from seed_dashboard import digest  # the canonical answer of the seed dashboard

from engagekit.reports import STATES

CURRENCY = "PLN"
TIMEFRAME = timedelta(days=180)
LOAD_TABLES = ("contacts", "contact_tags", "contact_attributes", "events", "items", "item_categories")


def answer_digest(result: tuple[Any, Any]) -> str:
    """The digest of one ``seed_dashboard`` answer (as ``seed_dashboard.store_digest`` makes it)."""
    dashboards, segments = result
    views = {d.view: {"counts": {s: d.groups[s].count for s in STATES},
                      "before": {s: d.groups[s].count_before for s in STATES},
                      "flows": dict(d.flows),
                      "metrics": {s: d.groups[s].metrics for s in STATES}} for d in dashboards}
    return digest(views, [m for _, m in segments])


def to_parquet(conn: Any, table: str, path: Path) -> None:
    """One DuckDB table to a Parquet file, streamed in Arrow record batches."""
    import pyarrow.parquet as pq

    relation = conn.sql(f"SELECT * FROM {table}")  # a table name of ours
    # DuckDB 2 names it to_arrow_reader, DuckDB 1 record_batch
    reader = (getattr(relation, "to_arrow_reader", None) or relation.record_batch)(500_000)
    with pq.ParquetWriter(str(path), reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)


# --- the shop: a DuckDB file and its tables as Parquet ----------------------------------------------

def remove(*paths: Path) -> None:
    """Delete what a shop build cut short left behind (a file or a folder)."""
    for stale in paths:
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()


def table_files(parquet: Path) -> dict[str, str]:
    """The shop's Parquet file of each table ``load_tables`` takes."""
    return {table: str(parquet / f"{table}.parquet") for table in LOAD_TABLES}


def prepare(size: int, seed: int, folder: Path) -> tuple[Path, Path, datetime, float | None]:
    """The DuckDB file and Parquet folder of one shop (made once); its ``now``; the load time if made now."""
    from engagekit.demo import generate, load
    from engagekit.stores.sql.duckdb import DuckDBStore

    db_path = folder / f"shop-{size}-{seed}.duckdb"
    parquet = folder / f"shop-{size}-{seed}.parquet.d"
    stamp = parquet / "now.txt"
    if db_path.exists() and stamp.exists():
        return db_path, parquet, datetime.fromisoformat(stamp.read_text().strip()), None
    remove(db_path, parquet)
    started = time.perf_counter()
    shop = generate(contacts=size, seed=seed)
    with DuckDBStore(str(db_path), currency=CURRENCY) as store:
        load(store, shop, batch_size=100_000)
        loaded = time.perf_counter() - started
        parquet.mkdir(parents=True)
        for table in LOAD_TABLES:
            to_parquet(store._db.conn, table, parquet / f"{table}.parquet")
    stamp.write_text(shop.now.isoformat())
    return db_path, parquet, shop.now, loaded


def duckdb_run(db_path: Path, now: datetime, repeat: int) -> dict[str, Any]:
    from engagekit.demo import seed_dashboard
    from engagekit.stores.sql.duckdb import DuckDBStore

    with DuckDBStore(str(db_path), currency=CURRENCY) as store:
        events = int(store._db.execute("SELECT COUNT(*) FROM events")[0][0])
        first, _ = timed(lambda: seed_dashboard(store, now, timeframe=TIMEFRAME))
        best, answer = best_of(repeat, lambda: seed_dashboard(store, now, timeframe=TIMEFRAME))
        return {"events": events, "first": first, "best": best, "digest": answer_digest(answer)}


# columns holding ids that are unique per contact (or per event): suffixed with the tile's number
TILED_IDS = {"contacts": ("id",), "contact_tags": ("contact_id",), "contact_attributes": ("contact_id",),
             "events": ("id", "contact_id", "order_id"), "items": ("event_id", "contact_id"),
             "item_categories": ("event_id", "contact_id")}


def sql_string(text: str) -> str:
    """A SQL string literal (DuckDB's COPY takes no bound file names; these are our own paths)."""
    return "'" + text.replace("'", "''") + "'"


def tile(size: int, seed: int, times: int, folder: Path) -> tuple[Path, Path, datetime, float | None]:
    """The shop of ``size`` contacts repeated ``times`` times (ids suffixed ``~0`` … ``~{times-1}``).

    Generating 10M contacts takes hours in Python; ten copies of the 1M shop take minutes in DuckDB
    and are as big. Every contact keeps its events, products and campaigns, so counts and flows are
    ``times`` the base shop's and averages stay the same: a check on the engines as well as a load.
    """
    import duckdb

    from engagekit.stores.sql.duckdb import DuckDBStore
    from engagekit.stores.sql.schema import TABLES

    _, base, now, _ = prepare(size, seed, folder)
    db_path = folder / f"shop-{size}x{times}-{seed}.duckdb"
    parquet = folder / f"shop-{size}x{times}-{seed}.parquet.d"
    stamp = parquet / "now.txt"
    if db_path.exists() and stamp.exists():
        return db_path, parquet, now, None
    remove(db_path, parquet)
    started = time.perf_counter()
    parquet.mkdir(parents=True)
    conn = duckdb.connect()
    for table in LOAD_TABLES:
        columns = ", ".join(f"{name} || '~' || k AS {name}" if name in TILED_IDS[table] else name
                            for name, _ in TABLES[table])
        source, target = sql_string(str(base / f"{table}.parquet")), sql_string(str(parquet / f"{table}.parquet"))
        conn.execute(f"COPY (SELECT {columns} FROM range({int(times)}) AS tiles(k), read_parquet({source})) "
                     f"TO {target} (FORMAT parquet)")
    conn.close()
    with DuckDBStore(str(db_path), currency=CURRENCY) as store:
        store.load_tables(table_files(parquet))
    stamp.write_text(now.isoformat())
    return db_path, parquet, now, time.perf_counter() - started


# --- one Spark worker -------------------------------------------------------------------------------

def spark_worker(parquet: Path, now: datetime, cores: int, repeat: int, shuffle: int | None,
                 driver_memory: str) -> dict[str, Any]:
    from pyspark.sql import SparkSession

    from engagekit.demo import seed_dashboard
    from engagekit.stores.spark import SparkStore

    warehouse = tempfile.mkdtemp(prefix="engagekit-spark-bench-", dir=parquet.parent)
    started = time.perf_counter()
    spark = (SparkSession.builder.master(f"local[{cores}]").appName("engagekit-spark-dashboard")
             .config("spark.ui.enabled", "false")
             .config("spark.driver.memory", driver_memory)
             .config("spark.sql.shuffle.partitions", str(shuffle or 2 * cores))
             .config("spark.sql.warehouse.dir", warehouse)
             .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={warehouse}")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    session = time.perf_counter() - started
    try:
        store = SparkStore(spark, database="bench", currency=CURRENCY)
        load, _ = timed(lambda: store.load_tables(table_files(parquet)))
        first, _ = timed(lambda: seed_dashboard(store, now, timeframe=TIMEFRAME))
        best, answer = best_of(repeat, lambda: seed_dashboard(store, now, timeframe=TIMEFRAME))
        return {"session": session, "load": load, "first": first, "best": best, "digest": answer_digest(answer)}
    finally:
        spark.stop()
        shutil.rmtree(warehouse, ignore_errors=True)


def run_worker(parquet: Path, now: datetime, cores: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", str(parquet), "--now", now.isoformat(), "--cores",
               str(cores), "--repeat", str(args.repeat), "--driver-memory", args.driver_memory]
    if args.shuffle:
        command += ["--shuffle", str(args.shuffle)]
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}: {' | '.join(tail)}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --- the report -------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000], help="contacts per shop")
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2], help="local[N] for each Spark worker")
    parser.add_argument("--repeat", type=int, default=2, help="dashboard runs after the first; the best counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tile", type=int, default=1,
                        help="run on each shop repeated N times (ids suffixed ~k): 1000000 --tile 10 is 10M contacts")
    parser.add_argument("--dir", type=Path, default=None, help="where shops and Parquet copies are kept")
    parser.add_argument("--shuffle", type=int, default=None, help="spark.sql.shuffle.partitions (default 2 x cores)")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds before a Spark worker is given up")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--now", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker is not None:
        now = datetime.fromisoformat(args.now)
        print(json.dumps(spark_worker(args.worker, now, args.cores[0], args.repeat, args.shuffle,
                                      args.driver_memory)))
        return

    folder = args.dir or Path(tempfile.gettempdir()) / "engagekit-spark-bench"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"seed dashboard (4 views + 6 segment metrics); cpu count {os.cpu_count()}; repeat {args.repeat}; "
          f"shops in {folder}", flush=True)
    header = f"{'contacts':>10} {'events':>11}  {'store':<14} {'load s':>8} {'first s':>8} {'best s':>8} {'vs duckdb':>9}"
    print(header, flush=True)
    for base_size in args.sizes:
        size = base_size * args.tile
        if args.tile > 1:
            db_path, parquet, now, loaded = tile(base_size, args.seed, args.tile, folder)
        else:
            db_path, parquet, now, loaded = prepare(base_size, args.seed, folder)
        duck = duckdb_run(db_path, now, args.repeat)
        load_text = f"{loaded:8.2f}" if loaded is not None else f"{'(reused)':>8}"
        line = (f"{size:>10,} {duck['events']:>11,}  {'duckdb':<14} {load_text} {duck['first']:8.3f} "
                f"{duck['best']:8.3f} {1.0:9.2f}")
        print(line, flush=True)
        for cores in args.cores:
            got = run_worker(parquet, now, cores, args)
            name = f"spark local[{cores}]"
            if "error" in got:
                line = f"{size:>10,} {duck['events']:>11,}  {name:<14} error: {got['error']}"
            else:
                agree = "" if got["digest"] == duck["digest"] else "  DIFFERENT ANSWER"
                line = (f"{size:>10,} {duck['events']:>11,}  {name:<14} {got['load']:8.2f} {got['first']:8.3f} "
                        f"{got['best']:8.3f} {got['first'] / duck['first']:9.2f}{agree}")
            print(line, flush=True)
    print("\nload: DuckDB = generate + demo.load (100k-event batches); Spark = load_tables from Parquet. "
          "first = cold dashboard; best = best of the repeats; vs duckdb = first / DuckDB's first.")


if __name__ == "__main__":
    main()
