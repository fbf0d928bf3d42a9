"""The expert families beyond the Gaussian: Student-t, Poisson, Gamma, zero-inflated Poisson,
negative binomial, log-normal, Weibull, inverse Gaussian, Burr.

One EM iteration against the plain-numpy reference (tests/reference_families.py),
EM's monotonicity flat and in a tree, recovery of known parameters, exposure.
The distribution members (log_cdf, log_sf, quantiles, limited means, moments):
tests/test_family_distributions.py.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import reference as ref
import reference_families as rf
from mixexp import HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsRegressor
from mixexp._design import Design, design_matrix, weighted_location_scale
from mixexp._engine import EMEngine
from mixexp._tree import Tree
from mixexp.datasets import make_moe_family, make_moe_regression, make_npreg
from mixexp.experts import EXPERTS
from mixexp.gates.softmax import SoftmaxGate

# every registered regression family but the Gaussian (tests/test_em.py): a new family
# fails _reference_experts until its plain-numpy reference is written
FAMILIES = sorted(set(EXPERTS["regression"]) - {"linear"})
LOG_LINK = [name for name in FAMILIES if EXPERTS["regression"][name].uses_exposure]


def _fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


# Burr experts of tail index 1.4 (as the Danish fire losses): with the default lighter
# tails, the start below (3 M-steps from random responsibilities) holds the first shape
# at its upper bound (a Weibull-like leaf), where the reference's score equations do not hold
ENGINE_DATA = {"burr": {"shape": 0.7, "shape2": 2.0}}


def _engine_setup(family, seed=0, n=300, K=2):
    """An engine whose gate sees column 0 and whose experts see columns 1, 2."""
    X, y = make_moe_family(family, n, n_features=3, n_experts=K, gate_features=[0],
                           expert_features=[1, 2], random_state=seed, **ENGINE_DATA.get(family, {}))
    rs = np.random.RandomState(seed + 1)
    sw = rs.uniform(0.3, 2.0, size=n)
    alpha, gate_alpha, reg_variance = 0.1, 1e-2, 1e-3
    experts = EXPERTS["regression"][family].from_params({"alpha": alpha, "reg_variance": reg_variance})
    tree = Tree(1, K)
    engine = EMEngine(tree, SoftmaxGate(tree, gate_alpha), experts)
    target, info = experts.prepare_target(y, sw)
    if family in LOG_LINK:
        target = experts.offset_target(target, np.log(rs.uniform(0.5, 2.0, size=n)))
    x_mean, x_scale = weighted_location_scale(X, sw)
    design = Design(design_matrix(X, x_mean, x_scale), target, sw, gate_columns=np.array([0]),
                    expert_columns=np.array([1, 2]))
    return engine, design, info, (gate_alpha, alpha, reg_variance)


# each single-target family's own parameters, in the order of its reference tuples
OWN = {"gamma": ["shape"], "zip": ["pi"], "negative_binomial": ["theta"], "lognormal": ["var"],
       "weibull": ["shape"], "inverse_gaussian": ["precision"], "burr": ["shape", "shape2"]}


def _reference_experts(family, P):
    if family == "student_t":
        return [(P["coef"][k], P["var"][k], P["nu"][k]) for k in range(P["coef"].shape[0])]
    if family == "poisson":
        return [P["coef"][k, 0] for k in range(P["coef"].shape[0])]
    return [(P["coef"][k, 0], *(float(np.ravel(P[key][k])[0]) for key in OWN[family]))
            for k in range(P["coef"].shape[0])]


def _assert_experts_equal(family, P, experts, tol=1e-8):
    for k, e in enumerate(experts):
        if family == "student_t":
            np.testing.assert_allclose(P["coef"][k], e[0], rtol=0, atol=tol)
            np.testing.assert_allclose(P["var"][k], e[1], rtol=tol)
            np.testing.assert_allclose(P["nu"][k], e[2], rtol=tol)
        elif family == "poisson":
            np.testing.assert_allclose(P["coef"][k, 0], e, rtol=0, atol=tol)
        else:
            np.testing.assert_allclose(P["coef"][k, 0], e[0], rtol=0, atol=tol)
            for key, value in zip(OWN[family], e[1:]):
                np.testing.assert_allclose(np.ravel(P[key][k])[0], value, rtol=tol, atol=tol, err_msg=key)


@pytest.mark.parametrize("family", FAMILIES)
def test_one_em_iteration_matches_reference(family):
    engine, design, info, (gate_alpha, alpha, reg_variance) = _engine_setup(family)
    sw, target = design.sw, design.target
    post0 = np.random.RandomState(5).dirichlet(np.ones(2), size=design.n_rows)
    # a start away from every optimum: a few M-steps from random responsibilities
    params = engine.fit_posteriors(post0, design, engine.zero_params(design, info), 3)
    gate, experts = params["gate"]["coef"][0], _reference_experts(family, params["experts"])

    post, loglik, gate2, experts2 = rf.em_iteration(
        family, design.gate_X, design.expert_X, target, sw, gate, experts, gate_alpha, alpha,
        reg_variance, ref.bound_step,
    )
    post_m, loglik_m = engine.e_step(params, design)
    np.testing.assert_allclose(post_m, post, rtol=0, atol=1e-10)
    np.testing.assert_allclose(loglik_m, loglik, rtol=1e-10)

    S = engine.pass_stats(params, design)
    new, _ = engine.update(S, engine.constant_stats(design), params, sw.sum(), safe=True)
    np.testing.assert_allclose(new["gate"]["coef"][0] - new["gate"]["coef"][0].mean(axis=0),
                               gate2 - gate2.mean(axis=0), rtol=0, atol=1e-8)
    _assert_experts_equal(family, new["experts"], experts2)
    if family in ("negative_binomial", "weibull", "burr"):  # the reference's score is the density's
        for leaf, expert in enumerate(experts):  # at the start, where it is not 0
            assert rf.score_matches_density(family, design.expert_X, target, sw * post[:, leaf], expert, alpha)
    # the iteration moved the experts: the comparison is not of a fixed point
    assert np.max(np.abs(new["experts"]["coef"] - params["experts"]["coef"])) > 1e-4

    # the objective of the new parameters, and its gain (EM is monotone)
    obj = engine.objective(new, engine.pass_stats(new, design), sw.sum())
    ll2 = rf.em_iteration(family, design.gate_X, design.expert_X, target, sw, gate2, experts2,
                          gate_alpha, alpha, reg_variance, ref.bound_step)[1]
    ref_obj = (sw @ ll2 - rf.penalty(family, gate2, experts2, gate_alpha, alpha)) / sw.sum()
    assert abs(obj - ref_obj) < 1e-8
    assert obj >= engine.objective(params, S, sw.sum())


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("gate", ["softmax", "gaussian"])
@pytest.mark.parametrize("make", [
    lambda **kw: MixtureOfExpertsRegressor(n_experts=3, **kw),
    lambda **kw: HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, **kw),
], ids=["flat", "hme"])
def test_lower_bounds_never_decrease(family, gate, make):
    X, y = make_moe_family(family, 400, n_features=2, n_experts=3, random_state=1)
    rs = np.random.RandomState(2)
    sw = rs.uniform(0.5, 2.0, size=X.shape[0])
    kw = {"exposure": rs.uniform(0.5, 2.0, size=X.shape[0])} if family in LOG_LINK else {}
    model = _fit(make(expert=family, gate=gate, random_state=0, max_iter=40, tol=0.0), X, y,
                 sample_weight=sw, **kw)
    lb = model.lower_bounds_
    assert len(lb) >= 5 and np.all(np.isfinite(lb))
    assert np.min(np.diff(lb)) >= -1e-10 * max(1.0, abs(lb[-1]))


def _match(true_intercepts, fitted_intercepts):
    """The fitted expert matched to each true one (by intercept order)."""
    return np.argsort(fitted_intercepts)[np.argsort(np.argsort(true_intercepts))]


# inverse Gaussian experts with the default dispersion 0.25 have a squared coefficient of
# variation phi * mu up to 3 and more: draws so skewed that sample means and the experts'
# overlap need far more rows; the tests of the generator and of recovery take 0.05
RECOVERY_DATA = {"inverse_gaussian": {"dispersion": 0.05}}
# recovery of the maximum-likelihood parameters: the former default penalties, near none
# (at the default alpha=1, Burr's penalty, times the squared shape2, biases its shapes by 0.35)
RECOVERY_PENALTIES = {"alpha": 1e-6, "gate_alpha": 1e-3}
# the dispersion of the negative binomial's expert of mean exp(0.5) is loosely determined
OWN_RTOL = {"negative_binomial": 0.2}


@pytest.mark.parametrize("family", FAMILIES)
def test_recovers_known_parameters(family):
    X, y, truth = make_moe_family(family, 3000, n_features=3, n_experts=2, gate_features=[0],
                                  expert_features=[1, 2], random_state=3, return_params=True,
                                  **RECOVERY_DATA.get(family, {}))
    model = _fit(MixtureOfExpertsRegressor(n_experts=2, expert=family, gate_features=[0],
                                           expert_features=[1, 2], n_init=2, random_state=0,
                                           **RECOVERY_PENALTIES), X, y)
    order = _match(truth["expert_intercept"][:, 0], model.expert_intercept_[:, 0])
    np.testing.assert_allclose(model.expert_intercept_[order], truth["expert_intercept"], atol=0.1)
    np.testing.assert_allclose(model.expert_coef_[order], truth["expert_coef"], atol=0.1)
    # the gate sees column 0 only; its direction is recovered up to the softmax's shift
    g = model.gate_coef_[order, 0]
    assert np.all(model.gate_coef_[:, 1:] == 0.0)
    np.testing.assert_allclose(g[1] - g[0], np.diff(truth["gate_coef"][:, 0])[0], rtol=0.2)
    _assert_own_parameters(family, model, truth, OWN_RTOL.get(family, 0.15))
    labels = model.responsibilities(X, y).argmax(axis=1)
    assert np.mean(order[truth["labels"]] == labels) > 0.8


def _assert_own_parameters(family, model, truth, rtol):
    """The family's own fitted parameters near the truth (``rtol``; scales 0.1)."""
    if family in ("student_t", "lognormal"):
        np.testing.assert_allclose(model.noise_scale_[:, 0], truth["noise_scale"], rtol=0.1)
    elif family in ("gamma", "negative_binomial", "inverse_gaussian"):
        np.testing.assert_allclose(model.dispersion_, truth["dispersion"], rtol=rtol)
    elif family == "zip":
        np.testing.assert_allclose(model.zero_inflation_, truth["zero_inflation"], atol=0.05)
    elif family in ("weibull", "burr"):
        np.testing.assert_allclose(model.shape_, truth["shape"], rtol=rtol)
        if family == "burr":
            np.testing.assert_allclose(model.shape2_, truth["shape2"], rtol=rtol)


