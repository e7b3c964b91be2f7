"""Ability from every play: a simulated crowd with known abilities is ranked right."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from scipy.optimize import minimize
from scipy.stats import spearmanr

from engine.labels.ability import (
    ABILITY_PRIOR_SD,
    DIFFICULTY_PRIOR_SD,
    AbilityFit,
    PlayCount,
    fit_abilities,
)
from engine.labels.reliability import answer_sets, masi_alpha
from engine.labels.scores import Vote

LAYERS, HINTS = 8, 6


def simulate(seed: int, players: int = 150, plays_each: int = 20) -> tuple[dict, list[PlayCount]]:
    """Players of known ability play cells of known difficulty: deep layers and late hints are
    easier; some players ask for many hints, so their raw accuracy flatters them."""
    rng = random.Random(seed)
    ability = {p: rng.gauss(0.0, 1.0) for p in range(players)}
    difficulty = {
        (d, h): 1.5 - 0.3 * d - 0.5 * h + rng.gauss(0, 0.3)
        for d in range(LAYERS)
        for h in range(HINTS)
    }
    patience = {p: rng.uniform(0.2, 3.0) for p in range(players)}
    plays: Counter = Counter()
    right: Counter = Counter()
    for p, theta in ability.items():
        for _ in range(plays_each):
            cell = (rng.randrange(LAYERS), min(HINTS - 1, int(rng.expovariate(1 / patience[p]))))
            plays[(p, cell)] += 1
            right[(p, cell)] += rng.random() < 1 / (1 + math.exp(difficulty[cell] - theta))
    counts = [PlayCount(p, cell, n, right[(p, cell)]) for (p, cell), n in plays.items()]
    return ability, counts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_estimated_ability_ranks_like_the_true_one_after_20_plays(seed: int) -> None:
    truth, counts = simulate(seed)
    fit = fit_abilities(counts)
    people = sorted(truth)
    rho = spearmanr([truth[p] for p in people], [fit.ability[p] for p in people])[0]
    assert rho >= 0.8
    # Trust is a monotone map of ability onto expected accuracy.
    assert spearmanr([fit.ability[p] for p in people], [fit.trust[p] for p in people])[0] == (
        pytest.approx(1.0)
    )
    assert all(0 < fit.trust[p] < 1 for p in people)
    # Harder cells (shallow layer, first hint) come out harder than easy ones.
    assert fit.difficulty[(0, 0)] > fit.difficulty[(LAYERS - 1, 2)]


def test_the_difficulty_model_beats_raw_accuracy() -> None:
    """Counting right answers ignores who got easy items; the model corrects for it."""
    gains = []
    for seed in range(4, 8):
        truth, counts = simulate(seed)
        fit = fit_abilities(counts)
        plays, right = Counter(), Counter()
        for c in counts:
            plays[c.participant_id] += c.plays
            right[c.participant_id] += c.right
        people = sorted(truth)
        model = spearmanr([truth[p] for p in people], [fit.ability[p] for p in people])[0]
        raw = spearmanr([truth[p] for p in people], [right[p] / plays[p] for p in people])[0]
        gains.append(model - raw)
    assert sum(gains) / len(gains) > 0


def test_a_warm_start_reaches_the_same_estimates() -> None:
    _, counts = simulate(9, players=40)
    cold = fit_abilities(counts)
    warm = fit_abilities(counts, start={p: a + 0.7 for p, a in cold.ability.items()})
    assert warm.ability == pytest.approx(cold.ability, abs=1e-3)


def test_newcomers_without_plays_are_absent_and_one_play_stays_near_the_middle() -> None:
    fit = fit_abilities([PlayCount(1, (0, 0), 1, 1), PlayCount(2, (0, 0), 1, 0)])
    assert set(fit.ability) == {1, 2}
    assert 0.5 < fit.trust[1] < 0.8 and 0.2 < fit.trust[2] < 0.5
    assert fit_abilities([]).ability == {}


def _sigma(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# Three players, two cells (a shallow layer at the first hint, a deep one at the last).
HARD, EASY = (0, 0), (1, 5)
SMALL = [
    PlayCount(1, HARD, 4, 1),
    PlayCount(1, EASY, 2, 2),
    PlayCount(2, HARD, 3, 2),
    PlayCount(3, EASY, 5, 3),
    PlayCount(3, HARD, 1, 0),
]


def test_a_small_crowd_gets_the_map_estimate_and_trust_over_the_played_mix() -> None:
    """The fit is the maximum of the posterior, found here independently by a general optimiser;
    trust weighs each cell by its share of the plays (HARD 8 of 15, EASY 7 of 15)."""

    def negative_log_posterior(x: list[float]) -> float:
        theta = dict(zip((1, 2, 3), x[:3], strict=True))
        b = dict(zip((HARD, EASY), x[3:], strict=True))
        total = 0.0
        for c in SMALL:
            p = _sigma(theta[c.participant_id] - b[c.cell])
            total += c.right * math.log(p) + (c.plays - c.right) * math.log(1 - p)
        total -= sum(t * t for t in theta.values()) / (2 * ABILITY_PRIOR_SD**2)
        total -= sum(d * d for d in b.values()) / (2 * DIFFICULTY_PRIOR_SD**2)
        return -total

    best = minimize(negative_log_posterior, [0.0] * 5, method="BFGS", options={"gtol": 1e-9}).x
    fit = fit_abilities(SMALL)
    assert fit.ability == pytest.approx({1: best[0], 2: best[1], 3: best[2]}, abs=1e-4)
    assert fit.difficulty == pytest.approx({HARD: best[3], EASY: best[4]}, abs=1e-4)
    assert fit.difficulty[HARD] > fit.difficulty[EASY]
    for who in (1, 2, 3):
        theta = fit.ability[who]
        expected = 8 / 15 * _sigma(theta - fit.difficulty[HARD]) + 7 / 15 * _sigma(
            theta - fit.difficulty[EASY]
        )
        assert fit.trust[who] == pytest.approx(expected, abs=1e-12)
    # Warm-started from whole numbers, the same estimates.
    warm = fit_abilities(SMALL, start={1: 1, 2: 0, 3: -1})
    assert warm.ability == pytest.approx(fit.ability, abs=1e-6)


def test_cells_of_any_hashable_kind_can_be_mixed() -> None:
    fit = fit_abilities([PlayCount(1, "warm-up", 2, 2), PlayCount(1, (0, 0), 2, 0)])
    assert set(fit.difficulty) == {"warm-up", (0, 0)}
    assert fit.difficulty["warm-up"] < fit.difficulty[(0, 0)]


def test_no_plays_at_all_fit_nothing_and_zero_plays_weigh_nothing() -> None:
    assert fit_abilities([]) == AbilityFit({}, {}, {})
    # Rows without plays: the priors' middle, and a coin flip over an even mix of cells.
    fit = fit_abilities([PlayCount(1, HARD, 0, 0), PlayCount(1, EASY, 0, 0)])
    assert fit == AbilityFit({1: 0.0}, {HARD: 0.0, EASY: 0.0}, {1: 0.5})
    # One play in one cell and none in the other: trust is the accuracy on the played cell only.
    fit = fit_abilities([PlayCount(1, HARD, 1, 1), PlayCount(1, EASY, 0, 0)])
    assert fit.difficulty[EASY] == 0.0 and fit.difficulty[HARD] < 0
    assert fit.trust[1] == pytest.approx(_sigma(fit.ability[1] - fit.difficulty[HARD]), abs=1e-12)


def _vote(who: int, cluster: int, concept: int) -> Vote:
    return Vote(
        who * 100 + cluster * 10 + concept, who * 100 + cluster, who, cluster, concept, 1.0, 0, True
    )


def test_masi_alpha_rewards_shared_concept_sets() -> None:
    agree = [_vote(w, c, c) for w in (1, 2, 3) for c in (1, 2, 3)]
    assert masi_alpha(answer_sets(agree)) == pytest.approx(1.0)
    disagree = [_vote(w, c, (w + c) % 3) for w in (1, 2, 3) for c in (1, 2, 3)]
    assert masi_alpha(answer_sets(disagree)) < 0
    # Overlapping sets agree partly: between the two.
    partial = [_vote(w, c, c) for w in (1, 2) for c in (1, 2, 3)] + [
        _vote(1, c, 9) for c in (1, 2, 3)
    ]
    assert 0 < masi_alpha(answer_sets(partial)) < 1
    # One player per cluster: nothing to compare.
    assert masi_alpha(answer_sets([_vote(1, 1, 1), _vote(2, 2, 1)])) is None
