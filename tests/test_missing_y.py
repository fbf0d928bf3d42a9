"""Missing responses (NaN in a 2-D y): the same EM on the joint Gaussian of (x, y) per expert
as NaN in X; a 1-D y with NaN and every model that cannot take it refuse in words."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning

from mixexp import MixtureOfExpertsRegressor
from mixexp._fitted import FitSources
from mixexp._missing import m_step, objective, pass_stats
from mixexp._tree import Tree
from mixexp.experts.gaussian import LinearGaussianExperts
from mixexp.gates.gaussian import GaussianGate


def _reference_iteration(Z, Y, sw, params, alpha):
    """One EM iteration by hand, row by row, with ``T`` targets: each row's observed
    coordinates of ``(x, y)`` under each expert's joint Gaussian, the conditional means and
    covariance of its missing ones, and the expected sums ``E[xa xa^T]``, ``E[xa y_t]``,
    ``E[y_t^2]`` of the experts' weighted ridge regressions and the gate's Gaussians."""
    n, d = Z.shape
    T = Y.shape[1]
    g, e = params["gate"], params["experts"]
    L = g["means"].shape[0]
    D = d + T
    logs = np.empty((n, L))
    uhat = np.empty((L, n, D))
    cond = np.zeros((L, n, D, D))
    for k in range(L):
        S, m = g["covariances"][k], g["means"][k]
        B, c, v = e["coef"][k, :, :d], e["coef"][k, :, d], e["var"][k]
        mu = np.concatenate([m, B @ m + c])
        C = np.block([[S, S @ B.T], [B @ S, B @ S @ B.T + np.diag(v)]])
        for i in range(n):
            u = np.concatenate([Z[i], Y[i]])
            o = ~np.isnan(u)
            mis = np.flatnonzero(~o)
            dens = multivariate_normal(mu[o], C[np.ix_(o, o)]).logpdf(u[o]) if o.any() else 0.0
            logs[i, k] = g["log_weights"][0, k] + dens
            gain = C[np.ix_(mis, o)] @ np.linalg.inv(C[np.ix_(o, o)])
            uhat[k, i] = np.where(o, u, 0.0)
            uhat[k, i, mis] = mu[mis] + gain @ (u[o] - mu[o])
            cond[k, i][np.ix_(mis, mis)] = C[np.ix_(mis, mis)] - gain @ C[np.ix_(o, mis)]
    W = np.exp(logs - logsumexp(logs, axis=1, keepdims=True)) * sw[:, None]
    out = {"weights": W.sum(axis=0) / W.sum(), "means": [], "cov": [], "coef": [], "var": []}
    for k in range(L):
        w, N = W[:, k], W[:, k].sum()
        xhat, yhat = uhat[k, :, :d], uhat[k, :, d:]
        m = w @ xhat / N
        R = xhat - m
        out["means"].append(m)
        spread = np.einsum("n,ni,nj->ij", w, R, R) + np.einsum("n,nij->ij", w, cond[k, :, :d, :d])
        out["cov"].append(spread / N)
        Xa = np.column_stack([xhat, np.ones(n)])
        G = np.einsum("n,ni,nj->ij", w, Xa, Xa)
        G[:d, :d] += np.einsum("n,nij->ij", w, cond[k, :, :d, :d])
        ridge = alpha * np.diag(np.append(np.ones(d), 0.0))
        coef, var = [], []
        for t in range(T):
            b = Xa.T @ (w * yhat[:, t])
            b[:d] += np.einsum("n,ni->i", w, cond[k, :, :d, d + t])
            yy = w @ (yhat[:, t] ** 2 + cond[k, :, d + t, d + t])
            beta = np.linalg.solve(G + ridge, b)
            rss = yy - 2 * beta @ b + beta @ G @ beta + alpha * beta[:d] @ beta[:d]
            coef.append(beta)
            var.append(rss / N)
        out["coef"].append(coef)
        out["var"].append(var)
    penalty = 0.5 * alpha * np.sum(np.sum(e["coef"][:, :, :d] ** 2, axis=2) / e["var"])
    loglik = (sw @ logsumexp(logs, axis=1) - penalty) / sw.sum()
    return out, loglik


def _params(rng, d, T, L=2):
    A = rng.standard_normal((L, d, d))
    return {
        "gate": {
            "log_weights": np.log([[0.4, 0.6]]),
            "means": rng.standard_normal((L, d)),
            "covariances": A @ A.transpose(0, 2, 1) + np.eye(d),
        },
        "experts": {"coef": rng.standard_normal((L, T, d + 1)), "var": rng.uniform(0.5, 1.5, (L, T))},
    }


@pytest.mark.parametrize("alpha", [0.0, 0.5])
@pytest.mark.parametrize("nan_in_x", [False, True])
def test_one_em_iteration_with_missing_responses_matches_a_plain_numpy_reference(alpha, nan_in_x):
    rng = np.random.default_rng(0)
    n, d, T = 40, 3, 2
    Z = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, T))
    Y[rng.random((n, T)) < 0.3] = np.nan
    Y[1] = np.nan  # a row with every response missing: only its x
    if nan_in_x:
        Z[rng.random((n, d)) < 0.3] = np.nan
        Z[2] = np.nan  # no feature, some responses
        Z[1, 0] = np.nan
        Z[3], Y[3] = np.nan, np.nan  # nothing observed
    sw = rng.uniform(0.5, 2.0, n)
    params = _params(rng, d, T)
    gate = GaussianGate(Tree(1, 2), "full", reg_covar=1e-6)
    experts = LinearGaussianExperts(alpha, reg_variance=1e-6)
    S = pass_stats(Z, Y, sw, params, "full")
    new, frozen = m_step(S, sw, params, gate, experts)
    ref, loglik = _reference_iteration(Z, Y, sw, params, alpha)
    assert frozen == []
    np.testing.assert_allclose(objective(S, sw, gate, experts, params), loglik, rtol=1e-10)
    np.testing.assert_allclose(np.exp(new["gate"]["log_weights"][0]), ref["weights"], rtol=1e-10)
    np.testing.assert_allclose(new["gate"]["means"], ref["means"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(new["gate"]["covariances"], ref["cov"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(new["experts"]["coef"], ref["coef"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(new["experts"]["var"], ref["var"], rtol=1e-9)


def _data(n, rng, frac_y=0.25, frac_x=0.0):
    """Two linear-Gaussian experts with two responses on two Gaussian clusters of x."""
    k = rng.integers(0, 2, size=n)
    X = np.array([[-2.0, 0.0], [2.0, 1.0]])[k] + rng.standard_normal((n, 2))
    coef = np.array([[[1.5, -1.0], [0.5, 0.5]], [[-0.5, 2.0], [1.0, -1.0]]])
    Y = np.einsum("nd,ntd->nt", X, coef[k]) + np.array([[1.0, 0.0], [-1.0, 2.0]])[k]
    Y += 0.3 * rng.standard_normal((n, 2))
    Ym, Xm = Y.copy(), X.copy()
    Ym[rng.random(Y.shape) < frac_y] = np.nan
    Xm[rng.random(X.shape) < frac_x] = np.nan
    return X, Xm, Y, Ym


@pytest.mark.parametrize("frac_x", [0.0, 0.2])
def test_em_with_missing_responses_never_decreases_the_observed_log_likelihood(frac_x):
    _, Xm, _, Ym = _data(300, np.random.default_rng(2), 0.3, frac_x)
    Ym[:5] = np.nan
    model = MixtureOfExpertsRegressor(2, gate="gaussian", max_iter=60, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(Xm, Ym)
    assert model.n_iter_ > 5
    assert np.all(np.diff(model.lower_bounds_) >= -1e-10 * np.abs(model.lower_bounds_[1:]))


def _observed_loglik(model, X, Y):
    """Mean log p(x_obs, y_obs) per row from the public attributes, by hand."""
    out = []
    for x, t in zip(X, Y):
        u = np.concatenate([x, t])
        o = ~np.isnan(u)
        terms = []
        for k in range(model.n_experts):
            S, m = model.gate_covariances_[k], model.gate_means_[k]
            B, c, v = model.expert_coef_[k], model.expert_intercept_[k], model.noise_variance_[k]
            mu = np.concatenate([m, B @ m + c])
            C = np.block([[S, S @ B.T], [B @ S, B @ S @ B.T + np.diag(v)]])
            dens = multivariate_normal(mu[o], C[np.ix_(o, o)]).logpdf(u[o]) if o.any() else 0.0
            terms.append(np.log(model.gate_weights_[k]) + dens)
        out.append(logsumexp(terms))
    return np.mean(out)


@pytest.mark.parametrize("frac_x", [0.0, 0.2])
def test_lower_bound_is_the_observed_data_log_likelihood_in_the_units_of_the_data(frac_x):
    _, Xm, _, Ym = _data(200, np.random.default_rng(3), 0.3, frac_x)
    Ym[:, 1] *= 100.0  # a scale the Jacobian of the observed responses must undo
    Ym[4] = np.nan
    model = MixtureOfExpertsRegressor(2, gate="gaussian", alpha=0.0, random_state=0).fit(Xm, Ym)
    np.testing.assert_allclose(model.lower_bound_, _observed_loglik(model, Xm, Ym), rtol=1e-8)


def test_missing_responses_fit_score_and_leave_the_inputs_alone():
    X, Xm, Y, Ym = _data(400, np.random.default_rng(4), 0.3)
    Y0 = Ym.copy()
    model = MixtureOfExpertsRegressor(2, gate="gaussian", random_state=0).fit(X, Ym)
    np.testing.assert_array_equal(Ym, Y0)
    obs = ~np.isnan(Ym)
    # the responses' standardisation uses their observed entries
    info = model._fitted.info
    np.testing.assert_allclose(info["mean"], [Ym[obs[:, t], t].mean() for t in range(2)], rtol=1e-12)
    np.testing.assert_allclose(info["scale"], [Ym[obs[:, t], t].std() for t in range(2)], rtol=1e-12)
    full = MixtureOfExpertsRegressor(2, gate="gaussian", random_state=0).fit(X, Y)
    assert full.score(X, Y) - model.score(X, Y) < 0.05


def test_without_nan_the_missing_values_em_is_the_complete_data_em():
    # the same start (k-means), run by the complete-data engine and by the EM of mixexp._missing
    X, _, Y, _ = _data(200, np.random.default_rng(5), 0.0)
    kw = dict(gate="gaussian", init_params="kmeans", n_init=1, max_iter=8, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = MixtureOfExpertsRegressor(2, **kw).fit(X, Y)
        em = MixtureOfExpertsRegressor(2, **kw)
        em._fit_missing(X, Y, None, em.get_params(deep=False), None, FitSources(), None, None)
    np.testing.assert_allclose(em.lower_bounds_, full.lower_bounds_, rtol=1e-10)
    for name in ["gate_means_", "gate_covariances_", "expert_coef_", "noise_variance_"]:
        np.testing.assert_allclose(getattr(em, name), getattr(full, name), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(
    "model, words",
    [
        (MixtureOfExpertsRegressor(2), "gate='softmax'"),
        (MixtureOfExpertsRegressor(2, gate="gaussian", expert="student_t"), "expert='student_t'"),
        (MixtureOfExpertsRegressor(2, gate="gaussian", top_k=1), "top_k=1"),
    ],
)
def test_models_that_cannot_take_missing_responses_refuse_them_naming_the_ways_out(model, words):
    X, _, _, Ym = _data(100, np.random.default_rng(6), 0.2)
    with pytest.raises(ValueError, match=r"Input y contains NaN") as info:
        model.fit(X, Ym)
    message = str(info.value)
    assert words in message and "gate='gaussian' with expert='linear'" in message
    assert "drop the rows" in message


def test_a_one_dimensional_y_with_nan_is_refused_and_the_state_kept():
    X, _, Y, _ = _data(100, np.random.default_rng(7), 0.0)
    model = MixtureOfExpertsRegressor(2, gate="gaussian", random_state=0).fit(X, Y[:, 0])
    coef = model.expert_coef_.copy()
    y = Y[:, 0].copy()
    y[3] = np.nan
    with pytest.raises(ValueError, match=r"NaN in a 1-D y.*drop those rows.*2-D array"):
        model.fit(X, y)
    np.testing.assert_array_equal(model.expert_coef_, coef)
    # the same rows as a 2-D y of one column: rows of x alone
    two_d = MixtureOfExpertsRegressor(2, gate="gaussian", random_state=0).fit(X, y[:, None])
    assert np.all(np.diff(two_d.lower_bounds_) >= -1e-10 * np.abs(two_d.lower_bounds_[1:]))
