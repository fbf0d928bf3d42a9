"""The bootstrap of a fitted mixture: standard errors and percentile intervals of every
parameter, and the bootstrap likelihood-ratio test of the number of experts.

Every replicate refits a copy of the model on resampled data (``"nonparametric"``: rows
drawn with replacement; ``"parametric"``: the same X with y drawn from the fitted model),
starting from the original fit (``warm_start``), so it needs few EM iterations and usually
keeps the original's labels.  When it does not (label switching: the replicate's expert
``j`` is the original's expert ``i``), its experts are matched to the original's:

- each replicate parameter vector is mapped to the original's internal coordinates
  (standardised features and target, log variances, softmax rows relative to the first),
  where the squared distance between two experts' parameter vectors is the matching cost;
- the relabelling that minimises the total cost over the tree's automorphisms (the
  children of every inner node permuted, subtrees moving with them; for a flat mixture
  every permutation of the experts) is found by the Hungarian algorithm
  (:func:`scipy.optimize.linear_sum_assignment`), bottom-up: the cost of pairing two
  subtrees is the optimal assignment of their children;
- the gate relabels its own parameters (:meth:`mixexp.gates.Gate.relabel`) and the
  replicate's parameters are reported under the original's labels.
"""

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np
from joblib import Parallel, delayed
from scipy.optimize import linear_sum_assignment
from scipy.stats import norm
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted

from ._information import Layout, _raw_estimate
from ._init import refit_start

METHODS = ("nonparametric", "parametric")
INTERVALS = ("percentile", "basic", "normal")


@dataclass
class BootstrapResult:
    """Bootstrap replicates of every parameter, under the labels of ``summary``.

    Attributes
    ----------
    component, parameter : lists of str
        The labels of :meth:`summary`, one per parameter.
    estimate : ndarray of shape (n_params,)
        The original fit's estimates (``summary``'s ``estimate``).
    replicates : ndarray of shape (n_resamples, n_params)
        Every replicate's estimates, its experts matched to the original's; NaN rows for
        replicates whose fit failed.
    std_error : ndarray of shape (n_params,)
        Standard deviation of the replicates (``ddof=1``).
    ci_low, ci_high : ndarray of shape (n_params,)
        95% percentile intervals (:meth:`interval` for other levels and kinds).
    method : str
    n_relabelled : int
        Replicates whose experts were relabelled to match the original's.
    n_failed : int
        Replicates whose fit raised an error (left out).
    """

    component: list
    parameter: list
    estimate: np.ndarray
    replicates: np.ndarray
    method: str
    n_relabelled: int = 0
    n_failed: int = 0
    std_error: np.ndarray = field(init=False)
    ci_low: np.ndarray = field(init=False)
    ci_high: np.ndarray = field(init=False)

    def __post_init__(self):
        self.std_error = np.nanstd(self.replicates, axis=0, ddof=1)
        self.ci_low, self.ci_high = self.interval(0.95)

    def interval(self, confidence_level=0.95, kind="percentile"):
        """Intervals ``(low, high)`` of every parameter at ``confidence_level``.

        ``kind="percentile"``: the replicates' quantiles ``(q_a, q_b)``;
        ``"basic"``: the same reflected about the estimate, ``(2 t - q_b, 2 t - q_a)``,
        which corrects a bias of the estimator instead of doubling it;
        ``"normal"``: ``t ± z std_error``.
        """
        if not 0.0 < confidence_level < 1.0:
            raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level!r}.")
        if kind not in INTERVALS:
            raise ValueError(f"kind must be one of {list(INTERVALS)}, got {kind!r}.")
        tail = 50.0 * (1.0 - confidence_level)
        if kind == "normal":
            half = norm.ppf(1.0 - tail / 100.0) * self.std_error
            return self.estimate - half, self.estimate + half
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
            low, high = np.nanpercentile(self.replicates, [tail, 100.0 - tail], axis=0)
        if kind == "basic":
            return 2.0 * self.estimate - high, 2.0 * self.estimate - low
        return low, high

    def table(self):
        """A table like ``summary``'s: ``component``, ``parameter``, ``estimate``,
        ``std_error``, ``ci_low``, ``ci_high`` (a pandas DataFrame, or a dict of columns
        without pandas)."""
        columns = {
            "component": self.component, "parameter": self.parameter, "estimate": self.estimate,
            "std_error": self.std_error, "ci_low": self.ci_low, "ci_high": self.ci_high,
        }
        try:
            import pandas as pd
        except ImportError:
            return columns
        return pd.DataFrame(columns)


