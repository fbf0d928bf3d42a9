"""Several responses, each with its own family, in one model (``expert={column: family}``):
a claim count and a claim size, NaN where there was no claim.

One EM iteration against a plain-numpy reference, EM's monotonicity flat and in a tree,
recovery of a simulated 2-expert count-and-size mixture, one expert equal to the separate
single-family fits, DataFrame columns, exposure, bad input, clone and pickle.
"""

import pickle
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import log_softmax, logsumexp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

import reference as ref
import reference_families as rf
from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._design import Design, design_matrix, weighted_location_scale
from mixexp._engine import EMEngine
from mixexp._tree import Tree
from mixexp.experts import make_experts
from mixexp.gates.softmax import SoftmaxGate

pd = pytest.importorskip("pandas")

# the simulated model: expert 1 where x0 + noise > 0; log-means of the count and of the size
TRUE_COUNT = np.array([[0.0, -1.0], [0.3, 0.5]])  # (expert, [x1 coefficient, intercept])
TRUE_SIZE = np.array([[0.0, 3.0], [0.2, 1.0]])
SIZE_SHAPE = 2.0


def simulate(n, seed=0, size_family="gamma"):
    """A 2-expert count (Poisson) and size mixture; the size NaN where the count is 0."""
    rs = np.random.RandomState(seed)
    X = rs.normal(size=(n, 2))
    z = (2.0 * X[:, 0] + 0.5 * rs.normal(size=n) > 0).astype(int)
    count = rs.poisson(np.exp(TRUE_COUNT[z, 0] * X[:, 1] + TRUE_COUNT[z, 1]))
    log_mean = TRUE_SIZE[z, 0] * X[:, 1] + TRUE_SIZE[z, 1]
    if size_family == "gamma":
        size = rs.gamma(SIZE_SHAPE, np.exp(log_mean) / SIZE_SHAPE)
    else:
        size = np.exp(log_mean + 0.5 * rs.normal(size=n))
    return X, np.column_stack([count, np.where(count > 0, size, np.nan)])


def _fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


def test_one_em_iteration_matches_reference():
    """Poisson count + Gamma size with NaN sizes: the E-step and one M-step of the gate and
    of both columns' experts against scipy densities and the plain-numpy M-steps."""
    X, Y = simulate(300, seed=1)
    n, K = X.shape[0], 2
    sw = np.random.RandomState(2).uniform(0.3, 2.0, size=n)
    gate_alpha, alpha, reg_variance = 1e-2, 0.1, 1e-3
    params_est = {"expert": {0: "poisson", 1: "gamma"}, "alpha": alpha, "reg_variance": reg_variance}
    experts = make_experts("regression", K, params_est)
    tree = Tree(1, K)
    engine = EMEngine(tree, SoftmaxGate(tree, gate_alpha), experts)
    target, info = experts.prepare_target(Y, sw)
    x_mean, x_scale = weighted_location_scale(X, sw)
    design = Design(design_matrix(X, x_mean, x_scale), target, sw)
    post0 = np.random.RandomState(5).dirichlet(np.ones(K), size=n)
    params = engine.fit_posteriors(post0, design, engine.zero_params(design, info), 3)

    Xg, Xe = design.gate_X, design.expert_X
    seen = ~np.isnan(Y[:, 1])
    gate = params["gate"]["coef"][0]
    P_count, P_size = params["experts"]["0"], params["experts"]["1"]
    count_experts = [P_count["coef"][k, 0] for k in range(K)]
    size_experts = [(P_size["coef"][k, 0], float(P_size["shape"][k])) for k in range(K)]
    size_scale = info["columns"][1]["scale"]  # the Gamma's internal target: y / its weighted mean

    # the reference, in the units of y: a missing size contributes 0
    def joint_logdens(counts, sizes):
        log_count = rf.poisson_logdens(Xe, (Y[:, 0], np.zeros(n)), counts)
        log_size = np.column_stack([
            stats.gamma.logpdf(np.where(seen, Y[:, 1], 1.0), a, scale=np.exp(Xe @ c) * size_scale / a)
            for c, a in sizes
        ])
        return log_count + np.where(seen[:, None], log_size, 0.0)

    joint = log_softmax(Xg @ gate.T, axis=1) + joint_logdens(count_experts, size_experts)
    loglik = logsumexp(joint, axis=1)
    post = np.exp(joint - loglik[:, None])
    post_m, loglik_m = engine.e_step(params, design)
    np.testing.assert_allclose(post_m, post, rtol=0, atol=1e-10)
    np.testing.assert_allclose(loglik_m + experts.loglik_shift(info), loglik, rtol=1e-10)

    new_gate = ref.bound_step(Xg, post * sw[:, None], gate, gate_alpha)
    y_size = target[0][1][0]
    new_count, new_size = [], []
    for k in range(K):
        w = sw * post[:, k]
        new_count.append(rf.poisson_fit(Xe, Y[:, 0], np.zeros(n), w, count_experts[k], alpha))
        new_size.append(rf.gamma_m_step(
            Xe[seen], y_size[seen], np.zeros(seen.sum()), w[seen], size_experts[k], alpha, reg_variance
        ))

    S = engine.pass_stats(params, design)
    new, _ = engine.update(S, engine.constant_stats(design), params, sw.sum(), safe=True)
    np.testing.assert_allclose(new["gate"]["coef"][0] - new["gate"]["coef"][0].mean(axis=0),
                               new_gate - new_gate.mean(axis=0), rtol=0, atol=1e-8)
    for k in range(K):
        np.testing.assert_allclose(new["experts"]["0"]["coef"][k, 0], new_count[k], rtol=0, atol=1e-8)
        np.testing.assert_allclose(new["experts"]["1"]["coef"][k, 0], new_size[k][0], rtol=0, atol=1e-8)
        np.testing.assert_allclose(new["experts"]["1"]["shape"][k], new_size[k][1], rtol=1e-8)
    # the iteration moved the experts (not a comparison at a fixed point), and did not lose
    assert np.max(np.abs(new["experts"]["1"]["coef"] - P_size["coef"])) > 1e-4
    assert engine.objective(new, engine.pass_stats(new, design), sw.sum()) >= engine.objective(params, S, sw.sum())


