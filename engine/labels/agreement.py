"""The agreement (ESP-game) bonus, pure Python: the one rule the game and the rebuild share.

A label earns the bonus when another participant had already given a label of the same concept on
the same challenge (cluster), earlier in answer order; each play earns it at most once per
concept. The game applies it when a play ends, before concepts exist, with the label's
normalised text (`normalize_label`) as its concept: a provisional bonus. The rebuild applies it
again with the concepts it has just built and stores the result in `AnswerConcept.bonus_points`,
which replaces the provisional bonus in the points.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

# Points for one agreeing label, provisional or reconciled alike: reconciliation only corrects,
# never rescales.
BONUS_PER_AGREEMENT = 10

_ARTICLES = ("a ", "an ", "the ")
# A run of non-word characters at the start of a string. Matched only at position 0 (of the text
# and of the text reversed): a pattern ending in `[\W_]+$` would retry from every position of a
# long run of punctuation in the middle of a message, which takes quadratic time.
_LEADING_NON_WORD = re.compile(r"[\W_]+")


def normalize_label(text: str) -> str:
    """Agreement key of a label: NFKC, case-folded, whitespace collapsed, outer punctuation and
    leading articles removed ('The  Stripes!' → 'stripes').

    Leading articles and punctuation are dropped until neither is left ('a "<b>"' → 'b'), so a key
    normalises to itself: a stored key compared with a freshly normalised label never differs
    only because one of them went through here twice. A lone article stays ('the').
    """
    value = unicodedata.normalize("NFKC", text).casefold()
    value = strip_edge_punctuation(" ".join(value.split()))
    start = 0  # one pass over the start of the text: each step consumes at least one character
    while True:
        lead = _LEADING_NON_WORD.match(value, start)
        if lead is not None:
            start = lead.end()
            continue
        article = next(
            (a for a in _ARTICLES if value.startswith(a, start) and len(value) > start + len(a)),
            None,
        )
        if article is None:
            break
        start += len(article)
    return " ".join(value[start:].split())


def strip_edge_punctuation(value: str) -> str:
    """`value` without non-word characters (punctuation, symbols, "_") at either end; linear."""
    lead = _LEADING_NON_WORD.match(value)
    if lead is not None:
        value = value[lead.end() :]
    trail = _LEADING_NON_WORD.match(value[::-1])
    if trail is not None:
        value = value[: len(value) - trail.end()]
    return value


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
