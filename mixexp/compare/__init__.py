"""Cross-validated comparison of mixtures of experts with CART, stacking and more.

This package is what ``mixexp compare`` runs, as plain functions that work from
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
   the depth chosen by an inner :class:`~sklearn.model_selection.GridSearchCV`;
   ``moe-quad``: experts quadratic in x behind a gate linear in x, with the
   expert penalty searched too), CART (depth tuned by inner CV), stacking (a linear model, a tree and
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

Modules, each importing only those listed before it: :mod:`.settings`,
:mod:`.data` (steps 1 and the splits of 3), :mod:`.models` (2),
:mod:`.run` (3), :mod:`.plots` and :mod:`.report` (4).

matplotlib (plots) and tqdm (the progress bar) are optional: without them the
comparison still runs, prints progress lines and writes the tables.
"""

from .data import Dataset, bundled_datasets, make_dataset, make_splits, read_csv_dataset
from .models import MIXTURES, MODELS, CountConvergenceWarnings, make_model, single_threaded, validate_models
from .plots import plot_partition, plot_scores
from .report import format_table, to_markdown, write_csv, write_report
from .run import FOLD_COLUMNS, SUMMARY_COLUMNS, ComparisonResult, run_comparison
from .settings import QUICK_SETTINGS, TASKS, Settings, settings_with

__all__ = [
    "MODELS",
    "MIXTURES",
    "TASKS",
    "Settings",
    "QUICK_SETTINGS",
    "settings_with",
    "Dataset",
    "ComparisonResult",
    "SUMMARY_COLUMNS",
    "FOLD_COLUMNS",
    "make_dataset",
    "bundled_datasets",
    "read_csv_dataset",
    "make_model",
    "validate_models",
    "make_splits",
    "CountConvergenceWarnings",
    "single_threaded",
    "run_comparison",
    "format_table",
    "to_markdown",
    "write_csv",
    "write_report",
    "plot_scores",
    "plot_partition",
]
