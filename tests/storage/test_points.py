"""Participants' points: the game's increment and the rebuild's recompute, on hand-built rows.

points = Σ (guess + streak) over plays + Σ over answers (the reconciled bonus of the generation
asked for, else the provisional one). Every expected number below is that sum done by hand.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine

from storage import migrate, points
from storage.db import make_engine, session_scope
from storage.models import AnswerConcept, Concept, Participant, Play
from storage.tables import T_PART
from tests.labels.world import World, build_world

L1 = "features.29"


@pytest.fixture
def world(any_db_engine: Engine, isolated_settings: Path) -> World:
    return build_world(any_db_engine, isolated_settings)


def _points(engine: Engine) -> dict[int, int]:
    with session_scope(engine, readonly=True) as s:
        return {p.id: p.points for (p,) in s.execute(select(Participant)).all()}


def _reconcile(engine: Engine, generation: int, bonus: dict[int, int]) -> None:
    """Answer-concept links of `generation`: answer id → reconciled bonus."""
    with session_scope(engine) as s:
        concept = Concept(class_index=0, name="ear", first_generation=1, last_generation=9)
        s.add(concept)
        s.flush()
        for answer_id, points_ in bonus.items():
            s.add(
                AnswerConcept(
                    answer_id=answer_id,
                    concept_id=concept.id,
                    generation=generation,
                    bonus_points=points_,
                )
            )


def test_add_increments_in_sql_and_returns_the_expected_total(world: World) -> None:
    pid = world.participant(points=40)
    with session_scope(world.engine) as s:
        participant = s.get(Participant, pid)
        assert participant is not None
        # Another writer (a rebuild's recompute) changes the row after it was read.
        s.execute(update(T_PART).where(T_PART.c.id == pid).values(points=100))
        assert points.add(participant, 25) == 65  # display value from what was read
    assert _points(world.engine)[pid] == 125  # applied on top of the other writer's total
    with session_scope(world.engine) as s:
        participant = s.get(Participant, pid)
        assert participant is not None
        assert points.add(participant, 0) == 125
    assert _points(world.engine)[pid] == 125


def test_with_answers_in_lists_each_answering_player_of_the_classes_once(world: World) -> None:
    p1, p2, p3, p4 = (world.participant() for _ in range(4))
    world.play(p1, world.cluster(0, 0, L1, 0), ["ear", "tail"])
    world.play(p1, world.cluster(0, 1, L1, 1), ["nose"])
    world.play(p2, world.cluster(1, 0, L1, 0), [])  # played class 1 without answering
    world.play(p2, world.cluster(0, 0, L1, 1), [])  # and class 0 without answering
    world.play(p3, world.cluster(2, 0, L1, 0), ["wheel"])
    world.play(p4, world.cluster(1, 1, L1, 0), ["whisker"])
    with world.engine.connect() as conn:
        found = points.with_answers_in(conn, [0, 2])
        assert sorted(found) == [p1, p3] and len(found) == 2
        assert points.with_answers_in(conn, [1]) == [p4]
        assert points.with_answers_in(conn, []) == []


def test_recompute_sums_plays_and_the_bonus_of_the_generation(world: World) -> None:
    p1 = world.participant(points=999)
    p2 = world.participant(points=999)
    quiet = world.participant(points=999)  # no plays: 0
    untouched = world.participant(points=777)  # not asked for: keeps its points
    a1 = world.play(p1, world.cluster(0, 0, L1, 0), ["ear", "tail"], guess_points=90,
                    streak_points=20, provisional=[5, 7])  # fmt: skip
    a2 = world.play(p1, world.cluster(0, 1, L1, 0), ["nose"], guess_points=0, provisional=[3])
    world.play(p2, world.cluster(1, 0, L1, 0), [], guess_points=60, streak_points=10)
    _reconcile(world.engine, 1, {a1[0]: 50, a1[1]: 40})
    _reconcile(world.engine, 2, {a1[0]: 100})  # gen 2: ear reconciled, tail falls back to 7

    with world.engine.begin() as conn:
        points.recompute(conn, [quiet, p2, p1], 2)
    assert _points(world.engine) == {
        p1: 90 + 20 + 0 + 100 + 7 + 3,
        p2: 60 + 10,
        quiet: 0,
        untouched: 777,
    }
    with world.engine.begin() as conn:
        points.recompute(conn, {p1}, 1)
    assert _points(world.engine)[p1] == 90 + 20 + 0 + 50 + 40 + 3
    with world.engine.begin() as conn:
        points.recompute(conn, [p1], None)  # no generation: every provisional bonus
    assert _points(world.engine)[p1] == 90 + 20 + 0 + 5 + 7 + 3
    with world.engine.begin() as conn:
        points.recompute(conn, [], 2)
    assert _points(world.engine)[untouched] == 777
    assert a2  # the nose answer exists


def test_recompute_covers_every_chunk(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(points, "CHUNK", 2)
    ids = [world.participant(points=999) for _ in range(5)]
    for n, pid in enumerate(ids):
        world.play(pid, world.cluster(0, 0, L1, 0), [], guess_points=10 * (n + 1))
    with world.engine.begin() as conn:
        points.recompute(conn, reversed(ids), None)
    assert _points(world.engine) == {pid: 10 * (n + 1) for n, pid in enumerate(ids)}


@pytest.fixture
def pg_world(postgres_url: str, isolated_settings: Path) -> World:
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    yield build_world(engine, isolated_settings)
    engine.dispose()


def test_recompute_waits_for_a_guess_in_flight_and_counts_it(pg_world: World) -> None:
    """PostgreSQL: a guess's transaction has updated its play and added its points but not yet
    committed when the recompute starts. The recompute locks the row first, so it waits and then
    reads the committed play; its UPDATE alone would sum the plays as they were before the wait
    and drop the guess's points."""
    engine = pg_world.engine
    pid = pg_world.participant(points=0)
    pg_world.play(pid, pg_world.cluster(0, 0, L1, 0), [], guess_points=0)
    with session_scope(engine, readonly=True) as s:
        (play_id,) = s.execute(select(Play.id).where(Play.participant_id == pid)).one()

    guess = engine.connect()
    guess.begin()
    guess.execute(update(Play).where(Play.id == play_id).values(guess_points=100))
    guess.execute(update(T_PART).where(T_PART.c.id == pid).values(points=T_PART.c.points + 100))

    backend: list[int] = []
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            with engine.begin() as conn:
                backend.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
                points.recompute(conn, [pid], None)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    worker = threading.Thread(target=rebuild)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        waiting = False
        while not waiting and time.monotonic() < deadline and worker.is_alive():
            time.sleep(0.05)
            if backend:
                with engine.connect() as probe:
                    waiting = probe.execute(
                        text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"),
                        {"p": backend[0]},
                    ).scalar_one_or_none() is True  # fmt: skip
        assert waiting, "the recompute never waited for the guess's row lock"
    finally:
        guess.commit()
        guess.close()
        worker.join(timeout=30)
    assert errors == []
    assert _points(engine)[pid] == 100
