"""Benchmark (issue #9 point 9): explain latency for one contact, and preview versus two counts, per store.

The shop is ``engagekit.demo.generate`` (about 20 events per contact), loaded with
``engagekit.demo.load``. For each store:

- **explain**: ``store.explain(filter, contact_id, at=now)`` for ``--contacts`` contacts drawn with the
  seed, for each of the filters in :data:`EXPLAINED` (three filters and one saved segment whose
  filter nests another saved segment). Every call is timed on its own after one warm-up call per
  filter; the figures are the median, the 95th percentile and the slowest call, in milliseconds.
- **preview**: ``store.preview(new, against=old, at=now)`` for each pair of :data:`PREVIEWED`,
  against the baseline measured in the same run and process right before it:
  ``store.count(new, at=now) + store.count(old, at=now)``. Best of ``--repeat`` for both, summed over
  the pairs; **ratio** is preview / two counts (issue #9 asks for at most 1.5 at 1M contacts).

Every store's explanations (their text, both languages) and previews are reduced to a digest; the run
prints whether all stores agree and exits 1 if not. Each preview is also checked against the two
counts (``count == count(new)``, ``staying + leaving == count(old)``).

With ``--prepared DIR`` the shop is not generated: the SQL stores are filled with
``SQLStore.load_tables`` from the Parquet tables in ``DIR/shop-SIZE-SEED.parquet.d`` (as
``benchmarks/spark_dashboard.py`` prepares them, with ``now.txt``), and the contacts explained are
drawn from that folder's ``contacts.parquet`` (file order, the generator's); **load s** is that fill.

    python benchmarks/explain_preview.py                                  # 10k; memory, sqlite, duckdb
    python benchmarks/explain_preview.py --sizes 10000 100000
    python benchmarks/explain_preview.py --sizes 1000000 --stores sqlite duckdb --pg postgresql://…/bench
    python benchmarks/explain_preview.py --sizes 1000000 --stores sqlite --prepared /work/bench
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import statistics
import sys
import tempfile
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import best_of, timed

from engagekit import aov, city, in_segment, last, opened, ordered, spent, tag, viewed
from engagekit.demo import generate, load

CURRENCY = "PLN"
PG_SCHEMA = "engagekit_bench_explain"
STORES = ("memory", "sqlite", "duckdb", "postgres")

SEGMENT = "bench-warsaw-buyers"
NESTED = "bench-warsaw-buyers-not-recent"
SEGMENT_FILTER = ordered(within=last(days=90)) & city("Warszawa") & ~tag("vip")
NESTED_FILTER = in_segment(SEGMENT) & ~ordered(within=last(days=7))

EXPLAINED: tuple[tuple[str, Any], ...] = (
    ("buyers in Warsaw, not vip", SEGMENT_FILTER),
    ("opened or viewed bluzy", opened(within=last(days=30)) | viewed(category="bluzy", within=last(days=14))),
    ("aov and spent", aov(at_least=300) & spent(at_least=500, within=last(days=365))),
    ("saved segment (nested)", NESTED),
)
"""``(label, filter or saved segment id)`` explained for each sampled contact."""

PREVIEWED: tuple[tuple[str, Any, Any], ...] = (
    ("narrow: + city", ordered(within=last(days=90)) & city("Warszawa"), ordered(within=last(days=90))),
    ("widen the window", ordered(within=last(days=60)), ordered(within=last(days=30))),
    ("edit a saved segment", ordered(at_least=2, within=last(days=90)) & city("Warszawa") & ~tag("vip"), SEGMENT),
)
"""``(label, new filter, against: a filter or a saved segment id)``."""


def open_store(kind: str, folder: Path, pg: str | None) -> Any:
    if kind == "memory":
        from engagekit import MemoryStore

        return MemoryStore(currency=CURRENCY)
    if kind == "sqlite":
        from engagekit.stores.sql.sqlite import SQLiteStore

        return SQLiteStore(str(folder / "bench.sqlite"), currency=CURRENCY)
    if kind == "duckdb":
        from engagekit.stores.sql.duckdb import DuckDBStore

        return DuckDBStore(str(folder / "bench.duckdb"), currency=CURRENCY)
    if kind == "postgres":
        from engagekit.stores.sql.postgres import PostgresStore

        if not pg:
            raise SystemExit("postgres needs --pg DSN")
        PostgresStore(pg, currency=CURRENCY, schema=PG_SCHEMA).drop()  # a scratch schema, always fresh
        return PostgresStore(pg, currency=CURRENCY, schema=PG_SCHEMA)
    raise SystemExit(f"unknown store {kind!r}; use {', '.join(STORES)}")


def close(store: Any) -> None:
    drop = getattr(store, "drop", None)
    if drop is not None:
        drop()
    closer = getattr(store, "close", None)
    if closer is not None:
        closer()


PREPARED_TABLES = ("contacts", "contact_tags", "contact_attributes", "events", "items", "item_categories")


class Prepared:
    """A shop prepared as Parquet tables (``shop-SIZE-SEED.parquet.d`` with ``now.txt``), not generated."""

    def __init__(self, folder: Path, size: int, seed: int) -> None:
        import pyarrow.parquet as pq

        self.folder = folder / f"shop-{size}-{seed}.parquet.d"
        stamp = self.folder / "now.txt"
        if not stamp.exists():
            raise SystemExit(f"--prepared: no {stamp} (the shop is not (yet) prepared)")
        self.now = datetime.fromisoformat(stamp.read_text().strip())
        self.ids = pq.read_table(self.folder / "contacts.parquet", columns=["id"])["id"].to_pylist()

    def fill(self, store: Any) -> dict[str, int]:
        counts: dict[str, int] = store.load_tables(
            {table: str(self.folder / f"{table}.parquet") for table in PREPARED_TABLES})
        return counts


def sample(ids: list[str], k: int, seed: int) -> list[str]:
    return random.Random(seed * 101 + 9).sample(ids, min(k, len(ids)))


def run_store(kind: str, shop: Any, contacts: list[str], args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    store = open_store(kind, folder, args.pg)
    try:
        if isinstance(shop, Prepared):
            load_s, counts = timed(lambda: shop.fill(store))
            print(f"  {kind}: load_tables {load_s:.1f} s, {counts}", flush=True)
        else:
            load_s, _ = timed(lambda: (load(store, shop, batch_size=args.batch),
                                       getattr(store, "build_indexes", lambda: None)()))
        for segment_id, flt in ((SEGMENT, SEGMENT_FILTER), (NESTED, NESTED_FILTER)):
            store.create_segment(flt, id=segment_id)
        at = shop.now
        digest = hashlib.sha256()

        latencies: list[float] = []
        first: list[float] = []
        holds = 0
        for _, target in EXPLAINED:
            seconds, _ = timed(lambda t=target: store.explain(t, contacts[0], at=at))  # warm-up
            first.append(seconds)
            for cid in contacts:
                seconds, tree = timed(lambda t=target, c=cid: store.explain(t, c, at=at))
                latencies.append(seconds)
                holds += tree.holds
                digest.update(f"{cid}\n{tree.render('en')}\n{tree.render('pl')}\n".encode())

        preview_s = counts_s = 0.0
        lines = []
        for label, new, against in PREVIEWED:
            old = in_segment(against) if isinstance(against, str) else against
            c_s, (n_new, n_old) = best_of(args.repeat, lambda n=new, o=old: (store.count(n, at=at),
                                                                              store.count(o, at=at)))
            p_s, p = best_of(args.repeat, lambda n=new, a=against: store.preview(n, against=a, at=at))
            if p.count != n_new or p.staying + p.leaving != n_old or p.entering + p.staying != p.count:
                raise AssertionError(f"{kind}: preview {label!r} {p} disagrees with the counts {n_new}, {n_old}")
            preview_s += p_s
            counts_s += c_s
            lines.append(f"    {label:<22} preview {p_s * 1000:9.1f} ms   two counts {c_s * 1000:9.1f} ms   "
                         f"ratio {p_s / c_s:5.2f}   (count {p.count}, +{p.entering} -{p.leaving} ={p.staying})")
            digest.update(repr((p.count, p.entering, p.leaving, p.staying, dict(p.examples))).encode())
        return {
            "store": kind, "load": load_s, "explain_n": len(latencies), "holds": holds,
            "first_ms": max(first) * 1000,
            "median_ms": statistics.median(latencies) * 1000,
            "p95_ms": statistics.quantiles(latencies, n=20)[-1] * 1000 if len(latencies) >= 2 else latencies[0] * 1000,
            "max_ms": max(latencies) * 1000,
            "preview_ms": preview_s * 1000, "counts_ms": counts_s * 1000, "ratio": preview_s / counts_s,
            "lines": lines, "digest": digest.hexdigest()[:16],
        }
    finally:
        close(store)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000], help="contacts per shop (default 10000)")
    parser.add_argument("--stores", nargs="+", default=None, choices=STORES,
                        help="default: memory sqlite duckdb, plus postgres with --pg")
    parser.add_argument("--pg", default=None, help="DSN of a scratch PostgreSQL database "
                                                   f"(schema {PG_SCHEMA} is dropped and recreated)")
    parser.add_argument("--contacts", type=int, default=25, help="contacts explained per filter (default 25)")
    parser.add_argument("--repeat", type=int, default=3, help="preview and count runs, the best counts (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=100_000, help="events per load batch")
    parser.add_argument("--dir", type=Path, default=None, help="where database files go (default: a temp dir)")
    parser.add_argument("--prepared", type=Path, default=None, metavar="DIR",
                        help="fill the SQL stores with load_tables from DIR/shop-SIZE-SEED.parquet.d "
                             "(benchmarks/spark_dashboard.py prepares it) instead of generating and loading")
    args = parser.parse_args(argv)
    stores = args.stores or ["memory", "sqlite", "duckdb", *(["postgres"] if args.pg else [])]
    if args.prepared is not None and "memory" in stores:
        if args.stores:
            parser.error("--prepared fills SQL stores only (load_tables); leave out memory")
        stores.remove("memory")

    ok = True
    for size in args.sizes:
        shop: Any
        if args.prepared is not None:
            seconds, shop = timed(lambda n=size: Prepared(args.prepared, n, args.seed))
            ids, made = shop.ids, f"prepared in {shop.folder}"
        else:
            seconds, shop = timed(lambda n=size: generate(contacts=n, seed=args.seed))
            ids, made = [c.id for c in shop.contacts], f"shop generated in {seconds:.1f} s"
        contacts = sample(ids, args.contacts, args.seed)
        print(f"\n== {size:,} contacts ({made}; now = {shop.now.isoformat()}); "
              f"explain: {len(EXPLAINED)} filters x {len(contacts)} contacts; preview: {len(PREVIEWED)} pairs, "
              f"best of {args.repeat}")
        rows = []
        for kind in stores:
            with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
                try:
                    rows.append(run_store(kind, shop, contacts, args, Path(tmp)))
                except Exception as exc:  # one store failing must not lose the others' figures
                    traceback.print_exc()
                    rows.append({"store": kind, "error": f"{type(exc).__name__}: {exc}"})
                    ok = False
            gc.collect()
        print(f"{'store':<9} {'load s':>8} {'explain median ms':>18} {'p95 ms':>8} {'max ms':>8} {'first ms':>9} "
              f"{'preview ms':>11} {'2 counts ms':>12} {'ratio':>6}")
        for r in rows:
            if "error" in r:
                print(f"{r['store']:<9} error: {r['error']}")
                continue
            print(f"{r['store']:<9} {r['load']:8.1f} {r['median_ms']:18.2f} {r['p95_ms']:8.2f} {r['max_ms']:8.2f} "
                  f"{r['first_ms']:9.2f} {r['preview_ms']:11.1f} {r['counts_ms']:12.1f} {r['ratio']:6.2f}")
        for r in rows:
            if "lines" in r:
                print(f"  {r['store']}:")
                print("\n".join(r["lines"]))
        digests = {r["digest"] for r in rows if "digest" in r}
        agree = len(digests) <= 1
        ok = ok and agree
        per_store = ", ".join(f"{r['store']}={r.get('digest', '-')}" for r in rows)
        print(f"answers agree across stores: {'yes' if agree else 'NO'} ({per_store})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
