"""Choosing the size of a mixture by an information criterion.

:class:`MixtureOfExpertsIC` fits a mixexp estimator at every size of a grid
(``n_experts``; ``depth``/``branching`` for a tree) and keeps the one with the
lowest BIC, ICL or AIC on the training data, like scikit-learn's
``LassoLarsIC`` chooses ``alpha`` and flexmix's ``stepFlexmix`` chooses ``k``.
ICL (Biernacki, Celeux & Govaert 2000) is BIC plus twice the entropy of the
posterior assignment of the samples to the experts.
"""

import time
import warnings
from copy import deepcopy
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d

from ._init import refit_start

CRITERIA = ("bic", "icl", "aic")
DEFAULT_N_EXPERTS = (1, 2, 3, 4, 5, 6)
DEFAULT_DEPTHS = (1, 2, 3)


def assignment_entropy(resp, sample_weight=None):
    """Entropy ``-sum_i w_i sum_k r_ik log r_ik`` of posterior assignments ``resp`` (n, K)."""
    resp = np.asarray(resp, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(resp > 0, resp * np.log(resp), 0.0).sum(axis=1)
    if sample_weight is not None:
        terms = terms * sample_weight
    return float(-terms.sum())


def information_criteria(estimator, X, y, sample_weight=None, exposure=None):
    """BIC, ICL, AIC, log-likelihood and parameter count of a fitted estimator on ``(X, y)``.

    With sample weights the log-likelihood and the entropy are weighted and
    BIC's ``log n`` becomes ``log sum w``.  The log-likelihood is that of the
    objective EM maximised (with ``gate="gaussian"``: of ``(x, y)``), with the
    rows' ``exposure`` when the model was fitted with one.
    """
    offset = {} if exposure is None else {"exposure": exposure}
    ll = estimator._criterion_log_likelihood(X, y, **offset)
    sw = np.ones_like(ll) if sample_weight is None else sample_weight
    loglik = float(sw @ ll)
    k = estimator._n_parameters()
    bic = -2.0 * loglik + k * np.log(sw.sum())
    entropy = assignment_entropy(estimator.responsibilities(X, y, **offset), sw)
    return {
        "bic": bic, "icl": bic + 2.0 * entropy, "aic": -2.0 * loglik + 2.0 * k,
        "log_likelihood": loglik, "n_parameters": k, "entropy": entropy,
    }


def _fit_one(estimator, params, X, y, sample_weight, exposure):
    """Fit one size of the grid; its criteria, or the error that stopped it."""
    est = clone(estimator).set_params(**params)
    offset = {} if exposure is None else {"exposure": exposure}
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est.fit(X, y, sample_weight=sample_weight, **offset)
        except ValueError as error:  # e.g. fewer samples than experts
            return None, {"error": str(error), "fit_time": time.perf_counter() - start}, []
    row = information_criteria(est, X, y, sample_weight, exposure)
    row.update(converged=est.converged_, n_iter=est.n_iter_, fit_time=time.perf_counter() - start)
    return est, row, [(w.category, str(w.message)) for w in caught]


class MixtureOfExpertsIC(MetaEstimatorMixin, BaseEstimator):
    """A mixture of experts whose size is chosen by BIC, ICL or AIC.

    Fits ``estimator`` at every setting of ``param_grid`` (by default the
    number of experts 1 to 6, or the depth 1 to 3 of a tree) on the
    training data and keeps the fit with the lowest criterion, as
    scikit-learn's ``LassoLarsIC`` chooses its penalty and flexmix's
    ``stepFlexmix`` its number of components.  Prediction and scoring go to
    that fit, so the selector can be the last step of a ``Pipeline``.

    Parameters
    ----------
    estimator : mixexp estimator
        The mixture to size, e.g. ``MixtureOfExpertsRegressor()``; its other
        parameters are kept, but for an array ``init_params`` (a start for one
        number of experts): the settings that do not give ``init_params`` then
        start from ``init_params="short_em"``, with a ``UserWarning``.
    param_grid : dict or list of dicts, default=None
        Settings to try, as ``GridSearchCV``'s ``param_grid`` (e.g.
        ``{"n_experts": [1, 2, 3]}`` or ``{"depth": [1, 2], "branching": [2,
        3]}``).  None: ``n_experts`` 1 to 6 for a flat mixture, ``depth`` 1
        to 3 for a tree.
    criterion : {"bic", "icl", "aic"}, default="bic"
        Lower is better.  ``"bic"``: ``-2 log L + k log n``; ``"icl"``: BIC
        plus twice the entropy of the posterior assignments (prefers
        well-separated experts); ``"aic"``: ``-2 log L + 2 k``.
    n_jobs : int, default=None
        Settings fitted in parallel (joblib; None: 1, -1: all cores).  Each
        worker process runs its fit on ``cores // n_jobs`` threads (joblib's
        loky workers set ``NUMBA_NUM_THREADS`` and the BLAS/OpenMP limits,
        which mixexp follows), so parallel fits do not oversubscribe.
    verbose : int, default=0
        joblib's progress messages.

    Attributes
    ----------
    best_estimator_ : estimator
        The fit with the lowest criterion.
    best_params_ : dict
        Its setting of ``param_grid``.
    best_index_ : int
        Its row in ``criteria_``.
    criteria_ : dict of arrays
        One entry per setting: ``params``, ``param_<name>``, ``bic``,
        ``icl``, ``aic``, ``log_likelihood``, ``n_parameters``,
        ``entropy``, ``converged``, ``n_iter``, ``fit_time`` and ``error``
        (the message of a setting that could not be fitted, else "");
        ``pandas.DataFrame(criteria_)`` makes it a table.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    MixtureOfExpertsRegressor.bic, MixtureOfExpertsRegressor.icl

    Examples
    --------
    >>> from mixexp import MixtureOfExpertsIC, MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> X, y = make_moe_regression(600, n_features=2, n_experts=3, random_state=0)
    >>> selector = MixtureOfExpertsIC(MixtureOfExpertsRegressor(random_state=0),
    ...                               param_grid={"n_experts": [1, 2, 3, 4]}).fit(X, y)
    >>> selector.best_params_
    {'n_experts': 3}
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "log_likelihood", "responsibilities"])],
        "param_grid": [dict, list, None],
        "criterion": [StrOptions(set(CRITERIA))],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(self, estimator, *, param_grid=None, criterion="bic", n_jobs=None, verbose=0):
        self.estimator = estimator
        self.param_grid = param_grid
        self.criterion = criterion
        self.n_jobs = n_jobs
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = deepcopy(inner.classifier_tags)
        tags.regressor_tags = deepcopy(inner.regressor_tags)
        tags.target_tags = deepcopy(inner.target_tags)
        tags.input_tags.sparse = inner.input_tags.sparse
        return tags

    def _grid(self):
        if self.param_grid is not None:
            # imported here: sklearn.model_selection is 60 ms of ``import mixexp`` otherwise
            from sklearn.model_selection import ParameterGrid

            return list(ParameterGrid(self.param_grid))
        names = self.estimator.get_params(deep=False)
        if "n_experts" in names:
            return [{"n_experts": k} for k in DEFAULT_N_EXPERTS]
        if "depth" in names:
            return [{"depth": d} for d in DEFAULT_DEPTHS]
        raise ValueError(
            "param_grid=None needs an estimator with an n_experts or depth parameter; "
            f"got {type(self.estimator).__name__}. Pass param_grid."
        )

    def fit(self, X, y, sample_weight=None, exposure=None):
        """Fit the estimator at every setting and keep the best by ``criterion``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to every fit; the criteria are weighted by it.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures of the log-link families (``expert="poisson"``,
            ``"gamma"``, ``"zip"``, ``"negative_binomial"``; regressors only):
            passed to every fit and to the criteria, which are then those of
            the counts (``bic(X, y, exposure=exposure)``).  With metadata
            routing a Pipeline passes it on after ``set_fit_request(exposure=True)``.

        Returns
        -------
        self : object
        """
        self._validate_params()
        grid = self._grid()
        if not grid:
            raise ValueError("param_grid has no setting to try.")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if is_classifier(self.estimator):
            if exposure is not None:
                raise ValueError("exposure is only accepted with regressors of counts or amounts, not classifiers.")
            y = column_or_1d(y, warn=True)
        start = refit_start(self.estimator, "MixtureOfExpertsIC") if any(
            "init_params" not in params for params in grid
        ) else {}
        results = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fit_one)(self.estimator, {**start, **params}, X, y, sample_weight, exposure)
            for params in grid
        )
        fitted = [r[0] for r in results]
        if all(est is None for est in fitted):
            raise ValueError(
                "No setting of param_grid could be fitted: " + results[0][1]["error"]
            )
        for _, _, caught in results:  # warnings raised in worker processes, once each
            for category, message in dict.fromkeys(caught):
                warnings.warn(message, category)
        self.criteria_ = self._table(grid, [r[1] for r in results])
        values = np.where(np.isnan(self.criteria_[self.criterion]), np.inf, self.criteria_[self.criterion])
        self.best_index_ = int(np.argmin(values))
        self.best_params_ = grid[self.best_index_]
        self.best_estimator_ = fitted[self.best_index_]
        self.n_features_in_ = self.best_estimator_.n_features_in_
        if hasattr(self.best_estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.best_estimator_.feature_names_in_
        return self

    @staticmethod
    def _table(grid, rows):
        table = {"params": grid}
        for name in sorted({name for params in grid for name in params}):
            table[f"param_{name}"] = np.array([params.get(name) for params in grid], dtype=object)
        for key, dtype, missing in [
            ("bic", float, np.nan), ("icl", float, np.nan), ("aic", float, np.nan),
            ("log_likelihood", float, np.nan), ("n_parameters", float, np.nan),
            ("entropy", float, np.nan), ("converged", bool, False), ("n_iter", int, 0),
            ("fit_time", float, np.nan), ("error", object, ""),
        ]:
            table[key] = np.array([row.get(key, missing) for row in rows], dtype=dtype)
        return table

    # -- delegation to the best fit ---------------------------------------------
    def _best_has(name):
        return lambda self: hasattr(self.best_estimator_ if hasattr(self, "best_estimator_") else self.estimator, name)

    @property
    def classes_(self):
        check_is_fitted(self)
        return self.best_estimator_.classes_

    def predict(self, X):
        """Predict with the best fit.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray
        """
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    @available_if(_best_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the best fit (classifiers).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)

    @available_if(_best_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities of the best fit (classifiers).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.best_estimator_.predict_log_proba(X)

    def log_likelihood(self, X, y, exposure=None):
        """The best fit's ``log_likelihood``: ``log p(y_i | x_i)`` of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures of the log-link families; None: every exposure is 1.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.best_estimator_.log_likelihood(X, y, exposure=exposure)

    def score(self, X, y, sample_weight=None):
        """The best fit's ``score``: R² (regressors) or accuracy (classifiers).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        return self.best_estimator_.score(X, y, sample_weight=sample_weight)
