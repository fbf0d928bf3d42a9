"""Starts compared: k-means, random partition and short-EM, final log-likelihood and time.

    PYTHONPATH=<checkout> python benchmarks/start_methods.py [--datasets all] [--seeds 5]
        [--max-samples 2000] [--n-jobs 2] [--out benchmarks/results]

For every development dataset (``../shared/data``, shuffled with a fixed seed,
cut to ``--max-samples`` rows, inputs standardised; see
benchmarks/start_quality.py) and seeds 0..seeds-1, one fit of
``MixtureOfExperts{Regressor,Classifier}(n_experts=4, random_state=s)`` with the
default EM settings (max_iter=100, tol=1e-4, n_init=1) for each start:

- ``kmeans``, ``random``: ``init_params="kmeans"`` / ``"random"``;
- ``short_em``: the default ``init_params="short_em"`` (5 short runs alternating
  k-means and random partitions, tol 1e-3 nats per sample, at most 50 iterations);
- variants of short_em, set through ``mixexp._init``'s constants in the worker:
  ``short_em tol=1e-2`` (looser, flexmix's initFlexmix-like), ``short_em tol=1e-4``
  and ``short_em runs=10``.

Reported per dataset and start: the median over seeds of the final mean
per-sample training log-likelihood (``log_likelihood(X, y).mean()``), its gap to
the best fit of any start on that dataset, and the total fit seconds.  Times
are measured with other jobs running on 2 shared cores: ratios, not speeds.
Writes ``<out>/start_methods.md`` and ``.csv``.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import csv
import importlib.util
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")
METHODS = {
    "kmeans": ("kmeans", None),
    "random": ("random", None),
    "short_em": ("short_em", {}),
    "short_em tol=1e-2": ("short_em", {"SHORT_TOL": 1e-2}),
    "short_em tol=1e-4": ("short_em", {"SHORT_TOL": 1e-4}),
    "short_em runs=10": ("short_em", {"SHORT_RUNS": 10}),
}


def load_dataset(name, data_dir, max_samples):
    """The rows and standardised inputs benchmarks/start_quality.py fits."""
    from start_quality import load_dataset as load_start_quality

    X, y, task, _ = load_start_quality(name, data_dir, max_samples)
    return X, y, task


_WARM = []


def _warm_up():
    """One small fit of each kind per worker, so no timed fit pays for imports and compiles."""
    from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor

    rs = np.random.RandomState(0)
    X = rs.randn(200, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MixtureOfExpertsRegressor(2, random_state=0).fit(X, X[:, 0])
        MixtureOfExpertsClassifier(2, random_state=0).fit(X, X[:, 0] > 0)
    _WARM.append(True)


def run_fit(name, task, method, seed, X, y):
    import mixexp._init as init
    from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor

    if not _WARM:
        _warm_up()

    kind, constants = METHODS[method]
    saved = {key: getattr(init, key) for key in ("SHORT_TOL", "SHORT_RUNS")}
    for key, value in (constants or {}).items():
        setattr(init, key, value)
    Est = MixtureOfExpertsRegressor if task == "regression" else MixtureOfExpertsClassifier
    est = Est(n_experts=4, init_params=kind, random_state=seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est.fit(X, y)
            seconds = time.perf_counter() - t0
    finally:
        for key, value in saved.items():
            setattr(init, key, value)
    return {"dataset": name, "task": task, "method": method, "seed": seed,
            "mean_ll": float(est.log_likelihood(X, y).mean()), "score": float(est.score(X, y)),
            "n_iter": int(est.n_iter_), "seconds": seconds}


def main(argv=None):
    from joblib import Parallel, delayed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["all"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--max-samples", type=int, default=2000)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    if not os.path.isdir(args.data_dir):
        print(f"{args.data_dir} not found: the development datasets are needed.")
        return 1
    spec = importlib.util.spec_from_file_location("shared_data_load", os.path.join(args.data_dir, "load.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    names = mod.names(root=args.data_dir) if args.datasets == ["all"] else args.datasets
    start = time.time()
    jobs = []
    for name in names:
        X, y, task = load_dataset(name, args.data_dir, args.max_samples)
        jobs += [(name, task, m, s, X, y) for m in METHODS for s in range(args.seeds)]
    fits = Parallel(n_jobs=args.n_jobs, verbose=0)(delayed(run_fit)(*job) for job in jobs)
    wall = time.time() - start
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "start_methods.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fits[0]))
        w.writeheader()
        w.writerows(fits)
    cmd = f"python benchmarks/start_methods.py --seeds {args.seeds} --max-samples {args.max_samples} --n-jobs {args.n_jobs}"
    lines = ["# Starts compared: final log-likelihood and time", "",
             f"`{cmd}` ({wall / 60:.1f} min; measured with other jobs on 2 shared cores, times are "
             "not speed claims).", "",
             f"Per dataset: median over {args.seeds} seeds of the final mean per-sample training "
             "log-likelihood (nats), and in brackets its median gap to the best fit of any start on that "
             "dataset; `s`: fit seconds summed over the seeds. `n_experts=4`, default EM settings.", ""]
    header = "| dataset | " + " | ".join(METHODS) + " |"
    lines += [header, "|---|" + "---:|" * len(METHODS)]
    gaps = {m: [] for m in METHODS}
    secs = {m: 0.0 for m in METHODS}
    wins = {m: 0 for m in METHODS}
    for name in names:
        rows = [f for f in fits if f["dataset"] == name]
        best = max(f["mean_ll"] for f in rows)
        cells, med = [], {}
        for m in METHODS:
            ll = np.array([f["mean_ll"] for f in rows if f["method"] == m])
            sec = sum(f["seconds"] for f in rows if f["method"] == m)
            gaps[m].append(np.median(best - ll))
            secs[m] += sec
            med[m] = np.median(ll)
            cells.append(f"{np.median(ll):.4f} ({np.median(best - ll):.4f}), {sec:.1f} s")
        top = max(med.values())
        for m in METHODS:
            wins[m] += med[m] >= top - 1e-4
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| summary | " + " | ".join(METHODS) + " |", "|---|" + "---:|" * len(METHODS),
              "| mean of median gaps (nats/sample) | " + " | ".join(f"{np.mean(gaps[m]):.4f}" for m in METHODS) + " |",
              "| datasets with the best median (±1e-4) | " + " | ".join(str(wins[m]) for m in METHODS) + " |",
              "| total fit seconds | " + " | ".join(f"{secs[m]:.0f}" for m in METHODS) + " |",
              "| seconds relative to kmeans | " + " | ".join(f"{secs[m] / secs['kmeans']:.2f}" for m in METHODS) + " |"]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(args.out, "start_methods.md"), "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
