"""Sparse mixtures (l1_ratio > 0): the proximal M-steps against references, monotone EM,
support recovery, and the generators' n_informative."""

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._numerics.bound import blocks_update, init_step_state
from mixexp._numerics.linalg import solve_psd
from mixexp._numerics.prox import elastic_net_solve, softmax_n_nonzero, softmax_prox_step
from mixexp.datasets import make_hme_regression, make_moe_classification, make_moe_regression
from mixexp.experts.gaussian import LinearGaussianExperts


def _weighted_problem(seed=0, n=200, d=6):
    rs = np.random.RandomState(seed)
    X = rs.randn(n, d)
    Xa = np.column_stack([X, np.ones(n)])
    y = X[:, 0] * 2 - X[:, 1] + 0.3 * rs.randn(n) + 1.0
    w = rs.uniform(0.1, 2.0, n)
    return X, Xa, y, w


@pytest.mark.parametrize("l1_ratio", [0.3, 1.0])
def test_gaussian_expert_m_step_is_sklearns_elastic_net(l1_ratio):
    """One sparse M-step of a Gaussian expert = scikit-learn's weighted ElasticNet."""
    X, Xa, y, w = _weighted_problem()
    alpha = 15.0
    experts = LinearGaussianExperts(alpha, 1e-6, l1_ratio)
    S = experts.stats(Xa, y[:, None], w[:, None], None, None)
    params = {"coef": np.zeros((1, 1, Xa.shape[1])), "var": np.ones((1, 1))}
    new, _ = experts.update(S, params, np.array([True]))
    # ours minimises RSS_w / 2 + alpha * pen; sklearn divides the RSS by sum(w)
    ref = ElasticNet(alpha=alpha / w.sum(), l1_ratio=l1_ratio, tol=1e-12, max_iter=100_000)
    ref.fit(X, y, sample_weight=w)
    np.testing.assert_allclose(new["coef"][0, 0, :-1], ref.coef_, atol=1e-6)
    np.testing.assert_allclose(new["coef"][0, 0, -1], ref.intercept_, atol=1e-6)
    assert np.count_nonzero(ref.coef_) < X.shape[1]  # the penalty does select
    beta = new["coef"][0, 0]
    rss = np.sum(w * (y - Xa @ beta) ** 2)
    pen = alpha * (l1_ratio * np.abs(beta[:-1]).sum() + 0.5 * (1 - l1_ratio) * np.sum(beta[:-1] ** 2))
    np.testing.assert_allclose(new["var"][0, 0], (rss + 2 * pen) / w.sum(), rtol=1e-10)


def test_coordinate_descent_without_l1_is_the_ridge_solution():
    X, Xa, y, w = _weighted_problem(1)
    G = (Xa * w[:, None]).T @ Xa + np.diag([0.5] * X.shape[1] + [0.0])
    b = Xa.T @ (w * y)
    z = elastic_net_solve(G, -b[:, None], np.zeros((Xa.shape[1], 1)), np.zeros(Xa.shape[1]))
    np.testing.assert_allclose(z[:, 0], solve_psd(G, b), rtol=1e-7, atol=1e-9)


def _softmax_f(Xa, U, V, alpha, l1_ratio):
    logits = Xa @ V.T
    logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    W = V[:, :-1]
    pen = alpha * (l1_ratio * np.abs(W).sum() + 0.5 * (1 - l1_ratio) * np.sum(W**2))
    return np.sum(U * logp) - pen


