"""Censored and truncated responses (``y_upper=``, ``truncation=``): likelihoods from the
families' distribution functions, EM monotone (a per-leaf numerical M-step kept only when it
does not lose), references written with scipy.stats and scipy.optimize."""

import warnings

import numpy as np
import pytest
from scipy import optimize, stats
from sklearn.linear_model import LinearRegression

from mixexp import HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsClassifier, MixtureOfExpertsRegressor


def _quiet(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit()


def censored_linear(n=300, seed=0, limit=2.5):
    """A linear-Gaussian response right-censored at ``limit``: ``(X, y, y_upper, y_true)``."""
    rs = np.random.RandomState(seed)
    X = rs.normal(size=(n, 2))
    y_true = X @ [1.0, -0.5] + 2.0 + rs.normal(size=n)
    y = np.minimum(y_true, limit)
    return X, y, np.where(y_true > limit, np.inf, y), y_true


def two_regimes(n=360, seed=1):
    """Two opposite slopes, censored above 1.5 and truncated below -2 (rows below are dropped)."""
    rs = np.random.RandomState(seed)
    X = rs.normal(size=(n, 1))
    z = rs.uniform(size=n) < 1.0 / (1.0 + np.exp(-2.0 * X[:, 0]))
    y_true = np.where(z, 1.5 * X[:, 0], -1.5 * X[:, 0]) + 0.5 * rs.normal(size=n)
    keep = y_true > -2.0
    X, y_true = X[keep], y_true[keep]
    y = np.minimum(y_true, 1.5)
    return X, y, np.where(y_true > 1.5, np.inf, y)


def test_one_censored_gaussian_expert_is_the_scipy_maximum():
    X, y, y_upper, _ = censored_linear()
    model = _quiet(lambda: MixtureOfExpertsRegressor(1, alpha=0.0, gate_alpha=0.0, tol=1e-12, random_state=0)
                   .fit(X, y, y_upper=y_upper))
    cens = np.isinf(y_upper)

    def nll(theta):
        mu, s = X @ theta[:2] + theta[2], np.exp(theta[3])
        return -(stats.norm.logpdf(y[~cens], mu[~cens], s).sum() + stats.norm.logsf(y[cens], mu[cens], s).sum())

    best = optimize.minimize(nll, np.zeros(4), method="BFGS", options={"gtol": 1e-9})
    ll = model.log_likelihood(X, y, y_upper=y_upper)
    np.testing.assert_allclose(ll.sum(), -best.fun, atol=1e-6)
    np.testing.assert_allclose(model.lower_bound_ * X.shape[0], -best.fun, atol=1e-6)
    np.testing.assert_allclose(model.expert_coef_[0, 0], best.x[:2], atol=1e-4)
    np.testing.assert_allclose(model.expert_intercept_[0, 0], best.x[2], atol=1e-4)
    np.testing.assert_allclose(model.noise_variance_[0, 0], np.exp(2 * best.x[3]), rtol=1e-4)
    # the naive fit (censored values taken as exact) is biased towards the limit
    naive = LinearRegression().fit(X, y)
    assert abs(naive.intercept_ - 2.0) > abs(model.expert_intercept_[0, 0] - 2.0) + 0.1


def test_one_censored_lognormal_expert_is_the_gaussian_fit_of_log_y():
    # the Gaussian family imputes censored rows; the log-normal, a subclass on log y, must not
    # take that path with its ends in units of y (it raised KeyError before)
    X, y, y_upper, _ = censored_linear()
    fit = dict(alpha=0.0, gate_alpha=0.0, tol=1e-12, max_iter=5000, random_state=0)
    gaussian = _quiet(lambda: MixtureOfExpertsRegressor(1, **fit).fit(X, y, y_upper=y_upper))
    lognormal = _quiet(lambda: MixtureOfExpertsRegressor(1, expert="lognormal", **fit)
                       .fit(X, np.exp(y), y_upper=np.exp(y_upper)))
    np.testing.assert_allclose(lognormal.expert_coef_[0, 0], gaussian.expert_coef_[0, 0], atol=1e-4)
    np.testing.assert_allclose(lognormal.expert_intercept_[0, 0], gaussian.expert_intercept_[0, 0], atol=1e-4)
    exact = ~np.isinf(y_upper)  # the log-normal density has the Jacobian 1 / y of its exact rows
    np.testing.assert_allclose(lognormal.log_likelihood(X, np.exp(y), y_upper=np.exp(y_upper)).sum(),
                               gaussian.log_likelihood(X, y, y_upper=y_upper).sum() - y[exact].sum(),
                               atol=1e-5)

def test_censored_student_t_experts_fit_monotonically():
    # a subclass of the Gaussian family: it must not take the Gaussian's imputed-censoring
    # path (it raised KeyError before)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 2))
    y = X @ [1.0, 2.0] + rng.standard_t(5, 300)
    y_upper = np.where(rng.uniform(size=300) < 0.2, np.inf, y)
    model = _quiet(lambda: MixtureOfExpertsRegressor(2, expert="student_t", max_iter=30, tol=0.0, random_state=0)
                   .fit(X, y, y_upper=y_upper))
    gains = np.diff(model.lower_bounds_)
    assert gains.min() >= -1e-12 * abs(model.lower_bound_)
    assert np.isfinite(model.log_likelihood(X, y, y_upper=y_upper)).all()

def test_one_truncated_lognormal_expert_is_the_scipy_maximum():
    """Losses observed only above a deductible: the truncated likelihood's maximum."""
    rs = np.random.RandomState(3)
    x = rs.normal(size=2000)
    y = np.exp(1.0 + 0.5 * x + 0.8 * rs.normal(size=x.shape[0]))
    d = 3.0
    keep = y > d
    X, y = x[keep, None], y[keep]
    model = _quiet(lambda: MixtureOfExpertsRegressor(
        1, expert="lognormal", alpha=0.0, gate_alpha=0.0, tol=1e-12, max_iter=5000, random_state=0
    ).fit(X, y, truncation=(d, np.inf)))

    def nll(theta):
        mu, s = theta[0] * X[:, 0] + theta[1], np.exp(theta[2])
        return -(stats.lognorm.logpdf(y, s, scale=np.exp(mu)) - stats.lognorm.logsf(d, s, scale=np.exp(mu))).sum()

    best = optimize.minimize(nll, [0.0, np.log(y).mean(), 0.0], method="BFGS", options={"gtol": 1e-9})
    np.testing.assert_allclose(model.log_likelihood(X, y, truncation=(d, np.inf)).sum(), -best.fun, atol=1e-6)
    np.testing.assert_allclose(model.expert_coef_[0, 0, 0], best.x[0], atol=1e-4)
    np.testing.assert_allclose(model.expert_intercept_[0, 0], best.x[1], atol=1e-4)
    np.testing.assert_allclose(model.noise_scale_[0, 0], np.exp(best.x[2]), rtol=1e-4)


def test_interval_censored_counts_use_the_integers_of_the_interval():
    """``[y, y_upper]`` of counts is ``P(y <= Y <= y_upper)``; truncation ``(0, inf)`` divides
    by ``P(Y > 0)``."""
    rs = np.random.RandomState(0)
    X = rs.normal(size=(300, 1))
    y = rs.poisson(np.exp(1.0 + 0.5 * X[:, 0])).astype(float)
    model = _quiet(lambda: MixtureOfExpertsRegressor(1, expert="poisson", alpha=0.0, random_state=0).fit(X, y))
    mu = model.predict(X)
    lo, hi = y, y + rs.randint(0, 3, size=y.shape[0])
    hi[::7] = np.inf
    ref = np.log(stats.poisson.cdf(hi, mu) - stats.poisson.cdf(lo - 1, mu))
    np.testing.assert_allclose(model.log_likelihood(X, lo, y_upper=hi), ref, rtol=1e-10)
    pos = y > 0
    ref = stats.poisson.logpmf(y[pos], mu[pos]) - stats.poisson.logsf(0, mu[pos])
    np.testing.assert_allclose(model.log_likelihood(X[pos], y[pos], truncation=(0, np.inf)), ref, rtol=1e-10)


def test_one_em_iteration_is_the_plain_scipy_iteration():
    """E-step: the gate times the censored densities (scipy.stats), each row's likelihood
    divided by the mixture's probability of its truncation interval; M-step of the experts:
    scipy's maximum of each expert's weighted censored log-likelihood plus the expected rows
    truncated away (``g_k (1 - P_k) / sum_j g_j P_j`` of them per row), censored to outside
    the interval."""
    X, y, y_upper = two_regimes()
    trunc = (-2.0, np.inf)
    model = _quiet(lambda: MixtureOfExpertsRegressor(2, alpha=0.0, max_iter=3, random_state=0, warm_start=True)
                   .fit(X, y, y_upper=y_upper, truncation=trunc))
    gates = model.predict_gate(X)
    mu = np.einsum("nd,kd->nk", X, model.expert_coef_[:, 0]) + model.expert_intercept_[:, 0]
    sd = np.sqrt(model.noise_variance_[:, 0])
    cens = np.isinf(y_upper)
    dens = np.where(cens[:, None], stats.norm.logsf(y[:, None], mu, sd), stats.norm.logpdf(y[:, None], mu, sd))
    kept = stats.norm.sf(trunc[0], mu, sd)  # P_k(Y > -2 | x)
    joint = np.log(gates) + dens
    post = np.exp(joint - np.logaddexp.reduce(joint, axis=1)[:, None])
    loglik = np.logaddexp.reduce(joint, axis=1) - np.log(np.sum(gates * kept, axis=1))
    np.testing.assert_allclose(model.responsibilities(X, y, y_upper=y_upper, truncation=trunc), post, atol=1e-10)
    np.testing.assert_allclose(model.log_likelihood(X, y, y_upper=y_upper, truncation=trunc), loglik, atol=1e-10)
    phantom = gates * (1.0 - kept) / np.sum(gates * kept, axis=1)[:, None]
    _quiet(lambda: model.set_params(max_iter=1).fit(X, y, y_upper=y_upper, truncation=trunc))
    for k in range(2):
        def nll(theta, k=k):
            m, s = X[:, 0] * theta[0] + theta[1], np.exp(theta[2])
            f = np.where(cens, stats.norm.logsf(y, m, s), stats.norm.logpdf(y, m, s))
            return -(post[:, k] @ f + phantom[:, k] @ stats.norm.logcdf(trunc[0], m, s))

        start = [model.expert_coef_[k, 0, 0], model.expert_intercept_[k, 0], np.log(sd[k])]
        best = optimize.minimize(nll, start, method="BFGS", options={"gtol": 1e-10})
        np.testing.assert_allclose(model.expert_coef_[k, 0, 0], best.x[0], atol=2e-4)
        np.testing.assert_allclose(model.expert_intercept_[k, 0], best.x[1], atol=2e-4)
        np.testing.assert_allclose(np.sqrt(model.noise_variance_[k, 0]), np.exp(best.x[2]), rtol=2e-4)


@pytest.mark.parametrize("family", ["linear", "poisson"])
@pytest.mark.parametrize("hme", [False, True])
def test_em_is_monotone_with_censored_and_truncated_rows(family, hme):
    if family == "linear":
        X, y, y_upper = two_regimes()
        trunc = (-2.0, np.inf)
    else:
        rs = np.random.RandomState(2)
        X = rs.normal(size=(300, 1))
        y = rs.poisson(np.exp(np.where(rs.uniform(size=300) < 0.5, 1.0 + X[:, 0], 2.0 - X[:, 0]))).astype(float)
        keep = y > 0
        X, y = X[keep], y[keep]
        y_upper = np.where(y >= 8, np.inf, y)
        y_upper[::5] = y[::5] + 2  # interval-censored
        trunc = (0.0, np.inf)
    est = (HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, expert=family, max_iter=25, random_state=0)
           if hme else MixtureOfExpertsRegressor(2, expert=family, max_iter=25, random_state=0))
    model = _quiet(lambda: est.fit(X, y, y_upper=y_upper, truncation=trunc))
    gains = np.diff(model.lower_bounds_)
    assert gains.min() >= -1e-10 * abs(model.lower_bound_)
    # the bound is the mean censored, truncated log-likelihood (no penalty at alpha=0 aside)
    ll = model.log_likelihood(X, y, y_upper=y_upper, truncation=trunc)
    assert np.all(np.isfinite(ll))


