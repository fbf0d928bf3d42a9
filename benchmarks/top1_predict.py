"""Hard-routed prediction (``top_k=1``) against dense prediction: speed and agreement.

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=<checkout> python benchmarks/top1_predict.py [n_rows] [reps]

Speed: synthetic data (d=20), fitted with max_iter=5 on 20,000 rows, predicted on
``n_rows`` (default 10^6) rows; dense (``top_k=None``) and hard (``top_k=1``) runs
alternate, ``reps`` (default 5) of each, and the minimum CPU time of each is kept (on
one thread the CPU time is little affected by other load on the machine).
Agreement: the bundled data sets, fitted on all rows with the default settings (K=4),
dense against hard predictions on the same rows: R² of each and the relative RMS
difference (regression), accuracy of each and the share of equal labels (classification).
Writes benchmarks/results/top1_predict.md.
"""

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from speed import make_data, make_estimator  # noqa: E402

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor  # noqa: E402
from mixexp import datasets  # noqa: E402

warnings.simplefilter("ignore")
n_rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10**6
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
OUT = Path(__file__).resolve().parent / "results" / "top1_predict.md"

SPEED = [  # (label, speed.py kind, K, method)
    ("regressor, K=8", "reg", 8, "predict"),
    ("regressor, K=32", "reg", 32, "predict"),
    ("classifier (3 classes), K=16", "clf", 16, "predict_proba"),
    ("HME regressor, depth 3 (8 leaves)", "hme", 8, "predict"),
    ("Gaussian gate regressor, K=8", "gauss", 8, "predict"),
]


def cpu_min(func, X, reps):
    times = []
    for _ in range(reps):
        c = time.process_time()
        func(X)
        times.append(time.process_time() - c)
    return min(times)


def speed_rows():
    rows = []
    for label, kind, K, method in SPEED:
        X, y = make_data(kind, n_rows, 20, K)
        est = make_estimator(kind, K, max_iter=5).fit(X[:20000], y[:20000])
        predict = getattr(est, method)
        dense, hard = [], []
        for _ in range(reps):  # alternate, so that a burst of load hits both
            est.set_params(top_k=None)
            dense.append(cpu_min(predict, X, 1))
            est.set_params(top_k=1)
            hard.append(cpu_min(predict, X, 1))
        d, h = min(dense), min(hard)
        rows.append(f"| {label} | {d * 1e3:.0f} | {h * 1e3:.0f} | {d / h:.2f} |")
        print(rows[-1], flush=True)
    return rows


def agreement_rows():
    rows = []
    for name in datasets.list_datasets():
        X, y = getattr(datasets, f"load_{name}")()
        classify = y.dtype.kind in "iub"
        make = MixtureOfExpertsClassifier if classify else MixtureOfExpertsRegressor
        est = make(4, random_state=0).fit(X, y)
        dense = est.predict(X)
        dense_score = est.score(X, y)
        est.set_params(top_k=1)
        hard = est.predict(X)
        hard_score = est.score(X, y)
        if classify:
            same = f"{np.mean(dense == hard):.3f} equal labels"
        else:
            same = f"{np.sqrt(np.mean((dense - hard) ** 2)) / np.std(y):.3f} RMS difference / sd(y)"
        metric = "accuracy" if classify else "R²"
        rows.append(f"| {name} | {metric} | {dense_score:.3f} | {hard_score:.3f} | {same} |")
        print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    load = os.getloadavg()[0]
    speed = speed_rows()
    agree = agreement_rows()
    threads = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}
    text = "\n".join([
        "# Hard-routed prediction (`top_k=1`) against dense prediction",
        "",
        "    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=. python benchmarks/top1_predict.py "
        f"{n_rows} {reps}",
        "",
        f"Threads: {threads}; load average at the start {load:.1f} (2 cores, shared).",
        "",
        f"## Speed: CPU time of one prediction of {n_rows:,} rows, d=20 (minimum of {reps})",
        "",
        "With `top_k=1` the gate is evaluated on every row and each expert only on the rows "
        "routed to it (rows grouped by expert); dense prediction evaluates every expert on every row.",
        "",
        "| model | dense (ms) | top_k=1 (ms) | dense / top_k=1 |",
        "| --- | --- | --- | --- |",
        *speed,
        "",
        "## Agreement on the bundled data sets (fitted on all rows, K=4, defaults)",
        "",
        "| data set | score | dense | top_k=1 | dense vs top_k=1 |",
        "| --- | --- | --- | --- | --- |",
        *agree,
        "",
    ])
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
