"""Stage "prepare": which classes this rebuild recomputes, and the generation it writes.

Incremental by default: the classes with answers newer than the current generation, the classes
that failed in it (tried again on every rebuild) and the classes that lost answers since (a
participant deleted with /forget). A full rebuild takes every class with answers or published
explanations. Answers are read up to the highest id seen here, so answers arriving during the
rebuild wait for the next one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from engine.rebuild.context import RebuildContext
from storage import generations
from storage.db import session_scope
from storage.tables import T_AC, T_ANSWER, T_CLUSTER, T_CONCEPT, T_GE, T_PLAY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    current_id: int | None  # the generation readers see now
    failed_before: frozenset[int]  # classes that failed in it
    max_id: int  # the highest answer id this rebuild reads
    classes: tuple[int, ...]  # the classes to recompute, ascending


def plan(ctx: RebuildContext) -> Plan:
    """Generations left 'building' by a crashed process are marked failed first."""
    with session_scope(ctx.engine) as session:
        generations.fail_interrupted(session)
    with ctx.engine.connect() as conn:
        current = generations.current(conn)
        max_id = conn.execute(select(func.max(T_ANSWER.c.id))).scalar() or 0
        classes = _classes_to_rebuild(conn, current, max_id, ctx.full)
    return Plan(
        current_id=current[0] if current else None,
        failed_before=frozenset(int(c) for c in ((current[2] if current else None) or {})),
        max_id=max_id,
        classes=tuple(classes),
    )


def start_generation(ctx: RebuildContext, planned: Plan) -> int:
    """A new generation in state 'building', invisible to readers until the switch."""
    with session_scope(ctx.engine) as session:
        generation = generations.start(session, list(planned.classes), planned.max_id)
    log.info(
        "rebuild: generation %s for %d classes (%s)",
        generation,
        len(planned.classes),
        "full" if ctx.full else "incremental",
    )
    return generation


def _classes_to_rebuild(conn: Connection, current: Any, max_id: int, full: bool) -> list[int]:
    joined = T_ANSWER.join(T_PLAY, T_ANSWER.c.play_id == T_PLAY.c.id).join(
        T_CLUSTER, T_PLAY.c.cluster_id == T_CLUSTER.c.id
    )
    with_answers = select(T_CLUSTER.c.class_index).select_from(joined).distinct()
    with_answers = with_answers.where(T_ANSWER.c.accepted, T_ANSWER.c.id <= max_id)
    if current is None or full:
        classes = set(conn.execute(with_answers).scalars())
        if current is not None:
            classes |= set(
                conn.execute(
                    select(T_GE.c.class_index).where(T_GE.c.generation == current[0]).distinct()
                ).scalars()
            )
        return sorted(classes)
    current_id, seen, failed = current
    classes = set(conn.execute(with_answers.where(T_ANSWER.c.id > seen)).scalars())
    classes |= {int(c) for c in (failed or {})}  # tried again on every rebuild
    # Answers deleted since (a participant left) cascade away their concept links: a class
    # with fewer links than its explanation counted has lost answers.
    links = dict(
        conn.execute(
            select(T_CONCEPT.c.class_index, func.count())
            .select_from(T_AC.join(T_CONCEPT, T_AC.c.concept_id == T_CONCEPT.c.id))
            .where(T_AC.c.generation == current_id)
            .group_by(T_CONCEPT.c.class_index)
        ).all()
    )
    counted: dict[int, int] = {}
    for class_index, payload in conn.execute(
        select(T_GE.c.class_index, T_GE.c.payload).where(T_GE.c.generation == current_id)
    ):
        counted[class_index] = int((payload or {}).get("class_answers", 0))
    classes |= {c for c, n in counted.items() if links.get(c, 0) < n}
    return sorted(classes)
