#!/usr/bin/env python
"""Does ``mixexp compare`` gain from tuning the mixtures' ``alpha``, and what does it cost?

    Rscript benchmarks/export_r_data.R /tmp/mixexp_r_data        # Boston.csv (numeric)
    PYTHONPATH=. python benchmarks/compare_alpha.py --grid 1 --grid 0.1,1,10 [--quick]
    PYTHONPATH=/path/to/older/mixexp python benchmarks/compare_alpha.py --grid none

For each ``--grid`` (values of ``Settings.alphas``), runs the comparison of
MoE, HME and least squares (:func:`mixexp.compare.run_comparison`, the
default settings or ``--quick``'s, one process, one thread) on the bundled
regression datasets (mcycle, concrete, kin8nm) and Boston (``--csv``, numeric,
target ``medv``, the issue's command), and prints the mean ± std test R² per
model and the process CPU time of the whole comparison.  Prints a markdown
table; the committed one is in benchmarks/results/alpha_default.md.
"""

import argparse
import os
import sys
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

from mixexp import compare  # noqa: E402  (the mixexp on PYTHONPATH: compare two versions)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", action="append", required=True, help="comma-separated alphas")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--csv", default="/tmp/mixexp_r_data/Boston.csv")
    ap.add_argument("--datasets", default="mcycle,concrete,kin8nm")
    args = ap.parse_args(argv)
    base = compare.QUICK_SETTINGS if args.quick else compare.Settings()
    data = compare.bundled_datasets(args.datasets.split(","), base.max_samples, base.random_state)
    if os.path.exists(args.csv):
        data.append(compare.read_csv_dataset(args.csv, "medv", "regression", base.max_samples,
                                             base.random_state))
    lines = ["| alphas | " + " | ".join(f"{d.name} MoE | {d.name} HME | {d.name} Linear" for d in data)
             + " | CPU s |", "| --- |" + " ---: |" * (3 * len(data) + 1)]
    for grid in args.grid:
        # "none": the settings as they are (a version of mixexp without Settings.alphas)
        settings = base if grid == "none" else compare.settings_with(
            base, alphas=tuple(float(a) for a in grid.split(",")))
        start = time.process_time()
        result = compare.run_comparison(data, ["moe", "hme", "linear"], settings, n_jobs=1, progress=False)
        cpu = time.process_time() - start
        score = {(r["dataset"], r["model"]): f"{r['score_mean']:.3f} ± {r['score_std']:.3f}" for r in result.summary}
        chosen = {(r["dataset"], r["model"]): r["chosen"] for r in result.summary}
        lines.append(f"| {grid} | " + " | ".join(
            f"{score[d.name, 'MoE']} | {score[d.name, 'HME']} | {score[d.name, 'Linear']}" for d in data)
            + f" | {cpu:.0f} |")
        print(f"alphas={grid}: chosen " + "; ".join(f"{k[0]} {k[1]}: {v}" for k, v in chosen.items() if v),
              file=sys.stderr)
    print(("`python benchmarks/compare_alpha.py " + " ".join(f"--grid {g}" for g in args.grid)
           + (" --quick" if args.quick else "") + f"` ({time.strftime('%Y-%m-%d %H:%M')}, load average "
           f"{os.getloadavg()[0]:.1f}):"))
    print()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
