"""Censored and truncated responses: what ``y_upper`` and ``truncation`` say of the rows.

A row with ``y_upper > y`` is known only to lie in ``[y, y_upper]`` (``inf``: right-censored
at ``y``; counts: the integers of that interval); ``y_upper == y`` is an exact observation.
``truncation=(lower, upper)`` says a row was observed only because its response fell in
``(lower, upper]`` (a deductible, a limit of reporting).  :func:`check_observations`
validates them against ``y`` and the expert family; :class:`Observations` carries them
through a fit or an E-step: the target that the censored expert component
(:class:`mixexp.experts.censored.CensoredExperts`) reads, and the rows' order.
Censored rows reach the family's ``check_target`` through a stand-in value inside their
interval, which only sets the family's target scale.
"""

import numpy as np
from sklearn.utils.validation import check_consistent_length, column_or_1d


def _row_bounds(values, n_samples, name):
    """``values`` (a scalar or ``(n_samples,)``) as a float array ``(n_samples,)`` without NaN."""
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(n_samples, float(a))
    if a.ndim != 1 or a.shape[0] != n_samples:
        raise ValueError(
            f"{name} should be a scalar or a 1d array of n_samples={n_samples} values, got shape {a.shape}."
        )
    if np.isnan(a).any():
        raise ValueError(f"{name} holds NaN; use inf for an unbounded side.")
    return a


class Observations:
    """Validated censoring and truncation of ``n`` rows (see the module's doc).

    Attributes
    ----------
    y, y_upper : ndarray of shape (n,)
        Each row's interval ``[y, y_upper]`` in the units of y (``y_upper == y``: exact).
    lower, upper : ndarray of shape (n,) or None
        The truncation interval ``(lower, upper]`` of every row; None: not truncated.
    """

    def __init__(self, y, y_upper, lower=None, upper=None):
        self.y, self.y_upper, self.lower, self.upper = y, y_upper, lower, upper

    @property
    def censored(self):
        return self.y_upper > self.y

    @property
    def truncated(self):
        return self.lower is not None

    def take(self, order):
        """The observations of the rows ``order``."""
        return Observations(*(None if a is None else a[order] for a in (self.y, self.y_upper, self.lower, self.upper)))

    def stand_in(self, y, discrete):
        """``y`` with every interval-censored row's value replaced by its interval's midpoint
        (rounded down for counts): a value the family's target check accepts (a positive
        family refuses the ``y = 0`` of a left-censored row)."""
        mid = np.where(np.isfinite(self.y_upper), 0.5 * (self.y + self.y_upper), self.y)
        mid = np.floor(mid) if discrete else mid
        out = np.where(self.censored, mid, self.y)
        return out.reshape(np.shape(y))

    def target(self, inner, discrete, offset=None):
        """The censored component's target: the family's target ``inner`` of every row, and
        the bounds of the probabilities of the censored and the truncated rows,
        ``P(lo < Y <= hi)`` (counts: ``lo = y - 1``, the interval's integers); with the
        exposure's log-``offset`` (``(n,)``), the per-row arrays the family's ``log_cdf`` and
        ``log_sf`` take (``{"offset": offset}``)."""
        target = {
            "y": inner,
            "censored": self.censored,
            "lo": self.y - 1.0 if discrete else self.y,
            "hi": self.y_upper,
            "rows": {} if offset is None else {"offset": offset},
        }
        if self.truncated:
            target["lower"], target["upper"] = self.lower, self.upper
        return target


def check_observations(y, y_upper, truncation, n_samples, experts, family_name, gate=None, grouped=False):
    """Validated :class:`Observations`, or None when every row is exact and none truncated
    (the fit is then that of plain rows, bit for bit).

    Raises
    ------
    ValueError
        ``y_upper < y``, a truncation interval that excludes an observed ``y``, arrays of
        the wrong length, several responses, or a family without a distribution function
        (``has_distribution`` False) for censored or truncated rows; a gate that weighs the
        experts' representations (attention) with them; truncation with grouped rows or a
        gate that models x (``gate="gaussian"``).  An ``exposure`` (the log-link families) is
        validated by the families' own check and enters their distribution functions as the
        offset of every row.
    """
    if y_upper is None and truncation is None:
        return None
    if gate is not None and gate.uses_experts:
        raise ValueError(
            "y_upper and truncation need a gate that does not weigh the experts' representations "
            "(gate='softmax' or 'gaussian')."
        )
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"y_upper and truncation describe one response; y has shape {y.shape}. Fit one "
            "response at a time."
        )
    y = column_or_1d(np.asarray(y, dtype=np.float64))
    check_consistent_length(y, np.empty(n_samples))
    if y_upper is None:
        upper_y = y.copy()
    else:
        upper_y = _row_bounds(y_upper, n_samples, "y_upper")
        below = int(np.sum(upper_y < y))
        if below:
            raise ValueError(
                f"y_upper should be >= y in every row ([y, y_upper] is the interval a censored "
                f"response lies in; y_upper == y: exact); {below} row(s) have y_upper < y."
            )
    lower = upper = None
    if truncation is not None:
        if not isinstance(truncation, (tuple, list)) or len(truncation) != 2:
            raise ValueError(
                "truncation should be a tuple (lower, upper) of scalars or 1d arrays of n_samples "
                f"values (the interval (lower, upper] responses were observed in), got {truncation!r}."
            )
        lower = _row_bounds(truncation[0], n_samples, "truncation's lower bound")
        upper = _row_bounds(truncation[1], n_samples, "truncation's upper bound")
        if grouped or (gate is not None and gate.models_x):
            raise ValueError(
                "truncation is fitted with ungrouped rows and a gate of y given x "
                "(gate='softmax'): the rows truncated away are rows at the same x, which "
                "grouped rows and a model of x (gate='gaussian') do not have."
            )
        outside = int(np.sum((y <= lower) | (y > upper)))
        if outside:
            raise ValueError(
                f"truncation=(lower, upper) says every response was observed in (lower, upper]; "
                f"{outside} row(s) have y outside their interval."
            )
    obs = Observations(y, upper_y, lower, upper)
    if not (obs.truncated or obs.censored.any()):
        return None
    if not experts.has_distribution:
        raise ValueError(
            f"expert={family_name!r} gives no distribution function (has_distribution=False), "
            "which censored (y_upper > y) and truncated rows need: choose a family with one "
            "('linear', 'student_t', 'poisson', 'gamma', 'zip', 'negative_binomial', "
            "'lognormal', 'weibull', 'inverse_gaussian', 'burr', or an ExpertFamily with log_cdf "
            "and log_sf), or fit exact rows only."
        )
    return obs
