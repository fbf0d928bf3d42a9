"""The datasets of a comparison and the cross-validation splits they are scored on."""

import csv
import os
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

from .settings import TASKS, Settings

#: Cells read as missing values in a user's CSV file (compared lower-cased).
_MISSING_CELLS = {"", "na", "nan", "n/a", "null", "none", "?"}


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
    from ..datasets import list_datasets, load_dataset

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
