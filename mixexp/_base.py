"""The EM template shared by every mixexp estimator.

``fit`` validates, standardises inputs, runs ``n_init`` initialisations of
EM through :class:`mixexp._em.EMEngine` and keeps the best.  Subclasses say
what the tree is (flat or hierarchical), what the experts are (Gaussian or
multinomial) and how targets are prepared and reported.
"""

import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from ._em import MIN_WEIGHT_FRACTION, EMEngine, FrozenExpertWarning
from ._init import arrange_leaves, hard_responsibilities, kmeans_labels, random_responsibilities
from ._kernels import log_softmax_groups, tree_posteriors
from ._tree import Tree


def standardize_design(X, sw):
    """Weighted standardisation of ``X`` with a trailing column of ones.

    Returns ``Xa`` (n, d + 1), ``mean`` (d,) and ``scale`` (d,); constant
    columns get scale 1.
    """
    X = np.asarray(X, dtype=np.float64)
    mean = np.average(X, axis=0, weights=sw)
    scale = np.sqrt(np.average((X - mean) ** 2, axis=0, weights=sw))
    scale[scale <= 1e-12 * np.maximum(np.abs(mean), 1e-300)] = 1.0
    Xa = np.empty((X.shape[0], X.shape[1] + 1))
    np.subtract(X, mean, out=Xa[:, :-1])
    Xa[:, :-1] /= scale
    Xa[:, -1] = 1.0
    return Xa, mean, scale


def rows_to_original(W, mean, scale):
    """Rows ``[coef, intercept]`` acting on standardised x -> (coef, intercept) on raw x."""
    coef = W[..., :-1] / scale
    intercept = W[..., -1] - coef @ mean
    return coef, intercept


def rows_to_internal(coef, intercept, mean, scale):
    """Inverse of :func:`rows_to_original`."""
    return np.concatenate([coef * scale, (intercept + coef @ mean)[..., None]], axis=-1)


def store_init_params(estimator, params):
    """Store ``__init__``'s arguments unchanged, as scikit-learn requires."""
    for name, value in params.items():
        if name != "self":
            setattr(estimator, name, value)


def with_ones(X):
    """``[X, 1]`` as float64."""
    Xa = np.empty((X.shape[0], X.shape[1] + 1))
    Xa[:, :-1] = X
    Xa[:, -1] = 1.0
    return Xa


_EM_CONSTRAINTS = {
    "gate": [StrOptions({"softmax"})],
    "gate_alpha": [Interval(Real, 0, None, closed="left")],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "init_params": [StrOptions({"kmeans", "random"})],
    "random_state": ["random_state"],
    "warm_start": ["boolean"],
    "verbose": ["verbose"],
    "verbose_interval": [Interval(Integral, 1, None, closed="left")],
}
FLAT_CONSTRAINTS = {"n_experts": [Interval(Integral, 1, None, closed="left")], **_EM_CONSTRAINTS}
TREE_CONSTRAINTS = {
    "depth": [Interval(Integral, 1, None, closed="left")],
    "branching": [Interval(Integral, 2, None, closed="left")],
    **_EM_CONSTRAINTS,
}


