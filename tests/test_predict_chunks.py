"""Chunked prediction equals the whole-array computation it replaced."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._design import _CONVERT_ROWS, design_matrix, standardize
from mixexp._predict import PREDICT_CHUNK_ROWS, RAW_MAX_OFFSET, LinearMaps
from mixexp._routing import route, routed_leaf_outputs

# 2 full chunks and a partial one (threads), and fewer rows than a chunk (serial)
N_ROWS = [2 * PREDICT_CHUNK_ROWS + 37, 100]


def _data(n, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * [1.0, 3.0, 0.1, 10.0] + [0.0, 5.0, -2.0, 1.0]
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1] + 0.1 * rng.standard_normal(n)
    return X, y


def _whole(model, X, output, exposure=None):
    """Routed gates and leaf outputs on all rows at once, as prediction computed them before chunks."""
    design, state = model._design(X)
    gates = state.engine().e_step(state.params, design, experts=False)[0]
    gates, mask = route(gates, model._top_k(state))
    kwargs = {} if exposure is None else {"offset": np.log(exposure)}
    method = getattr(state.experts, output)
    params = state.params["experts"]
    if mask is None:
        return gates, method(design.expert_X, params, state.info, **kwargs)
    return gates, routed_leaf_outputs(state.experts, method, design.expert_X, params, state.info, mask, **kwargs)


def _whole_predict(model, X, exposure=None):
    gates, (means, var) = _whole(model, X, "moments", exposure)
    bounds = model._bounds(model._fitted)  # clip_experts: each expert's mean within its rows' targets
    if bounds is not None:
        means = np.clip(means, *bounds)
    mean = np.einsum("nk,nkt->nt", gates, means)
    spread = np.einsum("nk,nkt->nt", gates, var + (means - mean[:, None, :]) ** 2)
    return mean[:, 0], np.sqrt(spread)[:, 0]


def _whole_log_proba(model, X):
    gates, leaf = _whole(model, X, "leaf_log_proba")
    with np.errstate(divide="ignore"):
        return logsumexp(np.log(gates)[:, :, None] + leaf, axis=1)


def _close(a, b, rtol=1e-12):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.max(np.abs(b)))


REGRESSORS = {
    "softmax": lambda: MixtureOfExpertsRegressor(n_experts=4, max_iter=5, random_state=0),
    "top_k": lambda: MixtureOfExpertsRegressor(n_experts=4, max_iter=5, random_state=0, top_k=2),
    "hme": lambda: HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, max_iter=5, random_state=0),
    "hme_top_k": lambda: HierarchicalMixtureOfExpertsRegressor(
        depth=2, branching=3, max_iter=5, random_state=0, top_k=3
    ),
    "gaussian_gate": lambda: MixtureOfExpertsRegressor(n_experts=3, gate="gaussian", max_iter=5, random_state=0),
    "student_t": lambda: MixtureOfExpertsRegressor(n_experts=3, expert="student_t", max_iter=3, random_state=0),
    "features": lambda: MixtureOfExpertsRegressor(
        n_experts=3, gate_features=[0, 1], expert_features=[1, 2, 3], max_iter=5, random_state=0
    ),
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", sorted(REGRESSORS))
@pytest.mark.parametrize("n", N_ROWS)
def test_regressor_predict_equals_whole_array(name, n):
    X, y = _data(n)
    model = REGRESSORS[name]().fit(X[:500], y[:500])
    mean, std = model.predict(X, return_std=True)
    ref_mean, ref_std = _whole_predict(model, X)
    _close(model.predict(X), ref_mean)
    _close(mean, ref_mean)
    _close(std, ref_std)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", sorted(REGRESSORS))
def test_predict_gate_equals_the_e_step(name):
    """predict_gate runs in chunks and is never routed (top_k models give every gate)."""
    X, y = _data(N_ROWS[0])
    model = REGRESSORS[name]().fit(X[:500], y[:500])
    design, state = model._design(X)
    expected = state.engine().e_step(state.params, design, experts=False)[0]
    _close(model.predict_gate(X), expected)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("offset", [1e3, 1e7])
def test_raw_feature_products_and_their_bound(offset):
    """Far from 0 in units of their spread, features go through the standardised design
    (beyond RAW_MAX_OFFSET); below it the products on raw rows agree to about 1e-12."""
    X, y = _data(2 * PREDICT_CHUNK_ROWS + 37)
    X[:, 2] += offset * X[:, 2].std()
    model = MixtureOfExpertsRegressor(n_experts=4, max_iter=5, random_state=0).fit(X[:500], y[:500])
    parts = LinearMaps(model._fitted).parts
    assert sorted(parts) == ([] if offset > RAW_MAX_OFFSET else ["experts", "gate"])
    mean, std = model.predict(X, return_std=True)
    ref_mean, ref_std = _whole_predict(model, X)
    _close(mean, ref_mean, rtol=1e-11)
    _close(std, ref_std, rtol=1e-11)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n", N_ROWS)
@pytest.mark.parametrize("top_k", [None, 2])
def test_poisson_exposure_equals_whole_array(n, top_k):
    X, _ = _data(n)
    rng = np.random.default_rng(1)
    exposure = rng.uniform(0.5, 3.0, n)
    y = rng.poisson(exposure * np.exp(0.3 * X[:, 0]))
    model = MixtureOfExpertsRegressor(n_experts=3, expert="poisson", max_iter=3, random_state=0, top_k=top_k)
    model.fit(X[:500], y[:500], exposure=exposure[:500])
    mean, std = model.predict(X, return_std=True, exposure=exposure)
    ref_mean, ref_std = _whole_predict(model, X, exposure)
    _close(mean, ref_mean)
    _close(std, ref_std)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n", N_ROWS)
def test_sparse_input_equals_whole_array(n):
    X, y = _data(n)
    X[np.abs(X) < 1.0] = 0.0
    Xs = sp.csr_matrix(X)
    model = MixtureOfExpertsRegressor(n_experts=3, max_iter=5, random_state=0).fit(Xs[:500], y[:500])
    _close(model.predict(Xs), _whole_predict(model, Xs)[0])
    _close(model.predict(Xs), model.predict(X))
    y_class = (y > np.median(y)).astype(int) + (y > np.quantile(y, 0.8))
    clf = MixtureOfExpertsClassifier(n_experts=3, max_iter=5, random_state=0).fit(Xs[:500], y_class[:500])
    _close(clf.predict_log_proba(Xs), _whole_log_proba(clf, Xs))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n", N_ROWS)
@pytest.mark.parametrize("top_k", [None, 2])
def test_classifier_equals_whole_array(n, top_k):
    X, y = _data(n)
    y_class = np.digitize(y, np.quantile(y, [0.3, 0.7]))
    model = MixtureOfExpertsClassifier(n_experts=4, max_iter=5, random_state=0, top_k=top_k)
    model.fit(X[:500], y_class[:500])
    ref = _whole_log_proba(model, X)
    _close(model.predict_log_proba(X), ref)
    _close(model.predict_proba(X), np.exp(ref))
    np.testing.assert_array_equal(model.predict(X), model.classes_[np.argmax(ref, axis=1)])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_log_proba_of_underflowing_probabilities():
    """Probabilities like 1e-300 and exp(-800): the log-space fallback keeps their logs exact."""
    X, y = _data(3 * PREDICT_CHUNK_ROWS)
    y_class = np.digitize(y, np.quantile(y, [0.3, 0.7]))
    model = MixtureOfExpertsClassifier(n_experts=3, max_iter=5, random_state=0).fit(X[:500], y_class[:500])
    params = model._fitted.params["experts"]
    params["coef"] = params["coef"] * 200.0  # class logits hundreds apart
    X[::7] *= 5.0  # and some rows far out
    ref = _whole_log_proba(model, X)
    assert np.min(ref) < -800.0 and np.any((ref > -745.0) & (ref < np.log(1e-250)))
    log_proba = model.predict_log_proba(X)
    _close(log_proba, ref)
    # every log to 1e-12 of itself (near log 1 = 0: to rounding of the probability)
    np.testing.assert_allclose(log_proba, ref, rtol=1e-12, atol=1e-15)
    _close(model.predict_proba(X), np.exp(ref))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
def test_design_matrix_is_the_standardised_design(dtype, order):
    X = np.asarray(_data(1000)[0] * 1e150, dtype=np.float64)
    X[3, 2] = 1e300
    X = np.asarray(X if dtype == np.float64 else _data(1000)[0], dtype=dtype, order=order)
    mean, scale = np.array([1.0, -2e140, 0.0, 3.0]), np.array([2.0, 1e150, 1e-3, 7.0])
    expected = np.column_stack([standardize(X, mean, scale), np.ones(X.shape[0])])
    np.testing.assert_array_equal(design_matrix(X, mean, scale), expected)


@pytest.mark.parametrize("kind", ["float32", "fortran", "read-only", "strided"])
def test_design_matrix_of_converted_blocks_is_the_c_order_one(kind):
    """Inputs the compiled kernel is not specialised for are converted in blocks of rows
    (several here, the last one short): the design is the C-order float64 one, bit for bit."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2 * _CONVERT_ROWS + 5, 6)) * 1e3
    if kind == "float32":
        X = X.astype(np.float32)
    mean, scale = np.linspace(-1.0, 1.0, 3), np.array([2.0, 1e-3, 7.0])
    expected = design_matrix(np.ascontiguousarray(X[:, ::2], dtype=np.float64), mean, scale)
    if kind == "fortran":
        X = np.asfortranarray(X)
    if kind == "read-only":
        X = np.ascontiguousarray(X[:, ::2])
        X.flags.writeable = False
    Xk = X if kind == "read-only" else X[:, ::2]
    np.testing.assert_array_equal(design_matrix(Xk, mean, scale), expected)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("value,message", [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity")])
def test_non_finite_rows_in_a_late_chunk_raise_validate_datas_error(value, message):
    """Prediction checks for NaN and infinity chunk by chunk (on its threads), with the
    message validate_data gives; a bad row in the last chunk is found, sparse too."""
    X, y = _data(2 * PREDICT_CHUNK_ROWS + 37)
    labels = (y > np.median(y)).astype(int)
    reg = MixtureOfExpertsRegressor(n_experts=2, max_iter=3, random_state=0).fit(X[:500], y[:500])
    clf = MixtureOfExpertsClassifier(n_experts=2, max_iter=3, random_state=0).fit(X[:500], labels[:500])
    bad = X.copy()
    bad[-5, 2] = value
    before = bad.copy()
    for method in (reg.predict, reg.predict_gate, clf.predict_proba, clf.predict_log_proba, clf.predict):
        with pytest.raises(ValueError, match=message):
            method(bad)
        with pytest.raises(ValueError, match=message):
            method(sp.csr_matrix(bad))
    np.testing.assert_array_equal(bad, before)  # the input is not modified
