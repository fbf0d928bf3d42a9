"""Missing values in X (and in a 2-D y): EM on one joint Gaussian of ``(x, y)`` per expert.

With a Gaussian gate and linear-Gaussian experts (both components ``takes_missing``),
expert ``k`` of a flat mixture is the joint Gaussian

    x ~ N(m_k, S_k),  y | x ~ N(B_k x + c_k, V_k)
    =>  (x, y) ~ N((m_k, B_k m_k + c_k), [[S_k, S_k B_k^T], [B_k S_k, B_k S_k B_k^T + V_k]]),

so EM handles missing coordinates of ``x`` and of a 2-D ``y`` exactly (Ghahramani & Jordan, 1994):

- E-step: a row's log term for expert ``k`` is ``log a_k`` plus the log density of its
  observed coordinates under that joint Gaussian (the missing ones marginalised);
- M-step: the components' own closed-form updates from expected sufficient statistics:
  the conditional mean ``x_hat`` of the row's missing ``x`` given its observed
  coordinates (and ``y``) under expert ``k``, and their conditional covariance ``C``,
  which enters ``E[[x, 1][x, 1]^T] = [x_hat, 1][x_hat, 1]^T + C``: the gate's Gaussian and
  the experts' Gram matrices (hence their expected residual sum of squares).  A missing
  response ``y_t`` enters the same way: ``E[y_t^2] = y_hat_t^2 + C_tt`` and
  ``E[x y_t] = x_hat y_hat_t + C_xt`` in the experts' ``yty`` and ``xty``.

Each row conditions on its own observed coordinates; the rows of a chunk are conditioned
at once by batched solves (:func:`_condition`), whatever their patterns.  A row with no observed ``x``
is weighted by the gate's weights ``a_k`` alone.  Prediction of a row with NaN mixes
``E_k[y | x_obs]`` by ``p(k | x_obs)``.

Everything here is in internal coordinates (standardised ``x`` with NaN kept, the
experts' standardised target); the complete-data path never comes here.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp

from ._engine import MIN_WEIGHT_FRACTION, converged
from .experts import EXPERTS
from .gates import GATES

_LOG_2PI = np.log(2.0 * np.pi)
# Rows per batch of conditionings: a few (rows, d + T, d + T) arrays per expert stay small
_CHUNK_ROWS = 2048


class MissingValuesError(ValueError):
    """NaN in X (or y) where the model or the method cannot take it (a ValueError)."""


def has_nan(X):
    """Whether dense or sparse ``X`` holds a NaN (a sum first: one pass when it does not)."""
    data = X.data if sp.issparse(X) else X
    return not np.isfinite(np.sum(data)) and bool(np.isnan(data).any())


# why a 1-D y with NaN is refused: its row would inform only the gate's model of X
ONE_D_Y = (
    "NaN in a 1-D y: a row without its response informs only the gate's model of X; drop those "
    "rows, or pass y as a 2-D array (n_samples, n_targets) to fit them as rows of x alone"
)


def nan_target(y):
    """Whether a validated ``y`` is a float array holding a NaN (a missing response)."""
    y = np.asarray(y)
    return y.dtype.kind == "f" and has_nan(y)


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
    params = estimator.get_params(deep=False)
    if params.get("shared_features") is not None or params.get("tied_variance", False):
        return "shared_features or tied_variance (missing values take unconstrained experts)"
    if estimator.l1_ratio != 0.0:
        return f"l1_ratio={estimator.l1_ratio!r} (missing values take the ridge penalty only)"
    if getattr(estimator, "zero_inflation", False):
        return "zero_inflation=True (the point mass at 0 is not Gaussian)"
    return None


def nan_error(estimator, reason=None, where="X"):
    """The ValueError for NaN in ``where`` (``"X"`` or ``"y"``) that ``estimator`` cannot
    take: the component that refuses and the ways out."""
    reason = reason or missing_refusal(estimator) or "only fit, predict and score marginalise NaN"
    if where == "y":
        out = (
            "Either fit gate='gaussian' with expert='linear' and a 2-D y (a flat "
            "MixtureOfExpertsRegressor; see docs/missing.md), or drop the rows with missing responses."
        )
    else:
        out = (
            "Either fit gate='gaussian' with expert='linear' (a flat MixtureOfExpertsRegressor; "
            "see docs/missing.md), or impute X in a Pipeline (sklearn.impute.SimpleImputer or "
            "IterativeImputer before the estimator)."
        )
    return MissingValuesError(
        f"Input {where} contains NaN: {type(estimator).__name__} cannot marginalise missing values "
        f"here ({reason}). {out}"
    )


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


def _condition(U, obs, mean, cov):
    """For rows ``U`` ``(m, D)`` of a Gaussian ``N(mean, cov)`` observed where ``obs``
    ``(m, D)``: each row's log density of its observed coordinates ``(m,)``, the row with
    the others filled by their conditional means ``(m, D)``, and their conditional
    covariance, zero on the observed rows and columns ``(m, D, D)``.

    All rows at once: a row's ``cov`` with its unobserved rows and columns replaced by
    those of the identity, ``M``, has ``M^-1 = C_oo^-1`` on the observed block and the
    identity elsewhere, and the same log-determinant as ``C_oo``.
    """
    both = obs[:, :, None] & obs[:, None, :]
    M = np.where(both, cov, 0.0)
    M[:, np.arange(cov.shape[0]), np.arange(cov.shape[0])] += ~obs
    resid = np.where(obs, U - mean, 0.0)
    rhs = np.concatenate([resid[:, :, None], np.where(obs[:, :, None], cov, 0.0)], axis=2)
    sol = np.linalg.solve(M, rhs)  # C_oo^-1 [u - mu, C_o.] on the observed rows, 0 elsewhere
    log_det = 2.0 * np.sum(np.log(np.diagonal(np.linalg.cholesky(M), axis1=1, axis2=2)), axis=1)
    logdens = -0.5 * (np.sum(resid * sol[:, :, 0], axis=1) + log_det + obs.sum(axis=1) * _LOG_2PI)
    filled = mean + sol[:, :, 0] @ cov  # u on the observed coordinates (cov is symmetric)
    cond = cov - np.matmul(cov, sol[:, :, 1:])
    cond[obs[:, :, None] | obs[:, None, :]] = 0.0
    return logdens, filled, cond


def _chunks(n):
    return [slice(a, min(a + _CHUNK_ROWS, n)) for a in range(0, n, _CHUNK_ROWS)]


def pass_stats(Z, Y, sw, params, covariance_type):
    """One pass over the rows at ``params``: the weighted observed-data log-likelihood
    ``loglik`` and the sums the gate's and the experts' ``update`` take (``gate``,
    ``experts``), expected under the missing coordinates' conditional laws given each row's
    observed ones: the conditional covariance adds to ``[x, 1][x, 1]^T`` (and, for missing
    responses, to ``y^2`` and ``x y``)."""
    n, d = Z.shape
    T = Y.shape[1]
    gate_params, expert_params = params["gate"], params["experts"]
    L = gate_params["means"].shape[0]
    joints = [_joint(gate_params, expert_params, k, covariance_type) for k in range(L)]
    log_weights = gate_params["log_weights"].reshape(-1)
    grams, xty = np.zeros((L, d + 1, d + 1)), np.zeros((d + 1, L, T))
    yty, mass, loglik = np.zeros((L, T)), np.zeros(L + 1), 0.0
    for rows in _chunks(n):
        U = np.concatenate([Z[rows], Y[rows]], axis=1)
        obs = ~np.isnan(U)
        parts = [_condition(U, obs, mean, cov) for mean, cov in joints]
        logs = np.column_stack([part[0] for part in parts]) + log_weights
        norm = logsumexp(logs, axis=1, keepdims=True)
        loglik += sw[rows] @ norm[:, 0]
        W = np.exp(logs - norm) * sw[rows, None]
        mass += np.concatenate([[W.sum()], W.sum(axis=0)])
        lost = ~obs[:, d:]
        Yo = np.where(lost, 0.0, Y[rows])
        yty += W.T @ (Yo * Yo)
        for k, (_, filled, cond) in enumerate(parts):
            Xa = np.concatenate([filled[:, :d], np.ones((filled.shape[0], 1))], axis=1)
            WXa = Xa * W[:, k, None]
            grams[k] += WXa.T @ Xa
            grams[k, :d, :d] += np.einsum("m,mij->ij", W[:, k], cond[:, :d, :d])
            xty[:, k] += WXa.T @ Yo
            if lost.any():
                # missing responses: E[y] and E[y^2] = E[y]^2 + Var, E[x y] = E[x] E[y] + Cov(x, y)
                Ym = np.where(lost, filled[:, d:], 0.0)
                yty[k] += W[:, k] @ (Ym * Ym + np.diagonal(cond[:, d:, d:], axis1=1, axis2=2))
                xty[:, k] += WXa.T @ Ym
                xty[:d, k] += np.einsum("m,mij->ij", W[:, k], cond[:, :d, d:])
    if covariance_type == "diag":
        diag = np.diagonal(grams[:, :-1, :-1], axis1=1, axis2=2)
        gate = {"mass": mass, "sum_x": grams[:, :-1, -1].copy(), "sum_xx": diag.copy()}
    else:
        gate = {"mass": mass, "grams": grams}
    return {"loglik": loglik, "mass": mass, "gate": gate, "experts": {"grams": grams, "xty": xty, "yty": yty}}


def objective(S, sw, gate, experts, params):
    """Mean per-sample penalised observed-data log-likelihood (internal coordinates)."""
    penalty = gate.penalty(params["gate"]) + experts.penalty(params["experts"])
    return (S["loglik"] - penalty) / sw.sum()


def m_step(S, sw, params, gate, experts):
    """The components' closed-form updates from the expected sums ``S`` (of a pass at
    ``params``): the new parameters and the leaves kept (too little weight)."""
    active = S["mass"] > MIN_WEIGHT_FRACTION * sw.sum()
    new_gate = gate.update(S["gate"], {}, params["gate"], active)[0]
    new_experts = experts.update(S["experts"], params["experts"], active[1:])[0]
    return {"gate": new_gate, "experts": new_experts}, np.flatnonzero(~active[1:]).tolist()


def run(Z, Y, sw, params, gate, experts, max_iter, tol):
    """EM with missing features from ``params``: ``(params, lower_bounds, converged,
    n_iter, frozen leaves)`` as :meth:`mixexp._engine.EMEngine.run` (the bounds in
    internal coordinates)."""
    cov_type = gate.covariance_type
    S = pass_stats(Z, Y, sw, params, cov_type)
    obj = objective(S, sw, gate, experts, params)
    if not np.isfinite(obj):
        raise FloatingPointError("the log-likelihood of the initial parameters is not finite")
    bounds, gained, frozen, done, n_iter = [], [obj], set(), False, 0
    for n_iter in range(1, max_iter + 1):
        new, kept = m_step(S, sw, params, gate, experts)
        frozen.update(kept)
        S_new = pass_stats(Z, Y, sw, new, cov_type)
        obj_new = objective(S_new, sw, gate, experts, new)
        if not np.isfinite(obj_new):
            bounds.append(gained[-1])
            break
        params, S = new, S_new
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
    logs, means, var = np.empty((n, L)), np.empty((n, L, T)), np.empty((n, L, T))
    log_weights = gate_params["log_weights"].reshape(-1)
    for rows in _chunks(n):
        U = np.concatenate([Z[rows], np.zeros((Z[rows].shape[0], T))], axis=1)
        obs = np.concatenate([~np.isnan(Z[rows]), np.zeros((U.shape[0], T), dtype=bool)], axis=1)
        for k in range(L):
            logdens, filled, cond = _condition(U, obs, *_joint(gate_params, expert_params, k, covariance_type))
            logs[rows, k] = log_weights[k] + logdens
            means[rows, k] = filled[:, d:]
            var[rows, k] = np.diagonal(cond, axis1=1, axis2=2)[:, d:]
    gates = np.exp(logs - logsumexp(logs, axis=1, keepdims=True))
    return gates, means, var
