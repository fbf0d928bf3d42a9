"""Whole-chunk companions of the numba kernels (:mod:`mixexp._kernels`), with numpy's
vectorised exp and log.

numba compiles np.exp to one scalar libm call per element (no SVML here);
numpy's own exp is SIMD (AVX2/AVX-512), about five times faster per element
(16M exps: 69 ms against 13 ms on AVX-512).  These functions give the kernels'
numbers on a chunk of rows with whole-array numpy operations and small numba
loops without transcendental functions; rows whose results are not finite are
recomputed by the kernel itself, so the edge cases (every child impossible,
infinite logits) behave exactly as the kernel's (tests/test_kernels.py).

numpy's exp leaves its SIMD path for arguments from -708 down (results near
the subnormals, subnormal or 0, and -inf): 4 to 50 times slower per element.  Far leaves and
confident gates give such arguments in bulk, so they are raised to
``_EXP_FLOOR`` first and the results at the floor (up to ``_EXP_TINY``, twice
it whatever the last bit of a SIMD exp) read as 0.
"""

import numpy as np
from numba import njit

from ._kernels import (
    check_multinomial,
    log_softmax_groups,
    multinomial_logdens,
    tree_posteriors,
)

_EXP_FLOOR = -700.0
_EXP_TINY = 2.0 * float(np.exp(_EXP_FLOOR))


def _exp_floored(A, out):
    """``exp(max(A, _EXP_FLOOR))`` into ``out``: entries at ``_EXP_TINY`` stand for 0."""
    np.maximum(A, _EXP_FLOOR, out=out)
    return np.exp(out, out=out)


