#!/usr/bin/env python
"""Speed of mixexp's EM, measured side by side with its floors and baselines.

For every configuration (model, n, d, K) a fresh subprocess generates the data,
fits the mixexp estimator and, on the same data and in the same process, times

* the floors: the flop limit of one M-step (the K weighted Grams,
  ``2 n d^2 K`` flops, divided by the square-matrix GEMM rate measured in this
  run) and plain numpy forming those K Grams one by one,
  ``(X * h[:, k, None]).T @ X`` (classifier: plus the K gradient products);
* (b) a plain-numpy EM with a full Newton gate step (``plain_numpy_em.py``,
  regressor only);

and, separately,

* (c) R's flexmix (``flexmix_bench.R``) from mixexp's own initial partition,
  compared on the time to reach the same log-likelihood (within 1e-3 nats per
  sample);
* the numba compile time (first call in a process with an empty cache, and the
  first call in a second process that finds the cache);
* a profile of one EM iteration (where the time goes).

Per-iteration times come from wrapping ``EMEngine.e_step``, ``m_step``,
``objective`` and ``run`` at run time (mixexp's files are not touched).  Peak
memory growth during ``fit`` is the process's high-water mark (VmHWM, reset
through /proc/self/clear_refs just before ``fit``) minus its resident size
before ``fit``; it includes BLAS and numba allocations.

Usage::

    python benchmarks/speed.py --quick                 # ~3 minutes, a small grid
    python benchmarks/speed.py                         # the issue's full grid (hours)
    python benchmarks/speed.py --max-n 100000 --only floors,mixexp,numpy
    python benchmarks/speed.py --targets-only          # just the configurations of the targets
    python benchmarks/speed.py --render benchmarks/results/speed.json   # re-render the markdown

Results: benchmarks/results/speed.md (``--quick``: speed-quick.md) and the raw
JSON beside it.  Thread counts: ``--threads`` (default: all cores) for BLAS
(threadpoolctl) and numba (``numba.set_num_threads``) in every worker.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
PARTS = ("compile", "threads", "floors", "mixexp", "numpy", "flexmix", "profile")
MODELS = ("reg", "clf", "hme")
MODEL_NAMES = {
    "reg": "MixtureOfExpertsRegressor",
    "clf": "MixtureOfExpertsClassifier",
    "hme": "HierarchicalMixtureOfExpertsRegressor",
}
N_CLASSES = 3  # classifier data
HME_BRANCHING = 2  # HME trees: depth = log2(K)
LL_TOL = 1e-3  # nats per sample: "the same log-likelihood"
RESULT_TAG = "@@RESULT "

# the configurations the targets are stated at
T_FLOOR = ("reg", 10**6, 20, 16)  # iteration vs flop limit and numpy Grams; full fit; memory
T_NUMPY = ("reg", 10**5, 20, 8)  # vs plain-numpy EM
T_FLEX = (10**4, 10, 5)  # vs flexmix (n, d, K)

QUICK = {
    "grid": [("reg", 10**4, 5, 2), ("reg", 10**4, 20, 8), ("clf", 10**4, 5, 4),
             ("hme", 10**4, 5, 4), T_NUMPY],
    "flexmix": [(5000, 5, 3)],
    "profile": [T_NUMPY],
    "fit_budget": 30.0,
    "numpy_iters": 3,
}
FULL = {
    "n": [10**4, 10**5, 10**6],
    "d": [5, 20, 50],
    "K": [2, 4, 8, 16],
    "flexmix": [T_FLEX],
    "profile": [T_NUMPY, T_FLOOR],
    "fit_budget": 300.0,
    "numpy_iters": 5,
}


# =========================================================================== #
# small helpers (parent and workers)
# =========================================================================== #
def now():
    return time.perf_counter()


def loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def _status_kb(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def rss_bytes():
    return _status_kb("VmRSS")


def reset_peak():
    """Reset the high-water mark of resident memory (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_bytes():
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def median(xs):
    return float(np.median(xs)) if len(xs) else None


def timeit(f, reps, min_time=0.0):
    """Median wall time of ``f()`` over ``reps`` calls (after one warm-up call)."""
    f()
    ts = []
    for _ in range(reps):
        t = now()
        f()
        ts.append(now() - t)
        if min_time and sum(ts) > min_time and len(ts) >= 2:
            break
    return float(np.median(ts))


SNAPSHOT = None  # set by main(): a copy of mixexp/ taken when the run starts


def snapshot_mixexp(dest):
    """Copy mixexp/ so that every worker of one run measures the same code."""
    shutil.copytree(ROOT / "mixexp", Path(dest) / "mixexp",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    return str(dest)


def thread_env(threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS", "BLIS_NUM_THREADS"):
        env[var] = str(threads)
    paths = ([SNAPSHOT] if SNAPSHOT else []) + [str(ROOT), str(HERE)]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    return env


def setup_threads(threads):
    """Limit BLAS and numba to ``threads``; return what is in force."""
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(threads)
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    blas = [
        {k: p.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer",
                               "architecture")}
        for p in threadpool_info()
    ]
    return {"threads": threads, "blas": blas, "numba_threads": numba.get_num_threads(),
            "numba_version": numba.__version__}


def numba_layer():
    try:
        import numba

        return numba.threading_layer()
    except Exception:  # no parallel function has run yet
        return None


def gemm_rate(N=2048, reps=5):
    """Square GEMM flop rate: (best, median) in flop/s."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((N, N))
    B = rng.standard_normal((N, N))
    C = np.empty((N, N))
    np.matmul(A, B, out=C)
    ts = []
    for _ in range(reps):
        t = now()
        np.matmul(A, B, out=C)
        ts.append(now() - t)
    flops = 2.0 * N**3
    return flops / min(ts), flops / float(np.median(ts))


# =========================================================================== #
# data and estimators
# =========================================================================== #
def hme_shape(K):
    depth = int(round(math.log(K, HME_BRANCHING)))
    if HME_BRANCHING**depth != K or depth < 1:
        raise ValueError(f"HME needs K a power of {HME_BRANCHING}, got {K}")
    return depth, HME_BRANCHING


def make_data(kind, n, d, K, seed=0):
    from mixexp.datasets import make_hme_regression, make_moe_classification, make_moe_regression

    if kind == "reg":
        return make_moe_regression(n, d, K, noise=0.1, random_state=seed)
    if kind == "clf":
        return make_moe_classification(n, d, K, n_classes=N_CLASSES, random_state=seed)
    depth, b = hme_shape(K)
    return make_hme_regression(n, d, depth=depth, branching=b, noise=0.1, random_state=seed)


def make_estimator(kind, K, **params):
    import mixexp

    params.setdefault("random_state", 0)
    if kind == "hme":
        depth, b = hme_shape(K)
        return mixexp.HierarchicalMixtureOfExpertsRegressor(depth=depth, branching=b, **params)
    return getattr(mixexp, MODEL_NAMES[kind])(n_experts=K, **params)


def floor_flops(kind, n, d, K):
    """The issue's irreducible M-step work: K weighted Grams (classifier: + K gradients)."""
    flops = 2.0 * n * d * d * K
    if kind == "clf":
        flops += 2.0 * n * d * N_CLASSES * K
    return flops


# =========================================================================== #
# instrumentation of mixexp's EM engine (at run time, files untouched)
# =========================================================================== #
class StopFit(Exception):
    """Raised from inside the EM loop to end a fit early (budget or target reached)."""


class Instrument:
    """Wraps EMEngine.run/e_step/m_step/objective and the k-means initialiser.

    ``runs`` holds one record per ``EMEngine.run`` call (the last is the main
    EM run; HME fits first run a flat mixture to initialise): the (start, end)
    of every e_step/m_step and, per objective evaluation, its time and the
    unpenalised mean log-likelihood in internal units.
    """

    def __init__(self, budget=None, stop_at=None, shift=0.0, min_iters=3):
        self.budget = budget
        self.min_iters = min_iters
        self.stop_at = stop_at
        self.shift = shift
        self.runs = []
        self.current = None
        self.labels = None
        self.fit_start = None
        self.engine = None
        self.run_args = None
        self.run_result = None
        self._saved = []

    def _patch(self, owner, name, make):
        orig = getattr(owner, name, None)
        if orig is None:
            return False
        self._saved.append((owner, name, orig))
        setattr(owner, name, make(orig))
        return True

    def __enter__(self):
        import mixexp._base as base
        import mixexp._em as em

        ins = self

        def wrap_run(orig):
            def run(eng, params, Xa, target, sw, *a, **k):
                rec = {"t0": now(), "e": [], "m": [], "obj": [], "t1": None}
                ins.runs.append(rec)
                ins.engine, ins.run_args = eng, (Xa, target, sw)
                prev, ins.current = ins.current, rec
                try:
                    out = orig(eng, params, Xa, target, sw, *a, **k)
                    ins.run_result = out
                    return out
                finally:
                    rec["t1"] = now()
                    ins.current = prev
            return run

        def wrap_step(key):
            def make(orig):
                def step(eng, *a, **k):
                    t0 = now()
                    out = orig(eng, *a, **k)
                    if ins.current is not None:
                        ins.current[key].append((t0, now()))
                    return out
                return step
            return make

        def wrap_objective(orig):
            def objective(eng, params, loglik, sw, *a, **k):
                val = orig(eng, params, loglik, sw, *a, **k)
                t = now()
                rec = ins.current
                if rec is not None:
                    ll = float(sw @ loglik / sw.sum())
                    rec["obj"].append((t, now(), float(val), ll))
                    n_done = len(rec["obj"]) - 1
                    if ins.stop_at is not None and n_done >= 1 and ll + ins.shift >= ins.stop_at:
                        raise StopFit("target reached")
                    # the budget stops a fit only once a few iterations are timed
                    if (ins.budget is not None and t - ins.fit_start > ins.budget
                            and n_done >= ins.min_iters and rec is ins.runs[-1]):
                        raise StopFit("time budget")
                return val
            return objective

        def wrap_kmeans(orig):
            def kmeans_labels(*a, **k):
                labels = orig(*a, **k)
                ins.labels = np.asarray(labels).copy()
                return labels
            return kmeans_labels

        self._patch(em.EMEngine, "run", wrap_run)
        self._patch(em.EMEngine, "e_step", wrap_step("e"))
        self._patch(em.EMEngine, "m_step", wrap_step("m"))
        self._patch(em.EMEngine, "objective", wrap_objective)
        self._patch(base, "kmeans_labels", wrap_kmeans)
        return self

    def __exit__(self, *exc):
        for owner, name, orig in reversed(self._saved):
            setattr(owner, name, orig)
        self._saved = []
        return False

    def main_run(self):
        return self.runs[-1] if self.runs else None

    def analyse(self):
        """Per-iteration times of the main run and the log-likelihood trace."""
        rec = self.main_run()
        if rec is None or len(rec["obj"]) < 1:
            return {}
        obj = rec["obj"]
        # iteration i spans from the end of objective i-1 to objective i
        iters = [obj[i][0] - obj[i - 1][1] for i in range(1, len(obj))]
        # cumulative fit time at each iteration, bookkeeping (the O(n) log-likelihood) excluded
        overhead = np.cumsum([o[1] - o[0] for o in obj])
        cum = [obj[i][0] - self.fit_start - (overhead[i - 1] if i else 0.0)
               for i in range(len(obj))]
        e = [t1 - t0 for t0, t1 in rec["e"][1:]]  # the first E-step precedes iteration 1
        m = [t1 - t0 for t0, t1 in rec["m"]]
        return {
            "init_seconds": obj[0][0] - self.fit_start,
            "iter_times": iters,
            "estep_times": e,
            "mstep_times": m,
            "cum_times": cum,  # [0] = after initialisation, [i] = after iteration i
            "ll_internal": [o[3] for o in obj],
        }


# =========================================================================== #
# worker tasks (each in a fresh subprocess)
# =========================================================================== #
def warmup(kind):
    """A tiny fit: loads the numba cache and sklearn's lazy imports before timing."""
    X, y = make_data(kind, 400, 3, 4, seed=1)
    make_estimator(kind, 4, max_iter=3).fit(X, y)


def task_env(cfg):
    info = setup_threads(cfg["threads"])
    best, med = gemm_rate(cfg.get("gemm_n", 2048), cfg.get("gemm_reps", 5))
    import scipy
    import sklearn

    import mixexp
    warmup("reg")
    info.update(
        gemm_best=best, gemm_median=med, gemm_n=cfg.get("gemm_n", 2048),
        numpy=np.__version__, scipy=scipy.__version__, sklearn=sklearn.__version__,
        python=platform.python_version(), numba_layer=numba_layer(),
        mixexp_file=mixexp.__file__,
    )
    return info


def task_compile(cfg):
    """Time the first and second fit of each model in this process (cache state from outside)."""
    setup_threads(cfg["threads"])
    t = now()
    import mixexp  # noqa: F401
    from mixexp import _kernels
    t_import = now() - t
    compile_seconds = None
    try:
        from numba.core import event as nb_event

        recorder = nb_event.install_recorder("numba:compile")
    except Exception:
        recorder = contextlib.nullcontext(None)
    out = {"import_seconds": t_import, "models": {}}
    with recorder as rec:
        for kind in MODELS:
            X, y = make_data(kind, 600, 3, 4, seed=2)
            times = []
            for _ in range(2):
                est = make_estimator(kind, 4, max_iter=10)
                t = now()
                est.fit(X, y)
                est.predict(X)
                times.append(now() - t)
            out["models"][kind] = {"first": times[0], "second": times[1]}
    if rec is not None:
        compile_seconds, depth, start = 0.0, 0, None
        for ts, ev in rec.buffer:
            if ev.is_start:
                if depth == 0:
                    start = ts
                depth += 1
            else:
                depth -= 1
                if depth == 0 and start is not None:
                    compile_seconds += ts - start
    out["numba_compile_seconds"] = compile_seconds
    hits = misses = 0
    kernels = {}
    for name, obj in vars(_kernels).items():
        stats = getattr(obj, "stats", None)
        if stats is not None and hasattr(stats, "cache_hits"):
            h, m = sum(stats.cache_hits.values()), sum(stats.cache_misses.values())
            kernels[name] = {"hits": h, "misses": m}
            hits += h
            misses += m
    out.update(cache_hits=hits, cache_misses=misses, kernels=kernels,
               first_call_overhead=sum(v["first"] - v["second"] for v in out["models"].values()))
    return out


def numpy_grams_seconds(kind, Xa, K, reps):
    """Plain numpy forming the K weighted Grams one by one (classifier: + K gradients)."""
    n = Xa.shape[0]
    rng = np.random.default_rng(0)
    h = rng.uniform(size=(n, K))
    h /= h.sum(axis=1, keepdims=True)
    R = rng.standard_normal((K, n, N_CLASSES)) if kind == "clf" else None

    def grams():
        out = []
        for k in range(K):
            out.append((Xa * h[:, k, None]).T @ Xa)
            if R is not None:
                out.append(R[k].T @ Xa)
        return out

    return timeit(grams, reps, min_time=20.0)


def task_fit(cfg):
    kind, n, d, K = cfg["kind"], cfg["n"], cfg["d"], cfg["K"]
    parts = cfg["parts"]
    res = {"kind": kind, "n": n, "d": d, "K": K, "load_before": loadavg()}
    res["threads"] = setup_threads(cfg["threads"])
    import mixexp  # noqa: F401

    warmup(kind)
    t = now()
    X, y = make_data(kind, n, d, K, seed=cfg.get("seed", 0))
    res["data_seconds"] = now() - t
    res["X_bytes"] = int(X.nbytes)
    ins = None

    if "mixexp" in parts:
        est = make_estimator(kind, K, **cfg.get("fit_params", {}))
        gc.collect()
        res["peak_reset"] = reset_peak()
        base = rss_bytes() if res["peak_reset"] else peak_bytes()
        with Instrument(budget=cfg.get("fit_budget")) as ins:
            ins.fit_start = t0 = now()
            try:
                est.fit(X, y)
                res["stop"] = "converged" if est.converged_ else "max_iter"
                res["n_iter"] = int(est.n_iter_)
                res["converged"] = bool(est.converged_)
                res["lower_bound"] = float(est.lower_bound_)
            except StopFit as e:
                res["stop"] = str(e)
            res["fit_seconds"] = now() - t0
        res["peak_growth_bytes"] = int(peak_bytes() - base)
        res["numba_layer"] = numba_layer()
        a = ins.analyse()
        res.update({k: a.get(k) for k in ("init_seconds", "iter_times", "estep_times",
                                          "mstep_times")})
        res["n_iter_timed"] = len(a.get("iter_times") or [])
        res["n_runs"] = len(ins.runs)
        del est
        gc.collect()

    if "floors" in parts:
        Xa = np.hstack([X, np.ones((n, 1))])
        res["numpy_grams_seconds"] = numpy_grams_seconds(kind, Xa, K, cfg.get("reps", 3))
        del Xa
        res["gemm_here"] = gemm_rate(1024, 3)[0]

    if "numpy" in parts and kind == "reg" and n <= cfg.get("numpy_max_n", 10**5):
        from plain_numpy_em import PlainNumpyMoE

        labels = ins.labels if ins is not None and ins.labels is not None else None
        if labels is None:
            from sklearn.cluster import KMeans

            labels = KMeans(K, n_init=1, random_state=0).fit(np.column_stack([X, y])).labels_
        em = PlainNumpyMoE(K, max_iter=cfg.get("numpy_iters", 5), tol=-np.inf)
        em.fit(X, y, labels, time_budget=cfg.get("numpy_budget", 120.0))
        res["numpy_em"] = {
            "iters": em.n_iter_,
            "iter_median": median(em.iter_times_),
            "gate_median": median(em.gate_times_),
            "expert_median": median(em.expert_times_),
            "estep_median": median(em.estep_times_),
        }
    res["load_after"] = loadavg()
    return res


def mean_loglik_flexmix(X, y, fx):
    """Mean log-likelihood of flexmix's fitted parameters, recomputed here."""
    from scipy.special import logsumexp

    Xr = np.hstack([np.ones((X.shape[0], 1)), X])
    P = np.asarray(fx["expert_params"], dtype=float)  # (d + 2, K): intercept, slopes, sigma
    B, sigma = P[:-1], P[-1]
    G = np.asarray(fx["gate_coef"], dtype=float)  # (d + 1, K)
    logits = Xr @ G
    log_gate = logits - logsumexp(logits, axis=1, keepdims=True)
    r = y[:, None] - Xr @ B
    log_dens = -0.5 * (np.log(2 * np.pi * sigma**2) + r**2 / sigma**2)
    return float(logsumexp(log_gate + log_dens, axis=1).mean())


def task_flexmix(cfg):
    n, d, K = cfg["n"], cfg["d"], cfg["K"]
    res = {"n": n, "d": d, "K": K, "load_before": loadavg()}
    res["threads"] = setup_threads(cfg["threads"])
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {**res, "skipped": "Rscript not found (Debian: apt-get install r-base-core r-cran-flexmix)"}
    chk = subprocess.run([rscript, "-e", "library(flexmix); library(jsonlite)"],
                         capture_output=True, text=True)
    if chk.returncode != 0:
        return {**res, "skipped": "R package flexmix or jsonlite missing (r-cran-flexmix, r-cran-jsonlite)"}
    import mixexp  # noqa: F401

    warmup("reg")
    X, y = make_data("reg", n, d, K, seed=cfg.get("seed", 0))
    shift = -float(np.log(np.std(y)))  # internal (standardised y) -> original units

    # mixexp's own initial partition: a one-iteration fit with the same random_state
    with Instrument() as ins:
        ins.fit_start = now()
        make_estimator("reg", K, max_iter=1).fit(X, y)
    labels = ins.labels

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        header = ",".join([f"x{j + 1}" for j in range(d)] + ["y"])
        np.savetxt(data, np.column_stack([X, y]), delimiter=",", header=header, comments="",
                   fmt="%.17g")
        np.savetxt(Path(tmp) / "labels.txt", labels, fmt="%d")
        out = Path(tmp) / "out.json"
        cmd = [rscript, str(HERE / "flexmix_bench.R"), str(data), str(Path(tmp) / "labels.txt"),
               str(K), str(cfg.get("iter_max", 200)), str(cfg.get("tolerance", 1e-6)), str(out)]
        t = now()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=cfg.get("timeout", 3600))
        res["rscript_seconds"] = now() - t
        if p.returncode != 0:
            return {**res, "error": p.stderr[-2000:]}
        fx = json.loads(out.read_text())
    res["flexmix"] = {k: fx[k] for k in ("iterations", "converged", "loglik_per_sample",
                                         "seconds", "seconds_per_iteration", "k_final",
                                         "trace_per_sample", "versions")}
    res["flexmix_ll_python"] = mean_loglik_flexmix(X, y, fx)
    target = fx["loglik_per_sample"]
    trace = np.asarray(fx["trace_per_sample"], dtype=float)
    if trace.size:
        first = int(np.argmax(trace >= target - LL_TOL)) + 1  # iterations to get within LL_TOL
        res["flexmix"]["iters_to_target"] = first
        res["flexmix"]["seconds_to_target"] = fx["seconds"] * first / max(len(trace), 1)

    # mixexp, stopped as soon as it is within LL_TOL of flexmix's final log-likelihood
    est = make_estimator("reg", K, tol=0.0, max_iter=cfg.get("mixexp_max_iter", 2000))
    with Instrument(stop_at=target - LL_TOL, shift=shift, budget=cfg.get("fit_budget", 300.0)) as ins:
        ins.fit_start = t0 = now()
        try:
            est.fit(X, y)
            stop = "max_iter"
        except StopFit as e:
            stop = str(e)
        wall = now() - t0
    a = ins.analyse()
    ll = np.asarray(a["ll_internal"]) + shift
    reached = np.flatnonzero(ll >= target - LL_TOL)
    res["mixexp"] = {
        "stop": stop, "wall_seconds": wall, "init_seconds": a["init_seconds"],
        "iter_median": median(a["iter_times"]), "best_ll": float(ll.max()),
        "trace": ll.tolist(), "cum_times": a["cum_times"],
    }
    if reached.size:
        i = int(reached[0])
        res["mixexp"]["iters_to_target"] = i
        res["mixexp"]["seconds_to_target"] = a["cum_times"][i]

    # and with its defaults (tol=1e-4): what a user gets
    est = make_estimator("reg", K)
    t = now()
    est.fit(X, y)
    res["mixexp_default"] = {
        "seconds": now() - t, "n_iter": int(est.n_iter_), "converged": bool(est.converged_),
        "loglik": float(est.log_likelihood(X, y).mean()),
    }
    res["load_after"] = loadavg()
    return res


def task_profile(cfg):
    """Where one EM iteration's time goes: component timings on the engine's own arrays."""
    kind, n, d, K = cfg["kind"], cfg["n"], cfg["d"], cfg["K"]
    res = {"kind": kind, "n": n, "d": d, "K": K, "load_before": loadavg(), "components": []}
    res["threads"] = setup_threads(cfg["threads"])
    import mixexp._em as em_mod

    warmup(kind)
    X, y = make_data(kind, n, d, K, seed=0)
    est = make_estimator(kind, K, max_iter=cfg.get("profile_iters", 5 if n <= 10**5 else 2),
                         tol=0.0)
    with Instrument() as ins:
        ins.fit_start = now()
        est.fit(X, y)
    eng = ins.engine
    Xa, target, sw = ins.run_args
    params, leaf_post = ins.run_result[0], ins.run_result[4]
    reps = cfg.get("reps", 5 if n <= 10**5 else 2)
    comps = res["components"]

    def add(group, name, f, note=""):
        try:
            comps.append({"group": group, "name": name, "seconds": timeit(f, reps, 10.0),
                          "note": note})
        except Exception as exc:  # internals change: report, don't fail
            comps.append({"group": group, "name": name, "seconds": None,
                          "note": f"unavailable: {type(exc).__name__}: {exc}"[:150]})

    # whole steps
    add("total", "e_step", lambda: eng.e_step(params, Xa, target))
    add("total", "m_step", lambda: eng.m_step(params, Xa, target, sw, leaf_post))

    # E-step parts
    gate = params["gate"]
    add("e_step", "gate logits GEMM  Xa @ gate.T", lambda: Xa @ gate.T,
        f"({n}x{Xa.shape[1]}) @ ({Xa.shape[1]}x{gate.shape[0]})")
    try:
        from mixexp._kernels import tree_posteriors
        experts = eng.experts
        if kind != "clf":
            from mixexp._kernels import gaussian_logdens
            means = experts.means(Xa, params["experts"])
            add("e_step", "expert means GEMM  Xa @ coef.T",
                lambda: experts.means(Xa, params["experts"]))
            out = np.empty((n, params["experts"]["coef"].shape[0]))
            add("e_step", "gaussian_logdens kernel",
                lambda: gaussian_logdens(means, target, params["experts"]["var"], out))
        else:
            add("e_step", "expert logits GEMM  Xa @ coef.T",
                lambda: experts.logits(Xa, params["experts"]))
            add("e_step", "expert logdens (GEMM + kernel)",
                lambda: experts.logdens(Xa, target, params["experts"]))
        logits = Xa @ gate.T
        logdens = experts.logdens(Xa, target, params["experts"])
        post, ll = np.empty_like(leaf_post), np.empty(n)
        add("e_step", "tree_posteriors kernel",
            lambda: tree_posteriors(logits, logdens, eng.tree.branching, post, ll))
        add("e_step", "objective (penalty + weighted sum)",
            lambda: eng.objective(params, ll, sw))
    except Exception as exc:
        comps.append({"group": "e_step", "name": "parts", "seconds": None,
                      "note": f"unavailable: {exc}"[:150]})

    # M-step parts: time every helper the M-step calls, during real M-steps
    calls = {}
    wrapped = []

    def wrap(module, name):
        f = getattr(module, name, None)
        if f is None or not callable(f):
            return
        key = f"{module.__name__.replace('mixexp.', '')}.{name}"

        def g(*a, **k):
            t = now()
            try:
                return f(*a, **k)
            finally:
                c = calls.setdefault(key, [0, 0.0])
                c[0] += 1
                c[1] += now() - t
        wrapped.append((module, name, f))
        setattr(module, name, g)

    import importlib

    for modname, names in [
        ("mixexp._em", ["softmax_mstep", "bound_factor", "tree_posteriors", "matmul_rows",
                        "weighted_grams"]),
        ("mixexp.gates.softmax", ["softmax_residual", "cho_solve", "matmul_rows", "tdot_rows"]),
        ("mixexp.experts.gaussian", ["weighted_grams", "solve_psd", "gaussian_logdens",
                                     "matmul_rows", "tdot_rows"]),
        ("mixexp.experts.multinomial", ["softmax_mstep", "multinomial_logdens", "weighted_grams",
                                        "matmul_rows"]),
    ]:
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        for name in names:
            wrap(mod, name)
    try:
        calls.clear()
        n_rep = 3 if n <= 10**5 else 1
        t = now()
        for _ in range(n_rep):
            eng.m_step(params, Xa, target, sw, leaf_post)
        res["m_step_wrapped_seconds"] = (now() - t) / n_rep
        res["calls_per_m_step"] = {k: [c[0] / n_rep, c[1] / n_rep] for k, c in calls.items()}
        if kind != "clf":
            # the experts' M-step alone (gate excluded)
            W = leaf_post * sw[:, None]
            add("m_step", "experts.mstep (all K experts)",
                lambda: eng.experts.mstep(
                    Xa, target, W, params["experts"],
                    np.flatnonzero(W.sum(axis=0) > em_mod.MIN_WEIGHT_FRACTION * sw.sum())))
    finally:
        for module, name, f in reversed(wrapped):
            setattr(module, name, f)
    # raw building blocks, for scale
    h = leaf_post[:, 0].copy()
    add("blocks", "one weighted Gram  (Xa*w).T @ Xa", lambda: (Xa * h[:, None]).T @ Xa)
    add("blocks", "one elementwise pass  Xa * w", lambda: Xa * h[:, None])
    R = np.empty((n, gate.shape[0]))
    add("blocks", "gate gradient GEMM  R.T @ Xa", lambda: R.T @ Xa)
    res["load_after"] = loadavg()
    return res


def task_emloop(cfg):
    """A fit of exactly ``iters`` EM iterations, for py-spy to sample."""
    setup_threads(cfg["threads"])
    kind, n, d, K = cfg["kind"], cfg["n"], cfg["d"], cfg["K"]
    warmup(kind)
    X, y = make_data(kind, n, d, K, seed=0)
    make_estimator(kind, K, max_iter=cfg.get("iters", 10), tol=0.0).fit(X, y)
    return {"ok": True}


def task_threads(cfg):
    """Per-iteration time of a small fit under one threading set-up (set by the parent)."""
    res = {"threads": setup_threads(cfg["threads"])}
    warmup("reg")
    X, y = make_data("reg", cfg["n"], cfg["d"], cfg["K"], seed=0)
    est = make_estimator("reg", cfg["K"], max_iter=cfg.get("iters", 5), tol=0.0)
    with Instrument() as ins:
        ins.fit_start = t = now()
        est.fit(X, y)
        res["fit_seconds"] = now() - t
    a = ins.analyse()
    res.update(iter_median=median(a["iter_times"]), init_seconds=a["init_seconds"],
               numba_layer=numba_layer(), load=loadavg())
    return res


TASKS = {"env": task_env, "threads": task_threads, "compile": task_compile, "fit": task_fit, "flexmix": task_flexmix,
         "profile": task_profile, "emloop": task_emloop}


def worker_main(spec):
    import warnings

    warnings.simplefilter("ignore")
    cfg = json.loads(spec)
    out = TASKS[cfg["task"]](cfg)
    sys.stdout.write(RESULT_TAG + json.dumps(out) + "\n")
    sys.stdout.flush()


# =========================================================================== #
# parent: run workers
# =========================================================================== #
def run_worker(cfg, threads, timeout, env_extra=None, prefix=None):
    env = thread_env(threads)
    if env_extra:
        env.update(env_extra)
    cfg = {**cfg, "threads": threads}
    cmd = (prefix or []) + [sys.executable, str(Path(__file__).resolve()), "--worker",
                            json.dumps(cfg)]
    t = now()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           cwd=SNAPSHOT or str(ROOT))
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s", "wall": now() - t}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            out = json.loads(line[len(RESULT_TAG):])
            out["wall"] = now() - t
            return out
    return {"error": (p.stderr or p.stdout)[-3000:], "wall": now() - t}


