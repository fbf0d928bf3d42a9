"""The observed information of a fitted mixture and the standard errors built on it: the
implementation behind :mod:`mixexp.inference` (see its docstring for the method).
"""


import warnings
from dataclasses import dataclass

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


def _chunk_information(layout, params, Xg, Xe, target, sw):
    """``(Hexp, cov_term, meat, score, loglik)`` of one chunk of rows (internal units)."""
    t, state = layout.tree, layout.state
    gate, experts = state.gate, state.experts
    Xg, Xe = _dense(Xg), _dense(Xe)
    n = Xg.shape[0]
    log_gate = gate.scores(Xg, params["gate"])
    logdens, _ = experts.scores(Xe, target, params["experts"])
    node_post = np.empty((n, t.n_nodes))
    loglik = np.empty(n)
    tree_posteriors(log_gate, logdens, t.branching, node_post, loglik)
    r = node_post[:, t.n_inner :]
    node_weight = node_post * sw[:, None]
    # S[i, l]: the complete-data score of row i and leaf l; H: sum_i w_i E[complete Hessian]
    S = np.zeros((n, t.n_leaves, layout.size))
    H = np.zeros((layout.size, layout.size))
    g = layout.gate_size
    if g:
        D = gate.inference_edge_scores(Xg, params["gate"])  # (n, n_edges, g)
        S[:, :, :g] = np.einsum("le,nep->nlp", layout.path, D)
        H[:g, :g] = gate.inference_hessian(Xg, params["gate"], node_weight)
    scores = experts.inference_scores(Xe, target, params["experts"])
    hessians = experts.inference_hessian(Xe, target, params["experts"], node_weight[:, t.n_inner :])
    for leaf in range(t.n_leaves):
        block = layout.leaf_slice(leaf)
        S[:, leaf, block] = scores[:, leaf]
        H[block, block] = hessians[leaf]
    score = np.einsum("nl,nlp->np", r, S)
    Z = (S * np.sqrt(sw[:, None] * r)[:, :, None]).reshape(-1, layout.size)
    G = score * np.sqrt(sw)[:, None]
    meat = G.T @ G
    return H, Z.T @ Z, meat, sw @ score, float(sw @ loglik)


def observed_information(layout, params, design):
    """Observed information, sandwich meat, total score and log-likelihood (internal units).

    Returns
    -------
    info : ndarray (P, P), ``-d2 l / dtheta2``.
    meat : ndarray (P, P), ``sum_i w_i g_i g_i^T``.
    score : ndarray (P,), ``dl / dtheta`` (about 0 at an unpenalised maximum).
    loglik : float, ``l(theta)`` in internal units (with a gate that models x, of ``(x, y)``).
    """
    t = layout.tree
    cells = max(1, t.n_leaves * layout.size, t.n_inner * t.branching * layout.gate_size)
    rows = max(1, _CELLS_PER_CHUNK // cells)
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


def parameter_inference(estimator, X, y, sample_weight=None, cov_type="observed", exposure=None):
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

    Returns
    -------
    ParameterInference
    """
    from sklearn.utils.validation import _check_sample_weight

    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {list(COV_TYPES)}, got {cov_type!r}.")
    design, state = estimator._design(X, y, exposure)
    layout = Layout(state)
    if sample_weight is not None:
        design.sw = _check_sample_weight(sample_weight, design.Xa, dtype=np.float64, ensure_non_negative=True)
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
