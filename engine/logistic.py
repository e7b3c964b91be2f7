"""L2-penalised binary logistic regression solved by Newton's method, for the CAVs of TCAV.

The problem is scikit-learn's `LogisticRegression(C=C)` with the lbfgs solver, unchanged:

    minimise over w, b:   ½‖w‖² + C · Σᵢ log(1 + exp(−ỹᵢ (xᵢ·w + b))),   ỹᵢ ∈ {−1, +1},

with the intercept b unpenalised (scikit-learn's lbfgs minimises this divided by C·n, which has
the same minimiser). What differs is how it is solved. A CAV is fitted on few samples (twice a
set's size, typically 4–100) in many dimensions (a layer's channels, up to 1,280), thousands of
times per rebuild; lbfgs takes tens of iterations over all d, after scikit-learn's checks of its
input on every call. Because the penalty is ‖w‖², the minimiser lies in the span of the samples
(representer theorem): w = Xᵀα. With K = XXᵀ the objective becomes

    ½ αᵀKα + C · Σᵢ log(1 + exp(−ỹᵢ ((Kα)ᵢ + b))),

n + 1 unknowns instead of d + 1, which Newton's method solves to machine precision in a handful
of (n+1)×(n+1) linear solves. When there are more samples than dimensions, Newton runs on w
itself (d + 1 unknowns) instead. Should Newton ever stall, the fit falls back to lbfgs at a tight
tolerance.

Both forms use a backtracking line search (Armijo), so every step lowers the objective, and a
log-loss computed as log(1 + exp(·)) without overflow. A singular K (duplicate samples, fewer
distinct directions than samples) needs nothing special: the step solves
(I + C·D·K) Δα + C·D·1 Δb = −(C·g + α), D the diagonal of the logistic weights, g the loss's
derivative by the scores. That system is non-singular whenever one weight is positive, and any
of the α it could give for one K yields the same w.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np
from threadpoolctl import ThreadpoolController

Fit = tuple[np.ndarray, float]  # weights w [d], intercept b
# step(θ, residual p − y, logistic weights p(1 − p)) -> (Δθ, Δscores, ∇penalty·Δθ, Δθ's quadratic
# term of the penalty): enough to follow the objective along the step without touching X again.
Step = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, float, float]]

MAX_ITERATIONS = 100
# Converged when the Newton step would move w by less than this, relative (the error left after
# such a step is of its square), and the intercept likewise.
STEP_TOLERANCE = 1e-10
# Or when Newton's decrement λ² (twice the predicted decrease of the objective) is below this,
# relative to the objective: the case of w = 0, where no relative step size exists.
TOLERANCE = 1e-24
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
    start: np.ndarray, scores: np.ndarray, penalty: float, step: Step, signs: np.ndarray, c: float
) -> np.ndarray | None:
    """Damped Newton from `start` (its scores and penalty given); None when it gets stuck.

    Scores are linear and the penalty quadratic along a step, so the line search follows them
    from the step's Δscores and penalty terms, in O(n) per trial.
    """
    theta, f = start, scores
    objective = penalty + _log_loss(f, signs, c)
    target = (signs + 1.0) / 2.0
    for _ in range(MAX_ITERATIONS):
        probability = _sigmoid(f)
        residual = probability - target
        direction, delta_f, linear, quadratic = step(theta, residual, probability * _sigmoid(-f))
        decrement = -(linear + c * float(residual @ delta_f))  # λ² = −∇J·Δθ
        if not (np.all(np.isfinite(direction)) and np.isfinite(decrement) and decrement >= 0):
            return None
        scale = max(1.0, abs(objective))
        if decrement <= TOLERANCE * scale:
            return theta
        if quadratic <= STEP_TOLERANCE**2 * 2.0 * penalty and abs(direction[-1]) <= (
            STEP_TOLERANCE * max(1.0, abs(theta[-1]))
        ):
            return theta + direction
        t, lowered = 1.0, False
        for _ in range(MAX_HALVINGS):
            f_candidate = f + t * delta_f
            penalty_candidate = penalty + t * linear + 0.5 * t * t * quadratic
            value = penalty_candidate + _log_loss(f_candidate, signs, c)
            if value <= objective - ARMIJO * t * decrement:
                lowered = value < objective
                break
            t *= 0.5
        if not lowered:  # no step lowers the objective any more: the floor of rounding
            return theta if decrement <= ROUNDING * scale else None
        theta = theta + t * direction
        f, penalty, objective = f_candidate, penalty_candidate, value
    return None


def _fit_dual(x: np.ndarray, signs: np.ndarray, c: float, intercept: float) -> Fit | None:
    """w = Xᵀα, Newton on (α, b) with the samples' Gram matrix (for n samples ≤ d dimensions)."""
    n = len(x)
    gram = x @ x.T
    system = np.empty((n + 1, n + 1))
    rhs = np.empty(n + 1)

    def step(
        theta: np.ndarray, residual: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float, float]:
        alpha = theta[:n]
        cw = c * weights
        np.multiply(cw[:, None], gram, out=system[:n, :n])
        system[:n, :n].flat[:: n + 1] += 1.0
        system[:n, n] = cw
        system[n, :n] = cw @ gram
        system[n, n] = float(cw.sum())
        rhs[:n] = -(c * residual + alpha)
        rhs[n] = -c * float(residual.sum())
        try:
            direction = np.linalg.solve(system, rhs)
        except np.linalg.LinAlgError:
            direction = np.linalg.lstsq(system, rhs, rcond=None)[0]
        k_delta = gram @ direction[:n]  # Xw's change; w's change is XᵀΔα
        return (
            direction,
            k_delta + direction[n],
            float(alpha @ k_delta),
            float(direction[:n] @ k_delta),
        )

    start = np.concatenate([np.zeros(n), [intercept]])
    theta = _newton(start, np.full(n, intercept), 0.0, step, signs, c)
    return None if theta is None else (x.T @ theta[:n], float(theta[n]))


