"""Censored and truncated rows for any family with a distribution: :class:`CensoredExperts`.

The component wraps a family (``has_distribution``) for a fit or an E-step whose rows
carry censoring or truncation (:mod:`mixexp._censoring`).  Its log-density of a row is
the family's for an exact row and ``log P(lo < Y <= hi)`` from the family's ``log_cdf`` and
``log_sf`` for a censored one.  A censored row's probability has no units: the family's
``loglik_shift`` (which turns the internal densities into the units of y) is taken off it
beforehand, so that every log-likelihood of the model reads in the units of y.

Truncation is the mixture's: a truncated row's likelihood is divided by ``sum_k g_k P_k``,
the probability the mixture gives its interval (the engine does it, from
:meth:`CensoredExperts.truncation_log_prob`), so that the gate and the experts describe the
ground-up response.  EM's complete data add, for each observed row, the rows at the same x
truncated away before it (their expected weights ``phantom``, censored to outside the
interval).

A family that imputes censored rows (``imputes_censored``: the Gaussian) takes its own exact
M-step from row sums in which every censored row's ``y`` and ``y^2`` are their expectations
given its interval under each leaf (EM with the censored responses as missing data, as for
the Tobit model); truncated rows, and every other family, take the numerical M-step below.

The numerical M-step: each leaf's free parameters (the family's ``inference_vector``)
maximise the leaf's weighted censored log-likelihood, plus its phantoms' weighted
log-probability of falling outside their intervals, minus its penalty
(``scipy.optimize.minimize``, L-BFGS-B from the current parameters, within the bounds the
family's own M-step keeps: ``inference_bounds``, such as the Gaussian's variance floor
``reg_variance``); the result is kept only if that objective did not decrease: a
generalised EM step, monotone by construction.  Its
statistics are the rows themselves (``needs_all_rows``).
"""

import numpy as np
from scipy.optimize import minimize

from .._design import take_rows
from .base import ExpertComponent

#: L-BFGS iterations of one leaf's M-step
MAX_STEPS = 100
_LOG_HALF = np.log(0.5)


