"""Accuracy benchmark: the ``mixexp compare`` comparison on every dataset of ../shared/data.

The folder (``../shared/data`` from the repository root unless ``--data`` says
otherwise) holds gzipped CSV files, a ``MANIFEST.csv`` and a ``load.py`` with
``load(name)`` and ``names(task)``.  When it is absent the script says so and
exits with status 0.

Models, splits, grids and reports are those of :mod:`mixexp.compare`; datasets
larger than ``--max-samples`` rows are subsampled (stratified for
classification).  Writes ``benchmarks/results/accuracy.md``, ``accuracy.csv``
(one row per dataset and model) and ``accuracy_folds.csv`` (one per fold).

The committed results were made with (about 30 min of CPU on 2 cores)::

    python benchmarks/accuracy.py --max-samples 2000 --folds 3 --repeats 2 --n-jobs 2
"""

import argparse
import importlib.util
import math
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from mixexp import __version__  # noqa: E402
from mixexp import compare  # noqa: E402

DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "data")


def load_folder(folder):
    """Import the ``load.py`` that describes a data folder."""
    spec = importlib.util.spec_from_file_location("_benchmark_data_loader",
                                                  os.path.join(folder, "load.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def folder_datasets(folder, names=None, max_samples=2000, random_state=0):
    """The datasets of ``folder`` as :class:`mixexp.compare.Dataset`, regression first."""
    loader = load_folder(folder)
    manifest = loader.manifest(folder)
    names = list(manifest) if names is None else names
    unknown = [n for n in names if n not in manifest]
    if unknown:
        raise SystemExit(f"unknown dataset {unknown[0]!r}; known: {', '.join(manifest)}")
    out = []
    for task in compare.TASKS:
        for name in sorted(n for n in names if manifest[n]["task"] == task):
            X, y, features = loader.load(name, root=folder, return_names=True)
            out.append(compare.make_dataset(name, X, y, task, features, max_samples,
                                            random_state))
    return out


def head_to_head(result, contenders=("MoE", "HME"), opponents=("CART", "Stacking", "HistGB")):
    """Markdown: per dataset, the best model and each contender's margin over each opponent."""
    rows = {}
    for r in result.summary:
        rows.setdefault(r["dataset"], {})[r["model"]] = r
    header = ["dataset", "best"] + [f"{c} − {o}" for c in contenders for o in opponents]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * 2 + " ---: |" * (len(header) - 2)]
    wins = {(c, o): [0, 0] for c in contenders for o in opponents}
    for dataset, models in rows.items():
        scored = {m: r["score_mean"] for m, r in models.items() if not math.isnan(r["score_mean"])}
        if not scored:
            continue
        cells = [dataset, max(scored, key=scored.get)]
        for c in contenders:
            for o in opponents:
                if c in scored and o in scored:
                    d = scored[c] - scored[o]
                    # a difference smaller than the fold-to-fold noise is a tie
                    noise = max(models[c]["score_std"], models[o]["score_std"])
                    wins[(c, o)][0 if d > 0 else 1] += abs(d) > noise / 2
                    cells.append(f"{d:+.3f}")
                else:
                    cells.append("")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Clear wins / losses (margin above half the larger fold std): " + "; ".join(
        f"{c} vs {o}: {w}/{lo}" for (c, o), (w, lo) in wins.items()) + ".")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="data folder (default ../shared/data)")
    parser.add_argument("--datasets", nargs="+", help="subset of the folder's datasets")
    parser.add_argument("--models", nargs="+", choices=list(compare.MODELS))
    parser.add_argument("--max-samples", type=int, default=2000)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=compare.Settings().max_iter)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)

    folder = os.path.abspath(args.data)
    if not os.path.isfile(os.path.join(folder, "MANIFEST.csv")):
        print(f"benchmarks/accuracy.py: no benchmark data at {folder} (expected MANIFEST.csv "
              "and load.py); nothing to do. Pass --data FOLDER to use another folder.")
        return 0
    settings = compare.Settings(n_splits=args.folds, n_repeats=args.repeats,
                                max_iter=args.max_iter, max_samples=args.max_samples,
                                random_state=args.random_state)
    datasets = folder_datasets(folder, args.datasets, args.max_samples, args.random_state)
    print(f"{len(datasets)} datasets from {folder}")
    for d in datasets:
        print(f"  {d.name}: {d.task}, {d.n_samples} x {d.n_features}"
              + (f" ({d.note})" if d.note else ""))
    start = time.perf_counter()
    result = compare.run_comparison(datasets, args.models, settings, n_jobs=args.n_jobs)
    print(compare.format_table(result))

    os.makedirs(args.out, exist_ok=True)
    compare.write_csv(result.summary, os.path.join(args.out, "accuracy.csv"),
                      compare.SUMMARY_COLUMNS)
    compare.write_csv(result.folds, os.path.join(args.out, "accuracy_folds.csv"),
                      compare.FOLD_COLUMNS)
    command = "python benchmarks/accuracy.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    md = compare.to_markdown(result, title="Accuracy benchmark")
    md += (f"\n## MoE and HME against CART, stacking and gradient boosting\n\n"
           "Difference of mean scores (R² or accuracy); positive: the mixture is better.\n\n"
           f"{head_to_head(result)}\n\n"
           f"Command: `{command.strip()}`; mixexp {__version__}, Python "
           f"{platform.python_version()}, {os.cpu_count()} CPUs, "
           f"{time.perf_counter() - start:.0f} s.\n")
    path = os.path.join(args.out, "accuracy.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(md)
    print(f"wrote {path}")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
