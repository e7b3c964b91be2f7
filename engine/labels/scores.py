"""Label scores per (cluster, concept) and the merging of clusters that share a best concept.

    score(C, ℓ) = f · (1 − 0.1 · p̄) · (1 if a correct guess produced ℓ on C, else ¼)

f is the trust-weighted frequency (the sum of the players' trusts) and p̄ the trust-weighted mean
hint level; a resign counts as hint level 5. A play votes once per concept: two labels of one
player on one challenge that fall into the same concept ("wheel, wheels") are one vote.

Agreement (as in the ESP game): a concept scores on a cluster only when at least `min_agreement`
different participants gave it there. One person's stray word ("pizza" on a cat's ear) then never
becomes what a cluster is known for; the rebuild uses the MIN_AGREEMENT setting (default 2).

Clusters of one image and layer that share a best concept are merged, transitively: weights and
map counts summed, label scores weight-averaged. Pure functions over plain records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

HINT_PENALTY = 0.1
RESIGN_LEVEL = 5
WRONG_GUESS_FACTOR = 0.25
_TIE = 1e-9


@dataclass(frozen=True)
class Vote:
    """One answer (label) on one cluster, mapped to a concept."""

    answer_id: int
    play_id: int
    participant_id: int
    cluster_id: int
    concept: int
    trust: float
    hint_level: float
    correct: bool  # the play's guess was the cluster's class
    resigned: bool = False


def vote_level(vote: Vote) -> float:
    return float(RESIGN_LEVEL) if vote.resigned else float(vote.hint_level)


def label_score(trusts: Sequence[float], levels: Sequence[float], any_correct: bool) -> float:
    """score = f·(1 − 0.1·p̄)·(1 or ¼) for the votes (trust, level) of one concept on one cluster."""
    f = float(sum(trusts))
    if f <= 0:
        return 0.0
    mean_level = sum(t * lv for t, lv in zip(trusts, levels, strict=True)) / f
    return f * (1.0 - HINT_PENALTY * mean_level) * (1.0 if any_correct else WRONG_GUESS_FACTOR)


def label_scores(votes: Iterable[Vote], min_agreement: int = 1) -> dict[int, dict[int, float]]:
    """cluster id → concept → score, one vote per (play, concept) (its first answer).

    Concepts given on a cluster by fewer than `min_agreement` distinct participants are left out.
    """
    first: dict[tuple[int, int], Vote] = {}
    for vote in sorted(votes, key=lambda v: v.answer_id):
        first.setdefault((vote.play_id, vote.concept), vote)
    grouped: dict[tuple[int, int], list[Vote]] = defaultdict(list)
    for vote in first.values():
        grouped[(vote.cluster_id, vote.concept)].append(vote)
    scores: dict[int, dict[int, float]] = defaultdict(dict)
    for (cluster_id, concept), group in sorted(grouped.items()):
        if len({v.participant_id for v in group}) < min_agreement:
            continue
        scores[cluster_id][concept] = label_score(
            [v.trust for v in group], [vote_level(v) for v in group], any(v.correct for v in group)
        )
    return dict(scores)


def best_concepts(scores: dict[int, float]) -> set[int]:
    """The concepts with the top score (ties all kept); empty when nothing scores above 0."""
    if not scores:
        return set()
    top = max(scores.values())
    if top <= 0:
        return set()
    return {c for c, s in scores.items() if s >= top - _TIE * max(1.0, abs(top))}


@dataclass(frozen=True)
class ClusterInfo:
    cluster_id: int
    image_id: int
    layer_name: str
    depth: int
    weight: float
    n_maps: int
    map_file: str


@dataclass
class MergedGroup:
    """Clusters of one image and layer merged because they share a best concept."""

    image_id: int
    layer_name: str
    depth: int
    members: list[ClusterInfo]
    weight: float
    n_maps: int
    scores: dict[int, float]
    best: int | None
    best_score: float
    member_weights: list[float] = field(default_factory=list)
    map_file: str | None = None  # the member's map, or the merged map once written

    @property
    def member_ids(self) -> list[int]:
        return [m.cluster_id for m in self.members]


def merge_clusters(
    clusters: Iterable[ClusterInfo],
    scores: dict[int, dict[int, float]],
    tie_key: Callable[[int], Hashable] | None = None,
) -> list[MergedGroup]:
    """Merged groups of the clusters that have label scores, per (image, layer).

    `tie_key(concept)` orders concepts whose merged scores tie (default: the concept itself), so
    the best concept of a group is deterministic.
    """
    key = tie_key or (lambda c: c)
    by_place: dict[tuple[int, str], list[ClusterInfo]] = defaultdict(list)
    for info in clusters:
        if scores.get(info.cluster_id):
            by_place[(info.image_id, info.layer_name)].append(info)
    merged: list[MergedGroup] = []
    for (image_id, layer_name), infos in sorted(by_place.items()):
        infos.sort(key=lambda c: c.cluster_id)
        parent = list(range(len(infos)))

        def find(i: int, parent: list[int] = parent) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        owner: dict[int, int] = {}
        for i, info in enumerate(infos):
            for concept in best_concepts(scores[info.cluster_id]):
                if concept in owner:
                    parent[find(i)] = find(owner[concept])
                else:
                    owner[concept] = i
        parts: dict[int, list[ClusterInfo]] = defaultdict(list)
        for i, info in enumerate(infos):
            parts[find(i)].append(info)
        for members in parts.values():
            merged.append(_merge(image_id, layer_name, members, scores, key))
    merged.sort(key=lambda g: (g.image_id, g.depth, g.layer_name, g.member_ids))
    return merged


def _merge(
    image_id: int,
    layer_name: str,
    members: list[ClusterInfo],
    scores: dict[int, dict[int, float]],
    key: Callable[[int], Hashable],
) -> MergedGroup:
    weights = [m.weight for m in members]
    total = sum(weights)
    # Zero total weight cannot happen for kept clusters; fall back to a plain mean if it does.
    factors = [w / total for w in weights] if total > 0 else [1.0 / len(members)] * len(members)
    merged_scores: dict[int, float] = defaultdict(float)
    for member, factor in zip(members, factors, strict=True):
        for concept, score in scores[member.cluster_id].items():
            merged_scores[concept] += factor * score
    best: int | None = None
    best_score = 0.0
    if merged_scores:
        best = max(merged_scores, key=lambda c: (round(merged_scores[c], 9), _Reverse(key(c))))
        best_score = merged_scores[best]
    return MergedGroup(
        image_id=image_id,
        layer_name=layer_name,
        depth=members[0].depth,
        members=members,
        weight=total,
        n_maps=sum(m.n_maps for m in members),
        scores=dict(sorted(merged_scores.items())),
        best=best if best_score > 0 else None,
        best_score=best_score,
        member_weights=weights,
        map_file=members[0].map_file if len(members) == 1 else None,
    )


class _Reverse:
    """Reverses an ordering, so max() on ties prefers the smallest key."""

    __slots__ = ("value",)

    def __init__(self, value: Hashable) -> None:
        self.value = value

    def __lt__(self, other: _Reverse) -> bool:
        return other.value < self.value  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)
