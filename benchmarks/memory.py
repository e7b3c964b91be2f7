"""Resident memory for the benchmarks: a process tree's summed peak, and the rebuild's TCAV stage."""

from __future__ import annotations

import resource
import threading
import time
from dataclasses import dataclass
from typing import Any


class TreeMemory:
    """Peak resident memory of a process and all its descendants, summed, sampled every 0.1 s
    in a thread (the rebuild may draw charts in a process pool: its workers count too). Pages a
    forked child shares with its parent count in both: an upper bound."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        import psutil

        self._root = psutil.Process(pid)
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak_bytes = 0
        self.peak_processes = 0

    def _sample(self) -> None:
        import psutil

        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:  # the process has ended
            return
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # a child that ended between the listing and the reading
                continue
        self.peak_bytes = max(self.peak_bytes, total)
        self.peak_processes = max(self.peak_processes, len(processes))

    def _run(self) -> None:
        while not self._done.is_set():
            self._sample()
            self._done.wait(self._interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


@dataclass
class StageMemory:
    """One TCAV stage as the rebuild ran it, with this process's resident memory around it."""

    result: Any  # engine.concept_tests.StageResult
    rss_before_mib: float
    rss_after_mib: float
    raised_peak_mib: float  # how far the stage pushed the process's peak (0: it stayed below)
    started_at: float  # wall clock (time.time())
    ended_at: float


def _rss_mib() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def record_tcav_stages() -> list[StageMemory]:
    """Each TCAV stage the rebuild runs from now on, in this process: its result (images passed,
    maps pooled) and the memory around it; the rebuild itself reports only time and marks."""
    import engine.concept_tests as stage_module

    stages: list[StageMemory] = []
    original = stage_module.run_stage

    def recorded(*args: Any, **kwargs: Any) -> Any:
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        before, started = _rss_mib(), time.time()
        result = original(*args, **kwargs)
        ended = time.time()
        peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        stages.append(
            StageMemory(result, before, _rss_mib(), peak_after - peak_before, started, ended)
        )
        return result

    stage_module.run_stage = recorded  # the rebuild imports it at each call
    return stages
