"""Specialization metrics, top-k routing, the attention gate, the cluster-patch
generator and the patch-CNN expert."""

import warnings

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp.datasets import make_cluster_patches, make_moe_classification, make_moe_regression
from mixexp.experts.patch_cnn import PatchCNNClassifier
from mixexp.metrics import (
    dispatch_entropy,
    expert_class_mutual_information,
    expert_load,
    expert_usage,
    gate_entropy,
)


# -- metrics against hand-computed values ---------------------------------------------------
def test_metrics_hand_computed():
    G = np.array([[0.5, 0.5], [1.0, 0.0]])
    # mean gate (0.75, 0.25): H = -(.75 log2 .75 + .25 log2 .25)
    h = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    assert expert_usage(G) == pytest.approx(h)
    assert expert_usage(G, base=np.e) == pytest.approx(h * np.log(2))
    assert gate_entropy(G) == pytest.approx(0.5)  # (1 + 0) / 2 bits
    # joint p(e, y) = [[.25, .5], [.25, 0]]: H(E) = h, H(Y) = 1, H(E, Y) = 1.5
    assert expert_class_mutual_information(G, y=["a", "b"]) == pytest.approx(h + 1.0 - 1.5)
    assert expert_usage(np.eye(4)) == pytest.approx(2.0)
    assert gate_entropy(np.full((3, 4), 0.25)) == pytest.approx(2.0)
    # sample weights: the second row counts three times -> mean gate (.875, .125)
    h_w = -(0.875 * np.log2(0.875) + 0.125 * np.log2(0.125))
    assert expert_usage(G, sample_weight=[1, 3]) == pytest.approx(h_w)
    assert gate_entropy(G, sample_weight=[1, 3]) == pytest.approx(0.25)


def test_dispatch_entropy_and_load_hand_computed():
    G = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    # top-1: experts 0, 0, 1, 1; groups 0, 0 | 1, 0: H = 0 and 1 bit, each half the samples
    assert dispatch_entropy(G, groups=[0, 0, 1, 0]) == pytest.approx(0.5)
    assert dispatch_entropy(G, groups=[0, 0, 1, 0], base=np.e) == pytest.approx(0.5 * np.log(2))
    assert dispatch_entropy(G, groups=[5, 5, 7, 7]) == pytest.approx(0.0)
    np.testing.assert_allclose(expert_load(G), [0.5, 0.5])
    np.testing.assert_allclose(expert_load(G, sample_weight=[3, 1, 0, 0]), [1.0, 0.0])
    # a class that goes to one expert with certainty: I(E; Y) = H(E) = H(Y)
    hard = np.eye(3)[[0, 0, 1, 2]]
    assert expert_class_mutual_information(hard, y=[0, 0, 1, 2]) == pytest.approx(expert_usage(hard))
    # independent expert and class: I = 0
    assert expert_class_mutual_information(np.full((4, 2), 0.5), y=[0, 1, 0, 1]) == pytest.approx(0.0)


def test_metrics_on_a_fitted_model_and_bad_input():
    X, y = make_moe_classification(n_samples=200, random_state=0)
    model = MixtureOfExpertsClassifier(n_experts=3, random_state=0).fit(X, y)
    G = model.predict_gate(X)
    assert expert_usage(model, X) == expert_usage(G)
    assert gate_entropy(model, X) == gate_entropy(G)
    assert expert_class_mutual_information(model, X, y) == expert_class_mutual_information(G, y=y)
    assert dispatch_entropy(model, X, y) == dispatch_entropy(G, groups=y)
    np.testing.assert_array_equal(expert_load(model, X), expert_load(G))
    with pytest.raises(ValueError, match="X is required"):
        expert_usage(model)
    with pytest.raises(ValueError, match="probabilities"):
        expert_usage([[0.5, 0.6]])
    with pytest.raises(ValueError, match="required"):
        expert_class_mutual_information(G)
    with pytest.raises(ValueError):
        dispatch_entropy(G, groups=y[:-1])


