"""Researchers' /stats: a summary that fits one message; and the words of /rebuild's replies.

The summary opens with the overall progress (plays done of those needed, players active today,
words, concepts), then a few short lines; the details per class and layer are in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from bot import dbcontext
from bot.assignment import counted_plays
from bot.texts import MAX_TEXT, fit, plural
from storage.crowd_quality import crowd_quality, summary_line
from storage.models import (
    Answer,
    Cluster,
    Concept,
    ConceptTest,
    Generation,
    Image,
    Model,
    Participant,
    Play,
    utcnow,
)


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
    active_today: int = 0  # players seen in the last 24 hours
    concepts: int = 0
    progress: list[Progress] = field(default_factory=list)
    # TCAV verdict → top concepts of the current generation with it
    concept_tests: dict[str, int] = field(default_factory=dict)
    quality: str = ""  # one line: agreement, settled share, reliability


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
        stats.active_today = session.exec(
            select(func.count())
            .select_from(Participant)
            .where(consented, Participant.last_seen_at >= day_ago)
        ).one()
        stats.concepts = session.exec(select(func.count()).select_from(Concept)).one()
        stats.progress = _progress(session, plays_per_challenge)
        current = select(Generation.id).where(Generation.is_current.is_(True))
        for verdict, n in session.exec(
            select(ConceptTest.verdict, func.count())
            .where(ConceptTest.generation.in_(current))  # type: ignore[attr-defined]
            .group_by(ConceptTest.verdict)
        ).all():
            stats.concept_tests[str(verdict)] = int(n)
        stats.quality = summary_line(crowd_quality(session))
        return stats


LEAST_DONE_SHOWN = 5


def format_stats(stats: Stats) -> str:
    """The summary: overall progress first, then one short line per topic."""
    counted = sum(p.counted for p in stats.progress)
    needed = sum(p.needed for p in stats.progress)
    clusters = sum(p.clusters for p in stats.progress)
    retired = sum(p.retired for p in stats.progress)
    share = f" ({100 * counted / needed:.0f}%)" if needed else ""
    lines = [
        f"Progress: {counted:,} of {needed:,} plays done{share}; "
        f"{plural(stats.active_today, 'player')} active today; {plural(stats.answers, 'word')}; "
        f"{plural(stats.concepts, 'concept')}.",
        *([stats.quality] if stats.quality else []),
        "",
        f"Challenges: {retired:,} of {clusters:,} finished.",
        f"Players: {stats.participants:,} joined ({stats.active:,} reachable), "
        f"{stats.declined:,} declined.",
    ]
    outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.outcomes.items())) or "none yet"
    lines.append(f"Plays: {stats.plays:,} ({outcomes}).")
    lines.append(f"Words: {stats.accepted:,} accepted, {stats.answers - stats.accepted:,} flagged.")
    lines.append(
        f"Last 24 h: {plural(stats.plays_last_day, 'play')}, "
        f"{plural(stats.answers_last_day, 'word')}."
    )
    by_class: dict[str, list[Progress]] = {}
    for progress in stats.progress:
        by_class.setdefault(progress.class_name, []).append(progress)
    if by_class:
        shares = sorted(
            (sum(p.counted for p in ps) / max(1, sum(p.needed for p in ps)), name)
            for name, ps in by_class.items()
        )
        least = ", ".join(
            f"{fit(name.split(',')[0], 40)} {100 * share:.0f}%"
            for share, name in shares[:LEAST_DONE_SHOWN]
        )
        lines.append(f"Least done ({len(by_class):,} classes): {least}.")
        lines.append("Per class and layer: /report (or inv report).")
    else:
        lines.append("No challenges yet (run inv precompute).")
    tested = ", ".join(f"{n:,} {v}" for v, n in sorted(stats.concept_tests.items()))
    lines.append(f"Top concepts tested against the network (TCAV): {tested or 'none yet'}.")
    return fit("\n".join(lines), MAX_TEXT)


# ---- /rebuild -------------------------------------------------------------------------------

REBUILD_STAGES = {
    "prepare": "getting ready",
    "load": "reading the players' words",
    "clean": "cleaning the words",
    "embed": "comparing phrases",
    "group": "grouping synonyms into concepts",
    "score": "scoring concepts",
    "charts": "drawing the charts",
    "switch": "publishing the new results",
    "done": "finishing",
}


def rebuild_stage(stage: str) -> str:
    return REBUILD_STAGES.get(stage, stage)


def class_names() -> list[str]:
    """The class names of the newest model (what the rebuild's class numbers refer to)."""
    with dbcontext.scope(readonly=True) as session:
        classes = session.exec(select(Model.classes).order_by(Model.id.desc())).first()  # type: ignore[union-attr]
        return list(classes or [])


def rebuild_summary(report: Any, names: list[str], shown: int = 12) -> str:
    """The rebuild's result in words, with class names instead of numbers."""
    rebuilt = list(getattr(report, "classes_rebuilt", []) or [])
    if not getattr(report, "ran", True) or getattr(report, "error", None) or not rebuilt:
        return str(report.summary())
    labels = [
        fit(names[c].split(",")[0], 40) if 0 <= c < len(names) else f"class {c}"
        for c in rebuilt[:shown]
    ]
    more = f" and {len(rebuilt) - shown:,} more" if len(rebuilt) > shown else ""
    count = f"{len(rebuilt):,} class" + ("" if len(rebuilt) == 1 else "es")
    return (
        f"Rebuilt {count} ({', '.join(labels)}{more}): "
        f"{report.concepts:,} concepts from {report.answers:,} words, "
        f"{report.charts:,} charts, in {report.seconds:.1f} s (generation {report.generation})."
    )
