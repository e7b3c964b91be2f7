"""One rebuild at a time across threads and processes; a crash leaves the previous generation."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from engine.rebuild import RebuildReport
from engine.rebuild import switch as switch_stage
from storage.db import session_scope
from storage.models import Generation, JobLock, utcnow
from tests.labels.test_rebuild import CAT, DOG, L1, chart_files, dog_scenario, snapshot
from tests.labels.world import World
from tests.shell import rebuild

REPO = Path(__file__).resolve().parents[2]


def _other_process_rebuild() -> str:
    """`rebuild()` in a separate process on the same database; prints ran and the summary."""
    code = "from tests.shell import rebuild; r = rebuild(); print(r.ran, '|', r.summary())"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_simultaneous_triggers_run_one_rebuild(world: World) -> None:
    dog_scenario(world)
    inside, release = threading.Event(), threading.Event()
    results: list[RebuildReport] = []

    def hold(stage: str, fraction: float) -> None:
        if stage == "clean":  # the lock is held and a generation is being built
            inside.set()
            assert release.wait(60)

    worker = threading.Thread(target=lambda: results.append(rebuild(progress=hold)))
    worker.start()
    try:
        assert inside.wait(60)
        same_process = rebuild()
        other_process = _other_process_rebuild()
    finally:
        release.set()
        worker.join(120)
    assert not same_process.ran and "Another rebuild is running" in same_process.summary()
    assert other_process.startswith("False |")
    assert results and results[0].ok and results[0].generation == 1
    with session_scope(world.engine, readonly=True) as s:
        assert len(s.exec(select(Generation)).all()) == 1
        assert s.exec(select(JobLock)).all() == []  # released


def test_a_lock_row_of_another_process_blocks_until_it_expires(world: World) -> None:
    dog_scenario(world)
    with session_scope(world.engine) as s:
        s.add(
            JobLock(
                name="rebuild", holder="elsewhere:1", expires_at=utcnow() + timedelta(minutes=5)
            )
        )
    assert rebuild().ran is False
    with session_scope(world.engine) as s:
        lock = s.get(JobLock, "rebuild")
        lock.expires_at = utcnow() - timedelta(seconds=1)  # its holder died long ago
    report = rebuild()
    assert report.ok and report.classes_rebuilt == [DOG]
    with session_scope(world.engine, readonly=True) as s:
        assert s.get(JobLock, "rebuild") is None


def test_a_rebuild_that_lost_its_lock_does_not_switch(world: World) -> None:
    dog_scenario(world)

    def steal(stage: str, fraction: float) -> None:
        if stage == "score":
            with session_scope(world.engine) as s:
                s.exec(text("UPDATE job_lock SET holder = 'thief'"))

    report = rebuild(progress=steal)
    assert report.ran and report.error and "LockLost" in report.error
    with session_scope(world.engine, readonly=True) as s:
        assert s.exec(select(Generation).where(Generation.is_current)).all() == []


def _stable(snap: dict[str, list[tuple[Any, ...]]], failed: int) -> dict[str, Any]:
    """What readers see: everything but the failed generation's own bookkeeping rows."""
    view = {k: v for k, v in snap.items() if k not in {"generation", "concept", "phrase_embedding"}}
    view["concept"] = [row for row in snap["concept"] if row[4] != failed]  # first_generation
    view["current"] = [row for row in snap["generation"] if row[2]]
    return view


# A failure in a step shared by every class (embedding the phrases, the generation switch) fails
# the whole rebuild; a failure inside one class (its charts) is isolated to that class, which
# tests/labels/test_rebuild_isolation.py covers.
@pytest.mark.parametrize("where", ["embedding", "switch"])
def test_a_crashing_rebuild_leaves_the_previous_generation(
    where: str,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dog_scenario(world)
    assert rebuild().generation == 1
    before, files = snapshot(world.engine), chart_files(world.data_dir)
    p = world.participant(trust=0.5)
    world.play(p, world.cluster(DOG, 0, L1, 0), ["pointy ear"])
    world.play(p, world.cluster(CAT, 0, L1, 0), ["whiskers"])
    before = snapshot(world.engine)

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"disk on fire in {where}")

    if where == "embedding":
        monkeypatch.setattr("engine.labels.pipeline.LabelPipeline.embed", boom)
    else:  # inside the switch transaction, after the new rows were inserted
        monkeypatch.setattr(switch_stage, "recompute_points", boom)
    caplog.set_level(logging.ERROR, logger="engine.rebuild")
    report = rebuild()
    assert report.ran and not report.ok
    assert report.error == f"RuntimeError: disk on fire in {where}"
    assert report.generation == 1
    assert "Rebuild failed" in report.summary()
    assert "rebuild failed; the previous generation stays current" in caplog.text
    assert "disk on fire" in caplog.text  # with the traceback
    after = snapshot(world.engine)
    assert _stable(after, failed=2) == _stable(before, failed=2)
    for name in files:
        assert (world.data_dir / name).is_file()
    with session_scope(world.engine, readonly=True) as s:
        failed = s.get(Generation, 2)
        assert (
            failed.status == "failed" and "disk on fire" in failed.error and not failed.is_current
        )
        assert s.exec(select(JobLock)).all() == []

    monkeypatch.undo()
    report = rebuild()
    assert report.ok and report.generation == 3 and report.classes_rebuilt == [DOG, CAT]
    with world.engine.connect() as conn:
        orphans = conn.execute(text("SELECT count(*) FROM concept WHERE first_generation = 2"))
        assert orphans.scalar() == 0
