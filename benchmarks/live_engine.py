"""Events per second through the live engine (issue #4), with a store-only baseline.

A generated shop (``--contacts``, default 100,000; about 20 events per contact over two years) is
split at ``now - --days``: the history before goes into a MemoryStore, the six seed segments are
saved, and a LiveEngine starts there with the three engagement classes. The rest of the events,
sorted by time, go through ``engine.add_events`` in chunks, each followed by ``engine.advance`` to
the chunk's last instant (so every expiry in between is applied and logged). Printed:

- engine start (reading the history, baseline members, the schedule);
- events/s through the engine (store ingestion included) and, as the baseline in the same process,
  events/s of ``store.add_events`` alone on a copy of the same store;
- memory per contact of the engine's state (columns, schedule, member sets);
- the cost of ``advance`` over one day with no new events (expiries only).

Run: ``.venv/bin/python benchmarks/live_engine.py [--contacts N] [--days D] [--chunk K]``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from datetime import timedelta
from typing import Any

from engagekit import LiveEngine, MemoryStore
from engagekit.demo import SEED_SEGMENTS, generate
from engagekit.live.evaluate import ContactState


def deep_size(engine: LiveEngine) -> int:
    """Bytes held by the engine's own state (not the store's)."""
    total = sys.getsizeof(engine._states) + sys.getsizeof(engine._heap)
    total += sum(sys.getsizeof(entry) for entry in engine._heap)
    for st in engine._states.values():
        total += _state_size(st)
    for slot in engine._slots:
        if slot is not None:
            total += sum(sys.getsizeof(group) for group in slot.members)
    return total


def _state_size(st: ContactState) -> int:
    size = sys.getsizeof(st) + sys.getsizeof(st.lists) + sys.getsizeof(st.due)
    size += sum(sys.getsizeof(column) for column in st.lists if column is not None)
    if st.values is not None:
        size += sys.getsizeof(st.values)  # the Decimals are shared with the events
    if st.cache is not None:
        size += sys.getsizeof(st.cache)
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=180, help="stream the last DAYS days through the engine")
    parser.add_argument("--chunk", type=int, default=5_000, help="events per add_events call")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    t = time.perf_counter()
    shop = generate(contacts=args.contacts, seed=args.seed)
    split = shop.now - timedelta(days=args.days)
    store = MemoryStore(currency="PLN")
    baseline_store = MemoryStore(currency="PLN")
    store.add_contacts(shop.contacts)
    baseline_store.add_contacts(shop.contacts)
    stream: list[Any] = []
    history = 0
    for batch in shop.event_batches():
        old = [e for e in batch if e.at < split]
        stream.extend(e for e in batch if e.at >= split)
        store.add_events(old)
        baseline_store.add_events(old)
        history += len(old)
    stream.sort(key=lambda e: (e.at, e.id))
    for flt in SEED_SEGMENTS:
        store.create_segment(flt)
    print(f"shop: {args.contacts:,} contacts, {history:,} events of history, {len(stream):,} events to stream "
          f"(the last {args.days} days); prepared in {time.perf_counter() - t:.1f} s")

    gc.collect()
    t = time.perf_counter()
    engine = LiveEngine(store, start=split)
    started = time.perf_counter() - t
    print(f"engine start: {started:.1f} s (history read back, baseline members, schedule)")

    chunks = [stream[i:i + args.chunk] for i in range(0, len(stream), args.chunk)]
    gc.collect()
    t = time.perf_counter()
    for chunk in chunks:
        engine.add_events(chunk)
        engine.advance(to=chunk[-1].at)
    engine_s = time.perf_counter() - t
    t = time.perf_counter()
    for chunk in chunks:
        baseline_store.add_events(chunk)
    baseline_s = time.perf_counter() - t
    rate, base = len(stream) / engine_s, len(stream) / baseline_s
    print(f"engine:   {rate:>10,.0f} events/s ({engine_s:.1f} s, store ingestion included, chunks of {args.chunk:,})")
    print(f"baseline: {base:>10,.0f} events/s (store.add_events alone)  ratio engine/baseline: {rate / base:.2f}")
    entries = sum(len(store.log(s.id)) for s in store.segments())
    print(f"log: {entries:,} entries over {len(store.segments())} segments")

    size = deep_size(engine)
    print(f"memory: {size / len(engine._states):,.0f} bytes per contact of engine state "
          f"({size / 2**20:,.0f} MiB for {len(engine._states):,} contacts; "
          f"{sum(len(c) for st in engine._states.values() for c in st.lists if c is not None):,} column entries, "
          f"{len(engine._heap):,} heap entries)")

    before = sum(len(store.log(s.id)) for s in store.segments())
    t = time.perf_counter()
    engine.advance(to=engine.now + timedelta(days=1))
    day_s = time.perf_counter() - t
    changes = sum(len(store.log(s.id)) for s in store.segments()) - before
    print(f"advance over one day of expiries: {day_s * 1000:,.0f} ms, {changes:,} logged changes")


if __name__ == "__main__":
    main()
