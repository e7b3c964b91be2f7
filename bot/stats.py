"""Researchers' /stats: participants, plays, answers, progress per class and layer, last 24 h."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from bot import dbcontext
from bot.assignment import counted_plays
from bot.texts import MAX_TEXT, fit
from storage.models import (
    Answer,
    Cluster,
    ConceptTest,
    Generation,
    Image,
    Model,
    Participant,
    Play,
    utcnow,
)

MAX_PROGRESS_ROWS = 40


@dataclass(frozen=True)
class Progress:
    model: str
    class_name: str
    layer: str
    depth: int
    clusters: int
    retired: int
    counted: int  # plays that count, capped per cluster at PLAYS_PER_CHALLENGE
    needed: int  # clusters × PLAYS_PER_CHALLENGE

    @property
    def percent(self) -> float:
        return 100.0 * self.counted / self.needed if self.needed else 100.0


@dataclass
class Stats:
    participants: int = 0
    active: int = 0
    declined: int = 0
    plays: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    answers: int = 0
    accepted: int = 0
    plays_last_day: int = 0
    answers_last_day: int = 0
    progress: list[Progress] = field(default_factory=list)
    # TCAV verdict → top concepts of the current generation with it
    concept_tests: dict[str, int] = field(default_factory=dict)


def _progress(session: Session, plays_per_challenge: int) -> list[Progress]:
    per_cluster = (
        select(Cluster.id.label("cid"), counted_plays().label("n"))  # type: ignore[union-attr]
        .outerjoin(Play, Play.cluster_id == Cluster.id)
        .where(Cluster.active.is_(True))
        .group_by(Cluster.id)
        .subquery()
    )
    # Grouped in Python: portable across SQLite and PostgreSQL, and the table is one row per cluster.
    rows = session.exec(
        select(
            Model.name,
            Model.classes,
            Cluster.class_index,
            Cluster.layer_name,
            Cluster.depth,
            per_cluster.c.n,
        )
        .join(per_cluster, per_cluster.c.cid == Cluster.id)
        .join(Image, Image.id == Cluster.image_id)
        .join(Model, Model.id == Image.model_id)
    ).all()
    groups: dict[tuple[str, str, str, int], list[int]] = {}
    for model, classes, class_index, layer, depth, n in rows:
        name = classes[class_index] if 0 <= class_index < len(classes) else f"class {class_index}"
        groups.setdefault((model, name, layer, depth), []).append(int(n))
    out = [
        Progress(
            model,
            name,
            layer,
            depth,
            len(ns),
            sum(n >= plays_per_challenge for n in ns),
            sum(min(n, plays_per_challenge) for n in ns),
            len(ns) * plays_per_challenge,
        )
        for (model, name, layer, depth), ns in groups.items()
    ]
    return sorted(out, key=lambda p: (p.model, p.class_name, p.depth))


def collect(plays_per_challenge: int, *, now: datetime | None = None) -> Stats:
    now = now or utcnow()
    day_ago = now - timedelta(days=1)
    with dbcontext.scope(readonly=True) as session:
        stats = Stats()
        consented = Participant.consent_at.is_not(None)  # type: ignore[union-attr]
        stats.participants = session.exec(
            select(func.count()).select_from(Participant).where(consented)
        ).one()
        stats.active = session.exec(
            select(func.count())
            .select_from(Participant)
            .where(consented, Participant.active.is_(True))
        ).one()
        stats.declined = session.exec(
            select(func.count()).select_from(Participant).where(Participant.consent_at.is_(None))  # type: ignore[union-attr]
        ).one()
        for outcome, n in session.exec(
            select(Play.outcome, func.count()).group_by(Play.outcome)
        ).all():
            stats.outcomes[outcome or "open"] = int(n)
        stats.plays = sum(stats.outcomes.values())
        stats.answers = session.exec(select(func.count()).select_from(Answer)).one()
        stats.accepted = session.exec(
            select(func.count()).select_from(Answer).where(Answer.accepted.is_(True))
        ).one()
        stats.plays_last_day = session.exec(
            select(func.count()).select_from(Play).where(Play.served_at >= day_ago)
        ).one()
        stats.answers_last_day = session.exec(
            select(func.count()).select_from(Answer).where(Answer.created_at >= day_ago)
        ).one()
        stats.progress = _progress(session, plays_per_challenge)
        current = select(Generation.id).where(Generation.is_current.is_(True))
        for verdict, n in session.exec(
            select(ConceptTest.verdict, func.count())
            .where(ConceptTest.generation.in_(current))  # type: ignore[attr-defined]
            .group_by(ConceptTest.verdict)
        ).all():
            stats.concept_tests[str(verdict)] = int(n)
        return stats


def format_stats(stats: Stats) -> str:
    outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.outcomes.items())) or "none"
    lines = [
        f"Participants: {stats.participants:,} ({stats.active:,} active, {stats.declined:,} declined consent)",
        f"Plays: {stats.plays:,} ({outcomes})",
        f"Answers: {stats.answers:,} ({stats.accepted:,} accepted, {stats.answers - stats.accepted:,} flagged)",
        f"Last 24 h: {stats.plays_last_day:,} plays, {stats.answers_last_day:,} answers",
        "",
        "Progress per class and layer (clusters done / total, plays collected):",
    ]
    for p in stats.progress[:MAX_PROGRESS_ROWS]:
        lines.append(f"{p.class_name} · {p.layer}: {p.retired}/{p.clusters} done, {p.percent:.0f}%")
    if len(stats.progress) > MAX_PROGRESS_ROWS:
        lines.append(f"… and {len(stats.progress) - MAX_PROGRESS_ROWS} more (see /export)")
    if not stats.progress:
        lines.append("no challenges yet (run inv precompute)")
    tested = ", ".join(f"{n:,} {v}" for v, n in sorted(stats.concept_tests.items()))
    lines += ["", f"Top concepts tested against the network (TCAV): {tested or 'none yet'}"]
    return fit("\n".join(lines), MAX_TEXT)
