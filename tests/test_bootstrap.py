"""bootstrap and bootstrap_lrt: standard errors against summary's, reproducibility, label
matching of swapped replicates (flat and tree), the LRT's statistic and p-value, errors."""

import copy
import itertools

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._bootstrap import _Reference, match_leaves
from mixexp._tree import Tree
from mixexp.datasets import make_moe_classification, make_moe_regression
from mixexp.gates import GATES
from mixexp.inference import Layout, bootstrap, bootstrap_lrt, observed_information

TIGHT = dict(random_state=0, tol=1e-8, max_iter=1000)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["nonparametric", "parametric"])
def test_bootstrap_standard_errors_agree_with_the_analytic_ones(method):
    X, y = make_moe_regression(1000, n_features=2, n_experts=2, noise=0.3, random_state=0)
    model = MixtureOfExpertsRegressor(2, **TIGHT).fit(X, y)
    analytic = model.summary(X, y)["std_error"].to_numpy()
    result = bootstrap(model, X, y, n_resamples=150, method=method, random_state=0)
    assert result.n_failed == 0
    ratio = result.std_error / analytic
    # 150 replicates: the Monte-Carlo error of a standard error is about 6%
    assert np.all(np.abs(ratio - 1) < 0.3), ratio
    assert np.abs(np.median(ratio) - 1) < 0.12, ratio
    # the percentile intervals hold the estimates
    assert np.all(result.ci_low < result.estimate) and np.all(result.estimate < result.ci_high)


def test_bootstrap_is_reproducible_and_labels_like_summary():
    X, y = make_moe_regression(300, n_features=2, n_experts=2, noise=0.3, random_state=1)
    model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    before = copy.deepcopy(model.__dict__["_fitted"].params)
    a = bootstrap(model, X, y, n_resamples=6, random_state=3)
    b = bootstrap(model, X, y, n_resamples=6, random_state=3)
    c = bootstrap(model, X, y, n_resamples=6, random_state=4)
    np.testing.assert_array_equal(a.replicates, b.replicates)
    assert not np.array_equal(a.replicates, c.replicates)
    table = model.summary(X, y)
    assert a.component == table["component"].tolist() and a.parameter == table["parameter"].tolist()
    np.testing.assert_allclose(a.estimate, table["estimate"], rtol=1e-12)
    assert a.replicates.shape == (6, len(table))
    # the model is not refitted in place
    np.testing.assert_array_equal(model._fitted.params["gate"]["coef"], before["gate"]["coef"])
    low, high = a.interval(0.5)
    assert np.all(low >= a.ci_low) and np.all(high <= a.ci_high)
    np.testing.assert_allclose(np.quantile(a.replicates, [0.025, 0.975], axis=0), [a.ci_low, a.ci_high])
    low, high = a.interval(0.95, kind="basic")
    np.testing.assert_allclose(low, 2 * a.estimate - a.ci_high)
    np.testing.assert_allclose(high, 2 * a.estimate - a.ci_low)
    low, high = a.interval(0.9, kind="normal")
    np.testing.assert_allclose(high - a.estimate, 1.6448536 * a.std_error, rtol=1e-6)
    np.testing.assert_allclose(a.estimate - low, 1.6448536 * a.std_error, rtol=1e-6)
    np.testing.assert_allclose(a.std_error, a.replicates.std(axis=0, ddof=1))
    assert list(a.table().columns) == ["component", "parameter", "estimate", "std_error", "ci_low", "ci_high"]


@pytest.mark.slow
def test_bootstrap_in_parallel_gives_the_same_replicates():
    X, y = make_moe_regression(200, n_features=2, n_experts=2, noise=0.3, random_state=1)
    model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    a = bootstrap(model, X, y, n_resamples=4, random_state=3)
    b = bootstrap(model, X, y, n_resamples=4, random_state=3, n_jobs=2)
    np.testing.assert_array_equal(a.replicates, b.replicates)


def _swapped(model, gate_perm, node_perm, leaf_perm):
    """A copy of a fitted model with its tree relabelled by hand (softmax gate or Gaussian
    gate, Gaussian experts): new inner node j is old node node_perm[j] with its children
    reordered by gate_perm[j]; new leaf l is old leaf leaf_perm[l]."""
    twin = copy.deepcopy(model)
    state = twin._fitted
    gate = dict(state.params["gate"])
    if "coef" in gate:
        gate["coef"] = np.stack([gate["coef"][o][p] for o, p in zip(node_perm, gate_perm)])
    else:
        lw = np.stack([gate["log_weights"][o][p] for o, p in zip(node_perm, gate_perm)])
        gate = state.gate._with_precisions({
            "log_weights": lw, "means": gate["means"][leaf_perm],
            "covariances": gate["covariances"][leaf_perm],
        })
    experts = {k: v[leaf_perm] for k, v in state.params["experts"].items()}
    state.params = {"gate": gate, "experts": experts}
    return twin