@pytest.mark.parametrize("expert", [
    {0: "poisson", 1: "lognormal"},
    {0: {"family": "negative_binomial", "zero_inflation": True}, 1: "gamma"},
], ids=["poisson-lognormal", "zinb-gamma"])
@pytest.mark.parametrize("make", [
    lambda **kw: MixtureOfExpertsRegressor(n_experts=3, **kw),
    lambda **kw: HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, **kw),
], ids=["flat", "hme"])
def test_lower_bounds_never_decrease(expert, make):
    X, Y = simulate(400, seed=3, size_family="lognormal")
    model = _fit(make(expert=expert, max_iter=40, tol=0.0, random_state=0), X, Y)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-10 * np.abs(model.lower_bounds_[1:]))
    assert model.lower_bounds_[-1] > model.lower_bounds_[0]
    # the last bound is the fitted model's penalised mean log-likelihood, from the joint
    assert np.isfinite(model.log_likelihood(X, Y)).all()


def _matched(model):
    """The fitted count and size coefficients ``(expert, [x1, intercept])``, experts in
    the order of the simulation (expert 1: the gate's side of large x0)."""
    order = np.argsort(model.gate_coef_[:, 0])
    count = np.column_stack([model.expert_coef_[:, 0, 1], model.expert_intercept_[:, 0]])
    size = np.column_stack([model.expert_coef_[:, 1, 1], model.expert_intercept_[:, 1]])
    return count[order], size[order], order


def test_recovers_a_two_expert_count_and_size_mixture():
    X, Y = simulate(4000, seed=4)
    model = _fit(MixtureOfExpertsRegressor(2, expert={0: "poisson", 1: "gamma"}, random_state=0), X, Y)
    count, size, order = _matched(model)
    np.testing.assert_allclose(count, TRUE_COUNT, atol=0.12)
    np.testing.assert_allclose(size, TRUE_SIZE, atol=0.12)
    shape = 1.0 / model.response_attributes_[1]["dispersion_"][order]
    np.testing.assert_allclose(shape, SIZE_SHAPE, rtol=0.15)
    # the gate splits on x0
    assert abs(model.gate_coef_[order[1], 0] - model.gate_coef_[order[0], 0]) > 3.0


