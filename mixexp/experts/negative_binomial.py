"""Negative binomial (NB2) experts: over-dispersed counts with a log link and a dispersion per expert.

``y | x, leaf ~ NB(mean mu(x), size theta)``, ``log mu(x) = B x + b +
log(exposure)``, as ``MASS::glm.nb`` (``theta``) and ``dnbinom(y, size=theta,
mu=mu)``::

    p(y) = Gamma(y + theta) / (Gamma(theta) y!) (theta / (mu + theta))^theta (mu / (mu + theta))^y,

``E y = mu``, ``Var y = mu + phi mu^2`` with the dispersion ``phi = 1 / theta``
(``dispersion_``; ``phi -> 0`` is the Poisson).  ``y`` must be non-negative
integers: the negative binomial is a distribution of counts, and a fractional
``y`` is refused (unlike ``"poisson"``, whose quasi-likelihood takes it).

The M-step of a leaf maximises ``sum_i w_i log p(y_i | x_i) - alpha / 2
||B||^2`` jointly over ``(B, b, log theta)`` by damped Newton within bounds
(:func:`~mixexp.experts.glm.fit_log_link`), each step never decreasing it;
the log-likelihood is concave in the coefficients for a fixed ``theta`` but
not jointly, and Newton's Hessian is made definite where it is not.  ``theta``
lies in ``[THETA_MIN, m / reg_variance]``, ``m`` the weighted mean count (at least
1): the over-dispersion at it, ``phi m = Var / mean - 1`` there, is at least ``reg_variance``
(a scale-free bound, as the Gamma's on its squared coefficient of variation);
the bound is the data's, the same at every iteration.
"""

import numpy as np
from scipy import stats
from scipy.special import betaln, digamma, polygamma

from .._inference_parts import scalar
from .._numerics.shapes import nb_log_pmf, nb_step_terms, nb_value_sums, step_outputs
from .glm import LogLinkExperts, _exp, beta_lower, fit_log_link, log_beta_lower

THETA_MIN = 1e-4  # smallest size (largest dispersion)
THETA_MAX = 1e12  # largest size when reg_variance is tinier


