"""Prediction over chunks of rows.

A prediction validates ``X`` once, then runs every chunk of rows on its own:
the chunk's internal design, its gate probabilities and its experts' outputs,
reduced to per-row results that are written into the output.  The
temporaries of a chunk (a few ``(rows, n_leaves)`` arrays) stay in cache,
and the chunks run on the threads of :mod:`mixexp._parallel`.  Every row's
result depends on that row alone, so it does not depend on the chunking.
"""

import numpy as np
from numba import njit

from ._design import design_rows
from ._parallel import Runner, chunk_slices, runner
from .gates.softmax import SoftmaxGate

# Rows per chunk of a prediction (measured at 10^6 rows, 2 cores: 4096 to 16384
# rows are within a few percent of each other; smaller chunks pay per-call overhead,
# larger ones leave the cache)
PREDICT_CHUNK_ROWS = 8192


def map_rows(n_rows, func, chunk_rows=PREDICT_CHUNK_ROWS):
    """``func(rows)`` of every chunk of rows, gathered into whole arrays.

    Parameters
    ----------
    n_rows : int
    func : callable (slice) -> tuple of ndarrays whose first axis has one entry per row of the slice.
    chunk_rows : int

    Returns
    -------
    tuple of ndarrays of ``n_rows`` rows, in the order ``func`` returns them.
    """
    chunks = chunk_slices(n_rows, chunk_rows)
    outs = None
    with runner(n_rows, chunk_rows) as run:
        for s, parts in zip(chunks, run.map(func, chunks)):
            if outs is None:
                outs = tuple(np.empty((n_rows,) + p.shape[1:], dtype=p.dtype) for p in parts)
            for out, part in zip(outs, parts):
                out[s] = part
    return outs


def chunk_design(state, X, rows):
    """The internal design of the rows ``rows`` of validated ``X`` (no target, unit weights)."""
    Xa = design_rows(X[rows], state.x_mean, state.x_scale)
    return state.design(Xa, None, np.ones(Xa.shape[0]))


@njit(nogil=True, cache=True)
def _shift_groups(a, group_size):
    """Subtract from every group of ``group_size`` columns its maximum, in place."""
    n, m = a.shape
    for i in range(n):
        for o in range(0, m, group_size):
            mx = a[i, o]
            for c in range(o + 1, o + group_size):
                mx = max(mx, a[i, c])
            for c in range(o, o + group_size):
                a[i, c] -= mx


@njit(nogil=True, cache=True)
def _normalise_groups(e, group_size):
    """Divide every group of ``group_size`` columns by its sum, in place."""
    n, m = e.shape
    for i in range(n):
        for o in range(0, m, group_size):
            s = 0.0
            for c in range(o, o + group_size):
                s += e[i, c]
            r = 1.0 / s
            for c in range(o, o + group_size):
                e[i, c] *= r


def softmax_groups(logits, group_size):
    """Softmax within consecutive groups of ``group_size`` columns of ``logits`` (overwritten):
    numba for the maxima and sums, numpy's vectorised exp.

    Returns
    -------
    ndarray of shape (n, n_groups, group_size)
    """
    _shift_groups(logits, group_size)
    np.exp(logits, out=logits)
    _normalise_groups(logits, group_size)
    return logits.reshape(logits.shape[0], -1, group_size)


def _path_products(cond, tree):
    """Each leaf's probability, the product of the conditional gates on its path, ``(n, n_leaves)``."""
    n, b = cond.shape[0], tree.branching
    level = np.ones((n, 1))
    start = 0  # first inner node of the level
    while start < tree.n_inner:
        width = level.shape[1]
        level = (level[:, :, None] * cond[:, start : start + width]).reshape(n, width * b)
        start += width
    return level


def gate_probabilities(state, design):
    """The gate's probability of every leaf on the rows of ``design``, ``(n, n_leaves)``.

    For a softmax gate the path products of its softmaxes (numpy's vectorised
    exp); for any other gate the engine's E-step without experts.  Both give
    the same numbers up to rounding (tests/test_predict_chunks.py).
    """
    gate = state.gate
    if type(gate) is SoftmaxGate:
        coef = state.params["gate"]["coef"]
        logits = np.ascontiguousarray(design.gate_X @ coef.reshape(-1, coef.shape[2]).T)
        cond = softmax_groups(logits, state.tree.branching)
        if state.tree.n_inner == 1:
            return cond[:, 0]
        return _path_products(cond, state.tree)
    return state.engine(Runner(1)).e_step(state.params, design, experts=False)[0]
