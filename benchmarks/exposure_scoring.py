"""Exposure in model selection, on MASS::Insurance: ``exposure`` against rates with sample weights,
and scikit-learn's Poisson scorer against mixexp's scorers with the exposure.

Usage: python benchmarks/exposure_scoring.py [--out benchmarks/results/exposure_scoring.md]

Needs Rscript with MASS: ``benchmarks/exposure_scoring.R`` exports ``MASS::Insurance`` (GPL: the
data stay in a temporary folder, never in the repository).  ``Claims ~ District + Group + Age``
(R's ``model.matrix`` columns), exposure ``Holders``, 64 rows.

1. Fits of K = 1 and K = 2 Poisson experts (``random_state=0``, otherwise the defaults, the
   issue's setting ``gate_features=[]`` (constant mixing weights), and both at ``tol=1e-10``), each twice: ``fit(X, Claims,
   exposure=Holders)`` and ``fit(X, Claims / Holders, sample_weight=Holders)`` (the rates with the
   exposure as weights, which a GLM user would try).  Both are scored on the counts:
   ``log_likelihood(X, Claims, exposure=Holders).sum()``.  With one expert the two are the same
   fit (the Poisson log-likelihood of the rate weighted by the exposure is that of the count up to
   a constant); with two they are not, as the E-step's posteriors of the rate fit are those of the
   count fit tempered by ``1 / Holders``.
2. ``cross_val_score`` (5 shuffled folds, ``random_state=0``) of ``make_pipeline(StandardScaler(),
   MixtureOfExpertsRegressor(2, expert="poisson").set_fit_request(exposure=True))`` with
   ``params={"exposure": Holders}`` and metadata routing: ``scoring="neg_mean_poisson_deviance"``
   (scikit-learn's: compares the predicted rates with the counts) against
   ``make_deviance_scorer()`` and ``make_log_likelihood_scorer()``; and ``GridSearchCV`` over
   ``n_experts`` in 1, 2, 3 with each scoring.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def load_insurance(tmp):
    rscript = shutil.which("Rscript")
    if rscript is None:
        sys.exit("Rscript not found: install R with MASS (apt-get install r-base-core r-cran-mass).")
    path = os.path.join(tmp, "insurance.csv")
    subprocess.run([rscript, os.path.join(HERE, "exposure_scoring.R"), path], check=True)
    data = np.genfromtxt(path, delimiter=",", names=True)
    names = data.dtype.names
    X = np.column_stack([data[n] for n in names if n not in ("Holders", "Claims")])
    return X, data["Claims"], data["Holders"]


def fits(X, y, h):
    from mixexp import MixtureOfExpertsRegressor

    rows = []
    tight = {"tol": 1e-10, "max_iter": 5000}
    for setting in ({}, {"gate_features": []}, tight, {"gate_features": [], **tight},
                    {"alpha": 0.0, "gate_alpha": 0.0, **tight}):
        for k in (1, 2):
            make = lambda: MixtureOfExpertsRegressor(k, expert="poisson", random_state=0, **setting)  # noqa: E731
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with_exposure = make().fit(X, y, exposure=h)
                rates = make().fit(X, y / h, sample_weight=h)
            rows.append((setting, k, with_exposure.log_likelihood(X, y, exposure=h).sum(),
                         rates.log_likelihood(X, y, exposure=h).sum(), with_exposure.n_iter_, rates.n_iter_))
    return rows


def cross_validation(X, y, h):
    import sklearn
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mixexp import MixtureOfExpertsRegressor
    from mixexp.metrics import make_deviance_scorer, make_log_likelihood_scorer

    cv = KFold(5, shuffle=True, random_state=0)
    out, chosen = {}, {}
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MixtureOfExpertsRegressor(2, expert="poisson", random_state=0).set_fit_request(exposure=True)
        pipe = make_pipeline(StandardScaler(), model)
        for name, scoring in [
            ('scoring="neg_mean_poisson_deviance" (scikit-learn)', "neg_mean_poisson_deviance"),
            ("make_deviance_scorer()", make_deviance_scorer()),
            ("make_log_likelihood_scorer()", make_log_likelihood_scorer()),
        ]:
            out[name] = cross_val_score(pipe, X, y, cv=cv, params={"exposure": h}, scoring=scoring,
                                        error_score="raise")
            grid = {"mixtureofexpertsregressor__n_experts": [1, 2, 3]}
            search = GridSearchCV(pipe, grid, cv=cv, scoring=scoring, error_score="raise").fit(X, y, exposure=h)
            chosen[name] = (search.best_params_["mixtureofexpertsregressor__n_experts"],
                            search.cv_results_["mean_test_score"])
    return out, chosen


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "results", "exposure_scoring.md"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        X, y, h = load_insurance(tmp)
    import sklearn

    import mixexp

    lines = [
        "# Exposure in model selection: MASS::Insurance",
        "",
        "`python benchmarks/exposure_scoring.py` (R with MASS; data exported at run time by",
        "`benchmarks/exposure_scoring.R`). `Claims ~ District + Group + Age`, exposure `Holders`,",
        f"{X.shape[0]} rows; mixexp {mixexp.__version__}, scikit-learn {sklearn.__version__}.",
        "",
        "## `exposure` against rates with `sample_weight=exposure`",
        "",
        "Poisson experts, `random_state=0`, other parameters default (`alpha=1`, `gate_alpha=0.1`). Total log-likelihood of the",
        "counts, `log_likelihood(X, Claims, exposure=Holders).sum()` (higher is better), of the fit",
        "`fit(X, Claims, exposure=Holders)` and of the fit `fit(X, Claims / Holders,",
        "sample_weight=Holders)`; EM iterations in brackets.",
        "",
        "| gate | tol, penalties | K | with `exposure` | rates, `sample_weight` | difference |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for setting, k, ll_e, ll_r, it_e, it_r in fits(X, y, h):
        gate = "`gate_features=[]` (constant)" if "gate_features" in setting else "softmax on x (default)"
        tol = ("1e-10" if "tol" in setting else "1e-4 (default)") + (
            ", `alpha=gate_alpha=0`" if "alpha" in setting else "")
        lines.append(f"| {gate} | {tol} | {k} | {ll_e:.2f} ({it_e}) | {ll_r:.2f} ({it_r}) | {ll_e - ll_r:+.2g} |".replace("| +0 |", "| 0.0 |"))
    lines += [
        "",
        "## Cross-validated scores (5 shuffled folds, `random_state=0`)",
        "",
        "`make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(2, expert=\"poisson\",",
        "random_state=0).set_fit_request(exposure=True))`, `cross_val_score(..., params={\"exposure\":",
        "Holders})` with `sklearn.set_config(enable_metadata_routing=True)`. Deviances are per row",
        "(higher is better: minus the deviance); the log-likelihood is the mean per row.",
        "",
        "| scoring | fold scores | mean |",
        "| --- | --- | ---: |",
    ]
    scores_by_name, chosen = cross_validation(X, y, h)
    for name, scores in scores_by_name.items():
        lines.append(f"| {name} | {', '.join(f'{s:.2f}' for s in scores)} | {scores.mean():.2f} |")
    lines += [
        "",
        "`GridSearchCV` of the same pipeline over `n_experts` in 1, 2, 3 (same folds,",
        "`fit(X, Claims, exposure=Holders)`): mean test score of each K and the K chosen.",
        "",
        "| scoring | K = 1 | K = 2 | K = 3 | chosen |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, (best, means) in chosen.items():
        lines.append(f"| {name} | {' | '.join(f'{m:.2f}' for m in means)} | {best} |")
    lines += [
        "",
        "## Reading",
        "",
        "- One expert: the two fits are the same model. At `alpha=gate_alpha=0` their log-likelihoods",
        "  agree to rounding; at the default `alpha=1` they differ by 2e-5 nats, as the same ridge",
        "  penalty weighs differently against an objective of counts and one of exposure-weighted rates.",
        "- Two experts: fitting the rates with `sample_weight=Holders` is a different model. The",
        "  posterior of an expert given a row is that of the count fit tempered by `1 / Holders`",
        "  (the log-density ratio of two experts for the rate `y / h` is that for the count `y` divided",
        "  by `h`); with `Holders` from 3 to 3582 (median 136) the posteriors barely leave the gate, the",
        "  experts stay alike, and EM stops near the one-expert fit (2 iterations): -184.37 against",
        "  -182.82 with constant mixing weights (the issue's numbers), -179.63 against -172.64 with",
        "  the default gate.",
        "- scikit-learn's `neg_mean_poisson_deviance` compares `predict(X)`, a rate per holder, with",
        "  the claim counts: its values (hundreds per row) measure nothing, and it picks K = 3 where",
        "  both scorers of the counts pick K = 1 (64 rows: the 2- and 3-expert fits overfit).",
    ]
    text = "\n".join(lines) + "\n"
    with open(args.out, "w") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
