"""How often does mixexp's DEFAULT estimator reach the best of 20 starts?

    PYTHONPATH=<checkout under test> python benchmarks/start_quality.py [--datasets all]
        [--max-samples 2000] [--n-jobs 2] [--max-iter 1000] [--out benchmarks/results]

For every dataset:
1. Reference: 20 single starts, ``n_init=1, max_iter=1000, tol=1e-6``: 10 with
   ``init_params="kmeans"`` (random_state 0..9) and 10 with ``init_params="random"``
   (random_state 0..9).  Best = the highest mean per-sample train log-likelihood
   ``log_likelihood(X, y).mean()`` among them.  The kmeans starts with random_state s are
   the default fit of seed s run to (near) convergence, which separates a poor start from a
   short EM budget.
2. Default: the estimator with only ``n_experts=4`` and ``random_state=s`` set (so today's
   defaults for init, n_init, max_iter, tol), s = 0..9.  Reported: how many are within
   0.01 nats per sample of the best, the median gap (best - default), and the same for the
   kmeans and random starts of step 1.
Regression: ``MixtureOfExpertsRegressor(n_experts=4)``; classification:
``MixtureOfExpertsClassifier(n_experts=4)``; training R^2 / accuracy (``score``) of the
best start and of the median default fit are reported too.

Data: the development datasets in ``../shared/data`` relative to the repository root
(``--data-dir`` to point elsewhere; if the folder is absent the script says so and runs
only the simulated case).  Rows of some files are sorted (by class or speaker) and some
columns are constant: every dataset is shuffled with a fixed seed (numpy
``default_rng(0).permutation``) and cut to at most ``--max-samples`` rows; inputs are then
standardised with ``StandardScaler`` (constant columns become 0).

"onehot" is simulated (no files): a 20-level categorical column, one-hot encoded by
``ColumnTransformer([OneHotEncoder(sparse_output=False), StandardScaler()])`` beside 3
numeric columns; y = per-level offset + a zig-zag piecewise-linear function of x1 (knots
at -1, 0, 1; slopes +3/-3, so 4 linear pieces that 4 experts gated on x1 can fit exactly)
+ 0.5 x2 + N(0, 0.5^2).  A good fit has training R^2 near 0.97; an optimum that misses a
piece of the zig-zag has clearly lower R^2.

Fits run through joblib (``--n-jobs``), each worker limited to 1 BLAS/OpenMP thread.
Writes ``<out>/start_quality.md`` and ``<out>/start_quality.csv`` (one line per fit).
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # before numpy: inherited by the joblib workers

import argparse
import csv
import importlib.util
import platform
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_DATA = os.path.join(REPO, "..", "shared", "data")
SEEDS = range(10)
TOL_NATS = 0.01


# ----------------------------------------------------------------------------- data
def make_onehot(n_samples=2000, random_state=0):
    """Simulated regression with a 20-level categorical column; returns (X_design, y)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(random_state)
    n_levels = 20
    level = rng.integers(0, n_levels, n_samples)
    offsets = rng.normal(0.0, 2.0, n_levels)
    num = rng.normal(0.0, 1.0, (n_samples, 3))
    x1 = num[:, 0]
    # zig-zag: slopes +3, -3, +3, -3 on (-inf, -1], [-1, 0], [0, 1], [1, inf); continuous
    zig = np.where(x1 < -1, 3 + 3 * (x1 + 1),
          np.where(x1 < 0, -3 * x1,
          np.where(x1 < 1, 3 * x1, 3 - 3 * (x1 - 1))))
    y = offsets[level] + zig + 0.5 * num[:, 1] + rng.normal(0.0, 0.5, n_samples)
    raw = np.column_stack([level.astype(float), num])
    ct = ColumnTransformer([
        ("level", OneHotEncoder(sparse_output=False, categories=[list(range(n_levels))]), [0]),
        ("num", StandardScaler(), [1, 2, 3]),
    ])
    return ct.fit_transform(raw), y


