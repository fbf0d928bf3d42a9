"""Risk measures of a regressor's predictive mixture of one response.

The predictive law at ``x`` is the mixture ``F(y | x) = sum_k g_k(x) F_k(y | x)``
of the leaves' laws, with the gates ``g`` of :meth:`predict` (with ``top_k``: the
routed leaves, renormalised).  From the families' distribution members
(:class:`~mixexp.experts.ExpertComponent`: ``log_cdf``, ``log_sf``,
``leaf_quantile``, ``leaf_limited_mean``, ``leaf_stop_loss``; ``has_distribution`` families):

- ``predict_cdf``: ``F(y | x)``, exact (the families' closed forms);
- ``predict_limited_mean``: ``E[min(Y, u) | x] = sum_k g_k E_k[min(Y, u)]``, exact;
- ``predict_quantile`` (value at risk): ``VaR_q = inf {y : F(y) >= q}``, a root of
  the mixture's CDF, which lies between the smallest and the largest of the leaves'
  quantiles at ``q`` (every leaf's CDF is below ``q`` left of the smallest and
  reaches it at the largest).  Each row's bracket is narrowed by regula falsi
  (Illinois) with bisection whenever the bracket did not halve in two steps, on
  ``log F(y) - log q`` (``q <= 1/2``) or ``log(1 - q) - log(1 - F(y))`` (``q >
  1/2``, so upper tails keep their relative precision), until its width is at most
  ``1e-10 |VaR| + 1e-14`` times the leaves' spread; the upper end, whose CDF
  reaches ``q``, is returned.  A point mass at 0 (zero inflation) is exact: the
  bracket is split at 0 first.  Counts (``discrete`` families): bisection on the
  integers, exact;
- ``predict_cte`` (conditional tail expectation, TVaR, expected shortfall):
  ``CTE_q = VaR_q + E[(Y - VaR_q)+] / (1 - q)`` with each leaf's stop-loss
  ``E[(Y - v)+]`` (``leaf_stop_loss``: by default ``E[Y] - E[min(Y, v)]``; the Burr
  integrates its tail directly, where that difference cancels).  For a
  law continuous at ``VaR_q`` it is ``E[Y | Y > VaR_q]``; with atoms (counts, zero
  inflation) it is the mean of the upper ``1 - q`` of the law, the atom at
  ``VaR_q`` counted in part (Acerbi & Tasche 2002), which keeps it coherent and
  continuous in ``q``.

Every row's result depends on that row alone: the search runs on all rows of a
prediction chunk at once, each row stopping by its own test.
"""

import numpy as np
from sklearn.utils.validation import _num_samples, check_array

from .experts import EXPERTS

#: relative accuracy of the quantiles (and so of the CTE's VaR)
QUANTILE_RTOL = 1e-10
#: absolute accuracy of the quantiles, relative to the spread of the leaves' quantiles
QUANTILE_ATOL = 1e-14
MAX_ITER = 300  # the bracket halves at least every two steps: 100 reach any accuracy
MAX_EXPAND = 64  # doublings of a bracket end whose CDF misses q by rounding


# -- the mixture on a chunk -------------------------------------------------------
def _mix(gates, values):
    """``sum_k g_k values_k`` over the leaves with positive gate (0 * inf counts as 0)."""
    with np.errstate(invalid="ignore"):
        return np.sum(np.where(gates > 0, gates * values, 0.0), axis=1)


def _log_mix(log_gates, log_values):
    """``log sum_k g_k exp(log_values_k)``, without underflow."""
    terms = log_gates + log_values
    top = np.max(terms, axis=1)
    shift = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return shift + np.log(np.sum(np.exp(terms - shift[:, None]), axis=1))


