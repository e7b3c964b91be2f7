"""Rebuild generations: which one readers see, and how a new one starts, fails or takes over.

A rebuild writes a new generation beside the current one and switches in one transaction, so
readers (the report, the export, the bot) always see a complete generation. These are the only
queries that decide which generation is current.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from storage.models import utcnow
from storage.tables import T_CONCEPT, T_GEN

# The longest error text a failed generation keeps.
MAX_ERROR_LENGTH = 2000


class CurrentGeneration(NamedTuple):
    id: int
    answers_seen: int  # answers up to this id were taken into account
    failed_classes: dict[str, str] | None  # class index → error, for classes that kept old rows


def current(conn: Connection | Session) -> CurrentGeneration | None:
    """The generation readers see, or None before the first rebuild."""
    row = conn.execute(
        select(T_GEN.c.id, T_GEN.c.answers_seen, T_GEN.c.failed_classes).where(T_GEN.c.is_current)
    ).first()
    if row is None:
        return None
    return CurrentGeneration(row.id, row.answers_seen, row.failed_classes)


def current_id(conn: Connection | Session) -> int | None:
    found = current(conn)
    return found.id if found is not None else None


def start(session: Session, classes: Sequence[int], answers_seen: int) -> int:
    """A new generation in 'building' for `classes`; its id."""
    return session.execute(
        insert(T_GEN).values(
            status="building",
            is_current=False,
            classes=list(classes),
            answers_seen=answers_seen,
            started_at=utcnow(),
        )
    ).inserted_primary_key[0]


def mark_failed(session: Session, generation: int, error: str) -> None:
    """A generation still building failed; the current one stays current."""
    session.execute(
        update(T_GEN)
        .where(T_GEN.c.id == generation, T_GEN.c.status == "building")
        .values(status="failed", error=error[:MAX_ERROR_LENGTH], finished_at=utcnow())
    )


def fail_interrupted(session: Session) -> None:
    """Generations left 'building' by a crashed process failed; drop the concepts they added."""
    session.execute(
        update(T_GEN)
        .where(T_GEN.c.status == "building")
        .values(status="failed", error="interrupted", finished_at=utcnow())
    )
    unfinished = select(T_GEN.c.id).where(T_GEN.c.status != "done")
    session.execute(delete(T_CONCEPT).where(T_CONCEPT.c.first_generation.in_(unfinished)))


def switch(
    conn: Connection,
    generation: int,
    *,
    answers_seen: int,
    classes: Sequence[int],
    failed_classes: Mapping[int, str],
) -> None:
    """Make `generation` the current one (call inside the transaction that completes it).

    `classes` are those it rebuilt; `failed_classes` those of them that failed and kept the
    previous generation's rows, with the error of each.
    """
    conn.execute(update(T_GEN).where(T_GEN.c.is_current).values(is_current=False))
    conn.execute(
        update(T_GEN)
        .where(T_GEN.c.id == generation)
        .values(
            is_current=True,
            status="done",
            finished_at=utcnow(),
            answers_seen=answers_seen,
            classes=list(classes),
            failed_classes={str(c): e for c, e in sorted(failed_classes.items())},
        )
    )
