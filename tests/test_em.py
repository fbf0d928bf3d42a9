"""The EM engine against the plain-numpy reference, and EM's invariants."""

import numpy as np
import pytest

import reference as ref
from mixexp._base import standardize_design
from mixexp._em import EMEngine
from mixexp._tree import Tree
from mixexp.experts.gaussian import GaussianExperts
from mixexp.experts.multinomial import MultinomialExperts


def _data(kind, n=300, d=3, n_targets=1, seed=0):
    rs = np.random.RandomState(seed)
    X = rs.randn(n, d) * [1.0, 10.0, 0.1] + [0.0, 5.0, -1.0]
    sw = rs.uniform(0.2, 2.0, size=n)
    if kind == "gaussian":
        Y = np.column_stack([np.where(X[:, 0] > 0, X[:, 1], -X[:, 2] * 20) for _ in range(n_targets)])
        Y = Y + rs.randn(*Y.shape)
        return X, Y, sw
    y = (np.where(X[:, 0] > 0, X[:, 1] - 5, X[:, 2] + 1) + 0.5 * rs.randn(n) > 0).astype(int)
    y[::7] = 2
    return X, y, sw


def _engine(kind, depth, b, gate_alpha, alpha, reg_variance=1e-3):
    exact = dict(gate_steps=3000, init_steps=3000, mstep_tol=-np.inf)
    if kind == "gaussian":
        experts = GaussianExperts(alpha, reg_variance)
    else:
        experts = MultinomialExperts(alpha, n_steps=3000, tol=-np.inf)
    return EMEngine(Tree(depth, b), experts, gate_alpha, **exact)


def _centered(W):
    """Softmax rows up to the shift that leaves probabilities unchanged."""
    return W - W.mean(axis=0)


def _internal(kind, X, y, sw):
    Xa = standardize_design(X, sw)[0]
    if kind == "gaussian":
        Ys = ref.standardize(y, sw)[0]
        return Xa, Ys, Ys
    idx = y.astype(np.int64)
    return Xa, (idx, np.eye(idx.max() + 1)[idx]), idx


@pytest.mark.parametrize(
    "kind, depth, b", [("gaussian", 1, 3), ("gaussian", 2, 2), ("multinomial", 1, 2), ("multinomial", 2, 2)]
)
def test_one_iteration_matches_reference(kind, depth, b):
    X, y, sw = _data(kind)
    gate_alpha, alpha = 1e-2, 1e-1
    engine = _engine(kind, depth, b, gate_alpha, alpha)
    Xa, target, ref_target = _internal(kind, X, y, sw)
    assert np.allclose(Xa, ref.design(X, sw), atol=1e-14)
    rs = np.random.RandomState(1)
    post0 = rs.dirichlet(np.ones(b**depth), size=X.shape[0])
    n_outputs = y.shape[1] if kind == "gaussian" else 3

    # the M-step from the initial responsibilities
    params = engine.init_from_posteriors(post0, Xa, target, sw, n_outputs)
    gates, experts = ref.m_step(Xa, ref_target, sw, post0, depth, b, gate_alpha, alpha, kind, 1e-3)
    _assert_params_equal(engine, params, gates, experts, kind)

    # one EM iteration: E-step, then M-step
    post1, loglik1 = engine.e_step(params, Xa, target)
    ref_post1, ref_loglik1 = ref.e_step(Xa, gates, ref.logdens(Xa, ref_target, experts, kind), depth, b)
    np.testing.assert_allclose(post1, ref_post1, rtol=0, atol=1e-8)
    np.testing.assert_allclose(loglik1, ref_loglik1, rtol=1e-8, atol=1e-8)
    params2 = engine.m_step(params, Xa, target, sw, post1)
    gates2, experts2 = ref.m_step(Xa, ref_target, sw, ref_post1, depth, b, gate_alpha, alpha, kind, 1e-3)
    _assert_params_equal(engine, params2, gates2, experts2, kind)

    # the objective (mean penalised log-likelihood) of the new parameters
    _, loglik2 = engine.e_step(params2, Xa, target)
    ref_ll2 = ref.e_step(Xa, gates2, ref.logdens(Xa, ref_target, experts2, kind), depth, b)[1]
    ref_obj = (sw @ ref_ll2 - ref.penalty(gates2, experts2, gate_alpha, alpha, kind)) / sw.sum()
    assert abs(engine.objective(params2, loglik2, sw) - ref_obj) < 1e-8


def _assert_params_equal(engine, params, gates, experts, kind):
    b = engine.tree.branching
    for j, W in enumerate(gates):
        np.testing.assert_allclose(
            _centered(params["gate"][j * b:(j + 1) * b]), _centered(W), rtol=0, atol=1e-8
        )
    for leaf, e in enumerate(experts):
        if kind == "gaussian":
            np.testing.assert_allclose(params["experts"]["coef"][leaf], e[0], rtol=0, atol=1e-8)
            np.testing.assert_allclose(params["experts"]["var"][leaf], e[1], rtol=1e-8, atol=0)
        else:
            np.testing.assert_allclose(
                _centered(params["experts"]["coef"][leaf]), _centered(e), rtol=0, atol=1e-8
            )


def test_sample_weight_equals_repetition():
    """From the same initial responsibilities, integer weights are repeated rows."""
    X, y, _ = _data("gaussian", n=120)
    sw = np.random.RandomState(3).randint(0, 4, size=X.shape[0]).astype(float)
    rep = np.repeat(np.arange(X.shape[0]), sw.astype(int))
    post0 = np.random.RandomState(4).dirichlet(np.ones(3), size=X.shape[0])
    results = []
    for Xi, yi, swi, pi in [(X, y, sw, post0), (X[rep], y[rep], np.ones(rep.size), post0[rep])]:
        engine = EMEngine(Tree(1, 3), GaussianExperts(1e-3, 1e-4), 1e-3)
        Xa, Ys, _ = _internal("gaussian", Xi, yi, swi)
        params = engine.init_from_posteriors(pi, Xa, Ys, swi, 1)
        params, bounds, *_ = engine.run(params, Xa, Ys, swi, max_iter=20, tol=0.0)
        results.append((params, bounds))
    (p1, b1), (p2, b2) = results
    np.testing.assert_allclose(b1, b2, rtol=1e-9)
    np.testing.assert_allclose(p1["experts"]["coef"], p2["experts"]["coef"], atol=1e-7)
    np.testing.assert_allclose(_centered(p1["gate"]), _centered(p2["gate"]), atol=1e-7)


@pytest.mark.parametrize("kind", ["gaussian", "multinomial"])
@pytest.mark.parametrize("depth, b", [(1, 4), (2, 2), (2, 3), (3, 2)])
def test_engine_never_decreases_objective(kind, depth, b):
    X, y, sw = _data(kind, n=400, seed=depth * 10 + b)
    engine = EMEngine(
        Tree(depth, b),
        GaussianExperts(1e-6, 1e-6) if kind == "gaussian" else MultinomialExperts(1e-4, 5),
        1e-3,
    )
    Xa, target, _ = _internal(kind, X, y, sw)
    post0 = np.random.RandomState(0).dirichlet(np.ones(b**depth), size=X.shape[0])
    params = engine.init_from_posteriors(post0, Xa, target, sw, 1 if kind == "gaussian" else 3)
    _, bounds, *_ = engine.run(params, Xa, target, sw, max_iter=60, tol=0.0)
    assert np.all(np.isfinite(bounds))
    assert np.min(np.diff(bounds)) >= -1e-10 * max(1.0, abs(bounds[-1]))