def test_exact_rows_fit_bit_for_bit_as_without_censoring():
    X, y, _, _ = censored_linear(n=200)
    plain = MixtureOfExpertsRegressor(2, random_state=0, max_iter=20).fit(X, y)
    same = MixtureOfExpertsRegressor(2, random_state=0, max_iter=20).fit(X, y, y_upper=y.copy())
    np.testing.assert_array_equal(plain.lower_bounds_, same.lower_bounds_)
    np.testing.assert_array_equal(plain.expert_coef_, same.expert_coef_)
    np.testing.assert_array_equal(plain.predict(X), same.predict(X))
    np.testing.assert_array_equal(plain.log_likelihood(X, y), same.log_likelihood(X, y, y_upper=y))


def test_criteria_and_grouped_rows_take_censoring():
    X, y, y_upper, _ = censored_linear(n=200)
    model = _quiet(lambda: MixtureOfExpertsRegressor(1, random_state=0, gate_features=[]).fit(X, y, y_upper=y_upper))
    ll = model.log_likelihood(X, y, y_upper=y_upper)
    k = model._n_parameters()
    assert model.bic(X, y, y_upper=y_upper) == pytest.approx(-2 * ll.sum() + k * np.log(200))
    assert model.aic(X, y, y_upper=y_upper) == pytest.approx(-2 * ll.sum() + 2 * k)
    assert model.icl(X, y, y_upper=y_upper) == pytest.approx(model.bic(X, y, y_upper=y_upper))
    groups = np.arange(200) // 4
    per_group = model.log_likelihood(X, y, groups=groups, y_upper=y_upper)
    np.testing.assert_allclose(per_group, np.add.reduceat(ll, np.arange(0, 200, 4)))
    grouped = _quiet(lambda: MixtureOfExpertsRegressor(2, random_state=0, max_iter=10, gate_features=[])
                     .fit(X, y, groups=groups, y_upper=y_upper))
    assert np.diff(grouped.lower_bounds_).min() >= -1e-12