NEW_FAMILIES = ["negative_binomial", "lognormal", "weibull", "inverse_gaussian", "burr"]


@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_recovers_three_experts(family):
    # a 3-expert mixture, the gate on column 0 and the experts on columns 1, 2; the count
    # and Burr experts overlap most (labels recovered 0.85-0.9 of the rows), and Burr's
    # first shape trades off against the scale (measured: shapes within 0.2 of the truth)
    X, y, truth = make_moe_family(family, 6000, n_features=3, n_experts=3, gate_features=[0],
                                  expert_features=[1, 2], gate_scale=8.0, random_state=12, return_params=True,
                                  **RECOVERY_DATA.get(family, {}))
    model = _fit(MixtureOfExpertsRegressor(n_experts=3, expert=family, gate_features=[0], expert_features=[1, 2],
                                           n_init=3, random_state=0, **RECOVERY_PENALTIES), X, y)
    order = _match(truth["expert_intercept"][:, 0], model.expert_intercept_[:, 0])
    np.testing.assert_allclose(model.expert_intercept_[order], truth["expert_intercept"], atol=0.15)
    np.testing.assert_allclose(model.expert_coef_[order], truth["expert_coef"], atol=0.1)
    _assert_own_parameters(family, model, truth, {"burr": 0.3}.get(family, OWN_RTOL.get(family, 0.15)))
    labels = model.responsibilities(X, y).argmax(axis=1)
    assert np.mean(order[truth["labels"]] == labels) > 0.8


