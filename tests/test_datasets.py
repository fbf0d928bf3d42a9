"""Tests of mixexp.datasets: synthetic generators and bundled loaders."""

import csv
import hashlib
import io
import sys
from importlib import resources

import numpy as np
import pytest

import mixexp.datasets as ds
from mixexp.datasets import (
    list_datasets,
    load_dataset,
    make_gaussian_gated_regression,
    make_hme_regression,
    make_moe_classification,
    make_moe_regression,
)


# --------------------------------------------------------------------------- #
# helpers: true probabilities from the returned parameters
# --------------------------------------------------------------------------- #
def _softmax(a):
    a = a - a.max(axis=-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


def _moe_gate_probs(X, params):
    return _softmax(X @ params["gate_coef"].T + params["gate_intercept"])


def _hme_leaf_probs(X, params, depth, branching):
    """(n, n_leaves): product of the gate probabilities along each leaf's path."""
    gc, gi = params["gate_coef"], params["gate_intercept"]
    node_probs = _softmax(np.einsum("nd,jbd->njb", X, gc) + gi)  # (n, n_inner, b)
    n_inner = gc.shape[0]
    probs = np.ones((X.shape[0], 1))
    nodes = np.array([0])
    for _ in range(depth):
        # children of every node of this level, in breadth-first order
        probs = (probs[:, :, None] * node_probs[:, nodes, :]).reshape(X.shape[0], -1)
        nodes = (nodes[:, None] * branching + 1 + np.arange(branching)).ravel()
    assert np.array_equal(nodes - n_inner, np.arange(branching**depth))
    return probs


def _expert_mean(X, params):
    labels = params["labels"]
    return (
        np.einsum("nd,ntd->nt", X, params["expert_coef"][labels])
        + params["expert_intercept"][labels]
    )


# --------------------------------------------------------------------------- #
# exports
# --------------------------------------------------------------------------- #
def test_exports():
    assert sorted(ds.__all__) == sorted(
        [
            "make_moe_regression",
            "make_moe_classification",
            "make_hme_regression",
            "make_gaussian_gated_regression",
            "make_moe_family",
            "make_npreg",
            "make_cluster_patches",
            "list_datasets",
            "load_dataset",
            "load_mcycle",
            "load_concrete",
            "load_kin8nm",
            "load_peterson_barney",
            "load_vowel",
        ]
    )
    for name in ds.__all__:
        assert callable(getattr(ds, name))


# --------------------------------------------------------------------------- #
# make_moe_regression
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("n_targets", [1, 3])
def test_moe_regression_shapes(n_targets):
    n, d, k = 50, 4, 3
    X, y, p = make_moe_regression(
        n, d, k, random_state=0, return_params=True, n_targets=n_targets
    )
    assert X.shape == (n, d) and X.dtype == np.float64
    assert y.shape == ((n,) if n_targets == 1 else (n, n_targets))
    assert y.dtype == np.float64
    assert set(p) == {
        "gate_coef",
        "gate_intercept",
        "expert_coef",
        "expert_intercept",
        "noise_variance",
        "labels",
    }
    assert p["gate_coef"].shape == (k, d)
    assert p["gate_intercept"].shape == (k,)
    assert p["expert_coef"].shape == (k, n_targets, d)
    assert p["expert_intercept"].shape == (k, n_targets)
    assert p["noise_variance"].shape == (k, n_targets)
    np.testing.assert_allclose(p["noise_variance"], 0.1**2)
    assert p["labels"].shape == (n,) and p["labels"].dtype == np.int64
    assert p["labels"].min() >= 0 and p["labels"].max() < k
    np.testing.assert_allclose(np.linalg.norm(p["gate_coef"], axis=1), 3.0)
    # without return_params: same data, two outputs
    X2, y2 = make_moe_regression(n, d, k, random_state=0, n_targets=n_targets)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_moe_regression_reproducible():
    a = make_moe_regression(100, random_state=3, return_params=True)
    b = make_moe_regression(100, random_state=3, return_params=True)
    c = make_moe_regression(100, random_state=4, return_params=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for key in a[2]:
        np.testing.assert_array_equal(a[2][key], b[2][key])
    assert not np.allclose(a[1], c[1])
    d = make_moe_regression(100, random_state=np.random.RandomState(3))
    np.testing.assert_array_equal(a[1], d[1])


def test_moe_regression_labels_follow_gate():
    X, _, p = make_moe_regression(
        20000, n_experts=4, gate_scale=10.0, random_state=0, return_params=True
    )
    probs = _moe_gate_probs(X, p)
    assert np.mean(probs.argmax(axis=1) == p["labels"]) > 0.8
    # labels are drawn from the gate: frequencies match the mean gate probability
    freq = np.bincount(p["labels"], minlength=4) / len(X)
    np.testing.assert_allclose(freq, probs.mean(axis=0), atol=0.015)


def test_moe_regression_labels_are_drawn_not_argmax():
    X, _, p = make_moe_regression(
        5000, n_experts=3, gate_scale=1.0, random_state=0, return_params=True
    )
    agreement = np.mean(_moe_gate_probs(X, p).argmax(axis=1) == p["labels"])
    assert 0.34 < agreement < 0.95


@pytest.mark.parametrize("n_targets", [1, 2])
def test_moe_regression_noise_level(n_targets):
    noise = 0.5
    X, y, p = make_moe_regression(
        20000, noise=noise, random_state=1, return_params=True, n_targets=n_targets
    )
    resid = y.reshape(len(X), n_targets) - _expert_mean(X, p)
    assert np.all(np.abs(resid.mean(axis=0)) < 0.05)
    np.testing.assert_allclose(resid.std(axis=0), noise, rtol=0.1)


def test_moe_regression_zero_noise_is_exact():
    X, y, p = make_moe_regression(200, noise=0.0, random_state=2, return_params=True)
    np.testing.assert_allclose(y, _expert_mean(X, p)[:, 0], atol=1e-12)


def test_moe_regression_single_expert():
    X, y, p = make_moe_regression(30, n_experts=1, random_state=0, return_params=True)
    assert np.all(p["labels"] == 0)


# --------------------------------------------------------------------------- #
# make_moe_classification
# --------------------------------------------------------------------------- #
def test_moe_classification_shapes():
    n, d, k, c = 200, 3, 2, 4
    X, y, p = make_moe_classification(
        n, d, k, c, random_state=0, return_params=True
    )
    assert X.shape == (n, d) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(p) == {
        "gate_coef",
        "gate_intercept",
        "expert_coef",
        "expert_intercept",
        "labels",
    }
    assert p["gate_coef"].shape == (k, d)
    assert p["gate_intercept"].shape == (k,)
    assert p["expert_coef"].shape == (k, c, d)
    assert p["expert_intercept"].shape == (k, c)
    assert p["labels"].shape == (n,) and p["labels"].dtype == np.int64
    assert p["labels"].min() >= 0 and p["labels"].max() < k
    np.testing.assert_array_equal(np.unique(y), np.arange(c))


def test_moe_classification_reproducible():
    a = make_moe_classification(100, random_state=5)
    b = make_moe_classification(100, random_state=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("seed", range(5))
def test_moe_classification_every_class_present_small_n(n_classes, seed):
    _, y = make_moe_classification(n_classes, n_classes=n_classes, random_state=seed)
    np.testing.assert_array_equal(np.sort(y), np.arange(n_classes))


def test_moe_classification_y_follows_expert():
    X, y, p = make_moe_classification(
        5000, n_classes=3, expert_scale=10.0, random_state=0, return_params=True
    )
    lab = p["labels"]
    logits = np.einsum("nd,ncd->nc", X, p["expert_coef"][lab]) + p["expert_intercept"][lab]
    probs = _softmax(logits)
    assert np.mean(probs.argmax(axis=1) == y) > 0.8
    freq = np.bincount(y, minlength=3) / len(y)
    np.testing.assert_allclose(freq, probs.mean(axis=0), atol=0.03)


def test_moe_classification_labels_follow_gate():
    X, _, p = make_moe_classification(
        5000, gate_scale=10.0, random_state=1, return_params=True
    )
    assert np.mean(_moe_gate_probs(X, p).argmax(axis=1) == p["labels"]) > 0.8


def test_moe_classification_impossible_raises():
    with pytest.raises(ValueError, match="n_samples must be >= n_classes"):
        make_moe_classification(2, n_classes=3)


# --------------------------------------------------------------------------- #
# make_hme_regression
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("depth,branching", [(1, 2), (2, 2), (2, 3), (3, 2)])
@pytest.mark.parametrize("n_targets", [1, 2])
def test_hme_regression_shapes(depth, branching, n_targets):
    n, d = 40, 3
    n_leaves = branching**depth
    n_inner = (n_leaves - 1) // (branching - 1)
    X, y, p = make_hme_regression(
        n, d, depth, branching, random_state=0, return_params=True, n_targets=n_targets
    )
    assert X.shape == (n, d) and X.dtype == np.float64
    assert y.shape == ((n,) if n_targets == 1 else (n, n_targets))
    assert set(p) == {
        "gate_coef",
        "gate_intercept",
        "expert_coef",
        "expert_intercept",
        "noise_variance",
        "labels",
    }
    assert p["gate_coef"].shape == (n_inner, branching, d)
    assert p["gate_intercept"].shape == (n_inner, branching)
    assert p["expert_coef"].shape == (n_leaves, n_targets, d)
    assert p["expert_intercept"].shape == (n_leaves, n_targets)
    assert p["noise_variance"].shape == (n_leaves, n_targets)
    assert p["labels"].dtype == np.int64
    assert p["labels"].min() >= 0 and p["labels"].max() < n_leaves
    np.testing.assert_allclose(np.linalg.norm(p["gate_coef"], axis=-1), 3.0)


def test_hme_regression_reproducible():
    a = make_hme_regression(100, depth=3, random_state=7, return_params=True)
    b = make_hme_regression(100, depth=3, random_state=7, return_params=True)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2]["labels"], b[2]["labels"])


@pytest.mark.parametrize("depth,branching", [(2, 2), (2, 3), (3, 2)])
def test_hme_regression_labels_follow_gate_path(depth, branching):
    n = 20000
    X, _, p = make_hme_regression(
        n, depth=depth, branching=branching, random_state=0, return_params=True
    )
    leaf_probs = _hme_leaf_probs(X, p, depth, branching)
    np.testing.assert_allclose(leaf_probs.sum(axis=1), 1.0)
    freq = np.bincount(p["labels"], minlength=branching**depth) / n
    np.testing.assert_allclose(freq, leaf_probs.mean(axis=0), atol=0.015)


def test_hme_regression_sharp_gates_argmax():
    X, _, p = make_hme_regression(
        5000, depth=2, branching=2, gate_scale=15.0, random_state=0, return_params=True
    )
    leaf_probs = _hme_leaf_probs(X, p, 2, 2)
    assert np.mean(leaf_probs.argmax(axis=1) == p["labels"]) > 0.8


def test_hme_depth1_is_flat_mixture():
    X, _, p = make_hme_regression(
        20000, depth=1, branching=4, random_state=0, return_params=True
    )
    probs = _softmax(X @ p["gate_coef"][0].T + p["gate_intercept"][0])
    np.testing.assert_allclose(_hme_leaf_probs(X, p, 1, 4), probs)
    freq = np.bincount(p["labels"], minlength=4) / len(X)
    np.testing.assert_allclose(freq, probs.mean(axis=0), atol=0.015)


def test_hme_regression_noise_level():
    noise = 0.3
    X, y, p = make_hme_regression(
        20000, depth=2, branching=3, noise=noise, random_state=2, return_params=True
    )
    resid = y - _expert_mean(X, p)[:, 0]
    np.testing.assert_allclose(resid.std(), noise, rtol=0.1)


# --------------------------------------------------------------------------- #
# make_gaussian_gated_regression
# --------------------------------------------------------------------------- #
def _gaussian_log_densities(X, params):
    """(n, k) log N(x_i; m_k, S_k) in plain numpy."""
    out = []
    for m, S in zip(params["gate_means"], params["gate_covariances"]):
        z = np.linalg.solve(np.linalg.cholesky(S), (X - m).T)
        logdet = np.linalg.slogdet(S)[1]
        out.append(-0.5 * (X.shape[1] * np.log(2 * np.pi) + logdet + np.sum(z * z, axis=0)))
    return np.column_stack(out)


@pytest.mark.parametrize("n_targets", [1, 2])
@pytest.mark.parametrize("d, k", [(1, 1), (2, 3), (4, 2)])
def test_gaussian_gated_regression_shapes(d, k, n_targets):
    n = 60
    X, y, p = make_gaussian_gated_regression(
        n, d, k, random_state=0, return_params=True, n_targets=n_targets
    )
    assert X.shape == (n, d) and X.dtype == np.float64
    assert y.shape == ((n,) if n_targets == 1 else (n, n_targets)) and y.dtype == np.float64
    assert set(p) == {
        "gate_weights",
        "gate_means",
        "gate_covariances",
        "expert_coef",
        "expert_intercept",
        "noise_variance",
        "labels",
    }
    assert p["gate_weights"].shape == (k,)
    np.testing.assert_allclose(p["gate_weights"].sum(), 1.0)
    assert np.all(p["gate_weights"] > 0)
    assert p["gate_means"].shape == (k, d)
    assert p["gate_covariances"].shape == (k, d, d)
    for S in p["gate_covariances"]:
        np.testing.assert_array_equal(S, S.T)
        lam = np.linalg.eigvalsh(S)
        assert lam.min() >= 0.25 - 1e-12 and lam.max() <= 1.0 + 1e-12
    assert p["expert_coef"].shape == (k, n_targets, d)
    assert p["expert_intercept"].shape == (k, n_targets)
    np.testing.assert_allclose(p["noise_variance"], np.full((k, n_targets), 0.01))
    assert p["labels"].shape == (n,) and p["labels"].dtype == np.int64
    assert p["labels"].min() >= 0 and p["labels"].max() < k
    X2, y2 = make_gaussian_gated_regression(n, d, k, random_state=0, n_targets=n_targets)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_gaussian_gated_regression_defaults():
    X, y = make_gaussian_gated_regression(random_state=0)
    assert X.shape == (1000, 2) and y.shape == (1000,)
    p = make_gaussian_gated_regression(random_state=0, return_params=True)[2]
    assert p["gate_weights"].shape == (3,)


def test_gaussian_gated_regression_reproducible():
    a = make_gaussian_gated_regression(100, random_state=3, return_params=True)
    b = make_gaussian_gated_regression(100, random_state=np.random.RandomState(3), return_params=True)
    c = make_gaussian_gated_regression(100, random_state=4, return_params=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for key in a[2]:
        np.testing.assert_array_equal(a[2][key], b[2][key])
    assert not np.allclose(a[0], c[0])
    # one generator shared by two calls gives two different draws
    rng = np.random.RandomState(3)
    first = make_gaussian_gated_regression(100, random_state=rng)
    second = make_gaussian_gated_regression(100, random_state=rng)
    np.testing.assert_array_equal(first[0], a[0])
    assert not np.allclose(first[0], second[0])


def test_gaussian_gated_regression_labels_follow_components():
    n, k = 40000, 3
    X, y, p = make_gaussian_gated_regression(
        n, n_features=2, n_experts=k, noise=0.2, random_state=0, return_params=True
    )
    labels = p["labels"]
    # labels are drawn with the mixing weights, independently of anything else
    np.testing.assert_allclose(np.bincount(labels, minlength=k) / n, p["gate_weights"], atol=0.01)
    # the rows of each label are that component's Gaussian
    for c in range(k):
        Xc = X[labels == c]
        np.testing.assert_allclose(Xc.mean(axis=0), p["gate_means"][c], atol=0.03)
        np.testing.assert_allclose(np.cov(Xc.T), p["gate_covariances"][c], atol=0.03)
    # the label is the component the row was drawn from: the true posterior
    # a_k N(x; m_k, S_k) / sum_j ... gives it a high probability on average
    log_joint = np.log(p["gate_weights"]) + _gaussian_log_densities(X, p)
    post = np.exp(log_joint - log_joint.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    assert np.mean(post[np.arange(n), labels]) > 0.9
    np.testing.assert_allclose(post.mean(axis=0), p["gate_weights"], atol=0.01)
    # y comes from the expert of the label, with the stated noise
    resid = y - _expert_mean(X, p)[:, 0]
    assert abs(resid.mean()) < 0.01
    np.testing.assert_allclose(resid.std(), 0.2, rtol=0.03)
    # and not from another expert
    other = (labels + 1) % k
    wrong = np.einsum("nd,nd->n", X, p["expert_coef"][other, 0]) + p["expert_intercept"][other, 0]
    assert np.std(y - wrong) > 5 * 0.2


def test_gaussian_gated_regression_zero_noise_and_mean_scale():
    X, y, p = make_gaussian_gated_regression(
        300, noise=0.0, mean_scale=0.0, random_state=2, return_params=True
    )
    np.testing.assert_allclose(y, _expert_mean(X, p)[:, 0], atol=1e-12)
    np.testing.assert_array_equal(p["gate_means"], 0.0)
    _, _, p10 = make_gaussian_gated_regression(300, mean_scale=10.0, random_state=2, return_params=True)
    _, _, p1 = make_gaussian_gated_regression(300, mean_scale=1.0, random_state=2, return_params=True)
    np.testing.assert_allclose(p10["gate_means"], 10 * p1["gate_means"])


def test_gaussian_gated_regression_single_expert_one_feature():
    X, y, p = make_gaussian_gated_regression(
        2000, n_features=1, n_experts=1, random_state=5, return_params=True
    )
    assert np.all(p["labels"] == 0)
    np.testing.assert_allclose(p["gate_weights"], [1.0])
    np.testing.assert_allclose(X.var(), p["gate_covariances"][0, 0, 0], rtol=0.1)


# --------------------------------------------------------------------------- #
# argument validation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "func,kwargs,match",
    [
        (make_moe_regression, {"n_samples": 0}, "n_samples must be >= 1, got 0"),
        (make_moe_regression, {"n_samples": 2.5}, "n_samples must be an integer"),
        (make_moe_regression, {"n_samples": True}, "n_samples must be an integer"),
        (make_moe_regression, {"n_features": 0}, "n_features must be >= 1"),
        (make_moe_regression, {"n_experts": 0}, "n_experts must be >= 1"),
        (make_moe_regression, {"n_targets": 0}, "n_targets must be >= 1"),
        (make_moe_regression, {"noise": -0.1}, "noise must be a finite number >= 0"),
        (make_moe_regression, {"noise": np.inf}, "noise must be a finite number >= 0"),
        (make_moe_regression, {"noise": "big"}, "noise must be a real number"),
        (make_moe_regression, {"gate_scale": -1.0}, "gate_scale must be"),
        (make_moe_classification, {"n_samples": 0}, "n_samples must be >= 1"),
        (make_moe_classification, {"n_features": 0}, "n_features must be >= 1"),
        (make_moe_classification, {"n_experts": 0}, "n_experts must be >= 1"),
        (make_moe_classification, {"n_classes": 1}, "n_classes must be >= 2, got 1"),
        (make_moe_classification, {"gate_scale": -1.0}, "gate_scale must be"),
        (make_moe_classification, {"expert_scale": -1.0}, "expert_scale must be"),
        (make_hme_regression, {"n_samples": 0}, "n_samples must be >= 1"),
        (make_hme_regression, {"n_features": 0}, "n_features must be >= 1"),
        (make_hme_regression, {"depth": 0}, "depth must be >= 1, got 0"),
        (make_hme_regression, {"branching": 1}, "branching must be >= 2, got 1"),
        (make_hme_regression, {"noise": -1}, "noise must be a finite number >= 0"),
        (make_hme_regression, {"n_targets": 0}, "n_targets must be >= 1"),
        (make_hme_regression, {"gate_scale": np.nan}, "gate_scale must be"),
        (make_gaussian_gated_regression, {"n_samples": 0}, "n_samples must be >= 1, got 0"),
        (make_gaussian_gated_regression, {"n_samples": 10.0}, "n_samples must be an integer"),
        (make_gaussian_gated_regression, {"n_features": 0}, "n_features must be >= 1"),
        (make_gaussian_gated_regression, {"n_features": False}, "n_features must be an integer"),
        (make_gaussian_gated_regression, {"n_experts": 0}, "n_experts must be >= 1"),
        (make_gaussian_gated_regression, {"n_experts": "3"}, "n_experts must be an integer"),
        (make_gaussian_gated_regression, {"n_targets": 0}, "n_targets must be >= 1"),
        (make_gaussian_gated_regression, {"noise": -0.1}, "noise must be a finite number >= 0"),
        (make_gaussian_gated_regression, {"noise": np.nan}, "noise must be a finite number >= 0"),
        (make_gaussian_gated_regression, {"noise": None}, "noise must be a real number"),
        (make_gaussian_gated_regression, {"mean_scale": -1.0}, "mean_scale must be a finite"),
        (make_gaussian_gated_regression, {"mean_scale": np.inf}, "mean_scale must be a finite"),
    ],
)
def test_generator_argument_validation(func, kwargs, match):
    with pytest.raises(ValueError, match=match):
        func(**kwargs)


def test_generators_accept_numpy_integers():
    X, y = make_moe_regression(np.int64(10), np.int32(2), np.int64(2), random_state=0)
    assert X.shape == (10, 2)
    X, y = make_gaussian_gated_regression(np.int64(10), np.int32(3), np.int64(2), np.float32(0.5), 0)
    assert X.shape == (10, 3)


# --------------------------------------------------------------------------- #
# bundled datasets
# --------------------------------------------------------------------------- #
def _packaged_manifest():
    text = resources.files("mixexp.datasets").joinpath("data", "MANIFEST.csv").read_text()
    return {row["name"]: row for row in csv.DictReader(io.StringIO(text))}


MANIFEST = _packaged_manifest()
LOADERS = {
    "mcycle": ds.load_mcycle,
    "concrete": ds.load_concrete,
    "kin8nm": ds.load_kin8nm,
    "peterson_barney": ds.load_peterson_barney,
    "vowel": ds.load_vowel,
}


def test_manifest_lists_the_bundled_files():
    assert set(MANIFEST) == set(LOADERS)
    row = next(iter(MANIFEST.values()))
    assert list(row) == [
        "name",
        "task",
        "n_samples",
        "n_features",
        "n_classes",
        "file",
        "source",
        "provenance",
        "sha256",
    ]
    data = resources.files("mixexp.datasets").joinpath("data")
    for info in MANIFEST.values():
        digest = hashlib.sha256(data.joinpath(info["file"]).read_bytes()).hexdigest()
        assert digest == info["sha256"], info["name"]
    assert "/work/shared" not in str(data)


def test_list_datasets():
    assert list_datasets() == sorted(LOADERS)
    assert list_datasets("regression") == ["concrete", "kin8nm", "mcycle"]
    assert list_datasets("classification") == ["peterson_barney", "vowel"]
    with pytest.raises(ValueError, match="task must be"):
        list_datasets("clustering")


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_loader_shapes_and_values(name):
    info = MANIFEST[name]
    n, d = int(info["n_samples"]), int(info["n_features"])
    X, y = LOADERS[name]()
    assert isinstance(X, np.ndarray) and isinstance(y, np.ndarray)
    assert X.shape == (n, d) and X.dtype == np.float64
    assert y.shape == (n,)
    assert np.isfinite(X).all() and np.isfinite(y).all()
    if info["task"] == "classification":
        assert y.dtype == np.int64
        np.testing.assert_array_equal(np.unique(y), np.arange(int(info["n_classes"])))
    else:
        assert y.dtype == np.float64
    X2, y2 = load_dataset(name)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_loader_keeps_file_order():
    X, _ = ds.load_mcycle()
    assert np.all(np.diff(X[:, 0]) >= 0)  # mcycle is sorted by time
    _, y = ds.load_vowel()
    blocks = y.reshape(-1, 11)
    assert (blocks == blocks[0]).all()


def test_loader_returns_fresh_arrays():
    X, y = ds.load_mcycle()
    X[:] = 0.0
    X2, _ = ds.load_mcycle()
    assert X2[-1, 0] > 0


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_loader_as_frame(name):
    pd = pytest.importorskip("pandas")
    info = MANIFEST[name]
    X, y = LOADERS[name](as_frame=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)
    assert X.shape == (int(info["n_samples"]), int(info["n_features"]))
    assert y.name == "target"
    assert "target" not in X.columns
    assert all(X.dtypes == np.float64)
    assert y.dtype == (np.int64 if info["task"] == "classification" else np.float64)
    Xa, ya = LOADERS[name]()
    np.testing.assert_array_equal(X.to_numpy(), Xa)
    np.testing.assert_array_equal(y.to_numpy(), ya)


def test_loader_feature_names():
    pytest.importorskip("pandas")
    X, _ = ds.load_peterson_barney(as_frame=True)
    assert list(X.columns) == ["f0", "f1", "f2", "f3"]
    X, _ = ds.load_mcycle(as_frame=True)
    assert list(X.columns) == ["times"]


def test_loader_bunch():
    b = ds.load_peterson_barney(return_X_y=False)
    assert b.data.shape == (1520, 4) and b.target.shape == (1520,)
    assert b.feature_names == ["f0", "f1", "f2", "f3"]
    assert b.task == "classification" and b.n_classes == 10
    assert b.frame is None
    assert "Peterson" in b.DESCR


def test_loader_bunch_as_frame():
    pytest.importorskip("pandas")
    b = ds.load_mcycle(return_X_y=False, as_frame=True)
    assert list(b.frame.columns) == ["times", "target"]
    assert b.n_classes is None


def test_as_frame_without_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError, match="as_frame=True requires pandas"):
        ds.load_mcycle(as_frame=True)
    X, y = ds.load_mcycle()  # numpy path still works
    assert X.shape == (133, 1)


def test_load_dataset_unknown_name():
    with pytest.raises(ValueError, match="unknown dataset 'iris'.*mcycle"):
        load_dataset("iris")
