"""Mixture-of-experts classifiers: flat and hierarchical, multinomial-logistic experts."""

import numpy as np
from scipy.special import logsumexp
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_consistent_length, validate_data

from ._base import (
    FLAT_CONSTRAINTS,
    TREE_CONSTRAINTS,
    BaseMixtureOfExperts,
    rows_to_internal,
    store_init_params,
    rows_to_original,
)
from ._kernels import log_softmax_groups
from .experts.multinomial import MultinomialExperts
from .regression import _EM_DOC

_CLF_EM_DOC = _EM_DOC.replace(
    """    alpha : float, default=1e-6
        Ridge penalty on the expert coefficients (not intercepts), in units of
        standardised features and targets (a conjugate prior ``alpha / (2 var)``).""",
    """    alpha : float, default=1e-4
        L2 penalty on the experts' coefficients (not intercepts), in units of
        standardised features; keeps separable problems finite.""",
).replace(
    """    reg_variance : float, default=1e-6
        Lower bound on every expert's noise variance, relative to the variance
        of each target (like ``reg_covar`` of ``GaussianMixture``, but scale free).
""",
    "",
)

_CLF_ATTR_DOC = """
    classes_ : ndarray of shape (n_classes,)
    expert_coef_ : ndarray of shape (n_experts, n_classes, n_features)
    expert_intercept_ : ndarray of shape (n_experts, n_classes)
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


class _BaseClassifier(ClassifierMixin, BaseMixtureOfExperts):
    """Multinomial-logistic experts."""

    _expert_steps = 5

    def _make_experts(self):
        return MultinomialExperts(self.alpha, self._expert_steps)

    def _validate_xy(self, X, y):
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        if np.unique(y).shape[0] < 2:
            raise ValueError(
                "Classifier can't train when only one class is present: "
                f"y has 1 class ({np.unique(y)[0]!r})."
            )
        return X, y

    def _prepare_target(self, y, sw):
        classes, y_index = np.unique(y, return_inverse=True)
        y_index = y_index.astype(np.int64)
        onehot = np.zeros((y.shape[0], classes.shape[0]))
        onehot[np.arange(y.shape[0]), y_index] = 1.0
        info = {"classes": classes}
        # k-means sees X only: clusters split by label would start EM at a fixed
        # point where each expert predicts a single class and the gate does all the work
        return (y_index, onehot), info, classes.shape[0], np.empty((y.shape[0], 0))

    def _expert_attributes(self, params, x_mean, x_scale, info):
        coef, intercept = rows_to_original(params["coef"], x_mean, x_scale)
        return {"expert_coef_": coef, "expert_intercept_": intercept, "classes_": info["classes"]}

    def _expert_params(self, x_mean=None, x_scale=None, info=None):
        if x_mean is None:
            coef = np.concatenate([self.expert_coef_, self.expert_intercept_[..., None]], axis=-1)
            return {"coef": coef}
        return {"coef": rows_to_internal(self.expert_coef_, self.expert_intercept_, x_mean, x_scale)}

    def _target_at_predict(self, y, n_samples):
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        if y.ndim != 1:
            raise ValueError(f"y should be a 1d array, got an array of shape {y.shape} instead.")
        check_consistent_length(y, np.empty(n_samples))
        y_index = np.searchsorted(self.classes_, y)
        y_index = np.minimum(y_index, self.classes_.shape[0] - 1)
        unknown = self.classes_[y_index] != y
        if np.any(unknown):
            raise ValueError(f"y contains labels not seen in fit: {np.unique(y[unknown])!r}.")
        y_index = y_index.astype(np.int64)
        onehot = np.zeros((n_samples, self.classes_.shape[0]))
        onehot[np.arange(n_samples), y_index] = 1.0
        return y_index, onehot

    def _expert_log_proba(self, Xa):
        """Each expert's class log-probabilities, ``(n, n_experts, n_classes)``."""
        logits = self._make_experts().logits(Xa, self._expert_params())
        out = np.empty_like(logits)
        log_softmax_groups(logits, self.classes_.shape[0], out)
        return out.reshape(Xa.shape[0], -1, self.classes_.shape[0])

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed in log space.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        Xa = self._design(X)
        with np.errstate(divide="ignore"):
            log_gate = np.log(self._gate_probs(Xa))
        return logsumexp(log_gate[:, :, None] + self._expert_log_proba(Xa), axis=1)

    def predict_proba(self, X):
        """Class probabilities of the mixture, ``sum_k g_k(x) p_k(c | x)``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to 1; columns follow ``classes_``.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """Most probable class under the mixture.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        log_proba = self.predict_log_proba(X)
        return self.classes_[np.argmax(log_proba, axis=1)]

    def predict_experts(self, X):
        """Each expert's own class probabilities.

        Returns
        -------
        ndarray of shape (n_samples, n_experts, n_classes)
        """
        return np.exp(self._expert_log_proba(self._design(X)))