def test_student_t_degrees_of_freedom_recovered():
    X, y, truth = make_moe_family("student_t", 5000, n_features=2, n_experts=2, nu=4.0,
                                  random_state=4, return_params=True)
    model = _fit(MixtureOfExpertsRegressor(n_experts=2, expert="student_t", tol=1e-6, max_iter=300,
                                           random_state=0), X, y)
    np.testing.assert_allclose(model.nu_, 4.0, rtol=0.25)


def _contaminated(seed, n_train=2000, n_test=1000, fraction=0.1):
    """A 3-expert linear MoE; ``fraction`` of the training responses replaced by gross outliers."""
    X, y = make_moe_regression(n_train + n_test, n_features=2, n_experts=3, noise=0.2,
                               gate_scale=10.0, random_state=seed)
    rs = np.random.RandomState(seed)
    bad = rs.uniform(size=n_train) < fraction
    y_bad = y[:n_train].copy()
    y_bad[bad] = y_bad.mean() + rs.uniform(-1.0, 1.0, bad.sum()) * 20.0 * y_bad.std()
    return X[:n_train], y[:n_train], y_bad, X[n_train:], y[n_train:]


def test_student_t_experts_resist_gross_outliers():
    # benchmarks/families_robustness.py gives the same comparison on 8 seeds
    X, y, y_bad, X_test, y_test = _contaminated(seed=3)

    def rmse(expert, target):
        model = _fit(MixtureOfExpertsRegressor(3, expert=expert, n_init=2, random_state=0), X, target)
        return np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2))

    clean = rmse("linear", y)
    assert rmse("student_t", y_bad) <= 1.10 * clean
    assert rmse("linear", y_bad) > 1.10 * clean


