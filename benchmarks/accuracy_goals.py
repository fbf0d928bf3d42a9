"""Issue 31's goals, counted from ``benchmarks/accuracy.py``'s CSV files, before against after.

For each data set: the best mixture (MoE, HME, MoE-quad, MoE-spline) against CART,
stacking and HistGB (mean test scores over the folds), then the counts the issue sets
as goals: the best mixture ≥ CART on every set, ≥ stacking on at least 11 of 14,
within 2% of HistGB (score ≥ 0.98 × HistGB's) on at least 9 of 14, and no collapsed
fold (the worst fold of any mixture, and the most any mixture fold falls below the
linear model's score on the same fold). The summed fit seconds per model (mean per
fold × folds, wall seconds inside the run) close the table.

Usage (the second folder is a new run's ``--out``)::

    python benchmarks/accuracy_goals.py benchmarks/results /tmp/acc
"""

import csv
import math
import os
import sys

MIXTURES = ("MoE", "HME", "MoE-quad", "MoE-spline")
MODELS = MIXTURES + ("CART", "Stacking", "Linear", "HistGB")


def read(folder):
    """(summary rows by (dataset, model), fold rows) of one accuracy run."""
    with open(os.path.join(folder, "accuracy.csv"), encoding="utf-8") as fh:
        summary = {(r["dataset"], r["model"]): r for r in csv.DictReader(fh)}
    with open(os.path.join(folder, "accuracy_folds.csv"), encoding="utf-8") as fh:
        folds = list(csv.DictReader(fh))
    return summary, folds


def score(summary, dataset, model):
    row = summary.get((dataset, model))
    return float(row["score_mean"]) if row else math.nan


def best_mixture(summary, dataset):
    scored = [(score(summary, dataset, m), m) for m in MIXTURES]
    scored = [(s, m) for s, m in scored if not math.isnan(s)]
    return max(scored) if scored else (math.nan, "")


def goals(summary, folds):
    """Per data set (best mixture, its model, CART, stacking, HistGB) and the goal counts."""
    datasets = sorted({d for d, _ in summary}, key=lambda d: (summary[d, "CART"]["task"], d))
    rows, counts = [], {"cart": 0, "stacking": 0, "histgb": 0}
    for d in datasets:
        best, model = best_mixture(summary, d)
        cart, stack, hgb = (score(summary, d, m) for m in ("CART", "Stacking", "HistGB"))
        counts["cart"] += best >= cart
        counts["stacking"] += best >= stack
        counts["histgb"] += best >= 0.98 * hgb
        rows.append((d, best, model, cart, stack, hgb))
    linear = {(r["dataset"], r["split"]): float(r["score"]) for r in folds if r["model"] == "Linear"}
    mixture_folds = [r for r in folds if r["model"] in MIXTURES and r["score"] not in ("", "nan")]
    worst = min(mixture_folds, key=lambda r: float(r["score"]))
    below = max(mixture_folds, key=lambda r: linear[r["dataset"], r["split"]] - float(r["score"]))
    counts["worst_fold"] = (float(worst["score"]), worst["dataset"], worst["model"])
    counts["below_linear"] = (linear[below["dataset"], below["split"]] - float(below["score"]),
                              below["dataset"], below["model"])
    counts["n"] = len(datasets)
    return rows, counts


def fit_seconds(summary):
    """Summed fit seconds (mean per fold × folds) per model over every data set."""
    total = {}
    for (_, model), r in summary.items():
        if r["fit_seconds_mean"] not in ("", "nan"):
            total[model] = total.get(model, 0.0) + float(r["fit_seconds_mean"]) * int(r["n_splits"])
    return total


def report(before_folder, after_folder):
    """Markdown: the before/after table per data set, the goal counts and the fit seconds."""
    (b_summary, b_folds), (a_summary, a_folds) = read(before_folder), read(after_folder)
    (b_rows, b_counts), (a_rows, a_counts) = goals(b_summary, b_folds), goals(a_summary, a_folds)
    before = {r[0]: r for r in b_rows}
    out = ["| data set | best mixture before | best mixture after | CART | stacking | HistGB |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for d, best, model, cart, stack, hgb in a_rows:
        b = before.get(d)
        was = f"{b[1]:.3f} ({b[2]})" if b else "–"
        out.append(f"| {d} | {was} | {best:.3f} ({model}) | {cart:.3f} | {stack:.3f} | {hgb:.3f} |")
    out += ["", "| goal | before | after |", "| --- | ---: | ---: |"]
    for key, label in (("cart", "best mixture ≥ CART (goal: every set)"),
                       ("stacking", "best mixture ≥ stacking (goal: 11)"),
                       ("histgb", "best mixture within 2% of HistGB (goal: 9)")):
        out.append(f"| {label} | {b_counts[key]} of {b_counts['n']} | {a_counts[key]} of {a_counts['n']} |")
    for key, label in (("worst_fold", "worst mixture fold"),
                       ("below_linear", "largest fall of a mixture fold below the linear model's")):
        cells = [f"{v:.3f} ({d}, {m})" for v, d, m in (b_counts[key], a_counts[key])]
        out.append(f"| {label} | {cells[0]} | {cells[1]} |")
    b_fit, a_fit = fit_seconds(b_summary), fit_seconds(a_summary)
    out += ["", "| model | fit seconds, summed over folds, before | after |", "| --- | ---: | ---: |"]
    for m in MODELS:
        if m in b_fit or m in a_fit:
            cells = [f"{t[m]:,.0f}" if m in t else "–" for t in (b_fit, a_fit)]
            out.append(f"| {m} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(report(sys.argv[1], sys.argv[2]))
