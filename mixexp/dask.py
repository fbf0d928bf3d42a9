"""Distributed EM on dask arrays: ``fit`` of any mixexp estimator accepts them.

EM's M-step needs only sums over rows, so each EM iteration maps the E-step
and the components' ``stats`` over the row blocks of a dask array, sums them
in a tree on the workers, and runs the small M-step (the components' own
``update``, through :meth:`mixexp._engine.EMEngine.run`) on the client; the
parameters are sent to the workers with every pass.  The same code runs on
dask's local threads, a ``distributed.LocalCluster`` or a real cluster: it
uses whatever scheduler is current (a ``distributed.Client`` once made).

The internal standardisation of ``X`` and ``y`` and the classes come from
all rows (a few passes before EM).  EM starts from ``init_params`` on the
rows the in-memory fit's start would draw from the same ``random_state``
(:func:`mixexp._design.start_row_indices` over all rows), gathered from the
blocks into memory: the start is the in-memory fit's, and EM then makes the
same passes over the same rows, so the fit equals the in-memory fit up to the
order of its sums.  A uniform sample of ``INIT_ROWS`` rows checks the input
and gives the range of the targets that prediction clips the experts' means
to (the in-memory fit: all rows); with groups it also gives the start (whole
groups drawn at random, not the in-memory fit's).  ``warm_start=True`` starts
from the fitted model instead (1000 sampled rows then only check the input).

Needs the ``dask`` extra (``pip install "mixexp[dask]"``); ``import mixexp``
never imports dask.  Expert estimators refit on all rows at once and are
not supported here (their stats are the rows themselves).

Examples
--------
>>> import dask.array as da
>>> from mixexp import MixtureOfExpertsRegressor
>>> from mixexp.datasets import make_moe_regression
>>> X, y = make_moe_regression(n_samples=2000, n_experts=2, random_state=0)
>>> Xd, yd = da.from_array(X, chunks=500), da.from_array(y, chunks=500)
>>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(Xd, yd)
>>> model.predict(X[:2]).shape
(2,)
"""

import copy

import numpy as np
from sklearn.utils import check_random_state

from ._design import design_matrix, location_scale_from_moments, start_row_indices
from ._engine import EMEngine, add_stats
from ._fitted import FitSources
from ._groups import canonical_order, check_gate_constant, check_groups, group_starts
from ._parallel import blas_single_thread
from .experts import check_summable

try:
    import dask
    import dask.array as da
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'mixexp.dask needs dask: pip install "mixexp[dask]" (dask[array,distributed]).'
    ) from error

#: rows of the sample that checks the input and gives the targets' range (and, with groups,
#: the start), in memory
INIT_ROWS = 100_000
_FAN_IN = 8  # blocks' sums added per task of the reduction tree


def _as_rows(A, chunks, name):
    """``A`` (dask or numpy) as a dask array with row blocks ``chunks``, all columns in one block."""
    if not isinstance(A, da.Array):
        A = da.from_array(np.asarray(A), chunks=-1)
    if A.shape[0] != sum(chunks):
        raise ValueError(f"{name} has {A.shape[0]} rows, X has {sum(chunks)}.")
    return A.rechunk((chunks,) + tuple((-1,) * (A.ndim - 1)))


def _block_design(state, Xb, yb, swb, gb=None):
    """The internal design of one block, as the in-memory fit builds it (with group labels
    ``gb``: the block holds whole groups, put in their canonical order)."""
    Xb = np.asarray(Xb, dtype=np.float64)
    sw = np.ones(Xb.shape[0]) if swb is None else np.asarray(swb, dtype=np.float64)
    starts = None
    if gb is not None:
        codes = check_groups(gb, Xb.shape[0])[0]
        check_gate_constant(Xb, codes, state.gate_columns, None)
        order = canonical_order(codes, Xb, yb, sw)
        Xb, yb, sw, starts = Xb[order], np.asarray(yb)[order], sw[order], group_starts(codes[order])
    Xa = design_matrix(Xb, state.x_mean, state.x_scale)
    return state.design(Xa, state.experts.check_target(yb, Xb.shape[0], state.info), sw, starts)


