"""Linear-Gaussian experts: ``y | x, leaf ~ N(B x + b, diag(var))``.

M-step per leaf with weights ``w_i`` (posterior times sample weight): it
maximises ``sum_i w_i log N(y_i | B x_i + b, var) - alpha / (2 var) ||B||^2``
exactly, subject to ``var >= reg_variance``.  The penalty is scaled by the
noise variance (a conjugate ridge prior), so that the weights solve a plain
weighted ridge problem shared by all targets and the fit does not depend on
the scale of ``y``.
"""

import numpy as np

from .._kernels import gaussian_logdens
from .._linalg import matmul_rows, solve_psd, tdot_rows, weighted_grams


class GaussianExperts:
    """Linear-Gaussian experts with diagonal noise per target."""

    def __init__(self, alpha, reg_variance):
        self.alpha = alpha
        self.reg_variance = reg_variance

    def init_params(self, n_leaves, n_outputs, n_params):
        return {
            "coef": np.zeros((n_leaves, n_outputs, n_params)),
            "var": np.ones((n_leaves, n_outputs)),
        }

    def means(self, Xa, params):
        """Each leaf's mean, ``(n, n_leaves * n_targets)``, leaf-major."""
        coef = params["coef"]
        return matmul_rows(Xa, coef.reshape(-1, coef.shape[2]).T)

    def logdens(self, Xa, Y, params):
        out = np.empty((Xa.shape[0], params["coef"].shape[0]))
        gaussian_logdens(self.means(Xa, params), Y, params["var"], out)
        return out

    def mstep(self, Xa, Y, W, params, leaves, n_steps=None):
        """Refit ``leaves`` (indices) from weights ``W`` (n, n_leaves); others are kept."""
        coef = params["coef"].copy()
        var = params["var"].copy()
        n, p = Xa.shape
        n_leaves, n_targets = var.shape
        ridge = np.full(p, self.alpha)
        ridge[-1] = 0.0
        # Sufficient statistics of every leaf in three passes over the rows:
        # X^T W_k X (one kernel for all leaves), X^T W_k Y and Y^T W_k Y.
        grams = weighted_grams(Xa, W)
        XtWY = tdot_rows(Xa, (W[:, :, None] * Y[:, None, :]).reshape(n, -1)).reshape(
            p, n_leaves, n_targets
        )
        YtWY = W.T @ (Y * Y)
        for leaf in leaves:
            G = grams[leaf]
            total = G[-1, -1]  # sum_i W[i, leaf]: the last column of Xa is ones
            b = XtWY[:, leaf]
            beta = solve_psd(G + np.diag(ridge), b)  # (p, n_targets)
            # RSS = y'Wy - 2 beta'X'Wy + beta'X'WX beta, clipped at 0 against rounding
            rss = np.maximum(
                YtWY[leaf] - 2.0 * np.sum(beta * b, axis=0) + np.sum(beta * (G @ beta), axis=0),
                0.0,
            )
            pen = self.alpha * np.sum(beta[:-1] ** 2, axis=0)
            coef[leaf] = beta.T
            var[leaf] = np.maximum((rss + pen) / total, self.reg_variance)
        return {"coef": coef, "var": var}

    def penalty(self, params):
        coef, var = params["coef"], params["var"]
        return 0.5 * self.alpha * np.sum(np.sum(coef[:, :, :-1] ** 2, axis=2) / var)

    @staticmethod
    def n_free_params(params):
        coef = params["coef"]
        return coef.size + params["var"].size
