"""Prediction over chunks of rows.

A prediction validates ``X`` once, then runs every chunk of rows on its own:
the chunk's internal design, its gate probabilities and its experts' outputs,
reduced to per-row results that are written into the output.  The
temporaries of a chunk (a few ``(rows, n_leaves)`` arrays) stay in cache,
and the chunks run on the threads of :mod:`mixexp._parallel`.  Every row's
result depends on that row alone, so it does not depend on the chunking.
"""

import numpy as np

from ._design import design_matrix
from ._parallel import Runner, chunk_slices, runner

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
    Xa = design_matrix(X[rows], state.x_mean, state.x_scale)
    return state.design(Xa, None, np.ones(Xa.shape[0]))


def gate_probabilities(state, design):
    """The gate's probability of every leaf on the rows of ``design``, ``(n, n_leaves)``.

    A gate that computes them directly (``leaf_probabilities``, the softmax gate)
    does; for any other the engine's E-step without experts gives them.  Both
    give the same numbers up to rounding (tests/test_predict_chunks.py).
    """
    gate = state.gate
    if hasattr(gate, "leaf_probabilities"):
        return gate.leaf_probabilities(design.gate_X, state.params["gate"])
    return state.engine(Runner(1)).e_step(state.params, design, experts=False)[0]
