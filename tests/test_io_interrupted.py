"""An import killed mid-file (SIGKILL, in a subprocess) leaves whole chunks only; a re-run stores every event once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engagekit import Contact, everyone
from engagekit.io import import_events
from tests.stores import unavailable

NOW = "2026-06-30T12:00:00+00:00"
EVENTS = 12_000
CHUNK = 500
HEADER = "id,contact_id,type,at,product_id,categories,order_id,value,currency,items,campaign_id,url,form_id"

WORKER = textwrap.dedent("""
    import os, sys, time
    from engagekit.stores.sql.sqlite import SQLiteStore
    from engagekit.io import import_events

    db, source, progress, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = SQLiteStore(db, currency="PLN")

    def on_chunk(report):
        with open(progress, "a") as handle:
            handle.write(f"{report.chunks} {report.added}\\n")
            handle.flush()
            os.fsync(handle.fileno())
        time.sleep(0.02)  # leave the test time to kill us mid-file

    import_events(store, source, chunk_size=chunk, on_chunk=on_chunk)
    with open(progress, "a") as handle:
        handle.write("done\\n")
""")


def sqlite_store(path: Path):
    try:
        from engagekit.stores.sql.sqlite import SQLiteStore
    except ImportError as exc:
        unavailable(f"sqlite store: {exc}")
    return SQLiteStore(str(path), currency="PLN")


def orders(path: Path) -> int:
    store = sqlite_store(path)
    try:
        return store.metrics(everyone(), at=NOW).orders
    finally:
        store.close()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_import_leaves_whole_chunks_and_a_rerun_completes(tmp_path):
    db = tmp_path / "shop.sqlite"
    store = sqlite_store(db)
    store.add_contacts([Contact(id=f"c{i}", created_at="2026-01-01T00:00:00+00:00") for i in range(10)])
    store.close()
    source = tmp_path / "events.csv"
    with open(source, "w", encoding="utf-8") as handle:
        handle.write(HEADER + "\n")
        for i in range(EVENTS):
            handle.write(f"e{i:06d},c{i % 10},order,2026-02-01T10:00:00+01:00,,,o{i},1.00,PLN,,,,\n")
    progress = tmp_path / "progress.txt"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, str(script), str(db), str(source), str(progress), str(CHUNK)],
                               env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            lines = progress.read_text().splitlines() if progress.exists() else []
            if len(lines) >= 2 or process.poll() is not None:
                break
            time.sleep(0.005)
        assert process.poll() is None, f"the worker ended early: {process.stderr.read().decode()[-2000:]}"
        process.send_signal(signal.SIGKILL)  # after the first chunks were committed, mid-file
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        process.stderr.close()
    committed = [line for line in progress.read_text().splitlines() if line != "done"]
    assert "done" not in progress.read_text()
    assert committed, "no chunk was committed before the kill"

    stored = orders(db)
    # whole chunks only: at least the chunks reported, never a part of one, never the whole file
    assert stored % CHUNK == 0, f"{stored} events stored: a chunk was half-written"
    assert len(committed) * CHUNK <= stored < EVENTS

    store = sqlite_store(db)
    try:
        report = import_events(store, source, chunk_size=CHUNK)
        assert (report.added, report.duplicates) == (EVENTS - stored, stored)
        assert store.metrics(everyone(), at=NOW).orders == EVENTS  # every event exactly once
        again = import_events(store, source, chunk_size=CHUNK * 7)
        assert (again.added, again.duplicates) == (0, EVENTS)
    finally:
        store.close()
