"""Online EM (``partial_fit``): one call is one EM iteration, a stream reaches the batch fit."""

import copy

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.linear_model import SGDRegressor
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils._param_validation import InvalidParameterError

import reference as ref
from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._online import step_size
from mixexp.datasets import make_moe_classification, make_moe_regression
from mixexp.experts import EXPERTS

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _ref_params(params, kind):
    gates = list(params["gate"]["coef"])
    e = params["experts"]
    experts = list(zip(e["coef"], e["var"])) if kind == "gaussian" else list(e["coef"])
    return gates, experts


def _centered(W):
    return W - W.mean(axis=0)


@pytest.mark.parametrize(
    "kind, model",
    [
        ("gaussian", MixtureOfExpertsRegressor(3, gate_alpha=1e-2, alpha=1e-1, max_iter=3)),
        ("gaussian", HierarchicalMixtureOfExpertsRegressor(2, 2, gate_alpha=1e-2, alpha=1e-1, max_iter=3)),
        ("multinomial", HierarchicalMixtureOfExpertsClassifier(2, 2, gate_alpha=1e-2, alpha=1e-1, max_iter=3)),
    ],
)
def test_one_partial_fit_of_all_rows_is_one_em_iteration(kind, model):
    """From a fitted start, partial_fit of all rows = one EM iteration with bound steps
    (tests/reference.py's gem_step, plain numpy)."""
    rs = np.random.RandomState(0)
    if kind == "gaussian":
        X, y = make_moe_regression(n_samples=400, n_features=3, n_experts=3, random_state=0)
    else:
        X, y = make_moe_classification(n_samples=400, n_features=3, n_experts=3, random_state=0)
    sw = rs.uniform(0.2, 2.0, size=X.shape[0])
    model = clone(model).set_params(random_state=0).fit(X, y, sample_weight=sw)
    start = model._fitted.params
    depth, b = model._fitted.tree.depth, model._fitted.tree.branching
    Xa = ref.design(X, sw)
    target = ref.standardize(y[:, None], sw)[0] if kind == "gaussian" else np.searchsorted(model.classes_, y)
    gates, experts = _ref_params(start, kind)
    post = ref.e_step(Xa, gates, ref.logdens(Xa, target, experts, kind), depth, b)[0]
    gates2, experts2 = ref.gem_step(
        Xa, target, sw, post, gates, experts, depth, b, 1e-2, 1e-1, kind,
        model.reg_variance if kind == "gaussian" else None,
    )

    model.set_params(warm_start=True).partial_fit(X, y, sample_weight=sw)
    assert model.n_batch_iter_ == 1 and model.n_samples_seen_ == pytest.approx(sw.sum())
    assert not hasattr(model, "lower_bounds_")
    new = model._fitted.params
    for j, W in enumerate(gates2):
        np.testing.assert_allclose(_centered(new["gate"]["coef"][j]), _centered(W), atol=1e-8)
    for leaf, e in enumerate(experts2):
        if kind == "gaussian":
            np.testing.assert_allclose(new["experts"]["coef"][leaf], e[0], atol=1e-8)
            np.testing.assert_allclose(new["experts"]["var"][leaf], e[1], rtol=1e-8)
        else:
            np.testing.assert_allclose(_centered(new["experts"]["coef"][leaf]), _centered(e), atol=1e-8)


# k-means starts: the online fit starts on its first batch, the batch reference from that start
STREAMS = [
    (MixtureOfExpertsRegressor(3, init_params="kmeans", random_state=0), make_moe_regression, 3),
    (MixtureOfExpertsClassifier(3, init_params="kmeans", random_state=0), make_moe_classification, 3),
    (HierarchicalMixtureOfExpertsRegressor(2, 2, init_params="kmeans", random_state=0), make_moe_regression, 4),
]


@pytest.mark.parametrize("model, make, n_experts", STREAMS, ids=["moe-reg", "moe-clf", "hme-reg"])
def test_stream_of_50_batches_reaches_the_batch_fit(model, make, n_experts):
    """Online EM over 50 batches ends within 0.01 nats per sample of batch EM on all rows
    from the same start (the fit of the first batch, continued with ``warm_start``): which
    optimum a start leads to is the start's doing, not the online steps'."""
    X, y = make(n_samples=60_000, n_experts=n_experts, random_state=1)
    online = clone(model)
    kw = {"classes": np.unique(y)} if is_classifier(model) else {}
    batches = np.array_split(np.random.RandomState(2).permutation(X.shape[0]), 50)
    for rows in batches:
        online.partial_fit(X[rows], y[rows], **kw)
    assert online.n_batch_iter_ == 50
    batch = clone(model).partial_fit(X[batches[0]], y[batches[0]], **kw)
    batch.set_params(warm_start=True).fit(X, y)
    assert batch.converged_
    gap = batch.log_likelihood(X, y).mean() - online.log_likelihood(X, y).mean()
    assert gap < 0.01, gap


def test_step_sizes():
    assert step_size(1, 10.0, 0.7) == 1.0
    assert step_size(2, 10.0, 0.7) == pytest.approx(12.0**-0.7)
    assert step_size(50, 0.0, 1.0) == pytest.approx(1 / 50)


