"""The softmax gate: ``g_c(x) = softmax(V x)_c`` at every inner node.

Each inner node ``j`` has a block ``V_j`` of ``branching`` rows acting on the
internal design ``[x_std, 1]``.  Its M-step is the soft-label multinomial fit
of :mod:`mixexp._numerics.bound` with the children's posteriors as targets and the
node's posterior as weight; one bound step per EM iteration, from the
gradient and Gram matrix summed during the E-step pass.  The root's Gram
matrix (weights: the sample weights) does not change and is summed once.
Optional load-balance and specialization penalties
(:mod:`mixexp.gates.penalties`) add their gradient and a curvature bound to
that step, which then still never decreases the penalised objective.  With
``l1_ratio > 0`` the coefficient penalty is an elastic net and the step is
proximal (:mod:`mixexp._numerics.prox`).
"""

import numpy as np

from .._design import rows_to_original
from .._inference_parts import (
    Labels, coefficient_row, relative_rows_vector, softmax_hessian, softmax_scores, unused_features,
)
from .._numerics.bound import STEP_STATE_KEYS, blocks_update, gate_residual_rows, init_step_state
from .._numerics.linalg import block_products, tdot, weighted_grams
from .._numerics.prox import elastic_net_penalty, softmax_n_nonzero
from .._numerics.softmax import (
    leaf_path_columns,
    log_softmax_groups_rows,
    path_softmax_rows,
    relative_rows,
)
from .base import Gate
from .penalties import GatePenalties


