"""Several `inv precompute` workers on one PostgreSQL database share the images through leases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from engine.precompute import precompute
from engine.render import load_map
from inv.settings import get_settings
from storage import migrate
from storage.db import dispose_engines, make_engine, session_scope
from storage.leases import MAX_ATTEMPTS, Task, TaskQueue
from storage.models import Cluster, PrecomputeTask
from storage.models import Image as ImageRow
from tests.engine.engine_testkit import PAUSE_ENV, photo

pytestmark = pytest.mark.postgres

FACTORY = "tests.engine.engine_testkit:small_cnn"
REPO = Path(__file__).resolve().parents[2]
IMAGES = 16
# Stored maps are 16-bit PNGs: one quantisation step on top of the batch-equivalence tolerance of
# the explainer (clusters identical, maps within 1e-4).
MAP_TOLERANCE = 1e-4 + 1 / 65535


@pytest.fixture
def pg_engine(postgres_url: str) -> Engine:
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def stored_maps(engine: Engine, data_dir: Path) -> dict[tuple[str, str, int], tuple]:
    """(image hash, layer, rank) -> (channels, map) of every stored cluster."""
    with session_scope(engine, readonly=True) as session:
        rows = session.execute(
            select(ImageRow.sha256, Cluster.layer_name, Cluster.rank, Cluster.channels, Cluster.map_file)
            .join(Cluster, Cluster.image_id == ImageRow.id)  # type: ignore[arg-type]
        ).all()  # fmt: skip
    return {
        (sha, layer, rank): (list(channels), load_map(data_dir / map_file))
        for sha, layer, rank, channels, map_file in rows
    }


def leases_held_by(engine: Engine, pid: int) -> int:
    with session_scope(engine, readonly=True) as session:
        return int(
            session.execute(
                select(func.count()).where(
                    PrecomputeTask.state == "pending",
                    PrecomputeTask.worker.like(f"%:{pid}:%"),  # type: ignore[union-attr]
                )
            ).scalar_one()
        )


def count_done(engine: Engine) -> int:
    with session_scope(engine, readonly=True) as session:
        return int(
            session.execute(select(func.count()).where(PrecomputeTask.state == "done")).scalar_one()
        )


def wait_for(condition, process: subprocess.Popen, what: str, seconds: float = 180) -> None:  # type: ignore[no-untyped-def, type-arg]
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"worker ended before {what}: {process.stderr.read().decode()}")  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_three_workers_one_killed_explain_every_image_once_like_a_single_worker(
    postgres_url: str,
    pg_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(IMAGES):
        photo(300 + seed).save(folder / f"p{seed:02d}.png")
    shared_dir = tmp_path / "shared-data"
    env = {
        **os.environ,
        "DATA_DIR": str(shared_dir),
        "DATABASE_URL": postgres_url,
        "INV_ENV_FILE": "",
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-m", "inv.cli", "precompute", "--images", str(folder),
               "--model", FACTORY, "--batch-size", "2", "--device", "cpu", "--workers", "0",
               "--lease-seconds", "2", "--no-progress"]  # fmt: skip

    def start(extra: dict[str, str] | None = None) -> subprocess.Popen:  # type: ignore[type-arg]
        return subprocess.Popen(
            command,
            cwd=REPO,
            env={**env, **(extra or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    # The worker to be killed is slowed down so that it surely holds images when it dies.
    victim = start({PAUSE_ENV: "1.0"})
    others: list[subprocess.Popen] = []  # type: ignore[type-arg]
    try:
        wait_for(lambda: leases_held_by(pg_engine, victim.pid) > 0, victim, "it claims images")
        others = [start(), start()]
        wait_for(
            lambda: count_done(pg_engine) >= 2 and leases_held_by(pg_engine, victim.pid) > 0,
            victim,
            "the others have finished some images while it still holds some",
        )
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        outputs = [p.communicate(timeout=300) for p in others]
    finally:
        for process in (victim, *others):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    for process, (out, err) in zip(others, outputs, strict=True):
        assert process.returncode == 0, err.decode()
        assert b"explained" in out

    with session_scope(pg_engine, readonly=True) as session:
        hashes = session.execute(select(ImageRow.sha256)).scalars().all()
        tasks = session.execute(select(PrecomputeTask)).scalars().all()
    assert len(hashes) == len(set(hashes)) == IMAGES  # every image, each exactly once
    assert len(tasks) == IMAGES and {t.state for t in tasks} == {"done"}
    assert all(t.worker is None and t.lease_until is None for t in tasks)
    # The killed worker's images were claimed again once its lease ran out.
    assert max(t.attempts for t in tasks) >= 2
    multi = stored_maps(pg_engine, shared_dir)

    # The same images explained by one worker alone (SQLite, the single-worker path).
    single_dir = tmp_path / "single-data"
    monkeypatch.setenv("DATA_DIR", str(single_dir))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{single_dir / 'inv.db'}")
    get_settings.cache_clear()
    dispose_engines()
    sqlite = make_engine(get_settings().sqlalchemy_url)
    migrate.upgrade(sqlite)
    report = precompute(
        folder,
        data_dir=single_dir,
        model=FACTORY,
        device="cpu",
        progress=False,
        batch_size=5,
        workers=0,
        engine=sqlite,
    )
    assert report.explained == IMAGES
    single = stored_maps(sqlite, single_dir)
    sqlite.dispose()
    assert multi.keys() == single.keys()
    for key, (channels, values) in single.items():
        assert multi[key][0] == channels, key
        np.testing.assert_allclose(multi[key][1], values, atol=MAP_TOLERANCE, err_msg=str(key))


def test_claims_are_disjoint_and_expired_leases_are_taken_over(pg_engine: Engine) -> None:
    with session_scope(pg_engine) as session:
        session.execute(
            text(
                "INSERT INTO model (name, weights_hash, num_classes, classes, input_size, created_at)"
                " VALUES ('m', 'h', 2, '[\"a\", \"b\"]', 32, now())"
            )
        )
        model_id = session.execute(text("SELECT id FROM model")).scalar_one()
    first = TaskQueue(pg_engine, model_id, "k", lease=timedelta(seconds=1), worker="first")
    second = TaskQueue(pg_engine, model_id, "k", lease=timedelta(minutes=5), worker="second")
    tasks = [Task(f"{i:064d}", f"/images/{i}.png", None) for i in range(5)]
    assert first.enqueue(tasks) == 5
    assert second.enqueue(tasks) == 0  # queuing again adds nothing

    mine = first.claim(3)
    theirs = second.claim(3)
    assert [t.sha256 for t in mine] == [t.sha256 for t in tasks[:3]]
    assert [t.sha256 for t in theirs] == [t.sha256 for t in tasks[3:]]
    assert second.claim(3) == []  # everything is under a live lease
    state = second.state()
    assert (state.pending, state.mine, state.left_to_others) == (5, 2, 3)

    second.settle([t.sha256 for t in theirs])
    # A worker that stops early hands its rows back at once, and the claim is not held against them.
    third = TaskQueue(pg_engine, model_id, "k", worker="third")
    assert first.claim(1) == [] and third.claim(1) == []
    assert first.release() == 3 and second.state().left_to_others == 3
    assert [t.sha256 for t in third.claim(3)] == [t.sha256 for t in mine]
    assert third.release() == 3
    assert [t.sha256 for t in first.claim(3)] == [t.sha256 for t in mine]
    time.sleep(1.5)  # `first` stops renewing, as a killed worker would
    taken = second.claim(5)
    assert [t.sha256 for t in taken] == [t.sha256 for t in mine]
    assert first.renew() == 0  # its leases are gone

    # A failure is settled as failed with its reason; a new run gives it a fresh start.
    second.settle([t.sha256 for t in taken[:2]], {taken[2].sha256: "not a readable image"})
    state = second.state()
    assert (state.pending, state.done, state.failed) == (0, 4, 1)
    first.enqueue(tasks)
    assert [t.sha256 for t in first.claim(5)] == [taken[2].sha256]


def test_an_image_whose_workers_keep_dying_is_given_up(pg_engine: Engine) -> None:
    with session_scope(pg_engine) as session:
        session.execute(
            text(
                "INSERT INTO model (name, weights_hash, num_classes, classes, input_size, created_at)"
                " VALUES ('m', 'h', 2, '[\"a\", \"b\"]', 32, now())"
            )
        )
        model_id = session.execute(text("SELECT id FROM model")).scalar_one()
    poison = Task("f" * 64, "/images/poison.png", None)
    TaskQueue(pg_engine, model_id, "k").enqueue([poison])
    for attempt in range(MAX_ATTEMPTS):
        dying = TaskQueue(pg_engine, model_id, "k", lease=timedelta(milliseconds=1))
        assert dying.claim(1) == [poison], attempt
        time.sleep(0.05)
    survivor = TaskQueue(pg_engine, model_id, "k")
    assert survivor.claim(1) == []
    state = survivor.state()
    assert (state.pending, state.abandoned, state.left_to_others) == (0, 1, 0)
