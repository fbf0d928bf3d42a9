"""Mixture-of-experts regressors: flat and hierarchical, linear-Gaussian experts."""

from numbers import Real

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_array, check_consistent_length, validate_data

from ._base import (
    FLAT_CONSTRAINTS,
    TREE_CONSTRAINTS,
    BaseMixtureOfExperts,
    rows_to_internal,
    store_init_params,
    rows_to_original,
)
from .experts.gaussian import GaussianExperts

_REG_VARIANCE = {"reg_variance": [Interval(Real, 0, None, closed="neither")]}


class _BaseRegressor(RegressorMixin, BaseMixtureOfExperts):
    """Gaussian experts, targets standardised internally."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _make_experts(self):
        return GaussianExperts(self.alpha, self.reg_variance)

    def _validate_xy(self, X, y):
        return validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=[np.float64, np.float32]
        )

    def _prepare_target(self, y, sw):
        Y = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
        mean = np.average(Y, axis=0, weights=sw)
        scale = np.sqrt(np.average((Y - mean) ** 2, axis=0, weights=sw))
        scale[scale <= 1e-12 * np.maximum(np.abs(mean), 1e-300)] = 1.0
        Ys = (Y - mean) / scale
        info = {"mean": mean, "scale": scale, "ndim": y.ndim}
        return Ys, info, Y.shape[1], Ys

    def _loglik_shift(self, info):
        return -float(np.sum(np.log(info["scale"])))

    def _expert_attributes(self, params, x_mean, x_scale, info):
        ym, ys = info["mean"], info["scale"]
        coef, intercept = rows_to_original(params["coef"], x_mean, x_scale)
        return {
            "expert_coef_": coef * ys[None, :, None],
            "expert_intercept_": intercept * ys + ym,
            "noise_variance_": params["var"] * ys**2,
            "_y_ndim": info["ndim"],
        }

    def _expert_params(self, x_mean=None, x_scale=None, info=None):
        if x_mean is None:
            coef = np.concatenate([self.expert_coef_, self.expert_intercept_[..., None]], axis=-1)
            return {"coef": coef, "var": self.noise_variance_}
        ym, ys = info["mean"], info["scale"]
        coef = rows_to_internal(
            self.expert_coef_ / ys[None, :, None],
            (self.expert_intercept_ - ym) / ys,
            x_mean,
            x_scale,
        )
        return {"coef": coef, "var": self.noise_variance_ / ys**2}

    def _target_at_predict(self, y, n_samples):
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        Y = y.reshape(y.shape[0], -1)
        check_consistent_length(Y, np.empty(n_samples))
        if Y.shape[1] != self.noise_variance_.shape[1]:
            raise ValueError(
                f"y has {Y.shape[1]} targets, but the model was fitted with "
                f"{self.noise_variance_.shape[1]}."
            )
        return Y

    def _expert_means(self, Xa):
        """Each expert's mean, ``(n, n_experts, n_targets)``."""
        params = self._expert_params()
        n_leaves, n_targets = self.noise_variance_.shape
        return self._make_experts().means(Xa, params).reshape(-1, n_leaves, n_targets)

    def _squeeze(self, a):
        return a[..., 0] if self._y_ndim == 1 else a

    def predict(self, X, return_std=False):
        """Predictive mean of the mixture, optionally with its standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the standard deviation of the predictive mixture
            ``sum_k g_k(x) N(mu_k(x), var_k)``.

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
        y_std : ndarray of the same shape, only when ``return_std`` is True.
        """
        Xa = self._design(X)
        gates = self._gate_probs(Xa)
        means = self._expert_means(Xa)
        mean = np.einsum("nk,nkt->nt", gates, means)
        if not return_std:
            return self._squeeze(mean)
        second = np.einsum("nk,nkt->nt", gates, means**2) + gates @ self.noise_variance_
        std = np.sqrt(np.maximum(second - mean**2, 0.0))
        return self._squeeze(mean), self._squeeze(std)

    def predict_experts(self, X):
        """Each expert's own prediction (its mean).

        Returns
        -------
        ndarray of shape (n_samples, n_experts) or (n_samples, n_experts, n_targets)
        """
        return self._squeeze(self._expert_means(self._design(X)))

    def sample_y(self, X, n_samples=1, random_state=None):
        """Draw samples from the predictive mixture at ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        ndarray of shape (n_samples_X, n_samples) or (n_samples_X, n_targets, n_samples)
        """
        rs = check_random_state(random_state)
        Xa = self._design(X)
        gates = self._gate_probs(Xa)
        means = self._expert_means(Xa)
        n, n_leaves, n_targets = means.shape
        cum = np.cumsum(gates, axis=1)
        u = rs.uniform(size=(n, n_samples)) * cum[:, -1:]
        leaf = np.minimum((u[:, :, None] > cum[:, None, :]).sum(axis=2), n_leaves - 1)
        mu = np.take_along_axis(means, leaf[:, :, None], axis=1)  # (n, n_samples, T)
        sd = np.sqrt(self.noise_variance_)[leaf]  # (n, n_samples, T)
        draws = mu + sd * rs.standard_normal(size=mu.shape)
        draws = np.transpose(draws, (0, 2, 1))  # (n, T, n_samples)
        return draws[:, 0, :] if self._y_ndim == 1 else draws


