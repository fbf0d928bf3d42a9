"""Missing values in X (NaN): EM on the joint Gaussian of (x, y) per expert with a Gaussian
gate and linear-Gaussian experts; every other model refuses NaN in words."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._missing import m_step, objective, pass_stats
from mixexp._tree import Tree
from mixexp.experts.gaussian import LinearGaussianExperts
from mixexp.gates.gaussian import GaussianGate


def _joint_model(n, rng, frac=0.0):
    """Two linear-Gaussian experts on two Gaussian clusters of x; ``frac`` of X set to NaN."""
    k = rng.integers(0, 2, size=n)
    means = np.array([[-2.0, 0.0], [2.0, 1.0]])
    X = means[k] + rng.standard_normal((n, 2)) @ np.array([[1.0, 0.3], [0.0, 0.8]])
    coef = np.array([[1.5, -1.0], [-0.5, 2.0]])
    intercept = np.array([1.0, -1.0])
    y = np.sum(X * coef[k], axis=1) + intercept[k] + 0.3 * rng.standard_normal(n)
    Xm = X.copy()
    Xm[rng.random(X.shape) < frac] = np.nan
    return X, Xm, y


def _reference_iteration(Z, Y, sw, params, alpha):
    """One EM iteration by hand, row by row: the observed coordinates' joint density per
    expert, the missing features' conditional means and covariances, and the expected
    sums of the gate's Gaussians and the experts' weighted ridge regressions."""
    n, d = Z.shape
    g, e = params["gate"], params["experts"]
    L = g["means"].shape[0]
    logs = np.empty((n, L))
    xhat = np.empty((L, n, d))
    cond = np.zeros((L, n, d, d))
    for k in range(L):
        S, m = g["covariances"][k], g["means"][k]
        B, c, v = e["coef"][k, 0, :d], e["coef"][k, 0, d], e["var"][k, 0]
        mu = np.append(m, B @ m + c)
        C = np.zeros((d + 1, d + 1))
        C[:d, :d] = S
        C[:d, d] = C[d, :d] = S @ B
        C[d, d] = B @ S @ B + v
        for i in range(n):
            u = np.append(Z[i], Y[i, 0])
            o = ~np.isnan(u)
            mis = np.flatnonzero(~o)
            logs[i, k] = g["log_weights"][0, k] + multivariate_normal(mu[o], C[np.ix_(o, o)]).logpdf(u[o])
            gain = C[np.ix_(mis, o)] @ np.linalg.inv(C[np.ix_(o, o)])
            xhat[k, i] = np.where(o[:d], Z[i], 0.0)
            xhat[k, i, mis] = mu[mis] + gain @ (u[o] - mu[o])
            cond[k, i][np.ix_(mis, mis)] = C[np.ix_(mis, mis)] - gain @ C[np.ix_(o, mis)]
    W = np.exp(logs - logsumexp(logs, axis=1, keepdims=True)) * sw[:, None]
    out = {"weights": W.sum(axis=0) / W.sum(), "means": [], "cov": [], "coef": [], "var": []}
    for k in range(L):
        w, N = W[:, k], W[:, k].sum()
        m = w @ xhat[k] / N
        D = xhat[k] - m
        out["means"].append(m)
        out["cov"].append((np.einsum("n,ni,nj->ij", w, D, D) + np.einsum("n,nij->ij", w, cond[k])) / N)
        Xa = np.column_stack([xhat[k], np.ones(n)])
        G = np.einsum("n,ni,nj->ij", w, Xa, Xa)
        G[:d, :d] += np.einsum("n,nij->ij", w, cond[k])
        b = Xa.T @ (w * Y[:, 0])
        ridge = alpha * np.diag(np.append(np.ones(d), 0.0))
        beta = np.linalg.solve(G + ridge, b)
        rss = w @ Y[:, 0] ** 2 - 2 * beta @ b + beta @ G @ beta + alpha * beta[:d] @ beta[:d]
        out["coef"].append(beta)
        out["var"].append(rss / N)
    penalty = 0.5 * alpha * np.sum(e["coef"][:, 0, :d] ** 2 / e["var"])
    loglik = (sw @ logsumexp(logs, axis=1) - penalty) / sw.sum()
    return out, loglik


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_one_em_iteration_matches_a_plain_numpy_reference(alpha):
    rng = np.random.default_rng(0)
    n, d, L = 40, 3, 2
    Z = rng.standard_normal((n, d))
    Z[rng.random((n, d)) < 0.3] = np.nan
    Z[0] = np.nan  # a row with no observed feature
    Y = rng.standard_normal((n, 1))
    sw = rng.uniform(0.5, 2.0, n)
    A = rng.standard_normal((L, d, d))
    params = {
        "gate": {
            "log_weights": np.log([[0.4, 0.6]]),
            "means": rng.standard_normal((L, d)),
            "covariances": A @ A.transpose(0, 2, 1) + np.eye(d),
        },
        "experts": {"coef": rng.standard_normal((L, 1, d + 1)), "var": np.array([[0.7], [1.3]])},
    }
    gate = GaussianGate(Tree(1, L), "full", reg_covar=1e-6)
    experts = LinearGaussianExperts(alpha, reg_variance=1e-6)
    S = pass_stats(Z, Y, sw, params, "full")
    new, frozen = m_step(S, sw, params, gate, experts)
    ref, loglik = _reference_iteration(Z, Y, sw, params, alpha)
    assert frozen == []
    np.testing.assert_allclose(objective(S, sw, gate, experts, params), loglik, rtol=1e-10)
    np.testing.assert_allclose(np.exp(new["gate"]["log_weights"][0]), ref["weights"], rtol=1e-10)
    np.testing.assert_allclose(new["gate"]["means"], ref["means"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(new["gate"]["covariances"], ref["cov"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(new["experts"]["coef"][:, 0], ref["coef"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(new["experts"]["var"][:, 0], ref["var"], rtol=1e-9)


def test_diagonal_gate_takes_the_diagonal_of_the_expected_covariance():
    rng = np.random.default_rng(1)
    n, d, L = 30, 2, 2
    Z = rng.standard_normal((n, d))
    Z[rng.random((n, d)) < 0.3] = np.nan
    Y = rng.standard_normal((n, 1))
    sw = np.ones(n)
    params = {
        "gate": {"log_weights": np.log([[0.5, 0.5]]), "means": rng.standard_normal((L, d)),
                 "covariances": np.array([[1.0, 2.0], [0.5, 1.5]])},
        "experts": {"coef": rng.standard_normal((L, 1, d + 1)), "var": np.array([[0.7], [1.3]])},
    }
    diag = np.stack([np.diag(c) for c in params["gate"]["covariances"]])
    full = {**params, "gate": {**params["gate"], "covariances": diag}}
    ref, _ = _reference_iteration(Z, Y, sw, full, 0.0)
    gate = GaussianGate(Tree(1, L), "diag", reg_covar=1e-6)
    S = pass_stats(Z, Y, sw, params, "diag")
    new, _ = m_step(S, sw, params, gate, LinearGaussianExperts(0.0, 1e-6))
    np.testing.assert_allclose(new["gate"]["covariances"], [np.diag(c) for c in ref["cov"]], rtol=1e-9)
    np.testing.assert_allclose(new["gate"]["means"], ref["means"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("frac", [0.1, 0.25, 0.4])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_em_with_missing_values_never_decreases_the_observed_log_likelihood(frac, covariance_type):
    X, Xm, y = _joint_model(300, np.random.default_rng(2), frac)
    model = MixtureOfExpertsRegressor(
        2, gate="gaussian", covariance_type=covariance_type, max_iter=60, tol=0, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(Xm, y)
    assert model.n_iter_ > 5
    assert np.all(np.diff(model.lower_bounds_) >= -1e-10 * np.abs(model.lower_bounds_[1:]))


def _observed_loglik(model, X, y):
    """Mean log p(x_obs, y) per row from the public attributes, by hand."""
    out = []
    for x, t in zip(X, y):
        o = np.append(~np.isnan(x), True)
        u = np.append(x, t)
        terms = []
        for k in range(model.n_experts):
            S, m = model.gate_covariances_[k], model.gate_means_[k]
            B, c, v = model.expert_coef_[k, 0], model.expert_intercept_[k, 0], model.noise_variance_[k, 0]
            mu = np.append(m, B @ m + c)
            C = np.block([[S, (S @ B)[:, None]], [(S @ B)[None, :], np.array([[B @ S @ B + v]])]])
            dens = multivariate_normal(mu[o], C[np.ix_(o, o)]).logpdf(u[o])
            terms.append(np.log(model.gate_weights_[k]) + dens)
        out.append(logsumexp(terms))
    return np.mean(out)


def test_lower_bound_is_the_observed_data_log_likelihood_in_the_units_of_the_data():
    _, Xm, y = _joint_model(200, np.random.default_rng(3), 0.2)
    Xm[:, 1] *= 100.0  # a scale the Jacobian must undo
    Xm[5] = np.nan
    model = MixtureOfExpertsRegressor(2, gate="gaussian", alpha=0.0, random_state=0).fit(Xm, y)
    np.testing.assert_allclose(model.lower_bound_, _observed_loglik(model, Xm, y), rtol=1e-8)


def test_standardisation_uses_the_observed_entries():
    _, Xm, y = _joint_model(200, np.random.default_rng(4), 0.3)
    sw = np.random.default_rng(5).uniform(0.5, 2.0, 200)
    X0 = Xm.copy()
    model = MixtureOfExpertsRegressor(2, gate="gaussian", random_state=0).fit(Xm, y, sample_weight=sw)
    np.testing.assert_array_equal(Xm, X0)  # inputs are not mutated
    obs = ~np.isnan(Xm)
    W = obs * sw[:, None]
    mean = np.nansum(W * Xm, axis=0) / W.sum(axis=0)
    std = np.sqrt(np.nansum(W * (Xm - mean) ** 2, axis=0) / W.sum(axis=0))
    np.testing.assert_allclose(model.x_mean_, mean, rtol=1e-12)
    np.testing.assert_allclose(model.x_scale_, std, rtol=1e-12)


def test_prediction_of_rows_with_nan_mixes_the_experts_given_the_observed_features():
    X, Xm, y = _joint_model(300, np.random.default_rng(6), 0.2)
    model = MixtureOfExpertsRegressor(2, gate="gaussian", clip_experts=False, random_state=0).fit(Xm, y)
    rows = np.array([[np.nan, 0.5], [1.0, np.nan], [np.nan, np.nan], [0.3, -0.2]])
    mean, std = model.predict(rows, return_std=True)
    for x, got_mean, got_std in zip(rows, mean, std):
        o = ~np.isnan(x)
        logs, means, var = [], [], []
        for k in range(2):
            S, m = model.gate_covariances_[k], model.gate_means_[k]
            B, c, v = model.expert_coef_[k, 0], model.expert_intercept_[k, 0], model.noise_variance_[k, 0]
            gain = S[np.ix_(~o, o)] @ np.linalg.inv(S[np.ix_(o, o)]) if o.any() else np.zeros(((~o).sum(), 0))
            xm = m[~o] + gain @ (x[o] - m[o])
            cm = S[np.ix_(~o, ~o)] - gain @ S[np.ix_(o, ~o)]
            filled = x.copy()
            filled[~o] = xm
            dens = multivariate_normal(m[o], S[np.ix_(o, o)]).logpdf(x[o]) if o.any() else 0.0
            logs.append(np.log(model.gate_weights_[k]) + dens)
            means.append(B @ filled + c)
            var.append(v + B[~o] @ cm @ B[~o])
        g = np.exp(np.array(logs) - logsumexp(logs))
        mu = g @ means
        np.testing.assert_allclose(got_mean, mu, rtol=1e-8)
        spread = np.array(var) + (np.array(means) - mu) ** 2
        np.testing.assert_allclose(got_std, np.sqrt(g @ spread), rtol=1e-8)
    # a complete row takes the usual path: the same numbers as predicted alone
    np.testing.assert_array_equal(mean[3], model.predict(rows[3:])[0])


def test_a_model_fitted_on_complete_data_predicts_rows_with_nan():
    X, Xm, y = _joint_model(300, np.random.default_rng(7), 0.2)
    model = MixtureOfExpertsRegressor(2, gate="gaussian", random_state=0).fit(X, y)
    pred = model.predict(Xm)
    assert np.all(np.isfinite(pred))
    assert model.score(Xm, y) > 0.5


def test_recovery_with_a_quarter_of_the_features_missing():
    rng = np.random.default_rng(8)
    X, Xm, y = _joint_model(2000, rng, 0.25)
    model = MixtureOfExpertsRegressor(2, gate="gaussian", random_state=0).fit(Xm, y)
    order = np.argsort(model.gate_means_[:, 0])
    np.testing.assert_allclose(model.gate_means_[order], [[-2.0, 0.0], [2.0, 1.0]], atol=0.15)
    np.testing.assert_allclose(model.expert_coef_[order, 0], [[1.5, -1.0], [-0.5, 2.0]], atol=0.1)
    np.testing.assert_allclose(model.expert_intercept_[order, 0], [1.0, -1.0], atol=0.2)
    np.testing.assert_allclose(np.sqrt(model.noise_variance_[order, 0]), 0.3, atol=0.05)
    # better than the same model on mean-imputed features
    X_test, Xm_test, y_test = _joint_model(1000, rng, 0.25)
    imputed = make_pipeline(SimpleImputer(), MixtureOfExpertsRegressor(2, gate="gaussian", random_state=0))
    imputed.fit(Xm, y)
    assert model.score(Xm_test, y_test) > imputed.score(Xm_test, y_test) + 0.02


def test_allow_nan_tag_exactly_for_the_models_that_take_nan():
    takes = [
        MixtureOfExpertsRegressor(gate="gaussian"),
        MixtureOfExpertsRegressor(gate="gaussian", covariance_type="diag", alpha=1.0),
    ]
    refuses = [
        MixtureOfExpertsRegressor(),
        MixtureOfExpertsRegressor(gate="attention"),
        MixtureOfExpertsRegressor(gate="gaussian", expert="poisson"),
        MixtureOfExpertsRegressor(gate="gaussian", expert="student_t"),
        MixtureOfExpertsRegressor(gate="gaussian", expert="lognormal"),
        MixtureOfExpertsRegressor(gate="gaussian", zero_inflation=True),
        MixtureOfExpertsRegressor(gate="gaussian", l1_ratio=0.5),
        MixtureOfExpertsRegressor(gate="gaussian", top_k=1),
        MixtureOfExpertsRegressor(gate="gaussian", gate_features=[0]),
        MixtureOfExpertsRegressor(gate="gaussian", expert_features=[0]),
        HierarchicalMixtureOfExpertsRegressor(gate="gaussian"),
        MixtureOfExpertsClassifier(gate="gaussian"),
    ]
    assert all(m.__sklearn_tags__().input_tags.allow_nan for m in takes)
    assert not any(m.__sklearn_tags__().input_tags.allow_nan for m in refuses)


@pytest.mark.parametrize(
    "model, component",
    [
        (MixtureOfExpertsRegressor(2), "gate='softmax'"),
        (MixtureOfExpertsRegressor(2, gate="gaussian", expert="poisson"), "expert='poisson'"),
        (MixtureOfExpertsRegressor(2, gate="gaussian", expert="student_t"), "expert='student_t'"),
        (HierarchicalMixtureOfExpertsRegressor(1, gate="gaussian"), "is a tree"),
        (MixtureOfExpertsRegressor(2, gate="gaussian", gate_features=[0]), "gate_features"),
        (MixtureOfExpertsRegressor(2, gate="gaussian", l1_ratio=0.5), "l1_ratio"),
        (MixtureOfExpertsClassifier(2, gate="gaussian"), "expert='linear' is not linear-Gaussian"),
    ],
)
def test_other_models_refuse_nan_naming_the_component_and_the_ways_out(model, component):
    _, Xm, y = _joint_model(60, np.random.default_rng(9), 0.2)
    if model._task == "classification":
        y = (y > 0).astype(int)
    y = np.abs(y) + 1 if "poisson" in component else y
    y = np.round(y) if "poisson" in component else y
    with pytest.raises(ValueError, match="NaN") as error:
        model.fit(Xm, y)
    message = str(error.value)
    assert component in message
    assert "gate='gaussian' with expert='linear'" in message and "Pipeline" in message
    with pytest.raises(NotFittedError):  # nothing was fitted
        model.predict(Xm)


def test_a_fitted_model_that_cannot_take_nan_refuses_it_in_prediction_and_keeps_its_state():
    X, Xm, y = _joint_model(100, np.random.default_rng(10), 0.2)
    model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    coef = model.expert_coef_.copy()
    with pytest.raises(ValueError, match="gate='softmax'.*Pipeline"):
        model.predict(Xm)
    with pytest.raises(ValueError, match="NaN.*gate='softmax'"):
        model.fit(Xm, y)
    np.testing.assert_array_equal(model.expert_coef_, coef)
    # the imputer way out works
    imputed = make_pipeline(SimpleImputer(), MixtureOfExpertsRegressor(2, random_state=0))
    assert imputed.fit(Xm, y).score(Xm, y) > 0


def test_methods_and_fits_that_take_complete_rows_say_so():
    X, Xm, y = _joint_model(100, np.random.default_rng(11), 0.2)
    model = MixtureOfExpertsRegressor(2, gate="gaussian", random_state=0).fit(Xm, y)
    with pytest.raises(ValueError, match="only fit, predict and score"):
        model.log_likelihood(Xm, y)
    with pytest.raises(ValueError, match="groups"):
        MixtureOfExpertsRegressor(2, gate="gaussian").fit(Xm, y, groups=np.arange(100) // 2)
    online = MixtureOfExpertsRegressor(2, gate="gaussian")
    with pytest.raises(ValueError, match="only fit, predict and score"):
        online.partial_fit(Xm, y)
    with pytest.raises(NotFittedError):  # the failed partial_fit left nothing
        online.predict(X)
    with pytest.raises(ValueError, match="contains NaN"):  # NaN in y: refused as before
        MixtureOfExpertsRegressor(2, gate="gaussian").fit(X, np.where(np.arange(100) == 3, np.nan, y))
    with pytest.raises(ValueError, match="infinity"):
        MixtureOfExpertsRegressor(2, gate="gaussian").fit(np.where(np.isnan(Xm), np.inf, Xm), y)


PAGE = Path(__file__).resolve().parents[1] / "docs" / "missing.md"


@pytest.mark.skipif(not PAGE.exists(), reason="run from a source checkout (docs/ is not installed)")
def test_missing_page_python_block_runs():
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], str(PAGE), "exec"), {"__name__": "missing_page"})


def test_two_targets_and_a_feature_never_observed():
    _, Xm, y = _joint_model(200, np.random.default_rng(12), 0.2)
    Y = np.column_stack([y, 2.0 * y + np.random.default_rng(13).standard_normal(200)])
    model = MixtureOfExpertsRegressor(2, gate="gaussian", random_state=0).fit(Xm, Y)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-10 * np.abs(model.lower_bounds_[1:]))
    mean, std = model.predict(Xm, return_std=True)
    assert mean.shape == std.shape == (200, 2) and np.all(np.isfinite(std))
    Xm[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"no observed value .* columns \[1\]"):
        MixtureOfExpertsRegressor(2, gate="gaussian").fit(Xm, y)
