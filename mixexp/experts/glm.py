"""Log-link GLM experts: Poisson counts and Gamma severities, with an exposure offset.

Each leaf is a generalised linear model with log link,
``log E[y | x, leaf] = B x + b + log(exposure)``, on a single target:

``PoissonExperts``
    ``y ~ Poisson(mu)``; ``y`` non-negative (counts; non-integer values are
    allowed, as in scikit-learn's ``PoissonRegressor``).
``GammaExperts``
    ``y ~ Gamma(mean mu, shape 1 / phi)``, ``y > 0``, with a dispersion
    ``phi`` per leaf (``Var y = phi mu^2``), estimated by maximum likelihood.

The M-step of a leaf maximises, with weights ``w_i`` (posterior times sample
weight), ``sum_i w_i log p(y_i | x_i) - penalty`` exactly: the coefficients
by Newton's method with step halving from the current ones (each step
increases the objective, which is concave in them), to convergence; the
Gamma's shape ``a = 1 / phi`` then solves ``log a - psi(a) = mean deviance /
2``, the root of a concave one-dimensional problem.  The penalty is the
Poisson's ``alpha / 2 ||B||^2`` and the Gamma's ``alpha / (2 phi) ||B||^2``
(which keeps the coefficient fit free of ``phi``).  Newton needs the rows,
not fixed row sums: the statistics of a pass are the rows and their weights.

The exposure enters as a known log-offset: the internal target is the tuple
``(y, log exposure)`` (zeros without exposure).  Gamma targets are divided
by their weighted mean (a shift of the intercept); Poisson counts are kept.
"""

import numpy as np
import scipy.sparse as sp
from scipy.optimize import brentq
from scipy.special import digamma, gammaln, polygamma
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d

from .._design import rows_to_original
from .._inference_parts import Labels, coefficient_row, scalar
from .._numerics.linalg import solve_psd, tdot, weighted_grams
from .base import ExpertComponent

NEWTON_MAX_ITER = 100
MAX_SHAPE = 1e12  # largest Gamma shape (smallest dispersion) when reg_variance is tinier


def concat_rows(rows):
    """The design, target and weights of all chunks, from ``{"rows": [...]}`` statistics."""
    if len(rows) == 1:
        return rows[0]
    stack = sp.vstack if sp.issparse(rows[0][0]) else np.vstack
    Xa = stack([r[0] for r in rows])
    target = tuple(np.concatenate([r[1][i] for r in rows]) for i in range(len(rows[0][1])))
    return Xa, target, np.vstack([r[2] for r in rows])


def newton_fit(Xa, offset, w, coef, alpha, value, slope, curvature, max_iter=NEWTON_MAX_ITER):
    """Maximise ``F(c) = sum_i w_i ell_i(x_i c + o_i) - alpha / 2 ||c[:-1]||^2`` from ``coef``.

    ``value``, ``slope`` and ``curvature`` give ``ell``, ``ell'`` and
    ``-ell''`` (non-negative: ``ell`` concave) of the linear predictors.
    Damped Newton: a step is halved until ``F`` does not decrease, so the
    result is never worse than ``coef``.  Rows with ``w = 0`` must be removed
    by the caller.
    """
    mask = np.ones(coef.shape[0])
    mask[-1] = 0.0

    def objective(c):
        eta = np.asarray(Xa @ c) + offset
        return float(w @ value(eta)) - 0.5 * alpha * np.sum((c * mask) ** 2), eta

    F, eta = objective(coef)
    for _ in range(max_iter):
        grad = tdot(Xa, w * slope(eta)) - alpha * mask * coef
        H = _gram(Xa, w * curvature(eta)) + np.diag(alpha * mask)
        step = solve_psd(H, grad)
        if grad @ step <= 1e-13 * max(1.0, abs(F)):
            # converged: the step's gain (half of grad @ step) is at the rounding of
            # F, where a line search cannot tell a gain from a loss; the step
            # itself is the quadratic model's optimum there
            return coef + step
        t = 1.0
        while True:
            new = coef + t * step
            F_new, eta_new = objective(new)
            if F_new >= F:
                break
            t *= 0.5
            if t < 1e-10:  # no ascent left at the resolution of F
                return coef
        coef, F, eta = new, F_new, eta_new
    return coef


def _gram(Xa, v):
    """``Xa^T diag(v) Xa``; a plain product for the few columns of a dense design."""
    if sp.issparse(Xa):
        return weighted_grams(Xa, v[:, None])[0]
    return Xa.T @ (Xa * v[:, None])


def _exp(eta):
    with np.errstate(over="ignore"):
        return np.exp(eta)


