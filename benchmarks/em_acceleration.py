#!/usr/bin/env python
"""Accelerated EM on the whole parameter vector for the default classifier (issue 30, item 2).

A diagnostic, not a mixexp option: it wraps ``EMEngine.run`` in a worker process (as
``classifier_speed.py --inner-steps`` wraps the EM step; mixexp's files are not touched)
and replaces the main EM run (on all rows; the starts' short runs are untouched) by
cycles of

1. two EM steps of the engine, ``theta0 -> theta1 -> theta2`` (each an M-step and a pass);
2. an extrapolated point ``theta'`` from them, acting on the softmax gate's and the
   multinomial experts' ``coef`` arrays as they are (the gate's rows unidentified up to a
   shift), the components' step-length memory taken from ``theta2``;
3. a pass at ``theta'`` and one stabilising EM step from it, ``theta''``, kept only if its
   penalised objective is at least ``theta2``'s; otherwise EM goes on from ``theta2``.

So the run stays monotone by construction.  ``iterations`` counts EM steps (two per cycle,
three when the extrapolation was tried); ``passes`` counts every pass over the rows,
the extrapolated points' and the engine's safe fallbacks included: passes are what costs.

Variants (``--variants``):

``plain``
    mixexp's EM (no extrapolation).
``squarem``
    SQUAREM, scheme S3 (Varadhan & Roland 2008): ``alpha = -||r|| / ||v||``,
    ``r = theta1 - theta0``, ``v = theta2 - 2 theta1 + theta0``, clamped to
    ``[-stepmax, -1]``; ``stepmax`` starts at ``--stepmax`` and grows 4x when reached,
    shrinks 4x when a step at it is rejected; ``theta' = theta0 - 2 alpha r + alpha^2 v``.
``squarem-bound``
    The same on the plain bound (MM) map: every EM step inside the cycle takes the
    Böhning bound's own step (length 1; the learned lengths are switched off by zeroing
    the blocks' slopes), a smooth fixed-point map as SQUAREM assumes.
``squarem-frozen``
    The same, with each block's step length learned at the cycle's first EM step and
    kept for its second and for the stabilising step (a map that does not change within
    a cycle; ``mixexp._numerics.bound._next_scale`` wrapped).
``qn4``, ``qn8``
    Zhou, Alexander & Lange (2011) quasi-Newton extrapolation with the last q secant pairs
    ``(theta1 - theta0, theta2 - theta1)`` on the frozen-length map:
    ``theta' = F(theta0) - V (U^T U - U^T V)^-1 U^T (theta0 - F(theta0))``.

Data: ``speed.make_data("clf", n + 50000, 20, 16)`` (3 classes), the first ``n`` rows to
fit, the rest held out; the default ``MixtureOfExpertsClassifier(n_experts=16,
random_state=0)``, one BLAS/numba thread per worker.

    PYTHONPATH=. python benchmarks/em_acceleration.py                  # default tol, n = 5e4
    PYTHONPATH=. python benchmarks/em_acceleration.py --tol 1e-9 --max-iter 150
    PYTHONPATH=. python benchmarks/em_acceleration.py --tol 1e-7 --max-iter 400 --variants plain

Prints a markdown table: at the fit's own stop (iterations, passes, fit time, final bound,
held-out log-loss, extrapolations accepted / rejected), the best bound after 50, 100, 150
and 200 passes, and the passes each variant needs to reach the bounds given by ``--targets``.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TAG = "@@RESULT "
VARIANTS = ("plain", "squarem", "squarem-bound", "squarem-frozen", "qn4", "qn8")


def patch(variant, n_main, stepmax0, log):
    """Wrap ``EMEngine.run`` (runs on ``n_main`` rows only) by the ``variant``'s cycles;
    ``log`` collects the passes, the (passes, objective) of every EM step, and counters."""
    from mixexp import _engine
    from mixexp._numerics import bound

    E = _engine.EMEngine
    run0, pass0, em0, next_scale0 = E.run, E.pass_stats, E._em_step, bound._next_scale
    freeze = [False]
    bound_map = variant == "squarem-bound"
    q = int(variant[2:]) if variant.startswith("qn") else 0

    def next_scale(state, b, slope1, safe=False):
        if freeze[0] and not safe:
            return float(state["scale"][b])
        return next_scale0(state, b, slope1, safe)

    def pass_stats(self, params, design, *args, **kwargs):
        if design.n_rows == n_main:
            log["passes"] += 1
        return pass0(self, params, design, *args, **kwargs)

    def em_step(self, params, S, obj, C, design, total, rule=None):
        out = em0(self, params, S, obj, C, design, total, rule)
        if design.n_rows == n_main:
            log["trajectory"].append((log["passes"], out[2]))
        return out

    def coefs(params):
        return [params["gate"]["coef"], params["experts"]["coef"]]

    def with_coefs(params, arrays):
        new = {part: dict(value) for part, value in params.items()}
        new["gate"]["coef"], new["experts"]["coef"] = arrays
        return new

    def run(self, params, design, max_iter, tol, verbose=0, verbose_interval=10, rule=None):
        if rule is not None or design.n_rows != n_main:
            return run0(self, params, design, max_iter, tol, verbose, verbose_interval, rule)
        total = self.total_weight(design)
        C = self.constant_stats(design)
        S = self.pass_stats(params, design)
        obj = self.objective(params, S, total)
        bounds, gained, n_iter, done = [], [obj], 0, False
        stepmax, memory = stepmax0, []

        def em(p, S, o, frozen):
            if bound_map:  # no learned length: the bound's own step
                p = {part: dict(value) for part, value in p.items()}
                for part in ("gate", "experts"):
                    p[part]["slope"] = np.zeros_like(p[part]["slope"])
            freeze[0] = frozen and variant != "squarem"
            try:
                return self._em_step(p, S, o, C, design, total)
            finally:
                freeze[0] = False

        while n_iter < max_iter and not done:
            path = [(params, S, obj)]
            for i in range(2):
                path.append(em(*path[-1], frozen=i > 0))
                n_iter += 1
                bounds.append(path[-1][2])
                gained.append(path[-1][2])
                done = _engine.converged(gained, tol)
                if done or n_iter >= max_iter:
                    break
            params, S, obj = path[-1]
            if done or n_iter >= max_iter:
                break
            t0, t1, t2 = (coefs(p[0]) for p in path)
            r = [b - a for a, b in zip(t0, t1)]
            v = [c - 2 * b + a for a, b, c in zip(t0, t1, t2)]
            if q:
                u_flat = np.concatenate([x.ravel() for x in r])
                memory = (memory + [(u_flat, np.concatenate([x.ravel() for x in v]) + u_flat)])[-q:]
                U = np.column_stack([m[0] for m in memory])
                V = np.column_stack([m[1] for m in memory])
                try:
                    coef = np.linalg.solve(U.T @ U - U.T @ V, -(U.T @ u_flat))
                except np.linalg.LinAlgError:
                    continue
                flat = np.concatenate([x.ravel() for x in t1]) - V @ coef
                cuts = np.cumsum([x.size for x in t1])[:-1]
                extrapolated = [part.reshape(x.shape) for part, x in zip(np.split(flat, cuts), t1)]
                at_max = False
            else:
                norm_r = np.sqrt(sum(np.sum(x * x) for x in r))
                norm_v = np.sqrt(sum(np.sum(x * x) for x in v))
                if not norm_v > 0:
                    continue
                alpha = max(-stepmax, min(-1.0, -norm_r / norm_v))
                at_max = -alpha >= stepmax
                if alpha == -1.0:  # theta' would be theta2
                    stepmax *= 4.0 if at_max else 1.0
                    continue
                extrapolated = [a - 2 * alpha * x + alpha**2 * y for a, x, y in zip(t0, r, v)]
            p_ext = with_coefs(params, extrapolated)
            S_ext = self.pass_stats(p_ext, design)
            obj_ext = self.objective(p_ext, S_ext, total)
            keep = bool(np.isfinite(obj_ext))
            if keep:
                p_new, S_new, obj_new = em(p_ext, S_ext, obj_ext, frozen=True)
                n_iter += 1
                keep = bool(np.isfinite(obj_new) and obj_new >= obj)
            if keep:
                log["accepted"] += 1
                params, S, obj = p_new, S_new, obj_new
                gained.append(obj)
                stepmax *= 4.0 if at_max else 1.0
            else:
                log["rejected"] += 1
                stepmax = max(stepmax0, stepmax / 4.0) if at_max else stepmax
            bounds.append(obj)
            done = _engine.converged(gained, tol)
        return params, bounds, done, n_iter

    E.pass_stats, E._em_step, bound._next_scale = pass_stats, em_step, next_scale
    if variant != "plain":
        E.run = run


def worker(variant, n, tol, max_iter, stepmax):
    sys.path.insert(0, str(HERE))
    import warnings

    import speed
    from sklearn.metrics import log_loss

    import mixexp

    log = {"passes": 0, "trajectory": [], "accepted": 0, "rejected": 0}
    patch(variant, n, stepmax, log)
    X, y = speed.make_data("clf", n + 50_000, 20, 16, seed=0)
    est = mixexp.MixtureOfExpertsClassifier(n_experts=16, random_state=0)
    if tol is not None:
        est.set_params(tol=tol)
    if max_iter is not None:
        est.set_params(max_iter=max_iter)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X[:n], y[:n])
    fit = time.perf_counter() - t0
    out = dict(log, variant=variant, fit=fit, n_iter=int(est.n_iter_), converged=bool(est.converged_),
               lower_bound=float(est.lower_bound_),
               heldout=float(log_loss(y[n:], est.predict_proba(X[n:]), labels=est.classes_)))
    print(TAG + json.dumps(out))


def run(variant, n, tol, max_iter, stepmax):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    args = [sys.executable, __file__, "--worker", variant, "--n", str(n), "--stepmax", str(stepmax)]
    args += [] if tol is None else ["--tol", str(tol)]
    args += [] if max_iter is None else ["--max-iter", str(max_iter)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=float, default=5e4)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--tol", type=float, help="the fit's tol (default: the estimator's)")
    ap.add_argument("--max-iter", type=int, help="the fit's max_iter (default: the estimator's)")
    ap.add_argument("--stepmax", type=float, default=4.0, help="SQUAREM's first largest |alpha|")
    ap.add_argument("--jobs", type=int, default=2, help="workers at once (one thread each)")
    ap.add_argument("--targets", default="-0.72,-0.71,-0.70,-0.695,-0.6925,-0.692,-0.691")
    ap.add_argument("--worker")
    a = ap.parse_args()
    n = int(a.n)
    if a.worker:
        worker(a.worker, n, a.tol, a.max_iter, a.stepmax)
        return
    variants = a.variants.split(",")
    results, pending = {}, list(variants)
    while pending:
        procs = {v: run(v, n, a.tol, a.max_iter, a.stepmax) for v in pending[: a.jobs]}
        pending = pending[a.jobs :]
        for v, proc in procs.items():
            stdout, _ = proc.communicate()
            line = [x for x in stdout.splitlines() if x.startswith(TAG)][-1]
            results[v] = json.loads(line[len(TAG) :])
    budgets = (50, 100, 150, 200)
    targets = [float(t) for t in a.targets.split(",")]
    print("| variant | iterations | passes | fit | final bound | held-out log-loss | accepted / rejected | "
          + " | ".join(f"bound at {b} passes" for b in budgets) + " | "
          + " | ".join(f"passes to {t}" for t in targets) + " |")
    print("| --- " * (7 + len(budgets) + len(targets)) + "|")
    for v in variants:
        r = results[v]
        traj = r["trajectory"]
        at = [max([o for p, o in traj if p <= b], default=float("nan")) for b in budgets]
        reach = [next((str(p) for p, o in traj if o >= t), "—") for t in targets]
        print(f"| {v} | {r['n_iter']} | {r['passes']} | {r['fit']:.1f} s | {r['lower_bound']:.6f} | "
              f"{r['heldout']:.5f} | {r['accepted']} / {r['rejected']} | "
              + " | ".join(f"{x:.5f}" for x in at) + " | " + " | ".join(reach) + " |", flush=True)


if __name__ == "__main__":
    main()
