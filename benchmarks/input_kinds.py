"""The same data, held as a dense array, a CSR matrix, a DataFrame or a dask array (issue 30, item 5).

    PYTHONPATH=<checkout> python benchmarks/input_kinds.py [--dask-rows 200000]

Part 1: ``make_moe_regression(2000, 5, 3, random_state=0)`` with half its entries set to 0;
``MixtureOfExpertsRegressor(3, random_state=0)`` at ``tol=1e-4`` (default) and ``1e-8``
(``max_iter=2000``), fitted on the dense array, its CSR matrix and a DataFrame of it: the
largest difference of the predictions from the dense fit's, and the final lower bounds.
Part 2: ``make_moe_regression(n, 10, 4, random_state=0)``, ``init_params="kmeans"``,
``max_iter=30``, ``tol=0``: the in-memory fit against the dask fit (chunks of 50,000 rows,
the threaded scheduler), the largest prediction difference in standard deviations of y.
Prints a Markdown table.
"""

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_moe_regression


def part1():
    X, y = make_moe_regression(2000, 5, 3, random_state=0)
    X = np.where(np.random.default_rng(0).uniform(size=X.shape) < 0.5, X, 0.0)
    print("| tol | input | max abs. prediction difference from dense | relative | lower bound | iterations |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for tol in (1e-4, 1e-8):
        fits = {}
        for kind, data in (("dense", X), ("CSR", sp.csr_matrix(X)), ("DataFrame", pd.DataFrame(X))):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fits[kind] = MixtureOfExpertsRegressor(3, random_state=0, tol=tol, max_iter=2000).fit(data, y)
        ref = fits["dense"].predict(X)
        for kind, model in fits.items():
            diff = np.abs(model.predict(X) - ref).max()
            print(f"| {tol:g} | {kind} | {diff:.3g} | {diff / np.abs(ref).max():.3g} | "
                  f"{model.lower_bound_:.10f} | {model.n_iter_} |")


def part2(n):
    import dask.array as da

    X, y = make_moe_regression(n, 10, 4, random_state=0)
    kw = dict(init_params="kmeans", max_iter=30, tol=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        mem = MixtureOfExpertsRegressor(4, **kw).fit(X, y)
        t_mem = time.perf_counter() - t
        t = time.perf_counter()
        dsk = MixtureOfExpertsRegressor(4, **kw).fit(da.from_array(X, chunks=(50_000, 10)),
                                                     da.from_array(y, chunks=50_000))
        t_dask = time.perf_counter() - t
    diff = np.abs(mem.predict(X) - dsk.predict(X)).max() / y.std()
    print(f"\n| {n} rows, kmeans start, 30 iterations | in memory | dask |\n| --- | ---: | ---: |")
    print(f"| lower bound | {mem.lower_bound_:.8f} | {dsk.lower_bound_:.8f} |")
    print(f"| fit seconds | {t_mem:.1f} | {t_dask:.1f} |")
    print(f"| max prediction difference / sd(y) | | {diff:.3g} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dask-rows", type=int, default=200_000)
    args = parser.parse_args()
    part1()
    if args.dask_rows:
        part2(args.dask_rows)