def _block_labels(gb):
    """What the client needs to know of one block of group labels: its labels (unique), its
    first and last label, and how many times the label changes from a row to the next."""
    g = np.asarray(gb)
    labels = check_groups(g, g.shape[0])[1]
    changes = np.flatnonzero(g[1:] != g[:-1]) + 1 if g.shape[0] else np.zeros(0, dtype=np.intp)
    ends = (g[0], g[-1]) if g.shape[0] else (None, None)
    return labels, ends, changes


# On the workers BLAS is held to one thread, as inside the in-memory fit: the
# blocks already use the cores, and BLAS threads would compete with them
# (measured on 2 cores: 5 times slower without the limit).
def _block_stats(state, params, parts, Xb, yb, swb, gb):
    with blas_single_thread():
        return state.engine().pass_stats(params, _block_design(state, Xb, yb, swb, gb), parts=parts)


def _block_constant_stats(state, Xb, yb, swb, gb):
    with blas_single_thread():
        return state.engine().constant_stats(_block_design(state, Xb, yb, swb, gb))


def _block_target_range(state, target_range, Xb, yb, swb, gb):
    with blas_single_thread():
        return target_range(state, _block_design(state, Xb, yb, swb, gb))


def _union_ranges(*parts):
    """The union of target ranges (:func:`mixexp._regressor.target_range`; None: none)."""
    if parts[0] is None:
        return None
    return np.stack([np.fmin.reduce([p[0] for p in parts]), np.fmax.reduce([p[1] for p in parts])])


def _sum_stats(*parts):
    """The sum of stats dicts, in order (the first is copied, not changed)."""
    total = copy.deepcopy(parts[0])
    for part in parts[1:]:
        total = add_stats(total, part)
    return total


