"""The EM template shared by every mixexp estimator.

``fit`` validates, builds the components named by the parameters (a gate
from :data:`mixexp.gates.GATES`, an expert family from
:data:`mixexp.experts.EXPERTS`, a user's :class:`mixexp.experts.ExpertFamily` or
estimators), puts the inputs in internal
coordinates, runs ``n_init`` initialisations of EM through
:class:`mixexp._engine.EMEngine` and keeps the best.  Everything after
``fit`` uses the fitted state (its tree, components and parameters), never
the estimator's current parameters, so ``set_params`` after ``fit`` cannot
make predictions disagree with the model.

The estimator's other parts are mixins, left of ``BaseEstimator`` as in
scikit-learn: :class:`mixexp._inspection.InspectionMixin` (gates,
responsibilities, likelihoods, information criteria, summary),
:class:`mixexp._predict.PredictionMixin` (the prediction driver: validated
rows, their design and E-step, chunks of routed rows) and
:class:`mixexp._partial_fit.PartialFitMixin` (online EM).  The fitted state
and the warm-start checks are :mod:`mixexp._fitted`.
"""

import warnings
from abc import ABCMeta
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import _safe_indexing, check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight

from ._censoring import check_observations
from ._design import design_matrix, nan_location_scale, sparse_location, standardize, weighted_location_scale
from ._engine import MIN_WEIGHT_FRACTION, EMEngine, FrozenExpertWarning
from ._exposure import check_exposure
from ._features import resolve_columns, shared_positions
from ._fitted import FitSources, FittedMixture, check_warm_start, check_warm_target, expert_kind
from ._groups import canonical_order, check_gate_constant, check_groups, group_starts
from ._assign import make_assignment
from ._init import (
    SHORT_MAX_ITER, SHORT_RUNS, SHORT_TOL, censored_start_design, check_responsibilities, initial_params,
)
from ._inspection import InspectionMixin
from ._missing import ONE_D_Y, has_nan, missing_refusal, nan_error, nan_target
from ._missing import observed_jacobian
from ._missing import run as run_missing
from ._online import ONLINE_ATTRIBUTES
from ._parallel import blas_single_thread, runner
from ._partial_fit import PartialFitMixin
from ._predict import PredictionMixin
from ._routing import check_top_k
from ._tree import Tree
from .experts import EXPERTS, ExpertFamily, make_experts
from .gates import GATES, make_gate

