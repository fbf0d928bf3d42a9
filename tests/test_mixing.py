"""A prediction's softmaxes and mixtures (mixexp._numerics.softmax, .mixing) give the
scalar kernel's numbers.

They take logits relative to each group's member 0, exponentiate them unshifted
and check each group's sum afterwards; rows whose sums are out of range
(overflow, infinities, NaN) go the shifted route.  The reference is
:func:`mixexp._numerics.softmax.log_softmax_groups` on the full logits ``[0, relative]``
in group-major columns, with the edge rows of tests/test_kernels.py.
"""

import numpy as np
import pytest

from mixexp._numerics.mixing import mix, mix_clipped, mix_group_softmax
from mixexp._numerics.softmax import (
    group_softmax,
    leaf_path_columns,
    log_softmax_groups,
    path_softmax_rows,
    relative_rows,
)
from mixexp._tree import Tree


def _edge_rows(a, rng):
    """Copies of ``a`` whose first rows hold the edge cases of the logits."""
    a = a.copy()
    if a.shape[1] == 0:
        return a
    a[0] = -np.inf  # every member but the first impossible
    a[1, 0] = -np.inf  # one impossible member
    a[2] = 1e8 * rng.standard_normal(a.shape[1])  # overflows unshifted
    a[3] = -1e13 + rng.standard_normal(a.shape[1])  # every exponential underflows
    a[4, -1] = np.inf
    a[5] = 700.0 + rng.standard_normal(a.shape[1])  # a sum beyond SUM_MAX
    a[6] = -650.0 + rng.standard_normal(a.shape[1])  # terms below the normal range
    return a


def _full(relative, n_groups):
    """The member-major logits ``[0, relative]``: member 0 of every group first."""
    return np.hstack([np.zeros((relative.shape[0], n_groups)), relative])


def _reference_softmax(logits, n_groups):
    """Member-major group softmax of full logits by the scalar kernel (group-major columns)."""
    n, m = logits.shape
    size = m // n_groups
    grouped = np.ascontiguousarray(logits.reshape(n, size, n_groups).transpose(0, 2, 1)).reshape(n, m)
    log_p = np.empty_like(grouped)
    with np.errstate(all="ignore"):
        log_softmax_groups(grouped, size, log_p)
        p = np.exp(log_p)
    return p.reshape(n, n_groups, size).transpose(0, 2, 1).reshape(n, m)


@pytest.mark.parametrize("size,n_groups", [(2, 7), (3, 16), (16, 1), (1, 4)])
@pytest.mark.parametrize("edge", [False, True])
@pytest.mark.parametrize("scale", [4.0, 400.0])
def test_group_softmax_matches_the_kernel(size, n_groups, edge, scale):
    rng = np.random.default_rng(size * 100 + n_groups)
    logits = scale * rng.standard_normal((200, (size - 1) * n_groups))
    if edge:
        logits = _edge_rows(logits, rng)
    before = logits.copy()
    with np.errstate(all="ignore"):
        out = group_softmax(logits, n_groups)
    np.testing.assert_array_equal(logits, before)  # the logits are not overwritten
    assert out.shape == (200, size * n_groups)
    np.testing.assert_allclose(out, _reference_softmax(_full(logits, n_groups), n_groups), rtol=1e-12, atol=1e-300)
    finite = np.ones(200, dtype=bool)
    if edge and size > 1:
        finite[4] = False  # an infinite logit
    sums = out[finite].reshape(-1, size, n_groups).sum(axis=1)
    np.testing.assert_allclose(sums, 1.0)
    if edge and size > 1:
        first = out[:, :n_groups]
        np.testing.assert_array_equal(first[0], 1.0)  # the others impossible
        assert (out[1, n_groups] == 0.0) and np.isfinite(out[1]).all()
        np.testing.assert_array_equal(first[3], 1.0)  # the others underflow
        assert np.isfinite(out[2:4]).all() and np.isfinite(out[5:7]).all()
        assert (out[5, n_groups:] > 0).any()  # the overflowing row went the shifted route


def _reference_leaf_probabilities(logits, tree):
    """Walk up from every leaf, multiplying the softmaxes of the full group-major logits
    (child ``c`` of inner node ``j`` in column ``j * b + c``) along its edges."""
    b = tree.branching
    cond = np.empty_like(logits)
    with np.errstate(all="ignore"):
        log_softmax_groups(logits, b, cond)
        cond = np.exp(cond)
    expected = np.ones((logits.shape[0], tree.n_leaves))
    for leaf in range(tree.n_leaves):
        node = tree.n_inner + leaf
        while node > 0:
            expected[:, leaf] *= cond[:, node - 1]
            node = (node - 1) // b
    return expected