class DaskRows(FitSources):
    """``X``, ``y`` and sample weights as aligned row blocks: what the fit on a
    sample takes from all rows (standardisation, target information, EM's passes).
    """

    def __init__(self, X, y, sample_weight, groups=None):
        if X.ndim != 2:
            raise ValueError(f"Expected a 2D dask array X, got {X.ndim} dimensions.")
        if X.shape[0] == 0:
            raise ValueError("X has 0 samples; at least one is required.")
        if not isinstance(X._meta, np.ndarray):
            raise TypeError("dask input must have numpy blocks (sparse blocks are not supported).")
        if X.dtype.kind not in "fiub":
            raise ValueError(f"X must be numeric, got dtype {X.dtype}.")
        self.X = X.rechunk({1: -1})
        chunks = self.X.chunks[0]
        self.y = _as_rows(y, chunks, "y")
        self.sw = None if sample_weight is None else _as_rows(sample_weight, chunks, "sample_weight")
        self.n_rows = X.shape[0]
        self.groups = self.labels = None
        if groups is not None:
            self._whole_groups(_as_rows(groups, chunks, "groups"))
            chunks = self.X.chunks[0]
        none = [None] * len(chunks)
        self._blocks = list(zip(
            self.X.to_delayed().ravel(),
            self.y.to_delayed().ravel(),
            none if self.sw is None else self.sw.to_delayed().ravel(),
            none if self.groups is None else self.groups.to_delayed().ravel(),
        ))
        weights = da.ones(self.n_rows, chunks=chunks) if self.sw is None else self.sw.astype(np.float64)
        checks = dask.compute(
            weights.sum(), weights.min(), da.isfinite(self.X).all(),
            da.isfinite(self.y).all() if self.y.dtype.kind == "f" else True,
        )
        self.total, low, finite_x, finite_y = checks
        if not (finite_x and finite_y):
            raise ValueError("Input X or y contains NaN or infinity.")
        if low < 0 or not self.total > 0:
            raise ValueError("sample_weight must be non-negative with a positive sum.")
        self._weights = weights
        self.location = lambda: self._location_scale(self.X)
        self.info = self._target_info

    def _whole_groups(self, groups):
        """Blocks of whole groups: the group labels ``groups`` (row blocks aligned with X's) as
        they are when no group spans two blocks; when the groups are runs of consecutive rows,
        the blocks of X, y, the weights and the labels cut anew at the groups' first rows;
        else a ValueError."""
        parts = dask.compute(*[dask.delayed(_block_labels)(b) for b in groups.to_delayed().ravel()])
        each = [labels for labels, _, _ in parts]
        self.labels = np.unique(np.concatenate(each))
        if sum(labels.shape[0] for labels in each) == self.labels.shape[0]:
            self.groups = groups  # every group in one block already
            return
        offsets = np.cumsum((0,) + groups.chunks[0])
        firsts = [offset for offset, (_, ends, _) in zip(offsets, parts) if ends[0] is not None]
        ends = [ends for _, ends, _ in parts if ends[0] is not None]
        # the first row of every run of one label: the first row, the changes within blocks,
        # and the bounds of blocks where the label changes
        runs = [0] + [
            int(first) for first, prev, nxt in zip(firsts[1:], ends[:-1], ends[1:]) if prev[1] != nxt[0]
        ]
        runs = np.sort(np.concatenate([runs] + [c + o for (_, _, c), o in zip(parts, offsets)]))
        if runs.shape[0] != self.labels.shape[0]:
            raise ValueError(
                "groups: the rows of some groups lie in several blocks of X and are not "
                "consecutive, so the blocks cannot be cut at group boundaries (each block must "
                "hold whole groups). Sort the rows by group (e.g. a dask DataFrame's "
                "set_index or sort_values on the group column) before fitting."
            )
        bounds = runs[np.searchsorted(runs, offsets[1:-1], side="right") - 1]
        edges = np.unique(np.r_[0, bounds, self.n_rows])
        chunks = tuple(int(c) for c in np.diff(edges))
        self.X = self.X.rechunk({0: chunks})
        self.y = self.y.rechunk({0: chunks})
        self.sw = None if self.sw is None else self.sw.rechunk({0: chunks})
        self.groups = groups.rechunk({0: chunks})

    # -- what fit takes from all rows -------------------------------------------
    def _location_scale(self, A):
        """Weighted mean and scale of every column, as ``weighted_location_scale`` (3 passes)."""
        A = A.astype(np.float64)
        w = self._weights[:, None]
        peak = abs(A).max(axis=0).compute()
        safe = np.where(peak > 0, peak, 1.0)
        mean_s = ((A / safe) * w).sum(axis=0).compute() / self.total
        second = (((A / safe - mean_s) ** 2) * w).sum(axis=0).compute() / self.total
        return location_scale_from_moments(safe, mean_s, second)

    def _target_info(self, experts):
        # the structure of the information from the first rows, its values from all rows
        head = min(self.n_rows, 1000)
        y, sw = dask.compute(self.y[:head], self._weights[:head])
        info = dict(experts.prepare_target(y, sw)[1])
        if "classes" in info:
            info["classes"] = np.unique(da.unique(self.y).compute())
            info["n_outputs"] = info["classes"].shape[0]
        if "mean" in info:
            info["mean"], info["scale"] = self._location_scale(self.y.reshape(self.n_rows, -1))
        return info

    def sample_rows(self, size, random_state=None):
        """``size`` rows drawn uniformly without replacement (all rows, in order, if fewer),
        and their group labels (None without groups); with groups, whole groups drawn
        uniformly until they hold about ``size`` rows (at least 100 groups, or all)."""
        rs = check_random_state(random_state)
        if size >= self.n_rows:
            rows = slice(None)
        elif self.groups is None:
            rows = np.sort(rs.choice(self.n_rows, size, replace=False))
        else:
            n_groups = self.labels.shape[0]
            k = min(n_groups, max(100, int(np.ceil(size * n_groups / self.n_rows))))
            rows = da.isin(self.groups, rs.choice(self.labels, k, replace=False))
        sw = None if self.sw is None else self.sw[rows]
        groups = None if self.groups is None else self.groups[rows]
        X, y, sw, groups = dask.compute(self.X[rows], self.y[rows], sw, groups)
        return X, y, (np.ones(X.shape[0]) if sw is None else sw), groups

    def start(self, state):
        """The rows the start draws from: all rows (None with groups: the sample's)."""
        return None if self.groups is not None else _StartRows(self, state)

    def target_range(self, state, target_range):
        """The range of the targets that prediction clips the experts' means to, over all
        rows as in memory (not the sample's)."""
        return self.map_sum(_block_target_range, state, target_range, combine=_union_ranges)

    # -- EM's passes ----------------------------------------------------------
    def map_sum(self, func, *args, combine=_sum_stats):
        """``func(*args, X_block, y_block, sw_block, groups_block)`` summed over the blocks (a
        tree on the workers); ``combine`` (of any number of parts) replaces the sum."""
        shared = [dask.delayed(a, traverse=False) for a in args]  # sent once per worker
        parts = [dask.delayed(func, pure=True)(*shared, *block) for block in self._blocks]
        while len(parts) > 1:
            parts = [dask.delayed(combine, pure=True)(*parts[i : i + _FAN_IN])
                     for i in range(0, len(parts), _FAN_IN)]
        return parts[0].compute()

    def run(self, engine, state):
        return DaskEngine(engine, self, state), self


