"""Zero inflation of any regression family: a point mass at 0 in every expert.

``p(y | x, leaf) = pi 1[y = 0] + (1 - pi) p(y | x, leaf)``, with a probability
``pi`` of a structural zero per expert that does not depend on ``x`` (the gate
and the family's own parameters carry the covariates), as the zero-inflated
experts of LRMoE (Fung, Badescu & Lin 2019).

Counts (``discrete`` families)
    A zero is structural or the family's own; the likelihood of ``y = 0`` is
    ``pi + (1 - pi) p(0 | x)``.
Continuous families
    The law is mixed: an atom ``pi`` at 0 and the density ``(1 - pi) p(y | x)``
    elsewhere (the likelihood is taken with respect to a unit mass at 0 plus
    Lebesgue measure, so a zero contributes ``log pi`` and another ``y`` its
    density).  Every zero is structural; the family is fitted to the other rows.

Whether a zero is structural is a second latent variable (Lambert 1992).  One
update is one EM step of each leaf's weighted fit, with the parameters of the
pass: ``z_i = pi / (pi + (1 - pi) p(0 | x_i))`` for ``y_i = 0`` (1 for a
continuous family, 0 for ``y_i != 0``), ``pi = sum_i w_i z_i / sum_i w_i`` and
the family's own M-step with the weights ``w_i (1 - z_i)``.  It maximises the
expected complete-data log-likelihood of both latent variables over ``pi`` and
never decreases it over the family's parameters, so EM stays monotone when the
family's is; it is not the whole M-step for given posteriors (iterating gains).
The row sums are the family's with those weights plus two sums per leaf, so
online EM and the dask fit serve a zero-inflated family whenever they serve the
family itself.

The internal target is the family's with one more array: ``nan`` where ``y != 0``
and, where ``y = 0``, what turns ``log pi`` into the family's internal units (the
negative of its ``loglik_shift``), so that ``log_likelihood`` is that of the mixed
law in the units of y.  Zeros of a continuous family are handed to it as the
weighted mean of the other ``y``, with weight 0.
"""

import numpy as np
from scipy.special import expit, logit
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d

from .._inference_parts import Labels
from .base import ExpertComponent
from .glm import PoissonExperts

#: a leaf whose non-structural weight is below this fraction of its weight keeps the
#: family's parameters (its fit would be singular)
MIN_REST_FRACTION = 1e-10

#: a zero-inflation below this is on the boundary of its space (0): held there by inference
PI_BOUNDARY = 1e-8

#: the family's flags that the wrapper keeps (not ``standardises_target``: clip_experts'
#: ranges would count the zeros, which are not the family's)
_FLAGS = (
    "exact", "needs_all_rows", "uses_exposure", "positive_only", "per_leaf",
    "gives_representation", "has_distribution", "discrete", "supports_l1", "l1_ratio",
    "gives_variances", "supports_inference",
)