class LogLinkExperts(ExpertComponent):
    """What the log-link families share: targets with an offset, rows, Newton fits.

    Parameters
    ----------
    alpha : float
        L2 penalty on the coefficients (not intercepts), standardised features.
    """

    needs_all_rows = True  # Newton to convergence on the rows: no running sums (partial_fit, dask)
    uses_exposure = True
    per_leaf = True  # every parameter array has the leaves first (coef, shape, pi)
    multi_output = False
    positive_only = True  # scikit-learn's checks then draw y > 0

    def __init__(self, alpha):
        self.alpha = alpha

    @classmethod
    def from_params(cls, params):
        return cls(params["alpha"])

    # -- targets ------------------------------------------------------------
    def _check_domain(self, y):
        raise NotImplementedError

    def _validated(self, y, warn=False):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=warn)
        elif y.ndim != 1:
            raise ValueError(
                f"expert={self.name!r} models a single target; y has shape {y.shape}."
            )
        self._check_domain(y)
        return y

    def prepare_target(self, y, sw):
        """``(y, zero offset)`` and what the family needs to know of ``y``."""
        y1 = self._validated(y, warn=True)  # a column vector: warned, and predictions are 1-D
        mean = float(np.average(y1, weights=sw))
        info = {"ndim": 1, "n_outputs": 1, "scale": 1.0, "log_mean": np.log(max(mean, 1e-300))}
        return (y1, np.zeros(y1.shape[0])), info

    def check_target(self, y, n_samples, info):
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        check_consistent_length(y, np.empty(n_samples))
        y = self._validated(y)
        return (y / info["scale"], np.zeros(y.shape[0]))

    def offset_target(self, target, log_exposure):
        """The target with the log-exposure as its offset."""
        return (target[0], log_exposure)

    def kmeans_features(self, target):
        y, offset = target
        z = np.log(y + 0.5) - offset
        sd = z.std()
        return ((z - z.mean()) / (sd if sd > 0 else 1.0))[:, None]

    def loglik_shift(self, info):
        return -np.log(info["scale"])

    # -- the component --------------------------------------------------------
    def init_params(self, n_leaves, n_params, info):
        coef = np.zeros((n_leaves, 1, n_params))
        coef[:, :, -1] = info["log_mean"] - np.log(info["scale"])
        return {"coef": coef}

    def _eta(self, Xa, params, offset):
        coef = params["coef"][:, 0, :]
        return np.asarray(Xa @ coef.T) + offset[:, None]  # (n, n_leaves)

    def stats(self, Xa, target, W, params, ctx):
        return {"rows": [(Xa, target, W)]}

    @staticmethod
    def _leaf_rows(rows, leaf):
        """The rows with positive weight for ``leaf``: design, y, offset, weights."""
        Xa, (y, offset), W = rows
        keep = W[:, leaf] > 0
        return Xa[keep], y[keep], offset[keep], W[keep, leaf]

    def penalty(self, params):
        return 0.5 * self.alpha * np.sum(params["coef"][:, :, :-1] ** 2)

    def n_free_params(self, params):
        return params["coef"].size

    # -- inference: the coefficients of the log mean, then the family's own ------------
    supports_inference = True

    def _extra_vector(self, params):
        """The family's parameters after the coefficients, ``(n_leaves, m)``."""
        return np.zeros((params["coef"].shape[0], 0))

    def _with_extra(self, params, extra):
        return params

    def _extra_labels(self, label):
        return []

    def inference_vector(self, params):
        """Per leaf: the coefficients of ``log E[y]`` (then the family's own parameters)."""
        return np.concatenate([params["coef"][:, 0, :], self._extra_vector(params)], axis=1)

    def from_inference_vector(self, theta, params):
        theta = np.asarray(theta)
        p = params["coef"].shape[2]
        return self._with_extra({**params, "coef": theta[:, None, :p].copy()}, theta[:, p:])

    def inference_labels(self, params, coords, info, feature_names):
        """``expert k``: intercept and coefficients of ``log E[y]`` on the raw features (with
        an exposure: per unit of exposure), then the family's own parameters."""
        parts = []
        for leaf in range(params["coef"].shape[0]):
            label = f"expert {leaf}"
            parts.append(coefficient_row(label, coords, feature_names, 1.0, np.log(info["scale"])))
            parts += self._extra_labels(label)
        return Labels.concat(parts)

    # -- fitted attributes and predictions --------------------------------------
    def attributes(self, params, coords, info):
        coef, intercept = rows_to_original(params["coef"], coords)
        return {"expert_coef_": coef, "expert_intercept_": intercept + np.log(info["scale"])}

    def _mean(self, Xa, params, info, offset):
        offset = np.zeros(Xa.shape[0]) if offset is None else offset
        return _exp(self._eta(Xa, params, offset)) * info["scale"]  # (n, n_leaves)