class _Excess:
    """``h(y)``, increasing in ``y`` and ``>= 0`` exactly where the mixture's CDF reaches
    ``q``: ``log F(y) - log q`` for ``q <= 1/2``, ``log(1 - q) - log(1 - F(y))`` above.
    Called with ``rows``, of those rows of the chunk only (``y`` one per row)."""

    def __init__(self, chunk, level):
        self.chunk = chunk
        self.lower = level <= 0.5
        self.target = np.log(level) if self.lower else np.log(1.0 - level)  # 1 - q is exact
        with np.errstate(divide="ignore"):
            self.log_gates = np.log(chunk.gates)

    def __call__(self, y, rows=None):
        log_gates = self.log_gates if rows is None else self.log_gates[rows]
        if self.lower:
            return _log_mix(log_gates, self.chunk.distribution("log_cdf", y, rows)) - self.target
        return self.target - _log_mix(log_gates, self.chunk.distribution("log_sf", y, rows))


def _push(h, x, hx, up, bad, span):
    """Move the ends ``x`` of the rows ``bad`` outwards (up or down) by doubling steps from
    ``span`` until ``h`` has the sign that end needs (``>= 0`` up, ``< 0`` down)."""
    x, hx = x.copy(), hx.copy()
    step = np.maximum(span, np.maximum(np.abs(x) * 1e-12, 1e-300))
    direction = 1.0 if up else -1.0
    rows = np.flatnonzero(bad)
    for _ in range(MAX_EXPAND):
        if rows.size == 0:
            break
        x[rows] += direction * step[rows]
        hx[rows] = h(x[rows], rows)
        step[rows] *= 2.0
        rows = rows[(hx[rows] < 0) if up else (hx[rows] >= 0)]
    return x, hx


def _continuous_quantile(h, lo, hi):
    """The smallest ``y`` with ``h(y) >= 0`` in ``[lo, hi]`` (see the module docstring)."""
    a, b = lo.copy(), hi.copy()
    ha, hb = h(a), h(b)
    # where the leaves' quantiles agree, theirs is the mixture's (exactly, whatever the
    # rounding of h); elsewhere the bracket is checked
    differ = lo < hi
    b, hb = _push(h, b, hb, True, differ & (hb < 0), b - a)  # a leaf quantile's rounding
    # the CDF reaches q at the lower end already: the quantile is at most there
    at_lo = differ & (ha >= 0)
    b, hb = np.where(at_lo, a, b), np.where(at_lo, ha, hb)
    a, ha = _push(h, a, ha, False, at_lo, np.maximum(hi - lo, np.abs(lo) * 1e-8))
    # an atom at 0 (zero inflation) becomes an end of the bracket
    split = np.flatnonzero((a < 0) & (b > 0))
    if split.size:
        h0 = h(np.zeros(split.size), split)
        up = h0 >= 0
        b[split[up]], hb[split[up]] = 0.0, h0[up]
        a[split[~up]], ha[split[~up]] = 0.0, h0[~up]
    atol = QUANTILE_ATOL * (b - a)
    side = np.zeros(a.shape, dtype=np.int8)  # which end the last step replaced
    width_before = np.full(a.shape, np.inf)  # the width two steps ago
    width_last = np.full(a.shape, np.inf)
    for _ in range(MAX_ITER):
        tol = QUANTILE_RTOL * np.maximum(np.abs(a), np.abs(b)) + atol
        rows = np.flatnonzero(b - a > tol)  # each row stops by its own test
        if rows.size == 0:
            break
        ar, br, har, hbr, tr = a[rows], b[rows], ha[rows], hb[rows], tol[rows]
        width = br - ar
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            secant = br - hbr * (width / (hbr - har))
        fast = (
            np.isfinite(har) & np.isfinite(hbr) & (hbr > har) & (secant > ar) & (secant < br)
            & (width <= 0.5 * width_before[rows])
        )
        # a step of at least half the tolerance from either end (as Brent's): once one
        # end is at the root, the next step puts the other within the tolerance
        x = np.where(fast, np.clip(secant, ar + 0.5 * tr, br - 0.5 * tr), ar + 0.5 * width)
        hx = h(x, rows)
        right = hx >= 0
        # Illinois: an end kept twice in a row has its value halved
        s = side[rows]
        har = np.where(right & (s == 1), 0.5 * har, har)
        hbr = np.where(~right & (s == -1), 0.5 * hbr, hbr)
        a[rows], ha[rows] = np.where(right, ar, x), np.where(right, har, hx)
        b[rows], hb[rows] = np.where(right, x, br), np.where(right, hx, hbr)
        side[rows] = np.where(right, 1, -1)
        width_before[rows], width_last[rows] = width_last[rows], width
    return b