def THREAD_VARIANTS(threads):
    """Threading set-ups compared by the ``threads`` part: all cores three ways, and one core."""
    cores = os.cpu_count() or 1
    return [
        (f"{cores} threads, numba's default layer", cores, {}),
        (f"{cores} threads, OMP_WAIT_POLICY=PASSIVE", cores, {"OMP_WAIT_POLICY": "PASSIVE"}),
        (f"{cores} threads, NUMBA_THREADING_LAYER=workqueue", cores,
         {"NUMBA_THREADING_LAYER": "workqueue"}),
        ("1 thread (BLAS and numba)", 1, {}),
    ]


def log(msg):
    print(f"[{datetime.datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_list(s, cast=int):
    return [cast(float(v)) for v in s.split(",") if v.strip()]


def build_grid(args):
    if args.quick:
        grid = list(QUICK["grid"])
    else:
        models = args.models.split(",")
        grid = []
        for kind in models:
            for n in args.n:
                for d in args.d:
                    for K in args.K:
                        if kind == "hme" and (K < 4 or HME_BRANCHING ** round(math.log(K, 2)) != K):
                            continue  # a depth-1 "tree" is the flat mixture
                        grid.append((kind, n, d, K))
        # the targets' configurations first, then cheapest first
        grid.sort(key=lambda c: (c not in (T_NUMPY, T_FLOOR), c[1] * c[2] ** 2 * c[3]))
    if args.targets_only:
        grid = [T_NUMPY, T_FLOOR]
    return [c for c in grid if c[1] <= args.max_n]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small grid (~3 minutes)")
    ap.add_argument("--targets-only", action="store_true",
                    help="only the configurations the targets are stated at")
    ap.add_argument("--only", default=",".join(PARTS),
                    help=f"comma-separated parts among {','.join(PARTS)}")
    ap.add_argument("--models", default="reg,clf,hme", help="grid models: reg,clf,hme")
    ap.add_argument("--n", type=parse_list, default=FULL["n"], help="grid n values")
    ap.add_argument("--d", type=parse_list, default=FULL["d"], help="grid d values")
    ap.add_argument("--K", type=parse_list, default=FULL["K"], help="grid K values")
    ap.add_argument("--max-n", type=lambda s: int(float(s)), default=10**9,
                    help="skip grid configurations with more samples")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="BLAS and numba threads (default: all cores)")
    ap.add_argument("--fit-budget", type=float, default=None,
                    help="seconds after which a mixexp fit is stopped (iterations so far kept)")
    ap.add_argument("--numpy-iters", type=int, default=None, help="plain-numpy EM iterations timed")
    ap.add_argument("--numpy-max-n", type=lambda s: int(float(s)), default=10**5,
                    help="largest n for the plain-numpy EM")
    ap.add_argument("--flexmix", default=None,
                    help="flexmix configurations n:d:K[,n:d:K...] (default: quick 5000:5:3, full 10000:10:5)")
    ap.add_argument("--profile", default=None,
                    help="profile configurations n:d:K[,...] for the regressor")
    ap.add_argument("--pyspy", action="store_true", help="also sample the EM loop with py-spy")
    ap.add_argument("--total-budget", type=float, default=None,
                    help="seconds after which no new grid configuration is started")
    ap.add_argument("--worker-timeout", type=float, default=3600.0)
    ap.add_argument("--out", default=None,
                    help="markdown output (default benchmarks/results/speed.md, "
                         "--quick: speed-quick.md); the raw JSON goes beside it")
    ap.add_argument("--render", default=None, help="re-render the markdown from a raw JSON")
    ap.add_argument("--no-snapshot", action="store_true",
                    help="import mixexp from the work tree in every worker instead of a copy "
                         "taken at the start (edits during the run then mix versions)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker is not None:
        return worker_main(args.worker)
    out_md = Path(args.out or RESULTS / ("speed-quick.md" if args.quick else "speed.md"))
    out_json = out_md.with_suffix(".json")
    if args.render:
        data = json.loads(Path(args.render).read_text())
        out_md.write_text(render(data))
        log(f"wrote {out_md}")
        return 0

    parts = set(args.only.split(","))
    unknown = parts - set(PARTS)
    if unknown:
        ap.error(f"unknown parts {sorted(unknown)}; choose among {PARTS}")
    preset = QUICK if args.quick else FULL
    fit_budget = args.fit_budget or preset["fit_budget"]
    numpy_iters = args.numpy_iters or preset["numpy_iters"]
    flex_cfgs = ([tuple(int(float(v)) for v in c.split(":")) for c in args.flexmix.split(",")]
                 if args.flexmix else preset["flexmix"])
    prof_cfgs = ([("reg",) + tuple(int(float(v)) for v in c.split(":"))
                  for c in args.profile.split(",")] if args.profile else preset["profile"])
    prof_cfgs = [c for c in prof_cfgs if c[1] <= args.max_n]
    threads = args.threads
    global SNAPSHOT
    snap_dir = tempfile.mkdtemp(prefix="mixexp-bench-src-")
    if not args.no_snapshot:
        SNAPSHOT = snapshot_mixexp(snap_dir)
    command = "python " + " ".join(shlex.quote(a) for a in
                                   [os.path.relpath(__file__, ROOT)] + list(argv or sys.argv[1:]))
    data = {
        "command": command,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "git": git_info(),
        "parts": sorted(parts),
        "load_start": loadavg(),
        "settings": {"fit_budget": fit_budget, "numpy_iters": numpy_iters,
                     "numpy_max_n": args.numpy_max_n, "threads": threads, "quick": args.quick},
        "configs": [], "flexmix": [], "profile": [], "pyspy": [],
    }
    t_start = now()

    def save():
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(data, indent=1))
        out_md.write_text(render(data))

    log(f"environment and GEMM rate ({threads} threads)")
    data["env"] = run_worker({"task": "env"}, threads, 600)
    log(f"  square GEMM: {data['env'].get('gemm_best', float('nan')) / 1e9:.1f} GFLOP/s best")

    cache_dir = tempfile.mkdtemp(prefix="mixexp-numba-cache-")
    cache_env = {"NUMBA_CACHE_DIR": cache_dir}
    try:
        if "compile" in parts:
            log("numba compile time: two process starts with a fresh NUMBA_CACHE_DIR")
            first = run_worker({"task": "compile"}, threads, 1200, cache_env)
            second = run_worker({"task": "compile"}, threads, 1200, cache_env)
            data["compile"] = {"first": first, "second": second}
            log(f"  first call overhead {first.get('first_call_overhead', float('nan')):.2f} s,"
                f" second start {second.get('first_call_overhead', float('nan')):.2f} s")
            save()

        if "threads" in parts:
            log("threading set-ups on a small fit (reg n=10^4, d=20, K=8, 5 iterations)")
            data["threading"] = []
            for label, th, extra in THREAD_VARIANTS(threads):
                r = run_worker({"task": "threads", "n": 10**4, "d": 20, "K": 8}, th, 900,
                               {**cache_env, **extra})
                r.update(label=label, env=extra, n_threads=th)
                data["threading"].append(r)
                log(f"  {label}: iteration {fmt_t(r.get('iter_median'))}, fit {fmt_t(r.get('fit_seconds'))}")
            save()

        grid = build_grid(args) if parts & {"floors", "mixexp", "numpy"} else []
        for i, (kind, n, d, K) in enumerate(grid):
            if args.total_budget and now() - t_start > args.total_budget:
                log(f"total budget reached: {len(grid) - i} configurations not run")
                data["not_run"] = [list(c) for c in grid[i:]]
                break
            log(f"[{i + 1}/{len(grid)}] {kind} n={n} d={d} K={K}")
            cfg = {"task": "fit", "kind": kind, "n": n, "d": d, "K": K,
                   "parts": sorted(parts), "fit_budget": fit_budget,
                   "numpy_iters": numpy_iters, "numpy_max_n": args.numpy_max_n}
            r = run_worker(cfg, threads, args.worker_timeout, cache_env)
            r.update(kind=kind, n=n, d=d, K=K)
            data["configs"].append(r)
            log("  " + summary_line(r, data["env"]))
            save()

        if "flexmix" in parts:
            for n, d, K in flex_cfgs:
                log(f"flexmix vs mixexp: n={n} d={d} K={K}")
                r = run_worker({"task": "flexmix", "n": n, "d": d, "K": K,
                                "fit_budget": fit_budget}, threads, args.worker_timeout, cache_env)
                r.update(n=n, d=d, K=K)
                data["flexmix"].append(r)
                if "skipped" in r:
                    log(f"  skipped: {r['skipped']}")
                elif "error" in r:
                    log(f"  error: {r['error'][-500:]}")
                else:
                    log(f"  flexmix {r['flexmix']['seconds']:.1f} s ({r['flexmix']['iterations']} it)"
                        f", ll {r['flexmix']['loglik_per_sample']:.5f}; mixexp to target "
                        f"{r['mixexp'].get('seconds_to_target', float('nan')):.3f} s")
                save()

        if "profile" in parts:
            for kind, n, d, K in prof_cfgs:
                log(f"profile {kind} n={n} d={d} K={K}")
                r = run_worker({"task": "profile", "kind": kind, "n": n, "d": d, "K": K},
                               threads, args.worker_timeout, cache_env)
                r.update(kind=kind, n=n, d=d, K=K)
                data["profile"].append(r)
                save()
                if args.pyspy:
                    data["pyspy"].append(run_pyspy(kind, n, d, K, threads, cache_env,
                                                   args.worker_timeout))
                    save()
        data["load_end"] = loadavg()
        data["seconds"] = now() - t_start
        env2 = run_worker({"task": "env", "gemm_reps": 3}, threads, 600)
        data["env_end"] = {k: env2.get(k) for k in ("gemm_best", "gemm_median")}
        save()
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
        shutil.rmtree(snap_dir, ignore_errors=True)
    log(f"wrote {out_md} and {out_json} ({data['seconds']:.0f} s)")
    return 0


