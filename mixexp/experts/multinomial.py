"""Multinomial-logistic experts: ``p(y = c | x, leaf) = softmax_c(W x + w)``.

The M-step of each leaf is the soft-label multinomial fit of
:mod:`mixexp.gates.softmax` with one-hot targets weighted by the leaf's
posterior, warm-started from the previous coefficients.
"""

import numpy as np

from .._kernels import multinomial_logdens
from .._linalg import matmul_rows, weighted_grams
from ..gates.softmax import bound_factor, softmax_mstep


class MultinomialExperts:
    """Softmax-regression experts over ``n_classes`` classes."""

    def __init__(self, alpha, n_steps, tol=1e-12):
        self.alpha = alpha
        self.n_steps = n_steps
        self.tol = tol
        self._scale = {}  # step lengths that worked, per leaf

    def init_params(self, n_leaves, n_outputs, n_params):
        return {"coef": np.zeros((n_leaves, n_outputs, n_params))}

    def logits(self, Xa, params):
        """Each leaf's class logits, ``(n, n_leaves * n_classes)``, leaf-major."""
        coef = params["coef"]
        return matmul_rows(Xa, coef.reshape(-1, coef.shape[2]).T)

    def logdens(self, Xa, target, params):
        y_index, _ = target
        n_classes = params["coef"].shape[1]
        out = np.empty((Xa.shape[0], params["coef"].shape[0]))
        multinomial_logdens(self.logits(Xa, params), y_index, n_classes, out)
        return out

    def mstep(self, Xa, target, W, params, leaves, n_steps=None):
        """Refit ``leaves`` (indices) from weights ``W`` (n, n_leaves); others are kept."""
        _, onehot = target
        coef = params["coef"].copy()
        grams = weighted_grams(Xa, W)  # every leaf's bound from one pass over the rows
        for leaf in leaves:
            w = W[:, leaf]
            coef[leaf], _, self._scale[leaf] = softmax_mstep(
                Xa, onehot * w[:, None], coef[leaf], self.alpha,
                n_steps or self.n_steps, w=w, tol=self.tol, scale=self._scale.get(leaf, 1.0),
                factor=bound_factor(Xa, w, self.alpha, gram=grams[leaf]),
            )
        return {"coef": coef}

    def penalty(self, params):
        return 0.5 * self.alpha * np.sum(params["coef"][:, :, :-1] ** 2)

    @staticmethod
    def n_free_params(params):
        n_leaves, n_classes, p = params["coef"].shape
        return n_leaves * (n_classes - 1) * p
