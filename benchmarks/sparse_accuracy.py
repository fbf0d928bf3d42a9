"""Dense against sparse (lasso) mixtures on the many-feature development datasets.

    PYTHONPATH=<checkout> python benchmarks/sparse_accuracy.py [--datasets ...] [--max-samples 2000]
        [--folds 3] [--alphas 0.25 1 4] [--n-jobs 2] [--out benchmarks/results]
        [--name sparse_accuracy]

Datasets (``../shared/data``; shuffled with a fixed seed, cut to
``--max-samples`` rows): optdigits (64 features), satimage (36), letter (16),
and kin8nm / puma8NH with 24 added N(0, 1) noise columns (8 real + 24 noise =
32 features, like a regression where few inputs matter; seed 0).  For each
fold of a ``--folds``-fold split (stratified for classification, seed 0), on
``Pipeline(StandardScaler(), model)``:

- ``dense``: ``MixtureOf...(n_experts=4, random_state=0)``, the defaults (ridge
  penalties ``alpha`` 1e-6 / 1e-4 and ``gate_alpha`` 1e-3);
- ``lasso a``: the same with ``l1_ratio=1, alpha=a, gate_alpha=a`` for each
  ``a`` of ``--alphas`` (absolute penalties, as the ridge ones: the objective
  is the total, not the mean, log-likelihood);
- ``BIC pick``: of those fits, the one with the lowest training BIC (BIC counts
  only nonzero coefficients), as ``MixtureOfExpertsIC`` with ``param_grid``
  over ``alpha`` would choose.

Reported: test score (accuracy or R²) mean ± sd over folds, fit seconds
(mean per fold, measured with other jobs on 2 shared cores: compare within a
row only), EM iterations, and the share of nonzero expert and gate
coefficients.  Writes ``<out>/<name>.md`` and ``.csv``.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import csv
import importlib.util
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")
DATASETS = ["optdigits", "satimage", "letter", "kin8nm+noise", "puma8NH+noise"]
N_NOISE = 24


def load(name, data_dir, max_samples):
    spec = importlib.util.spec_from_file_location("shared_data_load", os.path.join(data_dir, "load.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    base = name.split("+")[0]
    X, y = mod.load(base, root=data_dir)
    task = mod.manifest(data_dir)[base]["task"]
    idx = np.random.default_rng(0).permutation(len(y))[:max_samples]
    X, y = X[idx], y[idx]
    if name.endswith("+noise"):
        X = np.hstack([X, np.random.default_rng(0).standard_normal((X.shape[0], N_NOISE))])
    return X, y, task


def fit_fold(name, task, fold, Xtr, ytr, Xte, yte, alphas):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor

    Est = MixtureOfExpertsRegressor if task == "regression" else MixtureOfExpertsClassifier
    models = {"dense": Est(4, random_state=0)}
    for a in alphas:
        models[f"lasso {a:g}"] = Est(4, l1_ratio=1.0, alpha=a, gate_alpha=a, random_state=0)
    rows = []
    for label, model in models.items():
        pipe = make_pipeline(StandardScaler(), model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            pipe.fit(Xtr, ytr)
            seconds = time.perf_counter() - t0
        Ztr = pipe[0].transform(Xtr)
        rows.append({"dataset": name, "fold": fold, "model": label, "score": pipe.score(Xte, yte),
                     "bic": model.bic(Ztr, ytr), "seconds": seconds, "n_iter": model.n_iter_,
                     "expert_nonzero": float(np.mean(model.expert_coef_ != 0)),
                     "gate_nonzero": float(np.mean(model.gate_coef_ != 0))})
    best = min((r for r in rows if r["model"] != "dense"), key=lambda r: r["bic"])
    rows.append({**best, "model": "BIC pick", "picked": best["model"]})
    return rows


def main(argv=None):
    from joblib import Parallel, delayed
    from sklearn.model_selection import KFold, StratifiedKFold

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=DATASETS)
    ap.add_argument("--max-samples", type=int, default=2000)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.25, 1.0, 4.0])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--name", default="sparse_accuracy", help="output file names (without extension)")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.data_dir):
        print(f"{args.data_dir} not found: the development datasets are needed.")
        return 1
    start = time.time()
    jobs = []
    for name in args.datasets:
        X, y, task = load(name, args.data_dir, args.max_samples)
        split = (StratifiedKFold if task == "classification" else KFold)(args.folds, shuffle=True, random_state=0)
        for fold, (tr, te) in enumerate(split.split(X, y)):
            jobs.append((name, task, fold, X[tr], y[tr], X[te], y[te], args.alphas))
    rows = [r for part in Parallel(n_jobs=args.n_jobs)(delayed(fit_fold)(*j) for j in jobs) for r in part]
    wall = time.time() - start
    os.makedirs(args.out, exist_ok=True)
    keys = ["dataset", "fold", "model", "score", "bic", "seconds", "n_iter", "expert_nonzero", "gate_nonzero", "picked"]
    with open(os.path.join(args.out, args.name + ".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows({k: r.get(k, "") for k in keys} for r in rows)
    cmd = ("python benchmarks/sparse_accuracy.py --datasets {} --max-samples {} --folds {} --alphas {} --name {}"
           .format(" ".join(args.datasets), args.max_samples, args.folds,
                   " ".join(f"{a:g}" for a in args.alphas), args.name))
    lines = ["# Dense against sparse (lasso) mixtures of 4 experts", "",
             f"`{cmd}` ({wall / 60:.1f} min with {args.n_jobs} jobs; times measured with other jobs on "
             "2 shared cores).", "",
             "Score: accuracy (classification) or R² (regression) on the test folds, mean ± sd. "
             "Nonzero: share of nonzero expert / gate coefficients. BIC pick: the lasso fit with the lowest "
             "training BIC (picks listed).", ""]
    models = list(dict.fromkeys(r["model"] for r in rows))
    for name in args.datasets:
        lines += [f"## {name}", "", "| model | score | fit s | EM iterations | nonzero experts | nonzero gate |",
                  "|---|---:|---:|---:|---:|---:|"]
        for m in models:
            rs = [r for r in rows if r["dataset"] == name and r["model"] == m]
            sc = np.array([r["score"] for r in rs])
            label = m if m != "BIC pick" else "BIC pick (" + ", ".join(r["picked"] for r in rs) + ")"
            lines.append(f"| {label} | {sc.mean():.3f} ± {sc.std():.3f} | {np.mean([r['seconds'] for r in rs]):.1f} | "
                         f"{np.mean([r['n_iter'] for r in rs]):.0f} | {np.mean([r['expert_nonzero'] for r in rs]):.2f} | "
                         f"{np.mean([r['gate_nonzero'] for r in rs]):.2f} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, args.name + ".md"), "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
