"""Wald tests of linear hypotheses ``R theta = q`` on the parameters ``summary`` reports.

A hypothesis names parameters by ``summary``'s labels, ``component[parameter]``:
``"expert 0[x1] = expert 1[x1]"``, ``"expert 1[x0] = 0"``, ``"2 * expert 0[x0] - expert
1[x0] = 0.5"``; ``"equal[x1]"`` is feature ``x1``'s coefficient equal in every expert
(for every target or class row of the experts: ``K - 1`` equations per row).
"""

import re
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from ._information import parameter_inference

_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_LABEL = r"([^\s\[\]+*=-][^\[\]+*=]*?)\s*\[([^\[\]]+)\]"
_TERM = re.compile(rf"\s*([+-])?\s*(?:(?:({_NUMBER})\s*\*\s*)?{_LABEL}|({_NUMBER}))\s*")
_EQUAL = re.compile(r"^\s*equal\s*\[([^\[\]]+)\]\s*$")
_EXPERT = re.compile(r"^expert (\d+)(.*)$")


@dataclass
class WaldTestResult:
    """The Wald test of ``R theta = q``.

    Attributes
    ----------
    statistic : float
        ``(R theta - q)^T (R C R^T)^+ (R theta - q)``, with ``C`` the covariance of ``summary``.
    df : int
        The rank of ``R C R^T`` (the number of independent equations).
    p_value : float
        ``P(chi2_df >= statistic)``.
    R : ndarray of shape (n_equations, n_params)
    q : ndarray of shape (n_equations,)
    equations : list of str
        Every row of ``R theta = q`` in words.
    """

    statistic: float
    df: int
    p_value: float
    R: np.ndarray
    q: np.ndarray
    equations: list


def _equation_text(row, q, keys):
    terms = [f"{c:+g} * {keys[j][0]}[{keys[j][1]}]" for j, c in zip(np.flatnonzero(row), row[row != 0])]
    return " ".join(terms) + f" = {q:g}"


def _side(text, index):
    """Coefficients and constant of a sum of terms."""
    row, const, pos = np.zeros(len(index)), 0.0, 0
    text = text.strip()
    if not text:
        raise ValueError("a side of the equation is empty.")
    while pos < len(text):
        m = _TERM.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot read the hypothesis from {text[pos:]!r}.")
        sign = -1.0 if m.group(1) == "-" else 1.0
        if m.group(5) is not None:
            const += sign * float(m.group(5))
        else:
            key = (m.group(3).strip(), m.group(4).strip())
            if key not in index:
                raise ValueError(
                    f"no parameter {key[0]}[{key[1]}] in the model; names are component[parameter] "
                    f"as summary() labels them, e.g. {next(iter(index))[0]}[{next(iter(index))[1]}]."
                )
            row[index[key]] += sign * (1.0 if m.group(2) is None else float(m.group(2)))
        pos = m.end()
    return row, const


def _equal(parameter, keys):
    """Rows of "``parameter`` equal in every expert"."""
    groups = {}
    for j, (component, name) in enumerate(keys):
        m = _EXPERT.match(component)
        if m and name == parameter:
            groups.setdefault(m.group(2), []).append((int(m.group(1)), j))
    rows = []
    for members in groups.values():
        members.sort()
        for _, j in members[1:]:
            row = np.zeros(len(keys))
            row[j], row[members[0][1]] = 1.0, -1.0
            rows.append(row)
    if not rows:
        shared = any(component == "every expert" and name == parameter for component, name in keys)
        raise ValueError(
            f"equal[{parameter}]: {parameter!r} is one parameter shared by every expert already "
            "(shared_features or tied_variance): the model holds the hypothesis."
            if shared else
            f"equal[{parameter}]: no expert parameter {parameter!r} in at least two experts."
        )
    return rows


