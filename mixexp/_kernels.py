"""Numba kernels of the EM hot loop: plain functions on arrays, parallel over rows.

Every ``parallel`` kernel writes row by row into preallocated outputs and never
reduces across rows, so results do not depend on the number of numba threads.
The one reduction, :func:`gram_block`, sums a fixed range of rows in a fixed
order; :func:`mixexp._linalg.weighted_grams` adds the ranges in order.
"""

import numpy as np
from numba import njit, prange

_BLOCK = 512  # rows per parallel task; scratch arrays are allocated once per block
_LOG_2PI = np.log(2.0 * np.pi)
_GRAM_CHUNK = 128  # rows per BLAS call in gram_block: the products stay in cache


@njit(inline="always")
def _max_and_logsum(a, start, size):
    """``(m, log sum exp(a - m))`` over ``a[start:start + size]``, ``m`` the maximum.

    Log-probabilities are then ``(a - m) - logsum``: the difference ``a - m`` is
    exact for nearby values, so they stay normalised even for logits of 1e8.
    """
    mx = -np.inf
    for c in range(start, start + size):
        mx = max(mx, a[c])
    s = 0.0
    for c in range(start, start + size):
        s += np.exp(a[c] - mx)
    return mx, np.log(s)


@njit(parallel=True, cache=True)
def tree_posteriors(gate_logits, leaf_logdens, branching, leaf_post, loglik):
    """E-step through a balanced tree, in log space, one pass over the rows.

    Parameters
    ----------
    gate_logits : (n, n_inner * branching) raw gate logits, inner nodes breadth-first.
    leaf_logdens : (n, n_leaves) log p(y_i | x_i, leaf).
    branching : int
    leaf_post : (n, n_leaves) output, posterior of each leaf given (x_i, y_i).
    loglik : (n,) output, log p(y_i | x_i).
    """
    n = gate_logits.shape[0]
    b = branching
    n_inner = gate_logits.shape[1] // b
    n_leaves = leaf_logdens.shape[1]
    n_nodes = n_inner + n_leaves
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):
        beta = np.empty(n_nodes)  # log-likelihood of each subtree
        lgate = np.empty(n_inner * b)  # log gate probabilities
        post = np.empty(n_nodes)  # conditional posterior of each node given its parent
        stop = min(n, (blk + 1) * _BLOCK)
        for i in range(blk * _BLOCK, stop):
            for j in range(n_inner):
                mx, logsum = _max_and_logsum(gate_logits[i], j * b, b)
                for c in range(b):
                    lgate[j * b + c] = (gate_logits[i, j * b + c] - mx) - logsum
            for leaf in range(n_leaves):
                beta[n_inner + leaf] = leaf_logdens[i, leaf]
            # upward: beta_j = log sum_c g_jc exp(beta_c); the terms, normalised,
            # are the children's posteriors given j, kept for the downward pass.
            # The children's log-likelihoods are shifted by their maximum before
            # the log gates are added: far from the data (beta ~ -1e13) adding
            # first would round the gates away.
            for j in range(n_inner - 1, -1, -1):
                mb = -np.inf
                for c in range(b):
                    mb = max(mb, beta[j * b + 1 + c])
                m = -np.inf
                for c in range(b):
                    m = max(m, lgate[j * b + c] + (beta[j * b + 1 + c] - mb))
                s = 0.0
                for c in range(b):
                    e = np.exp(lgate[j * b + c] + (beta[j * b + 1 + c] - mb) - m)
                    post[j * b + 1 + c] = e
                    s += e
                beta[j] = mb + (m + np.log(s))
                for c in range(b):
                    post[j * b + 1 + c] /= s
            loglik[i] = beta[0]
            # downward: a node's posterior is its parent's times its conditional
            post[0] = 1.0
            for j in range(n_inner):
                for c in range(b):
                    post[j * b + 1 + c] *= post[j]
            for leaf in range(n_leaves):
                leaf_post[i, leaf] = post[n_inner + leaf]


@njit(parallel=True, cache=True)
def log_softmax_groups(logits, group_size, out):
    """Log-softmax within consecutive groups of ``group_size`` columns."""
    n, m = logits.shape
    n_groups = m // group_size
    for i in prange(n):
        for g in range(n_groups):
            o = g * group_size
            mx, logsum = _max_and_logsum(logits[i], o, group_size)
            for c in range(group_size):
                out[i, o + c] = (logits[i, o + c] - mx) - logsum