# -- top-k routing -------------------------------------------------------------------------
class CountingClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression that records how many rows it is asked to predict."""

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y, sample_weight=None):
        self.model_ = LogisticRegression(C=self.C).fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        self.rows_seen_ = 0
        return self

    def predict_proba(self, X):
        self.rows_seen_ += X.shape[0]
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def test_top_k_equals_dense_when_k_is_n_experts():
    Xc, yc = make_moe_classification(n_samples=300, n_experts=3, random_state=0)
    Xr, yr = make_moe_regression(n_samples=300, n_experts=3, random_state=0)
    for model, X, y in [
        (MixtureOfExpertsClassifier(n_experts=3, random_state=0), Xc, yc),
        (MixtureOfExpertsClassifier(n_experts=3, expert=LogisticRegression(), random_state=0,
                                    max_iter=10), Xc, yc),
        (MixtureOfExpertsRegressor(n_experts=3, random_state=0), Xr, yr),
        (HierarchicalMixtureOfExpertsRegressor(depth=2, random_state=0), Xr, yr),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        n_leaves = model.predict_gate(X).shape[1]
        dense = model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X, return_std=True)
        model.set_params(top_k=n_leaves)
        routed = model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X, return_std=True)
        np.testing.assert_allclose(routed, dense, rtol=1e-12, atol=1e-12)


def test_top_1_is_the_most_probable_expert_and_skips_the_others():
    X, y = make_moe_classification(n_samples=300, n_experts=3, random_state=0)
    model = MixtureOfExpertsClassifier(n_experts=3, expert=CountingClassifier(), random_state=0,
                                       max_iter=10, top_k=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    own = model.predict_experts(X)
    best = np.argmax(model.predict_gate(X), axis=1)
    for est in model.experts_:
        est.rows_seen_ = 0
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, own[np.arange(X.shape[0]), best])
    # each expert saw only its routed rows: n rows in all, not n * n_experts
    assert [est.rows_seen_ for est in model.experts_] == np.bincount(best, minlength=3).tolist()
    model.set_params(top_k=2)
    for est in model.experts_:
        est.rows_seen_ = 0
    model.predict(X)
    assert sum(est.rows_seen_ for est in model.experts_) == 2 * X.shape[0]
    model.set_params(top_k=4)
    with pytest.raises(ValueError, match="top_k"):
        model.predict(X)


# -- the attention gate ------------------------------------------------------------------------
def test_attention_gate_is_softmax_of_query_times_expert_logits():
    X, y = make_moe_classification(n_samples=300, n_experts=3, random_state=2)
    model = MixtureOfExpertsClassifier(n_experts=3, gate="attention", random_state=0).fit(X, y)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-9)
    logits = np.einsum("kcf,nf->nkc", model.expert_coef_, X) + model.expert_intercept_
    keys = logits - logits.mean(axis=2, keepdims=True)
    query = X @ model.gate_query_coef_.T + model.gate_query_intercept_  # (n, n_classes)
    expected = softmax(np.einsum("nr,nkr->nk", query, keys), axis=1)
    np.testing.assert_allclose(model.predict_gate(X), expected, atol=1e-10)
    # the estimator-expert path (representations from predict_proba) runs and stays monotone
    est = MixtureOfExpertsClassifier(n_experts=2, gate="attention", expert=LogisticRegression(),
                                     random_state=0, max_iter=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert np.all(np.diff(est.lower_bounds_) >= -1e-9)


# -- the generator -----------------------------------------------------------------------------------
@pytest.mark.parametrize("setting", [1, 2, 3, 4])
def test_cluster_patches_statistics(setting):
    n, K, P, d = 4000, 4, 4, 50
    X, y, p = make_cluster_patches(setting, n, random_state=setting, return_params=True)
    assert X.shape == (n, P * d)
    Q = np.vstack([p["features"], p["centers"]])
    np.testing.assert_allclose(Q @ Q.T, np.eye(2 * K), atol=1e-12)
    # labels and clusters uniform (4 standard deviations)
    assert abs(np.mean(y == 1) - 0.5) < 4 * np.sqrt(0.25 / n)
    assert np.all(np.abs(np.bincount(p["cluster"]) / n - 1 / K) < 4 * np.sqrt(3 / 16 / n))
    assert np.all(p["distractor_cluster"] != p["cluster"])
    patches = X.reshape(n, P, d) / 10.0
    rows = np.arange(n)
    feature, center, distractor = (patches[rows, p["positions"][:, t]] for t in range(3))
    np.testing.assert_allclose(feature, (p["alpha"] * y)[:, None] * p["features"][p["cluster"]], atol=1e-12)
    np.testing.assert_allclose(center, p["beta"][:, None] * p["centers"][p["cluster"]], atol=1e-12)
    np.testing.assert_allclose(
        distractor, (p["sign"] * p["gamma"])[:, None] * p["features"][p["distractor_cluster"]], atol=1e-12
    )
    sigma, gamma_range = {1: (1, 3), 2: (2, 3), 3: (1, 2), 4: (2, 2)}[setting]
    assert 0.5 <= p["alpha"].min() and p["alpha"].max() <= 2 and p["alpha"].max() > 1.95
    assert 1 <= p["beta"].min() and p["beta"].max() <= 2
    assert 0.5 <= p["gamma"].min() and p["gamma"].max() <= gamma_range and p["gamma"].max() > gamma_range - 0.05
    is_noise = np.ones((n, P), dtype=bool)
    is_noise[rows[:, None], p["positions"]] = False
    noise = patches[is_noise[:, :, None].repeat(d, 2)].reshape(-1, d)
    assert noise.std() == pytest.approx(sigma / np.sqrt(d), rel=0.03)
    assert abs(noise.mean()) < 4 * sigma / np.sqrt(d) / np.sqrt(noise.size)
    # every position holds each kind of patch equally often
    assert np.all(np.abs(np.bincount(p["positions"][:, 0], minlength=P) / n - 1 / P) < 0.04)
    with pytest.raises(ValueError, match="setting"):
        make_cluster_patches(5, 10)


# -- the patch CNN ---------------------------------------------------------------------------------------
def test_patch_cnn_ignores_patch_order_and_zero_weights():
    X, y = make_cluster_patches(1, 300, random_state=0)
    X = X / 10.0
    cnn = PatchCNNClassifier(n_filters=2, max_iter=25, random_state=0).fit(X, y)
    assert cnn.score(X, y) > 0.7
    shuffled = X.reshape(300, 4, 50)[:, ::-1].reshape(300, 200)
    np.testing.assert_allclose(cnn.decision_function(shuffled), cnn.decision_function(X), rtol=1e-9)
    # rows of weight zero change nothing
    w = np.r_[np.ones(200), np.zeros(100)]
    a = clone(cnn).fit(X, y, sample_weight=w)
    b = clone(cnn).fit(X[:200], y[:200])
    np.testing.assert_allclose(a.coef_, b.coef_)
    # the linear activation is a linear function of the patch sum
    lin = PatchCNNClassifier(n_filters=3, activation="linear", max_iter=30, random_state=0).fit(X, y)
    S = X.reshape(300, 4, 50).sum(axis=1)
    f = lin.decision_function(X)
    coef = lin.coef_.sum(axis=1)  # (classes, d)
    np.testing.assert_allclose(f, S @ coef.T + 4 * lin.intercept_.sum(axis=1), rtol=1e-9, atol=1e-9)
    assert lin.hidden_representation(X).shape == (300, 6)
