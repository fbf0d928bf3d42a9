"""Weibull experts: positive amounts with a log link on the scale and a shape per expert.

``y | x, leaf ~ Weibull(shape k, scale lambda(x))``, ``log lambda(x) = B x + b``:

    p(y) = k / y (y / lambda)^k exp(-(y / lambda)^k),   P(Y > y) = exp(-(y / lambda)^k),

so ``log y = log lambda + eps / k`` with ``eps`` a standard minimum-Gumbel
variable (``survreg(dist="weibull")``'s ``scale`` is ``1 / k``).  Every moment
exists: ``E y = lambda Gamma(1 + 1/k)``, ``Var y = lambda^2 (Gamma(1 + 2/k) -
Gamma(1 + 1/k)^2)``.

The M-step of a leaf maximises ``sum_i w_i log p(y_i | x_i) - alpha k^2 / 2
||B||^2`` (the penalty of the Gaussian family on ``log y``, ``alpha / (2
sigma^2) ||B||^2`` with ``sigma = 1 / k`` the scale of ``log y``) jointly over
``(B, b, log k)`` by damped Newton within bounds (:func:`~mixexp.experts.glm.
fit_log_link`): each step never decreases it.  In the coordinates ``(k B, k)``
the log-likelihood is concave (Weibull regression is a location-scale model
of ``log y``), so its maximum is unique.  ``k`` lies in ``[SHAPE_MIN,
1 / sqrt(reg_variance)]``.  Targets are divided by their weighted mean.
"""

import numpy as np
from scipy.special import gammainc, gammaln

from .._inference_parts import scalar
from .._numerics.shapes import step_outputs, weibull_step_terms, weibull_value_sums
from .glm import PositiveAmountExperts, fit_log_link, log_one_minus_exp

SHAPE_MIN = 1e-2  # smallest k (a tail heavier than any data set this library meets)
SHAPE_MAX = 1e6  # largest k when reg_variance is tinier


def _z(log_y, eta, k):
    """``k (log y - eta)``: ``log((y / lambda)^k)``."""
    return k * (log_y - eta)


def _value(z, s):
    """``log p(y)`` less ``-log y``, for ``z = k (log y - eta)`` and ``s = log k``."""
    return s + z - np.exp(z)


def _derivatives(z, e, k):
    """``ell_eta``, ``ell_eta_eta``, ``ell_s``, ``ell_eta_s``, ``ell_s_s`` of ``ell = s + z - e``
    (``e = exp(z)``, ``s = log k``), broadcast."""
    return k * (e - 1.0), -k * k * e, 1.0 + z * (1.0 - e), k * (e - 1.0 + z * e), z * (1.0 - e - z * e)


