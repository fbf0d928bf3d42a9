"""Time of one EM iteration and peak memory of a fit, for two checkouts side by side.

The component issue's check: the engine on row sums must not be slower per
iteration than the engine it replaced, nor use more memory.  Each measurement
runs in a fresh process (``PYTHONPATH`` set to the checkout), alternating the
two checkouts, so both see the same machine load::

    git worktree add /tmp/mixexp-before efab032
    python benchmarks/iteration_before_after.py --before /tmp/mixexp-before --after .

Per iteration = (fit with max_iter=M2 − fit with max_iter=M1) / (M2 − M1), the
same k-means start and ``tol=0`` in both fits, so the start's cost cancels.
Wall time shows what threads buy on a quiet machine; CPU time (all threads,
``time.process_time``) is the work done, which other load disturbs far less.
Peak memory = the growth of the process's peak resident set size (VmHWM)
during the longer fit, over what the process held after building X.
"""

import argparse
import json
import os
import subprocess
import sys

WORKER = r"""
import json, sys, time
import numpy as np
from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_moe_regression

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024

n, d, K, m1, m2 = map(int, sys.argv[1:6])
X, y = make_moe_regression(n_samples=n, n_features=d, n_experts=K, random_state=0)
MixtureOfExpertsRegressor(2, max_iter=2).fit(X[:500], y[:500])  # compile / load numba caches
base = hwm()
out = {}
for m in (m1, m2):
    model = MixtureOfExpertsRegressor(K, init_params="kmeans", n_init=1, max_iter=m, tol=0.0,
                                      random_state=0)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(X, y)
    out[m] = (time.perf_counter() - t0, int(model.n_iter_), time.process_time() - c0)
iters = out[m2][1] - out[m1][1]
print(json.dumps({"per_iter": (out[m2][0] - out[m1][0]) / iters,
                  "cpu_per_iter": (out[m2][2] - out[m1][2]) / iters,
                  "iters": [out[m1][1], out[m2][1]], "peak_growth": hwm() - base,
                  "x_bytes": X.nbytes}))
"""


def measure(path, args, threads):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(path), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", WORKER, *map(str, args)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="checkout of the old engine")
    p.add_argument("--after", default=".", help="checkout of the new engine")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--d", type=int, default=20)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--iters", type=int, nargs=2, default=(5, 25), metavar=("M1", "M2"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    a = p.parse_args(argv)
    args = (a.n, a.d, a.k, *a.iters)
    print(f"n={a.n} d={a.d} K={a.k}, per iteration from max_iter {a.iters[0]} vs {a.iters[1]}; "
          f"smallest of {a.repeats} runs, alternating; load average {os.getloadavg()[0]:.1f}")
    print("| threads | before wall ms/iter | after wall ms/iter | before CPU ms/iter | "
          "after CPU ms/iter | after/before (CPU) | before peak MiB | after peak MiB | X MiB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t in a.threads:
        runs = {"before": [], "after": []}
        for _ in range(a.repeats):
            for side in runs:
                runs[side].append(measure(getattr(a, side), args, t))
        b, f = ({k: min(r[k] for r in runs[side]) for k in runs[side][0]}
                for side in ("before", "after"))
        mib = 2.0 ** 20
        print(f"| {t} | {1e3 * b['per_iter']:.1f} | {1e3 * f['per_iter']:.1f} | "
              f"{1e3 * b['cpu_per_iter']:.1f} | {1e3 * f['cpu_per_iter']:.1f} | "
              f"{f['cpu_per_iter'] / b['cpu_per_iter']:.2f} | {b['peak_growth'] / mib:.0f} | "
              f"{f['peak_growth'] / mib:.0f} | {b['x_bytes'] / mib:.0f} |", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
