"""Benchmark: SPEC §10 campaign results for ~200 campaigns, per store, beside hand-written DuckDB SQL.

The shop is ``engagekit.demo.generate`` (weekly newsletters over two years) plus targeted campaigns
generated here — each sent to a random 2-4 % of the contacts, with opens, clicks, orders soon after
clicks, bounces, unsubscribes and complaints — until the shop holds ``--campaigns`` campaigns.

For each store, ``store.campaign_results(at=now)`` (every campaign, default window and touch) is
timed (best of ``--repeat``). The baseline is the same computation written by hand for DuckDB, the
way one would with DuckDB's own dialect (``SEMI JOIN``, ``FILTER``, ``bool_or``, ``arg_max`` for
"the latest click, larger campaign id at equal instants", ``GROUP BY ALL``), run over the DuckDB
store's own tables through the same connection, alternating with the store so that both see the
same machine. Every
store's answer, and the baseline's, must be identical to the last digit; the run exits 1 if not.

    python benchmarks/campaign_results.py                          # 10k and 100k; memory, sqlite, duckdb
    python benchmarks/campaign_results.py --sizes 10000
    python benchmarks/campaign_results.py --sizes 1000000 --stores duckdb
    python benchmarks/campaign_results.py --sizes 100000 --pg postgresql://…/bench   # + PostgresStore
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from _common import best_of

from engagekit import Event
from engagekit.campaigns import CampaignTotals
from engagekit.demo import Shop, generate, load
from engagekit.time import to_micros

CURRENCY = "PLN"
WINDOW = timedelta(days=5)


# --- targeted campaigns ------------------------------------------------------------------------------


def targeted_events(shop: Shop, count: int, seed: int) -> Iterator[list[Event]]:
    """``count`` campaigns over the last year, each to 2-4 % of the contacts existing at send time."""
    rng = random.Random(seed * 31 + 7)
    for k in range(count):
        sent_at = shop.now - timedelta(days=365) + timedelta(seconds=rng.randrange(0, 360 * 86_400))
        yield one_campaign(rng, shop, f"seg-{k:03d}", sent_at, rng.uniform(0.02, 0.04))


def one_campaign(rng: random.Random, shop: Shop, campaign: str, sent_at: datetime, share: float) -> list[Event]:
    batch: list[Event] = []

    def add(kind: str, who: str, at: datetime, **fields: Any) -> None:
        if at <= shop.now:
            batch.append(Event(id=f"{campaign}-{len(batch)}", contact_id=who, type=kind, at=at, **fields))

    for person in shop.contacts:
        if person.created_at > sent_at or rng.random() >= share:
            continue
        at = sent_at + timedelta(seconds=rng.randrange(0, 1800))
        add("email_sent", person.id, at, campaign_id=campaign)
        roll = rng.random()
        if roll < 0.01:
            add("soft_bounce", person.id, at + timedelta(seconds=30), campaign_id=campaign)
            continue
        if roll < 0.0105:
            add("spam_complaint", person.id, at + timedelta(hours=3), campaign_id=campaign)
        if rng.random() < 0.004:
            add("unsubscribe", person.id, at + timedelta(seconds=rng.randrange(60, 6 * 86_400)))
        if rng.random() >= 0.35:
            continue
        opened = at + timedelta(seconds=int(rng.expovariate(1 / 10_000)))
        add("email_open", person.id, opened, campaign_id=campaign)
        if rng.random() >= 0.3:
            continue
        clicked = opened + timedelta(seconds=rng.randrange(5, 120))
        add("email_click", person.id, clicked, campaign_id=campaign)
        if rng.random() < 0.2:
            ordered = clicked + timedelta(seconds=rng.randrange(60, 4 * 86_400))
            add("order", person.id, ordered, order_id=f"{campaign}-o{len(batch)}", currency=CURRENCY,
                value=Decimal(rng.randrange(4_900, 59_900)).scaleb(-2))
    return batch


# --- the hand-written baseline -----------------------------------------------------------------------

BASELINE = """
WITH ev AS (
    SELECT e.id, e.contact_id, e.type, e.at_us, e.campaign_id, e.value_minor
    FROM events e SEMI JOIN contacts c ON c.id = e.contact_id AND c.created_us <= $at
    WHERE e.at_us <= $at
      AND e.type IN ('email_sent', 'email_open', 'email_click', 'hard_bounce', 'soft_bounce',
                     'spam_complaint', 'order', 'unsubscribe')
),
per_contact AS (
    SELECT campaign_id, contact_id,
           min(at_us) FILTER (type = 'email_sent') AS first_sent,
           bool_or(type IN ('hard_bounce', 'soft_bounce')) AS bounced,
           bool_or(type IN ('email_open', 'email_click')) AS opened,
           bool_or(type = 'email_click') AS clicked,
           bool_or(type = 'spam_complaint') AS complained
    FROM ev WHERE campaign_id IS NOT NULL GROUP BY ALL
),
unsubscribed AS (
    SELECT p.campaign_id, count(*) AS unsubscribed
    FROM per_contact p SEMI JOIN (FROM ev WHERE type = 'unsubscribe') u
      ON u.contact_id = p.contact_id AND u.at_us > p.first_sent AND u.at_us <= p.first_sent + $window
    GROUP BY ALL
),
per_campaign AS (
    SELECT campaign_id, count(first_sent) AS sent, count(*) FILTER (bounced) AS bounced,
           count(*) FILTER (opened) AS opened, count(*) FILTER (clicked) AS clicked,
           count(*) FILTER (complained) AS complaints
    FROM per_contact GROUP BY ALL
),
attributed AS (  -- each order to the latest click in (order.at - window, order.at]; ties: larger id
    SELECT campaign, count(*) AS orders, sum(value_minor) AS revenue, count(DISTINCT contact_id) AS converted
    FROM (SELECT o.id, any_value(o.contact_id) AS contact_id, any_value(o.value_minor) AS value_minor,
                 arg_max(t.campaign_id, (t.at_us, t.campaign_id)) AS campaign
          FROM (FROM ev WHERE type = 'order') o
          JOIN (FROM ev WHERE type = 'email_click') t
            ON t.contact_id = o.contact_id AND t.at_us <= o.at_us AND t.at_us > o.at_us - $window
          GROUP BY o.id)
    GROUP BY ALL
)
SELECT p.campaign_id, p.sent, p.bounced, p.opened, p.clicked, coalesce(a.orders, 0), coalesce(a.revenue, 0),
       coalesce(a.converted, 0), coalesce(u.unsubscribed, 0), p.complaints
