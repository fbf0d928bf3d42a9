"""Multinomial-logistic experts: ``p(y = c | x, leaf) = softmax_c(W x + w)``.

The M-step of each leaf is a bound step of the soft-label multinomial fit of
:mod:`mixexp._numerics.bound`, with one-hot labels weighted by the leaf's posterior
as targets.  Its row sums: each leaf's gradient ``sum_i w_il (p_il - e_yi)
x_i^T`` and Gram matrix ``sum_i w_il x_i x_i^T``.
"""

import numpy as np
from sklearn.utils.validation import check_array, check_consistent_length

from .._design import rows_to_original
from .._inference_parts import (
    Labels, coefficient_row, relative_rows_vector, softmax_hessian, softmax_scores, unused_features,
)
from .._numerics.bound import STEP_STATE_KEYS, blocks_update, init_step_state, multinomial_residual
from .._numerics.densities import multinomial_proba_rows
from .._numerics.linalg import block_products, tdot, weighted_grams
from .._numerics.mixing import mix_group_softmax
from .._numerics.prox import elastic_net_penalty, softmax_n_nonzero
from .._numerics.softmax import group_softmax, log_softmax_groups_rows, relative_rows
from .base import ExpertComponent


class MultinomialExperts(ExpertComponent):
    """Softmax-regression experts over the classes seen in ``fit``.

    Parameters
    ----------
    alpha : float
        Penalty on the coefficients (not intercepts), standardised units.
    l1_ratio : float, default=0.0
        Elastic-net mixing of ``alpha`` (0: ridge; see :mod:`mixexp._numerics.prox`).
    """

    name = "linear"
    closed_form = False  # a bound step: iterating it with fixed posteriors gains
    per_leaf = True
    gives_representation = True
    supports_l1 = True
    supports_inference = True
    products_outputs = mixture_outputs = frozenset({"leaf_proba"})

    def __init__(self, alpha, l1_ratio=0.0):
        self.alpha = alpha
        self.l1_ratio = l1_ratio

    @classmethod
    def from_params(cls, params):
        return cls(params["alpha"], params.get("l1_ratio", 0.0))

    # -- targets ------------------------------------------------------------
    def prepare_target(self, y, sw):
        """Class indices ``(n,)`` and the classes."""
        classes, y_index = np.unique(y, return_inverse=True)
        return y_index.astype(np.int64).ravel(), {"classes": classes, "n_outputs": classes.shape[0]}

    def check_target(self, y, n_samples, info):
        classes = info["classes"]
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        if y.ndim != 1:
            raise ValueError(f"y should be a 1d array, got an array of shape {y.shape} instead.")
        check_consistent_length(y, np.empty(n_samples))
        y_index = np.minimum(np.searchsorted(classes, y), classes.shape[0] - 1)
        unknown = classes[y_index] != y
        if np.any(unknown):
            raise ValueError(f"y contains labels not seen in fit: {np.unique(y[unknown])!r}.")
        return y_index.astype(np.int64)

    def kmeans_features(self, target):
        # k-means sees X only: clusters split by label would start EM at a fixed
        # point where each expert predicts a single class and the gate does all the work
        return np.empty((target.shape[0], 0))

    def loglik_shift(self, info):
        return 0.0

    # -- the component --------------------------------------------------------
    def init_params(self, n_leaves, n_params, info):
        k = info["n_outputs"]
        return {"coef": np.zeros((n_leaves, k, n_params)), **init_step_state(n_leaves, k, n_params)}

    def scores(self, Xa, y_index, params):
        """Log-probability of the observed class under each leaf, and every class's
        probability (the context)."""
        coef = params["coef"]
        logits = block_products(Xa, coef)
        proba = np.empty_like(logits)
        out = np.empty((logits.shape[0], coef.shape[0]))
        multinomial_proba_rows(logits, y_index, coef.shape[1], proba, out)
        return out, proba

    def gram_nodes(self, tree):
        """The leaves, whose weighted Grams :meth:`stats` sums."""
        return slice(tree.n_inner, tree.n_nodes)

    def stats(self, Xa, y_index, W, params, proba, grams=None):
        residual = np.empty_like(proba)
        multinomial_residual(proba, y_index, W, residual)
        return {
            "grad": tdot(residual, Xa).reshape(params["coef"].shape),
            "grams": weighted_grams(Xa, W) if grams is None else grams,
        }

    def update(self, S, params, active, safe=False):
        """One bound step for each leaf whose ``active`` flag is set."""
        state = {key: params[key] for key in STEP_STATE_KEYS}
        coef, state, extrapolated = blocks_update(
            params["coef"], S["grad"], S["grams"], self.alpha, state, np.flatnonzero(active), safe,
            self.l1_ratio,
        )
        return {"coef": coef, **state}, extrapolated

    def penalty(self, params):
        if self.l1_ratio > 0.0:
            return float(np.sum(elastic_net_penalty(params["coef"], self.alpha, self.l1_ratio)))
        return 0.5 * self.alpha * np.sum(params["coef"][:, :, :-1] ** 2)

    def n_free_params(self, params):
        n_leaves, n_classes, p = params["coef"].shape
        if self.l1_ratio > 0.0:
            return softmax_n_nonzero(params["coef"])
        return n_leaves * (n_classes - 1) * p

    # -- inference: analytic ------------------------------------------------------
    def inference_vector(self, params):
        """Every leaf's class rows 1.. minus row 0 (only differences are identified),
        ``(n_leaves, (n_classes - 1) * n_params)``."""
        coef = params["coef"]
        return relative_rows_vector(coef).reshape(coef.shape[0], -1)

    def from_inference_vector(self, theta, params):
        coef = np.zeros_like(params["coef"])
        n_leaves, k, p = coef.shape
        coef[:, 1:] = np.asarray(theta).reshape(n_leaves, k - 1, p)
        return {**params, "coef": coef}

    def inference_fixed(self, params):
        """A sparse fit's (``l1_ratio > 0``) features that no class row of a leaf uses: held at 0."""
        coef = params["coef"]
        if self.l1_ratio > 0:
            return unused_features(coef).reshape(coef.shape[0], -1)
        return np.zeros(self.inference_vector(params).shape, dtype=bool)

    def inference_labels(self, params, coords, info, feature_names):
        """``expert k: class c vs <first class>``: intercept and coefficients."""
        classes = info["classes"]
        n_leaves, k, _ = params["coef"].shape
        return Labels.concat(
            coefficient_row(f"expert {leaf}: class {classes[c]} vs {classes[0]}", coords, feature_names)
            for leaf in range(n_leaves)
            for c in range(1, k)
        )

    def inference_scores(self, Xa, y_index, params):
        """``(e_y - q) (x) x`` per leaf (``q``: the probabilities of classes 1..)."""
        n = Xa.shape[0]
        n_leaves, k, _ = params["coef"].shape
        proba = self.scores(Xa, y_index, params)[1].reshape(n, n_leaves, k)
        return np.stack([softmax_scores(proba[:, leaf], Xa, y_index) for leaf in range(n_leaves)], axis=1)

    def inference_hessian(self, Xa, y_index, params, W):
        """``-sum_i W_ik (diag(q) - q q^T) (x) x x^T`` per leaf."""
        n = Xa.shape[0]
        n_leaves, k, _ = params["coef"].shape
        proba = self.scores(Xa, y_index, params)[1].reshape(n, n_leaves, k)
        return np.stack([softmax_hessian(proba[:, leaf], W[:, leaf], Xa) for leaf in range(n_leaves)])

    def representation(self, Xa, params):
        """Each leaf's own view of the rows for an attention gate: its logits, centred over
        the classes (the identified part), ``(n, n_leaves, n_classes)``."""
        coef = params["coef"]
        logits = block_products(Xa, coef).reshape(Xa.shape[0], *coef.shape[:2])
        return logits - logits.mean(axis=2, keepdims=True)

    def leaf_params(self, params, leaves):
        """The parameters of the leaves ``leaves`` only (for top-k prediction)."""
        return {"coef": params["coef"][leaves]}

    # -- fitted attributes and predictions --------------------------------------
    def attributes(self, params, coords, info):
        coef, intercept = rows_to_original(params["coef"], coords)
        return {"expert_coef_": coef, "expert_intercept_": intercept, "classes_": info["classes"]}

    def leaf_log_proba(self, Xa, params, info):
        """Each leaf's class log-probabilities, ``(n, n_leaves, n_classes)``."""
        coef = params["coef"]
        n_leaves, k, _ = coef.shape
        logits = block_products(Xa, coef)
        log_proba = np.empty_like(logits)
        log_softmax_groups_rows(logits, k, log_proba)
        return log_proba.reshape(Xa.shape[0], n_leaves, k)

    def linear_rows(self, params, info):
        """The rows of coefficients whose products with the design are the leaves' logits
        relative to class 0, ``(n_leaves * (n_classes - 1), n_params)``, class-major:
        class ``c + 1`` of leaf ``k`` minus class 0 in row ``c * n_leaves + k``
        (:meth:`leaf_proba_from_products` takes the products; the softmax does not change,
        and class 0 needs no column)."""
        return relative_rows(params["coef"])

    def leaf_proba(self, Xa, params, info):
        """Each leaf's class probabilities, ``(n, n_leaves, n_classes)``.

        The exp of :meth:`leaf_log_proba` up to rounding, with numpy's vectorised exp;
        probabilities below about 1e-304 may be 0 here.
        """
        return self.leaf_proba_from_products(block_products(Xa, self.linear_rows(params, info)), params, info)

    def leaf_proba_from_products(self, logits, params, info):
        """:meth:`leaf_proba` from the logits ``design @ linear_rows(params, info).T``."""
        n_leaves, n_classes, _ = params["coef"].shape
        proba = group_softmax(logits, n_leaves)
        return proba.reshape(logits.shape[0], n_classes, n_leaves).transpose(0, 2, 1)

    def output_from_products(self, output, products, params, info):
        """The leaves' class probabilities from the logits (the one output in ``products_outputs``)."""
        return self.leaf_proba_from_products(products, params, info)

    def export_parts(self, params, info):
        """Each leaf's class coefficients on the internal design (ONNX export)."""
        return {"kind": "class_softmax", "coef": params["coef"]}

    def hard_output_from_products(self, output, products, leaf, params, info):
        """Each row's own leaf's class probabilities, ``(n, 1, n_classes)``: the softmax of its
        relative logits, which is the same map for every leaf."""
        return self.leaf_proba_from_products(products, self.leaf_params(params, [0]), info)

    def mixture_from_products(self, output, products, gates, params, info):
        """The mixture of the leaves' class probabilities from the logits."""
        return self.mixture_leaf_proba_from_products(products, gates, params, info)

    def mixture_leaf_proba_from_products(self, logits, gates, params, info):
        """The mixture ``sum_k gates[:, k] * leaf_proba[:, k]`` of :meth:`leaf_proba_from_products`,
        ``(n, n_classes)``, without forming the leaves' probabilities (one pass over the logits)."""
        return mix_group_softmax(gates, logits)