class ZeroInflatedExperts(ExpertComponent):
    """Zero-inflated experts of the family ``base`` (see the module docstring).

    Parameters
    ----------
    base : ExpertComponent
        A regression family of one target (not estimator experts).

    Its parameters are the family's and ``"pi"`` ``(n_leaves,)``; its fitted
    attributes the family's and ``zero_inflation_``.  Standard errors (when the
    family gives them): each leaf's inference vector is the family's, then
    ``logit(pi)`` (``logit_zero_inflation``), with derivatives by central
    differences of :meth:`scores`; a ``pi`` below ``PI_BOUNDARY`` (1e-8) is held.
    """

    closed_form = False
    multi_output = False

    def __init__(self, base):
        self.base = base
        for flag in _FLAGS:
            setattr(self, flag, getattr(base, flag))
        self.name = base.name

    @classmethod
    def from_params(cls, params):
        raise NotImplementedError("zero inflation wraps a family: ZeroInflatedExperts(family)")

    # -- targets ------------------------------------------------------------
    @staticmethod
    def _wrap(base_target, marks):
        return (*base_target, marks) if isinstance(base_target, tuple) else (base_target, marks)

    @staticmethod
    def _unwrap(target):
        """The family's target (an array, or a tuple of at least two arrays) and the marks."""
        parts = target[:-1]
        return (parts[0] if len(parts) == 1 else parts), target[-1]

    def _single(self, y, warn=False):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=warn)
        elif y.ndim != 1:
            raise ValueError(
                f"zero_inflation=True models a single target (a point mass at y = 0); y has shape "
                f"{y.shape}."
            )
        return y

    def _base_y(self, y, zero, fill):
        """``y`` as the family sees it: zeros of a continuous family replaced by ``fill``."""
        return y if self.discrete else np.where(zero, fill, y)

    def _marks(self, zero, info):
        return np.where(zero, -self.base.loglik_shift(info), np.nan)

    def prepare_target(self, y, sw):
        y = self._single(y, warn=True)
        zero = y == 0
        if self.discrete:
            fill, base_sw = 0.0, sw
        else:
            base_sw = np.where(zero, 0.0, sw)
            if not base_sw.sum() > 0:
                raise ValueError(
                    f"zero_inflation=True with expert={self.name!r} fits the family to the "
                    "nonzero values of y, and y has none (with positive weight)."
                )
            fill = float(np.average(y, weights=base_sw))
        base_target, info = self.base.prepare_target(self._base_y(y, zero, fill), base_sw)
        info = {**info, "zero_fraction": float(np.average(zero, weights=sw)), "zero_fill": fill}
        return self._wrap(base_target, self._marks(zero, info)), info

    def check_target(self, y, n_samples, info):
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        check_consistent_length(y, np.empty(n_samples))
        y = self._single(y)
        zero = y == 0
        base_target = self.base.check_target(self._base_y(y, zero, info["zero_fill"]), n_samples, info)
        return self._wrap(base_target, self._marks(zero, info))

    def offset_target(self, target, log_exposure):
        base_target, marks = self._unwrap(target)
        return self._wrap(self.base.offset_target(base_target, log_exposure), marks)

    def kmeans_features(self, target):
        return self.base.kmeans_features(self._unwrap(target)[0])

    def loglik_shift(self, info):
        return self.base.loglik_shift(info)

    # -- the component --------------------------------------------------------
    @staticmethod
    def _split(params):
        return {key: value for key, value in params.items() if key != "pi"}, params["pi"]

    def init_params(self, n_leaves, n_params, info):
        params = self.base.init_params(n_leaves, n_params, info)
        if "pi" in params:
            raise ValueError(
                f"expert={self.name!r} has a parameter 'pi' of its own; it cannot be zero-inflated."
            )
        # counts: half the zeros structural at first (the zip start); a continuous family's
        # zeros all are
        pi = (0.5 if self.discrete else 1.0) * info["zero_fraction"]
        return {**params, "pi": np.full(n_leaves, pi)}

    def check_input(self, Xa):
        self.base.check_input(Xa)

    def leaf_params(self, params, leaves):
        base, pi = self._split(params)
        return {**self.base.leaf_params(base, leaves), "pi": pi[leaves]}

    def scores(self, Xa, target, params):
        base_target, marks = self._unwrap(target)
        base, pi = self._split(params)
        logdens, ctx = self.base.scores(Xa, base_target, base)
        with np.errstate(divide="ignore"):
            log_pi, log_rest = np.log(pi), np.log1p(-pi)
        zero = ~np.isnan(marks)
        # the atom in the family's internal units (marks: minus its loglik_shift)
        log_atom = log_pi + np.where(zero, marks, 0.0)[:, None]
        if self.discrete:
            at_zero = np.logaddexp(log_atom, log_rest + logdens)
        else:
            at_zero = log_atom
        with np.errstate(invalid="ignore"):
            out = np.where(zero[:, None], at_zero, log_rest + logdens)
        return out, (ctx, logdens)

    def _structural(self, zero, logdens, pi):
        """Every row's posterior probability of a structural zero, ``(n, n_leaves)``."""
        if not self.discrete:
            return np.repeat(zero[:, None].astype(np.float64), pi.shape[0], axis=1)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = pi / (pi + (1.0 - pi) * np.exp(logdens))
        return np.where(zero[:, None], np.nan_to_num(z), 0.0)

    def stats(self, Xa, target, W, params, ctx):
        base_target, marks = self._unwrap(target)
        base, pi = self._split(params)
        base_ctx, logdens = ctx
        z = self._structural(~np.isnan(marks), logdens, pi)
        rest = W * (1.0 - z)
        return {
            "base": self.base.stats(Xa, base_target, rest, base, base_ctx),
            "mass": W.sum(axis=0),
            "structural": (W * z).sum(axis=0),
            "rest": rest.sum(axis=0),
        }

    def update(self, S, params, active, safe=False):
        """One EM step of the leaves whose ``active`` flag is set (see the module docstring)."""
        base, pi = self._split(params)
        pi = pi.copy()
        leaves = np.flatnonzero(active)
        pi[leaves] = S["structural"][leaves] / S["mass"][leaves]
        fitted = active & (S["rest"] > MIN_REST_FRACTION * S["mass"])
        new, extrapolated = self.base.update(S["base"], base, fitted, safe)
        return {**new, "pi": pi}, extrapolated

    def penalty(self, params):
        return self.base.penalty(self._split(params)[0])

    def n_free_params(self, params):
        base, pi = self._split(params)
        return self.base.n_free_params(base) + pi.size

    def representation(self, Xa, params):
        return self.base.representation(Xa, self._split(params)[0])

    # -- inference: the family's vector, then logit(pi), per leaf ------------------------
    def inference_vector(self, params):
        base, pi = self._split(params)
        with np.errstate(divide="ignore"):
            return np.concatenate([self.base.inference_vector(base), logit(pi)[:, None]], axis=1)

    def from_inference_vector(self, theta, params):
        theta = np.asarray(theta)
        base, _ = self._split(params)
        return {**self.base.from_inference_vector(theta[:, :-1], base), "pi": expit(theta[:, -1])}

    def inference_fixed(self, params):
        """The family's held entries, and a zero-inflation below ``PI_BOUNDARY`` (the fit
        drove it to 0, where its logit is not identified) or at 1."""
        base, pi = self._split(params)
        held = (pi < PI_BOUNDARY) | (pi >= 1.0)
        return np.concatenate([self.base.inference_fixed(base), held[:, None]], axis=1)

    def inference_labels(self, params, coords, info, feature_names):
        """The family's labels of each leaf, then its ``logit_zero_inflation``."""
        base, pi = self._split(params)
        labels = self.base.inference_labels(base, coords, info, feature_names)
        n_leaves = pi.shape[0]
        p = labels.size // n_leaves
        # the family's entry j of leaf k moves to k (p + 1) + j; the logits fill the gaps
        at = (np.arange(n_leaves)[:, None] * (p + 1) + np.arange(p)).ravel()
        logits = np.arange(n_leaves) * (p + 1) + p
        size = n_leaves * (p + 1)
        M, offset = np.zeros((size, size)), np.zeros(size)
        M[np.ix_(at, at)], offset[at] = labels.M, labels.offset
        M[logits, logits] = 1.0
        component, parameter = [None] * size, [None] * size
        coefficient = np.zeros(size, dtype=bool)
        for i, j in enumerate(at):
            component[j], parameter[j] = labels.component[i], labels.parameter[i]
        coefficient[at] = labels.coefficient
        for k, j in enumerate(logits):
            component[j], parameter[j] = labels.component[k * p], "logit_zero_inflation"
        return Labels(component, parameter, M, offset, coefficient)

    # -- fitted attributes and predictions --------------------------------------
    def attributes(self, params, coords, info):
        base, pi = self._split(params)
        return {**self.base.attributes(base, coords, info), "zero_inflation_": pi.copy()}

    def moments(self, Xa, params, info, **row_arrays):
        """Each leaf's mean ``(1 - pi) m`` and variance ``(1 - pi) v + pi (1 - pi) m^2``
        (``m``, ``v``: the family's), ``(n, n_leaves, 1)``."""
        base, pi = self._split(params)
        mean, var = self.base.moments(Xa, base, info, **row_arrays)
        pi = pi[None, :, None]
        return (1.0 - pi) * mean, (1.0 - pi) * var + pi * (1.0 - pi) * mean**2

    def sample(self, Xa, params, info, leaf, rs, **row_arrays):
        base, pi = self._split(params)
        draws = self.base.sample(Xa, base, info, leaf, rs, **row_arrays)
        keep = rs.uniform(size=leaf.shape) >= pi[leaf]
        return draws * keep[:, :, None]

    # -- distributions (units of y) ------------------------------------------------
    def log_cdf(self, Xa, y, params, info, **row_arrays):
        """``log(pi 1[y >= 0] + (1 - pi) F(y))``, ``(n, n_leaves)``."""
        base, pi = self._split(params)
        log_f = self.base.log_cdf(Xa, y, base, info, **row_arrays)
        with np.errstate(divide="ignore"):
            log_pi, log_rest = np.log(pi), np.log1p(-pi)
        return np.where((y >= 0)[:, None], np.logaddexp(log_pi, log_rest + log_f), log_rest + log_f)

    def log_sf(self, Xa, y, params, info, **row_arrays):
        """``log(pi 1[y < 0] + (1 - pi) (1 - F(y)))``, ``(n, n_leaves)``."""
        base, pi = self._split(params)
        log_s = self.base.log_sf(Xa, y, base, info, **row_arrays)
        with np.errstate(divide="ignore"):
            log_pi, log_rest = np.log(pi), np.log1p(-pi)
        return np.where((y < 0)[:, None], np.logaddexp(log_pi, log_rest + log_s), log_rest + log_s)

    def leaf_quantile(self, Xa, q, params, info, **row_arrays):
        """Every leaf's quantile: the family's at ``q / (1 - pi)`` below the atom, 0 at the
        atom, the family's at ``(q - pi) / (1 - pi)`` above it."""
        base, pi = self._split(params)
        n = Xa.shape[0]
        tiny = np.finfo(np.float64).tiny
        below = np.exp(self.base.log_cdf(Xa, np.full(n, -tiny), base, info, **row_arrays))
        rest = 1.0 - pi
        mass_below = rest * below  # P(Y < 0)
        mass_to_zero = mass_below + pi  # P(Y <= 0) but the family's own mass at 0
        qc = q[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            inner = np.where(qc <= mass_below, qc / rest, (qc - pi) / rest)
        inner = np.clip(np.nan_to_num(inner, nan=0.5), tiny, 1.0 - np.finfo(np.float64).epsneg)
        out = np.empty(inner.shape)
        for leaf in range(inner.shape[1]):  # a level of its own per leaf
            out[:, leaf] = self.base.leaf_quantile(Xa, inner[:, leaf], base, info, **row_arrays)[:, leaf]
        at_atom = (qc > mass_below) & ((qc <= mass_to_zero) | (out < 0))
        return np.where(at_atom, 0.0, out)

    def leaf_limited_mean(self, Xa, limit, params, info, **row_arrays):
        """``pi min(0, u) + (1 - pi) E[min(Y, u)]``, ``(n, n_leaves)``."""
        base, pi = self._split(params)
        limited = self.base.leaf_limited_mean(Xa, limit, base, info, **row_arrays)
        return pi * np.minimum(limit, 0.0)[:, None] + (1.0 - pi) * limited


    def leaf_stop_loss(self, Xa, limit, params, info, **row_arrays):
        """``pi max(-u, 0) + (1 - pi) E[(Y - u)+]``, ``(n, n_leaves)``."""
        base, pi = self._split(params)
        loss = self.base.leaf_stop_loss(Xa, limit, base, info, **row_arrays)
        return pi * np.maximum(-np.asarray(limit, dtype=np.float64), 0.0)[:, None] + (1.0 - pi) * loss


class ZeroInflatedPoisson(ZeroInflatedExperts):
    """``expert="zip"``: zero-inflated Poisson experts, the Poisson family with
    ``zero_inflation=True`` (the same fit)."""

    name = "zip"
    needs_all_rows = True
    uses_exposure = True
    positive_only = True
    has_distribution = True
    discrete = True
    supports_inference = True

    def __init__(self, base):
        super().__init__(base)
        self.name = "zip"

    @classmethod
    def from_params(cls, params):
        return cls(PoissonExperts.from_params(params))


def zero_inflated(family, expert):
    """The family ``family`` (an instance) with zero inflation, or a ValueError in words."""
    if isinstance(family, ZeroInflatedExperts):
        raise ValueError(
            f"expert={expert!r} is zero-inflated already; use expert='poisson' with "
            "zero_inflation=True, or zero_inflation=False."
        )
    return ZeroInflatedExperts(family)
