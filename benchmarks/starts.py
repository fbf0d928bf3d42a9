"""mixexp's starts against R's flexmix on flexmix's NPreg and on Boston housing.

    PYTHONPATH=<checkout under test> python benchmarks/starts.py [--out benchmarks/results]
        [--rerun-r] [--seeds 0,1,2,3,4]

1. Reference: ``benchmarks/flexmix_starts.R`` (flexmix, 5 random starts per data set and
   K = 2, 3, 5; see its header for data, rows and control settings).  Its output folder
   ``<out>/flexmix_starts/`` is reused when present (``--rerun-r`` runs R again); without
   Rscript or the R packages the script says so and exits with status 0.  The data the R
   script fitted are read back from ``<out>/flexmix_starts/data/`` (exported at run time
   from the installed R packages, GPL, not committed).
2. mixexp (whatever ``import mixexp`` finds) on exactly the same rows and design (NPreg:
   x, x^2; Boston: the 13 features), ``MixtureOfExpertsRegressor(n_experts=K, n_init=5,
   random_state=seed)`` with the default ``init_params`` and, as extra rows,
   ``init_params="random"`` and a convergence check (default init, ``max_iter=1000,
   tol=1e-6``).  Reported: total train log-likelihood ``log_likelihood(X, y).sum()``.
3. Prints the side-by-side table and writes ``<out>/starts_flexmix.md`` and
   ``<out>/starts_flexmix.csv``.

mixexp's gate depends on x (mixture of experts), a superset of flexmix's constant mixing
weights, so its maximum likelihood is at least flexmix's: a mixexp value below flexmix's
best means mixexp's starts found a poor optimum (up to mixexp's tiny default penalties).
BLAS is limited to one thread (flexmix is single-threaded too); the first fit, which
compiles/warms up, is not timed.
"""
import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
R_SCRIPT = os.path.join(HERE, "flexmix_starts.R")

CONFIGS = [
    # label, extra estimator parameters
    ("default init, n_init=5", {}),
    ('init_params="random", n_init=5', {"init_params": "random"}),
    ("default init, n_init=5, max_iter=1000, tol=1e-6", {"max_iter": 1000, "tol": 1e-6}),
]
DATA_TITLES = {"npreg": "NPreg (80%)", "boston": "Boston"}


def describe_mixexp(mixexp):
    """Version and, if it is a git checkout, the commit of the mixexp under test."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(mixexp.__file__)))
    try:
        rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return f"{getattr(mixexp, '__version__', '?')}" + (f" at commit {rev}" if rev else "")


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def run_r(rdir, rerun):
    """Make sure ``rdir`` holds flexmix's results; return False (after saying why) if not."""
    have = all(os.path.exists(os.path.join(rdir, f))
               for f in ("flexmix_best.csv", "flexmix_starts.csv",
                         os.path.join("data", "npreg.csv"), os.path.join("data", "boston.csv")))
    if have and not rerun:
        print(f"reading flexmix results present in {rdir} (--rerun-r to run R again)")
        return True
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("Rscript not found: install R and the packages flexmix, mlbench, jsonlite "
              "(Debian: apt-get install r-base-core r-cran-flexmix r-cran-mlbench r-cran-jsonlite); "
              "nothing to compare against, exiting.")
        return False
    check = subprocess.run([rscript, "-e", "for (p in c('flexmix','mlbench','jsonlite')) "
                            "if (!requireNamespace(p, quietly=TRUE)) {cat(p); quit(status=3)}"],
                           capture_output=True, text=True)
    if check.returncode != 0:
        print(f"R package {check.stdout.strip() or '?'} is missing (Debian: apt-get install "
              "r-cran-flexmix r-cran-mlbench r-cran-jsonlite); nothing to compare against, exiting.")
        return False
    print(f"running {os.path.relpath(R_SCRIPT)} --out {rdir}", flush=True)
    t0 = time.perf_counter()
    res = subprocess.run([rscript, R_SCRIPT, "--out", rdir], capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stdout[-3000:], res.stderr[-3000:], sep="\n")
        print("the R script failed; exiting.")
        return False
    print(f"  R done in {time.perf_counter() - t0:.1f} s")
    return True


def load_export(rdir, name):
    rows = read_csv(os.path.join(rdir, "data", f"{name}.csv"))
    cols = [c for c in rows[0] if c not in ("row", "y")]
    X = np.array([[float(r[c]) for c in cols] for r in rows])
    y = np.array([float(r["y"]) for r in rows])
    return X, y, cols


