"""Log-normal experts: ``log y`` is a linear-Gaussian expert.

``log y | x, leaf ~ N(B x + b, sigma^2)``, ``y > 0``: the median is ``exp(B x +
b)``, ``E y = exp(B x + b + sigma^2 / 2)``, ``Var y = (exp(sigma^2) - 1)
exp(2 (B x + b) + sigma^2)`` (every moment exists).  ``log p(y) = log N(log y;
B x + b, sigma^2) - log y``.

The family is :class:`~mixexp.experts.gaussian.LinearGaussianExperts` on ``log
y`` (standardised internally), with the Jacobian ``-log y`` added to every
log-density: the M-step is the Gaussian's closed form, a weighted ridge fit of
``log y`` with the penalty ``alpha / (2 sigma^2) ||B||^2`` and ``sigma^2`` the
penalised mean squared residual, bounded below by ``reg_variance`` times the
weighted variance of ``log y``.  Its statistics are sums, so online EM
(``partial_fit``), the dask fit, ``l1_ratio`` and the attention gate (each
expert's representation: its mean of the standardised ``log y``) serve it as
they serve the Gaussian.  The internal target is ``(standardised log y, log
y)``.
"""

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d

from .._design import rows_to_original, weighted_location_scale
from .._inference_parts import Labels, coefficient_row, scalar
from .._numerics.linalg import block_products
from .gaussian import LinearGaussianExperts


