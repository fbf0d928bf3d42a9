"""Constrained experts: ``shared_features`` (coefficients equal in every expert) and
``tied_variance`` (one noise variance for all experts)."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp.experts.gaussian import LinearGaussianExperts
from mixexp.inference import wald_test


def _data(n=600, slopes=(2.0, 2.0), seed=0, n_targets=1):
    """Two experts: intercepts -1 and 1, x0's slopes ``slopes``, x1's slopes -1 and 1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    z = (X[:, 2] + 0.5 * rng.normal(size=n) > 0).astype(int)
    mean = np.where(z == 0, -1 + slopes[0] * X[:, 0] - X[:, 1], 1 + slopes[1] * X[:, 0] + X[:, 1])
    y = mean + 0.3 * rng.normal(size=n)
    if n_targets == 2:
        y = np.column_stack([y, 0.5 * mean + 0.2 * rng.normal(size=n)])
    return X, y, z


def _start(z, n_leaves=2):
    """Responsibilities of the partition ``z`` (one leaf per label)."""
    resp = np.full((z.size, n_leaves), 0.05 / (n_leaves - 1))
    resp[np.arange(z.size), z % n_leaves] = 0.95
    return resp


# -- the M-step against plain numpy ---------------------------------------------
def _reference_mstep(Xa, Y, W, var, shared, tied, alpha):
    """The constrained M-step from the stacked experts' rows: one weighted least squares
    with the shared columns common and the others per expert (rows of expert k weighted by
    ``W[:, k] / var[k]``, ridge ``alpha / var[k]`` on every coefficient but the intercept),
    then the variances (pooled when ``tied``)."""
    n, p = Xa.shape
    K, T = var.shape
    own = [j for j in range(p) if j not in shared]
    n_par = len(shared) + K * len(own)
    coef = np.empty((K, T, p))
    for t in range(T):
        Z = np.zeros((K * n, n_par))
        w = np.empty(K * n)
        pen = np.zeros(n_par)
        for k in range(K):
            rows = slice(k * n, (k + 1) * n)
            Z[rows, : len(shared)] = Xa[:, shared]
            cols = slice(len(shared) + k * len(own), len(shared) + (k + 1) * len(own))
            Z[rows, cols] = Xa[:, own]
            w[rows] = W[:, k] / var[k, t]
            pen[: len(shared)] += alpha / var[k, t]
            pen[cols] = [alpha / var[k, t] if j != p - 1 else 0.0 for j in own]
        theta = np.linalg.solve(Z.T @ (w[:, None] * Z) + np.diag(pen), Z.T @ (w * np.tile(Y[:, t], K)))
        for k in range(K):
            coef[k, t, shared] = theta[: len(shared)]
            coef[k, t, own] = theta[len(shared) + k * len(own) : len(shared) + (k + 1) * len(own)]
    resid = np.empty((K, T))
    for k in range(K):
        r = Y - Xa @ coef[k].T
        resid[k] = W[:, k] @ r**2 + alpha * np.sum(coef[k, :, :-1] ** 2, axis=1)
    total = W.sum(axis=0)
    new_var = np.tile(resid.sum(axis=0) / total.sum(), (K, 1)) if tied else resid / total[:, None]
    return coef, new_var


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("n_targets", [1, 2])
def test_m_step_matches_stacked_least_squares(tied, n_targets):
    rng = np.random.default_rng(1)
    n, p, K = 200, 4, 3
    Xa = np.column_stack([rng.normal(size=(n, p - 1)), np.ones(n)])
    Y = rng.normal(size=(n, n_targets))
    W = rng.dirichlet(np.ones(K), size=n) * rng.uniform(0.5, 2.0, size=(n, 1))  # with sample weights
    var = rng.uniform(0.5, 2.0, size=(K, n_targets))
    shared = [0, 2]
    experts = LinearGaussianExperts(alpha=0.3, reg_variance=1e-9)
    experts.set_constraints(np.array(shared), tied)
    params = {"coef": rng.normal(size=(K, n_targets, p)), "var": var}
    S = experts.stats(Xa, Y, W, params, None)
    new, _ = experts.update(S, params, np.ones(K, dtype=bool))
    coef, new_var = _reference_mstep(Xa, Y, W, var, shared, tied, 0.3)
    np.testing.assert_allclose(new["coef"], coef, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(new["var"], new_var, rtol=1e-8)


def test_tied_variance_alone_is_the_pooled_variance():
    rng = np.random.default_rng(2)
    n, K = 150, 2
    Xa = np.column_stack([rng.normal(size=(n, 2)), np.ones(n)])
    Y = rng.normal(size=(n, 1))
    W = rng.dirichlet(np.ones(K), size=n)
    experts = LinearGaussianExperts(alpha=0.0, reg_variance=1e-9)
    experts.set_constraints(np.empty(0, dtype=np.intp), True)
    params = {"coef": np.zeros((K, 1, 3)), "var": np.ones((K, 1))}
    new, _ = experts.update(experts.stats(Xa, Y, W, params, None), params, np.ones(K, dtype=bool))
    rss = 0.0
    for k in range(K):  # each expert its own weighted least squares
        beta = np.linalg.lstsq(Xa * np.sqrt(W[:, [k]]), Y[:, 0] * np.sqrt(W[:, k]), rcond=None)[0]
        np.testing.assert_allclose(new["coef"][k, 0], beta, rtol=1e-8, atol=1e-10)
        rss += W[:, k] @ (Y[:, 0] - Xa @ beta) ** 2
    np.testing.assert_allclose(new["var"], rss / W.sum(), rtol=1e-8)


# -- EM ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: MixtureOfExpertsRegressor(2, **kw),
        lambda **kw: HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, **kw),
    ],
    ids=["flat", "hme"],
)
@pytest.mark.parametrize("kw", [{"shared_features": [0]}, {"tied_variance": True},
                                {"shared_features": [0, 2], "tied_variance": True}])
