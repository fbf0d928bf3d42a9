"""A prediction's mixtures: the gates' weighted sums of the leaves' outputs.

:func:`mix` mixes any per-leaf output (:func:`mix_clipped`: each clipped to its leaf's
range first, in the same pass); :func:`mix_group_softmax` mixes the
leaves' class softmaxes of relative logits (:func:`mixexp._numerics.softmax.group_softmax`)
without forming them, with the same range check and shifted route.
"""

import numpy as np
from numba import njit

from .softmax import SUM_MAX, check_groups, exp_relative, shifted_softmax


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
def _mix_clipped(gates, values, low, high, out):
    """``out[i, t] = sum_k gates[i, k] * clip(values[i, k, t], low[k, t], high[k, t])``;
    False when a clipped value is not finite (NaN stays NaN, as in ``np.clip``)."""
    n, K, T = values.shape
    finite = True
    for i in range(n):
        for t in range(T):
            s = 0.0
            for k in range(K):
                v = values[i, k, t]
                if v < low[k, t]:
                    v = low[k, t]
                elif v > high[k, t]:
                    v = high[k, t]
                finite &= np.isfinite(v)
                s += gates[i, k] * v
            out[i, t] = s
    return finite


# Writes out the sums of member-major groups, as softmax._softmax_groups does (a
# helper function for them ran twice as slowly).


@njit(nogil=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def _mix_group_softmax(gates, E, out, bad):
    """``out[i, c] = sum_k gates[i, k] * P[i, c * K + k]`` for the member-major group
    softmaxes ``P`` of ``[0, log E[i]]`` (``K`` groups), without forming them; ``bad`` as
    above."""
    n, K = gates.shape
    size = E.shape[1] // K
    w = np.empty(K)
    for i in range(n):
        for k in range(K):
            w[k] = 1.0
        for c in range(size):
            for k in range(K):
                w[k] += E[i, c * K + k]
        n_bad = 0
        s = 0.0
        for k in range(K):
            n_bad += not (w[k] <= SUM_MAX)
            w[k] = gates[i, k] / w[k]
            s += w[k]
        bad[i] = n_bad > 0
        out[i, 0] = s
        for c in range(size):
            s = 0.0
            for k in range(K):
                s += w[k] * E[i, c * K + k]
            out[i, c + 1] = s


def mix(gates, values):
    """The mixture ``sum_k gates[:, k] * values[:, k]`` of ``values`` (n, K, T), ``(n, T)``."""
    out = np.empty((values.shape[0], values.shape[2]))
    _mix(np.ascontiguousarray(gates), np.ascontiguousarray(values), out)
    return out


def mix_clipped(gates, values, low, high):
    """``mix(gates, np.clip(values, low, high))`` for per-leaf bounds ``low``, ``high``
    ``(K, T)``, in one pass over ``values`` (n, K, T) without forming the clipped copy.

    Returns the mixture ``(n, T)`` and whether every clipped value was finite; where one
    was not, the caller takes the clipped values' own route (a prediction's heavy tails).
    """
    out = np.empty((values.shape[0], values.shape[2]))
    finite = _mix_clipped(np.ascontiguousarray(gates), np.ascontiguousarray(values),
                          np.ascontiguousarray(low, dtype=np.float64),
                          np.ascontiguousarray(high, dtype=np.float64), out)
    return out, bool(finite)


def mix_group_softmax(gates, logits):
    """``sum_k gates[:, k] * group_softmax(logits, K)[:, group k]``, ``(n, size)`` for
    ``gates`` (n, K) and relative ``logits`` (n, (size - 1) * K): the mixture of K
    softmaxes (class probabilities) without forming them."""
    n, K = gates.shape
    check_groups(logits, K)
    gates = np.ascontiguousarray(gates)
    E = exp_relative(logits)
    out = np.empty((n, logits.shape[1] // K + 1))
    bad = np.empty(n, dtype=np.bool_)
    _mix_group_softmax(gates, E, out, bad)
    if bad.any():
        rows = np.flatnonzero(bad)
        proba = shifted_softmax(logits[rows], K).reshape(rows.size, -1, K)
        out[rows] = mix(gates[rows], proba.transpose(0, 2, 1))
    return out
