"""The least work a prediction at 10^6 rows must do, against one GEMM pass (issue 16).

    OPENBLAS_NUM_THREADS=1 python benchmarks/predict_arithmetic.py [reps]

The target "predict within 2x one GEMM pass X @ B (B: d x K)" compares a
prediction with a product of K columns.  A prediction of these models must
compute more columns than that (its gate's relative logits and its experts'
outputs) and exponentiate its logits.  This script times, on one core and in
the prediction's chunks of 8192 rows of a 10^6 x 20 array, a GEMM with the pass's
width, the model's products as mixexp computes them (one per component), one
product of their total width (the cheapest way to get them), and numpy's exp
of as many columns as the model exponentiates.  ``floor / pass`` is (one
product + exps) / pass: no normalising, mixing, intercepts, validation or
threads.  The Gaussian gate is not timed: its K triangular whitenings are
d (d + 1) / 2 multiply-adds per row and leaf, 11.5 times the pass's flops at
d=20, K=16.  Minimum over ``reps`` (default 5) of each timing.
"""

import sys
import time

import numpy as np

N, D, CHUNK = 10**6, 20, 8192
# model: (K of the pass, widths of its products, exps per row); 3-class classifier
MODELS = {
    "regressor (K=16)": (16, (15, 16), 15),
    "classifier (K=16, 3 classes)": (16, (15, 32), 15 + 32),
    "HME (depth 3, branching 2)": (8, (7, 8), 7),
}


def best(func, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return 1e3 * min(times)


def gemm_ms(X, width, rng, reps):
    W = rng.standard_normal((X.shape[1], width))

    def run():
        for i in range(0, X.shape[0], CHUNK):
            X[i : i + CHUNK] @ W  # each chunk's product is dropped, as prediction's are

    return best(run, reps)


def exp_ms(width, rng, reps):
    Z = 0.01 * rng.standard_normal((CHUNK, width))

    def run():
        for _ in range(-(-N // CHUNK)):
            np.exp(Z)

    return best(run, reps)


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    print("| model | pass | its products | one product of that width | exps | floor / pass |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (K, widths, n_exp) in MODELS.items():
        p = gemm_ms(X, K, rng, reps)
        parts = [gemm_ms(X, w, rng, reps) for w in widths]
        one = gemm_ms(X, sum(widths), rng, reps)
        e = exp_ms(n_exp, rng, reps)
        print(f"| {name} | {p:.1f} ms ({K} columns) | {' + '.join(f'{t:.1f}' for t in parts)} ms "
              f"({' + '.join(map(str, widths))}) | {one:.1f} ms ({sum(widths)}) | {e:.1f} ms ({n_exp}) "
              f"| {(one + e) / p:.2f}x |")


if __name__ == "__main__":
    main()
