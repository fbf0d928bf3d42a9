"""``mixexp compare``'s MoE with and without the lasso-gate points of its grid, on many features.

    PYTHONPATH=<checkout> python benchmarks/compare_sparse.py --datasets sim32 puma8NH+noise satimage
        [--sparse-gate-alphas 10 30] [--models moe cart hgb] [--repeats 1] [--max-samples 2000]
        [--write-csv DIR]

Datasets (``sim32`` is drawn here; the others read ``../shared/data``, shuffled and
cut by :func:`mixexp.compare.make_dataset` to ``--max-samples`` rows):

- ``sim32``: 2000 rows, x ~ N(0, I_32); four experts, a softmax gate on x0, x1 only
  (coefficient rows of norm 3 at angles 0, 90, 180, 270 degrees), each expert linear
  in x2, x3, x4 (coefficients N(0, 1.5²), intercepts N(0, 2²)); noise sd 2 (high);
- ``puma8NH+noise``: the 8 robot-arm inputs of pumadyn-8nh (high noise) and 24
  N(0, 1) noise columns (32 features, as puma32H where few inputs matter; seed 0);
- ``satimage`` (36 features, 6 classes), ``optdigits`` (64), ``waveform_21`` (21).

For each dataset, the comparison of ``--models`` runs twice on the same splits
(``Settings(n_repeats=--repeats)``): ``dense`` with ``sparse_gate_alphas=()``
(the grid before the lasso gate, as on main), ``sparse`` with
``sparse_gate_alphas=--sparse-gate-alphas``.  Only the mixtures differ between the
two runs, so CART and HistGB are run once (with the dense run).  Reported: test
score mean ± sd over the outer folds, the CPU seconds of the process for each
model's cross-validation (``time.process_time``, single job: the fits run in this
process), what the inner searches chose, and the load average at the start and
end.  ``--write-csv DIR`` also writes each dataset as ``DIR/<name>.csv`` (a header,
a ``target`` column) for ``mixexp compare --csv DIR/<name>.csv --target target``.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import csv
import importlib.util
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")
N_NOISE = 24


def simulate_sparse_gate(n_samples=2000, n_features=32, noise=2.0, random_state=0):
    """Four linear experts on x2..x4 behind a softmax gate on x0, x1 only."""
    rng = np.random.default_rng(random_state)
    X = rng.standard_normal((n_samples, n_features))
    angles = np.arange(4) * np.pi / 2
    logits = 3.0 * X[:, :2] @ np.column_stack([np.cos(angles), np.sin(angles)]).T
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    z = (prob.cumsum(axis=1) > rng.uniform(size=(n_samples, 1))).argmax(axis=1)
    coef = 1.5 * rng.standard_normal((4, 3))
    intercept = 2.0 * rng.standard_normal(4)
    y = np.einsum("ij,ij->i", X[:, 2:5], coef[z]) + intercept[z] + noise * rng.standard_normal(n_samples)
    return X, y


def load(name, data_dir):
    if name == "sim32":
        X, y = simulate_sparse_gate()
        return X, y, "regression"
    spec = importlib.util.spec_from_file_location("shared_data_load", os.path.join(data_dir, "load.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    base = name.split("+")[0]
    X, y = mod.load(base, root=data_dir)
    task = mod.manifest(data_dir)[base]["task"]
    if name.endswith("+noise"):
        X = np.hstack([X, np.random.default_rng(0).standard_normal((X.shape[0], N_NOISE))])
    return X, y, task


def run(data, models, settings):
    from mixexp.compare import run_comparison

    rows = []
    for name in models:
        t0 = time.process_time()
        result = run_comparison([data], [name], settings, n_jobs=1, progress=False)
        row = dict(result.summary[0], cpu_seconds=time.process_time() - t0)
        rows.append(row)
        print(f"  {data.name} {row['model']}: {row['score_mean']:.3f} ± {row['score_std']:.3f} "
              f"cpu {row['cpu_seconds']:.0f} s {row['chosen']}", flush=True)
    return rows


def main():
    from mixexp.compare import Settings, make_dataset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["sim32", "puma8NH+noise", "satimage"])
    ap.add_argument("--models", nargs="+", default=["moe", "cart", "hgb"])
    ap.add_argument("--sparse-gate-alphas", nargs="+", type=float, default=[10.0, 30.0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--max-samples", type=int, default=2000)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--write-csv", default=None)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "compare_sparse.csv"))
    args = ap.parse_args()

    dense = Settings(n_repeats=args.repeats, sparse_gate_alphas=())
    sparse = Settings(n_repeats=args.repeats, sparse_gate_alphas=tuple(args.sparse_gate_alphas))
    mixtures = [m for m in args.models if m in ("moe", "hme")]
    out_rows = []
    print(f"load average at start: {os.getloadavg()}", flush=True)
    for name in args.datasets:
        X, y, task = load(name, args.data)
        data = make_dataset(name, X, y, task, max_samples=args.max_samples)
        if args.write_csv:
            os.makedirs(args.write_csv, exist_ok=True)
            with open(os.path.join(args.write_csv, f"{name}.csv"), "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(data.feature_names + ["target"])
                w.writerows(np.column_stack([data.X, data.y]).tolist())
        for label, settings, models in [("dense", dense, args.models), ("sparse", sparse, mixtures)]:
            for row in run(data, models, settings):
                out_rows.append({"dataset": name, "n_features": data.n_features, "grid": label,
                                 "model": row["model"], "score_mean": row["score_mean"],
                                 "score_std": row["score_std"], "cpu_seconds": row["cpu_seconds"],
                                 "chosen": row["chosen"], "error": row["error"]})
    print(f"load average at end: {os.getloadavg()}", flush=True)
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, list(out_rows[0]))
        w.writeheader()
        w.writerows(out_rows)


if __name__ == "__main__":
    main()
