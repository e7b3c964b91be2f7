"""How many CPUs this process may use: its affinity, which containers and `taskset` narrow
(`os.cpu_count()` counts the machine's). Torch-free, so chart workers can ask too."""

from __future__ import annotations

import os


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
