"""Loaders for the small real datasets bundled in ``mixexp/datasets/data``.

Each dataset is a gzipped CSV file ``<name>.csv.gz`` with a header row, numeric
feature columns and a last column ``target`` (a float for regression, an
integer ``0 .. K-1`` for classification).  ``data/MANIFEST.csv`` lists every
file with its task, shape, source and sha256; ``data/README.md`` gives the
provenance and licence notes.

Rows are returned in file order, and some files are sorted (``mcycle`` by time)
or grouped (``peterson_barney`` and ``vowel`` by speaker): shuffle before
splitting into train and test sets.

Files are read with :mod:`importlib.resources`, so the loaders also work from
an installed wheel.
"""

import csv
import functools
import gzip
import io
from importlib import resources

import numpy as np

__all__ = [
    "list_datasets",
    "load_dataset",
    "load_mcycle",
    "load_concrete",
    "load_kin8nm",
    "load_peterson_barney",
    "load_vowel",
]

_TASKS = ("regression", "classification")


def _data_dir():
    return resources.files("mixexp.datasets").joinpath("data")


@functools.lru_cache(maxsize=None)
def _manifest():
    """``{name: row}`` from ``data/MANIFEST.csv`` (cached; do not mutate)."""
    text = _data_dir().joinpath("MANIFEST.csv").read_text(encoding="utf-8")
    return {row["name"]: row for row in csv.DictReader(io.StringIO(text))}


def list_datasets(task=None):
    """Names of the bundled datasets.

    Parameters
    ----------
    task : {"regression", "classification"} or None, default=None
        If given, only the datasets of that task.

    Returns
    -------
    names : list of str
        Sorted dataset names, usable with :func:`load_dataset`.

    Examples
    --------
    >>> from mixexp.datasets import list_datasets
    >>> list_datasets("classification")
    ['peterson_barney', 'vowel']
    """
    if task is not None and task not in _TASKS:
        raise ValueError(
            f"task must be None, 'regression' or 'classification', got {task!r}"
        )
    return sorted(
        name for name, row in _manifest().items() if task is None or row["task"] == task
    )


def _read_csv_gz(filename):
    """Return (header, data) of a gzipped CSV file in the data folder."""
    with _data_dir().joinpath(filename).open("rb") as raw:
        with gzip.open(raw, "rt", encoding="utf-8", newline="") as fh:
            header = next(csv.reader([fh.readline()]))
            data = np.loadtxt(fh, delimiter=",", dtype=np.float64, ndmin=2)
    return header, data


def load_dataset(name, *, return_X_y=True, as_frame=False):
    """Load a bundled dataset by name.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.
    return_X_y : bool, default=True
        If True, return ``(X, y)``.  If False, return a
        :class:`sklearn.utils.Bunch` with ``data``, ``target``,
        ``feature_names``, ``target_name``, ``task``, ``n_classes`` (None for
        regression), ``frame`` (a DataFrame of features and target if
        ``as_frame`` else None) and ``DESCR`` (source and provenance).
    as_frame : bool, default=False
        If True, ``X`` is a :class:`pandas.DataFrame` whose columns are the
        feature names of the file and ``y`` a :class:`pandas.Series` named
        ``"target"``.  Requires pandas.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, or DataFrame
    y : ndarray of shape (n_samples,) or Series
        float64 for regression, int64 in ``0 .. n_classes - 1`` for
        classification.  Rows are in file order (some files are sorted by
        class or speaker): shuffle before splitting.

    Examples
    --------
    >>> from mixexp.datasets import load_dataset
    >>> X, y = load_dataset("mcycle")
    >>> X.shape, y.shape
    ((133, 1), (133,))
    """
    info = _manifest().get(name)
    if info is None:
        raise ValueError(
            f"unknown dataset {name!r}; known datasets: {', '.join(list_datasets())}"
        )
    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "as_frame=True requires pandas, which is not installed; "
                "install it with `pip install pandas` or use as_frame=False"
            ) from exc

    header, data = _read_csv_gz(info["file"])
    t = header.index("target")
    feature_names = header[:t] + header[t + 1 :]
    X = np.ascontiguousarray(np.delete(data, t, axis=1))
    y = data[:, t].copy()
    n_classes = None
    if info["task"] == "classification":
        y = y.astype(np.int64)
        n_classes = int(info["n_classes"])

    frame = None
    if as_frame:
        X = pd.DataFrame(X, columns=feature_names)
        y = pd.Series(y, name="target")
        if not return_X_y:
            frame = pd.concat([X, y], axis=1)

    if return_X_y:
        return X, y

    from sklearn.utils import Bunch

    return Bunch(
        data=X,
        target=y,
        feature_names=feature_names,
        target_name="target",
        task=info["task"],
        n_classes=n_classes,
        frame=frame,
        DESCR=f"{name}: {info['provenance']}\nSource: {info['source']}",
    )


