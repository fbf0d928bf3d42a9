"""Zero inflation of every regression family (mixexp/experts/zero_inflated.py).

``expert="zip"`` equals ``expert="poisson", zero_inflation=True`` and the former ZIP
class; EM is monotone for every family, flat and as a tree; the probabilities of a
structural zero are recovered; the log-likelihood is that of the mixed law in the
units of y; the inflated law's moments and distribution members; what is refused.
"""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.utils._param_validation import InvalidParameterError

from mixexp import HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsRegressor
from mixexp.datasets import make_moe_family
from mixexp.experts import EXPERTS
from mixexp.experts.zip import ZeroInflatedPoissonExperts
from reference_laws import TRUE, law
from test_inference_components import N, _check_information

#: every registered regression family but "zip" (zero-inflated already)
FAMILIES = sorted(name for name, cls in EXPERTS["regression"].items() if name != "zip")
PI = (0.2, 0.45)  # each expert's probability of a structural zero


def _fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


def simulate(family, n, seed):
    """Two experts, a logistic gate in x_0, structural zeros with probability PI[k]."""
    rs = np.random.RandomState(seed)
    X = rs.normal(size=(n, 2))
    second = rs.uniform(size=n) < 1.0 / (1.0 + np.exp(-3.0 * X[:, 0]))
    x = X[:, 1]
    if family in ("linear", "student_t"):
        loc = np.where(second, 3.0 - 0.5 * x, -2.0 + x)
        noise = rs.normal(size=n) if family == "linear" else rs.standard_t(5.0, size=n)
        y = loc + np.where(second, 1.0, 0.5) * noise
    elif family == "gamma":
        mean = np.exp(np.where(second, 2.0 - 0.2 * x, 0.5 + 0.3 * x))
        y = rs.gamma(4.0, mean / 4.0)
    elif family == "poisson":
        y = rs.poisson(np.exp(np.where(second, 2.0 - 0.2 * x, 0.3 + 0.3 * x))).astype(np.float64)
    elif family == "negative_binomial":  # counts whose own zeros are rarer than the structural ones
        mean = np.exp(np.where(second, 2.0 - 0.2 * x, 1.0 + 0.3 * x))
        y = law(family, np.log(mean), {"theta": 5.0}).rvs(random_state=rs)
    else:  # the true experts of tests/reference_laws.py
        (a0, b0), (a1, b1), shapes = TRUE[family]
        eta = np.where(second, a1 + b1 * x, a0 + b0 * x)
        per_row = {k: np.where(second, v[1], v[0]) for k, v in shapes.items()}
        y = law(family, eta, per_row).rvs(random_state=rs)
    structural = rs.uniform(size=n) < np.where(second, PI[1], PI[0])
    return X, np.where(structural, 0.0, y), second.astype(int)


ATTRIBUTES = ["expert_coef_", "expert_intercept_", "zero_inflation_", "gate_coef_", "gate_intercept_",
              "lower_bounds_"]


