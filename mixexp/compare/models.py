"""The contenders of a comparison, and how they are fitted quietly and single-threaded."""

import math
import warnings
from contextlib import contextmanager

from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    StackingClassifier,
    StackingRegressor,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import PolynomialFeatures, SplineTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if

from .quadratic import ScreenedQuadraticFeatures
from .search import PenaltyPathSearchCV, QuickStartGridSearchCV, WarmPathSearchCV
from .settings import MAIN_SCORE, TASKS, Settings

#: Model keys accepted by :func:`make_model` and ``--models``, with display names.
MODELS = {
    "moe": "MoE",
    "hme": "HME",
    "moe-quad": "MoE-quad",
    "moe-spline": "MoE-spline",
    "cart": "CART",
    "stacking": "Stacking",
    "linear": "Linear",
    "hgb": "HistGB",
}

#: Keys of :data:`MODELS` that are mixtures of experts fitted by mixexp (the charts
#: colour them as one family).
MIXTURES = ("moe", "hme", "moe-quad", "moe-spline")

#: Keys of :data:`MODELS` that run when none are named: all but ``"moe-spline"``, which
#: cost 5-7x MoE's fit time for +0.005 and -0.001 accuracy on satimage and waveform_21
#: (benchmarks/results/compare_spline.md, single-split probes); name it with ``--models`` to run it.
DEFAULT_MODELS = tuple(m for m in MODELS if m != "moe-spline")

#: Most features at which ``"moe-spline"`` runs by default too (:func:`default_models`):
#: on a single feature its experts are smooth curves (:data:`SPLINE_KNOTS_ONE_FEATURE`)
#: at the cost of MoE, and on mcycle it was the best model (0.754 against stacking's 0.728;
#: benchmarks/results/compare_stacking_gap.md).
SPLINE_DEFAULT_MAX_FEATURES = 1


#: Most features whose every quadratic term the quadratic-expert mixture takes: 16 give
#: its experts 152 inputs, and its 2000-row fits took 3-4 minutes per fold there (letter,
#: pendigits); at 21 features (waveform_21) one fold ran over 15 minutes.  Beyond, its
#: experts get the quadratic terms of :data:`QUAD_SCREENED` screened features only.
QUAD_MAX_FEATURES = 16

#: Features whose squares and products the quadratic-expert mixture's experts get beyond
#: :data:`QUAD_MAX_FEATURES` (:class:`~mixexp.compare.quadratic.ScreenedQuadraticFeatures`:
#: those with the largest ridge or logistic coefficients on the training rows).
QUAD_SCREENED = 8

#: Fewest features at which the inner search of MoE and HME also tries a lasso gate
#: (``Settings.sparse_gate_alphas``): where many inputs are noise, the gate's ridge
#: penalty keeps them all (benchmarks/results/compare_sparse.md).
SPARSE_MIN_FEATURES = 17
#: The spline basis of the spline-expert mixture, per feature: quadratic pieces joined at
#: the median (knots at the training quantiles 0, 0.5, 1), 3 columns after dropping the
#: one that the experts' intercept spans.  More knots scored no better on kin8nm and cost
#: more (benchmarks/results/compare_spline.md).
SPLINE_KNOTS = 3
SPLINE_DEGREE = 2
#: The spline basis on a single feature: cubic pieces between 10 knots (11 columns), the
#: experts' ridge penalty, not the knots, setting how smooth each expert's curve is.
#: Three quadratic pieces were too stiff for a curve that swings twice (mcycle 0.710 against
#: 0.754 over 6 test folds; benchmarks/results/compare_stacking_gap.md).
SPLINE_KNOTS_ONE_FEATURE = 10
SPLINE_DEGREE_ONE_FEATURE = 3


def default_models(n_features):
    """The model keys that run on data with ``n_features`` columns when none are named.

    Parameters
    ----------
    n_features : int

    Returns
    -------
    list of str
        :data:`DEFAULT_MODELS`, and ``"moe-spline"`` where ``n_features`` is at
        most :data:`SPLINE_DEFAULT_MAX_FEATURES`.

    Examples
    --------
    >>> from mixexp.compare.models import default_models
    >>> "moe-spline" in default_models(1), "moe-spline" in default_models(8)
    (True, False)
    """
    extra = ["moe-spline"] if n_features <= SPLINE_DEFAULT_MAX_FEATURES else []
    return list(DEFAULT_MODELS) + extra


