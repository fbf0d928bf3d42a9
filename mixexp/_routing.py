"""Sparse top-k routing at prediction (Shazeer et al. 2017).

Each sample keeps the ``k`` most probable experts under the gate; their gate
probabilities are renormalised to sum to 1 and only they are evaluated.  An
expert family that can restrict its parameters to some leaves
(``leaf_params(params, leaves)``) is evaluated leaf by leaf on the rows routed
to that leaf, so an expensive expert (an estimator) does no work on the rows it
does not receive; other families are evaluated densely and masked.  With
``top_k=1`` (hard routing, :class:`mixexp._predict.RoutedRows`) each row has one
expert, :func:`top_leaf`, and prediction evaluates each expert on its rows only.
"""

import numbers

import numpy as np

from ._design import take_rows


def check_top_k(top_k, n_leaves):
    """``top_k`` as an int in ``[1, n_leaves]`` or None; ValueError otherwise."""
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
        raise ValueError(f"top_k must be None or an int >= 1, got {top_k!r}.")
    if top_k > n_leaves:
        raise ValueError(f"top_k={top_k} is larger than the number of experts ({n_leaves}).")
    return int(top_k)


def route(gates, top_k):
    """Each row's ``top_k`` largest gate probabilities, renormalised, and the routing mask.

    Parameters
    ----------
    gates : ndarray of shape (n_samples, n_experts), rows summing to 1.
    top_k : int or None (None: dense, no mask).

    Returns
    -------
    routed : ndarray of shape (n_samples, n_experts), zero off the route.
    mask : ndarray of bool, same shape, or None when dense.
    """
    if top_k is None:
        return gates, None
    if top_k == 1:
        keep = top_leaf(gates)[:, None]
    else:
        keep = np.argpartition(-gates, top_k - 1, axis=1)[:, :top_k]
    mask = np.zeros(gates.shape, dtype=bool)
    np.put_along_axis(mask, keep, True, axis=1)
    routed = np.where(mask, gates, 0.0)
    routed /= routed.sum(axis=1, keepdims=True)
    return routed, mask


def top_leaf(gates):
    """Each row's most probable leaf, ``(n,)`` (the first of tied ones): hard routing's
    (``top_k=1``) one expert per row."""
    return np.argmax(gates, axis=1)


def leaf_groups(leaf):
    """``(k, rows)`` of every leaf ``k`` that rows are routed to: the indices of the rows
    with ``leaf == k`` (``leaf`` ``(n,)``), in order."""
    if leaf.size == 0:
        return
    counts = np.bincount(leaf)
    # numpy sorts 16-bit integers by radix (linear time)
    order = np.argsort(leaf.astype(np.int16) if counts.size < 2**15 else leaf, kind="stable")
    ends = np.cumsum(counts)
    for k in np.flatnonzero(counts):
        yield k, order[ends[k] - counts[k] : ends[k]]


def by_leaf(leaf, evaluate):
    """``evaluate(k, rows)`` of every leaf ``k`` on its rows (:func:`leaf_groups`), gathered
    into whole arrays of ``leaf.shape[0]`` rows.

    ``evaluate`` returns an array (or a tuple of arrays) with one entry per row of ``rows``;
    the result has the same structure.
    """
    result = out = None
    for k, rows in leaf_groups(leaf):
        out = evaluate(k, rows)
        parts = out if isinstance(out, tuple) else (out,)
        if result is None:
            result = tuple(np.empty((leaf.shape[0],) + p.shape[1:]) for p in parts)
        for full, part in zip(result, parts):
            full[rows] = part
    return result if isinstance(out, tuple) else result[0]


def routed_leaf_outputs(experts, method, Xa, params, info, mask, **row_arrays):
    """``method(Xa, params, info, **row_arrays)`` of every leaf, on the rows routed to it.

    ``method`` returns an array (or a tuple of arrays) of shape
    ``(n, n_leaves, ...)``; entries off the route are 0.  ``row_arrays`` (e.g. a
    log-exposure offset) have a value per row and are cut to the routed rows.
    """
    if not experts.per_leaf:  # no per-leaf evaluation: dense, then masked
        out = method(Xa, params, info, **row_arrays)
        parts = out if isinstance(out, tuple) else (out,)
        parts = tuple(np.where(mask.reshape(mask.shape + (1,) * (p.ndim - 2)), p, 0.0) for p in parts)
        return parts if isinstance(out, tuple) else parts[0]
    result = None
    for leaf in range(mask.shape[1]):
        rows = np.flatnonzero(mask[:, leaf])
        if rows.size == 0:
            continue
        kwargs = take_rows(row_arrays, rows)
        out = method(Xa[rows], experts.leaf_params(params, [leaf]), info, **kwargs)
        parts = out if isinstance(out, tuple) else (out,)
        if result is None:
            result = tuple(np.zeros((mask.shape[0], mask.shape[1]) + p.shape[2:]) for p in parts)
        for full, part in zip(result, parts):
            full[rows, leaf] = part[:, 0]
    return result if isinstance(out, tuple) else result[0]
