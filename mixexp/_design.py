"""Internal coordinates: standardised features with a column of ones, in chunks.

Every component works on ``Xa = [(x - mean) / scale, 1]`` (sparse input:
``[x / scale, 1]`` with the same scale, never centred, so it stays sparse).  Means and scales are
computed without overflow for any finite input: each column is first divided
by its largest magnitude.
"""

import copy

import numpy as np
import scipy.sparse as sp
from numba import njit

from ._parallel import CHUNK_ROWS, balanced_chunk_slices, chunk_slices

_CONVERT_ROWS = 8192  # rows per converted block in design_matrix (other dtypes and layouts)


def weighted_location_scale(A, sw, center=True):
    """Weighted mean and standard deviation of each column, overflow-free.

    With ``center=False`` the mean is 0 and the scale is the root mean square.
    Sparse ``A`` gives the same mean and scale as dense ``A`` (its design is then
    scaled but not centred: see :func:`sparse_location`).
    A column whose spread is below 1e-12 of its magnitude gets scale 1.

    Returns
    -------
    mean, scale : ndarrays of shape (n_columns,)
    """
    if sp.issparse(A):
        peak = np.asarray(abs(A).max(axis=0).todense()).ravel().astype(np.float64)
        safe = np.where(peak > 0, peak, 1.0)
        scaled = sp.csc_matrix(A, dtype=np.float64) @ sp.diags(1.0 / safe)
        total = sw.sum()
        mean_s = np.asarray(scaled.T @ sw).ravel() / total if center else np.zeros(A.shape[1])
        # columns divided by their magnitude: E[x^2] - E[x]^2 loses no more than dense's two passes
        second = np.maximum(np.asarray(scaled.multiply(scaled).T @ sw).ravel() / total - mean_s**2, 0.0)
    else:
        # chunk by chunk: no temporary of A's size
        A = np.asarray(A, dtype=np.float64)
        n, p = A.shape
        chunks = chunk_slices(n, 8 * CHUNK_ROWS)
        peak = np.zeros(p)
        for s in chunks:
            np.maximum(peak, np.max(np.abs(A[s]), axis=0), out=peak)
        safe = np.where(peak > 0, peak, 1.0)
        total = sw.sum()
        mean_s = np.zeros(p)
        if center:
            for s in chunks:
                mean_s += sw[s] @ (A[s] / safe)
            mean_s /= total
        second = np.zeros(p)
        for s in chunks:
            second += sw[s] @ ((A[s] / safe - mean_s) ** 2)
        second /= total
    return location_scale_from_moments(safe, mean_s, second)


def nan_location_scale(X, sw, name="X"):
    """Weighted mean and standard deviation of each column over its observed entries
    (:func:`weighted_location_scale`, NaN left out); a ValueError for a
    column with no observed entry of positive weight."""
    X = np.asarray(X, dtype=np.float64)
    observed = ~np.isnan(X)
    W = observed * sw[:, None]
    totals = W.sum(axis=0)
    if not np.all(totals > 0):
        empty = np.flatnonzero(~(totals > 0)).tolist()
        raise ValueError(f"{name} has no observed value (of positive weight) in the columns {empty}.")
    Xz = np.where(observed, X, 0.0)
    peak = np.max(np.abs(Xz), axis=0)
    safe = np.where(peak > 0, peak, 1.0)
    mean_s = np.sum(W * (Xz / safe), axis=0) / totals
    second = np.sum(W * (np.where(observed, Xz / safe - mean_s, 0.0)) ** 2, axis=0) / totals
    return location_scale_from_moments(safe, mean_s, second)


def sparse_location(mean, scale):
    """The location of a sparse design: 0 (a centred column would be dense).

    Its columns keep the dense design's scale, the standard deviation, so every
    coefficient in the internal coordinates, and with it every penalty on the
    coefficients, is the dense design's; the unpenalised intercepts absorb the
    centring, and sparse and dense X have one optimum.
    """
    return np.zeros_like(mean), scale


