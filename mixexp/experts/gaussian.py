"""Linear-Gaussian experts: ``y | x, leaf ~ N(B x + b, diag(var))``.

Targets are standardised internally (weighted mean and scale of each column).
The M-step of each leaf, with weights ``w_i`` (posterior times sample
weight), maximises ``sum_i w_i log N(y_i | B x_i + b, var) - alpha / (2 var)
||B||^2`` exactly, subject to ``var >= reg_variance``.  The penalty is scaled
by the noise variance (a conjugate ridge prior), so that the weights solve a
plain weighted ridge problem shared by all targets and the fit does not
depend on the scale of ``y``.  Its row sums: every leaf's Gram matrix
``X^T W X``, ``X^T W Y`` and ``Y^T W Y``.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import erfcx, log_ndtr, ndtr, ndtri
from sklearn.utils.validation import check_array, check_consistent_length

from .._design import nan_location_scale, rows_to_original, weighted_location_scale
from .._inference_parts import Labels, coefficient_row, scalar
from .._numerics.densities import gaussian_logdens
from .._numerics.linalg import block_products, column_sums, solve_psd_stack, tdot, weighted_grams
from .._numerics.prox import elastic_net_penalty, elastic_net_solve, l1_weights
from .base import ExpertComponent

_LOG_SQRT_2PI_NEG = -0.5 * np.log(2.0 * np.pi)  # log of the standard normal density at 0


class LinearGaussianExperts(ExpertComponent):
    """Linear-Gaussian experts with diagonal noise per target.

    Parameters
    ----------
    alpha : float
        Ridge penalty on the coefficients (not intercepts), standardised units.
    reg_variance : float
        Lower bound on every noise variance, relative to each target's variance.
    l1_ratio : float, default=0.0
        Elastic-net mixing of ``alpha``: the penalty is ``alpha / var *
        (l1_ratio |B|_1 + (1 - l1_ratio) / 2 |B|^2)``.  With ``l1_ratio > 0``
        the weights are a weighted elastic net (coordinate descent from the
        current weights, :mod:`mixexp._numerics.prox`), which lowers the penalised
        residual sum of squares; the variance is then exact given them, so
        the objective never decreases.

    Constraints (:meth:`set_constraints`; the estimators' ``shared_features`` and
    ``tied_variance``): the coefficients of the shared columns are one per target for
    all experts, found with the experts' own coefficients by one weighted least squares
    over the stacked experts' rows (each expert's rows weighted by its posteriors over
    its noise variance); a tied variance is the pooled weighted residual variance.  With
    a tied variance that is the exact M-step; with untied variances the coefficients are
    exact given the current variances and the variances given them (ECM), so the
    objective never decreases either way.
    """

    name = "linear"
    per_leaf = True
    gives_representation = True
    has_distribution = True
    standardises_target = True
    supports_l1 = True
    supports_inference = True
    takes_missing = True
    imputes_censored = True
    gives_interval_scores = True
    products_outputs = frozenset({"moments"})

    def __init__(self, alpha, reg_variance, l1_ratio=0.0):
        self.alpha = alpha
        self.reg_variance = reg_variance
        self.l1_ratio = l1_ratio
        self.shared = np.empty(0, dtype=np.intp)
        self.tied_variance = False

    def set_constraints(self, shared, tied_variance):
        """Coefficients of the design's columns ``shared`` equal in every expert; one noise
        variance per target for all experts (``tied_variance``)."""
        shared = np.asarray(shared, dtype=np.intp)
        if (shared.size or tied_variance) and self.l1_ratio > 0.0:
            raise ValueError(
                "shared_features and tied_variance take the ridge penalty only (l1_ratio=0), "
                f"got l1_ratio={self.l1_ratio!r}."
            )
        self.shared = shared
        self.tied_variance = bool(tied_variance)
        self.constrained = bool(shared.size) or self.tied_variance

    @classmethod
    def from_params(cls, params):
        return cls(params["alpha"], params["reg_variance"], params.get("l1_ratio", 0.0))

    # -- targets ------------------------------------------------------------
    def prepare_target(self, y, sw):
        """Standardised ``(n, n_targets)`` target and what undoes it; missing responses
        (NaN, :mod:`mixexp._missing`) stay NaN and the scales are of the observed ones."""
        Y = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
        missing = not np.isfinite(np.sum(Y))
        mean, scale = nan_location_scale(Y, sw, "y") if missing else weighted_location_scale(Y, sw)
        info = {"mean": mean, "scale": scale, "ndim": np.ndim(y), "n_outputs": Y.shape[1]}
        return self._standardize(Y, info), info

    @staticmethod
    def _standardize(Y, info):
        return Y / info["scale"] - info["mean"] / info["scale"]

    def check_target(self, y, n_samples, info):
        """Internal target for ``log_likelihood``-style methods, after validation."""
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        Y = y.reshape(y.shape[0], -1)
        check_consistent_length(Y, np.empty(n_samples))
        if Y.shape[1] != info["n_outputs"]:
            raise ValueError(
                f"y has {Y.shape[1]} targets, but the model was fitted with {info['n_outputs']}."
            )
        return self._standardize(Y, info)

    def kmeans_features(self, target):
        return target

    def loglik_shift(self, info):
        return -float(np.sum(np.log(info["scale"])))

    # -- the component --------------------------------------------------------
    def init_params(self, n_leaves, n_params, info):
        return {
            "coef": np.zeros((n_leaves, info["n_outputs"], n_params)),
            "var": np.ones((n_leaves, info["n_outputs"])),
        }

    def _means(self, Xa, params):
        coef = params["coef"]
        return block_products(Xa, coef)

    def scores(self, Xa, Y, params):
        out = np.empty((Xa.shape[0], params["coef"].shape[0]))
        gaussian_logdens(self._means(Xa, params), Y, params["var"], out)
        return out, None

    def gram_nodes(self, tree):
        """The leaves, whose weighted Grams :meth:`stats` sums."""
        return slice(tree.n_inner, tree.n_nodes)

    def stats(self, Xa, Y, W, params, ctx, grams=None):
        m, n_targets = Y.shape
        WY = (W[:, :, None] * Y[:, None, :]).reshape(m, -1)
        return {
            "grams": weighted_grams(Xa, W) if grams is None else grams,
            "xty": tdot(Xa, WY).reshape(Xa.shape[1], W.shape[1], n_targets),
            "yty": W.T @ (Y * Y),
        }

    def _interval_ratios(self, Xa, params, lo, hi, log_p, info):
        """Each leaf's mean and standard deviation (standardised units) of the rows ``Xa``, and
        ``phi(z) / P`` and ``z phi(z) / P`` at both standardised ends of ``(lo, hi]`` (units of
        y; 0 at an infinite end), ``P`` the interval's probability (``log_p``)."""
        check_single_target(info, self.name)
        mean, scale = info["mean"][0], info["scale"][0]
        mu = self._means(Xa, params)  # (m, n_leaves)
        sd = np.sqrt(params["var"][:, 0])
        out = []
        with np.errstate(invalid="ignore", over="ignore"):
            for end in (lo, hi):
                if not np.isfinite(end).any():  # an open side (right- or left-censored rows): no terms
                    out += [np.zeros_like(mu), np.zeros_like(mu)]
                    continue
                z = ((end[:, None] - mean) / scale - mu) / sd
                finite = np.isfinite(z)
                r = np.where(finite, np.exp(_LOG_SQRT_2PI_NEG - 0.5 * z * z - log_p), 0.0)
                out += [r, np.where(finite, z * r, 0.0)]
        return (mu, sd, *out)

    def _interval_derivatives(self, Xa, lo, hi, log_p, params, info):
        """The design as an array and the first and second derivatives of ``log P(lo < y <=
        hi)`` in each leaf's mean ``m`` (standardised units) and log variance ``t``, each
        ``(n, n_leaves)``: ``L_m, L_t, L_mm, L_mt, L_tt``.  With ``A = phi(a) / P``, ``B =
        phi(b) / P`` at the standardised ends ``a``, ``b`` (``z^k phi(z) = 0`` at an infinite
        one) and ``s`` the standard deviation: ``L_m = (A - B) / s``, ``L_t = (a A - b B) /
        2``, ``L_mm = (a A - b B) / s^2 - L_m^2``, ``L_mt = (a^2 A - b^2 B) / (2 s) - L_m (L_t
        + 1/2)``, ``L_tt = (a^3 A - b^3 B) / 4 - L_t (L_t + 1/2)``."""
        mu, sd, ra, za, rb, zb = self._interval_ratios(Xa, params, lo, hi, log_p, info)
        mean, scale = info["mean"][0], info["scale"][0]
        with np.errstate(invalid="ignore", over="ignore"):
            a = ((lo[:, None] - mean) / scale - mu) / sd
            b = ((hi[:, None] - mean) / scale - mu) / sd
            z2a, z2b = np.where(np.isfinite(a), a * za, 0.0), np.where(np.isfinite(b), b * zb, 0.0)
            z3a, z3b = np.where(np.isfinite(a), a * z2a, 0.0), np.where(np.isfinite(b), b * z2b, 0.0)
        L_m, L_t = (ra - rb) / sd, 0.5 * (za - zb)
        L_mm = (za - zb) / (sd * sd) - L_m * L_m
        L_mt = (z2a - z2b) / (2.0 * sd) - L_m * (L_t + 0.5)
        L_tt = 0.25 * (z3a - z3b) - L_t * (L_t + 0.5)
        X = Xa.toarray() if sp.issparse(Xa) else np.asarray(Xa)
        return X, L_m, L_t, L_mm, L_mt, L_tt

    def interval_scores(self, Xa, lo, hi, log_p, params, info):
        """``d log P(lo < y <= hi) / d theta`` of every row and leaf, ``(n, n_leaves, p + 1)``
        (the weights, then the log variance; see :meth:`_interval_derivatives`)."""
        X, L_m, L_t, *_ = self._interval_derivatives(Xa, lo, hi, log_p, params, info)
        return np.concatenate([L_m[:, :, None] * X[:, None, :], L_t[:, :, None]], axis=2)

    def interval_hessian(self, Xa, lo, hi, log_p, params, info, W):
        """``sum_i W_ik d2 log P_k(lo_i < y <= hi_i) / d theta_k2`` of every leaf, ``(n_leaves,
        p + 1, p + 1)``."""
        X, _, _, L_mm, L_mt, L_tt = self._interval_derivatives(Xa, lo, hi, log_p, params, info)
        p = X.shape[1]
        H = np.empty((W.shape[1], p + 1, p + 1))
        H[:, :p, :p] = np.einsum("nk,ni,nj->kij", W * L_mm, X, X)
        H[:, :p, p] = H[:, p, :p] = (W * L_mt).T @ X
        H[:, p, p] = np.sum(W * L_tt, axis=0)
        return H

    def censored_stats(self, Xa, Y, W, params, rows, lo, hi, log_p, info):
        """:meth:`stats` with the rows ``rows`` known only to lie in ``(lo, hi]`` (units of y):
        their ``y`` and ``y^2`` replaced, under each leaf, by their expectations given the
        interval (the moments of a truncated normal), so that the M-step is EM's on the
        complete data (the censored responses unobserved).  ``log_p``: each leaf's
        ``log P(lo < y <= hi)`` of the rows, ``(len(rows), n_leaves)``."""
        Xr = Xa[rows]
        mu, sd, ra, za, rb, zb = self._interval_ratios(Xr, params, lo, hi, log_p, info)
        m1 = ra - rb  # E[z | a < z <= b]
        var_z = np.maximum(1.0 + za - zb - m1 * m1, 0.0)  # its variance, clipped against rounding
        ey = mu + sd * m1
        ey2 = ey * ey + sd * sd * var_z
        # the sums of every row as observed, then the censored rows' expectations in place of
        # their stand-in values: the full-size work is the plain sums'
        S = self.stats(Xa, Y, W, params, None)
        Wr, yr = W[rows], Y[rows, :1]
        with np.errstate(invalid="ignore"):  # a leaf of weight 0 may give the row no moments
            dy = np.where(Wr > 0, Wr * (ey - yr), 0.0)
            dy2 = np.where(Wr > 0, Wr * (ey2 - yr * yr), 0.0)
        S["xty"] += tdot(Xr, dy)[:, :, None]
        S["yty"] += column_sums(dy2)[:, None]
        return S

    def update(self, S, params, active, safe=False):
        """Exact M-step of the leaves whose ``active`` flag is set."""
        if self.constrained:
            return self._constrained_update(S, params, active), False
        coef = params["coef"].copy()
        var = params["var"].copy()
        p = coef.shape[2]
        sparse = self.l1_ratio > 0.0
        ridge = np.full(p, self.alpha * (1.0 - self.l1_ratio) if sparse else self.alpha)
        ridge[-1] = 0.0
        lam = l1_weights(p, self.alpha, self.l1_ratio)
        leaves = np.flatnonzero(active)
        if leaves.size == 0:
            return {"coef": coef, "var": var}, False
        G = S["grams"][leaves]  # (L, p, p)
        b = S["xty"][:, leaves].transpose(1, 0, 2)  # (L, p, n_targets)
        A = G + np.diag(ridge)
        if sparse:  # from the current weights, so the penalised RSS never rises
            beta = np.stack(
                [elastic_net_solve(a, -bl, coef[leaf].T, lam) for a, bl, leaf in zip(A, b, leaves)]
            )
        else:
            beta = solve_psd_stack(A, b)  # all leaves at once: per-leaf calls cost more than the solves
        # RSS = y'Wy - 2 beta'X'Wy + beta'X'WX beta, clipped at 0 against rounding
        rss = np.maximum(
            S["yty"][leaves] - 2.0 * np.sum(beta * b, axis=1) + np.sum(beta * (G @ beta), axis=1),
            0.0,
        )
        if sparse:
            pen = 2.0 * elastic_net_penalty(beta.transpose(0, 2, 1), self.alpha, self.l1_ratio)
        else:
            pen = self.alpha * np.sum(beta[:, :-1] ** 2, axis=1)
        total = G[:, -1, -1, None]  # sum_i W[i, leaf]: the last column of Xa is ones
        coef[leaves] = beta.transpose(0, 2, 1)
        var[leaves] = np.maximum((rss + pen) / total, self.reg_variance)
        return {"coef": coef, "var": var}, False

    def _constrained_update(self, S, params, active):
        """The M-step with shared coefficients and/or a tied variance (see the class).

        Per target, the shared coefficients ``s`` and each active expert's own ``u_k`` solve
        ``sum_k c_k [(G_k + R)(s, u_k) - b_k] = 0`` (``c_k = 1 / v_k``): ``u_k`` is eliminated
        (``A_k = (G_k + R)[own, own]``) and ``s`` solves the Schur complement's system.  An
        inactive expert keeps its own coefficients; its rows still weigh in ``s``."""
        coef, var = params["coef"].copy(), params["var"].copy()
        n_leaves, n_targets, p = coef.shape
        G = S["grams"]
        b = S["xty"].transpose(1, 0, 2)  # (K, p, T)
        ridge = np.full(p, self.alpha)
        ridge[-1] = 0.0
        A = G + np.diag(ridge)
        sh = self.shared
        own = np.setdiff1d(np.arange(p), sh)
        act = np.flatnonzero(active)
        rest = np.flatnonzero(~np.asarray(active, dtype=bool))
        if act.size == 0:
            return {"coef": coef, "var": var}
        if sh.size:
            A_oo = A[np.ix_(act, own, own)]
            A_os = A[np.ix_(act, own, sh)]
            A_ss = A[np.ix_(np.arange(n_leaves), sh, sh)]
            for t in range(n_targets):
                c = 1.0 / var[:, t]
                rhs = np.concatenate([A_os, b[np.ix_(act, own, [t])]], axis=2)
                sol = np.linalg.solve(A_oo, rhs)  # (La, |O|, |S| + 1)
                fixed_u, fixed_b = sol[:, :, :-1], sol[:, :, -1]
                ca = c[act][:, None, None]
                lhs = np.sum(ca * (A_ss[act] - A_os.transpose(0, 2, 1) @ fixed_u), axis=0)
                rhs_s = np.sum(ca[:, :, 0] * (b[act][:, sh, t] - np.einsum("kos,ko->ks", A_os, fixed_b)), axis=0)
                for k in rest:  # own coefficients held: their rows' part of s's equations
                    lhs = lhs + c[k] * A_ss[k]
                    rhs_s = rhs_s + c[k] * (b[k, sh, t] - A[k][np.ix_(sh, own)] @ coef[k, t, own])
                s_t = np.linalg.solve(lhs, rhs_s)
                coef[:, t, sh] = s_t
                coef[act[:, None], t, own[None, :]] = fixed_b - fixed_u @ s_t
        else:
            coef[act] = solve_psd_stack(A[act], b[act]).transpose(0, 2, 1)
        beta = coef.transpose(0, 2, 1)  # (K, p, T)
        # RSS = y'Wy - 2 beta'X'Wy + beta'X'WX beta, clipped at 0 against rounding
        rss = np.maximum(S["yty"] - 2.0 * np.sum(beta * b, axis=1) + np.sum(beta * (G @ beta), axis=1), 0.0)
        resid = rss + self.alpha * np.sum(beta[:, :-1] ** 2, axis=1)  # (K, T)
        total = G[:, -1, -1]
        if self.tied_variance:
            var[:] = np.maximum(resid.sum(axis=0) / total.sum(), self.reg_variance)
        else:
            var[act] = np.maximum(resid[act] / total[act, None], self.reg_variance)
        return {"coef": coef, "var": var}

    def penalty(self, params):
        coef, var = params["coef"], params["var"]
        if self.l1_ratio > 0.0:
            return float(np.sum(elastic_net_penalty(coef, self.alpha, self.l1_ratio) / var))
        return 0.5 * self.alpha * np.sum(np.sum(coef[:, :, :-1] ** 2, axis=2) / var)

    def n_free_params(self, params):
        coef = params["coef"]
        if self.l1_ratio > 0.0:  # the lasso's degrees of freedom: nonzero weights
            return int(np.count_nonzero(coef[..., :-1]) + coef[..., -1].size + params["var"].size)
        n_leaves, n_targets, _ = coef.shape
        tied = (n_leaves - 1) * n_targets * (self.shared.size + int(self.tied_variance))
        return coef.size + params["var"].size - tied

    def representation(self, Xa, params):
        """Each leaf's own view of the rows for an attention gate: its mean, ``(n, n_leaves, n_targets)``
        (standardised units)."""
        return self._means(Xa, params).reshape(Xa.shape[0], params["var"].shape[0], -1)

    # -- inference: analytic ------------------------------------------------------
    def inference_vector(self, params):
        """Per leaf and target, the weights and the log of the noise variance,
        ``(n_leaves, n_targets * (n_params + 1))``."""
        coef = params["coef"]
        eta = np.log(params["var"])[:, :, None]
        return np.concatenate([coef, eta], axis=2).reshape(coef.shape[0], -1)

    def from_inference_vector(self, theta, params):
        n_leaves, n_targets, p = params["coef"].shape
        rest = np.asarray(theta).reshape(n_leaves, n_targets, p + 1)
        return {**params, "coef": rest[:, :, :p].copy(), "var": np.exp(rest[:, :, p])}

    def _scale_bounds(self):
        """The bounds ``(lower, upper)`` of each target's parameters after its coefficients,
        ``(m,)`` each, that :meth:`update` keeps: the log variance at least ``log(reg_variance)``."""
        return np.array([np.log(self.reg_variance)]), np.array([np.inf])

    def inference_bounds(self, params):
        """No bound on the coefficients; :meth:`_scale_bounds` on each target's others."""
        n_leaves, n_targets, p = params["coef"].shape
        low, high = self._scale_bounds()
        lower = np.full((n_leaves, n_targets, p + low.size), -np.inf)
        upper = np.full((n_leaves, n_targets, p + low.size), np.inf)
        lower[:, :, p:], upper[:, :, p:] = low, high
        return lower.reshape(n_leaves, -1), upper.reshape(n_leaves, -1)

    def inference_fixed(self, params):
        """A sparse fit's (``l1_ratio > 0``) zero weights: held at 0."""
        coef = params["coef"]
        zero = np.zeros(coef.shape[:2] + (coef.shape[2] + 1,), dtype=bool)
        if self.l1_ratio > 0:
            zero[:, :, :-2] = coef[:, :, :-1] == 0
        return zero.reshape(coef.shape[0], -1)

    def inference_labels(self, params, coords, info, feature_names):
        """``expert k`` (``, target t``): intercept, coefficients and ``log_noise_variance`` in
        the units of y."""
        n_leaves, n_targets, _ = params["coef"].shape
        parts = []
        for leaf in range(n_leaves):
            for out in range(n_targets):
                ys = info["scale"][out]
                target = f", target {out}" if n_targets > 1 else ""
                label = f"expert {leaf}{target}"
                row = coefficient_row(label, coords, feature_names, ys, info["mean"][out])
                parts.append(self._shared_labels(row, target))
                var_label = self._variance_label(label, target)
                parts.append(scalar(var_label, "log_noise_variance", 1.0, 2.0 * np.log(ys)))
        return Labels.concat(parts)

    def _shared_labels(self, row, target=""):
        """A leaf's coefficient labels (intercept first) with the shared coefficients' component
        ``every expert`` (``summary`` then reports them once)."""
        for j in self.shared:
            row.component[j + 1] = f"every expert{target}"
        return row

    def _variance_label(self, label, target=""):
        """The component of a leaf's variance: ``every expert`` when it is tied."""
        return f"every expert{target}" if self.tied_variance else label

    def inference_ties(self, params):
        """Shared coefficients and a tied log variance: one number for every expert (leaf 0's)."""
        n_leaves, n_targets, p = params["coef"].shape
        ties = np.arange(n_leaves * n_targets * (p + 1)).reshape(n_leaves, n_targets, p + 1)
        tied = np.concatenate([self.shared, [p] if self.tied_variance else []]).astype(np.intp)
        ties[:, :, tied] = ties[:1, :, tied]
        return ties.reshape(n_leaves, -1)

    def inference_scores(self, Xa, Y, params):
        """``(r / v) x`` for the weights and ``r^2 / (2 v) - 1/2`` for the log variance."""
        n = Xa.shape[0]
        coef, var = params["coef"], params["var"]
        n_leaves, n_targets, p = coef.shape
        out = np.empty((n, n_leaves, n_targets, p + 1))
        for leaf in range(n_leaves):
            for t in range(n_targets):
                v = var[leaf, t]
                res = Y[:, t] - Xa @ coef[leaf, t]
                out[:, leaf, t, :p] = (res / v)[:, None] * Xa
                out[:, leaf, t, p] = -0.5 + res**2 / (2.0 * v)
        return out.reshape(n, n_leaves, -1)

    def inference_hessian(self, Xa, Y, params, W):
        """Per target: ``-X^T W X / v``, ``-(W r / v) X`` and ``-sum W r^2 / (2 v)``."""
        coef, var = params["coef"], params["var"]
        n_leaves, n_targets, p = coef.shape
        H = np.zeros((n_leaves, n_targets * (p + 1), n_targets * (p + 1)))
        for leaf in range(n_leaves):
            a = W[:, leaf]
            for t in range(n_targets):
                v = var[leaf, t]
                res = Y[:, t] - Xa @ coef[leaf, t]
                o = t * (p + 1)
                beta, eta = slice(o, o + p), o + p
                H[leaf, beta, beta] = -weighted_grams(Xa, (a / v)[:, None])[0]
                H[leaf, beta, eta] = H[leaf, eta, beta] = -(a * res / v) @ Xa
                H[leaf, eta, eta] = -np.sum(a * res**2) / (2.0 * v)
        return H

    # -- fitted attributes and predictions --------------------------------------
    def attributes(self, params, coords, info):
        ym, ys = info["mean"], info["scale"]
        coef, intercept = rows_to_original(params["coef"], coords)
        return {
            "expert_coef_": coef * ys[None, :, None],
            "expert_intercept_": intercept * ys + ym,
            "noise_variance_": params["var"] * ys**2,
        }

    def linear_rows(self, params, info):
        """The rows of coefficients whose products with the design are the leaves' means in
        the units of y, ``(n_leaves * n_targets, n_params)`` (:meth:`moments_from_products`
        takes the products)."""
        # y's units folded into the coefficients (the design's last column is the
        # intercept's ones): one product, no pass over the (n, n_leaves) means
        coef = params["coef"] * info["scale"][None, :, None]
        coef[:, :, -1] += info["mean"]
        return coef.reshape(-1, coef.shape[2])

    def output_from_products(self, output, products, params, info):
        """The leaves' moments from the products (the one output in ``products_outputs``)."""
        return self.moments_from_products(products, params, info)

    def _leaf_variances(self, params, info):
        """Every leaf's predictive variance in the units of y, ``(n_leaves, n_targets)`` (it
        does not depend on x)."""
        n_leaves, n_targets = params["var"].shape
        return np.array(self.moments_from_products(np.zeros((1, n_leaves * n_targets)), params, info)[1][0])

    def hard_output_from_products(self, output, products, leaf, params, info):
        """Each row's own leaf's moments, ``(n, 1, n_targets)`` each: the products are the
        means, and the leaves' variances do not depend on the rows."""
        return products[:, None, :], self._leaf_variances(params, info)[leaf][:, None, :]

    def export_parts(self, params, info):
        """The means' rows (:meth:`linear_rows`) and the leaves' variances (ONNX export)."""
        rows, variance = self.linear_rows(params, info), self._leaf_variances(params, info)
        return {"kind": "moments", "rows": rows, "variance": variance}

    def moments(self, Xa, params, info):
        """Each leaf's predictive mean and variance in the units of y, ``(n, n_leaves, n_targets)``."""
        return self.moments_from_products(block_products(Xa, self.linear_rows(params, info)), params, info)

    def moments_from_products(self, P, params, info):
        """:meth:`moments` from the products ``design @ linear_rows(params, info).T``."""
        n_leaves, n_targets = params["var"].shape
        means = P.reshape(-1, n_leaves, n_targets)
        var = np.broadcast_to(params["var"] * info["scale"] ** 2, means.shape)
        return means, var

    def sample(self, Xa, params, info, leaf, rs):
        """Draws ``(n, n_draws, n_targets)`` from the leaves ``leaf`` (n, n_draws)."""
        mean, var = self.moments(Xa, params, info)
        mu = np.take_along_axis(mean, leaf[:, :, None], axis=1)
        sd = np.sqrt(np.take_along_axis(var, leaf[:, :, None], axis=1))
        return mu + sd * rs.standard_normal(size=mu.shape)

    # -- distributions (one target, units of y) ---------------------------------
    def _location_scale(self, Xa, params, info):
        """Each leaf's mean and standard deviation, ``(n, n_leaves)`` each, of a model of one
        target; a ValueError for several."""
        check_single_target(info, self.name)
        means, var = self.moments(Xa, params, info)
        return means[:, :, 0], np.sqrt(var[:, :, 0])

    def log_cdf(self, Xa, y, params, info):
        """``log Phi((y - mu) / sigma)`` of every leaf, ``(n, n_leaves)``."""
        mu, sd = self._location_scale(Xa, params, info)
        return log_ndtr((y[:, None] - mu) / sd)

    def log_sf(self, Xa, y, params, info):
        """``log Phi((mu - y) / sigma)`` of every leaf, ``(n, n_leaves)``."""
        mu, sd = self._location_scale(Xa, params, info)
        return log_ndtr((mu - y[:, None]) / sd)

    def leaf_quantile(self, Xa, q, params, info):
        """``mu + sigma Phi^-1(q)`` of every leaf, ``(n, n_leaves)`` (the upper half from
        ``1 - q``, which is exact there)."""
        mu, sd = self._location_scale(Xa, params, info)
        q = q[:, None]
        return mu + sd * np.where(q <= 0.5, ndtri(np.minimum(q, 0.5)), -ndtri(np.minimum(1.0 - q, 0.5)))

    def leaf_limited_mean(self, Xa, limit, params, info):
        """``E[min(Y, u)] = mu - sigma (phi(z) - z (1 - Phi(z)))``, ``z = (u - mu) / sigma``,
        of every leaf, ``(n, n_leaves)``."""
        mu, sd = self._location_scale(Xa, params, info)
        return mu - sd * normal_stop_loss((limit[:, None] - mu) / sd)


def check_single_target(info, name):
    """A ValueError, in words, when the model has several targets: distribution functions,
    quantiles and the risk measures are of one response."""
    if info["n_outputs"] != 1:
        raise ValueError(
            f"distribution functions, quantiles and risk measures are of a single response; "
            f"this expert={name!r} model was fitted on y with {info['n_outputs']} targets."
        )


def normal_stop_loss(z):
    """``E[(Z - z)+] = phi(z) - z (1 - Phi(z))`` of a standard normal ``Z``.

    For ``z > 0`` as ``phi(z) (1 - z R(z))`` with the Mills ratio ``R(z) = (1 - Phi(z)) /
    phi(z) = sqrt(pi / 2) erfcx(z / sqrt(2))``: no underflow of ``1 - Phi(z)`` before
    ``phi(z)`` (relative error about ``z^2`` units in the last place).
    """
    z = np.asarray(z, dtype=np.float64)
    phi = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    upper = phi * (1.0 - z * np.sqrt(np.pi / 2.0) * erfcx(np.maximum(z, 0.0) / np.sqrt(2.0)))
    return np.where(z > 0, np.maximum(upper, 0.0), phi - z * ndtr(-z))
