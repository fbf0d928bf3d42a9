"""What every mixexp regressor shares: targets, the predictive mixture, sampling."""

from numbers import Real

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import validate_data

from ._base import BaseMixtureOfExperts
from ._routing import route, routed_leaf_outputs

REG_VARIANCE_CONSTRAINT = {"reg_variance": [Interval(Real, 0, None, closed="neither")]}


class MixtureRegressorBase(RegressorMixin, BaseMixtureOfExperts):
    """Regression experts; targets standardised internally by the expert family."""

    _task = "regression"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = True
        return tags

    def _validate_xy(self, X, y):
        return validate_data(
            self, X, y, multi_output=True, y_numeric=True, accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
        )

    def _mixture(self, X):
        """Gate probabilities ``(n, L)`` and each leaf's mean and variance ``(n, L, T)``.

        With ``top_k`` set, the routed gates and only the routed leaves' moments (0 elsewhere).
        """
        (gates, _), design, state = self._e_step(X, experts=False)
        gates, mask = route(gates, self._top_k(state))
        if mask is None:
            mean, var = state.experts.moments(design.expert_X, state.params["experts"], state.info)
        else:
            mean, var = routed_leaf_outputs(
                state.experts, state.experts.moments, design.expert_X,
                state.params["experts"], state.info, mask,
            )
        return gates, mean, var, design, state

    @staticmethod
    def _squeeze(a, state):
        return a[..., 0] if state.info["ndim"] == 1 else a

    def predict(self, X, return_std=False):
        """Predictive mean of the mixture, optionally with its standard deviation.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        return_std : bool, default=False
            Also return the standard deviation of the predictive mixture
            ``sum_k g_k(x) p_k(y | x)``.  With ``top_k`` set, the mixture of
            each sample's ``top_k`` most probable experts, gates renormalised.

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
            The mixture's mean, ``sum_k g_k(x) mu_k(x)``.
        y_std : ndarray of the same shape
            Only when ``return_std`` is True.
        """
        gates, means, var, _, state = self._mixture(X)
        mean = np.einsum("nk,nkt->nt", gates, means)
        if not return_std:
            return self._squeeze(mean, state)
        # law of total variance, around the mixture mean (no cancellation)
        spread = np.einsum("nk,nkt->nt", gates, var + (means - mean[:, None, :]) ** 2)
        return self._squeeze(mean, state), self._squeeze(np.sqrt(spread), state)

    def predict_experts(self, X):
        """Each expert's own prediction (its mean).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        means : ndarray of shape (n_samples, n_experts) or (n_samples, n_experts, n_targets)
        """
        design, state = self._design(X)
        mean = state.experts.moments(design.expert_X, state.params["experts"], state.info)[0]
        return self._squeeze(mean, state)

    def sample_y(self, X, n_samples=1, random_state=None):
        """Draw samples from the predictive mixture at ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples_X, n_features)
            Inputs.
        n_samples : int, default=1
            Draws per input.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws.

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
        draws = state.experts.sample(design.expert_X, state.params["experts"], state.info, leaf, rs)
        draws = np.transpose(draws, (0, 2, 1))  # (n, T, n_samples)
        return draws[:, 0, :] if state.info["ndim"] == 1 else draws
