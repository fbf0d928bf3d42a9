"""How often a default fit of censored and truncated rows reaches the best optimum.

    python benchmarks/censored_starts.py --before /work/main --after . [--seeds 20] [--out benchmarks/results]

Each checkout (``--before``, ``--after``: folders holding a ``mixexp`` package) fits, in a
subprocess with that folder first on ``PYTHONPATH``, every case below with
``MixtureOfExpertsRegressor(2, expert=family, random_state=s)`` (the default start, one
init) and with ``n_init=5``, for ``s`` in ``0 .. seeds - 1``; the ``--after`` checkout also
fits each case once with ``n_init=20`` (``random_state=0``).  A fit *reaches the best* when
its ``lower_bound_`` (mean log-likelihood per row) is within ``TOL`` of the best over every
fit of the case, both checkouts included.  Cases:

- ``two_regimes`` (``tests/test_censoring.py``): Gaussian experts; two opposite slopes, 30%
  right-censored at 1.5, truncated below -2 (357 rows).
- ``weibull_losses`` (``tests/test_censoring.py``): Weibull experts; two regimes,
  right-censored at random follow-up times, truncated below 0.3.
- ``lung``, ``veteran`` (R survival, exported at run time by ``benchmarks/censored_starts.R``
  to a temporary folder, never committed; survival is LGPL): Weibull experts on the survival
  time, the censored rows right-censored (``y_upper = inf``); lung: age, sex, ph.ecog (227
  rows, 63 censored); veteran: trt, karno, diagtime, age, prior (137 rows, 9 censored).
  Without Rscript these two cases are left out.

With ``--tol`` every fit runs to that tolerance (``max_iter=2000``), so that a fit that
misses the best is at another optimum rather than stopped early on the way.  Writes
``<out>/censored_starts.md`` and ``.json`` (with ``--tol``: ``censored_starts_tol<tol>``).
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-3  # nats per row
CASES = {"two_regimes": "linear", "weibull_losses": "weibull", "lung": "weibull", "veteran": "weibull"}
COLUMNS = {"lung": ["age", "sex", "ph.ecog"], "veteran": ["trt", "karno", "diagtime", "age", "prior"]}


def load(case, data_dir):
    """``(X, y, y_upper, truncation)`` of a case, or None when its data is missing."""
    if case in COLUMNS:
        path = os.path.join(data_dir or "", f"{case}.csv")
        if not data_dir or not os.path.exists(path):
            return None
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        col = {c: np.array([float(r[c]) for r in rows]) for c in rows[0]}
        censored = col["status"] == (1 if case == "lung" else 0)
        y = col["time"]
        return np.column_stack([col[c] for c in COLUMNS[case]]), y, np.where(censored, np.inf, y), None
    sys.path.insert(0, os.path.join(HERE, "..", "tests"))
    from test_censoring import _weibull_losses, two_regimes

    if case == "two_regimes":
        return (*two_regimes(), (-2.0, np.inf))
    return (*_weibull_losses(), (0.3, np.inf))


def worker(seeds, data_dir, reference, tol):
    from mixexp import MixtureOfExpertsRegressor

    out = {}
    for case, family in CASES.items():
        data = load(case, data_dir)
        if data is None:
            continue
        X, y, y_upper, truncation = data
        runs = [(1, s) for s in range(seeds)] + [(5, s) for s in range(seeds)]
        runs += [(20, 0)] if reference else []
        fits = []
        for n_init, seed in runs:
            model = MixtureOfExpertsRegressor(2, expert=family, n_init=n_init, random_state=seed)
            if tol is not None:  # a tight tolerance: the start's optimum, not where EM stopped
                model.set_params(tol=tol, max_iter=2000)
            start = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X, y, y_upper=y_upper, truncation=truncation)
                bound, error = float(model.lower_bound_), None
            except Exception as exc:  # a crash is a result here
                bound, error = float("nan"), f"{type(exc).__name__}: {exc}"
            fits.append({"n_init": n_init, "seed": seed, "lower_bound": bound, "error": error,
                         "seconds": time.perf_counter() - start})
        out[case] = {"n": int(X.shape[0]), "censored": int(np.sum(y_upper > y)), "fits": fits}
    print(json.dumps(out))


def run_checkout(path, seeds, data_dir, reference, tol):
    env = {**os.environ, "PYTHONPATH": os.path.abspath(path)}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--seeds", str(seeds)]
    cmd += ["--tol", repr(tol)] if tol is not None else []
    cmd += ["--data", data_dir] if data_dir else []
    cmd += ["--reference"] if reference else []
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=HERE)
    return json.loads(res.stdout.strip().splitlines()[-1])


def export_r(out):
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("Rscript not found: lung and veteran left out.")
        return False
    cmd = [rscript, os.path.join(HERE, "censored_starts.R"), "--out", out]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stderr[-2000:])
        print("the R export failed (is survival installed?): lung and veteran left out.")
        return False
    return True


def table(results, seeds):
    lines = [
        "| case | rows (censored) | checkout | default fit reaches best | n_init=5 reaches best | "
        "default: median lower bound | default: worst | best lower bound | errors | "
        "s per default fit (median) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case in CASES:
        if case not in results["after"]:
            continue
        every = [f["lower_bound"] for side in results.values() for f in side[case]["fits"]]
        best = float(np.nanmax(every))
        for side, res in results.items():
            fits = res[case]["fits"]
            one = [f for f in fits if f["n_init"] == 1]
            five = [f for f in fits if f["n_init"] == 5]

            def hits(fs):
                return sum(f["lower_bound"] >= best - TOL for f in fs)

            bounds = [f["lower_bound"] for f in one]
            errors = sum(f["error"] is not None for f in fits)
            seconds = np.median([f["seconds"] for f in one])
            lines.append(
                f"| {case} | {res[case]['n']} ({res[case]['censored']}) | {side} | {hits(one)}/{len(one)} | "
                f"{hits(five)}/{len(five)} | {np.nanmedian(bounds):.4f} | {np.nanmin(bounds):.4f} | "
                f"{best:.4f} | {errors} | {seconds:.2f} |"
            )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", help="checkout before the change")
    parser.add_argument("--after", default=os.path.join(HERE, ".."), help="checkout after the change")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--tol", type=float, help="every fit's tol (max_iter=2000); default: the estimator's")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--from-json", help="rewrite the table of a saved results .json, fitting nothing")
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.seeds, args.data, args.reference, args.tol)
    if args.from_json:
        with open(args.from_json) as fh:
            saved = json.load(fh)
        results, args.seeds, command = saved["results"], saved["seeds"], saved["command"]
        args.tol = saved.get("fit_tol")
    else:
        command = "python benchmarks/censored_starts.py " + " ".join(sys.argv[1:] if argv is None else argv)
        with tempfile.TemporaryDirectory() as data_dir:
            data = data_dir if export_r(data_dir) else None
            results = {}
            if args.before:
                results["before"] = run_checkout(args.before, args.seeds, data, False, args.tol)
            results["after"] = run_checkout(args.after, args.seeds, data, True, args.tol)
    os.makedirs(args.out, exist_ok=True)
    name = "censored_starts" if args.tol is None else f"censored_starts_tol{args.tol:g}"
    with open(os.path.join(args.out, name + ".json"), "w") as fh:
        saved = {"tol": TOL, "fit_tol": args.tol, "seeds": args.seeds, "command": command, "results": results}
        json.dump(saved, fh, indent=1)
    lines = [
        "# Censored fits: how often the default start reaches the best optimum",
        "",
        f"`{command}` (see the script's doc; lung and veteran are exported from R's survival at run "
        "time, never committed).  A fit reaches the best when its `lower_bound_` is within "
        f"{TOL:g} nats per row of the best of every fit of the case (both checkouts, and one `n_init=20` "
        "fit of the after checkout).",
        "",
        *table(results, args.seeds),
        "",
    ]
    with open(os.path.join(args.out, name + ".md"), "w") as fh:
        fh.write("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
