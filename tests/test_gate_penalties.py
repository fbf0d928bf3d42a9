"""Load-balance and specialization penalties: values, gradients and the penalised
M-step against plain numpy, and EM's monotonicity with each penalty on."""

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from sklearn.exceptions import ConvergenceWarning

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._design import Design, design_matrix, weighted_location_scale
from mixexp._engine import EMEngine
from mixexp._tree import Tree
from mixexp.datasets import make_moe_classification, make_moe_regression
from mixexp.experts.multinomial import MultinomialExperts
from mixexp.gates.softmax import SoftmaxGate
from mixexp.metrics import expert_usage

K = 3


# -- plain numpy: obviously correct, O(n^2) ----------------------------------------------
def ref_penalty(V, Xa, sw, beta, lam):
    """beta W CV^2(importance) + lam / (2W) sum_k sum_ij w_i w_j g_ik g_jk |x_i - x_j|^2."""
    G = softmax(Xa @ V.T, axis=1)
    W = sw.sum()
    importance = sw @ G / W
    cv2 = np.var(importance) / np.mean(importance) ** 2  # = K sum I^2 - 1
    X = Xa[:, :-1]
    D = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=2)
    same = sum((sw * G[:, k]) @ D @ (sw * G[:, k]) for k in range(G.shape[1]))
    return beta * W * cv2 + lam * same / (2 * W)


def ref_gate_objective(V, Xa, sw, U, gate_alpha, beta, lam):
    """The gate's penalised M-step objective for fixed posteriors U."""
    ll = np.sum(sw[:, None] * U * log_softmax(Xa @ V.T, axis=1))
    return ll - 0.5 * gate_alpha * np.sum(V[:, :-1] ** 2) - ref_penalty(V, Xa, sw, beta, lam)


def _setup(beta, lam, n=120, seed=0, gate_alpha=1e-2):
    rs = np.random.RandomState(seed)
    X = rs.randn(n, 2) * [1.0, 3.0] + [0.5, -1.0]
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    sw = rs.uniform(0.5, 2.0, size=n)
    tree = Tree(1, K)
    gate = SoftmaxGate(tree, gate_alpha, beta, lam)
    experts = MultinomialExperts(1e-1)
    engine = EMEngine(tree, gate, experts)
    mean, scale = weighted_location_scale(X, sw)
    target, info = experts.prepare_target(y, sw)
    design = Design(design_matrix(X, mean, scale), target, sw, chunk_rows=50)  # several chunks
    return engine, design, info, rs


@pytest.mark.parametrize("beta, lam", [(0.3, 0.0), (0.0, 0.2), (0.3, 0.2)])
def test_penalty_value_and_gradient_match_plain_numpy(beta, lam):
    engine, design, info, rs = _setup(beta, lam)
    params = engine.zero_params(design, info)
    V = rs.randn(K, design.Xa.shape[1])
    params["gate"]["coef"] = V[None].copy()
    S = engine.pass_stats(params, design)
    value = engine.gate.data_penalty(S["gate"])
    assert value == pytest.approx(ref_penalty(V, design.Xa, design.sw, beta, lam), rel=1e-10)
    # the objective includes it
    ref_obj = (S["loglik"] - engine.penalty(params) - value) / design.sw.sum()
    assert engine.objective(params, S, design.sw.sum()) == pytest.approx(ref_obj, rel=1e-12)
    grad = engine.gate.penalties.gradient(S["gate"], V.shape[1])[0]
    eps = 1e-6
    numeric = np.zeros_like(V)
    for idx in np.ndindex(*V.shape):
        dV = np.zeros_like(V)
        dV[idx] = eps
        numeric[idx] = (
            ref_penalty(V + dV, design.Xa, design.sw, beta, lam)
            - ref_penalty(V - dV, design.Xa, design.sw, beta, lam)
        ) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6 * np.abs(numeric).max())


