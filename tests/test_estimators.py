"""The four estimators through their public API."""

import pickle
import warnings

import numpy as np
import pytest
from scipy.special import log_softmax, logsumexp
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp.datasets import make_moe_classification, make_moe_regression

REGRESSORS = [
    lambda **kw: MixtureOfExpertsRegressor(n_experts=3, **kw),
    lambda **kw: HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, **kw),
]
CLASSIFIERS = [
    lambda **kw: MixtureOfExpertsClassifier(n_experts=3, **kw),
    lambda **kw: HierarchicalMixtureOfExpertsClassifier(depth=2, branching=2, **kw),
]
ALL = REGRESSORS + CLASSIFIERS


def _reg_data(n=400, seed=0, n_targets=1):
    return make_moe_regression(
        n_samples=n, n_features=3, n_experts=3, noise=0.2, random_state=seed, n_targets=n_targets
    )


def _clf_data(n=400, seed=0):
    return make_moe_classification(n_samples=n, n_features=3, n_experts=3, n_classes=3, random_state=seed)


def _data_for(make):
    return _reg_data() if make in REGRESSORS else _clf_data()


def _n_experts(model):
    return model.predict_gate(np.zeros((1, model.n_features_in_))).shape[1]


# -- EM invariants -----------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("make", ALL)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_lower_bounds_never_decrease(make, seed, init_params):
    X, y = _reg_data(seed=seed) if make in REGRESSORS else _clf_data(seed=seed)
    sw = np.random.RandomState(seed).uniform(0.5, 2.0, size=X.shape[0])
    model = make(random_state=seed, init_params=init_params, max_iter=60, tol=0.0)
    model.fit(X, y, sample_weight=sw)
    lb = model.lower_bounds_
    assert lb.shape == (model.n_iter_,)
    assert np.all(np.isfinite(lb))
    assert np.min(np.diff(lb)) >= -1e-10 * max(1.0, abs(lb[-1]))
    assert model.lower_bound_ == lb[-1]


@pytest.mark.parametrize("make", ALL)
def test_lower_bound_is_penalised_mean_loglik(make):
    X, y = _data_for(make)
    model = make(random_state=0, gate_alpha=0.0, alpha=0.0, max_iter=30).fit(X, y)
    # without penalties the bound is the mean log-likelihood of the fitted model
    assert model.lower_bound_ == pytest.approx(model.log_likelihood(X, y).mean(), abs=1e-9)


def _true_loglik(X, y, p):
    log_gate = log_softmax(X @ p["gate_coef"].T + p["gate_intercept"], axis=1)
    mean = X @ p["expert_coef"][:, 0, :].T + p["expert_intercept"][:, 0]
    var = p["noise_variance"][:, 0]
    logdens = -0.5 * (np.log(2 * np.pi * var) + (y[:, None] - mean) ** 2 / var)
    return logsumexp(log_gate + logdens, axis=1), log_gate.argmax(axis=1)


@pytest.mark.parametrize("seed", [0, 1])
def test_parameter_recovery(seed):
    X, y, params = make_moe_regression(
        n_samples=5000, n_features=5, n_experts=4, noise=0.1, random_state=seed, return_params=True
    )
    true_ll, true_partition = _true_loglik(X, y, params)
    # recovery of the maximum-likelihood fit: penalties next to nothing (the defaults
    # alpha=1, gate_alpha=0.1 shrink the sharp true gates of this noise-0.1 data)
    model = MixtureOfExpertsRegressor(n_experts=4, n_init=3, max_iter=500, random_state=seed,
                                      alpha=1e-6, gate_alpha=1e-3)
    model.fit(X, y)
    assert model.log_likelihood(X, y).mean() >= true_ll.mean() - 0.02
    assert adjusted_rand_score(true_partition, model.predict_gate(X).argmax(axis=1)) > 0.8
    # each true expert is matched by a fitted one
    for k in range(4):
        err = np.abs(model.expert_coef_[:, 0, :] - params["expert_coef"][k, 0]).max(axis=1)
        assert err.min() < 0.05