class WeibullExperts(PositiveAmountExperts):
    """Weibull regression experts with log link on the scale (see the module docstring).

    Parameters
    ----------
    alpha : float
        L2 penalty on the coefficients (not intercepts), scaled by ``k^2``.
    reg_variance : float
        Lower bound on ``1 / k^2`` (the squared scale of ``log y``).
    """


    name = "weibull"
    uses_exposure = False
    has_distribution = True
    newton_steps = 1
    penalty_scaled_by = 0

    def init_params(self, n_leaves, n_params, info):
        return {**super().init_params(n_leaves, n_params, info), "shape": np.ones(n_leaves)}

    def _max_shape(self):
        return min(1.0 / np.sqrt(self.reg_variance), SHAPE_MAX)

    def scores(self, Xa, target, params):
        y, offset = target
        k = params["shape"]
        log_y = np.log(y)[:, None]
        eta = self._eta(Xa, params, offset)
        z, e = self._z_e(eta, k, log_y)
        # in place: fresh (n, K) arrays of a chunk cost more than their arithmetic
        out = z - e
        out += np.log(k)
        out -= log_y
        # the context: what the one Newton step's sums take (LogLinkExperts.stats)
        return out, {"eta": eta, "extra": log_y, "parts": (z, e)}

    def _fit_expert(self, Xa, y, offset, w, expert, **context):
        log_y = np.log(y)

        def value(eta, s):
            return _value(_z(log_y, eta, np.exp(s[0])), s[0])

        def derivatives(eta, s):
            k = np.exp(s[0])
            z = _z(log_y, eta, k)
            l_e, l_ee, l_s, l_es, l_ss = _derivatives(z, np.exp(z), k)
            return l_e, l_ee, l_s[:, None], l_es[:, None], l_ss[:, None, None]

        beta, s = fit_log_link(
            Xa, offset, w, expert["coef"][0], np.log([expert["shape"]]), np.log([SHAPE_MIN]),
            np.log([self._max_shape()]), self.alpha, value, derivatives, scaled_by=0,
            max_iter=self.newton_steps,
        )
        return {"coef": beta, "shape": np.exp(s[0])}

    # one Newton step per iteration from the pass's sums (LogLinkExperts._one_step_update)
    def _step_vector(self, params):
        return np.column_stack([params["coef"][:, 0, :], np.log(params["shape"])])

    def _from_step_vector(self, x, params, leaves):
        coef, shape = params["coef"].copy(), params["shape"].copy()
        coef[leaves, 0], shape[leaves] = x[leaves, :-1], np.exp(x[leaves, -1])
        return {**params, "coef": coef, "shape": shape}

    def _shape_bounds(self, N):
        return np.log(SHAPE_MIN), np.log(self._max_shape())

    def _row_extra(self, target):
        return np.log(target[0])[:, None]

    @staticmethod
    def _z_e(eta, k, log_y):
        """``z = k (log y - eta)`` and ``exp(z)``, ``(n, n_leaves)`` each."""
        z = log_y - eta
        z *= k
        with np.errstate(over="ignore"):
            return z, np.exp(z)

    def _weighted_terms(self, target, eta, s, extra, W, parts=None):
        cross, curv, sums = step_outputs(*W.shape)
        weibull_step_terms(*(self._z_e(eta, np.exp(s), extra) if parts is None else parts), s, W, cross, curv, sums)
        return cross, curv, sums

    def _weighted_value(self, target, eta, s, extra, W):
        out = np.zeros(W.shape[1])
        weibull_value_sums(*self._z_e(eta, np.exp(s), extra), s, W, out)
        return out

    def penalty(self, params):
        return 0.5 * self.alpha * np.sum(params["shape"] ** 2 * np.sum(params["coef"][:, 0, :-1] ** 2, axis=1))

    def attributes(self, params, coords, info):
        return {**super().attributes(params, coords, info), "shape_": params["shape"].copy()}

    # -- the distribution (internal units) ------------------------------------------
    def _log_z(self, y, eta, params):
        """``log((y / lambda)^k)``."""
        with np.errstate(divide="ignore"):
            return _z(np.log(y), eta, params["shape"])

    def _log_sf(self, y, eta, params):
        with np.errstate(over="ignore"):
            return -np.exp(self._log_z(y, eta, params))

    def _log_cdf(self, y, eta, params):
        return log_one_minus_exp(self._log_z(y, eta, params))

    def _quantile(self, q, eta, params):
        return np.exp(eta) * (-np.log1p(-q)) ** (1.0 / params["shape"])

    def _limited_mean(self, limit, eta, params):
        # E min(Y, L) = lambda Gamma(1 + 1/k) P(1 + 1/k, t) + L exp(-t), t = (L / lambda)^k
        k = params["shape"]
        with np.errstate(divide="ignore", over="ignore"):
            t = np.exp(_z(np.log(limit), eta, k))
        return np.exp(eta + gammaln(1.0 + 1.0 / k)) * gammainc(1.0 + 1.0 / k, t) + limit * np.exp(-t)

    def _mean_var(self, eta, params):
        k = params["shape"]
        lam = np.exp(eta)
        g1, g2 = np.exp(gammaln(1.0 + 1.0 / k)), np.exp(gammaln(1.0 + 2.0 / k))
        return lam * g1, lam**2 * (g2 - g1**2)

    def _draw(self, eta, own, rs):
        return np.exp(eta) * rs.weibull(own["shape"])

    # -- inference: the coefficients, then log k;
    # scores and Hessian by central differences of the log-density (the base's defaults)
    def _extra_vector(self, params):
        return np.log(params["shape"])[:, None]

    def _with_extra(self, params, extra):
        return {**params, "shape": np.exp(extra[:, 0])}

    def _extra_bounds(self):
        """The log shape in ``[log SHAPE_MIN, log`` of the largest shape``]``."""
        return np.log([SHAPE_MIN]), np.log([self._max_shape()])

    def _extra_labels(self, label, info):
        return [scalar(label, "log_shape")]

    def inference_fixed(self, params):
        """A shape on its upper bound (``1 / sqrt(reg_variance)``): held there."""
        fixed = np.zeros(self.inference_vector(params).shape, dtype=bool)
        fixed[:, -1] = params["shape"] >= self._max_shape() * (1 - 1e-9)  # exp(log bound) may miss it
        return fixed
