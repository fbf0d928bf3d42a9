#!/usr/bin/env python
"""The default classifier's fit against the default regressor's, side by side (issue 30, item 2).

Same data generators, estimators and per-iteration probe as ``benchmarks/speed.py``'s
``clf`` and ``reg`` rows (d=20, K=16; the classifier's data have 3 classes).  Each fit
runs in its own subprocess with 2 BLAS/numba threads, after a warm-up fit on 2000
rows.  ``iteration`` is the main EM run's time per iteration (the starts' short runs
come before it, in ``start``).  The classifier's held-out log-loss is on 50,000 further
rows of the same generator.

    PYTHONPATH=. python benchmarks/classifier_speed.py              # n = 2e5, ~40 s
    PYTHONPATH=. python benchmarks/classifier_speed.py --n 1e6      # ~2-3 min
    PYTHONPATH=. python benchmarks/classifier_speed.py --n 5e4 --kinds clf --inner-steps 0,20

``--inner-steps M`` (a diagnostic, not a mixexp option) replaces every iteration of the
main EM run (the starts' runs are untouched) by an E-step and then up to M M-steps at
those posteriors (``EMEngine.fit_posteriors``, every component's bound step), wrapping
the engine in the worker as speed.py's probe does; mixexp's files are not touched.

Prints a markdown table row per model.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TAG = "@@RESULT "


def complete_m_steps(n, m):
    """Every EM iteration on all ``n`` rows: E-step, then up to ``m`` fixed-posterior M-steps."""
    from mixexp import _engine

    E = _engine.EMEngine
    em_step0 = E._em_step

    def em_step(eng, params, S, obj, C, design, total, rule=None):
        if design.n_rows != n or rule is not None:
            return em_step0(eng, params, S, obj, C, design, total, rule)
        post = eng.e_step(params, design)[0]
        new = eng.fit_posteriors(post, design, params, m, tol=1e-12)
        S_new = eng.pass_stats(new, design)
        return new, S_new, eng.objective(new, S_new, total)

    E._em_step = em_step


def worker(kind, n, inner):
    sys.path.insert(0, str(HERE))
    import speed
    from sklearn.metrics import log_loss

    if inner:
        complete_m_steps(n, inner)

    X, y = speed.make_data(kind, n + 50_000, 20, 16, seed=0)
    Xt, yt, Xh, yh = X[:n], y[:n], X[n:], y[n:]
    est = speed.make_estimator(kind, 16)
    est.fit(Xt[:2000], yt[:2000])
    probe = speed.Probe()
    t0 = time.perf_counter()
    est.fit(Xt, yt)
    fit = time.perf_counter() - t0
    out = dict(kind=kind, n=n, inner=inner, fit=fit, start=probe.runs[-1]["start"] - t0,
               n_iter=int(est.n_iter_),
               iteration=probe.iteration(n), converged=bool(est.converged_), lower_bound=est.lower_bound_)
    if kind == "clf":
        out["heldout_log_loss"] = float(log_loss(yh, est.predict_proba(Xh), labels=est.classes_))
    print(TAG + json.dumps(out))


def run(kind, n, threads, inner):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, __file__, "--worker", kind, "--n", str(n),
                           "--inner-steps", str(inner)], env=env,
                          capture_output=True, text=True, check=True)
    line = [x for x in proc.stdout.splitlines() if x.startswith(TAG)][-1]
    return json.loads(line[len(TAG):])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=float, default=2e5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--worker")
    ap.add_argument("--kinds", default="reg,clf")
    ap.add_argument("--inner-steps", default="0", help="comma-separated; 0: mixexp's own EM")
    a = ap.parse_args()
    n = int(a.n)
    if a.worker:
        worker(a.worker, n, int(a.inner_steps))
        return
    print("| model | n | M-steps per iteration | fit | start | iterations | iteration | converged "
          "| lower bound | held-out log-loss |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    configs = [(k, int(m)) for k in a.kinds.split(",") for m in a.inner_steps.split(",")]
    for kind, inner in configs:
        r = run(kind, n, a.threads, inner)
        ll = f"{r['heldout_log_loss']:.5f}" if "heldout_log_loss" in r else ""
        steps = "1 (mixexp)" if inner == 0 else f"≤ {inner}"
        print(f"| {kind} | {n:.0e} | {steps} | {r['fit']:.2f} s | {r['start']:.2f} s | {r['n_iter']} | "
              f"{r['iteration'] * 1e3:.0f} ms | {r['converged']} | {r['lower_bound']:.6f} | {ll} |",
              flush=True)

if __name__ == "__main__":
    main()
