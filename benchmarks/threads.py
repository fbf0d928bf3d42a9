#!/usr/bin/env python
"""Fits with the default threads against one thread, on a quiet and on a busy machine.

A "busy" machine here is this one with ``--burners`` extra processes (default:
one per core) spinning in pure Python for the whole measurement, as other
users' jobs would.  Every configuration runs in a fresh subprocess, once with
mixexp's default thread count and once limited to one thread
(``NUMBA_NUM_THREADS=1``, which mixexp's thread count follows), so the two
are measured side by side under the same load.

Usage::

    python benchmarks/threads.py                    # quiet and busy, all configurations
    python benchmarks/threads.py --load busy --reps 3
    PYTHONPATH=/path/to/other/checkout python benchmarks/threads.py   # another mixexp

Writes benchmarks/results/threads.md (``--out``).  Time per EM iteration is
``(fit(max_iter=11) - fit(max_iter=1)) / 10`` with ``tol=0``, so it excludes
the initialisation; "fit" is a whole default fit.
"""

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CONFIGS = [
    # (label, n, d, K, what)
    ("EM iteration, n=2000, d=8, K=4", 2000, 8, 4, "iteration"),
    ("EM iteration, n=20000, d=10, K=8", 20000, 10, 8, "iteration"),
    ("EM iteration, n=100000, d=20, K=8", 100000, 20, 8, "iteration"),
    ("default fit, kin8nm-like n=2000, d=8, K=8", 2000, 8, 8, "fit"),
    ("default fit, n=100000, d=20, K=8", 100000, 20, 8, "fit"),
]

_WORKER = r"""
import json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_moe_regression
n, d, K, what, reps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
X, y = make_moe_regression(n_samples=n, n_features=d, n_experts=K, random_state=0)
MixtureOfExpertsRegressor(n_experts=K, max_iter=2, random_state=0).fit(X[:3000], y[:3000])  # compile

def timed(**params):
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        model = MixtureOfExpertsRegressor(n_experts=K, random_state=0, **params).fit(X, y)
        best = min(best, time.perf_counter() - t)
    return best, model

if what == "iteration":
    # a k-means start: the default start (short EM runs) would dominate both fits
    t1, _ = timed(max_iter=1, tol=0.0, init_params="kmeans")
    t11, _ = timed(max_iter=11, tol=0.0, init_params="kmeans")
    print(json.dumps({"seconds": (t11 - t1) / 10}))
else:
    t, model = timed()
    print(json.dumps({"seconds": t, "n_iter": model.n_iter_}))
"""


def _burn():
    while True:
        pass


def run_config(n, d, K, what, threads, reps):
    env = dict(os.environ)
    if threads is not None:
        env["NUMBA_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, str(n), str(d), str(K), what, str(reps)],
        capture_output=True, text=True, env=env, timeout=3600,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--load", choices=["quiet", "busy", "both"], default="both")
    ap.add_argument("--burners", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-n", type=int, default=10**9)
    ap.add_argument("--what", choices=["iteration", "fit", "both"], default="both",
                    help="time EM iterations, whole default fits, or both")
    ap.add_argument("--out", default=str(HERE / "results" / "threads.md"))
    args = ap.parse_args(argv)
    import mixexp

    loads = ["quiet", "busy"] if args.load == "both" else [args.load]
    rows = []
    for load in loads:
        burners = []
        if load == "busy":
            burners = [mp.Process(target=_burn, daemon=True) for _ in range(args.burners)]
            for b in burners:
                b.start()
            time.sleep(1.0)
        try:
            for label, n, d, K, what in CONFIGS:
                if n > args.max_n or args.what not in ("both", what):
                    continue
                default = run_config(n, d, K, what, None, args.reps)
                single = run_config(n, d, K, what, 1, args.reps)
                ratio = default["seconds"] / single["seconds"]
                rows.append((load, label, default["seconds"], single["seconds"], ratio))
                print(f"{load:5s} {label:45s} default {default['seconds'] * 1e3:9.1f} ms  "
                      f"1 thread {single['seconds'] * 1e3:9.1f} ms  ratio {ratio:5.2f}", flush=True)
        finally:
            for b in burners:
                b.terminate()
    lines = [
        "# Default threads against one thread",
        "",
        f"`python benchmarks/threads.py` on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"mixexp from `{Path(mixexp.__file__).parent}`; busy = {args.burners} spinning processes; "
        f"best of {args.reps}.",
        "",
        "| load | configuration | default threads | one thread | default / one |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for load, label, t_default, t_single, ratio in rows:
        lines.append(f"| {load} | {label} | {t_default * 1e3:.1f} ms | {t_single * 1e3:.1f} ms | {ratio:.2f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