def test_em_is_monotone(make, kw):
    X, y, _ = _data(n=400, slopes=(2.0, 1.5))
    sw = np.random.default_rng(3).uniform(0.2, 3.0, size=y.shape[0])
    model = make(random_state=0, max_iter=60, tol=0, alpha=0.5, **kw)
    with pytest.warns(Warning):  # max_iter reached with tol=0
        model.fit(X, y, sample_weight=sw)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-10)
    coef = model.expert_coef_[:, 0]
    for j in kw.get("shared_features", []):
        np.testing.assert_allclose(coef[:, j], coef[0, j], rtol=1e-12)
    if kw.get("tied_variance"):
        np.testing.assert_allclose(model.noise_variance_, model.noise_variance_[0, 0], rtol=1e-12)


def test_recovers_a_shared_slope():
    X, y, z = _data(n=3000, slopes=(2.0, 2.0), seed=4)
    model = MixtureOfExpertsRegressor(2, shared_features=[0], tied_variance=True, random_state=0).fit(X, y)
    coef = model.expert_coef_[:, 0]
    assert coef[0, 0] == coef[1, 0]
    assert abs(coef[0, 0] - 2.0) < 0.03
    assert np.allclose(np.sort(coef[:, 1]), [-1.0, 1.0], atol=0.05)
    assert np.allclose(model.noise_variance_, 0.09, rtol=0.1)


