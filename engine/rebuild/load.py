"""Stage "load": the accepted answers of the classes to rebuild, with their plays and trusts.

With `reliability="ability"` every player's ability is estimated first from all their graded
plays (warm-started from the abilities the last rebuild stored), and an answer's trust is its
player's new trust; the abilities are written at the switch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, func, select

from engine.rebuild.context import RebuildContext
from storage.tables import T_ANSWER, T_CLUSTER, T_IMAGE, T_MODEL, T_PART, T_PLAY


@dataclass(frozen=True, slots=True)
class AnswerRow:
    id: int
    label: str
    cleaned: str | None  # as stored; None: never cleaned
    hint_level: int
    play_id: int
    participant_id: int
    correct: bool
    resigned: bool
    guessed_class: int | None
    trust: float
    cluster_id: int
    class_index: int
    model_id: int


@dataclass(frozen=True)
class LoadInput:
    classes: tuple[int, ...]
    max_id: int  # answers up to this id


@dataclass(frozen=True)
class Loaded:
    rows: tuple[AnswerRow, ...]  # by answer id
    names: Mapping[int, list[str]]  # model id → its class names
    abilities: Any  # engine.labels.ability.AbilityFit, or None without ability estimation


def load(ctx: RebuildContext, given: LoadInput) -> Loaded:
    abilities = _fit_abilities(ctx) if ctx.labels.reliability == "ability" else None
    trust_of = abilities.trust if abilities is not None else {}
    a, p, part, c, i = T_ANSWER, T_PLAY, T_PART, T_CLUSTER, T_IMAGE
    statement = (
        select(
            a.c.id,
            a.c.label,
            a.c.cleaned,
            a.c.hint_level,
            p.c.id,
            p.c.participant_id,
            p.c.correct,
            p.c.outcome,
            p.c.guessed_class,
            part.c.trust,
            c.c.id,
            c.c.class_index,
            i.c.model_id,
        )
        .select_from(
            a.join(p, a.c.play_id == p.c.id)
            .join(part, p.c.participant_id == part.c.id)
            .join(c, p.c.cluster_id == c.c.id)
            .join(i, c.c.image_id == i.c.id)
        )
        .where(a.c.accepted, a.c.id <= given.max_id, c.c.class_index.in_(list(given.classes)))
        .order_by(a.c.id)
    )
    with ctx.engine.connect() as conn:
        rows = tuple(
            AnswerRow(
                r[0],
                r[1] or "",
                r[2],
                int(r[3] or 0),
                r[4],
                r[5],
                bool(r[6]),
                r[7] == "resign",
                r[8],
                float(trust_of.get(r[5], r[9])),
                r[10],
                r[11],
                r[12],
            )
            for r in conn.execute(statement)
        )
        names = {
            mid: list(cls or [])
            for mid, cls in conn.execute(select(T_MODEL.c.id, T_MODEL.c.classes))
        }
    return Loaded(rows, names, abilities)


def _fit_abilities(ctx: RebuildContext) -> Any:
    """Every player's ability from all their graded plays (guesses and give-ups)."""
    from engine.labels.ability import PlayCount, fit_abilities

    p, c = T_PLAY, T_CLUSTER
    graded = p.c.outcome.in_(("win", "lose", "resign"))
    right = func.sum(func.coalesce(p.c.correct, False).cast(Integer))
    with ctx.engine.connect() as conn:
        counts = [
            PlayCount(pid, (int(depth), int(level or 0)), int(n), int(k or 0))
            for pid, depth, level, n, k in conn.execute(
                select(p.c.participant_id, c.c.depth, p.c.hint_level, func.count(), right)
                .select_from(p.join(c, p.c.cluster_id == c.c.id))
                .where(graded)
                .group_by(p.c.participant_id, c.c.depth, p.c.hint_level)
            )
        ]
        start = {
            pid: float(ability)
            for pid, ability in conn.execute(
                select(T_PART.c.id, T_PART.c.ability).where(T_PART.c.ability.is_not(None))
            )
        }
    return fit_abilities(counts, start)
