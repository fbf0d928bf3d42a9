"""The localized Gaussian gate of Xu, Jordan & Hinton (1995).

Flat mixture: ``g_k(x) = a_k N(x; m_k, S_k) / sum_j a_j N(x; m_j, S_j)``.  EM
then maximises the joint likelihood ``p(x, y) = sum_k a_k N(x; m_k, S_k)
p_k(y | x)``, and the gate's M-step is closed form: weighted means and
covariances of ``x`` under each expert's posterior, and the mixing weights.

In a tree every leaf has its Gaussian and every inner node ``j`` mixing
weights ``a_jc`` over its children; a node's density of ``x`` is the mixture
of the Gaussians below it, weighted by the products of the weights on the
way (the hierarchical model of Xu, Jordan & Hinton).  The gate of node ``j``
is then ``a_jc p_c(x) / sum_c' a_jc' p_c'(x)``.  In the E-step's log terms
that is ``log a_jc`` on every edge, plus ``log N(x; m_l, S_l)`` on the edge
into leaf ``l``.

Covariances are kept at or above ``reg_covar`` (standardised units) by
clipping their eigenvalues: the exact maximiser of the likelihood under that
constraint, so EM stays monotone (``GaussianMixture`` adds ``reg_covar``
instead, which is not a maximiser).
"""

import numpy as np
import scipy.sparse as sp

from .._inference_parts import Labels, scalar
from .._inference_parts import feature_names as _feature_names
from .._numerics.densities import add_squares_interleaved, diag_squares
from .._numerics.estep import e_step, gaussian_leaf_softmax
from .._numerics.linalg import column_sums, weighted_grams
from .._tree import leaf_path_sums
from .base import Gate

_LOG_2PI = np.log(2.0 * np.pi)
# Rows and columns of z per stacked product (measured at d = 20, K = 16, one core,
# under load): 256 to 1024 rows and 3 to 5 columns within 10%; whole 8192-row
# chunks, or all columns in one product (twice the flops, on the zeros of Q), 1.4-1.7x slower
_BLOCK_ROWS = 512
_STACK_COLUMNS = 4


def _stacks(means, prec_chol):
    """The stacked factors of the full-covariance log densities: columns ``a`` to ``b``
    of every leaf's ``z = Q^T x - Q^T m`` need the features from ``a`` on (``Q`` lower
    triangular) and the design's ones (the means' term), in one ``(d + 1 - a, (b - a) *
    n_leaves)`` matrix per group of columns, leaf-interleaved (``(j - a) * n_leaves + l``)."""
    n_leaves, d = means.shape
    shift = -np.einsum("li,lij->lj", means, prec_chol)  # -m^T Q of each leaf
    stacks = []
    for a in range(0, d, _STACK_COLUMNS):
        b = min(a + _STACK_COLUMNS, d)
        W = np.empty((d + 1 - a, b - a, n_leaves))
        W[:-1] = prec_chol[:, a:, a:b].transpose(1, 2, 0)
        W[-1] = shift[:, a:b].T
        stacks.append(W.reshape(d + 1 - a, -1))
    return stacks


def _log_constants(params):
    """``log N`` less ``-|z|^2 / 2`` of every leaf: ``-d/2 log(2 pi) + log |Q_l|``."""
    return params["log_det"] - 0.5 * params["means"].shape[1] * _LOG_2PI