@pytest.mark.parametrize("beta, lam", [(0.3, 0.0), (0.0, 0.2), (0.5, 0.1)])
def test_penalised_gate_m_step_matches_plain_numpy(beta, lam):
    """The gate's bound steps for fixed posteriors reach the maximiser of the penalised
    objective that a generic optimiser finds on the O(n^2) formula, each step rising."""
    gate_alpha = 1e-2
    engine, design, info, rs = _setup(beta, lam, gate_alpha=gate_alpha)
    Xa, sw = design.Xa, design.sw
    post = rs.dirichlet(np.ones(K), size=Xa.shape[0])
    C = engine.constant_stats(design)
    params = engine.zero_params(design, info)
    V0 = 0.3 * rs.randn(K, Xa.shape[1])
    params["gate"]["coef"] = (V0 - V0.mean(axis=0))[None]  # the ridge fixes the common shift at 0
    values = []
    for _ in range(150):  # safe (bound) steps: each must not decrease the objective
        S = engine.pass_stats(params, design, post, parts=("gate",))
        values.append(ref_gate_objective(params["gate"]["coef"][0], Xa, sw, post, gate_alpha, beta, lam))
        params, _ = engine.update(S, C, params, sw.sum(), safe=True)
    assert np.all(np.diff(values) >= -1e-10 * np.abs(values[-1]))
    params = engine.fit_posteriors(post, design, params, 2000, tol=-np.inf)  # then extrapolated steps

    res = minimize(
        lambda v: -ref_gate_objective(v.reshape(K, -1), Xa, sw, post, gate_alpha, beta, lam),
        np.zeros(K * Xa.shape[1]), method="BFGS", options={"gtol": 1e-10, "maxiter": 5000},
    )
    V_ref = res.x.reshape(K, -1)
    V = params["gate"]["coef"][0]
    # softmax rows are defined up to a common shift
    np.testing.assert_allclose(V - V.mean(axis=0), V_ref - V_ref.mean(axis=0), atol=1e-5)
    assert ref_gate_objective(V, Xa, sw, post, gate_alpha, beta, lam) >= -res.fun - 1e-9


def _monotone(model):
    lb = model.lower_bounds_
    assert lb.shape[0] >= 2
    assert np.all(np.diff(lb) >= -1e-9 * np.maximum(1.0, np.abs(lb[1:])))


PENALTIES = [dict(balance_alpha=0.5), dict(specialization_alpha=0.3),
             dict(balance_alpha=0.2, specialization_alpha=0.2)]


@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("gate", ["softmax", "attention"])
def test_em_is_monotone_with_penalties(penalty, gate):
    Xc, yc = make_moe_classification(n_samples=300, n_experts=3, random_state=1)
    Xr, yr = make_moe_regression(n_samples=300, n_experts=3, random_state=1)
    common = dict(gate=gate, max_iter=60, tol=0.0, random_state=0, init_params="kmeans", **penalty)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for model, X, y in [
            (MixtureOfExpertsClassifier(n_experts=3, **common), Xc, yc),
            (MixtureOfExpertsRegressor(n_experts=3, **common), Xr, yr),
            (HierarchicalMixtureOfExpertsClassifier(depth=2, branching=2, **common), Xc, yc),
            (HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, **common), Xr, yr),
        ]:
            _monotone(model.fit(X, y))


def test_balance_penalty_spreads_the_load():
    X, y = make_moe_classification(n_samples=400, n_experts=2, random_state=3)
    plain = MixtureOfExpertsClassifier(n_experts=4, random_state=0).fit(X, y)
    balanced = MixtureOfExpertsClassifier(n_experts=4, balance_alpha=20.0, random_state=0).fit(X, y)
    assert expert_usage(balanced, X) > 0.99 * np.log2(4)
    assert expert_usage(balanced, X) >= expert_usage(plain, X) - 1e-9


def test_penalties_with_a_gaussian_gate_are_rejected():
    X, y = make_moe_classification(n_samples=100, random_state=0)
    model = MixtureOfExpertsClassifier(gate="gaussian", balance_alpha=0.1)
    with pytest.raises(ValueError, match="balance_alpha"):
        model.fit(X, y)
    assert not hasattr(model, "_fitted")
    with pytest.raises(ValueError):
        MixtureOfExpertsClassifier(specialization_alpha=-1.0).fit(X, y)
