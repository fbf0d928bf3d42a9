"""The vectorised companions of the numba kernels give the kernels' numbers.

The hot loop uses numpy's SIMD exp through ``*_rows`` functions; the scalar
kernels are the reference, including their handling of impossible rows
(every term ``-inf``), infinite logits, logits of 1e8 and log-densities far
from the data (-1e13).
"""

import numpy as np
import pytest

from mixexp._numerics.bound import gate_residual, gate_residual_rows, multinomial_residual
from mixexp._numerics.densities import multinomial_logdens, multinomial_proba_rows
from mixexp._numerics.estep import e_step, tree_posteriors, tree_posteriors_rows
from mixexp._numerics.linalg import gram_block, weighted_grams
from mixexp._numerics.softmax import log_softmax_groups, log_softmax_groups_rows


def _log_gates(rng, n, n_inner, b, scale=3.0):
    logits = scale * rng.standard_normal((n, n_inner * b))
    out = np.empty_like(logits)
    log_softmax_groups(logits, b, out)
    return out


def _with_edge_rows(a, rng):
    """Copies of ``a`` (log-densities or logits) whose first rows hold the edge cases."""
    a = a.copy()
    a[0] = -np.inf  # every term impossible
    a[1, 0] = -np.inf  # one impossible term
    a[2] = 1e8 * rng.standard_normal(a.shape[1])  # huge, nearby in relative terms
    a[3] = -1e13 + rng.standard_normal(a.shape[1])  # far from the data
    a[4, -1] = np.inf
    return a


def _with_edge_gates(log_gate, n_inner, b, rng):
    """Log gates whose first rows hold the edge cases a gate can produce: groups
    normalised as a softmax's (confident ones: log probabilities of -1e8), or a
    Gaussian gate's edges into leaves carrying log p(x) far from the data."""
    edge = np.empty((5, n_inner * b))
    log_softmax_groups(1e8 * rng.standard_normal((5, n_inner * b)), b, edge)
    log_gate = log_gate.copy()
    log_gate[:5] = edge
    leaf_edges = slice(n_inner - 1, None)
    log_gate[5, leaf_edges] = -np.inf  # no leaf can explain x
    log_gate[6, leaf_edges] += -1e13 + rng.standard_normal(log_gate.shape[1] - n_inner + 1)
    log_gate[7, n_inner - 1] = -np.inf  # one leaf's weight is 0
    return log_gate


