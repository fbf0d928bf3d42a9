"""Prediction over chunks of rows: the prediction driver (:class:`PredictionMixin`).

A prediction validates ``X`` once, then runs every chunk of rows on its own
(:class:`RoutedRows`): its gate probabilities and its experts' outputs,
reduced to per-row results that are written into the output.  The
temporaries of a chunk (a few ``(rows, n_leaves)`` arrays) stay in cache,
and the chunks run on the threads of :mod:`mixexp._parallel`.  Every row's
result depends on that row alone, so it does not depend on the chunking.

Components that are linear in the internal design (the softmax gate, Gaussian
and multinomial experts) start from products ``design @ rows.T``.  Their
coefficient rows are folded into the raw features once per prediction
(:class:`LinearMaps`), so a chunk's products are a GEMM per component on its
raw rows: the standardised chunk is not formed.  :mod:`mixexp._numerics.softmax`
and :mod:`mixexp._numerics.mixing` turn them into gate probabilities and
mixtures.  Other components get the chunk's internal design.
"""

from functools import cached_property

import numpy as np
import scipy.sparse as sp
from sklearn.utils import assert_all_finite
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data

from ._censoring import check_observations
from ._design import design_matrix, rows_to_original, take_rows
from ._exposure import check_exposure, offset_kwargs
from ._groups import check_gate_constant, check_groups, group_starts
from ._missing import has_nan, nan_error
from ._numerics.linalg import affine_rows, own_affine_rows
from ._numerics.mixing import mix
from ._parallel import Runner, chunk_slices, runner
from ._routing import by_leaf, check_top_k, route, routed_leaf_outputs, top_leaf

# Rows per chunk of a prediction (measured at 10^6 rows, 2 cores: 4096 to 16384
# rows are within a few percent of each other; smaller chunks pay per-call overhead,
# larger ones leave the cache)
PREDICT_CHUNK_ROWS = 8192

