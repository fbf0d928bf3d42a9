"""Burr XII experts: heavy-tailed positive amounts, a log link on the scale, two shapes per expert.

``y | x, leaf ~ Burr(shape1 alpha, shape2 gamma, scale theta(x))`` as in actuar's
``dburr``, ``log theta(x) = B x + b``:

    P(Y > y) = (1 + (y / theta)^gamma)^(-alpha),
    p(y) = alpha gamma (y / theta)^gamma / (y (1 + (y / theta)^gamma)^(alpha + 1)).

The tail is Pareto-like with index ``alpha gamma``: ``E y^r = theta^r Gamma(1 +
r/gamma) Gamma(alpha - r/gamma) / Gamma(alpha)`` exists only for ``r < alpha
gamma``, so the mean is infinite when ``alpha gamma <= 1`` and the variance when
``alpha gamma <= 2`` (``moments`` then gives ``inf``); quantiles and limited
means always exist.  ``alpha = 1`` is the log-logistic, ``gamma = 1`` the
Pareto II (Lomax); ``alpha -> inf`` tends to a Weibull.

The M-step of a leaf maximises ``sum_i w_i log p(y_i | x_i) - a gamma^2 / 2
||B||^2`` (``a`` the estimator's ``alpha``; ``1 / gamma`` is the scale of
``log y``, as in the Weibull family) jointly over ``(B, b, log alpha, log
gamma)`` by damped Newton within bounds (:func:`~mixexp.experts.glm.
fit_log_link`), each step never decreasing it.  The likelihood is concave in
``(gamma B, gamma)`` for a fixed ``alpha`` and in ``log alpha`` for fixed
others, not jointly: Newton's Hessian is made definite where it is not.
``alpha`` lies in ``[ALPHA_MIN, ALPHA_MAX]``, ``gamma`` in ``[GAMMA_MIN, 1 /
sqrt(reg_variance)]``.  Targets are divided by their weighted mean.
"""

import numpy as np
from scipy.special import betainc, betaincc, betaln, expit, gammaln, hyp2f1

from .._inference_parts import scalar
from .glm import PositiveAmountExperts, fit_log_link, log_one_minus_exp

ALPHA_MIN, ALPHA_MAX = 1e-3, 1e3  # bounds of the first shape (alpha -> inf: a Weibull)
GAMMA_MIN, GAMMA_MAX = 1e-2, 1e6  # bounds of the second (the upper one also 1 / sqrt(reg_variance))


def _softplus(z):
    """``log(1 + exp(z))`` without overflow."""
    return np.logaddexp(0.0, z)


def _power_integral(e, lo, hi):
    """``int_lo^hi r^(e - 1) dr = (hi^e - lo^e) / e`` (``log(hi / lo)`` at ``e = 0``), without
    the cancellation of the difference near ``e = 0`` or an overflow."""
    span = np.log(hi) - np.log(lo)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        factor = np.where(e == 0, span, -np.expm1(-np.abs(e) * span) / np.abs(e))
        return factor * np.where(e > 0, hi, lo) ** e


def _beta_below_half(a, b, v):
    """``B_v(a, b) = v^a (1 - v)^b / a 2F1(a + b, 1; a + 1; v)`` for ``v <= 1/2`` (any ``b``;
    the series converges at least as ``2^-n``)."""
    return np.exp(a * np.log(v) + b * np.log1p(-v)) / a * hyp2f1(a + b, 1.0, a + 1.0, v)


def _beta_above_half(a, b, w, n_terms=400):
    """``B_(1-w)(a, b)`` for ``w < 1/2`` and ``b <= 0``: ``B_(1/2)(a, b)`` plus ``int_w^(1/2)
    r^(b-1) (1-r)^(a-1) dr``, the binomial series of ``(1 - r)^(a - 1)`` integrated term by
    term, each term by :func:`_power_integral` (no cancellation as ``b + n`` crosses 0)."""
    total = _beta_below_half(a, b, np.full_like(w, 0.5))
    coef = np.ones_like(w)  # (1 - a)_n / n!
    for n in range(n_terms):
        term = coef * _power_integral(b + n, w, 0.5)
        total = total + term
        if n > 0 and np.all(np.abs(term) <= 1e-17 * np.abs(total)):
            break
        coef = coef * (n + 1.0 - a) / (n + 1.0)
    return total