def location_scale_from_moments(safe, mean_s, second):
    """Mean and scale from the moments of each column divided by its magnitude ``safe``.

    ``mean_s`` and ``second`` are the weighted mean and central second moment
    of ``column / safe``; :func:`weighted_location_scale` and the dask fit
    (``mixexp.dask``, which sums them over blocks) share this last step.
    """
    scale_s = np.sqrt(second)
    constant = scale_s <= 1e-12 * np.maximum(np.abs(mean_s), 1e-300)
    scale = np.where(constant, 1.0, scale_s * safe)
    return mean_s * safe, scale


def standardize(A, mean, scale):
    """``(A - mean) / scale`` computed without overflow (dense ``A``)."""
    A = np.asarray(A, dtype=np.float64)
    # (a - m) / s == a / s - m / s; dividing first keeps huge values finite
    return A / scale - mean / scale


@njit(nogil=True, cache=True)
def _standardize_rows(X, scale, shift, out):
    # (x - m) / s as x / s - m / s: dividing first keeps huge values finite
    n, d = X.shape
    for i in range(n):
        for j in range(d):
            out[i, j] = X[i, j] / scale[j] - shift[j]
        out[i, d] = 1.0


def design_matrix(X, mean, scale):
    """``[(X - mean) / scale, 1]``: dense float64, or CSR for sparse ``X``.

    Dense ``X`` is standardised in one pass that releases the GIL (blocks of
    rows are standardised on several threads when predicting).
    """
    if sp.issparse(X):
        Xs = sp.csr_matrix(X, dtype=np.float64) @ sp.diags(1.0 / scale)
        return sp.hstack([Xs, np.ones((X.shape[0], 1))], format="csr")
    Xa = np.empty((X.shape[0], X.shape[1] + 1))
    scale = np.ascontiguousarray(scale, dtype=np.float64)
    shift = np.ascontiguousarray(mean / scale, dtype=np.float64)
    if X.dtype == np.float64 and X.flags.c_contiguous and X.flags.writeable:
        _standardize_rows(X, scale, shift, Xa)
        return Xa
    # Other dtypes, layouts and read-only arrays (float32, Fortran order and pandas'
    # read-only views of a DataFrame, strided views) are copied block by block, so that the
    # one compiled kernel for writeable C-order float64 serves them all (numba compiles
    # each kind anew: 0.3 s) without an X-sized copy.  The kernel divides in float64
    # either way: the same numbers.
    for start in range(0, X.shape[0], _CONVERT_ROWS):
        stop = min(start + _CONVERT_ROWS, X.shape[0])
        block = np.array(X[start:stop], dtype=np.float64, order="C")
        _standardize_rows(block, scale, shift, Xa[start:stop])
    return Xa


def take_rows(target, rows):
    """Rows of a target that is an array, a tuple or a dict of arrays (or of such targets:
    a censored target holds the family's), or None."""
    if target is None:
        return None
    if isinstance(target, tuple):
        return tuple(take_rows(t, rows) for t in target)
    if isinstance(target, dict):
        return {key: take_rows(value, rows) for key, value in target.items()}
    return target[rows]


def start_row_indices(rs, weighted, size):
    """The rows EM's start works on: ``size`` of the row indices ``weighted`` (the rows of
    positive weight, increasing) drawn uniformly without replacement from ``rs``, in
    increasing order; all of them when there are fewer.  Every input kind (in memory,
    sparse, dask) draws its start's rows here, so one ``random_state`` gives one start."""
    if size >= weighted.shape[0]:
        return weighted
    return np.sort(rs.choice(weighted, size=size, replace=False))


def _with_ones(Xa, columns):
    """The columns ``columns`` of the features of ``Xa``, and its column of ones."""
    if columns is None:
        return Xa
    keep = np.append(np.asarray(columns, dtype=np.intp), Xa.shape[1] - 1)
    return Xa[:, keep]