def test_zip_is_poisson_with_zero_inflation_and_the_former_zip(monkeypatch):
    X, y = make_moe_family("zip", 800, n_features=3, n_experts=2, random_state=0)
    rs = np.random.RandomState(1)
    sw, exposure = rs.uniform(0.5, 2.0, size=len(y)), rs.uniform(0.5, 2.0, size=len(y))
    kw = dict(random_state=0, n_init=2, max_iter=100)
    zip_ = _fit(MixtureOfExpertsRegressor(2, expert="zip", **kw), X, y, sample_weight=sw, exposure=exposure)
    inflated = _fit(MixtureOfExpertsRegressor(2, expert="poisson", zero_inflation=True, **kw), X, y,
                    sample_weight=sw, exposure=exposure)
    monkeypatch.setitem(EXPERTS["regression"], "zip", ZeroInflatedPoissonExperts)
    former = _fit(MixtureOfExpertsRegressor(2, expert="zip", **kw), X, y, sample_weight=sw, exposure=exposure)
    assert zip_.n_iter_ == inflated.n_iter_ == former.n_iter_
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(zip_, name), getattr(inflated, name), rtol=0, atol=1e-10)
        np.testing.assert_allclose(getattr(zip_, name), getattr(former, name), rtol=0, atol=1e-10)
    for method in ("predict", "predict_experts"):
        np.testing.assert_allclose(getattr(zip_, method)(X, exposure=exposure),
                                   getattr(former, method)(X, exposure=exposure), rtol=1e-10)
    np.testing.assert_allclose(zip_.log_likelihood(X, y, exposure), former.log_likelihood(X, y, exposure),
                               rtol=1e-10)
    np.testing.assert_allclose(zip_.predict_quantile(X[:20], [0.5, 0.9]),
                               inflated.predict_quantile(X[:20], [0.5, 0.9]), rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("make", [
    lambda **kw: MixtureOfExpertsRegressor(n_experts=2, **kw),
    lambda **kw: HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, **kw),
], ids=["flat", "hme"])
def test_em_is_monotone(family, make):
    X, y, _ = simulate(family, 600, seed=2)
    sw = np.random.RandomState(3).uniform(0.5, 2.0, size=len(y))
    model = _fit(make(expert=family, zero_inflation=True, random_state=0, max_iter=30, tol=0.0), X, y,
                 sample_weight=sw)
    lb = model.lower_bounds_
    assert len(lb) >= 5 and np.all(np.isfinite(lb))
    assert np.min(np.diff(lb)) >= -1e-10 * max(1.0, abs(lb[-1]))


@pytest.mark.parametrize("family", FAMILIES)
def test_structural_zero_probabilities_are_recovered(family):
    X, y, labels = simulate(family, 4000, seed=4)
    model = _fit(MixtureOfExpertsRegressor(2, expert=family, zero_inflation=True, random_state=0, n_init=2),
                 X, y)
    # the expert that takes most rows of the second true expert
    post = model.responsibilities(X, y)
    second = np.argmax(post[labels == 1].sum(axis=0))
    pi = model.zero_inflation_[[1 - second, second]]
    np.testing.assert_allclose(pi, PI, atol=0.04)
    assert model.zero_inflation_.shape == (2,)


@pytest.mark.parametrize("family", ["linear", "gamma"])
def test_continuous_log_likelihood_is_of_the_mixed_law(family):
    """A zero scores ``log sum_k g_k pi_k``; another y ``log sum_k g_k (1 - pi_k) f_k(y)``,
    in the units of y."""
    X, y, _ = simulate(family, 600, seed=5)
    # the former penalties: the objective is then the log-likelihood to 1e-3
    model = _fit(MixtureOfExpertsRegressor(2, expert=family, zero_inflation=True, random_state=0, alpha=1e-6,
                                           gate_alpha=1e-3), X, y)
    g, pi = model.predict_gate(X), model.zero_inflation_
    mean = model.predict_experts(X) / (1.0 - pi)  # the family's own means
    if family == "linear":
        dens = stats.norm.pdf(y[:, None], mean, np.sqrt(model.noise_variance_[:, 0]))
    else:
        a = 1.0 / model.dispersion_
        with np.errstate(divide="ignore"):
            dens = stats.gamma.pdf(y[:, None], a, scale=mean / a)
    with np.errstate(divide="ignore"):  # the zeros' densities (not used)
        expected = np.where(y == 0, np.log(g @ pi), np.log(np.sum(g * (1.0 - pi) * dens, axis=1)))
    np.testing.assert_allclose(model.log_likelihood(X, y), expected, rtol=1e-10, atol=1e-12)
    # the objective EM reports is the same mean (with the small penalty)
    assert abs(model.lower_bound_ - expected.mean()) < 1e-3


