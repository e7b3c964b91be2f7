"""L2-penalised binary logistic regression solved by Newton's method, for the CAVs of TCAV.

The problem is scikit-learn's `LogisticRegression(C=C)` with the lbfgs solver, unchanged:

    minimise over w, b:   ½‖w‖² + C · Σᵢ log(1 + exp(−ỹᵢ (xᵢ·w + b))),   ỹᵢ ∈ {−1, +1},

with the intercept b unpenalised (scikit-learn's lbfgs minimises this divided by C·n, which has
the same minimiser). What differs is how it is solved. A CAV is fitted on few samples (twice a
set's size, typically 4–100) in many dimensions (a layer's channels, up to 1,280), thousands of
times per rebuild; lbfgs spends most of its time on those many dimensions and on its own
validation. Because the penalty is ‖w‖², the minimiser lies in the span of the samples
(representer theorem): w = Xᵀα. With K = XXᵀ the objective becomes

    ½ αᵀKα + C · Σᵢ log(1 + exp(−ỹᵢ ((Kα)ᵢ + b))),

n + 1 unknowns instead of d + 1, which Newton's method solves to machine precision in a handful
of (n+1)×(n+1) linear solves. When there are at least as many samples as dimensions, Newton runs
on w itself (d + 1 unknowns) instead.

Both forms use a backtracking line search (Armijo), so every step lowers the objective, and a
log-loss computed as log(1 + exp(·)) without overflow. A singular K (duplicate samples, fewer
distinct directions than samples) needs nothing special: the step solves
(I + C·D·K) Δα + C·D·1 Δb = −(C·g + α), D the diagonal of the logistic weights, g the loss's
derivative by the scores. That system is non-singular whenever one weight is positive, and any
of the α it could give for one K yields the same w.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Fit = tuple[np.ndarray, float]  # weights w [d], intercept b

MAX_ITERATIONS = 100
# Newton's decrement λ² (twice the predicted decrease of the objective) below this, relative to
# the objective, is the optimum to machine precision.
TOLERANCE = 1e-20
# A step that no longer lowers the objective measurably is accepted as converged when the
# decrement is this small (the objective cannot resolve smaller changes in floating point).
ROUNDING = 1e-12
ARMIJO = 1e-4
MAX_HALVINGS = 60


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(−z)) without overflow for either sign of z."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _log_loss(scores: np.ndarray, signs: np.ndarray, c: float) -> float:
    """C · Σ log(1 + exp(−ỹ · score)), computed without overflow."""
    return c * float(np.sum(np.logaddexp(0.0, -signs * scores)))


def _newton(
    start: np.ndarray,
    scores: Callable[[np.ndarray], np.ndarray],
    penalty: Callable[[np.ndarray], float],
    step: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, float]],
    signs: np.ndarray,
    c: float,
) -> np.ndarray | None:
    """Damped Newton from `start`; None when it does not reach the optimum.

    `step(θ, residual, weights)` gives the Newton direction and its decrement λ² at θ, from the
    loss's derivative by the scores (residual: p − y) and its second derivative (weights).
    """
    theta = start
    f = scores(theta)
    objective = penalty(theta) + _log_loss(f, signs, c)
    target = (signs + 1.0) / 2.0
    for _ in range(MAX_ITERATIONS):
        probability = _sigmoid(f)
        weights = probability * _sigmoid(-f)
        direction, decrement = step(theta, probability - target, weights)
        if not np.all(np.isfinite(direction)) or not np.isfinite(decrement):
            return None
        if decrement <= TOLERANCE * max(1.0, abs(objective)):
            return theta
        t, lowered = 1.0, False
        for _ in range(MAX_HALVINGS):
            candidate = theta + t * direction
            f_candidate = scores(candidate)
            value = penalty(candidate) + _log_loss(f_candidate, signs, c)
            if value <= objective - ARMIJO * t * decrement:
                lowered = value < objective
                break
            t *= 0.5
        if not lowered:  # no step lowers the objective any more: the floor of rounding
            return theta if decrement <= ROUNDING * max(1.0, abs(objective)) else None
        theta, f, objective = candidate, f_candidate, value
    return None


def _fit_dual(x: np.ndarray, signs: np.ndarray, c: float, intercept: float) -> Fit | None:
    """w = Xᵀα, Newton on (α, b) with the samples' Gram matrix (for n samples ≤ d dimensions)."""
    n = len(x)
    gram = x @ x.T

    def scores(theta: np.ndarray) -> np.ndarray:
        return gram @ theta[:n] + theta[n]

    def penalty(theta: np.ndarray) -> float:
        alpha = theta[:n]
        return 0.5 * float(alpha @ gram @ alpha)

    def step(
        theta: np.ndarray, residual: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, float]:
        alpha = theta[:n]
        system = np.empty((n + 1, n + 1))
        system[:n, :n] = c * weights[:, None] * gram
        system[:n, :n].flat[:: n + 1] += 1.0
        system[:n, n] = c * weights
        system[n, :n] = c * (weights @ gram)
        system[n, n] = c * float(weights.sum())
        rhs = np.concatenate([-(c * residual + alpha), [-c * float(residual.sum())]])
        try:
            direction = np.linalg.solve(system, rhs)
        except np.linalg.LinAlgError:
            direction = np.linalg.lstsq(system, rhs, rcond=None)[0]
        # λ² = −∇J·Δ with ∇_α J = K(C·g + α) and ∂J/∂b = C·Σg.
        decrement = float(direction[:n] @ gram @ rhs[:n] + direction[n] * rhs[n])
        return direction, decrement

    start = np.concatenate([np.zeros(n), [intercept]])
    theta = _newton(start, scores, penalty, step, signs, c)
    return None if theta is None else (x.T @ theta[:n], float(theta[n]))


