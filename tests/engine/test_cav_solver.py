"""The CAV's Newton solver finds scikit-learn's logistic regression, in every shape a CAV meets.

The reference is scikit-learn's `LogisticRegression(C=1.0)` at a tight tolerance, lbfgs (the
solver the CAVs used before) and newton-cholesky (another solver of the same problem). Cases:
fewer samples than channels (the usual CAV), about as many, more; separable and overlapping sets;
duplicate rows and a constant channel (a singular Gram matrix); activations at 1e-3 and 1e3.
Besides agreeing with the references, the solution must be the minimiser itself (a Newton step
computed in the test from the objective's gradient and Hessian does not move it), and Newton must
not have handed the case on to lbfgs.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import engine.logistic as logistic
from engine.logistic import fit_logistic
from engine.tcav import train_cav

# Direction agreement asked of the solver against the references.
MIN_COSINE = 0.99999


def make_case(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Centred activations [n, d] and 0/1 labels for one named case."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    shapes = {
        "few samples": (8, 64, 1.0, 1.0),
        "middle": (40, 320, 1.0, 0.3),
        "many channels": (100, 1280, 1.0, 0.2),
        "many samples": (400, 112, 1.0, 0.2),
        "square": (30, 30, 1.0, 0.5),
        "overlapping": (200, 5, 1.0, 0.3),
        "separable": (60, 4, 1.0, 4.0),
        "tiny scale": (20, 50, 1e-3, 1.0),
        "large scale": (20, 50, 1e3, 1.0),
        "large scale, more samples": (300, 10, 1e3, 0.01),
        "uneven sets": (13, 40, 1.0, 0.5),
    }
    if name == "hand-made":
        x = np.array([[2.0, 0.0, 1.0], [1.5, 0.5, -1.0], [-1.0, 0.0, 0.5], [-2.0, 1.0, 0.0]])
        return x - x.mean(axis=0), np.array([1.0, 1.0, 0.0, 0.0])
    if name == "duplicate rows":
        positives = rng.normal(0, 1, (6, 30)) + 0.3
        negatives = rng.normal(0, 1, (6, 30))
        x = np.concatenate([positives, positives, positives[:2], negatives, negatives[:3]])
        y = np.array([1.0] * 14 + [0.0] * 9)
        return x - x.mean(axis=0), y
    if name == "constant channel":
        x = rng.normal(0, 1, (24, 16))
        x[:12, 1] += 1.0
        x[:, 3] = 7.0
        y = np.array([1.0] * 12 + [0.0] * 12)
        return x - x.mean(axis=0), y
    n, d, scale, shift = shapes[name]
    positives = n // 2 if name != "uneven sets" else 4
    x = rng.normal(0, 1, (n, d))
    x[:positives, 0] += shift * 3
    y = np.concatenate([np.ones(positives), np.zeros(n - positives)])
    x = x * scale
    return x - x.mean(axis=0), y


CASES = [
    "hand-made",
    "few samples",
    "middle",
    "many channels",
    "many samples",
    "square",
    "overlapping",
    "separable",
    "tiny scale",
    "large scale",
    "large scale, more samples",
    "uneven sets",
    "duplicate rows",
    "constant channel",
]
# lbfgs stops where a step changes its objective (divided by C·n) by less than 64 ulp of 1: when
# the sets separate at a large scale the whole objective is smaller than that, and lbfgs stops
# short. There the lbfgs solution must not be better, and newton-cholesky is the reference.
LBFGS_STOPS_SHORT = {"large scale"}


def objective(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    return 0.5 * float(w @ w) + float(np.sum(np.logaddexp(0.0, -(2 * y - 1) * (x @ w + b))))


def reference(x: np.ndarray, y: np.ndarray, solver: str) -> tuple[np.ndarray, float]:
    model = LogisticRegression(C=1.0, tol=1e-10, max_iter=100_000, solver=solver)
    model.fit(x, y)
    return model.coef_[0], float(model.intercept_[0])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture
def newton_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails the test if Newton gave up and handed the case to lbfgs."""

    def refuse(*args: object) -> None:
        raise AssertionError("Newton did not converge")

    monkeypatch.setattr(logistic, "_fit_lbfgs", refuse)


@pytest.mark.parametrize("name", CASES)
def test_newton_meets_scikit_learn(name: str, newton_only: None) -> None:
    x, y = make_case(name)
    w, b = fit_logistic(x, y)
    for solver in ("lbfgs", "newton-cholesky"):
        w_ref, b_ref = reference(x, y, solver)
        if solver == "lbfgs" and name in LBFGS_STOPS_SHORT:
            assert objective(x, y, w, b) <= objective(x, y, w_ref, b_ref)
            continue
        assert cosine(w, w_ref) >= MIN_COSINE, solver
        assert np.array_equal(x @ w + b > 0, x @ w_ref + b_ref > 0), solver
        assert objective(x, y, w, b) <= objective(x, y, w_ref, b_ref) * (1 + 1e-12), solver


@pytest.mark.parametrize("name", CASES)
def test_no_newton_step_moves_the_solution(name: str, newton_only: None) -> None:
    """At the optimum the full Newton step on (w, b), from the objective's own gradient and
    Hessian written out here, is nil: the distance to the minimiser is within rounding."""
    x, y = make_case(name)
    w, b = fit_logistic(x, y)
    probability = 0.5 * (1.0 + np.tanh(0.5 * (x @ w + b)))
    augmented = np.column_stack([x, np.ones(len(x))])
    gradient = augmented.T @ (probability - y) + np.append(w, 0.0)
    hessian = augmented.T @ (augmented * (probability * (1 - probability))[:, None])
    hessian[: len(w), : len(w)] += np.eye(len(w))
    step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
    assert np.linalg.norm(step[:-1]) <= 1e-8 * np.linalg.norm(w)
    assert abs(step[-1]) <= 1e-8 * max(abs(b), 1.0)


def test_train_cav_is_the_unit_scikit_learn_direction() -> None:
    rng = np.random.default_rng(5)
    concept = rng.normal(0, 1, (12, 48)) + 0.5
    random = rng.normal(0, 1, (12, 48))
    x = np.concatenate([concept, random])
    w_ref, _ = reference(x - x.mean(axis=0), np.r_[np.ones(12), np.zeros(12)], "lbfgs")
    cav = train_cav(concept, random)
    assert np.isclose(np.linalg.norm(cav), 1.0)
    assert cosine(cav, w_ref) >= MIN_COSINE


def test_identical_sets_give_the_zero_direction() -> None:
    examples = np.random.default_rng(2).normal(0, 1, (5, 7))
    cav = train_cav(examples, examples)
    assert np.allclose(cav, 0.0, atol=1e-12)


def test_labels_must_be_zero_or_one_with_both_present() -> None:
    x = np.zeros((3, 2))
    with pytest.raises(ValueError):
        fit_logistic(x, np.array([1.0, 1.0, 1.0]))
    with pytest.raises(ValueError):
        fit_logistic(x, np.array([1.0, 2.0, 0.0]))


def test_a_fit_leaves_the_blas_thread_count_as_it_found_it() -> None:
    from threadpoolctl import threadpool_info

    before = [entry["num_threads"] for entry in threadpool_info() if entry["user_api"] == "blas"]
    x, y = make_case("middle")
    fit_logistic(x, y)
    after = [entry["num_threads"] for entry in threadpool_info() if entry["user_api"] == "blas"]
    assert after == before