def test_student_t_predictions_follow_the_t():
    X, y = make_moe_family("student_t", 400, n_features=2, n_experts=2, nu=1.5, random_state=6)
    model = _fit(MixtureOfExpertsRegressor(2, expert="student_t", random_state=0), X, y)
    mean, std = model.predict(X[:5], return_std=True)
    np.testing.assert_allclose(mean, np.sum(model.predict_gate(X[:5]) * model.predict_experts(X[:5]), axis=1))
    heavy = model.nu_[:, 0] <= 2.0
    assert heavy.any()  # nu = 1.5: infinite variance, said so by an infinite std
    assert np.all(np.isinf(std))
    draws = model.sample_y(X[:3], n_samples=2000, random_state=0)
    assert draws.shape == (3, 2000) and np.all(np.isfinite(draws))
    # with nu > 2 the std is the mixture's: sigma^2 nu / (nu - 2) per expert
    X2, y2 = make_moe_family("student_t", 2000, n_features=1, n_experts=1, nu=8.0, random_state=7)
    m1 = _fit(MixtureOfExpertsRegressor(1, expert="student_t", random_state=0), X2, y2)
    assert not hasattr(m1, "noise_variance_")  # sigma is a scale, the variance is below
    nu, s = m1.nu_[0, 0], m1.noise_scale_[0, 0]
    np.testing.assert_allclose(m1.predict(X2[:4], return_std=True)[1], s * np.sqrt(nu / (nu - 2.0)))