def fit_one(K, seed, params, X, y):
    from mixexp import MixtureOfExpertsRegressor
    est = MixtureOfExpertsRegressor(n_experts=K, n_init=5, random_state=seed, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: reported as converged_
        t0 = time.perf_counter()
        est.fit(X, y)
        sec = time.perf_counter() - t0
    return {"loglik": float(est.log_likelihood(X, y).sum()), "seconds": sec,
            "n_iter": int(est.n_iter_), "converged": bool(est.converged_),
            "lower_bound": float(est.lower_bound_)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="results folder (R output goes to OUT/flexmix_starts/)")
    ap.add_argument("--rerun-r", action="store_true", help="run the R script even if its output exists")
    ap.add_argument("--seeds", default="0,1,2,3,4",
                    help="random_state values for mixexp (the table's main column is the first)")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    rdir = os.path.join(args.out, "flexmix_starts")
    if not run_r(rdir, args.rerun_r):
        return 0

    import mixexp
    from threadpoolctl import threadpool_limits

    best = read_csv(os.path.join(rdir, "flexmix_best.csv"))
    versions = {}
    jpath = os.path.join(rdir, "flexmix_starts.json")
    if os.path.exists(jpath):
        import json
        with open(jpath) as fh:
            versions = json.load(fh).get("versions", {})
    data = {name: load_export(rdir, name) for name in ("npreg", "boston")}
    print(f"mixexp {describe_mixexp(mixexp)} from {os.path.dirname(mixexp.__file__)}")

    rows = []
    with threadpool_limits(1):
        fit_one(2, 0, {}, *data["npreg"][:2])  # warm-up, not timed
        for b in best:
            name, K = b["data"], int(b["K"])
            X, y, _ = data[name]
            fx = float(b["best_loglik"])
            for label, params in CONFIGS:
                runs = [fit_one(K, s, params, X, y) for s in seeds]
                r0 = runs[0]
                lls = np.array([r["loglik"] for r in runs])
                row = {"data": name, "K": K, "n": len(y), "config": label,
                       "flexmix_best5": fx, "flexmix_k_final": int(b["k_final"]),
                       "flexmix_seconds": float(b["seconds_total"]),
                       "mixexp": r0["loglik"], "diff": r0["loglik"] - fx,
                       "seconds": r0["seconds"], "n_iter": r0["n_iter"], "converged": r0["converged"],
                       "seeds": len(seeds), "worst": lls.min(), "best": lls.max(),
                       "below_flexmix": int((lls < fx - 0.01).sum())}
                rows.append(row)
                print(f"{name:6s} K={K} {label:48s} flexmix {fx:9.2f}  mixexp {r0['loglik']:9.2f}  "
                      f"diff {row['diff']:+8.2f}  {r0['seconds']:5.2f}s  seeds worst {lls.min():9.2f} "
                      f"best {lls.max():9.2f}  below flexmix {row['below_flexmix']}/{len(seeds)}",
                      flush=True)

    os.makedirs(args.out, exist_ok=True)
    keys = list(rows[0])
    with open(os.path.join(args.out, "starts_flexmix.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})

    seed0 = seeds[0]
    lines = [
        "# mixexp starts against flexmix (total train log-likelihood, higher is better)",
        "",
        f"Made by `benchmarks/starts.py` (mixexp {describe_mixexp(mixexp)}, "
        f"Python {platform.python_version()}; R: {versions.get('R', '?')}, flexmix {versions.get('flexmix', '?')}, "
        f"mlbench {versions.get('mlbench', '?')}).",
        "",
        "- flexmix: `benchmarks/flexmix_starts.R`, best of 5 random starts (the loop of "
        "`stepFlexmix(k=K, nrep=5)`), Gaussian linear experts with constant mixing weights, "
        "control defaults (iter.max 200, tolerance 1e-6, minprior 0.05: `k` is the number of "
        "components left in flexmix's best fit). Seconds: the 5 starts together.",
        "- NPreg: `yn ~ x + I(x^2)` on a fixed 80% of the rows (160; `set.seed(1); sort(sample(200, 160))`, "
        "listed in `flexmix_starts/flexmix_starts.json`). Boston: mlbench `BostonHousing`, `medv ~ .`, "
        "`chas` numeric, all 506 rows. mixexp fits exactly those rows and columns (x, x^2 / the 13 features).",
        f"- mixexp: `MixtureOfExpertsRegressor(n_experts=K, n_init=5, random_state={seed0}, ...)`; "
        "value = `log_likelihood(X, y).sum()` on the training rows; seconds = one `fit` (5 starts), "
        "1 BLAS thread, after a warm-up fit. "
        f"`seeds {args.seeds}`: worst and best over those random_state values, and how many are more "
        "than 0.01 below flexmix's best.",
        "- mixexp's gate depends on x, a superset of flexmix's constant weights, so its optimum is at "
        "least flexmix's: **a negative difference means mixexp's starts ended in a poor optimum**.",
        "",
    ]
    for label, _ in CONFIGS:
        lines += [f"## mixexp {label}", "",
                  "| data | K | n | flexmix best of 5 (k) | mixexp | difference | mixexp fit s | "
                  "flexmix s | iters | converged | seeds: worst / best | seeds below flexmix |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if r["config"] != label:
                continue
            lines.append(
                f"| {DATA_TITLES[r['data']]} | {r['K']} | {r['n']} | {r['flexmix_best5']:.2f} ({r['flexmix_k_final']}) "
                f"| {r['mixexp']:.2f} | {r['diff']:+.2f} | {r['seconds']:.2f} | {r['flexmix_seconds']:.2f} "
                f"| {r['n_iter']} | {'yes' if r['converged'] else 'no'} | {r['worst']:.2f} / {r['best']:.2f} "
                f"| {r['below_flexmix']}/{r['seeds']} |")
        lines.append("")
    with open(os.path.join(args.out, "starts_flexmix.md"), "w") as fh:
        fh.write("\n".join(lines))
    print(f"wrote {os.path.join(args.out, 'starts_flexmix.md')} and starts_flexmix.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