def test_softmax_prox_step_without_l1_is_the_bound_step_and_with_l1_never_decreases_f():
    rs = np.random.RandomState(2)
    n, d, k = 300, 5, 3
    Xa = np.column_stack([rs.randn(n, d), np.ones(n)])
    U = rs.dirichlet(np.ones(k), size=n) * rs.uniform(0.2, 1.0, size=(n, 1))
    V = rs.randn(1, k, d + 1)
    w = U.sum(axis=1)
    gram = [(Xa * w[:, None]).T @ Xa]

    def grad(V):
        logits = Xa @ V[0].T
        p = np.exp(logits - np.logaddexp.reduce(logits, axis=1, keepdims=True))
        return ((w[:, None] * p - U).T @ Xa)[None]

    state = init_step_state(1, k, d + 1)
    ridge_step, _, _ = blocks_update(V, grad(V), gram, 3.0, state, [0], safe=True)
    g = grad(V)[0] + 3.0 * V[0] * np.r_[np.ones(d), 0.0]
    H = 0.5 * gram[0] + np.diag(np.r_[np.full(d, 3.0), 0.0])
    H[np.diag_indices(d + 1)] += 1e-10 * np.trace(H) / (d + 1) + 1e-300
    np.testing.assert_allclose(softmax_prox_step(V[0], g, H, np.zeros(d + 1)), ridge_step[0], rtol=1e-7, atol=1e-9)
    start = V
    for l1_ratio in (0.5, 1.0):
        V, state = start, init_step_state(1, k, d + 1)
        f = _softmax_f(Xa, U, V[0], 20.0, l1_ratio)
        n_long = 0
        for _ in range(30):
            # the bound's own step (safe) never decreases f
            safe, _, extrapolated = blocks_update(V, grad(V), gram, 20.0, state, [0], safe=True, l1_ratio=l1_ratio)
            assert not extrapolated
            assert _softmax_f(Xa, U, safe[0], 20.0, l1_ratio) >= f - 1e-9 * abs(f)
            # a learned longer step is flagged, and taken only when it gains (as the engine does)
            new, new_state, extrapolated = blocks_update(V, grad(V), gram, 20.0, state, [0], l1_ratio=l1_ratio)
            n_long += extrapolated
            if extrapolated and not _softmax_f(Xa, U, new[0], 20.0, l1_ratio) >= f:
                new, new_state, _ = blocks_update(V, grad(V), gram, 20.0, state, [0], safe=True, l1_ratio=l1_ratio)
            V, state = new, new_state
            f_new = _softmax_f(Xa, U, V[0], 20.0, l1_ratio)
            assert f_new >= f - 1e-9 * abs(f)
            f = f_new
        assert n_long > 0  # the step length is learned
        assert np.count_nonzero(V[0, :, :-1]) < k * d  # some coefficients are exactly 0


def test_softmax_n_nonzero_counts_one_redundant_row():
    coef = np.zeros((1, 3, 4))
    coef[0, :, 0] = [1.0, 2.0, 3.0]  # feature 0: all rows -> 2 free
    coef[0, 1, 1] = 1.0  # feature 1: one row -> 1 free
    coef[0, :, -1] = [0.5, 0.1, 0.0]  # intercepts: always k - 1
    assert softmax_n_nonzero(coef) == 2 + 2 + 1


def _data(task, seed=0):
    if task == "regression":
        return make_moe_regression(400, n_features=6, n_experts=2, n_informative=2, random_state=seed)
    return make_moe_classification(400, n_features=6, n_experts=2, n_informative=2, random_state=seed)


@pytest.mark.parametrize(
    "Estimator, size",
    [
        (MixtureOfExpertsRegressor, {"n_experts": 3}),
        (MixtureOfExpertsClassifier, {"n_experts": 3}),
        (HierarchicalMixtureOfExpertsRegressor, {"depth": 2}),
        (HierarchicalMixtureOfExpertsClassifier, {"depth": 2}),
    ],
)
@pytest.mark.parametrize("l1_ratio", [0.5, 1.0])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_penalised_objective_never_decreases(Estimator, size, l1_ratio):
    task = "classification" if "Classifier" in Estimator.__name__ else "regression"
    X, y = _data(task)
    rs = np.random.RandomState(0)
    X = np.hstack([X, rs.randn(X.shape[0], 4)])
    model = Estimator(**size, l1_ratio=l1_ratio, alpha=8.0, gate_alpha=8.0, max_iter=60, random_state=0)
    model.fit(X, y, sample_weight=rs.uniform(0.5, 1.5, X.shape[0]))
    bounds = model.lower_bounds_
    assert np.all(np.diff(bounds) >= -1e-12 * np.maximum(1.0, np.abs(bounds[1:])))
    assert np.count_nonzero(model.expert_coef_ == 0) > 0  # the penalty selects
    # BIC counts only the nonzero coefficients
    dense = Estimator(**size, max_iter=5, random_state=0).fit(X, y)
    assert model._n_parameters() < dense._n_parameters()


