"""What the benchmark scripts share: timing one call and taking the best of several runs.

Scripts import it as ``from _common import best_of, timed`` (a script's own folder is on ``sys.path``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of one call, and its result."""
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def best_of(repeat: int, run: Callable[[], Any], cpu: dict[str, float] | None = None,
            key: str = "") -> tuple[float, Any]:
    """The best wall time of ``repeat`` runs and the last result (and, in ``cpu[key]``, the best CPU
    time of this process, all threads: on a busy shared machine it is the steadier figure)."""
    best, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = run()
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - started_cpu)
    if cpu is not None:
        cpu[key] = best_cpu
    return best, result
