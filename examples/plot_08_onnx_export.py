"""
ONNX export
===========

``mixexp.onnx.to_onnx`` turns a fitted mixture with a softmax gate and linear (or
Student-t) experts into an ONNX graph that onnxruntime runs without mixexp, numba or
scikit-learn (the ``onnx`` extra). Its predictions match ``predict`` to rounding.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort

from mixexp import HierarchicalMixtureOfExpertsRegressor
from mixexp.datasets import make_hme_regression
from mixexp.onnx import to_onnx

X, y = make_hme_regression(n_samples=2000, n_features=4, depth=2, random_state=0)
model = HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, random_state=0).fit(X, y)

graph = to_onnx(model, X[:5])
session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
print("inputs:", [i.name for i in session.get_inputs()], "outputs:", [o.name for o in session.get_outputs()])
mean_onnx, std_onnx = session.run(None, {"X": X})
mean, std = model.predict(X, return_std=True)
print(f"largest relative difference: mean {np.max(np.abs(mean_onnx - mean) / np.abs(mean).max()):.1e}, "
      f"std {np.max(np.abs(std_onnx - std) / std.max()):.1e}")

# %%
# Latency for one row
# -------------------
# A rough timing on the machine that built these pages (shared, so not a benchmark).


def per_call(f, repeat=200):
    f()
    start = time.perf_counter()
    for _ in range(repeat):
        f()
    return (time.perf_counter() - start) / repeat * 1e6


row = X[:1]
times = {"onnxruntime": per_call(lambda: session.run(None, {"X": row})),
         "mixexp predict": per_call(lambda: model.predict(row))}
for name, us in times.items():
    print(f"{name:15s} {us:8.1f} µs per call")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
left.scatter(mean, mean_onnx, s=4)
left.set(xlabel="mixexp predict", ylabel="onnxruntime", title="the same predictions")
right.barh(list(times), list(times.values()))
right.set(xlabel="µs per call, one row", title="latency of one row")
fig.tight_layout()