_EM_DOC = """
    gate : {"softmax"}, default="softmax"
        Gating network: a softmax of linear functions of ``x``.
    gate_alpha : float, default=1e-3
        L2 penalty on the gate coefficients (not intercepts), in units of
        standardised features.
    alpha : float, default=1e-6
        Ridge penalty on the expert coefficients (not intercepts), in units of
        standardised features and targets (a conjugate prior ``alpha / (2 var)``).
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    tol : float, default=1e-4
        EM stops when the gain in mean per-sample penalised log-likelihood is
        below ``tol``.
    n_init : int, default=1
        Number of initialisations; the best final log-likelihood is kept.
    init_params : {"kmeans", "random"}, default="kmeans"
        ``"kmeans"``: k-means on standardised ``[X, y]`` (applied recursively
        down the tree) gives hard initial responsibilities; ``"random"``:
        random responsibilities.
    reg_variance : float, default=1e-6
        Lower bound on every expert's noise variance, relative to the variance
        of each target (like ``reg_covar`` of ``GaussianMixture``, but scale free).
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Start the next ``fit`` from the current solution (``n_init`` ignored).
    verbose : int, default=0
        1 prints each initialisation's result, 2 also every ``verbose_interval``
        iterations.
    verbose_interval : int, default=10
"""

_ATTR_DOC = """
    expert_coef_ : ndarray of shape (n_experts, n_targets, n_features)
    expert_intercept_ : ndarray of shape (n_experts, n_targets)
    noise_variance_ : ndarray of shape (n_experts, n_targets)
        Each expert's Gaussian noise variance.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean per-sample penalised log-likelihood of the best initialisation.
    lower_bounds_ : ndarray of shape (n_iter_,)
        Its value after each EM iteration (never decreasing).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` has string column names.
"""


class MixtureOfExpertsRegressor(_BaseRegressor):
    __doc__ = (
        """Mixture of linear-Gaussian experts with a softmax gate, fitted by EM.

    ``p(y | x) = sum_k g_k(x) N(y | B_k x + b_k, diag(var_k))`` with
    ``g(x) = softmax(V x + c)`` (Jacobs, Jordan, Nowlan & Hinton 1991).

    Parameters
    ----------
    n_experts : int, default=3
        Number of experts."""
        + _EM_DOC
        + """
    Attributes
    ----------
    gate_coef_ : ndarray of shape (n_experts, n_features)
    gate_intercept_ : ndarray of shape (n_experts,)"""
        + _ATTR_DOC
        + """
    Examples
    --------
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> X, y = make_moe_regression(n_samples=500, n_experts=2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> model.predict(X[:2]).shape
    (2,)
    """
    )

    _parameter_constraints = {**FLAT_CONSTRAINTS, **_REG_VARIANCE}

    def __init__(
        self,
        n_experts=3,
        *,
        gate="softmax",
        gate_alpha=1e-3,
        alpha=1e-6,
        max_iter=100,
        tol=1e-4,
        n_init=1,
        init_params="kmeans",
        reg_variance=1e-6,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        store_init_params(self, locals())


class HierarchicalMixtureOfExpertsRegressor(_BaseRegressor):
    __doc__ = (
        """Hierarchical mixture of linear-Gaussian experts, fitted by EM.

    A balanced tree of ``depth`` levels with ``branching`` children per inner
    node; every inner node has a softmax gate and the ``branching ** depth``
    leaves are linear-Gaussian experts (Jordan & Jacobs 1994).

    Parameters
    ----------
    depth : int, default=2
    branching : int, default=2"""
        + _EM_DOC
        + """
    Attributes
    ----------
    gate_coef_ : ndarray of shape (n_inner_nodes, branching, n_features)
        Inner nodes in breadth-first order.
    gate_intercept_ : ndarray of shape (n_inner_nodes, branching)"""
        + _ATTR_DOC
        + """
    Examples
    --------
    >>> from mixexp import HierarchicalMixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_hme_regression
    >>> X, y = make_hme_regression(n_samples=500, random_state=0)
    >>> model = HierarchicalMixtureOfExpertsRegressor(depth=2, random_state=0).fit(X, y)
    >>> model.predict_gate(X[:2]).shape
    (2, 4)
    """
    )

    _parameter_constraints = {**TREE_CONSTRAINTS, **_REG_VARIANCE}

    def __init__(
        self,
        depth=2,
        branching=2,
        *,
        gate="softmax",
        gate_alpha=1e-3,
        alpha=1e-6,
        max_iter=100,
        tol=1e-4,
        n_init=1,
        init_params="kmeans",
        reg_variance=1e-6,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        store_init_params(self, locals())