@pytest.mark.parametrize("depth,b", [(1, 2), (1, 5), (2, 2), (3, 2), (2, 3)])
@pytest.mark.parametrize("edges", ["gates", "logdens", "both"])
def test_tree_posteriors_rows_match_the_kernel(depth, b, edges):
    rng = np.random.default_rng(depth * 10 + b)
    n_inner = (b**depth - 1) // (b - 1)
    n_leaves = b**depth
    n = 300
    log_gate = _log_gates(rng, n, n_inner, b)
    logdens = 5.0 * rng.standard_normal((n, n_leaves)) - 2.0
    if edges in ("gates", "both"):
        log_gate = _with_edge_gates(log_gate, n_inner, b, rng)
    if edges in ("logdens", "both"):
        logdens = _with_edge_rows(logdens, rng)
    expected_post = np.empty((n, n_inner + n_leaves))
    expected_ll = np.empty(n)
    with np.errstate(all="ignore"):
        tree_posteriors(log_gate, logdens, b, expected_post, expected_ll, False)
    post = np.full((n, n_inner + n_leaves), np.nan)
    ll = np.full(n, np.nan)
    with np.errstate(all="ignore"):
        tree_posteriors_rows(log_gate, logdens, b, post, ll)
    # Log terms near -1e13 are resolved to 2e-3 by a double, and the two orders
    # of summation round differently there: those rows are checked against the
    # posteriors computed in extended precision, to the resolution of a double.
    far = np.zeros(n, dtype=bool)
    if edges in ("logdens", "both"):
        far[3] = True
    if edges in ("gates", "both"):
        far[6] = True
    near = ~far
    np.testing.assert_allclose(post[near], expected_post[near], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(ll[near], expected_ll[near], rtol=1e-12, atol=1e-12)
    for row in np.flatnonzero(far):
        joint = _leaf_joint_longdouble(log_gate[row], logdens[row], n_inner, b)
        leaf_post = np.exp(joint - joint.max())
        leaf_post /= leaf_post.sum()
        np.testing.assert_allclose(post[row, n_inner:], leaf_post.astype(float), atol=5e-3)
        np.testing.assert_allclose(expected_post[row, n_inner:], leaf_post.astype(float), atol=5e-3)
    finite = np.isfinite(expected_ll)
    assert finite[8:].all()  # the edge rows are not all there is
    np.testing.assert_allclose(post[finite, 0], 1.0)


def _leaf_joint_longdouble(log_gate, logdens, n_inner, b):
    """Each leaf's sum of log gates on its path plus its log-density, in extended precision."""
    log_gate = log_gate.astype(np.longdouble)
    n_leaves = logdens.shape[0]
    path = np.zeros(n_inner + n_leaves, dtype=np.longdouble)
    for node in range(1, n_inner + n_leaves):
        path[node] = path[(node - 1) // b] + log_gate[node - 1]
    return path[n_inner:] + logdens.astype(np.longdouble)


def test_tree_posteriors_rows_rejects_shapes_that_do_not_match():
    log_gate = np.zeros((4, 6))  # three binary inner nodes
    with pytest.raises(ValueError, match="do not match"):
        tree_posteriors_rows(log_gate, np.zeros((4, 3)), 2, np.empty((4, 7)), np.empty(4))
    with pytest.raises(ValueError, match="do not match"):
        tree_posteriors_rows(log_gate, np.zeros((4, 4)), 2, np.empty((3, 7)), np.empty(4))


@pytest.mark.parametrize("group_size,n_groups", [(2, 7), (3, 16), (16, 1), (1, 4)])
@pytest.mark.parametrize("edge", [False, True])
@pytest.mark.parametrize("scale", [4.0, 400.0])  # within and beyond the unshifted route
@pytest.mark.parametrize("shift", [False, True])
def test_log_softmax_groups_rows_match_the_kernel(group_size, n_groups, edge, scale, shift):
    rng = np.random.default_rng(group_size)
    logits = scale * rng.standard_normal((200, group_size * n_groups))
    if edge:
        logits = _with_edge_rows(logits, rng)
    expected = np.empty_like(logits)
    out = np.full_like(logits, np.nan)
    with np.errstate(all="ignore"):
        log_softmax_groups(logits, group_size, expected)
        log_softmax_groups_rows(logits, group_size, out, shift=shift)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12 * scale)
    if not edge:  # normalised within every group
        np.testing.assert_allclose(np.exp(out).reshape(200, n_groups, group_size).sum(axis=2), 1.0)


@pytest.mark.parametrize("scale", [3.0, 300.0])  # within and beyond the unshifted route
def test_multinomial_proba_rows_match_the_kernel(scale):
    rng = np.random.default_rng(0)
    n, n_leaves, k = 500, 6, 4
    logits = _with_edge_rows(scale * rng.standard_normal((n, n_leaves * k)), rng)
    y = rng.integers(0, k, size=n)
    expected_lp, expected = np.empty_like(logits), np.empty((n, n_leaves))
    proba, out = np.empty_like(logits), np.empty((n, n_leaves))
    with np.errstate(all="ignore"):
        multinomial_logdens(logits, y, k, expected_lp, expected)
        multinomial_proba_rows(logits, y, k, proba, out)
        np.testing.assert_allclose(proba, np.exp(expected_lp), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    # the rows without edge cases take the fast route on their own
    proba, out = np.empty((n - 5, n_leaves * k)), np.empty((n - 5, n_leaves))
    multinomial_proba_rows(logits[5:], y[5:], k, proba, out)
    np.testing.assert_allclose(out, expected[5:], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(proba.reshape(n - 5, n_leaves, k).sum(axis=2), 1.0)
    with pytest.raises(ValueError, match="out of range"):
        multinomial_proba_rows(logits[5:], np.full(n - 5, k), k, proba, out)


def test_multinomial_residual_is_weighted_probability_minus_label():
    rng = np.random.default_rng(2)
    n, n_leaves, k = 50, 3, 4
    proba = rng.dirichlet(np.ones(k), size=(n, n_leaves)).reshape(n, -1)
    y = rng.integers(0, k, size=n)
    W = rng.uniform(size=(n, n_leaves))
    out = np.empty_like(proba)
    multinomial_residual(proba, y, W, out)
    onehot = np.eye(k)[y][:, None, :]
    expected = W[:, :, None] * (proba.reshape(n, n_leaves, k) - onehot)
    np.testing.assert_allclose(out, expected.reshape(n, -1), rtol=1e-14, atol=1e-16)


def test_gate_residual_rows_match_the_kernel():
    rng = np.random.default_rng(1)
    n, n_inner, b = 100, 3, 2
    log_gate = _log_gates(rng, n, n_inner, b)
    node_weight = rng.uniform(size=(n, n_inner * b + 1))
    expected, out = np.empty_like(log_gate), np.empty_like(log_gate)
    gate_residual(log_gate, node_weight, b, expected)
    gate_residual_rows(log_gate, node_weight, b, out)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("depth,b", [(1, 3), (1, 8), (2, 2)])
def test_attention_scores_are_the_group_max_shifted_log_softmax(depth, b):
    """The attention gate's scores: the group log-softmax shifted by each group's maximum
    (the formula it once wrote out with numpy), through the one kernel's fast variant."""
    from mixexp._tree import Tree
    from mixexp.gates.attention import AttentionGate

    rng = np.random.default_rng(b)
    tree = Tree(depth, b)
    gate = AttentionGate(tree, 1e-3)
    Xa = np.hstack([rng.standard_normal((300, 4)), np.ones((300, 1))])
    rep = rng.standard_normal((300, tree.n_leaves, 3))
    params = {"coef": 30.0 * rng.standard_normal((tree.n_inner, 3, 5))}
    logits = gate._logits(Xa, params["coef"], gate._child_repr(rep)).reshape(300, -1, b)
    shifted = logits - logits.max(axis=2, keepdims=True)
    expected = (shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))).reshape(300, -1)
    np.testing.assert_allclose(gate.scores(Xa, params, rep), expected, rtol=1e-14, atol=1e-13)


def test_e_step_is_the_rows_e_step_and_none_means_densities_of_one():
    rng = np.random.default_rng(3)
    log_gate = _log_gates(rng, 100, 4, 3)  # depth 2, branching 3: 9 leaves
    logdens = rng.standard_normal((100, 9))
    node_post, loglik = np.empty((100, 13)), np.empty(100)
    tree_posteriors_rows(log_gate, logdens, 3, node_post, loglik)
    out = np.empty(100)
    post, ll = e_step(log_gate, logdens, 3, out)
    assert ll is out
    np.testing.assert_array_equal(post, node_post)
    np.testing.assert_array_equal(ll, loglik)
    tree_posteriors_rows(log_gate, np.zeros((100, 9)), 3, node_post, loglik)
    post, ll = e_step(log_gate, None, 3)
    np.testing.assert_array_equal(post, node_post)
    np.testing.assert_array_equal(ll, loglik)


@pytest.mark.parametrize("n", [0, 5, 128, 300])
def test_weighted_grams_are_the_plain_products(n):
    """gram_block's chunks of 128 rows, whole or a tail, add up to ``Z.T @ diag(w_k) @ Z``."""
    rng = np.random.default_rng(n)
    Z, W = rng.standard_normal((n, 4)), rng.random((n, 3))
    G = weighted_grams(Z, W)
    for k in range(3):
        np.testing.assert_allclose(G[k], (Z * W[:, k : k + 1]).T @ Z, rtol=1e-12, atol=1e-12)
    upper = np.ones((3, 10))
    gram_block(Z, W, upper)  # adds to what out holds
    rows, cols = np.triu_indices(4)
    np.testing.assert_allclose(upper, 1.0 + G[:, rows, cols], rtol=1e-12, atol=1e-12)
