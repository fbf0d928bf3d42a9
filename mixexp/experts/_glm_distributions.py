"""The distribution members of the Poisson and Gamma families (one target, units of y).

A stopgap kept apart from ``glm.py`` so that it merges cleanly with the branch that
gives :class:`~mixexp.experts.glm.PoissonExperts` and
:class:`~mixexp.experts.glm.GammaExperts` their own members: :func:`attach` sets these
on a class only when the class does not declare ``has_distribution`` itself (and
``discrete`` on the Poisson only when it does not declare it), so once ``glm.py``
has them this module does nothing and can be deleted.

Poisson with mean ``mu`` (counts; ``F(y) = P(Y <= floor(y))``)
    ``F = Q(k + 1, mu)`` (``pdtr``), ``1 - F = P(k + 1, mu)`` (``pdtrc``); the quantile
    is the smallest integer whose CDF reaches ``q``; ``E[min(Y, u)] = mu F(m - 1) + u
    (1 - F(m))`` with ``m = floor(u)`` (``j p(j) = mu p(j - 1)``).
Gamma with mean ``mu`` and shape ``a`` (scale ``theta = mu / a``)
    ``F = P(a, y / theta)`` (``gammainc``), ``1 - F = Q(a, y / theta)``; quantiles from
    the inverses of both (the upper half from ``1 - q``); ``E[min(Y, u)] = mu P(a + 1,
    u / theta) + u Q(a, u / theta)``.

All closed forms: the accuracy is that of scipy's incomplete gamma functions
(about 1e-14 relative).
"""

import numpy as np
from scipy.special import gammainc, gammaincc, gammainccinv, gammaincinv, pdtr, pdtrc, pdtrik

from .glm import GammaExperts, PoissonExperts


def _log(a):
    with np.errstate(divide="ignore"):
        return np.log(a)


class PoissonDistribution:
    """The Poisson family's distribution members (see the module docstring)."""

    has_distribution = True

    def log_cdf(self, Xa, y, params, info, offset=None):
        mu = self._mean(Xa, params, info, offset)
        k = np.floor(y)[:, None]
        return np.where(k < 0, -np.inf, _log(pdtr(np.maximum(k, 0.0), mu)))

    def log_sf(self, Xa, y, params, info, offset=None):
        mu = self._mean(Xa, params, info, offset)
        k = np.floor(y)[:, None]
        return np.where(k < 0, 0.0, _log(pdtrc(np.maximum(k, 0.0), mu)))

    def leaf_quantile(self, Xa, q, params, info, offset=None):
        mu = self._mean(Xa, params, info, offset)
        q = np.broadcast_to(q[:, None], mu.shape)
        with np.errstate(invalid="ignore"):
            k = np.ceil(pdtrik(q, mu))
        k = np.where(np.isfinite(k), np.maximum(k, 0.0), 0.0)
        # pdtrik inverts the CDF continued to real k: step to the smallest integer
        # whose CDF reaches q
        for _ in range(2):
            below = np.maximum(k - 1.0, 0.0)
            k = np.where((k > 0) & (pdtr(below, mu) >= q), below, k)
            k = np.where(pdtr(k, mu) < q, k + 1.0, k)
        return np.where(mu > 0, k, 0.0)

    def leaf_limited_mean(self, Xa, limit, params, info, offset=None):
        mu = self._mean(Xa, params, info, offset)
        u = limit[:, None]
        m = np.floor(u)
        below = np.where(m >= 1, pdtr(np.maximum(m - 1.0, 0.0), mu), 0.0)
        above = np.where(m >= 0, pdtrc(np.maximum(m, 0.0), mu), 1.0)
        return mu * below + u * above


class GammaDistribution:
    """The Gamma family's distribution members (see the module docstring)."""

    has_distribution = True

    def _shape_scale(self, Xa, params, info, offset):
        a = params["shape"]
        return a, self._mean(Xa, params, info, offset) / a

    def log_cdf(self, Xa, y, params, info, offset=None):
        a, theta = self._shape_scale(Xa, params, info, offset)
        y = y[:, None]
        return np.where(y > 0, _log(gammainc(a, np.maximum(y, 0.0) / theta)), -np.inf)

    def log_sf(self, Xa, y, params, info, offset=None):
        a, theta = self._shape_scale(Xa, params, info, offset)
        y = y[:, None]
        return np.where(y > 0, _log(gammaincc(a, np.maximum(y, 0.0) / theta)), 0.0)

    def leaf_quantile(self, Xa, q, params, info, offset=None):
        a, theta = self._shape_scale(Xa, params, info, offset)
        q = q[:, None]
        lower = gammaincinv(a, np.minimum(q, 0.5))
        upper = gammainccinv(a, np.minimum(1.0 - q, 0.5))
        return theta * np.where(q <= 0.5, lower, upper)

    def leaf_limited_mean(self, Xa, limit, params, info, offset=None):
        a, theta = self._shape_scale(Xa, params, info, offset)
        u = limit[:, None]
        x = np.maximum(u, 0.0) / theta
        return np.where(u > 0, theta * a * gammainc(a + 1.0, x) + u * gammaincc(a, x), u)


def attach(cls, members, **flags):
    """Set ``members``' distribution members (and ``flags``) on ``cls`` where ``cls`` does
    not declare its own."""
    if "has_distribution" not in vars(cls):
        for name, value in vars(members).items():
            if not name.startswith("__"):
                setattr(cls, name, value)
    for name, value in flags.items():
        if name not in vars(cls):
            setattr(cls, name, value)


attach(PoissonExperts, PoissonDistribution, discrete=True)
attach(GammaExperts, GammaDistribution)