# -- predictions ---------------------------------------------------------------
@pytest.mark.parametrize("make", REGRESSORS)
@pytest.mark.parametrize("n_targets", [1, 2])
def test_regressor_outputs(make, n_targets):
    X, y = _reg_data(n_targets=n_targets)
    model = make(random_state=0).fit(X, y)
    K = _n_experts(model)
    shape = y.shape[1:]
    assert model.predict(X).shape == y.shape
    mean, std = model.predict(X, return_std=True)
    assert mean.shape == std.shape == y.shape and np.all(std > 0)
    assert model.predict_experts(X).shape == (X.shape[0], K, *shape)
    assert model.expert_coef_.shape == (K, n_targets, 3)
    assert model.noise_variance_.shape == (K, n_targets)
    draws = model.sample_y(X[:5], n_samples=7, random_state=0)
    assert draws.shape == ((5, 7) if n_targets == 1 else (5, n_targets, 7))
    np.testing.assert_array_equal(draws, model.sample_y(X[:5], n_samples=7, random_state=0))
    # the predictive mean is the gate-weighted mean of the experts
    gates = model.predict_gate(X)
    experts = model.predict_experts(X).reshape(X.shape[0], K, -1)
    np.testing.assert_allclose(
        np.einsum("nk,nkt->nt", gates, experts), model.predict(X).reshape(X.shape[0], -1)
    )


def test_return_std_matches_sampling():
    X, y = _reg_data(n=600)
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    mean, std = model.predict(X[:3], return_std=True)
    draws = model.sample_y(X[:3], n_samples=40000, random_state=1)
    np.testing.assert_allclose(draws.mean(axis=1), mean, atol=4 * std.max() / 200)
    np.testing.assert_allclose(draws.std(axis=1), std, rtol=0.03)


@pytest.mark.parametrize("make", CLASSIFIERS)
def test_classifier_outputs(make):
    X, y = _clf_data()
    labels = np.array(["a", "b", "c"])[y]
    model = make(random_state=0).fit(X, labels)
    K = _n_experts(model)
    proba = model.predict_proba(X)
    assert proba.shape == (X.shape[0], 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.log(proba), model.predict_log_proba(X))
    np.testing.assert_array_equal(model.classes_, ["a", "b", "c"])
    assert set(model.predict(X)) <= set(labels)
    assert model.predict_experts(X).shape == (X.shape[0], K, 3)
    assert model.expert_coef_.shape == (K, 3, 3)
    np.testing.assert_allclose(
        np.einsum("nk,nkc->nc", model.predict_gate(X), model.predict_experts(X)), proba
    )
    assert model.score(X, labels) > 0.6
    resp = model.responsibilities(X, labels)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="not seen"):
        model.responsibilities(X[:2], ["a", "z"])


@pytest.mark.parametrize("make", ALL)
def test_gates_responsibilities_and_criteria(make):
    X, y = _data_for(make)
    model = make(random_state=0).fit(X, y)
    gates = model.predict_gate(X)
    np.testing.assert_allclose(gates.sum(axis=1), 1.0)
    nodes = model.predict_node_gates(X)
    np.testing.assert_allclose(nodes.sum(axis=2), 1.0)
    resp = model.responsibilities(X, y)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    ll = model.log_likelihood(X, y)
    assert ll.shape == (X.shape[0],) and np.all(np.isfinite(ll))
    # Bayes: posterior = gate * expert likelihood / p(y|x)
    bic, aic = model.bic(X, y), model.aic(X, y)
    assert np.isfinite(bic) and np.isfinite(aic) and bic > aic  # log(400) > 2
    assert bic == pytest.approx(-2 * ll.sum() + model._n_parameters() * np.log(X.shape[0]))


def test_hme_gate_is_path_product():
    X, y = _reg_data()
    model = HierarchicalMixtureOfExpertsRegressor(depth=2, branching=3, random_state=0).fit(X, y)
    nodes = model.predict_node_gates(X)  # (n, 4, 3)
    gates = model.predict_gate(X)  # (n, 9)
    for leaf in range(9):
        parent, slot = divmod(leaf, 3)
        np.testing.assert_allclose(gates[:, leaf], nodes[:, 0, parent] * nodes[:, 1 + parent, slot])
    assert model.gate_coef_.shape == (4, 3, 3) and model.gate_intercept_.shape == (4, 3)


# -- scikit-learn integration -----------------------------------------------------
def test_pipeline_grid_search():
    X, y = make_moe_regression(n_samples=300, n_features=3, n_experts=3, gate_scale=10, random_state=0)
    pipe = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(random_state=0, max_iter=50))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, {"mixtureofexpertsregressor__n_experts": [1, 3]}, cv=3)
        search.fit(X, y)
    assert search.best_params_["mixtureofexpertsregressor__n_experts"] == 3
    one, three = search.cv_results_["mean_test_score"]
    assert three > one + 0.15