@dataclass
class BootstrapLRTResult:
    """The bootstrap likelihood-ratio test of ``n_experts[0]`` against ``n_experts[1]`` experts.

    Attributes
    ----------
    statistic : float
        ``max(2 (l1 - l0), 0)``, twice the gain in log-likelihood of the larger model on the data.
    p_value : float
        ``(1 + #{b: T_b >= statistic}) / (1 + B)`` over the ``B`` null statistics.
    null_statistics : ndarray of shape (n_resamples,)
        The statistic on data simulated from the smaller fitted model, at least 0 (NaN where a
        fit failed).
    n_experts : tuple of int
    log_likelihoods : tuple of float
        ``(l0, l1)`` on the data.
    """

    statistic: float
    p_value: float
    null_statistics: np.ndarray
    n_experts: tuple
    log_likelihoods: tuple


# -- label matching ----------------------------------------------------------------
def match_leaves(tree, cost):
    """The tree automorphism minimising the total cost of paired leaves.

    ``cost[i, j]``: the cost of reporting replicate leaf ``j`` as original leaf ``i``.
    Returns ``node_map`` ``(n_nodes,)``: original node ``a`` is replicate node
    ``node_map[a]``.  Bottom-up: a pair of subtrees costs the optimal assignment
    (Hungarian) of their children's pairs.
    """
    b, n_inner = tree.branching, tree.n_inner
    memo = {}

    def best(a, r):
        if a >= n_inner:
            return cost[a - n_inner, r - n_inner], {a: r}
        if (a, r) not in memo:
            pairs = [[best(a * b + 1 + i, r * b + 1 + j) for j in range(b)] for i in range(b)]
            C = np.array([[p[0] for p in row] for row in pairs])
            rows, cols = linear_sum_assignment(C)
            mapping = {a: r}
            for i, j in zip(rows, cols):
                mapping.update(pairs[i][j][1])
            memo[a, r] = (C[rows, cols].sum(), mapping)
        return memo[a, r]

    mapping = best(0, 0)[1]
    return np.array([mapping[a] for a in range(tree.n_nodes)])


class _Reference:
    """The original fit's labels and parameters, against which replicates are matched."""

    def __init__(self, model):
        state = model._state()
        self.layout = layout = Layout(state)
        names = getattr(model, "feature_names_in_", None)
        self.names = [f"x{i}" for i in range(model.n_features_in_)] if names is None else list(names)
        self.labels = labels = layout.labels(self.names)
        self.theta = layout.pack(state.params)
        self.estimate = _raw_estimate(labels.M, self.theta, labels.offset)
        # the map back to theta needs every expert's copy of a shared parameter
        self.full = layout.labels(self.names, unique=False)
        self.M_inv = np.linalg.pinv(self.full.M)

    def leaves(self, theta):
        """Every leaf's expert block of ``theta``, ``(n_leaves, leaf_size)``; entries on the
        boundary of their space (infinite) count as 0, so they do not decide the matching."""
        lay = self.layout
        block = theta[lay.gate_size :].reshape(lay.tree.n_leaves, lay.leaf_size)
        return np.where(np.isfinite(block), block, 0.0)

    def matched(self, model):
        """The replicate ``model``'s estimates under the original's labels, and whether its
        experts were relabelled."""
        state = model._state()
        layout = Layout(state)
        labels = layout.labels(self.names)
        if labels.component != self.labels.component or labels.parameter != self.labels.parameter:
            raise ValueError("the replicate's parameters differ from the original's")
        theta = layout.pack(state.params)
        raw = _raw_estimate(labels.M, theta, labels.offset)
        full = layout.labels(self.names, unique=False)
        # the replicate in the original's internal coordinates
        with np.errstate(invalid="ignore"):
            shifted = _raw_estimate(full.M, theta, full.offset) - self.full.offset
        mine = self.M_inv @ np.where(np.isfinite(shifted), shifted, 0.0)
        ref, rep = self.leaves(self.theta), self.leaves(mine)
        cost = ((ref[:, None, :] - rep[None, :, :]) ** 2).sum(axis=2)
        node_map = match_leaves(layout.tree, cost)
        if np.array_equal(node_map, np.arange(node_map.size)):
            return raw, False
        t = layout.tree
        gate = state.gate.relabel(state.params["gate"], node_map)
        experts = state.experts.inference_vector(state.params["experts"])[node_map[t.n_inner :] - t.n_inner]
        theta = np.concatenate([state.gate.inference_vector(gate), experts.ravel()])
        return _raw_estimate(labels.M, theta, labels.offset), True


# -- replicates ------------------------------------------------------------------------
def _simulate(model, X, rs):
    """y drawn from the fitted model at X."""
    if is_classifier(model):
        proba = model.predict_proba(X)
        u = rs.uniform(size=(proba.shape[0], 1))
        k = np.minimum((u > np.cumsum(proba, axis=1)).sum(axis=1), proba.shape[1] - 1)
        return model.classes_[k]
    draws = model.sample_y(X, random_state=rs)
    return draws[..., 0]


