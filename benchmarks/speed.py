#!/usr/bin/env python
"""Speed and memory of mixexp's EM engine against its targets (issues 16 and 30).

Every measurement runs in a fresh subprocess ("worker") with OMP/OPENBLAS/
NUMBA_NUM_THREADS set; a worker resets the peak resident size (VmHWM, through
/proc/self/clear_refs) before ``fit`` and reads it after.  Per-iteration times
come from wrapping ``EMEngine.run`` and ``EMEngine.pass_stats`` in the worker
(mixexp's files are not touched): an iteration of the last ``run`` of a fit
(the main EM; the starts' short runs come before it) is the time from the end
of one pass to the end of the next (update + pass, including any safe-step
retry).  Ratios (iteration / flop limit, numpy EM / mixexp) are measured in the
same worker, side by side.

    PYTHONPATH=. python benchmarks/speed.py            # everything, ~15 min on 2 cores + 10-15 min of R
    PYTHONPATH=. python benchmarks/speed.py --quick    # small sizes, ~3 min
    PYTHONPATH=. python benchmarks/speed.py --only targets,flexmix
    PYTHONPATH=. python benchmarks/speed.py --only flexmix_own,flexmix_step \
        --out benchmarks/results/speed_flexmix   # issue 30's like-for-like flexmix rows: 10-15 min,
                                                 # mostly stepFlexmix at 10^5 (--quick: 10^4 only)
    PYTHONPATH=. python benchmarks/speed.py --only families_obs --n 200000 \
        --out benchmarks/results/speed_families_obs   # issue 30 item 3 alone, ~3 min

Writes benchmarks/results/speed.md and speed.json (--quick: speed-quick.*).
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TAG = "@@RESULT "
LL_TOL = 1e-3  # nats per sample: "the same log-likelihood"
FLEXMIX_SEEDS = 10  # random_state 0..9 of mixexp's default fit against flexmix


# -- inside a worker ------------------------------------------------------------
def _status_kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def gemm_rate(threads, N=2048, reps=5):
    from threadpoolctl import threadpool_limits

    A, B = np.random.default_rng(0).standard_normal((2, N, N))
    best = np.inf
    with threadpool_limits(threads, user_api="blas"):
        A @ B
        for _ in range(reps):
            t = time.perf_counter()
            A @ B
            best = min(best, time.perf_counter() - t)
    return 2 * N**3 / best


def make_data(kind, n, d, K, seed=0):
    from mixexp import datasets as ds

    if kind == "clf":
        X, y = ds.make_moe_classification(n, d, K, n_classes=3, random_state=seed)
    elif kind == "hme":
        X, y = ds.make_hme_regression(n, d, depth=int(np.log2(K)), branching=2, noise=0.1, random_state=seed)
    elif kind == "gauss":
        X, y = ds.make_gaussian_gated_regression(n, d, K, noise=0.1, random_state=seed)
    else:
        X, y = ds.make_moe_regression(n, d, K, noise=0.1, random_state=seed)
    return X, y


def make_estimator(kind, K, **kw):
    import mixexp

    if kind == "clf":
        return mixexp.MixtureOfExpertsClassifier(n_experts=K, random_state=0, **kw)
    if kind == "hme":
        return mixexp.HierarchicalMixtureOfExpertsRegressor(
            depth=int(np.log2(K)), branching=2, random_state=0, **kw
        )
    gate = "gaussian" if kind == "gauss" else "softmax"
    return mixexp.MixtureOfExpertsRegressor(n_experts=K, gate=gate, random_state=0, **kw)


def flop_limit_flops(kind, n, d, K):
    """The K weighted Grams, 2 n d^2 K (classifier: + gradients 2 n d C K; HME: + the
    inner gates' Grams; gaussian gate: + its K weighted second moments)."""
    base = 2.0 * n * d * d * K
    if kind == "clf":
        return base + 2.0 * n * d * 3 * K
    if kind == "hme":
        return base + 2.0 * n * d * d * (K - 2)  # inner nodes below the root
    if kind == "gauss":
        return 2 * base
    return base


class Probe:
    """Wraps EMEngine.run / pass_stats: per-run pass end times, optional stop rule.

    With ``n_rows``, only passes over that many rows count for the stop rule (a start
    on a subsample has its own mean log-likelihood, not the data's)."""

    def __init__(self, stop=None, n_rows=None):
        from mixexp import _engine

        self.runs, self.passes, self.stop = [], [], stop
        E = _engine.EMEngine
        run0, pass0 = E.run, E.pass_stats
        probe = self

        def run(eng, *a, **k):
            rec = {"start": time.perf_counter(), "passes": [], "n": a[1].n_rows}
            probe.runs.append(rec)
            out = run0(eng, *a, **k)
            rec["end"], rec["n_iter"] = time.perf_counter(), out[3]
            return out

        def pass_stats(eng, params, design, post=None, parts=("gate", "experts")):
            S = pass0(eng, params, design, post, parts)
            t = time.perf_counter()
            if post is None and probe.runs and "end" not in probe.runs[-1]:
                probe.runs[-1]["passes"].append(t)
            if post is None and "loglik" in S and n_rows in (None, design.n_rows):
                probe.passes.append((t, S["loglik"] / eng.total_weight(design)))
                if probe.stop is not None:
                    probe.stop(t, probe.passes[-1][1])
            return S

        E.run, E.pass_stats = run, pass_stats

    def iteration(self, n=None):
        """Time per iteration of the last run (on ``n`` rows: the main run, not a start's)."""
        runs = [r for r in self.runs if n is None or r["n"] == n]
        if not runs:
            return float("nan")
        r = runs[-1]
        p = r["passes"]
        return (p[-1] - p[0]) / r["n_iter"] if r.get("n_iter") and len(p) > 1 else float("nan")


class Reached(Exception):
    pass


def times_to_target(est, X, y, target, seeds, repeats=1):
    """For every ``random_state`` in ``seeds``, the fastest of ``repeats`` fits of ``est``
    stopped at the first pass over all rows whose mean log-likelihood (internal units)
    reaches ``target``: ``{"t": seconds, "cpu": CPU seconds, "best": that fit's highest
    mean log-likelihood}`` from the start of ``fit`` (``t`` and ``cpu`` NaN if never)."""
    hit = {}

    def stop(t, ll):
        if ll >= target:
            hit["t"], hit["cpu"] = t, time.process_time()
            raise Reached

    probe = Probe(stop, n_rows=X.shape[0])
    out = []
    for seed in seeds:
        est.set_params(random_state=seed)
        fastest = None
        for _ in range(repeats):
            hit.clear()
            probe.passes.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                est.fit(X, y)
            except Reached:
                pass
            run = dict(t=hit.get("t", np.nan) - t0, cpu=hit.get("cpu", np.nan) - c0,
                       best=max((p[1] for p in probe.passes), default=np.nan))
            if fastest is None or run["t"] < fastest["t"] or np.isnan(fastest["t"]):
                fastest = run
        out.append(fastest)
    probe.stop = None
    return out


def task_fit(c):
    """A fit with its iteration time, peak memory, flop limit and (optionally) predict time."""
    X, y = make_data(c["kind"], c["n"], c["d"], c["K"])
    est = make_estimator(c["kind"], c["K"], **c.get("params", {}))
    rate = gemm_rate(c["threads"]) if c.get("floor") else None
    est.fit(X[:2000], y[:2000])  # compile / warm up outside the measurement
    budget = c.get("budget", np.inf)

    def stop(t, ll):  # a fit past its time budget stops; its iterations so far still count
        last = probe.runs[-1] if probe.runs else None
        if t - t0 > budget and last and last["n"] == c["n"] and len(last["passes"]) > 3:
            raise Reached

    probe = Probe(stop)
    rss0 = _status_kb("VmRSS")
    reset_peak()
    t0 = time.perf_counter()
    try:
        est.fit(X, y)
        stopped = False
    except Reached:
        stopped = True
        run = probe.runs[-1]
        run["end"], run["n_iter"] = run["passes"][-1], len(run["passes"]) - 1
    t_fit = time.perf_counter() - t0
    peak = (_status_kb("VmHWM") - rss0) * 1024.0
    out = dict(
        fit=t_fit, stopped=stopped, n_iter=probe.runs[-1]["n_iter"] if stopped else int(est.n_iter_),
        converged=(not stopped) and bool(est.converged_),
        init=probe.runs[-1]["start"] - t0, iteration=probe.iteration(c["n"]),
        peak_growth=peak, x_bytes=float(X.nbytes),
        cpu=time.process_time(), load=os.getloadavg()[0],
    )
    if rate:
        out["gemm_rate"] = rate
        out["flop_limit"] = flop_limit_flops(c["kind"], c["n"], c["d"], c["K"]) / rate
    if c.get("predict") and not stopped:
        from threadpoolctl import threadpool_limits

        B = np.random.default_rng(0).standard_normal((c["d"], c["K"]))
        method = est.predict_proba if c["kind"] == "clf" else est.predict
        method(X[:1000])
        out["predict"] = min(_timed(method, X) for _ in range(3))
        gemm = []
        for t in sorted({1, c["threads"]}):  # the faster of 1 and all BLAS threads
            with threadpool_limits(t, user_api="blas"):
                gemm += [_timed(lambda A: A @ B, X) for _ in range(5)]
        out["gemm_pass"] = min(gemm)
        out["predict_floor"] = min(predict_floor(c["kind"], X, c["K"]) for _ in range(3))
    return out


def floor_shape(kind, d, K):
    """(product columns, exponentials) per row that a prediction of ``kind`` computes at least:
    the gate's logits relative to each group's first member (a softmax needs one column and
    one exp fewer per group; Gaussian gate: as many multiply-adds as K triangular whitenings
    of x, K (d + 1) / 2 columns, and K exps) and the experts' outputs in one product, and one
    exp per relative logit (classifier: also per relative class logit of every leaf, 3
    classes)."""
    if kind == "clf":
        return (K - 1) + 2 * K, (K - 1) + 2 * K
    if kind == "hme":
        return (K - 1) + K, K - 1  # one relative logit per inner node of a binary tree
    if kind == "gauss":  # a triangular whitening: d (d + 1) / 2 multiply-adds per row and leaf
        return K * (d + 1) // 2 + K, K
    return (K - 1) + K, K - 1


def predict_floor(kind, X, K):
    """Time of that work alone, chunk by chunk on prediction's threads (``map_rows``):
    ``exp(X[rows] @ W)`` with W scaled so that no exponential takes numpy's slow path."""
    from mixexp._predict import map_rows

    width, n_exp = floor_shape(kind, X.shape[1], K)
    W = 0.01 * np.random.default_rng(1).standard_normal((X.shape[1], width))

    def chunk(rows):
        Z = X[rows] @ W
        return (np.exp(Z[:, :n_exp]).sum(axis=1),)

    return _timed(map_rows, X.shape[0], chunk)


def _timed(f, *a):
    t = time.perf_counter()
    f(*a)
    return time.perf_counter() - t


def task_numpy(c):
    """Plain-numpy EM and mixexp, per iteration, on the same data in this worker."""
    sys.path.insert(0, str(HERE))
    from plain_numpy_em import PlainNumpyMoE

    X, y = make_data("reg", c["n"], c["d"], c["K"])
    est = make_estimator("reg", c["K"], max_iter=30, tol=0.0, init_params="kmeans")
    est.fit(X[:2000], y[:2000])
    probe = Probe()
    est.fit(X, y)
    from sklearn.cluster import KMeans

    labels = KMeans(c["K"], n_init=1, random_state=0).fit(np.column_stack([X, y])).labels_
    from threadpoolctl import threadpool_limits

    numpy = {}
    for t in sorted({1, c["threads"]}):  # plain numpy's BLAS on 1 and on all threads: the faster
        with threadpool_limits(t, user_api="blas"):
            em = PlainNumpyMoE(n_experts=c["K"], max_iter=c["numpy_iter"], tol=0.0).fit(X, y, labels)
        numpy[t] = float(np.median(em.iter_times_))
    return dict(mixexp=probe.iteration(), numpy=min(numpy.values()), numpy_by_threads=numpy,
                numpy_iters=len(em.iter_times_), load=os.getloadavg()[0])


def task_flexmix(c):
    """flexmix from a k-means partition; mixexp (default fit) stopped at flexmix's final ll."""
    from sklearn.cluster import KMeans

    X, y = make_data("reg", c["n"], c["d"], c["K"])
    Z = np.column_stack([(X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()])
    labels = KMeans(c["K"], n_init=1, random_state=0).fit(Z).labels_
    with tempfile.TemporaryDirectory() as tmp:
        data, lab, res = (Path(tmp) / f for f in ("d.csv", "l.txt", "o.json"))
        cols = [f"x{j + 1}" for j in range(X.shape[1])] + ["y"]
        np.savetxt(data, np.column_stack([X, y]), delimiter=",", header=",".join(cols), comments="")
        np.savetxt(lab, labels, fmt="%d")
        subprocess.run(["Rscript", str(HERE / "flexmix_bench.R"), str(data), str(lab), str(c["K"]),
                        "200", "1e-6", str(res)], check=True, capture_output=True)
        fx = json.loads(res.read_text())
    scalar = lambda v: v[0] if isinstance(v, list) else v  # noqa: E731
    trace = np.atleast_1d(np.asarray(fx["trace_per_sample"], dtype=float))
    final, secs = trace[-1], float(scalar(fx["seconds"]))
    it_target = int(np.argmax(trace >= final - LL_TOL)) + 1
    fx_time = secs * it_target / len(trace)
    # mixexp: the time from the start of fit to the first pass (starts included) whose mean
    # log-likelihood, unpenalised and in y's units, is within LL_TOL of flexmix's final one
    shift = -np.log(y.std())
    est = make_estimator("reg", c["K"])
    est.fit(X[:500], y[:500])
    # random_state 0..9: whether a short run of the start gets there is luck
    runs = times_to_target(est, X, y, final - LL_TOL - shift, range(FLEXMIX_SEEDS))
    seeds, first = [r["t"] for r in runs], runs[0]
    # as flexmix is run: one k-means start (its k-means inside mixexp's time, flexmix's outside)
    # and flexmix's tolerance, so EM goes on until it gets there
    like = make_estimator("reg", c["K"], init_params="kmeans", tol=1e-6)
    like.fit(X[:500], y[:500])
    like_runs = times_to_target(like, X, y, final - LL_TOL - shift, range(FLEXMIX_SEEDS))
    est.set_params(random_state=0)
    t1 = time.perf_counter()
    est.fit(X, y)
    return dict(fx_iters=len(trace), fx_seconds=secs, fx_final=final, fx_target_iters=it_target,
                fx_time=fx_time, mx_time=first["t"], mx_cpu=first["cpu"], mx_best=first["best"] + shift,
                mx_fit=time.perf_counter() - t1, mx_fit_ll=float(est.lower_bound_),
                mx_iters=int(est.n_iter_), mx_seeds=seeds, mx_kmeans_seeds=[r["t"] for r in like_runs],
                load=os.getloadavg()[0])


def flexmix_own_data(n, n_z, K, seed=0):
    """flexmix's own configuration (a): y from K linear experts on one input x1, chosen by a
    softmax gate on n_z other inputs z1..z_nz.  Returns X = [x1, z1, ..., z_nz] and y.

    z, x1 ~ N(0, 1); gate logits z @ W, each column of W a Gaussian direction of norm 3 (as
    ``make_moe_regression``'s gate), intercepts 0; expert k: y = a_k + b_k x1 + N(0, 0.5^2),
    a_k, b_k ~ N(0, 2^2)."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, n_z))
    x1 = rng.standard_normal(n)
    W = rng.standard_normal((n_z, K))
    W *= 3.0 / np.linalg.norm(W, axis=0)
    logits = Z @ W
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    comp = (p.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    a, b = rng.normal(0.0, 2.0, (2, K))
    y = a[comp] + b[comp] * x1 + 0.5 * rng.standard_normal(n)
    return np.column_stack([x1, Z]), y


def run_flexmix(X, y, cols, K, nrep, seed, expert_cols, gate_cols):
    """``benchmarks/flexmix_default.R`` on [X, y] (columns ``cols``, then y) through a temporary
    CSV; its JSON (flexmix's seconds around its own call, iterations, log-likelihood)."""
    with tempfile.TemporaryDirectory() as tmp:
        data, res = Path(tmp) / "d.csv", Path(tmp) / "o.json"
        np.savetxt(data, np.column_stack([X, y]), delimiter=",", header=",".join([*cols, "y"]),
                   comments="", fmt="%.17g")
        subprocess.run(["Rscript", str(HERE / "flexmix_default.R"), str(data), str(K), str(nrep), str(seed),
                        ",".join(expert_cols), ",".join(gate_cols), str(res)],
                       check=True, capture_output=True)
        fx = json.loads(res.read_text())
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in fx.items()}


def default_fits(make, X, y, seeds):
    """mixexp's whole ``fit`` of ``make(random_state)``, timed, for each seed (compiled before):
    seconds, main-run and all-run EM iterations (the start's short runs included), convergence
    and the mean unpenalised log-likelihood ``log_likelihood(X, y).mean()``."""
    make(0).fit(X[:500], y[:500])  # compile / warm up outside the measurement
    probe = Probe()
    out = []
    for seed in seeds:
        est = make(seed)
        probe.runs.clear()
        t0 = time.perf_counter()
        est.fit(X, y)
        t = time.perf_counter() - t0
        out.append(dict(seed=seed, fit=t, n_iter=int(est.n_iter_), converged=bool(est.converged_),
                        all_iter=int(sum(r.get("n_iter") or 0 for r in probe.runs)), runs=len(probe.runs),
                        loglik=float(est.log_likelihood(X, y).mean()), lower_bound=float(est.lower_bound_)))
    return out


# mixexp's default penalties, and none (flexmix has none): alpha and gate_alpha cost likelihood
PENALTIES = (("default", {}), ("unpenalised", dict(alpha=0.0, gate_alpha=0.0)))


def task_flexmix_own(c):
    """(a) flexmix(y ~ x1, k = K, concomitant = FLXPmultinom(~ z1 + ... + z10)), one run from
    flexmix's own random start, against mixexp's default fit with gate_features = the z's and
    expert_features = x1 (default penalties, and alpha = gate_alpha = 0), same data."""
    import mixexp

    n, n_z, K = c["n"], c["n_z"], c["K"]
    X, y = flexmix_own_data(n, n_z, K)
    zs = [f"z{j + 1}" for j in range(n_z)]
    load0 = os.getloadavg()[0]
    fx = c.get("flexmix") or run_flexmix(X, y, ["x1", *zs], K, 1, c["r_seed"], ["x1"], zs)
    gate = list(range(1, n_z + 1))
    mx = {name: default_fits(lambda s: mixexp.MixtureOfExpertsRegressor(
        n_experts=K, gate_features=gate, expert_features=[0], random_state=s, **pen), X, y, c["seeds"])
        for name, pen in PENALTIES}
    return dict(flexmix=fx, mixexp=mx, load_start=load0, load=os.getloadavg()[0])


def task_flexmix_step(c):
    """(b) stepFlexmix(y ~ x1 + ... + x10, k = K, nrep = 5, concomitant = FLXPmultinom(~ x1 + ...
    + x10)) against mixexp's default MixtureOfExpertsRegressor(n_experts=K) (gate and experts on
    all d inputs, five short EM runs in its start; default penalties, and none), same
    ``make_moe_regression`` data.  With ``c["flexmix"]`` (``--reuse-flexmix``), flexmix's earlier
    result instead of a new R run (this holds for (a) too)."""
    import mixexp

    n, d, K = c["n"], c["d"], c["K"]
    X, y = make_data("reg", n, d, K)
    xs = [f"x{j + 1}" for j in range(d)]
    load0 = os.getloadavg()[0]
    fx = c.get("flexmix") or run_flexmix(X, y, xs, K, c["nrep"], c["r_seed"], xs, xs)
    mx = {name: default_fits(lambda s: mixexp.MixtureOfExpertsRegressor(n_experts=K, random_state=s, **pen),
                             X, y, c["seeds"]) for name, pen in PENALTIES}
    return dict(flexmix=fx, mixexp=mx, load_start=load0, load=os.getloadavg()[0])


def task_compile(c):
    """First and second fit of each model on tiny data; numba's compile events."""
    from numba.core import event

    t = time.perf_counter()
    import mixexp  # noqa: F401

    out = {"import": time.perf_counter() - t}
    with event.install_recorder("numba:compile") as rec:
        for kind in ("reg", "clf", "hme", "gauss"):
            X, y = make_data(kind, 500, 5, 4)
            est = make_estimator(kind, 4)
            cpu = []
            for _ in range(2):
                c0 = time.process_time()
                cpu.append(_timed(lambda: est.fit(X, y).predict(X)))
                cpu.append(time.process_time() - c0)
            out[kind] = cpu[::2]
            out[kind + "_cpu"] = cpu[1::2]
    ends = [ev for _, ev in rec.buffer if ev.is_end]
    out["compiled"] = len(ends)
    kinds = ("reg", "clf", "hme", "gauss")
    out["overhead"] = sum(out[k][0] - out[k][1] for k in kinds)
    out["overhead_cpu"] = sum(out[k + "_cpu"][0] - out[k + "_cpu"][1] for k in kinds)
    return out


FAMILIES_OBS = (  # name, baseline it is judged against, its target ratio (issue 30 item 3)
    ("linear", None, None),
    ("lognormal", "linear", 2.0),
    ("weibull", "linear", 2.0),
    ("negative_binomial", "linear", 2.0),
    ("linear_gate3", None, None),
    ("groups", "linear_gate3", 1.5),
    ("censored", "linear", 1.5),
)
FAMILIES_OBS_LABELS = {"linear_gate3": "linear, gate_features=[0, 1, 2]", "groups": "groups of 5 rows",
                       "censored": "20% right-censored (y_upper=inf)"}


def families_obs_data(n, d, K, seed=0):
    """One X for every row of the families/observations part: columns 0-2 constant within
    groups of 5 consecutive rows (the gate of a grouped fit sees a group once); y (Gaussian),
    a positive y = exp(z / 2) and counts Poisson(exp(z / 2)) from the same standardised z."""
    X, y = make_data("reg", n, d, K, seed)
    X[:, :3] = np.repeat(X[::5, :3], 5, axis=0)[:n]
    z = (y - y.mean()) / y.std()
    rng = np.random.default_rng(seed)
    return X, dict(y=y, positive=np.exp(0.5 * z), counts=rng.poisson(np.exp(0.5 * z)).astype(float),
                   groups=np.arange(n) // 5, y_upper=np.where(rng.random(n) < 0.2, np.inf, y))


def families_obs_config(name, data):
    """(estimator params, y, fit kwargs) of one row of the families/observations part."""
    if name in ("lognormal", "weibull"):
        return dict(expert=name), data["positive"], {}
    if name == "negative_binomial":
        return dict(expert=name), data["counts"], {}
    if name == "linear_gate3":
        return dict(gate_features=[0, 1, 2]), data["y"], {}
    if name == "groups":
        return dict(gate_features=[0, 1, 2]), data["y"], dict(groups=data["groups"])
    if name == "censored":
        return {}, data["y"], dict(y_upper=data["y_upper"])
    return {}, data["y"], {}


def task_families_obs(c):
    """Issue 30 item 3: EM iterations of the actuarial families and the observation types
    against the plain fit, side by side in this worker.  ``repeats`` rounds, each fitting every
    configuration once (max_iter iterations, tol=0, init_params='kmeans'; the slow ones, ratio
    above 5x in the first round, only in ``slow_repeats`` rounds); per round, each row's mean
    iteration of the main run over its baseline's in the same round.  Then one round under
    tracemalloc (untimed, ``mem_iter`` iterations): the peak of numpy's allocations during
    fit above those before it."""
    import tracemalloc

    import mixexp

    n, d, K = c["n"], c["d"], c["K"]
    X, data = families_obs_data(n, d, K)
    sub = families_obs_data(2000, d, K)
    base = {f[0]: f[1] for f in FAMILIES_OBS}
    chosen = set(c.get("rows") or base)  # with their baselines
    names = [f[0] for f in FAMILIES_OBS if f[0] in chosen or any(base[r] == f[0] for r in chosen)]

    def fit(name, max_iter, on=(X, data)):
        params, y, kw = families_obs_config(name, on[1])
        mixexp.MixtureOfExpertsRegressor(n_experts=K, random_state=0, max_iter=max_iter, tol=0.0,
                                         init_params="kmeans", **params).fit(on[0], y, **kw)

    for name in names:  # compile / warm up outside the measurement
        fit(name, 2, sub)
    probe = Probe()
    out = {name: dict(iteration=[], ratio=[]) for name in names}
    slow = set()
    for r in range(c["repeats"]):
        for name in names:
            if name in slow and r >= c["slow_repeats"]:
                continue
            probe.runs.clear()
            fit(name, c["max_iter"])
            out[name]["iteration"].append(probe.iteration())
        for name in names:
            if base[name] and len(out[name]["iteration"]) > r:
                out[name]["ratio"].append(out[name]["iteration"][r] / out[base[name]]["iteration"][r])
                if r == 0 and out[name]["ratio"][0] > 5:
                    slow.add(name)
    tracemalloc.start()
    for name in names:
        now = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fit(name, c["mem_iter"])
        out[name]["peak"] = float(tracemalloc.get_traced_memory()[1] - now)
    tracemalloc.stop()
    for v in out.values():
        v["median"] = float(np.median(v["iteration"]))
        if v["ratio"]:
            v["median_ratio"] = float(np.median(v["ratio"]))
    return dict(rows=out, x_bytes=float(X.nbytes), load=os.getloadavg()[0])

def worker(spec):
    c = json.loads(spec)
    res = globals()["task_" + c["task"]](c)
    print(TAG + json.dumps(res), flush=True)


# -- the driver -------------------------------------------------------------------
def run_worker(c, threads, env=None, timeout=1800):
    c = dict(c, threads=threads)
    e = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
             MKL_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads), **(env or {}))
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), e.get("PYTHONPATH", "")])
    t = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, "--worker", json.dumps(c)], env=e,
                       capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(TAG)]
    if p.returncode or not lines:
        print(p.stderr[-3000:], file=sys.stderr)
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "failed"}
    res = json.loads(lines[-1][len(TAG):])
    res["wall"] = time.perf_counter() - t
    print(f"  {c['task']} {c.get('kind', '')} n={c.get('n', '')} K={c.get('K', '')} "
          f"threads={threads}: {time.perf_counter() - t:.1f}s", file=sys.stderr, flush=True)
    return res


