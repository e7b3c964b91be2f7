"""Concept identity across rebuilds: a new group inherits an old concept's id (and, when it still
fits, its name) when their phrase sets overlap by Jaccard ≥ 0.5, so exports and leaderboards do not
reshuffle every time the groups are recomputed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MIN_JACCARD = 0.5


@dataclass(frozen=True)
class KnownConcept:
    id: int
    name: str
    phrases: frozenset[str]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def match_concepts(
    groups: Sequence[frozenset[str]],
    previous: Sequence[KnownConcept],
    min_jaccard: float = MIN_JACCARD,
) -> dict[int, KnownConcept]:
    """new group index → the previous concept it continues (one-to-one, best overlaps first)."""
    by_phrase: dict[str, list[int]] = {}
    for j, concept in enumerate(previous):
        for phrase in concept.phrases:
            by_phrase.setdefault(phrase, []).append(j)
    pairs: list[tuple[float, int, int]] = []
    for i, group in enumerate(groups):
        candidates = {j for phrase in group for j in by_phrase.get(phrase, ())}
        for j in candidates:
            score = jaccard(group, previous[j].phrases)
            if score >= min_jaccard:
                pairs.append((score, i, j))
    # Highest overlap first; ties by group order, then the older (smaller) concept id.
    pairs.sort(key=lambda p: (-p[0], p[1], previous[p[2]].id))
    matched: dict[int, KnownConcept] = {}
    taken: set[int] = set()
    for _, i, j in pairs:
        if i in matched or j in taken:
            continue
        matched[i] = previous[j]
        taken.add(j)
    return matched


def stable_names(
    names: Sequence[str],
    tokens: Sequence[set[str]],
    matched: dict[int, KnownConcept],
) -> list[str]:
    """Each group's name: the old concept's when it is still one of the group's words and no
    other group is named that way now; otherwise the freshly chosen representative."""
    taken = set(names)
    result = list(names)
    for i, concept in matched.items():
        old = concept.name
        if old == names[i]:
            continue
        if old in tokens[i] and old not in taken:
            taken.discard(names[i])
            taken.add(old)
            result[i] = old
    return result
