"""Participants' points: the only two ways they change.

points = the guess and streak points of every play + for every answer its reconciled bonus (the
current generation's answer-concept link) or else its provisional bonus. The game adds to them as
plays end (`add`); the rebuild recomputes the players whose answers it reconciled, in the
transaction that switches generations (`recompute`). The two may run at once: the game adds in
SQL and the recompute locks the rows first, so neither undoes the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection

from storage.models import Participant
from storage.tables import T_AC, T_ANSWER, T_CLUSTER, T_PART, T_PLAY

# Participants per UPDATE (ids in one IN (...) list).
CHUNK = 500


def add(participant: Participant, delta: int) -> int:
    """Add `delta` points in the participant's next UPDATE; returns the expected new total.

    The increment happens in SQL (points = points + delta): the rebuild may recompute points
    concurrently (it locks the row on PostgreSQL first), and a read-modify-write here would undo
    its correction. The total returned is for display only.
    """
    expected = participant.points + delta
    if delta:
        participant.points = Participant.points + delta  # type: ignore[assignment]
    return expected


def with_answers_in(conn: Connection, classes: Sequence[int]) -> list[int]:
    """Ids of the participants who answered on a cluster of one of `classes`."""
    return list(
        conn.execute(
            select(T_PLAY.c.participant_id)
            .select_from(
                T_ANSWER.join(T_PLAY, T_ANSWER.c.play_id == T_PLAY.c.id).join(
                    T_CLUSTER, T_PLAY.c.cluster_id == T_CLUSTER.c.id
                )
            )
            .where(T_CLUSTER.c.class_index.in_(classes))
            .distinct()
        ).scalars()
    )


def recompute(conn: Connection, participant_ids: Iterable[int], generation: int | None) -> None:
    """Set the points of `participant_ids` from their plays and answers under `generation`."""
    ids = sorted(participant_ids)
    if not ids:
        return
    plays = T_PLAY.alias("pl")
    plays2 = T_PLAY.alias("pl2")
    game = (
        select(func.coalesce(func.sum(plays.c.guess_points + plays.c.streak_points), 0))
        .where(plays.c.participant_id == T_PART.c.id)
        .scalar_subquery()
    )
    bonus = (
        select(
            func.coalesce(func.sum(func.coalesce(T_AC.c.bonus_points, T_ANSWER.c.bonus_points)), 0)
        )
        .select_from(
            T_ANSWER.join(plays2, T_ANSWER.c.play_id == plays2.c.id).outerjoin(
                T_AC, and_(T_AC.c.answer_id == T_ANSWER.c.id, T_AC.c.generation == generation)
            )
        )
        .where(plays2.c.participant_id == T_PART.c.id)
        .scalar_subquery()
    )
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        if conn.dialect.name == "postgresql":
            # Lock the rows first so a concurrent "points = points + x" from the bot waits
            # and then applies on top of the recomputed total.
            conn.execute(select(T_PART.c.id).where(T_PART.c.id.in_(chunk)).with_for_update())
        conn.execute(update(T_PART).where(T_PART.c.id.in_(chunk)).values(points=game + bonus))
