"""Stage "switch": everything readers see changes here, in one transaction.

The derived rows of the new generation are inserted, those of classes not rebuilt (or failed)
are carried into it, concept updates and cleaned texts are written, agreement bonuses and
participants' points are recomputed, abilities and settledness stored, and the generation is
made current. A crash before the commit leaves the previous generation as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from engine.rebuild.context import Failures, RebuildContext
from engine.rebuild.score import ClassResult
from storage import generations, points
from storage.db import session_scope
from storage.tables import T_AC, T_ANSWER, T_CLUSTER, T_CONCEPT, T_CT, T_GE, T_MC, T_PART, T_STATUS

_INSERT_BATCH = 5000


@dataclass(frozen=True)
class SwitchInput:
    generation: int
    current_id: int | None
    max_id: int  # answers seen by this generation
    published: tuple[int, ...]  # rebuilt classes that did not fail
    results: tuple[ClassResult, ...]  # of the published classes
    cleaned: Mapping[int, str]  # answer id → new cleaned text
    concept_updates: Sequence[dict[str, Any]]  # matched concepts of the published classes
    concept_tests: Sequence[dict[str, Any]]  # of the published classes
    abilities: Any  # engine.labels.ability.AbilityFit, or None
    failed: Failures


def switch(ctx: RebuildContext, given: SwitchInput) -> None:
    gen = given.generation
    with session_scope(ctx.engine) as session:
        conn = session.connection()
        ctx.lock.refresh(conn, force=True)
        if given.concept_updates:
            conn.execute(
                update(T_CONCEPT).where(T_CONCEPT.c.id == bindparam("b_id")),
                list(given.concept_updates),
            )
        if given.failed:
            # Concepts first seen by this generation in a class that failed are not used.
            conn.execute(
                delete(T_CONCEPT).where(
                    T_CONCEPT.c.first_generation == gen,
                    T_CONCEPT.c.class_index.in_(list(given.failed)),
                )
            )
        tables = ((T_AC, "answer_concepts"), (T_MC, "merged"), (T_GE, "explanations"))
        for table, key in tables:
            _insert(conn, table, [row for r in given.results for row in getattr(r, key)])
        _insert(conn, T_CT, list(given.concept_tests))
        classes = list(given.published)
        if given.current_id is not None:
            _carry(conn, given.current_id, gen, classes)
        for table in (T_AC, T_MC, T_GE, T_CT):
            conn.execute(delete(table).where(table.c.generation != gen))
        if given.cleaned:
            conn.execute(
                update(T_ANSWER).where(T_ANSWER.c.id == bindparam("b_id")),
                [{"b_id": k, "cleaned": v} for k, v in given.cleaned.items()],
            )
        recompute_points(conn, classes, gen)
        _write_quality(conn, classes, given.results, given.abilities)
        generations.switch(
            conn,
            gen,
            answers_seen=given.max_id,
            classes=classes,
            failed_classes=dict(given.failed),
        )


def recompute_points(conn: Connection, classes: list[int], generation: int) -> None:
    """Everyone with answers in `classes` gets their points recomputed from this generation."""
    points.recompute(conn, points.with_answers_in(conn, classes), generation)


def _insert(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _INSERT_BATCH):
        conn.execute(insert(table), rows[start : start + _INSERT_BATCH])


def _carry(conn: Connection, current_id: int, gen: int, classes: list[int]) -> None:
    """The rows of the classes not rebuilt (or failed) move into the new generation."""
    others = T_CONCEPT.c.class_index.not_in(classes)
    carried = select(T_CONCEPT.c.id).where(others)
    conn.execute(
        update(T_AC)
        .where(T_AC.c.generation == current_id, T_AC.c.concept_id.in_(carried))
        .values(generation=gen)
    )
    for table in (T_MC, T_GE, T_CT):
        conn.execute(
            update(table)
            .where(table.c.generation == current_id, table.c.class_index.not_in(classes))
            .values(generation=gen)
        )
    conn.execute(
        update(T_CONCEPT)
        .where(T_CONCEPT.c.last_generation == current_id, others)
        .values(last_generation=gen)
    )


def _write_quality(
    conn: Connection, classes: list[int], results: Sequence[ClassResult], abilities: Any
) -> None:
    """Players' abilities and trusts; the settledness of the rebuilt classes' clusters."""
    if abilities is not None and abilities.ability:
        conn.execute(
            update(T_PART).where(T_PART.c.id == bindparam("b_id")),
            [
                {"b_id": pid, "ability": abilities.ability[pid], "trust": abilities.trust[pid]}
                for pid in sorted(abilities.ability)
            ],
        )
    rebuilt = select(T_CLUSTER.c.id).where(T_CLUSTER.c.class_index.in_(classes))
    conn.execute(delete(T_STATUS).where(T_STATUS.c.cluster_id.in_(rebuilt)))
    _insert(conn, T_STATUS, [row for r in results for row in r.statuses])
