#!/usr/bin/env python
"""Measure the regressors' penalties ``alpha`` and ``gate_alpha`` and the extrapolation guard.

    Rscript benchmarks/export_r_data.R /tmp/mixexp_r_data      # Boston, CPS1985, mpg, diamonds
    python benchmarks/alpha_default.py --part alpha --n-jobs 2
    python benchmarks/alpha_default.py --part gate --n-jobs 2
    python benchmarks/alpha_default.py --report                 # the markdown from the CSVs

Every regression development dataset (``../shared/data``, shuffled with a
fixed seed and cut to ``--max-samples`` rows) and the real data sets that
benchmarks/export_r_data.R writes from R packages (``--r-data``; skipped when
absent): Boston (``chas`` and ``rad`` one-hot: 22 columns), CPS1985 (wages, 7
factors), mpg (highway mileage, 5 factors), diamonds (price, 3 factors).
Each is cross-validated (KFold, shuffled, seed 0; 5 folds up to 1000 rows, 3
above) with ``Pipeline(OneHotEncoder on the categorical columns,
StandardScaler, model)`` for MoE (``n_experts`` 2, 4, 8) and the binary HME
(``depth`` 1, 2, 3), all other parameters at their defaults except the grid:

- part ``alpha``: ``alpha`` in 1e-6, 1e-3, 1e-2, 0.1, 1, 3, 10 with ``gate_alpha=1e-3``;
- part ``gate``: ``gate_alpha`` in 1e-2, 0.1, 1 with ``alpha`` in 1, 3, 10;
- part ``guard``: the library's guard switched off (``clip_experts=False``)
  at the chosen defaults, ``alpha`` 1e-6 and 1;
- part ``n``: the 2000-row sets cut to 500 rows, ``alpha`` in 0.1, 1, 3, 10
  (does the best ``alpha`` move with the number of rows?).

Each fit is scored by test R² as the estimator predicts it, and by two ways of
clipping each expert's mean computed here from the same fit: to the training
targets' range (``global``), and to the range of the training targets of the
rows whose largest posterior is that expert's (``expert``).  Ordinary least
squares on the same columns and folds is the reference.  Writes
``benchmarks/results/alpha_default_<part>.csv`` and ``alpha_default.md``.
"""

import argparse
import csv
import functools
import os
import platform
import sys
import time
import warnings
from itertools import product

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # before numpy: every worker runs one thread

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "..", "shared", "data")
R_DATA = "/tmp/mixexp_r_data"
R_SETS = {"boston": "medv", "cps1985": "wage", "mpg": "hwy", "diamonds": "price"}
MODELS = [("MoE K=2", 2, None), ("MoE K=4", 4, None), ("MoE K=8", 8, None),
          ("HME d=1", None, 1), ("HME d=2", None, 2), ("HME d=3", None, 3)]
PARTS = {
    "alpha": {"alpha": (1e-6, 1e-3, 1e-2, 0.1, 1.0, 3.0, 10.0), "gate_alpha": (1e-3,)},
    "gate": {"alpha": (1.0, 3.0, 10.0), "gate_alpha": (1e-2, 0.1, 1.0)},
    "guard": {"alpha": (1e-6, 1.0), "gate_alpha": (1e-3,), "clip_experts": False},
    "n": {"alpha": (0.1, 1.0, 3.0, 10.0), "gate_alpha": (1e-3,), "max_samples": 500},
}
RESULTS = os.path.join(HERE, "results")