class BaseMixtureOfExperts(BaseEstimator, metaclass=ABCMeta):
    """EM template for (hierarchical) mixtures of experts. Not for direct use."""

    # -- what subclasses provide ------------------------------------------
    @abstractmethod
    def _make_experts(self):
        """The expert family (an object with the experts' interface)."""

    @abstractmethod
    def _validate_xy(self, X, y):
        """``validate_data`` for fit; returns X, y."""

    @abstractmethod
    def _prepare_target(self, y, sw):
        """Internal target, its coordinate info, n_outputs and k-means features."""

    @abstractmethod
    def _target_at_predict(self, y, n_samples):
        """Validated target in original coordinates, for responsibilities/log-likelihood."""

    @abstractmethod
    def _expert_attributes(self, expert_params, x_mean, x_scale, info):
        """Fitted expert attributes (original units) from internal parameters."""

    @abstractmethod
    def _expert_params(self, x_mean=None, x_scale=None, info=None):
        """Internal expert parameters from the fitted attributes.

        With no coordinates, in original units (for prediction)."""

    def _loglik_shift(self, info):
        """Constant turning internal log-likelihoods into original units."""
        return 0.0

    # -- the tree ---------------------------------------------------------
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
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; the log-likelihood is weighted by them.

        Returns
        -------
        self
        """
        snapshot = dict(self.__dict__)
        try:
            # numba's threads do the row-parallel work; BLAS threads, which
            # spin after each call, would compete with them for the cores
            with threadpool_limits(limits=1, user_api="blas"):
                return self._fit(X, y, sample_weight)
        except BaseException:
            # a failed or interrupted fit leaves the estimator as it was
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            raise

    def _fit(self, X, y, sample_weight):
        self._validate_params()
        was_fitted = hasattr(self, "converged_")
        old_n_features = getattr(self, "n_features_in_", None)
        X, y = self._validate_xy(X, y)
        tree = self._tree()
        n_samples = X.shape[0]
        if n_samples < tree.n_leaves:
            raise ValueError(
                f"n_samples={n_samples} should be >= n_experts={tree.n_leaves}."
            )
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if not sw.sum() > 0:
            raise ValueError("sample_weight must have a positive sum.")
        warm = self.warm_start and was_fitted
        if warm and old_n_features != X.shape[1]:
            raise ValueError(
                f"warm_start=True but X has {X.shape[1]} features and the fitted model "
                f"{old_n_features}; refit with warm_start=False."
            )

        Xa, x_mean, x_scale = standardize_design(X, sw)
        target, info, n_outputs, kmeans_features = self._prepare_target(y, sw)
        engine = EMEngine(tree, self._make_experts(), self.gate_alpha)
        rs = check_random_state(self.random_state)

        best = None
        for init in range(1 if warm else self.n_init):
            if self.verbose:
                print(f"Initialization {init}")
            if warm:
                params = {
                    "gate": rows_to_internal(
                        self.gate_coef_.reshape(-1, X.shape[1]),
                        self.gate_intercept_.reshape(-1),
                        x_mean,
                        x_scale,
                    ),
                    "experts": self._expert_params(x_mean, x_scale, info),
                }
            else:
                leaf_post = self._initial_posteriors(
                    engine, Xa, target, kmeans_features, sw, n_outputs, rs
                )
                params = engine.init_from_posteriors(leaf_post, Xa, target, sw, n_outputs)
            params, bounds, converged, n_iter, _, _ = engine.run(
                params, Xa, target, sw, self.max_iter, self.tol, self.verbose,
                self.verbose_interval,
            )
            if best is None or bounds[-1] > best[1][-1]:
                best = (params, bounds, converged, n_iter, sorted(engine.frozen_leaves))
        params, bounds, converged, n_iter, frozen = best
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

        shift = self._loglik_shift(info)
        gate_coef, gate_intercept = rows_to_original(params["gate"], x_mean, x_scale)
        b = tree.branching
        if self._is_flat:
            self.gate_coef_, self.gate_intercept_ = gate_coef, gate_intercept
        else:
            self.gate_coef_ = gate_coef.reshape(tree.n_inner, b, -1)
            self.gate_intercept_ = gate_intercept.reshape(tree.n_inner, b)
        for name, value in self._expert_attributes(params["experts"], x_mean, x_scale, info).items():
            setattr(self, name, value)
        self.lower_bounds_ = np.asarray(bounds) + shift
        self.lower_bound_ = float(self.lower_bounds_[-1])
        self.converged_ = bool(converged)
        self.n_iter_ = int(n_iter)
        return self

    def _initial_posteriors(self, engine, Xa, target, kmeans_features, sw, n_outputs, rs):
        tree = engine.tree
        if self.init_params == "random":
            return random_responsibilities(Xa.shape[0], tree.n_leaves, rs)
        F = np.hstack([Xa[:, :-1], kmeans_features])
        resp = hard_responsibilities(kmeans_labels(F, sw, tree.n_leaves, rs), tree.n_leaves)
        if tree.depth == 1:
            return resp
        # a tree starts from a flat mixture with one expert per leaf (see _init.py)
        flat = EMEngine(Tree(1, tree.n_leaves), engine.experts, self.gate_alpha)
        params = flat.init_from_posteriors(resp, Xa, target, sw, n_outputs)
        leaf_post = flat.run(params, Xa, target, sw, self.max_iter, self.tol)[4]
        order = arrange_leaves(leaf_post, Xa, sw, tree.depth, tree.branching, self.gate_alpha)
        return leaf_post[:, order]

    # -- prediction helpers -----------------------------------------------
    def _design(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return with_ones(X)

    def _gate_rows(self):
        """Gate parameters in original units, ``(n_inner * branching, d + 1)``."""
        coef = self.gate_coef_.reshape(-1, self.n_features_in_)
        return np.hstack([coef, self.gate_intercept_.reshape(-1, 1)])

    def _engine(self):
        return EMEngine(self._tree(), self._make_experts(), self.gate_alpha)

    def _log_gate(self, Xa):
        """Log gate probabilities of every inner node, ``(n, n_inner * branching)``."""
        logits = Xa @ self._gate_rows().T
        out = np.empty_like(logits)
        log_softmax_groups(logits, self._tree().branching, out)
        return out

    def _gate_probs(self, Xa):
        """Leaf path probabilities ``(n, n_leaves)`` for a design with ones."""
        tree = self._tree()
        n = Xa.shape[0]
        gates = np.empty((n, tree.n_leaves))
        # with all expert log-densities 0 the posterior is the prior: the path product
        tree_posteriors(
            Xa @ self._gate_rows().T, np.zeros((n, tree.n_leaves)), tree.branching, gates,
            np.empty(n),
        )
        return gates

    def predict_gate(self, X):
        """Gate probability of each leaf expert (path products for a tree).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_experts)
            Rows sum to 1.
        """
        return self._gate_probs(self._design(X))

    def predict_node_gates(self, X):
        """Each inner node's gate probabilities over its children.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_inner_nodes, branching)
            Inner nodes in breadth-first order (a flat mixture has one, the root).
        """
        Xa = self._design(X)
        tree = self._tree()
        return np.exp(self._log_gate(Xa)).reshape(Xa.shape[0], tree.n_inner, tree.branching)

    def _posteriors(self, X, y):
        Xa = self._design(X)
        target = self._target_at_predict(y, Xa.shape[0])
        params = {"gate": self._gate_rows(), "experts": self._expert_params()}
        return self._engine().e_step(params, Xa, target)

    def responsibilities(self, X, y):
        """Posterior probability of each expert given ``(x, y)``.

        Returns
        -------
        ndarray of shape (n_samples, n_experts)
            Rows sum to 1.
        """
        return self._posteriors(X, y)[0]

    def log_likelihood(self, X, y):
        """``log p(y_i | x_i)`` of each sample under the fitted model.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._posteriors(X, y)[1]

    def _n_parameters(self):
        tree = self._tree()
        gate = tree.n_inner * (tree.branching - 1) * (self.n_features_in_ + 1)
        return gate + self._make_experts().n_free_params(self._expert_params())

    def bic(self, X, y):
        """Bayesian information criterion on ``(X, y)``; lower is better.

        Returns
        -------
        float
        """
        ll = self.log_likelihood(X, y)
        return float(-2.0 * ll.sum() + self._n_parameters() * np.log(ll.shape[0]))

    def aic(self, X, y):
        """Akaike information criterion on ``(X, y)``; lower is better.

        Returns
        -------
        float
        """
        return float(-2.0 * self.log_likelihood(X, y).sum() + 2.0 * self._n_parameters())
