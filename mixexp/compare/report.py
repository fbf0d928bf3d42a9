"""The comparison's tables (text, Markdown, CSV) and the folder of files it writes."""

import csv
import importlib.util
import math
import os

from .models import MODELS
from .plots import plot_partition, plot_scores
from .run import FOLD_COLUMNS, SUMMARY_COLUMNS, format_mean_std
from .settings import MAIN_SCORE, TASKS


_INSTALL_HINT = 'pip install "mixexp[compare]"'
_SEARCH_WORDS = {"warm": "the mixtures' grids along warm-started paths",
                 "grid": "every grid point fitted from scratch"}


def _search_words(settings):
    """How the inner searches fitted their grids, in the report's words."""
    words = _SEARCH_WORDS[settings.search]
    if settings.search == "grid" and settings.penalty_path:
        words += (f"; {', '.join(MODELS[m] for m in settings.penalty_path)}: each size from scratch, "
                  "its larger penalties continuing the smaller one's fit")
    if settings.search == "grid" and settings.inner_starts == "quick":
        words += "; the trees' inner fits start from one arrangement, every refit from the default start"
    return words


def _table_rows(summary, task, markdown=False):
    """Header and string cells of one task's table."""
    label = MAIN_SCORE[task][1]
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
        score = format_mean_std(r["score_mean"], r["score_std"]) if not r["error"] else "failed"
        if r["best"]:
            score = f"**{score}**" if markdown else f"{score} *"
        cells = [r["dataset"] if first or markdown else "", shape if first or markdown else "",
                 r["model"], score]
        if task == "classification":
            cells.append(format_mean_std(r["log_loss_mean"], r["log_loss_std"], 2))
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
        label = MAIN_SCORE[task][1]
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
             f"inner CV ({_search_words(s)}). Mean ± std over the {s.n_splits * s.n_repeats} test folds; best "
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
        ``partition_<dataset>.png`` for those with one or two features (the
        mixture and the tree refitted on every row with the number of
        experts and the depth the inner searches chose most often; their
        titles give the cross-validated test scores of the table first, then
        the training scores of the pictured fits).
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
        if plot_scores(result, data.name, path) is not None:
            files.append(path)
        if data.n_features in (1, 2):
            path = os.path.join(out, f"partition_{data.name}.png")
            tested = {r["model"]: (r["score_mean"], r["score_std"]) for r in result.summary
                      if r["dataset"] == data.name and not r["error"]}
            plot_partition(data, path, params.get((data.name, "MoE")),
                           params.get((data.name, "CART")), result.settings,
                           {m: tested[m] for m in ("MoE", "CART") if m in tested})
            files.append(path)
    return files, ""