@functools.lru_cache(maxsize=None)
def shared_loader():
    """The ``load.py`` module of the development data folder."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_alpha_default_data", os.path.join(DATA, "load.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=None)
def load(name, max_samples, r_data):
    """``(X, y, categorical column indices, source)``: X an object array when it has text columns."""
    if name in R_SETS:
        import pandas as pd

        df = pd.read_csv(os.path.join(r_data, f"{name}.csv"))
        y = df.pop(R_SETS[name]).to_numpy(np.float64)
        cats = [i for i, c in enumerate(df.columns) if not pd.api.types.is_numeric_dtype(df[c])]
        X = df.to_numpy(object) if cats else df.to_numpy(np.float64)
        source = "R"
    else:
        X, y = shared_loader().load(name)
        cats = []
        source = "dev"
    order = np.random.default_rng(0).permutation(X.shape[0])[:max_samples]
    return X[order], y[order], tuple(cats), source


def n_folds(n):
    return 5 if n <= 1000 else 3


def pipeline(model, cats):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    steps = []
    if cats:
        steps.append(("onehot", ColumnTransformer(
            [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(cats))],
            remainder="passthrough")))
    return Pipeline(steps + [("scale", StandardScaler()), ("model", model)])


def clipped(est, Xtr, ytr, Xte):
    """Test predictions with each expert's mean clipped to the training targets' range
    (``global``) and to its own rows' targets' range (``expert``: the rows whose
    largest posterior is its; an expert without rows keeps the global range)."""
    means = est.predict_experts(Xte)  # (n, K)
    gates = est.predict_gate(Xte)
    lo, hi = ytr.min(), ytr.max()
    owner = est.responsibilities(Xtr, ytr).argmax(axis=1)
    k = means.shape[1]
    elo, ehi = np.full(k, lo), np.full(k, hi)
    for j in range(k):
        rows = ytr[owner == j]
        if rows.size:
            elo[j], ehi[j] = rows.min(), rows.max()
    return (np.sum(gates * np.clip(means, lo, hi), axis=1),
            np.sum(gates * np.clip(means, elo, ehi), axis=1))


def fit_one(name, max_samples, r_data, fold, model, alpha, gate_alpha, extra):
    warnings.simplefilter("ignore")
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold

    import mixexp

    X, y, cats, _ = load(name, max_samples, r_data)
    label, K, depth = model
    train, test = list(KFold(n_folds(len(y)), shuffle=True, random_state=0).split(X))[fold]
    params = {"alpha": alpha, "gate_alpha": gate_alpha, "random_state": fold, **extra}
    if depth is None:
        est = mixexp.MixtureOfExpertsRegressor(n_experts=K, **params)
    else:
        est = mixexp.HierarchicalMixtureOfExpertsRegressor(depth=depth, **params)
    pipe = pipeline(est, cats)
    start = time.process_time()
    try:
        pipe.fit(X[train], y[train])
    except ValueError as err:  # e.g. a fitted attribute that overflows: a failure, scored as such
        return {"dataset": name, "rows": len(y), "model": label, "fold": fold, "alpha": alpha,
                "gate_alpha": gate_alpha, "r2": np.nan, "r2_global": np.nan, "r2_expert": np.nan,
                "r2_linear": np.nan, "test_ll": np.nan, "max_abs_pred": np.nan, "y_range": np.ptp(y[train]),
                "n_iter": 0, "cpu_seconds": time.process_time() - start, "error": str(err)[:80]}
    seconds = time.process_time() - start
    pred = pipe.predict(X[test])
    pre = pipe[:-1]
    Xtr, Xte = pre.transform(X[train]), pre.transform(X[test])
    p_global, p_expert = clipped(pipe[-1], Xtr, y[train], Xte)
    lin = pipeline(LinearRegression(), cats).fit(X[train], y[train])
    return {
        "dataset": name, "rows": len(y), "model": label, "fold": fold, "alpha": alpha,
        "gate_alpha": gate_alpha, "r2": r2_score(y[test], pred),
        "r2_global": r2_score(y[test], p_global), "r2_expert": r2_score(y[test], p_expert),
        "r2_linear": r2_score(y[test], lin.predict(X[test])),
        "test_ll": float(np.mean(pipe[-1].log_likelihood(Xte, y[test]))),
        "max_abs_pred": float(np.max(np.abs(pred - np.median(y[train])))), "y_range": float(np.ptp(y[train])),
        "n_iter": est.n_iter_ if hasattr(est, "n_iter_") else pipe[-1].n_iter_,
        "cpu_seconds": seconds, "error": "",
    }


def datasets(args):
    out = list(shared_loader().names("regression")) if os.path.isdir(DATA) else []
    if os.path.isdir(args.r_data):
        out += [n for n in R_SETS if os.path.exists(os.path.join(args.r_data, f"{n}.csv"))]
    return out


def run_part(part, args):
    from joblib import Parallel, delayed

    spec = PARTS[part]
    max_samples = spec.get("max_samples", args.max_samples)
    extra = {"clip_experts": spec["clip_experts"]} if "clip_experts" in spec else {}
    names = datasets(args)
    if part == "n":
        names = [n for n in names if len(load(n, args.max_samples, args.r_data)[1]) > 1000]
    jobs = []
    for name in names:
        n = len(load(name, max_samples, args.r_data)[1])
        for model, alpha, gate_alpha, fold in product(MODELS, spec["alpha"], spec["gate_alpha"], range(n_folds(n))):
            jobs.append((name, max_samples, args.r_data, fold, model, alpha, gate_alpha, extra))
    start = time.time()
    load_before = os.getloadavg()
    rows = Parallel(n_jobs=args.n_jobs, verbose=2)(delayed(fit_one)(*j) for j in jobs)
    wall = time.time() - start
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"alpha_default_{part}.csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(RESULTS, f"alpha_default_{part}.log"), "w") as fh:
        fh.write(f"part {part}: {len(rows)} fits, {wall / 60:.1f} min wall with {args.n_jobs} jobs, "
                 f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
                 f"{time.strftime('%Y-%m-%d %H:%M')}; {platform.processor() or platform.machine()}, "
                 f"{os.cpu_count()} cores\n")


def read(part):
    path = os.path.join(RESULTS, f"alpha_default_{part}.csv")
    if not os.path.exists(path):
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("alpha", "gate_alpha", "r2", "r2_global", "r2_expert", "r2_linear", "test_ll", "cpu_seconds"):
            r[k] = float(r[k])
        r["fold"] = int(r["fold"])
    return rows


def table(rows, key, score, names):
    """Mean R² per dataset and setting, mean over datasets, and the worst fold against OLS."""
    settings = sorted({key(r) for r in rows})
    lines = ["| setting | " + " | ".join(names) + " | mean | worst fold − OLS | folds < OLS − 0.1 |",
             "| --- |" + " ---: |" * (len(names) + 3)]
    for s in settings:
        sel = [r for r in rows if key(r) == s]
        cells, means = [], []
        for name in names:
            v = [r[score] for r in sel if r["dataset"] == name]
            m = float(np.mean(v)) if v else np.nan
            means.append(m)
            cells.append("—" if not v else (f"{m:.3f}" if m > -10 else f"{m:.1e}"))
        gap = np.array([r[score] - r["r2_linear"] for r in sel])
        gap = np.where(np.isnan(gap), -np.inf, gap)
        worst = sel[int(np.argmin(gap))]
        mean = float(np.mean(means))
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {mean:.3f} | {gap.min():+.3g} "
                     f"({worst['dataset']} {worst['model']} fold {worst['fold']}) | {int(np.sum(gap < -0.1))} |")
    return lines


def report(args):
    from collections import Counter

    lines = ["# Regressors' penalties and the extrapolation guard, by measurement", "",
             "Made by `benchmarks/alpha_default.py` (its docstring lists the data, models and grids); "
             "each part's command, time and machine load are below its table.  R² of the test folds: "
             "for each setting the mean over datasets of the mean over models (MoE K=2/4/8, HME "
             "depth 1/2/3) and folds, and the worst fold's R² minus the least-squares R² on the "
             "same fold.", ""]
    for part in ("alpha", "gate", "guard", "n"):
        rows = read(part)
        if not rows:
            continue
        names = sorted({r["dataset"] for r in rows}, key=lambda n: (n in R_SETS, n))
        log = open(os.path.join(RESULTS, f"alpha_default_{part}.log")).read().strip()
        cmd = f"python benchmarks/alpha_default.py --part {part} --n-jobs {args.n_jobs}"
        lines += [f"## Part `{part}`", "", f"`{cmd}`: {log}", ""]
        key = (lambda r: f"alpha={r['alpha']:g}, gate_alpha={r['gate_alpha']:g}")
        for score, what in (("r2", "as predicted by the estimator"),
                            ("r2_global", "experts' means clipped to the training targets' range"),
                            ("r2_expert", "experts' means clipped to their own rows' targets' range")):
            lines += [f"### R² {what}", ""] + table(rows, key, score, names) + [""]
        lines += ["Least squares on the same folds: " + ", ".join(
            f"{n} {np.mean([r['r2_linear'] for r in rows if r['dataset'] == n and r['model'] == 'MoE K=2' and r['alpha'] == rows[0]['alpha'] and r['gate_alpha'] == rows[0]['gate_alpha']]):.3f}"
            for n in names) + ".", ""]
        cpu = Counter()
        for r in rows:
            cpu[r["model"]] += r["cpu_seconds"]
        lines += ["CPU seconds of the fits by model: " + ", ".join(f"{m} {s:.0f}" for m, s in cpu.items()) + ".", ""]
        best = {}
        for r in rows:
            k = (r["dataset"], r["model"], r["fold"])
            if k not in best or r["r2"] > best[k]["r2"]:
                best[k] = r
        chosen = Counter(f"{r['alpha']:g}" for r in best.values())
        lines += ["Best `alpha` per (dataset, model, fold) by test R² (count): " +
                  ", ".join(f"{a}: {c}" for a, c in sorted(chosen.items(), key=lambda t: float(t[0]))) + ".", ""]
    with open(os.path.join(RESULTS, "alpha_default.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", default="", help="comma-separated: " + ", ".join(PARTS))
    ap.add_argument("--report", action="store_true", help="write alpha_default.md from the CSVs")
    ap.add_argument("--max-samples", type=int, default=2000)
    ap.add_argument("--r-data", default=R_DATA)
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args(argv)
    if not os.path.isdir(DATA):
        print(f"development data not found at {DATA}: nothing to measure")
        return 0
    for part in filter(None, args.part.split(",")):
        run_part(part, args)
    if args.report or args.part:
        report(args)
    return 0


if __name__ == "__main__":
    # the workers find this module by name (its cached loaders pickle by reference)
    sys.path.insert(0, HERE)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")]))
    import alpha_default

    sys.exit(alpha_default.main())
