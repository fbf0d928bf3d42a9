"""Data-dependent penalties on softmax gates: load balance and specialization.

Both penalise a function of the gate probabilities over *all* rows, so their
value and gradient come from the row sums of an EM pass (the pass keeps each
chunk's gate probabilities; the update sums them).  At every inner node ``j``
with children ``c``, ``g_ic`` the node's gate on row ``i`` (the node's own
softmax, not the path product), ``w_i`` the sample weights, ``W = sum_i w_i``
and ``x_i`` the gate's standardised features (without the constant):

``balance_alpha`` (beta)
    ``P_bal = beta * W * CV^2(I)`` with ``I_c = sum_i w_i g_ic / W`` the mean
    gate ("importance") of child ``c`` and ``CV^2(I) = b sum_c I_c^2 - 1`` the
    squared coefficient of variation of the importances over the ``b``
    children (Shazeer et al. 2017).  It is 0 when every child gets the same
    share and ``beta * W * (b - 1)`` when one child takes all.  Switch's
    ``N sum_i f_i P_i`` uses the hard dispatch fractions ``f_i``, which are not
    differentiable; EM needs a smooth penalty to stay monotone, hence CV^2.

``specialization_alpha`` (lambda)
    Krishnamurthy, Watkins & Gärtner (2023) add
    ``sum_{same expert} D - sum_{different experts} D`` over pairs of rows.
    With gate rows summing to 1 the "different" sum is a constant minus the
    "same" one, so the penalty is ``sum_c g_c^T D g_c`` (``g_c`` the column
    of child ``c`` over rows).  Here ``D`` is the squared Euclidean distance
    between the gate's standardised features, fixed during a fit (their
    distances on random mini-batches would change the objective at every
    step and break monotonicity), weighted and scaled per sample::

        P_spec = lambda / (2 W) sum_c sum_ij w_i w_j g_ic g_jc ||x_i - x_j||^2
               = lambda / W  sum_c (G_c Q_c - ||s_c||^2)

    with ``G_c = sum_i w_i g_ic``, ``Q_c = sum_i w_i g_ic ||x_i||^2`` and
    ``s_c = sum_i w_i g_ic x_i``: ``lambda`` times each child's share times
    its gate-weighted scatter of ``x``, computed in O(n d b) from row sums.
    It favours children that each take a compact region of the inputs.

In a tree every inner node's gate is penalised over its children, on all rows
(with the sample weights, not the path probabilities), so the nodes stay
separate blocks.

Monotone M-step.  Each penalty is majorised at the current coefficients by
its tangent plus a quadratic whose curvature bounds the penalty's Hessian
everywhere; with Böhning's minorizer of the log-likelihood the gate's step
maximises a minorizer of the penalised objective, so it never decreases.
With ``z_i = V x_i``, ``J = diag(g) - g g^T`` (norm <= 1/2) and the
softmax Hessians ``H_c`` (norm <= 1/2), the second derivative of the penalty
along any direction is at most ``sum_i w_i kappa_i ||dz_i||^2`` with

- balance: ``kappa = 3/2 * beta * b``;
- specialization: ``kappa_i = lambda * (5/4 a_i + 3/4 A + 1/2 |xbar|^2)``,
  ``a_i = |x_i|^2``, ``A`` its weighted mean and ``xbar`` the weighted mean
  of ``x`` (Cauchy-Schwarz on the cross terms, and ``sum_c dP/dg_ic``
  bounded by the mean distance of row ``i`` to the others).

These give constant matrices ``sum_i w_i kappa_i [x_i, 1][x_i, 1]^T`` added
to every node's bound; they are summed once per fit.
"""

import numpy as np
import scipy.sparse as sp

from .._numerics.linalg import tdot, weighted_grams


def _squared_norms(Xa):
    """``|x_i|^2`` of the features of ``Xa`` (without its trailing ones)."""
    if sp.issparse(Xa):
        return np.asarray(Xa.multiply(Xa).sum(axis=1)).ravel() - 1.0
    X = np.asarray(Xa)[:, :-1]
    return np.einsum("ij,ij->i", X, X)


def _features(Xa):
    return Xa[:, :-1]


