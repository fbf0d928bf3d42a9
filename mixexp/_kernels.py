"""Numba kernels of the EM hot loop: plain functions on arrays.

Every kernel is serial and releases the GIL: a pass over the data runs them
on chunks of rows on several threads (:mod:`mixexp._parallel`).  Each kernel
checks the shapes it is handed before it touches memory, so parameters and
data that disagree raise ``ValueError`` instead of reading or writing outside
an array.  The hot loop calls their whole-chunk companions in
:mod:`mixexp._vectorised` (numpy's SIMD exp); the exp-heavy kernels here are
the reference those are tested against and handle their rows with infinite terms.
"""

import numpy as np
from numba import njit

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
    if mx == -np.inf:  # every entry -inf: keep them so, without NaN
        return mx, 0.0
    s = 0.0
    for c in range(start, start + size):
        s += np.exp(a[c] - mx)
    return mx, np.log(s)


@njit(nogil=True, cache=True)
def tree_posteriors(log_gate, leaf_logdens, branching, node_post, loglik, conditional=False):
    """E-step through a balanced tree, in log space.

    Parameters
    ----------
    log_gate : (n, n_inner * branching) the gate's log term of every edge,
        inner nodes breadth-first.  For a softmax gate these are log
        probabilities; for a Gaussian gate, log weights plus the log density
        of x on the edges into leaves, so that ``loglik`` is ``log p(x, y)``.
    leaf_logdens : (n, n_leaves) log p(y_i | x_i, leaf).
    branching : int
    node_post : (n, n_inner + n_leaves) output, posterior of every node given
        (x_i, y_i); the root's is 1, the leaves are the last columns.
    loglik : (n,) output, the log of the root's total.
    conditional : bool
        Write each node's posterior given its parent instead (the root's is 1).
    """
    n = log_gate.shape[0]
    b = branching
    n_inner = log_gate.shape[1] // b
    n_leaves = leaf_logdens.shape[1]
    n_nodes = n_inner + n_leaves
    if (
        b < 1
        or n_inner * b != log_gate.shape[1]
        or n_nodes != n_inner * b + 1
        or leaf_logdens.shape[0] != n
        or node_post.shape[0] != n
        or node_post.shape[1] != n_nodes
        or loglik.shape[0] != n
    ):
        raise ValueError("tree_posteriors: array shapes do not match the tree")
    beta = np.empty(n_nodes)  # log-likelihood of each subtree
    post = np.empty(n_nodes)  # conditional posterior of each node given its parent
    for i in range(n):
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
            if mb > -np.inf:
                for c in range(b):
                    m = max(m, log_gate[i, j * b + c] + (beta[j * b + 1 + c] - mb))
            if m == -np.inf:  # no child can explain the row
                beta[j] = -np.inf
                for c in range(b):
                    post[j * b + 1 + c] = 1.0 / b
                continue
            s = 0.0
            for c in range(b):
                e = np.exp(log_gate[i, j * b + c] + (beta[j * b + 1 + c] - mb) - m)
                post[j * b + 1 + c] = e
                s += e
            beta[j] = mb + (m + np.log(s))
            for c in range(b):
                post[j * b + 1 + c] /= s
        loglik[i] = beta[0]
        post[0] = 1.0
        if not conditional:
            # downward: a node's posterior is its parent's times its conditional
            for j in range(n_inner):
                for c in range(b):
                    post[j * b + 1 + c] *= post[j]
        for node in range(n_nodes):
            node_post[i, node] = post[node]


@njit(nogil=True, cache=True)
def log_softmax_groups(logits, group_size, out):
    """Log-softmax within consecutive groups of ``group_size`` columns."""
    n, m = logits.shape
    if group_size < 1 or m % group_size != 0 or out.shape[0] != n or out.shape[1] != m:
        raise ValueError("log_softmax_groups: array shapes do not match")
    n_groups = m // group_size
    for i in range(n):
        for g in range(n_groups):
            o = g * group_size
            mx, logsum = _max_and_logsum(logits[i], o, group_size)
            for c in range(group_size):
                out[i, o + c] = (logits[i, o + c] - mx) - logsum


