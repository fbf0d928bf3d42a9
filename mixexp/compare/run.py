"""Cross-validation of every model on every dataset, with progress shown as it goes."""

import math
import sys
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import log_loss, make_scorer
from sklearn.model_selection import cross_validate

from .data import make_splits
from .models import (
    MODELS,
    CountConvergenceWarnings,
    default_models,
    make_model,
    single_threaded,
    validate_models,
)
from .settings import MAIN_SCORE, Settings


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
    """'n_experts=4×5, 8×1' from fitted GridSearchCVs (most frequent first; one such
    part per searched parameter, joined by '; '), and the most frequent combination."""
    inner = [e.estimator_ for e in estimators]
    if not all(hasattr(e, "best_params_") for e in inner):
        return "", {}
    counts = Counter(tuple(sorted(e.best_params_.items())) for e in inner)
    mode = dict(counts.most_common(1)[0][0])
    parts = []
    for key in sorted(mode, key=lambda k: "alpha" in k):  # the size of the model first
        values = Counter(dict(params)[key] for params in counts.elements())
        text = ", ".join(f"{v}×{c}" for v, c in values.most_common())
        parts.append(f"{key.split('__')[-1]}={text}")
    return "; ".join(parts), mode


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
    metric, _ = MAIN_SCORE[data.task]
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
    try:
        model = CountConvergenceWarnings(make_model(name, data.task, settings, data.n_samples,
                                                      data.X.shape[1]))
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
        Keys of :data:`MODELS`; by default those of
        :func:`~mixexp.compare.models.default_models` for each dataset's
        number of features.
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
    named = models is not None
    models = validate_models(models)
    per_dataset = [models if named else default_models(data.n_features) for data in datasets]
    start = time.perf_counter()
    summary, folds = [], []
    bar = _Progress(sum(map(len, per_dataset)), enabled=progress)
    with single_threaded():
        try:
            for data, names in zip(datasets, per_dataset):
                splits = make_splits(data, settings)
                for name in names:
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
    label = MAIN_SCORE[row["task"]][1]
    score = format_mean_std(row["score_mean"], row["score_std"])
    return (f"{row['dataset']:<16} {row['model']:<9} {label} {score}"
            f"  fit {row['fit_seconds_mean']:.2f} s/fold")


def format_mean_std(mean, std, digits=3):
    """``"0.812 ± 0.033"``, or ``"n/a"`` for a NaN mean."""
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
