"""Inverse Gaussian experts: positive amounts with a log link on the mean and a dispersion per expert.

``y | x, leaf ~ IG(mean mu(x), dispersion phi)``, ``log mu(x) = B x + b``, with
``lambda = 1 / phi`` (R's ``statmod::dinvgauss(y, mean, dispersion)``)::

    log p(y) = (log lambda - log(2 pi y^3)) / 2 - lambda d(y, mu) / 2,
    d(y, mu) = (y - mu)^2 / (mu^2 y)  (the unit deviance),

``E y = mu``, ``Var y = phi mu^3``: every moment exists.

The M-step of a leaf maximises ``sum_i w_i log p(y_i | x_i) - alpha lambda / 2
||B||^2`` (the Gamma family's scaling of the penalty), whose coefficients
minimise ``D(beta) = sum_i w_i d(y_i, mu_i) + alpha ||B||^2`` whatever
``lambda``: by damped Newton from the current ones (the log link is not the
canonical one, so ``D`` is not convex everywhere and the Hessian is made
definite where it is not; :func:`~mixexp.experts.newton.maximise`), then
``lambda = sum_i w_i / D(beta)`` in closed form, capped at ``1 /
reg_variance``.  Targets are divided by their weighted mean, so the bound is
on ``phi`` times that mean (the squared coefficient of variation at it).

``log_cdf`` and ``log_sf`` write the exponential term of the distribution
function with the scaled complementary error function, ``exp(2 lambda / mu)
Phi(-b) = exp(-a^2 / 2) erfcx(b / sqrt 2) / 2``, which neither overflows nor
cancels (``a``, ``b`` as in :meth:`InverseGaussianExperts._standard_points`).
"""

import warnings

import numpy as np
from scipy import stats
from scipy.special import erfcx, log_ndtr, ndtr

from .._inference_parts import scalar
from .glm import PositiveAmountExperts, fit_log_link

MAX_PRECISION = 1e12  # largest lambda (internal units) when reg_variance is tinier
_LOG_2PI = np.log(2.0 * np.pi)


def _unit_deviance(y, eta):
    """``(y - mu)^2 / (mu^2 y)`` with ``mu = exp(eta)``."""
    with np.errstate(over="ignore"):
        r = y * np.exp(-eta)  # y / mu
    return (r - 1.0) ** 2 / y


