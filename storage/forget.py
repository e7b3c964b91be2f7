"""Forgetting a participant everywhere their words went, not just in their own rows.

Deleting the participant cascades to their plays, answers and those answers' concept links. Their
words also live on in derived data, which this module removes in the same transaction:

- phrases only they gave are taken out of the concepts of every generation; a concept left with
  no phrase is deleted, and one whose name came from their words is renamed after what remains;
- the global explanations of the classes concerned lose those concepts and names, and their
  chart files (pictures of the old names) are deleted; the next rebuild recomputes these classes,
  which it finds by their lost concept links;
- Sentence-BERT vectors of phrases and words nobody else gave are deleted;
- export zips and HTML reports kept under DATA_DIR that were made while they took part are
  deleted (they can be made again); copies already delivered cannot be recalled;
- the export audit keeps its rows, with their pseudonym replaced.

Files are deleted by `delete_files` after the transaction commits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session

from storage.models import (
    Participant,
)
from storage.tables import T_ANSWER, T_CLUSTER, T_CONCEPT, T_EMBED, T_EXPORT, T_GE, T_PLAY

FORGOTTEN_REQUESTER = "forgotten"  # the export audit's requested_by once its requester left
# Folders under DATA_DIR whose files are made from the whole database (exports, reports).
GENERATED_DIRS = ("exports", "reports")


@dataclass
class Forgotten:
    """What forgetting one participant removed."""

    classes: list[int] = field(default_factory=list)  # classes whose derived rows changed
    phrases_removed: int = 0
    concepts_deleted: int = 0
    embeddings_deleted: int = 0
    files: list[Path] = field(default_factory=list)  # to delete once the transaction commits


def _words(phrases: set[str]) -> set[str]:
    return {word for phrase in phrases for word in phrase.split()}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def forget_participant(session: Session, participant: Participant, data_dir: Path) -> Forgotten:
    """Delete `participant` and every trace of their words (see the module docstring)."""
    result = Forgotten()
    conn = session.connection()
    own: dict[int, set[str]] = defaultdict(set)  # class → cleaned phrases they gave
    for class_index, cleaned in conn.execute(
        select(T_CLUSTER.c.class_index, T_ANSWER.c.cleaned)
        .select_from(
            T_ANSWER.join(T_PLAY, T_ANSWER.c.play_id == T_PLAY.c.id).join(
                T_CLUSTER, T_PLAY.c.cluster_id == T_CLUSTER.c.id
            )
        )
        .where(T_PLAY.c.participant_id == participant.id, T_ANSWER.c.cleaned.is_not(None))
    ):
        if cleaned:
            own[class_index].add(cleaned)
    joined_at = _aware(participant.created_at)
    conn.execute(
        update(T_EXPORT)
        .where(T_EXPORT.c.requested_by == participant.pseudonym)
        .values(requested_by=FORGOTTEN_REQUESTER)
    )
    session.delete(participant)
    session.flush()  # the cascade removes their plays, answers and concept links

    if own:
        remaining: dict[int, set[str]] = defaultdict(set)
        for class_index, cleaned in conn.execute(
            select(T_CLUSTER.c.class_index, T_ANSWER.c.cleaned)
            .select_from(
                T_ANSWER.join(T_PLAY, T_ANSWER.c.play_id == T_PLAY.c.id).join(
                    T_CLUSTER, T_PLAY.c.cluster_id == T_CLUSTER.c.id
                )
            )
            .where(T_CLUSTER.c.class_index.in_(list(own)), T_ANSWER.c.cleaned.in_(_all(own)))
            .distinct()
        ):
            remaining[class_index].add(cleaned)
        gone = {c: own[c] - remaining[c] for c in own if own[c] - remaining[c]}
        if gone:
            _scrub_concepts(conn, gone, result)
            _delete_embeddings(conn, set().union(*gone.values()), result)
    result.files += _generated_files(conn, data_dir, joined_at)
    return result


def _all(phrases_by_class: dict[int, set[str]]) -> list[str]:
    return sorted(set().union(*phrases_by_class.values()))


def _scrub_concepts(conn: Any, gone: dict[int, set[str]], result: Forgotten) -> None:
    renamed: dict[int, str] = {}
    deleted: set[int] = set()
    for cid, class_index, name, phrases in conn.execute(
        select(
            T_CONCEPT.c.id, T_CONCEPT.c.class_index, T_CONCEPT.c.name, T_CONCEPT.c.phrases
        ).where(T_CONCEPT.c.class_index.in_(list(gone)))
    ):
        removed = gone[class_index]
        kept = [p for p in (phrases or []) if p not in removed]
        if len(kept) == len(phrases or []):
            continue
        result.phrases_removed += len(phrases or []) - len(kept)
        if not kept:
            deleted.add(cid)
            continue
        words = _words(set(kept))
        new_name = name if name in words else kept[0].split()[0]
        conn.execute(
            update(T_CONCEPT).where(T_CONCEPT.c.id == cid).values(phrases=kept, name=new_name)
        )
        if new_name != name:
            renamed[cid] = new_name
    if deleted:
        conn.execute(delete(T_CONCEPT).where(T_CONCEPT.c.id.in_(sorted(deleted))))
    result.concepts_deleted = len(deleted)
    result.classes = sorted(gone)
    _scrub_explanations(conn, sorted(gone), renamed, deleted, result)


def _scrub_explanations(
    conn: Any, classes: list[int], renamed: dict[int, str], deleted: set[int], result: Forgotten
) -> None:
    """Drop deleted concepts from the classes' payloads, rename the renamed ones, and drop the
    chart pictures, which show the old names (the next rebuild draws new ones)."""
    for ge_id, payload, chart in conn.execute(
        select(T_GE.c.id, T_GE.c.payload, T_GE.c.chart_file).where(T_GE.c.class_index.in_(classes))
    ):
        payload = dict(payload or {})
        for key in ("concepts", "trends"):
            entries = []
            for entry in payload.get(key) or []:
                cid = entry.get("concept_id")
                if cid in deleted:
                    continue
                if cid in renamed:
                    entry = {**entry, "name": renamed[cid]}
                entries.append(entry)
            if key in payload:
                payload[key] = entries
        for key in ("rising", "falling"):
            if key in payload:
                payload[key] = [c for c in payload[key] or [] if c not in deleted]
        for key in ("chart_file", "trend_chart_file"):
            if payload.get(key):
                result.files.append(Path(payload[key]))
                payload[key] = None
        if chart:
            result.files.append(Path(chart))
        conn.execute(
            update(T_GE).where(T_GE.c.id == ge_id).values(payload=payload, chart_file=None)
        )


def _delete_embeddings(conn: Any, phrases: set[str], result: Forgotten) -> None:
    """Vectors of `phrases` and of their words that no remaining answer uses."""
    candidates = phrases | _words(phrases)
    still_used: set[str] = set()
    for cleaned in conn.execute(
        select(T_ANSWER.c.cleaned).where(T_ANSWER.c.cleaned.in_(sorted(candidates))).distinct()
    ).scalars():
        still_used.add(cleaned)
    for word in _words(phrases):
        pattern = f"%{word}%"
        for cleaned in conn.execute(
            select(T_ANSWER.c.cleaned).where(T_ANSWER.c.cleaned.like(pattern)).distinct()
        ).scalars():
            if word in (cleaned or "").split():
                still_used.add(word)
                break
    unused = sorted(candidates - still_used)
    if unused:
        result.embeddings_deleted = (
            conn.execute(delete(T_EMBED).where(T_EMBED.c.phrase.in_(unused))).rowcount or 0
        )


def _generated_files(conn: Any, data_dir: Path, since: datetime) -> list[Path]:
    """Export zips and reports under DATA_DIR made since `since` (they may hold the words)."""
    files: list[Path] = []
    root = data_dir.resolve()
    for path_text, created in conn.execute(select(T_EXPORT.c.path, T_EXPORT.c.created_at)):
        path = Path(path_text).resolve()
        if _aware(created) >= since and root in path.parents:
            files.append(path)
    for folder in GENERATED_DIRS:
        directory = root / folder
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            if path.is_file() and datetime.fromtimestamp(path.stat().st_mtime, UTC) >= since:
                files.append(path)
    return files


def delete_files(data_dir: Path, files: list[Path]) -> int:
    """Delete `files` (relative ones under DATA_DIR) that lie under DATA_DIR; how many went."""
    root = data_dir.resolve()
    count = 0
    for file in dict.fromkeys(files):
        path = (file if file.is_absolute() else root / file).resolve()
        if root in path.parents and path.is_file():
            path.unlink(missing_ok=True)
            count += 1
    return count
