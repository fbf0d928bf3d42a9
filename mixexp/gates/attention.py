"""An attention-like gate (Krishnamurthy, Watkins & Gärtner 2023).

The gate scores each expert by how well a query built from ``x`` matches a
key built from the expert's *own* representation of ``x``::

    g_k(x) = softmax_k( q(x)^T r_k(x) ),    q(x) = B [x, 1]

``r_k(x)`` is what the expert family exposes as ``representation``: centred
logits of a multinomial-logistic expert, the predicted mean of a
linear-Gaussian expert, the hidden layer of an MLP or patch-CNN estimator.
Krishnamurthy et al. score ``(W_q x)^T (W_k h_k(x)) / sqrt(d)``; with a
query/key dimension ``d`` of at least ``min(p, r)`` that is any bilinear form
``x^T B h_k``, so the gate fits ``B`` (``r x p``, ``W_q^T W_k / sqrt(d)``
transposed) directly: the scores are linear in ``B`` (a conditional logit
with expert-specific features ``r_k(x) [x, 1]^T``), and the gate's M-step for
fixed experts is a Böhning bound step as for the softmax gate, never
decreasing the objective.  Its curvature bound per row is ``w_i rho_i
[x_i, 1][x_i, 1]^T`` with ``rho_i`` the largest eigenvalue of the scatter of
the representations over the experts (``diag(g) - g g^T <= (I - 11^T/K)/2``).

In a tree each inner node has its own ``B``; a child's representation is the
mean of the representations of the leaves below it.

Because the scores depend on the experts, the engine fits this gate by ECM
(:meth:`mixexp._engine.EMEngine.run`): a gate step with the experts fixed,
then an expert step that is kept only if the objective did not decrease.
The load-balance and specialization penalties (:mod:`mixexp.gates.penalties`)
apply as for the softmax gate.
"""

import numpy as np

from .._design import rows_to_original
from .._numerics.bound import STEP_STATE_KEYS, blocks_update, gate_residual, init_step_state
from .._numerics.linalg import block_products, tdot, weighted_grams
from .._numerics.softmax import log_softmax_groups_rows
from .base import Gate
from .penalties import GatePenalties, _squared_norms
from .softmax import SoftmaxGate


