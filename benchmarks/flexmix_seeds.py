"""Time for the default fit to reach flexmix's log-likelihood, over several random_state.

    python benchmarks/flexmix_seeds.py --checkouts /path/a,/path/b [--seeds 10] [--rounds 2]
        [--set KMEANS_MAX_ROWS=20000]

``speed.py --only flexmix`` times the default ``MixtureOfExpertsRegressor(n_experts=5,
random_state=0)`` on n=10^4, d=10, K=5 from the start of ``fit`` to the first pass whose
mean log-likelihood is within 1e-3 of flexmix's final one (0.29971 on these data).  That
time depends on whether one of the five short EM runs of the start happens to get there
(random_state=0 does in its second run) or only the final EM run does, so one seed says
little.  This script takes the same measurement for ``random_state`` 0..seeds-1 (best of
two fits each) and reports every seed and the median.  The checkouts (each on
``PYTHONPATH`` in turn, in a fresh process) alternate ``--rounds`` times, so they see the
same load; ``--set NAME=VALUE`` overrides a constant of ``mixexp._init`` in the last one.
The probe and the data are this script's ``speed.py``'s.
"""

import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FLEXMIX_FINAL = 0.29971  # flexmix's final mean log-likelihood on speed.py's data (LL_TOL 1e-3)


def worker(n_seeds, settings):
    sys.path.insert(0, HERE)
    from speed import make_data, make_estimator, times_to_target

    from mixexp import _init

    for kv in settings:
        name, value = kv.split("=")
        setattr(_init, name, type(getattr(_init, name))(value))
    X, y = make_data("reg", 10**4, 10, 5)
    shift = -np.log(y.std())
    est = make_estimator("reg", 5)
    est.fit(X[:500], y[:500])  # compile outside the measurement
    runs = times_to_target(est, X, y, FLEXMIX_FINAL - 1e-3 - shift, range(n_seeds), repeats=2)
    times = [1e3 * r["t"] if np.isfinite(r["t"]) else np.inf for r in runs]  # inf: never reached
    print(" ".join(f"{t:.0f}" for t in times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkouts", required=True)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--worker", action="store_true")
    a = ap.parse_args()
    if a.worker:
        return worker(a.seeds, a.set)
    checkouts = a.checkouts.split(",")
    print(f"load average at start {os.getloadavg()[0]:.2f}")
    for r in range(a.rounds):
        for i, path in enumerate(checkouts):
            extra = [arg for kv in a.set for arg in ("--set", kv)] if i == len(checkouts) - 1 else []
            out = subprocess.run(
                [sys.executable, __file__, "--worker", "--checkouts", path, "--seeds", str(a.seeds), *extra],
                env=dict(os.environ, PYTHONPATH=path), capture_output=True, text=True, check=True,
            ).stdout.split()
            times = np.array([float(t) for t in out])
            label = path + (" " + " ".join(a.set) if extra else "")
            print(f"round {r}: {label}: ms per random_state {' '.join(out)} | median {np.median(times):.0f}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