def test_sample_weight_is_repetition():
    X, y, z = _data(n=200, slopes=(2.0, 1.0), seed=5)
    counts = np.random.default_rng(5).integers(1, 4, size=y.shape[0])
    kw = dict(shared_features=[0], tied_variance=True, max_iter=30, tol=0, alpha=0.1)
    with pytest.warns(Warning):
        weighted = MixtureOfExpertsRegressor(2, init_params=_start(z), **kw).fit(X, y, sample_weight=counts)
    rows = np.repeat(np.arange(y.shape[0]), counts)
    with pytest.warns(Warning):
        repeated = MixtureOfExpertsRegressor(2, init_params=_start(z[rows]), **kw).fit(X[rows], y[rows])
    np.testing.assert_allclose(weighted.expert_coef_, repeated.expert_coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(weighted.noise_variance_, repeated.noise_variance_, rtol=1e-6)


# -- parameter counts and summary ---------------------------------------------------
def _n_params(model, X, y):
    """The parameter count that ``bic`` uses, read back from it."""
    n = X.shape[0]
    return (model.bic(X, y) + 2.0 * model.log_likelihood(X, y).sum()) / np.log(n)


@pytest.mark.parametrize("n_targets", [1, 2])
def test_n_free_params(n_targets):
    X, y, z = _data(n=300, n_targets=n_targets)
    kw = dict(init_params=_start(z, 3), max_iter=5, random_state=0)
    counts = {}
    for name, extra in [("free", {}), ("shared", {"shared_features": [0, 1]}), ("tied", {"tied_variance": True}),
                        ("both", {"shared_features": [1], "tied_variance": True})]:
        with pytest.warns(Warning):
            model = MixtureOfExpertsRegressor(3, **kw, **extra).fit(X, y)
        counts[name] = _n_params(model, X, y)
    # 3 experts: a shared coefficient saves 2 per target, a tied variance 2 per target
    np.testing.assert_allclose(counts["free"] - counts["shared"], 2 * 2 * n_targets, atol=1e-6)
    np.testing.assert_allclose(counts["free"] - counts["tied"], 2 * n_targets, atol=1e-6)
    np.testing.assert_allclose(counts["free"] - counts["both"], 2 * 2 * n_targets, atol=1e-6)


def test_summary_reports_shared_parameters_once():
    pd = pytest.importorskip("pandas")
    X, y, _ = _data(n=500)
    Xdf = pd.DataFrame(X, columns=["a", "b", "c"])
    model = MixtureOfExpertsRegressor(2, shared_features=["a"], tied_variance=True, random_state=0).fit(Xdf, y)
    table = model.summary(Xdf, y)
    experts = table[table.component.str.contains("expert") & ~table.component.str.startswith("gate")]
    shared = experts[experts.component == "every expert"]
    assert sorted(shared.parameter) == ["a", "log_noise_variance"]
    assert (experts.parameter == "a").sum() == 1
    assert (experts.parameter == "b").sum() == 2
    np.testing.assert_allclose(shared.estimate[shared.parameter == "a"].item(), model.expert_coef_[0, 0, 0])
    assert np.all(np.isfinite(experts.std_error))
    # the shared slope is estimated from both experts' rows: a smaller error than either's own
    free = MixtureOfExpertsRegressor(2, random_state=0).fit(Xdf, y).summary(Xdf, y)
    assert shared.std_error[shared.parameter == "a"].item() < free.std_error[free.parameter == "a"].min()


def test_wald_test_agrees_with_likelihood_ratio():
    """``equal[x0]`` on the free model against the likelihood ratio of the refit with x0 shared:
    asymptotically the same chi-square statistic."""
    X, y, z = _data(n=1500, slopes=(2.0, 1.85), seed=6)
    kw = dict(init_params=_start(z), alpha=0.0, gate_alpha=0.0, tol=1e-10, max_iter=500)
    free = MixtureOfExpertsRegressor(2, **kw).fit(X, y)
    shared = MixtureOfExpertsRegressor(2, shared_features=[0], **kw).fit(X, y)
    lr = 2.0 * (free.log_likelihood(X, y).sum() - shared.log_likelihood(X, y).sum())
    wald = wald_test(free, X, y, "equal[x0]")
    assert wald.df == 1
    assert lr > 0
    assert wald.statistic > 10  # the slopes differ
    assert abs(wald.statistic - lr) < 0.15 * lr
    # on the constrained model the hypothesis is the model's own: said, not "no parameter"
    with pytest.raises(ValueError, match="shared by every expert already"):
        wald_test(shared, X, y, "equal[x0]")


# -- input ---------------------------------------------------------------------------
def test_bad_input():
    pd = pytest.importorskip("pandas")
    X, y, _ = _data(n=100)
    Xdf = pd.DataFrame(X, columns=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"shared_features: columns \['zz'\] are not in X's columns"):
        MixtureOfExpertsRegressor(2, shared_features=["zz"]).fit(Xdf, y)
    with pytest.raises(ValueError, match="out of range"):
        MixtureOfExpertsRegressor(2, shared_features=[5]).fit(X, y)
    with pytest.raises(ValueError, match=r"\['c'\] are not among the experts' inputs"):
        MixtureOfExpertsRegressor(2, shared_features=["c"], expert_features=["a", "b"]).fit(Xdf, y)
    with pytest.raises(ValueError, match="expert='poisson'"):
        MixtureOfExpertsRegressor(2, expert="poisson", tied_variance=True).fit(X, np.abs(np.round(y)))
    with pytest.raises(ValueError, match="expert='gamma'"):
        MixtureOfExpertsRegressor(2, expert="gamma", shared_features=[0]).fit(X, np.exp(y))
    with pytest.raises(ValueError, match="l1_ratio=0"):
        MixtureOfExpertsRegressor(2, shared_features=[0], l1_ratio=0.5).fit(X, y)
    with pytest.raises(ValueError, match="censored"):
        MixtureOfExpertsRegressor(2, tied_variance=True).fit(X, y, y_upper=y + 1)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="shared_features or tied_variance"):
        MixtureOfExpertsRegressor(2, gate="gaussian", tied_variance=True).fit(X_nan, y)
    with pytest.raises(TypeError):
        MixtureOfExpertsClassifier(2, shared_features=[0])


