"""ONNX export: onnxruntime against mixexp's predict, agreement, latency and throughput.

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=<checkout> python benchmarks/onnx_latency.py

Models of speed.py's kinds (d=20; flat regressor K=8, classifier K=8 with 3 classes,
HME depth 3), fitted with max_iter=5 on 20,000 rows.  onnxruntime runs on one thread
(``intra_op_num_threads=1``), mixexp on one thread too (the environment above).  Latency:
the median of 2,000 one-row calls; throughput: the minimum of 5 calls on 10^5 rows.
Agreement: the largest difference from predict (classifier: predict_proba) over the 10^5
rows, relative to the largest |prediction|, for float64 and float32 graphs.  Writes
benchmarks/results/onnx_latency.md.
"""

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from speed import make_data, make_estimator  # noqa: E402

from mixexp.onnx import to_onnx  # noqa: E402

warnings.simplefilter("ignore")
OUT = Path(__file__).resolve().parent / "results" / "onnx_latency.md"
N = 10**5
MODELS = [
    ("regressor, K=8", "reg", 8),
    ("classifier (3 classes), K=8", "clf", 8),
    ("HME regressor, depth 3", "hme", 8),
]


def session(model, X):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    proto = to_onnx(model, X[:5])
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def median_call(func, reps=2000):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def best_call(func, reps=5):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return min(times)


rows = []
for label, kind, K in MODELS:
    X, y = make_data(kind, N + 20000, 20, K)
    model = make_estimator(kind, K, max_iter=5).fit(X[:20000], y[:20000])
    X = X[20000:]
    predict = model.predict_proba if kind == "clf" else model.predict
    out = 1 if kind == "clf" else 0
    ref = predict(X)
    errors = []
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        got = session(model, Xd).run(None, {"X": Xd})[out]
        errors.append(np.max(np.abs(got - predict(Xd))) / np.max(np.abs(ref)))
    sess = session(model, X)
    one = X[:1]
    lat_mixexp = median_call(lambda: predict(one))
    lat_onnx = median_call(lambda: sess.run(None, {"X": one}))
    thr_mixexp = best_call(lambda: predict(X))
    thr_onnx = best_call(lambda: sess.run(None, {"X": X}))
    rows.append(
        f"| {label} | {errors[0]:.1e} | {errors[1]:.1e} | {lat_mixexp * 1e6:.0f} | {lat_onnx * 1e6:.0f} "
        f"| {N / thr_mixexp / 1e6:.2f} | {N / thr_onnx / 1e6:.2f} |"
    )
    print(rows[-1], flush=True)

text = "\n".join([
    "# ONNX export: onnxruntime against mixexp's predict",
    "",
    "    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=. python benchmarks/onnx_latency.py",
    "",
    f"onnxruntime {ort.__version__}, one thread each; load average at the end "
    f"{os.getloadavg()[0]:.1f} (2 cores, shared with other jobs). d=20, models fitted with "
    "max_iter=5 on 20,000 rows.",
    "",
    "| model | max error, float64 graph | max error, float32 graph | mixexp, 1 row (µs) "
    "| onnxruntime, 1 row (µs) | mixexp, 10^5 rows (M rows/s) | onnxruntime, 10^5 rows (M rows/s) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    *rows,
    "",
    "Errors: the largest |graph - predict| over 10^5 rows (classifier: predict_proba), "
    "relative to the largest |predict|. Latency: median of 2,000 calls; throughput: best of 5.",
    "",
])
OUT.write_text(text, encoding="utf-8")
print(f"wrote {OUT}")