def load_dataset(name, data_dir, max_samples):
    """(X standardised, y, task, n_rows_of_file) after a fixed shuffle and cut."""
    from sklearn.preprocessing import StandardScaler

    if name == "onehot":
        X, y = make_onehot(max_samples)
        return X, y, "regression", len(y)
    spec = importlib.util.spec_from_file_location("shared_data_load", os.path.join(data_dir, "load.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    X, y = mod.load(name, root=data_dir)
    task = mod.manifest(data_dir)[name]["task"]
    idx = np.random.default_rng(0).permutation(len(y))[:max_samples]
    return StandardScaler().fit_transform(X[idx]), y[idx], task, len(y)


# ----------------------------------------------------------------------------- one fit
def run_fit(dataset, task, kind, seed, X, y, max_iter):
    """One fit in a worker: kind 'kmeans' / 'random' (reference starts) or 'default'."""
    from threadpoolctl import threadpool_limits

    from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor

    Est = MixtureOfExpertsRegressor if task == "regression" else MixtureOfExpertsClassifier
    if kind == "default":
        est = Est(n_experts=4, random_state=seed)
    else:
        est = Est(n_experts=4, random_state=seed, n_init=1, init_params=kind,
                  max_iter=max_iter, tol=1e-6)
    with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        est.fit(X, y)
        sec = time.perf_counter() - t0
        ll = float(est.log_likelihood(X, y).mean())
        score = float(est.score(X, y))
    warned = sorted({w.category.__name__ for w in caught})
    return {"dataset": dataset, "task": task, "kind": kind, "seed": seed, "mean_ll": ll,
            "score": score, "n_iter": int(est.n_iter_), "converged": bool(est.converged_),
            "seconds": sec, "warnings": " ".join(warned)}


# ----------------------------------------------------------------------------- summary
def summarise(fits):
    ref = [f for f in fits if f["kind"] != "default"]
    best = max(ref, key=lambda f: f["mean_ll"])
    out = {"best_ll": best["mean_ll"], "best_kind": best["kind"], "best_seed": best["seed"],
           "best_score": best["score"], "best_converged": best["converged"],
           "n_best_kmeans": 0, "n_best_random": 0}
    for kind in ("default", "kmeans", "random"):
        these = [f for f in fits if f["kind"] == kind]
        gaps = np.array([best["mean_ll"] - f["mean_ll"] for f in these])
        out[f"{kind}_within"] = int((gaps <= TOL_NATS).sum())
        out[f"{kind}_n"] = len(these)
        out[f"{kind}_median_gap"] = float(np.median(gaps))
        out[f"{kind}_max_gap"] = float(gaps.max())
        out[f"{kind}_median_score"] = float(np.median([f["score"] for f in these]))
        out[f"{kind}_median_iter"] = float(np.median([f["n_iter"] for f in these]))
        out[f"{kind}_converged"] = int(sum(f["converged"] for f in these))
        out[f"{kind}_frozen"] = int(sum("Frozen" in f["warnings"] for f in these))
        out[f"{kind}_seconds"] = float(sum(f["seconds"] for f in these))
        if kind != "default":
            out[f"n_best_{kind}"] = out[f"{kind}_within"]
    return out


def describe_mixexp(mixexp):
    root = os.path.dirname(os.path.dirname(os.path.abspath(mixexp.__file__)))
    try:
        rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return f"{getattr(mixexp, '__version__', '?')}" + (f" at commit {rev}" if rev else "")


def write_markdown(path, order, info, summaries, fits, args, wall, header):
    L = [
        "# Start quality: default fits against the best of 20 starts",
        "",
        header,
        "",
        f"- Reference: 20 starts per dataset, `n_init=1, max_iter={args.max_iter}, tol=1e-6`: "
        "10 `init_params=\"kmeans\"` and 10 `init_params=\"random\"`, random_state 0..9 each. "
        "Best = highest mean per-sample train log-likelihood `log_likelihood(X, y).mean()`.",
        "- Default: `MixtureOfExpertsRegressor(n_experts=4, random_state=s)` / "
        "`MixtureOfExpertsClassifier(n_experts=4, random_state=s)`, s = 0..9, all else default.",
        f"- within {TOL_NATS}: fits whose mean train log-likelihood is at most {TOL_NATS} nats per sample "
        "below the best; gap = best - fit (nats per sample). The kmeans starts with random_state s are "
        "the default fit of seed s run to convergence: their gap is the start's, the default's gap adds "
        "the short default EM budget.",
        f"- Data: shuffled with `default_rng(0)`, at most {args.max_samples} rows, inputs standardised "
        "(`StandardScaler`); onehot: simulated, see the script's docstring. Score: training R^2 "
        "(regression) or accuracy (classification).",
        f"- Wall time {wall / 60:.1f} min with `--n-jobs {args.n_jobs}` (1 thread per fit); fit seconds "
        "below are summed over the 10 fits of a kind.",
        "",
        "## Summary",
        "",
        "| dataset | task | n x d | best-of-20 ll | best from (within 0.01: kmeans / random) | "
        "default within 0.01 | default median gap | default max gap | kmeans-start median gap | "
        "random-start median gap | score best / median default |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in order:
        s, (n, d, task, _) = summaries[name], info[name]
        L.append(
            f"| {name} | {'reg' if task == 'regression' else 'clf'} | {n} x {d} | {s['best_ll']:.4f} | {s['best_kind']} s{s['best_seed']} "
            f"({s['n_best_kmeans']}/10, {s['n_best_random']}/10) | {s['default_within']}/10 | "
            f"{s['default_median_gap']:.4f} | {s['default_max_gap']:.4f} | {s['kmeans_median_gap']:.4f} | "
            f"{s['random_median_gap']:.4f} | {s['best_score']:.4f} / {s['default_median_score']:.4f} |")
    L += ["", "## Per dataset", ""]
    for name in order:
        s, (n, d, task, n_file) = summaries[name], info[name]
        L += [f"### {name} ({task}, {n} of {n_file} rows, {d} columns)", "",
              f"best-of-20 mean ll {s['best_ll']:.4f} ({s['best_kind']}, random_state {s['best_seed']}, "
              f"converged {s['best_converged']}), score {s['best_score']:.4f}", "",
              "| kind | within 0.01 | median gap | max gap | median score | median iters | converged | "
              "frozen-expert warnings | fit s (10 fits) |",
              "|---|---|---|---|---|---|---|---|---|"]
        for kind in ("default", "kmeans", "random"):
            L.append(f"| {kind} | {s[kind + '_within']}/{s[kind + '_n']} | {s[kind + '_median_gap']:.4f} | "
                     f"{s[kind + '_max_gap']:.4f} | {s[kind + '_median_score']:.4f} | "
                     f"{s[kind + '_median_iter']:.0f} | {s[kind + '_converged']}/{s[kind + '_n']} | "
                     f"{s[kind + '_frozen']} | {s[kind + '_seconds']:.1f} |")
        by = {(f["kind"], f["seed"]): f for f in fits if f["dataset"] == name}
        L += ["", "| seed | default ll (iters) | kmeans start ll | random start ll |", "|---|---|---|---|"]
        for sd in SEEDS:
            dfl, km, rn = by[("default", sd)], by[("kmeans", sd)], by[("random", sd)]
            L.append(f"| {sd} | {dfl['mean_ll']:.4f} ({dfl['n_iter']}) | {km['mean_ll']:.4f} | {rn['mean_ll']:.4f} |")
        L.append("")
    with open(path, "w") as fh:
        fh.write("\n".join(L))


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="all",
                    help="comma-separated names (from ../shared/data and 'onehot'), or 'all'")
    ap.add_argument("--max-samples", type=int, default=2000)
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--max-iter", type=int, default=1000, help="max_iter of the 20 reference starts")
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)

    data_dir = os.path.abspath(args.data_dir)
    have_data = os.path.exists(os.path.join(data_dir, "load.py"))
    if args.datasets == "all":
        wanted = ["onehot"]
        if have_data:
            spec = importlib.util.spec_from_file_location("shared_data_load", os.path.join(data_dir, "load.py"))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            wanted = mod.names("regression", root=data_dir) + mod.names("classification", root=data_dir) + wanted
    else:
        wanted = [w.strip() for w in args.datasets.split(",") if w.strip()]
    if not have_data:
        dropped = [w for w in wanted if w != "onehot"]
        print(f"the development datasets folder {data_dir} is absent"
              + (f": skipping {', '.join(dropped)}" if dropped else "")
              + ("; running the simulated 'onehot' case only" if "onehot" in wanted else "; nothing to do, exiting."))
        wanted = [w for w in wanted if w == "onehot"]
        if not wanted:
            return 0

    import mixexp
    from joblib import Parallel, delayed

    data, info = {}, {}
    for name in wanted:
        X, y, task, n_file = load_dataset(name, data_dir, args.max_samples)
        data[name] = (X, y, task)
        info[name] = (X.shape[0], X.shape[1], task, n_file)
    print(f"mixexp {describe_mixexp(mixexp)} from {os.path.dirname(mixexp.__file__)}")
    print(f"{len(wanted)} datasets x 30 fits, n_jobs={args.n_jobs}", flush=True)

    # expensive first (classification, wide, many classes) for an even load
    def cost(name):
        X, y, task = data[name]
        k = len(np.unique(y)) if task == "classification" else 1
        return X.shape[0] * (X.shape[1] + 1) * k * (10 if task == "classification" else 1)

    tasks = []
    for name in sorted(wanted, key=cost, reverse=True):
        X, y, task = data[name]
        for kind in ("kmeans", "random", "default"):
            for sd in SEEDS:
                tasks.append((name, task, kind, sd, X, y, args.max_iter))
    t0 = time.perf_counter()
    fits, done = [], {}
    total = len(tasks)
    gen = Parallel(n_jobs=args.n_jobs, return_as="generator_unordered", batch_size=1)(
        delayed(run_fit)(*t) for t in tasks)
    for i, f in enumerate(gen, 1):
        fits.append(f)
        done[f["dataset"]] = done.get(f["dataset"], 0) + 1
        if done[f["dataset"]] == 30 or f["seconds"] > 20:
            print(f"[{i:3d}/{total} {time.perf_counter() - t0:6.0f}s] {f['dataset']}: "
                  f"{done[f['dataset']]}/30 fits done (last {f['kind']} s{f['seed']} {f['seconds']:.1f}s)",
                  flush=True)
    wall = time.perf_counter() - t0

    order = [w for w in wanted]
    summaries = {name: summarise([f for f in fits if f["dataset"] == name]) for name in order}
    os.makedirs(args.out, exist_ok=True)
    fits.sort(key=lambda f: (order.index(f["dataset"]), f["kind"], f["seed"]))
    with open(os.path.join(args.out, "start_quality.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(fits[0]))
        w.writeheader()
        for f in fits:
            w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in f.items()})
    header = (f"Made by `benchmarks/start_quality.py --datasets {args.datasets} --max-samples {args.max_samples} "
              f"--n-jobs {args.n_jobs} --max-iter {args.max_iter}` with mixexp {describe_mixexp(mixexp)}, "
              f"Python {platform.python_version()}.")
    write_markdown(os.path.join(args.out, "start_quality.md"), order, info, summaries, fits, args, wall, header)

    print(f"\n{'dataset':16s} {'best ll':>9s} {'from':>10s} {'default within':>14s} {'med gap':>8s} "
          f"{'km gap':>8s} {'rnd gap':>8s}  score best/default")
    for name in order:
        s = summaries[name]
        print(f"{name:16s} {s['best_ll']:9.4f} {s['best_kind'] + ' s' + str(s['best_seed']):>10s} "
              f"{s['default_within']:>11d}/10 {s['default_median_gap']:8.4f} {s['kmeans_median_gap']:8.4f} "
              f"{s['random_median_gap']:8.4f}  {s['best_score']:.4f}/{s['default_median_score']:.4f}")
    print(f"wall {wall / 60:.1f} min; wrote {os.path.join(args.out, 'start_quality.md')} and start_quality.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