def _integer_quantile(h, lo, hi):
    """The smallest integer ``k`` with ``h(k) >= 0`` in ``[lo, hi]``: bisection on the integers."""
    a, b = np.floor(lo) - 1.0, np.ceil(hi)
    ha, hb = h(a), h(b)
    b, hb = _push(h, b, hb, True, hb < 0, np.maximum(b - a, 1.0))
    a, ha = _push(h, a, ha, False, ha >= 0, np.maximum(b - a, 1.0))
    while True:
        rows = np.flatnonzero(b - a > 1.0)
        if rows.size == 0:
            return b
        m = np.floor(a[rows] + 0.5 * (b[rows] - a[rows]))
        up = h(m, rows) >= 0
        b[rows[up]] = m[up]
        a[rows[~up]] = m[~up]


def mixture_quantile(chunk, level):
    """The mixture's quantile at ``level`` of every row of ``chunk``, ``(n,)``."""
    n = chunk.gates.shape[0]
    leaf = chunk.distribution("leaf_quantile", np.full(n, level))
    big = np.finfo(np.float64).max
    leaf = np.clip(leaf, -big, big)
    used = chunk.gates > 0
    lo = np.min(np.where(used, leaf, np.inf), axis=1)
    hi = np.max(np.where(used, leaf, -np.inf), axis=1)
    h = _Excess(chunk, level)
    if chunk.state.experts.discrete:
        return _integer_quantile(h, lo, hi)
    return _continuous_quantile(h, lo, hi)


def mixture_cte(chunk, level, var):
    """``VaR_q + E[(Y - VaR_q)+] / (1 - q)`` of every row, ``(n,)``, from its VaR ``var``."""
    stop_loss = chunk.distribution("leaf_stop_loss", var)  # E_k[(Y - v)+]
    return var + _mix(chunk.gates, stop_loss) / (1.0 - level)


# -- arguments ----------------------------------------------------------------------
def check_levels(q):
    """``q`` as a 1-d float array of levels in (0, 1), and whether it was a scalar."""
    try:
        levels = np.asarray(q, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"q must be a float or a 1-d array of floats in (0, 1), got {q!r}.") from None
    if levels.ndim > 1 or levels.size == 0:
        raise ValueError(
            f"q must be a float or a non-empty 1-d array of levels in (0, 1); got an array of "
            f"shape {levels.shape}."
        )
    bad = ~((levels > 0.0) & (levels < 1.0))
    if bad.any():
        raise ValueError(
            f"q must be in the open interval (0, 1) (a probability level); got "
            f"{levels[bad].ravel()[0]!r}."
        )
    return np.atleast_1d(levels), levels.ndim == 0


