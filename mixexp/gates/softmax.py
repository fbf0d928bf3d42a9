"""Soft-label multinomial logistic regression, the M-step of every softmax.

Used for the gate of every inner node (targets: the children's posteriors) and
for multinomial experts (targets: one-hot labels weighted by the leaf's
posterior).  It maximises

    f(W) = sum_i sum_c u_ic log softmax(W x_i)_c - alpha / 2 * ||W[:, :-1]||^2

where ``x_i`` ends with a constant 1 (the intercept, not penalised) and the
row sums ``w_i = sum_c u_ic`` act as sample weights.

Each step is monotone: the Hessian of the loss is bounded by Böhning's bound
``1/2 I ⊗ X^T diag(w) X`` (Böhning 1992), so the step ``-H^{-1} grad`` never
decreases ``f``; the step is then lengthened along the same direction (2x, 4x,
...) while ``f`` keeps increasing, which costs only O(n k) per trial because
the logits move linearly.  The bound's Cholesky factor depends only on ``w``
and can be reused across EM iterations when ``w`` does not change (the root
gate of a flat mixture).
"""

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .._kernels import softmax_line_objective, softmax_residual
from .._linalg import weighted_gram

_MAX_DOUBLINGS = 10


def penalty_mask(n_params):
    """1 for coefficients, 0 for the trailing intercept."""
    mask = np.ones(n_params)
    mask[-1] = 0.0
    return mask


def bound_factor(Xa, w, alpha):
    """Cholesky factor of Böhning's bound ``X^T diag(w) X / 2 + alpha * D``."""
    p = Xa.shape[1]
    H = 0.5 * weighted_gram(Xa, w)
    H[np.diag_indices(p)] += alpha * penalty_mask(p)
    # A tiny ridge keeps the factor defined for empty or constant columns; a
    # larger bound is still a bound, so monotonicity is kept.
    H[np.diag_indices(p)] += 1e-10 * (np.trace(H) / p) + 1e-300
    return cho_factor(H, lower=True, check_finite=False)


def _line_objective(Z, Zd, t, U, coef, delta, alpha, rows):
    """Penalised objective at ``coef + t * delta`` given ``Z = Xa coef^T``, ``Zd = Xa delta^T``."""
    softmax_line_objective(Z, Zd, t, U, rows)
    return rows.sum() - 0.5 * alpha * np.sum((coef[:, :-1] + t * delta[:, :-1]) ** 2)


def softmax_mstep(Xa, U, coef, alpha, n_steps, w=None, factor=None, tol=1e-12, scale=1.0):
    """Increase the soft-label multinomial objective from ``coef``.

    Parameters
    ----------
    Xa : ndarray (n, p), last column all ones.
    U : ndarray (n, k), non-negative soft targets (already weighted).
    coef : ndarray (k, p), starting point (not modified).
    alpha : float, L2 penalty on ``coef[:, :-1]``.
    n_steps : int, maximum number of bound steps.
    w : ndarray (n,), optional, ``U.sum(1)``.
    factor : optional Cholesky factor from :func:`bound_factor` for this ``w``.
    tol : float, stop when a step gains less than ``tol * max(1, |f|)``.
    scale : float >= 1, the step length to try first (the bound's step is 1);
        pass back the returned one to warm-start the next call.

    Returns
    -------
    coef : ndarray (k, p)
    objective : float, ``f(coef)``.
    scale : float, the step length that worked last.
    """
    if w is None:
        w = U.sum(axis=1)
    if factor is None:
        factor = bound_factor(Xa, w, alpha)
    mask = penalty_mask(Xa.shape[1])
    coef = coef.copy()
    Z = Xa @ coef.T
    R = np.empty_like(Z)
    rows = np.empty(Z.shape[0])
    softmax_residual(Z, U, w, R, rows)
    obj = rows.sum() - 0.5 * alpha * np.sum(coef[:, :-1] ** 2)
    for _ in range(n_steps):
        grad = R.T @ Xa + alpha * coef * mask  # gradient of -f
        delta = -cho_solve(factor, grad.T, check_finite=False).T
        Zd = Xa @ delta.T
        # The bound's step (t = 1) cannot decrease f.  Where the bound is loose
        # (confident softmax), longer steps along the same direction gain more:
        # try the length that worked last, then double while f increases, and
        # fall back to t = 1 (taken even if rounding hides its gain) otherwise.
        t = max(scale, 1.0)
        best_t, best_obj = t, _line_objective(Z, Zd, t, U, coef, delta, alpha, rows)
        if t > 1.0 and not best_obj > obj:
            best_t, best_obj = 1.0, _line_objective(Z, Zd, 1.0, U, coef, delta, alpha, rows)
            scale = max(1.0, scale / 4.0)
        else:
            for _ in range(_MAX_DOUBLINGS):
                o = _line_objective(Z, Zd, 2.0 * best_t, U, coef, delta, alpha, rows)
                if not o > best_obj:
                    break
                best_t, best_obj = 2.0 * best_t, o
            scale = best_t
        coef += best_t * delta
        Z += best_t * Zd
        gain = best_obj - obj
        obj = best_obj
        softmax_residual(Z, U, w, R, rows)
        if gain <= tol * max(1.0, abs(obj)) or np.max(np.abs(best_t * delta)) <= 1e-13 * (
            1.0 + np.max(np.abs(coef))
        ):
            break
    return coef, obj, scale