def run_pyspy(kind, n, d, K, threads, cache_env, timeout):
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        return {"kind": kind, "n": n, "d": d, "K": K, "skipped": "py-spy not installed"}
    log(f"py-spy {kind} n={n} d={d} K={K}")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.txt"
        iters = 10 if n <= 10**5 else 3
        r = run_worker({"task": "emloop", "kind": kind, "n": n, "d": d, "K": K, "iters": iters},
                       threads, timeout, cache_env,
                       prefix=[pyspy, "record", "-r", "50", "-f", "raw", "-o", str(raw), "--"])
        if not raw.exists():
            return {"kind": kind, "n": n, "d": d, "K": K, "error": r.get("error", "no output")}
        return {"kind": kind, "n": n, "d": d, "K": K, **aggregate_pyspy(raw.read_text())}


def aggregate_pyspy(text):
    """Samples inside the main EM loop, by innermost mixexp frame and by step."""
    by_line, by_step, total = {}, {}, 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        if any(f.startswith("warmup (") for f in frames):
            continue
        if not any(re.match(r"(?:\w+\.)?run \(.*_em\.py", f) for f in frames):
            continue
        c = int(count)
        total += c
        step = "other"
        for f in frames:
            m = re.match(r"(?:\w+\.)?(e_step|m_step|objective) \(", f)
            if m:
                step = m.group(1)
        by_step[step] = by_step.get(step, 0) + c
        inner = [f for f in frames if "mixexp/" in f]
        key = inner[-1] if inner else frames[-1]
        key = re.sub(r"\(.*?mixexp/", "(", key)
        by_line[key] = by_line.get(key, 0) + c
    top = sorted(by_line.items(), key=lambda kv: -kv[1])[:20]
    return {"samples": total, "by_step": by_step, "top": top}