def check_row_values(values, X, name, positive=False):
    """``values`` (a float, or one per row of ``X``) as a finite 1-d float array or a float."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a float or a 1-d array of floats, got {values!r}.") from None
    if arr.ndim == 0:
        if not np.isfinite(arr):
            raise ValueError(f"{name} must be finite, got {float(arr)!r}.")
    else:
        arr = check_array(arr, ensure_2d=False, dtype=np.float64, input_name=name)
        if arr.ndim != 1 or arr.shape[0] != _num_samples(X):
            raise ValueError(
                f"{name} must be a float or have one value per row of X ({_num_samples(X)}); "
                f"got an array of shape {arr.shape}."
            )
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name} must be positive (a limit of a loss above 0); got {float(np.min(arr))!r}.")
    return arr


def distribution_families():
    """The registered regression families that give their distributions, for messages."""
    return sorted(name for name, family in EXPERTS["regression"].items() if family.has_distribution)


def _per_row(arr, n):
    return np.full(n, float(arr)) if np.ndim(arr) == 0 else arr


class RiskMixin:
    """Risk measures of a fitted regressor with a single response (see the module docstring).

    Mixed into :class:`mixexp._regressor.MixtureRegressorBase`; uses the
    prediction mixin's fitted state and chunked prediction (``_routed_rows``).  The
    measures are of the fitted experts' laws: ``clip_experts`` does not apply to them.
    """

    def _distribution_state(self, what):
        """The fitted state, after checking that its family gives distributions of one
        response; a ValueError in words otherwise."""
        state = self._state()
        experts = state.experts
        if state.info["n_outputs"] != 1:
            raise ValueError(
                f"{what} is defined for a single response; this model was fitted on y with "
                f"{state.info['n_outputs']} targets (fit the response of interest alone)."
            )
        if not experts.has_distribution:
            raise ValueError(
                f"{what} needs each expert's distribution function, which expert="
                f"{state.expert_kind!r} does not give (its family has no has_distribution); "
                f"the families {', '.join(map(repr, distribution_families()))} give them."
            )
        return state

    def _mixed_at(self, X, values, leaf_values, exposure, groups, history):
        """The mixture of ``leaf_values(chunk, at)`` ``(n, L)``, each leaf's value at one
        argument per row: ``values`` a scalar for every row, or one per row of ``X``."""

        def reduce(chunk, at=None):
            at = _per_row(values, chunk.gates.shape[0]) if at is None else at
            return (_mix(chunk.gates, leaf_values(chunk, at)),)

        per_row = None if np.ndim(values) == 0 else {"at": values}
        return self._routed_rows(X, reduce, exposure, per_row=per_row, groups=groups, history=history)[0]

    def predict_cdf(self, X, y, exposure=None, *, groups=None, history=None):
        """The predictive distribution function ``P(Y <= y | x)`` of the mixture.

        ``sum_k g_k(x) F_k(y | x)``, exact (closed forms of the families; counts:
        ``P(Y <= floor(y))``).  With ``top_k`` set, the mixture of each sample's
        ``top_k`` most probable experts, gates renormalised (as :meth:`predict`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : float or array-like of shape (n_samples,)
            Where to evaluate it: one value for every sample, or one per sample.
        exposure : array-like of shape (n_samples,), default=None
            Exposures of the log-link families (``"poisson"``, ``"gamma"``,
            ``"zip"``, ``"negative_binomial"``); None: per unit of exposure.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the rows (panel data); used with ``history``.
        history : tuple (X_h, y_h, groups_h) or (X_h, y_h, groups_h, exposure_h), default=None
            Experience rating: a row whose group has history is weighted by that
            group's posterior over the experts given its history instead of the
            gate (docs/panel.md).

        Returns
        -------
        cdf : ndarray of shape (n_samples,)
        """
        self._distribution_state("predict_cdf")
        values = check_row_values(y, X, "y")

        return self._mixed_at(
            X, values, lambda chunk, at: np.exp(chunk.distribution("log_cdf", at)), exposure, groups, history
        )

    def predict_limited_mean(self, X, limit, exposure=None, *, groups=None, history=None):
        """The limited expected value ``E[min(Y, limit) | x]`` of the mixture.

        ``sum_k g_k(x) E_k[min(Y, limit) | x]``, exact (closed forms; Student-t
        experts with ``nu <= 1``: ``-inf``).  It tends to :meth:`predict`'s mean as
        the limit grows (where the mean exists).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        limit : float or array-like of shape (n_samples,)
            The limit ``u > 0`` (a policy limit): one for every sample, or one per sample.
        exposure : array-like of shape (n_samples,), default=None
            Exposures of the log-link families; None: per unit of exposure.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the rows (panel data); used with ``history``.
        history : tuple (X_h, y_h, groups_h) or (X_h, y_h, groups_h, exposure_h), default=None
            Experience rating: a row whose group has history is weighted by that
            group's posterior over the experts given its history instead of the
            gate (docs/panel.md).

        Returns
        -------
        limited_mean : ndarray of shape (n_samples,)
        """
        self._distribution_state("predict_limited_mean")
        values = check_row_values(limit, X, "limit", positive=True)

        return self._mixed_at(
            X, values, lambda chunk, at: chunk.distribution("leaf_limited_mean", at), exposure, groups, history
        )

    def predict_quantile(self, X, q, exposure=None, *, groups=None, history=None):
        """Quantiles (value at risk) of the predictive mixture.

        ``VaR_q(x) = inf {y : P(Y <= y | x) >= q}``, a root of the mixture's
        distribution function bracketed by the experts' own quantiles, to a
        relative accuracy of 1e-10 (counts: the exact integer); see docs/risk.md.
        With ``top_k`` set, of the mixture of each sample's ``top_k`` most probable
        experts, gates renormalised.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        q : float or array-like of shape (n_levels,)
            Levels in (0, 1).
        exposure : array-like of shape (n_samples,), default=None
            Exposures of the log-link families; None: per unit of exposure.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the rows (panel data); used with ``history``.
        history : tuple (X_h, y_h, groups_h) or (X_h, y_h, groups_h, exposure_h), default=None
            Experience rating: a row whose group has history is weighted by that
            group's posterior over the experts given its history instead of the
            gate (docs/panel.md).

        Returns
        -------
        quantiles : ndarray of shape (n_samples,) or (n_samples, n_levels)
            One column per level when ``q`` is an array.
        """
        self._distribution_state("predict_quantile")
        levels, scalar = check_levels(q)

        def reduce(chunk):
            return (np.stack([mixture_quantile(chunk, level) for level in levels], axis=1),)

        out = self._routed_rows(X, reduce, exposure, groups=groups, history=history)[0]
        return out[:, 0] if scalar else out

    def predict_cte(self, X, q, exposure=None, *, groups=None, history=None):
        """Conditional tail expectation (TVaR, expected shortfall) of the predictive mixture.

        ``CTE_q(x) = VaR_q(x) + E[(Y - VaR_q(x))+ | x] / (1 - q)``: the mean of
        the upper ``1 - q`` of the predictive law, ``E[Y | Y > VaR_q]`` where the
        law is continuous at ``VaR_q`` (with atoms, of counts or zero inflation,
        the atom at ``VaR_q`` counts in part: Acerbi & Tasche 2002).  Exact given
        the quantile (:meth:`predict_quantile`); infinite where an expert with
        weight has no mean (Student-t ``nu <= 1``, Burr ``shape_ * shape2_ <= 1``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        q : float or array-like of shape (n_levels,)
            Levels in (0, 1).
        exposure : array-like of shape (n_samples,), default=None
            Exposures of the log-link families; None: per unit of exposure.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the rows (panel data); used with ``history``.
        history : tuple (X_h, y_h, groups_h) or (X_h, y_h, groups_h, exposure_h), default=None
            Experience rating: a row whose group has history is weighted by that
            group's posterior over the experts given its history instead of the
            gate (docs/panel.md).

        Returns
        -------
        cte : ndarray of shape (n_samples,) or (n_samples, n_levels)
            One column per level when ``q`` is an array.
        """
        self._distribution_state("predict_cte")
        levels, scalar = check_levels(q)

        def reduce(chunk):
            columns = [mixture_cte(chunk, level, mixture_quantile(chunk, level)) for level in levels]
            return (np.stack(columns, axis=1),)

        out = self._routed_rows(X, reduce, exposure, groups=groups, history=history)[0]
        return out[:, 0] if scalar else out
