"""Where the bot's database thread spends an update: wall time, CPU time and queueing per game
function, measured inside the worker thread (`bot_load.py --db-timing`).

Wall time well above CPU time means the thread waited (for the interpreter lock, a core, or the
disk); queueing means updates waited for the thread. Together they show whether the single
SQLite writer thread, and not the event loop, bounds the ceiling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class FunctionTimes:
    calls: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    queued_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        n = max(self.calls, 1)
        return {
            "calls": self.calls,
            "wall_ms": round(1000 * self.wall_s / n, 3),
            "cpu_ms": round(1000 * self.cpu_s / n, 3),
            "queued_ms": round(1000 * self.queued_s / n, 3),
        }


class TimedDbRunner:
    """Stands in for the bot's `DbRunner`: same calls, each one timed in the worker thread."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.times: dict[str, FunctionTimes] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runner, name)

    def reset(self) -> None:
        with self._lock:
            self.times.clear()

    async def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        submitted = time.perf_counter()
        name = getattr(fn, "__qualname__", repr(fn))

        def timed() -> Any:
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                wall, used = time.perf_counter() - start, time.thread_time() - cpu
                with self._lock:
                    t = self.times.setdefault(name, FunctionTimes())
                    t.calls += 1
                    t.wall_s += wall
                    t.cpu_s += used
                    t.queued_s += start - submitted

        return await self.runner(timed)

    def report(self) -> dict[str, dict[str, float]]:
        """Per function, busiest first; prints the table."""
        with self._lock:
            rows = sorted(self.times.items(), key=lambda kv: -kv[1].wall_s)
        print("  database thread per call (mean ms):   calls    wall     CPU  queued")
        for name, t in rows:
            d = t.as_dict()
            print(
                f"    {name[:34]:34s} {t.calls:6d} {d['wall_ms']:7.2f} {d['cpu_ms']:7.2f} "
                f"{d['queued_ms']:7.2f}"
            )
        return {name: t.as_dict() for name, t in rows}
