"""Missing values in X: EM on one joint Gaussian of ``(x, y)`` per expert.

With a Gaussian gate and linear-Gaussian experts (both components ``takes_missing``),
expert ``k`` of a flat mixture is the joint Gaussian

    x ~ N(m_k, S_k),  y | x ~ N(B_k x + c_k, V_k)
    =>  (x, y) ~ N((m_k, B_k m_k + c_k), [[S_k, S_k B_k^T], [B_k S_k, B_k S_k B_k^T + V_k]]),

so EM handles missing coordinates of ``x`` exactly (Ghahramani & Jordan, 1994):

- E-step: a row's log term for expert ``k`` is ``log a_k`` plus the log density of its
  observed coordinates under that joint Gaussian (the missing ones marginalised);
- M-step: the components' own closed-form updates from expected sufficient statistics:
  the conditional mean ``x_hat`` of the row's missing ``x`` given its observed
  coordinates (and ``y``) under expert ``k``, and their conditional covariance ``C``,
  which enters ``E[[x, 1][x, 1]^T] = [x_hat, 1][x_hat, 1]^T + C``: the gate's Gaussian and
  the experts' Gram matrices (hence their expected residual sum of squares).

Rows sharing a pattern of missing coordinates share the conditioning matrices, so the
work is one small factorisation per pattern and expert.  A row with no observed ``x``
is weighted by the gate's weights ``a_k`` alone.  Prediction of a row with NaN mixes
``E_k[y | x_obs]`` by ``p(k | x_obs)``.

Everything here is in internal coordinates (standardised ``x`` with NaN kept, the
experts' standardised target); the complete-data path never comes here.
"""

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve
from scipy.special import logsumexp

from ._design import location_scale_from_moments
from ._engine import MIN_WEIGHT_FRACTION, converged
from .experts import EXPERTS
from .gates import GATES

_LOG_2PI = np.log(2.0 * np.pi)


class MissingValuesError(ValueError):
    """NaN in X where the model or the method cannot take it (a ValueError)."""


def has_nan(X):
    """Whether dense or sparse ``X`` holds a NaN (a sum first: one pass when it does not)."""
    data = X.data if sp.issparse(X) else X
    return not np.isfinite(np.sum(data)) and bool(np.isnan(data).any())


def missing_refusal(estimator):
    """Why ``estimator`` (its current parameters) cannot marginalise NaN in X, in words, or
    None when it can: a flat regressor with a gate and an expert family that both
    ``takes_missing``, both seeing every feature, ridge penalty only, no ``top_k``, no
    zero inflation."""
    gate = GATES.get(estimator.gate)
    expert = estimator.expert
    family = EXPERTS.get(estimator._task, {}).get(expert) if isinstance(expert, str) else None
    if gate is None or not gate.takes_missing:
        return f"gate={estimator.gate!r} has no model of X to marginalise missing values with"
    if family is None or not family.takes_missing:
        kind = estimator.expert if isinstance(estimator.expert, str) else type(estimator.expert).__name__
        return f"expert={kind!r} is not linear-Gaussian, so (x, y) is not jointly Gaussian"
    if not estimator._is_flat:
        return f"{type(estimator).__name__} is a tree; missing values are marginalised by a flat mixture"
    for name, value, default in [
        ("gate_features", estimator.gate_features, None),
        ("expert_features", estimator.expert_features, None),
        ("top_k", estimator.top_k, None),
    ]:
        if value is not default:
            return f"{name}={value!r}: the joint Gaussian needs every feature in the gate and the experts"
    if estimator.l1_ratio != 0.0:
        return f"l1_ratio={estimator.l1_ratio!r} (missing values take the ridge penalty only)"
    if getattr(estimator, "zero_inflation", False):
        return "zero_inflation=True (the point mass at 0 is not Gaussian)"
    return None


def nan_error(estimator, reason=None):
    """The ValueError for NaN in X that ``estimator`` cannot take: the component that
    refuses and the two ways out."""
    reason = reason or missing_refusal(estimator) or "only fit, predict and score marginalise NaN"
    return MissingValuesError(
        f"Input X contains NaN: {type(estimator).__name__} cannot marginalise missing values "
        f"here ({reason}). Either fit gate='gaussian' with expert='linear' (a flat "
        "MixtureOfExpertsRegressor; see docs/missing.md), or impute X in a Pipeline "
        "(sklearn.impute.SimpleImputer or IterativeImputer before the estimator)."
    )