@pytest.mark.parametrize("family", FAMILIES)
def test_moments_and_distribution_of_the_inflated_law(family):
    X, y, _ = simulate(family, 1500, seed=6)
    model = _fit(MixtureOfExpertsRegressor(2, expert=family, zero_inflation=True, random_state=0), X, y)
    Xt = X[:4]
    S = model.sample_y(Xt, 200_000, random_state=7)
    n = S.shape[1]
    mean, std = model.predict(Xt, return_std=True)
    np.testing.assert_array_less(np.abs(S.mean(axis=1) - mean), 5 * std / np.sqrt(n))
    np.testing.assert_allclose(S.std(axis=1), std, rtol=0.05 if family == "student_t" else 0.02)
    # the atom at 0
    np.testing.assert_array_less(np.abs(np.mean(S == 0, axis=1) - (model.predict_cdf(Xt, 0.0)
                                 - model.predict_cdf(Xt, -1e-9))), 5 * 0.5 / np.sqrt(n))
    levels = [0.05, 0.3, 0.6, 0.95]
    Q = model.predict_quantile(Xt, levels)
    for j, q in enumerate(levels):
        below, at_most = np.mean(S < Q[:, j:j + 1], axis=1), np.mean(S <= Q[:, j:j + 1], axis=1)
        se = np.sqrt(q * (1 - q) / n)
        assert np.all(below <= q + 5 * se) and np.all(at_most >= q - 5 * se), (q, below, at_most)
        # the quantile is where the CDF reaches q, exactly at an atom
        assert np.all(model.predict_cdf(Xt, Q[:, j]) >= q - 1e-9)
    u = np.full(len(Xt), 2.0)
    limited = np.minimum(S, 2.0)
    np.testing.assert_array_less(np.abs(model.predict_limited_mean(Xt, u) - limited.mean(axis=1)),
                                 5 * limited.std(axis=1) / np.sqrt(n) + 1e-12)


def test_a_quantile_at_the_atom_is_zero():
    X, y, _ = simulate("gamma", 1500, seed=8)
    model = _fit(MixtureOfExpertsRegressor(2, expert="gamma", zero_inflation=True, random_state=0), X, y)
    p0 = model.predict_cdf(X[:50], 0.0)  # P(Y = 0): the atom
    assert np.all(p0 > 0.15)
    assert np.all(model.predict_quantile(X[:50], 0.5 * p0.min()) == 0.0)
    assert np.all(model.predict_quantile(X[:50], 0.99 * p0.min()) == 0.0)
    above = model.predict_quantile(X[:50], p0.max() + 0.01)
    assert np.all(above > 0)


def test_partial_fit_serves_a_summable_family():
    X, y, _ = simulate("linear", 3000, seed=9)
    model = MixtureOfExpertsRegressor(2, zero_inflation=True, random_state=0)
    assert hasattr(model, "partial_fit")
    for rows in np.array_split(np.arange(len(y)), 6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(X[rows], y[rows])
    assert np.all(np.abs(np.sort(model.zero_inflation_) - np.sort(PI)) < 0.08)
    assert not hasattr(MixtureOfExpertsRegressor(2, expert="poisson", zero_inflation=True), "partial_fit")


def test_what_is_refused():
    X, y, _ = simulate("poisson", 300, seed=10)
    with pytest.raises(ValueError, match="estimator experts and an ExpertFamily have no point mass"):
        MixtureOfExpertsRegressor(2, expert=Ridge(), zero_inflation=True).fit(X, y)
    with pytest.raises(ValueError, match="expert='zip' is zero-inflated already"):
        MixtureOfExpertsRegressor(2, expert="zip", zero_inflation=True).fit(X, y)
    with pytest.raises(InvalidParameterError, match="zero_inflation"):
        MixtureOfExpertsRegressor(2, zero_inflation="yes").fit(X, y)
    with pytest.raises(ValueError, match="y should be a 1d array"):
        MixtureOfExpertsRegressor(2, zero_inflation=True).fit(X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match="has none"):
        MixtureOfExpertsRegressor(2, expert="gamma", zero_inflation=True).fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="negative"):
        MixtureOfExpertsRegressor(2, expert="poisson", zero_inflation=True).fit(X, np.r_[-1.0, y[1:]])
    with pytest.raises(ValueError, match="not positive"):
        MixtureOfExpertsRegressor(2, expert="gamma", zero_inflation=True).fit(X, np.r_[-1.0, y[1:] + 1])
    model = _fit(MixtureOfExpertsRegressor(2, zero_inflation=True, random_state=0, max_iter=5), X, y)
    model.set_params(zero_inflation=False, warm_start=True)
    with pytest.raises(ValueError, match="'zero-inflated linear'"):
        model.fit(X, y)
    assert model.zero_inflation_.shape == (2,)  # the failed fit left the model as it was


