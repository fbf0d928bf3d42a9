"""The Gaussian gate's stacked log densities and its direct leaf probabilities.

``GaussianGate.log_densities`` (all leaves in a few stacked products) against
scipy's densities and a per-leaf Cholesky solve; ``leaf_probabilities``
against the engine's E-step without experts and against a plain product of
the node gates ``a_jc p_c(x) / p_j(x)``, including rows far from every Gaussian.
"""

import numpy as np
import pytest
from scipy.linalg import solve_triangular
from scipy.stats import multivariate_normal

from mixexp import HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsRegressor
from mixexp._numerics.densities import add_squares_interleaved, diag_squares
from mixexp._numerics.estep import gaussian_leaf_softmax, tree_posteriors_rows
from mixexp._parallel import Runner
from mixexp._tree import Tree
from mixexp.gates.gaussian import _BLOCK_ROWS, GaussianGate

from test_predict_chunks import _close, _whole_predict


def _random_gate(rng, d, covariance_type, depth=1, branching=4, log_eig=(-6, 2)):
    """A gate with random weights, means and covariances, their eigenvalues
    between ``10 ** log_eig[0]`` and ``10 ** log_eig[1]``."""
    tree = Tree(depth, branching)
    gate = GaussianGate(tree, covariance_type)
    K = tree.n_leaves
    if covariance_type == "diag":
        cov = 10.0 ** rng.uniform(*log_eig, (K, d))
    else:
        cov = np.empty((K, d, d))
        for leaf in range(K):
            V = np.linalg.qr(rng.standard_normal((d, d)))[0]
            cov[leaf] = (V * 10.0 ** rng.uniform(*log_eig, d)) @ V.T
    log_weights = np.log(rng.dirichlet(np.ones(branching), tree.n_inner))
    params = {"log_weights": log_weights, "means": rng.standard_normal((K, d)), "covariances": cov}
    return gate, gate._with_precisions(params)


def _design(rng, n, d, scale=1.0):
    X = scale * rng.standard_normal((n, d))
    return np.hstack([X, np.ones((n, 1))])


def _per_leaf(Xa, params, covariance_type):
    """log N(x; m_l, S_l) leaf by leaf through a Cholesky solve of S_l itself."""
    X = Xa[:, :-1]
    out = np.empty((X.shape[0], params["means"].shape[0]))
    for leaf, (m, S) in enumerate(zip(params["means"], params["covariances"])):
        L = np.diag(np.sqrt(S)) if covariance_type == "diag" else np.linalg.cholesky(S)
        z = solve_triangular(L, (X - m).T, lower=True)
        out[:, leaf] = -0.5 * (X.shape[1] * np.log(2 * np.pi) + np.sum(z * z, axis=0)) - np.sum(np.log(np.diag(L)))
    return out


# (eigenvalue range, tolerance): a factor of a covariance of condition number
# kappa gives the whitened norm to about kappa * eps relative, whatever the route
# (measured against long double: the per-leaf solve and the stacked products
# both err by 1e-10 to 1e-9 at kappa = 1e8, d = 20)
CONDITIONING = {"kappa_1e2": ((-1, 1), 1e-12), "kappa_1e8": ((-6, 2), 1e-8)}


@pytest.mark.parametrize("conditioning", sorted(CONDITIONING))
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("d", [1, 3, 7, 20])
def test_log_densities_match_per_leaf_and_scipy(covariance_type, d, conditioning):
    log_eig, tol = CONDITIONING[conditioning]
    rng = np.random.default_rng(d)
    gate, params = _random_gate(rng, d, covariance_type, log_eig=log_eig)
    # more rows than a block and a partial one; rows near the means and far away
    Xa = _design(rng, 2 * _BLOCK_ROWS + 37, d, scale=3.0)
    Xa[:5, :-1] = params["means"][0]
    got = gate.log_densities(Xa, params)
    ref = _per_leaf(Xa, params, covariance_type)
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
    for leaf in range(3):
        cov = params["covariances"][leaf]
        cov = np.diag(cov) if covariance_type == "diag" else cov
        scipy_ref = multivariate_normal(params["means"][leaf], cov).logpdf(Xa[:, :-1])
        np.testing.assert_allclose(got[:, leaf], np.atleast_1d(scipy_ref), rtol=max(tol, 1e-10), atol=max(tol, 1e-10))


def test_log_densities_take_non_contiguous_rows():
    rng = np.random.default_rng(1)
    gate, params = _random_gate(rng, 5, "full")
    Xa = _design(rng, 300, 5)
    np.testing.assert_array_equal(gate.log_densities(np.asfortranarray(Xa), params), gate.log_densities(Xa, params))
    np.testing.assert_array_equal(gate.log_densities(Xa[::2], params), gate.log_densities(Xa[::2].copy(), params))