def _log_norm(y, theta):
    """``log Gamma(y + theta) - log Gamma(theta) - log y!`` (as ``-betaln(y, theta) - log y``
    for ``y > 0``: no cancellation for a large ``theta``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, -betaln(np.maximum(y, 1.0), theta) - np.log(np.maximum(y, 1.0)), 0.0)


def _excess_parts(eta, log_theta):
    """``exp(-|r|)`` and ``log(1 + mu / theta) = max(r, 0) + log1p(exp(-|r|))``, ``r = eta -
    log theta``: ``log(mu + theta) - log(theta)`` without the difference, which loses ``mu /
    theta``'s digits (times ``theta``) when ``theta`` is large (near the Poisson); numpy's
    ``logaddexp`` gives the same digits ten times slower."""
    r = eta - log_theta
    e = np.abs(r)
    np.negative(e, out=e)
    np.exp(e, out=e)
    excess = np.log1p(e)
    excess += np.maximum(r, 0.0, out=r)  # in place: the E-step's and line search's arrays are (n, K)
    return e, excess


def _excess(eta, log_theta):
    """``log(1 + mu / theta)`` (:func:`_excess_parts`)."""
    return _excess_parts(eta, log_theta)[1]


def _log_pmf(y, eta, log_theta, norm=None):
    """``log p(y)`` of the NB with ``log mu = eta`` and ``log theta``, broadcast (``norm``:
    :func:`_log_norm` of ``y``, when known; the E-step's: :func:`~mixexp._numerics.shapes.nb_log_pmf`)."""
    theta = np.exp(log_theta)
    excess = _excess(eta, log_theta)
    return (_log_norm(y, theta) if norm is None else norm) + y * (eta - log_theta - excess) - theta * excess


def _derivatives(y, eta, log_theta, excess, psi1, psi2):
    """``ell_eta``, ``ell_eta_eta``, ``ell_s``, ``ell_eta_s``, ``ell_s_s`` of ``ell = log p(y)`` in
    ``eta`` and ``s = log theta``, broadcast (``excess``: :func:`_excess`; ``psi1``, ``psi2``:
    :func:`_digamma_steps` of ``y``).  One exponential: with ``r = eta - s``, the success
    probability ``p = theta / (mu + theta)`` and ``q = 1 - p`` are ``1 / (1 + e^-|r|)`` and
    ``e^-|r| / (1 + e^-|r|)`` (which is which by the sign of ``r``), ``1 / (mu + theta) = p /
    theta`` and ``mu p = theta q``."""
    theta = np.exp(log_theta)
    r = eta - log_theta
    e = np.exp(-np.abs(r))
    d = 1.0 + e
    above = r > 0
    p, q = np.where(above, e, 1.0) / d, np.where(above, 1.0, e) / d
    inv = p / theta  # 1 / (mu + theta)
    # d/dtheta: the terms are each of order 1/theta, their sum of 1/theta^2 near the Poisson:
    # none is formed as a difference of large numbers
    centred = q - y * inv  # (mu - y) / (mu + theta)
    d_theta = psi1 - excess + centred
    d2_theta = psi2 + 1.0 / theta - inv - centred * inv
    return (y - (y + theta) * q, -(y + theta) * q * p, theta * d_theta, (y * p - theta * q) * q,
            theta * d_theta + theta * theta * d2_theta)


def _count_index(y):
    """Counts ``values`` and every count's index among them, ``(values, index)``: ``0, 1, ...,
    max y`` when no more than the counts, else the distinct counts; the special functions of
    the counts are then evaluated once per value (they dominate the passes otherwise)."""
    top = y.max(initial=0.0)
    if top < y.shape[0]:
        return np.arange(top + 1.0), y.astype(np.intp)
    return np.unique(y, return_inverse=True)


MAX_STEPS = 100_000  # largest count whose digamma differences are sums of its steps


def _digamma_steps(counts, theta):
    """``psi(y + theta) - psi(theta)`` and ``psi'(y + theta) - psi'(theta)`` of the distinct
    whole ``counts``: the sums ``sum_{j < y} 1 / (theta + j)`` and ``-sum 1 / (theta + j)^2``,
    exact to rounding however large ``theta`` (the differences of digammas lose ``psi(theta)``'s
    rounding, ``1e-15 log theta``, against values of order ``y / theta``); the differences of
    digammas beyond ``MAX_STEPS``."""
    top = int(counts.max(initial=0.0))
    if top > MAX_STEPS:
        return (digamma(counts + theta) - digamma(theta), polygamma(1, counts + theta) - polygamma(1, theta))
    inv = 1.0 / (theta + np.arange(top))
    first = np.concatenate([[0.0], np.cumsum(inv)])
    second = np.concatenate([[0.0], -np.cumsum(inv * inv)])
    k = counts.astype(np.intp)
    return first[k], second[k]


class NegativeBinomialExperts(LogLinkExperts):
    """Negative binomial (NB2) regression experts with log link (see the module docstring).

    Parameters
    ----------
    alpha : float
        L2 penalty on the coefficients (not intercepts), standardised features.
    reg_variance : float
        Lower bound on every dispersion ``phi = 1 / theta`` times the weighted mean count.
    """


    name = "negative_binomial"
    has_distribution = True
    discrete = True
    newton_steps = 1

    def __init__(self, alpha, reg_variance):
        super().__init__(alpha)
        self.reg_variance = reg_variance

    @classmethod
    def from_params(cls, params):
        return cls(params["alpha"], params["reg_variance"])

    def _check_domain(self, y):
        if np.any(y < 0):
            raise ValueError(
                f"Some value(s) of y are negative which is not allowed for expert={self.name!r} "
                "(a count model)."
            )
        if np.any(y != np.floor(y)):
            raise ValueError(
                f"Some value(s) of y are not integers which is not allowed for expert={self.name!r} "
                "(a distribution of counts); round them, or use expert='poisson', whose "
                "quasi-likelihood takes fractional targets."
            )

    def init_params(self, n_leaves, n_params, info):
        return {**super().init_params(n_leaves, n_params, info), "theta": np.ones(n_leaves)}

    def _pass_context(self, rows):
        """The largest ``theta``: the weighted mean count over ``reg_variance`` (all rows); the
        distinct counts and every row's index among them."""
        _, (y, _), W = rows
        w = W.sum(axis=1)
        # the distinct counts of all rows, once a pass (a leaf with every row takes them)
        return {"max_theta": self._max_theta(w @ y, w.sum()), "distinct": np.unique(y, return_inverse=True)}

    def scores(self, Xa, target, params):
        y, offset = target
        eta, log_theta = self._eta(Xa, params, offset), np.log(params["theta"])
        counts = _count_index(y)
        table = self._count_tables(counts[0], log_theta)
        e, excess = _excess_parts(eta, log_theta)
        # the context: what the one Newton step's sums take (LogLinkExperts.stats)
        ctx = {"eta": eta, "extra": counts, "parts": (e, excess, table)}
        out = np.empty_like(eta)
        nb_log_pmf(y, eta, log_theta, excess, counts[1], table, out)
        return out, ctx

    # one Newton step per iteration from the pass's sums (LogLinkExperts._one_step_update)
    def _step_vector(self, params):
        return np.column_stack([params["coef"][:, 0, :], np.log(params["theta"])])

    def _from_step_vector(self, x, params, leaves):
        coef, theta = params["coef"].copy(), params["theta"].copy()
        coef[leaves, 0], theta[leaves] = x[leaves, :-1], np.exp(x[leaves, -1])
        return {**params, "coef": coef, "theta": theta}

    def _shape_bounds(self, N):
        return np.log(THETA_MIN), np.log(self._max_theta(N["wy"], N["w"]))

    def _max_theta(self, wy, w):
        """The largest ``theta``: the weighted mean count (``wy / w``, at least 1) over ``reg_variance``."""
        mean = wy / w if w > 0 else 0.0
        return min(max(mean, 1.0) / self.reg_variance, THETA_MAX)

    def _row_extra(self, target):
        return _count_index(target[0])

    def _count_tables(self, values, s):
        """``_log_norm`` of the count ``values`` under every leaf's ``theta = exp(s)``, ``(m,
        n_leaves)``."""
        return _log_norm(values[:, None], np.exp(s))

    def _weighted_terms(self, target, eta, s, extra, W, parts=None):
        values, index = extra
        e, excess, table = (*_excess_parts(eta, s), self._count_tables(values, s)) if parts is None else parts
        steps = [_digamma_steps(values, t) for t in np.exp(s)]
        psi1 = np.column_stack([first for first, _ in steps])
        psi2 = np.column_stack([second for _, second in steps])
        cross, curv, sums = step_outputs(*W.shape)
        nb_step_terms(target[0], eta, s, e, excess, index, table, psi1, psi2, W, cross, curv, sums)
        return cross, curv, sums

    def _weighted_value(self, target, eta, s, extra, W):
        values, index = extra
        out = np.zeros(W.shape[1])
        nb_value_sums(target[0], eta, s, _excess(eta, s), index, self._count_tables(values, s), W, out)
        return out

    def _fit_expert(self, Xa, y, offset, w, expert, max_theta, distinct):
        # the leaf's rows are all the rows when as many (LogLinkExperts._leaf_rows)
        counts, inverse = distinct if len(y) == len(distinct[1]) else np.unique(y, return_inverse=True)

        def per_count(func):
            """``func`` of every row's count, evaluated once per distinct count (the special
            functions dominate a Newton step otherwise)."""
            out = func(counts)
            return tuple(o[inverse] for o in out) if isinstance(out, tuple) else out[inverse]

        def value(eta, s):
            return _log_pmf(y, eta, s[0], per_count(lambda v: _log_norm(v, np.exp(s[0]))))

        def derivatives(eta, s):
            psi1, psi2 = per_count(lambda v: _digamma_steps(v, np.exp(s[0])))
            l_e, l_ee, l_s, l_es, l_ss = _derivatives(y, eta, s[0], _excess(eta, s[0]), psi1, psi2)
            return l_e, l_ee, l_s[:, None], l_es[:, None], l_ss[:, None, None]

        beta, s = fit_log_link(
            Xa, offset, w, expert["coef"][0], np.log([expert["theta"]]), np.log([THETA_MIN]),
            np.log([max_theta]), self.alpha, value, derivatives, max_iter=self.newton_steps,
        )
        return {"coef": beta, "theta": np.exp(s[0])}

    def attributes(self, params, coords, info):
        return {**super().attributes(params, coords, info), "dispersion_": 1.0 / params["theta"]}

    # -- the distribution ------------------------------------------------------------
    def _p(self, eta, params):
        """The success probability ``theta / (mu + theta)`` and its complement."""
        log_theta = np.log(params["theta"])
        L = np.logaddexp(eta, log_theta)
        return np.exp(log_theta - L), np.exp(eta - L)

    def _log_cdf(self, k, eta, params):
        # P(Y <= k) = I_p(theta, k + 1), P(Y > k) = I_(1-p)(k + 1, theta)
        p, q = self._p(eta, params)
        return np.where(k < 0, -np.inf, log_beta_lower(params["theta"], np.maximum(k, 0.0) + 1.0, p, q))

    def _log_sf(self, k, eta, params):
        p, q = self._p(eta, params)
        return np.where(k < 0, 0.0, log_beta_lower(np.maximum(k, 0.0) + 1.0, params["theta"], q, p))

    def _quantile(self, q, eta, params):
        return stats.nbinom.ppf(q, params["theta"], self._p(eta, params)[0])

    def _limited_mean(self, limit, eta, params):
        # E[Y 1(Y <= m)] = mu P(Y' <= m - 1), Y' ~ NB(theta + 1, p) (k p(k) = mu p'(k - 1))
        p, q = self._p(eta, params)
        theta, m = params["theta"], np.floor(limit)
        below = np.where(m >= 1, beta_lower(theta + 1.0, np.maximum(m, 1.0), p, q)[0], 0.0)
        return _exp(eta) * below + limit * beta_lower(m + 1.0, theta, q, p)[0]

    def _mean_var(self, eta, params):
        mu = _exp(eta)
        return mu, mu + mu**2 / params["theta"]

    def sample(self, Xa, params, info, leaf, rs, offset=None):
        eta = np.take_along_axis(self._leaf_eta(Xa, params, offset), leaf, axis=1)
        theta = params["theta"][leaf]
        p = np.exp(np.log(theta) - np.logaddexp(eta, np.log(theta)))
        return rs.negative_binomial(theta, p)[:, :, None].astype(np.float64)

    # -- inference: the coefficients, then log(dispersion) = -log(theta);
    # scores and Hessian by central differences of the log-density (the base's defaults)
    def _extra_vector(self, params):
        return -np.log(params["theta"])[:, None]

    def _with_extra(self, params, extra):
        return {**params, "theta": np.exp(-extra[:, 0])}

    def _extra_bounds(self):
        """The log dispersion ``-log theta`` with ``theta`` in ``[THETA_MIN, THETA_MAX]``."""
        return -np.log([THETA_MAX]), -np.log([THETA_MIN])

    def _extra_labels(self, label, info):
        return [scalar(label, "log_dispersion")]

    def inference_fixed(self, params):
        """``theta`` at or beyond ``1 / reg_variance``, held there: the region of its bound
        (the weighted mean count, at least 1, over ``reg_variance``), where the leaf is a
        Poisson to within ``reg_variance`` of over-dispersion and ``log theta`` is not
        determined by the data."""
        fixed = np.zeros(self.inference_vector(params).shape, dtype=bool)
        fixed[:, -1] = params["theta"] * self.reg_variance >= 1.0 - 1e-9
        return fixed
