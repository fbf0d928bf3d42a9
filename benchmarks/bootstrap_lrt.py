"""Size and power of mixexp's bootstrap likelihood-ratio test of k against k + 1 experts.

    PYTHONPATH=<checkout> python benchmarks/bootstrap_lrt.py [--n-datasets 20] [--n-samples 200]
        [--n-resamples 19] [--k 1] [--n-features 1] [--noise 0.3] [--n-jobs 2]
        [--out benchmarks/results] [--name bootstrap_lrt]

For data sets s = 0 .. n_datasets - 1, under the null (``make_moe_regression`` with k experts)
and under the alternative (k + 1 experts): ``bootstrap_lrt(MixtureOfExpertsRegressor(n_init=3),
X, y, n_experts=(k, k + 1), n_resamples, random_state=s)``; reports how often ``p <= 0.05``
(the size under the null, the power under the alternative) and the mean p-value.  With
``n_resamples = 19`` a p-value of 0.05 is the smallest possible (the statistic above all 19
null statistics), so the level is exact in principle.  The fits are the default, penalised
ones (``alpha``, ``gate_alpha``), as a user would first run them; "null statistics at 0"
counts the simulated statistics that ``bootstrap_lrt`` clipped at 0 (the larger fit below
the smaller).  Writes ``<out>/<name>.md``.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import sys
import time
import warnings

import numpy as np
from joblib import Parallel, delayed

HERE = os.path.dirname(os.path.abspath(__file__))


def one(seed, n_experts, args):
    from mixexp import MixtureOfExpertsRegressor
    from mixexp.datasets import make_moe_regression
    from mixexp.inference import bootstrap_lrt

    X, y = make_moe_regression(args.n_samples, args.n_features, n_experts, args.noise, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = bootstrap_lrt(MixtureOfExpertsRegressor(n_init=3), X, y, n_experts=(args.k, args.k + 1),
                             n_resamples=args.n_resamples, random_state=seed)
    return test.p_value, test.statistic, int(np.sum(test.null_statistics <= 0))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-datasets", type=int, default=20)
    ap.add_argument("--n-samples", type=int, default=200)
    ap.add_argument("--n-resamples", type=int, default=19)
    ap.add_argument("--k", type=int, default=1)
    ap.add_argument("--n-features", type=int, default=1)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--name", default="bootstrap_lrt", help="output file name (without .md)")
    args = ap.parse_args(argv)
    start = time.time()
    rows = []
    for label, n_experts in [("null", args.k), ("alternative", args.k + 1)]:
        out = Parallel(n_jobs=args.n_jobs)(delayed(one)(s, n_experts, args) for s in range(args.n_datasets))
        p = np.array([o[0] for o in out])
        reject = p <= 0.05
        rows.append(
            f"| {label}: {n_experts} true expert{'s' if n_experts > 1 else ''} | {args.n_datasets} | "
            f"{reject.mean():.2f} ± {np.sqrt(reject.mean() * (1 - reject.mean()) / reject.size):.2f} | "
            f"{p.mean():.3f} | {np.median([o[1] for o in out]):.2f} | {sum(o[2] for o in out)} |"
        )
    text = "\n".join([
        f"# Bootstrap likelihood-ratio test of {args.k} against {args.k + 1} experts",
        "",
        f"`python benchmarks/bootstrap_lrt.py --n-datasets {args.n_datasets} --n-samples {args.n_samples} "
        f"--n-resamples {args.n_resamples} --k {args.k} --n-features {args.n_features} --noise {args.noise}` "
        f"({time.time() - start:.0f} s on {args.n_jobs} jobs).",
        "",
        f"Data: `make_moe_regression(n_samples={args.n_samples}, n_features={args.n_features}, "
        f"n_experts, noise={args.noise}, random_state=s)`; test: `bootstrap_lrt(MixtureOfExpertsRegressor("
        f"n_init=3), X, y, n_experts=({args.k}, {args.k + 1}), n_resamples={args.n_resamples})`; "
        "rejection when p <= 0.05.",
        "",
        "| data | data sets | rejection rate | mean p-value | median statistic | null statistics at 0 |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
    ]) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, args.name + ".md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
