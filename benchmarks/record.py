"""A benchmark run's record: one JSON file in benchmarks/results/ per run.

A record holds what is needed to compare two runs made on different machines or at different
loads: the machine (processor, cores, memory, load averages before and after), the commit (and
whether the tree had uncommitted changes), the command, the figures, the reference rows measured
in the same run, and the targets as ratios. `benchmarks/compare.py` prints two records side by side.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (other work on the machine skews every figure)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine_facts() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {
        "sha": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


class Record:
    """Collects one run's facts; `write` stores them as benchmarks/results/<time>-<name>.json."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = dt.datetime.now(dt.UTC)
        self.data: dict[str, Any] = {
            "benchmark": name,
            "started": self.started.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": machine_facts(),
            "commit": commit(),
            "load_average": {"before": load_average()},
            "references": {},
            "figures": {},
            "ratios": {},
            "targets": {},
        }

    def reference(self, name: str, figures: dict[str, Any]) -> None:
        self.data["references"][name] = figures

    def figures(self, figures: dict[str, Any]) -> None:
        self.data["figures"].update(figures)

    def ratio(self, name: str, value: float, target: str, met: bool) -> None:
        """A figure divided by its reference, the target it is held to and whether it holds."""
        self.data["ratios"][name] = round(value, 4)
        self.data["targets"][name] = {"target": target, "met": met}

    def write(self, directory: Path = RESULTS) -> Path:
        self.data["load_average"]["after"] = load_average()
        directory.mkdir(parents=True, exist_ok=True)
        stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        path = directory / f"{stamp}-{self.name}.json"
        path.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        return path