class AttentionGate(Gate):
    """Attention-like gates over the children of every inner node of ``tree``.

    Parameters
    ----------
    tree : mixexp._tree.Tree
    alpha : float
        L2 penalty on the query coefficients (not the intercepts).
    balance_alpha, specialization_alpha : float, default=0.0
        Weights of the penalties of :mod:`mixexp.gates.penalties`.
    """

    name = "attention"
    uses_experts = True
    takes_usage_penalties = True

    def __init__(self, tree, alpha, balance_alpha=0.0, specialization_alpha=0.0):
        super().__init__(tree)
        self.alpha = alpha
        self.penalties = GatePenalties(tree, balance_alpha, specialization_alpha)
        # mean over the leaves below each child of every inner node: (n_leaves, n_inner * b)
        below = tree.leaf_to_subtree[:, 1:]
        self._child_mean = below / below.sum(axis=0, keepdims=True)

    @classmethod
    def from_params(cls, tree, params):
        if params.get("l1_ratio", 0.0) > 0:
            raise ValueError(
                "gate='attention' takes a ridge penalty only (gate_alpha); l1_ratio > 0 is "
                "implemented for gate='softmax'."
            )
        return cls(
            tree, params["gate_alpha"], params.get("balance_alpha", 0.0),
            params.get("specialization_alpha", 0.0),
        )

    def init_params(self, n_params, n_repr=0):
        t = self.tree
        return {
            "coef": np.zeros((t.n_inner, n_repr, n_params)),
            **init_step_state(t.n_inner, n_repr, n_params),
        }

    def _child_repr(self, rep):
        """Each inner node's children's representations, ``(n, n_inner * b, r)``."""
        return np.einsum("nlr,lc->ncr", rep, self._child_mean)

    def _logits(self, Xa, coef, child):
        t = self.tree
        n = Xa.shape[0]
        if coef.shape[1] != child.shape[2]:  # not fitted to these representations yet
            return np.zeros((n, t.n_inner * t.branching))
        query = block_products(Xa, coef).reshape(n, t.n_inner, 1, -1)
        child = child.reshape(n, t.n_inner, t.branching, -1)
        return np.sum(query * child, axis=3).reshape(n, -1)

    def scores(self, Xa, params, rep=None):
        """Log gate probabilities of every edge, ``(n, n_inner * branching)``."""
        logits = self._logits(Xa, params["coef"], self._child_repr(rep))
        out = np.empty_like(logits)
        log_softmax_groups_rows(logits, self.tree.branching, out, shift=True)
        return out

    def _spread(self, child):
        """Largest eigenvalue of each node's scatter of its children's representations, ``(n, n_inner)``."""
        t = self.tree
        n = child.shape[0]
        C = child.reshape(n, t.n_inner, t.branching, -1)
        C = C - C.mean(axis=2, keepdims=True)
        small = np.einsum("njcr,njdr->njcd", C, C)  # b x b: same nonzero spectrum as the r x r scatter
        return np.maximum(np.linalg.eigvalsh(small)[..., -1], 0.0)

    def _gradient(self, Xa, residual, child):
        """``sum_i sum_c residual_ic r_ic [x_i, 1]^T`` of every node, ``(n_inner, r, p)``."""
        t = self.tree
        n = Xa.shape[0]
        Z = (residual[:, :, None] * child).reshape(n, t.n_inner, t.branching, -1).sum(axis=2)
        return tdot(Xa, Z.reshape(n, -1)).T.reshape(t.n_inner, -1, Xa.shape[1])

    def stats(self, Xa, log_gate, node_weight, params, rep):
        t = self.tree
        child = self._child_repr(rep)
        residual = np.empty_like(log_gate)
        gate_residual(log_gate, node_weight, t.branching, residual)
        S = {"grad": self._gradient(Xa, residual, child)}
        rho = self._spread(child)
        sw = node_weight[:, 0]  # the root's weight is the sample weight
        weights = [node_weight[:, : t.n_inner] * rho]
        if self.penalties.active:
            weights += [sw[:, None] * rho, (sw * _squared_norms(Xa))[:, None] * rho]
            S.update(self.penalties.stats(Xa, log_gate, sw))
            S["penalty_repr"] = [child]
        S["grams"] = weighted_grams(Xa, np.hstack(weights))
        return S

    def update(self, S, C, params, active, safe=False):
        """One bound step at every inner node whose ``active`` flag is set."""
        t = self.tree
        grad = S["grad"]
        if params["coef"].shape[1] != grad.shape[1]:  # the representations' size is known now
            params = self.init_params(grad.shape[2], grad.shape[1])
        grams = list(S["grams"][: t.n_inner])
        if self.penalties.active:
            k0, k1 = self.penalties.kappa(C)
            plain, scaled = S["grams"][t.n_inner : 2 * t.n_inner], S["grams"][2 * t.n_inner :]
            # bound_factor halves the Grams: twice the penalties' curvature makes it their bound
            grams = [g + 2.0 * (k0 * p + k1 * s) for g, p, s in zip(grams, plain, scaled)]
            for (Xa, _, _), residual, child in zip(
                S["penalty_rows"], self.penalties.residuals(S), S["penalty_repr"]
            ):
                grad = grad + self._gradient(Xa, residual, child)
        state = {key: params[key] for key in STEP_STATE_KEYS}
        nodes = np.flatnonzero(active[: t.n_inner])
        coef, state, extrapolated = blocks_update(
            params["coef"], grad, grams, self.alpha, state, nodes, safe
        )
        return {"coef": coef, **state}, extrapolated

    def check_inference(self):
        """Refused: the gate's log terms depend on the experts' parameters."""
        raise ValueError(
            "summary() and parameter_inference() cannot give standard errors for gate='attention': "
            "its log terms depend on the experts' parameters through their representations, so the "
            "complete-data score does not split into a gate part and per-leaf expert parts, which "
            "is what the observed information is assembled from (mixexp.inference). Use "
            "gate='softmax' or gate='gaussian' for standard errors."
        )

    # as the softmax gate: the root's sums, the L2 penalty, the data-dependent penalties
    constant_stats = SoftmaxGate.constant_stats
    penalty = SoftmaxGate.penalty
    data_penalty = SoftmaxGate.data_penalty

    def n_free_params(self, params):
        return params["coef"].size

    def attributes(self, params, coords, flat):
        """``gate_query_coef_`` (…, n_repr, n_features) and ``gate_query_intercept_`` in raw units."""
        coef, intercept = rows_to_original(params["coef"], coords)
        if flat:
            coef, intercept = coef[0], intercept[0]
        return {"gate_query_coef_": coef, "gate_query_intercept_": intercept}
