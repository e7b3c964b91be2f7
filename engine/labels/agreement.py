"""Concept-level agreement (ESP-game) bonus, pure Python (ARCHITECTURE §2 "Points").

A label earns the bonus when another participant had already given a label of the same concept on
the same challenge (cluster), earlier in answer order; each play earns it at most once per
concept. The rebuild applies this with the concepts it has just built and stores the result in
`AnswerConcept.bonus_points`; the same function works on any (cluster, concept) keys, e.g. on
normalised text before concepts exist.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

# Points for one agreeing label; the game's provisional bonus should use the same amount so that
# reconciliation only corrects, never rescales.
BONUS_PER_AGREEMENT = 10


@dataclass(frozen=True)
class LabelVote:
    answer_id: int  # also the answer order
    play_id: int
    participant_id: int
    cluster_id: int
    concept: Hashable


def agreement_bonuses(
    votes: Iterable[LabelVote], bonus: int = BONUS_PER_AGREEMENT
) -> dict[int, int]:
    """answer id → bonus points (0 or `bonus`) for every vote given."""
    givers: dict[tuple[int, Hashable], set[int]] = {}
    credited: set[tuple[int, Hashable]] = set()
    result: dict[int, int] = {}
    for vote in sorted(votes, key=lambda v: v.answer_id):
        key = (vote.cluster_id, vote.concept)
        seen = givers.setdefault(key, set())
        earns = (vote.play_id, vote.concept) not in credited and bool(seen - {vote.participant_id})
        if earns:
            credited.add((vote.play_id, vote.concept))
        result[vote.answer_id] = bonus if earns else 0
        seen.add(vote.participant_id)
    return result
