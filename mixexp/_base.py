"""The EM template shared by every mixexp estimator.

``fit`` validates, builds the components named by the parameters (a gate
from :data:`mixexp.gates.GATES`, an expert family from
:data:`mixexp.experts.EXPERTS` or estimators), puts the inputs in internal
coordinates, runs ``n_init`` initialisations of EM through
:class:`mixexp._engine.EMEngine` and keeps the best.  Everything after
``fit`` uses the fitted state (its tree, components and parameters), never
the estimator's current parameters, so ``set_params`` after ``fit`` cannot
make predictions disagree with the model.

The estimator's other parts are mixins, left of ``BaseEstimator`` as in
scikit-learn: :class:`mixexp._inspection.InspectionMixin` (gates,
responsibilities, likelihoods, information criteria, summary) and
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
from sklearn.utils import check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight

from ._design import design_matrix, weighted_location_scale
from ._engine import MIN_WEIGHT_FRACTION, EMEngine, FrozenExpertWarning
from ._exposure import check_exposure
from ._features import resolve_columns
from ._fitted import Elsewhere, FittedMixture, check_warm_start, check_warm_target, expert_kind
from ._init import initial_params
from ._inspection import InspectionMixin
from ._online import ONLINE_ATTRIBUTES
from ._parallel import blas_single_thread, runner
from ._partial_fit import PartialFitMixin
from ._routing import check_top_k
from ._tree import Tree
from .experts import make_experts
from .gates import GATES, make_gate

_EM_CONSTRAINTS = {
    "gate": [StrOptions(set(GATES))],
    "expert": [str, list, tuple, HasMethods(["fit"])],
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
    "init_params": [StrOptions({"kmeans", "random", "short_em"})],
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


def store_init_params(estimator, params):
    """Store ``__init__``'s arguments unchanged, as scikit-learn requires."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


def _is_dask(A):
    """Whether ``A`` is a dask collection (checked without importing dask)."""
    return type(A).__module__.split(".")[0] == "dask"


