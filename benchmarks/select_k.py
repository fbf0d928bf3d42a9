"""Does BIC (or ICL, AIC) pick the true number of experts?  A confusion table.

    PYTHONPATH=<checkout> python benchmarks/select_k.py [--seeds 5] [--n-samples 1000]
        [--n-features 3] [--max-k 8] [--n-jobs 2] [--out benchmarks/results]

For every true K in 2..6 and seed s: draw ``make_moe_regression(n_samples,
n_features, n_experts=K, noise=0.3, random_state=100 K + s)``, then
``MixtureOfExpertsIC(MixtureOfExpertsRegressor(random_state=s),
param_grid={"n_experts": 1..max_k})`` (default fits: short-EM starts) and
record the K chosen by BIC, ICL and AIC (the same fits).  Writes
``<out>/select_k.md``: one confusion table per criterion (rows: true K,
columns: chosen K) and the share of runs that found the true K.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TRUE_K = (2, 3, 4, 5, 6)


def one(k, seed, args):
    from mixexp import MixtureOfExpertsIC, MixtureOfExpertsRegressor
    from mixexp.datasets import make_moe_regression

    X, y = make_moe_regression(args.n_samples, args.n_features, k, noise=0.3, random_state=100 * k + seed)
    sel = MixtureOfExpertsIC(MixtureOfExpertsRegressor(random_state=seed),
                             param_grid={"n_experts": list(range(1, args.max_k + 1))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel.fit(X, y)
    ks = sel.criteria_["param_n_experts"]
    return {c: int(ks[np.nanargmin(sel.criteria_[c])]) for c in ("bic", "icl", "aic")}


def main(argv=None):
    from joblib import Parallel, delayed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n-samples", type=int, default=1000)
    ap.add_argument("--n-features", type=int, default=3)
    ap.add_argument("--max-k", type=int, default=8)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    start = time.time()
    runs = [(k, s) for k in TRUE_K for s in range(args.seeds)]
    chosen = Parallel(n_jobs=args.n_jobs)(delayed(one)(k, s, args) for k, s in runs)
    cmd = (f"python benchmarks/select_k.py --seeds {args.seeds} --n-samples {args.n_samples} "
           f"--n-features {args.n_features} --max-k {args.max_k}")
    lines = [
        "# Choosing the number of experts: confusion tables", "",
        f"`{cmd}` ({time.time() - start:.0f} s with {args.n_jobs} jobs, measured under load).", "",
        f"Data: `make_moe_regression(n_samples={args.n_samples}, n_features={args.n_features}, "
        "n_experts=K, noise=0.3)`, seeds 100 K + s; fits: `MixtureOfExpertsIC(MixtureOfExpertsRegressor("
        f"random_state=s), param_grid={{'n_experts': 1..{args.max_k}}})`, default estimator settings.",
    ]
    for crit in ("bic", "icl", "aic"):
        table = np.zeros((len(TRUE_K), args.max_k), dtype=int)
        for (k, _), c in zip(runs, chosen):
            table[TRUE_K.index(k), c[crit] - 1] += 1
        hits = sum(c[crit] == k for (k, _), c in zip(runs, chosen))
        lines += ["", f"## {crit.upper()}: true K found in {hits}/{len(runs)} runs", "",
                  "| true K \\ chosen | " + " | ".join(str(j) for j in range(1, args.max_k + 1)) + " |",
                  "|---|" + "---:|" * args.max_k]
        for i, k in enumerate(TRUE_K):
            lines.append(f"| {k} | " + " | ".join(str(v) if v else "." for v in table[i]) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "select_k.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
