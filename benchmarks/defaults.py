#!/usr/bin/env python
"""Measure the defaults: EM's tolerance and iteration budget, and the penalties.

    python benchmarks/defaults.py [--part tol,penalty] [--max-samples 2000] [--n-jobs 2]

Part "tol": every development dataset (``../shared/data``, each shuffled with a
fixed seed and cut to ``--max-samples`` rows), MoE with K = 2, 4, 8 and the
binary HME of depth 2 and 3, 3-fold CV, ``tol`` in 1e-3, 1e-4, 1e-5 with
``max_iter=5000``: the test score (R² or accuracy) and test log-likelihood per
sample, and the EM iterations each fit used.  A tolerance is good enough when
its test scores match the tightest one's; ``max_iter`` should cover the
iterations that tolerance needs.

Part "penalty": the same folds, K = 4 (MoE), ``gate_alpha`` in 1e-3 ... 1 for
every dataset and, for the classifiers, ``alpha`` in 1e-4 ... 1 (and two
scikit-learn data sets, breast_cancer and digits), with the test log-loss
(classifiers) or test log-likelihood per sample (regressors) and score.

Writes ``benchmarks/results/defaults.md`` and ``defaults.csv``.  Says so and
exits when the development data folder is absent.
"""

import argparse
import csv
import os
import sys
import time
import warnings
from itertools import product

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # before numpy: every worker runs one thread

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data")
TOLS = (1e-3, 1e-4, 1e-5)
GATE_ALPHAS = (1e-3, 1e-2, 1e-1, 1.0)
ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
MODELS = [("MoE K=2", 2, None), ("MoE K=4", 4, None), ("MoE K=8", 8, None), ("HME d=2", None, 2), ("HME d=3", None, 3)]


def load(name, max_samples):
    if name in ("breast_cancer", "digits"):
        from sklearn import datasets

        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        task = "classification"
    else:
        sys.path.insert(0, DATA)
        from load import load as load_shared, manifest

        X, y = load_shared(name)
        task = manifest()[name]["task"]
    order = np.random.default_rng(0).permutation(X.shape[0])[:max_samples]
    return X[order], y[order], task


def fit_one(name, task, X, y, fold, model, params):
    warnings.simplefilter("ignore")
    from sklearn.metrics import accuracy_score, log_loss, r2_score
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    import mixexp

    label, K, depth = model
    split = (StratifiedKFold if task == "classification" else KFold)(3, shuffle=True, random_state=0)
    train, test = list(split.split(X, y))[fold]
    scaler = StandardScaler().fit(X[train])
    Xtr, Xte = scaler.transform(X[train]), scaler.transform(X[test])
    kind = "Regressor" if task == "regression" else "Classifier"
    if depth is None:
        est = getattr(mixexp, f"MixtureOfExperts{kind}")(n_experts=K, random_state=fold, **params)
    else:
        est = getattr(mixexp, f"HierarchicalMixtureOfExperts{kind}")(depth=depth, random_state=fold, **params)
    start = time.perf_counter()
    est.fit(Xtr, y[train])
    seconds = time.perf_counter() - start
    if task == "regression":
        score = r2_score(y[test], est.predict(Xte))
        test_ll = float(np.mean(est.log_likelihood(Xte, y[test])))
    else:
        score = accuracy_score(y[test], est.predict(Xte))
        test_ll = -log_loss(y[test], np.clip(est.predict_proba(Xte), 1e-15, 1), labels=est.classes_)
    return {
        "dataset": name, "task": task, "model": label, "fold": fold, **{k: params.get(k, "") for k in
        ("tol", "max_iter", "alpha", "gate_alpha")}, "score": score, "test_ll": test_ll,
        "n_iter": est.n_iter_, "converged": est.converged_, "seconds": seconds,
    }


def jobs_tol(datasets):
    for (name, (X, y, task)), model, tol, fold in product(datasets.items(), MODELS, TOLS, range(3)):
        yield name, task, X, y, fold, model, {"tol": tol, "max_iter": 5000}


def jobs_penalty(datasets):
    for name, (X, y, task) in datasets.items():
        alphas = ALPHAS if task == "classification" else (None,)
        for gate_alpha, alpha, fold in product(GATE_ALPHAS, alphas, range(3)):
            params = {"gate_alpha": gate_alpha, "max_iter": 5000, "tol": 1e-4}
            if alpha is not None:
                params["alpha"] = alpha
            yield name, task, X, y, fold, MODELS[1], params


