"""Overlap the CPU half of one batch with the network half of the next.

The network pass runs in the calling thread (on the GPU when there is one); each batch's
clustering and storing runs in one worker thread, which itself fans the (image, layer) jobs out to
the explainer's thread pool. At most `max_pending` finished network passes wait for their CPU half,
which bounds memory.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Passed = TypeVar("Passed")
Done = TypeVar("Done")


@dataclass
class Timeline:
    """(stage, batch index, start, end) of every step, for tests and the benchmark."""

    events: list[tuple[str, int, float, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, stage: str, index: int, start: float, end: float) -> None:
        with self._lock:
            self.events.append((stage, index, start, end))

    def span(self, stage: str, index: int) -> tuple[float, float]:
        for name, i, start, end in self.events:
            if name == stage and i == index:
                return start, end
        raise KeyError((stage, index))

    def overlap_seconds(self) -> float:
        """Total time during which some network pass and some CPU half ran at once."""
        net = [(s, e) for name, _, s, e in self.events if name == "network"]
        cpu = [(s, e) for name, _, s, e in self.events if name == "finish"]
        return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in net for s2, e2 in cpu)


class OverlappedRunner(Generic[Item, Passed, Done]):
    def __init__(
        self,
        network: Callable[[Item], Passed],
        finish: Callable[[Item, Passed], Done],
        *,
        max_pending: int = 1,
        timeline: Timeline | None = None,
    ) -> None:
        self.network = network
        self.finish = finish
        self.max_pending = max(0, max_pending)
        self.timeline = timeline

    def _timed_finish(self, index: int, item: Item, passed: Passed) -> Done:
        start = time.perf_counter()
        try:
            return self.finish(item, passed)
        finally:
            if self.timeline is not None:
                self.timeline.record("finish", index, start, time.perf_counter())

    def run(self, items: Iterable[Item]) -> Iterator[Done]:
        """Results of `finish`, in the order of `items`; an error in either half propagates."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inv-finish") as worker:
            pending: deque[Future[Done]] = deque()
            try:
                for index, item in enumerate(items):
                    start = time.perf_counter()
                    passed = self.network(item)
                    if self.timeline is not None:
                        self.timeline.record("network", index, start, time.perf_counter())
                    pending.append(worker.submit(self._timed_finish, index, item, passed))
                    while len(pending) > self.max_pending:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()