def test_squares_kernels_check_shapes():
    Z = np.ones((4, 6))
    with pytest.raises(ValueError, match="shapes"):
        add_squares_interleaved(Z, 4, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="shapes"):
        add_squares_interleaved(Z, 3, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="shapes"):
        diag_squares(Z, np.ones((7, 2)), np.ones((7, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="shapes"):
        diag_squares(Z, np.ones((3, 2)), np.ones((3, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="shapes"):
        gaussian_leaf_softmax(np.ones((4, 3)), np.zeros(3), np.zeros(2), np.empty((4, 3)))
    out = np.zeros((4, 3))
    add_squares_interleaved(np.arange(24.0).reshape(4, 6), 3, out)
    np.testing.assert_array_equal(out[1], [6.0**2 + 9.0**2, 7.0**2 + 10.0**2, 8.0**2 + 11.0**2])


def _node_gate_product(gate, params, X):
    """Leaf probabilities as the product of the node gates a_jc p_c(x) / p_j(x), p_j the
    mixture of the Gaussians below node j (probability space: moderate rows only)."""
    t = gate.tree
    b = t.branching
    p = np.empty((X.shape[0], t.n_nodes))
    for leaf in range(t.n_leaves):
        cov = params["covariances"][leaf]
        cov = np.diag(cov) if gate.covariance_type == "diag" else cov
        p[:, t.n_inner + leaf] = multivariate_normal(params["means"][leaf], cov).pdf(X)
    a = np.exp(params["log_weights"])
    for j in range(t.n_inner - 1, -1, -1):
        p[:, j] = p[:, j * b + 1 : j * b + 1 + b] @ a[j]
    prob = np.ones((X.shape[0], t.n_nodes))
    for c in range(1, t.n_nodes):
        j = (c - 1) // b
        prob[:, c] = prob[:, j] * a[j, (c - 1) % b] * p[:, c] / p[:, j]
    return prob[:, t.n_inner :]


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("depth", [1, 2])
def test_leaf_probabilities_are_the_product_of_node_gates(covariance_type, depth):
    rng = np.random.default_rng(depth)
    d = 3
    gate, params = _random_gate(rng, d, covariance_type, depth=depth, branching=3, log_eig=(-1, 1))
    Xa = _design(rng, 400, d)
    got = gate.leaf_probabilities(Xa, params)
    np.testing.assert_allclose(got, _node_gate_product(gate, params, Xa[:, :-1]), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-13)


@pytest.mark.parametrize("depth", [1, 2])
def test_leaf_probabilities_of_overflowing_rows_are_the_e_step_s(depth):
    """Rows whose squared norms overflow (every density 0) take the E-step's own handling."""
    rng = np.random.default_rng(3)
    gate, params = _random_gate(rng, 3, "full", depth=depth, branching=2, log_eig=(-1, 1))
    Xa = _design(rng, 6, 3)
    Xa[0, 0], Xa[1, :3] = 1e200, 1e160
    got = gate.leaf_probabilities(Xa, params)
    t = gate.tree
    node_post = np.empty((6, t.n_nodes))
    tree_posteriors_rows(gate.scores(Xa, params), np.zeros((6, t.n_leaves)), 2, node_post, np.empty(6))
    assert np.all(np.isinf(gate.log_densities(Xa[:2], params)))
    np.testing.assert_allclose(got, node_post[:, t.n_inner :], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got[:2], 1.0 / t.n_leaves)


def _far_rows(model, X, rng, n=50):
    """Rows 1e3 standard deviations of the data away from its mean, in random directions."""
    u = rng.standard_normal((n, X.shape[1]))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return X.mean(axis=0) + 1e3 * X.std(axis=0) * u


MODELS = {
    "flat_full": lambda: MixtureOfExpertsRegressor(n_experts=4, gate="gaussian", max_iter=5, random_state=0),
    "flat_diag": lambda: MixtureOfExpertsRegressor(
        n_experts=4, gate="gaussian", covariance_type="diag", max_iter=5, random_state=0
    ),
    "tree_full": lambda: HierarchicalMixtureOfExpertsRegressor(
        depth=2, branching=2, gate="gaussian", max_iter=5, random_state=0
    ),
    "tree_diag": lambda: HierarchicalMixtureOfExpertsRegressor(
        depth=2, branching=3, gate="gaussian", covariance_type="diag", max_iter=5, random_state=0
    ),
}


def _fitted(name, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((600, 4)) * [1.0, 3.0, 0.1, 10.0] + [0.0, 5.0, -2.0, 1.0]
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1] + 0.1 * rng.standard_normal(600)
    return MODELS[name]().fit(X, y), X, rng


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_leaf_probabilities_equal_the_e_step(name):
    model, X, rng = _fitted(name)
    X_all = np.vstack([X, _far_rows(model, X, rng)])
    design, state = model._design(X_all)
    got = state.gate.leaf_probabilities(design.gate_X, state.params["gate"])
    ref = state.engine(Runner(1)).e_step(state.params, design, experts=False)[0]
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-13)
    # the far rows' log densities are about -1e7: both routes round them to ~1e-9
    np.testing.assert_allclose(got[: len(X)], ref[: len(X)], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(got[len(X) :], ref[len(X) :], atol=1e-8)
    assert np.array_equal(got[len(X) :].argmax(axis=1), ref[len(X) :].argmax(axis=1))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_predictions_equal_the_e_step_route(name):
    model, X, rng = _fitted(name)
    X_new = np.vstack([rng.standard_normal((300, 4)) * [1.0, 3.0, 0.1, 10.0], _far_rows(model, X, rng)])
    mean, std = model.predict(X_new, return_std=True)
    ref_mean, ref_std = _whole_predict(model, X_new)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    _close(mean, ref_mean, rtol=1e-9)
    _close(std, ref_std, rtol=1e-9)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_weight_of_zero_leaves_the_other_paths_finite():
    """A child with no mass (log weight -inf) gets probability 0; the others' path sums stay finite."""
    model, X, rng = _fitted("tree_full")
    params = model._fitted.params["gate"]
    params["log_weights"][1, 0] = -np.inf
    params["log_weights"][1, 1] = 0.0
    design, state = model._design(X)
    got = state.gate.leaf_probabilities(design.gate_X, params)
    ref = state.engine(Runner(1)).e_step(state.params, design, experts=False)[0]
    assert np.all(np.isfinite(got)) and np.all(got[:, 0] == 0.0)  # node 1's first child is leaf 0
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-13)