@njit(parallel=True, cache=True)
def gaussian_logdens(means, y, var, out):
    """Diagonal-Gaussian log-density of each leaf.

    means : (n, n_leaves * n_targets), leaf-major; y : (n, n_targets);
    var : (n_leaves, n_targets); out : (n, n_leaves).
    """
    n, n_targets = y.shape
    n_leaves = var.shape[0]
    logvar = np.log(var)
    for i in prange(n):
        for leaf in range(n_leaves):
            acc = 0.0
            for t in range(n_targets):
                r = y[i, t] - means[i, leaf * n_targets + t]
                acc += _LOG_2PI + logvar[leaf, t] + r * r / var[leaf, t]
            out[i, leaf] = -0.5 * acc


@njit(parallel=True, cache=True)
def multinomial_logdens(logits, y_index, n_classes, out):
    """log softmax(logits of leaf)[y_i] for each leaf; logits (n, n_leaves * n_classes)."""
    n = logits.shape[0]
    n_leaves = logits.shape[1] // n_classes
    for i in prange(n):
        for leaf in range(n_leaves):
            o = leaf * n_classes
            mx, logsum = _max_and_logsum(logits[i], o, n_classes)
            out[i, leaf] = (logits[i, o + y_index[i]] - mx) - logsum


@njit(parallel=True, cache=True)
def softmax_residual(logits, direction, t, targets, weights, residual, row_objective, row_slope,
                     row_curvature):
    """Soft-label multinomial fit at ``logits + t * direction``, in one pass.

    Writes the residual ``w_i p_ic - u_ic`` (the gradient's rows), each row's
    objective ``sum_c u_ic log p_ic`` and its first and second derivatives in
    ``t``: a line search trial costs one pass and, when accepted, has already
    paid for the next gradient.
    logits, direction, targets, residual : (n, n_classes); weights and the
    row outputs : (n,).
    """
    n, k = logits.shape
    for i in prange(n):
        mx = -np.inf
        for c in range(k):
            mx = max(mx, logits[i, c] + t * direction[i, c])
        s = 0.0
        for c in range(k):
            e = np.exp(logits[i, c] + t * direction[i, c] - mx)
            residual[i, c] = e  # one exp per entry: kept for the residual below
            s += e
        lse = mx + np.log(s)
        acc = 0.0
        slope = 0.0
        mean_d = 0.0
        mean_d2 = 0.0
        for c in range(k):
            d = direction[i, c]
            if targets[i, c] != 0.0:
                acc += targets[i, c] * (logits[i, c] + t * d - lse)
            prob = residual[i, c] / s
            r = weights[i] * prob - targets[i, c]
            residual[i, c] = r
            slope -= r * d
            mean_d += prob * d
            mean_d2 += prob * d * d
        row_objective[i] = acc
        row_slope[i] = slope
        row_curvature[i] = -weights[i] * max(mean_d2 - mean_d * mean_d, 0.0)


@njit(nogil=True, cache=True)
def gram_block(Z, W, lo, hi, out):
    """Add ``sum_i W[i, k] z_i z_i^T`` over rows ``lo:hi`` to ``out[k]`` (upper triangles).

    Z : (n, q); W : (n, K) non-negative; out : (K, q * (q + 1) // 2), the
    upper triangles of the K Gram matrices, row-major.  All K Grams come
    from one matrix product per chunk of rows, ``W_chunk^T @ Q_chunk`` where
    ``Q`` holds the rows' outer products: half the flops of K separate
    ``(Z * w_k).T @ Z`` products, with both operands in cache.  Releases the
    GIL, so row ranges can run on several threads.
    """
    q = Z.shape[1]
    Q = np.empty((_GRAM_CHUNK, q * (q + 1) // 2))
    for start in range(lo, hi, _GRAM_CHUNK):
        stop = min(start + _GRAM_CHUNK, hi)
        for i in range(stop - start):
            c = 0
            for a in range(q):
                za = Z[start + i, a]
                for b in range(a, q):
                    Q[i, c] = za * Z[start + i, b]
                    c += 1
        out += np.dot(np.ascontiguousarray(W[start:stop].T), Q[: stop - start])