# -- bad input: a ValueError in scikit-learn's words, and the model unchanged ------------
@pytest.mark.parametrize("family, y_fix, match", [
    ("poisson", lambda y: np.r_[-1.0, y[1:]], "negative"),
    ("zip", lambda y: np.r_[-2.0, y[1:]], "negative"),
    ("gamma", lambda y: np.r_[0.0, y[1:]], "not positive"),
    ("gamma", lambda y: np.r_[-3.0, y[1:]], "not positive"),
    ("negative_binomial", lambda y: np.r_[-1.0, y[1:]], "negative"),
    ("negative_binomial", lambda y: np.r_[2.5, y[1:]], "not integers"),
    *[(family, fix, "not positive") for family in ("lognormal", "weibull", "inverse_gaussian", "burr")
      for fix in (lambda y: np.r_[0.0, y[1:]], lambda y: np.r_[-3.0, y[1:]])],
])
def test_targets_outside_the_family_are_rejected(family, y_fix, match):
    X, y = make_moe_family(family, 200, random_state=0)
    model = _fit(MixtureOfExpertsRegressor(2, expert=family, random_state=0), X, y)
    before = {k: np.copy(v) for k, v in vars(model).items() if k.endswith("_")}
    y_bad = y_fix(y)
    y_copy = y_bad.copy()
    with pytest.raises(ValueError, match=match):
        model.fit(X, y_bad)
    np.testing.assert_array_equal(y_bad, y_copy)  # input not mutated
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(model, k), v)
    with pytest.raises(ValueError, match=match):
        model.log_likelihood(X, y_bad)
    fresh = MixtureOfExpertsRegressor(2, expert=family)
    with pytest.raises(ValueError, match=match):
        fresh.fit(X, y_bad)
    assert not hasattr(fresh, "n_features_in_")


@pytest.mark.parametrize("exposure, match", [
    (lambda n: -np.ones(n), "Negative values in data passed to exposure"),
    (lambda n: np.r_[0.0, np.ones(n - 1)], "exposure must be positive"),
    (lambda n: np.ones(n - 1), "inconsistent numbers of samples"),
    (lambda n: np.r_[np.nan, np.ones(n - 1)], "NaN"),
])
def test_bad_exposure_is_rejected(exposure, match):
    X, y = make_moe_family("poisson", 200, random_state=0)
    model = MixtureOfExpertsRegressor(2, expert="poisson", random_state=0)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y, exposure=exposure(200))
    assert not hasattr(model, "n_features_in_")
    _fit(model, X, y)
    coef = model.expert_coef_.copy()
    with pytest.raises(ValueError, match=match):
        model.fit(X, y, exposure=exposure(200))
    np.testing.assert_array_equal(model.expert_coef_, coef)
    with pytest.raises(ValueError, match=match):
        model.predict(X, exposure=exposure(200))


@pytest.mark.parametrize("expert", ["linear", *sorted(set(FAMILIES) - set(LOG_LINK))])
def test_exposure_only_for_log_link_families(expert):
    X, y = make_moe_family("weibull", 100, random_state=0)  # positive y: every family takes it
    model = MixtureOfExpertsRegressor(2, expert=expert)
    with pytest.raises(ValueError, match="exposure is only accepted"):
        model.fit(X, y, exposure=np.ones(100))
    assert not hasattr(model, "n_features_in_")


# -- exposure ----------------------------------------------------------------------
@pytest.mark.parametrize("family", LOG_LINK)
def test_exposure_is_a_log_offset(family):
    n = 2000
    exposure = np.random.RandomState(8).uniform(0.2, 5.0, size=n)
    X, y, truth = make_moe_family(family, n, n_features=2, n_experts=1, exposure=exposure,
                                  random_state=8, return_params=True)
    model = _fit(MixtureOfExpertsRegressor(1, expert=family, random_state=0), X, y, exposure=exposure)
    np.testing.assert_allclose(model.expert_intercept_, truth["expert_intercept"], atol=0.1)
    np.testing.assert_allclose(model.expert_coef_, truth["expert_coef"], atol=0.1)
    # the mean is proportional to the exposure; without exposure: per unit of exposure
    np.testing.assert_allclose(model.predict(X[:5], exposure=exposure[:5]), exposure[:5] * model.predict(X[:5]),
                               rtol=1e-12)
    np.testing.assert_allclose(model.predict_experts(X[:5], exposure=np.full(5, 2.0)),
                               2.0 * model.predict_experts(X[:5]), rtol=1e-12)
    # fitted without exposure the model is a different one
    plain = _fit(MixtureOfExpertsRegressor(1, expert=family, random_state=0), X, y)
    assert np.abs(plain.expert_intercept_ - model.expert_intercept_).max() > 0.05
    assert model.log_likelihood(X, y, exposure=exposure).sum() > model.log_likelihood(X, y).sum()
    draws = model.sample_y(X[:3], 4000, random_state=0, exposure=np.full(3, 3.0))
    np.testing.assert_allclose(draws.mean(axis=1), model.predict(X[:3], exposure=np.full(3, 3.0)), rtol=0.15)