class Design:
    """The internal design, a target and sample weights, served in chunks of rows.

    Parameters
    ----------
    Xa : ndarray or sparse matrix of shape (n, p), last column all ones.
    target : whatever the experts consume (array or tuple of arrays), or None.
    sw : ndarray of shape (n,), sample weights.
    chunk_rows : int, most rows per chunk (:func:`mixexp._parallel.balanced_chunk_slices`).
    gate_columns, expert_columns : index arrays or None
        The features the gate and the experts see (None: all); each also
        sees the column of ones.

    Attributes
    ----------
    gate_X, expert_X : the gate's and the experts' designs (``Xa`` itself
        when they see every feature).
    """

    def __init__(self, Xa, target, sw, chunk_rows=CHUNK_ROWS, gate_columns=None, expert_columns=None):
        self.Xa = Xa
        self.target = target
        self.sw = sw
        self.chunk_rows = chunk_rows
        self.gate_columns = gate_columns
        self.expert_columns = expert_columns
        self.gate_X = _with_ones(Xa, gate_columns)
        self.expert_X = _with_ones(Xa, expert_columns)

    # the unit of the E-step is the row (a GroupedDesign's is the group): the methods
    # below are the identities of that unit
    grouped = False
    # whether the target carries censoring or truncation (mixexp._censoring)
    censored = False

    @property
    def gate_sw(self):
        return self.sw

    @property
    def n_units(self):
        return self.n_rows

    def units(self, s):
        """The E-step's units of the chunk ``s``: its rows."""
        return s

    def gate_rows(self, s):
        """The gate's design and weights of the chunk ``s``."""
        return self.gate_X[s], self.sw[s]

    def unit_logdens(self, logdens, sw, s):
        """The leaves' log-densities of the chunk's units (its rows)."""
        return logdens

    def to_rows(self, values, s):
        """Per-unit ``values`` of the chunk ``s`` for each of its rows."""
        return values

    def node_weights(self, node_post, sw, s):
        """The gate's node weights of the chunk's units and the rows' node weights: the
        posteriors times the sample weights ``sw``, the same array."""
        weights = node_post * sw[:, None]
        return weights, weights

    def unit_posteriors(self, post, n_leaves):
        return post

    def plain(self):
        """This design of censored rows (``censored``) with the family's target of every row
        alone, as if exact and untruncated (a copy sharing the arrays)."""
        plain = copy.copy(self)
        plain.target, plain.censored = self.target["y"], False
        return plain

    def start_subset(self, rs, size):
        """The design EM's start works on: ``size`` rows of positive weight drawn at random
        (all of them when fewer)."""
        rows = start_row_indices(rs, np.flatnonzero(self.sw > 0), size)
        return self if rows.shape[0] == self.n_rows else self.subset(rows)

    @property
    def n_positive(self):
        """How many rows have a positive weight (those the start draws from)."""
        return int(np.count_nonzero(self.sw > 0))

    def subset(self, rows):
        """The design of the rows ``rows`` (an index array): a copy of those rows."""
        return Design(
            self.Xa[rows], take_rows(self.target, rows), self.sw[rows], self.chunk_rows,
            self.gate_columns, self.expert_columns,
        )

    @property
    def n_rows(self):
        return self.Xa.shape[0]

    @property
    def sparse(self):
        return sp.issparse(self.Xa)

    def chunks(self):
        return balanced_chunk_slices(self.n_rows, self.chunk_rows)

    def rows(self, s):
        """``(gate_X, expert_X, target, sw)`` of the rows ``s``."""
        return self.gate_X[s], self.expert_X[s], take_rows(self.target, s), self.sw[s]


class Coordinates:
    """How a component's features relate to the raw ones.

    ``mean`` and ``scale`` of the component's own features (``columns`` of
    the ``n_features`` raw ones; None: all of them).
    """

    def __init__(self, mean, scale, columns=None):
        self.n_features = mean.shape[0]
        self.columns = columns
        self.mean = mean if columns is None else mean[columns]
        self.scale = scale if columns is None else scale[columns]


def rows_to_original(W, coords):
    """Rows ``[coef, intercept]`` acting on standardised x -> (coef, intercept) on raw x.

    Coefficients of raw features the component does not see are 0.
    """
    coef = W[..., :-1] / coords.scale
    intercept = W[..., -1] - coef @ coords.mean
    if coords.columns is not None:
        full = np.zeros(coef.shape[:-1] + (coords.n_features,))
        full[..., coords.columns] = coef
        coef = full
    return coef, intercept