# =========================================================================== #
# environment description
# =========================================================================== #
def machine_info():
    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": mem,
            "platform": platform.platform()}


def git_info():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "mixexp"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        import hashlib

        h = hashlib.sha1()
        for f in sorted(Path(SNAPSHOT or ROOT, "mixexp").rglob("*.py")):
            h.update(f.read_bytes())
        return {"head": head, "mixexp_dirty": bool(dirty), "mixexp_sha1": h.hexdigest()[:12]}
    except OSError:
        return {}


# =========================================================================== #
# rendering
# =========================================================================== #
def fmt_t(s):
    if s is None or (isinstance(s, float) and not math.isfinite(s)):
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_x(r, digits=3):
    if r is None or not math.isfinite(r):
        return "–"
    return f"{r:.{digits}g}×"


def fmt_n(n):
    e = math.log10(n)
    return f"10^{int(e)}" if e == int(e) else f"{n:g}"


def gemm(data):
    vals = [data.get("env", {}).get("gemm_best"), (data.get("env_end") or {}).get("gemm_best")]
    vals = [v for v in vals if v]
    return max(vals) if vals else None


def cfg_metrics(r, rate):
    """Derived numbers of one grid configuration."""
    m = {}
    it = median(r.get("iter_times") or [])
    m["iter"] = it
    m["m"] = median(r.get("mstep_times") or [])
    m["e"] = median(r.get("estep_times") or [])
    m["limit"] = floor_flops(r["kind"], r["n"], r["d"], r["K"]) / rate if rate else None
    m["grams"] = r.get("numpy_grams_seconds")
    m["vs_limit"] = it / m["limit"] if it and m["limit"] else None
    m["vs_grams"] = it / m["grams"] if it and m["grams"] else None
    pk = r.get("peak_growth_bytes")
    m["mem_x"] = pk / r["X_bytes"] if pk is not None and r.get("X_bytes") else None
    ne = r.get("numpy_em") or {}
    m["numpy_iter"] = ne.get("iter_median")
    m["numpy_speedup"] = ne["iter_median"] / it if ne.get("iter_median") and it else None
    return m


