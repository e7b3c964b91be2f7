"""Points (ARCHITECTURE §2): guess points, streak bonus, provisional agreement bonus.

The provisional agreement bonus follows the rule the rebuild reconciles with at concept level
(engine.labels.agreement): a label earns `BONUS_PER_AGREEMENT` when another participant already
gave the same thing for the same cluster, earlier; a play earns it at most once per thing. Before
concepts exist, "the same thing" is the same normalised text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

GUESS_POINTS = 100
HINT_PENALTY = 0.1  # per hint level
STREAK_STEP = 10  # points per consecutive correct guess beyond the first
STREAK_CAP = 5  # the streak bonus stops growing after this many steps
BONUS_PER_AGREEMENT = 10  # engine.labels.agreement uses the same amount

_ARTICLES = ("a ", "an ", "the ")
# A run of non-word characters at the start of a string. Matched only at position 0 (of the text
# and of the text reversed): a pattern ending in `[\W_]+$` would retry from every position of a
# long run of punctuation in the middle of a message, which takes quadratic time.
_LEADING_NON_WORD = re.compile(r"[\W_]+")


def guess_points(hint_level: int, *, correct: bool, fast: bool = False) -> int:
    """100·(1 − 0.1·hint level) for a correct guess that was not too fast, else 0."""
    if not correct or fast:
        return 0
    return round(GUESS_POINTS * (1 - HINT_PENALTY * hint_level))


def next_streak(streak: int, *, correct: bool | None, fast: bool = False) -> int:
    """The streak after a challenge: +1 for a counted correct guess, unchanged for a too-fast
    one (it neither counts nor breaks), 0 after a wrong guess, a give-up or a skip (None)."""
    if correct and not fast:
        return streak + 1
    if correct and fast:
        return streak
    return 0


def streak_points(streak: int) -> int:
    """Bonus for the `streak`-th consecutive correct guess: 0 for the first, then +10 per step."""
    return STREAK_STEP * min(max(streak - 1, 0), STREAK_CAP)


def normalize_label(text: str) -> str:
    """Agreement key of a label: NFKC, case-folded, whitespace collapsed, outer punctuation and a
    leading article removed ('The  Stripes!' → 'stripes')."""
    value = unicodedata.normalize("NFKC", text).casefold()
    value = " ".join(value.split())
    value = strip_edge_punctuation(value)
    for article in _ARTICLES:
        if value.startswith(article) and len(value) > len(article):
            value = value[len(article) :]
            break
    return " ".join(value.split())


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
class Vote:
    """One accepted label, as the agreement rule sees it."""

    answer_id: int  # also the order answers were given in
    play_id: int
    participant_id: int
    key: str


def agreement_bonuses(votes: Iterable[Vote], *, play_id: int) -> dict[int, int]:
    """Bonus per answer id of play `play_id`, given every vote on the play's cluster.

    A label earns the bonus when another participant gave the same key earlier (a smaller answer
    id); the play earns it once per key.
    """
    givers: dict[str, set[int]] = {}
    credited: set[str] = set()
    result: dict[int, int] = {}
    for vote in sorted(votes, key=lambda v: v.answer_id):
        seen = givers.setdefault(vote.key, set())
        if vote.play_id == play_id:
            earns = bool(seen - {vote.participant_id}) and vote.key not in credited
            if earns:
                credited.add(vote.key)
            result[vote.answer_id] = BONUS_PER_AGREEMENT if earns else 0
        seen.add(vote.participant_id)
    return result