@pytest.mark.parametrize("make", ALL)
def test_pickle_and_determinism(make):
    X, y = _data_for(make)
    a = make(random_state=0).fit(X, y)
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    c = make(random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.lower_bounds_, c.lower_bounds_)
    np.testing.assert_array_equal(a.gate_coef_, c.gate_coef_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("make", ALL)
def test_n_init_keeps_best(make, monkeypatch):
    from mixexp import _engine, _init

    finals = []
    run = _engine.EMEngine.run
    # one arrangement of a tree's leaves: no tree EM inside the start, so the tree's runs
    # are the n_init main runs
    monkeypatch.setattr(_init, "TREE_ARRANGEMENTS", 1)

    def recording_run(self, *args, **kwargs):
        result = run(self, *args, **kwargs)
        finals.append((self.tree, result[1][-1]))
        return result

    monkeypatch.setattr(_engine.EMEngine, "run", recording_run)
    X, y = _data_for(make)
    model = make(n_init=4, random_state=0, max_iter=20, init_params="kmeans").fit(X, y)
    # a tree's k-means initialisation first runs a flat mixture: keep the tree's runs
    finals = [f for tree, f in finals if tree == model._fitted.tree]
    assert len(finals) == 4 and len(set(finals)) > 1  # the inits differ
    shift = model.lower_bound_ - model.lower_bounds_[-1]  # zero: same iteration
    assert shift == 0.0
    # lower_bound_ is in original units; the recorded ones are internal: compare ranks
    assert np.argmax(finals) == np.argmax([f for f in finals])
    assert model.n_iter_ == len(model.lower_bounds_)
    best_internal = max(finals)
    offset = model.lower_bound_ - best_internal  # the units' constant
    assert all(f + offset <= model.lower_bound_ + 1e-12 for f in finals)


@pytest.mark.parametrize("make", ALL)
def test_warm_start_continues(make):
    X, y = _data_for(make)
    model = make(random_state=0, max_iter=3, tol=0.0, warm_start=True)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    first = model.lower_bound_
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    assert model.lower_bounds_[0] >= first - 1e-10
    with pytest.raises(ValueError, match="warm_start"):
        model.fit(X[:, :2], y)


def test_convergence_warning_and_verbose(capsys):
    X, y = _reg_data()
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        model = MixtureOfExpertsRegressor(max_iter=2, tol=0.0, verbose=2, verbose_interval=1)
        model.fit(X, y)
    assert not model.converged_ and model.n_iter_ == 2
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "Iteration 2" in out and "did not converge" in out
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = MixtureOfExpertsRegressor(max_iter=500, random_state=0).fit(X, y)
    assert model.converged_


def test_pandas_and_float32():
    pd = pytest.importorskip("pandas")
    X, y = _reg_data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = MixtureOfExpertsRegressor(random_state=0).fit(frame, pd.Series(y))
    np.testing.assert_array_equal(model.feature_names_in_, ["a", "b", "c"])
    m32 = MixtureOfExpertsRegressor(random_state=0).fit(X.astype(np.float32), y.astype(np.float32))
    np.testing.assert_allclose(m32.predict(X), model.predict(frame), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("make", ALL)
def test_scale_invariance_of_predictions(make):
    """Internal standardisation: rescaling X (and y) rescales nothing that matters."""
    X, y = _data_for(make)
    a = make(random_state=0).fit(X, y)
    scale = np.array([1e-6, 1.0, 1e6])
    # the shift is proportional to each column's scale: a fixed shift of 3 on a
    # column of scale 1e-6 would itself destroy 6 of its 16 digits, and EM on a
    # flat likelihood (the HME classifier) amplifies that input rounding
    Xs = (X + 3.0) * scale
    is_reg = make in REGRESSORS
    b = make(random_state=0).fit(Xs, y * 1e4 if is_reg else y)
    pa, pb = a.predict(X), b.predict(Xs)
    if is_reg:
        np.testing.assert_allclose(pb, pa * 1e4, rtol=1e-6, atol=1e-6 * np.abs(pb).max())
    else:
        np.testing.assert_allclose(b.predict_proba(Xs), a.predict_proba(X), atol=1e-4)


# -- errors ---------------------------------------------------------------------------
def _bad_inputs(X, y):
    Xn = X.copy()
    Xn[0, 0] = np.nan
    Xi = X.copy()
    Xi[1, 1] = np.inf
    yn = y.astype(float).copy()
    yn[2] = np.nan
    return [
        (Xn, y, "NaN"),
        (Xi, y, "infinity"),
        (X, yn, "NaN"),
        (X[:, 0], y, "2D array"),
        (X, y[:-1], "inconsistent numbers of samples"),
        (X[:2], y[:2], "n_samples=2 should be >= n_experts"),
    ]


@pytest.mark.parametrize("make", ALL)
def test_bad_input_raises_and_changes_nothing(make):
    X, y = _data_for(make)
    model = make(random_state=0).fit(X, y)
    before = dict(model.__dict__)
    pred = model.predict(X)
    for Xb, yb, message in _bad_inputs(X, y):
        copies = (np.copy(Xb), np.copy(yb))
        with pytest.raises(ValueError, match=message):
            model.fit(Xb, yb)
        np.testing.assert_array_equal(Xb, copies[0])
        np.testing.assert_array_equal(yb, copies[1])
        assert model.__dict__.keys() == before.keys()
        assert all(model.__dict__[k] is before[k] for k in before)
        np.testing.assert_array_equal(model.predict(X), pred)
    with pytest.raises(ValueError, match="(?i)sample.weight"):
        model.fit(X, y, sample_weight=np.zeros(X.shape[0]))
    with pytest.raises(ValueError, match="X has 2 features"):
        model.predict(X[:, :2])
    np.testing.assert_array_equal(model.predict(X), pred)


@pytest.mark.parametrize("make", CLASSIFIERS)
def test_single_class(make):
    X, _ = _clf_data()
    with pytest.raises(ValueError, match="only one class"):
        make().fit(X, np.zeros(X.shape[0], dtype=int))


@pytest.mark.parametrize(
    "params, error",
    [
        ({"n_experts": 0}, ValueError),
        ({"n_experts": 2.5}, (TypeError, ValueError)),
        ({"gate": "no-such-gate"}, ValueError),
            ({"covariance_type": "spherical"}, ValueError),
            ({"expert": "no-such-family"}, ValueError),
            ({"expert": 3.0}, (TypeError, ValueError)),
        ({"tol": -1.0}, ValueError),
        ({"max_iter": 0}, ValueError),
        ({"init_params": "spectral"}, ValueError),
        ({"reg_variance": 0.0}, ValueError),
        ({"alpha": -1.0}, ValueError),
    ],
)
def test_invalid_parameters(params, error):
    X, y = _reg_data()
    with pytest.raises(error):
        MixtureOfExpertsRegressor(**params).fit(X, y)
    with pytest.raises(ValueError):
        HierarchicalMixtureOfExpertsRegressor(branching=1).fit(X, y)


@pytest.mark.parametrize("make", ALL)
def test_not_fitted(make):
    with pytest.raises(NotFittedError):
        make().predict(np.zeros((2, 3)))
    with pytest.raises(NotFittedError):
        make().predict_gate(np.zeros((2, 3)))


def test_interrupted_fit_leaves_estimator_unchanged(monkeypatch):
    X, y = _reg_data()
    model = MixtureOfExpertsRegressor(random_state=0).fit(X, y)
    before = dict(model.__dict__)
    pred = model.predict(X)
    from mixexp import _engine

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_engine.EMEngine, "run", interrupt)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X[:200] * 2, y[:200])
    assert all(model.__dict__[k] is before[k] for k in before) and model.__dict__.keys() == before.keys()
    np.testing.assert_array_equal(model.predict(X), pred)