def _fit_primal(x: np.ndarray, signs: np.ndarray, c: float, intercept: float) -> Fit | None:
    """Newton on (w, b) directly (for more samples than dimensions)."""
    n, d = x.shape
    hessian = np.empty((d + 1, d + 1))

    def step(
        theta: np.ndarray, residual: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float, float]:
        w = theta[:d]
        cw = c * weights
        rooted = x * np.sqrt(cw)[:, None]
        hessian[:d, :d] = rooted.T @ rooted
        hessian[:d, :d].flat[:: d + 1] += 1.0
        hessian[:d, d] = hessian[d, :d] = cw @ x
        hessian[d, d] = float(cw.sum())
        gradient = np.concatenate([c * (residual @ x) + w, [c * float(residual.sum())]])
        try:
            direction = -np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            direction = -np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        delta_w = direction[:d]
        return direction, x @ delta_w + direction[d], float(w @ delta_w), float(delta_w @ delta_w)

    start = np.concatenate([np.zeros(d), [intercept]])
    theta = _newton(start, np.full(n, intercept), 0.0, step, signs, c)
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
    with _one_blas_thread():
        fit = _fit_dual(x, signs, c, intercept) if n <= d else _fit_primal(x, signs, c, intercept)
    return _fit_lbfgs(x, labels, c) if fit is None else fit


_controller: ThreadpoolController | None = None


def _one_blas_thread() -> AbstractContextManager[object]:
    """OpenBLAS limited to one thread for the fit, restored after.

    The arrays are small (a few hundred rows at most): threads cost more to wake than they save,
    and on a loaded machine their spinning made each fit many times slower (benchmarks/cav_fit.py). The
    controller is made once (finding the loaded libraries takes a while), the limit itself is
    cheap. OpenBLAS's thread count is process-wide, so BLAS calls of other threads during a fit
    run on one thread too.
    """
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