def plan(quick):
    N = 10**5 if quick else 10**6
    budget = 60 if quick else 150  # seconds per fit; a fit stopped there keeps its iterations
    return dict(
        N=N,
        targets=[dict(task="fit", kind=k, n=N, d=20, K=K, floor=True, predict=True, budget=budget)
                 for k, K in (("reg", 16), ("clf", 16), ("hme", 8), ("gauss", 16))],
        numpy=dict(task="numpy", n=10**4 if quick else 10**5, d=20, K=8, numpy_iter=3 if quick else 5),
        flexmix=dict(task="flexmix", n=10**4, d=10, K=5),
        flexmix_own=dict(task="flexmix_own", n=8000, n_z=10, K=5, r_seed=1, seeds=list(range(FLEXMIX_SEEDS))),
        flexmix_step=[dict(task="flexmix_step", n=n, d=10, K=5, nrep=5, r_seed=1,
                           seeds=list(range(FLEXMIX_SEEDS if n <= 10**4 else 3)))
                      for n in ((10**4,) if quick else (10**4, 10**5))],
        threads=dict(task="fit", kind="reg", n=N, d=20, K=16,
                     params=dict(init_params="kmeans", max_iter=8, tol=0.0)),
        scale_n=[dict(task="fit", kind="reg", n=n, d=20, K=8, budget=budget)
                 for n in ((10**4, 3 * 10**4, 10**5) if quick else (10**4, 10**5, 10**6))],
        scale_k=[dict(task="fit", kind="reg", n=2 * 10**4, d=20, K=K, budget=budget / 2)
                 for K in ((2, 8, 32) if quick else (2, 8, 16, 32, 64))],
        families_obs=dict(task="families_obs", n=2 * 10**5 if quick else 10**6, d=10, K=4, max_iter=3,
                          repeats=5, slow_repeats=1, mem_iter=1),
    )


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--only", default="compile,targets,numpy,flexmix,flexmix_own,flexmix_step,threads,scale,"
                    "families_obs")
    ap.add_argument("--out", default=None)
    ap.add_argument("--render", help="re-render the markdown of a results JSON")
    ap.add_argument("--update", help="a results JSON whose parts this run replaces")
    ap.add_argument("--n", type=int, help="rows of the families_obs part (default 10^6, --quick 2·10^5)")
    ap.add_argument("--rows", help="rows of the families_obs part (and their baselines): "
                    + ",".join(f[0] for f in FAMILIES_OBS))
    ap.add_argument("--kinds", default="reg,clf,hme,gauss", help="the models of the targets part")
    ap.add_argument("--reuse-flexmix", help="flexmix_own / flexmix_step at these n (comma-separated): "
                    "flexmix's results from the --update JSON, not a new R run (mixexp's side runs again)")
    a = ap.parse_args(argv)
    if a.worker:
        return worker(a.worker)
    if a.render:
        Path(a.render[:-5] + ".md").write_text(render(json.loads(Path(a.render).read_text())))
        return
    only, P, T = a.only.split(","), plan(a.quick), a.threads
    res = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), load_start=os.getloadavg(),
               command="PYTHONPATH=. python benchmarks/speed.py " + " ".join(argv or sys.argv[1:]),
               commit=_git("rev-parse", "--short", "HEAD"), dirty=bool(_git("status", "--porcelain", "mixexp")),
               machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
               f"{platform.python_version()}", threads=T, quick=a.quick, N=P["N"])
    if a.update:  # earlier results; the parts run now replace theirs, the header keeps both runs
        old = json.loads(Path(a.update).read_text())
        res["command"] = old["command"] + "  # then, for " + a.only + ":\n" + res["command"]
        res = dict(old, **{k: res[k] for k in ("command",)}, update={k: res[k] for k in ("date", "commit", "dirty")},
                   update_load_start=res["load_start"])
    t0 = time.perf_counter()
    if "compile" in only:
        with tempfile.TemporaryDirectory() as cache:
            env = {"NUMBA_CACHE_DIR": cache}
            res["compile"] = [run_worker(dict(task="compile"), T, env) for _ in range(2)]
    if "targets" in only:
        kinds = a.kinds.split(",")
        prev = {t["kind"]: t for t in res.get("targets", [])}
        res["targets"] = [dict(c, **run_worker(c, T)) if c["kind"] in kinds else prev[c["kind"]]
                          for c in P["targets"] if c["kind"] in kinds or c["kind"] in prev]
    if "numpy" in only:
        res["numpy"] = dict(P["numpy"], **run_worker(P["numpy"], T))
    if "flexmix" in only:
        res["flexmix"] = dict(P["flexmix"], **run_worker(P["flexmix"], T))
    if a.reuse_flexmix:  # flexmix's results of the --update JSON: only mixexp's side runs again
        if not a.update:
            ap.error("--reuse-flexmix needs --update")
        old_fx = {(p, c["n"]): dict(flexmix=c["flexmix"], flexmix_from=c.get("flexmix_from", old["date"]),
                                    flexmix_load=c.get("flexmix_load", [c["load_start"], c["load"]]))
                  for p in ("flexmix_own", "flexmix_step")
                  for c in (old[p] if isinstance(old.get(p), list) else [old[p]] if p in old else [])
                  if "error" not in c}
        reuse = {int(v) for v in a.reuse_flexmix.split(",")}
        for p, c in [("flexmix_own", P["flexmix_own"])] + [("flexmix_step", c) for c in P["flexmix_step"]]:
            if c["n"] in reuse:
                c.update(old_fx.get((p, c["n"]), {}))
    if "flexmix_own" in only:
        res["flexmix_own"] = dict(P["flexmix_own"], **run_worker(P["flexmix_own"], T))
    if "flexmix_step" in only:
        res["flexmix_step"] = [dict(c, **run_worker(c, T, timeout=3 * 3600)) for c in P["flexmix_step"]]
    if "threads" in only:
        res["thread_scaling"] = {str(t): run_worker(P["threads"], t) for t in (1, 2)}
    if "scale" in only:
        res["scale_n"] = [dict(c, **run_worker(c, T)) for c in P["scale_n"]]
        res["scale_k"] = [dict(c, **run_worker(c, T)) for c in P["scale_k"]]
    if "families_obs" in only:
        c = dict(P["families_obs"], **({"n": a.n} if a.n else {}),
                 **({"rows": a.rows.split(",")} if a.rows else {}))
        res["families_obs"] = dict(c, **run_worker(c, T))
    if a.update:
        res["update"].update(total=time.perf_counter() - t0, load_start=res.pop("update_load_start"),
                             load_end=os.getloadavg())
    else:
        res["total"] = time.perf_counter() - t0
        res["load_end"] = os.getloadavg()
    stem = a.out or str(HERE / "results" / ("speed-quick" if a.quick else "speed"))
    Path(stem + ".json").write_text(json.dumps(res, indent=1, default=float))
    Path(stem + ".md").write_text(render(res))
    print(render(res))