class SoftmaxGate(Gate):
    """Softmax gates over the children of every inner node of ``tree``.

    Parameters
    ----------
    tree : mixexp._tree.Tree
    alpha : float
        Penalty on the coefficients (not the intercepts).
    balance_alpha, specialization_alpha : float, default=0.0
        Weights of the data-dependent penalties of :mod:`mixexp.gates.penalties`.
    l1_ratio : float, default=0.0
        Elastic-net mixing of ``alpha`` (0: ridge ``alpha / 2 |V|^2``; see
        :mod:`mixexp._numerics.prox`).
    """

    name = "softmax"
    takes_usage_penalties = True
    supports_inference = True

    def __init__(self, tree, alpha, balance_alpha=0.0, specialization_alpha=0.0, l1_ratio=0.0):
        super().__init__(tree)
        self.alpha = alpha
        self.penalties = GatePenalties(tree, balance_alpha, specialization_alpha)
        self.l1_ratio = l1_ratio

    @classmethod
    def from_params(cls, tree, params):
        return cls(
            tree, params["gate_alpha"], params.get("balance_alpha", 0.0),
            params.get("specialization_alpha", 0.0), params.get("l1_ratio", 0.0),
        )

    def init_params(self, n_params):
        t = self.tree
        return {
            "coef": np.zeros((t.n_inner, t.branching, n_params)),
            **init_step_state(t.n_inner, t.branching, n_params),
        }

    def constant_stats(self, Xa, sw):
        return {
            "root_gram": weighted_grams(Xa, sw[:, None])[0],
            **self.penalties.constant_stats(Xa, sw),
        }

    def scores(self, Xa, params, rep=None):
        """Log gate probabilities of every edge, ``(n, n_inner * branching)``."""
        logits = block_products(Xa, params["coef"])
        out = np.empty_like(logits)
        log_softmax_groups_rows(logits, self.tree.branching, out)
        return out

    def linear_rows(self, params):
        """The rows of coefficients whose products with the design are the logits relative
        to each inner node's first child, ``(n_inner * (branching - 1), n_params)``,
        child-major: child ``c + 1`` of inner node ``j`` minus child 0 in row
        ``c * n_inner + j`` (:meth:`leaf_probabilities_from_logits` takes the products;
        the softmax does not change, and child 0 needs no column)."""
        return relative_rows(params["coef"])

    def leaf_probabilities(self, Xa, params, rep=None):
        """The gate's probability of every leaf, ``(n, n_leaves)``: the products of the
        softmaxes along each leaf's path (what the E-step without experts gives, with
        one exponential per edge and no logs)."""
        return self.leaf_probabilities_from_logits(block_products(Xa, self.linear_rows(params)))

    def leaf_probabilities_from_logits(self, logits):
        """:meth:`leaf_probabilities` from the logits ``design @ linear_rows(params).T``."""
        return path_softmax_rows(logits, self.tree.n_inner, leaf_path_columns(self.tree))

    def top_leaf_from_logits(self, logits):
        """Each row's most probable leaf from the logits: for a flat gate the largest logit
        (the first leaf's is 0), with no exponential; a tree's path products otherwise."""
        if self.tree.depth > 1:
            return super().top_leaf_from_logits(logits)
        if logits.shape[1] == 0:
            return np.zeros(logits.shape[0], dtype=np.intp)
        best = np.argmax(logits, axis=1)
        return np.where(logits[np.arange(logits.shape[0]), best] > 0.0, best + 1, 0)

    def gram_nodes(self, tree):
        """The nodes whose weighted Grams :meth:`stats` sums: the inner nodes below the root
        (the root's weights are the sample weights: its Gram is a constant)."""
        return slice(1, tree.n_inner)

    def stats(self, Xa, log_gate, node_weight, params, grams=None):
        t = self.tree
        residual = np.empty_like(log_gate)
        gate_residual_rows(log_gate, node_weight, t.branching, residual)
        S = {"grad": tdot(residual, Xa).reshape(params["coef"].shape)}
        if t.n_inner > 1:
            S["grams"] = weighted_grams(Xa, node_weight[:, 1 : t.n_inner]) if grams is None else grams
        if self.penalties.active:  # the root's weight is the sample weight
            S.update(self.penalties.stats(Xa, log_gate, node_weight[:, 0]))
        return S

    def update(self, S, C, params, active, safe=False):
        """One bound step at every inner node whose ``active`` flag is set.

        ``active`` : boolean mask over all nodes of the tree.
        """
        grams = [C["root_gram"], *(S["grams"] if "grams" in S else [])]
        grad = S["grad"]
        if self.penalties.active:
            # bound_factor halves the Grams: twice the penalties' curvature makes it their bound
            extra = 2.0 * self.penalties.curvature(C)
            grams = [gram + extra for gram in grams]
            grad = grad + self.penalties.gradient(S, grad.shape[2])
        state = {key: params[key] for key in STEP_STATE_KEYS}
        nodes = np.flatnonzero(active[: self.tree.n_inner])
        coef, state, extrapolated = blocks_update(
            params["coef"], grad, grams, self.alpha, state, nodes, safe, self.l1_ratio
        )
        return {"coef": coef, **state}, extrapolated

    def penalty(self, params):
        if self.l1_ratio > 0.0:
            return float(np.sum(elastic_net_penalty(params["coef"], self.alpha, self.l1_ratio)))
        return 0.5 * self.alpha * np.sum(params["coef"][..., :-1] ** 2)

    def data_penalty(self, S):
        """The data-dependent penalties at the parameters of the pass whose gate sums are ``S``."""
        return self.penalties.value(S) if self.penalties.active else 0.0

    def n_free_params(self, params):
        n_inner, b, p = params["coef"].shape
        if self.l1_ratio > 0.0:
            return softmax_n_nonzero(params["coef"])
        return n_inner * (b - 1) * p

    def attributes(self, params, coords, flat):
        """``gate_coef_`` and ``gate_intercept_`` in the units of the raw features."""
        coef, intercept = rows_to_original(params["coef"], coords)
        if flat:
            coef, intercept = coef[0], intercept[0]
        return {"gate_coef_": coef, "gate_intercept_": intercept}

    # -- inference: analytic ------------------------------------------------------
    def inference_vector(self, params):
        """Every inner node's rows 1.. minus row 0 (only differences are identified, as in
        flexmix), ``(n_inner * (branching - 1) * n_params,)``, node-major."""
        return relative_rows_vector(params["coef"])

    def from_inference_vector(self, theta, params):
        coef = np.zeros_like(params["coef"])
        t = self.tree
        coef[:, 1:] = np.asarray(theta).reshape(t.n_inner, t.branching - 1, coef.shape[2])
        return {**params, "coef": coef}

    def relabel(self, params, node_map):
        coef = params["coef"]
        rows = coef.reshape(-1, coef.shape[2])[np.asarray(node_map)[1:] - 1]
        return {**params, "coef": rows.reshape(coef.shape)}

    def inference_fixed(self, params):
        """A sparse fit's (``l1_ratio > 0``) features that no row of a node uses: held at 0."""
        if self.l1_ratio > 0:
            return unused_features(params["coef"]).ravel()
        return np.zeros(self.inference_vector(params).shape[0], dtype=bool)

    def inference_labels(self, params, coords, feature_names):
        """``gate: expert c vs 0`` (trees: ``gate node j: child c vs 0``), intercept and the
        coefficients of the raw features."""
        t = self.tree
        rows = []
        for j in range(t.n_inner):
            for c in range(1, t.branching):
                label = f"gate: expert {c} vs 0" if t.n_inner == 1 else f"gate node {j}: child {c} vs 0"
                rows.append(coefficient_row(label, coords, feature_names))
        return Labels.concat(rows)

    def inference_edge_scores(self, Xa, params):
        """``(e_c - pi_j[1:]) (x) x`` on edge ``(j, c)`` in node ``j``'s block."""
        t = self.tree
        b, p = t.branching, Xa.shape[1]
        n = Xa.shape[0]
        pi = np.exp(self.scores(Xa, params)).reshape(n, t.n_inner, b)
        size = (b - 1) * p
        out = np.zeros((n, t.n_inner * b, t.n_inner * size))
        for j in range(t.n_inner):
            for c in range(b):
                out[:, j * b + c, j * size : (j + 1) * size] = softmax_scores(pi[:, j], Xa, np.full(n, c))
        return out

    def inference_hessian(self, Xa, params, node_weight):
        """Block-diagonal over the inner nodes: ``-sum_i w_ij (diag(q) - q q^T) (x) x x^T``."""
        t = self.tree
        b, p = t.branching, Xa.shape[1]
        n = Xa.shape[0]
        pi = np.exp(self.scores(Xa, params)).reshape(n, t.n_inner, b)
        size = (b - 1) * p
        H = np.zeros((t.n_inner * size, t.n_inner * size))
        for j in range(t.n_inner):
            block = slice(j * size, (j + 1) * size)
            H[block, block] = softmax_hessian(pi[:, j], node_weight[:, j], Xa)
        return H
