"""The EM template shared by every mixexp estimator.

``fit`` validates, builds the components named by the parameters (a gate
from :data:`mixexp.gates.GATES`, an expert family from
:data:`mixexp.experts.EXPERTS` or estimators), puts the inputs in internal
coordinates, runs ``n_init`` initialisations of EM through
:class:`mixexp._engine.EMEngine` and keeps the best.  Everything after
``fit`` uses the fitted state (its tree, components and parameters), never
the estimator's current parameters, so ``set_params`` after ``fit`` cannot
make predictions disagree with the model.
"""

import warnings
from abc import ABCMeta
from dataclasses import dataclass, replace
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._design import Coordinates, Design, design_matrix, weighted_location_scale
from ._engine import MIN_WEIGHT_FRACTION, EMEngine, FrozenExpertWarning
from ._exposure import check_exposure
from ._features import resolve_columns
from ._init import initial_params
from .inference import parameter_inference, summary_table
from ._kernels import tree_posteriors
from ._parallel import blas_single_thread, runner
from ._routing import check_top_k
from ._tree import Tree
from ._online import FIT_ATTRIBUTES, ONLINE_ATTRIBUTES, online_step
from .experts import check_incremental, check_summable, make_experts
from .selection import assignment_entropy
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


def _expert_kind(expert):
    """What warm_start must keep: a family name, or the estimators' types."""
    if isinstance(expert, str):
        return expert
    items = expert if isinstance(expert, (list, tuple)) else [expert]
    return tuple(type(e).__name__ for e in items)


def _is_dask(A):
    """Whether ``A`` is a dask collection (checked without importing dask)."""
    return type(A).__module__.split(".")[0] == "dask"


@dataclass
class Elsewhere:
    """What a fit on some rows takes from all the rows (the dask fit: from its blocks).

    location : callable () -> (x_mean, x_scale), or None: from the rows fitted.
    info : callable (expert family) -> target information (classes; target
        mean and scale), or None: from the rows fitted.
    run : callable (engine, state) -> (engine, design) that EM runs on, or
        None: the rows fitted.  The rows fitted always give the start.
    """

    location: object = None
    info: object = None
    run: object = None


@dataclass
class FittedMixture:
    """What ``fit`` learned, in internal coordinates: all that prediction uses."""

    tree: Tree
    gate: object
    experts: object
    params: dict
    x_mean: np.ndarray
    x_scale: np.ndarray
    info: dict  # the expert family's target information (scales, classes)
    gate_name: str
    expert_kind: object
    gate_columns: object = None  # feature indices the gate sees (None: all)
    expert_columns: object = None
    dense: bool = True  # fitted on dense X (centred): predictions densify sparse X

    def engine(self, run=None):
        return EMEngine(self.tree, self.gate, self.experts, run)

    def design(self, Xa, target, sw):
        return Design(Xa, target, sw, gate_columns=self.gate_columns, expert_columns=self.expert_columns)

    def coordinates(self, part):
        columns = self.gate_columns if part == "gate" else self.expert_columns
        return Coordinates(self.x_mean, self.x_scale, columns)