def spline_features(n_features, n_knots=SPLINE_KNOTS, degree=SPLINE_DEGREE):
    """The spline-expert mixture's features: ``[x, B(x)]``, and which columns go where.

    Parameters
    ----------
    n_features : int
        Columns of x.
    n_knots : int, default=SPLINE_KNOTS
        Knots per feature, at the training quantiles.
    degree : int, default=SPLINE_DEGREE
        Degree of the spline pieces.

    Returns
    -------
    union : FeatureUnion
        Passes x through, then appends every feature's additive spline basis
        ``B(x)`` (:class:`~sklearn.preprocessing.SplineTransformer`, constant
        beyond the training range, so an expert cannot extrapolate).
    gate_features, expert_features : list of int
        The gate's columns (x) and the experts' columns (the basis).

    Examples
    --------
    >>> from mixexp.compare.models import spline_features
    >>> union, gate, experts = spline_features(2)
    >>> gate, experts
    ([0, 1], [2, 3, 4, 5, 6, 7])
    """
    per_feature = n_knots + degree - 2
    union = FeatureUnion([
        ("x", "passthrough"),
        ("spline", SplineTransformer(n_knots=n_knots, degree=degree, knots="quantile",
                                     include_bias=False)),
    ])
    return (union, list(range(n_features)),
            list(range(n_features, n_features * (1 + per_feature))))


def _inner_cv(task, settings):
    cls = StratifiedKFold if task == "classification" else KFold
    return cls(settings.inner_splits, shuffle=True, random_state=settings.random_state)


def _feasible(n_leaves_grid, n_inner_train):
    """Grid values whose experts would each see at least ~5 training rows."""
    grid = [v for v, leaves in n_leaves_grid if 5 * leaves <= n_inner_train]
    return grid or [n_leaves_grid[0][0]]


def _with_sparse_gate(grid, step, estimator, settings, n_features, reg):
    """``grid``, and for regression where features are many the same grid with a lasso gate.

    Classification keeps the dense grid: on satimage (36 features) the lasso
    points cost 10x the CPU and were never chosen.

    Both grids name ``l1_ratio`` and ``gate_alpha`` (the dense one at the
    estimator's own values), so every fold's ``best_params_`` has the same keys.
    :class:`~mixexp.compare.search.WarmPathSearchCV` takes a size and a penalty
    only, so ``search="warm"`` keeps the dense grid.
    """
    if (not reg or n_features is None or n_features < SPARSE_MIN_FEATURES or not settings.sparse_gate_alphas
            or settings.search == "warm"):
        return grid
    return [{**grid, f"{step}__l1_ratio": [0.0], f"{step}__gate_alpha": [estimator.gate_alpha]},
            {**grid, f"{step}__l1_ratio": [1.0],
             f"{step}__gate_alpha": list(settings.sparse_gate_alphas)}]