def nan_location_scale(X, sw):
    """Weighted mean and standard deviation of each column over its observed entries
    (:func:`mixexp._design.weighted_location_scale`, NaN left out); a ValueError for a
    column with no observed entry of positive weight."""
    X = np.asarray(X, dtype=np.float64)
    observed = ~np.isnan(X)
    W = observed * sw[:, None]
    totals = W.sum(axis=0)
    if not np.all(totals > 0):
        empty = np.flatnonzero(~(totals > 0)).tolist()
        raise ValueError(f"X has no observed value (of positive weight) in the columns {empty}.")
    Xz = np.where(observed, X, 0.0)
    peak = np.max(np.abs(Xz), axis=0)
    safe = np.where(peak > 0, peak, 1.0)
    mean_s = np.sum(W * (Xz / safe), axis=0) / totals
    second = np.sum(W * (np.where(observed, Xz / safe - mean_s, 0.0)) ** 2, axis=0) / totals
    return location_scale_from_moments(safe, mean_s, second)


def _joint(gate_params, expert_params, leaf, covariance_type):
    """Mean ``(d + T,)`` and covariance ``(d + T, d + T)`` of ``(x, y)`` under ``leaf``."""
    m = gate_params["means"][leaf]
    S = gate_params["covariances"][leaf]
    if covariance_type == "diag":
        S = np.diag(S)
    coef = expert_params["coef"][leaf]
    B, c = coef[:, :-1], coef[:, -1]
    SBt = S @ B.T
    mean = np.concatenate([m, B @ m + c])
    cov = np.block([[S, SBt], [SBt.T, B @ SBt + np.diag(expert_params["var"][leaf])]])
    return mean, cov


def _patterns(Z):
    """The distinct patterns of observed features and, per pattern, its rows."""
    observed = ~np.isnan(Z)
    patterns, inverse = np.unique(observed, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(patterns.shape[0] + 1))
    return [(patterns[p], order[bounds[p] : bounds[p + 1]]) for p in range(patterns.shape[0])]


def _condition(mean, cov, obs, U):
    """For rows ``U`` (``(n, len(obs))``, the observed coordinates ``obs`` of the joint):
    the log density of ``U``, the conditional means of the other coordinates ``(n, m)``
    and their conditional covariance ``(m, m)``."""
    mis = ~obs
    n = U.shape[0]
    D = U - mean[obs]
    if obs.any():
        factor = cho_factor(cov[np.ix_(obs, obs)], lower=True)
        sol = cho_solve(factor, D.T).T  # C_oo^-1 (u - mu)
        log_det = 2.0 * np.sum(np.log(np.diag(factor[0])))
        logdens = -0.5 * (np.sum(D * sol, axis=1) + log_det + obs.sum() * _LOG_2PI)
        K = cov[np.ix_(mis, obs)]
        cond_mean = mean[mis] + sol @ K.T
        cond_cov = cov[np.ix_(mis, mis)] - K @ cho_solve(factor, K.T)
    else:
        logdens = np.zeros(n)
        cond_mean = np.broadcast_to(mean[mis], (n, mis.sum())).copy()
        cond_cov = cov[np.ix_(mis, mis)].copy()
    return logdens, cond_mean, cond_cov


def e_step(Z, Y, gate_params, expert_params, covariance_type):
    """Per row and leaf, the log terms ``log a_k + log p_k(x_obs, y)`` ``(n, L)``, the
    filled features ``x_hat`` ``(L, n, d)`` and, per pattern, the rows and every leaf's
    conditional covariance of the missing features ``[(observed mask, rows, [C_k])]``."""
    n, d = Z.shape
    L = gate_params["means"].shape[0]
    logs = np.empty((n, L))
    filled = np.empty((L, n, d))
    covs = []
    joints = [_joint(gate_params, expert_params, k, covariance_type) for k in range(L)]
    log_weights = gate_params["log_weights"].reshape(-1)
    for observed, rows in _patterns(Z):
        obs = np.concatenate([observed, np.ones(Y.shape[1], dtype=bool)])
        U = np.concatenate([Z[np.ix_(rows, observed)], Y[rows]], axis=1)
        per_leaf = []
        for k, (mean, cov) in enumerate(joints):
            logdens, cond_mean, cond_cov = _condition(mean, cov, obs, U)
            logs[rows, k] = log_weights[k] + logdens
            filled[k][np.ix_(rows, observed)] = Z[np.ix_(rows, observed)]
            filled[k][np.ix_(rows, ~observed)] = cond_mean
            per_leaf.append(cond_cov)
        covs.append((observed, rows, per_leaf))
    return logs, filled, covs


