"""Quadratic terms of the few features that matter: the screened-quadratic experts' inputs."""

from itertools import combinations_with_replacement
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, check_X_y, validate_data


class ScreenedQuadraticFeatures(TransformerMixin, BaseEstimator):
    """``[X, x_i x_j for i <= j among the screened features]``.

    A ridge (regression) or an L2-penalised multinomial logistic model
    (classification) is fitted to ``(X, y)`` with every column standardised;
    the ``n_screened`` features with the largest coefficients in magnitude
    (the Euclidean norm over targets or classes) are kept, and the output
    appends their squares and pairwise products to X.  The screening uses the
    rows ``fit`` sees only, so inside a pipeline a cross-validation fold's
    validation rows never choose the features.

    With ``n_screened >= n_features`` the output equals
    :class:`~sklearn.preprocessing.PolynomialFeatures` ``(2, include_bias=False)``,
    column for column.  The quadratic terms are products of the columns as given
    (standardise them before, as ``mixexp compare``'s pipelines do).

    Parameters
    ----------
    n_screened : int, default=8
        Number of features whose squares and pairwise products are appended
        (``n_screened * (n_screened + 1) / 2`` columns); at most ``n_features``
        are used.
    task : {"regression", "classification"}, default="regression"
        The screening model: :class:`~sklearn.linear_model.Ridge` for a
        continuous y (1-D or 2-D), :class:`~sklearn.linear_model.LogisticRegression`
        for class labels.
    alpha : float, default=1.0
        L2 penalty of the screening model on the standardised features (the
        ridge's ``alpha``; the logistic model's ``C`` is ``1 / alpha``).

    Attributes
    ----------
    screened_features_ : ndarray of shape (n_screened_,)
        Indices of the screened features, in increasing order.
    importances_ : ndarray of shape (n_features_in_,)
        Coefficient magnitude of each standardised feature in the screening model.
    n_screened_ : int
        ``min(n_screened, n_features_in_)``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during ``fit``, when X has string column names.
    n_output_features_ : int
        ``n_features_in_ + n_screened_ * (n_screened_ + 1) / 2``.

    See Also
    --------
    sklearn.preprocessing.PolynomialFeatures : every quadratic term.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp.compare.quadratic import ScreenedQuadraticFeatures
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 30))
    >>> y = 3 * X[:, 4] - 2 * X[:, 17] + 0.1 * rng.normal(size=200)
    >>> screen = ScreenedQuadraticFeatures(n_screened=2).fit(X, y)
    >>> screen.screened_features_
    array([ 4, 17])
    >>> screen.transform(X).shape  # 30 columns, then x4², x4·x17, x17²
    (200, 33)
    >>> screen.get_feature_names_out()[-3:].tolist()
    ['x4^2', 'x4 x17', 'x17^2']
    """

    _parameter_constraints = {
        "n_screened": [Interval(Integral, 1, None, closed="left")],
        "task": [StrOptions({"regression", "classification"})],
        "alpha": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, n_screened=8, *, task="regression", alpha=1.0):
        self.n_screened = n_screened
        self.task = task
        self.alpha = alpha

    def fit(self, X, y):
        """Screen the features on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Continuous targets (``task="regression"``) or class labels
            (``task="classification"``, 1-D, at least two classes).

        Returns
        -------
        self : ScreenedQuadraticFeatures
            The fitted transformer.
        """
        self._validate_params()
        reg = self.task == "regression"
        X_given = X
        # validated without validate_data's bookkeeping, recorded only once the fit has succeeded
        X, y = check_X_y(X, y, dtype=np.float64, multi_output=reg, y_numeric=reg)
        if not reg and np.unique(y).size < 2:
            raise ValueError("task='classification' needs at least 2 classes in y; got 1 class")
        scale = X.std(axis=0)
        # constant columns carry no signal: zero importance instead of a division by 0
        Z = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
        if reg:
            coef = Ridge(alpha=self.alpha).fit(Z, y).coef_
        else:
            coef = LogisticRegression(C=1.0 / self.alpha, max_iter=1000).fit(Z, y).coef_
        importances = np.linalg.norm(np.atleast_2d(coef), axis=0)
        n_screened = min(self.n_screened, X.shape[1])
        # stable sort: ties go to the earlier column, so the choice is deterministic
        top = np.argsort(-importances, kind="stable")[:n_screened]
        validate_data(self, X_given, skip_check_array=True)
        self.importances_ = importances
        self.screened_features_ = np.sort(top)
        self.n_screened_ = n_screened
        self.n_output_features_ = X.shape[1] + n_screened * (n_screened + 1) // 2
        return self

    def _pairs(self):
        return np.array(list(combinations_with_replacement(self.screened_features_, 2)))

    def transform(self, X):
        """``[X, products of the screened features in pairs]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_output_features_)
            X (as float64), then ``x_i x_j`` for every pair ``i <= j`` of
            screened features, in :class:`~sklearn.preprocessing.PolynomialFeatures`'
            order.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        pairs = self._pairs()
        return np.hstack([X, X[:, pairs[:, 0]] * X[:, pairs[:, 1]]])

    def get_feature_names_out(self, input_features=None):
        """Output feature names: the inputs', then ``"a^2"`` and ``"a b"`` for the products.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Input names; by default ``feature_names_in_`` or ``x0, x1, ...``.

        Returns
        -------
        ndarray of str, shape (n_output_features_,)
            The output columns' names.
        """
        check_is_fitted(self)
        names = _check_feature_names_in(self, input_features)
        products = [f"{names[i]}^2" if i == j else f"{names[i]} {names[j]}" for i, j in self._pairs()]
        return np.asarray(list(names) + products, dtype=object)