class BaseMixtureOfExperts(BaseEstimator, metaclass=ABCMeta):
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
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if not sw.sum() > 0:
            raise ValueError("sample_weight must have a positive sum.")
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
        if warm:
            self._check_warm_start(fitted, tree, X, old_n_features, gate_columns, expert_columns)
            x_mean, x_scale = fitted.x_mean, fitted.x_scale
            if fitted.dense and sp.issparse(X):
                X = X.toarray()  # the fitted coordinates are centred: as in prediction
            if elsewhere.info is None:
                target, info = experts.prepare_target(y, sw)
            else:
                info = elsewhere.info(experts)
            self._check_warm_target(fitted, info)
            target, info = fitted.experts.check_target(y, n_samples, fitted.info), fitted.info
        else:
            if elsewhere.location is None:
                x_mean, x_scale = weighted_location_scale(X, sw, center=not sp.issparse(X))
            else:
                x_mean, x_scale = elsewhere.location()
            if elsewhere.info is None:
                target, info = experts.prepare_target(y, sw)
            else:
                info = elsewhere.info(experts)
                target = experts.check_target(y, n_samples, info)
        offset = check_exposure(exposure, n_samples, experts)
        if offset is not None:
            target = experts.offset_target(target, offset)
        Xa = design_matrix(X, x_mean, x_scale)
        state = FittedMixture(
            tree, gate, experts, None, x_mean, x_scale, info, self.gate, _expert_kind(self.expert),
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
        attributes = self._public_attributes(state)
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
        shift = experts.loglik_shift(info) + gate.loglik_shift(state.coordinates("gate"))
        self._fitted = state
        for name, value in attributes.items():
            setattr(self, name, value)
        self.lower_bounds_ = np.asarray(bounds) + shift
        self.lower_bound_ = float(self.lower_bounds_[-1])
        self.converged_ = bool(converged)
        self.n_iter_ = int(n_iter)
        for name in ("_online", *ONLINE_ATTRIBUTES):
            self.__dict__.pop(name, None)
        return self

    # -- online EM ------------------------------------------------------------
    def _can_partial_fit(self):
        """Whether online EM can serve the experts: running sums, or estimators that
        learn incrementally with sample weights (``partial_fit`` exists only then)."""
        try:
            if not isinstance(self.expert, str):
                check_incremental(self.expert)
            check_summable(self._task, self.expert, "partial_fit (online EM)")
        except (ValueError, TypeError) as exc:
            # what available_if reports when partial_fit is asked for
            raise AttributeError(str(exc)) from exc
        return True

    @available_if(_can_partial_fit)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the mixture with one batch of rows: a step of online EM.

        Each call runs the E-step on the batch, blends its row sums into
        running sums with step size ``(learning_offset + t) ** -learning_decay``
        for the ``t``-th batch, and takes the M-step from the running sums
        (Cappé & Moulines 2009; see ``mixexp._online``).  The first call fits
        the batch as :meth:`fit` does (``init_params``, ``n_init``,
        ``max_iter``) unless ``warm_start`` is True and the estimator is
        fitted, in which case it continues that model; either way its step is
        one EM iteration on the batch.  The internal standardisation of ``X``
        (and of regression targets) comes from that first batch or model and
        stays fixed, so the first batch should be representative of the
        stream's scale; nothing has to be scaled beforehand.  A later
        :meth:`fit` starts anew.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The batch's inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            The batch's targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the batch's rows.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._atomic(self._partial_fit, X, y, sample_weight, None)

    def _first_batch_info(self, classes):
        """What gives the target information of a first ``partial_fit`` (classifiers:
        ``classes``): a callable of the expert family, or None (the batch)."""
        return None

    def _partial_fit(self, X, y, sample_weight, classes):
        self._validate_params()
        if not isinstance(self.expert, str):
            check_incremental(self.expert)
        check_summable(self._task, self.expert, "partial_fit (online EM)")
        running = getattr(self, "_online", None)
        if running is None and not (self.warm_start and getattr(self, "_fitted", None) is not None):
            self._fit(X, y, sample_weight, elsewhere=Elsewhere(info=self._first_batch_info(classes)))
        elif classes is not None:
            self._check_classes(classes)
        design, state = self._design(X, y)
        sw = _check_sample_weight(sample_weight, design.Xa, dtype=np.float64, ensure_non_negative=True)
        if not sw.sum() > 0:
            raise ValueError("sample_weight must have a positive sum.")
        design.sw = sw
        state.experts.check_input(design.expert_X)
        with runner(design.n_rows) as run:
            params, running, loglik = online_step(
                state.engine(run), state.params, design, running, self.learning_decay, self.learning_offset
            )
        state = replace(state, params=params)
        attributes = self._public_attributes(state)
        self._fitted, self._online = state, running
        for name, value in attributes.items():
            setattr(self, name, value)
        for name in FIT_ATTRIBUTES:
            self.__dict__.pop(name, None)
        shift = state.experts.loglik_shift(state.info) + state.gate.loglik_shift(state.coordinates("gate"))
        self.n_batch_iter_ = running.n_steps
        self.n_samples_seen_ = running.n_seen
        self.batch_log_likelihood_ = float(loglik + shift)
        return self

    def _public_attributes(self, state):
        """Fitted attributes in the units of the data; a ValueError if any overflows."""
        flat = state.tree.depth == 1 and self._is_flat
        with np.errstate(over="ignore"):  # an overflow is reported below, in words
            attributes = {
                "x_mean_": state.x_mean,
                "x_scale_": state.x_scale,
                **state.gate.attributes(state.params["gate"], state.coordinates("gate"), flat),
                **state.experts.attributes(
                    state.params["experts"], state.coordinates("experts"), state.info
                ),
            }
        for name, value in attributes.items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise ValueError(
                    f"The fitted {name} is not finite in the units of the data: X or y "
                    "spans more than float64 can represent through this model (e.g. a noise "
                    "variance above 1e308). Rescale X or y and fit again."
                )
        return attributes

    def _check_warm_start(self, fitted, tree, X, old_n_features, gate_columns, expert_columns):
        changes = []
        for part, new, old in [
            ("gate_features", gate_columns, fitted.gate_columns),
            ("expert_features", expert_columns, fitted.expert_columns),
        ]:
            if (new is None) != (old is None) or (new is not None and not np.array_equal(new, old)):
                changes.append(f"{part} selects other columns than in the fitted model")
        if old_n_features != X.shape[1]:
            changes.append(f"X has {X.shape[1]} features where the fitted model has {old_n_features}")
        if tree != fitted.tree:
            if self._is_flat:
                changes.append(f"n_experts is {self.n_experts}, the fitted model has {fitted.tree.n_leaves}")
            else:
                changes.append(
                    f"depth, branching are {self.depth}, {self.branching}, the fitted model has "
                    f"{fitted.tree.depth}, {fitted.tree.branching}"
                )
        if self.gate != fitted.gate_name:
            changes.append(f"gate is {self.gate!r}, the fitted model has {fitted.gate_name!r}")
        if _expert_kind(self.expert) != fitted.expert_kind:
            changes.append(f"expert is {self.expert!r}, unlike the fitted model's experts")
        if changes:
            raise ValueError(
                "warm_start=True cannot continue the fitted model: "
                + "; ".join(changes)
                + ". Refit with warm_start=False."
            )

    def _check_warm_target(self, fitted, info):
        old, new = fitted.info, info
        if "classes" in old and not np.array_equal(old["classes"], new["classes"]):
            raise ValueError(
                f"warm_start=True cannot continue the fitted model: y has classes "
                f"{new['classes']!r}, the fitted model {old['classes']!r}. Refit with warm_start=False."
            )
        if old["n_outputs"] != new["n_outputs"]:
            raise ValueError(
                f"warm_start=True cannot continue the fitted model: y has {new['n_outputs']} "
                f"targets, the fitted model {old['n_outputs']}. Refit with warm_start=False."
            )

    # -- prediction helpers -----------------------------------------------
    def _state(self):
        check_is_fitted(self)
        return self._fitted

    def _top_k(self, state):
        """``top_k`` for prediction: a prediction setting, read when predicting, so that
        ``set_params(top_k=...)`` after fit compares routings of one fitted model."""
        return check_top_k(getattr(self, "top_k", None), state.tree.n_leaves)

    def _design(self, X, y=None, exposure=None):
        """Validated ``X`` (and ``y``, ``exposure``) as an internal :class:`Design` and the fitted state."""
        state = self._state()
        X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32])
        if sp.issparse(X) and state.dense:
            # fitted on dense data: centring needs dense rows, and so may the components
            # (whether the mean happens to be 0 must not matter)
            X = X.toarray()
        Xa = design_matrix(X, state.x_mean, state.x_scale)
        target = None if y is None else state.experts.check_target(y, X.shape[0], state.info)
        offset = None if y is None else check_exposure(exposure, X.shape[0], state.experts)
        if offset is not None:
            target = state.experts.offset_target(target, offset)
        design = state.design(Xa, target, np.ones(X.shape[0]))
        state.gate.check_input(design.gate_X)
        return design, state

    def _e_step(self, X, y=None, experts=True, exposure=None):
        design, state = self._design(X, y, exposure)
        with runner(design.n_rows) as run:
            return state.engine(run).e_step(state.params, design, experts), design, state

    def predict_gate(self, X):
        """Gate probability of each leaf expert (path products for a tree).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        gates : ndarray of shape (n_samples, n_experts)
            Rows sum to 1.
        """
        return self._e_step(X, experts=False)[0][0]

    def predict_node_gates(self, X):
        """Each inner node's gate probabilities over its children.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        gates : ndarray of shape (n_samples, n_inner_nodes, branching)
            Inner nodes in breadth-first order (a flat mixture has one, the root).
        """
        design, state = self._design(X)
        t = state.tree
        out = np.empty((design.n_rows, t.n_nodes))
        log_gate = state.engine().gate_scores(design.gate_X, design.expert_X, state.params)[0]
        zeros = np.zeros((design.n_rows, t.n_leaves))
        tree_posteriors(log_gate, zeros, t.branching, out, np.empty(design.n_rows), True)
        return out[:, 1:].reshape(design.n_rows, t.n_inner, t.branching)

    def responsibilities(self, X, y, exposure=None):
        """Posterior probability of each expert given ``(x, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures of the log-link families (``expert="poisson"``,
            ``"gamma"``, ``"zip"``): the mean is proportional to them.  None:
            every exposure is 1.

        Returns
        -------
        responsibilities : ndarray of shape (n_samples, n_experts)
            Rows sum to 1.
        """
        return self._e_step(X, y, exposure=exposure)[0][0]

    def log_likelihood(self, X, y, exposure=None):
        """``log p(y_i | x_i)`` of each sample under the fitted model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures of the log-link families (``expert="poisson"``,
            ``"gamma"``, ``"zip"``): the mean is proportional to them.  None:
            every exposure is 1.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
        """
        (_, joint), design, state = self._e_step(X, y, exposure=exposure)
        if state.gate.models_x:  # the objective is log p(x, y): subtract log p(x)
            with runner(design.n_rows) as run:
                joint = joint - state.engine(run).e_step(state.params, design, experts=False)[1]
        return joint + state.experts.loglik_shift(state.info)

    def _models_x(self):
        """Whether the model has a density of x: the fitted gate's, else the parameter's."""
        fitted = getattr(self, "_fitted", None)
        return fitted.gate.models_x if fitted is not None else self.gate == "gaussian"

    @available_if(_models_x)
    def score_samples(self, X):
        """Log-density ``log p(x)`` of the inputs under the Gaussian gate's mixture.

        Inputs unlike the training inputs get low values: an outlier score.
        Only with ``gate="gaussian"``, which models ``x`` (after ``fit``: the
        fitted gate decides, whatever ``set_params`` changed since).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            In the units of the raw features.
        """
        (_, log_px), _, state = self._e_step(X, experts=False)
        if not state.gate.models_x:
            raise ValueError(
                f"score_samples needs a model of x (gate='gaussian'); this model was "
                f"fitted with gate={state.gate_name!r}."
            )
        return log_px + state.gate.loglik_shift(state.coordinates("gate"))

    def _n_parameters(self):
        state = self._state()
        return state.engine().n_free_params(state.params)

    def bic(self, X, y, exposure=None):
        """Bayesian information criterion on ``(X, y)``; lower is better.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures of the log-link families (``expert="poisson"``,
            ``"gamma"``, ``"zip"``): the mean is proportional to them.  None:
            every exposure is 1.

        Returns
        -------
        bic : float
        """
        ll = self.log_likelihood(X, y, exposure)
        return float(-2.0 * ll.sum() + self._n_parameters() * np.log(ll.shape[0]))

    def aic(self, X, y, exposure=None):
        """Akaike information criterion on ``(X, y)``; lower is better.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures of the log-link families (``expert="poisson"``,
            ``"gamma"``, ``"zip"``): the mean is proportional to them.  None:
            every exposure is 1.

        Returns
        -------
        aic : float
        """
        return float(-2.0 * self.log_likelihood(X, y, exposure).sum() + 2.0 * self._n_parameters())

    def icl(self, X, y, exposure=None):
        """Integrated completed likelihood on ``(X, y)``; lower is better.

        BIC plus twice the entropy of the posterior assignment of samples to
        experts (Biernacki, Celeux & Govaert 2000): it also penalises experts
        that overlap, so it prefers fewer, well-separated experts.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        exposure : array-like of shape (n_samples,), default=None
            Exposures of the log-link families (see ``fit``); None: all 1.

        Returns
        -------
        icl : float
        """
        entropy = assignment_entropy(self.responsibilities(X, y, exposure))
        return self.bic(X, y, exposure) + 2.0 * entropy

    def summary(self, X, y, sample_weight=None, *, cov_type="observed"):
        """Estimate, standard error, z and p-value of every gate and expert parameter.

        Standard errors come from the observed information of the
        log-likelihood on ``(X, y)`` (usually the training data) at the
        fitted parameters, in the units of the raw data.  Every softmax is
        reported relative to its first row (expert 0 of the gate, the first
        class of a multinomial expert), whose coefficients are fixed at 0 as
        in flexmix: only differences of rows are identified.  Gaussian
        experts' variances are reported as ``log_noise_variance``.  See
        :mod:`mixexp.inference`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights.
        cov_type : {"observed", "sandwich"}, default="observed"
            The inverse observed information, or the robust sandwich
            covariance.

        Returns
        -------
        table : pandas.DataFrame or numpy structured array
            Columns ``component``, ``parameter``, ``estimate``,
            ``std_error``, ``z``, ``p_value``; a DataFrame's ``attrs`` hold
            ``cov_type`` and ``n_nonzero`` (nonzero coefficients).

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_moe_regression
        >>> X, y = make_moe_regression(400, n_features=2, n_experts=2, random_state=0)
        >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
        >>> table = model.summary(X, y)
        >>> list(table.columns)
        ['component', 'parameter', 'estimate', 'std_error', 'z', 'p_value']
        """
        return summary_table(parameter_inference(self, X, y, sample_weight, cov_type))
