"""Coverage of mixexp's 95% Wald intervals on data simulated from a known mixture.

    PYTHONPATH=<checkout> python benchmarks/se_coverage.py [--n-datasets 200] [--n-samples 500]
        [--n-experts 2] [--n-features 2] [--noise 0.3] [--n-init 5] [--n-jobs 2]
        [--out benchmarks/results] [--name se_coverage]

For data sets s = 0 .. n_datasets - 1: draw ``make_moe_regression(n_samples,
n_features, n_experts, noise, random_state=s, return_params=True)``; fit
``MixtureOfExpertsRegressor(n_experts, gate_alpha=0, alpha=0, tol=1e-8,
max_iter=2000, n_init=n_init, random_state=s)`` (the unpenalised maximum
likelihood; several starts, as flexmix's ``nrep``: from a single start EM ends
at a poor local optimum on a few data sets, where no interval means much); match
the fitted experts to the true ones (the permutation with the closest expert
coefficients); then for every parameter of ``summary(X, y)`` (the gate's
differences to expert 0, every expert's intercept, coefficients and log noise
variance) check whether ``estimate ± 1.96 std_error`` covers the true value,
for the observed-information and the sandwich standard errors.  Reports the
coverage by kind of parameter and over all, with a binomial standard error.
Writes ``<out>/<name>.md``.
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


def truth_table(truth, perm, n_features):
    """True values in the order of ``summary()``'s rows, for fitted expert k = true perm[k]."""
    g = truth["gate_coef"][list(perm)]
    gi = truth["gate_intercept"][list(perm)]
    values, kinds = [], []
    for c in range(1, len(perm)):
        values += [gi[c] - gi[0], *(g[c] - g[0])]
        kinds += ["gate intercept"] + ["gate coef"] * n_features
    for k in perm:
        values += [truth["expert_intercept"][k, 0], *truth["expert_coef"][k, 0],
                   np.log(truth["noise_variance"][k, 0])]
        kinds += ["expert intercept"] + ["expert coef"] * n_features + ["log noise variance"]
    return np.array(values), kinds


def one(seed, n_samples, n_features, n_experts, noise, n_init=5):
    from mixexp import MixtureOfExpertsRegressor
    from mixexp.datasets import make_moe_regression

    X, y, truth = make_moe_regression(n_samples, n_features, n_experts, noise, random_state=seed,
                                      return_params=True)
    model = MixtureOfExpertsRegressor(n_experts, gate_alpha=0.0, alpha=0.0, tol=1e-8, max_iter=2000,
                                      n_init=n_init, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
        perm = min(itertools.permutations(range(n_experts)),
                   key=lambda p: np.abs(model.expert_coef_ - truth["expert_coef"][list(p)]).sum())
        value, kinds = truth_table(truth, perm, n_features)
        out = {}
        for cov_type in ("observed", "sandwich"):
            table = model.summary(X, y, cov_type=cov_type)
            est, se = table["estimate"].to_numpy(), table["std_error"].to_numpy()
            out[cov_type] = np.abs(est - value) <= 1.96 * se
    return out, kinds, model.converged_


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-datasets", type=int, default=200)
    ap.add_argument("--n-samples", type=int, default=500)
    ap.add_argument("--n-experts", type=int, default=2)
    ap.add_argument("--n-features", type=int, default=2)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--n-init", type=int, default=5)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--name", default="se_coverage", help="output file name (without .md)")
    args = ap.parse_args(argv)
    start = time.time()
    results = Parallel(n_jobs=args.n_jobs)(
        delayed(one)(s, args.n_samples, args.n_features, args.n_experts, args.noise, args.n_init)
        for s in range(args.n_datasets)
    )
    kinds = results[0][1]
    lines = [
        "# Coverage of 95% intervals (observed information and sandwich)",
        "",
        f"`python benchmarks/se_coverage.py --n-datasets {args.n_datasets} --n-samples {args.n_samples} "
        f"--n-experts {args.n_experts} --n-features {args.n_features} --noise {args.noise} "
        f"--n-init {args.n_init}` "
        f"({time.time() - start:.0f} s, {args.n_jobs} jobs; converged fits: "
        f"{sum(r[2] for r in results)}/{len(results)}).",
        "",
        "Data: `make_moe_regression` (gate rows of norm 3, zero gate intercepts, expert "
        "coefficients and intercepts N(0, 1)); fit: `MixtureOfExpertsRegressor(gate_alpha=0, "
        f"alpha=0, tol=1e-8, n_init={args.n_init})`; an interval covers when |estimate - truth| <= 1.96 std_error.",
        "",
        "| parameters | intervals | observed: coverage | sandwich: coverage |",
        "|---|---:|---:|---:|",
    ]
    for kind in [*dict.fromkeys(kinds), "all"]:
        mask = np.array([True] * len(kinds)) if kind == "all" else np.array([k == kind for k in kinds])
        row = [kind]
        for cov_type in ("observed", "sandwich"):
            hits = np.concatenate([r[0][cov_type][mask] for r in results])
            p = hits.mean()
            if len(row) == 1:
                row.append(str(hits.size))
            row.append(f"{p:.3f} ± {np.sqrt(p * (1 - p) / hits.size):.3f}")
        lines.append("| " + " | ".join(row) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, args.name + ".md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
