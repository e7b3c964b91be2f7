"""Which concepts a cluster is known for, robust to noise, spammers and copy-paste.

A concept names a cluster only with enough *independent, reliable* support:

1. **Reliability.** Each vote weighs its player's trust: their ability estimated from every
   play (`engine.labels.ability`), so spammers and careless players, who also guess badly,
   count little.
2. **Independence.** Players who paste the same labels (a copy-paste pair, friends sharing
   answers) would pass any agreement rule together: `copy_sources` makes two players whose
   concept sets are identical on most clusters they share one source.
3. **Relative support.** On a cluster, a concept needs at least `min_agreement` independent
   sources and a reliability-weighted share `min_support` of the weight of everyone who
   labelled that cluster, not an absolute count of two.
4. **Recurrence.** A concept of a class must pass (3) on at least `min_clusters` clusters of
   the class. Two players who happen to type the same stray word on one cluster is a
   coincidence that does not repeat across the class's clusters; what the class looks like does.

crowd-kit's models were tried for (1) and (2) and left out: MACE, Dawid–Skene and GLAD assume one
true label per item, while a player gives several labels per cluster, so an honest player's
second label reads as spam (on a 30-player demo crowd MACE's competence did not separate the
spammers from honest players, and took three minutes for 527 answers); none models copying.
crowd-kit's Krippendorff's alpha serves the agreement figures (`engine.labels.reliability`).

The scores of what passes are the label scores of `engine.labels.scores` (f is the summed weight
of the independent sources). Pure functions over plain records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.labels.scores import Vote, label_score, vote_level

DEFAULT_MIN_SUPPORT = 0.3
DEFAULT_MIN_CLUSTERS = 2
# Copy-paste: identical concept sets on this share of the (at least COPY_MIN_SHARED) clusters
# two players both labelled.
COPY_MIN_SHARED = 3
COPY_MIN_IDENTICAL = 0.8


@dataclass(frozen=True)
class SupportRules:
    min_agreement: int = 2
    min_support: float = DEFAULT_MIN_SUPPORT
    min_clusters: int = DEFAULT_MIN_CLUSTERS


@dataclass
class ClusterSupport:
    """The aggregation of one cluster: passing concepts' scores and how settled its top one is."""

    scores: dict[int, float]
    labellers: int  # independent sources that labelled the cluster
    # How settled the cluster is on its own evidence (rules 1-3; recurrence needs the rest of the
    # class and says nothing about whether this cluster needs more plays):
    top_share: float  # weighted share of its leading concept (0 when none passes)
    margin: float  # that share minus the runner-up's


def first_votes(votes: Iterable[Vote]) -> list[Vote]:
    """One vote per (play, concept): a player's "wheel, wheels" on one challenge is one vote."""
    first: dict[tuple[int, int], Vote] = {}
    for vote in sorted(votes, key=lambda v: v.answer_id):
        first.setdefault((vote.play_id, vote.concept), vote)
    return sorted(first.values(), key=lambda v: v.answer_id)


def copy_sources(
    votes: Sequence[Vote],
    *,
    min_shared: int = COPY_MIN_SHARED,
    min_identical: float = COPY_MIN_IDENTICAL,
) -> dict[int, int]:
    """participant → source id: players who copy each other's labels share one source."""
    sets: dict[tuple[int, int], set[int]] = defaultdict(set)
    for vote in votes:
        sets[(vote.participant_id, vote.cluster_id)].add(vote.concept)
    by_cluster: dict[int, list[int]] = defaultdict(list)
    for participant, cluster in sorted(sets):
        by_cluster[cluster].append(participant)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    identical: dict[tuple[int, int], int] = defaultdict(int)
    for cluster, people in by_cluster.items():
        for i, a in enumerate(people):
            for b in people[i + 1 :]:
                shared[(a, b)] += 1
                identical[(a, b)] += sets[(a, cluster)] == sets[(b, cluster)]
    parent = {p: p for p, _ in sets}

    def find(p: int) -> int:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for pair, n in shared.items():
        if n >= min_shared and identical[pair] >= min_identical * n:
            a, b = find(pair[0]), find(pair[1])
            parent[max(a, b)] = min(a, b)
    return {p: find(p) for p in parent}


def aggregate(
    votes: Iterable[Vote],
    rules: SupportRules = SupportRules(),
    *,
    sources: dict[int, int] | None = None,
) -> dict[int, ClusterSupport]:
    """cluster id → its support: the scores of the concepts that pass every rule.

    `sources` (participant → source, from `copy_sources`) is best computed over every class's
    votes at once, since a copy-paste pair shares only a few clusters of each class.
    """
    kept = first_votes(votes)
    source_of = sources if sources is not None else copy_sources(kept)

    def weight(vote: Vote) -> float:
        return vote.trust

    # Per cluster: each source's weight (its most reliable member) and its votes per concept.
    source_weight: dict[int, dict[int, float]] = defaultdict(dict)
    concept_votes: dict[tuple[int, int], dict[int, Vote]] = defaultdict(dict)
    for vote in kept:
        source = source_of.get(vote.participant_id, vote.participant_id)
        weights = source_weight[vote.cluster_id]
        weights[source] = max(weights.get(source, 0.0), weight(vote))
        best = concept_votes[(vote.cluster_id, vote.concept)].get(source)
        if best is None or weight(vote) > weight(best):
            concept_votes[(vote.cluster_id, vote.concept)][source] = vote
    passing: dict[int, dict[int, tuple[float, list[Vote]]]] = defaultdict(dict)
    clusters_of: dict[int, set[int]] = defaultdict(set)
    for (cluster, concept), by_source in sorted(concept_votes.items()):
        total = sum(source_weight[cluster].values())
        support = sum(weight(v) for v in by_source.values())
        if len(by_source) < rules.min_agreement or total <= 0:
            continue
        if support < rules.min_support * total:
            continue
        passing[cluster][concept] = (support / total, list(by_source.values()))
        clusters_of[concept].add(cluster)
    result: dict[int, ClusterSupport] = {}
    for cluster in sorted(source_weight):
        kept_concepts = {
            concept: entry
            for concept, entry in passing.get(cluster, {}).items()
            if len(clusters_of[concept]) >= rules.min_clusters
        }
        scores = {
            concept: label_score(
                [weight(v) for v in group],
                [vote_level(v) for v in group],
                any(v.correct for v in group),
            )
            for concept, (_, group) in kept_concepts.items()
        }
        shares = sorted((share for share, _ in passing.get(cluster, {}).values()), reverse=True)
        top = shares[0] if shares else 0.0
        runner_up = shares[1] if len(shares) > 1 else 0.0
        result[cluster] = ClusterSupport(
            scores=scores,
            labellers=len(source_weight[cluster]),
            top_share=top,
            margin=top - runner_up,
        )
    return result