def _log1mexp(x):
    """``log(1 - exp(x))`` for ``x <= 0``, accurately on both sides of ``-log 2``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > _LOG_HALF, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


class CensoredExperts(ExpertComponent):
    """A family's experts on censored and truncated rows (see the module's doc).

    Parameters
    ----------
    inner : ExpertComponent
        The family (``has_distribution`` True).
    info : dict
        The family's target information.
    """

    exact = True
    closed_form = False
    needs_all_rows = True

    def __init__(self, inner, info):
        self.inner = inner
        self.info = info
        self.name = inner.name
        self.has_distribution = inner.has_distribution
        self.discrete = inner.discrete
        self.supports_inference = inner.supports_inference
        self._shift = inner.loglik_shift(info)

    # -- what the family answers ----------------------------------------------------
    def prepare_target(self, y, sw):
        return self.inner.prepare_target(y, sw)

    def check_target(self, y, n_samples, info):
        return self.inner.check_target(y, n_samples, info)

    def kmeans_features(self, target):
        return self.inner.kmeans_features(target["y"])

    def loglik_shift(self, info):
        return self.inner.loglik_shift(info)

    def init_params(self, n_leaves, n_params, info):
        return self.inner.init_params(n_leaves, n_params, info)

    def check_input(self, Xa):
        return self.inner.check_input(Xa)

    def penalty(self, params):
        return self.inner.penalty(params)

    def n_free_params(self, params):
        return self.inner.n_free_params(params)

    def attributes(self, params, coords, info):
        return self.inner.attributes(params, coords, info)

    # -- inference: the family's vector; derivatives of censored rows and truncation -----
    def check_inference(self):
        return self.inner.check_inference()

    def inference_vector(self, params):
        return self.inner.inference_vector(params)

    def from_inference_vector(self, theta, params):
        return self.inner.from_inference_vector(theta, params)

    def inference_fixed(self, params):
        return self.inner.inference_fixed(params)

    def inference_labels(self, params, coords, info, feature_names):
        return self.inner.inference_labels(params, coords, info, feature_names)

    def inference_scores(self, Xa, target, params):
        """The family's scores of the exact rows; the censored rows' derivatives of the
        log-probabilities of their intervals (the family's ``interval_scores``, else central
        differences)."""
        out = np.array(self.inner.inference_scores(Xa, target["y"], params), dtype=np.float64)
        rows = np.flatnonzero(target["censored"])
        if rows.size and self.inner.gives_interval_scores:
            Xr, lo, hi = Xa[rows], target["lo"][rows], target["hi"][rows]
            log_p = self._log_interval(Xr, lo, hi, params, out.shape[1], take_rows(target["rows"], rows))
            out[rows] = self.inner.interval_scores(Xr, lo, hi, log_p, params, self.info)
        elif rows.size:
            Xr, tr = Xa[rows], take_rows(target, rows)
            out[rows] = self._fd_scores(lambda p: self._censored_scores(Xr, tr, p), rows.size, params)
        return out

    def inference_hessian(self, Xa, target, params, W):
        """The family's Hessian of the exact rows; the censored rows' (the family's
        ``interval_hessian``, else central differences of their scores)."""
        censored = target["censored"]
        H = self.inner.inference_hessian(Xa, target["y"], params, np.where(censored[:, None], 0.0, W))
        rows = np.flatnonzero(censored)
        if rows.size and self.inner.gives_interval_scores:
            Xr, lo, hi = Xa[rows], target["lo"][rows], target["hi"][rows]
            log_p = self._log_interval(Xr, lo, hi, params, W.shape[1], take_rows(target["rows"], rows))
            H = H + self.inner.interval_hessian(Xr, lo, hi, log_p, params, self.info, W[rows])
        elif rows.size:
            Xr, tr = Xa[rows], take_rows(target, rows)
            H = H + self._fd_hessian(lambda p: self.inference_scores(Xr, tr, p), W[rows], params)
        return H

    def _truncation_log_prob(self, Xa, target, params):
        n_leaves = self.inference_vector(params).shape[0]
        return self._log_interval(Xa, target["lower"], target["upper"], params, n_leaves, target["rows"])

    def inference_truncation_scores(self, Xa, target, params):
        return self._fd_scores(lambda p: self._truncation_log_prob(Xa, target, p), Xa.shape[0], params)

    def inference_truncation_hessian(self, Xa, target, params, W):
        return self._fd_hessian(lambda p: self.inference_truncation_scores(Xa, target, p), W, params)

    # -- log-densities ------------------------------------------------------------------
    def _log_interval(self, Xa, a, b, params, n_leaves, row_arrays):
        """``log P(a < Y <= b)`` of every leaf, ``(n, n_leaves)``: from the survival
        functions where ``a`` is above a leaf's median, else from the distribution functions
        (no digits lost to the difference in either tail).  ``row_arrays``: per-row arrays
        the family's functions take (the exposure's ``offset``)."""
        inner, info = self.inner, self.info
        # an infinite end needs one function (the families' are not asked at infinity)
        upper_open, lower_open = np.isposinf(b), np.isneginf(a)
        if upper_open.all() and not lower_open.any():  # right-censored rows only: no copies of the rows
            return np.asarray(inner.log_sf(Xa, a, params, info, **row_arrays), dtype=np.float64)
        out = np.zeros((a.shape[0], n_leaves))
        rows = np.flatnonzero(upper_open & ~lower_open)
        if rows.size:
            out[rows] = inner.log_sf(Xa[rows], a[rows], params, info, **take_rows(row_arrays, rows))
        rows = np.flatnonzero(lower_open & ~upper_open)
        if rows.size:
            out[rows] = inner.log_cdf(Xa[rows], b[rows], params, info, **take_rows(row_arrays, rows))
        rows = np.flatnonzero(~(upper_open | lower_open))
        if rows.size:
            Xr, ar, br, kw = Xa[rows], a[rows], b[rows], take_rows(row_arrays, rows)
            lca, lcb = inner.log_cdf(Xr, ar, params, info, **kw), inner.log_cdf(Xr, br, params, info, **kw)
            lsa, lsb = inner.log_sf(Xr, ar, params, info, **kw), inner.log_sf(Xr, br, params, info, **kw)
            with np.errstate(invalid="ignore"):
                via_sf = lsa + _log1mexp(np.where(np.isneginf(lsb), -np.inf, lsb - lsa))
                via_cdf = lcb + _log1mexp(np.where(np.isneginf(lca), -np.inf, lca - lcb))
            out[rows] = np.where(lca > _LOG_HALF, via_sf, via_cdf)
        return out

    def _log_outside(self, Xa, a, b, params, n_leaves, row_arrays):
        """``log P(Y <= a or Y > b)`` of every leaf, ``(n, n_leaves)``."""
        inner, info = self.inner, self.info
        out = np.full((a.shape[0], n_leaves), -np.inf)
        below, above = ~np.isneginf(a), ~np.isposinf(b)
        rows = np.flatnonzero(below)
        if rows.size:
            out[rows] = inner.log_cdf(Xa[rows], a[rows], params, info, **take_rows(row_arrays, rows))
        rows = np.flatnonzero(above)
        if rows.size:
            log_sf = inner.log_sf(Xa[rows], b[rows], params, info, **take_rows(row_arrays, rows))
            out[rows] = np.logaddexp(out[rows], log_sf)
        return out

    def _censored_scores(self, Xa, target, params, with_intervals=False):
        """Every leaf's log-density of the exact rows and log-probability of the censored
        rows' intervals (less the family's ``loglik_shift``), ``(n, n_leaves)``; with
        ``with_intervals``, also those log-probabilities themselves, ``(n_censored, n_leaves)``."""
        logdens = np.array(self.inner.scores(Xa, target["y"], params)[0], dtype=np.float64)
        rows = np.flatnonzero(target["censored"])
        log_p = None
        if rows.size:
            log_p = self._log_interval(
                Xa[rows], target["lo"][rows], target["hi"][rows], params, logdens.shape[1],
                take_rows(target["rows"], rows),
            )
            logdens[rows] = log_p - self._shift
        return (logdens, log_p) if with_intervals else logdens

    def scores(self, Xa, target, params):
        """The censored log-densities (without truncation), and as context every leaf's
        log-probability of the censored rows' intervals (which :meth:`stats` takes at the same
        parameters) and of the truncation intervals (None: no truncation)."""
        logdens, log_p = self._censored_scores(Xa, target, params, with_intervals=True)
        truncation = None
        if "lower" in target:
            truncation = self._log_interval(
                Xa, target["lower"], target["upper"], params, logdens.shape[1], target["rows"]
            )
        return logdens, {"censored": log_p, "truncation": truncation}

    def truncation_log_prob(self, ctx):
        return None if ctx is None else ctx["truncation"]

    # -- the M-step -----------------------------------------------------------------------
    def stats(self, Xa, target, W, params, ctx, phantom=None, **kwargs):
        """Without truncation, for a family that imputes censored rows (``imputes_censored``),
        its own row sums with the censored rows' expected values (``{"sums": ...}``);
        otherwise the rows with their weights ``W`` and, for truncated rows, the expected
        weights of the rows truncated away (``phantom``)."""
        if self.inner.imputes_censored and phantom is None:
            rows = np.flatnonzero(target["censored"])
            lo, hi = target["lo"][rows], target["hi"][rows]
            if ctx is None or ctx["censored"] is None:  # no E-step at these parameters (fixed posteriors)
                log_p = self._log_interval(Xa[rows], lo, hi, params, W.shape[1], take_rows(target["rows"], rows))
            else:
                log_p = ctx["censored"]
            return {"sums": self.inner.censored_stats(Xa, target["y"], W, params, rows, lo, hi, log_p, self.info)}
        return {"rows": [(Xa, target, W, phantom)]}

    def _leaf_objective(self, parts, k, leaf):
        """``theta -> -(sum_i W_ik f_ik + sum_i V_ik log P_k(outside i's interval) - penalty)``
        of leaf ``k`` on its rows of positive weight (``V``: the phantoms' weights of
        truncated rows), ``leaf`` its parameters (a one-leaf dict); ``inf`` where not finite."""
        inner = self.inner
        rows, outside = [], []
        for Xa, target, W, phantom in parts:
            keep = np.flatnonzero(W[:, k] > 0)
            if keep.size:
                rows.append((Xa[keep], take_rows(target, keep), W[keep, k]))
            if phantom is not None:
                keep = np.flatnonzero(phantom[:, k] > 0)
                if keep.size:
                    bounds = (target["lower"][keep], target["upper"][keep])
                    outside.append((Xa[keep], *bounds, phantom[keep, k], take_rows(target["rows"], keep)))

        def objective(theta):
            p = inner.from_inference_vector(theta[None, :], leaf)
            with np.errstate(all="ignore"):
                value = sum(w @ self._censored_scores(Xa, target, p)[:, 0] for Xa, target, w in rows)
                value += sum(v @ self._log_outside(Xa, a, b, p, 1, kw)[:, 0] for Xa, a, b, v, kw in outside)
                value -= inner.penalty(p)
            return -value if np.isfinite(value) else np.inf

        return objective

    def _joint_objective(self, parts, params):
        """``theta -> -(sum_ik W_ik f_ik + sum_ik V_ik log P_k(outside i's interval) - penalty)``
        over every leaf at once, ``theta`` the one row of a family whose vector does not
        split by leaf (``vector_per_leaf`` False); ``inf`` where not finite or refused."""
        inner = self.inner

        def objective(theta):
            p = inner.from_inference_vector(theta[None, :], params)
            try:
                with np.errstate(all="ignore"):
                    value = -inner.penalty(p)
                    for Xa, target, W, phantom in parts:
                        value += np.sum(W * self._censored_scores(Xa, target, p))
                        if phantom is not None:
                            log_out = self._log_outside(
                                Xa, target["lower"], target["upper"], p, W.shape[1], target["rows"]
                            )
                            value += np.sum(np.where(phantom > 0, phantom * log_out, 0.0))
            except ValueError:  # a user's family refusing the parameters (NaN densities)
                return np.inf
            return -value if np.isfinite(value) else np.inf

        return objective

    def update(self, S, params, active, safe=False):
        """The family's own M-step from imputed sums, else every active leaf's numerical
        M-step, kept where it does not lose (see the module's doc)."""
        inner = self.inner
        if "sums" in S:
            return inner.update(S["sums"], params, active, safe)
        theta = np.array(inner.inference_vector(params), dtype=np.float64)
        lower, upper = inner.inference_bounds(params)
        if not inner.vector_per_leaf:  # every leaf's parameters at once
            objective = self._joint_objective(S["rows"], params)
            theta[0] = _bounded_step(objective, theta[0], lower[0], upper[0])
            return inner.from_inference_vector(theta, params), False
        for k in np.flatnonzero(active):
            objective = self._leaf_objective(S["rows"], k, inner.leaf_params(params, [k]))
            theta[k] = _bounded_step(objective, theta[k], lower[k], upper[k])
        return inner.from_inference_vector(theta, params), False


def _bounded_step(objective, theta, lower, upper):
    """L-BFGS-B on ``objective`` from ``theta`` within the family's bounds (``lower``,
    ``upper``); its result where it is not worse than ``theta``, else ``theta``."""
    start = objective(theta)
    bounds = list(zip(np.where(np.isfinite(lower), lower, None), np.where(np.isfinite(upper), upper, None)))
    result = minimize(objective, theta, method="L-BFGS-B", bounds=bounds, options={"maxiter": MAX_STEPS})
    return result.x if np.isfinite(result.fun) and result.fun <= start else theta

