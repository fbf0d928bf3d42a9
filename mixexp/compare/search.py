"""The mixtures' inner search along a warm-started path instead of a grid of cold fits.

:class:`~sklearn.model_selection.GridSearchCV` fits every (size, penalty) point of the
grid from scratch in every inner fold, each fit with its own multi-start
initialisation (``init_params="short_em"``: five short EM runs, then EM).
:class:`WarmPathSearchCV` scores the same grid on the same inner folds, but in each
fold only the first point starts from scratch:

- the penalty path runs from the strongest penalty to the weakest, each point EM
  continued from the previous one (``warm_start``), as glmnet's path does;
- a larger size starts from the smaller one's responsibilities with each expert's
  column split in two along its principal direction of the inputs (a leaf of a tree
  becomes two siblings), fitted at the strongest penalty;
- the final refit on all rows continues the chosen point's fit of the first inner
  fold.

Every start uses only the rows its fold trains on (the validation rows of a fold are
never seen by the fits scored on them), so the inner scores stay honest; what is
shared is work, not data.
"""

from contextlib import contextmanager
from copy import deepcopy

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import GridSearchCV, ParameterGrid, check_cv
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted


def split_responsibilities(resp, Z, n_new):
    """Responsibilities of ``n_new`` experts from those of fewer, by splitting columns.

    Column ``k`` becomes two adjacent columns (siblings, for a tree): its rows on
    either side of the responsibility-weighted mean along the weighted principal
    direction of ``Z``.  The columns of largest total responsibility split first;
    the sizes of a grid that doubles (2, 4, 8; tree depths) split every column.

    Parameters
    ----------
    resp : ndarray of shape (n_samples, n_old)
        Responsibilities, rows summing to 1.
    Z : ndarray of shape (n_samples, n_features)
        The inputs the mixture sees.
    n_new : int
        Number of columns wanted, ``n_old <= n_new <= 2 * n_old``.

    Returns
    -------
    ndarray of shape (n_samples, n_new)
        Rows still summing to 1.

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp.compare.search import split_responsibilities
    >>> Z = np.arange(6.0)[:, None]
    >>> split_responsibilities(np.ones((6, 1)), Z, 2)[:, 0]
    array([1., 1., 1., 0., 0., 0.])
    """
    resp = np.asarray(resp, dtype=float)
    Z = np.asarray(Z, dtype=float)
    n_old = resp.shape[1]
    if not n_old <= n_new <= 2 * n_old:
        raise ValueError(f"cannot split {n_old} columns into {n_new}")
    order = np.argsort(-resp.sum(axis=0), kind="stable")
    split = set(order[: n_new - n_old].tolist())
    columns = []
    for k in range(n_old):
        r = resp[:, k]
        if k not in split:
            columns.append(r)
            continue
        w = r / max(r.sum(), 1e-300)
        centred = Z - w @ Z
        # the weighted principal direction: top right singular vector of sqrt(w) * centred
        _, _, vt = np.linalg.svd(np.sqrt(w)[:, None] * centred, full_matrices=False)
        side = centred @ vt[0] <= 0
        columns += [r * side, r * ~side]
    return np.column_stack(columns)


def _has(method):
    """Fitted: the refitted pipeline has ``method``; unfitted: the estimator has it."""
    return lambda self: hasattr(getattr(self, "best_estimator_", self.estimator), method)


class WarmPathSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Choose a mixture's size and penalty by inner CV along warm-started paths.

    Parameters
    ----------
    estimator : Pipeline
        Preprocessing steps, then a mixexp estimator as the last step.
    param_grid : dict
        As :class:`~sklearn.model_selection.GridSearchCV` takes it, with one or
        two entries: first the size (``"moe__n_experts"`` or ``"hme__depth"``
        and its values), searched in increasing order, each size started from
        the previous one (``n_experts`` from at most half as many more;
        ``depth`` from depth - 1); then, optionally, the expert penalty
        (``"moe__alpha"``), searched from the largest value to the smallest.
    scoring : str or callable, default=None
        As in :class:`~sklearn.model_selection.GridSearchCV`.
    cv : int or cross-validation generator, default=3

    Attributes
    ----------
    best_params_ : dict
        The chosen point, as ``GridSearchCV`` records it.
    best_score_ : float
        Its mean inner validation score.
    best_estimator_ : Pipeline
        Refitted on all rows, continuing the chosen point's first-fold fit.
    cv_results_ : dict
        ``params`` and ``mean_test_score`` of every point, in search order.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> from mixexp.compare.search import WarmPathSearchCV
    >>> X, y = make_moe_regression(n_samples=200, n_features=2, random_state=0)
    >>> pipe = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(random_state=0))
    >>> grid = {"mixtureofexpertsregressor__n_experts": [1, 2],
    ...         "mixtureofexpertsregressor__alpha": [1.0, 0.1]}
    >>> search = WarmPathSearchCV(pipe, grid, scoring="r2").fit(X, y)
    >>> sorted(search.best_params_) == sorted(grid)
    True
    """

    def __init__(self, estimator, param_grid, scoring=None, cv=3):
        self.estimator = estimator
        self.param_grid = param_grid
        self.scoring = scoring
        self.cv = cv

    def _grid(self):
        """(size name, sizes, penalty name or None, penalties) from ``param_grid``."""
        if not isinstance(self.param_grid, dict) or len(self.param_grid) not in (1, 2):
            raise ValueError("param_grid must be a dict of a size and optionally a penalty, "
                             f"got {self.param_grid!r}")
        (size, sizes), *rest = self.param_grid.items()
        alpha, alphas = rest[0] if rest else (None, [None])
        return size, sorted(sizes), alpha, sorted(alphas, reverse=True) if alpha else [None]

    def _points(self):
        _, sizes, _, alphas = self._grid()
        return [(s, a) for s in sizes for a in alphas]

    def _params(self, size, alpha):
        size_param, _, alpha_param, _ = self._grid()
        params = {size_param: size}
        if alpha_param is not None:
            params[alpha_param] = alpha
        return params

    def _path(self, X, y, scorer=None, X_val=None, y_val=None):
        """Fit every point on ``(X, y)``, warm along the path: {point: (fitted, score)}."""
        mixture_step = self.estimator.steps[-1][0]
        fits, previous = {}, None
        for size, alpha in self._points():
            if previous is not None and previous[0] == size:
                pipe = deepcopy(fits[previous][0]).set_params(
                    **self._params(size, alpha), **{f"{mixture_step}__warm_start": True})
            else:
                pipe = clone(self.estimator).set_params(**self._params(size, alpha))
                if previous is not None and self._split_sizes:
                    smaller = fits[(previous[0], self._points()[0][1])][0]
                    Z = smaller[:-1].transform(X)
                    resp = smaller[-1].responsibilities(Z, y)
                    n_new = self._n_leaves(size)
                    if n_new <= 2 * resp.shape[1]:
                        pipe.set_params(**{f"{mixture_step}__init_params":
                                           split_responsibilities(resp, Z, n_new)})
            pipe.fit(X, y)
            pipe.set_params(**{f"{mixture_step}__warm_start": False,
                               f"{mixture_step}__init_params": "short_em"})
            score = None if scorer is None else scorer(pipe, X_val, y_val)
            fits[(size, alpha)] = (pipe, score)
            previous = (size, alpha)
        return fits

    #: a larger size starts from the smaller size's split responsibilities
    _split_sizes = True

    def _refit(self, first_fold_fit, best, X, y):
        """The chosen point refitted on all rows, continuing its first-fold fit."""
        mixture_step = self.estimator.steps[-1][0]
        final = deepcopy(first_fold_fit).set_params(**{f"{mixture_step}__warm_start": True})
        final.fit(X, y)
        final.set_params(**{f"{mixture_step}__warm_start": False})
        return final

    def _n_leaves(self, size):
        return 2**size if self._grid()[0].endswith("depth") else size

    def fit(self, X, y):
        """Score every point on the inner folds, then refit the best on all rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : WarmPathSearchCV
        """
        X, y = np.asarray(X), np.asarray(y)
        cv = check_cv(self.cv, y, classifier=get_tags(self.estimator).estimator_type == "classifier")
        scorer = check_scoring(self.estimator, scoring=self.scoring)
        points = self._points()
        scores = {p: [] for p in points}
        first = None
        for train, test in cv.split(X, y):
            fits = self._path(X[train], y[train], scorer, X[test], y[test])
            first = first or fits
            for p in points:
                scores[p].append(fits[p][1])
        means = {p: float(np.mean(s)) for p, s in scores.items()}
        best = max(points, key=lambda p: means[p])  # the first of equals, as GridSearchCV
        final = self._refit(first[best][0], best, X, y)
        self.best_params_ = self._params(*best)
        self.best_score_ = means[best]
        self.best_estimator_ = final
        self.cv_results_ = {"params": [self._params(*p) for p in points],
                            "mean_test_score": np.array([means[p] for p in points])}
        if hasattr(final, "classes_"):
            self.classes_ = final.classes_
        return self

    def predict(self, X):
        """The refitted best pipeline's ``predict``."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    @available_if(_has("predict_proba"))
    def predict_proba(self, X):
        """The refitted best pipeline's ``predict_proba``."""
        return self.best_estimator_.predict_proba(X)

    def score(self, X, y):
        """The refitted best pipeline's ``score``."""
        return self.best_estimator_.score(X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        return tags


#: What the inner searches' fits change in the estimators' start under ``inner_starts="quick"``
#: (:func:`quick_starts`): a tree keeps its flat start's most separable arrangement instead of
#: comparing ``mixexp._init.TREE_ARRANGEMENTS`` of them by the tree's EM.  Small flat mixtures
#: keep their screened starts: without them the inner search on mcycle ranked 2 experts
#: above 4 (benchmarks/results/compare_cost.md).
QUICK_START = {"TREE_ARRANGEMENTS": 1}


@contextmanager
def quick_starts():
    """Within the block, the estimators' ``"short_em"`` start is the cheaper :data:`QUICK_START`.

    It sets module constants of :mod:`mixexp._init` and restores them on exit, so it acts
    on the fits of this process only, the block's own (not those of joblib workers nor
    of other threads while the block runs).

    Examples
    --------
    >>> from mixexp import _init
    >>> from mixexp.compare.search import quick_starts
    >>> with quick_starts():
    ...     _init.TREE_ARRANGEMENTS
    1
    >>> _init.TREE_ARRANGEMENTS == 6
    True
    """
    from .. import _init

    old = {name: getattr(_init, name) for name in QUICK_START}
    try:
        for name, value in QUICK_START.items():
            setattr(_init, name, value)
        yield
    finally:
        for name, value in old.items():
            setattr(_init, name, value)


class QuickStartGridSearchCV(GridSearchCV):
    """:class:`~sklearn.model_selection.GridSearchCV` whose inner-fold fits start quickly.

    Every grid point's fit on the inner folds runs under :func:`quick_starts` (one tree
    arrangement); the refit of the best point on all the rows
    keeps the estimators' default start.  The inner fits only rank the grid points, and
    the cheaper start ranks them about as well at about 60% of a tree's cost
    (benchmarks/results/compare_cost.md).  Its parameters are ``GridSearchCV``'s, but the
    inner fits must run in this process: ``n_jobs`` None or 1.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from mixexp import HierarchicalMixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> from mixexp.compare.search import QuickStartGridSearchCV
    >>> X, y = make_moe_regression(n_samples=200, n_features=2, random_state=0)
    >>> pipe = make_pipeline(StandardScaler(), HierarchicalMixtureOfExpertsRegressor(random_state=0))
    >>> search = QuickStartGridSearchCV(pipe, {"hierarchicalmixtureofexpertsregressor__depth": [1, 2]},
    ...                                 scoring="r2", cv=3).fit(X, y)
    >>> search.best_params_["hierarchicalmixtureofexpertsregressor__depth"] in (1, 2)
    True
    """

    def _run_search(self, evaluate_candidates):
        # the module constants quick_starts sets reach only this process's fits
        if self.n_jobs not in (None, 1):
            raise ValueError(f"QuickStartGridSearchCV fits in one process: n_jobs must be None or 1, "
                             f"got {self.n_jobs!r}")
        with quick_starts():
            evaluate_candidates(ParameterGrid(self.param_grid))


class PenaltyPathSearchCV(WarmPathSearchCV):
    """:class:`WarmPathSearchCV` with every size from scratch, the penalties upwards, a cold refit.

    In each inner fold every size (``n_experts``, ``depth``) starts from scratch at the
    smallest penalty with the estimator's own start (a tree's under :func:`quick_starts`),
    and only the penalty path is warm: each larger ``alpha`` continues the previous
    one's EM.  The chosen point is refitted on all rows from scratch with the
    estimator's default start, as :class:`~sklearn.model_selection.GridSearchCV` refits.
    The sizes' own starts keep the ranking of sizes that the grid finds, and the path
    saves the starts of all but one penalty per size.  Upwards, not glmnet's downwards:
    the weakly penalised fit finds the experts' partition and a larger penalty shrinks
    it, where a partition found under the strongest penalty held the weaker ones back
    (MoE-quad on concrete: R² 0.835 downwards, 0.846 upwards, 0.849 on the grid;
    benchmarks/results/compare_cost.md).  Parameters and attributes as
    :class:`WarmPathSearchCV`'s.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> from mixexp.compare.search import PenaltyPathSearchCV
    >>> X, y = make_moe_regression(n_samples=200, n_features=2, random_state=0)
    >>> pipe = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(random_state=0))
    >>> grid = {"mixtureofexpertsregressor__n_experts": [2, 3],
    ...         "mixtureofexpertsregressor__alpha": [10.0, 0.1]}
    >>> search = PenaltyPathSearchCV(pipe, grid, scoring="r2").fit(X, y)
    >>> search.best_estimator_[-1].n_experts == search.best_params_["mixtureofexpertsregressor__n_experts"]
    True
    """

    _split_sizes = False

    def _grid(self):
        size, sizes, alpha, alphas = super()._grid()
        return size, sizes, alpha, alphas[::-1]

    def _path(self, X, y, scorer=None, X_val=None, y_val=None):
        with quick_starts():
            return super()._path(X, y, scorer, X_val, y_val)

    def _refit(self, first_fold_fit, best, X, y):
        """The chosen point refitted on all rows from scratch, with the default start."""
        return clone(self.estimator).set_params(**self._params(*best)).fit(X, y)
