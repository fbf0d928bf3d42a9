"""Soft-label multinomial logistic regression, the M-step of every softmax.

Used for the gate of every inner node (targets: the children's posteriors) and
for multinomial experts (targets: one-hot labels weighted by the leaf's
posterior).  It maximises

    f(W) = sum_i sum_c u_ic log softmax(W x_i)_c - alpha / 2 * ||W[:, :-1]||^2

where ``x_i`` ends with a constant 1 (the intercept, not penalised) and the
row sums ``w_i = sum_c u_ic`` act as sample weights.

Each step is monotone: the Hessian of the loss is bounded by Böhning's bound
``1/2 I ⊗ X^T diag(w) X`` (Böhning 1992), so the step ``-H^{-1} grad`` never
decreases ``f``; the step length along that direction is then improved by
Newton steps on the one-dimensional concave ``f(t)``, whose first two
derivatives come with each trial's objective in one O(n k) pass (the logits
move linearly in ``t``).  The bound's Cholesky factor depends only on ``w``
and can be reused across EM iterations when ``w`` does not change (the root
gate of a flat mixture).
"""

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .._kernels import softmax_residual
from .._linalg import matmul_rows, tdot_rows, weighted_gram

_LINE_NEWTON_STEPS = 2  # Newton steps on f(t) per bound step
_MAX_GROWTH = 16.0  # longest Newton step, relative to the current length


def penalty_mask(n_params):
    """1 for coefficients, 0 for the trailing intercept."""
    mask = np.ones(n_params)
    mask[-1] = 0.0
    return mask


def bound_factor(Xa, w, alpha, gram=None):
    """Cholesky factor of Böhning's bound ``X^T diag(w) X / 2 + alpha * D``.

    ``gram``, if given, is ``X^T diag(w) X`` already computed (for example by
    :func:`mixexp._linalg.weighted_grams` for several ``w`` at once).
    """
    p = Xa.shape[1]
    H = 0.5 * (weighted_gram(Xa, w) if gram is None else gram)
    H[np.diag_indices(p)] += alpha * penalty_mask(p)
    # A tiny ridge keeps the factor defined for empty or constant columns; a
    # larger bound is still a bound, so monotonicity is kept.
    H[np.diag_indices(p)] += 1e-10 * (np.trace(H) / p) + 1e-300
    return cho_factor(H, lower=True, check_finite=False)


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
    Z = matmul_rows(Xa, coef.T)
    R, spare = np.empty_like(Z), np.empty_like(Z)  # residual at the best point; a trial's
    rows = np.empty((3, Z.shape[0]))
    Zd = np.empty_like(Z)

    def along(t, delta, Zd, out):
        """f(coef + t delta) and its first two derivatives in t; residual to ``out``."""
        softmax_residual(Z, Zd, t, U, w, out, rows[0], rows[1], rows[2])
        c, d = coef[:, :-1] + t * delta[:, :-1], delta[:, :-1]
        f = rows[0].sum() - 0.5 * alpha * np.sum(c * c)
        return f, rows[1].sum() - alpha * np.sum(c * d), rows[2].sum() - alpha * np.sum(d * d)

    obj = along(0.0, coef, Z, R)[0]
    for _ in range(n_steps):
        grad = tdot_rows(R, Xa) + alpha * coef * mask  # gradient of -f
        delta = -cho_solve(factor, grad.T, check_finite=False).T
        Zd = matmul_rows(Xa, delta.T, out=Zd)
        # The bound's step (t = 1) cannot decrease f.  Where the bound is loose
        # (confident softmax) longer steps gain more: start from the length
        # that worked last and take Newton steps on the concave f(t), keeping
        # only those that increase f; fall back to t = 1 (taken even if
        # rounding hides its gain) if nothing beat the current point.
        best_t = max(scale, 1.0)
        best_obj, slope, curv = along(best_t, delta, Zd, spare)
        R, spare = spare, R
        for _ in range(_LINE_NEWTON_STEPS):
            if not (curv < 0.0 and np.isfinite(slope)):
                break
            t = min(best_t - slope / curv, _MAX_GROWTH * best_t)
            if not t > 0.0 or abs(t - best_t) <= 1e-3 * best_t:
                break
            o, s1, c1 = along(t, delta, Zd, spare)
            if not o > best_obj:
                break
            best_t, best_obj, slope, curv = t, o, s1, c1
            R, spare = spare, R
        if not best_obj > obj and best_t != 1.0:
            best_t, best_obj = 1.0, along(1.0, delta, Zd, R)[0]
        scale = max(best_t, 1.0)
        coef += best_t * delta
        Zd *= best_t
        Z += Zd
        gain = best_obj - obj
        obj = best_obj
        if gain <= tol * max(1.0, abs(obj)) or np.max(np.abs(best_t * delta)) <= 1e-13 * (
            1.0 + np.max(np.abs(coef))
        ):
            break
    return coef, obj, scale
