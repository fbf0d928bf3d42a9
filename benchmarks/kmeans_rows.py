"""Does k-means on a sample of the rows start the default fit as well as on all of them?

    PYTHONPATH=<checkout> python benchmarks/kmeans_rows.py [--rows 20000,4096,2000]
        [--seeds 5] [--datasets kin8nm,puma8NH,...] [--data-dir ../shared/data]

``init_params="short_em"`` starts three of its five short EM runs from k-means on at most
``mixexp._init.KMEANS_MAX_ROWS`` rows drawn at random (every row then goes to its nearest
centre).  For every dataset (shuffled with ``default_rng(0)``, all rows) and seed s, the
default ``MixtureOfExperts{Regressor,Classifier}(n_experts=4, random_state=s)`` is fitted
once per value of ``--rows`` (set as ``KMEANS_MAX_ROWS``).  Reported per dataset and value:
the mean per-sample train log-likelihood, the median gap to the best of all the fits of
that dataset (nats per sample), how many fits are within 0.01 of it, and the summed fit time.
Prints a markdown table.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

import mixexp
from mixexp import _init

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = "kin8nm,puma8NH,2dplanes,fried,pendigits,satimage,waveform_21,optdigits"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="20000,4096,2000")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--datasets", default=DATASETS)
    ap.add_argument("--data-dir", default=os.path.join(HERE, "..", "..", "shared", "data"))
    args = ap.parse_args()
    sys.path.insert(0, args.data_dir)
    from load import load

    warnings.simplefilter("ignore")
    rows_list = [int(r) for r in args.rows.split(",")]
    print(f"| dataset | n x d | k-means rows | mean ll | median gap | within 0.01 | fit s ({args.seeds} fits) |")
    print("|---|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        X, y = load(name)
        order = np.random.default_rng(0).permutation(len(y))
        X, y = X[order], y[order]
        Est = mixexp.MixtureOfExpertsClassifier if y.dtype.kind == "i" else mixexp.MixtureOfExpertsRegressor
        ll = {rows: [] for rows in rows_list}
        secs = dict.fromkeys(rows_list, 0.0)
        for seed in range(args.seeds):
            for rows in rows_list:  # alternating: every value sees the same load
                _init.KMEANS_MAX_ROWS = rows
                t = time.perf_counter()
                est = Est(n_experts=4, random_state=seed).fit(X, y)
                secs[rows] += time.perf_counter() - t
                ll[rows].append(float(np.mean(est.log_likelihood(X, y))))
        best = max(max(v) for v in ll.values())
        for rows in rows_list:
            v = np.array(ll[rows])
            print(f"| {name} | {X.shape[0]} x {X.shape[1]} | {rows} | {v.mean():.5f} | "
                  f"{np.median(best - v):.4f} | {int(np.sum(best - v <= 0.01))}/{v.size} | {secs[rows]:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
