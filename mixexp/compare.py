"""Cross-validated comparison of mixtures of experts with CART, stacking and more.

This module is what ``mixexp compare`` runs, as plain functions that work from
Python too::

    from mixexp.compare import Settings, bundled_datasets, run_comparison, write_report
    result = run_comparison(bundled_datasets(["mcycle"]), ["moe", "cart"], Settings())
    write_report(result, "mixexp-compare")

The steps are:

1. **Data** -- :func:`bundled_datasets` (the real datasets shipped in
   :mod:`mixexp.datasets`, large ones subsampled), :func:`read_csv_dataset`
   (a user's CSV file) or :func:`make_dataset` (any arrays).
2. **Models** -- :func:`make_model` builds each contender: the mixtures of
   experts (``StandardScaler`` then the estimator, the number of experts or
   the depth chosen by an inner :class:`~sklearn.model_selection.GridSearchCV`),
   CART (depth tuned by inner CV), stacking (a linear model, a tree and
   k-nearest neighbours under a linear final model), a plain linear model
   and histogram gradient boosting as a strong reference.
3. **Cross-validation** -- :func:`run_comparison` scores every model on the
   same repeated K-fold splits (:func:`make_splits`), counts the
   ``ConvergenceWarning`` raised by EM instead of printing them, and shows
   progress.
4. **Report** -- :func:`format_table`, :func:`to_markdown`,
   :func:`write_report` (CSV, Markdown and PNG charts), :func:`plot_scores`
   and, for one- or two-feature data, :func:`plot_partition` (the mixture's
   soft gate partition and its experts beside CART's hard one).

matplotlib (plots) and tqdm (the progress bar) are optional: without them the
comparison still runs, prints progress lines and writes the tables.
"""

import csv
import importlib.util
import math
import os
import sys
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    StackingClassifier,
    StackingRegressor,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
from sklearn.metrics import log_loss, make_scorer
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    cross_validate,
)
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if

__all__ = [
    "MODELS",
    "TASKS",
    "Settings",
    "QUICK_SETTINGS",
    "Dataset",
    "ComparisonResult",
    "make_dataset",
    "bundled_datasets",
    "read_csv_dataset",
    "make_model",
    "validate_models",
    "make_splits",
    "CountConvergenceWarnings",
    "run_comparison",
    "format_table",
    "to_markdown",
    "write_csv",
    "write_report",
    "plot_scores",
    "plot_partition",
]

#: Model keys accepted by :func:`make_model` and ``--models``, with display names.
MODELS = {
    "moe": "MoE",
    "hme": "HME",
    "cart": "CART",
    "stacking": "Stacking",
    "linear": "Linear",
    "hgb": "HistGB",
}

TASKS = ("regression", "classification")

#: Main score of each task: (scikit-learn scorer name, label in tables).
_MAIN_SCORE = {"regression": ("r2", "R²"), "classification": ("accuracy", "accuracy")}

_INSTALL_HINT = 'pip install "mixexp[compare]"'

_MISSING_CELLS = {"", "na", "nan", "n/a", "null", "none", "?"}


# --------------------------------------------------------------------------- #
# settings
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Settings:
    """What a comparison does; the defaults are those of ``mixexp compare``.

    Parameters
    ----------
    n_splits : int, default=3
        Folds of the outer repeated K-fold (stratified for classification).
    n_repeats : int, default=2
        Repeats of the outer K-fold, each with a different shuffle.
    inner_splits : int, default=3
        Folds of the inner grid searches (number of experts, depth).
    max_iter : int, default=50
        EM iterations cap of the mixtures (stopped fits are counted as
        ``ConvergenceWarning`` in the results, not printed).
    tol : float, default=1e-3
        EM tolerance (gain in mean per-sample log-likelihood).
    moe_experts : tuple of int, default=(2, 4, 8)
        Grid of ``n_experts`` for the flat mixture.
    hme_depths : tuple of int, default=(1, 2, 3)
        Grid of ``depth`` for the binary hierarchical mixture (2, 4, 8 leaves).
    cart_depths : tuple of int or None, default=(2, 3, 4, 6, 8, 12, None)
        Grid of ``max_depth`` for CART.
    max_samples : int, default=2000
        Bundled datasets with more rows are subsampled to this many (without
        replacement, stratified for classification); 0 keeps every row.
    random_state : int, default=0
        Seed of the splits, the subsampling and every model.
    """

    n_splits: int = 3
    n_repeats: int = 2
    inner_splits: int = 3
    max_iter: int = 50
    tol: float = 1e-3
    moe_experts: tuple = (2, 4, 8)
    hme_depths: tuple = (1, 2, 3)
    cart_depths: tuple = (2, 3, 4, 6, 8, 12, None)
    max_samples: int = 2000
    random_state: int = 0

    def __post_init__(self):
        for name, low in [("n_splits", 2), ("n_repeats", 1), ("inner_splits", 2),
                          ("max_iter", 1), ("max_samples", 0)]:
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")
        for name in ("moe_experts", "hme_depths", "cart_depths"):
            if len(getattr(self, name)) == 0:
                raise ValueError(f"{name} must not be empty")

    def describe(self):
        """One line: the cross-validation scheme."""
        repeats = f"{self.n_repeats} repeat{'s' if self.n_repeats > 1 else ''}"
        return (f"{self.n_splits}-fold CV × {repeats}, the same splits for every model; "
                f"random_state={self.random_state}")