def summary_line(r, env):
    if "error" in r:
        return "ERROR: " + r["error"].strip().splitlines()[-1][:300]
    m = cfg_metrics(r, (env or {}).get("gemm_best"))
    parts = [f"iter {fmt_t(m['iter'])} (m {fmt_t(m['m'])}, e {fmt_t(m['e'])})"]
    if r.get("n_iter") is not None:
        parts.append(f"{r['n_iter']} it ({r.get('stop')}) fit {fmt_t(r.get('fit_seconds'))}")
    elif r.get("stop"):
        parts.append(f"stopped: {r['stop']} after {r.get('n_iter_timed')} it, fit {fmt_t(r.get('fit_seconds'))}")
    parts.append(f"limit {fmt_t(m['limit'])} ({fmt_x(m['vs_limit'])}), grams {fmt_t(m['grams'])} ({fmt_x(m['vs_grams'])})")
    if m["mem_x"] is not None:
        parts.append(f"peak +{r['peak_growth_bytes'] / 2**20:.0f} MiB ({m['mem_x']:.2f}× X)")
    if m["numpy_speedup"]:
        parts.append(f"numpy EM {fmt_t(m['numpy_iter'])} ({fmt_x(m['numpy_speedup'])})")
    return "; ".join(parts)


def find_cfg(data, key):
    for r in data.get("configs", []):
        if (r["kind"], r["n"], r["d"], r["K"]) == key and "error" not in r:
            return r
    return None