class MixtureOfExpertsClassifier(_BaseClassifier):
    __doc__ = (
        """Mixture of multinomial-logistic experts with a softmax gate, fitted by EM.

    ``p(y = c | x) = sum_k g_k(x) softmax_c(W_k x + w_k)`` with
    ``g(x) = softmax(V x + c)``.

    Parameters
    ----------
    n_experts : int, default=3
        Number of experts."""
        + _CLF_EM_DOC
        + """
    Attributes
    ----------
    gate_coef_ : ndarray of shape (n_experts, n_features)
    gate_intercept_ : ndarray of shape (n_experts,)"""
        + _CLF_ATTR_DOC
        + """
    Examples
    --------
    >>> from mixexp import MixtureOfExpertsClassifier
    >>> from mixexp.datasets import make_moe_classification
    >>> X, y = make_moe_classification(n_samples=500, n_experts=2, random_state=0)
    >>> clf = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """
    )

    _parameter_constraints = dict(FLAT_CONSTRAINTS)

    def __init__(
        self,
        n_experts=3,
        *,
        gate="softmax",
        gate_alpha=1e-3,
        alpha=1e-4,
        max_iter=100,
        tol=1e-4,
        n_init=1,
        init_params="kmeans",
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        store_init_params(self, locals())


class HierarchicalMixtureOfExpertsClassifier(_BaseClassifier):
    __doc__ = (
        """Hierarchical mixture of multinomial-logistic experts, fitted by EM.

    A balanced tree of ``depth`` levels with ``branching`` children per inner
    node, a softmax gate at every inner node and ``branching ** depth``
    multinomial-logistic experts at the leaves (Jordan & Jacobs 1994).

    Parameters
    ----------
    depth : int, default=2
    branching : int, default=2"""
        + _CLF_EM_DOC
        + """
    Attributes
    ----------
    gate_coef_ : ndarray of shape (n_inner_nodes, branching, n_features)
        Inner nodes in breadth-first order.
    gate_intercept_ : ndarray of shape (n_inner_nodes, branching)"""
        + _CLF_ATTR_DOC
        + """
    Examples
    --------
    >>> from mixexp import HierarchicalMixtureOfExpertsClassifier
    >>> from mixexp.datasets import make_moe_classification
    >>> X, y = make_moe_classification(n_samples=500, random_state=0)
    >>> clf = HierarchicalMixtureOfExpertsClassifier(depth=2, random_state=0).fit(X, y)
    >>> clf.predict_gate(X[:2]).shape
    (2, 4)
    """
    )

    _parameter_constraints = dict(TREE_CONSTRAINTS)

    def __init__(
        self,
        depth=2,
        branching=2,
        *,
        gate="softmax",
        gate_alpha=1e-3,
        alpha=1e-4,
        max_iter=100,
        tol=1e-4,
        n_init=1,
        init_params="kmeans",
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        store_init_params(self, locals())
