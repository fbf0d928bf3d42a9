"""Cold start: import, first fits and first predictions in a fresh process (issue 30, item 9).

    PYTHONPATH=<checkout> python benchmarks/cold_start.py [--n 10000] [--dataframe]

Runs a child process twice with ``NUMBA_CACHE_DIR`` set to one new directory (the child
checks that it is empty on its first run): the first run compiles every kernel it uses
(an empty numba cache, as after install), the second loads them from that cache.  Each
child reports, in this order and each step's wall and CPU seconds (CPU: all threads of
the process):

- ``import mixexp``;
- the default ``MixtureOfExpertsRegressor(random_state=0).fit`` on
  ``make_moe_regression(n, 10, 3)`` and its first ``predict``;
- the default ``MixtureOfExpertsClassifier(random_state=0).fit`` on
  ``make_moe_classification(n, 10, 3)`` and its first ``predict_proba``;
- ``HierarchicalMixtureOfExpertsRegressor(2, 2).fit``, its first ``predict_node_gates`` and
  its ``summary`` (standard errors) on the first 2000 rows;

and after each step the number of compiled specialisations of mixexp's numba kernels
(one per kernel and argument types).  ``--dataframe`` gives every method the features as a
pandas DataFrame (whose arrays are Fortran-ordered and read-only) instead of an array.
Prints a Markdown table, and the load average (``os.getloadavg``) before and after: the
machine is shared, and compilation is CPU-bound.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, sys, time
if sys.argv[2] == "cold" and os.listdir(os.environ["NUMBA_CACHE_DIR"]):
    sys.exit("NUMBA_CACHE_DIR is not empty: not a cold start")
def clock():
    return time.perf_counter(), time.process_time()
def kernels():
    from numba.core.registry import CPUDispatcher
    return sum(len(v.signatures) for name, mod in list(sys.modules.items())
               if name.startswith("mixexp") and mod is not None
               for v in vars(mod).values()
               if isinstance(v, CPUDispatcher) and v.py_func.__module__ == name)
out = {}
def since(step, t):
    w, c = clock()
    out[step] = [round(w - t[0], 2), round(c - t[1], 2), kernels()]
n = int(sys.argv[1])
if sys.argv[3] == "dataframe":
    import pandas as pd
t = clock(); import mixexp; since("import mixexp", t)
from mixexp import (HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsClassifier,
                    MixtureOfExpertsRegressor)
from mixexp.datasets import make_moe_classification, make_moe_regression
X, y = make_moe_regression(n, 10, 3, random_state=0)
Xc, yc = make_moe_classification(n, 10, 3, random_state=0)
if sys.argv[3] == "dataframe":
    X, Xc = pd.DataFrame(X), pd.DataFrame(Xc)
t = clock(); model = MixtureOfExpertsRegressor(random_state=0).fit(X, y)
since("first fit (MoE regressor)", t)
t = clock(); model.predict(X); since("first predict", t)
t = clock(); clf = MixtureOfExpertsClassifier(random_state=0).fit(Xc, yc)
since("first fit (MoE classifier)", t)
t = clock(); clf.predict_proba(Xc); since("first predict_proba", t)
t = clock(); hme = HierarchicalMixtureOfExpertsRegressor(2, 2, random_state=0).fit(X, y)
since("first fit (HME regressor)", t)
t = clock(); hme.predict_node_gates(X); since("first predict_node_gates", t)
t = clock(); hme.summary(X[:2000], y[:2000]); since("first summary (HME)", t)
print(json.dumps(out))
"""


def run(n, cache, kind, features):
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    cmd = [sys.executable, "-c", CHILD, str(n), kind, features]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(res.stderr)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dataframe", action="store_true", help="features as a pandas DataFrame")
    args = parser.parse_args()
    features = "dataframe" if args.dataframe else "array"
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as cache:
        cold, warm = run(args.n, cache, "cold", features), run(args.n, cache, "warm", features)
    load_after = os.getloadavg()
    print(f"n = {args.n}, features as {features}; load average (1, 5, 15 min) before {load_before}, "
          f"after {load_after}\n")
    print("| step | empty cache: wall s | CPU s | filled cache: wall s | CPU s | kernels compiled so far |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for step, (w, c, k) in cold.items():
        print(f"| {step} | {w} | {c} | {warm[step][0]} | {warm[step][1]} | {k} |")
    total = [round(sum(v[i] for v in d.values()), 2) for d in (cold, warm) for i in (0, 1)]
    print(f"| total | {total[0]} | {total[1]} | {total[2]} | {total[3]} | |")


if __name__ == "__main__":
    main()
