"""Classification and stochastic EM (``algorithm``) and user-given initial responsibilities
(``init_params`` as an array), against the plain-numpy reference where they change EM."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

import reference as ref
from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._assign import HardAssignment, SampledAssignment
from mixexp._design import Design, design_matrix, weighted_location_scale
from mixexp._engine import EMEngine, FrozenExpertWarning
from mixexp._init import INIT_STEPS
from mixexp._tree import Tree
from mixexp.experts.gaussian import LinearGaussianExperts
from mixexp.experts.multinomial import MultinomialExperts
from mixexp.gates.softmax import SoftmaxGate


def _data(n=300, seed=0, classify=False):
    rs = np.random.RandomState(seed)
    X = rs.uniform(-2, 2, size=(n, 2))
    y = np.where(X[:, 0] > 0, 2 * X[:, 1] + 1, -X[:, 1] - 1) + 0.5 * rs.randn(n)
    if classify:
        y = (y + 0.5 * rs.randn(n) > 0).astype(int)
    return X, y


def _fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FrozenExpertWarning)  # hard assignments can empty a leaf
        return est.fit(X, y, **kwargs)


FLAT_AND_TREE = [
    (MixtureOfExpertsRegressor, {"n_experts": 3}, False, 3),
    (HierarchicalMixtureOfExpertsRegressor, {"depth": 2, "branching": 2}, False, 4),
    (MixtureOfExpertsClassifier, {"n_experts": 2}, True, 2),
    (HierarchicalMixtureOfExpertsClassifier, {"depth": 2, "branching": 2}, True, 4),
]
IDS = ["flat-reg", "hme-reg", "flat-clf", "hme-clf"]


# -- classification EM ---------------------------------------------------------------
@pytest.mark.parametrize("gate", ["softmax", "gaussian"])
@pytest.mark.parametrize("cls, structure, classify, n_leaves", FLAT_AND_TREE, ids=IDS)
def test_cem_classification_likelihood_never_decreases(cls, structure, classify, n_leaves, gate):
    X, y = _data(classify=classify)
    model = _fit(
        cls(**structure, gate=gate, algorithm="cem", init_params="random", max_iter=40, tol=0.0,
            random_state=0), X, y,
    )
    bounds = model.lower_bounds_
    assert bounds.shape == (model.n_iter_,)
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))
    # at the returned parameters the classification likelihood is at most the observed one
    loglik = model.log_likelihood(X, y)
    post = model.responsibilities(X, y)
    classification = loglik + np.log(post.max(axis=1))
    assert np.all(classification <= loglik + 1e-12)


def _setup(kind, depth, b, X, y, sw, gate_alpha=1e-2, alpha=1e-1):
    tree = Tree(depth, b)
    experts = LinearGaussianExperts(alpha, 1e-3) if kind == "gaussian" else MultinomialExperts(alpha)
    engine = EMEngine(tree, SoftmaxGate(tree, gate_alpha), experts)
    x_mean, x_scale = weighted_location_scale(X, sw)
    target, info = experts.prepare_target(y, sw)
    design = Design(design_matrix(X, x_mean, x_scale), target, sw, chunk_rows=97)
    return engine, design, info, (target if kind == "gaussian" else target.astype(int))


@pytest.mark.parametrize("kind, depth, b", [("gaussian", 1, 3), ("gaussian", 2, 2), ("multinomial", 2, 2)])
def test_cem_one_iteration_matches_reference(kind, depth, b):
    X, y = _data(classify=kind == "multinomial")
    sw = np.random.RandomState(3).uniform(0.2, 2.0, size=X.shape[0])
    engine, design, info, target = _setup(kind, depth, b, X, y, sw)
    Xa = design.Xa
    post0 = np.random.RandomState(1).dirichlet(np.ones(b**depth), size=X.shape[0])
    params = engine.fit_posteriors(post0, design, engine.zero_params(design, info), 5)
    gates = [params["gate"]["coef"][j] for j in range(ref.n_inner(depth, b))]
    if kind == "gaussian":
        experts = [(params["experts"]["coef"][k], params["experts"]["var"][k]) for k in range(b**depth)]
    else:
        experts = [params["experts"]["coef"][k] for k in range(b**depth)]

    # the pass: the E-step's argmax, the classification log-likelihood as objective
    S = engine.pass_stats(params, design, HardAssignment())
    joint = ref.log_path_gates(Xa, gates, depth, b) + ref.logdens(Xa, target, experts, kind)
    hard = np.eye(b**depth)[joint.argmax(axis=1)]
    assert abs(S["loglik"] - sw @ joint.max(axis=1)) < 1e-8 * abs(S["loglik"])
    observed = sw @ logsumexp(joint, axis=1)
    assert S["loglik"] < observed

    # the M-step on the hard posteriors
    new, _ = engine.update(S, engine.constant_stats(design), params, sw.sum(), safe=True)
    gates2, experts2 = ref.gem_step(Xa, target, sw, hard, gates, experts, depth, b, 1e-2, 1e-1, kind, 1e-3)
    for j, W in enumerate(gates2):
        got = new["gate"]["coef"][j]
        np.testing.assert_allclose(got - got.mean(axis=0), W - W.mean(axis=0), atol=1e-8)
    for k, e in enumerate(experts2):
        if kind == "gaussian":
            np.testing.assert_allclose(new["experts"]["coef"][k], e[0], atol=1e-8)
            np.testing.assert_allclose(new["experts"]["var"][k], e[1], rtol=1e-8)
        else:
            got = new["experts"]["coef"][k]
            np.testing.assert_allclose(got - got.mean(axis=0), e - e.mean(axis=0), atol=1e-8)


# -- stochastic EM -----------------------------------------------------------------------
def test_sem_draws_follow_the_posteriors_and_do_not_depend_on_chunks():
    post = np.tile([0.2, 0.5, 0.3], (20000, 1))
    rule = SampledAssignment(np.random.RandomState(0))
    rule.begin_pass()
    whole = rule.leaves(post, slice(0, 20000))
    np.testing.assert_allclose(np.bincount(whole, minlength=3) / 20000, [0.2, 0.5, 0.3], atol=0.015)
    # a chunk's draws depend on its first row and the pass's seed, not on what ran before
    again = rule.leaves(post[:500], slice(0, 500))
    np.testing.assert_array_equal(again, whole[:500])
    assert rule.leaves(np.array([[0.0, 1.0, 0.0]] * 50), slice(7, 57)).tolist() == [1] * 50


@pytest.mark.parametrize("cls, structure, classify, n_leaves", FLAT_AND_TREE[:2], ids=IDS[:2])
def test_sem_is_reproducible_and_returns_its_best_iterate(cls, structure, classify, n_leaves, monkeypatch):
    X, y = _data(n=200)
    # no penalties: the objective is the mean observed log-likelihood
    kw = dict(structure, algorithm="sem", gate_alpha=0.0, alpha=0.0, init_params="random", max_iter=30,
              tol=0.0, random_state=4)
    seen = []  # per run: the start's objective, then every iterate's
    run, em_step = EMEngine.run, EMEngine._em_step

    def recording_run(self, params, design, *args, **kwargs):
        seen.append([])
        return run(self, params, design, *args, **kwargs)

    def recording_step(self, *args, **kwargs):
        new, S_new, obj_new = em_step(self, *args, **kwargs)
        if not seen[-1]:
            seen[-1].append(args[2])  # the start's objective
        seen[-1].append(obj_new)
        return new, S_new, obj_new

    monkeypatch.setattr(EMEngine, "run", recording_run)
    monkeypatch.setattr(EMEngine, "_em_step", recording_step)
    first = _fit(cls(**kw), X, y)
    chain = np.asarray(seen[-1]) + first._fitted.loglik_shift()
    monkeypatch.undo()
    second = _fit(cls(**kw), X, y)
    np.testing.assert_array_equal(first.lower_bounds_, second.lower_bounds_)
    np.testing.assert_array_equal(first.expert_coef_, second.expert_coef_)
    other = _fit(cls(**{**kw, "random_state": 5}), X, y)
    assert not np.array_equal(first.lower_bounds_, other.lower_bounds_)

    # the run's objectives (the start, then every iterate) go up and down; the fit keeps
    # the best, reports the best so far after every iteration, and its parameters reach it
    assert chain.shape == (first.n_iter_ + 1,)
    assert np.any(np.diff(chain) < 0)
    assert first.lower_bound_ == pytest.approx(chain.max(), abs=1e-12)
    np.testing.assert_allclose(first.lower_bounds_, np.maximum.accumulate(chain)[1:], atol=1e-12)
    assert first.lower_bound_ == pytest.approx(first.log_likelihood(X, y).mean(), abs=1e-9)


def test_sem_stops_after_patience_without_gain():
    from mixexp._engine import SEM_PATIENCE

    X, y = _data(n=200)
    model = _fit(MixtureOfExpertsRegressor(2, algorithm="sem", tol=10.0, max_iter=200, random_state=0), X, y)
    assert model.converged_ and model.n_iter_ == SEM_PATIENCE


# -- initial responsibilities ---------------------------------------------------------
def test_init_array_is_the_first_m_step_then_em_reference():
    """Gaussian gate, linear experts: the first M-step and one EM iteration are closed
    form, computed here in plain numpy from the given responsibilities."""
    X, y = _data(n=250)
    n, depth, b = X.shape[0], 1, 3
    R = np.random.RandomState(2).dirichlet(np.ones(3), size=n)
    model = _fit(
        MixtureOfExpertsRegressor(3, gate="gaussian", alpha=0.1, reg_covar=1e-3, reg_variance=1e-3,
                                  init_params=R, max_iter=1, tol=0.0), X, y,
    )
    sw = np.ones(n)
    Xa = ref.design(X, sw)
    Xs = Xa[:, :-1]
    Ys = ref.standardize(y[:, None], sw)[0]
    reg_variance = 1e-3 * np.ones(1)
    weights, means, covs = ref.gaussian_gate_m_step(Xs, sw, R, depth, b, 1e-3)
    experts = [ref.gaussian_exact(Xa, Ys, sw * R[:, k], 0.1, reg_variance) for k in range(3)]
    post = ref.gaussian_gate_e_step(Xs, weights, means, covs, ref.logdens(Xa, Ys, experts, "gaussian"),
                                    depth, b)[0]
    weights, means, covs = ref.gaussian_gate_m_step(Xs, sw, post, depth, b, 1e-3)
    experts = [ref.gaussian_exact(Xa, Ys, sw * post[:, k], 0.1, reg_variance) for k in range(3)]
    params = model._fitted.params
    np.testing.assert_allclose(np.exp(params["gate"]["log_weights"][0]), weights[0], rtol=1e-8)
    np.testing.assert_allclose(params["gate"]["means"], means, atol=1e-8)
    np.testing.assert_allclose(params["gate"]["covariances"], covs, atol=1e-8)
    for k, (coef, var) in enumerate(experts):
        np.testing.assert_allclose(params["experts"]["coef"][k], coef, atol=1e-8)
        np.testing.assert_allclose(params["experts"]["var"][k], var, rtol=1e-8)


@pytest.mark.parametrize("cls, structure, classify, n_leaves", FLAT_AND_TREE, ids=IDS)
def test_init_array_equals_a_start_fitted_by_hand(cls, structure, classify, n_leaves):
    """Softmax gates (iterative M-step): the fit from an array is the engine's M-step from
    those posteriors on all rows, then EM."""
    X, y = _data(classify=classify)
    R = np.random.RandomState(1).dirichlet(np.ones(n_leaves), size=X.shape[0])
    R_copy = R.copy()
    model = _fit(cls(**structure, init_params=R, max_iter=3, tol=0.0), X, y)
    np.testing.assert_array_equal(R, R_copy)  # not modified
    state = model._fitted
    design = state.design(design_matrix(X, state.x_mean, state.x_scale),
                          state.experts.prepare_target(y, np.ones(X.shape[0]))[0], np.ones(X.shape[0]))
    engine = EMEngine(state.tree, state.gate, state.experts)
    start = engine.fit_posteriors(R, design, engine.zero_params(design, state.info), INIT_STEPS)
    params, bounds, *_ = engine.run(start, design, 3, 0.0)
    np.testing.assert_allclose(model.lower_bounds_, np.asarray(bounds) + state.loglik_shift(), rtol=1e-12)
    for part in ("gate", "experts"):
        for key, value in params[part].items():
            np.testing.assert_allclose(state.params[part][key], value, rtol=1e-10, atol=1e-12)


def test_init_labels_equal_one_hot_and_rows_are_normalised():
    X, y = _data()
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)
    kw = dict(max_iter=5, tol=0.0)
    by_labels = _fit(MixtureOfExpertsRegressor(3, init_params=labels, **kw), X, y)
    by_onehot = _fit(MixtureOfExpertsRegressor(3, init_params=np.eye(3)[labels], **kw), X, y)
    np.testing.assert_allclose(by_labels.lower_bounds_, by_onehot.lower_bounds_, rtol=1e-12)
    R = np.random.RandomState(0).dirichlet(np.ones(3), size=X.shape[0])
    a = _fit(MixtureOfExpertsRegressor(3, init_params=R, **kw), X, y)
    b = _fit(MixtureOfExpertsRegressor(3, init_params=(7 * R).tolist(), **kw), X, y)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-12)


def test_init_array_with_groups_takes_each_groups_mean():
    rs = np.random.RandomState(0)
    X, y = _data(n=300)
    groups = rs.permutation(np.arange(300) // 3)
    X[:, 0] = X[np.argsort(groups)[::3][groups], 0]  # the gate's feature constant within groups
    sw = rs.uniform(0.5, 2.0, size=300)
    R = rs.dirichlet(np.ones(2), size=300)
    mean = np.zeros((100, 2))
    np.add.at(mean, groups, R * sw[:, None])
    mean /= mean.sum(axis=1, keepdims=True)
    kw = dict(gate_features=[0], max_iter=4, tol=0.0, algorithm="cem")
    a = _fit(MixtureOfExpertsRegressor(2, init_params=R, **kw), X, y, sample_weight=sw, groups=groups)
    b = _fit(MixtureOfExpertsRegressor(2, init_params=mean[groups], **kw), X, y, sample_weight=sw,
             groups=groups)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(a.expert_coef_, b.expert_coef_, rtol=1e-8, atol=1e-10)


def test_init_array_with_n_init_fits_once_with_a_warning():
    X, y = _data()
    labels = (X[:, 0] > 0).astype(int)
    with pytest.warns(UserWarning, match="same responsibilities"):
        many = MixtureOfExpertsRegressor(2, init_params=labels, n_init=3).fit(X, y)
    once = MixtureOfExpertsRegressor(2, init_params=labels).fit(X, y)
    np.testing.assert_array_equal(many.lower_bounds_, once.lower_bounds_)


@pytest.mark.parametrize(
    "init, match",
    [
        (np.ones((299, 3)), r"shape \(299, 3\).*\(300, 3\)"),
        (np.ones((300, 2)), r"shape \(300, 2\).*\(300, 3\)"),
        (np.ones((300, 3, 1)), "3 dimensions"),
        (np.zeros(300, dtype=int) + 3, r"in \[0, 3\)"),
        (-np.ones(300, dtype=int), r"in \[0, 3\)"),
        (np.zeros(299, dtype=int), "one per sample"),
        (np.zeros(300), "integer leaf labels"),
        (np.r_[[[-0.5, 1.0, 0.5]], np.ones((299, 3))], "non-negative"),
        (np.r_[[[0.0, 0.0, 0.0]], np.ones((299, 3))], r"positive sum; rows \[0\]"),
        (np.r_[[[np.nan, 0.0, 1.0]], np.ones((299, 3))], "NaN"),
        (np.full((300, 3), "a"), "numbers"),
    ],
)
def test_bad_init_arrays_raise_value_error(init, match):
    X, y = _data()
    model = MixtureOfExpertsRegressor(3, init_params=init)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)
    assert not hasattr(model, "n_iter_")


def test_bad_algorithm_raises():
    X, y = _data()
    with pytest.raises(ValueError, match="algorithm"):
        MixtureOfExpertsRegressor(2, algorithm="hard").fit(X, y)


def test_docs_page_example_runs():
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "algorithms.md"
    if not page.exists():
        pytest.skip("run from a source checkout (docs/ is not installed)")
    blocks = page.read_text().split("```python\n")[1:]
    assert blocks
    for block in blocks:
        namespace = {}
        exec(compile(block.split("```")[0], str(page), "exec"), namespace)
        assert namespace["model"].n_iter_ >= 1


@pytest.mark.parametrize("params, match", [({"init_params": np.zeros(40, dtype=int)}, "init_params"),
                                           ({"algorithm": "cem"}, "algorithm")])
def test_dask_fit_refuses_arrays_and_variants(params, match):
    da = pytest.importorskip("dask.array")
    X, y = _data(n=40)
    with pytest.raises(ValueError, match=match):
        MixtureOfExpertsRegressor(2, **params).fit(da.from_array(X, chunks=20), da.from_array(y, chunks=20))