def test_l1_ratio_zero_is_the_ridge_fit():
    X, y = _data("regression")
    a = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    b = MixtureOfExpertsRegressor(2, l1_ratio=0.0, random_state=0).fit(X, y)
    assert np.array_equal(a.lower_bounds_, b.lower_bounds_)
    assert np.array_equal(a.expert_coef_, b.expert_coef_)
    # a tiny l1_ratio moves the fit only a little
    c = MixtureOfExpertsRegressor(2, l1_ratio=1e-9, random_state=0).fit(X, y)
    np.testing.assert_allclose(c.expert_coef_, a.expert_coef_, atol=1e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lasso_experts_recover_the_true_support(seed):
    X, y, truth = make_moe_regression(
        1000, n_features=10, n_experts=2, n_informative=3, random_state=seed, return_params=True
    )
    model = MixtureOfExpertsRegressor(2, l1_ratio=1.0, alpha=10.0, gate_alpha=10.0, random_state=0).fit(X, y)
    assert np.all(model.expert_coef_[:, 0, 3:] == 0)
    assert np.all(model.expert_coef_[:, 0, :3] != 0)
    assert np.all(truth["expert_coef"][:, 0, 3:] == 0)


def _sparse_gate_data(seed, n=1000, d=32, noise=2.0):
    """Four linear experts on x2..x4 behind a softmax gate on x0, x1 only; high noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    angles = np.arange(4) * np.pi / 2
    logits = 3.0 * X[:, :2] @ np.column_stack([np.cos(angles), np.sin(angles)]).T
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    z = (prob.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
    coef, intercept = 1.5 * rng.standard_normal((4, 3)), 2.0 * rng.standard_normal(4)
    return X, np.einsum("ij,ij->i", X[:, 2:5], coef[z]) + intercept[z] + noise * rng.standard_normal(n)


@pytest.mark.parametrize("seed", [0, 1])
def test_lasso_gate_finds_the_two_gate_features_of_32(seed):
    # the motivating case of mixexp compare's lasso-gate grid (issue 31): 2 of 32
    # features drive the gate, the noise is high
    X, y = _sparse_gate_data(seed)
    dense = MixtureOfExpertsRegressor(4, random_state=0).fit(X, y)
    sparse = MixtureOfExpertsRegressor(4, l1_ratio=1.0, gate_alpha=30.0, random_state=0).fit(X, y)
    # the default ridge gate spreads weight over every noise feature
    assert np.count_nonzero(dense.gate_coef_[:, 2:]) == dense.gate_coef_[:, 2:].size
    assert np.abs(dense.gate_coef_[:, 2:]).sum() > 0.5 * np.abs(dense.gate_coef_[:, :2]).sum()
    # the lasso gate keeps x0 and x1 and nothing else
    assert np.all(sparse.gate_coef_[:, 2:] == 0)
    assert np.all(np.count_nonzero(sparse.gate_coef_[:, :2], axis=0) > 0)
    bounds = sparse.lower_bounds_
    assert np.all(np.diff(bounds) >= -1e-12 * np.maximum(1.0, np.abs(bounds[1:])))


def test_invalid_l1_ratio():
    X, y = _data("regression")
    with pytest.raises(ValueError, match="l1_ratio"):
        MixtureOfExpertsRegressor(l1_ratio=1.5).fit(X, y)


@pytest.mark.parametrize("make", [make_moe_regression, make_moe_classification, make_hme_regression])
def test_generators_n_informative(make):
    X0, y0, p0 = make(300, n_features=5, random_state=3, return_params=True)
    X1, y1, p1 = make(300, n_features=5, random_state=3, return_params=True, n_informative=5)
    np.testing.assert_array_equal(y0, y1)  # None and n_features: the same data
    X2, _, p2 = make(300, n_features=5, random_state=3, return_params=True, n_informative=2)
    np.testing.assert_array_equal(X0, X2)  # the same draws
    assert np.all(p2["expert_coef"][..., 2:] == 0) and np.all(p2["gate_coef"][..., 2:] == 0)
    np.testing.assert_array_equal(p2["expert_coef"][..., :2], p0["expert_coef"][..., :2])
    np.testing.assert_allclose(np.linalg.norm(p2["gate_coef"], axis=-1), 3.0)
    with pytest.raises(ValueError, match="n_informative"):
        make(300, n_features=5, n_informative=6)
