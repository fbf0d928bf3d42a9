"""Where does an HME fit lose to the true parameters?  Diagnosis of the tree's start.

    PYTHONPATH=<checkout> python benchmarks/hme_start.py [--depth 3] [--seeds 10] [--variants ...]

Data as ``benchmarks/best_optimum.py --part hme``: ``make_hme_regression(4000, 2, depth,
random_state=s)``.  For every seed, the gap per sample (true parameters' mean log-likelihood
minus the fit's; ``best_optimum.hme_true_loglik``) of:

``default``  the default ``HierarchicalMixtureOfExpertsRegressor(depth=depth, random_state=s)``;
``longer``   the default fit continued (``warm_start``) at ``tol=1e-8, max_iter=3000``: what is
             left is a local optimum, not an early stop;
``truth``    EM started from the true parameters' posteriors (``init_params`` = them);
``flat_true`` EM started from a flat ``MixtureOfExpertsRegressor(2**depth)``'s posteriors, its
             experts put at the true leaves they overlap most (Hungarian matching): the flat
             fit's experts in the right tree places;
``flat_arr`` the same flat posteriors in the order mixexp's ``leaf_arrangements`` puts first.

Also reported per variant: EM iterations and how many leaves end with under 1% of the rows'
posterior weight (collapsed).
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from best_optimum import hme_true_loglik, hme_true_posteriors  # noqa: E402


def fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        est.fit(X, y)
        return est, time.perf_counter() - t0


def collapsed(est, X, y):
    R = est.responsibilities(X, y)
    return int((R.mean(axis=0) < 0.01).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--variants", default="default,longer,truth,flat_true,flat_arr")
    ap.add_argument("--unpenalised", action="store_true", help="alpha=0, gate_alpha=0 (maximum likelihood)")
    a = ap.parse_args()
    from scipy.optimize import linear_sum_assignment

    import mixexp
    from mixexp import HierarchicalMixtureOfExpertsRegressor as HME
    from mixexp import MixtureOfExpertsRegressor as MoE
    from mixexp._init import leaf_arrangements
    from mixexp.datasets import make_hme_regression

    variants = a.variants.split(",")
    kw = {"alpha": 0.0, "gate_alpha": 0.0} if a.unpenalised else {}
    print(f"mixexp from {os.path.dirname(mixexp.__file__)}; load {os.getloadavg()[0]:.2f}", flush=True)
    table = {v: [] for v in variants}
    for s in range(a.first_seed, a.first_seed + a.seeds):
        X, y, p = make_hme_regression(4000, 2, depth=a.depth, random_state=s, return_params=True)
        truth = hme_true_loglik(X, y, p)
        line = [f"seed {s:2d}"]

        def report(name, est, sec):
            gap = truth - est.log_likelihood(X, y).mean()
            table[name].append(gap)
            line.append(f"{name} {gap:7.4f} ({est.n_iter_} it, {collapsed(est, X, y)} coll, {sec:.1f}s)")

        if "default" in variants or "longer" in variants:
            est, sec = fit(HME(depth=a.depth, random_state=s, **kw), X, y)
            if "default" in variants:
                report("default", est, sec)
            if "longer" in variants:
                est.set_params(warm_start=True, tol=1e-8, max_iter=3000)
                est, sec2 = fit(est, X, y)
                report("longer", est, sec + sec2)
        if "truth" in variants:
            R = hme_true_posteriors(X, y, p)
            report("truth", *fit(HME(depth=a.depth, random_state=s, **kw, init_params=R), X, y))
        if "flat_true" in variants or "flat_arr" in variants:
            flat, _ = fit(MoE(2**a.depth, random_state=s, **kw), X, y)
            R = flat.responsibilities(X, y)
            if "flat_true" in variants:
                overlap = R.T @ np.eye(2**a.depth)[p["labels"]]
                rows, cols = linear_sum_assignment(-overlap)
                order = rows[np.argsort(cols)]
                est = HME(depth=a.depth, random_state=s, **kw, init_params=R[:, order])
                report("flat_true", *fit(est, X, y))
            if "flat_arr" in variants:
                Xa = np.column_stack([(X - X.mean(0)) / X.std(0), np.ones(len(X))])
                order = leaf_arrangements(R, Xa, np.ones(len(X)), a.depth, 2, kw.get("gate_alpha", 0.1))[0]
                est = HME(depth=a.depth, random_state=s, **kw, init_params=R[:, order])
                report("flat_arr", *fit(est, X, y))
        print("  ".join(line), flush=True)
    for v in variants:
        g = np.array(table[v])
        print(f"{v:10s} median {np.median(g):.4f} worst {g.max():.4f} "
              f"within 0.01 {(g <= 0.01).sum()}/{g.size}")


if __name__ == "__main__":
    sys.exit(main())