def summarise_tol(rows):
    lines = ["## EM tolerance and iterations", "",
             "Median over datasets x models x folds of the test score and test log-likelihood "
             "relative to tol=1e-5 (the same fit with the tightest tolerance), and the EM iterations used.", "",
             "| tol | median score - tight | worst score - tight | median test ll - tight | "
             "iterations: median | 90% | 99% | max | fits stopped by 5000 |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    tight = {(r["dataset"], r["model"], r["fold"]): r for r in rows if r["tol"] == 1e-5}
    for tol in TOLS:
        sel = [r for r in rows if r["tol"] == tol]
        ds = [r["score"] - tight[(r["dataset"], r["model"], r["fold"])]["score"] for r in sel]
        dl = [r["test_ll"] - tight[(r["dataset"], r["model"], r["fold"])]["test_ll"] for r in sel]
        it = np.array([r["n_iter"] for r in sel])
        lines.append(f"| {tol:g} | {np.median(ds):+.4f} | {np.min(ds):+.4f} | {np.median(dl):+.4f} | "
                     f"{np.median(it):.0f} | {np.percentile(it, 90):.0f} | {np.percentile(it, 99):.0f} | "
                     f"{it.max()} | {sum(not r['converged'] for r in sel)} |")
    lines += ["", "Iterations at each tolerance by model:", "",
              "| model | " + " | ".join(f"tol={t:g}: median / 95%" for t in TOLS) + " |",
              "| --- |" + " ---: |" * len(TOLS)]
    for label, *_ in MODELS:
        cells = []
        for tol in TOLS:
            it = [r["n_iter"] for r in rows if r["tol"] == tol and r["model"] == label]
            cells.append(f"{np.median(it):.0f} / {np.percentile(it, 95):.0f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def summarise_penalty(rows):
    lines = ["## Penalties (K = 4)", "",
             "Mean over folds; for each dataset the best setting by test log-likelihood is marked *.", ""]
    for task in ("regression", "classification"):
        sel = [r for r in rows if r["task"] == task]
        if not sel:
            continue
        settings = sorted({(r["gate_alpha"], r["alpha"]) for r in sel}, key=lambda s: (s[0], str(s[1])))
        names = sorted({r["dataset"] for r in sel})
        lines += [f"### {task}: test log-likelihood per sample (score)", "",
                  "| gate_alpha | alpha | " + " | ".join(names) + " | mean rank |",
                  "| ---: | ---: |" + " ---: |" * (len(names) + 1)]
        table = {}
        for s in settings:
            for name in names:
                rs = [r for r in sel if (r["gate_alpha"], r["alpha"]) == s and r["dataset"] == name]
                table[s, name] = (np.mean([r["test_ll"] for r in rs]), np.mean([r["score"] for r in rs]))
        ranks = {s: [] for s in settings}
        for name in names:
            order = sorted(settings, key=lambda s: -table[s, name][0])
            for rank, s in enumerate(order, 1):
                ranks[s].append(rank)
        for s in settings:
            cells = []
            for name in names:
                best = max(settings, key=lambda t: table[t, name][0])
                ll, sc = table[s, name]
                cells.append(f"{ll:.3f} ({sc:.3f}){' *' if s == best else ''}")
            lines.append(f"| {s[0]:g} | {s[1] if s[1] != '' else '-'} | " + " | ".join(cells) +
                         f" | {np.mean(ranks[s]):.1f} |")
        lines.append("")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", default="tol,penalty")
    ap.add_argument("--datasets", default="all")
    ap.add_argument("--max-samples", type=int, default=2000)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    if not os.path.isdir(DATA):
        print(f"development data not found at {DATA}: nothing to measure")
        return 0
    from joblib import Parallel, delayed

    sys.path.insert(0, DATA)
    from load import names

    chosen = names() if args.datasets == "all" else args.datasets.split(",")
    datasets = {name: load(name, args.max_samples) for name in chosen}
    parts = args.part.split(",")
    extra = {name: load(name, args.max_samples) for name in ("breast_cancer", "digits")} \
        if "penalty" in parts and args.datasets == "all" else {}
    start = time.time()
    rows_tol, rows_pen = [], []
    if "tol" in parts:
        rows_tol = Parallel(n_jobs=args.n_jobs, verbose=5)(delayed(fit_one)(*j) for j in jobs_tol(datasets))
    if "penalty" in parts:
        rows_pen = Parallel(n_jobs=args.n_jobs, verbose=5)(
            delayed(fit_one)(*j) for j in jobs_penalty({**datasets, **extra}))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "defaults.csv"), "w", newline="") as fh:
        rows = [dict(r, part="tol") for r in rows_tol] + [dict(r, part="penalty") for r in rows_pen]
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import mixexp

    lines = ["# Defaults by measurement", "",
             f"`python benchmarks/defaults.py --part {args.part} --max-samples {args.max_samples}` "
             f"({time.strftime('%Y-%m-%d')}, {(time.time() - start) / 60:.0f} min with {args.n_jobs} jobs; "
             f"mixexp {mixexp.__version__}, default init `{mixexp.MixtureOfExpertsRegressor().init_params}`).", ""]
    if rows_tol:
        lines += summarise_tol(rows_tol) + [""]
    if rows_pen:
        lines += summarise_penalty(rows_pen)
    with open(os.path.join(args.out, "defaults.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