def _refit(model, X, y, seed, warm=True):
    fit = copy.deepcopy(model) if warm else clone(model)
    fit.set_params(warm_start=warm, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit.fit(X, y)


def _replicate(model, reference, X, y, method, seed):
    rs = np.random.RandomState(seed)
    try:
        if method == "nonparametric":
            rows = rs.randint(_num_samples(X), size=_num_samples(X))
            X, y = _safe_indexing(X, rows), _safe_indexing(y, rows)
        else:
            y = _simulate(model, X, rs)
        return reference.matched(_refit(model, X, y, seed))
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):
        return None


def _check_resamples(n_resamples):
    if not isinstance(n_resamples, (int, np.integer)) or isinstance(n_resamples, bool) or n_resamples < 2:
        raise ValueError(f"n_resamples must be an integer >= 2, got {n_resamples!r}.")


def _seeds(rs, n):
    return rs.randint(np.iinfo(np.int32).max, size=n)


def bootstrap(model, X, y, *, n_resamples=200, method="nonparametric", random_state=None, n_jobs=None):
    """Bootstrap standard errors and percentile intervals of every parameter of a fitted model.

    Each replicate refits a copy of ``model`` on resampled data, starting from the
    original fit (``warm_start=True``), and reports its parameters under the labels of
    ``model.summary(X, y)``.  Label switching is handled: a replicate's experts are
    matched to the original's by the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`) on the squared distances between
    their parameter vectors in the original's internal coordinates (standardised
    features and target); in a tree, over the relabellings that permute the children of
    inner nodes, subtree by subtree.  The gate's parameters are then reported for the
    matched labels (for a softmax gate, relative to the original's expert 0).

    Parameters
    ----------
    model : fitted mixexp estimator
        Its gate and experts must support ``summary`` (``gate="softmax"`` or
        ``"gaussian"``, built-in families).
    X : array-like of shape (n_samples, n_features)
        The training data.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        The training targets.
    n_resamples : int, default=200
        The number of replicates.
    method : {"nonparametric", "parametric"}, default="nonparametric"
        ``"nonparametric"``: rows drawn with replacement (flexmix's ``"ordinary"``,
        mixtools' ``boot.se``); ``"parametric"``: the same X with y drawn from the
        fitted model (``sample_y``; classifiers: classes drawn from ``predict_proba``),
        the bootstrap conditional on X (also with ``gate="gaussian"``, which models x).
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling and the refits: the same seed gives the same result,
        whatever ``n_jobs``.
    n_jobs : int, default=None
        Replicates run in parallel with joblib (None: one job unless in a
        ``joblib.parallel_backend`` context; -1: all processors).

    Returns
    -------
    BootstrapResult
        ``component``, ``parameter``, ``estimate``, ``replicates``, ``std_error``,
        ``ci_low``, ``ci_high`` (95%), ``interval(level)``, ``table()``,
        ``n_relabelled``, ``n_failed``.

    Raises
    ------
    ValueError
        For an unfitted model (``NotFittedError``), an unknown ``method``, ``n_resamples``
        below 2, a gate or family without ``summary``, or when every replicate fails.

    Examples
    --------
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> from mixexp.inference import bootstrap
    >>> X, y = make_moe_regression(300, n_features=2, n_experts=2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> result = bootstrap(model, X, y, n_resamples=20, random_state=0)
    >>> result.replicates.shape
    (20, 11)
    >>> result.table().columns.tolist()
    ['component', 'parameter', 'estimate', 'std_error', 'ci_low', 'ci_high']
    """
    check_is_fitted(model)
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}.")
    _check_resamples(n_resamples)
    seeds = _seeds(check_random_state(random_state), n_resamples)
    reference = _Reference(model)
    out = Parallel(n_jobs=n_jobs)(
        delayed(_replicate)(model, reference, X, y, method, int(s)) for s in seeds
    )
    failed = [o is None for o in out]
    if all(failed):
        raise ValueError("Every bootstrap replicate failed to fit; see the model's own errors on the data.")
    if any(failed):
        warnings.warn(
            f"{sum(failed)} of {n_resamples} bootstrap replicates failed to fit and are left out.",
            RuntimeWarning,
        )
    P = reference.estimate.size
    replicates = np.array([np.full(P, np.nan) if o is None else o[0] for o in out])
    return BootstrapResult(
        list(reference.labels.component), list(reference.labels.parameter), reference.estimate,
        replicates, method, n_relabelled=sum(o[1] for o in out if o is not None), n_failed=sum(failed),
    )


