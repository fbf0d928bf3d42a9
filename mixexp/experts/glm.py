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
from scipy import stats
from scipy.optimize import brentq
from scipy.special import (
    betainc,
    betaincc,
    betaln,
    digamma,
    gammainc,
    gammaincc,
    gammainccinv,
    gammaincinv,
    gammaln,
    hyp1f1,
    hyp2f1,
    hyperu,
    polygamma,
)
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d

from .._design import rows_to_original
from .._inference_parts import Labels, coefficient_row, scalar
from .._numerics.linalg import column_sums, solve_psd, tdot, weighted_grams
from .._parallel import inner_runner
from .base import ExpertComponent
from .newton import MAX_ITER, ascend_once, maximise

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


def fit_log_link(Xa, offset, w, coef, log_shapes, lower, upper, alpha, value, derivatives, scaled_by=None,
                 max_iter=None):
    """Maximise ``sum_i w_i ell(x_i beta + o_i, s) - alpha / 2 c(s) ||beta[:-1]||^2`` over the
    coefficients ``beta`` and the log-shapes ``s`` (within ``[lower, upper]``) from
    ``(coef, log_shapes)``, by :func:`~mixexp.experts.newton.maximise`.

    ``value(eta, s)`` gives ``ell`` of every row (``eta`` the linear predictors);
    ``derivatives(eta, s)`` its derivatives ``(ell_eta (n,), ell_eta_eta (n,), ell_s (n,
    m), ell_eta_s (n, m), ell_s_s (n, m, m))``.  The penalty's factor ``c(s)`` is 1, or
    ``exp(2 s[scaled_by])`` (a shape that is the reciprocal of the scale of ``log y``).
    Rows with ``w = 0`` must be removed by the caller.  ``max_iter``: at most that many
    safeguarded Newton steps (None: to convergence).  Returns ``(beta, s)``.
    """
    p = coef.shape[0]

    def split(x):
        beta, s = x[:p], x[p:]
        return beta, s, np.asarray(Xa @ beta) + offset

    def objective(x):
        beta, s, eta = split(x)
        with np.errstate(over="ignore", invalid="ignore"):
            F = float(w @ value(eta, s)) - shape_penalty(beta, s, alpha, scaled_by)[0]
        return F if np.isfinite(F) else -np.inf

    def second_order(x):
        beta, s, eta = split(x)
        l_e, l_ee, l_s, l_es, l_ss = derivatives(eta, s)
        _, g_pen, H_pen = shape_penalty(beta, s, alpha, scaled_by)
        g = np.concatenate([tdot(Xa, w * l_e), w @ l_s])
        H = np.empty((p + len(s), p + len(s)))
        H[:p, :p] = _gram(Xa, w * l_ee)
        H[:p, p:] = tdot(Xa, w[:, None] * l_es)
        H[p:, :p] = H[:p, p:].T
        H[p:, p:] = np.einsum("i,ijk->jk", w, l_ss)
        return g - g_pen, H - H_pen

    x = np.concatenate([coef, log_shapes])
    inf = np.full(p, np.inf)
    with np.errstate(over="ignore"):
        x = maximise(objective, second_order, x, np.concatenate([-inf, lower]), np.concatenate([inf, upper]),
                     max_iter=MAX_ITER if max_iter is None else max_iter)
    return x[:p], x[p:]


def shape_penalty(beta, s, alpha, scaled_by=None):
    """The penalty ``alpha / 2 c(s) ||beta[:-1]||^2`` of an expert's coefficients ``beta`` and
    log-shapes ``s`` (:func:`fit_log_link`), with its gradient and Hessian in ``(beta, s)``:
    ``c(s)`` is 1, or ``exp(2 s[scaled_by])``."""
    p, m = beta.shape[0], s.shape[0]
    mask = np.ones(p)
    mask[-1] = 0.0
    b = beta * mask
    c = 1.0 if scaled_by is None else np.exp(2.0 * s[scaled_by])
    bb = b @ b
    g, H = np.zeros(p + m), np.zeros((p + m, p + m))
    g[:p] = alpha * c * b
    H[:p, :p] = np.diag(alpha * c * mask)
    if scaled_by is not None:  # d/ds of c = 2 c
        j = p + scaled_by
        g[j] = alpha * c * bb
        H[:p, j] = H[j, :p] = 2.0 * alpha * c * b
        H[j, j] = 2.0 * alpha * c * bb
    return 0.5 * alpha * c * bb, g, H