def incomplete_beta(a, b, v, w):
    """The unregularised incomplete beta ``int_0^v t^(a-1) (1-t)^(b-1) dt`` for ``a > 0``,
    ``v`` in ``[0, 1)`` with ``w = 1 - v`` (each to its own precision) and any real ``b``
    (finite below 1 also for ``b <= 0``): ``B(a, b) I_v(a, b)`` for ``b > 0``; for ``b <=
    0`` a hypergeometric series in ``v <= 1/2`` and, above, its value at 1/2 and a series
    about ``w``."""
    a, b, v, w = (np.array(x, dtype=np.float64) for x in np.broadcast_arrays(a, b, v, w))
    out = np.empty(v.shape)
    pos = b > 0
    with np.errstate(divide="ignore"):
        out[pos] = np.exp(betaln(a[pos], b[pos]) + np.log(betainc(a[pos], b[pos], v[pos])))
    low = ~pos & (v <= 0.5)
    out[low] = _beta_below_half(a[low], b[low], v[low])
    high = ~pos & (v > 0.5)
    if np.any(high):
        out[high] = _beta_above_half(a[high], b[high], w[high])
    return out


def _raw_moment(r, a, g):
    """``E (Y / theta)^r`` of the Burr, ``inf`` where it does not exist (``a g <= r``)."""
    with np.errstate(invalid="ignore"):
        finite = a * g > r
        rest = np.where(finite, a - r / g, 1.0)
        return np.where(finite, np.exp(gammaln(1.0 + r / g) + gammaln(rest) - gammaln(a)), np.inf)