def _log_erfcx_difference(a, b, d):
    """``log(erfcx(a) - erfcx(b))`` for ``0 < a < b`` and ``d = b - a``; beyond ``a = 1e3`` from the asymptotic
    series ``erfcx(x) = (1 - 1/(2x^2) + 3/(4x^4)) / (x sqrt(pi))`` with ``b - a`` factored
    out of each term (the direct difference cancels when ``b / a`` is near 1)."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        u, v = 1.0 / a, 1.0 / b
        series = (np.log(d) + np.log(u) + np.log(v) - 0.5 * np.log(np.pi)
                  + np.log1p(-0.5 * (u * u + u * v + v * v)
                             + 0.75 * (u**4 + u**3 * v + u * u * v * v + u * v**3 + v**4)))
        return np.where(a > 1e3, series, np.log(erfcx(a) - erfcx(b)))


class InverseGaussianExperts(PositiveAmountExperts):
    """Inverse Gaussian regression experts with log link (see the module docstring).

    Parameters
    ----------
    alpha : float
        L2 penalty on the coefficients (not intercepts), scaled by ``1 / phi``.
    reg_variance : float
        Lower bound on ``phi`` times the weighted mean of ``y``.
    """


    name = "inverse_gaussian"
    uses_exposure = False
    has_distribution = True

    def init_params(self, n_leaves, n_params, info):
        return {**super().init_params(n_leaves, n_params, info), "precision": np.ones(n_leaves)}

    def scores(self, Xa, target, params):
        y, offset = target
        lam = params["precision"]
        d = _unit_deviance(y[:, None], self._eta(Xa, params, offset))
        return 0.5 * (np.log(lam) - _LOG_2PI - 3.0 * np.log(y)[:, None] - lam * d), None

    def _fit_expert(self, Xa, y, offset, w, expert, **context):
        def value(eta, s):
            return -0.5 * _unit_deviance(y, eta)

        def derivatives(eta, s):
            e = np.exp(-eta)
            empty = np.zeros((y.shape[0], 0))
            return e * (y * e - 1.0), e * (1.0 - 2.0 * y * e), empty, empty, empty[:, :, None]

        none = np.zeros(0)
        beta, _ = fit_log_link(Xa, offset, w, expert["coef"][0], none, none, none, self.alpha, value, derivatives)
        D = w @ _unit_deviance(y, np.asarray(Xa @ beta) + offset) + self.alpha * np.sum(beta[:-1] ** 2)
        cap = min(1.0 / self.reg_variance, MAX_PRECISION)
        return {"coef": beta, "precision": min(w.sum() / D, cap) if D > 0 else cap}

    def penalty(self, params):
        return 0.5 * self.alpha * np.sum(params["precision"] * np.sum(params["coef"][:, 0, :-1] ** 2, axis=1))

    def attributes(self, params, coords, info):
        return {**super().attributes(params, coords, info),
                "dispersion_": 1.0 / (params["precision"] * info["scale"])}

    # -- the distribution (internal units) ------------------------------------------
    @staticmethod
    def _standard_points(y, eta, params):
        """``a = sqrt(lambda / y) (y / mu - 1)``, ``b = sqrt(lambda / y) (y / mu + 1)`` and
        the log of ``exp(2 lambda / mu) Phi(-b) = exp(-a^2 / 2) erfcx(b / sqrt 2) / 2``."""
        lam = params["precision"]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            root = np.sqrt(lam / y)
            r = y * np.exp(-eta)
            a, b = root * (r - 1.0), root * (r + 1.0)
            log_tail = -0.5 * a * a + np.log(0.5 * erfcx(b / np.sqrt(2.0)))
        return a, b, log_tail

    def _log_cdf(self, y, eta, params):
        a, _, log_tail = self._standard_points(y, eta, params)
        with np.errstate(invalid="ignore"):
            return np.where(y > 0, np.logaddexp(log_ndtr(a), log_tail), -np.inf)

    def _log_sf(self, y, eta, params):
        a, b, log_tail = self._standard_points(y, eta, params)
        log_cdf = self._log_cdf(y, eta, params)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # above the mean (a > 0) both terms carry exp(-a^2 / 2): factor it out
            d = np.sqrt(2.0 * params["precision"] / y)  # (b - a) / sqrt 2, without the difference
            upper = -0.5 * a * a - np.log(2.0) + _log_erfcx_difference(a / np.sqrt(2.0), b / np.sqrt(2.0), d)
            middle = np.log(ndtr(-a) - np.exp(log_tail))
            lower = np.log1p(-np.exp(log_cdf))  # P(Y <= y) below 1/2: its complement
            out = np.where(log_cdf < -np.log(2.0), lower, np.where(a > 0, upper, middle))
        return np.where(y > 0, out, 0.0)

    def _log_density(self, y, eta, params):
        lam = params["precision"]
        return 0.5 * (np.log(lam) - _LOG_2PI - 3.0 * np.log(y) - lam * _unit_deviance(y, eta))

    def _quantile(self, q, eta, params):
        """Newton's method in ``log y`` on ``log P(Y <= y) = log q`` (``log P(Y > y) = log(1 -
        q)`` above the median), safeguarded by bisection, from scipy's ``invgauss.ppf``
        (boost's, which fails in the far upper tail)."""
        q, eta = np.broadcast_arrays(q, eta)
        lam = np.broadcast_to(params["precision"], eta.shape)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # boost's, where it gives up: refined below
            start = stats.invgauss.ppf(q, np.exp(eta) / lam, scale=lam)
        mean = np.exp(eta)
        u = np.log(np.where(np.isfinite(start) & (start > 0), start, mean))
        upper = q > 0.5
        target = np.where(upper, np.log1p(-q), np.log(q))
        # P(Y > y) falls as exp(-lambda y / (2 mu^2)) far out: a bracket above the quantile
        lo = np.full(u.shape, -745.0)
        hi = np.log(10.0 * (mean + 2.0 * mean**2 / lam * (1.0 - np.log1p(-q)))) + 5.0
        one = {"precision": lam}
        for _ in range(100):
            y = np.exp(u)
            log_cdf, log_sf = self._log_cdf(y, eta, one), self._log_sf(y, eta, one)
            f = np.where(upper, target - log_sf, log_cdf - target)  # increasing in u
            lo, hi = np.where(f < 0, u, lo), np.where(f > 0, u, hi)
            with np.errstate(all="ignore"):
                slope = np.exp(u + self._log_density(y, eta, one) - np.where(upper, log_sf, log_cdf))
                new = u - f / slope
            new = np.where((new > lo) & (new < hi) & np.isfinite(new), new, 0.5 * (lo + hi))
            if np.all(np.abs(new - u) <= 1e-15 * np.maximum(1.0, np.abs(u))):
                u = new
                break
            u = new
        return np.where(q <= 0, 0.0, np.where(q >= 1, np.inf, np.exp(u)))

    def _limited_mean(self, limit, eta, params):
        # E min(Y, L) = L - (L - mu) Phi(a) - (L + mu) exp(2 lambda / mu) Phi(-b) (Klugman,
        # Panjer & Willmot, Loss Models, appendix A), rearranged as mu (Phi(a) - exp(2 lambda
        # / mu) Phi(-b)) + L P(Y > L): no difference of large terms when L >> mu
        a, _, log_tail = self._standard_points(limit, eta, params)
        with np.errstate(invalid="ignore", over="ignore"):
            value = np.exp(eta) * (ndtr(a) - np.exp(log_tail)) + limit * np.exp(self._log_sf(limit, eta, params))
        return np.where(limit > 0, value, 0.0)

    def _mean_var(self, eta, params):
        mu = np.exp(eta)
        return mu, mu**3 / params["precision"]

    def _draw(self, eta, own, rs):
        return rs.wald(np.exp(eta), own["precision"])

    # -- inference: the coefficients, then log(dispersion) = -log(lambda), in the units of y;
    # scores and Hessian by central differences of the log-density (the base's defaults)
    def _extra_vector(self, params):
        return -np.log(params["precision"])[:, None]

    def _with_extra(self, params, extra):
        return {**params, "precision": np.exp(-extra[:, 0])}

    def _extra_bounds(self):
        """The log dispersion at least ``-log`` of the precision's cap."""
        return np.array([-np.log(min(1.0 / self.reg_variance, MAX_PRECISION))]), np.array([np.inf])

    def _extra_labels(self, label, info):
        # dispersion_ = 1 / (lambda * scale): y is divided by its weighted mean ``scale``
        return [scalar(label, "log_dispersion", 1.0, -np.log(info["scale"]))]

    def inference_fixed(self, params):
        """A precision on its cap (the dispersion on ``reg_variance``): held there."""
        fixed = np.zeros(self.inference_vector(params).shape, dtype=bool)
        fixed[:, -1] = params["precision"] >= min(1.0 / self.reg_variance, MAX_PRECISION)
        return fixed
