"""Scorers for models fitted with an exposure, for cross-validation and grid search.

A model fitted with ``exposure`` predicts per unit of exposure (a rate):
scikit-learn's ``scoring="neg_mean_poisson_deviance"`` then compares rates
with counts, silently, even when metadata routing hands the exposure to
``fit``.  These scorers take the exposure as routed metadata of ``score``
(requested by default) and score the counts: the deviance of the expected
counts ``predict(X) * exposure``, or the mean log-likelihood
``log_likelihood(X, y, exposure=exposure)``.  Exported by :mod:`mixexp.metrics`.
"""

from numbers import Real

import numpy as np
import sklearn
from sklearn.metrics import mean_tweedie_deviance
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import MetadataRequest
from sklearn.utils.validation import column_or_1d

from ._exposure import exposure_array

_UNCHANGED = object()

_MISSING = (
    "This scorer needs the exposure of the rows it scores: the model predicts per unit of exposure. "
    "Enable metadata routing, sklearn.set_config(enable_metadata_routing=True), and pass it as "
    "params={{'exposure': exposure}} to cross_val_score / cross_validate, or as fit(X, y, "
    "exposure=exposure) to GridSearchCV (without routing, params reach fit only). For a model fitted "
    "without exposure use {factory}(exposure=False)."
)


def _log_likelihood(estimator, X, y, kwargs):
    """``log p(y_i | x_i)`` of every row; a Pipeline's steps before the last transform ``X``."""
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            if step is not None and not (isinstance(step, str) and step == "passthrough"):
                X = step.transform(X)
        return _log_likelihood(estimator.steps[-1][1], X, y, kwargs)
    method = getattr(estimator, "log_likelihood", None)
    if not callable(method):
        raise TypeError(
            "The log-likelihood scorer needs an estimator with a log_likelihood(X, y, exposure=...) "
            f"method (a mixexp estimator, or a Pipeline ending in one); got {type(estimator).__name__}."
        )
    return method(X, y, **kwargs)


class ExposureScorer:
    """A scorer ``scorer(estimator, X, y, sample_weight=None, exposure=None)``, greater is better.

    Built by :func:`make_deviance_scorer` and :func:`make_log_likelihood_scorer`;
    not meant to be constructed directly.  Under scikit-learn's metadata
    routing it requests ``exposure`` (when built with ``exposure=True``) and
    not ``sample_weight``; :meth:`set_score_request` changes either.
    """

    def __init__(self, kind, power, exposure):
        self._kind = kind
        self._power = power
        self._needs_exposure = exposure
        self._request = MetadataRequest(owner=type(self).__name__)
        self._request.score.add_request(param="exposure", alias=bool(exposure))
        self._request.score.add_request(param="sample_weight", alias=None)

    def __repr__(self):
        if self._kind == "deviance":
            return f"make_deviance_scorer(power={self._power!r}, exposure={self._needs_exposure!r})"
        return f"make_log_likelihood_scorer(exposure={self._needs_exposure!r})"

    def get_metadata_routing(self):
        """The metadata this scorer requests for ``score``.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRequest
        """
        return self._request

    def set_score_request(self, *, exposure=_UNCHANGED, sample_weight=_UNCHANGED):
        """Request metadata for scoring, as scikit-learn's scorers' ``set_score_request``.

        Parameters
        ----------
        exposure : bool, str or None, optional
            True: requested; False: not; a str: requested under that alias.
        sample_weight : bool, str or None, optional
            The same for ``sample_weight`` (a weighted mean of the rows' scores).

        Returns
        -------
        self : ExposureScorer
        """
        if not sklearn.get_config()["enable_metadata_routing"]:
            raise RuntimeError(
                "This method is only available when metadata routing is enabled. You can enable it "
                "using sklearn.set_config(enable_metadata_routing=True)."
            )
        for param, alias in (("exposure", exposure), ("sample_weight", sample_weight)):
            if alias is not _UNCHANGED:
                self._request.score.add_request(param=param, alias=alias)
        return self

    def __call__(self, estimator, X, y_true, sample_weight=None, exposure=None):
        """Score a fitted ``estimator`` on ``(X, y_true)``.

        Parameters
        ----------
        estimator : fitted estimator
            Its ``predict`` (deviance) or ``log_likelihood`` (log-likelihood) is used.
        X : array-like of shape (n_samples, n_features)
        y_true : array-like of shape (n_samples,) or (n_samples, n_targets)
            The counts or amounts, not divided by the exposure (2-D: the
            log-likelihood scorer only, e.g. a count and a size column).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows' scores.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures of the rows.

        Returns
        -------
        score : float
            Minus the mean deviance, or the mean log-likelihood per row.
        """
        if exposure is None and self._needs_exposure:
            factory = "make_deviance_scorer" if self._kind == "deviance" else "make_log_likelihood_scorer"
            raise ValueError(_MISSING.format(factory=factory))
        if exposure is not None:
            exposure = exposure_array(exposure, np.shape(y_true)[0])
        if self._kind == "deviance":
            y_true = column_or_1d(y_true)
            mean = column_or_1d(estimator.predict(X))
            if exposure is not None:
                mean = mean * exposure
            return -float(mean_tweedie_deviance(y_true, mean, sample_weight=sample_weight, power=self._power))
        kwargs = {} if exposure is None else {"exposure": exposure}
        ll = _log_likelihood(estimator, X, y_true, kwargs)
        return float(np.average(ll, weights=sample_weight))


