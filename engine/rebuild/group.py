"""Stage "group": each class's phrases merged into named concepts (engine.labels.grouping).

A concept keeps its id across rebuilds when its phrases overlap an earlier concept of the class
(engine.labels.identity), and its name while that still fits. New concepts are inserted now, in
the generation being built (invisible to readers until the switch); the matched ones are
updated at the switch.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from engine.rebuild.context import Failures, RebuildContext, class_failed
from engine.rebuild.load import AnswerRow
from storage.db import session_scope
from storage.models import utcnow
from storage.tables import T_CONCEPT


@dataclass(frozen=True)
class GroupInput:
    pipe: Any  # engine.labels.pipeline.LabelPipeline
    by_class: Mapping[int, tuple[AnswerRow, ...]]
    phrase_of: Mapping[int, str]  # answer id → cleaned phrase
    current_id: int | None
    classes: tuple[int, ...]
    generation: int


@dataclass(frozen=True)
class ClassConcepts:
    mapping: Mapping[str, int]  # phrase → concept id
    meta: list[dict[str, Any]]  # {"id", "name", "phrases", "new"} per concept
    updates: list[dict[str, Any]]  # new name, phrases and last generation of matched concepts


@dataclass(frozen=True)
class Grouped:
    concepts: Mapping[int, ClassConcepts]  # per class that did not fail
    failed: Failures


def group(ctx: RebuildContext, given: GroupInput) -> Grouped:
    from engine.labels.identity import KnownConcept, match_concepts, stable_names

    previous: dict[int, list[KnownConcept]] = defaultdict(list)
    if given.current_id is not None:
        with ctx.engine.connect() as conn:
            for cid, cls, name, phrases in conn.execute(
                select(
                    T_CONCEPT.c.id, T_CONCEPT.c.class_index, T_CONCEPT.c.name, T_CONCEPT.c.phrases
                )
                .where(
                    T_CONCEPT.c.last_generation == given.current_id,
                    T_CONCEPT.c.class_index.in_(list(given.classes)),
                )
                .order_by(T_CONCEPT.c.id)
            ):
                previous[cls].append(KnownConcept(cid, name, frozenset(phrases or [])))
    failed: dict[int, str] = {}
    new_rows: list[tuple[int, int, dict[str, Any]]] = []  # (class, group index, row)
    pending: dict[int, tuple[list[Any], list[str], dict[int, KnownConcept]]] = {}
    for n, class_index in enumerate(sorted(given.by_class)):
        counts = Counter(given.phrase_of[r.id] for r in given.by_class[class_index])
        phrases = sorted(counts)
        try:
            groups = given.pipe.group(phrases, [counts[p] for p in phrases])
            sets = [frozenset(g.phrases) for g in groups]
            matched = match_concepts(sets, previous.get(class_index, []))
            tokens = [{w for p in g.phrases for w in p.split()} for g in groups]
            names = stable_names([g.name for g in groups], tokens, matched)
        except Exception as exc:
            failed[class_index] = class_failed(class_index, "grouping", exc)
            continue
        pending[class_index] = (groups, names, matched)
        for gi, found in enumerate(groups):
            if gi not in matched:
                row = {
                    "class_index": class_index,
                    "name": names[gi][:200],
                    "phrases": sorted(found.phrases),
                    "first_generation": given.generation,
                    "last_generation": given.generation,
                    "created_at": utcnow(),
                }
                new_rows.append((class_index, gi, row))
        ctx.progress("group", 0.4 + 0.1 * (n + 1) / max(len(given.by_class), 1))
    new_ids: dict[tuple[int, int], int] = {}
    with session_scope(ctx.engine) as session:
        for class_index, gi, row in new_rows:
            new_ids[(class_index, gi)] = session.execute(
                insert(T_CONCEPT).values(**row)
            ).inserted_primary_key[0]
    concepts: dict[int, ClassConcepts] = {}
    for class_index, (groups, names, matched) in pending.items():
        mapping: dict[str, int] = {}
        meta: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for gi, found in enumerate(groups):
            if gi in matched:
                cid = matched[gi].id
                updates.append(
                    {
                        "b_id": cid,
                        "name": names[gi][:200],
                        "phrases": sorted(found.phrases),
                        "last_generation": given.generation,
                    }
                )
            else:
                cid = new_ids[(class_index, gi)]
            meta.append(
                {"id": cid, "name": names[gi], "phrases": found.phrases, "new": gi not in matched}
            )
            for phrase in found.phrases:
                mapping[phrase] = cid
        concepts[class_index] = ClassConcepts(mapping, meta, updates)
    return Grouped(concepts, failed)
