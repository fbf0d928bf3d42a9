"""The expert families beyond the Gaussian: Student-t, Poisson, Gamma, zero-inflated Poisson.

One EM iteration against the plain-numpy reference (tests/reference_families.py),
EM's monotonicity flat and in a tree, recovery of known parameters, exposure.
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
from mixexp.datasets import make_moe_family
from mixexp.experts import EXPERTS
from mixexp.gates.softmax import SoftmaxGate

FAMILIES = ["student_t", "poisson", "gamma", "zip"]
LOG_LINK = ["poisson", "gamma", "zip"]


def _fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


def _engine_setup(family, seed=0, n=300, K=2):
    """An engine whose gate sees column 0 and whose experts see columns 1, 2."""
    X, y = make_moe_family(family, n, n_features=3, n_experts=K, gate_features=[0],
                           expert_features=[1, 2], random_state=seed)
    rs = np.random.RandomState(seed + 1)
    sw = rs.uniform(0.3, 2.0, size=n)
    alpha, gate_alpha, reg_variance = 0.1, 1e-2, 1e-3
    experts = EXPERTS["regression"][family]({"alpha": alpha, "reg_variance": reg_variance})
    tree = Tree(1, K)
    engine = EMEngine(tree, SoftmaxGate(tree, gate_alpha), experts)
    target, info = experts.prepare_target(y, sw)
    if family in LOG_LINK:
        target = experts.offset_target(target, np.log(rs.uniform(0.5, 2.0, size=n)))
    x_mean, x_scale = weighted_location_scale(X, sw)
    design = Design(design_matrix(X, x_mean, x_scale), target, sw, gate_columns=np.array([0]),
                    expert_columns=np.array([1, 2]))
    return engine, design, info, (gate_alpha, alpha, reg_variance)


def _reference_experts(family, P):
    if family == "student_t":
        return [(P["coef"][k], P["var"][k], P["nu"][k]) for k in range(P["coef"].shape[0])]
    if family == "poisson":
        return [P["coef"][k, 0] for k in range(P["coef"].shape[0])]
    own = P["shape"] if family == "gamma" else P["pi"]
    return [(P["coef"][k, 0], own[k]) for k in range(P["coef"].shape[0])]


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
            own = P["shape"] if family == "gamma" else P["pi"]
            np.testing.assert_allclose(own[k], e[1], rtol=tol, atol=tol)


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


@pytest.mark.parametrize("family", FAMILIES)
def test_recovers_known_parameters(family):
    X, y, truth = make_moe_family(family, 3000, n_features=3, n_experts=2, gate_features=[0],
                                  expert_features=[1, 2], random_state=3, return_params=True)
    model = _fit(MixtureOfExpertsRegressor(n_experts=2, expert=family, gate_features=[0],
                                           expert_features=[1, 2], n_init=2, random_state=0), X, y)
    order = _match(truth["expert_intercept"][:, 0], model.expert_intercept_[:, 0])
    np.testing.assert_allclose(model.expert_intercept_[order], truth["expert_intercept"], atol=0.1)
    np.testing.assert_allclose(model.expert_coef_[order], truth["expert_coef"], atol=0.1)
    # the gate sees column 0 only; its direction is recovered up to the softmax's shift
    g = model.gate_coef_[order, 0]
    assert np.all(model.gate_coef_[:, 1:] == 0.0)
    np.testing.assert_allclose(g[1] - g[0], np.diff(truth["gate_coef"][:, 0])[0], rtol=0.2)
    if family == "student_t":
        np.testing.assert_allclose(model.noise_scale_[:, 0], truth["noise_scale"], rtol=0.1)
    elif family == "gamma":
        np.testing.assert_allclose(model.dispersion_, truth["dispersion"], rtol=0.15)
    elif family == "zip":
        np.testing.assert_allclose(model.zero_inflation_, truth["zero_inflation"], atol=0.05)
    labels = model.responsibilities(X, y).argmax(axis=1)
    assert np.mean(order[truth["labels"]] == labels) > 0.8


def test_student_t_degrees_of_freedom_recovered():
    X, y, truth = make_moe_family("student_t", 5000, n_features=2, n_experts=2, nu=4.0,
                                  random_state=4, return_params=True)
    model = _fit(MixtureOfExpertsRegressor(n_experts=2, expert="student_t", tol=1e-6, max_iter=300,
                                           random_state=0), X, y)
    np.testing.assert_allclose(model.nu_, 4.0, rtol=0.25)