class PoissonExperts(LogLinkExperts):
    """Poisson regression experts with log link (see the module docstring)."""

    name = "poisson"

    def _check_domain(self, y):
        if np.any(y < 0):
            raise ValueError(
                f"Some value(s) of y are negative which is not allowed for expert={self.name!r} "
                "(a count model)."
            )

    def scores(self, Xa, target, params):
        y, offset = target
        eta = self._eta(Xa, params, offset)
        return y[:, None] * eta - _exp(eta) - gammaln(y + 1.0)[:, None], None

    def _fit_leaf(self, Xa, y, offset, w, coef):
        return newton_fit(
            Xa, offset, w, coef, self.alpha,
            value=lambda eta: y * eta - _exp(eta), slope=lambda eta: y - _exp(eta), curvature=_exp,
        )

    def update(self, S, params, active, safe=False):
        """Exact M-step (Newton to convergence) of the leaves whose ``active`` flag is set."""
        coef, rows = params["coef"].copy(), concat_rows(S["rows"])
        for leaf in np.flatnonzero(active):
            Xa, y, offset, w = self._leaf_rows(rows, leaf)
            coef[leaf, 0] = self._fit_leaf(Xa, y, offset, w, coef[leaf, 0])
        return {"coef": coef}, False

    def inference_scores(self, Xa, target, params):
        """``(y - mu) x``."""
        y, offset = target
        mu = _exp(self._eta(Xa, params, offset))
        return (y[:, None] - mu)[:, :, None] * np.asarray(Xa)[:, None, :]

    def inference_hessian(self, Xa, target, params, W):
        """``-X^T diag(W mu) X`` per leaf."""
        _, offset = target
        mu = _exp(self._eta(Xa, params, offset))
        return -weighted_grams(Xa, W * mu)

    def moments(self, Xa, params, info, offset=None):
        """Each leaf's mean and variance, ``(n, n_leaves, 1)``."""
        mean = self._mean(Xa, params, info, offset)[:, :, None]
        return mean, mean

    def sample(self, Xa, params, info, leaf, rs, offset=None):
        mean = np.take_along_axis(self._mean(Xa, params, info, offset), leaf, axis=1)
        return rs.poisson(mean)[:, :, None].astype(np.float64)


