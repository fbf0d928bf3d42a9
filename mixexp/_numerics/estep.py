"""The E-step: the posterior of every node of a tree given each row, and the rows'
log-likelihoods, from the gate's log terms of the edges and the leaves' log-densities.

:func:`e_step`
    The E-step of a chunk of rows: what the engine's passes (the fit's and
    ``e_step``'s) and the gates' leaf probabilities call.
:func:`tree_posteriors`
    The exact kernel (numba): the tree level by level in log space, one exp
    per edge and a log per inner node; also each node's posterior given its
    parent (``conditional``).
:func:`tree_posteriors_rows`
    Its fast variant: a softmax over the leaves with numpy's vectorised exp
    (:mod:`mixexp._numerics.softmax`); rows with infinite terms go to the kernel.
:func:`gaussian_leaf_softmax`
    A Gaussian gate's leaf probabilities (the E-step without experts) from its
    squared whitened norms, with the same order of sums.
:func:`positive_weighted_sum`
    The expected complete-data log-likelihood of fixed posteriors.
"""

import numpy as np
from numba import njit

from .softmax import EXP_FLOOR, EXP_TINY, group_sum


@njit(nogil=True, cache=True)
def tree_posteriors(log_gate, leaf_logdens, branching, node_post, loglik, conditional):
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
        Required: numba compiles a call that omits an argument with a default
        apart from one that passes it (two specialisations, 1.5 s each).
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


def e_step(log_gate, leaf_logdens, branching, loglik=None):
    """The E-step of a chunk of rows (:func:`tree_posteriors_rows`).

    Parameters
    ----------
    log_gate : (n, n_inner * branching) the gate's log term of every edge.
    leaf_logdens : (n, n_leaves) log p(y_i | x_i, leaf), or None: every leaf's
        density is 1 (the posteriors are the gate's path probabilities).
    branching : int
    loglik : (n,) output, optional (e.g. a view of a whole pass's array).

    Returns
    -------
    node_post : (n, n_inner + n_leaves) every node's posterior, the leaves last.
    loglik : (n,) each row's log-likelihood.
    """
    n = log_gate.shape[0]
    n_inner = log_gate.shape[1] // branching if branching >= 1 else 0
    if leaf_logdens is None:
        leaf_logdens = np.zeros((n, log_gate.shape[1] + 1 - n_inner))
    node_post = np.empty((n, log_gate.shape[1] + 1))
    if loglik is None:
        loglik = np.empty(n)
    tree_posteriors_rows(log_gate, leaf_logdens, branching, node_post, loglik)
    return node_post, loglik


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
        tree_posteriors(log_gate, leaf_logdens, branching, node_post, loglik, False)  # raises
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
        tree_posteriors(log_gate[rows], leaf_logdens[rows], branching, sub_post, sub_ll, False)
        node_post[rows] = sub_post
        loglik[rows] = sub_ll


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
            A[i, leaf] = max(A[i, leaf] - m, EXP_FLOOR)
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
            e = 0.0 if E[i, leaf] <= EXP_TINY else E[i, leaf]  # NaN stays NaN
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
    """``out``: the exponents of :func:`gaussian_leaf_softmax`, floored at ``EXP_FLOOR``;
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
            out[i, k] = max(out[i, k] - m2, EXP_FLOOR)
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
    group_sum(out, K, np.empty((n, 1)), True)
    return np.flatnonzero(~np.isfinite(top))


# -- fixed posteriors ------------------------------------------------------------


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