# -- the bootstrap likelihood-ratio test of the number of experts ----------------------------
def _loglik(model, X, y):
    return float(np.sum(model.log_likelihood(X, y)))


def _null_statistic(null, alt, X, seed):
    rs = np.random.RandomState(seed)
    try:
        y = _simulate(null, X, rs)
        return max(2.0 * (_loglik(_refit(alt, X, y, seed, warm=False), X, y)
                          - _loglik(_refit(null, X, y, seed), X, y)), 0.0)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):
        return np.nan


def bootstrap_lrt(model, X, y, *, n_experts=None, n_resamples=99, random_state=None, n_jobs=None):
    """Bootstrap likelihood-ratio test of ``k`` experts against ``k + 1`` (or any larger number).

    The statistic ``T = 2 (l1 - l0)`` compares the log-likelihoods of the two fits on
    the data; its chi-square asymptotics fail for mixtures (the smaller model lies on
    the boundary of the larger), so its null distribution is simulated, as mixtools'
    ``boot.comp``: ``y`` is drawn from the smaller fitted model at ``X``
    ``n_resamples`` times, both models are refitted on each draw (the smaller from its
    fit, the larger from its own starts), and the p-value is the share of null
    statistics at least ``T``, ``(1 + #{T_b >= T}) / (1 + B)`` (mixtools counts
    ``#{T_b >= T} / B``).  The larger model's maximum likelihood is at least the
    smaller's, so a negative statistic (the larger fit caught in a poorer optimum, or
    held back by its penalty) counts as 0, the least the maxima can give (mixtools refits
    instead).  The test is of the likelihood: fit without penalties (``alpha=0``,
    ``gate_alpha=0``) and with several starts (``n_init``), or the penalties and poor
    optima of the larger fits blur it.

    Parameters
    ----------
    model : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        The model whose settings both fits use (fitted or not; it is cloned).  An
        array ``init_params`` (a start for one number of experts) is replaced by
        ``init_params="short_em"`` in both fits, with a ``UserWarning``.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    n_experts : tuple of two int, default=None
        ``(k0, k1)`` with ``1 <= k0 < k1``; None: ``(model.n_experts, model.n_experts + 1)``.
    n_resamples : int, default=99
        The number of simulated data sets.
    random_state : int, RandomState instance or None, default=None
        Seeds the fits and the simulations.
    n_jobs : int, default=None
        Simulations run in parallel with joblib.

    Returns
    -------
    BootstrapLRTResult
        ``statistic``, ``p_value``, ``null_statistics``, ``n_experts``, ``log_likelihoods``.

    Examples
    --------
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> from mixexp.inference import bootstrap_lrt
    >>> X, y = make_moe_regression(200, n_features=1, n_experts=2, random_state=0)
    >>> test = bootstrap_lrt(MixtureOfExpertsRegressor(random_state=0), X, y,
    ...                      n_experts=(1, 2), n_resamples=9, random_state=0)
    >>> test.p_value
    0.1
    """
    if "n_experts" not in model.get_params():
        raise ValueError(
            f"bootstrap_lrt compares flat mixtures with n_experts experts; {type(model).__name__} "
            "has no n_experts."
        )
    if n_experts is None:
        n_experts = (model.n_experts, model.n_experts + 1)
    k = tuple(n_experts) if isinstance(n_experts, (tuple, list)) else ()
    if len(k) != 2 or not all(isinstance(v, (int, np.integer)) for v in k) or not 1 <= k[0] < k[1]:
        raise ValueError(f"n_experts must be two integers (k0, k1) with 1 <= k0 < k1, got {n_experts!r}.")
    _check_resamples(n_resamples)
    rs = check_random_state(random_state)
    seed0, *seeds = _seeds(rs, n_resamples + 1)
    start = refit_start(model, "bootstrap_lrt")
    null = _refit(clone(model).set_params(n_experts=int(k[0]), **start), X, y, int(seed0), warm=False)
    alt = _refit(clone(model).set_params(n_experts=int(k[1]), **start), X, y, int(seed0), warm=False)
    l0, l1 = _loglik(null, X, y), _loglik(alt, X, y)
    statistic = max(2.0 * (l1 - l0), 0.0)
    null_stats = np.array(Parallel(n_jobs=n_jobs)(
        delayed(_null_statistic)(null, alt, X, int(s)) for s in seeds
    ))
    done = np.isfinite(null_stats)
    if not done.any():
        raise ValueError("Every simulated data set failed to fit; see the model's own errors on the data.")
    p_value = (1.0 + np.sum(null_stats[done] >= statistic)) / (1.0 + done.sum())
    return BootstrapLRTResult(float(statistic), float(p_value), null_stats, (int(k[0]), int(k[1])), (l0, l1))