@pytest.mark.parametrize("size_family", ["gamma", "lognormal"])
def test_one_expert_equals_the_separate_fits(size_family):
    """K=1: the joint model is the count's fit on every row and the size's on the rows
    with a size, and its log-likelihood their sum."""
    X, Y = simulate(500, seed=6, size_family=size_family)
    seen = ~np.isnan(Y[:, 1])
    # no penalty: a ridge penalty is on standardised features, whose scales differ between
    # all rows (the joint model) and the rows with a size (the size's own fit)
    joint = _fit(MixtureOfExpertsRegressor(1, expert={0: "poisson", 1: size_family}, alpha=0.0, tol=1e-10), X, Y)
    count = _fit(MixtureOfExpertsRegressor(1, expert="poisson", alpha=0.0, tol=1e-10), X, Y[:, 0])
    size = _fit(MixtureOfExpertsRegressor(1, expert=size_family, alpha=0.0, tol=1e-10), X[seen], Y[seen, 1])
    ll = joint.log_likelihood(X, Y)
    expected = count.log_likelihood(X, Y[:, 0])
    expected[seen] += size.log_likelihood(X[seen], Y[seen, 1])
    np.testing.assert_allclose(ll, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(joint.expert_coef_[:, 0], count.expert_coef_[:, 0], atol=1e-6)
    np.testing.assert_allclose(joint.expert_coef_[:, 1], size.expert_coef_[:, 0], atol=1e-6)
    prediction = joint.predict(X[:5])
    np.testing.assert_allclose(prediction[:, 0], count.predict(X[:5]), rtol=1e-6)
    np.testing.assert_allclose(prediction[:, 1], size.predict(X[:5]), rtol=1e-6)
    # BIC counts both families' parameters (the gate of one expert has none)
    assert joint._n_parameters() == count._n_parameters() + size._n_parameters()


def test_dataframe_columns_by_name():
    X, Y = simulate(500, seed=7)
    frame = pd.DataFrame({"claims": Y[:, 0], "size": Y[:, 1]})
    # the dict's order is not y's: predictions follow y's columns
    model = _fit(MixtureOfExpertsRegressor(2, expert={"size": "gamma", "claims": "poisson"}, random_state=0),
                 X, frame)
    by_index = _fit(MixtureOfExpertsRegressor(2, expert={0: "poisson", 1: "gamma"}, random_state=0), X, Y)
    np.testing.assert_allclose(model.predict(X[:10]), by_index.predict(X[:10]), rtol=1e-8)
    np.testing.assert_allclose(model.log_likelihood(X, frame), by_index.log_likelihood(X, Y), rtol=1e-8)
    np.testing.assert_allclose(model.log_likelihood(X, Y), by_index.log_likelihood(X, Y), rtol=1e-8)
    assert model.predict(X[:3]).shape == (3, 2)
    with pytest.raises(ValueError, match="not those the model was fitted on"):
        model.log_likelihood(X, frame[["size", "claims"]])
    summary = model.summary(X, frame)
    assert any(p.startswith("size: ") for p in summary["parameter"])
    assert any(p.startswith("claims: ") for p in summary["parameter"])


def test_exposure_applies_to_the_count_columns_only():
    X, Y = simulate(400, seed=8)
    model = _fit(MixtureOfExpertsRegressor(2, expert={0: "poisson", 1: "gamma"}, random_state=0), X, Y)
    base, doubled = model.predict(X[:20]), model.predict(X[:20], exposure=np.full(20, 2.0))
    np.testing.assert_allclose(doubled[:, 0], 2.0 * base[:, 0], rtol=1e-10)
    np.testing.assert_allclose(doubled[:, 1], base[:, 1], rtol=1e-12)
    # and in fit: the count's log-mean per unit of exposure
    exposure = np.random.RandomState(0).uniform(0.5, 2.0, size=X.shape[0])
    _fit(clone(model), X, Y, exposure=exposure)


def test_sample_y_score_and_refused_risk_measures():
    X, Y = simulate(400, seed=9)
    model = _fit(MixtureOfExpertsRegressor(2, expert={0: "poisson", 1: "lognormal"}, random_state=0), X, Y)
    draws = model.sample_y(X[:50], n_samples=4, random_state=0)
    assert draws.shape == (50, 2, 4)
    assert np.all(draws[:, 0] == np.round(draws[:, 0])) and np.all(draws[:, 1] > 0)
    # R² of each column over its observed rows, averaged
    score = model.score(X, Y)
    seen = ~np.isnan(Y[:, 1])
    from sklearn.metrics import r2_score

    P = model.predict(X)
    expected = 0.5 * (r2_score(Y[:, 0], P[:, 0]) + r2_score(Y[seen, 1], P[seen, 1]))
    assert score == pytest.approx(expected, rel=1e-12)
    for measure, arg in [("predict_quantile", 0.5), ("predict_cte", 0.9), ("predict_limited_mean", 10.0)]:
        with pytest.raises(ValueError, match="single response"):
            getattr(model, measure)(X[:3], arg)


@pytest.mark.parametrize("expert, y_fix, match", [
    ({0: "poisson", 2: "gamma"}, None, "column 2"),
    ({0: "poisson", 1: "pareto"}, None, "not a registered family"),
    ({0: "poisson"}, None, "without a family"),
    ({0: "poisson", 1: "gamma"}, "nan_count", "contains NaN"),
    ({0: "poisson", 1: "gamma"}, "one_d", "should be 2-D"),
    ({0: "poisson", "size": "gamma"}, None, "DataFrame"),
    ({0: "poisson", 1: {"family": "gamma", "zero": True}}, None, "zero_inflation"),
    ({}, None, "names no response"),
])
def test_bad_input_is_refused_and_leaves_the_model_as_it_was(expert, y_fix, match):
    X, Y = simulate(200, seed=10)
    model = _fit(MixtureOfExpertsRegressor(2, expert={0: "poisson", 1: "gamma"}, random_state=0), X, Y)
    before = {key: value for key, value in vars(model).items()}
    bound = model.lower_bound_
    bad = Y.copy()
    if y_fix == "nan_count":
        bad[3, 0] = np.nan
    elif y_fix == "one_d":
        bad = Y[:, 0]
    model.set_params(expert=expert)
    with pytest.raises(ValueError, match=match):
        model.fit(X, bad)
    assert model.lower_bound_ == bound and set(vars(model)) == set(before)
    assert model._fitted is before["_fitted"]


def test_refused_combinations():
    X, Y = simulate(200, seed=11)
    with pytest.raises(ValueError, match="per column"):
        MixtureOfExpertsRegressor(2, expert={0: "poisson", 1: "gamma"}, zero_inflation=True).fit(X, Y)
    with pytest.raises(ValueError, match="for regressors"):
        MixtureOfExpertsClassifier(2, expert={0: "linear"}).fit(X, (Y[:, 0] > 0).astype(int))
    # online EM works from running sums; partial_fit is not offered (scikit-learn's available_if)
    with pytest.raises(AttributeError, match="partial_fit") as refused:
        MixtureOfExpertsRegressor(2, expert={0: "poisson", 1: "gamma"}).partial_fit(X, Y)
    assert "in memory" in str(refused.value.__cause__)


def test_clone_pickle_and_warm_start():
    X, Y = simulate(300, seed=12)
    model = _fit(MixtureOfExpertsRegressor(2, expert={0: "poisson", 1: "gamma"}, random_state=0), X, Y)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict(X), model.predict(X))
    np.testing.assert_array_equal(copy.log_likelihood(X, Y), model.log_likelihood(X, Y))
    fresh = clone(model)
    assert fresh.expert == model.expert and not hasattr(fresh, "lower_bound_")
    model.set_params(warm_start=True, max_iter=5)
    bound = model.lower_bound_
    _fit(model, X, Y)
    assert model.lower_bounds_[0] >= bound - 1e-10


def test_grouped_rows_with_a_dataframe():
    X, Y = simulate(300, seed=13)
    frame = pd.DataFrame({"claims": Y[:, 0], "size": Y[:, 1]})
    groups = np.repeat(np.arange(100), 3)
    Xg = X.copy()
    Xg[:, 0] = np.repeat(X[::3, 0], 3)  # the gate's features constant within a group
    model = _fit(MixtureOfExpertsRegressor(2, expert={"claims": "poisson", "size": "gamma"}, random_state=0,
                                           gate_features=[0], max_iter=30), Xg, frame, groups=groups)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-10 * np.abs(model.lower_bounds_[1:]))
    assert model.log_likelihood(Xg, frame, groups=groups).shape == (100,)
