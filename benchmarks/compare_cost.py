"""``mixexp compare``'s 6-fold scores and CPU seconds per model under other inner-search settings.

Runs :func:`mixexp.compare.run_comparison` on the bundled data sets, one model at a time in this
process (``n_jobs=1``, numba and BLAS on one thread), so each model's CPU seconds
(``time.process_time``) are its own; prints a Markdown table of the mean ± std test score over the
outer folds, the CPU seconds and the inner searches' choices.  ``--tree-arrangements`` sets how
many arrangements a tree's inner-search fits compare under ``--inner-starts quick``
(:data:`mixexp.compare.search.QUICK_START`); ``--short-runs`` gives them fewer short runs too.  benchmarks/results/compare_cost.md has the runs.

    python benchmarks/compare_cost.py --datasets concrete --models hme --tree-arrangements 3
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from mixexp import compare  # noqa: E402
from mixexp.compare import search  # noqa: E402
from mixexp.compare.run import format_mean_std  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+")
    parser.add_argument("--models", nargs="+", default=["moe", "hme", "moe-quad"], choices=list(compare.MODELS))
    parser.add_argument("--inner-starts", choices=compare.settings.INNER_STARTS,
                        default=compare.Settings().inner_starts)
    parser.add_argument("--penalty-path", nargs="*", choices=list(compare.MODELS),
                        default=compare.Settings().penalty_path)
    parser.add_argument("--quad-alphas", type=float, nargs="+")
    parser.add_argument("--tree-arrangements", type=int, default=search.QUICK_START["TREE_ARRANGEMENTS"])
    parser.add_argument("--short-runs", type=int,
                        help="also give the inner fits this many short runs of 'short_em' (not by default)")
    args = parser.parse_args()
    search.QUICK_START["TREE_ARRANGEMENTS"] = args.tree_arrangements
    if args.short_runs is not None:
        search.QUICK_START["SHORT_RUNS"] = args.short_runs
    settings = compare.settings_with(inner_starts=args.inner_starts, penalty_path=tuple(args.penalty_path),
                                     quad_alphas=args.quad_alphas and tuple(args.quad_alphas))
    print(f"settings: {settings}; quick starts: {search.QUICK_START}\n")
    print("| data | model | score (mean ± std) | CPU s | chosen |")
    print("| --- | --- | ---: | ---: | --- |")
    for ds in compare.bundled_datasets(args.datasets):
        for name in args.models:
            start = time.process_time()
            result = compare.run_comparison([ds], [name], settings, n_jobs=1, progress=False)
            cpu = time.process_time() - start
            row = result.summary[0]
            print(f"| {ds.name} | {row['model']} | {format_mean_std(row['score_mean'], row['score_std'])} | "
                  f"{cpu:.1f} | {row['chosen']} |", flush=True)


if __name__ == "__main__":
    main()