class GammaExperts(LogLinkExperts):
    """Gamma regression experts with log link and a dispersion per leaf.

    Parameters
    ----------
    alpha : float
        L2 penalty on the coefficients (not intercepts), scaled by ``1 / phi``.
    reg_variance : float
        Lower bound on every dispersion ``phi`` (the squared coefficient of
        variation, scale free).
    """

    name = "gamma"

    def __init__(self, alpha, reg_variance):
        super().__init__(alpha)
        self.reg_variance = reg_variance

    @classmethod
    def from_params(cls, params):
        return cls(params["alpha"], params["reg_variance"])

    def _check_domain(self, y):
        if np.any(y <= 0):
            raise ValueError(
                f"Some value(s) of y are not positive which is not allowed for expert={self.name!r} "
                "(a model of positive amounts)."
            )

    def prepare_target(self, y, sw):
        (y1, offset), info = super().prepare_target(y, sw)
        info["scale"] = float(np.exp(info["log_mean"]))  # y / its weighted mean: intercepts near 0
        return (y1 / info["scale"], offset), info

    def init_params(self, n_leaves, n_params, info):
        return {**super().init_params(n_leaves, n_params, info), "shape": np.ones(n_leaves)}

    def scores(self, Xa, target, params):
        y, offset = target
        eta = self._eta(Xa, params, offset)
        a = params["shape"]
        log_y = np.log(y)[:, None]
        with np.errstate(over="ignore"):
            ratio = y[:, None] * np.exp(-eta)
        return a * (np.log(a) - eta + log_y - ratio) - log_y - gammaln(a), None

    def _max_shape(self):
        return min(1.0 / self.reg_variance, MAX_SHAPE)

    def update(self, S, params, active, safe=False):
        """Exact M-step of the leaves whose ``active`` flag is set."""
        coef, shape, rows = params["coef"].copy(), params["shape"].copy(), concat_rows(S["rows"])
        for leaf in np.flatnonzero(active):
            Xa, y, offset, w = self._leaf_rows(rows, leaf)
            with np.errstate(over="ignore"):
                beta = newton_fit(
                    Xa, offset, w, coef[leaf, 0], self.alpha,
                    value=lambda eta: -eta - y * np.exp(-eta),
                    slope=lambda eta: y * np.exp(-eta) - 1.0,
                    curvature=lambda eta: y * np.exp(-eta),
                )
            coef[leaf, 0] = beta
            ratio = y * np.exp(-(np.asarray(Xa @ beta) + offset))
            half_deviance = w @ (ratio - np.log(ratio) - 1.0) + 0.5 * self.alpha * np.sum(beta[:-1] ** 2)
            shape[leaf] = self._solve_shape(half_deviance / w.sum())
        return {"coef": coef, "shape": shape}, False

    def _solve_shape(self, target):
        """The root ``a`` of ``log a - psi(a) = target`` (decreasing in ``a``), within the bounds."""
        hi = self._max_shape()
        if not np.log(hi) - digamma(hi) < target:
            return hi
        lo = 1e-12
        return brentq(lambda a: np.log(a) - digamma(a) - target, lo, hi, xtol=1e-300, rtol=1e-15, maxiter=500)

    def penalty(self, params):
        return 0.5 * self.alpha * np.sum(params["shape"] * np.sum(params["coef"][:, 0, :-1] ** 2, axis=1))

    def n_free_params(self, params):
        return params["coef"].size + params["shape"].size

    def attributes(self, params, coords, info):
        return {**super().attributes(params, coords, info), "dispersion_": 1.0 / params["shape"]}

    # -- inference: the coefficients and log(dispersion) = -log(shape), analytic ----------
    def _extra_vector(self, params):
        return -np.log(params["shape"])[:, None]

    def _with_extra(self, params, extra):
        return {**params, "shape": np.exp(-extra[:, 0])}

    def _extra_labels(self, label):
        return [scalar(label, "log_dispersion")]

    def inference_fixed(self, params):
        """A shape on its upper bound (the dispersion on ``reg_variance``): held there."""
        fixed = np.zeros(self.inference_vector(params).shape, dtype=bool)
        fixed[:, -1] = params["shape"] >= self._max_shape()
        return fixed

    def _derivatives(self, Xa, target, params):
        """``y exp(-eta)`` and ``d f / d a`` of every row and leaf."""
        y, offset = target
        eta = self._eta(Xa, params, offset)
        a = params["shape"]
        with np.errstate(over="ignore"):
            ratio = y[:, None] * np.exp(-eta)
        d_shape = np.log(a) + 1.0 - eta + np.log(y)[:, None] - ratio - digamma(a)
        return ratio, d_shape

    def inference_scores(self, Xa, target, params):
        """``a (y e^-eta - 1) x`` for the coefficients, ``-a df/da`` for ``log phi``."""
        ratio, d_shape = self._derivatives(Xa, target, params)
        a = params["shape"]
        beta = (a * (ratio - 1.0))[:, :, None] * np.asarray(Xa)[:, None, :]
        return np.concatenate([beta, (-a * d_shape)[:, :, None]], axis=2)

    def inference_hessian(self, Xa, target, params, W):
        """``-a X^T diag(W y e^-eta) X``, ``-a (W (y e^-eta - 1)) X`` and
        ``sum W (a df/da + a^2 d2f/da2)``, ``d2f/da2 = 1/a - psi'(a)``."""
        ratio, d_shape = self._derivatives(Xa, target, params)
        a = params["shape"]
        n_leaves, p = a.shape[0], Xa.shape[1]
        H = np.zeros((n_leaves, p + 1, p + 1))
        H[:, :p, :p] = -a[:, None, None] * weighted_grams(Xa, W * ratio)
        cross = -a[:, None] * np.asarray((W * (ratio - 1.0)).T @ Xa)
        H[:, :p, p] = H[:, p, :p] = cross
        H[:, p, p] = a * np.sum(W * d_shape, axis=0) + a**2 * (1.0 / a - polygamma(1, a)) * W.sum(axis=0)
        return H

    def moments(self, Xa, params, info, offset=None):
        """Each leaf's mean and variance ``phi mu^2``, ``(n, n_leaves, 1)``."""
        mean = self._mean(Xa, params, info, offset)
        return mean[:, :, None], (mean**2 / params["shape"])[:, :, None]

    def sample(self, Xa, params, info, leaf, rs, offset=None):
        mean = np.take_along_axis(self._mean(Xa, params, info, offset), leaf, axis=1)
        a = params["shape"][leaf]
        return rs.gamma(a, mean / a)[:, :, None]
