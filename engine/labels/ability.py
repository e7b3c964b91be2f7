"""Players' ability from every play, with the difficulty of what they were shown.

Every play has a known answer (the class the network took the photo for), so each guess is a
graded response. A Rasch model explains it:

    P(right | player w, item cell c) = σ(θ_w − b_c)

θ_w is the player's ability and b_c the difficulty of a cell of items, the (layer depth, hint
level) the challenge was answered at: a deep layer at the last hint is easy, a shallow one at
the first is hard. A give-up counts as wrong. Gaussian priors (θ ~ N(0, 1.5²), b ~ N(0, 2²))
keep newcomers near the middle and make the model identifiable.

crowd-kit's GLAD models ability and difficulty too, but it infers the true answers (the
network's class is known here), and its difficulty is one free parameter per task rather than a
function of the layer and the hint; so this small model is written out here.

The likelihood depends on the plays only through counts per (player, cell), so a rebuild
aggregates them in SQL and refits in milliseconds, starting from the abilities it stored last
time. A player's **trust** is their expected accuracy over the cells as the crowd plays them,
σ(θ_w − b_c) averaged with the cells' play counts: 0.5 means a coin flip, not a bad player.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

ABILITY_PRIOR_SD = 1.5
DIFFICULTY_PRIOR_SD = 2.0
MAX_ROUNDS = 50
TOLERANCE = 1e-6


@dataclass(frozen=True)
class PlayCount:
    """Graded plays of one player in one cell."""

    participant_id: int
    cell: Hashable  # (depth, hint level)
    plays: int
    right: int


@dataclass
class AbilityFit:
    ability: dict[int, float]  # participant → θ
    difficulty: dict[Hashable, float]  # cell → b
    trust: dict[int, float]  # participant → expected accuracy on the crowd's mix of cells


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def fit_abilities(counts: Sequence[PlayCount], start: dict[int, float] | None = None) -> AbilityFit:
    """MAP abilities and difficulties by alternating Newton steps; `start` warm-starts θ."""
    people = sorted({c.participant_id for c in counts})
    cells = sorted({c.cell for c in counts}, key=repr)
    if not people:
        return AbilityFit({}, {}, {})
    pi = {p: i for i, p in enumerate(people)}
    ci = {c: i for i, c in enumerate(cells)}
    w = np.array([pi[c.participant_id] for c in counts])
    k = np.array([ci[c.cell] for c in counts])
    n = np.array([c.plays for c in counts], dtype=np.float64)
    y = np.array([c.right for c in counts], dtype=np.float64)
    theta = np.array([(start or {}).get(p, 0.0) for p in people], dtype=np.float64)
    b = np.zeros(len(cells))
    inv_a, inv_b = 1.0 / ABILITY_PRIOR_SD**2, 1.0 / DIFFICULTY_PRIOR_SD**2
    for _ in range(MAX_ROUNDS):
        p = _sigmoid(theta[w] - b[k])
        grad = np.bincount(w, y - n * p, len(people)) - inv_a * theta
        hess = np.bincount(w, n * p * (1 - p), len(people)) + inv_a
        step_theta = grad / hess
        theta += step_theta
        p = _sigmoid(theta[w] - b[k])
        grad = -np.bincount(k, y - n * p, len(cells)) - inv_b * b
        hess = np.bincount(k, n * p * (1 - p), len(cells)) + inv_b
        step_b = grad / hess
        b += step_b
        if max(np.abs(step_theta).max(), np.abs(step_b).max()) < TOLERANCE:
            break
    mix = np.bincount(k, n, len(cells))
    mix = mix / mix.sum() if mix.sum() > 0 else np.full(len(cells), 1.0 / len(cells))
    expected = _sigmoid(theta[:, None] - b[None, :]) @ mix
    return AbilityFit(
        ability={p: float(theta[i]) for p, i in pi.items()},
        difficulty={c: float(b[i]) for c, i in ci.items()},
        trust={p: float(expected[i]) for p, i in pi.items()},
    )
