"""Time per CAV fit: scikit-learn's lbfgs as the CAVs were fitted before, against Newton's method.

    .venv/bin/python benchmarks/cav_fit.py               # the four shapes, 1 s of fits each side
    .venv/bin/python benchmarks/cav_fit.py --seconds 3   # longer, steadier

Both sides solve the same problem, L2-penalised logistic regression with C = 1 on centred
activations: "old" is `LogisticRegression(C=1.0, max_iter=1000)` (lbfgs at its default
tolerance), normalised; "new" is `engine.tcav.train_cav` (Newton, `engine.logistic`). Shapes are
(n samples, d channels) = (twice a set's size, a layer's width): a small set at a narrow layer,
a middling set, a large set at EfficientNet-B0's widest layer, and more samples than channels.
The activations are non-negative like pooled post-activation channels, the concept's examples
raised on a quarter of the channels. The two sides alternate in rounds, so that a change of the
machine's load falls on both alike; the table gives the median time per fit of each side, their
ratio, and the cosine between the old and new directions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.tcav import train_cav

SHAPES = ((8, 64), (40, 320), (100, 1280), (400, 112))
ROUNDS = 5


def old_cav(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """The CAV as fitted before: scikit-learn's lbfgs at its default tolerance."""
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([positives, negatives]).astype(np.float64)
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    model = LogisticRegression(C=1.0, max_iter=1000, random_state=0)
    model.fit(x - x.mean(axis=0), y)
    direction = model.coef_[0]
    norm = float(np.linalg.norm(direction))
    return direction if norm == 0.0 else direction / norm


def new_cav(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    return train_cav(positives, negatives)


def make_sets(n: int, d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    half = n // 2
    negatives = np.abs(rng.normal(0.0, 1.0, (n - half, d)))
    positives = np.abs(rng.normal(0.0, 1.0, (half, d)))
    positives[:, : max(1, d // 4)] += 0.3
    return positives, negatives


def seconds_per_fit(
    fit: Callable[[np.ndarray, np.ndarray], np.ndarray],
    sets: list[tuple[np.ndarray, np.ndarray]],
    budget: float,
) -> float:
    """Fits over `sets` (cycling) for about `budget` seconds; mean seconds per fit."""
    fits, start = 0, time.perf_counter()
    while True:
        positives, negatives = sets[fits % len(sets)]
        fit(positives, negatives)
        fits += 1
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            return elapsed / fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="fitting time per side")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")
    print(f"{'n':>5} {'d':>6} {'old ms/fit':>11} {'new ms/fit':>11} {'old/new':>8} {'min cos':>12}")
    for n, d in SHAPES:
        sets = [make_sets(n, d, rng) for _ in range(8)]
        old_cav(*sets[0]), new_cav(*sets[0])  # imports and first-call costs outside the timing
        old_times, new_times = [], []
        for _ in range(ROUNDS):
            old_times.append(seconds_per_fit(old_cav, sets, args.seconds / ROUNDS))
            new_times.append(seconds_per_fit(new_cav, sets, args.seconds / ROUNDS))
        old_s, new_s = statistics.median(old_times), statistics.median(new_times)
        cosine = min(float(old_cav(*pair) @ new_cav(*pair)) for pair in sets)
        print(
            f"{n:>5} {d:>6} {1e3 * old_s:>11.3f} {1e3 * new_s:>11.3f} {old_s / new_s:>8.1f} "
            f"{cosine:>12.9f}"
        )
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