# Largest |mean / scale| of a feature for which the standardisation is folded into
# the coefficients: ``x @ (c / s) - (m / s) @ c`` loses about log10(1 + |m / s|)
# digits to cancellation that ``((x - m) / s) @ c`` does not, 4 at this bound.
RAW_MAX_OFFSET = 1e4


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

    The gate's :meth:`~mixexp.gates.Gate.leaf_probabilities` (by default the E-step's
    posteriors without experts; the softmax and Gaussian gates compute them directly,
    the same numbers up to rounding: tests/test_predict_chunks.py), with the experts'
    representations of the rows for a gate that uses them.
    """
    rep = state.engine(Runner(1)).representation(design.expert_X, state.params)
    return state.gate.leaf_probabilities(design.gate_X, state.params["gate"], rep)


class LinearMaps:
    """The linear components of a fitted mixture, folded into the raw features.

    A gate whose ``linear_rows(params)`` are not None (it then has
    ``leaf_probabilities_from_logits``) or an expert family whose ``linear_rows(params,
    info)`` are not None (its ``products_outputs``) starts its predictions from the
    products of the internal design ``[(x - mean) / scale, 1]`` with those rows
    of coefficients.  Folded into raw features once (:func:`rows_to_original`),
    the products of a chunk are ``X @ coef.T + intercept``: a GEMM per linear
    component on the raw rows.  A component stays with the internal design
    when a feature's ``|mean / scale|`` exceeds :data:`RAW_MAX_OFFSET` or the
    folded coefficients overflow.

    Parameters
    ----------
    state : mixexp._fitted.FittedMixture
    hard : bool, default=False
        Hard routing (``top_k=1``): the experts' rows are folded leaf by leaf
        (``leaf_coef``), for each leaf's products on the rows routed to it, and the
        experts are left out of :meth:`products`.

    Attributes
    ----------
    parts : dict
        ``{component: (coef.T, intercept)}`` of the components folded.
    leaf_coef, leaf_intercept : ndarray of shape (n_leaves, m, n_features) and (n_leaves, m), or None
        Each leaf expert's folded rows (``hard`` and experts linear in the design and
        ``per_leaf``), else None.
    """

    def __init__(self, state, hard=False):
        experts, params, info = state.experts, state.params["experts"], state.info
        gate_rows = state.gate.linear_rows(state.params["gate"])
        self.parts = {}
        if gate_rows is not None:
            self._add("gate", gate_rows, state.coordinates("gate"))
        self.leaf_coef = self.leaf_intercept = None
        if not hard:
            expert_rows = experts.linear_rows(params, info)
            if expert_rows is not None:
                self._add("experts", expert_rows, state.coordinates("experts"))
        elif experts.per_leaf and experts.linear_rows(params, info) is not None:
            coords = state.coordinates("experts")
            folded = [
                fold_rows(experts.linear_rows(experts.leaf_params(params, [leaf]), info), coords)
                for leaf in range(state.tree.n_leaves)
            ]
            if all(part is not None for part in folded):
                self.leaf_coef = np.ascontiguousarray(np.stack([coef_t.T for coef_t, _ in folded]))
                self.leaf_intercept = np.stack([intercept for _, intercept in folded])

    def _add(self, name, rows, coords):
        folded = fold_rows(rows, coords)
        if folded is not None:
            self.parts[name] = folded

    def products(self, X):
        """``{component: (n, m) products}`` of the raw rows ``X`` (validated), each its own
        C-contiguous array: the second GEMM finds the chunk's rows in cache, and numpy's
        exp of a strided slice of one wide product was measured slower than the copy."""
        return {name: affine_rows(X, coef_t, intercept) for name, (coef_t, intercept) in self.parts.items()}


def fold_rows(rows, coords):
    """``(coef.T, intercept)`` of ``rows`` on the raw features, or None when the folding
    would lose digits or overflow (see :class:`LinearMaps`)."""
    with np.errstate(all="ignore"):
        offset = np.max(np.abs(coords.mean / coords.scale), initial=0.0)
        coef, intercept = rows_to_original(rows, coords)
    if not (offset <= RAW_MAX_OFFSET and np.isfinite(coef).all() and np.isfinite(intercept).all()):
        return None
    return np.ascontiguousarray(coef.T), intercept


def history_weights(gates, posterior):
    """The rows' weights over the leaves: ``posterior`` (:meth:`PredictionMixin.
    _history_posterior`, experience rating) where a row's group has history (not NaN),
    else ``gates``; ``gates`` itself without history."""
    return gates if posterior is None else np.where(np.isnan(posterior[:, :1]), gates, posterior)


class RoutedRows:
    """A chunk of rows to predict: its routed gates and its experts' outputs.

    With ``top_k=1`` (hard routing) each row has one expert: :attr:`leaf`.  The
    chunk's outputs then have one column, that expert's (``gates`` is ones of
    shape ``(n, 1)``, :meth:`leaves` ``(n, 1, ...)``), and each expert is evaluated
    once, on the rows routed to it, not on all rows as the dense and masked
    routes do.

    Parameters
    ----------
    state : mixexp._fitted.FittedMixture
    X : validated raw rows of the chunk (dense, or sparse for a model fitted on sparse data).
    top_k : int or None
    row_kwargs : dict of per-row arrays the experts' outputs take (``{"offset": ...}``
        with exposures, see :func:`mixexp._exposure.offset_kwargs`; else empty).
    linear : LinearMaps or None
    posterior : ndarray of shape (n, n_leaves) or None
        Weights that replace the gate's on the rows where they are not NaN: the
        posterior of a group with history (:meth:`PredictionMixin._history_posterior`).

    Attributes
    ----------
    gates : ndarray of shape (n, n_leaves), or (n, 1) with ``top_k=1``
        Gate probabilities; with ``top_k`` the routed ones, renormalised.
    mask : ndarray of bool of shape (n, n_leaves), or None without ``top_k`` or with ``top_k=1``.
    leaf : ndarray of int of shape (n,), or None unless ``top_k=1``
        Each row's expert: its most probable leaf.
    """

    def __init__(self, state, X, top_k, row_kwargs, linear=None, posterior=None):
        self.state = state
        self.X = X
        self.row_kwargs = row_kwargs
        self.linear = linear
        self.products = linear.products(X) if linear is not None else {}
        self.leaf = None
        if top_k == 1 and posterior is None and "gate" in self.products:
            # no gate probabilities where the gate finds the leaf from its logits
            self.leaf = state.gate.top_leaf_from_logits(self.products["gate"])
        else:
            if "gate" in self.products:
                gates = state.gate.leaf_probabilities_from_logits(self.products["gate"])
            else:
                gates = gate_probabilities(state, self.design)
            gates = history_weights(gates, posterior)
            if top_k != 1:
                self.gates, self.mask = route(gates, top_k)
                return
            self.leaf = top_leaf(gates)
        self.gates, self.mask = np.ones((self.leaf.shape[0], 1)), None

    @cached_property
    def design(self):
        """The chunk's internal design (formed only for components that need it)."""
        return chunk_design(self.state, self.X, slice(None))

    def mixture(self, output):
        """The gates' mixture ``sum_k gates[:, k] * out[:, k]`` of the leaves' ``output``
        (one output array, ``(n, ...)``).  An expert family whose ``mixture_outputs``
        hold ``output`` mixes it from its products without forming each leaf's output."""
        state = self.state
        experts = state.experts
        if self.leaf is not None:
            return self.leaves(output)[:, 0]
        if self.mask is None and output in experts.mixture_outputs and "experts" in self.products:
            return experts.mixture_from_products(
                output, self.products["experts"], self.gates, state.params["experts"], state.info,
                **self.row_kwargs,
            )
        leaves = self.leaves(output)
        n, n_leaves = leaves.shape[:2]
        return mix(self.gates, leaves.reshape(n, n_leaves, -1)).reshape((n,) + leaves.shape[2:])

    def leaf_values(self, values):
        """A per-leaf array ``values`` ``(n_leaves, ...)`` aligned with :meth:`leaves`: as it
        is, or with ``top_k=1`` each row's expert's entry, ``(n, 1, ...)``."""
        return values if self.leaf is None else values[self.leaf][:, None]

    def leaves(self, output, rows=None):
        """Each leaf expert's ``output`` on the chunk (or its rows ``rows``), ``(n, L, ...)``.

        ``output`` names one of the expert family's outputs (``"moments"``,
        ``"leaf_log_proba"``, ``"leaf_proba"``: :meth:`ExpertComponent.output_method`).
        With ``top_k`` set, only the routed leaves' outputs (0 elsewhere); with
        ``top_k=1``, each row's expert's output alone, ``(n, 1, ...)``.
        """
        if self.leaf is not None:
            return self._hard_leaves(output, slice(None) if rows is None else rows)
        state, mask, kwargs = self.state, self.mask, self.row_kwargs
        experts, params = state.experts, state.params["experts"]
        if rows is None and mask is None and output in experts.products_outputs and "experts" in self.products:
            return experts.output_from_products(output, self.products["experts"], params, state.info, **kwargs)
        Xe = self.design.expert_X
        if rows is not None:
            Xe = Xe[rows]
            mask = None if mask is None else mask[rows]
            kwargs = take_rows(kwargs, rows)
        method = experts.output_method(output)
        if mask is None:
            return method(Xe, params, state.info, **kwargs)
        # only the routed experts, each on its rows
        return routed_leaf_outputs(state.experts, method, Xe, params, state.info, mask, **kwargs)

    def _hard_leaves(self, output, rows):
        """Each of the rows ``rows``' own expert's ``output``, ``(m, 1, ...)``, each expert
        evaluated on its rows only: from each row's products with its expert's folded
        coefficients when the family computes ``output`` from products
        (:meth:`ExpertComponent.hard_output_from_products`), else the rows grouped by expert,
        one evaluation per expert on its rows' internal design."""
        state = self.state
        experts, params, info = state.experts, state.params["experts"], state.info
        leaf = self.leaf[rows]
        kwargs = take_rows(self.row_kwargs, np.arange(self.leaf.shape[0])[rows])
        method = experts.output_method(output)
        if not experts.per_leaf:  # every expert on every row, then each row's own
            out = method(self.design.expert_X[rows], params, info, **kwargs)
            parts = out if isinstance(out, tuple) else (out,)
            picked = tuple(
                np.take_along_axis(p, leaf.reshape((-1, 1) + (1,) * (p.ndim - 2)), axis=1) for p in parts
            )
            return picked if isinstance(out, tuple) else picked[0]
        linear = self.linear
        if output in experts.products_outputs and linear is not None and linear.leaf_coef is not None:
            X = self.X[rows]
            if sp.issparse(X):
                products = by_leaf(leaf, lambda k, idx: affine_rows(
                    X[idx], linear.leaf_coef[k].T, linear.leaf_intercept[k]
                ))
            else:
                products = own_affine_rows(X, linear.leaf_coef, linear.leaf_intercept, leaf)
            return experts.hard_output_from_products(output, products, leaf, params, info, **kwargs)
        Xe = self.design.expert_X[rows]
        return by_leaf(leaf, lambda k, idx: method(
            Xe[idx], experts.leaf_params(params, [k]), info, **take_rows(kwargs, idx)
        ))

    def distribution(self, member, values, rows=None):
        """Each leaf's distribution ``member`` at one value per row, ``(n, L)``.

        ``member`` names one of the expert family's distribution members
        (``"log_cdf"``, ``"log_sf"``, ``"leaf_quantile"``, ``"leaf_limited_mean"``,
        ``"leaf_stop_loss"``:
        :class:`~mixexp.experts.ExpertComponent`), ``values`` its argument (``y``,
        ``q`` or the limit) on every row of the chunk, or of its rows ``rows`` only.
        With ``top_k`` set, only the routed leaves' values (0 elsewhere).
        """
        state, experts = self.state, self.state.experts
        params, info = state.params["experts"], state.info
        method = {
            "log_cdf": experts.log_cdf, "log_sf": experts.log_sf,
            "leaf_quantile": experts.leaf_quantile, "leaf_limited_mean": experts.leaf_limited_mean,
            "leaf_stop_loss": experts.leaf_stop_loss,
        }[member]
        Xe, mask, kwargs = self.design.expert_X, self.mask, self.row_kwargs
        if rows is not None:
            Xe = Xe[rows]
            mask = None if mask is None else mask[rows]
            kwargs = take_rows(kwargs, rows)
        if self.leaf is not None:  # top_k=1: each row's own expert, (n, 1) as the gates
            leaf = self.leaf if rows is None else self.leaf[rows]
            full = method(Xe, values, params, info, **kwargs)
            return np.take_along_axis(full, leaf[:, None], axis=1)
        if mask is None:
            return method(Xe, values, params, info, **kwargs)

        def at_values(Xa, leaf_params, info, _values, **kwargs):
            return method(Xa, _values, leaf_params, info, **kwargs)

        return routed_leaf_outputs(experts, at_values, Xe, params, info, mask, _values=values, **kwargs)


class PredictionMixin:
    """The prediction driver of a fitted mixture: validated rows, their internal design,
    the E-step on them, and chunks of routed rows (:class:`RoutedRows`) reduced to
    per-row results.

    Reads only the fitted state (``_fitted``, a :class:`mixexp._fitted.FittedMixture`).
    Mixed into :class:`mixexp._base.BaseMixtureOfExperts`; the regressors' and
    classifiers' predictions and :class:`mixexp._inspection.InspectionMixin` call it.
    """

    def _state(self):
        check_is_fitted(self)
        return self._fitted

    def _top_k(self, state):
        """``top_k`` for prediction: a prediction setting, read when predicting, so that
        ``set_params(top_k=...)`` after fit compares routings of one fitted model."""
        return check_top_k(getattr(self, "top_k", None), state.tree.n_leaves)

    def _validated(self, X, finite=True):
        """Validated ``X`` (dense when the model was fitted on dense data) and the fitted state;
        ``finite=False`` leaves the check for NaN and infinity to the caller."""
        state = self._state()
        try:
            X = validate_data(
                self, X, reset=False, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32],
                ensure_all_finite=finite,
            )
        except ValueError as refused:
            allowed = validate_data(
                self, X, reset=False, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32],
                ensure_all_finite="allow-nan",
            )
            if has_nan(allowed):
                raise nan_error(self) from None
            raise refused
        if sp.issparse(X) and state.dense:
            # fitted on dense data: centring needs dense rows, and so may the components
            # (whether the mean happens to be 0 must not matter)
            X = X.toarray()
        return X, state

    def _design(self, X, y=None, exposure=None, groups=None, y_upper=None, truncation=None):
        """Validated ``X`` (and ``y``, ``exposure``) as an internal :class:`Design` and the fitted
        state.  With ``groups``, a :class:`~mixexp._groups.GroupedDesign` of the rows sorted
        by group; its ``order`` attribute holds the sorting permutation.  With ``y_upper`` or
        ``truncation`` (:mod:`mixexp._censoring`), a design of censored or truncated rows
        (its ``censored`` flag set)."""
        X, state = self._validated(X)
        obs = None
        if y is not None:
            obs = check_observations(
                y, y_upper, truncation, X.shape[0], state.experts, state.expert_kind, state.gate,
                groups is not None,
            )
            if obs is not None:
                y = obs.stand_in(y, state.experts.discrete)
        target = None if y is None else state.experts.check_target(y, X.shape[0], state.info)
        offset = None if y is None else check_exposure(exposure, X.shape[0], state.experts)
        if offset is not None:
            target = state.experts.offset_target(target, offset)
        if obs is not None:
            target = obs.target(target, state.experts.discrete, offset)
        order = starts = None
        if groups is not None:
            codes = check_groups(groups, X.shape[0])[0]
            check_gate_constant(X, codes, state.gate_columns, getattr(self, "feature_names_in_", None))
            order = np.argsort(codes, kind="stable")
            X, target, starts = X[order], take_rows(target, order), group_starts(codes[order])
        Xa = design_matrix(X, state.x_mean, state.x_scale)
        design = state.design(Xa, target, np.ones(X.shape[0]), starts)
        design.order = order
        design.censored = obs is not None
        state.gate.check_input(design.gate_X)
        return design, state

    def _e_step(self, X, y=None, experts=True, exposure=None, groups=None, y_upper=None, truncation=None):
        """The rows' leaf posteriors (in the order of ``X``) and the log-likelihood of every
        row, or with ``groups`` of every group (``np.unique(groups)`` order); the design
        and the fitted state.  ``y_upper``, ``truncation``: censored and truncated rows."""
        design, state = self._design(X, y, exposure, groups, y_upper, truncation)
        with runner(design.n_rows) as run:
            post, loglik = state.engine(run, design.censored).e_step(state.params, design, experts)
        if design.order is not None:
            unsorted = np.empty_like(post)
            unsorted[design.order] = post
            post = unsorted
        return (post, loglik), design, state

    def _history_posterior(self, X, groups, history):
        """Experience rating: each row's weights over the experts when its group has
        ``history``, NaN rows for the others, ``(n, n_leaves)``; None without history.

        A group's weights are its posterior given its history ``(X_h, y_h, groups_h[,
        exposure_h])``: the gate at the group's features times the likelihood of its rows
        (:meth:`responsibilities` with ``groups``), whatever the rows of ``X`` hold.
        """
        n = _num_samples(X)
        if groups is not None:
            check_groups(groups, n)
        if history is None:
            return None
        if groups is None:
            raise ValueError(
                "history needs groups: the group label of every row of X, which says whose "
                "history weighs its prediction."
            )
        if not isinstance(history, (tuple, list)) or len(history) not in (3, 4):
            raise ValueError(
                "history should be a tuple (X_h, y_h, groups_h) or (X_h, y_h, groups_h, "
                f"exposure_h), got {type(history).__name__}."
            )
        X_h, y_h, groups_h = history[:3]
        exposure_h = history[3] if len(history) == 4 else None
        post = self._e_step(X_h, y_h, exposure=exposure_h, groups=groups_h)[0][0]
        labels_h, labels = np.asarray(groups_h), np.asarray(groups)
        n_h = labels_h.shape[0]
        codes = check_groups(np.concatenate([labels_h, labels]), n_h + n)[0]
        by_code = np.full((codes.max() + 1, post.shape[1]), np.nan)
        by_code[codes[:n_h]] = post
        return by_code[codes[n_h:]]

    def _routed_rows(self, X, reduce, exposure=None, routed=True, per_row=None, groups=None, history=None):
        """``reduce(chunk)`` of every chunk of rows of ``X``, gathered into whole arrays.

        ``chunk`` is a :class:`RoutedRows`: the chunk's routed gate probabilities
        (``routed=False``: all of them, whatever ``top_k``) and its experts'
        outputs.  ``reduce`` returns a tuple of arrays with one entry per row of
        the chunk (see :func:`map_rows`).  With ``groups`` and ``history`` (experience
        rating), a row whose group has history is weighted by the group's posterior
        (:meth:`_history_posterior`) instead of the gate.
        ``per_row``: a dict of arrays with a value per
        row of ``X``; ``reduce`` then also takes their chunk's rows as keywords.
        """
        posterior = self._history_posterior(X, groups, history)
        X, state = self._validated(X, finite=False)
        state.gate.check_input(chunk_design(state, X, slice(0, 0)).gate_X)
        row_kwargs = offset_kwargs(exposure, X.shape[0], state.experts)
        top_k = self._top_k(state) if routed else None
        linear = LinearMaps(state, hard=top_k == 1)
        name = type(self).__name__

        def chunk(rows):
            Xc = X[rows]
            # validate_data's check for NaN and infinity (same message), chunk by chunk on
            # the prediction's threads, while the rows are in cache: on one thread before the
            # chunks it took 6 ms of a 50 ms prediction of 10^6 x 20
            try:
                assert_all_finite(Xc, estimator_name=name, input_name="X")
            except ValueError:
                if has_nan(Xc) and not np.isinf(Xc.data if sp.issparse(Xc) else Xc).any():
                    raise nan_error(self) from None
                raise
            post = None if posterior is None else posterior[rows]
            routed_rows = RoutedRows(state, Xc, top_k, take_rows(row_kwargs, rows), linear, post)
            return reduce(routed_rows, **take_rows(per_row or {}, rows))

        return map_rows(X.shape[0], chunk)