class GaussianGate(Gate):
    """Gaussian gates over the leaves of ``tree``.

    Parameters
    ----------
    tree : mixexp._tree.Tree
    covariance_type : {"full", "diag"}
    reg_covar : float
        Smallest eigenvalue (``"full"``) or variance (``"diag"``) of every
        covariance, in units of the standardised features.
    """

    name = "gaussian"
    closed_form = True
    models_x = True
    accepts_sparse = False
    needs_features = True
    supports_inference = True
    takes_missing = True

    def __init__(self, tree, covariance_type="full", reg_covar=1e-6):
        super().__init__(tree)
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar

    @classmethod
    def from_params(cls, tree, params):
        return cls(tree, params["covariance_type"], params["reg_covar"])

    def init_params(self, n_params):
        t = self.tree
        d = n_params - 1
        cov = np.ones((t.n_leaves, d)) if self.covariance_type == "diag" else np.tile(np.eye(d), (t.n_leaves, 1, 1))
        return self._with_precisions(
            {
                "log_weights": np.full((t.n_inner, t.branching), -np.log(t.branching)),
                "means": np.zeros((t.n_leaves, d)),
                "covariances": cov,
            }
        )

    def check_input(self, Xa):
        if sp.issparse(Xa):
            raise TypeError(
                "gate='gaussian' needs dense X: a Gaussian over the features would "
                "densify sparse input. Use gate='softmax' or convert X to a dense array."
            )

    def constant_stats(self, Xa, sw):
        return {}

    def _with_precisions(self, params):
        """Add what scoring needs: factors of the precisions, log-determinants and,
        for full covariances, the stacked whitening products of :meth:`log_densities`."""
        cov = params["covariances"]
        if self.covariance_type == "diag":
            prec_chol = 1.0 / np.sqrt(cov)
            log_det = np.sum(np.log(prec_chol), axis=1)
            return {**params, "prec_chol": prec_chol, "log_det": log_det}
        prec_chol = np.empty_like(cov)
        for leaf, S in enumerate(cov):
            # S^-1 = Q Q^T with Q lower triangular: the Cholesky factor of S with rows and
            # columns reversed gives it (Q = J L^-T J, J the reversal)
            L = np.linalg.cholesky(S[::-1, ::-1])
            prec_chol[leaf] = np.linalg.solve(L, np.eye(S.shape[0])).T[::-1, ::-1]
        log_det = np.sum(np.log(np.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)
        return {**params, "prec_chol": prec_chol, "log_det": log_det, "stacks": _stacks(params["means"], prec_chol)}

    def log_densities(self, Xa, params):
        """``log N(x; m_l, S_l)`` of every leaf, ``(n, n_leaves)``, for internal design
        rows ``Xa`` (the gate's features and a last column of ones)."""
        out = self._squared_norms(Xa, params)
        out *= -0.5
        out += _log_constants(params)
        return out

    def _squared_norms(self, Xa, params):
        """``|z|^2`` of every row and leaf, ``z = Q_l^T (x - m_l)``, ``S_l^-1 = Q_l Q_l^T``;
        full covariances: all leaves at once, in products of the last columns of ``Xa``
        with the stacked factors of :func:`_stacks`, on blocks of rows that stay in cache."""
        means = params["means"]
        n, d = Xa.shape[0], means.shape[1]
        Xa = np.ascontiguousarray(Xa)
        out = np.zeros((n, means.shape[0]))
        if self.covariance_type == "diag":
            diag_squares(Xa, np.ascontiguousarray(means.T), np.ascontiguousarray(params["prec_chol"].T), out)
            return out
        buffers = [np.empty((_BLOCK_ROWS, W.shape[1])) for W in params["stacks"]]
        for start in range(0, n, _BLOCK_ROWS):
            rows = slice(start, min(start + _BLOCK_ROWS, n))
            for W, buffer in zip(params["stacks"], buffers):
                Z = np.matmul(Xa[rows, d + 1 - W.shape[0] :], W, out=buffer[: rows.stop - start])
                add_squares_interleaved(Z, means.shape[0], out[rows])
        return out

    def leaf_probabilities(self, Xa, params, rep=None):
        """The gate's probability of every leaf, ``(n, n_leaves)``.

        The product of the node gates ``a_jc p_c(x) / p_j(x)`` along a leaf's path
        telescopes to ``(prod of a on the path) N(x; m_l, S_l) / p_root(x)``: a
        softmax over the leaves of the path's log weights plus the log density
        (what the E-step without experts gives; :func:`gaussian_leaf_softmax`).
        """
        t = self.tree
        sq_norms = self._squared_norms(Xa, params)
        path = leaf_path_sums(t, params["log_weights"].reshape(-1))
        out = np.empty_like(sq_norms)
        rows = gaussian_leaf_softmax(sq_norms, _log_constants(params), path, out)
        if rows.size:  # every density 0 or not a number: the E-step's own handling
            out[rows] = e_step(self.scores(Xa[rows], params), None, t.branching)[0][:, t.n_inner :]
        return out

    def scores(self, Xa, params, rep=None):
        """Log terms of every edge: ``log a_jc``, plus the leaf's log density on edges into leaves."""
        t = self.tree
        n = Xa.shape[0]
        out = np.empty((n, t.n_inner * t.branching))
        out[:] = params["log_weights"].reshape(-1)
        out[:, t.n_inner - 1 :] += self.log_densities(Xa, params)
        return out

    def gram_nodes(self, tree):
        """The leaves, whose weighted Grams :meth:`stats` sums (full covariances)."""
        return slice(tree.n_inner, tree.n_nodes) if self.covariance_type == "full" else None

    def stats(self, Xa, log_gate, node_weight, params, grams=None):
        t = self.tree
        W = node_weight[:, t.n_inner :]
        S = {"mass": column_sums(node_weight)}
        if self.covariance_type == "diag":
            X = np.asarray(Xa[:, :-1])
            S["sum_x"] = W.T @ X
            S["sum_xx"] = W.T @ (X * X)
        else:
            # [x, 1][x, 1]^T: holds sum w, sum w x, sum w x x^T
            S["grams"] = weighted_grams(Xa, W) if grams is None else grams
        return S

    def update(self, S, C, params, active, safe=False):
        """Closed-form M-step of the ``active`` nodes (boolean mask over all nodes)."""
        t = self.tree
        b = t.branching
        mass = S["mass"]
        log_weights = params["log_weights"].copy()
        for j in np.flatnonzero(active[: t.n_inner]):
            with np.errstate(divide="ignore"):
                log_weights[j] = np.log(mass[j * b + 1 : j * b + 1 + b]) - np.log(mass[j])
        means = params["means"].copy()
        cov = params["covariances"].copy()
        for leaf in np.flatnonzero(active[t.n_inner :]):
            total = mass[t.n_inner + leaf]
            if self.covariance_type == "diag":
                m = S["sum_x"][leaf] / total
                var = S["sum_xx"][leaf] / total - m * m
                cov[leaf] = np.maximum(var, self.reg_covar)
            else:
                G = S["grams"][leaf]
                m = G[:-1, -1] / total
                E = G[:-1, :-1] / total - np.outer(m, m)
                lam, V = np.linalg.eigh(0.5 * (E + E.T))
                cov[leaf] = (V * np.maximum(lam, self.reg_covar)) @ V.T
            means[leaf] = m
        new = {"log_weights": log_weights, "means": means, "covariances": cov}
        return self._with_precisions(new), False

    def loglik_shift(self, coords):
        """log p(x) in raw units: the Jacobian of the standardisation."""
        return -float(np.sum(np.log(coords.scale)))

    def n_free_params(self, params):
        t = self.tree
        n_leaves, d = params["means"].shape
        cov = d if self.covariance_type == "diag" else d * (d + 1) // 2
        return t.n_inner * (t.branching - 1) + n_leaves * (d + cov)

    def attributes(self, params, coords, flat):
        """Weights, and means and covariances in the units of the raw features
        the gate sees (``coords.columns``, or all)."""
        weights = np.exp(params["log_weights"])
        means = params["means"] * coords.scale + coords.mean
        cov = params["covariances"]
        if self.covariance_type == "diag":
            cov = cov * coords.scale**2
        else:
            cov = cov * np.outer(coords.scale, coords.scale)
        return {
            "gate_weights_": weights[0] if flat else weights,
            "gate_means_": means,
            "gate_covariances_": cov,
        }

    # -- inference: central differences of the log terms (the base class's) -------------
    def _cov_size(self, d):
        return d if self.covariance_type == "diag" else d * (d + 1) // 2

    def inference_vector(self, params):
        """Every inner node's log weights of children 1.. minus child 0, then every leaf's
        mean and covariance: log variances (``"diag"``), or the lower Cholesky factor ``L``
        of the covariance (``S = L L^T``), row by row, with the log of its diagonal
        (``"full"``)."""
        lw = params["log_weights"]
        with np.errstate(invalid="ignore"):
            weights = (lw[:, 1:] - lw[:, :1]).ravel()
        means, cov = params["means"], params["covariances"]
        if self.covariance_type == "diag":
            shape = np.log(cov)
        else:
            L = np.linalg.cholesky(cov)
            rows, cols = np.tril_indices(means.shape[1])
            shape = L[:, rows, cols]
            diag = rows == cols
            shape[:, diag] = np.log(shape[:, diag])
        return np.concatenate([weights, np.concatenate([means, shape], axis=1).ravel()])

    def from_inference_vector(self, theta, params):
        t = self.tree
        n_leaves, d = params["means"].shape
        k = t.n_inner * (t.branching - 1)
        eta = np.zeros((t.n_inner, t.branching))
        eta[:, 1:] = theta[:k].reshape(t.n_inner, t.branching - 1)
        top = np.max(eta, axis=1, keepdims=True)
        log_weights = eta - top - np.log(np.sum(np.exp(eta - top), axis=1, keepdims=True))
        leaves = np.asarray(theta[k:]).reshape(n_leaves, -1)
        means, shape = leaves[:, :d].copy(), leaves[:, d:]
        if self.covariance_type == "diag":
            cov = np.exp(shape)
        else:
            rows, cols = np.tril_indices(d)
            L = np.zeros((n_leaves, d, d))
            values = shape.copy()
            diag = rows == cols
            values[:, diag] = np.exp(values[:, diag])
            L[:, rows, cols] = values
            cov = L @ L.transpose(0, 2, 1)
        return self._with_precisions({"log_weights": log_weights, "means": means, "covariances": cov})

    def relabel(self, params, node_map):
        node_map = np.asarray(node_map)
        lw = params["log_weights"]
        leaves = node_map[self.tree.n_inner :] - self.tree.n_inner
        return self._with_precisions({
            "log_weights": lw.ravel()[node_map[1:] - 1].reshape(lw.shape),
            "means": params["means"][leaves],
            "covariances": params["covariances"][leaves],
        })

    def inference_fixed(self, params):
        """Weights of 0 (a leaf no row reaches): held there."""
        return ~np.isfinite(self.inference_vector(params))

    def inference_edges(self, params):
        """A node's weights change the log terms of its edges; a leaf's Gaussian, those of the
        edge into the leaf."""
        t = self.tree
        b = t.branching
        n_leaves, d = params["means"].shape
        per_leaf = d + self._cov_size(d)
        k = t.n_inner * (b - 1)
        touch = np.zeros((k + n_leaves * per_leaf, t.n_inner * b), dtype=bool)
        for j in range(t.n_inner):
            touch[j * (b - 1) : (j + 1) * (b - 1), j * b : (j + 1) * b] = True
        for leaf in range(n_leaves):
            touch[k + leaf * per_leaf : k + (leaf + 1) * per_leaf, t.n_inner - 1 + leaf] = True
        return touch

    def inference_labels(self, params, coords, feature_names):
        """``log_weight`` of ``gate: expert c vs 0`` (trees: ``gate node j: child c vs 0``), then
        each leaf's (``gate: expert l``) ``mean[x]`` and ``log_variance[x]`` or ``log_chol[x,x]``
        and ``chol[x,z]`` (the Cholesky factor of the covariance) in the units of the raw features."""
        t = self.tree
        parts = []
        for j in range(t.n_inner):
            for c in range(1, t.branching):
                label = f"gate: expert {c} vs 0" if t.n_inner == 1 else f"gate node {j}: child {c} vs 0"
                parts.append(scalar(label, "log_weight"))
        names = _feature_names(coords, feature_names)
        d = len(names)
        for leaf in range(params["means"].shape[0]):
            label = f"gate: expert {leaf}"
            parts += [scalar(label, f"mean[{names[a]}]", coords.scale[a], coords.mean[a]) for a in range(d)]
            if self.covariance_type == "diag":
                parts += [
                    scalar(label, f"log_variance[{names[a]}]", 1.0, 2.0 * np.log(coords.scale[a])) for a in range(d)
                ]
            else:
                for a, c in zip(*np.tril_indices(d)):
                    if a == c:
                        parts.append(scalar(label, f"log_chol[{names[a]},{names[a]}]", 1.0, np.log(coords.scale[a])))
                    else:
                        parts.append(scalar(label, f"chol[{names[a]},{names[c]}]", coords.scale[a]))
        return Labels.concat(parts)
