"""The distribution members of the expert families (``has_distribution``).

Every family's ``log_cdf``, ``log_sf``, ``leaf_quantile``, ``leaf_limited_mean``,
``moments`` and ``sample`` against ``scipy.stats`` (the same distributions built from
the fitted attributes, in the units of y) and numerical integration of the density;
the tails in log space without underflow; infinite moments where the tail is too
heavy (Burr).  The Gaussian and Student-t families' members are tested with them.
"""

import warnings

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.exceptions import ConvergenceWarning

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_moe_family
from mixexp.experts import EXPERTS


def _poisson(eta, fitted, k):
    return stats.poisson(np.exp(eta))


def _gamma(eta, fitted, k):
    phi = fitted.dispersion_[k]
    return stats.gamma(1.0 / phi, scale=np.exp(eta) * phi)


def _nbinom(eta, fitted, k):
    theta = 1.0 / fitted.dispersion_[k]
    return stats.nbinom(theta, theta / (theta + np.exp(eta)))


def _lognorm(eta, fitted, k):
    return stats.lognorm(fitted.noise_scale_[k, 0], scale=np.exp(eta))


def _weibull(eta, fitted, k):
    return stats.weibull_min(fitted.shape_[k], scale=np.exp(eta))


def _invgauss(eta, fitted, k):
    phi = fitted.dispersion_[k]  # mean mu, lambda = 1 / phi: scipy's mu = mu phi, scale lambda
    return stats.invgauss(np.exp(eta) * phi, scale=1.0 / phi)


def _burr(eta, fitted, k):
    return stats.burr12(fitted.shape2_[k], fitted.shape_[k], scale=np.exp(eta))


class _ZIP:
    """A zero-inflated Poisson in scipy.stats' terms (scipy has none)."""

    def __init__(self, pi, mu):
        self.pi, self.poisson = pi, stats.poisson(mu)

    def cdf(self, y):
        return np.where(y < 0, 0.0, self.pi + (1.0 - self.pi) * self.poisson.cdf(y))

    def sf(self, y):
        return np.where(y < 0, 1.0, (1.0 - self.pi) * self.poisson.sf(y))

    def logcdf(self, y):
        return np.log(self.cdf(y))

    def logpmf(self, k):  # of positive counts
        return np.log1p(-self.pi) + self.poisson.logpmf(k)

    def logsf(self, y):
        return np.log(self.sf(y))

    def ppf(self, q):
        return np.where(q <= self.pi, 0.0, self.poisson.ppf(np.clip((q - self.pi) / (1.0 - self.pi), 0, 1)))

    def mean(self):
        return (1.0 - self.pi) * self.poisson.mean()

    def var(self):
        mu = self.poisson.mean()
        return (1.0 - self.pi) * mu * (1.0 + self.pi * mu)


def _zip(eta, fitted, k):
    return _ZIP(fitted.zero_inflation_[k], np.exp(eta))


# family -> (scipy.stats distribution of leaf k at the linear predictors eta, counts?, data)
SCIPY = {
    "poisson": (_poisson, True, {}),
    "zip": (_zip, True, {}),
    "negative_binomial": (_nbinom, True, {}),
    "gamma": (_gamma, False, {}),
    "lognormal": (_lognorm, False, {}),
    "weibull": (_weibull, False, {}),
    "inverse_gaussian": (_invgauss, False, {"dispersion": 0.05}),
    "burr": (_burr, False, {"shape": 0.7, "shape2": 2.0}),
}
# the families whose members another part of the project owns
ELSEWHERE = {"linear", "student_t"}
FAMILIES = sorted(SCIPY)


def test_every_family_with_a_distribution_is_tested_here():
    with_distribution = {name for name, cls in EXPERTS["regression"].items() if cls.has_distribution}
    assert with_distribution - ELSEWHERE == set(SCIPY)


def _fitted(family, n=600, n_experts=2, seed=0, **data):
    X, y = make_moe_family(family, n, n_features=2, n_experts=n_experts, random_state=seed,
                           **{**SCIPY[family][2], **data})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MixtureOfExpertsRegressor(n_experts, expert=family, max_iter=50, random_state=0).fit(X, y)
    return model, X[:6], y


def _members(model, X):
    """The family, its design and fitted parameters: what the members take."""
    design, state = model._design(X)
    return state.experts, design.expert_X, state.params["experts"], state.info


def _eta(model, X, k):
    return X @ model.expert_coef_[k, 0] + model.expert_intercept_[k, 0]