def test_bad_input_raises_and_leaves_the_fit_unchanged():
    X, y, y_upper, _ = censored_linear(n=120)
    model = _quiet(lambda: MixtureOfExpertsRegressor(2, random_state=0, max_iter=5).fit(X, y))
    before = model.expert_coef_.copy(), model.lower_bound_
    cases = [
        (dict(y_upper=y - 1.0), "y_upper should be >= y"),
        (dict(truncation=(3.0, np.inf)), "outside their interval"),
        (dict(truncation=(-np.inf, 0.0)), "outside their interval"),
        (dict(y_upper=y_upper[:-1]), "y_upper should be"),
        (dict(truncation=(np.zeros(5), np.inf)), "truncation's lower bound"),
        (dict(truncation=1.0), "truncation should be a tuple"),
        (dict(y_upper=np.full(120, np.nan)), "NaN"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            model.fit(X, y, **kwargs)
        with pytest.raises(ValueError, match=match):
            model.log_likelihood(X, y, **kwargs)
        np.testing.assert_array_equal(model.expert_coef_, before[0])
        assert model.lower_bound_ == before[1]
    with pytest.raises(ValueError, match="exposure is only accepted"):
        MixtureOfExpertsRegressor(1).fit(X, y, exposure=np.ones(120), y_upper=y_upper)
    counts = MixtureOfExpertsRegressor(1, expert="poisson", max_iter=5)
    with pytest.raises(ValueError, match="exposure must be positive"):
        counts.fit(X, np.ones(120), exposure=np.zeros(120), y_upper=np.full(120, np.inf))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        counts.fit(X, np.ones(120), exposure=np.ones(119), y_upper=np.full(120, np.inf))
    assert not hasattr(counts, "expert_coef_")
    with pytest.raises(ValueError, match="truncation is fitted with ungrouped rows"):
        MixtureOfExpertsRegressor(2, gate="gaussian").fit(X, y, truncation=(-10, np.inf))
    with pytest.raises(ValueError, match="truncation is fitted with ungrouped rows"):
        MixtureOfExpertsRegressor(2, gate_features=[]).fit(X, y, truncation=(-10, np.inf), groups=np.arange(120) // 2)
    with pytest.raises(ValueError, match="R²"):
        model.score(X, y, y_upper=y_upper)
    with pytest.raises(ValueError, match="y_upper should be >= y"):
        model.summary(X, y, y_upper=y - 1.0)
    with pytest.raises(ValueError, match="outside their interval"):
        model.summary(X, y, truncation=(3.0, np.inf))
    np.testing.assert_array_equal(model.expert_coef_, before[0])


def test_families_without_a_distribution_refuse_censored_rows():
    X, y, y_upper, _ = censored_linear(n=120)
    with pytest.raises(ValueError, match="has_distribution=False"):
        MixtureOfExpertsRegressor(2, expert=LinearRegression()).fit(X, y, y_upper=y_upper)
    labels = (y > 2).astype(int)
    clf = MixtureOfExpertsClassifier(2, random_state=0, max_iter=5).fit(X, labels)
    with pytest.raises(ValueError, match="has_distribution=False"):
        clf.log_likelihood(X, labels, truncation=(-1, 2))
    with pytest.raises(ValueError, match="gate='softmax' or 'gaussian'"):
        MixtureOfExpertsRegressor(2, gate="attention").fit(X, y, y_upper=y_upper)


# -- standard errors of censored and truncated fits --------------------------------------


def _weibull_losses(n=400, seed=5):
    """Weibull times of two regimes, right-censored at random times (a study's follow-up) and
    observed only above 0.3."""
    rs = np.random.RandomState(seed)
    X = rs.normal(size=(n, 1))
    z = rs.uniform(size=n) < 1.0 / (1.0 + np.exp(-1.5 * X[:, 0]))
    scale = np.exp(np.where(z, 1.2 + 0.4 * X[:, 0], 0.2 - 0.3 * X[:, 0]))
    y_true = scale * rs.weibull(np.where(z, 2.0, 1.3))
    follow_up = rs.uniform(1.0, 8.0, size=n)
    keep = y_true > 0.3
    X, y_true, follow_up = X[keep], y_true[keep], follow_up[keep]
    y = np.minimum(y_true, follow_up)
    return X, y, np.where(y_true > follow_up, np.inf, y)


@pytest.mark.parametrize("family", ["linear", "weibull"])
def test_censored_and_truncated_information_is_minus_the_hessian_of_the_public_log_likelihood(family):
    """The observed information of censored and truncated rows (Louis's identity on the
    censored log-densities, less that of the log of the mixture's truncation probability)
    against central differences of ``log_likelihood(X, y, y_upper=..., truncation=...)``."""
    import copy
    from dataclasses import replace

    from mixexp.inference import Layout, observed_information

    if family == "linear":
        (X, y, y_upper), truncation = two_regimes(), (-2.0, np.inf)
    else:
        (X, y, y_upper), truncation = _weibull_losses(), (0.3, np.inf)
    model = _quiet(lambda: MixtureOfExpertsRegressor(2, expert=family, random_state=0, max_iter=40)
                   .fit(X, y, y_upper=y_upper, truncation=truncation))
    kw = dict(y_upper=y_upper, truncation=truncation)
    design, state = model._design(X, y, **kw)
    state = replace(state, experts=state.fit_experts(censored=True))
    layout = Layout(state)
    assert not layout.fixed().any()
    theta = layout.pack(state.params)
    sw = np.random.RandomState(2).uniform(0.5, 1.5, X.shape[0])
    design.sw = sw
    info, meat, score, loglik = observed_information(layout, state.params, design)

    def public(t):
        moved = copy.copy(model)
        moved._fitted = replace(model._fitted, params=layout.unpack(t, model._fitted.params))
        return sw @ moved.log_likelihood(X, y, **kw)

    assert loglik + sw.sum() * state.loglik_shift() == pytest.approx(public(theta), rel=1e-12)
    h, P = 1e-4, theta.size
    E = h * np.eye(P)
    gradient = np.array([(public(theta + E[k]) - public(theta - E[k])) / (2 * h) for k in range(P)])

    def second_differences(h):
        E = h * np.eye(P)
        return np.array([[
            (public(theta + E[i] + E[j]) - public(theta + E[i] - E[j]) - public(theta - E[i] + E[j])
             + public(theta - E[i] - E[j])) / (4 * h * h) for j in range(P)] for i in range(P)])

    # Richardson's extrapolation of two small steps: the Gaussian fit ends with an expert of
    # standard deviation 1e-3 (standardised), whose second differences at h = 1e-4 are 50% off
    hessian = (4.0 * second_differences(1e-5) - second_differences(2e-5)) / 3.0
    np.testing.assert_allclose(score, gradient, atol=1e-5 * np.abs(gradient).max() + 1e-6)
    np.testing.assert_allclose(info, -hessian, atol=2e-4 * np.abs(info).max())
    # the truncation's term matters: without it the information is another matrix
    plain = replace(model._fitted, experts=model._fitted.fit_experts(censored=True))
    design_c, _ = model._design(X, y, y_upper=y_upper)
    design_c.sw = sw
    info_c = observed_information(Layout(plain), plain.params, design_c)[0]
    assert np.abs(info_c - info).max() > 1e-3 * np.abs(info).max()


def test_summary_of_censored_rows():
    X, y, y_upper, _ = censored_linear(n=300)
    model = _quiet(lambda: MixtureOfExpertsRegressor(1, alpha=0.0, gate_alpha=0.0, tol=1e-12, random_state=0)
                   .fit(X, y, y_upper=y_upper))
    table = model.summary(X, y, y_upper=y_upper)
    cens = np.isinf(y_upper)

    def nll(theta):
        mu, s = X @ theta[:2] + theta[2], np.exp(0.5 * theta[3])
        exact = stats.norm.logpdf(y[~cens], mu[~cens], s).sum()
        return -(exact + stats.norm.logsf(y[cens], mu[cens], s).sum())

    best = optimize.minimize(nll, np.zeros(4), method="BFGS", options={"gtol": 1e-10})
    # the inverse of a finite-difference Hessian of scipy's censored likelihood at its maximum
    h, E = 1e-4, 1e-4 * np.eye(4)
    H = np.array([[(nll(best.x + E[i] + E[j]) - nll(best.x + E[i] - E[j]) - nll(best.x - E[i] + E[j])
                    + nll(best.x - E[i] - E[j])) / (4 * h * h) for j in range(4)] for i in range(4)])
    se = np.sqrt(np.diag(np.linalg.inv(H)))  # x0, x1, intercept, log variance
    by_name = dict(zip(table["parameter"], table["std_error"]))
    np.testing.assert_allclose(
        [by_name["x0"], by_name["x1"], by_name["(intercept)"], by_name["log_noise_variance"]], se, rtol=2e-3
    )
    # the censored rows taken as exact give other standard errors
    naive = model.summary(X, y)
    assert not np.allclose(naive["std_error"], table["std_error"], rtol=0.05)
    sandwich = model.summary(X, y, y_upper=y_upper, cov_type="sandwich")
    assert np.all(np.isfinite(sandwich["std_error"]))


# -- exposure with censored and truncated counts ------------------------------------------


def _claims(n=600, seed=4, two=False):
    """Claim counts over exposures (years at risk), reported as "4 or more" above 3 and only
    for policies with at least one claim: ``(X, y, y_upper, exposure)``."""
    rs = np.random.RandomState(seed)
    X = rs.normal(size=(n, 1))
    exposure = rs.uniform(0.2, 3.0, size=n)
    eta = 0.3 + 0.6 * X[:, 0]
    if two:
        eta = np.where(rs.uniform(size=n) < 0.5, eta, 1.2 - 0.5 * X[:, 0])
    y = rs.poisson(exposure * np.exp(eta)).astype(float)
    keep = y > 0
    X, y, exposure = X[keep], y[keep], exposure[keep]
    y_upper = np.where(y >= 4, np.inf, y)
    return X, np.minimum(y, 4.0), y_upper, exposure


def test_censored_truncated_counts_with_exposure_are_the_scipy_maximum():
    X, y, y_upper, exposure = _claims()
    kw = dict(y_upper=y_upper, truncation=(0.0, np.inf), exposure=exposure)
    model = _quiet(lambda: MixtureOfExpertsRegressor(
        1, expert="poisson", alpha=0.0, gate_alpha=0.0, tol=1e-12, max_iter=500, random_state=0
    ).fit(X, y, **kw))
    cens = np.isinf(y_upper)

    def loglik(theta):
        mu = exposure * np.exp(theta[0] * X[:, 0] + theta[1])
        f = np.where(cens, stats.poisson.logsf(y - 1, mu), stats.poisson.logpmf(y, mu))
        return f - stats.poisson.logsf(0, mu)

    best = optimize.minimize(lambda t: -loglik(t).sum(), [0.0, 0.0], method="BFGS", options={"gtol": 1e-10})
    np.testing.assert_allclose(model.expert_coef_.ravel(), best.x[:1], atol=1e-5)
    np.testing.assert_allclose(model.expert_intercept_.ravel(), best.x[1:], atol=1e-5)
    # the public log-likelihood is scipy's at the same parameters
    theta = np.r_[model.expert_coef_.ravel(), model.expert_intercept_.ravel()]
    np.testing.assert_allclose(model.log_likelihood(X, y, **kw), loglik(theta), rtol=1e-10)
    # the exposure matters: without it the fit is another one
    plain = _quiet(lambda: MixtureOfExpertsRegressor(1, expert="poisson", alpha=0.0, random_state=0)
                   .fit(X, y, y_upper=y_upper, truncation=(0.0, np.inf)))
    assert abs(plain.expert_intercept_.ravel()[0] - best.x[1]) > 0.1
    # and the standard errors are those of the same likelihood
    table = model.summary(X, y, **kw)
    assert np.all(np.isfinite(table["std_error"]))


@pytest.mark.parametrize("family", ["poisson", "negative_binomial"])
def test_em_is_monotone_with_exposure_and_censored_counts(family):
    X, y, y_upper, exposure = _claims(two=True)
    kw = dict(y_upper=y_upper, truncation=(0.0, np.inf), exposure=exposure)
    model = _quiet(lambda: MixtureOfExpertsRegressor(2, expert=family, max_iter=20, random_state=0).fit(X, y, **kw))
    assert np.diff(model.lower_bounds_).min() >= -1e-10 * abs(model.lower_bound_)
    assert np.all(np.isfinite(model.log_likelihood(X, y, **kw)))


@pytest.mark.slow  # about 5 s: two fits and finite differences of the information
def test_truncation_with_groups_or_a_gaussian_gate_is_refused_censoring_is_not():
    """Truncation needs ungrouped rows and a gate of y given x: its rows truncated away are
    rows at the same x, which a group (one latent expert for rows reported or not) and a
    model of x do not have; both are refused, on every method, the model unchanged.
    Censoring works with both, standard errors included."""
    from dataclasses import replace

    from mixexp.inference import Layout, observed_information

    X, y, y_upper, _ = censored_linear(n=200)
    groups = np.arange(200) // 4
    kw = dict(random_state=0, max_iter=15)
    grouped = _quiet(lambda: MixtureOfExpertsRegressor(2, gate_features=[], **kw)
                     .fit(X, y, groups=groups, y_upper=y_upper))
    gaussian = _quiet(lambda: MixtureOfExpertsRegressor(2, gate="gaussian", **kw).fit(X, y, y_upper=y_upper))
    for model, extra in ((grouped, {"groups": groups}), (gaussian, {})):
        before = (model._fitted, model.lower_bounds_.copy())
        for call in (model.fit, model.log_likelihood, model.responsibilities, model.bic, model.summary):
            with pytest.raises(ValueError, match="truncation is fitted with ungrouped rows"):
                call(X, y, truncation=(-10.0, np.inf), **extra)
        assert model._fitted is before[0]
        np.testing.assert_array_equal(model.lower_bounds_, before[1])
        # censoring: EM monotone, and the standard errors of the censored likelihood
        assert np.diff(model.lower_bounds_).min() >= -1e-12 * abs(model.lower_bound_)
        table = model.summary(X, y, y_upper=y_upper, **extra)
        assert np.all(np.isfinite(table["std_error"])) and np.all(table["std_error"] > 0)
        design, state = model._design(X, y, y_upper=y_upper, **extra)
        state = replace(state, experts=state.fit_experts(censored=True))
        layout = Layout(state)
        theta = layout.pack(state.params)
        info, _, score, _ = observed_information(layout, state.params, design)
        # the score is the gradient of the (grouped) censored log-likelihood (h = 1e-6: the
        # Gaussian-gate fit ends with an expert of standard deviation 1e-3, where 1e-5's
        # truncation error in the differences is 0.3)
        h, E = 1e-6, 1e-6 * np.eye(theta.size)
        grad = [(observed_information(layout, layout.unpack(theta + e, state.params), design)[3]
                 - observed_information(layout, layout.unpack(theta - e, state.params), design)[3]) / (2 * h)
                for e in E]
        # (the Gaussian gate's own derivatives are central differences: 1e-4 of the largest)
        np.testing.assert_allclose(score, grad, atol=1e-4 * np.abs(grad).max())


def _mixed_censoring(n=360, seed=1):
    """two_regimes' rows without truncation, right-censored above 1.5, interval-censored to
    [-4, -1.5] below -1.5, every seventh row to [y - 0.5, y + 0.5]: ``(X, y, y_upper)``."""
    rs = np.random.RandomState(seed)
    X = rs.normal(size=(n, 1))
    z = rs.uniform(size=n) < 1.0 / (1.0 + np.exp(-2.0 * X[:, 0]))
    y_true = np.where(z, 1.5 * X[:, 0], -1.5 * X[:, 0]) + 0.5 * rs.normal(size=n)
    y, y_upper = np.clip(y_true, -1.5, 1.5), np.where(y_true > 1.5, np.inf, np.clip(y_true, -1.5, 1.5))
    y = np.where(y_true < -1.5, -4.0, y)
    y[::7], y_upper[::7] = y_true[::7] - 0.5, y_true[::7] + 0.5
    return X, y, y_upper


def test_censored_gaussian_em_iteration_imputes_the_censored_rows():
    """Without truncation the Gaussian experts' M-step is EM's with the censored responses
    missing: a weighted least squares on each row's expected response given its interval
    under the expert (truncated-normal moments, scipy.stats.truncnorm), the variance the
    weighted mean of the expected squared residuals."""
    X, y, y_upper = _mixed_censoring()
    model = _quiet(lambda: MixtureOfExpertsRegressor(2, alpha=0.0, max_iter=3, random_state=0, warm_start=True)
                   .fit(X, y, y_upper=y_upper))
    gates = model.predict_gate(X)
    mu = X @ model.expert_coef_[:, 0].T + model.expert_intercept_[:, 0]
    sd = np.sqrt(model.noise_variance_[:, 0])
    cens = y_upper > y
    with np.errstate(divide="ignore"):
        interval = np.log(stats.norm.cdf(y_upper[:, None], mu, sd) - stats.norm.cdf(y[:, None], mu, sd))
    dens = np.where(cens[:, None], interval, stats.norm.logpdf(y[:, None], mu, sd))
    joint = np.log(gates) + dens
    post = np.exp(joint - np.logaddexp.reduce(joint, axis=1)[:, None])
    _quiet(lambda: model.set_params(max_iter=1).fit(X, y, y_upper=y_upper))
    Xa = np.column_stack([X, np.ones(len(y))])
    for k in range(2):
        a, b = (y[cens] - mu[cens, k]) / sd[k], (y_upper[cens] - mu[cens, k]) / sd[k]
        moments = stats.truncnorm(a, b, loc=mu[cens, k], scale=sd[k])
        ey, vy = y.copy(), np.zeros(len(y))
        ey[cens], vy[cens] = moments.mean(), moments.var()
        w = post[:, k]
        beta = np.linalg.solve(Xa.T @ (w[:, None] * Xa), Xa.T @ (w * ey))
        var = w @ (vy + (ey - Xa @ beta) ** 2) / w.sum()
        np.testing.assert_allclose(model.expert_coef_[k, 0], beta[:-1], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(model.expert_intercept_[k, 0], beta[-1], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(model.noise_variance_[k, 0], var, rtol=1e-7)


@pytest.mark.parametrize("hme", [False, True])
def test_em_is_monotone_with_imputed_censored_rows(hme):
    X, y, y_upper = _mixed_censoring()
    est = (HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, max_iter=40, tol=0.0, random_state=0)
           if hme else MixtureOfExpertsRegressor(3, max_iter=40, tol=0.0, random_state=0))
    model = _quiet(lambda: est.fit(X, y, y_upper=y_upper))
    assert model.n_iter_ == 40
    gains = np.diff(model.lower_bounds_)
    assert gains.min() >= -1e-12 * abs(model.lower_bound_)
    assert model.lower_bounds_[-1] > model.lower_bounds_[0] + 1e-3  # EM moved
    ll = model.log_likelihood(X, y, y_upper=y_upper)
    # the last parameters' log-likelihood is at least the last bound (theirs before the step,
    # less the penalty)
    assert ll.mean() >= model.lower_bound_


@pytest.mark.parametrize("var", [0.5, 1e-3])
def test_gaussian_interval_scores_and_hessian_are_the_derivatives_of_log_probabilities(var):
    """The Gaussian's analytic scores and Hessian of censored rows' log-probabilities (right-,
    left- and interval-censored) against central differences."""
    from mixexp.experts.censored import CensoredExperts
    from mixexp.experts.gaussian import LinearGaussianExperts

    rs = np.random.RandomState(0)
    n, p = 60, 3
    Xa = np.column_stack([rs.normal(size=(n, p - 1)), np.ones(n)])
    inner = LinearGaussianExperts(0.1, 1e-9)
    info = {"mean": np.array([0.4]), "scale": np.array([2.0]), "ndim": 1, "n_outputs": 1}
    comp = CensoredExperts(inner, info)
    params = {"coef": rs.normal(size=(2, 1, p)), "var": np.array([[var], [0.7]])}
    centre = 0.4 + 2.0 * (Xa @ params["coef"][0, 0]) + 2.0 * np.sqrt(var) * rs.normal(size=n)
    kind = np.arange(n) % 3
    lo = np.where(kind == 1, -np.inf, centre)
    hi = np.where(kind == 0, np.inf, centre + np.where(kind == 2, rs.uniform(0.1, 2.0, n) * np.sqrt(var), 0.0))
    W = rs.uniform(0.1, 1.0, size=(n, 2))

    def log_p(prm):
        return comp._log_interval(Xa, lo, hi, prm, 2, {})

    scores = inner.interval_scores(Xa, lo, hi, log_p(params), params, info)
    hessian = inner.interval_hessian(Xa, lo, hi, log_p(params), params, info, W)
    theta = inner.inference_vector(params)
    h = 1e-6 * min(1.0, np.sqrt(var))
    fd_scores, fd_hessian = np.zeros_like(scores), np.zeros_like(hessian)
    for j in range(theta.shape[1]):
        plus, minus = theta.copy(), theta.copy()
        plus[:, j] += h
        minus[:, j] -= h
        pp, pm = inner.from_inference_vector(plus, params), inner.from_inference_vector(minus, params)
        fd_scores[:, :, j] = (log_p(pp) - log_p(pm)) / (2 * h)
        d = (inner.interval_scores(Xa, lo, hi, log_p(pp), pp, info)
             - inner.interval_scores(Xa, lo, hi, log_p(pm), pm, info)) / (2 * h)
        fd_hessian[:, :, j] = np.einsum("nk,nki->ki", W, d)
    assert np.abs(scores).max() > 1.0 and np.all(np.isfinite(scores))
    np.testing.assert_allclose(scores, fd_scores, rtol=0, atol=1e-6 * np.abs(fd_scores).max())
    np.testing.assert_allclose(hessian, fd_hessian, rtol=0, atol=1e-6 * np.abs(fd_hessian).max())
