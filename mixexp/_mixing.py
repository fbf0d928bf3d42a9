"""A prediction's softmaxes and mixtures, on a chunk's products.

A prediction's chunk has its gate logits and its experts' products from a
GEMM each (:class:`mixexp._predict.LinearMaps`).  Here they become leaf
probabilities and the mixture's outputs: numpy's vectorised exp of the logits
as they are, then numba loops without transcendental functions that sum each
group, divide by the sum and multiply along the paths or mix.

Layout.  Groups are member-major: member ``c`` of group ``g`` is column
``c * n_groups + g``, so a row's sums, reciprocals and scalings run along
contiguous runs of ``n_groups`` columns.  Loops over short groups of 2 or 3
consecutive columns ran 5 to 10 times slower (measured); so did the
column-major layout, whose products (``coef @ X.T``) BLAS computes 1.5 to 2
times slower than ``X @ coef.T`` at these widths.

Range.  The logits are not shifted by their group's maximum first: that would
be a pass of its own over the logits, and a range check before the exp
another.  Each group's sum and smallest exponential are checked after the exp
instead.  A group is exact to the exp's rounding when its sum is at most
``SUM_MAX`` (nothing overflowed) and either every exponential is a normal
number or the sum is at least ``SURE_SUM``: then an exponential that underflowed
stands for a probability below 2.2e-308 / ``SURE_SUM`` = 2.2e-304, which the
shifted softmax makes 0 as well.  A row with any other group (logits beyond
about +690, tiny sums with underflowed terms, infinities, NaN) is recomputed
on the shifted route of :func:`mixexp._kernels.log_softmax_groups`.
Probabilities below about 1e-304 may be 0 on either route.
"""

from functools import lru_cache

import numpy as np
from numba import njit

from ._kernels import log_softmax_groups

SUM_MAX = 1e300
SURE_SUM = 1e-4
NORMAL_MIN = float(np.finfo(np.float64).tiny)