def _levels(n):
    """Quantile levels from the far lower to the far upper tail, one per row."""
    return np.array([1e-12, 1e-4, 0.1, 0.5, 0.9, 1.0 - 1e-9])[:n]


@pytest.mark.parametrize("family", FAMILIES)
def test_distribution_function_and_quantiles_are_scipys(family):
    model, X, _ = _fitted(family)
    experts, Xe, params, info = _members(model, X)
    assert experts.has_distribution
    make, counts, _ = SCIPY[family]
    q = _levels(X.shape[0])
    quantiles = experts.leaf_quantile(Xe, q, params, info)
    for k in range(model.n_experts):
        dist = make(_eta(model, X, k), model, k)
        ref = dist.ppf(q)
        if counts:
            np.testing.assert_array_equal(quantiles[:, k], ref)
        else:
            np.testing.assert_allclose(quantiles[:, k], ref, rtol=1e-8)
        # the distribution function at points from the far lower to the far upper tail
        if not counts:  # at the quantiles: the levels, to their relative precision
            np.testing.assert_allclose(experts.log_cdf(Xe, ref, params, info)[:, k], np.log(q), rtol=1e-8)
            np.testing.assert_allclose(experts.log_sf(Xe, ref, params, info)[:, k], np.log1p(-q), rtol=1e-7)
        for y in (ref, 0.5 * ref, 2.0 * ref + 1.0):
            log_cdf = experts.log_cdf(Xe, y, params, info)[:, k]
            log_sf = experts.log_sf(Xe, y, params, info)[:, k]
            # scipy's own logs lose digits in some tails (burr12's logcdf): its probabilities
            np.testing.assert_allclose(np.exp(log_cdf), dist.cdf(y), rtol=1e-8, atol=1e-14)
            np.testing.assert_allclose(np.exp(log_sf), dist.sf(y), rtol=1e-8, atol=1e-14)
            np.testing.assert_allclose(np.logaddexp(log_cdf, log_sf), 0.0, atol=1e-12)
        if counts:  # the smallest count whose distribution function reaches q
            assert np.all(np.exp(experts.log_cdf(Xe, quantiles[:, k], params, info)[:, k]) >= q * (1 - 1e-12))
            below = experts.log_cdf(Xe, quantiles[:, k] - 1.0, params, info)[:, k]
            assert np.all(np.exp(below) < q)


@pytest.mark.parametrize("family", FAMILIES)
def test_limited_means_integrate_the_survival_function(family):
    model, X, y = _fitted(family)
    experts, Xe, params, info = _members(model, X)
    make, counts, _ = SCIPY[family]
    limits = np.quantile(y, [0.05, 0.3, 0.5, 0.7, 0.95, 0.999])[: X.shape[0]] + (0.5 if counts else 0.0)
    got = experts.leaf_limited_mean(Xe, limits, params, info)
    for k in range(model.n_experts):
        dist = make(_eta(model, X, k), model, k)
        for i, L in enumerate(limits):
            row = make(_eta(model, X[i : i + 1], k), model, k)
            if counts:  # E min(Y, L) = sum_{j < floor L} P(Y > j) + (L - floor L) P(Y > floor L)
                m = int(np.floor(L))
                ref = row.sf(np.arange(m)).sum() + (L - m) * row.sf(m)
            else:
                ref = integrate.quad(lambda t, row=row: row.sf(t)[0], 0.0, L, limit=200, epsabs=0,
                                     epsrel=1e-11)[0]
            np.testing.assert_allclose(got[i, k], np.ravel(ref)[0], rtol=1e-8)
        # E min(Y, L) -> E Y as L grows; below the support it is L
        far = experts.leaf_quantile(Xe, np.full(6, 1.0 - 1e-15), params, info)[:, k] * 1e6 + 1e3
        np.testing.assert_allclose(experts.leaf_limited_mean(Xe, far, params, info)[:, k],
                                   dist.mean(), rtol=1e-6)
        np.testing.assert_array_equal(experts.leaf_limited_mean(Xe, -np.ones(6), params, info)[:, k], -1.0)