#: Small grids and few folds: a smoke test in seconds (``mixexp compare --quick``).
QUICK_SETTINGS = Settings(
    n_splits=2, n_repeats=1, inner_splits=2, max_iter=30, moe_experts=(2, 4),
    hme_depths=(1, 2), cart_depths=(2, 4, 8), max_samples=500,
)


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
@dataclass
class Dataset:
    """A dataset ready for comparison.

    Attributes
    ----------
    name : str
    task : {"regression", "classification"}
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,)
    feature_names : list of str
    n_samples_total : int
        Rows before subsampling (equal to ``len(X)`` when not subsampled).
    note : str
        A remark shown in the output (subsampling, how the task was chosen).
    """

    name: str
    task: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list = field(default_factory=list)
    n_samples_total: int = 0
    note: str = ""

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    @property
    def subsampled(self):
        return self.n_samples < self.n_samples_total


def make_dataset(name, X, y, task, feature_names=None, max_samples=0, random_state=0):
    """Wrap arrays as a :class:`Dataset`, subsampling rows if there are too many.

    Parameters
    ----------
    name : str
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    task : {"regression", "classification"}
    feature_names : list of str, default=None
        Defaults to ``x0, x1, ...``.
    max_samples : int, default=0
        Keep at most this many rows (a random subset, stratified by class for
        classification); 0 keeps all.
    random_state : int, default=0
        Seed of the subsampling.

    Returns
    -------
    Dataset
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"{name}: X must be 2-D and y 1-D with as many rows, got {X.shape} and {y.shape}"
        )
    if feature_names is None:
        feature_names = [f"x{j}" for j in range(X.shape[1])]
    n_total = X.shape[0]
    note = ""
    if max_samples and n_total > max_samples:
        from sklearn.model_selection import train_test_split

        keep, _ = train_test_split(
            np.arange(n_total), train_size=max_samples, random_state=random_state,
            stratify=y if task == "classification" else None,
        )
        keep = np.sort(keep)
        X, y = X[keep], y[keep]
        note = f"a random {max_samples} of {n_total} rows"
    return Dataset(name, task, X, y, list(feature_names), n_total, note)


def bundled_datasets(names=None, max_samples=2000, random_state=0):
    """The real datasets shipped with mixexp, as :class:`Dataset` objects.

    Parameters
    ----------
    names : list of str, default=None
        Among :func:`mixexp.datasets.list_datasets`; all of them by default.
    max_samples : int, default=2000
        Subsample larger datasets to this many rows (0: keep all).
    random_state : int, default=0

    Returns
    -------
    list of Dataset
        Regression datasets first, then classification, each sorted by name.
    """
    from .datasets import list_datasets, load_dataset

    known = list_datasets()
    names = known if names is None else list(names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"unknown dataset {', '.join(map(repr, unknown))}; "
            f"bundled datasets: {', '.join(known)}"
        )
    out = []
    for task in TASKS:
        for name in sorted(set(names) & set(list_datasets(task))):
            bunch = load_dataset(name, return_X_y=False)
            out.append(make_dataset(name, bunch.data, bunch.target, bunch.task,
                                    bunch.feature_names, max_samples, random_state))
    return out


def _parse_float(cell):
    try:
        return float(cell)
    except ValueError:
        return None


def _infer_task(y_cells):
    """(task, reason) for a target column of numbers given as strings."""
    values = np.array([float(c) for c in y_cells])
    uniques = np.unique(values)
    integral = np.all(values == np.round(values))
    if integral and len(uniques) <= min(20, max(2, len(values) // 5)):
        return "classification", f"{len(uniques)} integer values"
    return "regression", f"{len(uniques)} distinct numeric values"


def read_csv_dataset(path, target, task="auto", max_samples=0, random_state=0):
    """Read a user's CSV file (a header row, numeric columns) as a :class:`Dataset`.

    Parameters
    ----------
    path : str or path-like
        Comma-separated values with a header row.  Every feature column must
        be numeric, without missing cells.
    target : str
        Name of the target column; every other column is a feature.
    task : {"auto", "regression", "classification"}, default="auto"
        ``"auto"``: classification when the target is not numeric or holds
        few integer values (at most 20 and at most a fifth of the rows),
        regression otherwise.
    max_samples : int, default=0
        Subsample to this many rows (0: keep all).
    random_state : int, default=0

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        With a message naming the problem: no header or rows, missing target
        column, non-numeric or missing cells, ragged rows, a regression target
        that is not numeric, or a single class.
    """
    if task not in ("auto",) + TASKS:
        raise ValueError(f"task must be 'auto', 'regression' or 'classification', got {task!r}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CSV file not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [row for row in csv.reader(fh) if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise ValueError(f"{path}: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    rows = rows[1:]
    if target not in header:
        raise ValueError(
            f"{path}: no column named {target!r}; columns are: {', '.join(header)}"
        )
    for i, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{path}: line {i} has {len(row)} cells but the header has {len(header)}"
            )
    t = header.index(target)
    features = [j for j in range(len(header)) if j != t]
    if not features:
        raise ValueError(f"{path}: no feature columns besides the target {target!r}")

    columns = list(zip(*rows))
    for j in features + [t]:
        missing = [i + 2 for i, c in enumerate(columns[j]) if c.strip().lower() in _MISSING_CELLS]
        if missing:
            raise ValueError(
                f"{path}: column {header[j]!r} has missing values (line {missing[0]}"
                f"{f' and {len(missing) - 1} more' if len(missing) > 1 else ''}); "
                "drop or impute them first"
            )
    bad = []
    for j in features:
        for i, cell in enumerate(columns[j]):
            if _parse_float(cell) is None:
                bad.append(f"{header[j]!r} (line {i + 2}: {cell.strip()!r})")
                break
    if bad:
        raise ValueError(
            f"{path}: feature columns must be numeric; non-numeric: {', '.join(bad)}. "
            "Encode categorical columns as numbers (e.g. one-hot) or drop them"
        )
    X = np.array([[float(c) for c in columns[j]] for j in features]).T
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{path}: feature columns contain infinite values")

    y_cells = [c.strip() for c in columns[t]]
    numeric_y = all(_parse_float(c) is not None for c in y_cells)
    if task == "auto":
        if numeric_y:
            task, reason = _infer_task(y_cells)
        else:
            task, reason = "classification", "non-numeric labels"
        note = f"task {task} ({target!r} has {reason}; --task overrides)"
    else:
        note = f"task {task} (given)"
    if task == "regression":
        if not numeric_y:
            raise ValueError(f"{path}: regression target {target!r} must be numeric")
        y = np.array([float(c) for c in y_cells])
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{path}: target {target!r} contains infinite values")
    else:
        y = np.array([float(c) for c in y_cells]) if numeric_y else np.array(y_cells)
        if len(np.unique(y)) < 2:
            raise ValueError(f"{path}: classification target {target!r} has a single class")
    name = os.path.splitext(os.path.basename(path))[0]
    data = make_dataset(name, X, y, task, [header[j] for j in features], max_samples,
                        random_state)
    data.note = "; ".join(n for n in (note, data.note) if n)
    return data


def _check_class_sizes(data, n_splits):
    if data.task != "classification":
        return
    classes, counts = np.unique(data.y, return_counts=True)
    small = classes[counts < n_splits]
    if len(small):
        raise ValueError(
            f"{data.name}: class {small[0].item()!r} has only {counts.min()} rows, fewer than "
            f"the {n_splits} cross-validation folds; merge or drop rare classes"
        )


# --------------------------------------------------------------------------- #
# models
# --------------------------------------------------------------------------- #
def _inner_cv(task, settings):
    cls = StratifiedKFold if task == "classification" else KFold
    return cls(settings.inner_splits, shuffle=True, random_state=settings.random_state)


def _feasible(n_leaves_grid, n_inner_train):
    """Grid values whose experts would each see at least ~5 training rows."""
    grid = [v for v, leaves in n_leaves_grid if 5 * leaves <= n_inner_train]
    return grid or [n_leaves_grid[0][0]]


def make_model(name, task, settings=Settings(), n_samples=None):
    """Build one contender of the comparison (unfitted).

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`: ``"moe"``, ``"hme"``, ``"cart"``,
        ``"stacking"``, ``"linear"`` or ``"hgb"``.
    task : {"regression", "classification"}
    settings : Settings, default=Settings()
        Grids, inner folds, EM caps and the random state.
    n_samples : int, default=None
        Rows the model will be cross-validated on; used to drop grid values
        that would leave an expert fewer than ~5 rows in the inner folds.

    Returns
    -------
    estimator
        A scikit-learn estimator.  The mixtures and CART are a
        :class:`~sklearn.model_selection.GridSearchCV` (scored by R² or
        accuracy) whose ``best_params_`` record the choice.
    """
    from . import (
        HierarchicalMixtureOfExpertsClassifier,
        HierarchicalMixtureOfExpertsRegressor,
        MixtureOfExpertsClassifier,
        MixtureOfExpertsRegressor,
    )

    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; models: {', '.join(MODELS)}")
    reg = task == "regression"
    rs = settings.random_state
    scoring = _MAIN_SCORE[task][0]
    n_inner = math.inf
    if n_samples is not None:
        n_inner = n_samples * (1 - 1 / settings.n_splits) * (1 - 1 / settings.inner_splits)

    def search(estimator, grid):
        return GridSearchCV(estimator, grid, scoring=scoring, cv=_inner_cv(task, settings),
                            n_jobs=1, error_score="raise")

    em = {"max_iter": settings.max_iter, "tol": settings.tol, "random_state": rs}
    if name == "moe":
        est = (MixtureOfExpertsRegressor if reg else MixtureOfExpertsClassifier)(**em)
        grid = _feasible([(k, k) for k in settings.moe_experts], n_inner)
        return search(Pipeline([("scale", StandardScaler()), ("moe", est)]),
                      {"moe__n_experts": grid})
    if name == "hme":
        cls = HierarchicalMixtureOfExpertsRegressor if reg else HierarchicalMixtureOfExpertsClassifier
        grid = _feasible([(d, 2**d) for d in settings.hme_depths], n_inner)
        return search(Pipeline([("scale", StandardScaler()), ("hme", cls(branching=2, **em))]),
                      {"hme__depth": grid})
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
    """Model keys without duplicates, all of :data:`MODELS` if ``models`` is None.

    Raises
    ------
    ValueError
        For a name that is not a key of :data:`MODELS`.
    """
    if models is None:
        return list(MODELS)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; models: {', '.join(MODELS)}")
    return list(dict.fromkeys(models))


def make_splits(data, settings=Settings()):
    """The outer cross-validation splits, identical for every model.

    Parameters
    ----------
    data : Dataset
    settings : Settings, default=Settings()

    Returns
    -------
    list of (train_indices, test_indices)
        ``n_splits * n_repeats`` splits of repeated K-fold, stratified by
        class for classification, shuffled with ``settings.random_state``.
    """
    _check_class_sizes(data, settings.n_splits)
    cls = RepeatedStratifiedKFold if data.task == "classification" else RepeatedKFold
    splitter = cls(n_splits=settings.n_splits, n_repeats=settings.n_repeats,
                   random_state=settings.random_state)
    return list(splitter.split(data.X, data.y))


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


# --------------------------------------------------------------------------- #
# running
# --------------------------------------------------------------------------- #
@dataclass
class ComparisonResult:
    """What :func:`run_comparison` returns.

    Attributes
    ----------
    summary : list of dict
        One row per (dataset, model), columns :data:`SUMMARY_COLUMNS`.
    folds : list of dict
        One row per (dataset, model, split), columns :data:`FOLD_COLUMNS`.
    datasets : list of Dataset
    settings : Settings
    n_jobs : int or None
    seconds : float
        Wall time of the whole comparison.
    """

    summary: list
    folds: list
    datasets: list
    settings: Settings
    n_jobs: object = None
    seconds: float = 0.0

    @property
    def failures(self):
        """Summary rows of the models that raised an error."""
        return [row for row in self.summary if row["error"]]


SUMMARY_COLUMNS = [
    "task", "dataset", "n_samples", "n_features", "n_samples_total", "model", "metric",
    "score_mean", "score_std", "log_loss_mean", "log_loss_std", "fit_seconds_mean",
    "n_splits", "convergence_warnings", "chosen", "best", "error",
]
FOLD_COLUMNS = ["task", "dataset", "model", "split", "score", "log_loss", "fit_seconds"]


class _Progress:
    """A tqdm bar when tqdm is installed, else scikit-learn-style lines on stderr."""

    def __init__(self, total, enabled=True, stream=None):
        self.total = total
        self.done = 0
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, unit="model", file=self.stream,
                                dynamic_ncols=True, leave=False)

    def start(self, label):
        if self.bar is not None:
            self.bar.set_description(label)
        elif self.enabled:
            print(f"[compare] ({self.done + 1}/{self.total}) {label} ...", file=self.stream,
                  flush=True)

    def finish(self, line):
        self.done += 1
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
            self.bar.update(1)
        elif self.enabled:
            print(f"[compare] ({self.done}/{self.total}) {line}", file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _chosen(estimators):
    """'n_experts=4×5, 8×1' from fitted GridSearchCVs (most frequent first), and the mode."""
    inner = [e.estimator_ for e in estimators]
    if not all(hasattr(e, "best_params_") for e in inner):
        return "", {}
    counts = Counter(tuple(sorted(e.best_params_.items())) for e in inner)
    mode = dict(counts.most_common(1)[0][0])
    key = next(iter(mode))
    label = key.split("__")[-1]
    values = Counter(dict(params)[key] for params in counts.elements())
    text = ", ".join(f"{v}×{c}" for v, c in values.most_common())
    return f"{label}={text}", mode


def _clipped_log_loss(y_true, y_prob, **kwargs):
    """:func:`~sklearn.metrics.log_loss` of probabilities clipped into [0, 1].

    Probabilities computed as ``exp(log p)`` can exceed 1 by a rounding error,
    which ``log_loss`` rejects.
    """
    return log_loss(y_true, np.clip(y_prob, 0.0, 1.0), **kwargs)


_LOG_LOSS = make_scorer(_clipped_log_loss, greater_is_better=False,
                        response_method="predict_proba")


def _cross_validate_one(data, name, splits, settings, n_jobs):
    """CV of one model on one dataset: (summary row, fold rows, mode of chosen params)."""
    metric, _ = _MAIN_SCORE[data.task]
    scoring = {"score": metric}
    if data.task == "classification":
        scoring["log_loss"] = _LOG_LOSS
    row = {
        "task": data.task, "dataset": data.name, "n_samples": data.n_samples,
        "n_features": data.n_features, "n_samples_total": data.n_samples_total,
        "model": MODELS[name], "metric": metric, "score_mean": math.nan,
        "score_std": math.nan, "log_loss_mean": math.nan, "log_loss_std": math.nan,
        "fit_seconds_mean": math.nan, "n_splits": len(splits), "convergence_warnings": 0,
        "chosen": "", "best": False, "error": "",
    }
    model = CountConvergenceWarnings(make_model(name, data.task, settings, data.n_samples))
    try:
        cv = cross_validate(model, data.X, data.y, cv=splits, scoring=scoring, n_jobs=n_jobs,
                            return_estimator=True, error_score="raise")
    except Exception as exc:  # one failing model must not lose the others' results
        row["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return row, [], {}
    scores = cv["test_score"]
    row.update(score_mean=float(np.mean(scores)), score_std=float(np.std(scores)),
               fit_seconds_mean=float(np.mean(cv["fit_time"])),
               convergence_warnings=int(sum(e.n_convergence_warnings_ for e in cv["estimator"])))
    log_losses = -cv["test_log_loss"] if "test_log_loss" in cv else [math.nan] * len(scores)
    if "test_log_loss" in cv:
        row.update(log_loss_mean=float(np.mean(log_losses)), log_loss_std=float(np.std(log_losses)))
    row["chosen"], mode = _chosen(cv["estimator"])
    folds = [
        {"task": data.task, "dataset": data.name, "model": MODELS[name], "split": i,
         "score": float(s), "log_loss": float(ll), "fit_seconds": float(t)}
        for i, (s, ll, t) in enumerate(zip(scores, log_losses, cv["fit_time"]))
    ]
    return row, folds, mode


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


def _mark_best(summary):
    """Set ``best`` on the row(s) with the highest mean score of each dataset."""
    by_dataset = {}
    for row in summary:
        if not math.isnan(row["score_mean"]):
            by_dataset.setdefault(row["dataset"], []).append(row)
    for rows in by_dataset.values():
        top = max(r["score_mean"] for r in rows)
        for r in rows:
            r["best"] = bool(r["score_mean"] >= top - 1e-12)


def run_comparison(datasets, models=None, settings=Settings(), n_jobs=None, progress=True):
    """Cross-validate every model on every dataset, on the same splits.

    Parameters
    ----------
    datasets : list of Dataset
    models : list of str, default=None
        Keys of :data:`MODELS`; all by default.
    settings : Settings, default=Settings()
    n_jobs : int or None, default=None
        Passed to :func:`~sklearn.model_selection.cross_validate`: outer
        folds run in parallel, inner grid searches inside each job.  Each job
        is single-threaded: joblib gives every worker its share of the cores
        for numba/OpenMP/BLAS, and in this process they are limited to one
        thread while the comparison runs (see :func:`single_threaded`).
    progress : bool, default=True
        Show a progress bar (tqdm, if installed) or progress lines on stderr.

    Returns
    -------
    ComparisonResult
        Failing models get an ``error`` message and NaN scores instead of
        stopping the comparison.
    """
    models = validate_models(models)
    start = time.perf_counter()
    summary, folds = [], []
    bar = _Progress(len(datasets) * len(models), enabled=progress)
    with single_threaded():
        try:
            for data in datasets:
                splits = make_splits(data, settings)
                for name in models:
                    bar.start(f"{data.name} / {MODELS[name]}")
                    row, fold_rows, mode = _cross_validate_one(data, name, splits, settings,
                                                               n_jobs)
                    row["_chosen_params"] = mode
                    summary.append(row)
                    folds.extend(fold_rows)
                    bar.finish(_progress_line(row))
        finally:
            bar.close()
    _mark_best(summary)
    return ComparisonResult(summary, folds, list(datasets), settings, n_jobs,
                            time.perf_counter() - start)


def _progress_line(row):
    if row["error"]:
        return f"{row['dataset']:<16} {row['model']:<9} FAILED: {row['error']}"
    label = _MAIN_SCORE[row["task"]][1]
    return (f"{row['dataset']:<16} {row['model']:<9} {label} {_pm(row['score_mean'], row['score_std'])}"
            f"  fit {row['fit_seconds_mean']:.2f} s/fold")


# --------------------------------------------------------------------------- #
# tables
# --------------------------------------------------------------------------- #
def _pm(mean, std, digits=3):
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _table_rows(summary, task, markdown=False):
    """Header and string cells of one task's table."""
    label = _MAIN_SCORE[task][1]
    header = ["dataset", "n × d", "model", f"{label} (mean ± std)"]
    if task == "classification":
        header.append("log-loss")
    header += ["fit s", "chosen", "EM warnings"]
    rows, last = [], None
    for r in (r for r in summary if r["task"] == task):
        shape = f"{r['n_samples']} × {r['n_features']}"
        if r["n_samples"] < r["n_samples_total"]:
            shape += f" (of {r['n_samples_total']})"
        first = r["dataset"] != last
        last = r["dataset"]
        score = _pm(r["score_mean"], r["score_std"]) if not r["error"] else "failed"
        if r["best"]:
            score = f"**{score}**" if markdown else f"{score} *"
        cells = [r["dataset"] if first or markdown else "", shape if first or markdown else "",
                 r["model"], score]
        if task == "classification":
            cells.append(_pm(r["log_loss_mean"], r["log_loss_std"], 2))
        fit = "" if math.isnan(r["fit_seconds_mean"]) else f"{r['fit_seconds_mean']:.2f}"
        cells += [fit, r["chosen"], str(r["convergence_warnings"]) if r["chosen"] else ""]
        rows.append(cells)
    return header, rows


def format_table(result):
    """The plain-text tables (one per task) that ``mixexp compare`` prints.

    Parameters
    ----------
    result : ComparisonResult

    Returns
    -------
    str
    """
    out = []
    for task in TASKS:
        header, rows = _table_rows(result.summary, task)
        if not rows:
            continue
        label = _MAIN_SCORE[task][1]
        out.append(f"{task.capitalize()}: {label}, mean ± std over "
                   f"{result.settings.n_splits * result.settings.n_repeats} test folds "
                   f"(* best per dataset); fit s = mean fit time per fold, inner search "
                   f"included")
        widths = [max(len(h), *(len(c[i]) for c in rows)) for i, h in enumerate(header)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        out.append(fmt.format(*header).rstrip())
        out.append("  ".join("-" * w for w in widths))
        out.extend(fmt.format(*cells).rstrip() for cells in rows)
        out.append("")
    errors = result.failures
    if errors:
        out.append("Failed:")
        out.extend(f"  {r['dataset']} / {r['model']}: {r['error']}" for r in errors)
        out.append("")
    return "\n".join(out)


def to_markdown(result, title="mixexp compare"):
    """The tables as Markdown (one per task, best score per dataset in bold).

    Parameters
    ----------
    result : ComparisonResult
    title : str, default="mixexp compare"

    Returns
    -------
    str
    """
    s = result.settings
    lines = [f"# {title}", "",
             f"{s.describe()}; mixtures with at most {s.max_iter} EM iterations "
             f"(tol={s.tol}), numbers of experts / depths chosen by {s.inner_splits}-fold "
             f"inner CV. Mean ± std over the {s.n_splits * s.n_repeats} test folds; best "
             "score per dataset in bold. *fit s*: mean fit time per fold (inner search "
             f"included, n_jobs={result.n_jobs}). *EM warnings*: fits stopped by max_iter "
             "(ConvergenceWarning), inner-search fits included.", ""]
    notes = [f"{d.name}: {d.note}" for d in result.datasets if d.note]
    if notes:
        lines += ["Data: " + "; ".join(notes) + ".", ""]
    for task in TASKS:
        header, rows = _table_rows(result.summary, task, markdown=True)
        if not rows:
            continue
        lines += [f"## {task.capitalize()}", "", "| " + " | ".join(header) + " |",
                  "|" + "|".join(" --- " if i < 3 else " ---: " for i in range(len(header))) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in rows]
        lines.append("")
    for r in result.failures:
        lines.append(f"- failed: {r['dataset']} / {r['model']}: {r['error']}")
    lines.append(f"Total wall time {result.seconds:.0f} s.")
    return "\n".join(lines) + "\n"


def write_csv(rows, path, columns):
    """Write dict rows to ``path`` as CSV with the given column order."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v)
                             for k, v in row.items()})


# --------------------------------------------------------------------------- #
# plots
# --------------------------------------------------------------------------- #
def _figure(*args, **kwargs):
    """A matplotlib Figure without pyplot (no GUI backend, no global state)."""
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


def plot_scores(result, dataset, path):
    """Bar chart of each model's score (mean ± std over folds) on one dataset.

    Parameters
    ----------
    result : ComparisonResult
    dataset : str
    path : str or path-like
        Where to save the PNG.  Requires matplotlib.
    """
    rows = [r for r in result.summary if r["dataset"] == dataset and not r["error"]]
    if not rows:
        return
    label = _MAIN_SCORE[rows[0]["task"]][1]
    fig = _figure(figsize=(6.4, 0.45 * len(rows) + 1.4), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    colors = ["tab:orange" if r["best"] else
              ("tab:blue" if r["model"] in ("MoE", "HME") else "tab:gray") for r in rows]
    ax.barh(y, [r["score_mean"] for r in rows], xerr=[r["score_std"] for r in rows],
            color=colors, capsize=3)
    ax.set_yticks(y, [r["model"] for r in rows])
    lo = min(r["score_mean"] - r["score_std"] for r in rows)
    hi = max(r["score_mean"] + r["score_std"] for r in rows)
    ax.set_xlim(max(min(lo - 0.1 * (hi - lo), hi - 0.5), -1.0) if lo < hi else lo - 0.1,
                min(hi + 0.05 * (hi - lo) + 1e-3, 1.0 + 1e-3))
    for yi, r in zip(y, rows):
        ax.annotate(f"{r['score_mean']:.3f}", (ax.get_xlim()[0], yi), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8, color="white")
    s = result.settings
    ax.set_xlabel(f"{label} ({s.n_splits}-fold × {s.n_repeats}, mean ± std; orange = best)")
    ax.set_title(f"{dataset} ({rows[0]['n_samples']} × {rows[0]['n_features']})")
    fig.savefig(path, dpi=110)


def _fit_pair(data, moe_params, cart_params, settings):
    """The MoE pipeline and CART, fitted on all of ``data`` with the CV-chosen settings."""
    moe = make_model("moe", data.task, settings).estimator.set_params(
        **(moe_params or {"moe__n_experts": 4}))
    cart = make_model("cart", data.task, settings).estimator.set_params(
        **(cart_params or {"max_depth": 4}))
    with warnings.catch_warnings(), single_threaded():
        warnings.simplefilter("ignore", ConvergenceWarning)
        moe.fit(data.X, data.y)
        cart.fit(data.X, data.y)
    return moe, cart


def _expert_colors(k):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def plot_partition(data, path, moe_params=None, cart_params=None, settings=Settings()):
    """The mixture's soft gate partition and experts beside CART's hard partition.

    For one feature: the data, each expert's fit, the mixture's mean ± 2 std
    (regression) or class probabilities (classification), and below them the
    gate probabilities against x; beside it CART's step function and its
    leaves.  For two features: maps of the gate (the most probable expert,
    shaded by its probability), the mixture's prediction and CART's leaves.

    Parameters
    ----------
    data : Dataset
        With one or two features.
    path : str or path-like
        Where to save the PNG.  Requires matplotlib.
    moe_params, cart_params : dict, default=None
        Parameters of the ``make_model("moe")`` pipeline and of the CART tree
        (e.g. the ones cross-validation chose); ``n_experts=4`` and
        ``max_depth=4`` by default.
    settings : Settings, default=Settings()

    Raises
    ------
    ValueError
        If ``data`` has more than two features.
    """
    if data.n_features not in (1, 2):
        raise ValueError(f"plot_partition needs 1 or 2 features, {data.name} has {data.n_features}")
    moe, cart = _fit_pair(data, moe_params, cart_params, settings)
    if data.n_features == 1:
        fig = _plot_partition_1d(data, moe, cart)
    else:
        fig = _plot_partition_2d(data, moe, cart)
    fig.savefig(path, dpi=110)


def _gate_and_experts(moe, X):
    Z = moe[:-1].transform(X)
    est = moe[-1]
    return est.predict_gate(Z), est.predict_experts(Z), est


def _plot_partition_1d(data, moe, cart):
    x = data.X[:, 0]
    grid = np.linspace(x.min(), x.max(), 400)[:, None]
    gate, experts, est = _gate_and_experts(moe, grid)
    k = gate.shape[1]
    colors = _expert_colors(k)
    leaves = cart.apply(grid)
    fig = _figure(figsize=(11, 6), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, height_ratios=[3, 1.2])
    xname = data.feature_names[0]
    reg = data.task == "regression"
    for ax in axes[0]:
        if reg:
            ax.scatter(x, data.y, s=10, color="0.4", alpha=0.7, label="data")
    if reg:
        mean, std = moe.predict(grid, return_std=True)
        for j in range(k):
            on = gate[:, j] > 0.05
            ax = axes[0, 0]
            ax.plot(grid[:, 0], np.where(on, experts[:, j], np.nan), color=colors[j], lw=1.2,
                    ls="--")
            ax.plot(grid[:, 0], np.where(gate[:, j] > 0.5, experts[:, j], np.nan),
                    color=colors[j], lw=2.5)
        axes[0, 0].plot(grid[:, 0], mean, color="k", lw=1.5, label="mixture mean")
        axes[0, 0].fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, color="k",
                                alpha=0.12, label="± 2 std")
        axes[0, 1].step(grid[:, 0], cart.predict(grid), where="mid", color="tab:red", lw=2,
                        label="CART")
        axes[0, 0].set_ylabel(f"target ({data.name})")
    else:
        proba = moe.predict_proba(grid)
        cproba = cart.predict_proba(grid)
        ccolors = _expert_colors(proba.shape[1])
        for c in range(proba.shape[1]):
            axes[0, 0].plot(grid[:, 0], proba[:, c], color=ccolors[c], label=f"P({est.classes_[c]})")
            axes[0, 1].step(grid[:, 0], cproba[:, c], where="mid", color=ccolors[c])
        axes[0, 0].set_ylabel("class probability")
    axes[0, 0].set_title(f"MoE, {k} experts: each expert's line (thick where its gate > 0.5)"
                         if reg else f"MoE, {k} experts: class probabilities")
    axes[0, 1].set_title(f"CART, depth {cart.get_depth()}, {cart.get_n_leaves()} leaves")
    axes[0, 0].legend(loc="best", fontsize=8)
    for j in range(k):
        axes[1, 0].plot(grid[:, 0], gate[:, j], color=colors[j], lw=2, label=f"expert {j}")
    axes[1, 0].set_ylabel("gate g_k(x)")
    axes[1, 0].set_ylim(-0.05, 1.05)
    # CART's partition: a hard 0/1 membership of each leaf
    uniq = np.unique(leaves)
    lcolors = _expert_colors(len(uniq))
    for j, leaf in enumerate(uniq):
        axes[1, 1].fill_between(grid[:, 0], 0, (leaves == leaf).astype(float), step="mid",
                                color=lcolors[j], alpha=0.6)
        axes[1, 1].axvline(grid[leaves == leaf, 0].min(), color="0.3", lw=0.5)
    axes[1, 1].set_ylabel("leaf (0/1)")
    axes[1, 1].set_ylim(-0.05, 1.05)
    for ax in axes[1]:
        ax.set_xlabel(xname)
    fig.suptitle(f"{data.name}: soft gate partition (MoE) vs hard partition (CART)")
    return fig


def _plot_partition_2d(data, moe, cart):
    from matplotlib.colors import ListedColormap

    x0, x1 = data.X[:, 0], data.X[:, 1]
    pad0, pad1 = 0.05 * np.ptp(x0), 0.05 * np.ptp(x1)
    g0, g1 = np.meshgrid(np.linspace(x0.min() - pad0, x0.max() + pad0, 200),
                         np.linspace(x1.min() - pad1, x1.max() + pad1, 200))
    grid = np.column_stack([g0.ravel(), g1.ravel()])
    gate, _, est = _gate_and_experts(moe, grid)
    k = gate.shape[1]
    reg = data.task == "regression"
    fig = _figure(figsize=(15, 4.8), layout="constrained")
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    colors = _expert_colors(k)
    rgb = np.array(colors)[gate.argmax(1), :3]
    strength = gate.max(1)[:, None]
    img = (strength * rgb + (1 - strength) * 1.0).reshape(200, 200, 3)
    extent = (g0.min(), g0.max(), g1.min(), g1.max())
    axes[0].imshow(img, origin="lower", extent=extent, aspect="auto")
    axes[0].contour(g0, g1, gate.max(1).reshape(g0.shape), levels=[0.5, 0.9], colors="k",
                    linewidths=0.5)
    axes[0].set_title(f"MoE gate: most probable of {k} experts (pale = uncertain)")

    if reg:
        vmin, vmax = np.percentile(data.y, [1, 99])
        levels = np.linspace(vmin, vmax, 21)
        for ax, model in ((axes[1], moe), (axes[2], cart)):
            cs = ax.contourf(g0, g1, model.predict(grid).reshape(g0.shape), levels=levels,
                             cmap="viridis", extend="both")
        fig.colorbar(cs, ax=axes[2], label="prediction")
        for ax in axes:
            ax.scatter(x0, x1, c=data.y, s=8, cmap="viridis", vmin=vmin, vmax=vmax,
                       edgecolors="k", linewidths=0.2)
    else:
        classes = est.classes_
        ccmap = ListedColormap(_expert_colors(len(classes)))
        codes = np.searchsorted(classes, data.y)
        for ax, model in ((axes[1], moe), (axes[2], cart)):
            pred = np.searchsorted(classes, model.predict(grid)).reshape(g0.shape)
            ax.imshow(pred, origin="lower", extent=extent, aspect="auto", cmap=ccmap,
                      vmin=-0.5, vmax=len(classes) - 0.5, alpha=0.35, interpolation="nearest")
        for ax in axes:
            ax.scatter(x0, x1, c=codes, s=8, cmap=ccmap, vmin=-0.5, vmax=len(classes) - 0.5,
                       edgecolors="k", linewidths=0.2)
    leaves = cart.apply(grid).reshape(g0.shape)
    axes[2].contour(g0, g1, leaves, levels=np.unique(leaves)[:-1] + 0.5, colors="k",
                    linewidths=0.8)
    axes[1].set_title("MoE prediction")
    axes[2].set_title(f"CART: {cart.get_n_leaves()} leaves (lines), prediction")
    for ax in axes:
        ax.set_xlabel(data.feature_names[0])
    axes[0].set_ylabel(data.feature_names[1])
    fig.suptitle(f"{data.name}: soft gate partition (MoE) vs hard partition (CART)")
    return fig


def _have_matplotlib():
    return importlib.util.find_spec("matplotlib") is not None


def write_report(result, out, plots=True):
    """Write ``results.csv``, ``folds.csv``, ``results.md`` and the PNG charts into ``out``.

    Parameters
    ----------
    result : ComparisonResult
    out : str or path-like
        Folder (created if needed).
    plots : bool, default=True
        Draw ``scores_<dataset>.png`` for every dataset and
        ``partition_<dataset>.png`` for those with one or two features.
        Skipped, with a message, when matplotlib is not installed.

    Returns
    -------
    files : list of str
        The paths written.
    message : str
        Why plots were skipped, or "".
    """
    os.makedirs(out, exist_ok=True)
    files = []
    path = os.path.join(out, "results.csv")
    write_csv(result.summary, path, SUMMARY_COLUMNS)
    files.append(path)
    path = os.path.join(out, "folds.csv")
    write_csv(result.folds, path, FOLD_COLUMNS)
    files.append(path)
    path = os.path.join(out, "results.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(to_markdown(result))
    files.append(path)
    if not plots:
        return files, "plots skipped (--no-plots)"
    if not _have_matplotlib():
        return files, f"plots skipped: matplotlib is not installed ({_INSTALL_HINT})"
    params = {(r["dataset"], r["model"]): r.get("_chosen_params") for r in result.summary}
    for data in result.datasets:
        path = os.path.join(out, f"scores_{data.name}.png")
        plot_scores(result, data.name, path)
        if os.path.exists(path):
            files.append(path)
        if data.n_features in (1, 2):
            path = os.path.join(out, f"partition_{data.name}.png")
            plot_partition(data, path, params.get((data.name, "MoE")),
                           params.get((data.name, "CART")), result.settings)
            files.append(path)
    return files, ""


def settings_with(base=Settings(), **changes):
    """``base`` with the given fields replaced, ignoring those given as None."""
    return replace(base, **{k: v for k, v in changes.items() if v is not None})