def load_mcycle(*, return_X_y=True, as_frame=False):
    """Load the motorcycle crash data (regression, 133 samples, 1 feature).

    Head acceleration (``target``, g) against time after impact (``times``,
    ms) from Silverman (1985), as in R's ``MASS::mcycle``.  Strongly
    heteroscedastic, a classic test of mixtures of experts.  Rows are sorted
    by time: shuffle before splitting.

    Parameters
    ----------
    return_X_y : bool, default=True
        If True return ``(X, y)``, else a :class:`sklearn.utils.Bunch`; see
        :func:`load_dataset`.
    as_frame : bool, default=False
        If True, ``X`` is a pandas DataFrame with the file's feature names and
        ``y`` a Series named ``"target"`` (requires pandas).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, or DataFrame
    y : ndarray of shape (n_samples,) or Series

    Examples
    --------
    >>> from mixexp.datasets import load_mcycle
    >>> X, y = load_mcycle()
    >>> X.shape, y.dtype
    ((133, 1), dtype('float64'))
    """
    return load_dataset("mcycle", return_X_y=return_X_y, as_frame=as_frame)


def load_concrete(*, return_X_y=True, as_frame=False):
    """Load the concrete compressive strength data (regression, 1030 x 8).

    Yeh (1998), UCI: compressive strength (MPa) from seven mixture components
    (kg per m^3) and age (days).

    Parameters
    ----------
    return_X_y : bool, default=True
        If True return ``(X, y)``, else a :class:`sklearn.utils.Bunch`; see
        :func:`load_dataset`.
    as_frame : bool, default=False
        If True, ``X`` is a pandas DataFrame with the file's feature names and
        ``y`` a Series named ``"target"`` (requires pandas).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, or DataFrame
    y : ndarray of shape (n_samples,) or Series

    Examples
    --------
    >>> from mixexp.datasets import load_concrete
    >>> X, y = load_concrete()
    >>> X.shape, y.dtype
    ((1030, 8), dtype('float64'))
    """
    return load_dataset("concrete", return_X_y=return_X_y, as_frame=as_frame)


def load_kin8nm(*, return_X_y=True, as_frame=False):
    """Load the kin8nm data (regression, 8192 x 8).

    DELVE kin-8nm: forward kinematics of an 8-link robot arm, nonlinear with
    medium noise; features ``theta1 .. theta8`` (joint angles).

    Parameters
    ----------
    return_X_y : bool, default=True
        If True return ``(X, y)``, else a :class:`sklearn.utils.Bunch`; see
        :func:`load_dataset`.
    as_frame : bool, default=False
        If True, ``X`` is a pandas DataFrame with the file's feature names and
        ``y`` a Series named ``"target"`` (requires pandas).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, or DataFrame
    y : ndarray of shape (n_samples,) or Series

    Examples
    --------
    >>> from mixexp.datasets import load_kin8nm
    >>> X, y = load_kin8nm()
    >>> X.shape, y.dtype
    ((8192, 8), dtype('float64'))
    """
    return load_dataset("kin8nm", return_X_y=return_X_y, as_frame=as_frame)


def load_peterson_barney(*, return_X_y=True, as_frame=False):
    """Load the Peterson & Barney vowel formants (classification, 1520 x 4).

    Peterson & Barney (1952): features ``f0, f1, f2, f3`` (Hz) of 76 speakers
    x 10 vowels x 2 repetitions; classes 0..9 are the vowels
    i I E { A O U u V 3' (X-SAMPA).  Jacobs et al. (1991) used F1 and F2 of
    four of these vowels.  Rows are grouped by speaker: shuffle before
    splitting.

    Parameters
    ----------
    return_X_y : bool, default=True
        If True return ``(X, y)``, else a :class:`sklearn.utils.Bunch`; see
        :func:`load_dataset`.
    as_frame : bool, default=False
        If True, ``X`` is a pandas DataFrame with the file's feature names and
        ``y`` a Series named ``"target"`` (requires pandas).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, or DataFrame
    y : ndarray of shape (n_samples,) or Series

    Examples
    --------
    >>> from mixexp.datasets import load_peterson_barney
    >>> X, y = load_peterson_barney()
    >>> X.shape, y.dtype
    ((1520, 4), dtype('int64'))
    """
    return load_dataset("peterson_barney", return_X_y=return_X_y, as_frame=as_frame)


def load_vowel(*, return_X_y=True, as_frame=False):
    """Load the Deterding vowel recognition data (classification, 990 x 10).

    Ten LPC-derived features of 11 vowels (classes 0..10) spoken by 15
    speakers (the ESL vowel data, via PMLB).  Rows come in blocks of 11, one
    per vowel, grouped by speaker: shuffle before splitting.

    Parameters
    ----------
    return_X_y : bool, default=True
        If True return ``(X, y)``, else a :class:`sklearn.utils.Bunch`; see
        :func:`load_dataset`.
    as_frame : bool, default=False
        If True, ``X`` is a pandas DataFrame with the file's feature names and
        ``y`` a Series named ``"target"`` (requires pandas).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, or DataFrame
    y : ndarray of shape (n_samples,) or Series

    Examples
    --------
    >>> from mixexp.datasets import load_vowel
    >>> X, y = load_vowel()
    >>> X.shape, y.dtype
    ((990, 10), dtype('int64'))
    """
    return load_dataset("vowel", return_X_y=return_X_y, as_frame=as_frame)
