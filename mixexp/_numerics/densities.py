"""Log-densities of the leaves' targets, and the Gaussian gate's squared norms.

:func:`gaussian_logdens`
    Diagonal-Gaussian log-density of each leaf (numba).
:func:`multinomial_logdens`
    Exact kernel: each leaf's class log-probabilities and the observed class's.
:func:`multinomial_proba_rows`
    Its fast variant: class probabilities and the observed class's
    log-probability with numpy's vectorised exp (:mod:`mixexp._numerics.softmax`).
:func:`add_squares_interleaved`, :func:`diag_squares`
    Squared norms of whitened rows, the Gaussian gate's log densities of x.
"""

import numpy as np
from numba import njit

from .softmax import group_exp, group_exponents, group_sum, log_softmax_groups

_LOG_2PI = np.log(2.0 * np.pi)


@njit(nogil=True, cache=True)
def gaussian_logdens(means, y, var, out):
    """Diagonal-Gaussian log-density of each leaf.

    means : (n, n_leaves * n_targets), leaf-major; y : (n, n_targets);
    var : (n_leaves, n_targets); out : (n, n_leaves).
    """
    n, n_targets = y.shape
    n_leaves = var.shape[0]
    if (
        var.shape[1] != n_targets
        or means.shape[0] != n
        or means.shape[1] != n_leaves * n_targets
        or out.shape[0] != n
        or out.shape[1] != n_leaves
    ):
        raise ValueError("gaussian_logdens: array shapes do not match")
    logvar = np.log(var)
    for i in range(n):
        for leaf in range(n_leaves):
            acc = 0.0
            for t in range(n_targets):
                r = y[i, t] - means[i, leaf * n_targets + t]
                acc += _LOG_2PI + logvar[leaf, t] + r * r / var[leaf, t]
            out[i, leaf] = -0.5 * acc


# -- multinomial experts ----------------------------------------------------------


@njit(nogil=True, cache=True)
def check_multinomial(logits, y_index, n_classes, per_class, out):
    """The number of leaves of ``logits`` (n, n_leaves * n_classes); ValueError unless
    ``per_class`` has its shape, ``out`` is (n, n_leaves) and every ``y_index`` is a class."""
    n = logits.shape[0]
    if n_classes < 1 or logits.shape[1] % n_classes != 0:
        raise ValueError("multinomial_logdens: logits do not hold whole leaves")
    n_leaves = logits.shape[1] // n_classes
    if (
        y_index.shape[0] != n
        or per_class.shape[0] != n
        or per_class.shape[1] != logits.shape[1]
        or out.shape[0] != n
        or out.shape[1] != n_leaves
    ):
        raise ValueError("multinomial_logdens: array shapes do not match")
    for i in range(n):
        if y_index[i] < 0 or y_index[i] >= n_classes:
            raise ValueError("multinomial_logdens: class index out of range")
    return n_leaves


@njit(nogil=True, cache=True)
def multinomial_logdens(logits, y_index, n_classes, log_proba, out):
    """Each leaf's class log-probabilities (the group log-softmax kernel) and the one of
    the observed class.

    logits : (n, n_leaves * n_classes); y_index : (n,) in [0, n_classes);
    log_proba : (n, n_leaves * n_classes) output; out : (n, n_leaves) output.
    """
    n = logits.shape[0]
    n_leaves = check_multinomial(logits, y_index, n_classes, log_proba, out)
    log_softmax_groups(logits, n_classes, log_proba)
    for i in range(n):
        for leaf in range(n_leaves):
            out[i, leaf] = log_proba[i, leaf * n_classes + y_index[i]]


@njit(nogil=True, cache=True)
def _group_pick(A, y_index, group_size, log_total, out):
    """``out[i, g] = A[i, g * group_size + y_i] - log_total[i, g]``."""
    n, m = A.shape
    for i in range(n):
        for g in range(m // group_size):
            out[i, g] = A[i, g * group_size + y_index[i]] - log_total[i, g]


def multinomial_proba_rows(logits, y_index, n_classes, proba, out):
    """Each leaf's class probabilities and the log-probability of the observed class.

    The numbers of :func:`multinomial_logdens` (whose ``log_proba`` is ``log(proba)``)
    with numpy's vectorised exp and log: probabilities are what the M-step's
    gradient needs, and only the observed class's log is taken.

    logits : (n, n_leaves * n_classes); y_index : (n,) in [0, n_classes);
    proba : (n, n_leaves * n_classes) output; out : (n, n_leaves) output.
    """
    n = logits.shape[0]
    n_leaves = check_multinomial(logits, y_index, n_classes, proba, out)
    A, unshifted = group_exponents(logits, n_classes, proba)
    if A is None:
        log_proba = np.empty_like(logits)
        multinomial_logdens(logits, y_index, n_classes, log_proba, out)
        np.exp(log_proba, out=proba)
        return proba, out
    group_exp(A, unshifted, proba)
    total = np.empty((n, n_leaves))
    group_sum(proba, n_classes, total, True)
    np.log(total, out=total)
    _group_pick(A, y_index, n_classes, total, out)
    return proba, out


# -- Gaussian gate: squared norms of whitened rows ------------------------------
# Reassociated sums vectorise over the leaves (contiguous in both kernels).


@njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def add_squares_interleaved(Z, n_leaves, out):
    """``out[i, k] += sum_j Z[i, j * n_leaves + k] ** 2``: squared norms of the leaves'
    whitened rows from one stacked product whose columns interleave the leaves.

    Z : (n, m * n_leaves); out : (n, n_leaves).
    """
    n, m = Z.shape
    K = n_leaves
    if K < 1 or m % K != 0 or out.shape[0] != n or out.shape[1] != K:
        raise ValueError("add_squares_interleaved: array shapes do not match")
    for i in range(n):
        for j in range(m // K):
            for k in range(K):
                z = Z[i, j * K + k]
                out[i, k] += z * z


@njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def diag_squares(X, means_t, prec_t, out):
    """``out[i, k] = sum_j ((X[i, j] - means_t[j, k]) * prec_t[j, k]) ** 2`` over the
    first ``d`` columns of ``X``: squared norms of whitened rows, diagonal covariances.

    X : (n, >= d); means_t, prec_t : (d, n_leaves); out : (n, n_leaves).
    """
    n = X.shape[0]
    d, K = means_t.shape
    if X.shape[1] < d or prec_t.shape[0] != d or prec_t.shape[1] != K or out.shape[0] != n or out.shape[1] != K:
        raise ValueError("diag_squares: array shapes do not match")
    for i in range(n):
        for k in range(K):
            out[i, k] = 0.0
        for j in range(d):
            x = X[i, j]
            for k in range(K):
                z = (x - means_t[j, k]) * prec_t[j, k]
                out[i, k] += z * z