_EM_CONSTRAINTS = {
    "gate": [StrOptions(set(GATES))],
    "expert": [str, list, tuple, dict, HasMethods(["fit"]), ExpertFamily],
    "gate_alpha": [Interval(Real, 0, None, closed="left")],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "l1_ratio": [Interval(Real, 0, 1, closed="both")],
    "covariance_type": [StrOptions({"full", "diag"})],
    "gate_features": [None, "array-like"],
    "expert_features": [None, "array-like"],
    "top_k": [None, Interval(Integral, 1, None, closed="left")],
    "balance_alpha": [Interval(Real, 0, None, closed="left")],
    "specialization_alpha": [Interval(Real, 0, None, closed="left")],
    "reg_covar": [Interval(Real, 0, None, closed="neither")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "init_params": [StrOptions({"kmeans", "random", "short_em"}), "array-like"],
    "algorithm": [StrOptions({"em", "cem", "sem"})],
    "random_state": ["random_state"],
    "warm_start": ["boolean"],
    "verbose": ["verbose"],
    "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    "learning_decay": [Interval(Real, 0.5, 1, closed="right")],
    "learning_offset": [Interval(Real, 0, None, closed="left")],
}
FLAT_CONSTRAINTS = {"n_experts": [Interval(Integral, 1, None, closed="left")], **_EM_CONSTRAINTS}
TREE_CONSTRAINTS = {
    "depth": [Interval(Integral, 1, None, closed="left")],
    "branching": [Interval(Integral, 2, None, closed="left")],
    **_EM_CONSTRAINTS,
}


def _is_dask(A):
    """Whether ``A`` is a dask collection (checked without importing dask)."""
    return type(A).__module__.split(".")[0] == "dask"


class BaseMixtureOfExperts(
    InspectionMixin, PredictionMixin, PartialFitMixin, BaseEstimator, metaclass=ABCMeta
):
    """EM template for (hierarchical) mixtures of experts. Not for direct use."""

    _task = None  # "regression" or "classification", set by the subclasses

    def _validate_xy(self, X, y, finite=True):
        """``validate_data`` for fit (``finite``: its ``ensure_all_finite``); returns X, y."""
        raise NotImplementedError

    def __sklearn_tags__(self):
        """Sparse X only where the gate and every expert take it: not a gate that refuses it
        (``accepts_sparse``), not estimator experts whose own tags refuse it, not a user's
        :class:`~mixexp.experts.ExpertFamily` without ``accepts_sparse``."""
        tags = super().__sklearn_tags__()
        gate = GATES.get(self.gate) if isinstance(self.gate, str) else None
        family = self.expert if isinstance(self.expert, ExpertFamily) else None
        tags.input_tags.sparse = (
            (gate is None or gate.accepts_sparse)
            and (family is None or bool(family.accepts_sparse))
            and all(get_tags(e).input_tags.sparse for e in self._expert_templates())
        )
        tags.input_tags.allow_nan = missing_refusal(self) is None
        return tags

    def _expert_templates(self):
        """The estimators of ``expert`` (none for a family name such as ``"linear"``)."""
        expert = self.expert
        items = expert if isinstance(expert, (list, tuple)) else [expert]
        return [e for e in items if hasattr(e, "fit") and hasattr(e, "__sklearn_tags__")]

    # -- structure from the current parameters (fit only) -----------------------
    @property
    def _is_flat(self):
        return not hasattr(self, "depth")

    def _tree(self):
        if self._is_flat:
            return Tree(depth=1, branching=self.n_experts)
        return Tree(depth=self.depth, branching=self.branching)

    # -- fit --------------------------------------------------------------
    def fit(self, X, y, sample_weight=None, *, groups=None):
        """Fit the mixture by EM.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Training inputs.  Sparse input is kept sparse (scaled, not centred)
            with a softmax gate.  A dask array is fitted block by block on the
            current dask scheduler (:mod:`mixexp.dask`, the ``dask`` extra).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets (class labels for classifiers); a dask array with dask ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; the log-likelihood is weighted by them.
        groups : array-like of shape (n_samples,), default=None
            Group labels (panel data: a policyholder, a patient, a firm): all
            rows of a group share one latent expert.  Each expert's
            log-densities of a group's rows (times their weights) are summed
            before the gate, which sees each group once, through its features:
            ``gate_features`` must be constant within every group.  See
            ``docs/panel.md``.  None: every row is its own group.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_or_restore(X, y, sample_weight, groups=groups)

    def _fit_or_restore(self, X, y, sample_weight, exposure=None, groups=None, y_upper=None, truncation=None):
        if _is_dask(X):
            if exposure is not None:
                raise ValueError("exposure is not supported with dask input; fit in memory.")
            if y_upper is not None or truncation is not None:
                raise ValueError(
                    "y_upper and truncation are not supported with dask input; fit in memory "
                    "(X.compute()) to fit censored or truncated rows."
                )
            from .dask import fit_dask  # the optional extra, imported for dask input only

            return self._atomic(fit_dask, self, X, y, sample_weight, groups)
        return self._atomic(self._fit, X, y, sample_weight, exposure, None, groups, y_upper, truncation)

    def _atomic(self, func, *args):
        """``func(*args)``; when it fails, the estimator is left as it was."""
        snapshot = dict(self.__dict__)
        try:
            with blas_single_thread():
                return func(*args)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            raise

    def _fit(self, X, y, sample_weight, exposure=None, sources=None, groups=None, y_upper=None,
             truncation=None):
        """Validate, build the components, put the data in internal coordinates, run EM
        from ``n_init`` starts (or the fitted model, ``warm_start``) and keep the best.
        Rows with censoring or truncation (``y_upper``, ``truncation``: :mod:`mixexp._censoring`)
        are fitted by the family's experts on such rows; the fitted state keeps the family.

        ``sources`` (:class:`~mixexp._fitted.FitSources`) say what a fit on some rows (the
        dask fit's sample, online EM's first batch) takes from all the rows.
        """
        sources = sources or FitSources()
        self._validate_params()
        params = self.get_params(deep=False)
        fitted = getattr(self, "_fitted", None)
        warm = fitted if self.warm_start and fitted is not None else None
        old_n_features = getattr(self, "n_features_in_", None)
        try:
            X, y = self._validate_xy(X, y)
        except ValueError as refused:
            # NaN in X (or in a regressor's y): validated again allowing it (the complete-data
            # path checks nothing more)
            X, y = self._validate_xy(X, y, finite="allow-nan")
            if not (has_nan(X) or nan_target(y)):
                raise refused
            return self._fit_missing(X, y, sample_weight, params, warm, sources, exposure, groups)
        tree, gate, experts, gate_columns, expert_columns = self._components(X, params)
        obs = check_observations(
            y, y_upper, truncation, X.shape[0], experts, expert_kind(self.expert), gate, groups is not None,
        )
        if obs is not None and experts.constrained:
            raise ValueError(
                "shared_features and tied_variance constrain the family's own M-step, which censored "
                "or truncated rows (y_upper, truncation) replace by a numerical one; fit them without "
                "the constraints."
            )
        if truncation is not None and self.algorithm != "em":
            raise ValueError(
                f"truncation needs algorithm='em' (its E-step adds the expected truncated rows), "
                f"got algorithm={self.algorithm!r}; y_upper (censoring) works with every algorithm."
            )
        sw = self._sample_weight(sample_weight, X)
        # the user's initial responsibilities (None: a named strategy, or a warm start)
        resp = None
        if warm is None and not isinstance(self.init_params, str):
            resp = check_responsibilities(self.init_params, X.shape[0], tree.n_leaves)
        starts = None
        if groups is not None:
            X, y, sw, exposure, starts, order, obs = self._grouped_rows(
                X, y, sw, exposure, groups, gate, gate_columns, obs
            )
            resp = None if resp is None else resp[order]
        if warm is not None:
            check_warm_start(self, warm, tree, X, old_n_features, gate_columns, expert_columns)
            if warm.dense and sp.issparse(X):
                X = X.toarray()  # the fitted coordinates are centred: as in prediction
        x_mean, x_scale = self._coordinates(X, sw, warm, sources)
        y_family = y if obs is None else obs.stand_in(y, experts.discrete)
        target, info = self._target(experts, y_family, sw, X.shape[0], warm, sources, exposure)
        state = FittedMixture(
            tree, gate, experts, None, x_mean, x_scale, info, self.gate,
            expert_kind(self.expert, getattr(self, "zero_inflation", False)),
            gate_columns, expert_columns, dense=not sp.issparse(X),
            takes_missing=groups is None and missing_refusal(self) is None,
        )
        experts.set_coordinates(state.coordinates("experts"))
        if obs is not None:
            target = obs.target(target, experts.discrete, check_exposure(exposure, X.shape[0], experts))
        design = state.design(design_matrix(X, x_mean, x_scale), target, sw, starts)
        design.censored = obs is not None
        gate.check_input(design.gate_X)
        experts.check_input(design.expert_X)
        best = self._best_of_starts(state, design, params, warm, sources, resp)
        self._set_result(state, design, *best, sources=sources)
        return self

    def _fit_missing(self, X, y, sample_weight, params, warm, sources, exposure, groups):
        """``_fit`` for X with NaN: EM on the joint Gaussian of ``(x, y)`` per expert
        (:mod:`mixexp._missing`) from :meth:`_missing_start`; a ValueError naming the
        obstacle for a model or a fit that cannot marginalise missing values."""
        obstacles = [
            (missing_refusal(self), None),
            (sp.issparse(X), "sparse X"),
            (warm is not None, "warm_start continues the complete-data fit"),
            (sources != FitSources(), "partial_fit and the dask fit take complete rows"),
            (groups is not None, "groups"),
            (exposure is not None, "exposure"),
            (nan_target(y) and np.ndim(y) != 2, ONE_D_Y),
        ]
        where = "X" if has_nan(X) else "y"
        for obstacle, reason in obstacles:
            if obstacle:
                raise nan_error(self, reason or obstacle, where)
        tree, gate, experts, _, _ = self._components(X, params)
        sw = self._sample_weight(sample_weight, X)
        x_mean, x_scale = nan_location_scale(X, sw)
        target, info = experts.prepare_target(y, sw)
        state = FittedMixture(
            tree, gate, experts, None, x_mean, x_scale, info, self.gate, expert_kind(self.expert),
            takes_missing=True,
        )
        experts.set_coordinates(state.coordinates("experts"))
        Z = standardize(X, x_mean, x_scale)
        # the starts' partitions are of the rows imputed by the features' (and responses') means
        imputed = design_matrix(np.where(np.isnan(X), x_mean, X), x_mean, x_scale)
        design = state.design(imputed, np.where(np.isnan(target), 0.0, target), sw)
        rs = check_random_state(self.random_state)
        best = None
        with runner(design.n_rows) as run:
            engine = EMEngine(tree, gate, experts, run)
            for _ in range(self.n_init):
                start = self._missing_start(engine, design, info, rs, run.n_threads, Z, target, sw)
                result = run_missing(Z, target, sw, start, gate, experts, self.max_iter, self.tol)
                if best is None or result[1][-1] > best[1][-1]:
                    best = result
        params, bounds, done, n_iter, frozen = best
        # log p(x_obs): the Jacobian of the standardisation of each row's observed features
        shift = observed_jacobian(Z, sw, x_scale) - gate.loglik_shift(state.coordinates("gate"))
        # and of each row's observed responses (all of them without NaN in y: no change)
        shift += observed_jacobian(target, sw, info["scale"]) - experts.loglik_shift(info)
        self._set_result(state, design, params, np.asarray(bounds) + shift, done, n_iter, frozen)
        return self

    def _missing_start(self, engine, design, info, rs, n_threads, Z, target, sw):
        """A start of EM with missing features: a k-means or random partition of the
        mean-imputed rows (``init_params``); ``"short_em"``: the best by the observed-data
        likelihood of short EM runs with missing features from such partitions in turn
        (the imputed rows' likelihood can prefer a start that is poor for the observed)."""

        def partition(kind):
            return initial_params(
                engine, engine, design, info, rs, kind, self.max_iter, self.tol, self.gate_alpha, n_threads
            )

        if self.init_params != "short_em":
            return partition(self.init_params)
        best, best_bound = None, -np.inf
        for start in range(SHORT_RUNS):
            params = partition(("kmeans", "random")[start % 2])
            params, bounds, *_ = run_missing(
                Z, target, sw, params, engine.gate, engine.experts, SHORT_MAX_ITER, SHORT_TOL
            )
            if best is None or bounds[-1] > best_bound:
                best, best_bound = params, bounds[-1]
        return best

    def _components(self, X, params):
        """The tree, the gate and expert components and the columns each sees; a ValueError,
        in words, for a structure the data or the components cannot take."""
        tree = self._tree()
        n_samples = X.shape[0]
        if n_samples < tree.n_leaves:
            raise ValueError(f"n_samples={n_samples} should be >= n_experts={tree.n_leaves}.")
        gate = make_gate(tree, params)
        experts = make_experts(self._task, tree.n_leaves, params)
        names = getattr(self, "feature_names_in_", None)
        gate_columns = resolve_columns(self.gate_features, X.shape[1], names, "gate_features")
        expert_columns = resolve_columns(self.expert_features, X.shape[1], names, "expert_features")
        check_top_k(self.top_k, tree.n_leaves)
        experts.set_constraints(
            shared_positions(params.get("shared_features"), X.shape[1], names, expert_columns),
            params.get("tied_variance", False),
        )
        gate.check_columns(gate_columns)
        if gate.uses_experts and not experts.gives_representation:
            giving = [name for name, cls in EXPERTS[self._task].items() if cls.gives_representation]
            raise ValueError(
                f"gate={self.gate!r} weighs the experts by their representations of the rows, "
                f"which expert={expert_kind(self.expert)!r} does not give; choose expert="
                f"{' or '.join(map(repr, giving))} or estimators, or another gate."
            )
        return tree, gate, experts, gate_columns, expert_columns

    def _grouped_rows(self, X, y, sw, exposure, groups, gate, gate_columns, obs=None):
        """The rows in the canonical order of grouped rows (:func:`canonical_order`), the
        first row of every group, the order and the observation types in that order; a
        ValueError for labels, gates and gate features that
        grouped rows cannot take."""
        codes, labels = check_groups(groups, X.shape[0])
        n_leaves = self._tree().n_leaves
        if labels.shape[0] < n_leaves:
            raise ValueError(
                f"groups holds {labels.shape[0]} groups; it should hold >= n_experts={n_leaves}."
            )
        if gate.uses_experts:
            raise ValueError(
                f"gate={self.gate!r} weighs the experts by their representations of each row, "
                "which a group does not have; fit grouped rows with gate='softmax' or 'gaussian'."
            )
        check_gate_constant(X, codes, gate_columns, getattr(self, "feature_names_in_", None))
        order = canonical_order(codes, X, y, sw)
        if exposure is not None:
            exposure = np.asarray(exposure)
            exposure = exposure[order] if exposure.shape[:1] == (X.shape[0],) else exposure
        obs = None if obs is None else obs.take(order)
        y = _safe_indexing(y, order)  # a DataFrame y (multi-response) keeps its column names
        return X[order], y, sw[order], exposure, group_starts(codes[order]), order, obs

    @staticmethod
    def _coordinates(X, sw, warm, sources):
        """The features' location and scale: the fitted model's (``warm``), all the rows'
        (``sources``), or these rows' (sparse X is scaled, not centred)."""
        if warm is not None:
            return warm.x_mean, warm.x_scale
        if sources.location is not None:
            return sources.location()
        mean, scale = weighted_location_scale(X, sw)
        return sparse_location(mean, scale) if sp.issparse(X) else (mean, scale)

    @staticmethod
    def _target(experts, y, sw, n_samples, warm, sources, exposure):
        """The internal target and the target information: the fitted model's (``warm``),
        all the rows' (``sources``), or these rows'; with the exposure's log-offset."""
        if warm is not None:
            info = experts.prepare_target(y, sw)[1] if sources.info is None else sources.info(experts)
            check_warm_target(warm, info)
            target, info = warm.experts.check_target(y, n_samples, warm.info), warm.info
        elif sources.info is not None:
            info = sources.info(experts)
            target = experts.check_target(y, n_samples, info)
        else:
            target, info = experts.prepare_target(y, sw)
        offset = check_exposure(exposure, n_samples, experts)
        if offset is not None:
            target = experts.offset_target(target, offset)
        return target, info

    def _best_of_starts(self, state, design, params, warm, sources, resp=None):
        """EM from each of ``n_init`` starts (or from the fitted parameters, ``warm``; or
        from the user's responsibilities ``resp``, in the design's row order);
        ``(params, lower_bounds, converged, n_iter, frozen leaves)`` of the best.

        Censored or truncated rows (``design.censored``) start from the family's own fit
        with the exact rows taken as untruncated (its exact M-steps, not the numerical ones
        of :class:`~mixexp.experts.censored.CensoredExperts`;
        :func:`~mixexp._init.censored_start_design`); EM on the censored rows goes on from
        there."""
        tree, experts = state.tree, state.experts
        rs = check_random_state(self.random_state)
        n_init = 1 if warm is not None else self.n_init
        if resp is not None and n_init > 1 and self.algorithm != "sem":
            # every start would be the same and EM or CEM would repeat the same run
            warnings.warn(
                f"n_init={self.n_init} with init_params given as an array: every "
                f"initialisation starts from the same responsibilities and algorithm="
                f"{self.algorithm!r} is deterministic; fitting once.",
                UserWarning,
            )
            n_init = 1
        best = None
        with runner(design.n_rows) as run:
            engine = EMEngine(tree, state.gate, experts, run)
            if design.censored:
                em, em_design = state.engine(run, censored=True), design
            else:
                em, em_design = sources.run(engine, state) if sources.run else (engine, design)
            start_source = sources.start(state) if sources.start else None
            if tree.depth == 1:
                flat = engine
            else:  # an HME starts from a flat mixture of its leaves
                flat_tree = Tree(1, tree.n_leaves)
                flat = EMEngine(flat_tree, make_gate(flat_tree, params), experts, run)
            if design.censored:  # the user's responsibilities: an M-step on every row
                design = design.plain() if resp is not None else censored_start_design(
                    design, flat, state.info
                )
            for init in range(n_init):
                if self.verbose:
                    print(f"Initialization {init}")
                if warm is not None:
                    start = warm.params
                else:
                    start = initial_params(
                        engine, flat, design, state.info, rs,
                        self.init_params if resp is None else resp, self.max_iter,
                        self.tol, self.gate_alpha, run.n_threads, start_source,
                    )
                rule = make_assignment(self.algorithm, rs)
                result = em.run(
                    start, em_design, self.max_iter, self.tol, self.verbose, self.verbose_interval, rule
                )
                if best is None or result[1][-1] > best[1][-1]:
                    best = (*result, sorted(em.frozen_leaves))
        return best

    def _set_result(self, state, design, params, bounds, converged, n_iter, frozen, sources=None):
        """Warn about frozen experts and non-convergence; make ``state`` with ``params`` the
        fitted model, with its public attributes (and what prediction keeps of the
        training ``design``, or of all the rows when ``sources`` gives it)."""
        state.params = params
        attributes = state.public_attributes(self._is_flat)
        n_leaves = state.tree.n_leaves
        if frozen:
            warnings.warn(
                f"{len(frozen)} of {n_leaves} experts (leaves {frozen}) received almost no "
                f"responsibility (at most {MIN_WEIGHT_FRACTION:g} of the total weight) and kept "
                "their previous parameters; fewer experts may suit this data.",
                FrozenExpertWarning,
            )
        if not converged:
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations (tol={self.tol}); "
                "increase max_iter or tol, or check the data.",
                ConvergenceWarning,
            )
        # censored rows: no clipping to the range of the observed (not ground-up) responses
        state.target_range = None if design.censored else self._target_range(state, design)
        if state.target_range is not None and sources is not None and sources.target_range:
            state.target_range = sources.target_range(state, self._target_range)
        self._set_fitted(state, attributes, drop=("_online", "_seen_groups", *ONLINE_ATTRIBUTES))
        self.lower_bounds_ = np.asarray(bounds) + state.loglik_shift()
        self.lower_bound_ = float(self.lower_bounds_[-1])
        self.converged_ = bool(converged)
        self.n_iter_ = int(n_iter)

    def _target_range(self, state, design, previous=None):
        """What the fitted state keeps of the training targets for prediction (regressors:
        :func:`mixexp._regressor.target_range`); None here."""
        return None

    def _sample_weight(self, sample_weight, X):
        """Validated non-negative weights of the rows of ``X``, with a positive sum."""
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if not sw.sum() > 0:
            raise ValueError("sample_weight must have a positive sum.")
        return sw

    def _set_fitted(self, state, attributes, drop):
        """Make ``state`` the fitted state with its public ``attributes``; remove the
        attributes in ``drop`` (those of the other kind of fit: ``fit``, ``partial_fit``)."""
        self._fitted = state
        for name, value in attributes.items():
            setattr(self, name, value)
        for name in drop:
            self.__dict__.pop(name, None)
