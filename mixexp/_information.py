"""The observed information of a fitted mixture and the standard errors built on it: the
implementation behind :mod:`mixexp.inference` (see its docstring for the method).
"""


import copy
import warnings
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from scipy.stats import norm

from ._inference_parts import Labels
from ._numerics.estep import tree_posteriors

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

    ``theta`` is the gate's inference vector (:meth:`mixexp.gates.Gate.inference_vector`,
    ``gate_size`` entries) followed by every leaf's expert vector
    (:meth:`mixexp.experts.ExpertComponent.inference_vector`, ``leaf_size`` entries
    per leaf, leaf-major).  What each entry is, and its map to raw units, the
    components declare (:meth:`labels`).
    """

    def __init__(self, state):
        gate, experts = state.gate, state.experts
        gate.check_inference()
        experts.check_inference()
        if gate.uses_experts:  # a gate that declares inference must not depend on the experts
            raise ValueError(
                f"summary() cannot give standard errors for gate={gate.name!r}: its log terms "
                "depend on the experts' parameters."
            )
        self.state = state
        self.tree = t = state.tree
        params = state.params
        self.gate_size = gate.inference_vector(params["gate"]).shape[0]
        self.leaf_size = experts.inference_vector(params["experts"]).shape[1]
        self.size = self.gate_size + t.n_leaves * self.leaf_size
        # path[l, e] = 1 when edge e (the edge into node e + 1) is on leaf l's path
        self.path = t.leaf_to_subtree[:, 1:]

    def leaf_slice(self, leaf):
        start = self.gate_size + leaf * self.leaf_size
        return slice(start, start + self.leaf_size)

    def pack(self, params):
        state = self.state
        return np.concatenate([
            state.gate.inference_vector(params["gate"]),
            state.experts.inference_vector(params["experts"]).ravel(),
        ])

    def unpack(self, theta, params):
        """Parameters of the engine with ``theta``."""
        state, g = self.state, self.gate_size
        return {
            "gate": state.gate.from_inference_vector(theta[:g], params["gate"]),
            "experts": state.experts.from_inference_vector(
                np.asarray(theta[g:]).reshape(self.tree.n_leaves, self.leaf_size), params["experts"]
            ),
        }

    def fixed(self):
        """Entries of ``theta`` the components hold at their values (a sparse fit's zeros, a
        parameter on a bound; all False otherwise)."""
        state, params = self.state, self.state.params
        return np.concatenate([
            state.gate.inference_fixed(params["gate"]),
            state.experts.inference_fixed(params["experts"]).ravel(),
        ])

    def reduction(self):
        """``A`` ``(P, Q)``: ``theta = A phi`` with ``phi`` the free parameters of a constrained
        model (entries the experts tie, :meth:`mixexp.experts.ExpertComponent.inference_ties`,
        are one); the identity without constraints."""
        state = self.state
        ties = state.experts.inference_ties(state.params["experts"]).ravel()
        _, expert_index = np.unique(ties, return_inverse=True)
        index = np.concatenate([np.arange(self.gate_size), self.gate_size + expert_index.ravel()])
        A = np.zeros((self.size, index.max() + 1 if index.size else 0))
        A[np.arange(self.size), index] = 1.0
        return A

    def labels(self, feature_names, unique=True):
        """The :class:`mixexp._inference_parts.Labels` of ``theta`` (names, map to raw units);
        ``unique``: a parameter shared by every expert once (as ``summary`` reports it), else
        once per expert (a map of full rank)."""
        state, params = self.state, self.state.params
        labels = Labels.concat([
            state.gate.inference_labels(params["gate"], state.coordinates("gate"), feature_names),
            state.experts.inference_labels(
                params["experts"], state.coordinates("experts"), state.info, feature_names
            ),
        ])
        return labels.unique() if unique else labels


# -- Louis's identity, chunk by chunk ------------------------------------------
def _dense(A):
    return A.toarray() if sp.issparse(A) else np.asarray(A)


def _louis(layout, params, Xg, D, log_gate, unit_logdens, unit_scores, expert_hessian, unit_w, row_weights):
    """Louis's identity for ``sum_u w_u log sum_l exp(a_ul)``, ``a_ul`` the gate's log terms
    on leaf l's path plus ``unit_logdens[u, l]``: its Hessian ``E[H_c] + Cov[s_c]`` summed
    over the units, each unit's expected score ``(n, P)`` and log-likelihood ``(n,)``.

    ``D``: the gate's edge scores (or None), ``unit_scores`` ``(n, n_leaves, p_leaf)`` the
    derivatives of ``unit_logdens``, ``expert_hessian(W)`` their Hessians weighted by the
    rows' leaf weights ``W``, ``row_weights(node_post)`` the rows' node weights.
    """
    t = layout.tree
    n = log_gate.shape[0]
    node_post = np.empty((n, t.n_nodes))
    loglik = np.empty(n)
    tree_posteriors(log_gate, unit_logdens, t.branching, node_post, loglik, False)
    r = node_post[:, t.n_inner :]
    # S[u, l]: the complete-data score of unit u and leaf l; H: sum_u w_u E[complete Hessian]
    S = np.zeros((n, t.n_leaves, layout.size))
    H = np.zeros((layout.size, layout.size))
    g = layout.gate_size
    if g:
        S[:, :, :g] = np.einsum("le,nep->nlp", layout.path, D)
        H[:g, :g] = layout.state.gate.inference_hessian(Xg, params["gate"], node_post * unit_w[:, None])
    hessians = expert_hessian(row_weights(node_post)[:, t.n_inner :])
    for leaf in range(t.n_leaves):
        block = layout.leaf_slice(leaf)
        S[:, leaf, block] = unit_scores[:, leaf]
        H[block, block] = hessians[leaf]
    score = np.einsum("nl,nlp->np", r, S)
    Z = (S * np.sqrt(unit_w[:, None] * r)[:, :, None]).reshape(-1, layout.size)
    G = score * np.sqrt(unit_w)[:, None]
    # E[H] + E[s s^T] - E[s] E[s]^T
    return H + Z.T @ Z - G.T @ G, score, loglik


def _chunk_information(layout, params, design, s):
    """``(hessian, meat, score, loglik)`` of the chunk ``s`` of rows (internal units).

    The unit of Louis's identity is the E-step's: a row, or with grouped rows a group,
    whose complete-data score under leaf ``l`` is the gate's score at the group's
    features plus the sum of its rows' expert scores times their sample weights (one
    latent leaf per group); the rows' sample weights are then inside the groups, the
    groups' own weights (:attr:`~mixexp._groups.GroupedDesign.gate_sw`) outside.
    Censored rows' log-densities are their intervals' log-probabilities (the family's
    ``log_cdf``/``log_sf``); a truncated row's log-likelihood less the log of the mixture's
    probability of its interval, ``log sum_l g_l P_l``, whose Hessian is Louis's identity
    again, with ``log P_l`` as the leaves' terms.
    """
    state = layout.state
    gate, experts = state.gate, state.experts
    Xg, Xe, target, sw = design.rows(s)
    unit_w = design.gate_rows(s)[1]
    Xg, Xe = _dense(Xg), _dense(Xe)
    pe = params["experts"]
    log_gate = gate.scores(Xg, params["gate"])
    logdens, ctx = experts.scores(Xe, target, pe)
    D = gate.inference_edge_scores(Xg, params["gate"]) if layout.gate_size else None
    scores = experts.inference_scores(Xe, target, pe)  # (rows, n_leaves, q)
    n = Xg.shape[0]
    unit_scores = design.unit_logdens(scores.reshape(scores.shape[0], -1), sw, s)
    unit_scores = unit_scores.reshape(n, scores.shape[1], -1)
    hess, score, loglik = _louis(
        layout, params, Xg, D, log_gate, design.unit_logdens(logdens, sw, s), unit_scores,
        lambda W: experts.inference_hessian(Xe, target, pe, W),
        unit_w, lambda node_post: design.node_weights(node_post, sw, s)[1],
    )
    log_kept = experts.truncation_log_prob(ctx)
    if log_kept is not None:  # truncated rows (never grouped): minus log sum_l g_l P_l
        hess_t, score_t, loglik_t = _louis(
            layout, params, Xg, D, log_gate, log_kept, experts.inference_truncation_scores(Xe, target, pe),
            lambda W: experts.inference_truncation_hessian(Xe, target, pe, W),
            unit_w, lambda node_post: node_post * sw[:, None],
        )
        hess, score, loglik = hess - hess_t, score - score_t, loglik - loglik_t
    G = score * np.sqrt(unit_w)[:, None]
    return hess, G.T @ G, unit_w @ score, float(unit_w @ loglik)


def observed_information(layout, params, design):
    """Observed information, sandwich meat, total score and log-likelihood (internal units).

    With grouped rows (:class:`~mixexp._groups.GroupedDesign`) the independent units
    are the groups: the score of a group is the sum of its rows' (each leaf's score of
    the group's rows summed before the posterior weighs them), and the meat sums the
    groups' outer products.

    Returns
    -------
    info : ndarray (P, P), ``-d2 l / dtheta2``.
    meat : ndarray (P, P), ``sum_u w_u g_u g_u^T`` over the units (rows, or groups).
    score : ndarray (P,), ``dl / dtheta`` (about 0 at an unpenalised maximum).
    loglik : float, ``l(theta)`` in internal units (with a gate that models x, of ``(x, y)``).
    """
    t = layout.tree
    cells = max(1, t.n_leaves * layout.size, t.n_inner * t.branching * layout.gate_size)
    chunked = copy.copy(design)  # chunks of whole groups, of rows x cells bounded
    chunked.chunk_rows = max(1, _CELLS_PER_CHUNK // cells)
    P = layout.size
    info, meat, score, loglik = np.zeros((P, P)), np.zeros((P, P)), np.zeros(P), 0.0
    for s in chunked.chunks():
        hess, m, g, ll = _chunk_information(layout, params, chunked, s)
        info -= hess  # Louis's identity, summed over the units
        meat += m
        score += g
        loglik += ll
    return info, meat, score, loglik


# -- original units -------------------------------------------------------------
def raw_units(layout, feature_names):
    """``(M, offset, component, parameter)``: raw estimates are ``M @ theta + offset``."""
    labels = layout.labels(feature_names)
    return labels.M, labels.offset, labels.component, labels.parameter


def _raw_estimate(M, theta, offset):
    """``M @ theta + offset`` where an infinite entry of ``theta`` (a parameter held on the
    boundary, e.g. a zero-inflation of 0) reaches only the rows that use it."""
    finite = np.isfinite(theta)
    estimate = M[:, finite] @ theta[finite] + offset
    for j in np.flatnonzero(~finite):
        rows = M[:, j] != 0
        estimate[rows] = estimate[rows] + M[rows, j] * theta[j]
    return estimate


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


def parameter_inference(estimator, X, y, sample_weight=None, cov_type="observed", exposure=None, *,
                        groups=None, y_upper=None, truncation=None):
    """Estimates and covariance of every gate and expert parameter, in raw units.

    Parameters
    ----------
    estimator : a fitted mixexp estimator whose gate and experts support inference
        (``gate="softmax"`` or ``"gaussian"``; every built-in expert family).
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The data the information is computed on (usually the training data).
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    sample_weight : array-like of shape (n_samples,), default=None
        Frequency weights of the log-likelihood.
    cov_type : {"observed", "sandwich"}, default="observed"
        ``"observed"``: the inverse observed information; ``"sandwich"``: the
        robust ``I^-1 B I^-1`` (Huber-White), valid when the model is
        misspecified.
    exposure : array-like of shape (n_samples,), default=None
        Exposures of the log-link families (``expert="poisson"``, ``"gamma"``,
        ``"zip"``), as in ``fit``; None: all 1.
    groups : array-like of shape (n_samples,), default=None
        Group labels of a model fitted with ``groups``: the information is that of the
        grouped likelihood, whose independent units are the groups (the sandwich's
        meat sums the groups' scores: a cluster-robust covariance).
    y_upper : array-like of shape (n_samples,), default=None
        Censored rows, as in ``fit``: a row with ``y_upper > y`` contributes the
        log-probability of ``[y, y_upper]`` (the family's ``log_cdf``/``log_sf``).
    truncation : tuple (lower, upper), default=None
        Truncated rows, as in ``fit``: each row's log-likelihood less the log of the
        mixture's probability of ``(lower, upper]``.

    Returns
    -------
    ParameterInference
    """
    from sklearn.utils.validation import _check_sample_weight

    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {list(COV_TYPES)}, got {cov_type!r}.")
    design, state = estimator._design(X, y, exposure, groups, y_upper, truncation)
    if design.censored:  # the family on censored and truncated rows
        state = replace(state, experts=state.fit_experts(censored=True))
    layout = Layout(state)
    if sample_weight is not None:
        sw = _check_sample_weight(sample_weight, design.Xa, dtype=np.float64, ensure_non_negative=True)
        design.sw = sw if design.order is None else sw[design.order]
    info, meat, _, _ = observed_information(layout, state.params, design)
    # the constrained model's information: l(phi) = l(A phi), so -d2l/dphi2 = A^T info A
    A = layout.reduction()
    info, meat = A.T @ info @ A, A.T @ meat @ A
    free = A.T @ layout.fixed() == 0
    inv = _invert(info[np.ix_(free, free)], "observed information")
    if cov_type == "sandwich":
        inv = inv @ meat[np.ix_(free, free)] @ inv
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = [f"x{i}" for i in range(estimator.n_features_in_)]
    labels = layout.labels(names)
    estimate = _raw_estimate(labels.M, layout.pack(state.params), labels.offset)
    M = labels.M @ A
    Mf = M[:, free]
    cov = Mf @ inv @ Mf.T
    held = np.abs(M[:, ~free]).sum(axis=1) > 0
    cov[held, :] = np.nan
    cov[:, held] = np.nan
    n_nonzero = int(np.count_nonzero(estimate[labels.coefficient]))
    return ParameterInference(labels.component, labels.parameter, estimate, cov, cov_type, n_nonzero)


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


# the bootstrap and the tests build on the pieces above