def expected_stats(W, Y, filled, covs, covariance_type):
    """The sums the gate's and the experts' ``update`` take, expected under the missing
    features' conditional laws: ``(gate sums, expert sums)``; ``W`` is ``(n, L)``
    posterior times sample weight."""
    L, n, d = filled.shape
    T = Y.shape[1]
    grams = np.empty((L, d + 1, d + 1))
    xty = np.empty((d + 1, L, T))
    for k in range(L):
        Xa = np.concatenate([filled[k], np.ones((n, 1))], axis=1)
        grams[k] = (Xa * W[:, k, None]).T @ Xa
        xty[:, k] = (Xa * W[:, k, None]).T @ Y
        for observed, rows, per_leaf in covs:
            mis = np.flatnonzero(~observed)
            grams[k][np.ix_(mis, mis)] += W[rows, k].sum() * per_leaf[k]
    mass = np.concatenate([[W.sum()], W.sum(axis=0)])
    if covariance_type == "diag":
        diag = np.diagonal(grams[:, :-1, :-1], axis1=1, axis2=2)
        gate = {"mass": mass, "sum_x": grams[:, :-1, -1], "sum_xx": diag.copy()}
    else:
        gate = {"mass": mass, "grams": grams}
    experts = {"grams": grams, "xty": xty, "yty": W.T @ (Y * Y)}
    return gate, experts


def objective(logs, sw, gate, experts, params):
    """Mean per-sample penalised observed-data log-likelihood (internal coordinates)."""
    loglik = logsumexp(logs, axis=1)
    penalty = gate.penalty(params["gate"]) + experts.penalty(params["experts"])
    return (sw @ loglik - penalty) / sw.sum()


def m_step(Z, Y, sw, params, gate, experts, estep):
    """The components' updates from the expected sums of the E-step ``estep`` (at
    ``params``): the new parameters and the leaves kept (too little weight)."""
    logs, filled, covs = estep
    post = np.exp(logs - logsumexp(logs, axis=1, keepdims=True))
    S_gate, S_experts = expected_stats(post * sw[:, None], Y, filled, covs, gate.covariance_type)
    active = S_gate["mass"] > MIN_WEIGHT_FRACTION * sw.sum()
    new_gate = gate.update(S_gate, {}, params["gate"], active)[0]
    new_experts = experts.update(S_experts, params["experts"], active[1:])[0]
    return {"gate": new_gate, "experts": new_experts}, np.flatnonzero(~active[1:]).tolist()


def run(Z, Y, sw, params, gate, experts, max_iter, tol):
    """EM with missing features from ``params``: ``(params, lower_bounds, converged,
    n_iter, frozen leaves)`` as :meth:`mixexp._engine.EMEngine.run` (the bounds in
    internal coordinates)."""
    cov_type = gate.covariance_type
    estep = e_step(Z, Y, params["gate"], params["experts"], cov_type)
    obj = objective(estep[0], sw, gate, experts, params)
    if not np.isfinite(obj):
        raise FloatingPointError("the log-likelihood of the initial parameters is not finite")
    bounds, gained, frozen, done, n_iter = [], [obj], set(), False, 0
    for n_iter in range(1, max_iter + 1):
        new, kept = m_step(Z, Y, sw, params, gate, experts, estep)
        frozen.update(kept)
        estep_new = e_step(Z, Y, new["gate"], new["experts"], cov_type)
        obj_new = objective(estep_new[0], sw, gate, experts, new)
        if not np.isfinite(obj_new):
            bounds.append(gained[-1])
            break
        params, estep = new, estep_new
        bounds.append(obj_new)
        gained.append(obj_new)
        if converged(gained, tol):
            done = True
            break
    return params, bounds, done, n_iter, sorted(frozen)


def observed_jacobian(Z, sw, x_scale):
    """The weighted mean over rows of ``-sum log scale`` over each row's observed features:
    what turns the log density of the observed standardised features into raw units."""
    logs = np.log(x_scale)
    return float(sw @ ((~np.isnan(Z)) @ -logs) / sw.sum())


def predict_moments(Z, gate_params, expert_params, covariance_type):
    """For rows of standardised features with NaN: the gate's ``p(k | x_obs)`` ``(n, L)``,
    each leaf's ``E_k[y | x_obs]`` and ``Var_k[y | x_obs]`` ``(n, L, T)`` (internal units)."""
    n, d = Z.shape
    L, T = expert_params["var"].shape
    logs = np.empty((n, L))
    means = np.empty((n, L, T))
    var = np.empty((n, L, T))
    log_weights = gate_params["log_weights"].reshape(-1)
    for k in range(L):
        mean, cov = _joint(gate_params, expert_params, k, covariance_type)
        for observed, rows in _patterns(Z):
            obs = np.concatenate([observed, np.zeros(T, dtype=bool)])
            logdens, cond_mean, cond_cov = _condition(mean, cov, obs, Z[np.ix_(rows, observed)])
            logs[rows, k] = log_weights[k] + logdens
            means[rows, k] = cond_mean[:, -T:]
            var[rows, k] = np.diag(cond_cov)[-T:]
    gates = np.exp(logs - logsumexp(logs, axis=1, keepdims=True))
    return gates, means, var
