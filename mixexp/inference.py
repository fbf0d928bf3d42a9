"""Standard errors of a fitted mixture: observed information, sandwich, summary table.

The observed information is minus the Hessian of the observed-data
log-likelihood ``l(theta) = sum_i w_i log p(y_i | x_i)`` at the fitted
parameters, computed exactly, row by row, with Louis's (1982) identity: with
``z`` the latent leaf and ``s_iz``, ``H_iz`` the score and Hessian of the
complete-data term ``log p(y_i, z | x_i)``,

    d2 log p(y_i | x_i) = E[H_iz | x_i, y_i] + Cov[s_iz | x_i, y_i].

Parameters, in the model's internal coordinates (standardised features and
targets): every softmax (the gate at each inner node, multinomial experts)
is parameterised relative to its first row, whose coefficients are fixed at 0
as flexmix does (its redundant reference class: only differences of rows are
identified); linear-Gaussian experts by their weights and the log of each
noise variance.  The covariance (the inverse information, or the sandwich
``I^-1 B I^-1`` with ``B = sum_i w_i g_i g_i^T`` of the row scores ``g_i``)
is then mapped to the units of the raw data by the delta method, here a
linear map per coefficient row.

The estimates are those of the fit, penalised or not; the information is the
log-likelihood's alone.  In a sparse fit (``l1_ratio > 0``) the coefficients
the penalty set to 0 are held there (Khalili & Chen 2007's oracle
standard errors for the selected ones): they get no standard error.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.stats import norm

from ._kernels import tree_posteriors
from ._linalg import weighted_grams

COV_TYPES = ("observed", "sandwich")
_CELLS_PER_CHUNK = 2_000_000  # rows x leaves x parameters held at once


@dataclass
class ParameterInference:
    """Estimates and their covariance, in the units of the raw data.

    Attributes
    ----------
    component, parameter : lists of str, one per parameter.
    estimate : ndarray (n_params,)
    cov : ndarray (n_params, n_params), NaN for parameters held fixed.
    cov_type : str
    n_nonzero : int, nonzero coefficients (intercepts and variances not counted).
    """

    component: list
    parameter: list
    estimate: np.ndarray
    cov: np.ndarray
    cov_type: str
    n_nonzero: int

    @property
    def std_error(self):
        return np.sqrt(np.diag(self.cov))


# -- the internal parameter vector ---------------------------------------------
class Layout:
    """The internal parameter vector ``theta`` of a fitted state, and its blocks.

    Blocks, in order: every inner node's gate (rows 1.. minus row 0, each of
    ``p_gate`` entries), then every leaf's expert: Gaussian, per target, the
    ``p_expert`` weights and the log-variance; multinomial, rows 1.. minus row
    0.  The last entry of every coefficient row is the intercept.
    """

    def __init__(self, state):
        if state.gate_name != "softmax":
            raise ValueError(
                f"summary() needs a softmax gate; this model was fitted with gate={state.gate_name!r}."
            )
        if state.expert_kind != "linear":
            raise ValueError(
                "summary() is implemented for expert='linear' (linear-Gaussian or multinomial "
                f"experts); this model has expert={state.expert_kind!r}."
            )
        self.state = state
        params = state.params
        self.tree = t = state.tree
        self.gaussian = "var" in params["experts"]
        gcoef, ecoef = params["gate"]["coef"], params["experts"]["coef"]
        self.p_gate, self.p_expert = gcoef.shape[2], ecoef.shape[2]
        self.n_out = ecoef.shape[1]  # targets, or classes
        b = t.branching
        self.gate_size = t.n_inner * (b - 1) * self.p_gate
        per_leaf = self.n_out * (self.p_expert + 1) if self.gaussian else (self.n_out - 1) * self.p_expert
        self.leaf_size = per_leaf
        self.size = self.gate_size + t.n_leaves * per_leaf
        # path[l, j]: the child of inner node j on the way to leaf l, or -1
        self.path = np.full((t.n_leaves, t.n_inner), -1)
        for leaf in range(t.n_leaves):
            node = t.n_inner + leaf
            while node > 0:
                parent = (node - 1) // b
                self.path[leaf, parent] = (node - 1) % b
                node = parent

    def gate_slice(self, j):
        size = (self.tree.branching - 1) * self.p_gate
        return slice(j * size, (j + 1) * size)

    def leaf_slice(self, leaf):
        start = self.gate_size + leaf * self.leaf_size
        return slice(start, start + self.leaf_size)

    def pack(self, params):
        gcoef = params["gate"]["coef"]
        parts = [(gcoef[:, 1:] - gcoef[:, :1]).ravel()]
        ecoef = params["experts"]["coef"]
        if self.gaussian:
            eta = np.log(params["experts"]["var"])[:, :, None]
            parts.append(np.concatenate([ecoef, eta], axis=2).ravel())
        else:
            parts.append((ecoef[:, 1:] - ecoef[:, :1]).ravel())
        return np.concatenate(parts)

    def unpack(self, theta, params):
        """Parameters of the engine with ``theta`` (reference rows 0)."""
        t, pg, pe = self.tree, self.p_gate, self.p_expert
        gate = dict(params["gate"])
        gcoef = np.zeros_like(gate["coef"])
        gcoef[:, 1:] = theta[: self.gate_size].reshape(t.n_inner, t.branching - 1, pg)
        gate["coef"] = gcoef
        experts = dict(params["experts"])
        rest = theta[self.gate_size :].reshape(t.n_leaves, self.n_out, -1) if self.gaussian else None
        if self.gaussian:
            experts["coef"] = rest[:, :, :pe].copy()
            experts["var"] = np.exp(rest[:, :, pe])
        else:
            ecoef = np.zeros_like(experts["coef"])
            ecoef[:, 1:] = theta[self.gate_size :].reshape(t.n_leaves, self.n_out - 1, pe)
            experts["coef"] = ecoef
        return {"gate": gate, "experts": experts}

    def fixed(self):
        """Entries of ``theta`` a sparse fit holds at 0 (all False without an L1 penalty)."""
        fixed = np.zeros(self.size, dtype=bool)
        params, state = self.state.params, self.state
        if getattr(state.gate, "l1_ratio", 0.0) > 0:
            # a feature no row of a softmax uses: its differences are 0 and held there
            unused = np.all(params["gate"]["coef"] == 0, axis=1)  # (n_inner, p)
            unused[:, -1] = False
            fixed[: self.gate_size] = np.repeat(unused[:, None, :], self.tree.branching - 1, axis=1).ravel()
        if getattr(state.experts, "l1_ratio", 0.0) > 0:
            ecoef = params["experts"]["coef"]
            if self.gaussian:
                zero = ecoef == 0
                zero[:, :, -1] = False
                zero = np.concatenate([zero, np.zeros(zero.shape[:2] + (1,), dtype=bool)], axis=2)
            else:
                unused = np.all(ecoef == 0, axis=1)
                unused[:, -1] = False
                zero = np.repeat(unused[:, None, :], self.n_out - 1, axis=1)
            fixed[self.gate_size :] = zero.ravel()
        return fixed


# -- Louis's identity, chunk by chunk ------------------------------------------
def _dense(A):
    return A.toarray() if sp.issparse(A) else np.asarray(A)


def _softmax_block(probs, sw_post, X, onehot=None):
    """Scores (if ``onehot``) and the expected complete Hessian of a softmax relative to row 0.

    probs : (n, k); sw_post : (n,) weights; X : (n, p).
    Returns the Hessian block ``((k-1) p, (k-1) p)`` summed over rows.
    """
    n, k = probs.shape
    q = probs[:, 1:]
    m = k - 1
    W = np.empty((n, m * m))
    for c in range(m):
        for d in range(m):
            W[:, c * m + d] = sw_post * (q[:, c] * (c == d) - q[:, c] * q[:, d])
    grams = weighted_grams(X, W).reshape(m, m, X.shape[1], X.shape[1])
    return -grams.transpose(0, 2, 1, 3).reshape(m * X.shape[1], m * X.shape[1])


def _chunk_information(layout, params, Xg, Xe, target, sw):
    """``(Hexp, cov_term, meat, score, loglik)`` of one chunk of rows (internal units)."""
    t, state = layout.tree, layout.state
    b = t.branching
    Xg, Xe = _dense(Xg), _dense(Xe)
    n = Xg.shape[0]
    log_gate = state.gate.scores(Xg, params["gate"])
    logdens, ctx = state.experts.scores(Xe, target, params["experts"])
    node_post = np.empty((n, t.n_nodes))
    loglik = np.empty(n)
    tree_posteriors(log_gate, logdens, b, node_post, loglik)
    r = node_post[:, t.n_inner :]
    S = np.zeros((n, t.n_leaves, layout.size))
    H = np.zeros((layout.size, layout.size))
    pi = np.exp(log_gate).reshape(n, t.n_inner, b)
    pe = layout.p_expert
    for j in range(t.n_inner):
        block = layout.gate_slice(j)
        H[block, block] = _softmax_block(pi[:, j], sw * node_post[:, j], Xg)
        for leaf in np.flatnonzero(layout.path[:, j] >= 0):
            e = -pi[:, j, 1:]
            c = layout.path[leaf, j]
            if c > 0:
                e[:, c - 1] += 1.0
            S[:, leaf, block] = (e[:, :, None] * Xg[:, None, :]).reshape(n, -1)
    experts = params["experts"]
    for leaf in range(t.n_leaves):
        block = layout.leaf_slice(leaf)
        a = sw * r[:, leaf]
        if layout.gaussian:
            for out in range(layout.n_out):
                v = experts["var"][leaf, out]
                res = target[:, out] - Xe @ experts["coef"][leaf, out]
                o = block.start + out * (pe + 1)
                beta, eta = slice(o, o + pe), o + pe
                S[:, leaf, beta] = (res / v)[:, None] * Xe
                S[:, leaf, eta] = -0.5 + res**2 / (2.0 * v)
                H[beta, beta] = -weighted_grams(Xe, (a / v)[:, None])[0]
                H[beta, eta] = H[eta, beta] = -(a * res / v) @ Xe
                H[eta, eta] = -np.sum(a * res**2) / (2.0 * v)
        else:
            k = layout.n_out
            probs = ctx.reshape(n, t.n_leaves, k)[:, leaf]  # the experts' class probabilities
            H[block, block] = _softmax_block(probs, a, Xe)
            e = -probs[:, 1:]
            hit = target > 0
            e[hit, target[hit] - 1] += 1.0
            S[:, leaf, block] = (e[:, :, None] * Xe[:, None, :]).reshape(n, -1)
    g = np.einsum("nl,nlp->np", r, S)
    Z = (S * np.sqrt(sw[:, None] * r)[:, :, None]).reshape(-1, layout.size)
    G = g * np.sqrt(sw)[:, None]
    meat = G.T @ G
    return H, Z.T @ Z, meat, sw @ g, float(sw @ loglik)


def observed_information(layout, params, design):
    """Observed information, sandwich meat, total score and log-likelihood (internal units).

    Returns
    -------
    info : ndarray (P, P), ``-d2 l / dtheta2``.
    meat : ndarray (P, P), ``sum_i w_i g_i g_i^T``.
    score : ndarray (P,), ``dl / dtheta`` (about 0 at an unpenalised maximum).
    loglik : float, ``l(theta)`` in internal units.
    """
    rows = max(1, _CELLS_PER_CHUNK // max(1, layout.tree.n_leaves * layout.size))
    P = layout.size
    info, meat, score, loglik = np.zeros((P, P)), np.zeros((P, P)), np.zeros(P), 0.0
    for start in range(0, design.n_rows, rows):
        s = slice(start, min(start + rows, design.n_rows))
        Xg, Xe, target, sw = design.rows(s)
        H, cov_term, m, g, ll = _chunk_information(layout, params, Xg, Xe, target, sw)
        # -(E[H] + E[s s^T] - g g^T): Louis's identity, summed over the rows
        info -= H + cov_term - m
        meat += m
        score += g
        loglik += ll
    return info, meat, score, loglik


# -- original units -------------------------------------------------------------
def _row_map(coords, y_scale=1.0):
    """Linear map of one internal row ``[w_std, w_1]`` to raw ``[intercept, coef...]``."""
    p = coords.scale.shape[0] + 1
    M = np.zeros((p, p))
    M[0, :-1] = -coords.mean / coords.scale
    M[0, -1] = 1.0
    M[1:, :-1] = np.diag(1.0 / coords.scale)
    return M * y_scale


def raw_units(layout, feature_names):
    """``(M, offset, component, parameter)``: raw estimates are ``M @ theta + offset``."""
    state, t = layout.state, layout.tree
    P = layout.size
    M, offset = np.zeros((P, P)), np.zeros(P)
    component, parameter = [], []

    def names(coords):
        cols = np.arange(coords.n_features) if coords.columns is None else coords.columns
        return ["(intercept)", *[str(feature_names[c]) for c in cols]]

    gate_coords = state.coordinates("gate")
    Mg, gate_names = _row_map(gate_coords), names(gate_coords)
    pos = 0
    for j in range(t.n_inner):
        for c in range(1, t.branching):
            M[pos : pos + layout.p_gate, pos : pos + layout.p_gate] = Mg
            label = f"gate: expert {c} vs 0" if t.n_inner == 1 else f"gate node {j}: child {c} vs 0"
            component += [label] * layout.p_gate
            parameter += gate_names
            pos += layout.p_gate
    coords = state.coordinates("experts")
    expert_names, pe, info = names(coords), layout.p_expert, state.info
    for leaf in range(t.n_leaves):
        if layout.gaussian:
            for out in range(layout.n_out):
                ys = info["scale"][out]
                M[pos : pos + pe, pos : pos + pe] = _row_map(coords, ys)
                offset[pos] = info["mean"][out]
                M[pos + pe, pos + pe] = 1.0
                offset[pos + pe] = 2.0 * np.log(ys)
                label = f"expert {leaf}" + (f", target {out}" if layout.n_out > 1 else "")
                component += [label] * (pe + 1)
                parameter += [*expert_names, "log_noise_variance"]
                pos += pe + 1
        else:
            classes = info["classes"]
            for c in range(1, layout.n_out):
                M[pos : pos + pe, pos : pos + pe] = _row_map(coords)
                component += [f"expert {leaf}: class {classes[c]} vs {classes[0]}"] * pe
                parameter += expert_names
                pos += pe
    return M, offset, component, parameter


def _invert(info, what):
    vals, vecs = np.linalg.eigh(info)
    if not vals.size:
        return info
    if not vals[0] > 1e-12 * max(vals[-1], 0.0):
        warnings.warn(
            f"The {what} is not positive definite (smallest eigenvalue {vals[0]:.3g}, largest "
            f"{vals[-1]:.3g}): some parameters are not identified by the data (an expert with "
            "almost no weight, separable classes, a constant column) or the fit is not a "
            "maximum. Their standard errors come from a pseudo-inverse and are not reliable.",
            RuntimeWarning,
        )
        keep = vals > 1e-12 * max(vals[-1], 0.0)
        return (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T
    return (vecs / vals) @ vecs.T


def parameter_inference(estimator, X, y, sample_weight=None, cov_type="observed"):
    """Estimates and covariance of every gate and expert parameter, in raw units.

    Parameters
    ----------
    estimator : a fitted mixexp estimator with a softmax gate and linear experts.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The data the information is computed on (usually the training data).
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    sample_weight : array-like of shape (n_samples,), default=None
        Frequency weights of the log-likelihood.
    cov_type : {"observed", "sandwich"}, default="observed"
        ``"observed"``: the inverse observed information; ``"sandwich"``: the
        robust ``I^-1 B I^-1`` (Huber-White), valid when the model is
        misspecified.

    Returns
    -------
    ParameterInference
    """
    from sklearn.utils.validation import _check_sample_weight

    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {list(COV_TYPES)}, got {cov_type!r}.")
    design, state = estimator._design(X, y)
    layout = Layout(state)
    if sample_weight is not None:
        design.sw = _check_sample_weight(sample_weight, design.Xa, dtype=np.float64, ensure_non_negative=True)
    info, meat, _, _ = observed_information(layout, state.params, design)
    free = ~layout.fixed()
    cov = np.full((layout.size, layout.size), np.nan)
    inv = _invert(info[np.ix_(free, free)], "observed information")
    if cov_type == "sandwich":
        inv = inv @ meat[np.ix_(free, free)] @ inv
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = [f"x{i}" for i in range(estimator.n_features_in_)]
    M, offset, component, parameter = raw_units(layout, names)
    estimate = M @ layout.pack(state.params) + offset
    Mf = M[:, free]
    cov = Mf @ inv @ Mf.T
    held = np.abs(M[:, ~free]).sum(axis=1) > 0
    cov[held, :] = np.nan
    cov[:, held] = np.nan
    coefficient = np.array([p not in ("(intercept)", "log_noise_variance") for p in parameter])
    n_nonzero = int(np.count_nonzero(estimate[coefficient]))
    return ParameterInference(component, parameter, estimate, cov, cov_type, n_nonzero)


def summary_table(result):
    """A table of estimate, standard error, z and two-sided p-value per parameter.

    A pandas DataFrame when pandas is installed (``attrs``: ``cov_type`` and
    ``n_nonzero``), else a numpy structured array with the same columns.
    """
    se = result.std_error
    with np.errstate(divide="ignore", invalid="ignore"):
        z = result.estimate / se
    p_value = 2.0 * norm.sf(np.abs(z))
    columns = {
        "component": result.component,
        "parameter": result.parameter,
        "estimate": result.estimate,
        "std_error": se,
        "z": z,
        "p_value": p_value,
    }
    try:
        import pandas as pd
    except ImportError:
        width = max(len(s) for s in result.component + result.parameter)
        dtype = [("component", f"U{width}"), ("parameter", f"U{width}")] + [
            (name, "f8") for name in ("estimate", "std_error", "z", "p_value")
        ]
        table = np.empty(len(result.component), dtype=dtype)
        for name, values in columns.items():
            table[name] = values
        return table
    table = pd.DataFrame(columns)
    table.attrs.update(cov_type=result.cov_type, n_nonzero=result.n_nonzero)
    return table
