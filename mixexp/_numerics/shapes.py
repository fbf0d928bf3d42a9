"""The per-row work of the one-Newton-step M-step of the log-link families with a shape
parameter (Weibull, negative binomial), fused: on a chunk of rows with weights ``W`` (n, K),
the weighted log-densities ``ell`` and their derivatives in the linear predictor ``eta`` and
the log shape ``s`` of every leaf, without an array per term.

:func:`weibull_step_terms`, :func:`nb_step_terms`
    ``W ell_eta`` and ``W ell_eta_s`` (``cross``, (n, 2K), for one product with the design),
    ``-W ell_eta_eta`` (``curv``, (n, K), the weights of the Hessian's Gram, non-negative),
    and the column sums of ``W ell``, ``W ell_s``, ``W ell_s_s`` (added to ``sums``, (3, K)).
:func:`weibull_value_sums`, :func:`nb_value_sums`
    The column sums of ``W ell`` alone (the line search), the same digits as the step's.
:func:`nb_log_pmf`
    The negative binomial's ``ell`` of every row and leaf (its E-step).
:func:`step_outputs`
    The step kernels' outputs, reused by each thread from chunk to chunk.

The exponentials and logarithms come in as arrays, from numpy's vectorised functions (five
times faster on a chunk than numba's scalar ones); the kernels do the rest in one pass.  A
row of weight 0 adds nothing (a hard start's rows of other leaves, whose terms may be
infinite).  The formulas are those of the families' numpy functions
(``mixexp.experts.weibull._derivatives``, ``mixexp.experts.negative_binomial._derivatives``),
which tests/test_kernels.py compares them with.
"""

import threading

import numpy as np
from numba import njit

_workspace = threading.local()


def step_outputs(n, K):
    """``cross`` (n, 2K) and ``curv`` (n, K) for a step-terms kernel, and zeroed ``sums`` (3, K):
    the first two reused by the calling thread from one chunk to the next (a chunk's fresh
    arrays, 128 KiB and more, cost more to allocate than to fill), so they must be consumed
    before the thread's next call."""
    held = getattr(_workspace, "arrays", None)
    if held is None or held[0].shape != (n, 2 * K):
        held = _workspace.arrays = (np.empty((n, 2 * K)), np.empty((n, K)))
    return held[0], held[1], np.zeros((3, K))


@njit(nogil=True, cache=True)
def _check(n, K, arrays, W, log_shape):
    if W.shape[0] != n or W.shape[1] != K or log_shape.shape[0] != K:
        raise ValueError("shape-family kernel: array shapes do not match")
    for a in arrays:
        if a.shape[0] != n or a.shape[1] != K:
            raise ValueError("shape-family kernel: array shapes do not match")


@njit(nogil=True, cache=True)
def _check_outputs(n, K, cross, curv, sums):
    if (cross.shape[0] != n or cross.shape[1] != 2 * K or curv.shape[0] != n or curv.shape[1] != K
            or sums.shape[0] != 3 or sums.shape[1] != K):
        raise ValueError("shape-family kernel: output shapes do not match")


@njit(nogil=True, cache=True)
def weibull_step_terms(z, e, log_k, W, cross, curv, sums):
    """Weibull: ``ell = s + z - e`` with ``z = k (log y - eta)``, ``e = exp(z)``, ``s = log k``.

    z, e, W : (n, K); log_k : (K,); cross : (n, 2K), curv : (n, K) outputs; sums : (3, K),
    added to.
    """
    n, K = z.shape
    _check(n, K, (e,), W, log_k)
    _check_outputs(n, K, cross, curv, sums)
    k = np.exp(log_k)
    for i in range(n):
        for j in range(K):
            w = W[i, j]
            if w == 0.0:
                cross[i, j] = cross[i, K + j] = curv[i, j] = 0.0
                continue
            zi, ei = z[i, j], e[i, j]
            cross[i, j] = w * (k[j] * (ei - 1.0))
            cross[i, K + j] = w * (k[j] * (ei - 1.0 + zi * ei))
            curv[i, j] = w * (k[j] * k[j] * ei)
            sums[0, j] += w * (log_k[j] + zi - ei)
            sums[1, j] += w * (1.0 + zi * (1.0 - ei))
            sums[2, j] += w * (zi * (1.0 - ei - zi * ei))


@njit(nogil=True, cache=True)
def weibull_value_sums(z, e, log_k, W, out):
    """``sum_i W_ij ell_ij`` of :func:`weibull_step_terms`, added to ``out`` (K,)."""
    n, K = z.shape
    _check(n, K, (e,), W, log_k)
    if out.shape[0] != K:
        raise ValueError("shape-family kernel: output shapes do not match")
    for i in range(n):
        for j in range(K):
            w = W[i, j]
            if w != 0.0:
                out[j] += w * (log_k[j] + z[i, j] - e[i, j])