@pytest.mark.parametrize("family", FAMILIES)
def test_moments_and_draws_follow_the_distribution(family):
    model, X, _ = _fitted(family)
    experts, Xe, params, info = _members(model, X)
    make = SCIPY[family][0]
    mean, var = experts.moments(Xe, params, info)
    rs = np.random.RandomState(0)
    leaf = np.zeros((X.shape[0], 4000), dtype=np.intp)
    draws = experts.sample(Xe, params, info, leaf, rs)[:, :, 0]
    for k in range(model.n_experts):
        dist = make(_eta(model, X, k), model, k)
        np.testing.assert_allclose(mean[:, k, 0], dist.mean(), rtol=1e-9)
        exists = np.isfinite(dist.var())  # scipy: nan or inf where the tail has no variance
        np.testing.assert_allclose(var[exists, k, 0], dist.var()[exists], rtol=1e-7)
        assert np.all(np.isinf(var[~exists, k, 0]))
    first = make(_eta(model, X, 0), model, 0)
    for i in range(X.shape[0]):  # the draws of leaf 0: its distribution (Kolmogorov-Smirnov)
        if SCIPY[family][1]:
            np.testing.assert_allclose(draws[i].mean(), first.mean()[i], rtol=0.1, atol=0.1)
        else:
            assert stats.kstest(draws[i], make(_eta(model, X[i : i + 1], 0), model, 0).cdf).pvalue > 1e-4


def test_burr_moments_are_infinite_where_the_tail_says_so():
    # tail index shape * shape2 = 0.8: no mean; the quantiles and limited means exist
    model, X, _ = _fitted("burr", n=3000, n_experts=1, shape=0.4, shape2=2.0)
    a, g = model.shape_[0], model.shape2_[0]
    assert a * g < 1.0
    experts, Xe, params, info = _members(model, X)
    mean, var = experts.moments(Xe, params, info)
    assert np.all(np.isinf(mean)) and np.all(np.isinf(var))
    pred, std = model.predict(X, return_std=True)
    assert np.all(np.isinf(pred)) and np.all(np.isinf(std))
    # limited means with shape - 1 / shape2 <= 0 (an incomplete beta with a non-positive argument)
    limits = np.array([0.5, 5.0, 50.0, 5e3, 5e6, 5e12])
    got = experts.leaf_limited_mean(Xe, limits, params, info)[:, 0]
    for i, L in enumerate(limits):
        dist = stats.burr12(g, a, scale=np.exp(_eta(model, X[i : i + 1], 0))[0])
        # int_0^L P(Y > t) dt in log t (t = e^u), where the integrand is smooth
        ref = integrate.quad(lambda u, dist=dist: np.exp(u) * dist.sf(np.exp(u)), -60.0, np.log(L),
                             limit=500, epsabs=0, epsrel=1e-11)[0]
        np.testing.assert_allclose(got[i], ref, rtol=1e-8)
    # tail index in (1, 2]: a mean, no variance
    params2 = {**params, "shape": np.array([1.5 / g])}
    mean2, var2 = experts.moments(Xe, params2, info)
    assert np.all(np.isfinite(mean2)) and np.all(np.isinf(var2))


def test_burr_quantiles_with_a_tiny_first_shape():
    # the Danish fire losses' single Burr fit (shape 1.3e-3, shape2 976): exp(-log(1 - q) / shape)
    # overflows while the quantiles are moderate; they invert the distribution function
    model, X, _ = _fitted("burr", n=500, n_experts=1)
    experts, Xe, params, info = _members(model, X)
    params = {**params, "shape": np.array([1.3e-3]), "shape2": np.array([976.0])}
    q = np.linspace(0.05, 0.999, Xe.shape[0])
    got = experts.leaf_quantile(Xe, q, params, info)[:, 0]
    assert np.all(np.isfinite(got)) and np.all(got > 0)
    np.testing.assert_allclose(np.exp(experts.log_cdf(Xe, got, params, info)[:, 0]), q, rtol=1e-9)


@pytest.mark.parametrize("family", ["weibull", "burr", "lognormal", "inverse_gaussian", "gamma"])
def test_far_tails_do_not_underflow(family):
    model, X, _ = _fitted(family)
    experts, Xe, params, info = _members(model, X)
    # the Weibull's log P(Y > y) = -(y / lambda)^k itself overflows beyond about 1e154 (k = 2)
    tiny, huge = np.full(6, 1e-280), np.full(6, 1e100 if family == "weibull" else 1e250)
    for y, member in ((tiny, experts.log_cdf), (huge, experts.log_sf)):
        value = member(Xe, y, params, info)
        assert np.all(np.isfinite(value)) and np.all(value < -20), (member.__name__, value)
    np.testing.assert_allclose(experts.log_cdf(Xe, huge, params, info), 0.0, atol=1e-300)
    np.testing.assert_allclose(experts.log_sf(Xe, tiny, params, info), 0.0, atol=1e-12)