@njit(nogil=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def _softmax_rows(E, bad):
    """Divides every row of ``E`` by its sum in place; ``bad[i]``: whether row ``i`` is out
    of range (see the module's doc; True for NaN)."""
    n, m = E.shape
    for i in range(n):
        s = 0.0
        lo = np.inf
        for c in range(m):
            s += E[i, c]
            lo = min(lo, E[i, c])
        bad[i] = not ((s <= SUM_MAX) & ((lo >= NORMAL_MIN) | (s >= SURE_SUM)))
        r = 1.0 / s
        for c in range(m):
            E[i, c] *= r


# The two kernels below write out the sums of member-major groups: called as a
# helper function, the same loops ran twice as slowly, and inlined by numba
# (``@njit(inline="always")``) still 15-25% slower (measured, 10^6 rows, one core).
@njit(nogil=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def _softmax_groups(E, n_groups, bad):
    """Divides every member-major group of ``E`` by its sum in place; ``bad`` as above,
    for any of the row's groups."""
    n, m = E.shape
    size = m // n_groups
    r = np.empty(n_groups)
    lo = np.empty(n_groups)
    for i in range(n):
        for g in range(n_groups):
            r[g] = E[i, g]
            lo[g] = E[i, g]
        for c in range(1, size):
            for g in range(n_groups):
                e = E[i, c * n_groups + g]
                r[g] += e
                lo[g] = min(lo[g], e)
        n_bad = 0
        for g in range(n_groups):
            n_bad += not ((r[g] <= SUM_MAX) & ((lo[g] >= NORMAL_MIN) | (r[g] >= SURE_SUM)))
            r[g] = 1.0 / r[g]
        bad[i] = n_bad > 0
        for c in range(size):
            for g in range(n_groups):
                E[i, c * n_groups + g] *= r[g]


@njit(nogil=True, cache=True)
def _path_products(P, path_cols, out):
    """``out[i, leaf]``: the product of ``P[i]`` over the columns ``path_cols[leaf]``."""
    n = P.shape[0]
    n_leaves, depth = path_cols.shape
    for i in range(n):
        for leaf in range(n_leaves):
            p = P[i, path_cols[leaf, 0]]
            for level in range(1, depth):
                p *= P[i, path_cols[leaf, level]]
            out[i, leaf] = p


@njit(nogil=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def _mix(gates, values, out):
    """``out[i, t] = sum_k gates[i, k] * values[i, k, t]``."""
    n, K, T = values.shape
    for i in range(n):
        for t in range(T):
            s = 0.0
            for k in range(K):
                s += gates[i, k] * values[i, k, t]
            out[i, t] = s


@njit(nogil=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def _mix_group_softmax(gates, E, out, bad):
    """``out[i, c] = sum_k gates[i, k] * E[i, c * K + k] / sum_c' E[i, c' * K + k]``: the
    mixture of the member-major groups' softmaxes (``K`` groups); ``bad`` as above."""
    n, K = gates.shape
    size = E.shape[1] // K
    w = np.empty(K)
    lo = np.empty(K)
    for i in range(n):
        for k in range(K):
            w[k] = E[i, k]
            lo[k] = E[i, k]
        for c in range(1, size):
            for k in range(K):
                e = E[i, c * K + k]
                w[k] += e
                lo[k] = min(lo[k], e)
        n_bad = 0
        for k in range(K):
            n_bad += not ((w[k] <= SUM_MAX) & ((lo[k] >= NORMAL_MIN) | (w[k] >= SURE_SUM)))
            w[k] = gates[i, k] / w[k]
        bad[i] = n_bad > 0
        for c in range(size):
            s = 0.0
            for k in range(K):
                s += w[k] * E[i, c * K + k]
            out[i, c] = s


def _check_groups(logits, n_groups):
    if n_groups < 1 or logits.ndim != 2 or logits.shape[1] % n_groups != 0:
        raise ValueError("group softmax: array shapes do not match")


def _exp(logits):
    """``exp(logits)`` as a new C array (overflow gives inf: the sums catch it)."""
    with np.errstate(over="ignore", under="ignore"):
        return np.exp(logits, out=np.empty(logits.shape))


def _shifted_softmax(logits, n_groups):
    """The softmax within member-major groups of ``logits`` (n, m) on the shifted route
    of :func:`mixexp._kernels.log_softmax_groups` (which takes group-major columns)."""
    n, m = logits.shape
    size = m // n_groups
    grouped = np.ascontiguousarray(logits.reshape(n, size, n_groups).transpose(0, 2, 1)).reshape(n, m)
    log_p = np.empty_like(grouped)
    log_softmax_groups(grouped, size, log_p)
    with np.errstate(under="ignore"):
        return np.exp(log_p).reshape(n, n_groups, size).transpose(0, 2, 1).reshape(n, m)


def group_softmax(logits, n_groups):
    """Softmax within each of ``n_groups`` member-major groups of ``logits`` (n, m): member
    ``c`` of group ``g`` in column ``c * n_groups + g``; ``(n, m)`` in the same order."""
    _check_groups(logits, n_groups)
    E = _exp(logits)
    bad = np.empty(E.shape[0], dtype=np.bool_)
    if n_groups == 1:
        _softmax_rows(E, bad)
    else:
        _softmax_groups(E, n_groups, bad)
    if bad.any():
        rows = np.flatnonzero(bad)
        E[rows] = _shifted_softmax(logits[rows], n_groups)
    return E


def path_softmax_rows(logits, n_groups, path_cols):
    """Each leaf's product of the group softmaxes of ``logits`` (member-major, as
    :func:`group_softmax`) over the columns ``path_cols`` (n_leaves, depth) on its path,
    ``(n, n_leaves)``.  A flat gate (one group, paths of one column) gets its softmax."""
    cond = group_softmax(logits, n_groups)
    if path_cols.shape[1] == 1 and np.array_equal(path_cols[:, 0], np.arange(cond.shape[1])):
        return cond
    out = np.empty((cond.shape[0], path_cols.shape[0]))
    _path_products(cond, path_cols, out)
    return out


def mix(gates, values):
    """The mixture ``sum_k gates[:, k] * values[:, k]`` of ``values`` (n, K, T), ``(n, T)``."""
    out = np.empty((values.shape[0], values.shape[2]))
    _mix(np.ascontiguousarray(gates), np.ascontiguousarray(values), out)
    return out


def mix_group_softmax(gates, logits):
    """``sum_k gates[:, k] * group_softmax(logits, K)[:, group k]``, ``(n, size)`` for
    ``gates`` (n, K): the mixture of K softmaxes (class probabilities) from their logits
    without forming them."""
    n, K = gates.shape
    _check_groups(logits, K)
    gates = np.ascontiguousarray(gates)
    E = _exp(logits)
    out = np.empty((n, logits.shape[1] // K))
    bad = np.empty(n, dtype=np.bool_)
    _mix_group_softmax(gates, E, out, bad)
    if bad.any():
        rows = np.flatnonzero(bad)
        proba = _shifted_softmax(logits[rows], K).reshape(rows.size, -1, K)
        out[rows] = mix(gates[rows], proba.transpose(0, 2, 1))
    return out


@lru_cache(maxsize=16)
def leaf_path_columns(tree):
    """The columns of member-major logits (child ``c`` of inner node ``j`` in column
    ``c * n_inner + j``) on each leaf's path, root first, ``(n_leaves, depth)``
    (read-only; ``tree`` a :class:`mixexp._tree.Tree`)."""
    b = tree.branching
    cols = np.empty((tree.n_leaves, tree.depth), dtype=np.intp)
    for leaf in range(tree.n_leaves):
        node = tree.n_inner + leaf
        for level in range(tree.depth - 1, -1, -1):
            parent = (node - 1) // b
            cols[leaf, level] = (node - 1 - parent * b) * tree.n_inner + parent
            node = parent
    cols.flags.writeable = False
    return cols
