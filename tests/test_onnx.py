"""ONNX export (:func:`mixexp.onnx.to_onnx`): onnxruntime's outputs against predict,
predict(return_std=True) and predict_proba, for flat and hierarchical softmax-gated models,
with clipping, feature subsets, several targets, top_k routing and string labels; float32
graphs; clear errors for what the graph cannot express."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.tree import DecisionTreeRegressor

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp.datasets import make_moe_classification, make_moe_family, make_moe_regression

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from mixexp.onnx import to_onnx  # noqa: E402

# float64 graphs: mixexp folds the standardisation into the coefficients, the graph
# standardises first; both are rounding apart
RTOL64 = 1e-10
# float32 graphs: the inputs, constants and arithmetic in single precision
RTOL32 = 1e-5


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.set_params(max_iter=30, random_state=0).fit(X, y)


def _run(model, X, X_sample=None):
    X_sample = X[:5] if X_sample is None else X_sample
    proto = to_onnx(model, X_sample)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": X})


def _regression(n_features=3):
    return make_moe_regression(n_samples=300, n_features=n_features, n_experts=3, random_state=0)


REGRESSORS = {
    "flat": lambda: MixtureOfExpertsRegressor(3),
    "hme": lambda: HierarchicalMixtureOfExpertsRegressor(2, 2),
    "hme-branching-3": lambda: HierarchicalMixtureOfExpertsRegressor(2, 3),
    "student_t": lambda: MixtureOfExpertsRegressor(3, expert="student_t"),
    "feature-subsets": lambda: MixtureOfExpertsRegressor(3, gate_features=[0, 2], expert_features=[1, 2]),
    "top_k=1": lambda: MixtureOfExpertsRegressor(4, top_k=1),
    "top_k=2": lambda: HierarchicalMixtureOfExpertsRegressor(2, 2, top_k=2),
    "one-expert": lambda: MixtureOfExpertsRegressor(1),
}


@pytest.mark.parametrize("case", list(REGRESSORS))
def test_regressor_graph_equals_predict(case):
    X, y = _regression()
    model = _fit(REGRESSORS[case](), X, y)
    # far outside the training rows too, where the experts' means are clipped
    X_new = np.vstack([X, 4.0 * X[:50]])
    mean, std = _run(model, X_new)
    ref_mean, ref_std = model.predict(X_new, return_std=True)
    assert mean.shape == ref_mean.shape == (X_new.shape[0],)
    np.testing.assert_allclose(mean, ref_mean, rtol=RTOL64, atol=1e-12 * np.abs(ref_mean).max())
    np.testing.assert_allclose(std, ref_std, rtol=RTOL64, atol=1e-12 * np.abs(ref_std).max())


def test_clipping_is_in_the_graph():
    """The extrapolated rows' experts are clipped by predict: the graph does the same, and
    a model without clipping gives other predictions there (so the check can fail)."""
    X, y = _regression()
    model = _fit(MixtureOfExpertsRegressor(3), X, y)
    X_far = 6.0 * X[:50]
    clipped = _run(model, X_far)[0]
    model.set_params(clip_experts=False)
    unclipped = _run(model, X_far)[0]
    assert np.max(np.abs(clipped - unclipped)) > 0.1 * np.std(y)
    np.testing.assert_allclose(unclipped, model.predict(X_far), rtol=RTOL64, atol=1e-10)
    model.set_params(clip_experts=True)
    np.testing.assert_allclose(clipped, model.predict(X_far), rtol=RTOL64, atol=1e-10)


def test_two_targets():
    X, y = _regression()
    Y = np.column_stack([y, 3.0 * y - X[:, 1] + 100.0])
    model = _fit(HierarchicalMixtureOfExpertsRegressor(2, 2), X, Y)
    mean, std = _run(model, X)
    ref_mean, ref_std = model.predict(X, return_std=True)
    assert mean.shape == (X.shape[0], 2)
    np.testing.assert_allclose(mean, ref_mean, rtol=RTOL64)
    np.testing.assert_allclose(std, ref_std, rtol=RTOL64)


@pytest.mark.parametrize(
    "make",
    [lambda: MixtureOfExpertsClassifier(3), lambda: HierarchicalMixtureOfExpertsClassifier(2, 3, top_k=2)],
    ids=["flat", "hme-top_k=2"],
)
@pytest.mark.parametrize("labels", ["int", "str"])
def test_classifier_graph_equals_predict_proba(make, labels):
    X, y = make_moe_classification(n_samples=300, n_features=3, n_experts=3, n_classes=3, random_state=0)
    if labels == "str":
        y = np.array(["setosa", "versicolor", "virginica"])[y]
    model = _fit(make(), X, y)
    label, proba = _run(model, X)
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=RTOL64, atol=1e-14)
    np.testing.assert_array_equal(label, model.predict(X))


def test_float32_graph():
    """A float32 sample gives a float32 graph, within single precision of predict."""
    X, y = _regression()
    model = _fit(HierarchicalMixtureOfExpertsRegressor(2, 2), X, y)
    X32 = X.astype(np.float32)
    proto = to_onnx(model, X32[:5])
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    mean, std = _run(model, X32, X32[:5])
    assert mean.dtype == np.float32
    ref_mean, ref_std = model.predict(X32, return_std=True)
    scale = np.abs(ref_mean).max()
    np.testing.assert_allclose(mean, ref_mean, rtol=RTOL32, atol=RTOL32 * scale)
    np.testing.assert_allclose(std, ref_std, rtol=RTOL32, atol=RTOL32 * scale)

    Xc, yc = make_moe_classification(n_samples=300, n_features=3, n_experts=3, n_classes=3, random_state=0)
    clf = _fit(MixtureOfExpertsClassifier(3), Xc, yc)
    Xc32 = Xc.astype(np.float32)
    _, proba = _run(clf, Xc32, Xc32[:5])
    np.testing.assert_allclose(proba, clf.predict_proba(Xc32), atol=RTOL32)


@pytest.mark.parametrize(
    "make, data, part",
    [
        (lambda: MixtureOfExpertsRegressor(2, gate="gaussian"), _regression, "gate='gaussian'"),
        (lambda: MixtureOfExpertsRegressor(2, gate="attention"), _regression, "gate='attention'"),
        (
            lambda: MixtureOfExpertsRegressor(2, expert="poisson"),
            lambda: make_moe_family("poisson", n_samples=200, n_features=2, n_experts=2, random_state=0),
            "expert='poisson'",
        ),
        (
            lambda: MixtureOfExpertsRegressor(2, expert=DecisionTreeRegressor(max_depth=2)),
            _regression,
            "expert=DecisionTreeRegressor(max_depth=2)",
        ),
    ],
    ids=["gaussian-gate", "attention-gate", "poisson", "estimator"],
)
def test_unsupported_models_are_refused_by_name(make, data, part):
    X, y = data()
    model = _fit(make(), X, y)
    with pytest.raises(ValueError, match="Supported: gate='softmax'") as info:
        to_onnx(model, X[:5])
    assert part in str(info.value)


def test_bad_calls():
    X, y = _regression()
    model = MixtureOfExpertsRegressor(2)
    with pytest.raises(Exception, match="not fitted"):
        to_onnx(model, X[:5])
    _fit(model, X, y)
    with pytest.raises(ValueError, match="target_opset"):
        to_onnx(model, X[:5], target_opset=12)
    with pytest.raises(ValueError, match="features"):
        to_onnx(model, X[:5, :2])
    proto = to_onnx(model, X[:5], target_opset=13)
    assert proto.opset_import[0].version == 13
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"X": X})[0], model.predict(X), rtol=RTOL64)


def test_unfolded_standardisation():
    """A feature whose |mean / scale| exceeds RAW_MAX_OFFSET: predict standardises before the
    products instead of folding, and so does the graph."""
    from mixexp._predict import RAW_MAX_OFFSET

    X, y = _regression()
    X = X.copy()
    X[:, 1] += 10 * RAW_MAX_OFFSET
    for model in (_fit(HierarchicalMixtureOfExpertsRegressor(2, 2), X, y),
                  _fit(MixtureOfExpertsClassifier(3), X, (y > np.median(y)).astype(int))):
        assert np.max(np.abs(model.x_mean_ / model.x_scale_)) > RAW_MAX_OFFSET
        out = _run(model, X)
        if hasattr(model, "predict_proba"):
            np.testing.assert_allclose(out[1], model.predict_proba(X), rtol=RTOL64, atol=1e-12)
        else:
            np.testing.assert_allclose(out[0], model.predict(X), rtol=RTOL64, atol=1e-12)


def test_boolean_labels():
    X, y = make_moe_classification(n_samples=300, n_features=3, n_experts=3, n_classes=2, random_state=0)
    model = _fit(MixtureOfExpertsClassifier(2), X, y.astype(bool))
    label, proba = _run(model, X)
    assert label.dtype == np.bool_
    np.testing.assert_array_equal(label, model.predict(X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=RTOL64, atol=1e-14)
