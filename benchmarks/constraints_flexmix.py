"""Shared coefficients and a tied noise variance (``shared_features``, ``tied_variance``) against
R's flexmix ``FLXMRglmfix(fixed = ~ x, varFix = TRUE)`` on NPreg; and ``wald_test`` of "the
same slope in every expert" against the likelihood ratio of the constrained refit.

    PYTHONPATH=<checkout under test> python benchmarks/constraints_flexmix.py [--out benchmarks/results]

1. ``benchmarks/constraints_flexmix.R`` runs in a temporary folder: it exports flexmix's
   ``NPreg`` (GPL, never written into the repository) and fits, K=2, constant mixing
   weights, from NPreg's ``class`` (``cluster=``): ``yn ~ I(x^2)`` with ``fixed = ~ x`` and
   ``varFix = TRUE`` or ``FALSE``, and ``yn ~ x + I(x^2)`` with ``varFix = TRUE``; each as
   flexmix is and with its M-step's sigma made the maximum-likelihood one (the only change).
   Without Rscript or flexmix the script says so and exits with status 0.
2. mixexp fits the same rows from the same partition (``init_params`` = its one-hot
   responsibilities): ``MixtureOfExpertsRegressor(2, gate_features=[], expert_features=["x",
   "x2"], shared_features=["x"] or None, tied_variance=..., alpha=0, gate_alpha=0,
   tol=1e-12, max_iter=5000)``.
3. Log-likelihoods (sums over the 200 rows, nats): flexmix's ``logLik``, mixexp's
   ``log_likelihood(X, y).sum()``; df: flexmix's and mixexp's ``bic`` count.
4. The free model ``yn ~ x + I(x^2)`` (mixexp, from ``class``): ``wald_test(model, X, y,
   "equal[x]")`` against ``2 (l_free - l_shared)`` with the refit ``shared_features=["x"]``
   (both with free variances), and the same pair on simulated data where the slopes are
   truly equal (the null) and where they differ a little.
Prints the tables and writes ``<out>/constraints_flexmix.md``.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
R_SCRIPT = os.path.join(HERE, "constraints_flexmix.R")

MODELS = {
    "fix_tied": ("yn ~ I(x^2), fixed = ~ x, varFix = TRUE", {"shared_features": ["x"], "tied_variance": True}),
    "fix_free": ("yn ~ I(x^2), fixed = ~ x, varFix = FALSE", {"shared_features": ["x"]}),
    "tied": ("yn ~ x + I(x^2), varFix = TRUE", {"tied_variance": True}),
}


def fit(X, y, start, **kw):
    from mixexp import MixtureOfExpertsRegressor

    resp = np.eye(2)[start]
    model = MixtureOfExpertsRegressor(
        2, gate_features=[], expert_features=["x", "x2"], alpha=0.0, gate_alpha=0.0, tol=1e-12,
        max_iter=5000, init_params=resp, **kw,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


def n_params(model, X, y):
    return round((model.bic(X, y) + 2 * model.log_likelihood(X, y).sum()) / np.log(X.shape[0]))


def wald_vs_lr(X, y, start):
    """Wald statistic of ``equal[x]`` on the free model, likelihood ratio against the refit."""
    from mixexp.inference import wald_test

    free = fit(X, y, start)
    shared = fit(X, y, start, shared_features=["x"])
    lr = 2.0 * (free.log_likelihood(X, y).sum() - shared.log_likelihood(X, y).sum())
    wald = wald_test(free, X, y, "equal[x]")
    return wald, lr, free


def simulated(slope2, seed, n=2000):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    z = rng.integers(0, 2, n)
    y = np.where(z == 0, 5 * x, 15 + slope2 * x - x**2 / 10) + 2 * rng.normal(size=n)
    return pd.DataFrame({"x": x, "x2": x**2}), y, z


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    if shutil.which("Rscript") is None:
        print("Rscript not found: nothing to compare against.")
        return 0
    import mixexp

    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(["Rscript", R_SCRIPT, "--out", tmp], capture_output=True, text=True)
        if run.returncode != 0:
            print("constraints_flexmix.R failed (is flexmix installed?):\n" + run.stderr)
            return 0
        with open(os.path.join(tmp, "constraints_flexmix.json")) as f:
            r = json.load(f)
        data = pd.read_csv(os.path.join(tmp, "npreg_fix.csv"))
    x, y = data["x"].to_numpy(), data["yn"].to_numpy()
    X = pd.DataFrame({"x": x, "x2": x**2})
    start = data["class"].to_numpy() - 1
    lines = [
        "| model | flexmix variant | flexmix loglik (df) | mixexp loglik (df) | mixexp - flexmix "
        "| max abs coef diff | sigma mixexp / flexmix | iterations flexmix / mixexp |",
        "|---|---|---|---|---|---|---|---|",
    ]
    models = {}
    for f in r["fits"]:
        label, kw = MODELS[f["name"]]
        if f["name"] not in models:
            models[f["name"]] = fit(X, y, start, **kw)
        model = models[f["name"]]
        ll = model.log_likelihood(X, y).sum()
        m_coef = np.column_stack([model.expert_intercept_.ravel(), model.expert_coef_.reshape(2, -1)])
        f_coef = np.array(f["coef"])
        order = min([[0, 1], [1, 0]], key=lambda p: np.abs(m_coef[p] - f_coef).sum())
        sigma = np.sqrt(model.noise_variance_.ravel())[order] / np.array(f["sigma"])
        lines.append(
            f"| {label} | {f['variant']} | {f['loglik']:.6f} ({f['df']}) | {ll:.6f} ({n_params(model, X, y)}) "
            f"| {ll - f['loglik']:+.6f} | {np.abs(m_coef[order] - f_coef).max():.2e} "
            f"| {'/'.join(f'{s:.5f}' for s in sigma)} | {f['iter']} / {model.n_iter_} |"
        )
    table = "\n".join(lines)
    print(table)

    tests = [
        "| data | slopes of x | Wald `equal[x]` (df) | p | likelihood ratio | p | Wald / LR |",
        "|---|---|---|---|---|---|---|",
    ]
    from scipy.stats import chi2

    cases = [("NPreg (n = 200), yn ~ x + I(x^2)", "free", X, y, start)]
    for slope2, seed in [(5.0, 0), (5.0, 1), (5.3, 2)]:
        Xs, ys, zs = simulated(slope2, seed)
        cases.append((f"simulated (n = 2000, seed {seed}), true slopes 5 and {slope2}", "", Xs, ys, zs))
    for name, _, Xc, yc, zc in cases:
        wald, lr, free = wald_vs_lr(Xc, yc, zc)
        slopes = "/".join(f"{v:.3f}" for v in free.expert_coef_[:, 0, 0])
        tests.append(
            f"| {name} | {slopes} | {wald.statistic:.4f} ({wald.df}) | {wald.p_value:.3g} | {lr:.4f} "
            f"| {chi2.sf(lr, wald.df):.3g} | {wald.statistic / lr:.4f} |"
        )
    tests_text = "\n".join(tests)
    print(tests_text)
    header = [
        "# Shared coefficients and a tied variance against flexmix `FLXMRglmfix` (NPreg, K=2)",
        "",
        "```",
        "PYTHONPATH=. python benchmarks/constraints_flexmix.py",
        "```",
        "",
        f"{r['R']}, flexmix {r['flexmix']}; mixexp {mixexp.__version__}, Python {sys.version.split()[0]}; "
        f"n = {len(y)} rows.  Every fit starts from NPreg's `class` (flexmix `cluster=`, mixexp "
        "`init_params=` its one-hot responsibilities); constant mixing weights (`gate_features=[]`), "
        "no penalties, flexmix `tolerance=1e-12`, mixexp `tol=1e-12`.  Log-likelihoods are sums "
        "over the rows in nats; mixexp's df is the count `bic` uses.",
        "",
        "flexmix's Gaussian M-step divides the weighted residual sum of squares by `mean(w) (n_rows - "
        "n_coef)` over its stacked rows (a residual-df correction), not by `sum(w)`, so flexmix "
        "as it is stops short of the maximum likelihood (its sigma is larger).  The rows \"flexmix, "
        "ML sigma\" run flexmix's own `FLXMRglmfix` M-step with that one line changed to the "
        "maximum-likelihood sigma (`benchmarks/constraints_flexmix.R`, `ml_sigma`); mixexp matches "
        "them.  With `varFix = FALSE` flexmix's stacked least squares weights each expert's rows by "
        "the posteriors only, not by the posteriors over that expert's variance, so its "
        "shared coefficient is not the M-step's (it is with a tied variance); mixexp weighs by "
        "`w / sigma_k^2` (an ECM step) and reaches a higher likelihood.",
        "",
        table,
        "",
        "## `wald_test` against the likelihood ratio of the refit with `shared_features`",
        "",
        "The free model (`yn ~ x + x^2` per expert, free variances) and its refit with "
        "`shared_features=[\"x\"]`, both from the same partition (NPreg's class; the simulated "
        "data's true labels); the likelihood ratio is `2 (l_free - l_shared)`, the Wald "
        "statistic `wald_test(free, X, y, \"equal[x]\")` from the free model's observed information.  "
        "Asymptotically both are chi-square(1) under the hypothesis and the same to first order.",
        "",
        tests_text,
        "",
    ]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "constraints_flexmix.md"), "w") as f:
        f.write("\n".join(header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