def make_model(name, task, settings=Settings(), n_samples=None, n_features=None):
    """Build one contender of the comparison (unfitted).

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`: ``"moe"``, ``"hme"``, ``"moe-quad"``,
        ``"moe-spline"``, ``"cart"``, ``"stacking"``, ``"linear"`` or ``"hgb"``.
    task : {"regression", "classification"}
    settings : Settings, default=Settings()
        Grids, inner folds, EM caps and the random state.
    n_samples : int, default=None
        Rows the model will be cross-validated on; used to drop grid values
        that would leave an expert fewer than ~5 rows in the inner folds.
    n_features : int, default=None
        Columns of the data; needed by ``"moe-quad"`` and ``"moe-spline"``,
        whose gate sees only the original columns while their experts see the
        quadratic terms too, or only each feature's spline basis.  Beyond
        :data:`QUAD_MAX_FEATURES` features, ``"moe-quad"``'s experts get the
        quadratic terms of :data:`QUAD_SCREENED` features screened on the
        training rows (:class:`~mixexp.compare.quadratic.ScreenedQuadraticFeatures`).
        From :data:`SPARSE_MIN_FEATURES` on, regression ``"moe"`` and ``"hme"`` also
        search a lasso gate (``l1_ratio=1``, ``gate_alpha`` in
        ``settings.sparse_gate_alphas``) beside their dense grid.

    Returns
    -------
    estimator
        A scikit-learn estimator.  The mixtures and CART are a
        :class:`~sklearn.model_selection.GridSearchCV` (scored by R² or
        accuracy) whose ``best_params_`` record the choice; by default the
        mixtures' is a :class:`~mixexp.compare.search.QuickStartGridSearchCV`
        (``settings.inner_starts``) and MoE-quad's a
        :class:`~mixexp.compare.search.PenaltyPathSearchCV` (``settings.penalty_path``).
    """
    from .. import (
        HierarchicalMixtureOfExpertsClassifier,
        HierarchicalMixtureOfExpertsRegressor,
        MixtureOfExpertsClassifier,
        MixtureOfExpertsRegressor,
    )

    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; models: {', '.join(MODELS)}")
    unknown = [m for m in settings.penalty_path if m not in MIXTURES]
    if unknown:
        raise ValueError(f"penalty_path names mixtures only ({', '.join(MIXTURES)}), got {unknown[0]!r}")
    reg = task == "regression"
    rs = settings.random_state
    scoring = MAIN_SCORE[task][0]
    n_inner = math.inf
    if n_samples is not None:
        n_inner = n_samples * (1 - 1 / settings.n_splits) * (1 - 1 / settings.inner_splits)

    def search(estimator, grid):
        if settings.search == "warm" and name in MIXTURES:
            return WarmPathSearchCV(estimator, grid, scoring=scoring, cv=_inner_cv(task, settings))
        if name in settings.penalty_path and isinstance(grid, dict):
            return PenaltyPathSearchCV(estimator, grid, scoring=scoring, cv=_inner_cv(task, settings))
        if settings.inner_starts == "quick" and name in MIXTURES:
            return QuickStartGridSearchCV(estimator, grid, scoring=scoring, cv=_inner_cv(task, settings),
                                          n_jobs=1, error_score="raise")
        return GridSearchCV(estimator, grid, scoring=scoring, cv=_inner_cv(task, settings),
                            n_jobs=1, error_score="raise")

    em = {"max_iter": settings.max_iter, "tol": settings.tol, "random_state": rs}
    if name == "moe":
        est = (MixtureOfExpertsRegressor if reg else MixtureOfExpertsClassifier)(**em)
        sizes = settings.moe_experts
        if not reg and settings.classifier_one_expert:
            sizes = tuple(dict.fromkeys((1, *sizes)))
        grid = _feasible([(k, k) for k in sizes], n_inner)
        grid = {"moe__n_experts": grid, **({"moe__alpha": list(settings.alphas)} if reg else {})}
        return search(Pipeline([("scale", StandardScaler()), ("moe", est)]),
                      _with_sparse_gate(grid, "moe", est, settings, n_features, reg))
    if name == "moe-quad":
        # Nonlinear experts at the built-in experts' speed: each expert is linear
        # in [x, x², x_i x_j] (an exact M-step), the gate in x only.  Estimator
        # experts make_pipeline(PolynomialFeatures(2), Ridge()) score alike but
        # refit every expert at every EM step, 10-40x slower (see the docstring).
        if n_features is None:
            raise ValueError("make_model('moe-quad') needs n_features")
        quad = PolynomialFeatures(2, include_bias=False)
        if n_features > QUAD_MAX_FEATURES:
            # d(d+3)/2 expert inputs would cost minutes per fit
            quad = ScreenedQuadraticFeatures(QUAD_SCREENED, task=task)
        est = (MixtureOfExpertsRegressor if reg else MixtureOfExpertsClassifier)(
            gate_features=list(range(n_features)), **em)
        grid = _feasible([(k, k) for k in settings.moe_experts], n_inner)
        return search(Pipeline([("scale", StandardScaler()),
                                ("quad", quad),
                                ("moe", est)]),
                      {"moe__n_experts": grid, "moe__alpha": list(settings.quad_alphas)})
    if name == "moe-spline":
        # Nonlinear experts on every data set: linear in an additive spline basis
        # (3 columns per feature, an exact ridge M-step), the gate linear in x.
        if n_features is None:
            raise ValueError("make_model('moe-spline') needs n_features")
        shape = ((SPLINE_KNOTS_ONE_FEATURE, SPLINE_DEGREE_ONE_FEATURE) if n_features == 1
                 else (SPLINE_KNOTS, SPLINE_DEGREE))
        union, gate_features, expert_features = spline_features(n_features, *shape)
        est = (MixtureOfExpertsRegressor if reg else MixtureOfExpertsClassifier)(
            gate_features=gate_features, expert_features=expert_features, **em)
        grid = _feasible([(k, k) for k in settings.moe_experts], n_inner)
        return search(Pipeline([("scale", StandardScaler()), ("spline", union), ("moe", est)]),
                      {"moe__n_experts": grid, "moe__alpha": list(settings.spline_alphas)})
    if name == "hme":
        cls = HierarchicalMixtureOfExpertsRegressor if reg else HierarchicalMixtureOfExpertsClassifier
        grid = _feasible([(d, 2**d) for d in settings.hme_depths], n_inner)
        grid = {"hme__depth": grid, **({"hme__alpha": list(settings.alphas)} if reg else {})}
        est = cls(branching=2, **em)
        return search(Pipeline([("scale", StandardScaler()), ("hme", est)]),
                      _with_sparse_gate(grid, "hme", est, settings, n_features, reg))
    if name == "cart":
        tree = (DecisionTreeRegressor if reg else DecisionTreeClassifier)(random_state=rs)
        return search(tree, {"max_depth": list(settings.cart_depths)})
    if name == "stacking":
        if reg:
            return StackingRegressor(
                [("linear", make_pipeline(StandardScaler(), RidgeCV())),
                 ("tree", DecisionTreeRegressor(min_samples_leaf=5, random_state=rs)),
                 ("knn", make_pipeline(StandardScaler(), KNeighborsRegressor(10)))],
                final_estimator=RidgeCV(), cv=KFold(5, shuffle=True, random_state=rs),
            )
        return StackingClassifier(
            [("linear", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))),
             ("tree", DecisionTreeClassifier(min_samples_leaf=5, random_state=rs)),
             ("knn", make_pipeline(StandardScaler(), KNeighborsClassifier(10)))],
            final_estimator=LogisticRegression(max_iter=1000),
            cv=StratifiedKFold(5, shuffle=True, random_state=rs),
        )
    if name == "linear":
        if reg:
            return LinearRegression()
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    # name == "hgb"
    cls = HistGradientBoostingRegressor if reg else HistGradientBoostingClassifier
    return cls(random_state=rs)


