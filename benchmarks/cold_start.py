"""Cold start: import, first fit and first predictions in a fresh process (issue 30, item 9).

    PYTHONPATH=<checkout> python benchmarks/cold_start.py [--n 10000]

Runs a child process twice with ``NUMBA_CACHE_DIR`` set to one new empty directory: the
first run compiles every kernel it uses (an empty numba cache, as after install), the second
loads them from that cache.  Each child reports wall and CPU seconds of ``import mixexp``,
the default ``MixtureOfExpertsRegressor(random_state=0).fit`` on
``make_moe_regression(n, 10, 3)``, the first ``predict`` and the first
``HierarchicalMixtureOfExpertsRegressor(2, 2).fit`` + ``predict_node_gates``.  Prints a
Markdown table.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
def clock():
    return time.perf_counter(), time.process_time()
def since(t):
    w, c = clock()
    return [round(w - t[0], 2), round(c - t[1], 2)]
out = {}
t = clock(); import mixexp; out["import mixexp"] = since(t)
from mixexp import HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsRegressor
from mixexp.datasets import make_moe_regression
X, y = make_moe_regression(int(sys.argv[1]), 10, 3, random_state=0)
t = clock(); model = MixtureOfExpertsRegressor(random_state=0).fit(X, y); out["first fit (MoE)"] = since(t)
t = clock(); model.predict(X); out["first predict"] = since(t)
t = clock(); hme = HierarchicalMixtureOfExpertsRegressor(2, 2, random_state=0).fit(X, y)
out["first fit (HME)"] = since(t)
t = clock(); hme.predict_node_gates(X); out["first predict_node_gates"] = since(t)
print(json.dumps(out))
"""


def run(n, cache):
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    res = subprocess.run([sys.executable, "-c", CHILD, str(n)], env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        cold, warm = run(args.n, cache), run(args.n, cache)
    print("| step | empty cache: wall s | CPU s | filled cache: wall s | CPU s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for step in cold:
        print(f"| {step} | {cold[step][0]} | {cold[step][1]} | {warm[step][0]} | {warm[step][1]} |")
