"""Beyond one machine's memory: the dask fit on a chunked on-disk array, and partial_fit.

    python benchmarks/scale.py                     # 10^7 rows x 20 features, K = 8 (about 15-30 min)
    python benchmarks/scale.py --rows 1000000      # a quick look

Needs the dask extra (``pip install -e ".[dask]"``).  Steps, each in its own
process so that every peak memory is that step's own:

1. ``generate``: rows simulated from a known mixture of 8 linear experts
   under a softmax gate, block by block (``--block-rows``), written to zarr
   stores under ``--store`` (X: float64, n x 20; y: float64); never whole in
   memory.
2. ``dask``: a ``distributed.LocalCluster`` (2 worker processes, 1 thread
   each) fits ``MixtureOfExpertsRegressor(8)`` to the stores: a cold fit of
   one EM iteration (standardisation passes, k-means start on a sample of
   ``mixexp.dask.INIT_ROWS`` rows, one iteration), then a ``warm_start`` fit
   of 4 iterations whose EM prints each iteration's wall time (``verbose=2``):
   their median is the time per EM iteration.  Peak resident memory of each
   worker and of the client.
3. ``memory``: the same protocol in memory on the first ``--memory-rows`` rows.
4. ``online``: ``partial_fit`` over those rows in batches of 10^4: rows per second.

Results: ``benchmarks/results/scale.md`` and ``scale.json``.  Timings are
wall-clock on the machine it runs on; say how loaded it was.
"""

import argparse
import contextlib
import io
import json
import os
import re
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N_FEATURES, N_EXPERTS = 20, 8


