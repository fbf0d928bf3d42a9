"""Does a start on a subsample lose fit quality?  Default fits of two checkouts, side by side.

    python benchmarks/start_rows.py --checkouts /path/before,/path/after [--seeds 5]
        [--max-samples 20000] [--experts 4,8] [--data-dir ../shared/data]
        [--out benchmarks/results/start_rows.md]

The default ``init_params="short_em"`` start (k-means, five short EM runs, a tree's
arrangement) works on a random subsample of the rows (``mixexp._init.start_rows``); EM on
all rows continues from it.  For every development dataset with more than 3000 rows
(shuffled with ``default_rng(0)``, cut to ``--max-samples`` rows, inputs standardised) and
every ``n_experts`` in ``--experts``, each checkout fits the default
``MixtureOfExpertsRegressor`` / ``MixtureOfExpertsClassifier`` with ``random_state`` 0..seeds-1
in a fresh process with one BLAS thread (the checkouts alternate per dataset, so they see
the same load).  Reported per case: the median mean train log-likelihood
(``log_likelihood(X, y).mean()``) of each checkout, the median and the smallest paired
difference (after - before, same seed) with its smallest and largest, and the median fit
time of each.  ``--out`` writes a markdown report and, beside it, a CSV with every fit.

The data are ``../shared/data`` relative to the repository root; without them the script
says so and exits.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data")
sys.path.insert(0, HERE)
from start_quality import load_dataset  # noqa: E402  (the same shuffle, cut and standardisation)


def worker(a):
    import warnings

    from threadpoolctl import threadpool_limits

    from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor

    X, y, task, _ = load_dataset(a.dataset, a.data_dir, a.max_samples)
    Est = MixtureOfExpertsRegressor if task == "regression" else MixtureOfExpertsClassifier
    Est(n_experts=2, max_iter=2).fit(X[:200], y[:200])  # compile outside the timing
    out = []
    for seed in range(a.seeds):
        est = Est(n_experts=a.k, random_state=seed)
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est.fit(X, y)
            sec = time.perf_counter() - t0
        out.append({"ll": float(est.log_likelihood(X, y).mean()), "s": sec, "n_iter": int(est.n_iter_)})
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkouts", required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--max-samples", type=int, default=20000)
    ap.add_argument("--experts", default="4,8")
    ap.add_argument("--datasets", default="kin8nm,puma8NH,2dplanes,fried,abalone,pendigits,satimage,letter,waveform_21,optdigits")
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--dataset")
    ap.add_argument("--k", type=int)
    a = ap.parse_args()
    if a.worker:
        return worker(a)
    if not os.path.exists(os.path.join(a.data_dir, "load.py")):
        print(f"no development data at {a.data_dir}: nothing to measure")
        return
    checkouts = a.checkouts.split(",")
    names = [f"{os.path.basename(c.rstrip('/'))} ({_commit(c)})" for c in checkouts]
    lines = [
        f"| dataset | n x d | experts | median ll {' / '.join(names)} | paired diff median (min, max) "
        f"| median fit s {' / '.join(names)} | speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = []
    load0 = os.getloadavg()[0]
    print(f"load average at start {load0:.2f}", flush=True)
    t0 = time.time()
    for name in a.datasets.split(","):
        X = load_dataset(name, a.data_dir, a.max_samples)[0]
        for k in (int(v) for v in a.experts.split(",")):
            res = []
            for path in checkouts:
                cmd = [sys.executable, __file__, "--worker", "--checkouts", path, "--dataset", name, "--k", str(k),
                       "--seeds", str(a.seeds), "--max-samples", str(a.max_samples), "--data-dir", a.data_dir]
                env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
                res.append(json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout))
            ll = [np.array([f["ll"] for f in r]) for r in res]
            sec = [float(np.median([f["s"] for f in r])) for r in res]
            diff = ll[-1] - ll[0]
            line = (f"| {name} | {X.shape[0]} x {X.shape[1]} | {k} | " + " / ".join(f"{np.median(v):.4f}" for v in ll)
                    + f" | {np.median(diff):+.4f} ({diff.min():+.4f}, {diff.max():+.4f}) | "
                    + " / ".join(f"{v:.2f}" for v in sec) + f" | {sec[0] / sec[-1]:.2f}x |")
            lines.append(line)
            print(line, flush=True)
            for path, r in zip(checkouts, res):
                rows += [(name, k, path, seed, f["ll"], f["s"], f["n_iter"]) for seed, f in enumerate(r)]
    load1 = os.getloadavg()[0]
    print(f"load average at end {load1:.2f}")
    if a.out:
        head = [
            "# Default fits with the start on a subsample, side by side", "",
            f"`python benchmarks/start_rows.py --checkouts {a.checkouts} --seeds {a.seeds} --experts {a.experts} "
            f"--max-samples {a.max_samples} --datasets {a.datasets}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t0))}, "
            f"{(time.time() - t0) / 60:.1f} min, load average {load0:.2f} at start and {load1:.2f} at end, "
            "one BLAS thread per fit.", "",
            "Every cell: the default estimator with only `n_experts` and `random_state` (0.."
            f"{a.seeds - 1}) set; ll is the mean train log-likelihood per sample, the paired difference is "
            "last checkout minus first for the same seed. Every fit is in the CSV beside this file.", "",
        ]
        with open(a.out, "w") as fh:
            fh.write("\n".join(head + lines) + "\n")
        with open(os.path.splitext(a.out)[0] + ".csv", "w") as fh:
            fh.write("dataset,n_experts,checkout,random_state,mean_ll,seconds,n_iter\n")
            fh.writelines(",".join(str(v) for v in row) + "\n" for row in rows)


def _commit(path):
    try:
        out = subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


if __name__ == "__main__":
    main()