def _fit_primal(x: np.ndarray, signs: np.ndarray, c: float, intercept: float) -> Fit | None:
    """Newton on (w, b) directly (for at least as many samples as dimensions)."""
    d = x.shape[1]

    def scores(theta: np.ndarray) -> np.ndarray:
        return x @ theta[:d] + theta[d]

    def penalty(theta: np.ndarray) -> float:
        return 0.5 * float(theta[:d] @ theta[:d])

    def step(
        theta: np.ndarray, residual: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, float]:
        weighted = c * weights[:, None] * x
        hessian = np.empty((d + 1, d + 1))
        hessian[:d, :d] = x.T @ weighted
        hessian[:d, :d].flat[:: d + 1] += 1.0
        hessian[:d, d] = hessian[d, :d] = weighted.sum(axis=0)
        hessian[d, d] = c * float(weights.sum())
        gradient = np.concatenate([c * (x.T @ residual) + theta[:d], [c * float(residual.sum())]])
        try:
            direction = -np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            direction = -np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        return direction, float(-gradient @ direction)

    start = np.concatenate([np.zeros(d), [intercept]])
    theta = _newton(start, scores, penalty, step, signs, c)
    return None if theta is None else (theta[:d], float(theta[d]))


def _fit_lbfgs(x: np.ndarray, labels: np.ndarray, c: float) -> Fit:
    """The same problem by scikit-learn's lbfgs at a tight tolerance (when Newton fails)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, tol=1e-10, max_iter=100_000)
    model.fit(x, labels)
    return np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0])


def fit_logistic(x: np.ndarray, labels: np.ndarray, c: float = 1.0) -> Fit:
    """Weights w and intercept b of the L2-penalised logistic regression of `labels` (0/1) on `x`.

    The minimiser of ½‖w‖² + C · Σ log-loss with b unpenalised, as scikit-learn's
    `LogisticRegression(C=c)` defines it.
    """
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError(f"x must be [n, d] with n labels, got {x.shape} and {labels.shape}")
    positives = int(np.sum(labels == 1.0))
    negatives = int(np.sum(labels == 0.0))
    if positives == 0 or negatives == 0 or positives + negatives != len(labels):
        raise ValueError("labels must be 0 or 1, with both present")
    signs = 2.0 * labels - 1.0
    # The optimal intercept when w = 0: a start that is already right for the weightless part.
    intercept = float(np.log(positives / negatives))
    n, d = x.shape
    fit = _fit_dual(x, signs, c, intercept) if n <= d else _fit_primal(x, signs, c, intercept)
    return _fit_lbfgs(x, labels, c) if fit is None else fit
