"""The arithmetic floor of a prediction at 10^6 rows (issue 30's predict target).

    PYTHONPATH=. python benchmarks/predict_arithmetic.py [reps]

A prediction of these models must compute its gate's logits relative to each
group's first member (a softmax needs one column and one exp fewer per group)
and its experts' outputs, and exponentiate its logits.  The *floor* of a model
is that work alone: one product of X's rows with the model's total width
(``floor_shape``) and one exp per relative logit, chunk by chunk on the
prediction's own threads (``mixexp._predict.map_rows``): no normalising,
mixing, intercepts or validation.  Issue 30's target is every model's
``predict`` / ``predict_proba`` within 1.3x its floor (the Gaussian gate's
within 1.5x).  ``benchmarks/speed.py`` times the floor with ``predict_floor``
beside each prediction; this script prints the floors alone, with one GEMM
pass ``X @ B`` (B: d x K, issue 16's retired yardstick, ``gemm_pass``) for scale.  Minimum
over ``reps`` (default 5) of each timing.
"""

import os
import sys
import time

import numpy as np

N, D = 10**6, 20
N_CLASSES = 3  # the classifier of speed.py's targets part
MODELS = {"reg": ("regressor", 16), "clf": ("classifier, 3 classes", 16),
          "hme": ("HME (depth 3, branching 2)", 8), "gauss": ("regressor, gaussian gate", 16)}


def floor_shape(kind, d, K):
    """(product columns, exponentials) per row that a prediction of ``kind`` computes at least.

    The gate's relative logits (a binary tree's: one per inner node; a Gaussian gate: as many
    multiply-adds as K triangular whitenings of x, K (d + 1) / 2 columns, and K exps) and the
    experts' outputs (classifier: ``N_CLASSES - 1`` relative class logits per leaf, each
    exponentiated)."""
    if kind == "clf":
        return (K - 1) + (N_CLASSES - 1) * K, (K - 1) + (N_CLASSES - 1) * K
    if kind == "hme":
        return (K - 1) + K, K - 1
    if kind == "gauss":
        return K * (d + 1) // 2 + K, K
    return (K - 1) + K, K - 1


def predict_floor(kind, X, K):
    """Seconds of one floor of ``kind`` on ``X``: ``exp(X[rows] @ W)`` chunk by chunk on the
    prediction's threads, W scaled so that no exponential takes numpy's slow path."""
    from mixexp._predict import map_rows

    width, n_exp = floor_shape(kind, X.shape[1], K)
    W = 0.01 * np.random.default_rng(1).standard_normal((X.shape[1], width))

    def chunk(rows):
        Z = X[rows] @ W
        return (np.exp(Z[:, :n_exp]).sum(axis=1),)

    t = time.perf_counter()
    map_rows(X.shape[0], chunk)
    return time.perf_counter() - t


def gemm_pass(X, K, threads, reps=5):
    """Seconds of one GEMM pass ``X @ B`` (B: d x K): the fastest of ``reps`` on BLAS with one
    and with ``threads`` threads (two BLAS threads spin on a busy machine)."""
    from threadpoolctl import threadpool_limits

    B = np.random.default_rng(0).standard_normal((X.shape[1], K))
    best = np.inf
    for t in sorted({1, threads}):
        with threadpool_limits(t, user_api="blas"):
            for _ in range(reps):
                t0 = time.perf_counter()
                X @ B
                best = min(best, time.perf_counter() - t0)
    return best


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    X = np.random.default_rng(0).standard_normal((N, D))
    print(f"| model (n=10^6, d={D}) | columns | exps | floor | GEMM pass (K columns) | floor / pass |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind, (name, K) in MODELS.items():
        width, n_exp = floor_shape(kind, D, K)
        floor = min(predict_floor(kind, X, K) for _ in range(reps))
        gemm = gemm_pass(X, K, os.cpu_count(), reps)
        print(f"| {name}, K={K} | {width} | {n_exp} | {1e3 * floor:.1f} ms | {1e3 * gemm:.1f} ms "
              f"| {floor / gemm:.2f}x |")


if __name__ == "__main__":
    main()
