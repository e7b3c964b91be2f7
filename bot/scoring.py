"""Points of a guess: the guess itself and the streak bonus.

The third kind of points, the agreement bonus, follows the rule in engine.labels.agreement,
which the game and the rebuild share.
"""

from __future__ import annotations

GUESS_POINTS = 100
HINT_PENALTY = 0.1  # per hint level
STREAK_STEP = 10  # points per consecutive correct guess beyond the first
STREAK_CAP = 5  # the streak bonus stops growing after this many steps


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
