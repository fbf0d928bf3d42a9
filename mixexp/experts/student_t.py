"""Linear Student-t experts: robust regression with heavy-tailed noise.

``y_t | x, leaf ~ t(B x + b, sigma^2, nu)`` independently for every target
``t``: each leaf and target has its own scale ``sigma^2`` and degrees of
freedom ``nu`` in ``[NU_MIN, NU_MAX]``.  The t is a Gaussian scale mixture,
``y | u ~ N(mu, sigma^2 / u)`` with ``u ~ Gamma(nu / 2, nu / 2)``, and EM
treats ``u`` as a second latent variable (Peel & McLachlan 2000; the tMoE of
Chamroukhi 2016, R package meteorits).  The E-step adds the scale weights

    u_ik = (nu_k + 1) / (nu_k + delta_ik),   delta_ik = (y_i - mu_ik)^2 / sigma_k^2,

and ``E[log u_ik] = log u_ik + psi((nu_k + 1) / 2) - log((nu_k + 1) / 2)``.
The expected complete-data log-likelihood separates: ``(B, b, sigma^2)`` are
a weighted ridge fit with weights ``w_ik u_ik`` (``w``: posterior times
sample weight) and the penalty ``alpha / (2 sigma^2) ||B||^2`` of the
Gaussian family, ``sigma^2 = (sum_i w_i u_i r_i^2 + alpha ||B||^2) / sum_i
w_i``; ``nu`` maximises a concave function of one variable, whose stationary
point is the root of

    log(nu / 2) - psi(nu / 2) + 1 + psi((nu_old + 1) / 2) - log((nu_old + 1) / 2)
        + sum_i w_i (log u_i - u_i) / sum_i w_i = 0,

clipped to the bounds.  Both maximise exactly, so every update is an exact
M-step for the augmented data and EM never decreases the penalised
log-likelihood.  The row sums: every leaf and target's Gram matrix and
moments weighted by ``w u``, the weights' totals and ``sum w (log u - u)``.

The t has a mean only when ``nu > 1`` and a variance only when ``nu > 2``:
predictions use the location ``mu`` (the mean when it exists, always the
median), and a leaf with ``nu <= 2`` has an infinite predictive variance.
"""

import numpy as np
from scipy.optimize import brentq
from scipy.special import digamma, gammaln, stdtr, stdtrit

from .._inference_parts import Labels, coefficient_row, scalar
from .._numerics.linalg import block_products, column_sums, solve_psd, tdot, weighted_grams
from .base import ExpertComponent
from .gaussian import LinearGaussianExperts, check_single_target

NU_MIN = 1e-2  # bounds of the degrees of freedom
NU_MAX = 200.0
NU_INIT = 10.0  # a start between heavy tails and the near-Gaussian


def _nu_equation(nu, constant):
    return np.log(nu / 2.0) - digamma(nu / 2.0) + constant


def solve_nu(constant):
    """The ``nu`` in ``[NU_MIN, NU_MAX]`` maximising the concave ``nu`` part of the M-step.

    ``constant`` is everything of the stationarity equation but ``log(nu / 2)
    - psi(nu / 2)``, a decreasing function of ``nu``; a root outside the
    bounds gives the nearer bound.
    """
    if _nu_equation(NU_MAX, constant) >= 0.0:
        return NU_MAX
    if _nu_equation(NU_MIN, constant) <= 0.0:
        return NU_MIN
    return brentq(_nu_equation, NU_MIN, NU_MAX, args=(constant,), xtol=1e-14, rtol=1e-15, maxiter=500)


def t_logdens(resid2, var, nu):
    """Log-density of the t at squared residuals ``resid2``, broadcast over ``var`` and ``nu``."""
    return (
        gammaln((nu + 1.0) / 2.0)
        - gammaln(nu / 2.0)
        - 0.5 * np.log(np.pi * nu * var)
        - (nu + 1.0) / 2.0 * np.log1p(resid2 / (var * nu))
    )


