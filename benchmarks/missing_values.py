"""Missing values in X: EM that marginalises NaN vs imputation pipelines.

The same model, ``MixtureOfExpertsRegressor(K, gate="gaussian")`` (linear-Gaussian
experts), fitted four ways on training rows whose features are missing completely at
random (each entry independently, 10%, 20%, 40%):

- ``EM (NaN)``: the NaN-aware fit (``docs/missing.md``), predicting test rows from their
  observed features;
- ``mean + MoE``: ``SimpleImputer()`` then the model, in a Pipeline;
- ``iterative + MoE``: ``IterativeImputer(random_state=0)`` then the model;
- ``complete``: the model fitted on the training rows before deletion, predicting the test
  rows before deletion (the oracle without missing values).

Test rows have the same rate of missing entries (except ``complete``).  Data: a simulated
joint Gaussian mixture of experts (4 features, 3 experts, 1000 training and 2000 test
rows) and the bundled ``concrete`` data (8 features, 70/30 splits, K=3).  Test MSE
(concrete: in units of the target's variance, i.e. 1 - R^2), mean ± std over repeats.

Run: ``python benchmarks/missing_values.py [repeats]`` (3 repeats by default, about a
minute and a half on one core; the table in the results was run with 5); writes
``benchmarks/results/missing_values.md``.
"""

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's mixexp

from mixexp import MixtureOfExpertsRegressor  # noqa: E402
from mixexp.datasets import load_concrete  # noqa: E402

RATES = (0.1, 0.2, 0.4)
METHODS = ("EM (NaN)", "mean + MoE", "iterative + MoE", "complete")
OUT = Path(__file__).resolve().parent / "results" / "missing_values.md"


def simulate(n, rng):
    """Three linear-Gaussian experts on three correlated Gaussian clusters of 4 features."""
    d, K = 4, 3
    means = np.array([[-2.0, 0.0, 1.0, 0.0], [2.0, 1.0, -1.0, 0.5], [0.0, -2.0, 0.0, -1.0]])
    A = np.array([[1.0, 0.0, 0.0, 0.0], [0.6, 0.8, 0.0, 0.0], [0.3, -0.4, 0.8, 0.0], [0.0, 0.5, 0.5, 0.7]])
    coef = np.array([[1.5, -1.0, 0.5, 0.0], [-0.5, 2.0, 0.0, 1.0], [0.0, 0.5, -1.5, 1.0]])
    intercept = np.array([1.0, -1.0, 0.0])
    k = rng.integers(0, K, size=n)
    X = means[k] + rng.standard_normal((n, d)) @ A.T
    y = np.sum(X * coef[k], axis=1) + intercept[k] + 0.5 * rng.standard_normal(n)
    return X, y


def delete(X, rate, rng):
    """A copy of ``X`` with each entry NaN with probability ``rate`` (MCAR)."""
    out = X.copy()
    out[rng.random(X.shape) < rate] = np.nan
    return out


def models(K, seed):
    def moe():
        return MixtureOfExpertsRegressor(K, gate="gaussian", random_state=seed)

    return {
        "EM (NaN)": moe(),
        "mean + MoE": make_pipeline(SimpleImputer(), moe()),
        "iterative + MoE": make_pipeline(IterativeImputer(random_state=seed), moe()),
        "complete": moe(),
    }


def run_split(X_tr, y_tr, X_te, y_te, rate, K, seed, scale):
    rng = np.random.default_rng(1000 + seed)
    Xm_tr, Xm_te = delete(X_tr, rate, rng), delete(X_te, rate, rng)
    errors, seconds = {}, {}
    for name, model in models(K, seed).items():
        train, test = (X_tr, X_te) if name == "complete" else (Xm_tr, Xm_te)
        start = time.perf_counter()
        model.fit(train, y_tr)
        seconds[name] = time.perf_counter() - start
        errors[name] = np.mean((model.predict(test) - y_te) ** 2) / scale
    return errors, seconds


def table(title, results):
    lines = [f"### {title}", "", "| missing | " + " | ".join(METHODS) + " |",
             "| --- | " + " | ".join("---:" for _ in METHODS) + " |"]
    for rate in RATES:
        errs = results[rate]
        means = {m: np.mean([e[0][m] for e in errs]) for m in METHODS}
        best = min(means[m] for m in METHODS if m != "complete")
        cells = []
        for m in METHODS:
            vals = [e[0][m] for e in errs]
            cell = f"{np.mean(vals):.3f} ± {np.std(vals):.3f}"
            cells.append(f"**{cell}**" if m != "complete" and means[m] == best else cell)
        lines.append(f"| {rate:.0%} | " + " | ".join(cells) + " |")
    lines += ["", "Mean fit seconds (one core):", "", "| missing | " + " | ".join(METHODS) + " |",
              "| --- | " + " | ".join("---:" for _ in METHODS) + " |"]
    for rate in RATES:
        secs = [np.mean([e[1][m] for e in results[rate]]) for m in METHODS]
        lines.append(f"| {rate:.0%} | " + " | ".join(f"{s:.2f}" for s in secs) + " |")
    return lines + [""]


def main(repeats=3):
    warnings.simplefilter("ignore", ConvergenceWarning)
    sections = []
    sim = {rate: [] for rate in RATES}
    for seed in range(repeats):
        rng = np.random.default_rng(seed)
        X_tr, y_tr = simulate(1000, rng)
        X_te, y_te = simulate(2000, rng)
        for rate in RATES:
            sim[rate].append(run_split(X_tr, y_tr, X_te, y_te, rate, 3, seed, 1.0))
            print(f"simulated seed {seed} {rate:.0%}: {sim[rate][-1][0]}", flush=True)
    sections += table("Simulated (4 features, 3 experts, noise sd 0.5): test MSE", sim)
    X, y = load_concrete()
    real = {rate: [] for rate in RATES}
    for seed in range(repeats):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=seed)
        for rate in RATES:
            real[rate].append(run_split(X_tr, y_tr, X_te, y_te, rate, 3, seed, np.var(y_te)))
            print(f"concrete split {seed} {rate:.0%}: {real[rate][-1][0]}", flush=True)
    sections += table("concrete (8 features, K=3, 70/30 splits): test MSE / Var(y), i.e. 1 - R²", real)
    header = [
        "# Missing values in X: NaN-aware EM vs imputation pipelines", "",
        f"Command: `python benchmarks/missing_values.py {repeats}` ({repeats} repeats; "
        f"{time.strftime('%Y-%m-%d')}). Generated by the script; the method is in its docstring.",
        "Entries of X missing completely at random at the given rate, in training and test rows;",
        "the same model (`MixtureOfExpertsRegressor(3, gate=\"gaussian\")`, linear-Gaussian experts)",
        "behind each way of handling them; `complete` is the fit and prediction before deletion.",
        "Best of the three ways with missing values in bold (mean ± std over repeats).", "",
    ]
    OUT.write_text("\n".join(header + sections))
    print(OUT.read_text())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