def test_standard_errors_of_zero_inflated_families(monkeypatch):
    """``expert="zip"`` gives the former ZIP class's table; a zero-inflated family that gives
    standard errors adds ``logit_zero_inflation`` per expert; one that does not refuses."""
    X, y = make_moe_family("zip", 800, n_features=2, n_experts=2, random_state=0)
    kw = dict(random_state=0, max_iter=100)
    table = _fit(MixtureOfExpertsRegressor(2, expert="zip", **kw), X, y).summary(X, y)
    monkeypatch.setitem(EXPERTS["regression"], "zip", ZeroInflatedPoissonExperts)
    former = _fit(MixtureOfExpertsRegressor(2, expert="zip", **kw), X, y).summary(X, y)
    assert list(table["parameter"]) == list(former["parameter"])
    assert list(table["parameter"]).count("logit_zero_inflation") == 2
    np.testing.assert_allclose(table["estimate"], former["estimate"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(table["std_error"], former["std_error"], rtol=1e-5)
    monkeypatch.undo()

    X, y, _ = simulate("lognormal", 1000, seed=11)
    model = _fit(MixtureOfExpertsRegressor(2, expert="lognormal", zero_inflation=True, **kw), X, y)
    table = model.summary(X, y)
    rows = table[table["parameter"] == "logit_zero_inflation"]
    assert list(rows["component"]) == ["expert 0", "expert 1"]
    pi = model.zero_inflation_
    np.testing.assert_allclose(rows["estimate"], np.log(pi / (1 - pi)), rtol=1e-12)
    assert np.all(np.isfinite(table["std_error"])) and np.all(table["std_error"] > 0)
    # the other rows are the family's own, in its order
    Xp, yp = X[y > 0], y[y > 0]
    plain = _fit(MixtureOfExpertsRegressor(2, expert="lognormal", **kw), Xp, yp).summary(Xp, yp)
    assert list(table["parameter"][table["parameter"] != "logit_zero_inflation"]) == list(plain["parameter"])

    # every built-in family now gives standard errors (weibull's by central differences), and
    # so does its zero-inflated form: the family's rows, then logit_zero_inflation
    X, y, _ = simulate("weibull", 300, seed=12)
    weibull = _fit(MixtureOfExpertsRegressor(2, expert="weibull", zero_inflation=True, **kw), X, y)
    table = weibull.summary(X, y)
    assert list(table["parameter"]).count("log_shape") == 2
    assert list(table["parameter"]).count("logit_zero_inflation") == 2
    assert np.all(np.isfinite(table["std_error"]))


def test_clip_experts_leaves_a_zero_inflated_family_alone():
    """The family's internal target holds stand-ins for the zeros: no clipping ranges
    (``standardises_target=False``), where the plain family's means are clipped."""
    X, y, _ = simulate("linear", 800, seed=13)
    far = X[:5] * 0 + [[0.0, 40.0]]  # far along the experts' feature: means beyond the range
    inflated = _fit(MixtureOfExpertsRegressor(2, zero_inflation=True, random_state=0), X, y)
    assert not inflated._fitted.experts.standardises_target
    clipped = inflated.predict(far)
    inflated.set_params(clip_experts=False)
    np.testing.assert_array_equal(clipped, inflated.predict(far))
    plain = _fit(MixtureOfExpertsRegressor(2, random_state=0), X, y)
    clipped = plain.predict(far)
    assert np.max(np.abs(clipped - plain.set_params(clip_experts=False).predict(far))) > 1.0


@pytest.mark.parametrize("family", ["linear", "gamma", "lognormal"])
def test_observed_information_of_a_zero_inflated_family(family):
    """The components' pieces (the family's vector and logit pi, central differences of
    the mixed law's scores) equal minus a finite-difference Hessian of the total
    log-likelihood through the public estimator (tests/test_inference_components.py)."""
    X, y, _ = simulate(family, N, seed=14)
    model = _fit(MixtureOfExpertsRegressor(2, expert=family, zero_inflation=True, random_state=0,
                                           max_iter=40), X, y)
    _check_information(model, X, y, {})
