"""Benchmark records: one JSON per run, and two runs printed side by side with ratios."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import compare
from benchmarks.record import Record


def test_a_record_holds_machine_commit_load_references_and_ratios(tmp_path: Path) -> None:
    record = Record("bot_load")
    record.reference("R2", {"ceiling_updates_per_s": 200.0})
    record.figures({"ceiling_updates_per_s": 160.0})
    record.ratio("ceiling_vs_R2", 0.8, ">= 0.75", True)
    path = record.write(tmp_path)

    data = json.loads(path.read_text())
    assert path.name.endswith("-bot_load.json")
    assert data["machine"]["cores"] >= 1 and data["machine"]["cpu"]
    assert len(data["commit"]["sha"]) == 40
    assert len(data["load_average"]["before"]) == 3 and len(data["load_average"]["after"]) == 3
    assert data["references"]["R2"]["ceiling_updates_per_s"] == 200.0
    assert data["ratios"]["ceiling_vs_R2"] == 0.8
    assert data["targets"]["ceiling_vs_R2"] == {"target": ">= 0.75", "met": True}


def test_compare_prints_each_figure_of_both_runs_with_its_ratio(tmp_path: Path, capsys) -> None:
    first = {"benchmark": "b", "figures": {"rate": 100.0, "latency": {"p99": 50.0}}}
    second = {"benchmark": "b", "figures": {"rate": 150.0, "latency": {"p99": 25.0}, "new": 1}}
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(first))
    b.write_text(json.dumps(second))

    rows = {name: (x, y, r) for name, x, y, r in compare.rows(first, second)}
    assert rows["figures.rate"] == ("100", "150", "1.50x")
    assert rows["figures.latency.p99"] == ("50", "25", "0.50x")
    assert rows["figures.new"] == ("None", "1", "")

    assert compare.main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "figures.latency.p99" in out and "0.50x" in out


def test_a_phase_can_offer_a_share_of_the_previous_phases_throughput() -> None:
    import pytest

    from testkit.simulate import SimulationResult, phase_rate

    ceiling = SimulationResult(
        sent=500, seconds=2.0, sending_seconds=1.9, plays=0, labels=0, done=0,
        finished_players=0, errors=[], throttled=0, started_at=0.0, ended_at=2.0,
    )  # fmt: skip
    assert phase_rate({"rate_fraction": 0.6}, ceiling) == pytest.approx(150.0)
    assert phase_rate({"rate": 80}, ceiling) == 80.0
    assert phase_rate({"rate": None}, None) is None
    with pytest.raises(ValueError):
        phase_rate({"rate_fraction": 0.6}, None)


def test_one_record_becomes_a_markdown_table_with_its_date_machine_and_targets() -> None:
    record = {
        "command": "python benchmarks/bot_load.py",
        "started": "2026-11-30T18:00:00+00:00",
        "machine": {"cpu": "Some CPU", "cores": 2, "memory_gib": 8.0},
        "load_average": {"before": [3.0, 2.0, 1.0], "after": [4.0, 2.0, 1.0]},
        "references": {"R2": {"ceiling_updates_per_s": 200.0}},
        "figures": {"ceiling_updates_per_s": 100.0},
        "ratios": {"ceiling_vs_R2": 0.5},
        "targets": {"ceiling_vs_R2": {"target": ">= 0.75", "met": False}},
    }
    table = compare.markdown(record)
    assert "2026-11-30T18:00:00+00:00" in table and "Some CPU, 2 cores" in table
    assert "[3.0, 2.0, 1.0] before" in table
    assert "| ratios.ceiling_vs_R2 | 0.5 | >= 0.75 (not met) |" in table
    assert "| references.R2.ceiling_updates_per_s | 200 |  |" in table