FROM per_campaign p LEFT JOIN attributed a ON a.campaign = p.campaign_id LEFT JOIN unsubscribed u USING (campaign_id)
ORDER BY p.campaign_id
"""


def baseline(conn: Any, at_us: int) -> list[CampaignTotals]:
    rows = conn.execute(BASELINE, {"at": at_us, "window": WINDOW // timedelta(microseconds=1)}).fetchall()
    return [CampaignTotals(r[0], *map(int, r[1:])) for r in rows]


# --- stores ------------------------------------------------------------------------------------------


def make_store(kind: str, folder: Path, pg: str | None) -> Any:
    if kind == "memory":
        from engagekit.stores.memory import MemoryStore

        return MemoryStore(currency=CURRENCY)
    if kind == "sqlite":
        from engagekit.stores.sql.sqlite import SQLiteStore

        return SQLiteStore(str(folder / "bench.sqlite"), currency=CURRENCY)
    if kind == "duckdb":
        from engagekit.stores.sql.duckdb import DuckDBStore

        return DuckDBStore(str(folder / "bench.duckdb"), currency=CURRENCY)
    if kind == "postgres":
        from engagekit.stores.sql.postgres import PostgresStore

        return PostgresStore(pg, currency=CURRENCY, schema="engagekit_bench_campaigns")
    raise SystemExit(f"unknown store {kind!r}")


def run_size(size: int, stores: list[str], campaigns: int, repeat: int, seed: int, pg: str | None,
             folder: Path) -> bool:
    started = time.perf_counter()
    shop = generate(size, seed=seed)
    newsletters = len({e.campaign_id for batch in shop.event_batches(200_000) for e in batch
                       if e.campaign_id is not None})
    extra = list(targeted_events(shop, max(0, campaigns - newsletters), seed))
    n_extra = sum(len(b) for b in extra)
    print(f"\n## {size:,} contacts: {newsletters} newsletters + {len(extra)} targeted campaigns "
          f"({n_extra:,} targeted-campaign events); shop generated in {time.perf_counter() - started:.1f} s")
    at_us = to_micros(shop.now)
    answers: dict[str, list[CampaignTotals]] = {}
    rows: list[tuple[str, float, float, float | None]] = []
    base_time: float | None = None
    for kind in (*[s for s in stores if s == "duckdb"], *[s for s in stores if s != "duckdb"]):
        store = make_store(kind, folder, pg)
        try:
            t0 = time.perf_counter()
            load(store, shop, batch_size=100_000)
            for batch in extra:
                store.add_events(batch)
            load_s = time.perf_counter() - t0
            if kind == "duckdb":  # alternate store and baseline, so both see the same machine
                seconds = base = float("inf")
                for _ in range(repeat):
                    one, results = best_of(1, lambda store=store: store.campaign_results(at=shop.now))
                    other, answers["duckdb SQL by hand"] = best_of(1, lambda store=store: baseline(
                        store._db.conn, at_us))
                    seconds, base = min(seconds, one), min(base, other)
                base_time = base
            else:
                seconds, results = best_of(repeat, lambda store=store: store.campaign_results(at=shop.now))
            answers[kind] = [r.totals() for r in results]
            rows.append((kind, load_s, seconds, None))
        finally:
            for name in ("drop", "close"):
                method = getattr(store, name, None)
                if callable(method) and (name == "close" or kind == "postgres"):
                    method()
    print(f"{'store':<20} {'load s':>9} {'results s':>10} {'vs DuckDB SQL':>14}")
    for kind, load_s, seconds, _ in rows:
        ratio = f"{seconds / base_time:.2f}x" if base_time else "n/a"
        print(f"{kind:<20} {load_s:>9.2f} {seconds:>10.3f} {ratio:>14}")
    if base_time is not None:
        print(f"{'duckdb SQL by hand':<20} {'':>9} {base_time:>10.3f} {'1.00x':>14}")
    first = next(iter(answers.values()), [])
    agree = all(a == first for a in answers.values())
    print(f"campaigns: {len(first)}; all answers identical: {agree}")
    if not agree:
        for name, answer in answers.items():
            diff = [(x, y) for x, y in zip(answer, first, strict=False) if x != y][:3]
            print(f"  {name}: {len(answer)} rows; first differences: {diff}")
    return agree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--stores", nargs="+", default=["memory", "sqlite", "duckdb"])
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pg", help="a scratch PostgreSQL DSN (adds the postgres store)")
    parser.add_argument("--dir", help="where database files go (default: a temporary directory)")
    args = parser.parse_args(argv)
    stores = list(args.stores)
    if args.pg and "postgres" not in stores:
        stores.append("postgres")
    if "duckdb" not in stores:
        stores.insert(0, "duckdb")  # the baseline runs over the DuckDB store's tables
    ok = True
    for size in args.sizes:
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            ok &= run_size(size, stores, args.campaigns, args.repeat, args.seed, args.pg, Path(folder))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