def test_failed_fit_leaves_the_model_as_it_was():
    X, y, _ = _data(n=100)
    model = MixtureOfExpertsRegressor(2, shared_features=[0], random_state=0).fit(X, y)
    before = model.expert_coef_.copy()
    model.set_params(shared_features=[7])
    with pytest.raises(ValueError):
        model.fit(X, y)
    np.testing.assert_array_equal(model.expert_coef_, before)


def test_clone_pickle_and_grid_search():
    X, y, _ = _data(n=300)
    model = MixtureOfExpertsRegressor(2, shared_features=[0], tied_variance=True, random_state=0)
    assert clone(model).get_params()["shared_features"] == [0]
    model.fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    np.testing.assert_array_equal(again.log_likelihood(X, y), model.log_likelihood(X, y))
    search = GridSearchCV(
        MixtureOfExpertsRegressor(2, random_state=0, max_iter=50),
        {"shared_features": [None, [0]], "tied_variance": [False, True]},
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.expert_coef_.shape == (2, 1, 3)


# -- a tied dispersion (expert="gamma") ----------------------------------------------------
def test_gamma_tied_dispersion_m_step_and_em():
    from scipy.special import digamma

    from mixexp.experts.glm import GammaExperts

    rng = np.random.default_rng(7)
    n, K = 300, 2
    Xa = np.column_stack([rng.normal(size=(n, 2)), np.ones(n)])
    y = rng.gamma(2.0, np.exp(0.3 * Xa[:, 0]) / 2.0)
    W = rng.dirichlet(np.ones(K), size=n)
    target = (y, np.zeros(n))
    params = {"coef": np.zeros((K, 1, 3)), "shape": np.ones(K)}
    free, tied = GammaExperts(0.2, 1e-9), GammaExperts(0.2, 1e-9)
    tied.set_constraints(np.empty(0, dtype=np.intp), True)
    S = free.stats(Xa, target, W, params, None)
    new_free, _ = free.update(S, params, np.ones(K, dtype=bool))
    new_tied, _ = tied.update(S, params, np.ones(K, dtype=bool))
    # the coefficients' fits do not depend on the dispersion; the shape solves the pooled equation
    np.testing.assert_allclose(new_tied["coef"], new_free["coef"], rtol=1e-12)
    eta = Xa @ new_tied["coef"][:, 0].T
    ratio = y[:, None] / np.exp(eta)
    half = np.sum(W * (ratio - np.log(ratio) - 1.0)) + 0.1 * np.sum(new_tied["coef"][:, 0, :-1] ** 2)
    a = new_tied["shape"]
    assert a[0] == a[1]
    np.testing.assert_allclose(np.log(a[0]) - digamma(a[0]), half / W.sum(), rtol=1e-10)
    assert tied.n_free_params(new_tied) == free.n_free_params(new_free) - 1

    X = rng.normal(size=(400, 2))
    z = (X[:, 1] > 0).astype(int)
    yy = rng.gamma(3.0, np.exp(np.where(z == 0, 0.5 * X[:, 0], 1.0 - 0.5 * X[:, 0])) / 3.0)
    model = MixtureOfExpertsRegressor(2, expert="gamma", tied_variance=True, max_iter=40, tol=0, random_state=0)
    exposure = rng.uniform(0.5, 2.0, size=yy.shape[0])
    with pytest.warns(Warning):
        model.fit(X, yy * exposure, exposure=exposure)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-10)
    assert model.dispersion_[0] == model.dispersion_[1]
    table = model.summary(X, yy * exposure, exposure=exposure)
    assert (table.parameter == "log_dispersion").sum() == 1