def test_exposure_through_a_pipeline_with_metadata_routing():
    import sklearn
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    exposure = np.random.RandomState(9).uniform(0.5, 3.0, size=500)
    X, y = make_moe_family("poisson", 500, exposure=exposure, random_state=9)
    direct = _fit(MixtureOfExpertsRegressor(2, expert="poisson", random_state=0), X, y, exposure=exposure)
    with sklearn.config_context(enable_metadata_routing=True):
        model = MixtureOfExpertsRegressor(2, expert="poisson", random_state=0)
        model.set_fit_request(exposure=True).set_predict_request(exposure=True)
        pipe = _fit(make_pipeline(StandardScaler(), model), X, y, exposure=exposure)
        routed = pipe.predict(X, exposure=exposure)
    # the model standardises internally: scaling X first changes nothing but rounding
    np.testing.assert_allclose(routed, direct.predict(X, exposure=exposure), rtol=1e-6)
    np.testing.assert_allclose(pipe[-1].lower_bound_, direct.lower_bound_, rtol=1e-8)


# -- gate and expert features with the families ---------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_constant_mixing_weights_and_separate_columns(family):
    X, y = make_moe_family(family, 400, n_features=3, gate_features=[], expert_features=[1, 2],
                           random_state=10)
    model = _fit(MixtureOfExpertsRegressor(2, expert=family, gate_features=[], expert_features=[1, 2],
                                           random_state=0), X, y)
    gates = model.predict_gate(X)
    np.testing.assert_allclose(gates, np.broadcast_to(gates[0], gates.shape), rtol=1e-12)
    assert np.all(model.expert_coef_[..., 0] == 0.0)
    X2 = X.copy()
    X2[:, 0] += 3.0  # a column neither part sees
    np.testing.assert_allclose(model.predict(X2), model.predict(X), rtol=1e-12)
    # free parameters: one mixing weight; per expert the coefficients of 2 columns and
    # an intercept, and the family's own (t: scale, nu; gamma, NB, IG: dispersion; zip: pi;
    # log-normal: sigma; Weibull: shape; Burr: two shapes)
    own = {"student_t": 2, "poisson": 0, "gamma": 1, "zip": 1, "negative_binomial": 1, "lognormal": 1,
           "weibull": 1, "inverse_gaussian": 1, "burr": 2}[family]
    assert model._n_parameters() == 1 + 2 * (3 + own)
    ll = model.log_likelihood(X, y).sum()
    assert np.isclose(model.bic(X, y), -2 * ll + model._n_parameters() * np.log(400))


# -- the generators ----------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_make_moe_family_draws_the_documented_model(family):
    # inverse Gaussian: the standard error of the second expert's sample mean is 1.5 (6%) at
    # dispersion 0.05, 0.65 (3%) at 0.01
    kw = {"inverse_gaussian": {"dispersion": 0.01}}.get(family, {})
    X, y, truth = make_moe_family(family, 20000, n_features=3, n_experts=2, gate_features=[0],
                                  expert_features=[1], random_state=0, return_params=True, **kw)
    X2, y2 = make_moe_family(family, 20000, n_features=3, n_experts=2, gate_features=[0],
                             expert_features=[1], random_state=0, **kw)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert np.all(truth["gate_coef"][:, 1:] == 0.0) and np.all(truth["expert_coef"][:, :, [0, 2]] == 0.0)
    np.testing.assert_allclose(np.linalg.norm(truth["gate_coef"], axis=1), 3.0)
    eta = X[:, 1] * truth["expert_coef"][truth["labels"], 0, 1] + truth["expert_intercept"][truth["labels"], 0]
    for k in range(2):
        rows = truth["labels"] == k
        if family == "student_t":
            resid = y[rows] - eta[rows]
            assert abs(np.median(resid)) < 0.05  # centred t noise of scale 0.5
        else:
            mean = np.exp(eta[rows]) * _mean_factor(family, truth)
            np.testing.assert_allclose(y[rows].mean(), mean.mean(), rtol=0.05)
    if family in ("poisson", "zip", "negative_binomial"):
        assert np.all(y == np.round(y)) and np.all(y >= 0)
    else:
        assert family == "student_t" or np.all(y > 0)


