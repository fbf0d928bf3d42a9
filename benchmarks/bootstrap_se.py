"""Bootstrap standard errors against summary's analytic ones on one simulated data set.

    PYTHONPATH=<checkout> python benchmarks/bootstrap_se.py [--n-samples 2000] [--n-resamples 300]
        [--out benchmarks/results] [--name bootstrap_se]

``make_moe_regression(n_samples, n_features=2, n_experts=2, noise=0.3, random_state=0)``, fitted
by ``MixtureOfExpertsRegressor(2, tol=1e-8, random_state=0)``; for both bootstrap methods, the
ratio of every parameter's bootstrap standard error to the observed-information one.  Writes
``<out>/<name>.md``.
"""
import argparse
import os
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    from mixexp import MixtureOfExpertsRegressor
    from mixexp.datasets import make_moe_regression
    from mixexp.inference import bootstrap

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-samples", type=int, default=2000)
    ap.add_argument("--n-resamples", type=int, default=300)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--name", default="bootstrap_se")
    args = ap.parse_args(argv)
    X, y = make_moe_regression(args.n_samples, n_features=2, n_experts=2, noise=0.3, random_state=0)
    model = MixtureOfExpertsRegressor(2, random_state=0, tol=1e-8, max_iter=1000).fit(X, y)
    table = model.summary(X, y)
    se = table["std_error"].to_numpy()
    lines = [
        "# Bootstrap standard errors against the analytic ones",
        "",
        f"`python benchmarks/bootstrap_se.py --n-samples {args.n_samples} --n-resamples {args.n_resamples}`",
        "",
        "| component | parameter | analytic SE | nonparametric / analytic | parametric / analytic |",
        "|---|---|---:|---:|---:|",
    ]
    ratios, times = {}, {}
    for method in ("nonparametric", "parametric"):
        start = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = bootstrap(model, X, y, n_resamples=args.n_resamples, method=method, random_state=0)
        times[method] = time.time() - start
        ratios[method] = result.std_error / se
    for j, (c, p) in enumerate(zip(table["component"], table["parameter"])):
        lines.append(f"| {c} | {p} | {se[j]:.4f} | {ratios['nonparametric'][j]:.3f} | "
                     f"{ratios['parametric'][j]:.3f} |")
    lines += [
        f"| **largest \\|ratio - 1\\|** | | | {np.abs(ratios['nonparametric'] - 1).max():.3f} | "
        f"{np.abs(ratios['parametric'] - 1).max():.3f} |",
        "",
        f"Time: nonparametric {times['nonparametric']:.0f} s, parametric {times['parametric']:.0f} s "
        f"(one job). With {args.n_resamples} replicates the Monte-Carlo standard error of a "
        f"bootstrap standard error is about {100 / np.sqrt(2 * args.n_resamples):.0f}%.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, args.name + ".md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