def _git(*args):
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


# -- the report --------------------------------------------------------------------
def ft(s):
    if s is None or not np.isfinite(s):
        return "–"
    return f"{s:.3g} s" if s >= 1 else f"{s * 1e3:.3g} ms"


def fn(n):
    e = int(round(np.log10(n)))
    return f"10^{e}" if 10**e == n else f"{n:.0e}".replace("+0", "")


def yes(ok):
    return "yes" if ok else "**no**"


def targets_table(r):
    rows = []
    N = r["N"]
    names = {"reg": "regressor", "clf": "classifier", "hme": "HME (depth 3, branching 2)",
             "gauss": "regressor, gaussian gate"}
    for t in r.get("targets", []):
        if "error" in t:
            rows.append((f"{names[t['kind']]} at n={fn(N)}", t["error"], "error"))
            continue
        lab = f"{names[t['kind']]}, n={fn(t['n'])}, d={t['d']}, K={t['K']}"
        ratio = t["iteration"] / t["flop_limit"]
        rows.append((f"EM iteration ≤ 5× flop limit ({lab})",
                     f"{ft(t['iteration'])} vs {ft(t['flop_limit'])}: {ratio:.2f}×", yes(ratio <= 5)))
        mem = t["peak_growth"] / t["x_bytes"]
        rows.append((f"peak memory growth during fit < 3× X ({lab})",
                     f"{t['peak_growth'] / 2**20:.0f} MiB = {mem:.2f}× X ({t['x_bytes'] / 2**20:.0f} MiB)",
                     yes(mem < 3)))
        if t["stopped"]:
            rows.append((f"full fit < 60 s ({lab})", f"> {ft(t['fit'])} (stopped at its budget after "
                         f"{t['n_iter']} iterations; start {ft(t['init'])})", yes(False)))
            continue
        rows.append((f"full fit < 60 s ({lab})",
                     f"{ft(t['fit'])} ({t['n_iter']} iterations, start {ft(t['init'])}"
                     f"{', converged' if t['converged'] else ', not converged'})", yes(t["fit"] < 60)))
        pr = t["predict"] / t["gemm_pass"]
        what = "predict_proba" if t["kind"] == "clf" else "predict"
        floor = (f"; its products and exps alone {ft(t['predict_floor'])}, "
                 f"{t['predict_floor'] / t['gemm_pass']:.2f}× the pass" if "predict_floor" in t else "")
        rows.append((f"{what} within 2× one GEMM pass X @ B (B: d×K) ({lab})",
                     f"{ft(t['predict'])} vs {ft(t['gemm_pass'])}: {pr:.2f}×{floor}", yes(pr <= 2)))
    if "numpy" in r and "error" not in r["numpy"]:
        c = r["numpy"]
        s = c["numpy"] / c["mixexp"]
        rows.append((f"≥ 10× faster per iteration than plain-numpy EM (n={fn(c['n'])}, d={c['d']}, K={c['K']})",
                     f"{ft(c['numpy'])} vs {ft(c['mixexp'])}: {s:.1f}×", yes(s >= 10)))
    if "flexmix" in r and "error" not in r["flexmix"]:
        c = r["flexmix"]
        s = c["fx_time"] / c["mx_time"]
        label = f"≥ 100× faster than flexmix to the same log-likelihood (n={fn(c['n'])}, d={c['d']}, K={c['K']})"
        if "mx_seeds" in c:  # judged on the median over random_state 0..9
            med = float(np.median(c["mx_seeds"]))
            like = ""
            if "mx_kmeans_seeds" in c:  # not judged: the start flexmix is given, not mixexp's default
                lm = float(np.nanmedian(c["mx_kmeans_seeds"]))
                like = f"; from one k-means start at flexmix's tolerance, as flexmix is run: median {ft(lm)}, {c['fx_time'] / lm:.0f}×"
            rows.append((label, f"{ft(c['fx_time'])} vs median {ft(med)} over random_state 0..{len(c['mx_seeds']) - 1} "
                         f"({c['fx_time'] / med:.0f}×; random_state=0: {ft(c['mx_time'])}, {s:.0f}×{like})",
                         yes(c["fx_time"] / med >= 100)))
        else:
            rows.append((label, f"{ft(c['fx_time'])} vs {ft(c['mx_time'])}: {s:.0f}×", yes(s >= 100)))
    rows += [(f"≥ 100× flexmix's whole fit, {label}, log-likelihood at least flexmix's (less {LL_TOL:g})",
              f"{ft(fx['seconds'])} vs {ft(mx['fit'])}: {fx['seconds'] / mx['fit']:.0f}×; "
              f"mean log-likelihood {mx['loglik']:.5f} vs {fx['loglik_per_sample']:.5f}",
              yes(fx["seconds"] / mx["fit"] >= 100 and mx["loglik"] >= fx["loglik_per_sample"] - LL_TOL))
             for label, fx, mx in flexmix_default_rows(r)]
    if "compile" in r and all("error" not in x for x in r["compile"]):
        a, b = r["compile"]
        rows.append(("first-start compile < 10 s (4 models fitted, first − second fit)",
                     f"{ft(a['overhead'])} wall, {ft(a['overhead_cpu'])} CPU ({a['compiled']} numba compilations)",
                     yes(a["overhead"] < 10)))
        rows.append(("no compile on the second start (same NUMBA_CACHE_DIR)",
                     f"{b['compiled']} compilations, first-call overhead {ft(b['overhead'])}",
                     yes(b["compiled"] == 0)))
    if "thread_scaling" in r and all("error" not in x for x in r["thread_scaling"].values()):
        one, two = r["thread_scaling"]["1"]["iteration"], r["thread_scaling"]["2"]["iteration"]
        rows.append((f"2 threads beat 1 at n={fn(N)} (regressor, K=16, iteration)",
                     f"{ft(two)} vs {ft(one)}: {one / two:.2f}×", yes(two < one)))
    return rows


