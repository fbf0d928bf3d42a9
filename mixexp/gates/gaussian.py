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

from .._linalg import column_sums, weighted_grams

_LOG_2PI = np.log(2.0 * np.pi)


class GaussianGate:
    """Gaussian gates over the leaves of ``tree``.

    Parameters
    ----------
    tree : mixexp._tree.Tree
    covariance_type : {"full", "diag"}
    reg_covar : float
        Smallest eigenvalue (``"full"``) or variance (``"diag"``) of every
        covariance, in units of the standardised features.
    """

    exact = True
    models_x = True  # whether the objective includes log p(x)
    closed_form = True  # one update is the whole M-step for given posteriors

    def __init__(self, tree, covariance_type="full", reg_covar=1e-6):
        self.tree = tree
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar

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
        """Add what scoring needs: Cholesky factors of the precisions and log-determinants."""
        cov = params["covariances"]
        if self.covariance_type == "diag":
            prec_chol = 1.0 / np.sqrt(cov)
            log_det = np.sum(np.log(prec_chol), axis=1)
        else:
            prec_chol = np.empty_like(cov)
            for leaf, S in enumerate(cov):
                L = np.linalg.cholesky(S)
                # S^-1 = P P^T with P = L^-T upper triangular
                prec_chol[leaf] = np.linalg.solve(L, np.eye(S.shape[0])).T
            log_det = np.sum(np.log(np.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)
        return {**params, "prec_chol": prec_chol, "log_det": log_det}

    def log_densities(self, X, params):
        """``log N(x; m_l, S_l)`` of every leaf, ``(n, n_leaves)``, for raw-design rows ``X``."""
        means, P = params["means"], params["prec_chol"]
        n, d = X.shape
        out = np.empty((n, means.shape[0]))
        for leaf in range(means.shape[0]):
            if self.covariance_type == "diag":
                z = (X - means[leaf]) * P[leaf]
            else:
                z = X @ P[leaf] - means[leaf] @ P[leaf]
            out[:, leaf] = -0.5 * (d * _LOG_2PI + np.einsum("ij,ij->i", z, z)) + params["log_det"][leaf]
        return out

    def scores(self, Xa, params):
        """Log terms of every edge: ``log a_jc``, plus the leaf's log density on edges into leaves."""
        t = self.tree
        n = Xa.shape[0]
        out = np.empty((n, t.n_inner * t.branching))
        out[:] = params["log_weights"].reshape(-1)
        out[:, t.n_inner - 1 :] += self.log_densities(np.asarray(Xa[:, :-1]), params)
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

    def penalty(self, params):
        return 0.0

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