def test_closed_form_steps_blend_the_batches_sums():
    """Gaussian gate and linear experts (closed form): after two batches the running sums are
    (1 - g) S_1 / w_1 + g S_2 / w_2, and the experts are the ridge fit to n_seen times them."""
    X, y = make_moe_regression(n_samples=600, n_features=2, n_experts=2, random_state=3)
    first, second = slice(0, 250), slice(250, 600)
    model = MixtureOfExpertsRegressor(2, gate="gaussian", alpha=1e-1, random_state=0,
                                      learning_decay=0.8, learning_offset=2.0)
    model.partial_fit(X[first], y[first])
    S1 = copy.deepcopy(model._online.S)
    state = model._fitted
    Xa = np.hstack([(X[second] - state.x_mean) / state.x_scale, np.ones((350, 1))])
    Y = (y[second] - state.info["mean"]) / state.info["scale"]
    post = model.responsibilities(X[second], y[second])  # the E-step at the parameters batch 2 meets
    model.partial_fit(X[second], y[second])
    gamma = step_size(2, 2.0, 0.8)
    S = model._online.S
    grams2 = np.einsum("il,ij,ik->ljk", post, Xa, Xa) / 350
    xty2 = np.einsum("il,ij,i->jl", post, Xa, Y) / 350
    np.testing.assert_allclose(S["experts"]["grams"], (1 - gamma) * S1["experts"]["grams"] + gamma * grams2,
                               atol=1e-10)
    np.testing.assert_allclose(S["experts"]["xty"][..., 0],
                               (1 - gamma) * S1["experts"]["xty"][..., 0] + gamma * xty2, atol=1e-10)
    assert model.n_samples_seen_ == 600
    for leaf in range(2):
        coef = np.linalg.solve(600 * S["experts"]["grams"][leaf] + np.diag([1e-1, 1e-1, 0.0]),
                               600 * S["experts"]["xty"][:, leaf, 0])
        np.testing.assert_allclose(model._fitted.params["experts"]["coef"][leaf, 0], coef, atol=1e-10)


def test_classes_are_required_first_and_fixed():
    X, y = make_moe_classification(n_samples=300, n_experts=2, random_state=0)
    model = MixtureOfExpertsClassifier(2, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(X, y)
    assert not hasattr(model, "classes_")
    model.partial_fit(X, y, classes=np.unique(y))
    with pytest.raises(ValueError, match="is not the same"):
        model.partial_fit(X, y, classes=[0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="labels not seen"):
        model.partial_fit(X, np.full(X.shape[0], 9))


def test_failed_partial_fit_changes_nothing():
    X, y = make_moe_regression(n_samples=300, n_experts=2, random_state=0)
    model = MixtureOfExpertsRegressor(2, random_state=0).partial_fit(X, y)
    before = {k: np.copy(v) for k, v in vars(model).items() if k.endswith("_") and isinstance(v, np.ndarray)}
    n_steps = model.n_batch_iter_
    with pytest.raises(ValueError):
        model.partial_fit(X[:, :-1], y)
    with pytest.raises(ValueError):
        model.partial_fit(X, y, sample_weight=np.zeros(X.shape[0]))
    assert model.n_batch_iter_ == n_steps
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(model, k), v)
    with pytest.raises(InvalidParameterError):
        clone(model).set_params(learning_decay=0.5).partial_fit(X, y)


def test_estimator_experts_must_learn_incrementally():
    X, y = make_moe_regression(n_samples=400, n_experts=2, random_state=0)
    tree_experts = MixtureOfExpertsRegressor(2, expert=DecisionTreeRegressor(max_depth=2))
    # partial_fit exists only when online EM can serve the experts (as in scikit-learn)
    assert not hasattr(tree_experts, "partial_fit")
    with pytest.raises(AttributeError, match="no attribute 'partial_fit'") as info:
        tree_experts.partial_fit(X, y)
    # the reason travels with the error, chained
    assert "learn incrementally" in str(info.value.__cause__.__cause__)
    model = MixtureOfExpertsRegressor(2, expert=SGDRegressor(random_state=0), random_state=0)
    for rows in np.array_split(np.arange(400), 4):
        model.partial_fit(X[rows], y[rows])
    assert model.n_batch_iter_ == 4 and np.isfinite(model.batch_log_likelihood_)
    assert np.all(np.isfinite(model.log_likelihood(X, y)))


def test_fit_after_partial_fit_starts_anew():
    X, y = make_moe_regression(n_samples=300, n_experts=2, random_state=0)
    model = MixtureOfExpertsRegressor(2, random_state=0).partial_fit(X, y).fit(X, y)
    assert not hasattr(model, "n_batch_iter_") and not hasattr(model, "_online")
    assert hasattr(model, "lower_bounds_")


@pytest.mark.parametrize("family", sorted(n for n, c in EXPERTS["regression"].items() if c.needs_all_rows))
def test_glm_families_have_no_online_em(family):
    # their M-step is Newton to convergence on all rows: there are no running sums to blend
    model = MixtureOfExpertsRegressor(2, expert=family)
    assert not hasattr(model, "partial_fit")
    X = np.abs(np.random.default_rng(0).normal(size=(50, 2)))
    with pytest.raises(AttributeError, match="no attribute 'partial_fit'") as info:
        model.partial_fit(X, X[:, 0] + 1.0)
    assert "cannot serve it" in str(info.value.__cause__.__cause__)
    assert hasattr(MixtureOfExpertsRegressor(2), "partial_fit")
