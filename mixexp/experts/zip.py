"""Zero-inflated Poisson experts: ``y = 0`` with probability ``pi``, else Poisson.

``p(y | x, leaf) = pi 1[y = 0] + (1 - pi) Poisson(y; mu(x))``, ``log mu(x) =
B x + b + log(exposure)``, with a zero-inflation probability ``pi`` per
expert that does not depend on ``x`` (as the ZI-Poisson experts of LRMoE;
the gate and the Poisson mean carry the covariates).  Whether a zero is a
structural one is a second latent variable (Lambert 1992).  One update is
one EM step of the leaf's weighted ZIP fit: with the current parameters,
``z_i = pi / (pi + (1 - pi) exp(-mu_i))`` for ``y_i = 0`` (0 otherwise),
then ``pi = sum_i w_i z_i / sum_i w_i`` and the Poisson coefficients fitted
exactly (Newton, as :class:`~mixexp.experts.glm.PoissonExperts`) with
weights ``w_i (1 - z_i)``.  Each such step maximises the expected
complete-data log-likelihood of both latent variables, so EM never
decreases the penalised log-likelihood; it is not the whole M-step for
given posteriors (iterating it gains more).

Not registered: ``expert="zip"`` is
:class:`~mixexp.experts.zero_inflated.ZeroInflatedPoisson`, the Poisson family
zero-inflated; this class stays as the independent fit (and standard errors) that
tests/test_zero_inflation.py checks it against.
"""

import numpy as np
from scipy.special import gammaln

from .._inference_parts import scalar
from .base import ExpertComponent
from .glm import PoissonExperts, _exp, concat_rows

#: a zero-inflation below this is on the boundary of its space (0): held there by inference
PI_BOUNDARY = 1e-8


class ZeroInflatedPoissonExperts(PoissonExperts):
    """Zero-inflated Poisson regression experts (see the module docstring).

    Parameters
    ----------
    alpha : float
        L2 penalty on the Poisson coefficients (not intercepts), standardised
        features.
    """

    name = "zip"
    closed_form = False

    def prepare_target(self, y, sw):
        target, info = super().prepare_target(y, sw)
        info["zero_fraction"] = float(np.average(target[0] == 0, weights=sw))
        return target, info

    def init_params(self, n_leaves, n_params, info):
        params = super().init_params(n_leaves, n_params, info)
        return {**params, "pi": np.full(n_leaves, 0.5 * info["zero_fraction"])}

    @staticmethod
    def _structural(y, mu, pi):
        """Posterior probability that each zero is structural (0 for positive counts)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            z = pi / (pi + (1.0 - pi) * np.exp(-mu))
        return np.where(y == 0, np.nan_to_num(z), 0.0)

    def scores(self, Xa, target, params):
        y, offset = target
        eta = self._eta(Xa, params, offset)
        mu = _exp(eta)
        pi = params["pi"]
        with np.errstate(divide="ignore"):
            log_pi, log_rest = np.log(pi), np.log1p(-pi)
        zero = np.logaddexp(log_pi, log_rest - mu)
        positive = log_rest + y[:, None] * eta - mu - gammaln(y + 1.0)[:, None]
        return np.where((y == 0)[:, None], zero, positive), None

    def update(self, S, params, active, safe=False):
        """One EM step of the weighted ZIP fit of the leaves whose ``active`` flag is set."""
        coef, pi, rows = params["coef"].copy(), params["pi"].copy(), concat_rows(S["rows"])
        for leaf in np.flatnonzero(active):
            Xa, y, offset, w = self._leaf_rows(rows, leaf)
            mu = _exp(np.asarray(Xa @ coef[leaf, 0]) + offset)
            z = self._structural(y, mu, pi[leaf])
            pi[leaf] = (w @ z) / w.sum()
            v = w * (1.0 - z)
            keep = v > 0
            if np.any(keep):
                coef[leaf, 0] = self._fit_leaf(Xa[keep], y[keep], offset[keep], v[keep], coef[leaf, 0])
        return {"coef": coef, "pi": pi}, False

    def attributes(self, params, coords, info):
        return {**super().attributes(params, coords, info), "zero_inflation_": params["pi"].copy()}

    def moments(self, Xa, params, info, offset=None):
        """Each leaf's mean ``(1 - pi) mu`` and variance ``(1 - pi) mu (1 + pi mu)``."""
        mu = self._mean(Xa, params, info, offset)
        pi = params["pi"]
        return ((1.0 - pi) * mu)[:, :, None], ((1.0 - pi) * mu * (1.0 + pi * mu))[:, :, None]

    # the distribution: a point mass pi at 0 and (1 - pi) times the Poisson's
    def _log_cdf(self, k, eta, params):
        pi = params["pi"]
        with np.errstate(divide="ignore"):
            mixed = np.logaddexp(np.log(pi), np.log1p(-pi) + super()._log_cdf(k, eta, params))
        return np.where(k < 0, -np.inf, mixed)

    def _log_sf(self, k, eta, params):
        with np.errstate(divide="ignore"):
            return np.where(k < 0, 0.0, np.log1p(-params["pi"]) + super()._log_sf(k, eta, params))

    def _quantile(self, q, eta, params):
        pi = params["pi"]
        with np.errstate(divide="ignore", invalid="ignore"):
            above = np.clip(np.nan_to_num((q - pi) / (1.0 - pi)), 0.0, 1.0)
        return np.where(q <= pi, 0.0, super()._quantile(above, eta, params))

    def _limited_mean(self, limit, eta, params):
        return (1.0 - params["pi"]) * super()._limited_mean(limit, eta, params)

    def sample(self, Xa, params, info, leaf, rs, offset=None):
        mu = np.take_along_axis(self._mean(Xa, params, info, offset), leaf, axis=1)
        keep = rs.uniform(size=mu.shape) >= params["pi"][leaf]
        return (keep * rs.poisson(mu))[:, :, None].astype(np.float64)

    # -- inference: the coefficients and logit(pi), by central differences ----------------
    inference_scores = ExpertComponent.inference_scores
    inference_hessian = ExpertComponent.inference_hessian

    def _extra_vector(self, params):
        pi = params["pi"]
        with np.errstate(divide="ignore"):
            return (np.log(pi) - np.log1p(-pi))[:, None]

    def _with_extra(self, params, extra):
        return {**params, "pi": 1.0 / (1.0 + np.exp(-extra[:, 0]))}

    def _extra_labels(self, label, info):
        return [scalar(label, "logit_zero_inflation")]

    def inference_fixed(self, params):
        """A zero-inflation below ``PI_BOUNDARY`` (1e-8; the fit drove it to 0, where the
        logit is not identified) or at 1: on the boundary, held there."""
        fixed = np.zeros(self.inference_vector(params).shape, dtype=bool)
        pi = params["pi"]
        fixed[:, -1] = (pi < PI_BOUNDARY) | (pi >= 1.0)
        return fixed