def _linear_predictors(Xa, coef, offset):
    """``Xa @ coef.T + offset`` of every leaf, ``(n, n_leaves)``, for ``coef`` ``(n_leaves, p)``:
    the scores' and the line searches' alike (the same product gives the same digits)."""
    out = np.asarray(Xa @ coef.T)
    out += offset[:, None]  # in place: a chunk's fresh (n, K) arrays cost more than their sums
    return out


def _gram(Xa, v):
    """``Xa^T diag(v) Xa``; a plain product for a dense design.  The threaded kernel
    (:func:`weighted_grams`) gave last-digit differences between a chunked and an unchunked
    fit, which a Burr expert's Newton steps near its shape bound magnified to 1e-7
    (tests/test_contract.py's chunking test)."""
    if sp.issparse(Xa):
        return weighted_grams(Xa, v[:, None])[0]
    return Xa.T @ (Xa * v[:, None])


def _exp(eta):
    with np.errstate(over="ignore"):
        return np.exp(eta)


TINY = 1e-290  # below it a regularised incomplete function's log comes from its series


def log_probability(lower, upper, log_tiny=None):
    """``log(lower)`` where ``lower + upper = 1``, each computed to its own relative
    precision: ``log(lower)``, or ``log1p(-upper)`` when ``lower`` is near 1; where
    ``lower`` underflows (below ``TINY``), ``log_tiny()`` (its log from a series)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(lower < 0.5, np.log(lower), np.log1p(-upper))
        small = lower < TINY
        if log_tiny is not None and np.any(small):
            out = np.where(small, log_tiny(), out)
    return out


def log_one_minus_exp(log_x):
    """``log(1 - exp(-x))`` from ``log x`` (``x >= 0``), without underflow for a tiny ``x``
    (there ``log x - x / 2``)."""
    with np.errstate(over="ignore"):
        x = np.exp(log_x)
        with np.errstate(divide="ignore"):
            return np.where(log_x < -20.0, log_x - 0.5 * x, np.log(-np.expm1(-x)))


def log_gamma_lower(a, x):
    """``log P(a, x)`` (regularised lower incomplete gamma) without underflow:
    ``P = x^a e^-x / Gamma(a + 1) 1F1(1; a + 1; x)`` where it is tiny (``x`` small)."""
    a, x = np.broadcast_arrays(a, x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return log_probability(
            gammainc(a, x), gammaincc(a, x),
            lambda: a * np.log(x) - x - gammaln(a + 1.0) + np.log(hyp1f1(1.0, a + 1.0, x)),
        )


def log_gamma_upper(a, x):
    """``log Q(a, x) = log(1 - P(a, x))`` without underflow: ``Q = x^a e^-x / Gamma(a)
    U(1, a + 1, x)`` (Tricomi's U) where it is tiny (``x`` large)."""
    a, x = np.broadcast_arrays(a, x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return log_probability(
            gammaincc(a, x), gammainc(a, x),
            lambda: a * np.log(x) - x - gammaln(a) + np.log(hyperu(1.0, a + 1.0, x)),
        )


def beta_lower(a, b, x, x_complement):
    """``I_x(a, b)`` (regularised incomplete beta) and its complement ``1 - I_x(a, b)``,
    each to its own relative precision, from ``x`` and ``1 - x`` as the caller knows them
    (e.g. ``theta / (mu + theta)`` and ``mu / (mu + theta)``).  Both come from the smaller of
    the two, ``I_x(a, b) = 1 - I_{1-x}(b, a)``: ``1 - x`` formed from an ``x`` near 1 keeps
    only the digits ``x`` has (at ``a = 1e12`` that alone costs 1e-4 in ``log I``)."""
    a, b, x, xc = np.broadcast_arrays(a, b, x, x_complement)
    small_x = x <= 0.5
    lower = np.where(small_x, betainc(a, b, x), betaincc(b, a, xc))
    upper = np.where(small_x, betaincc(a, b, x), betainc(b, a, xc))
    return lower, upper


def log_beta_lower(a, b, x, x_complement):
    """``log I_x(a, b)`` from ``x`` and ``1 - x`` (:func:`beta_lower`), without underflow:
    ``I = x^a (1 - x)^b / (a B(a, b)) 2F1(a + b, 1; a + 1; x)`` where it is tiny."""
    a, b, x, xc = np.broadcast_arrays(a, b, x, x_complement)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return log_probability(
            *beta_lower(a, b, x, xc),
            lambda: (a * np.log(x) + b * np.log(xc) - np.log(a) - betaln(a, b)
                     + np.log(hyp2f1(a + b, 1.0, a + 1.0, x))),
        )


class LogLinkExperts(ExpertComponent):
    """What the log-link families share: targets with an offset, rows, Newton fits.

    The distribution members (:meth:`log_cdf`, :meth:`log_sf`, :meth:`leaf_quantile`,
    :meth:`leaf_limited_mean`, :meth:`moments`) take ``y`` in its units and call the
    family's ``_log_cdf``, ``_log_sf``, ``_quantile``, ``_limited_mean`` and
    ``_mean_var`` in the internal ones (``y / info["scale"]``; the linear predictors
    ``eta`` with the offset, ``(n, n_leaves)``).

    Parameters
    ----------
    alpha : float
        L2 penalty on the coefficients (not intercepts), standardised features.
    """

    needs_all_rows = True  # Newton to convergence on the rows: no running sums (partial_fit, dask)
    uses_exposure = True
    per_leaf = True  # every parameter array has the leaves first (coef, shape, pi)
    multi_output = False
    positive_only = True  # scikit-learn's checks draw y > 0

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
        return _linear_predictors(Xa, params["coef"][:, 0, :], offset)

    def stats(self, Xa, target, W, params, ctx):
        """The rows; with one Newton step per iteration (:attr:`newton_steps` 1), also the
        sums of that step at ``params`` (:meth:`_step_sums`)."""
        if self.newton_steps != 1:
            return {"rows": [(Xa, target, W)]}
        if ctx is None:
            eta, extra, parts = self._eta(Xa, params, target[1]), self._row_extra(target), None
        else:  # the scores' at the same parameters
            eta, extra, parts = ctx["eta"], ctx["extra"], ctx["parts"]
        s = self._step_vector(params)[:, -1]
        # the weights kept for the line search: a copy of the leaves' columns, not a view that holds
        # every node's (one more column, and the engine holds the last pass's while it sums the next)
        W = np.ascontiguousarray(W, dtype=np.float64)
        return {"rows": [(Xa, target, W)], "newton": self._step_sums(Xa, target, W, eta, s, extra, parts)}

    #: safeguarded Newton steps of a leaf's M-step per EM iteration (:func:`fit_log_link`'s
    #: ``max_iter``): None, to convergence (an exact M-step); a number, a generalised EM step.
    #: With 1, the step's gradient and Hessian are sums of the E-step's pass (:meth:`stats`),
    #: which the family's per-row derivatives (:meth:`_weighted_terms`) give
    newton_steps = None
    #: the log-shape that scales the penalty (:func:`shape_penalty`'s ``scaled_by``)
    penalty_scaled_by = None

    # -- one Newton step per iteration, its sums on the pass (one shape parameter) ------------
    def _step_vector(self, params):
        """Every leaf's ``(coefficients, log shape)``, ``(n_leaves, p + 1)``."""
        raise NotImplementedError

    def _from_step_vector(self, x, params, leaves):
        """``params`` with the leaves ``leaves`` set from their rows ``x`` of :meth:`_step_vector`."""
        raise NotImplementedError

    def _shape_bounds(self, N):
        """The bounds of the log shape, from the pass's sums ``N`` (:meth:`_step_sums`)."""
        raise NotImplementedError

    def _row_extra(self, target):
        """What the per-row functions take of a chunk's target beyond ``y``."""
        raise NotImplementedError

    def _weighted_terms(self, target, eta, s, extra, W, parts=None):
        """``W ell_eta`` and ``W ell_eta_s`` ``(n, 2 n_leaves)``, ``-W ell_eta_eta`` (non-negative)
        ``(n, n_leaves)`` and the column sums of ``W ell``, ``W ell_s``, ``W ell_s_s`` ``(3,
        n_leaves)``, ``ell`` every row's log-density (up to terms free of the parameters) at the
        linear predictors ``eta`` and log shapes ``s`` (``(n_leaves,)``); rows of weight 0 add
        nothing (a kernel of :mod:`mixexp._numerics.shapes`).  ``parts``: what :meth:`scores` computed
        of the rows at the same parameters (its context's ``"parts"``), or None."""
        raise NotImplementedError

    def _weighted_value(self, target, eta, s, extra, W):
        """The column sums of ``W ell`` alone, ``(n_leaves,)``, the same digits as
        :meth:`_weighted_terms`'s."""
        raise NotImplementedError

    def _step_sums(self, Xa, target, W, eta, s, extra, parts=None):
        """The weighted sums of ``ell`` over the rows (``"F"``, ``(n_leaves,)``), its gradient
        (``"g"``, ``(n_leaves, p + 1)``) and Hessian (``"H"``) in ``(beta, s)``, and ``W``'s row
        totals ``"w"`` and ``"wy"`` (with ``y``)."""
        W = np.ascontiguousarray(W, dtype=np.float64)
        cross, curv, sums = self._weighted_terms(target, eta, s, extra, W, parts)
        K, p = W.shape[1], Xa.shape[1]
        cross = tdot(Xa, cross)
        g, H = np.empty((K, p + 1)), np.empty((K, p + 1, p + 1))
        g[:, :p], g[:, p] = cross[:, :K].T, sums[1]
        H[:, :p, :p] = -weighted_grams(Xa, curv)
        H[:, :p, p] = H[:, p, :p] = cross[:, K:].T
        H[:, p, p] = sums[2]
        return {"F": sums[0], "g": g, "H": H, "w": float(column_sums(W).sum()), "wy": float(np.sum(target[0] @ W))}

    def _rows_value(self, rows, x, run):
        """``sum_i W_ik ell_ik`` of every leaf at its row of ``x`` (:meth:`_step_vector`), over the
        chunks ``rows`` of a pass (on the threads of ``run``, summed in chunk order); ``-inf``
        where not finite."""
        coef, s = np.ascontiguousarray(x[:, :-1]), x[:, -1].copy()

        def chunk(part):
            Xa, target, W = part
            return self._weighted_value(target, _linear_predictors(Xa, coef, target[1]), s, self._row_extra(target),
                                        np.ascontiguousarray(W, dtype=np.float64))

        F = np.zeros(x.shape[0])
        for value in run.map(chunk, rows):
            F += value
        return np.where(np.isfinite(F), F, -np.inf)

    def _one_step_update(self, S, params, active):
        """One safeguarded Newton step of every active leaf (:func:`~mixexp.experts.newton.
        ascend_once`) from the sums of the pass; the line searches' trial points evaluated
        for all leaves at once, one pass over the chunks of rows.

        The step releases the rows of ``S`` and keeps its result there instead, which a
        repeated call with the same parameters and leaves returns (the engine's safe retry
        after a gate's rejected extrapolation): the engine holds a pass's sums while it sums
        the next pass, and two passes' rows would hold twice the weights."""
        done = S.get("done")
        if done is not None:
            if not (np.array_equal(done[0], active)
                    and all(np.array_equal(done[1][key], value) for key, value in params.items())):
                raise RuntimeError("these sums' rows were released by an update from other parameters")
            return {key: value.copy() for key, value in done[2].items()}
        new = self._newton_step(S, params, active)
        S["done"] = (active.copy(), {key: value.copy() for key, value in params.items()}, new)
        S["rows"] = []
        return {key: value.copy() for key, value in new.items()}

    def _newton_step(self, S, params, active):
        """:meth:`_one_step_update`'s step from the sums ``S``."""
        N, rows, leaves = S["newton"], S["rows"], np.flatnonzero(active)
        if leaves.size == 0:
            return {key: value.copy() for key, value in params.items()}
        x = self._step_vector(params)
        p = x.shape[1] - 1
        s_lower, s_upper = self._shape_bounds(N)
        lower, upper = np.append(np.full(p, -np.inf), s_lower), np.append(np.full(p, np.inf), s_upper)
        F, g, H = N["F"], N["g"], N["H"]
        if np.any(np.clip(x[leaves], lower, upper) != x[leaves]):  # a bound that moved with the data
            x = np.clip(x, lower, upper)
            N = None
            for Xa, target, W in rows:
                eta = _linear_predictors(Xa, np.ascontiguousarray(x[:, :p]), target[1])
                part = self._step_sums(Xa, target, W, eta, x[:, p], self._row_extra(target))
                N = part if N is None else {k: N[k] + part[k] for k in part}
            F, g, H = N["F"], N["g"], N["H"]
        penalties = [shape_penalty(x[k, :p], x[k, p:], self.alpha, self.penalty_scaled_by) for k in leaves]
        F = F[leaves] - np.array([pen[0] for pen in penalties])
        g = g[leaves] - np.array([pen[1] for pen in penalties])
        H = H[leaves] - np.array([pen[2] for pen in penalties])

        def objective(trial):
            full = x.copy()
            full[leaves] = trial
            pen = [shape_penalty(t[:p], t[p:], self.alpha, self.penalty_scaled_by)[0] for t in trial]
            return self._rows_value(rows, full, run)[leaves] - np.array(pen)

        with np.errstate(over="ignore"), inner_runner(len(rows)) as run:
            x[leaves] = ascend_once(objective, x[leaves], F, g, H, lower, upper)
        return self._from_step_vector(x, params, leaves)

    @staticmethod
    def _leaf_rows(rows, leaf):
        """The rows with positive weight for ``leaf``: design, y, offset, weights (the rows
        themselves, not copies, when every weight is positive)."""
        Xa, (y, offset), W = rows
        keep = W[:, leaf] > 0
        if keep.all():
            return Xa, y, offset, W[:, leaf]
        return Xa[keep], y[keep], offset[keep], W[keep, leaf]

    def _fit_expert(self, Xa, y, offset, w, expert, **context):
        """The M-step of one leaf: its parameters (a dict of the leaf's entries of every
        parameter array) from the current ones ``expert``, its weighted rows and what
        :meth:`_pass_context` took from all rows."""
        raise NotImplementedError

    def _pass_context(self, rows):
        """What every leaf's M-step takes from all the rows of a pass (keyword arguments)."""
        return {}

    def update(self, S, params, active, safe=False):
        """M-step (:meth:`_fit_expert`; exact, or :attr:`newton_steps` Newton steps) of the
        leaves whose ``active`` flag is set."""
        if "newton" in S:
            return self._one_step_update(S, params, active), False
        new, rows = {key: value.copy() for key, value in params.items()}, concat_rows(S["rows"])
        context = self._pass_context(rows)
        for leaf in np.flatnonzero(active):
            fitted = self._fit_expert(*self._leaf_rows(rows, leaf), {k: v[leaf] for k, v in params.items()},
                                      **context)
            for key, value in fitted.items():
                new[key][leaf] = value
        return new, False

    def penalty(self, params):
        return 0.5 * self.alpha * np.sum(params["coef"][:, :, :-1] ** 2)

    def n_free_params(self, params):
        return sum(value.size for value in params.values())

    # -- inference: the coefficients of the log mean, then the family's own ------------
    supports_inference = True

    def _extra_vector(self, params):
        """The family's parameters after the coefficients, ``(n_leaves, m)``."""
        return np.zeros((params["coef"].shape[0], 0))

    def _with_extra(self, params, extra):
        return params

    def _extra_bounds(self):
        """The bounds ``(lower, upper)`` of the family's parameters after the coefficients
        (:meth:`_extra_vector`), ``(m,)`` each, that its own M-step keeps."""
        return np.empty(0), np.empty(0)

    def inference_bounds(self, params):
        """No bound on the coefficients; the family's own on its other parameters."""
        n_leaves, p = params["coef"].shape[0], params["coef"].shape[2]
        lower, upper = self._extra_bounds()
        return (np.tile(np.concatenate([np.full(p, -np.inf), lower]), (n_leaves, 1)),
                np.tile(np.concatenate([np.full(p, np.inf), upper]), (n_leaves, 1)))

    def _extra_labels(self, label, info):
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
            parts += self._extra_labels(label, info)
        return Labels.concat(parts)

    # -- fitted attributes and predictions --------------------------------------
    def attributes(self, params, coords, info):
        coef, intercept = rows_to_original(params["coef"], coords)
        return {"expert_coef_": coef, "expert_intercept_": intercept + np.log(info["scale"])}

    def _leaf_eta(self, Xa, params, offset):
        return self._eta(Xa, params, np.zeros(Xa.shape[0]) if offset is None else offset)

    def _mean(self, Xa, params, info, offset):
        return _exp(self._leaf_eta(Xa, params, offset)) * info["scale"]  # (n, n_leaves)

    def _internal_y(self, y, info):
        """``y`` ``(n,)`` in the internal units, as a column; counts rounded down, values
        below the support's start at it (``-1`` for counts, 0 for amounts)."""
        y = np.asarray(y, dtype=np.float64)[:, None] / info["scale"]
        return np.maximum(np.floor(y), -1.0) if self.discrete else np.maximum(y, 0.0)

    def log_cdf(self, Xa, y, params, info, offset=None):
        """``log P(Y <= y)`` of every leaf, ``(n, n_leaves)`` (counts: ``P(Y <= floor(y))``)."""
        return self._log_cdf(self._internal_y(y, info), self._leaf_eta(Xa, params, offset), params)

    def log_sf(self, Xa, y, params, info, offset=None):
        """``log P(Y > y)`` of every leaf, ``(n, n_leaves)``."""
        return self._log_sf(self._internal_y(y, info), self._leaf_eta(Xa, params, offset), params)

    def leaf_quantile(self, Xa, q, params, info, offset=None):
        """Every leaf's quantile at level ``q`` ``(n,)``, ``(n, n_leaves)`` (counts: the
        smallest count whose distribution function reaches ``q``)."""
        q = np.asarray(q, dtype=np.float64)[:, None]
        return self._quantile(q, self._leaf_eta(Xa, params, offset), params) * info["scale"]

    def leaf_limited_mean(self, Xa, limit, params, info, offset=None):
        """Every leaf's ``E[min(Y, limit)]`` for ``limit`` ``(n,)``, ``(n, n_leaves)``
        (``limit`` itself where it is below the support)."""
        limit = np.asarray(limit, dtype=np.float64)[:, None]
        eta = self._leaf_eta(Xa, params, offset)
        inside = np.maximum(limit / info["scale"], 0.0)
        return np.where(limit < 0, limit, self._limited_mean(inside, eta, params) * info["scale"])

    def leaf_stop_loss(self, Xa, limit, params, info, offset=None):
        """Every leaf's ``E[(Y - limit)+]`` for ``limit`` ``(n,)``, ``(n, n_leaves)`` (the mean
        less ``limit`` where ``limit`` is below the support)."""
        limit = np.asarray(limit, dtype=np.float64)[:, None]
        eta = self._leaf_eta(Xa, params, offset)
        inside = np.maximum(limit / info["scale"], 0.0)
        loss = self._stop_loss(inside, eta, params) * info["scale"]
        below = self._mean_var(eta, params)[0] * info["scale"] - limit
        return np.where(limit < 0, below, loss)

    def _stop_loss(self, limit, eta, params):
        """``E[(Y - limit)+]`` in internal units: the mean less the limited mean (``inf`` where
        the mean is)."""
        mean = self._mean_var(eta, params)[0]
        with np.errstate(invalid="ignore"):
            return np.where(np.isinf(mean), mean, np.maximum(mean - self._limited_mean(limit, eta, params), 0.0))

    def moments(self, Xa, params, info, offset=None):
        """Each leaf's mean and variance, ``(n, n_leaves, 1)`` (``inf`` where the
        moment does not exist)."""
        mean, var = self._mean_var(self._leaf_eta(Xa, params, offset), params)
        return (mean * info["scale"])[:, :, None], (var * info["scale"] ** 2)[:, :, None]


class PoissonExperts(LogLinkExperts):
    """Poisson regression experts with log link (see the module docstring)."""

    name = "poisson"
    has_distribution = True
    discrete = True

    def set_constraints(self, shared, tied_variance):
        """Refused: the Poisson family has no dispersion to tie (its variance is its mean), and
        shared coefficients are implemented for expert='linear' and 'lognormal' only."""
        if tied_variance:
            raise ValueError(
                f"tied_variance=True ties a noise variance or dispersion, which expert={self.name!r} "
                "does not have (its variance is its mean); use tied_variance=False."
            )
        super().set_constraints(shared, tied_variance)

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

    def _fit_expert(self, Xa, y, offset, w, expert, **context):
        return {"coef": self._fit_leaf(Xa, y, offset, w, expert["coef"][0])}

    def _mean_var(self, eta, params):
        mu = _exp(eta)
        return mu, mu

    # the distribution: P(Y <= k) = Q(k + 1, mu), the regularised upper incomplete gamma
    def _log_cdf(self, k, eta, params):
        return np.where(k < 0, -np.inf, log_gamma_upper(np.maximum(k, 0.0) + 1.0, _exp(eta)))

    def _log_sf(self, k, eta, params):
        return np.where(k < 0, 0.0, log_gamma_lower(np.maximum(k, 0.0) + 1.0, _exp(eta)))

    def _quantile(self, q, eta, params):
        return stats.poisson.ppf(q, _exp(eta))

    def _limited_mean(self, limit, eta, params):
        # E[Y 1(Y <= m)] = mu P(Y <= m - 1) (k p(k) = mu p(k - 1)), m = floor(limit)
        mu, m = _exp(eta), np.floor(limit)
        below = np.where(m >= 1, gammaincc(np.maximum(m, 1.0), mu), 0.0)
        return mu * below + limit * gammainc(m + 1.0, mu)

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

    def sample(self, Xa, params, info, leaf, rs, offset=None):
        mean = np.take_along_axis(self._mean(Xa, params, info, offset), leaf, axis=1)
        return rs.poisson(mean)[:, :, None].astype(np.float64)


class PositiveAmountExperts(LogLinkExperts):
    """What the families of positive amounts share: ``y > 0`` divided by its weighted
    mean (a shift of the intercepts, undone by the attributes and predictions), a
    lower bound ``reg_variance`` on the dispersion of every leaf.

    Parameters
    ----------
    alpha : float
        L2 penalty on the coefficients (not intercepts); each family scales it.
    reg_variance : float
        Lower bound on each leaf's dispersion (each family says of what).
    """

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

    def sample(self, Xa, params, info, leaf, rs, offset=None):
        """Draws ``(n, n_draws, 1)`` from the leaves ``leaf`` (each family's ``_draw`` in the
        internal units)."""
        eta = np.take_along_axis(self._leaf_eta(Xa, params, offset), leaf, axis=1)
        return (self._draw(eta, {k: v[leaf] for k, v in params.items() if k != "coef"}, rs) * info["scale"])[
            :, :, None
        ]


class GammaExperts(PositiveAmountExperts):
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
    has_distribution = True
    #: one dispersion for every leaf (:meth:`set_constraints`)
    tied_variance = False

    def set_constraints(self, shared, tied_variance):
        """``tied_variance``: one dispersion for all leaves (the coefficients' fits do not
        depend on it, so the M-step stays exact: the shape solves the pooled equation);
        shared coefficients are refused."""
        if len(shared):
            raise ValueError(
                "shared_features is implemented for expert='linear' and 'lognormal' only, not for "
                "expert='gamma' "
                "(its coefficients are fitted by Newton's method leaf by leaf); expert='gamma' "
                "takes tied_variance=True (one dispersion for all experts)."
            )
        self.tied_variance = self.constrained = bool(tied_variance)

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
        n_leaves = coef.shape[0]
        half_deviance, weight = np.zeros(n_leaves), np.zeros(n_leaves)
        for leaf in range(n_leaves):
            if not (active[leaf] or self.tied_variance):
                continue
            Xa, y, offset, w = self._leaf_rows(rows, leaf)
            if active[leaf]:
                with np.errstate(over="ignore"):
                    coef[leaf, 0] = newton_fit(
                        Xa, offset, w, coef[leaf, 0], self.alpha,
                        value=lambda eta: -eta - y * np.exp(-eta),
                        slope=lambda eta: y * np.exp(-eta) - 1.0,
                        curvature=lambda eta: y * np.exp(-eta),
                    )
            beta = coef[leaf, 0]
            ratio = y * np.exp(-(np.asarray(Xa @ beta) + offset))
            half_deviance[leaf] = w @ (ratio - np.log(ratio) - 1.0) + 0.5 * self.alpha * np.sum(beta[:-1] ** 2)
            weight[leaf] = w.sum()
        if self.tied_variance:  # every leaf's rows (an inactive leaf's with its own coefficients)
            shape[:] = self._solve_shape(half_deviance.sum() / weight.sum())
        else:
            for leaf in np.flatnonzero(active):
                shape[leaf] = self._solve_shape(half_deviance[leaf] / weight[leaf])
        return {"coef": coef, "shape": shape}, False

    def n_free_params(self, params):
        return super().n_free_params(params) - (params["shape"].size - 1) * int(self.tied_variance)

    def _solve_shape(self, target):
        """The root ``a`` of ``log a - psi(a) = target`` (decreasing in ``a``), within the bounds."""
        hi = self._max_shape()
        if not np.log(hi) - digamma(hi) < target:
            return hi
        lo = 1e-12
        return brentq(lambda a: np.log(a) - digamma(a) - target, lo, hi, xtol=1e-300, rtol=1e-15, maxiter=500)

    def penalty(self, params):
        return 0.5 * self.alpha * np.sum(params["shape"] * np.sum(params["coef"][:, 0, :-1] ** 2, axis=1))

    def attributes(self, params, coords, info):
        return {**super().attributes(params, coords, info), "dispersion_": 1.0 / params["shape"]}

    def _mean_var(self, eta, params):
        """Each leaf's mean and variance ``phi mu^2``."""
        mean = _exp(eta)
        return mean, mean**2 / params["shape"]

    # -- inference: the coefficients and log(dispersion) = -log(shape), analytic ----------
    def _extra_vector(self, params):
        return -np.log(params["shape"])[:, None]

    def _with_extra(self, params, extra):
        return {**params, "shape": np.exp(-extra[:, 0])}

    def _extra_bounds(self):
        """The log dispersion at least ``-log`` of the largest shape."""
        return np.array([-np.log(self._max_shape())]), np.array([np.inf])

    def _extra_labels(self, label, info):
        return [scalar("every expert" if self.tied_variance else label, "log_dispersion")]

    def inference_ties(self, params):
        """A tied dispersion: one number for every leaf (leaf 0's)."""
        ties = super().inference_ties(params)
        if self.tied_variance:
            ties[:, -1] = ties[0, -1]
        return ties

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

    # the distribution: P(Y <= y) = P(a, y / s), the regularised lower incomplete gamma,
    # with the scale s = mu / a
    def _log_cdf(self, y, eta, params):
        a = params["shape"]
        return log_gamma_lower(a, y * a * np.exp(-eta))

    def _log_sf(self, y, eta, params):
        a = params["shape"]
        return log_gamma_upper(a, y * a * np.exp(-eta))

    def _quantile(self, q, eta, params):
        a = params["shape"]
        x = np.where(q < 0.5, gammaincinv(a, q), gammainccinv(a, 1.0 - q))
        return x * np.exp(eta) / a

    def _limited_mean(self, limit, eta, params):
        # E[Y 1(Y <= L)] = mu P(a + 1, L / s)
        a = params["shape"]
        x = limit * a * np.exp(-eta)
        return np.exp(eta) * gammainc(a + 1.0, x) + limit * gammaincc(a, x)

    def _draw(self, eta, own, rs):
        a = own["shape"]
        return rs.gamma(a, np.exp(eta) / a)
