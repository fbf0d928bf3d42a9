"""Hierarchical mixtures of experts: the tree, recovery, and the flat case as depth 1."""

import warnings

import numpy as np
import pytest
from scipy.special import log_softmax, logsumexp
from sklearn.exceptions import ConvergenceWarning

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
import mixexp._init as init
from mixexp._tree import Tree
from mixexp.datasets import make_hme_regression, make_moe_classification, make_moe_regression


def test_tree_topology():
    t = Tree(depth=2, branching=3)
    assert (t.n_inner, t.n_leaves, t.n_nodes) == (4, 9, 13)
    np.testing.assert_array_equal(t.children[0], [1, 2, 3])
    np.testing.assert_array_equal(t.children[3], [10, 11, 12])
    assert t.parent[12] == 3 and t.parent[1] == 0 and t.parent[0] == -1
    m = t.leaf_to_subtree
    assert np.all(m[:, 0] == 1) and m[:, 1].sum() == 3 and np.all(m[:, 4:].sum(axis=0) == 1)
    flat = Tree(depth=1, branching=5)
    assert (flat.n_inner, flat.n_leaves) == (1, 5)
    single = Tree(depth=1, branching=1)
    assert (single.n_inner, single.n_leaves) == (1, 1)


@pytest.mark.parametrize(
    "flat, tree, data",
    [
        (MixtureOfExpertsRegressor, HierarchicalMixtureOfExpertsRegressor, make_moe_regression),
        (MixtureOfExpertsClassifier, HierarchicalMixtureOfExpertsClassifier, make_moe_classification),
    ],
)
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_depth_one_hme_is_flat_moe(flat, tree, data, init_params):
    X, y = data(n_samples=300, n_features=3, n_experts=3, random_state=0)
    kw = dict(random_state=0, init_params=init_params, max_iter=15, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = flat(n_experts=3, **kw).fit(X, y)
        b = tree(depth=1, branching=3, **kw).fit(X, y)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(a.gate_coef_, b.gate_coef_[0], atol=1e-8)
    np.testing.assert_allclose(a.gate_intercept_, b.gate_intercept_[0], atol=1e-8)
    np.testing.assert_allclose(a.expert_coef_, b.expert_coef_, atol=1e-8)
    np.testing.assert_allclose(a.predict_gate(X), b.predict_gate(X), atol=1e-8)


def _true_hme_loglik(X, y, p, depth, b):
    n_inner = p["gate_coef"].shape[0]
    log_g = [log_softmax(X @ p["gate_coef"][j].T + p["gate_intercept"][j], axis=1) for j in range(n_inner)]
    mean = X @ p["expert_coef"][:, 0, :].T + p["expert_intercept"][:, 0]
    var = p["noise_variance"][:, 0]
    joint = -0.5 * (np.log(2 * np.pi * var) + (y[:, None] - mean) ** 2 / var)
    for leaf in range(b**depth):
        node = n_inner + leaf
        while node > 0:
            parent = (node - 1) // b
            joint[:, leaf] += log_g[parent][:, node - 1 - parent * b]
            node = parent
    return logsumexp(joint, axis=1)


@pytest.mark.parametrize("seed", [0, 1])
def test_hme_recovery(seed):
    X, y, params = make_hme_regression(
        n_samples=5000, n_features=5, depth=2, branching=2, noise=0.1, random_state=seed,
        return_params=True,
    )
    true_ll = _true_hme_loglik(X, y, params, 2, 2).mean()
    # recovery of the maximum-likelihood fit: penalties next to nothing (the defaults
    # alpha=1, gate_alpha=0.1 shrink the sharp true gates of this noise-0.1 data)
    model = HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, n_init=3, max_iter=500, random_state=seed,
                                                  alpha=1e-6, gate_alpha=1e-3)
    model.fit(X, y)
    assert model.log_likelihood(X, y).mean() >= true_ll - 0.02


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("depth, branching", [(2, 2), (3, 2), (2, 3)])
@pytest.mark.parametrize("estimator", [HierarchicalMixtureOfExpertsRegressor, HierarchicalMixtureOfExpertsClassifier])
@pytest.mark.parametrize("seed", [0, 1])
def test_hme_lower_bounds_never_decrease(depth, branching, estimator, seed):
    if estimator is HierarchicalMixtureOfExpertsRegressor:
        X, y = make_hme_regression(n_samples=500, n_features=3, depth=2, random_state=seed)
    else:
        X, y = make_moe_classification(n_samples=500, n_features=3, random_state=seed)
    model = estimator(depth=depth, branching=branching, random_state=seed, max_iter=40, tol=0.0)
    model.fit(X, y, sample_weight=np.random.RandomState(seed).uniform(0.5, 1.5, size=500))
    lb = model.lower_bounds_
    assert np.all(np.isfinite(lb)) and np.min(np.diff(lb)) >= -1e-10 * max(1.0, abs(lb[-1]))
    assert model.gate_coef_.shape == (Tree(depth, branching).n_inner, branching, 3)


def test_leaf_arrangements_are_distinct_orders_best_first():
    X, y, p = make_hme_regression(600, 2, depth=3, random_state=0, return_params=True)
    post = np.eye(8)[p["labels"]] * 0.9 + 0.0125  # soft labels of the true leaves
    Xa = np.column_stack([(X - X.mean(0)) / X.std(0), np.ones(len(X))])
    orders = init.leaf_arrangements(post, Xa, np.ones(len(X)), 3, 2, 0.1, n_orders=4)
    assert len(orders) == 4
    assert all(sorted(o) == list(range(8)) for o in orders)
    roots = {frozenset([frozenset(o[:4]), frozenset(o[4:])]) for o in orders}
    assert len(roots) == 4  # each candidate has its own top split
    # the first is the single most separable order; more orders do not change it
    assert orders[0] == init.leaf_arrangements(post, Xa, np.ones(len(X)), 3, 2, 0.1)[0]
    # on the true leaves' labels the most separable top split is the true one
    top = {frozenset(orders[0][:4]), frozenset(orders[0][4:])}
    assert top == {frozenset(range(4)), frozenset(range(4, 8))}


@pytest.mark.parametrize("n_orders, reaches", [(1, False), (init.TREE_ARRANGEMENTS, True)])
def test_tree_start_compares_arrangements(n_orders, reaches):
    # the flat start's most separable top split is not this tree's (seed 5): from it EM
    # ended 0.12 nats per sample below the truth; comparing the arrangements by the
    # tree's EM ends at the truth (maximum likelihood: penalties off)
    X, y, p = make_hme_regression(2000, 2, depth=2, random_state=5, return_params=True)
    true_ll = _true_hme_loglik(X, y, p, 2, 2).mean()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(init, "TREE_ARRANGEMENTS", n_orders)
        model = HierarchicalMixtureOfExpertsRegressor(depth=2, alpha=0.0, gate_alpha=0.0, random_state=0)
        model.fit(X, y)
    gap = true_ll - model.log_likelihood(X, y).mean()
    assert (gap <= 0.01) == reaches, gap


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_tree_start_from_arrangements_then_monotone_em():
    X, y = make_hme_regression(2000, 2, depth=3, random_state=5)
    model = HierarchicalMixtureOfExpertsRegressor(depth=3, random_state=0, max_iter=30, tol=0.0).fit(X, y)
    lb = model.lower_bounds_
    assert np.all(np.isfinite(lb)) and np.min(np.diff(lb)) >= -1e-10 * max(1.0, abs(lb[-1]))