class GatePenalties:
    """Load-balance and specialization penalties of every inner node's softmax gate.

    Parameters
    ----------
    tree : mixexp._tree.Tree
    balance_alpha : float
        Weight ``beta`` of the CV^2-of-importance penalty (per sample).
    specialization_alpha : float
        Weight ``lambda`` of the gate-weighted scatter penalty (per sample).
    """

    def __init__(self, tree, balance_alpha=0.0, specialization_alpha=0.0):
        self.tree = tree
        self.balance_alpha = float(balance_alpha)
        self.specialization_alpha = float(specialization_alpha)

    @property
    def active(self):
        return self.balance_alpha > 0 or self.specialization_alpha > 0

    def constant_stats(self, Xa, sw):
        """The weighted fourth-moment Gram ``sum_i w_i |x_i|^2 [x_i, 1][x_i, 1]^T``."""
        if self.specialization_alpha <= 0:
            return {}
        return {"spec_gram": weighted_grams(Xa, (sw * _squared_norms(Xa))[:, None])[0]}

    def stats(self, Xa, log_gate, sw):
        """What the penalties need from one chunk: its rows and gate probabilities."""
        return {"penalty_rows": [(Xa, np.exp(log_gate), sw)]}

    # -- row sums ---------------------------------------------------------------
    def _sums(self, rows):
        """Per node and child: ``G``, ``Q`` (n_inner, b), ``s`` (n_inner, b, d), and ``W``."""
        t = self.tree
        G = Q = s = 0.0
        W = 0.0
        for Xa, gate, sw in rows:
            wg = gate * sw[:, None]
            G = G + wg.sum(axis=0)
            W += sw.sum()
            if self.specialization_alpha > 0:
                Q = Q + wg.T @ _squared_norms(Xa)
                s = s + tdot(_features(Xa), wg).T
        shape = (t.n_inner, t.branching)
        out = {"G": np.reshape(G, shape), "W": W}
        if self.specialization_alpha > 0:
            out["Q"] = np.reshape(Q, shape)
            out["s"] = np.reshape(s, shape + (-1,))
        return out

    def value(self, S):
        """The penalties at the parameters of the pass whose sums are ``S``."""
        sums = self._sums(S["penalty_rows"])
        G, W = sums["G"], sums["W"]
        total = 0.0
        if self.balance_alpha > 0:
            b = self.tree.branching
            total += self.balance_alpha * float(np.sum(b * np.sum(G**2, axis=1) / W - W))
        if self.specialization_alpha > 0:
            scatter = G * sums["Q"] - np.sum(sums["s"] ** 2, axis=2)
            total += self.specialization_alpha * float(np.sum(scatter)) / W
        return total

    def residuals(self, S):
        """``dP / dz`` of every chunk's rows, ``(n_rows, n_inner * b)`` each, ``z`` the logits."""
        t = self.tree
        sums = self._sums(S["penalty_rows"])
        G, W = sums["G"], sums["W"]
        out = []
        for Xa, gate, sw in S["penalty_rows"]:
            # e[i, j, c] = dP / dg_ijc / w_i
            e = np.zeros((gate.shape[0], t.n_inner, t.branching))
            if self.balance_alpha > 0:
                e += 2.0 * self.balance_alpha * t.branching * G / W
            if self.specialization_alpha > 0:
                a = _squared_norms(Xa)
                cross = np.asarray(_features(Xa) @ sums["s"].reshape(-1, sums["s"].shape[2]).T)
                e += self.specialization_alpha / W * (
                    sums["Q"] + G * a[:, None, None] - 2.0 * cross.reshape(e.shape)
                )
            g = gate.reshape(e.shape)
            residual = sw[:, None, None] * g * (e - np.sum(g * e, axis=2, keepdims=True))
            out.append(residual.reshape(gate.shape[0], -1))
        return out

    def gradient(self, S, n_params):
        """Gradient of the penalties in every softmax node's coefficients, ``(n_inner, b, p)``."""
        t = self.tree
        grad = np.zeros((n_params, t.n_inner * t.branching))
        for (Xa, _, _), residual in zip(S["penalty_rows"], self.residuals(S)):
            grad += tdot(Xa, residual)
        return grad.T.reshape(t.n_inner, t.branching, n_params)

    def kappa(self, C):
        """``(k0, k1)``: the penalties' curvature per unit weight of row ``i`` is ``k0 + k1 |x_i|^2``."""
        root = C["root_gram"]
        k0 = 1.5 * self.balance_alpha * self.tree.branching
        k1 = 0.0
        if self.specialization_alpha > 0:
            W = root[-1, -1]
            mean_sq = np.trace(root[:-1, :-1]) / W
            xbar = root[:-1, -1] / W
            k0 += self.specialization_alpha * (0.75 * mean_sq + 0.5 * float(xbar @ xbar))
            k1 = 1.25 * self.specialization_alpha
        return k0, k1

    def curvature(self, C):
        """The constant ``sum_i w_i kappa_i [x_i, 1][x_i, 1]^T`` bounding the penalties'
        Hessian in a softmax node's coefficients."""
        k0, k1 = self.kappa(C)
        M = k0 * C["root_gram"]
        if k1 > 0:
            M = M + k1 * C["spec_gram"]
        return M