def make_deviance_scorer(power=1.0, *, exposure=True):
    """A scorer of minus the mean Tweedie deviance of the expected counts ``predict(X) * exposure``.

    The model predicts per unit of exposure; the scorer multiplies by the
    rows' exposure, routed to it as metadata of ``score``, and compares with
    ``y`` as given (counts, or amounts), as
    :func:`sklearn.metrics.mean_tweedie_deviance`.  Greater is better, like
    scikit-learn's ``"neg_mean_poisson_deviance"``.  Any regressor that
    predicts rates works, e.g. a model fitted on ``y / exposure`` with
    ``sample_weight=exposure``.

    Parameters
    ----------
    power : float, default=1.0
        Tweedie power: 0 squared error, 1 Poisson, 2 Gamma, 3 inverse
        Gaussian, between 1 and 2 compound Poisson-Gamma.
    exposure : bool, default=True
        Request the exposure through metadata routing and raise ``ValueError``
        when it is not given.  False: score ``predict(X)`` itself (as
        scikit-learn's scorers; an exposure given anyway is still used).

    Returns
    -------
    scorer : ExposureScorer
        ``scorer(estimator, X, y, sample_weight=None, exposure=None)``, usable
        as ``scoring=`` in ``cross_val_score``, ``cross_validate`` and ``GridSearchCV``.

    Examples
    --------
    >>> import numpy as np, sklearn
    >>> from sklearn.model_selection import cross_val_score
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_family
    >>> from mixexp.metrics import make_deviance_scorer
    >>> exposure = np.random.RandomState(0).uniform(0.5, 3.0, 300)
    >>> X, y = make_moe_family("poisson", 300, exposure=exposure, random_state=0)
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     model = MixtureOfExpertsRegressor(2, expert="poisson", random_state=0)
    ...     scores = cross_val_score(model.set_fit_request(exposure=True), X, y, cv=3,
    ...                              params={"exposure": exposure}, scoring=make_deviance_scorer())
    >>> bool(np.all(scores < 0))
    True
    """
    if isinstance(power, bool) or not isinstance(power, Real) or not np.isfinite(power):
        raise TypeError(f"power must be a finite real number, got {power!r}.")
    if 0 < power < 1:
        raise ValueError(f"Tweedie deviance is only defined for power <= 0 and power >= 1, got {power!r}.")
    return ExposureScorer("deviance", float(power), bool(exposure))


def make_log_likelihood_scorer(*, exposure=True):
    """A scorer of the mean log-likelihood per row, ``log_likelihood(X, y, exposure=exposure)``.

    The held-out log-likelihood of the model's whole predictive distribution
    (not only its mean), of ``y`` as given with the rows' exposure routed to
    it as metadata of ``score``.  Greater is better.  The estimator must have
    ``log_likelihood`` (every mixexp estimator and :class:`~mixexp.MixtureOfExpertsIC`),
    or be a :class:`~sklearn.pipeline.Pipeline` ending in one.

    Parameters
    ----------
    exposure : bool, default=True
        Request the exposure through metadata routing and raise ``ValueError``
        when it is not given.  False: for models without exposure (any family).

    Returns
    -------
    scorer : ExposureScorer
        ``scorer(estimator, X, y, sample_weight=None, exposure=None)``, usable
        as ``scoring=`` in ``cross_val_score``, ``cross_validate`` and ``GridSearchCV``.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_family
    >>> from mixexp.metrics import make_log_likelihood_scorer
    >>> exposure = np.random.RandomState(0).uniform(0.5, 3.0, 300)
    >>> X, y = make_moe_family("poisson", 300, exposure=exposure, random_state=0)
    >>> model = MixtureOfExpertsRegressor(2, expert="poisson", random_state=0).fit(X, y, exposure=exposure)
    >>> score = make_log_likelihood_scorer()(model, X, y, exposure=exposure)
    >>> bool(np.isclose(score, model.log_likelihood(X, y, exposure=exposure).mean()))
    True
    """
    return ExposureScorer("log_likelihood", None, bool(exposure))