def _solve_log(member, target, lo, hi):
    """The ``y`` in ``[lo, hi]`` (geometric bisection) where ``member(y)`` crosses ``target``."""
    lo, hi = np.log(lo), np.log(hi)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if (member(np.exp(mid)) > target) == (member(np.exp(lo)) > target):
            lo = mid
        else:
            hi = mid
    return np.exp(0.5 * (lo + hi))


@pytest.mark.parametrize("family", FAMILIES)
def test_tails_beyond_underflow_are_accurate(family):
    # where the probability is e^-1000 (below the smallest double), against scipy's log
    # density summed (counts) or integrated in log space
    model, X, _ = _fitted(family)
    experts, Xe, params, info = _members(model, X[:1])
    make, counts, _ = SCIPY[family]
    dist = make(_eta(model, X[:1], 0), model, 0)

    def member(which):
        return lambda y: getattr(experts, which)(Xe, np.array([y]), params, info)[0, 0]

    if counts:
        k = np.floor(_solve_log(member("log_sf"), -1000.0, 1.0, 1e12))
        tail = dist.logpmf(k + 1 + np.arange(20000))
        ref = np.log(np.sum(np.exp(tail - tail.max()))) + tail.max()
        np.testing.assert_allclose(member("log_sf")(k), ref, rtol=1e-9)
        return
    # Burr's polynomial upper tail reaches e^-1000 only beyond the largest double
    y = _solve_log(member("log_sf"), -250.0 if family == "burr" else -1000.0, 1e-3, 1e300)

    def log_integral(y, lo, hi):
        """log of the density's integral over ``y e^u``, ``u`` in ``[lo, hi]``."""
        top = dist.logpdf(y)[0] + np.log(y)
        lo, hi = max(lo, np.log(1e-300 / y)), min(hi, np.log(1e300 / y))  # within the doubles
        # the integrand falls from 1 at u = 0 within a width of 1e-3 or less: pieces from 0 out
        steps = 10.0 ** np.arange(-8, 4)
        edges = np.unique(np.clip(np.concatenate([[0.0], steps, -steps]), lo, hi))
        ratio = sum(integrate.quad(lambda u: np.exp(dist.logpdf(y * np.exp(u))[0] + np.log(y) + u - top), a, b,
                                   epsabs=0, epsrel=1e-13, limit=200)[0] for a, b in zip(edges[:-1], edges[1:]))
        return top + np.log(ratio)

    np.testing.assert_allclose(member("log_sf")(y), log_integral(y, 0.0, np.inf), rtol=1e-9)
    y = _solve_log(member("log_cdf"), -1000.0, 1e-300, 1.0)
    np.testing.assert_allclose(member("log_cdf")(y), log_integral(y, -np.inf, 0.0), rtol=1e-9)


@pytest.mark.parametrize("theta", [1e9, 1e12, 1e15])
def test_negative_binomial_near_its_poisson_limit_keeps_its_digits(theta):
    # theta / (mu + theta) rounds near 1; P(Y <= k) and P(Y > k) come from mu / (mu + theta)
    # (main before this: log P(Y = 0) -1.49925 at theta = 1e12, -3.0 at 1e15, for -1.5)
    experts = EXPERTS["regression"]["negative_binomial"](alpha=1.0, reg_variance=1e-6)
    mu, k = np.array([0.2, 1.5, 40.0]), np.arange(0.0, 60.0)[:, None]
    eta, params = np.broadcast_to(np.log(mu), (k.size, mu.size)), {"theta": np.full(mu.size, theta)}
    # the NB's distance to the Poisson is of order mu^2 / theta in these logs
    atol = 1e-9 + 10.0 * mu.max() ** 2 / theta
    np.testing.assert_allclose(experts._log_cdf(k, eta, params), stats.poisson.logcdf(k, mu), rtol=1e-9,
                               atol=atol)
    np.testing.assert_allclose(experts._log_sf(k, eta, params), stats.poisson.logsf(k, mu), rtol=1e-9,
                               atol=atol)
    limit = np.full_like(eta, 3.0)
    poisson_mean = sum(j * stats.poisson.pmf(j, mu) for j in range(4)) + 3.0 * stats.poisson.sf(3, mu)
    np.testing.assert_allclose(experts._limited_mean(limit, eta, params)[0], poisson_mean, rtol=1e-9, atol=atol)
