"""A two-layer patch CNN classifier in numpy: the expert of Chen et al. (2022).

The input is ``n_patches`` patches ``x_p`` of equal size (consecutive columns
of ``X``).  Class ``c`` has ``n_filters`` filters ``(w_cj, b_cj)`` shared by all
patches, and its logit is

    f_c(x) = sum_j sum_p sigma(w_cj . x_p + b_cj)

with ``sigma(z) = z^3`` (``activation="cubic"``, theirs) or ``sigma(z) = z``
(``"linear"``: then ``f_c`` is a linear function of the patch sum).  It is a
1-d convolution with stride = kernel = patch size, summed over positions: the
output does not depend on the order of the patches.  The weighted
cross-entropy plus ``alpha / 2 |w|^2`` is minimised by L-BFGS from a random
start (the cubic network is not convex; Chen et al. train it by normalised
gradient descent).  Rows whose weight is below ``1e-8`` of the largest are
skipped: inside a mixture of experts most rows carry almost no posterior
weight for a given expert, and they change the fit by less than that.
"""

import numbers

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

_SKIP = 1e-8  # rows with less than this fraction of the largest weight are left out


class PatchCNNClassifier(ClassifierMixin, BaseEstimator):
    """Two-layer patch CNN with shared filters per class (Chen et al. 2022).

    Parameters
    ----------
    n_patches : int, default=4
        Number of patches; ``n_features`` must be a multiple of it.
    n_filters : int, default=8
        Filters per class (their ``out_channel``).
    activation : {"cubic", "linear"}, default="cubic"
        The filters' activation.
    alpha : float, default=1e-4
        L2 penalty on the filters (not the biases).
    max_iter : int, default=200
        L-BFGS iterations.
    init_scale : float, default=1.0
        Standard deviation of the initial filters times ``sqrt(patch_dim)``.
    warm_start : bool, default=False
        Start the next ``fit`` from the current filters (used inside EM,
        where each M-step continues the last one).
    random_state : int, RandomState instance or None, default=None
        Seed of the initial filters.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_classes, n_filters, patch_dim)
        Filters.
    intercept_ : ndarray of shape (n_classes, n_filters)
        Biases.
    n_iter_ : int
        L-BFGS iterations of the last fit.

    Examples
    --------
    >>> from mixexp.datasets import make_cluster_patches
    >>> from mixexp.experts.patch_cnn import PatchCNNClassifier
    >>> X, y = make_cluster_patches(n_samples=400, random_state=0)
    >>> clf = PatchCNNClassifier(n_filters=4, max_iter=50, random_state=0).fit(X / 10, y)
    >>> clf.predict_proba(X[:2] / 10).shape
    (2, 2)
    """

    _parameter_constraints = {
        "n_patches": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_filters": [Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions({"cubic", "linear"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "init_scale": [Interval(numbers.Real, 0, None, closed="neither")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, n_patches=4, n_filters=8, activation="cubic", alpha=1e-4, max_iter=200,
                 init_scale=1.0, warm_start=False, random_state=None):
        self.n_patches = n_patches
        self.n_filters = n_filters
        self.activation = activation
        self.alpha = alpha
        self.max_iter = max_iter
        self.init_scale = init_scale
        self.warm_start = warm_start
        self.random_state = random_state

    # -- the network ------------------------------------------------------------
    def _patches(self, X):
        n, m = X.shape
        if m % self.n_patches:
            raise ValueError(f"X has {m} features, not a multiple of n_patches={self.n_patches}.")
        return X.reshape(n * self.n_patches, m // self.n_patches)

    def _forward(self, Xp, W, b, n):
        """Pre-activations ``(n, P, C*J)`` and the logits ``(n, C)``."""
        C, J, _ = W.shape
        A = (Xp @ W.reshape(C * J, -1).T + b.ravel()).reshape(n, self.n_patches, C * J)
        H = A * A * A if self.activation == "cubic" else A  # (A**3 is ten times slower)
        return A, H.sum(axis=1).reshape(n, C, J).sum(axis=2)

    def _loss_grad(self, theta, Xp, onehot, w, shape):
        C, J, d = shape
        n = onehot.shape[0]
        W = theta[: C * J * d].reshape(shape)
        b = theta[C * J * d :].reshape(C, J)
        A, logits = self._forward(Xp, W, b, n)
        logp = log_softmax(logits, axis=1)
        loss = -np.sum(w * np.sum(onehot * logp, axis=1)) + 0.5 * self.alpha * np.sum(W**2)
        delta = w[:, None] * (np.exp(logp) - onehot)  # d loss / d logits
        dA = 3.0 * A * A if self.activation == "cubic" else np.ones_like(A)
        dA *= np.repeat(delta, J, axis=1)[:, None, :]
        dA = dA.reshape(n * self.n_patches, C * J)
        gW = (dA.T @ Xp).reshape(shape) + self.alpha * W
        gb = dA.sum(axis=0)
        return loss, np.concatenate([gW.ravel(), gb])

    def fit(self, X, y, sample_weight=None):
        """Fit the filters by L-BFGS on the weighted cross-entropy.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_patches * patch_dim)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : PatchCNNClassifier
        """
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        classes, index = np.unique(y, return_inverse=True)
        d = self._patches(X[:1]).shape[1]
        C, J = classes.shape[0], self.n_filters
        shape = (C, J, d)
        if not sw.sum() > 0:
            raise ValueError("sample_weight must have a positive sum.")
        keep = sw > _SKIP * sw.max()
        w = sw[keep] / sw[keep].sum()
        onehot = np.eye(C)[index[keep]]
        if self.warm_start and getattr(self, "coef_", None) is not None and self.coef_.shape == shape:
            theta = np.concatenate([self.coef_.ravel(), self.intercept_.ravel()])
        else:
            rs = check_random_state(self.random_state)
            theta = np.concatenate([
                rs.standard_normal(C * J * d) * self.init_scale / np.sqrt(d), np.zeros(C * J)
            ])
        result = minimize(
            self._loss_grad, theta, args=(self._patches(X[keep]), onehot, w, shape), jac=True,
            method="L-BFGS-B", options={"maxiter": self.max_iter},
        )
        self.classes_ = classes
        self.coef_ = result.x[: C * J * d].reshape(shape)
        self.intercept_ = result.x[C * J * d :].reshape(C, J)
        self.n_iter_ = int(result.nit)
        return self

    def decision_function(self, X):
        """The logits ``f_c(x)``, ``(n_samples, n_classes)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_patches * patch_dim)

        Returns
        -------
        logits : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._forward(self._patches(X), self.coef_, self.intercept_, X.shape[0])[1]

    def predict_proba(self, X):
        """Class probabilities, the softmax of the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_patches * patch_dim)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return np.exp(log_softmax(self.decision_function(X), axis=1))

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_patches * patch_dim)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def hidden_representation(self, X):
        """Each filter's activation summed over the patches, ``(n_samples, n_classes * n_filters)``.

        What an attention gate uses as this expert's key.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_patches * patch_dim)

        Returns
        -------
        hidden : ndarray of shape (n_samples, n_classes * n_filters)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        A = self._forward(self._patches(X), self.coef_, self.intercept_, X.shape[0])[0]
        return (A * A * A if self.activation == "cubic" else A).sum(axis=1)