class BurrExperts(PositiveAmountExperts):
    """Burr XII regression experts with log link on the scale (see the module docstring).

    Parameters
    ----------
    alpha : float
        L2 penalty on the coefficients (not intercepts), scaled by ``gamma^2``.
    reg_variance : float
        Lower bound on ``1 / gamma^2`` (the squared scale of ``log y``).
    """


    name = "burr"
    uses_exposure = False
    has_distribution = True

    def init_params(self, n_leaves, n_params, info):
        ones = np.ones(n_leaves)
        return {**super().init_params(n_leaves, n_params, info), "shape": ones, "shape2": ones.copy()}

    def _max_gamma(self):
        return min(1.0 / np.sqrt(self.reg_variance), GAMMA_MAX)

    def scores(self, Xa, target, params):
        y, offset = target
        a, g = params["shape"], params["shape2"]
        log_y = np.log(y)[:, None]
        z = g * (log_y - self._eta(Xa, params, offset))
        return np.log(a) + np.log(g) - log_y + z - (a + 1.0) * _softplus(z), None

    def _fit_expert(self, Xa, y, offset, w, expert, **context):
        log_y = np.log(y)

        def value(eta, s):
            a = np.exp(s[0])
            z = np.exp(s[1]) * (log_y - eta)
            return s[0] + s[1] + z - (a + 1.0) * _softplus(z)

        def derivatives(eta, s):
            a, g = np.exp(s)
            z = g * (log_y - eta)
            sp, sig = _softplus(z), expit(z)
            l_z = 1.0 - (a + 1.0) * sig
            l_zz = -(a + 1.0) * sig * (1.0 - sig)
            l_s = np.column_stack([1.0 - a * sp, 1.0 + l_z * z])
            l_es = np.column_stack([g * a * sig, -g * (l_z + l_zz * z)])
            l_ss = np.empty((z.shape[0], 2, 2))
            l_ss[:, 0, 0] = -a * sp
            l_ss[:, 0, 1] = l_ss[:, 1, 0] = -a * sig * z
            l_ss[:, 1, 1] = l_zz * z * z + l_z * z
            return -g * l_z, g * g * l_zz, l_s, l_es, l_ss

        beta, s = fit_log_link(
            Xa, offset, w, expert["coef"][0], np.log([expert["shape"], expert["shape2"]]),
            np.log([ALPHA_MIN, GAMMA_MIN]), np.log([ALPHA_MAX, self._max_gamma()]), self.alpha, value,
            derivatives, scaled_by=1,
        )
        return {"coef": beta, "shape": np.exp(s[0]), "shape2": np.exp(s[1])}

    def penalty(self, params):
        return 0.5 * self.alpha * np.sum(params["shape2"] ** 2 * np.sum(params["coef"][:, 0, :-1] ** 2, axis=1))

    def attributes(self, params, coords, info):
        return {**super().attributes(params, coords, info), "shape_": params["shape"].copy(),
                "shape2_": params["shape2"].copy()}

    # -- the distribution (internal units) ------------------------------------------
    def _z(self, y, eta, params):
        with np.errstate(divide="ignore"):
            return params["shape2"] * (np.log(y) - eta)

    def _log_sf(self, y, eta, params):
        return -params["shape"] * _softplus(self._z(y, eta, params))

    def _log_cdf(self, y, eta, params):
        # log(1 - exp(-alpha softplus(z))), with log softplus(z) = z for z below -30
        z = self._z(y, eta, params)
        with np.errstate(divide="ignore"):
            log_softplus = np.where(z < -30.0, z, np.log(_softplus(np.maximum(z, -30.0))))
        return log_one_minus_exp(np.log(params["shape"]) + log_softplus)

    def _quantile(self, q, eta, params):
        a, g = params["shape"], params["shape2"]
        # theta (exp(L) - 1)^(1/gamma), L = -log(1 - q) / alpha, on the log scale: exp(L)
        # overflows for a tiny alpha (the Danish fire losses' 1.3e-3) while the quantile is moderate
        L = -np.log1p(-q) / a
        with np.errstate(divide="ignore"):
            return np.exp(eta + (L + np.log(-np.expm1(-L))) / g)

    def _limited_mean(self, limit, eta, params):
        # int_0^L P(Y > y) dy = theta / gamma B_v(1/gamma, alpha - 1/gamma), v = t / (1 + t),
        # t = (L / theta)^gamma (substitute v for y)
        a, g = params["shape"], params["shape2"]
        z = self._z(limit, eta, params)
        return np.exp(eta) / g * incomplete_beta(1.0 / g, a - 1.0 / g, expit(z), expit(-z))

    def _stop_loss(self, limit, eta, params):
        # int_L^inf P(Y > y) dy = theta / gamma B_w(p, q), p = alpha - 1/gamma, q = 1/gamma,
        # w = 1 / (1 + t), t = (L / theta)^gamma: directly, since the mean less the limited mean
        # cancels for a tiny alpha (both ~1e3 x the tail); for w < 1/2, w^p (1 - w)^q / p
        # 2F1(p + q, 1; p + 1; w) from log w = -softplus(z) (w itself underflows for large z)
        a, g = params["shape"], params["shape2"]
        z = self._z(limit, eta, params)
        p, q = np.broadcast_arrays(a - 1.0 / g, 1.0 / g, z)[:2]
        out = np.full(z.shape, np.inf)
        tail = (p > 0) & (z > 0)
        log_w = -_softplus(z[tail])
        out[tail] = (np.exp(p[tail] * log_w - q[tail] * _softplus(-z[tail])) / p[tail]
                     * hyp2f1(p[tail] + q[tail], 1.0, p[tail] + 1.0, np.exp(log_w)))
        body = (p > 0) & (z <= 0)  # 1 - I_v(q, p), v = 1 - w <= 1/2 to its own precision
        out[body] = np.exp(betaln(q[body], p[body])) * betaincc(q[body], p[body], expit(z[body]))
        return np.exp(eta) / g * out

    def _mean_var(self, eta, params):
        a, g = params["shape"], params["shape2"]
        theta = np.exp(eta)
        m1, m2 = _raw_moment(1.0, a, g), _raw_moment(2.0, a, g)
        with np.errstate(invalid="ignore"):
            var = np.where(np.isfinite(m2), m2 - m1**2, np.inf)
        return theta * m1, theta**2 * var

    def _draw(self, eta, own, rs):
        return self._quantile(rs.uniform(size=eta.shape), eta, own)

    # -- inference: the coefficients, then log alpha and log gamma;
    # scores and Hessian by central differences of the log-density (the base's defaults)
    def _extra_vector(self, params):
        return np.log(np.column_stack([params["shape"], params["shape2"]]))

    def _with_extra(self, params, extra):
        return {**params, "shape": np.exp(extra[:, 0]), "shape2": np.exp(extra[:, 1])}

    def _extra_labels(self, label, info):
        return [scalar(label, "log_shape"), scalar(label, "log_shape2")]

    def inference_fixed(self, params):
        """Shapes on their bounds: held there."""
        fixed = np.zeros(self.inference_vector(params).shape, dtype=bool)
        a, g = params["shape"], params["shape2"]
        # a bound reached through exp(log bound) may miss it by a rounding
        near = 1e-9
        fixed[:, -2] = (a <= ALPHA_MIN * (1 + near)) | (a >= ALPHA_MAX * (1 - near))
        fixed[:, -1] = (g <= GAMMA_MIN * (1 + near)) | (g >= self._max_gamma() * (1 - near))
        return fixed