@pytest.mark.parametrize("depth,b", [(1, 5), (2, 2), (3, 2), (2, 3), (2, 1)])
@pytest.mark.parametrize("scale", [3.0, 300.0])
def test_path_softmax_rows_is_the_product_of_the_gates_on_each_path(depth, b, scale):
    tree = Tree(depth, b)
    G = tree.n_inner
    rng = np.random.default_rng(depth * 10 + b)
    relative = _edge_rows(scale * rng.standard_normal((300, G * (b - 1))), rng)
    with np.errstate(all="ignore"):
        out = path_softmax_rows(relative, G, leaf_path_columns(tree))
    # the same logits group-major and in full, child 0's logit 0
    grouped = _full(relative, G).reshape(300, b, G).transpose(0, 2, 1).reshape(300, -1)
    expected = _reference_leaf_probabilities(np.ascontiguousarray(grouped), tree)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-300)
    finite = np.ones(300, dtype=bool)
    finite[4] = b == 1  # an infinite logit
    np.testing.assert_allclose(out[finite].sum(axis=1), 1.0)


def test_relative_rows_give_the_softmax_of_the_full_coefficients():
    rng = np.random.default_rng(3)
    n_groups, size, p = 4, 3, 5
    coef = rng.standard_normal((n_groups, size, p))
    X = rng.standard_normal((50, p))
    rows = relative_rows(coef)
    assert rows.shape == (n_groups * (size - 1), p)
    full = np.einsum("np,gcp->ngc", X, coef)  # every member's logit
    expected = np.exp(full - full.max(axis=2, keepdims=True))
    expected /= expected.sum(axis=2, keepdims=True)
    out = group_softmax(X @ rows.T, n_groups)  # member c of group g in column c * n_groups + g
    np.testing.assert_allclose(out.reshape(50, size, n_groups).transpose(0, 2, 1), expected, rtol=1e-12)


def test_leaf_path_columns_are_cached_and_read_only():
    tree = Tree(3, 2)
    cols = leaf_path_columns(tree)
    assert cols is leaf_path_columns(Tree(3, 2))
    assert not cols.flags.writeable
    # leaf 0 (node 7) lies below inner nodes 0, 1, 3, always as the first child
    np.testing.assert_array_equal(cols[0], [0, 1, 3])
    # the last leaf: second child of nodes 0, 2, 6 (column 1 * n_inner + j)
    np.testing.assert_array_equal(cols[-1], [7 + 0, 7 + 2, 7 + 6])


def test_mix_is_the_gates_weighted_sum():
    rng = np.random.default_rng(0)
    gates = rng.dirichlet(np.ones(5), size=100)
    values = rng.standard_normal((100, 5, 3))
    np.testing.assert_allclose(mix(gates, values), np.einsum("nk,nkt->nt", gates, values), rtol=1e-13)
    # any memory order
    np.testing.assert_allclose(
        mix(np.asfortranarray(gates), values.transpose(0, 2, 1).copy().transpose(0, 2, 1)),
        np.einsum("nk,nkt->nt", gates, values),
        rtol=1e-13,
    )


def test_mix_clipped_is_the_mixture_of_the_clipped_values():
    """One pass gives mix(gates, np.clip(values, low, high)) to the last bit; infinite values
    are clipped to finite bounds, and a NaN (or an infinite bound reached) is reported."""
    rng = np.random.default_rng(1)
    gates = rng.dirichlet(np.ones(4), size=200)
    values = 3 * rng.standard_normal((200, 4, 2))
    low = rng.uniform(-2, 0, size=(4, 2))
    high = low + rng.uniform(0.5, 3, size=(4, 2))
    values[0, 1, 0], values[1, 2, 1] = np.inf, -np.inf
    original = values.copy()
    mean, finite = mix_clipped(gates, values, low, high)
    assert finite
    np.testing.assert_array_equal(mean, mix(gates, np.clip(values, low, high)))
    np.testing.assert_array_equal(values, original)  # the values are not clipped in place
    assert np.all(np.abs(mean) <= np.abs(np.concatenate([low, high])).max())
    values[5, 0, 0] = np.nan
    assert not mix_clipped(gates, values, low, high)[1]
    unbounded = np.full_like(high, np.inf)
    values[5, 0, 0] = np.inf
    assert not mix_clipped(gates, values, low, unbounded)[1]


@pytest.mark.parametrize("edge", [False, True])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_mix_group_softmax_is_the_mixture_of_the_softmaxes(edge, n_classes):
    rng = np.random.default_rng(1)
    K = 6
    gates = rng.dirichlet(np.ones(K), size=200)
    # class-major, relative to class 0: class c + 1 of leaf k at c * K + k
    logits = 5.0 * rng.standard_normal((200, (n_classes - 1) * K))
    if edge:
        logits = _edge_rows(logits, rng)
    with np.errstate(all="ignore"):
        out = mix_group_softmax(gates, logits)
    proba = _reference_softmax(_full(logits, K), K).reshape(200, n_classes, K)
    expected = np.einsum("nk,nck->nc", gates, proba)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-300)
    finite = np.ones(200, dtype=bool)
    finite[4] = not edge  # an infinite logit
    np.testing.assert_allclose(out[finite].sum(axis=1), 1.0)


def test_shapes_that_do_not_match_raise():
    with pytest.raises(ValueError, match="do not match"):
        group_softmax(np.zeros((4, 7)), 2)
    with pytest.raises(ValueError, match="do not match"):
        mix_group_softmax(np.full((4, 3), 1 / 3), np.zeros((4, 7)))