def targets(data):
    rate = gemm(data)
    rows = []
    nm = "not measured in this run"
    r = find_cfg(data, T_FLOOR)
    m = cfg_metrics(r, rate) if r else {}
    tag = "n=10^6, d=20, K=16"
    if m.get("vs_limit"):
        rows.append((f"one EM iteration ≤ 5× flop limit ({tag})",
                     f"{fmt_t(m['iter'])} vs limit {fmt_t(m['limit'])}: {fmt_x(m['vs_limit'])}",
                     m["vs_limit"] <= 5))
    else:
        rows.append((f"one EM iteration ≤ 5× flop limit ({tag})", nm, None))
    if m.get("vs_grams"):
        rows.append((f"one EM iteration faster than numpy's one-by-one Grams ({tag})",
                     f"{fmt_t(m['iter'])} vs {fmt_t(m['grams'])}: {fmt_x(m['vs_grams'])}",
                     m["vs_grams"] < 1))
    else:
        rows.append((f"one EM iteration faster than numpy's one-by-one Grams ({tag})", nm, None))
    if r and r.get("fit_seconds") is not None:
        done = r.get("n_iter") is not None
        txt = (f"{fmt_t(r['fit_seconds'])} ({r['n_iter']} iterations, {r['stop']})" if done else
               f"> {fmt_t(r['fit_seconds'])} (stopped by the time budget after "
               f"{r.get('n_iter_timed')} iterations)")
        rows.append((f"full fit < 60 s ({tag})", txt, done and r["fit_seconds"] < 60))
    else:
        rows.append((f"full fit < 60 s ({tag})", nm, None))
    if m.get("mem_x") is not None:
        rows.append((f"peak memory growth during fit < 3× X ({tag})",
                     f"{r['peak_growth_bytes'] / 2**20:.0f} MiB = {m['mem_x']:.2f}× X "
                     f"({r['X_bytes'] / 2**20:.0f} MiB)", m["mem_x"] < 3))
    else:
        rows.append((f"peak memory growth during fit < 3× X ({tag})", nm, None))
    r = find_cfg(data, T_NUMPY)
    m = cfg_metrics(r, rate) if r else {}
    if m.get("numpy_speedup"):
        rows.append(("≥ 10× faster per iteration than plain-numpy EM (n=10^5, d=20, K=8)",
                     f"{fmt_t(m['numpy_iter'])} vs {fmt_t(m['iter'])}: {fmt_x(m['numpy_speedup'])}",
                     m["numpy_speedup"] >= 10))
    else:
        rows.append(("≥ 10× faster per iteration than plain-numpy EM (n=10^5, d=20, K=8)", nm, None))
    fx = [f for f in data.get("flexmix", []) if "mixexp" in f]
    if fx:
        f = fx[0]
        t_fx = f["flexmix"].get("seconds_to_target")
        t_mx = f["mixexp"].get("seconds_to_target")
        tag = f"n={f['n']}, d={f['d']}, K={f['K']}"
        if t_mx:
            ratio = t_fx / t_mx
            rows.append((f"≥ 100× faster than flexmix to the same log-likelihood ({tag})",
                         f"{fmt_t(t_fx)} vs {fmt_t(t_mx)}: {fmt_x(ratio)}", ratio >= 100))
        else:
            rows.append((f"≥ 100× faster than flexmix to the same log-likelihood ({tag})",
                         f"mixexp did not reach flexmix's {f['flexmix']['loglik_per_sample']:.5f} "
                         f"(best {f['mixexp']['best_ll']:.5f})", False))
    else:
        why = next((f.get("skipped") or f.get("error", "")[-200:] for f in data.get("flexmix", [])),
                   nm)
        rows.append(("≥ 100× faster than flexmix to the same log-likelihood", why, None))
    c = data.get("compile")
    if c and "error" not in c["first"] and "error" not in c["second"]:
        f1, f2 = c["first"], c["second"]
        comp = f1.get("numba_compile_seconds")
        comp = comp if comp is not None else f1["first_call_overhead"]
        rows.append(("first-call compile time < 10 s",
                     f"{comp:.2f} s numba compile ({f1['cache_misses']} signatures compiled); "
                     f"first-call overhead {f1['first_call_overhead']:.2f} s", comp < 10))
        c2 = f2.get("numba_compile_seconds") or 0.0
        rows.append(("zero compile on the second process start (cache=True)",
                     f"{f2['cache_misses']} signatures compiled, {c2:.2f} s compiling, "
                     f"{f2['cache_hits']} loaded from cache; first-call overhead "
                     f"{f2['first_call_overhead']:.2f} s",
                     f2["cache_misses"] == 0 and c2 < 0.05))
    else:
        rows.append(("first-call compile time < 10 s", nm, None))
        rows.append(("zero compile on the second process start (cache=True)", nm, None))
    return rows