def validate_models(models):
    """Model keys without duplicates, :data:`DEFAULT_MODELS` if ``models`` is None.

    Raises
    ------
    ValueError
        For a name that is not a key of :data:`MODELS`.
    """
    if models is None:
        return list(DEFAULT_MODELS)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; models: {', '.join(MODELS)}")
    return list(dict.fromkeys(models))


def _delegate(method):
    return lambda self: hasattr(self.estimator, method)


class CountConvergenceWarnings(MetaEstimatorMixin, BaseEstimator):
    """Fit an estimator, counting the ``ConvergenceWarning`` it raises instead of showing them.

    Other warnings pass through.  The count includes every fit the estimator
    makes (e.g. those of an inner grid search), so cross-validation can report
    how often EM stopped at ``max_iter`` without flooding the terminal.

    Parameters
    ----------
    estimator : estimator
        Any scikit-learn estimator; cloned at ``fit``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone.
    n_convergence_warnings_ : int
    classes_ : ndarray, classifiers only
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y, **fit_params):
        """Fit a clone of ``estimator`` on ``(X, y)``; returns self."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        self.n_convergence_warnings_ = 0
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                self.n_convergence_warnings_ += 1
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X):
        """The fitted estimator's ``predict``."""
        return self.estimator_.predict(X)

    @available_if(_delegate("predict_proba"))
    def predict_proba(self, X):
        """The fitted estimator's ``predict_proba``."""
        return self.estimator_.predict_proba(X)

    def score(self, X, y):
        """The fitted estimator's ``score``."""
        return self.estimator_.score(X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        return tags


@contextmanager
def single_threaded():
    """Run numba kernels, OpenMP and BLAS on one thread in this process, then restore.

    The EM kernels are numba ``parallel=True`` loops; on the small folds of a
    comparison their threads gain little, and when the cores are already busy
    (other jobs, other programs) their synchronisation makes each fit many
    times slower.  The comparison gets its parallelism from ``n_jobs``.
    """
    import numba
    from threadpoolctl import threadpool_limits

    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        numba.set_num_threads(old)