@pytest.mark.parametrize("gate", ["softmax", "gaussian"])
def test_a_swapped_replicate_is_matched_back_to_the_original(gate):
    X, y = make_moe_regression(300, n_features=2, n_experts=3, noise=0.2, random_state=0)
    model = MixtureOfExpertsRegressor(3, gate=gate, random_state=0).fit(X, y)
    reference = _Reference(model)
    estimate, moved = reference.matched(model)
    assert not moved
    np.testing.assert_allclose(estimate, reference.estimate)
    for perm in itertools.permutations(range(3)):
        if perm == (0, 1, 2):
            continue
        perm = np.array(perm)
        twin = _swapped(model, [perm], [0], perm)
        # the twin is the same model under other labels
        np.testing.assert_allclose(twin.log_likelihood(X, y), model.log_likelihood(X, y), rtol=1e-9)
        assert not np.allclose(twin.predict_gate(X), model.predict_gate(X))
        estimate, moved = reference.matched(twin)
        assert moved
        np.testing.assert_allclose(estimate, reference.estimate, rtol=1e-8, atol=1e-10)


def test_a_tree_replicate_is_matched_subtree_by_subtree():
    X, y = make_moe_regression(400, n_features=2, n_experts=4, noise=0.2, random_state=2)
    model = HierarchicalMixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    reference = _Reference(model)
    # swap the root's children (subtrees 1 and 2) and, below, the leaves of old node 2
    swap = np.array([1, 0])
    twin = _swapped(model, [swap, swap, [0, 1]], [0, 2, 1], np.array([3, 2, 0, 1]))
    np.testing.assert_allclose(twin.log_likelihood(X, y), model.log_likelihood(X, y), rtol=1e-9)
    estimate, moved = reference.matched(twin)
    assert moved
    np.testing.assert_allclose(estimate, reference.estimate, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", [n for n, cls in GATES.items() if cls.supports_inference])
@pytest.mark.parametrize("depth, branching", [(1, 3), (2, 2)])
def test_every_gate_with_inference_relabels_to_the_same_likelihood(name, depth, branching):
    # the contract of Gate.relabel, over the registry: relabelled gate and experts, same model
    X, y = make_moe_regression(200, n_features=2, n_experts=branching**depth, noise=0.3, random_state=0)
    model = HierarchicalMixtureOfExpertsRegressor(depth, branching=branching, gate=name, random_state=0,
                                                  max_iter=20).fit(X, y)
    design, state = model._design(X, y)
    layout = Layout(state)
    tree = state.tree
    node_map = np.arange(tree.n_nodes)
    if depth == 1:
        node_map[1:] = [3, 1, 2]
    else:  # the root's subtrees swapped, and the leaves below one of them
        node_map[1:] = [2, 1, 5, 6, 4, 3]
    gate = state.gate.relabel(state.params["gate"], node_map)
    leaf_map = node_map[tree.n_inner:] - tree.n_inner
    vec = state.experts.inference_vector(state.params["experts"])[leaf_map]
    params = {"gate": gate, "experts": state.experts.from_inference_vector(vec, state.params["experts"])}
    before = observed_information(layout, state.params, design)[3]
    after = observed_information(layout, params, design)[3]
    assert after == pytest.approx(before, rel=1e-10)
    assert not np.allclose(layout.pack(params), layout.pack(state.params))


def test_match_leaves_keeps_to_the_trees_relabellings():
    tree = Tree(depth=2, branching=2)
    # the cheapest pairing of leaves, 0-2, 1-0, 2-1, 3-3, is not a relabelling of the tree
    cost = np.full((4, 4), 10.0)
    cost[0, 2] = cost[1, 0] = cost[2, 1] = cost[3, 3] = 0.0
    node_map = match_leaves(tree, cost)
    leaves = node_map[3:] - 3
    assert sorted(leaves) == [0, 1, 2, 3]
    # siblings stay siblings
    assert {leaves[0] // 2} == {leaves[1] // 2} and {leaves[2] // 2} == {leaves[3] // 2}
    assert node_map[0] == 0 and sorted(node_map[1:3]) == [1, 2]
    # the best relabelling: 20 (two pairs at 10), not more
    assert cost[np.arange(4), leaves].sum() == 20.0
    flat = Tree(depth=1, branching=3)
    np.testing.assert_array_equal(match_leaves(flat, 1.0 - np.eye(3)[[2, 0, 1]]), [0, 3, 1, 2])


def test_bootstrap_of_a_classifier_and_a_tree():
    X, y = make_moe_classification(300, n_features=2, n_experts=2, n_classes=3, random_state=0)
    model = MixtureOfExpertsClassifier(2, random_state=0).fit(X, y)
    for method in ["nonparametric", "parametric"]:
        result = bootstrap(model, X, y, n_resamples=4, method=method, random_state=0)
        assert result.replicates.shape == (4, len(model.summary(X, y)))
        assert np.all(np.isfinite(result.std_error))
    X, y = make_moe_regression(300, n_features=2, n_experts=4, random_state=0)
    tree = HierarchicalMixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    assert bootstrap(tree, X, y, n_resamples=3, random_state=0).replicates.shape == (3, 25)


@pytest.mark.slow
def test_bootstrap_lrt_finds_a_second_expert_and_not_a_third():
    X, y = make_moe_regression(300, n_features=1, n_experts=2, noise=0.3, random_state=0)
    model = MixtureOfExpertsRegressor(random_state=0, tol=1e-6)
    two = bootstrap_lrt(model, X, y, n_experts=(1, 2), n_resamples=9, random_state=0)
    assert two.n_experts == (1, 2)
    l0 = MixtureOfExpertsRegressor(1, random_state=0, tol=1e-6).fit(X, y).log_likelihood(X, y).sum()
    assert two.log_likelihoods[0] == pytest.approx(l0, rel=1e-6)
    assert two.statistic == pytest.approx(2 * (two.log_likelihoods[1] - two.log_likelihoods[0]))
    assert np.all(two.null_statistics >= 0)
    assert two.statistic > np.nanmax(two.null_statistics)
    assert two.p_value == pytest.approx(0.1)  # (1 + 0) / (1 + 9), the smallest possible
    same = bootstrap_lrt(model, X, y, n_experts=(1, 2), n_resamples=9, random_state=0)
    np.testing.assert_array_equal(same.null_statistics, two.null_statistics)
    three = bootstrap_lrt(model.set_params(n_experts=2), X, y, n_resamples=9, random_state=0)
    assert three.n_experts == (2, 3)
    assert three.p_value > 0.1
    assert three.p_value == pytest.approx(
        (1 + np.sum(three.null_statistics >= three.statistic)) / 10
    )


def test_bad_input_is_refused_in_words():
    X, y = make_moe_regression(100, n_features=2, n_experts=2, random_state=0)
    with pytest.raises(NotFittedError):
        bootstrap(MixtureOfExpertsRegressor(2), X, y)
    model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="method must be one of"):
        bootstrap(model, X, y, method="ordinary")
    with pytest.raises(ValueError, match="n_resamples must be"):
        bootstrap(model, X, y, n_resamples=1)
    with pytest.raises(ValueError, match="n_resamples must be"):
        bootstrap_lrt(model, X, y, n_resamples=2.5)
    with pytest.raises(ValueError, match="attention"):
        bootstrap(MixtureOfExpertsRegressor(2, gate="attention", random_state=0).fit(X, y), X, y)
    with pytest.raises(ValueError, match="n_experts must be"):
        bootstrap_lrt(model, X, y, n_experts=(2, 2))
    with pytest.raises(ValueError, match="n_experts must be"):
        bootstrap_lrt(model, X, y, n_experts=3)
    with pytest.raises(ValueError, match="has no n_experts"):
        bootstrap_lrt(HierarchicalMixtureOfExpertsRegressor(2), X, y)
    result = bootstrap(model, X, y, n_resamples=2, random_state=0)
    with pytest.raises(ValueError, match="confidence_level"):
        result.interval(1.5)
    with pytest.raises(ValueError, match="kind must be one of"):
        result.interval(0.9, kind="bca")


def test_bootstrap_lrt_of_a_model_started_from_an_array():
    """Its fits at k0 and k1 start from ``init_params="short_em"``: the same test as the
    model with that start, and a warning that says so."""
    X, y = make_moe_regression(150, n_features=1, n_experts=2, random_state=1)
    resp = np.random.default_rng(1).dirichlet([1.0, 1.0], size=150)
    model = MixtureOfExpertsRegressor(2, init_params=resp, random_state=0)
    with pytest.warns(UserWarning, match="init_params='short_em'"):
        given = bootstrap_lrt(model, X, y, n_experts=(1, 2), n_resamples=3, random_state=0)
    named = bootstrap_lrt(
        MixtureOfExpertsRegressor(2, init_params="short_em", random_state=0), X, y, n_experts=(1, 2),
        n_resamples=3, random_state=0,
    )
    assert given.statistic == named.statistic
    np.testing.assert_array_equal(given.null_statistics, named.null_statistics)
    assert model.init_params is resp
