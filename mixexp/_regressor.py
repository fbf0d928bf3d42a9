"""What every mixexp regressor shares: targets, the predictive mixture, sampling."""

from numbers import Real

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils import check_random_state, get_tags
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import validate_data

from ._base import BaseMixtureOfExperts
from ._exposure import offset_kwargs
from ._mixing import mix
from ._risk import RiskMixin
from ._routing import route
from .experts import target_tags

def _mixture_moments(chunk, return_std):
    """The mixture's mean of the rows of ``chunk`` (a :class:`~mixexp._predict.RoutedRows`),
    ``(n, n_targets)``, and with ``return_std`` its standard deviation, as a tuple."""
    means, var = chunk.leaves("moments")
    gates = chunk.gates
    mean = mix(gates, means)
    if not return_std:
        return (mean,)
    # law of total variance, around the mixture mean (no cancellation)
    spread = np.einsum("nk,nkt->nt", gates, var + (means - mean[:, None, :]) ** 2)
    return mean, np.sqrt(spread)


REG_VARIANCE_CONSTRAINT = {"reg_variance": [Interval(Real, 0, None, closed="neither")]}
ZERO_INFLATION_CONSTRAINT = {"zero_inflation": ["boolean"]}


class MixtureRegressorBase(RiskMixin, RegressorMixin, BaseMixtureOfExperts):
    """Regression experts; targets standardised internally by the expert family."""

    _task = "regression"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        multi_output, positive_only = target_tags(self._task, self.expert)
        # 2-D y goes to every expert: estimator experts must take it; a point mass at 0
        # is of one response
        tags.target_tags.multi_output = multi_output and not self.zero_inflation and all(
            get_tags(e).target_tags.multi_output for e in self._expert_templates()
        )
        tags.target_tags.positive_only = positive_only
        tags.target_tags.single_output = True
        return tags

    def fit(self, X, y, sample_weight=None, exposure=None):
        """Fit the mixture by EM.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.  Sparse input is kept sparse (scaled, not centred)
            with a softmax gate.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets: counts for ``expert="poisson"`` and ``"zip"``, positive
            amounts for ``"gamma"`` (these three model a single target).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; the log-likelihood is weighted by them.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures (time at risk, hours of observation) of the
            log-link families ``"poisson"``, ``"gamma"`` and ``"zip"``: each
            expert's mean is ``exposure * exp(B x + b)``, an offset
            ``log(exposure)``.  None: every exposure is 1.  With scikit-learn's
            metadata routing enabled, a :class:`~sklearn.pipeline.Pipeline`
            passes it on after ``set_fit_request(exposure=True)``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_or_restore(X, y, sample_weight, exposure)

    def _validate_xy(self, X, y):
        # 2-D y only when every expert takes it (estimator experts: their tags)
        return validate_data(
            self, X, y, multi_output=get_tags(self).target_tags.multi_output, y_numeric=True,
            accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32],
        )

    @staticmethod
    def _squeeze(a, state):
        return a[..., 0] if state.info["ndim"] == 1 else a

    def predict(self, X, return_std=False, exposure=None):
        """Predictive mean of the mixture, optionally with its standard deviation.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        return_std : bool, default=False
            Also return the standard deviation of the predictive mixture
            ``sum_k g_k(x) p_k(y | x)``.  For ``expert="student_t"`` it is
            infinite where an expert with ``nu_ <= 2`` has weight.  With
            ``top_k`` set, the mixture of each sample's ``top_k`` most probable
            experts, gates renormalised.
        exposure : array-like of shape (n_samples,), default=None
            Exposures of the log-link families (``"poisson"``, ``"gamma"``,
            ``"zip"``); None: predictions per unit of exposure.

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
            The mixture's mean, ``sum_k g_k(x) mu_k(x)``.
        y_std : ndarray of the same shape
            Only when ``return_std`` is True.
        """
        out = self._routed_rows(X, lambda chunk: _mixture_moments(chunk, return_std), exposure)
        state = self._state()
        return tuple(self._squeeze(a, state) for a in out) if return_std else self._squeeze(out[0], state)

    def predict_experts(self, X, exposure=None):
        """Each expert's own prediction (its mean).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        exposure : array-like of shape (n_samples,), default=None
            Exposures of the log-link families (``"poisson"``, ``"gamma"``,
            ``"zip"``); None: predictions per unit of exposure.

        Returns
        -------
        means : ndarray of shape (n_samples, n_experts) or (n_samples, n_experts, n_targets)
        """
        design, state = self._design(X)
        offset = offset_kwargs(exposure, design.n_rows, state.experts)
        mean = state.experts.moments(design.expert_X, state.params["experts"], state.info, **offset)[0]
        return self._squeeze(mean, state)

    def sample_y(self, X, n_samples=1, random_state=None, exposure=None):
        """Draw samples from the predictive mixture at ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples_X, n_features)
            Inputs.
        n_samples : int, default=1
            Draws per input.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws.
        exposure : array-like of shape (n_samples,), default=None
            Exposures of the log-link families (``"poisson"``, ``"gamma"``,
            ``"zip"``); None: predictions per unit of exposure.

        Returns
        -------
        y_samples : ndarray of shape (n_samples_X, n_samples) or (n_samples_X, n_targets, n_samples)
        """
        rs = check_random_state(random_state)
        (gates, _), design, state = self._e_step(X, experts=False)
        gates = route(gates, self._top_k(state))[0]  # draws from the routed mixture
        cum = np.cumsum(gates, axis=1)
        u = rs.uniform(size=(design.n_rows, n_samples)) * cum[:, -1:]
        leaf = np.minimum((u[:, :, None] > cum[:, None, :]).sum(axis=2), gates.shape[1] - 1)
        offset = offset_kwargs(exposure, design.n_rows, state.experts)
        draws = state.experts.sample(design.expert_X, state.params["experts"], state.info, leaf, rs, **offset)
        draws = np.transpose(draws, (0, 2, 1))  # (n, T, n_samples)
        return draws[:, 0, :] if state.info["ndim"] == 1 else draws