class _StartRows:
    """All the rows of :class:`DaskRows` as the start draws from them: a design's
    ``n_positive`` and ``start_subset``, drawing the in-memory fit's rows."""

    def __init__(self, rows, state):
        self.rows, self.state = rows, state
        self._weighted = None

    def weighted(self):
        """The indices of the rows of positive weight (computed once)."""
        if self._weighted is None:
            rows = self.rows
            self._weighted = (
                np.arange(rows.n_rows) if rows.sw is None else np.flatnonzero((rows.sw > 0).compute())
            )
        return self._weighted

    @property
    def n_positive(self):
        return self.weighted().shape[0]

    def start_subset(self, rs, size):
        rows = self.rows
        index = start_row_indices(rs, self.weighted(), size)
        sw = None if rows.sw is None else rows.sw[index]
        X, y, sw = dask.compute(rows.X[index], rows.y[index], sw)
        return _block_design(self.state, X, y, sw)


class DaskEngine(EMEngine):
    """:class:`EMEngine` whose passes run over the blocks of :class:`DaskRows`."""

    def __init__(self, engine, rows, state):
        super().__init__(engine.tree, engine.gate, engine.experts)
        self.rows = rows
        self.state = copy.copy(state)  # the blocks need its components and coordinates only
        self.state.params = None

    def total_weight(self, design):
        return self.rows.total

    def constant_stats(self, design):
        return self.rows.map_sum(_block_constant_stats, self.state)

    def pass_stats(self, params, design, post=None, parts=("gate", "experts")):
        if post is not None:
            raise NotImplementedError("fixed posteriors are fitted in memory (on the sample).")
        return self.rows.map_sum(_block_stats, self.state, params, parts)


def fit_dask(estimator, X, y, sample_weight=None, groups=None):
    """Fit ``estimator`` on dask arrays: ``estimator.fit`` calls this for dask ``X``.

    Parameters
    ----------
    estimator : a mixexp estimator.
    X : dask array of shape (n_samples, n_features)
    y : dask or numpy array of shape (n_samples,) or (n_samples, n_targets)
    sample_weight : dask or numpy array of shape (n_samples,), default=None
    groups : dask or numpy array of shape (n_samples,), default=None
        Group labels (panel data): each block of rows must hold whole groups. When the
        groups are runs of consecutive rows, the blocks are cut anew at their first rows;
        a group whose rows are neither in one block nor consecutive is a ValueError.
        The start is fitted on whole groups drawn at random.

    Returns
    -------
    estimator : the fitted estimator.
    """
    check_summable(estimator._task, estimator.expert, "a dask fit")
    if not isinstance(estimator.expert, str):
        raise ValueError(
            "A dask fit needs experts whose M-step uses row sums (expert='linear'); expert "
            "estimators refit on all rows at once. Fit them in memory, or use partial_fit "
            "with an incremental estimator."
        )
    if not isinstance(estimator.init_params, str):
        raise ValueError(
            "init_params given as an array is not supported with dask input (the start is "
            "fitted on a sample of the rows); fit in memory."
        )
    if estimator.algorithm != "em":
        raise ValueError(
            f"algorithm={estimator.algorithm!r} is not supported with dask input; use "
            "algorithm='em', or fit in memory."
        )
    rows = DaskRows(X, y, sample_weight, groups)
    warm = estimator.warm_start and getattr(estimator, "_fitted", None) is not None
    # a warm start needs no sample to start from: a few rows to validate suffice
    # a copy of the random state: the start draws from it as the in-memory fit does
    sample_rs = copy.deepcopy(check_random_state(estimator.random_state))
    X_s, y_s, sw_s, g_s = rows.sample_rows(1000 if warm else INIT_ROWS, sample_rs)
    return estimator._fit(X_s, y_s, sw_s, sources=rows, groups=g_s)
