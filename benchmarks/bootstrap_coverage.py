"""Coverage of mixexp's 95% bootstrap percentile intervals on data simulated from a known mixture.

    PYTHONPATH=<checkout> python benchmarks/bootstrap_coverage.py [--n-datasets 100]
        [--n-samples 500] [--n-resamples 100] [--method nonparametric] [--n-experts 2]
        [--n-features 2] [--noise 0.3] [--n-init 3] [--n-jobs 2] [--out benchmarks/results]
        [--name bootstrap_coverage]

For data sets s = 0 .. n_datasets - 1: draw ``make_moe_regression(n_samples, n_features,
n_experts, noise, random_state=s, return_params=True)``; fit the unpenalised maximum
likelihood as ``benchmarks/se_coverage.py`` does; match the fitted experts to the true ones;
run ``mixexp.inference.bootstrap(model, X, y, n_resamples, method, random_state=s)`` and
check whether its 95% intervals cover the true value of every parameter of ``summary(X, y)``:
percentile (``ci_low``, ``ci_high``), basic (``interval(kind="basic")``, the percentile interval
reflected about the estimate) and normal (``estimate ± 1.96 std_error`` with the bootstrap
standard error); the Wald interval ``estimate ± 1.96 std_error`` of ``summary`` on the
same fits is reported beside it, with the median ratio of the bootstrap standard errors to
the analytic ones and how many replicates the label matching relabelled.  Data sets run in
parallel (``--n-jobs``), each bootstrap on one job.  Writes ``<out>/<name>.md``.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import itertools
import sys
import time
import warnings

import numpy as np
from joblib import Parallel, delayed

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from se_coverage import truth_table  # noqa: E402


def one(seed, args):
    from mixexp import MixtureOfExpertsRegressor
    from mixexp.datasets import make_moe_regression
    from mixexp.inference import bootstrap

    X, y, truth = make_moe_regression(args.n_samples, args.n_features, args.n_experts, args.noise,
                                      random_state=seed, return_params=True)
    model = MixtureOfExpertsRegressor(args.n_experts, gate_alpha=0.0, alpha=0.0, tol=1e-8, max_iter=2000,
                                      n_init=args.n_init, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
        perm = min(itertools.permutations(range(args.n_experts)),
                   key=lambda p: np.abs(model.expert_coef_ - truth["expert_coef"][list(p)]).sum())
        value, kinds = truth_table(truth, perm, args.n_features)
        table = model.summary(X, y)
        est, se = table["estimate"].to_numpy(), table["std_error"].to_numpy()
        result = bootstrap(model, X, y, n_resamples=args.n_resamples, method=args.method, random_state=seed)
    low, high = result.interval(0.95, kind="basic")
    return {
        "wald": np.abs(est - value) <= 1.96 * se,
        "bootstrap": (result.ci_low <= value) & (value <= result.ci_high),
        "basic": (low <= value) & (value <= high),
        "normal": np.abs(est - value) <= 1.96 * result.std_error,
        "ratio": result.std_error / se,
        "relabelled": result.n_relabelled,
        "failed": result.n_failed,
    }, kinds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-datasets", type=int, default=100)
    ap.add_argument("--n-samples", type=int, default=500)
    ap.add_argument("--n-resamples", type=int, default=100)
    ap.add_argument("--method", default="nonparametric", choices=["nonparametric", "parametric"])
    ap.add_argument("--n-experts", type=int, default=2)
    ap.add_argument("--n-features", type=int, default=2)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--n-init", type=int, default=3)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--name", default="bootstrap_coverage", help="output file name (without .md)")
    args = ap.parse_args(argv)
    start = time.time()
    results = Parallel(n_jobs=args.n_jobs)(delayed(one)(s, args) for s in range(args.n_datasets))
    kinds = results[0][1]
    runs = [r[0] for r in results]
    lines = [
        "# Coverage of 95% bootstrap intervals",
        "",
        f"`python benchmarks/bootstrap_coverage.py --n-datasets {args.n_datasets} --n-samples "
        f"{args.n_samples} --n-resamples {args.n_resamples} --method {args.method} --n-experts "
        f"{args.n_experts} --n-features {args.n_features} --noise {args.noise} --n-init {args.n_init}` "
        f"({time.time() - start:.0f} s on {args.n_jobs} jobs; replicates relabelled by the label "
        f"matching: {sum(r['relabelled'] for r in runs)}, failed: {sum(r['failed'] for r in runs)}, "
        f"of {args.n_datasets * args.n_resamples}).",
        "",
        "Data: `make_moe_regression`; fit: `MixtureOfExpertsRegressor(gate_alpha=0, alpha=0, tol=1e-8, "
        f"n_init={args.n_init})`; `bootstrap(model, X, y, n_resamples={args.n_resamples}, "
        f"method={args.method!r})`.  An interval covers when it holds the true value; percentile: "
        "`ci_low`, `ci_high`; basic: `interval(0.95, kind='basic')`; normal: `estimate ± 1.96` "
        "bootstrap `std_error`; Wald: `summary`'s `estimate ± 1.96 std_error`; the SE ratio is the "
        "median over data sets of bootstrap SE / analytic SE.",
        "",
        "| parameters | intervals | percentile | basic | normal (bootstrap SE) | Wald (summary) "
        "| SE ratio (median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in [*dict.fromkeys(kinds), "all"]:
        mask = np.ones(len(kinds), dtype=bool) if kind == "all" else np.array([k == kind for k in kinds])
        row = [kind]
        for what in ("bootstrap", "basic", "normal", "wald"):
            hits = np.concatenate([r[what][mask] for r in runs])
            p = hits.mean()
            if len(row) == 1:
                row.append(str(hits.size))
            row.append(f"{p:.3f} ± {np.sqrt(p * (1 - p) / hits.size):.3f}")
        row.append(f"{np.median(np.concatenate([r['ratio'][mask] for r in runs])):.3f}")
        lines.append("| " + " | ".join(row) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, args.name + ".md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
