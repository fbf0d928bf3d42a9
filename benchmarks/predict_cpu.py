"""Single-thread CPU time of predict (classifier: predict_proba) at 10^6 rows, d=20.

    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=<checkout> python benchmarks/predict_cpu.py KIND [reps]

KIND is one of speed.py's models (reg, clf, hme, gauss), fitted with max_iter=5 on
20,000 rows.  Prints the minimum wall and CPU time over ``reps`` predictions: on one
thread the CPU time is little affected by other load, so checkouts run in turn
compare fairly on a busy machine.
"""

import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from speed import make_data, make_estimator  # noqa: E402

warnings.simplefilter("ignore")
kind = sys.argv[1]
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
K = 8 if kind == "hme" else 16
X, y = make_data(kind, 10**6, 20, K)
est = make_estimator(kind, K, max_iter=5).fit(X[:20000], y[:20000])
method = est.predict_proba if kind == "clf" else est.predict
method(X[:1000])
walls, cpus = [], []
for _ in range(reps):
    t, c = time.perf_counter(), time.process_time()
    method(X)
    cpus.append(time.process_time() - c)
    walls.append(time.perf_counter() - t)
print(f"{os.environ.get('PYTHONPATH', '.')} {kind} predict: wall min {min(walls) * 1e3:.1f} ms, "
      f"CPU min {min(cpus) * 1e3:.1f} ms")
