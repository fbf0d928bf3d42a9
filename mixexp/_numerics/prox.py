"""Elastic-net M-steps: coordinate descent on a quadratic with an L1 term.

The elastic-net penalty on a vector of coefficients ``w`` (never the
intercept) is scikit-learn's ``ElasticNet`` one,

    alpha * (l1_ratio * ||w||_1 + (1 - l1_ratio) / 2 * ||w||^2),

so that ``l1_ratio=0`` is the ridge penalty ``alpha / 2 ||w||^2``.

Both M-steps that take it reduce to minimising, for every column ``z`` of a
matrix, the convex function

    q(z) = 1/2 z^T H z + c^T z + sum_j lam_j |z_j|

from a start ``z0``: the Gaussian experts' weighted elastic net (``H`` the
weighted Gram plus the ridge part, ``c = -X^T W y``), and a proximal step on
Böhning's quadratic minorizer of a softmax block (Khalili 2010; Chamroukhi &
Huynh 2019).  Cyclic coordinate descent minimises ``q`` exactly along one
coordinate at a time, so ``q`` never increases from ``z0``; that is all EM's
monotonicity needs (a generalised M-step), whether or not the descent has
converged when it stops.
"""

import numpy as np
from numba import njit

MAX_SWEEPS = 1000  # sweeps of coordinate descent per M-step (each never increases q)
SWEEP_TOL = 1e-14  # stop when no coordinate moved q by more than this, relative to |q| + 1


def l1_weights(n_params, alpha, l1_ratio):
    """``lam_j``: ``alpha * l1_ratio`` on coefficients, 0 on the trailing intercept."""
    lam = np.full(n_params, alpha * l1_ratio)
    lam[-1] = 0.0
    return lam


def elastic_net_penalty(coef, alpha, l1_ratio):
    """``alpha * (l1_ratio |w|_1 + (1 - l1_ratio) / 2 |w|^2)`` summed over the last axis's
    coefficients (not the trailing intercept), per leading index."""
    w = coef[..., :-1]
    return alpha * (l1_ratio * np.sum(np.abs(w), axis=-1) + 0.5 * (1.0 - l1_ratio) * np.sum(w * w, axis=-1))


def softmax_n_nonzero(coef):
    """Free parameters of sparse softmax blocks ``(B, k, p)``: the degrees of freedom of the
    lasso (Zou, Hastie & Tibshirani 2007) less the softmax's redundancy.

    Per block, ``k - 1`` intercepts, and for every feature the number of rows
    whose coefficient is nonzero, at most ``k - 1`` (one row is redundant).
    """
    k = coef.shape[1]
    nonzero = np.count_nonzero(coef[..., :-1], axis=1)  # (B, p - 1)
    return int(coef.shape[0] * (k - 1) + np.minimum(nonzero, k - 1).sum())


@njit(nogil=True, cache=True)
def coordinate_descent(H, C, Z, lam, max_sweeps, tol):
    """Minimise ``1/2 z^T H z + c^T z + sum_j lam_j |z_j|`` for every column, in place.

    Parameters
    ----------
    H : (p, p) symmetric positive semi-definite.
    C : (p, m) one linear term per column.
    Z : (p, m) starting points, overwritten with the results.
    lam : (p,) non-negative L1 weights.
    max_sweeps : int
    tol : float, stop a column when a sweep lowers ``q`` by less than
        ``tol * (|q| + 1)``.

    Returns
    -------
    sweeps : int, the largest number of sweeps any column took.
    """
    p, m = Z.shape
    if H.shape[0] != p or H.shape[1] != p or C.shape[0] != p or C.shape[1] != m or lam.shape[0] != p:
        raise ValueError("coordinate_descent: shapes of H, C, Z and lam disagree")
    grad = np.empty(p)  # H z + c
    most = 0
    for col in range(m):
        for j in range(p):
            s = C[j, col]
            for k in range(p):
                s += H[j, k] * Z[k, col]
            grad[j] = s
        for sweep in range(max_sweeps):
            gain = 0.0
            for j in range(p):
                a = H[j, j]
                if not a > 0.0:
                    continue  # a flat coordinate (empty column): keep it
                old = Z[j, col]
                u = a * old - grad[j]  # minimiser of the smooth part along j, times a
                if u > lam[j]:
                    new = (u - lam[j]) / a
                elif u < -lam[j]:
                    new = (u + lam[j]) / a
                else:
                    new = 0.0
                d = new - old
                if d != 0.0:
                    # q falls by the smooth part's gain less the change of the L1 term
                    gain += -(grad[j] * d + 0.5 * a * d * d) - lam[j] * (abs(new) - abs(old))
                    Z[j, col] = new
                    for k in range(p):
                        grad[k] += H[k, j] * d
            if sweep + 1 > most:
                most = sweep + 1
            q = 0.0
            for j in range(p):
                q += 0.5 * (grad[j] + C[j, col]) * Z[j, col] + lam[j] * abs(Z[j, col])
            if gain <= tol * (abs(q) + 1.0):
                break
    return most


def elastic_net_solve(H, C, Z0, lam):
    """The coordinate-descent minimiser of ``q`` for every column of ``C`` from ``Z0``."""
    Z = np.array(Z0, dtype=np.float64, order="C", copy=True)
    coordinate_descent(
        np.ascontiguousarray(H, dtype=np.float64), np.ascontiguousarray(C, dtype=np.float64),
        Z, np.ascontiguousarray(lam, dtype=np.float64), MAX_SWEEPS, SWEEP_TOL,
    )
    return Z


def softmax_prox_step(coef, g, H, lam):
    """A proximal step on Böhning's minorizer of one softmax block.

    Minimises ``g . (V - coef) + 1/2 sum_c (V_c - coef_c)^T H (V_c - coef_c) +
    sum lam |V|`` over ``V`` (``g``: the gradient of the smooth negative
    objective at ``coef``, ridge part included; ``H``: the bound's curvature,
    ridge part included).  The minorizer touches the objective at ``coef``, so
    lowering it from there never decreases the penalised objective.

    Parameters
    ----------
    coef, g : ndarray (k, p)
    H : ndarray (p, p)
    lam : ndarray (p,)

    Returns
    -------
    new_coef : ndarray (k, p)
    """
    # 1/2 (v - c)^T H (v - c) + g^T (v - c) = 1/2 v^T H v + (g - H c)^T v + const
    C = g.T - H @ coef.T
    return elastic_net_solve(H, C, coef.T, lam).T