@njit(nogil=True, cache=True)
def _check_counts(n, K, index, norm, psi1, psi2):
    m = norm.shape[0]
    if index.shape[0] != n or norm.shape[1] != K or psi1.shape != norm.shape or psi2.shape != norm.shape:
        raise ValueError("shape-family kernel: count tables do not match")
    for i in range(n):
        if index[i] < 0 or index[i] >= m:
            raise ValueError("shape-family kernel: count index out of range")


@njit(nogil=True, cache=True)
def nb_step_terms(y, eta, log_theta, e, excess, index, norm, psi1, psi2, W, cross, curv, sums):
    """Negative binomial: ``ell = log p(y)`` in ``eta = log mu`` and ``s = log theta``.

    y : (n,) counts; eta, W : (n, K); log_theta : (K,); ``e = exp(-|eta - s|)`` and ``excess
    = log(1 + mu / theta)``, (n, K); index : (n,) each count's row in the tables ``norm``
    (``log Gamma(y + theta) - log Gamma(theta) - log y!``), ``psi1``, ``psi2`` (``psi(y +
    theta) - psi(theta)``, ``psi'(y + theta) - psi'(theta)``), each (m, K); cross : (n, 2K),
    curv : (n, K) outputs; sums : (3, K), added to.  ``p = theta / (mu + theta)`` and ``q = 1 -
    p`` are ``1 / (1 + e)`` and ``e / (1 + e)`` (which is which by the sign of ``eta - s``);
    ``1 / (mu + theta) = p / theta`` and ``mu p = theta q``.
    """
    n, K = eta.shape
    _check(n, K, (e, excess), W, log_theta)
    _check_outputs(n, K, cross, curv, sums)
    if y.shape[0] != n:
        raise ValueError("shape-family kernel: array shapes do not match")
    _check_counts(n, K, index, norm, psi1, psi2)
    theta = np.exp(log_theta)
    inv_theta = 1.0 / theta
    for i in range(n):
        c, yi = index[i], y[i]
        for j in range(K):
            w = W[i, j]
            if w == 0.0:
                cross[i, j] = cross[i, K + j] = curv[i, j] = 0.0
                continue
            t, x, ei = theta[j], excess[i, j], e[i, j]
            d = 1.0 / (1.0 + ei)
            if eta[i, j] > log_theta[j]:
                p, q = ei * d, d
            else:
                p, q = d, ei * d
            inv = p * inv_theta[j]
            centred = q - yi * inv  # (mu - y) / (mu + theta)
            # d/dtheta: the terms are each of order 1/theta, their sum of 1/theta^2 near the
            # Poisson: none is formed as a difference of large numbers
            d_theta = psi1[c, j] - x + centred
            d2_theta = psi2[c, j] + inv_theta[j] - inv - centred * inv
            cross[i, j] = w * (yi - (yi + t) * q)
            cross[i, K + j] = w * ((yi * p - t * q) * q)
            curv[i, j] = w * ((yi + t) * q * p)
            sums[0, j] += w * (norm[c, j] + yi * (eta[i, j] - log_theta[j] - x) - t * x)
            sums[1, j] += w * (t * d_theta)
            sums[2, j] += w * (t * d_theta + t * t * d2_theta)


@njit(nogil=True, cache=True)
def nb_value_sums(y, eta, log_theta, excess, index, norm, W, out):
    """``sum_i W_ij ell_ij`` of :func:`nb_step_terms`, added to ``out`` (K,)."""
    n, K = eta.shape
    _check(n, K, (excess,), W, log_theta)
    if y.shape[0] != n or out.shape[0] != K:
        raise ValueError("shape-family kernel: array shapes do not match")
    _check_counts(n, K, index, norm, norm, norm)
    theta = np.exp(log_theta)
    for i in range(n):
        c, yi = index[i], y[i]
        for j in range(K):
            w = W[i, j]
            if w != 0.0:
                x = excess[i, j]
                out[j] += w * (norm[c, j] + yi * (eta[i, j] - log_theta[j] - x) - theta[j] * x)


@njit(nogil=True, cache=True)
def nb_log_pmf(y, eta, log_theta, excess, index, norm, out):
    """Every row's and leaf's ``ell`` of :func:`nb_step_terms` (the log-probability of ``y``),
    written to ``out`` (n, K)."""
    n, K = eta.shape
    _check(n, K, (excess, out), out, log_theta)
    if y.shape[0] != n:
        raise ValueError("shape-family kernel: array shapes do not match")
    _check_counts(n, K, index, norm, norm, norm)
    theta = np.exp(log_theta)
    for i in range(n):
        c, yi = index[i], y[i]
        for j in range(K):
            x = excess[i, j]
            out[i, j] = norm[c, j] + yi * (eta[i, j] - log_theta[j] - x) - theta[j] * x