def parse_hypothesis(hypothesis, component, parameter):
    """``(R, q)`` of a hypothesis on the parameters labelled ``component``, ``parameter``."""
    keys = list(zip(component, parameter))
    index = {k: j for j, k in enumerate(keys)}
    if isinstance(hypothesis, tuple) and len(hypothesis) == 2 and not isinstance(hypothesis[0], str):
        R = np.atleast_2d(np.asarray(hypothesis[0], dtype=np.float64))
        q = np.broadcast_to(np.asarray(hypothesis[1], dtype=np.float64), (R.shape[0],)).copy()
        if R.shape[1] != len(keys):
            raise ValueError(f"R must have {len(keys)} columns (summary's rows), got {R.shape[1]}.")
        return R, q
    if isinstance(hypothesis, str):
        hypothesis = [hypothesis]
    if not isinstance(hypothesis, (list, tuple)) or not hypothesis or not all(
        isinstance(h, str) for h in hypothesis
    ):
        raise TypeError(
            "hypothesis must be a string, a list of strings or a tuple (R, q) of arrays, "
            f"got {type(hypothesis).__name__}."
        )
    rows, q = [], []
    for text in hypothesis:
        m = _EQUAL.match(text)
        if m:
            new = _equal(m.group(1).strip(), keys)
            rows += new
            q += [0.0] * len(new)
            continue
        if text.count("=") > 1:
            raise ValueError(f"a hypothesis holds at most one '=', got {text!r}.")
        left, _, right = text.partition("=")
        lrow, lconst = _side(left, index)
        rrow, rconst = _side(right, index) if right.strip() else (np.zeros(len(keys)), 0.0)
        if not np.any(lrow - rrow):
            raise ValueError(f"the hypothesis {text!r} involves no parameter.")
        rows.append(lrow - rrow)
        q.append(rconst - lconst)
    return np.array(rows), np.array(q)


def wald_test(model, X, y, hypothesis, *, sample_weight=None, cov_type="observed", exposure=None):
    """Wald test of linear hypotheses on the parameters, named as ``summary`` labels them.

    The statistic is ``W = (R theta - q)^T (R C R^T)^+ (R theta - q)`` with ``theta``
    and ``C`` the estimates and covariance of ``model.summary(X, y)``
    (:func:`mixexp.inference.parameter_inference`); under the hypothesis it is
    asymptotically chi-square with ``df`` = the rank of ``R C R^T``.  As flexmix's
    ``flxglht`` and mixtools' ``test.equality``.  A test on the number of experts is not
    a linear hypothesis on these parameters: see :func:`mixexp.inference.bootstrap_lrt`.

    Parameters
    ----------
    model : fitted mixexp estimator
        Its gate and experts must support ``summary``.
    X : array-like of shape (n_samples, n_features)
        The data the covariance is computed on (usually the training data).
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    hypothesis : str, list of str, or tuple (R, q)
        Equations on ``component[parameter]`` labels of ``summary``:
        ``"expert 0[x1] = expert 1[x1]"``, ``"expert 1[x0] = 0"`` (a missing right side
        is 0), ``"expert 0[x0] - 2 * expert 1[x0] = 0.5"``; ``"equal[x1]"``: the
        parameter ``x1`` equal in every expert (``K - 1`` equations for each target or
        class row of the experts).  A list is tested jointly.  Or ``(R, q)``: a matrix
        with one column per row of ``summary`` and the right sides.
    sample_weight : array-like of shape (n_samples,), default=None
        As in ``summary``.
    cov_type : {"observed", "sandwich"}, default="observed"
        As in ``summary``.
    exposure : array-like of shape (n_samples,), default=None
        As in ``summary``.

    Returns
    -------
    WaldTestResult
        ``statistic``, ``df``, ``p_value``, ``R``, ``q``, ``equations``.

    Raises
    ------
    ValueError
        For a name not in ``summary``, an unreadable equation, an equation without
        parameters, or a parameter that ``summary`` holds fixed (no standard error).
    TypeError
        For a hypothesis of another type.

    Examples
    --------
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> from mixexp.inference import wald_test
    >>> X, y = make_moe_regression(400, n_features=2, n_experts=2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> test = wald_test(model, X, y, "equal[x1]")
    >>> test.df
    1
    >>> bool(test.p_value < 0.05)
    True
    """
    result = parameter_inference(model, X, y, sample_weight, cov_type, exposure)
    R, q = parse_hypothesis(hypothesis, result.component, result.parameter)
    used = np.any(R != 0, axis=0)
    held = used & ~np.isfinite(np.diag(result.cov))
    if np.any(held):
        names = [f"{result.component[j]}[{result.parameter[j]}]" for j in np.flatnonzero(held)]
        raise ValueError(f"{', '.join(names)} held fixed in the fit: no standard error to test with.")
    d = R[:, used] @ result.estimate[used] - q
    V = R[:, used] @ result.cov[np.ix_(used, used)] @ R[:, used].T
    vals, vecs = np.linalg.eigh(0.5 * (V + V.T))
    keep = vals > 1e-10 * max(vals[-1], 0.0) if vals.size else vals > 0
    z = vecs[:, keep].T @ d
    statistic = float(np.sum(z**2 / vals[keep]))
    df = int(keep.sum())
    keys = list(zip(result.component, result.parameter))
    equations = [_equation_text(r, v, keys) for r, v in zip(R, q)]
    return WaldTestResult(statistic, df, float(chi2.sf(statistic, df)), R, q, equations)