class StudentTExperts(LinearGaussianExperts):
    """Linear experts with Student-t noise, per target.

    Targets are standardised as for :class:`LinearGaussianExperts`.

    Parameters
    ----------
    alpha : float
        Ridge penalty on the coefficients (not intercepts), standardised
        units, scaled by the noise scale ``sigma^2`` (a conjugate prior).
    reg_variance : float
        Lower bound on every ``sigma^2``, relative to each target's variance.
    """

    name = "student_t"
    takes_missing = False  # not linear-Gaussian: (x, y) is not jointly Gaussian
    supports_l1 = False
    # the Gaussian's censored moments and interval derivatives are the normal's, not this
    # family's: censored rows take the numerical M-step and central differences
    imputes_censored = False
    gives_interval_scores = False
    closed_form = False  # the scale weights change with the parameters: iterating gains

    @classmethod
    def from_params(cls, params):
        return cls(params["alpha"], params["reg_variance"])

    # -- the component --------------------------------------------------------
    def init_params(self, n_leaves, n_params, info):
        params = super().init_params(n_leaves, n_params, info)
        params["nu"] = np.full(params["var"].shape, NU_INIT)
        return params

    def _resid2(self, Xa, Y, params):
        n_leaves, n_targets = params["var"].shape
        means = self._means(Xa, params).reshape(-1, n_leaves, n_targets)
        return (Y[:, None, :] - means) ** 2

    def scores(self, Xa, Y, params):
        resid2 = self._resid2(Xa, Y, params)  # (n, n_leaves, n_targets)
        return t_logdens(resid2, params["var"], params["nu"]).sum(axis=2), resid2

    def gram_nodes(self, tree):
        """None: the Grams of :meth:`stats` are weighted by the E-step's scale weights too,
        not by the leaves' posteriors alone."""
        return None

    def stats(self, Xa, Y, W, params, resid2):
        m, n_leaves = W.shape
        nu = params["nu"]
        u = (nu + 1.0) / (nu + resid2 / params["var"])  # E-step scale weights (n, L, T)
        WU = W[:, :, None] * u
        flat = WU.reshape(m, -1)
        return {
            "grams": weighted_grams(Xa, flat),  # (L * T, p, p)
            "xty": tdot(Xa, flat * np.tile(Y, n_leaves)),  # (p, L * T)
            "yty": np.einsum("nlt,nt->lt", WU, Y * Y),
            "mass": column_sums(W),
            "log_u_minus_u": np.einsum("nl,nlt->lt", W, np.log(u) - u),
        }

    def update(self, S, params, active, safe=False):
        """Exact M-step (given the scale weights) of the leaves whose ``active`` flag is set."""
        coef, var, nu = params["coef"].copy(), params["var"].copy(), params["nu"].copy()
        n_targets, p = coef.shape[1], coef.shape[2]
        ridge = np.full(p, self.alpha)
        ridge[-1] = 0.0
        for leaf in np.flatnonzero(active):
            total = S["mass"][leaf]
            for t in range(n_targets):
                j = leaf * n_targets + t
                G, b = S["grams"][j], S["xty"][:, j]
                beta = solve_psd(G + np.diag(ridge), b)
                rss = max(S["yty"][leaf, t] - 2.0 * beta @ b + beta @ G @ beta, 0.0)
                coef[leaf, t] = beta
                var[leaf, t] = max((rss + self.alpha * np.sum(beta[:-1] ** 2)) / total, self.reg_variance)
                half = (params["nu"][leaf, t] + 1.0) / 2.0
                constant = 1.0 + digamma(half) - np.log(half) + S["log_u_minus_u"][leaf, t] / total
                nu[leaf, t] = solve_nu(constant)
        return {"coef": coef, "var": var, "nu": nu}, False

    def n_free_params(self, params):
        return params["coef"].size + params["var"].size + params["nu"].size

    # the weights' M-step is the t's own (scaled by each row's expected precision): no
    # shared coefficients or tied scale
    set_constraints = ExpertComponent.set_constraints
    inference_ties = ExpertComponent.inference_ties

    # -- inference: central differences of the log-densities (the base class's) ------
    inference_scores = ExpertComponent.inference_scores
    inference_hessian = ExpertComponent.inference_hessian

    def inference_vector(self, params):
        """Per leaf and target: the weights, ``log sigma^2`` and ``log nu``,
        ``(n_leaves, n_targets * (n_params + 2))``."""
        coef = params["coef"]
        extra = np.stack([np.log(params["var"]), np.log(params["nu"])], axis=2)
        return np.concatenate([coef, extra], axis=2).reshape(coef.shape[0], -1)

    def from_inference_vector(self, theta, params):
        n_leaves, n_targets, p = params["coef"].shape
        rest = np.asarray(theta).reshape(n_leaves, n_targets, p + 2)
        return {**params, "coef": rest[:, :, :p].copy(), "var": np.exp(rest[:, :, p]), "nu": np.exp(rest[:, :, p + 1])}

    def _scale_bounds(self):
        """The log variance at least ``log(reg_variance)``, ``log nu`` in ``[log NU_MIN, log
        NU_MAX]`` (the bounds of :meth:`update`)."""
        return np.log([self.reg_variance, NU_MIN]), np.array([np.inf, np.log(NU_MAX)])

    def inference_fixed(self, params):
        """Degrees of freedom on a bound (``NU_MIN``, ``NU_MAX``): on the boundary of the
        parameter space, held there."""
        n_leaves, n_targets, p = params["coef"].shape
        fixed = np.zeros((n_leaves, n_targets, p + 2), dtype=bool)
        fixed[:, :, p + 1] = (params["nu"] <= NU_MIN) | (params["nu"] >= NU_MAX)
        return fixed.reshape(n_leaves, -1)

    def inference_labels(self, params, coords, info, feature_names):
        """``expert k`` (``, target t``): intercept, coefficients, ``log_noise_scale``
        (``log sigma`` in the units of y) and ``log_nu``."""
        n_leaves, n_targets, _ = params["coef"].shape
        parts = []
        for leaf in range(n_leaves):
            for out in range(n_targets):
                ys = info["scale"][out]
                label = f"expert {leaf}" + (f", target {out}" if n_targets > 1 else "")
                parts.append(coefficient_row(label, coords, feature_names, ys, info["mean"][out]))
                parts.append(scalar(label, "log_noise_scale", 0.5, np.log(ys)))
                parts.append(scalar(label, "log_nu"))
        return Labels.concat(parts)

    # -- fitted attributes and predictions --------------------------------------
    def attributes(self, params, coords, info):
        attrs = super().attributes(params, coords, info)
        # sigma^2 is the t's squared scale, not its variance
        attrs["noise_scale_"] = np.sqrt(attrs.pop("noise_variance_"))
        attrs["nu_"] = params["nu"].copy()
        return attrs

    def moments_from_products(self, P, params, info):
        """Each leaf's location and variance in the units of y, ``(n, n_leaves, n_targets)``,
        from the products ``design @ linear_rows(params, info).T`` (the locations).

        The variance is ``sigma^2 nu / (nu - 2)``, infinite where ``nu <= 2``.
        """
        n_leaves, n_targets = params["var"].shape
        means = P.reshape(-1, n_leaves, n_targets)
        nu = params["nu"]
        with np.errstate(divide="ignore"):
            factor = np.where(nu > 2.0, nu / np.maximum(nu - 2.0, 1e-300), np.inf)
        var = np.broadcast_to(params["var"] * info["scale"] ** 2 * factor, means.shape)
        return means, var

    def sample(self, Xa, params, info, leaf, rs):
        """Draws ``(n, n_draws, n_targets)`` from the leaves ``leaf`` (n, n_draws)."""
        n_leaves, n_targets = params["var"].shape
        means = self._means(Xa, params).reshape(-1, n_leaves, n_targets)
        mu = np.take_along_axis(means, leaf[:, :, None], axis=1)
        scale = np.sqrt(params["var"])[leaf]  # (n, n_draws, n_targets)
        nu = params["nu"][leaf]
        draws = mu + scale * rs.standard_t(nu)
        return draws * info["scale"] + info["mean"]

    # -- distributions (one target, units of y) ---------------------------------
    def _location_scale(self, Xa, params, info):
        """Each leaf's location ``mu``, scale ``sigma`` (``(n, n_leaves)``) and degrees of
        freedom ``nu`` (``(n_leaves,)``) of a model of one target."""
        check_single_target(info, self.name)
        mu = block_products(Xa, self.linear_rows(params, info)).reshape(Xa.shape[0], -1)
        return mu, np.sqrt(params["var"][:, 0]) * info["scale"][0], params["nu"][:, 0]

    def log_cdf(self, Xa, y, params, info):
        """``log F_nu((y - mu) / sigma)`` of every leaf, ``(n, n_leaves)``."""
        mu, sd, nu = self._location_scale(Xa, params, info)
        with np.errstate(divide="ignore"):
            return np.log(stdtr(nu, (y[:, None] - mu) / sd))

    def log_sf(self, Xa, y, params, info):
        """``log F_nu((mu - y) / sigma)`` of every leaf (the t is symmetric), ``(n, n_leaves)``."""
        mu, sd, nu = self._location_scale(Xa, params, info)
        with np.errstate(divide="ignore"):
            return np.log(stdtr(nu, (mu - y[:, None]) / sd))

    def leaf_quantile(self, Xa, q, params, info):
        """``mu + sigma F_nu^-1(q)`` of every leaf, ``(n, n_leaves)`` (the upper half from
        ``1 - q``, by symmetry)."""
        mu, sd, nu = self._location_scale(Xa, params, info)
        q = q[:, None]
        lower = stdtrit(nu, np.minimum(q, 0.5))
        upper = -stdtrit(nu, np.minimum(1.0 - q, 0.5))
        return mu + sd * np.where(q <= 0.5, lower, upper)

    def leaf_limited_mean(self, Xa, limit, params, info):
        """``E[min(Y, u)]`` of every leaf, ``(n, n_leaves)``: ``mu - sigma E[(T - z)+]`` with
        ``z = (u - mu) / sigma`` and, for ``nu > 1``,

            E[(T - z)+] = (nu + z^2) / (nu - 1) f_nu(z) - z (1 - F_nu(z));

        ``-inf`` where ``nu <= 1`` (the lower tail's mean diverges)."""
        mu, sd, nu = self._location_scale(Xa, params, info)
        z = (limit[:, None] - mu) / sd
        with np.errstate(divide="ignore", invalid="ignore"):
            density = np.exp(t_logdens(z * z, 1.0, nu))
            stop_loss = (nu + z * z) / (nu - 1.0) * density - z * stdtr(nu, -z)
            return np.where(nu > 1.0, mu - sd * np.maximum(stop_loss, 0.0), -np.inf)