def _interrupt_at_update(monkeypatch, n_call, exc=KeyboardInterrupt):
    """Make the ``n_call``-th M-step (EMEngine.update) raise ``exc``: a fault mid-EM."""
    from mixexp import _engine

    original, calls = _engine.EMEngine.update, []

    def update(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == n_call:
            raise exc
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_engine.EMEngine, "update", update)
    return calls


def _state(model):
    """Everything the estimator holds, as bytes (a fault must not change a single bit)."""
    return pickle.dumps(model.__dict__)


@pytest.mark.parametrize("warm_start", [False, True])
@pytest.mark.parametrize("fitted", [False, True])
def test_interrupt_mid_em_leaves_estimator_as_it_was(monkeypatch, fitted, warm_start):
    """Issue 30, item 4: a KeyboardInterrupt during fit's EM (the 8th M-step, after the
    start) leaves an unfitted estimator unfitted and a fitted one as it was, bit for bit,
    also with warm_start, where EM starts from the fitted parameters themselves."""
    X, y = _reg_data()
    model = MixtureOfExpertsRegressor(3, random_state=0, warm_start=warm_start)
    if fitted:
        model.fit(X, y)
    before = _state(model)
    calls = _interrupt_at_update(monkeypatch, 8)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X[:300] * 2, y[:300])
    assert len(calls) == 8
    assert _state(model) == before
    assert hasattr(model, "n_iter_") == fitted