def _peak_rss():
    """This process's peak resident memory, bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _truth(d=N_FEATURES, k=N_EXPERTS):
    rs = np.random.RandomState(0)
    return rs.randn(k, d) * 1.5, rs.randn(k, d), rs.randn(k) * 2.0


def simulate(rows, seed):
    """``rows`` rows of the known mixture (block ``seed``)."""
    V, B, c = _truth()
    rs = np.random.RandomState(1000 + seed)
    X = rs.randn(rows, N_FEATURES)
    logits = X @ V.T + rs.gumbel(size=(rows, N_EXPERTS))  # Gumbel-max draws the expert
    k = np.argmax(logits, axis=1)
    y = np.einsum("ij,ij->i", X, B[k]) + c[k] + 0.5 * rs.randn(rows)
    return X, y


def generate(args):
    import zarr

    n, m = args.rows, args.block_rows
    X = zarr.open_array(f"{args.store}/X.zarr", mode="w", shape=(n, N_FEATURES), chunks=(m, N_FEATURES), dtype="f8")
    y = zarr.open_array(f"{args.store}/y.zarr", mode="w", shape=(n,), chunks=(m,), dtype="f8")
    start = time.perf_counter()
    for i, lo in enumerate(range(0, n, m)):
        Xb, yb = simulate(min(m, n - lo), i)
        X[lo : lo + Xb.shape[0]] = Xb
        y[lo : lo + Xb.shape[0]] = yb
    return {"seconds": time.perf_counter() - start, "bytes_X": n * N_FEATURES * 8, "peak_rss": _peak_rss()}


def _protocol(model, fit, iters=4):
    """A cold fit of one iteration, then a warm fit of ``iters`` whose EM reports the wall
    time of each iteration (``verbose=2``): seconds per EM iteration."""
    from sklearn.base import clone

    model = clone(model).set_params(max_iter=1, tol=0.0)
    start = time.perf_counter()
    fit(model)
    cold = time.perf_counter() - start
    model.set_params(warm_start=True, max_iter=iters, verbose=2, verbose_interval=1)
    log = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(log):
        fit(model)
    warm = time.perf_counter() - start
    lapses = [float(t) for t in re.findall(r"time lapse ([0-9.]+)s", log.getvalue())]
    return {"cold_fit_1_iter_s": cold, "warm_fit_s": warm, "n_iter": model.n_iter_,
            "iteration_s": lapses, "per_iteration_s": float(np.median(lapses)),
            "lower_bound": model.lower_bound_}, model


def _model():
    from mixexp import MixtureOfExpertsRegressor

    return MixtureOfExpertsRegressor(N_EXPERTS, init_params="kmeans", random_state=0)


def run_dask(args):
    import dask.array as da
    from distributed import Client, LocalCluster

    X = da.from_zarr(f"{args.store}/X.zarr")
    y = da.from_zarr(f"{args.store}/y.zarr")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        result = _protocol(_model(), lambda model: model.fit(X, y))[0]
        workers = client.run(_peak_rss)
    result.update(rows=X.shape[0], block_rows=X.chunks[0][0], worker_peak_rss=sorted(workers.values()),
                  client_peak_rss=_peak_rss())
    return result


def _memory_rows(args):
    blocks = [simulate(min(args.block_rows, args.memory_rows - lo), i)
              for i, lo in enumerate(range(0, args.memory_rows, args.block_rows))]
    return np.vstack([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


def run_memory(args):
    X, y = _memory_rows(args)
    result, model = _protocol(_model(), lambda model: model.fit(X, y))
    result.update(rows=X.shape[0], peak_rss=_peak_rss(), mean_log_likelihood=float(model.log_likelihood(X, y).mean()))
    return result


def run_online(args):
    X, y = _memory_rows(args)
    model = _model()
    batches = np.array_split(np.arange(X.shape[0]), X.shape[0] // args.batch_rows)
    model.partial_fit(X[batches[0]], y[batches[0]])  # the first call fits its batch: not timed
    start = time.perf_counter()
    for rows in batches[1:]:
        model.partial_fit(X[rows], y[rows])
    seconds = time.perf_counter() - start
    n = sum(len(b) for b in batches[1:])
    return {"rows": n, "batch_rows": args.batch_rows, "seconds": seconds, "rows_per_s": n / seconds,
            "mean_log_likelihood": float(model.log_likelihood(X, y).mean()), "peak_rss": _peak_rss()}


PHASES = {"generate": generate, "dask": run_dask, "memory": run_memory, "online": run_online}


def _gb(b):
    return f"{b / 1e9:.2f} GB"


def report(res, args):
    d, m, o, g = res["dask"], res["memory"], res["online"], res["generate"]
    rate = lambda r: r["rows"] / r["per_iteration_s"]  # noqa: E731
    lines = [
        "# Scale: the dask fit of a chunked on-disk array, the in-memory fit, partial_fit",
        "",
        f"Command: `python benchmarks/scale.py --rows {args.rows} --block-rows {args.block_rows} "
        f"--memory-rows {args.memory_rows}`.",
        f"Machine: {os.cpu_count()} cores, load average at the start {res['load'][0]:.1f} (1 min), "
        f"{res['load'][2]:.1f} (15 min): **measured under load** (other engineers' jobs share the cores), "
        "not a speed claim.",
        f"Model: `MixtureOfExpertsRegressor({N_EXPERTS}, init_params='kmeans')`, {N_FEATURES} features, "
        "data simulated from a known 8-expert mixture.",
        "",
        "| | rows | seconds per EM iteration | rows per second per iteration | peak memory |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| dask, LocalCluster 2 processes x 1 thread, zarr on disk | {d['rows']:,} | {d['per_iteration_s']:.1f} | "
        f"{rate(d):,.0f} | workers {', '.join(_gb(b) for b in d['worker_peak_rss'])}; client {_gb(d['client_peak_rss'])} |",
        f"| in memory, numpy (2 threads) | {m['rows']:,} | {m['per_iteration_s']:.2f} | {rate(m):,.0f} | "
        f"{_gb(m['peak_rss'])} |",
        "",
        f"- Data on disk: X is {_gb(g['bytes_X'])} (float64) in blocks of {d['block_rows']:,} rows; "
        f"generated block by block in {g['seconds']:.0f} s (peak memory {_gb(g['peak_rss'])}).",
        f"- dask cold fit (standardisation and check passes, k-means start on a sample of "
        f"{res['init_rows']:,} rows, one iteration): {d['cold_fit_1_iter_s']:.0f} s; then a warm fit of "
        f"{d['n_iter']} iterations in {d['warm_fit_s']:.0f} s (with its passes before EM), iterations "
        f"{', '.join(f'{t:.1f}' for t in d['iteration_s'])} s: the table gives their median.",
        f"- In memory: cold {m['cold_fit_1_iter_s']:.1f} s; warm fit {m['warm_fit_s']:.1f} s, iterations "
        f"{', '.join(f'{t:.2f}' for t in m['iteration_s'])} s.",
        f"- partial_fit: {o['rows']:,} rows in batches of {o['batch_rows']:,}: {o['rows_per_s']:,.0f} rows per "
        f"second. Mean log-likelihood on those rows after this one pass of partial_fit: "
        f"{o['mean_log_likelihood']:.4f}; after the in-memory fit's 1 + 4 EM iterations: "
        f"{m['mean_log_likelihood']:.4f} (EM far from converged: the timings need only a few iterations).",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--block-rows", type=int, default=250_000)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--store", default="/tmp/mixexp-scale")
    parser.add_argument("--out", default=str(HERE / "results" / "scale.md"))
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.phase:
        print("RESULT " + json.dumps(PHASES[args.phase](args)))
        return
    import mixexp.dask

    res = {"load": os.getloadavg(), "init_rows": mixexp.dask.INIT_ROWS}
    for phase in ("generate", "dask", "memory", "online"):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--phase", phase, *sys.argv[1:]],
                             check=True, capture_output=True, text=True).stdout
        res[phase] = json.loads(out.split("RESULT ", 1)[1])
        print(f"{phase}: {time.perf_counter() - start:.0f} s {res[phase]}", flush=True)
    Path(args.out).write_text(report(res, args))
    Path(args.out).with_suffix(".json").write_text(json.dumps(res, indent=1))
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