@njit(nogil=True, cache=True)
def gate_residual(log_gate, node_weight, branching, out):
    """Gradient rows of every softmax gate: ``w_j g_jc - w_c``.

    log_gate : (n, n_inner * branching) log gate probabilities.
    node_weight : (n, n_nodes) posterior weight of every node (times sample weight).
    out : (n, n_inner * branching) output.
    """
    n, m = log_gate.shape
    b = branching
    n_inner = m // b
    if (
        b < 1
        or n_inner * b != m
        or node_weight.shape[0] != n
        or node_weight.shape[1] < m + 1
        or out.shape[0] != n
        or out.shape[1] != m
    ):
        raise ValueError("gate_residual: array shapes do not match the tree")
    for i in range(n):
        for j in range(n_inner):
            w = node_weight[i, j]
            for c in range(b):
                out[i, j * b + c] = w * np.exp(log_gate[i, j * b + c]) - node_weight[i, j * b + 1 + c]


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
    """Each leaf's class log-probabilities and the one of the observed class.

    logits : (n, n_leaves * n_classes); y_index : (n,) in [0, n_classes);
    log_proba : (n, n_leaves * n_classes) output; out : (n, n_leaves) output.
    """
    n = logits.shape[0]
    n_leaves = check_multinomial(logits, y_index, n_classes, log_proba, out)
    for i in range(n):
        for leaf in range(n_leaves):
            o = leaf * n_classes
            mx, logsum = _max_and_logsum(logits[i], o, n_classes)
            for c in range(n_classes):
                log_proba[i, o + c] = (logits[i, o + c] - mx) - logsum
            out[i, leaf] = log_proba[i, o + y_index[i]]


@njit(nogil=True, cache=True)
def multinomial_residual(proba, y_index, weight, out):
    """Gradient rows of every softmax expert: ``w_il (p_ilc - [c = y_i])``.

    proba : (n, n_leaves * n_classes); weight : (n, n_leaves); out like proba.
    """
    n, m = proba.shape
    n_leaves = weight.shape[1]
    if n_leaves < 1 or m % n_leaves != 0 or weight.shape[0] != n or y_index.shape[0] != n:
        raise ValueError("multinomial_residual: array shapes do not match")
    if out.shape[0] != n or out.shape[1] != m:
        raise ValueError("multinomial_residual: array shapes do not match")
    k = m // n_leaves
    for i in range(n):
        if y_index[i] < 0 or y_index[i] >= k:
            raise ValueError("multinomial_residual: class index out of range")
        for leaf in range(n_leaves):
            w = weight[i, leaf]
            o = leaf * k
            for c in range(k):
                out[i, o + c] = w * proba[i, o + c]
            out[i, o + y_index[i]] -= w


@njit(nogil=True, cache=True)
def gram_block(Z, W, out):
    """Add ``sum_i W[i, k] z_i z_i^T`` over all rows to ``out[k]`` (upper triangles).

    Z : (n, q); W : (n, K) non-negative; out : (K, q * (q + 1) // 2), the
    upper triangles of the K Gram matrices, row-major.  All K Grams come
    from one matrix product per small chunk of rows, ``Q_chunk @ W_chunk``
    where ``Q`` holds the rows' outer products: half the flops of K separate
    ``(Z * w_k).T @ Z`` products, with both operands in cache.  ``Q`` is built
    column by column from the transposed chunk, so its inner loops run over
    contiguous rows and vectorise (2.4 times faster than row by row).
    """
    n, q = Z.shape
    m = q * (q + 1) // 2
    if W.shape[0] != n or out.shape[0] != W.shape[1] or out.shape[1] != m:
        raise ValueError("gram_block: array shapes do not match")
    Zt = np.empty((q, _GRAM_CHUNK))
    Q = np.empty((m, _GRAM_CHUNK))
    total = np.zeros((m, W.shape[1]))
    for start in range(0, n, _GRAM_CHUNK):
        stop = min(start + _GRAM_CHUNK, n)
        r = stop - start
        for i in range(r):
            for a in range(q):
                Zt[a, i] = Z[start + i, a]
        c = 0
        for a in range(q):
            for b in range(a, q):
                za = Zt[a]
                zb = Zt[b]
                row = Q[c]
                for i in range(r):
                    row[i] = za[i] * zb[i]
                c += 1
        if r == _GRAM_CHUNK:
            total += np.dot(Q, W[start:stop])
        else:
            total += np.dot(np.ascontiguousarray(Q[:, :r]), W[start:stop])
    out += total.T


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


@njit(nogil=True, cache=True)
def add_to_rows(A, v):
    """``A += v`` in place for ``A`` (n, m) and ``v`` (m,)."""
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            A[i, j] += v[j]


@njit(nogil=True, cache=True)
def positive_weighted_sum(W, V):
    """``sum W * V`` over the entries with ``W > 0`` (``V`` may be -inf where ``W`` is 0)."""
    n, m = W.shape
    total = 0.0
    for i in range(n):
        for j in range(m):
            if W[i, j] > 0:
                total += W[i, j] * V[i, j]
    return total