@pytest.mark.parametrize("fault", ["nan", "n_features", "m_step"])
@pytest.mark.parametrize("make", [
    lambda: MixtureOfExpertsRegressor(3, random_state=0),
    lambda: MixtureOfExpertsClassifier(3, random_state=0),
], ids=["regressor", "classifier"])
def test_failed_partial_fit_batch_leaves_the_model_as_before(monkeypatch, make, fault):
    """Issue 30, item 4: an exception inside partial_fit (a bad batch, or a fault in its
    M-step) leaves the model exactly as before the batch: the same state, bit for bit,
    and the next good batch gives what it gives without the bad one."""
    regression = isinstance(make(), MixtureOfExpertsRegressor)
    X, y = _reg_data(600) if regression else _clf_data(600)
    model, clean = make(), make()
    for m in (model, clean):
        m.partial_fit(X[:200], y[:200], **({} if regression else {"classes": np.unique(y)}))
        m.partial_fit(X[200:400], y[200:400])
    before = _state(model)
    bad_X, bad_y = X[400:500].copy(), y[400:500]
    if fault == "nan":
        bad_X[7, 1] = np.nan
        expected = pytest.raises(ValueError, match="NaN")
    elif fault == "n_features":
        bad_X = bad_X[:, :-1]
        expected = pytest.raises(ValueError, match="features")
    else:
        _interrupt_at_update(monkeypatch, 1, RuntimeError("a fault in the M-step"))
        expected = pytest.raises(RuntimeError, match="fault")
    with expected:
        model.partial_fit(bad_X, bad_y)
    monkeypatch.undo()
    assert _state(model) == before
    model.partial_fit(X[500:], y[500:])
    clean.partial_fit(X[500:], y[500:])
    assert _state(model) == _state(clean)


def test_collapsed_expert_stays_finite():
    """More experts than structure: some receive almost nothing, nothing turns NaN."""
    rs = np.random.RandomState(0)
    X = np.repeat(rs.randn(4, 2), 25, axis=0)
    y = X[:, 0] + 0.01 * rs.randn(100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MixtureOfExpertsRegressor(n_experts=8, random_state=0, max_iter=50).fit(X, y)
    for value in (model.gate_coef_, model.expert_coef_, model.noise_variance_, model.lower_bounds_):
        assert np.all(np.isfinite(value))
    assert np.all(np.isfinite(model.predict(X))) and np.all(np.isfinite(model.log_likelihood(X, y)))


def test_frozen_expert_warns_once_and_keeps_its_parameters():
    """An expert the gate has shut out gets no responsibility: kept as it was, one warning."""
    from mixexp import FrozenExpertWarning

    X, y = make_moe_regression(n_samples=400, n_features=2, n_experts=3, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0, warm_start=True, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    # warm_start continues from the fitted (internal) parameters: shut expert 2 out there
    gate = model._fitted.params["gate"]["coef"][0]
    gate[2, :-1] = 0.0
    gate[2, -1] = -1e4  # gate probability exp(-1e4): exactly 0 responsibility
    kept = model.expert_coef_[2].copy(), model.noise_variance_[2].copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    frozen = [w for w in caught if issubclass(w.category, FrozenExpertWarning)]
    assert len(frozen) == 1 and "leaves [2]" in str(frozen[0].message)
    np.testing.assert_allclose(model.expert_coef_[2], kept[0], rtol=1e-12)
    np.testing.assert_allclose(model.noise_variance_[2], kept[1], rtol=1e-12)
    assert np.all(np.isfinite(model.lower_bounds_)) and np.all(np.diff(model.lower_bounds_) >= -1e-12)