def render(data):
    L = []
    rate = gemm(data)
    env = data.get("env", {})
    L.append("# mixexp EM speed")
    L.append("")
    L.append("Reproduce with (from the repository root):")
    L.append("")
    L.append("```bash")
    L.append(f"PYTHONPATH=. {data['command']}")
    L.append("```")
    L.append("")
    mach = data.get("machine", {})
    git = data.get("git", {})
    L.append(f"Run {data.get('started')}, mixexp at {git.get('head')}"
             f"{' + uncommitted changes in mixexp/' if git.get('mixexp_dirty') else ''}"
             f" (sha1 of mixexp/**/*.py: {git.get('mixexp_sha1')}; every worker imports a copy "
             f"of mixexp/ taken at the start: {bool(env.get('mixexp_file', '').find('mixexp-bench-src') + 1)});"
             f" {mach.get('cpu')}, {mach.get('cores')} cores, "
             f"{(mach.get('memory_bytes') or 0) / 2**30:.0f} GiB; Python {env.get('python')}, "
             f"numpy {env.get('numpy')}, scipy {env.get('scipy')}, scikit-learn {env.get('sklearn')},"
             f" numba {env.get('numba_version')}.")
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} threads,"
                     f" {b.get('architecture')})" for b in env.get("blas", []))
    L.append("")
    L.append(f"Threads: {data['settings']['threads']} for BLAS (threadpoolctl: {blas}) and "
             f"{env.get('numba_threads')} for numba (threading layer {env.get('numba_layer')}); "
             f"OMP/OPENBLAS/NUMBA_NUM_THREADS set to the same in every worker.")
    L.append("")
    e2 = data.get("env_end") or {}
    L.append(f"Square GEMM (n=2048, float64): {fmt_g(env.get('gemm_best'))} GFLOP/s best of 5 "
             f"(median {fmt_g(env.get('gemm_median'))}) at the start, {fmt_g(e2.get('gemm_best'))} "
             f"at the end; the flop limits below use the better, {fmt_g(rate)} GFLOP/s.")
    L.append("")
    L.append(f"Load average (1, 5, 15 min) at start {fmt_load(data.get('load_start'))}, at end "
             f"{fmt_load(data.get('load_end'))}: other work on the machine slows everything "
             "measured here alike, more or less; ratios measured in one worker are the most robust.")
    if data.get("seconds"):
        L.append("")
        L.append(f"Total benchmark time: {data['seconds'] / 60:.1f} min.")
    L.append("")

    L.append("## Targets")
    L.append("")
    L.append("| target | measured | met? |")
    L.append("| --- | --- | --- |")
    for name, meas, ok in targets(data):
        L.append(f"| {name} | {meas} | {'yes' if ok else 'no' if ok is False else '–'} |")
    L.append("")

    c = data.get("compile")
    if c:
        L.append("## Numba compile time")
        L.append("")
        L.append("Two process starts with the same, initially empty, `NUMBA_CACHE_DIR`; in each, "
                 "every model is fitted (and predicts) twice on tiny data.  Compile = numba's own "
                 "compile events; first-call overhead = Σ over models of (first − second fit).")
        L.append("")
        L.append("| process | import mixexp | numba compile | signatures compiled | loaded from cache "
                 "| first-call overhead | reg first / second | clf first / second | hme first / second |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for label, r in (("first (empty cache)", c["first"]), ("second (cache filled)", c["second"])):
            if "error" in r:
                L.append(f"| {label} | error: {r['error'][-200:]!r} | | | | | | | |")
                continue
            mm = r["models"]
            L.append(f"| {label} | {fmt_t(r['import_seconds'])} | {fmt_t(r.get('numba_compile_seconds'))}"
                     f" | {r['cache_misses']} | {r['cache_hits']} | {fmt_t(r['first_call_overhead'])} | "
                     + " | ".join(f"{fmt_t(mm[k]['first'])} / {fmt_t(mm[k]['second'])}" for k in MODELS)
                     + " |")
        L.append("")

    thr = data.get("threading")
    if thr:
        L.append("## Threading set-ups")
        L.append("")
        L.append("The same small fit (regressor, n=10^4, d=20, K=8, 5 EM iterations, tol=0) in a "
                 "fresh worker per set-up, run right before the grid (whose thread count is "
                 f"{data['settings']['threads']}): numba's default OpenMP layer "
                 "spin-waits at every parallel region, which is costly when other processes compete "
                 "for the cores (see the load average).")
        L.append("")
        L.append("| set-up | numba layer | iteration | fit | load (1 min) |")
        L.append("| --- | --- | --- | --- | --- |")
        for r in thr:
            if "error" in r:
                L.append(f"| {r['label']} | error | | | |")
                continue
            ld = f"{r['load'][0]:.1f}" if r.get("load") else "–"
            L.append(f"| {r['label']} | {r.get('numba_layer')} | {fmt_t(r.get('iter_median'))} | "
                     f"{fmt_t(r.get('fit_seconds'))} | {ld} |")
        L.append("")

    cfgs = data.get("configs", [])
    if cfgs:
        L.append("## mixexp per configuration, with the floors")
        L.append("")
        L.append("Per-iteration times are medians over the fit's own EM iterations (iteration = "
                 "M-step + E-step + bookkeeping). *flop limit* = 2·n·d²·K flops (classifier: "
                 "+ 2·n·d·C·K for the gradients, C = 3 classes) / the GEMM rate; *numpy Grams* = "
                 "plain numpy forming the K weighted Grams one by one, `(Xa * h[:, k, None]).T @ Xa` "
                 "with Xa = [X, 1] (classifier: plus the K gradient products `R_k.T @ Xa`), median "
                 "of 3. *peak* = growth of resident memory during `fit` (VmHWM), and its ratio to "
                 "X's size. HME: branching 2, depth log2 K. Data: `make_moe_regression(noise=0.1)`, "
                 "`make_moe_classification(n_classes=3)`, `make_hme_regression(noise=0.1)`, "
                 "random_state=0; estimators with default parameters (max_iter=100, tol=1e-4), "
                 f"random_state=0; fits stopped after {data['settings']['fit_budget']:.0f} s keep "
                 "their per-iteration times.")
        L.append("")
        L.append("| model | n | d | K | iterations | fit | init | iteration | M-step | E-step | "
                 "flop limit | iter / limit | numpy Grams | iter / Grams | peak growth | load |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
                 "| --- | --- |")
        for r in sorted(cfgs, key=lambda r: (MODELS.index(r["kind"]), r["n"], r["d"], r["K"])):
            head = f"| {r['kind']} | {fmt_n(r['n'])} | {r['d']} | {r['K']} |"
            if "error" in r:
                msg = r["error"].strip().splitlines()[-1][:120].replace("|", "/") if r["error"].strip() else "?"
                L.append(head + f" error: {msg} |" + " |" * 11)
                continue
            m = cfg_metrics(r, rate)
            if r.get("n_iter") is not None:
                its = f"{r['n_iter']}{'' if r.get('converged') else ' (max_iter)'}"
            elif r.get("stop"):
                its = f"> {r.get('n_iter_timed')} ({r['stop']})"
            else:
                its = "–"
            pk = (f"{r['peak_growth_bytes'] / 2**20:.0f} MiB ({m['mem_x']:.2f}×)"
                  if m["mem_x"] is not None else "–")
            fit = fmt_t(r.get("fit_seconds"))
            if r.get("n_iter") is None and r.get("fit_seconds") is not None:
                fit = "> " + fit
            ld = r.get("load_before")
            ld = f"{ld[0]:.1f}" if ld else "–"
            L.append(head + f" {its} | {fit} | {fmt_t(r.get('init_seconds'))} | {fmt_t(m['iter'])} | "
                     f"{fmt_t(m['m'])} | {fmt_t(m['e'])} | {fmt_t(m['limit'])} | {fmt_x(m['vs_limit'])}"
                     f" | {fmt_t(m['grams'])} | {fmt_x(m['vs_grams'])} | {pk} | {ld} |")
        L.append("")
        nrows = [r for r in cfgs if r.get("numpy_em")]
        if nrows:
            L.append("## Plain-numpy EM (b)")
            L.append("")
            L.append("`benchmarks/plain_numpy_em.py`: the same model, E-step with log-sum-exp, experts "
                     "by weighted normal equations, the gate by one full Newton step per iteration "
                     "(the K(d+1)-square Hessian built from K² weighted Grams, O(n·K²·d²)), from "
                     "mixexp's own k-means partition, on the same data in the same process; median "
                     "over its first iterations.")
            L.append("")
            L.append("| n | d | K | numpy EM iteration | its gate step | its experts | its E-step | "
                     "mixexp iteration | speed-up |")
            L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            for r in sorted(nrows, key=lambda r: (r["n"], r["d"], r["K"])):
                m = cfg_metrics(r, rate)
                ne = r["numpy_em"]
                L.append(f"| {fmt_n(r['n'])} | {r['d']} | {r['K']} | {fmt_t(ne['iter_median'])} "
                         f"({ne['iters']} it) | {fmt_t(ne['gate_median'])} | "
                         f"{fmt_t(ne['expert_median'])} | {fmt_t(ne['estep_median'])} | "
                         f"{fmt_t(m['iter'])} | {fmt_x(m['numpy_speedup'])} |")
            L.append("")
        if data.get("not_run"):
            L.append("Not run (total time budget): " + ", ".join(
                f"{k} n={fmt_n(n)} d={d} K={K}" for k, n, d, K in data["not_run"]) + ".")
            L.append("")

    fxs = data.get("flexmix", [])
    if fxs:
        L.append("## flexmix (c)")
        L.append("")
        L.append("R's flexmix: `flexmix(y ~ x, k = K, cluster = <mixexp's k-means partition>, "
                 "model = FLXMRglm(), concomitant = FLXPmultinom(~ x), control = list(iter.max = 200, "
                 "tolerance = 1e-6, minprior = 0))` (`benchmarks/flexmix_bench.R`), timed around the "
                 "`flexmix()` call.  Its *time to target* is the time of the iterations it takes to "
                 "get within 1e-3 nats per sample of its own final log-likelihood; mixexp's is the "
                 "time from the start of `fit` (validation, k-means, initial M-step included) to the "
                 "first iteration whose mean log-likelihood (unpenalised, original units) is within "
                 "1e-3 of flexmix's final one.")
        L.append("")
        for f in fxs:
            if "skipped" in f:
                L.append(f"- n={f['n']}, d={f['d']}, K={f['K']}: skipped: {f['skipped']}")
                continue
            if "error" in f:
                L.append(f"- n={f['n']}, d={f['d']}, K={f['K']}: error: `{f['error'][-300:]}`")
                continue
            fx, mx, md = f["flexmix"], f["mixexp"], f["mixexp_default"]
            L.append("| n | d | K | flexmix iterations | flexmix time | per iteration | its final "
                     "ll / sample (recomputed here) | its time to target | mixexp iterations to "
                     "target | mixexp time to target | ratio | mixexp default fit: time, iterations, ll |")
            L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            t_mx = mx.get("seconds_to_target")
            ratio = fx.get("seconds_to_target") / t_mx if t_mx else None
            L.append(f"| {fmt_n(f['n'])} | {f['d']} | {f['K']} | {fx['iterations']}"
                     f"{'' if fx['converged'] else ' (not converged)'} | {fmt_t(fx['seconds'])} | "
                     f"{fmt_t(fx['seconds_per_iteration'])} | {fx['loglik_per_sample']:.5f} "
                     f"({f['flexmix_ll_python']:.5f}) | {fmt_t(fx.get('seconds_to_target'))} "
                     f"({fx.get('iters_to_target')} it) | {mx.get('iters_to_target', '–')} | "
                     f"{fmt_t(t_mx)} | {fmt_x(ratio)} | {fmt_t(md['seconds'])}, {md['n_iter']}, "
                     f"{md['loglik']:.5f} |")
            L.append("")
            L.append(f"flexmix {fx['versions'].get('flexmix')}, nnet {fx['versions'].get('nnet')}, "
                     f"{fx['versions'].get('R')}; mixexp's best log-likelihood in this run "
                     f"{mx['best_ll']:.5f} ({mx['stop']}).")
            L.append("")

    profs = [p for p in data.get("profile", []) if p.get("components")]
    if profs:
        L.append("## Where an iteration's time goes")
        L.append("")
        L.append("Components timed on the engine's own arrays after a few EM iterations (median of "
                 "repeated calls); the M-step's helpers are timed by wrapping them during real "
                 "M-steps (calls per M-step, time per M-step); what the M-step spends outside them "
                 "is inline numpy (weighting, GEMMs with `@`, copies).")
        for p in profs:
            L.append("")
            L.append(f"### {p['kind']} n={fmt_n(p['n'])}, d={p['d']}, K={p['K']}")
            L.append("")
            L.append("| part | component | time | note |")
            L.append("| --- | --- | --- | --- |")
            for c in p["components"]:
                L.append(f"| {c['group']} | {c['name']} | {fmt_t(c['seconds'])} | {c.get('note', '')} |")
            calls = p.get("calls_per_m_step") or {}
            if calls:
                L.append("")
                L.append(f"M-step with its helpers wrapped: {fmt_t(p.get('m_step_wrapped_seconds'))}"
                         " per M-step.")
                L.append("")
                L.append("| helper (nested helpers counted in both) | calls per M-step | time per M-step |")
                L.append("| --- | --- | --- |")
                for k, (cnt, t) in sorted(calls.items(), key=lambda kv: -kv[1][1]):
                    L.append(f"| `{k}` | {cnt:g} | {fmt_t(t)} |")
        L.append("")
    spies = [s for s in data.get("pyspy", []) if s.get("samples")]
    for s in spies:
        L.append(f"### py-spy: {s['kind']} n={fmt_n(s['n'])}, d={s['d']}, K={s['K']} "
                 f"({s['samples']} samples inside `EMEngine.run`)")
        L.append("")
        L.append("By step: " + ", ".join(f"{k} {v / s['samples']:.0%}" for k, v in
                                        sorted(s["by_step"].items(), key=lambda kv: -kv[1])))
        L.append("")
        L.append("| innermost mixexp frame (function (file:line)) | share of samples |")
        L.append("| --- | --- |")
        for k, v in s["top"]:
            L.append(f"| `{k}` | {v / s['samples']:.1%} |")
        L.append("")

    L.append("## For the README")
    L.append("")
    L.append("```")
    for name, meas, ok in targets(data):
        L.append(f"{name}: {meas}" + ("" if ok is None else f" [{'met' if ok else 'not met'}]"))
    L.append("```")
    L.append("")
    return "\n".join(L)


def fmt_g(x):
    return f"{x / 1e9:.1f}" if x else "–"


def fmt_load(v):
    return ", ".join(f"{x:.1f}" for x in v) if v else "–"


if __name__ == "__main__":
    sys.exit(main())