class BaseMixtureOfExperts(InspectionMixin, PartialFitMixin, BaseEstimator, metaclass=ABCMeta):
    """EM template for (hierarchical) mixtures of experts. Not for direct use."""

    _task = None  # "regression" or "classification", set by the subclasses

    def _validate_xy(self, X, y):
        """``validate_data`` for fit; returns X, y."""
        raise NotImplementedError

    def __sklearn_tags__(self):
        """Sparse X only where the gate and every expert take it: not ``gate="gaussian"``,
        not estimator experts whose own tags refuse it."""
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self.gate != "gaussian" and all(
            get_tags(e).input_tags.sparse for e in self._expert_templates()
        )
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
    def fit(self, X, y, sample_weight=None):
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

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_or_restore(X, y, sample_weight)

    def _fit_or_restore(self, X, y, sample_weight, exposure=None):
        if _is_dask(X):
            if exposure is not None:
                raise ValueError("exposure is not supported with dask input; fit in memory.")
            from .dask import fit_dask  # the optional extra, imported for dask input only

            return self._atomic(fit_dask, self, X, y, sample_weight)
        return self._atomic(self._fit, X, y, sample_weight, exposure)

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

    def _fit(self, X, y, sample_weight, exposure=None, elsewhere=None):
        elsewhere = elsewhere or Elsewhere()
        self._validate_params()
        params = self.get_params(deep=False)
        fitted = getattr(self, "_fitted", None)
        warm = self.warm_start and fitted is not None
        old_n_features = getattr(self, "n_features_in_", None)
        X, y = self._validate_xy(X, y)
        tree = self._tree()
        n_samples = X.shape[0]
        if n_samples < tree.n_leaves:
            raise ValueError(f"n_samples={n_samples} should be >= n_experts={tree.n_leaves}.")
        sw = self._sample_weight(sample_weight, X)
        gate = make_gate(tree, params)
        experts = make_experts(self._task, tree.n_leaves, params)
        names = getattr(self, "feature_names_in_", None)
        gate_columns = resolve_columns(self.gate_features, X.shape[1], names, "gate_features")
        expert_columns = resolve_columns(self.expert_features, X.shape[1], names, "expert_features")
        check_top_k(self.top_k, tree.n_leaves)
        if self.gate == "gaussian" and (self.balance_alpha > 0 or self.specialization_alpha > 0):
            raise ValueError(
                "balance_alpha and specialization_alpha penalise a softmax or attention gate; "
                "with gate='gaussian' they must be 0."
            )
        if self.gate == "gaussian" and gate_columns is not None and gate_columns.size == 0:
            raise ValueError(
                "gate='gaussian' needs at least one gate feature; gate_features=[] (constant "
                "mixing weights) goes with gate='softmax'."
            )
        # internal coordinates: the fitted model's, or from these rows or all the rows
        if warm:
            check_warm_start(self, fitted, tree, X, old_n_features, gate_columns, expert_columns)
            x_mean, x_scale = fitted.x_mean, fitted.x_scale
            if fitted.dense and sp.issparse(X):
                X = X.toarray()  # the fitted coordinates are centred: as in prediction
        elif elsewhere.location is None:
            x_mean, x_scale = weighted_location_scale(X, sw, center=not sp.issparse(X))
        else:
            x_mean, x_scale = elsewhere.location()
        # target information: from these rows or all the rows; a warm start keeps the fitted one
        if elsewhere.info is None:
            target, info = experts.prepare_target(y, sw)
        else:
            info = elsewhere.info(experts)
        if warm:
            check_warm_target(fitted, info)
            target, info = fitted.experts.check_target(y, n_samples, fitted.info), fitted.info
        elif elsewhere.info is not None:
            target = experts.check_target(y, n_samples, info)
        offset = check_exposure(exposure, n_samples, experts)
        if offset is not None:
            target = experts.offset_target(target, offset)
        Xa = design_matrix(X, x_mean, x_scale)
        state = FittedMixture(
            tree, gate, experts, None, x_mean, x_scale, info, self.gate, expert_kind(self.expert),
            gate_columns, expert_columns, dense=not sp.issparse(X),
        )
        design = state.design(Xa, target, sw)
        gate.check_input(design.gate_X)
        experts.check_input(design.expert_X)
        rs = check_random_state(self.random_state)

        with runner(n_samples) as run:
            engine = EMEngine(tree, gate, experts, run)
            em, em_design = elsewhere.run(engine, state) if elsewhere.run else (engine, design)
            best = None
            for init in range(1 if warm else self.n_init):
                if self.verbose:
                    print(f"Initialization {init}")
                if warm:
                    start = fitted.params
                else:
                    flat_tree = Tree(1, tree.n_leaves)
                    flat = engine if tree.depth == 1 else EMEngine(
                        flat_tree, make_gate(flat_tree, params), experts, run
                    )
                    start = initial_params(
                        engine, flat, design, info, rs, self.init_params, self.max_iter,
                        self.tol, self.gate_alpha, run.n_threads,
                    )
                result = em.run(
                    start, em_design, self.max_iter, self.tol, self.verbose, self.verbose_interval
                )
                if best is None or result[1][-1] > best[1][-1]:
                    best = (*result, sorted(em.frozen_leaves))
        state.params, bounds, converged, n_iter, frozen = best
        attributes = state.public_attributes(self._is_flat)
        if frozen:
            warnings.warn(
                f"{len(frozen)} of {tree.n_leaves} experts (leaves {frozen}) received almost no "
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
        state.target_range = self._target_range(state, design)
        self._set_fitted(state, attributes, drop=("_online", *ONLINE_ATTRIBUTES))
        self.lower_bounds_ = np.asarray(bounds) + state.loglik_shift()
        self.lower_bound_ = float(self.lower_bounds_[-1])
        self.converged_ = bool(converged)
        self.n_iter_ = int(n_iter)
        return self

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