def _mean_factor(family, truth):
    """The mean of each expert of ``make_moe_family`` over ``exp(eta)``."""
    from scipy.special import gamma

    if family == "zip":
        return 1.0 - truth["zero_inflation"]
    if family == "lognormal":
        return np.exp(truth["noise_scale"] ** 2 / 2.0)
    if family == "weibull":
        return gamma(1.0 + 1.0 / truth["shape"])
    if family == "burr":
        a, g = truth["shape"], truth["shape2"]
        return gamma(1.0 + 1.0 / g) * gamma(a - 1.0 / g) / gamma(a)
    return 1.0


def test_lognormal_experts_learn_online_and_from_sums():
    # the log-normal's statistics are the Gaussian's sums: partial_fit serves it (the other
    # new families refit on all rows: tests/test_online.py)
    X, y = make_moe_family("lognormal", 4000, n_features=2, n_experts=2, random_state=5)
    batch = _fit(MixtureOfExpertsRegressor(2, expert="lognormal", random_state=0), X, y)
    online = MixtureOfExpertsRegressor(2, expert="lognormal", random_state=0)
    for _ in range(5):
        for rows in np.array_split(np.arange(4000), 8):
            online.partial_fit(X[rows], y[rows])
    gap = batch.log_likelihood(X, y).mean() - online.log_likelihood(X, y).mean()
    assert abs(gap) < 0.02
    np.testing.assert_allclose(np.sort(online.noise_scale_[:, 0]), np.sort(batch.noise_scale_[:, 0]), rtol=0.1)


def test_make_npreg_follows_exnpreg():
    X, y, labels = make_npreg(2000, random_state=0, return_labels=True)
    assert X.shape == (4000, 1) and np.all((X >= 0) & (X <= 10)) and labels.tolist() == [0] * 2000 + [1] * 2000
    x = X[:, 0]
    np.testing.assert_allclose(y[labels == 0].mean(), np.exp(2 - 0.2 * x[labels == 0]).mean(), rtol=0.05)
    np.testing.assert_allclose(y[labels == 1].mean(), np.exp(1 + 0.1 * x[labels == 1]).mean(), rtol=0.05)
    Xg, yg = make_npreg(2000, response="gaussian", random_state=0)
    resid = yg[:2000] - 5 * Xg[:2000, 0]
    assert abs(resid.std() - 3.0) < 0.2
    with pytest.raises(ValueError, match="response"):
        make_npreg(10, response="gamma")
    with pytest.raises(ValueError, match="family"):
        make_moe_family("normal")


@pytest.mark.parametrize("family", ["weibull", "negative_binomial"])
def test_one_newton_step_per_iteration_reaches_the_exact_em_maximum(family, monkeypatch):
    """Generalised EM (one safeguarded Newton step per expert and iteration, the default of
    these families) converges to the maximum that EM with Newton to convergence reaches."""
    X, y = make_moe_family(family, 800, n_features=2, n_experts=2, random_state=0)
    kw = dict(random_state=0, tol=1e-10, max_iter=2000)
    ecm = _fit(MixtureOfExpertsRegressor(2, expert=family, **kw), X, y)
    monkeypatch.setattr(EXPERTS["regression"][family], "newton_steps", None)
    exact = _fit(MixtureOfExpertsRegressor(2, expert=family, **kw), X, y)
    assert ecm.converged_ and exact.converged_
    assert np.diff(ecm.lower_bounds_).min() >= -1e-12 * abs(ecm.lower_bound_)
    np.testing.assert_allclose(ecm.lower_bounds_[-1], exact.lower_bounds_[-1], rtol=0, atol=1e-8)
    # the same experts, in either order (labels may switch between the runs)
    first, second = (m.expert_coef_[np.argsort(m.expert_coef_[:, 0, 0])] for m in (ecm, exact))
    np.testing.assert_allclose(first, second, atol=1e-3)