DEFINITIONS = (
    "Definitions: *iteration* = one EM iteration of the main run (update + one pass over the rows; "
    "starts excluded); *flop limit* = 2·n·d²·K flops (classifier: + 2·n·d·3·K gradients; HME: + "
    "the 6 inner gates' Grams; gaussian gate: twice, for its weighted second moments) at the "
    "square-GEMM rate measured in the same worker with the same threads; *products and exps "
    "alone* = the time of one product of X's rows with as many columns as the model's linear "
    "parts need (gate logits relative to each group's first member, or for a Gaussian gate "
    "K·(d+1)/2 columns, the multiply-adds of K triangular whitenings, and the experts' "
    "outputs) and one exp per relative logit (classifier: and per relative class logit of every "
    "leaf), "
    "chunk by chunk on prediction's threads (`predict_floor`); *peak memory growth* = "
    "VmHWM after fit − VmRSS before it; *fit* = default estimator (max_iter=200, tol=1e-4, "
    "init_params='short_em'), starts included; a fit still running after its budget (150 s; "
    "scaling against K: 75 s) is stopped and reported as '> time' with its iterations so far. "
    "Data: mixexp.datasets generators, random_state=0."
)


def render(r):
    L = [
        "# mixexp EM speed (issues 16 and 30)", "",
        "Reproduce (from the repository root):", "", "```bash", r["command"], "```", "",
        f"Run {r['date']}, commit {r['commit']}{' + uncommitted changes in mixexp/' if r['dirty'] else ''}; "
        f"{r['machine']}; {r['threads']} threads per worker (OMP/OPENBLAS/NUMBA_NUM_THREADS).  "
        f"Load average (1, 5, 15 min) at start {', '.join(f'{x:.1f}' for x in r['load_start'])}, "
        f"at end {', '.join(f'{x:.1f}' for x in r['load_end'])} on 2 cores: the machine is shared, so "
        f"absolute times carry that noise; ratios are measured side by side in one worker.  "
        f"Total {r['total'] / 60:.1f} min." + (
            f"  Parts were then rerun by the later commands (each replaces the parts it names; the last "
            f"at {r['update']['date']}, commit {r['update']['commit']}, load "
            f"{r['update']['load_start'][0]:.1f} → {r['update']['load_end'][0]:.1f}, "
            f"{r['update']['total'] / 60:.1f} min)." if "update" in r else ""), "",

    ]
    if any(k in r for k in ("targets", "numpy", "flexmix", "compile", "thread_scaling", "scale_n")):
        L += [DEFINITIONS, ""]
    rows = targets_table(r)
    if rows:
        L += ["## Targets", "", "| target | measured | met? |", "| --- | --- | --- |"]
        L += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    if r.get("targets"):
        L += ["", "## Large fits in detail", "",
              "| model | n | K | fit | start | iterations | iteration | flop limit | GEMM rate | peak growth | predict | GEMM pass | load |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for t in r["targets"]:
            if "error" not in t:
                L.append(f"| {t['kind']} | {fn(t['n'])} | {t['K']} | {ft(t['fit'])} | {ft(t['init'])} | "
                         f"{t['n_iter']} | {ft(t['iteration'])} | {ft(t['flop_limit'])} | "
                         f"{t['gemm_rate'] / 1e9:.0f} GFLOP/s | {t['peak_growth'] / 2**20:.0f} MiB | "
                         f"{ft(t.get('predict'))} | {ft(t.get('gemm_pass'))} | {t['load']:.1f} |")
    if "flexmix" in r and "error" not in r["flexmix"]:
        c = r["flexmix"]
        L += ["", "## flexmix", "",
              f"flexmix (`benchmarks/flexmix_bench.R`, FLXMRglm + FLXPmultinom, from a k-means partition "
              f"of [X, y] computed outside its timing, tolerance 1e-6): {c['fx_iters']} iterations in "
              f"{ft(c['fx_seconds'])}, final mean log-likelihood {c['fx_final']:.5f}, reached within "
              f"{LL_TOL:g} after {c['fx_target_iters']} iterations ({ft(c['fx_time'])}, pro rata).  mixexp "
              f"(default estimator, starts included) is stopped at the first pass whose mean "
              f"log-likelihood is within {LL_TOL:g} of that: {ft(c['mx_time'])} ({ft(c['mx_cpu'])} of CPU "
              f"over its threads; its best "
              f"{c['mx_best']:.5f}).  mixexp's full default fit: {ft(c['mx_fit'])}, {c['mx_iters']} "
              f"iterations, lower bound {c['mx_fit_ll']:.5f}."]
        if "mx_seeds" in c:
            L[-1] += (f"  The same measurement for random_state 0..{len(c['mx_seeds']) - 1}: "
                      f"{', '.join(f'{1e3 * t:.0f}' for t in c['mx_seeds'])} ms (only passes over all rows count: "
                      f"the five short runs of init_params='short_em' work on a subsample of the rows).")
        if "mx_kmeans_seeds" in c:
            L[-1] += (f"  Started as flexmix is (one k-means start, init_params='kmeans', with its k-means "
                      f"counted, and flexmix's tolerance, tol=1e-6), not judged: "
                      f"{', '.join(f'{1e3 * t:.0f}' for t in c['mx_kmeans_seeds'])} ms (nan: never reached).")
    if any(k in r for k in ("flexmix_own", "flexmix_step")):
        L += flexmix_default_section(r)
    if "numpy" in r and "error" not in r["numpy"]:
        c = r["numpy"]
        L += ["", f"Plain-numpy EM (`benchmarks/plain_numpy_em.py`, full Newton gate step): median of "
              f"{c['numpy_iters']} iterations {ft(c['numpy'])} (the faster of BLAS on 1 and on all threads: "
              f"{', '.join(f'{k}: {ft(v)}' for k, v in c.get('numpy_by_threads', {}).items())}); mixexp {ft(c['mixexp'])} (mean EM "
              f"iteration, init_params='kmeans', 30 iterations), same data, same worker."]
    for key, what in (("scale_n", "n (d=20, K=8)"), ("scale_k", "K (n=2·10^4, d=20)")):
        if r.get(key):
            L += ["", f"## Fit time against {what}", "",
                  "| n | K | fit | start | iterations | iteration | peak growth / X |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
            for t in r[key]:
                if "error" not in t:
                    L.append(f"| {fn(t['n'])} | {t['K']} | {'> ' if t['stopped'] else ''}{ft(t['fit'])} | "
                             f"{ft(t['init'])} | {t['n_iter']} | "
                             f"{ft(t['iteration'])} | {t['peak_growth'] / t['x_bytes']:.2f} |")
    if "families_obs" in r and "error" not in r["families_obs"]:
        L += families_obs_section(r["families_obs"])
    if "compile" in r and all("error" not in x for x in r["compile"]):
        L += ["", "## Compile", "", "| start | import | compilations | first − second fit | reg | clf | hme | gauss |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, c in zip(("first (empty cache)", "second"), r["compile"]):
            L.append(f"| {name} | {ft(c['import'])} | {c['compiled']} | {ft(c['overhead'])} | "
                     + " | ".join(f"{ft(c[k][0])} / {ft(c[k][1])}" for k in ("reg", "clf", "hme", "gauss")) + " |")
    return "\n".join(L) + "\n"


def flexmix_default_rows(r):
    """(label, flexmix's result, mixexp's judged fit: random_state=0, default penalties) of the
    two like-for-like comparisons that ran."""
    out = []
    c = r.get("flexmix_own")
    if c and "error" not in c:
        out.append((f"(a) `flexmix(y ~ x1, k = {c['K']}, concomitant = FLXPmultinom(~ z1 + ... + "
                    f"z{c['n_z']}))`, n={c['n']}", c["flexmix"], c["mixexp"]["default"][0]))
    for c in r.get("flexmix_step", []):
        if "error" not in c:
            out.append((f"(b) `stepFlexmix(nrep = {c['nrep']})`, n={fn(c['n'])}, d={c['d']}, K={c['K']}",
                        c["flexmix"], c["mixexp"]["default"][0]))
    return out


def flexmix_default_section(r):
    """The table of issue 30's like-for-like flexmix comparisons (a) and (b)."""
    L = ["", "## flexmix as its users run it (issue 30: (a) its own default, (b) stepFlexmix)", "",
         "Both sides from their own default starts, whole-fit times.  flexmix: "
         "`benchmarks/flexmix_default.R`, timed around its `flexmix()` / `stepFlexmix()` call (R's "
         "start-up and reading the CSV excluded), default control (iter.max 200, tolerance 1e-6 on the "
         "log-likelihood, minprior 0.05), `set.seed(1)`, "
         "one run; *iterations* are those of the run it keeps.  mixexp: the whole `fit` of the default "
         "estimator in the same worker after a compiling fit on 500 rows, judged at random_state=0 "
         "(*iterations*: main run / all EM iterations including the five short runs of the start); "
         "*log-likelihood*: mean per sample, unpenalised (`log_likelihood(X, y).mean()`; flexmix: "
         "`logLik / n`), in y's units.  (a): data `flexmix_own_data` (5 linear experts on x1, softmax gate "
         "on z1..z10), mixexp `MixtureOfExpertsRegressor(n_experts=5, gate_features=[1..10], "
         "expert_features=[0])`, also with `alpha=0, gate_alpha=0`.  (b): data `make_moe_regression(n, 10, "
         "5, noise=0.1, random_state=0)`; flexmix `stepFlexmix(y ~ x1 + ... + x10, k = 5, nrep = 5, "
         "concomitant = FLXPmultinom(~ x1 + ... + x10))` (experts and gate on the same 10 inputs, as "
         "mixexp's default); mixexp `MixtureOfExpertsRegressor(n_experts=5)`.", "",
         "| comparison | flexmix | its iterations | its log-lik. (k left) | mixexp fit | iterations | "
         "mixexp log-lik. | flexmix / mixexp | ≥ flexmix's log-lik.? | load (1 min) |",
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]

    def line(label, fx, m, load):
        return (f"| {label} | {ft(fx['seconds'])} | {fx['iterations']} | {fx['loglik_per_sample']:.5f} "
                f"({fx['k_final']}) | {ft(m['fit'])} | {m['n_iter']} / {m['all_iter']} | {m['loglik']:.5f} | "
                f"{fx['seconds'] / m['fit']:.0f}× | {yes(m['loglik'] >= fx['loglik_per_sample'])} | {load} |")

    seeds = []
    c = r.get("flexmix_own")
    if c and "error" not in c:
        load = f"{c['load_start']:.1f} → {c['load']:.1f}"
        for name, what in (("default", "default penalties"), ("unpenalised", "alpha=0, gate_alpha=0")):
            L.append(line(f"(a) n={c['n']}, {what}", c["flexmix"], c["mixexp"][name][0], load))
            seeds.append((f"(a) {what}", c["flexmix"], c["mixexp"][name]))
    for c in r.get("flexmix_step", []):
        if "error" in c:
            L.append(f"| (b) n={fn(c['n'])} | {c['error']} | | | | | | | | |")
            continue
        for name, what in (("default", "default penalties"), ("unpenalised", "alpha=0, gate_alpha=0")):
            L.append(line(f"(b) n={fn(c['n'])}, d={c['d']}, {what}", c["flexmix"], c["mixexp"][name][0],
                          f"{c['load_start']:.1f} → {c['load']:.1f}"))
            seeds.append((f"(b) n={fn(c['n'])}, {what}", c["flexmix"], c["mixexp"][name]))
    reused = [f"n={fn(c['n'])}: the run of {c['flexmix_from']}, load {c['flexmix_load'][0]:.1f} → "
              f"{c['flexmix_load'][1]:.1f} in its worker"
              for c in [r.get("flexmix_own", {}), *r.get("flexmix_step", [])] if "flexmix_from" in c]
    if reused:
        L += ["", f"flexmix's results (time, iterations, log-likelihood) reused (`--reuse-flexmix`), not run "
              f"again with mixexp's side: {'; '.join(reused)}.  The load column above is mixexp's run's."]
    L += ["", "The same mixexp fit for every random_state run (not judged: the table above is "
          "random_state=0): median time, and how many end at or above flexmix's log-likelihood, or "
          "within 1e-3 nats per sample of it.", "",
          "| comparison | random_state | fit (median, range) | iterations (median main / all) | "
          "log-lik. (min – max) | ≥ flexmix | within 1e-3 |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, fx, ms in seeds:
        t = [m["fit"] for m in ms]
        ll = np.array([m["loglik"] for m in ms])
        f = fx["loglik_per_sample"]
        L.append(f"| {label} | 0..{len(ms) - 1} | {ft(float(np.median(t)))} ({ft(min(t))} – {ft(max(t))}) | "
                 f"{np.median([m['n_iter'] for m in ms]):.0f} / "
                 f"{np.median([m['all_iter'] for m in ms]):.0f} | "
                 f"{ll.min():.5f} – {ll.max():.5f} | {int((ll >= f).sum())} of {len(ll)} | "
                 f"{int((ll >= f - LL_TOL).sum())} of {len(ll)} |")
    return L


def families_obs_section(c):
    """The table of issue 30 item 3: each family and observation type against its baseline."""
    x = c["x_bytes"]
    L = ["", f"## Families and observation types (issue 30, item 3; n={fn(c['n'])}, d={c['d']}, K={c['K']})", "",
         f"`MixtureOfExpertsRegressor(n_experts={c['K']}, max_iter={c['max_iter']}, tol=0, init_params='kmeans')`, "
         "softmax gate, one worker.  *iteration*: the main run's mean EM iteration, median over the rounds "
         f"({c['repeats']} rounds; rows slower than 5× their baseline in the first round: {c['slow_repeats']}); "
         "*ratio*: that row's iteration over its baseline's in the same round, median (and range) over the "
         "rounds.  *peak / X*: peak of numpy's traced allocations during a fit "
         f"(max_iter={c['mem_iter']}, tracemalloc, untimed) above those before it, over X's "
         f"{x / 2**20:.0f} MiB.  Data (`families_obs_data`): X from `make_moe_regression`, its columns 0-2 "
         "constant within groups of 5 rows; lognormal/weibull fit exp(z/2), negative_binomial Poisson(exp(z/2)) "
         "counts, z the standardised Gaussian y; censored: 20% of rows drawn at random get y_upper=inf.  "
         f"Load average in the worker at its end: {c['load']:.1f} (2 cores).", "",
         "| row | iteration | baseline | ratio | target | met? | peak / X (≤ 2) | met? |",
         "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, b, limit in FAMILIES_OBS:
        if name not in c["rows"]:
            continue
        v = c["rows"][name]
        mem = v["peak"] / x
        if b:
            rs = v["ratio"]
            ratio = f"{v['median_ratio']:.2f}×" + (f" ({min(rs):.2f}–{max(rs):.2f}, {len(rs)} rounds)"
                                                   if len(rs) > 1 else " (1 round)")
            judged = (ratio, f"≤ {limit:g}×", yes(v["median_ratio"] <= limit))
        else:
            judged = ("–", "baseline", "–")
        label = FAMILIES_OBS_LABELS.get
        L.append(f"| {label(name, name)} | {ft(v['median'])} | {label(b, b) if b else '–'} | " + " | ".join(judged)
                 + f" | {mem:.2f} | {yes(mem <= 2)} |")
    return L


if __name__ == "__main__":
    main()