@njit(nogil=True, cache=True)
def _gate_residual_from_proba(out, node_weight, branching):
    """``out = w_j g_jc - w_c`` in place, ``out`` holding the gate probabilities ``g``
    from :func:`_exp_floored`."""
    n, m = out.shape
    b = branching
    for i in range(n):
        for j in range(m // b):
            w = node_weight[i, j]
            for c in range(b):
                g = out[i, j * b + c]
                if g <= _EXP_TINY:
                    g = 0.0
                out[i, j * b + c] = w * g - node_weight[i, j * b + 1 + c]


def gate_residual_rows(log_gate, node_weight, branching, out):
    """:func:`gate_residual` with numpy's vectorised exp."""
    n, m = log_gate.shape
    b = branching
    n_inner = m // b
    if (b < 1 or n_inner * b != m or node_weight.shape[0] != n or node_weight.shape[1] < m + 1
            or out.shape != log_gate.shape):
        raise ValueError("gate_residual: array shapes do not match the tree")
    _exp_floored(log_gate, out)
    _gate_residual_from_proba(out, node_weight, b)
    return out


def tree_posteriors_rows(log_gate, leaf_logdens, branching, node_post, loglik):
    """:func:`tree_posteriors` (posteriors, not conditional) with numpy's vectorised exp.

    The E-step is a softmax over the leaves of the sum of the log gates along
    each leaf's path plus its log-density (:func:`_tree_joint`); an inner
    node's posterior is the sum of its leaves'.  One exponential per row and leaf, against one
    per edge (and a log per inner node) in the kernel's upward pass.
    """
    n, m = log_gate.shape
    b = branching
    n_inner = m // b if b >= 1 else 0
    n_leaves = leaf_logdens.shape[1]
    if (
        b < 1
        or n_inner * b != m
        or n_inner + n_leaves != m + 1
        or leaf_logdens.shape[0] != n
        or node_post.shape != (n, m + 1)
        or loglik.shape != (n,)
    ):
        tree_posteriors(log_gate, leaf_logdens, branching, node_post, loglik)  # raises
        return
    log_gate = np.ascontiguousarray(log_gate)
    leaf_logdens = np.ascontiguousarray(leaf_logdens)
    A = np.empty((n, n_leaves))
    shift = np.empty((n, 2))
    _tree_joint(log_gate, leaf_logdens, b, A, shift)
    np.exp(A, out=A)
    _tree_normalise(A, b, node_post, loglik)
    with np.errstate(invalid="ignore"):  # rows with infinite terms: recomputed below
        np.log(loglik, out=loglik)  # numpy's vectorised log, not one libm call per row
        loglik += shift[:, 1]
        loglik += shift[:, 0]
    bad = ~np.isfinite(loglik)
    if bad.any():  # every leaf impossible, or infinite terms: the kernel's own handling
        rows = np.flatnonzero(bad)
        sub_post = np.empty((rows.size, m + 1))
        sub_ll = np.empty(rows.size)
        tree_posteriors(log_gate[rows], leaf_logdens[rows], branching, sub_post, sub_ll)
        node_post[rows] = sub_post
        loglik[rows] = sub_ll


# Logits within this magnitude are exponentiated as they are, without the
# shift by their group's maximum (a pass of scalar code as long as the exp):
# the exponentials lie in [1e-87, 1e87], so no group's sum overflows or
# underflows, and ``log p = logit - log(sum)`` is off by at most 200 eps
# (4e-14) in absolute terms.  Larger logits take the shifted route.
_UNSHIFTED_LIMIT = 200.0


@njit(nogil=True, cache=True)
def _group_shift(logits, group_size, out):
    """``out = logits - max`` within each group of columns; returns whether every
    group's maximum is finite."""
    n, m = logits.shape
    finite = True
    for i in range(n):
        for g in range(m // group_size):
            o = g * group_size
            mx = -np.inf
            for c in range(o, o + group_size):
                mx = max(mx, logits[i, c])
            finite &= np.isfinite(mx)
            for c in range(o, o + group_size):
                out[i, c] = logits[i, c] - mx
    return finite


# reassociated sums vectorise (a row's sum in SIMD lanes, not one long chain)
@njit(nogil=True, cache=True, fastmath={"reassoc"})
def _group_sum(E, group_size, total, normalise):
    """``total`` (n, n_groups): the sum of ``E`` (from :func:`_exp_floored`, its
    entries at the floor set to 0) within each group of columns; with
    ``normalise``, ``E`` is divided by it in place."""
    n, m = E.shape
    for i in range(n):
        for g in range(m // group_size):
            o = g * group_size
            s = 0.0
            for c in range(o, o + group_size):
                e = 0.0 if E[i, c] <= _EXP_TINY else E[i, c]  # NaN stays NaN
                E[i, c] = e
                s += e
            total[i, g] = s
            if normalise:
                r = 1.0 / s
                for c in range(o, o + group_size):
                    E[i, c] *= r


@njit(nogil=True, cache=True)
def _group_subtract(A, group_size, log_total, out):
    """``out = A - log_total`` of each column's group."""
    n, m = A.shape
    for i in range(n):
        for g in range(m // group_size):
            for c in range(g * group_size, (g + 1) * group_size):
                out[i, c] = A[i, c] - log_total[i, g]


@njit(nogil=True, cache=True)
def _group_pick(A, y_index, group_size, log_total, out):
    """``out[i, g] = A[i, g * group_size + y_i] - log_total[i, g]``."""
    n, m = A.shape
    for i in range(n):
        for g in range(m // group_size):
            out[i, g] = A[i, g * group_size + y_index[i]] - log_total[i, g]


def _group_exponents(logits, group_size, out=None):
    """Exponents whose softmax within groups is that of ``logits``, and whether they are
    the logits themselves: so when the logits are small (:data:`_UNSHIFTED_LIMIT`), else
    they are shifted by each group's maximum; ``(None, False)`` when some maximum is not
    finite (left to the kernels).  ValueError unless the groups divide the columns and
    ``out`` (the caller's output, if any) has the shape of ``logits``."""
    n, m = logits.shape
    if group_size < 1 or m % group_size != 0 or (out is not None and out.shape != (n, m)):
        raise ValueError("softmax_groups: array shapes do not match")
    logits = np.ascontiguousarray(logits)
    if logits.size == 0 or (logits.max() < _UNSHIFTED_LIMIT and logits.min() > -_UNSHIFTED_LIMIT):
        return logits, True
    A = np.empty_like(logits)
    return (A, False) if _group_shift(logits, group_size, A) else (None, False)


def _group_exp(A, unshifted, out):
    """``exp(A)`` into ``out``; shifted exponents go through :func:`_exp_floored`
    (unshifted ones are above -200: exp has no slow path there and nothing is tiny)."""
    return np.exp(A, out=out) if unshifted else _exp_floored(A, out)


def log_softmax_groups_rows(logits, group_size, out):
    """:func:`log_softmax_groups` with numpy's vectorised exp and log."""
    n, m = logits.shape
    A, unshifted = _group_exponents(logits, group_size, out)
    if A is None:
        log_softmax_groups(logits, group_size, out)
        return out
    total = np.empty((n, m // group_size))
    _group_sum(_group_exp(A, unshifted, np.empty_like(A)), group_size, total, False)
    np.log(total, out=total)
    _group_subtract(A, group_size, total, out)
    return out


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
    A, unshifted = _group_exponents(logits, n_classes, proba)
    if A is None:
        log_proba = np.empty_like(logits)
        multinomial_logdens(logits, y_index, n_classes, log_proba, out)
        np.exp(log_proba, out=proba)
        return proba, out
    _group_exp(A, unshifted, proba)
    total = np.empty((n, n_leaves))
    _group_sum(proba, n_classes, total, True)
    np.log(total, out=total)
    _group_pick(A, y_index, n_classes, total, out)
    return proba, out


@njit(nogil=True, cache=True)
def _tree_joint(log_gate, leaf_logdens, branching, A, shift):
    """The exponents of a tree's E-step as a flat one over its leaves.

    A leaf's joint log term is the sum of the log gates on its path plus its
    log-density.  The order of the sums keeps the terms that decide the
    posteriors exact, as :func:`tree_posteriors` does level by level: the
    log-densities are shifted by their maximum ``mb`` before the log gates of
    the edges into the leaves are added (far from the data, at -1e13, they
    would round those gates away), and that bottom term by its own maximum
    ``mB`` before the log gates above it are added (a Gaussian gate's edges
    into leaves carry log p(x), which may be -1e13 as well).  ``A`` (n,
    n_leaves) receives the joint less its row maximum ``m``, ``shift`` (n, 2)
    the pair ``(mb, mB + m)``.
    """
    n, n_leaves = A.shape
    b = branching
    n_inner = log_gate.shape[1] // b
    upper = np.empty(n_inner)  # sum of the log gates from the root to each inner node
    upper[0] = 0.0
    for i in range(n):
        for node in range(1, n_inner):
            upper[node] = upper[(node - 1) // b] + log_gate[i, node - 1]
        mb = -np.inf
        for leaf in range(n_leaves):
            mb = max(mb, leaf_logdens[i, leaf])
        mB = -np.inf
        for leaf in range(n_leaves):
            a = log_gate[i, n_inner - 1 + leaf] + (leaf_logdens[i, leaf] - mb)
            A[i, leaf] = a
            mB = max(mB, a)
        m = -np.inf
        for leaf in range(n_leaves):
            a = upper[(n_inner + leaf - 1) // b] + (A[i, leaf] - mB)
            A[i, leaf] = a
            m = max(m, a)
        for leaf in range(n_leaves):
            A[i, leaf] = max(A[i, leaf] - m, _EXP_FLOOR)
        shift[i, 0] = mb
        shift[i, 1] = mB + m


@njit(nogil=True, cache=True, fastmath={"reassoc"})
def _tree_normalise(E, branching, node_post, total):
    """Leaf posteriors from the exponentials ``E`` of :func:`_tree_joint`, and each
    row's sum of them in ``total``; an inner node's posterior is the sum of its children's."""
    n, n_leaves = E.shape
    b = branching
    n_inner = node_post.shape[1] - n_leaves
    for i in range(n):
        s = 0.0
        for leaf in range(n_leaves):
            e = 0.0 if E[i, leaf] <= _EXP_TINY else E[i, leaf]  # NaN stays NaN
            E[i, leaf] = e
            s += e
        r = 1.0 / s
        for leaf in range(n_leaves):
            node_post[i, n_inner + leaf] = E[i, leaf] * r
        for j in range(n_inner - 1, -1, -1):
            t = 0.0
            for c in range(b):
                t += node_post[i, j * b + 1 + c]
            node_post[i, j] = t
        node_post[i, 0] = 1.0
        total[i] = s


# -- Gaussian gate: leaf probabilities from squared whitened norms ------------------


@njit(nogil=True, cache=True)
def _gaussian_leaf_exponents(sq_norms, const, path, out, top):
    """``out``: the exponents of :func:`gaussian_leaf_softmax`, floored at ``_EXP_FLOOR``;
    ``top``: each row's maximum log density plus the maximum exponent before the
    second shift (not finite when that row needs the E-step's own handling)."""
    n, K = sq_norms.shape
    for i in range(n):
        m = -np.inf
        for k in range(K):
            v = const[k] - 0.5 * sq_norms[i, k]
            out[i, k] = v
            m = max(m, v)
        m2 = -np.inf
        for k in range(K):
            v = (out[i, k] - m) + path[k]
            out[i, k] = v
            m2 = max(m2, v)
        for k in range(K):
            out[i, k] = max(out[i, k] - m2, _EXP_FLOOR)
        top[i] = m + m2


def gaussian_leaf_softmax(sq_norms, const, path, out):
    """Softmax over the leaves of ``path + const - sq_norms / 2`` (path log weights plus
    log densities) into ``out``, with numpy's vectorised exp; returns the rows whose
    terms are not finite (left to the caller).

    The log densities are shifted by their row maximum before the path weights
    are added, and the sum by its own maximum, as :func:`_tree_joint` orders the
    E-step's sums: far rows (log densities of -1e13) keep the weights exact.

    sq_norms : (n, n_leaves); const, path : (n_leaves,); out : (n, n_leaves).
    """
    n, K = sq_norms.shape
    if const.shape != (K,) or path.shape != (K,) or out.shape != (n, K):
        raise ValueError("gaussian_leaf_softmax: array shapes do not match")
    top = np.empty(n)
    _gaussian_leaf_exponents(np.ascontiguousarray(sq_norms), const, path, out, top)
    np.exp(out, out=out)
    _group_sum(out, K, np.empty((n, 1)), True)
    return np.flatnonzero(~np.isfinite(top))