class LogNormalExperts(LinearGaussianExperts):
    """Log-normal regression experts (see the module docstring).

    Parameters
    ----------
    alpha : float
        Ridge penalty on the coefficients (not intercepts), scaled by ``1 / sigma^2``.
    reg_variance : float
        Lower bound on ``sigma^2`` relative to the weighted variance of ``log y``.
    l1_ratio : float, default=0.0
        Elastic-net mixing of ``alpha`` (as the Gaussian family's).

    Shared coefficients of ``E[log y]`` and one ``sigma`` for all experts
    (``shared_features``, ``tied_variance``) are the Gaussian family's M-step on ``log y``.
    """

    name = "lognormal"
    takes_missing = False  # not linear-Gaussian: (x, y) is not jointly Gaussian
    # the Gaussian's censored moments and interval derivatives read ends in units of y and
    # its target's mean and scale; this family's target is log y: the numerical M-step and
    # central differences until they are written for it
    imputes_censored = False
    gives_interval_scores = False
    multi_output = False
    positive_only = True
    has_distribution = True
    # the internal target is the standardised log y: clip_experts' ranges would be in log units
    standardises_target = False
    products_outputs = frozenset()

    # -- targets ------------------------------------------------------------
    def _log_target(self, y, warn=False):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=warn)
        elif y.ndim != 1:
            raise ValueError(f"expert={self.name!r} models a single target; y has shape {y.shape}.")
        if np.any(y <= 0):
            raise ValueError(
                f"Some value(s) of y are not positive which is not allowed for expert={self.name!r} "
                "(a model of positive amounts)."
            )
        return np.log(y)

    def _internal(self, log_y, info):
        return ((log_y - info["log_location"]) / info["log_scale"])[:, None], log_y

    def prepare_target(self, y, sw):
        """``(standardised log y (n, 1), log y)`` and what undoes it."""
        log_y = self._log_target(y, warn=True)
        location, scale = weighted_location_scale(log_y[:, None], sw)
        info = {"ndim": 1, "n_outputs": 1, "log_location": float(location[0]), "log_scale": float(scale[0])}
        return self._internal(log_y, info), info

    def check_target(self, y, n_samples, info):
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        check_consistent_length(y, np.empty(n_samples))
        return self._internal(self._log_target(y), info)

    def kmeans_features(self, target):
        return target[0]

    def loglik_shift(self, info):
        return -np.log(info["log_scale"])

    # -- the component: the Gaussian's on the standardised log y, with the Jacobian -------
    def scores(self, Xa, target, params):
        logdens, ctx = super().scores(Xa, target[0], params)
        return logdens - target[1][:, None], ctx

    def stats(self, Xa, target, W, params, ctx, grams=None):
        return super().stats(Xa, target[0], W, params, ctx, grams=grams)

    def linear_rows(self, params, info):
        return None

    # -- inference: the Gaussian's on the standardised log y (the Jacobian is constant) ----
    def inference_scores(self, Xa, target, params):
        return super().inference_scores(Xa, target[0], params)

    def inference_hessian(self, Xa, target, params, W):
        return super().inference_hessian(Xa, target[0], params, W)

    def inference_labels(self, params, coords, info, feature_names):
        """``expert k``: intercept and coefficients of ``E[log y]``, then ``log_sigma``
        (the log standard deviation of ``log y``)."""
        s = info["log_scale"]
        parts = []
        for leaf in range(params["coef"].shape[0]):
            label = f"expert {leaf}"
            row = coefficient_row(label, coords, feature_names, s, info["log_location"])
            parts.append(self._shared_labels(row))
            parts.append(scalar(self._variance_label(label), "log_sigma", 0.5, np.log(s)))
        return Labels.concat(parts)

    # -- fitted attributes and predictions (units of y) ----------------------------------
    def attributes(self, params, coords, info):
        s = info["log_scale"]
        coef, intercept = rows_to_original(params["coef"], coords)
        return {
            "expert_coef_": coef * s,
            "expert_intercept_": intercept * s + info["log_location"],
            "noise_scale_": np.sqrt(params["var"]) * s,
        }

    def _log_params(self, Xa, params, info):
        """Each leaf's mean and standard deviation of ``log y``, ``(n, n_leaves)`` and
        ``(n_leaves,)``."""
        s = info["log_scale"]
        mu = block_products(Xa, params["coef"][:, 0, :]) * s + info["log_location"]
        return mu, np.sqrt(params["var"][:, 0]) * s

    def moments(self, Xa, params, info):
        mu, sigma = self._log_params(Xa, params, info)
        mean = np.exp(mu + 0.5 * sigma**2)
        return mean[:, :, None], (np.expm1(sigma**2) * mean**2)[:, :, None]

    def sample(self, Xa, params, info, leaf, rs):
        mu, sigma = self._log_params(Xa, params, info)
        mu = np.take_along_axis(mu, leaf, axis=1)
        return np.exp(mu + sigma[leaf] * rs.standard_normal(size=mu.shape))[:, :, None]

    def _standard(self, Xa, y, params, info):
        mu, sigma = self._log_params(Xa, params, info)
        with np.errstate(divide="ignore"):
            log_y = np.log(np.maximum(np.asarray(y, dtype=np.float64), 0.0))[:, None]
        return (log_y - mu) / sigma

    def log_cdf(self, Xa, y, params, info):
        """``log P(Y <= y)`` of every leaf, ``(n, n_leaves)``."""
        return log_ndtr(self._standard(Xa, y, params, info))

    def log_sf(self, Xa, y, params, info):
        """``log P(Y > y)`` of every leaf, ``(n, n_leaves)``."""
        return log_ndtr(-self._standard(Xa, y, params, info))

    def leaf_quantile(self, Xa, q, params, info):
        """Every leaf's quantile ``exp(mu + sigma Phi^-1(q))``, ``(n, n_leaves)``."""
        mu, sigma = self._log_params(Xa, params, info)
        return np.exp(mu + sigma * ndtri(np.asarray(q, dtype=np.float64))[:, None])

    def leaf_limited_mean(self, Xa, limit, params, info):
        """``E min(Y, L) = exp(mu + sigma^2 / 2) Phi(z - sigma) + L Phi(-z)``, ``z = (log L - mu)
        / sigma`` (``L`` itself below 0), ``(n, n_leaves)``."""
        limit = np.asarray(limit, dtype=np.float64)
        mu, sigma = self._log_params(Xa, params, info)
        z = self._standard(Xa, limit, params, info)
        value = np.exp(mu + 0.5 * sigma**2 + log_ndtr(z - sigma)) + np.maximum(limit, 0.0)[:, None] * ndtr(-z)
        return np.where(limit[:, None] < 0, limit[:, None], value)