def test_bootstrap_of_a_constrained_model_labels_as_summary():
    from mixexp.inference import bootstrap, parameter_inference

    X, y, _ = _data(n=300, seed=8)
    model = MixtureOfExpertsRegressor(2, shared_features=[0], tied_variance=True, random_state=0).fit(X, y)
    result = bootstrap(model, X, y, n_resamples=4, random_state=0)
    reference = parameter_inference(model, X, y)
    assert result.component == reference.component
    assert result.parameter == reference.parameter
    np.testing.assert_allclose(result.estimate, reference.estimate)
    assert result.component.count("every expert") == 2  # x0 and log_noise_variance, once each
    assert np.all(np.isfinite(result.replicates))


def test_lognormal_takes_both_constraints_and_student_t_refuses():
    X, y, z = _data(n=400, slopes=(0.4, 0.4), seed=9)
    amount = np.exp(0.5 * y)
    model = MixtureOfExpertsRegressor(
        2, expert="lognormal", shared_features=[0], tied_variance=True, max_iter=40, tol=0, random_state=0
    )
    with pytest.warns(Warning):
        model.fit(X, amount)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-10)
    assert model.expert_coef_[0, 0, 0] == model.expert_coef_[1, 0, 0]
    assert model.noise_scale_[0] == model.noise_scale_[1]
    table = model.summary(X, amount)
    assert sorted(table.parameter[table.component == "every expert"]) == ["log_sigma", "x0"]
    with pytest.warns(Warning):
        free = MixtureOfExpertsRegressor(2, expert="lognormal", init_params=_start(z), max_iter=5)
        free.fit(X, amount)
    assert _n_params(free, X, amount) - _n_params(model, X, amount) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="expert='student_t'"):
        MixtureOfExpertsRegressor(2, expert="student_t", tied_variance=True).fit(X, y)
    with pytest.raises(ValueError, match="expert='student_t'"):
        MixtureOfExpertsRegressor(2, expert="student_t", shared_features=[0]).fit(X, y)


def test_lognormal_constrained_fit_is_the_linear_one_on_log_y():
    X, y, z = _data(n=400, slopes=(0.4, 0.4), seed=9)
    amount = np.exp(0.5 * y)
    kw = dict(shared_features=[0], tied_variance=True, max_iter=30, tol=0, init_params=_start(z))
    with pytest.warns(Warning):
        lognormal = MixtureOfExpertsRegressor(2, expert="lognormal", **kw).fit(X, amount)
    with pytest.warns(Warning):
        linear = MixtureOfExpertsRegressor(2, expert="linear", **kw).fit(X, np.log(amount))
    np.testing.assert_allclose(lognormal.expert_coef_, linear.expert_coef_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(lognormal.noise_scale_[:, 0] ** 2, linear.noise_variance_[:, 0], rtol=1e-7)
    # the densities differ by the Jacobian of log y only
    jacobian = -np.log(amount).mean()
    np.testing.assert_allclose(np.array(lognormal.lower_bounds_) - linear.lower_bounds_, jacobian, atol=1e-9)
