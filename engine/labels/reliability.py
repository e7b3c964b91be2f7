"""Agreement figures: how much players agree on what a cluster shows.

Players give several labels per cluster, so plain nominal alpha (one value per coder and item)
does not fit. Each player's answer on a cluster is taken as the *set* of concepts they gave, and
Krippendorff's alpha is computed with the MASI set distance (Passonneau 2006): 0 for equal sets,
small for nested or overlapping ones, 1 for disjoint ones. Items are the clusters of one class
and layer; coders are the players. crowd-kit's `alpha_krippendorff` (over nltk's
`AnnotationTask`) computes it.

alpha = 1 is perfect agreement, 0 what chance would give, below 0 systematic disagreement; a
cluster with a single player carries no agreement information and is left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from statistics import median

from engine.labels.scores import Vote

ALPHA_METHOD = "Krippendorff's alpha, MASI distance over each player's concept set per cluster"


def answer_sets(votes: Iterable[Vote]) -> dict[int, dict[int, frozenset[int]]]:
    """cluster → participant → the set of concepts they gave there."""
    sets: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for vote in votes:
        sets[vote.cluster_id][vote.participant_id].add(vote.concept)
    return {c: {p: frozenset(s) for p, s in people.items()} for c, people in sets.items()}


def masi_alpha(sets: dict[int, dict[int, frozenset[int]]]) -> float | None:
    """Alpha over the clusters with at least two players; None when there is nothing to compare
    or the answers do not vary at all (alpha is then undefined)."""
    rows = [
        (participant, cluster, concepts)
        for cluster, people in sorted(sets.items())
        if len(people) >= 2
        for participant, concepts in sorted(people.items())
    ]
    if len({cluster for _, cluster, _ in rows}) < 1 or len({c for _, _, c in rows}) < 2:
        return None
    import pandas as pd
    from crowdkit.metrics.data import alpha_krippendorff
    from nltk.metrics.distance import masi_distance

    frame = pd.DataFrame(rows, columns=["worker", "task", "label"])
    try:
        value = alpha_krippendorff(frame, masi_distance)
    except ZeroDivisionError:  # no expected disagreement: every set alike
        return None
    return round(float(value), 4)


def summarise(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Median, min and max of the defined values, and how many there are."""
    defined = [v for v in values if v is not None]
    if not defined:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": round(median(defined), 4),
        "min": round(min(defined), 4),
        "max": round(max(defined), 4),
        "n": len(defined),
    }
