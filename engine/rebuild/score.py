"""Stage "score": label scores, merged clusters and global-explanation payloads per class.

Per class: each answer votes for its phrase's concept with its player's trust; the aggregation
rules (engine.labels.aggregation) turn votes into label scores and settledness per cluster;
clusters of one image and layer with the same best concept are merged (engine.labels.scores);
the payloads per layer, with merged maps and example overlays written as files, come from
engine.global_explanations.build. Copy-paste pairs are judged on every vote of this rebuild at
once, as they show across classes. The PNG charts are drawn later, after the concept tests.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.rebuild.context import Failures, RebuildContext, class_failed
from engine.rebuild.group import ClassConcepts
from engine.rebuild.load import AnswerRow
from storage.models import utcnow
from storage.tables import T_CLUSTER, T_IMAGE

# Threads that write merged maps and overlays (PIL encodes without the GIL).
FILE_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ScoreInput:
    by_class: Mapping[int, tuple[AnswerRow, ...]]
    phrase_of: Mapping[int, str]  # answer id → cleaned phrase
    concepts: Mapping[int, ClassConcepts]
    classes: tuple[int, ...]
    names: Mapping[int, list[str]]  # model id → its class names
    generation: int
    skip: frozenset[int]  # classes that failed in an earlier stage


@dataclass(frozen=True)
class ClassResult:
    """The rows one class contributes to the new generation."""

    class_index: int
    concepts: list[dict[str, Any]]  # {"id", "name", "phrases", "new"}
    answer_concepts: list[dict[str, Any]]
    merged: list[dict[str, Any]]
    explanations: list[dict[str, Any]]  # payloads: charts named by the draw stage
    statuses: list[dict[str, Any]]


@dataclass(frozen=True)
class Scored:
    results: tuple[ClassResult, ...]  # classes without answers left have empty results
    failed: Failures


def score(ctx: RebuildContext, given: ScoreInput) -> Scored:
    from engine.labels.aggregation import copy_sources, first_votes
    from engine.labels.scores import Vote

    clusters_by_class, crops = _clusters(ctx, list(given.by_class))
    sources = copy_sources(
        first_votes(
            Vote(r.id, r.play_id, r.participant_id, r.cluster_id, concept, 1.0, 0, False)
            for class_index, rows in given.by_class.items()
            if class_index not in given.skip
            for r in rows
            for concept in (_concept_of(given, class_index, r),)
            if concept is not None
        )
    )
    results: list[ClassResult] = []
    failed: dict[int, str] = {}
    with ThreadPoolExecutor(FILE_THREADS, thread_name_prefix="inv-files") as executor:
        for n, class_index in enumerate(given.classes):
            if class_index in given.skip:
                continue
            rows = given.by_class.get(class_index, ())
            if not rows:  # every answer gone: the class publishes nothing
                results.append(ClassResult(class_index, [], [], [], [], []))
                continue
            base = 0.5 + 0.35 * n / max(len(given.classes), 1)
            step = 0.35 / max(len(given.classes), 1)
            try:
                results.append(
                    _score_class(
                        ctx,
                        given,
                        class_index,
                        clusters_by_class[class_index],
                        crops,
                        sources,
                        lambda f, base=base, step=step: ctx.progress("score", base + step * f),
                        executor,
                    )
                )
            except Exception as exc:
                failed[class_index] = class_failed(class_index, "scoring", exc)
    return Scored(tuple(results), failed)


def _concept_of(given: ScoreInput, class_index: int, row: AnswerRow) -> int | None:
    concepts = given.concepts.get(class_index)
    return None if concepts is None else concepts.mapping.get(given.phrase_of[row.id])


def _clusters(
    ctx: RebuildContext, classes: list[int]
) -> tuple[dict[int, list[tuple[Any, ...]]], dict[int, str]]:
    """Per class its clusters' (id, image_id, layer_name, depth, weight, n_maps, map_file);
    and the crop file of each of their images."""
    c = T_CLUSTER
    clusters_by_class: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    with ctx.engine.connect() as conn:
        for row in conn.execute(
            select(
                c.c.id,
                c.c.image_id,
                c.c.layer_name,
                c.c.depth,
                c.c.weight,
                c.c.n_maps,
                c.c.map_file,
                c.c.class_index,
            ).where(c.c.class_index.in_(classes))
        ):
            clusters_by_class[row[7]].append(tuple(row[:7]))
        crops = dict(
            conn.execute(
                select(T_IMAGE.c.id, T_IMAGE.c.crop_file)
                .select_from(T_IMAGE.join(c, c.c.image_id == T_IMAGE.c.id))
                .where(c.c.class_index.in_(classes))
                .distinct()
            ).all()
        )
    return clusters_by_class, crops


def _score_class(
    ctx: RebuildContext,
    given: ScoreInput,
    class_index: int,
    clusters: list[tuple[Any, ...]],
    crops: dict[int, str],
    sources: Any,
    progress: Callable[[float], None],
    executor: Executor,
) -> ClassResult:
    from engine.global_explanations.build import ClassContext, cluster_infos, explain_class
    from engine.labels.aggregation import SupportRules, aggregate
    from engine.labels.agreement import LabelVote, agreement_bonuses
    from engine.labels.scores import Vote, merge_clusters

    rows = given.by_class[class_index]
    concepts = given.concepts[class_index]
    concept_names = {m["id"]: m["name"] for m in concepts.meta}
    votes = [
        Vote(
            r.id,
            r.play_id,
            r.participant_id,
            r.cluster_id,
            concepts.mapping[given.phrase_of[r.id]],
            r.trust,
            r.hint_level,
            r.correct,
            r.resigned,
        )
        for r in rows
    ]
    bonuses = agreement_bonuses(
        LabelVote(v.answer_id, v.play_id, v.participant_id, v.cluster_id, v.concept) for v in votes
    )
    labels = ctx.labels
    rules = SupportRules(
        min_agreement=labels.min_agreement,
        min_support=labels.min_support,
        min_clusters=labels.min_clusters,
    )
    support = aggregate(votes, rules, sources=sources)
    scores = {cid: s.scores for cid, s in support.items() if s.scores}
    statuses = [
        {
            "cluster_id": cid,
            "generation": given.generation,
            "settled": s.top_share > 0 and s.margin >= labels.settle_margin,
            "top_share": round(s.top_share, 6),
            "margin": round(s.margin, 6),
            "labellers": s.labellers,
        }
        for cid, s in sorted(support.items())
    ]
    infos = cluster_infos(clusters)
    tie = lambda cid, names=concept_names: (names.get(cid, ""), cid)  # noqa: E731
    merged = merge_clusters((infos[cid] for cid in scores if cid in infos), scores, tie)
    model_classes = given.names.get(rows[0].model_id, [])
    class_name = (
        model_classes[class_index] if 0 <= class_index < len(model_classes) else str(class_index)
    )
    layers = sorted({(info.depth, info.layer_name) for info in infos.values()})
    explained = ClassContext(
        class_index=class_index,
        class_name=class_name,
        generation=given.generation,
        data_dir=Path(ctx.data_dir),
        layers=layers,
        concept_names=concept_names,
        crops=crops,
        class_answers=len(votes),
    )
    explanations = explain_class(explained, merged, progress, executor)
    _add_agreement(explanations, votes, statuses, clusters)
    gen = given.generation
    return ClassResult(
        class_index=class_index,
        concepts=concepts.meta,
        answer_concepts=[
            {
                "answer_id": v.answer_id,
                "concept_id": v.concept,
                "generation": gen,
                "bonus_points": bonuses[v.answer_id],
            }
            for v in votes
        ],
        merged=[
            {
                "generation": gen,
                "image_id": g.image_id,
                "class_index": class_index,
                "layer_name": g.layer_name,
                "depth": g.depth,
                "member_cluster_ids": g.member_ids,
                "weight": g.weight,
                "n_maps": g.n_maps,
                "best_concept_id": g.best,
                "best_score": g.best_score,
                "label_scores": {str(k): round(v, 9) for k, v in g.scores.items()},
                # A single cluster's map is its own; a merged group's is the weighted mean of
                # its members', written under charts/merged/.
                "map_file": g.map_file,
            }
            for g in merged
        ],
        explanations=[
            {
                "generation": gen,
                "class_index": class_index,
                "layer_name": e.layer_name,
                "depth": e.depth,
                "payload": e.payload,
                "chart_file": None,  # named when drawn, after the concept tests
                "created_at": utcnow(),
            }
            for e in explanations
        ],
        statuses=statuses,
    )


def _add_agreement(
    explanations: Sequence[Any],
    votes: Sequence[Any],
    statuses: Sequence[dict[str, Any]],
    clusters: Sequence[tuple[Any, ...]],
) -> None:
    """Each layer's payload gets its agreement figures: Krippendorff's alpha (MASI) over its
    clusters and how many of its labelled clusters have a settled top concept."""
    from engine.labels.reliability import ALPHA_METHOD, answer_sets, masi_alpha

    layer_of = {row[0]: row[2] for row in clusters}
    sets = answer_sets(votes)
    settled = {s["cluster_id"] for s in statuses if s["settled"]}
    for explanation in explanations:
        layer = explanation.layer_name
        mine = {c: people for c, people in sets.items() if layer_of.get(c) == layer}
        explanation.payload["agreement"] = {
            "alpha_masi": masi_alpha(mine),
            "method": ALPHA_METHOD,
            "clusters": len(mine),
            "settled": len(settled & set(mine)),
        }
