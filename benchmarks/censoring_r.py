"""One censored mixexp expert against R's ``survival::survreg`` on ``lung`` with its censoring.

    PYTHONPATH=<checkout under test> python benchmarks/censoring_r.py [--out benchmarks/results]

1. ``benchmarks/censoring_r.R`` runs in a temporary folder: it exports survival's ``lung``
   (GPL: written to the temporary folder only, never into the repository), the 227 rows with
   ``ph.ecog`` known, 63 of them right-censored (``status == 1``), and fits
   ``survreg(Surv(time, status) ~ age + sex + ph.ecog, dist=d)`` for ``d`` in ``"weibull"``,
   ``"lognormal"``, ``"gaussian"``.  Without Rscript or the packages the script says so and
   exits with status 0.
2. mixexp fits the same rows with one expert, ``MixtureOfExpertsRegressor(1, expert=family,
   alpha=0, gate_alpha=0, tol=1e-12)`` (no penalty: maximum likelihood), ``y = time`` and
   ``y_upper = inf`` for the censored rows (``time`` for the deaths).
3. Compared: the total log-likelihood in nats (R's recomputed from its d- and p-functions at
   its estimates) and the largest difference of the slopes (age, sex, ph.ecog: survreg's
   linear predictor and mixexp's share them for the three families; Weibull intercepts differ
   by ``log Gamma(1 + scale)``, the mean against the scale parameter) and of the scale
   (Weibull ``1 / shape_``, log-normal ``noise_scale_``, Gaussian ``sqrt(noise_variance_)``).
4. Standard errors: mixexp's ``summary(X, time, y_upper=y_upper)`` (the observed information
   of the censored log-likelihood) against survreg's ``sqrt(diag(vcov(fit)))`` for the slopes
   and the log scale (survreg's ``Log(scale)`` is ``-log_shape`` of the Weibull expert,
   ``log_sigma`` of the log-normal one and half the Gaussian's ``log_noise_variance``).
   Writes ``<out>/censoring_r.md`` and ``.json``.
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
R_SCRIPT = os.path.join(HERE, "censoring_r.R")
FAMILIES = {"weibull": "weibull", "lognormal": "lognormal", "gaussian": "linear"}
COVARIATES = ["age", "sex", "ph.ecog"]


def read_columns(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {c: np.array([float(r[c]) for r in rows]) for c in rows[0]}


def run_r(rdir):
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("Rscript not found: install R with survival and jsonlite; exiting.")
        return False
    res = subprocess.run([rscript, R_SCRIPT, "--out", rdir], capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stdout[-3000:], res.stderr[-3000:], sep="\n")
        print("the R script failed (are survival and jsonlite installed?); exiting.")
        return False
    return True


def fit_one(family, X, y, y_upper):
    from mixexp import MixtureOfExpertsRegressor

    model = MixtureOfExpertsRegressor(
        1, expert=family, alpha=0.0, gate_alpha=0.0, tol=1e-12, max_iter=200, gate_features=[],
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model.fit(X, y, y_upper=y_upper)
    return model, time.perf_counter() - start


def scale_of(dist, model):
    if dist == "weibull":
        return 1.0 / float(model.shape_[0])
    if dist == "lognormal":
        return float(model.noise_scale_[0, 0])
    return float(np.sqrt(model.noise_variance_[0, 0]))


#: mixexp's name of the log scale parameter, and the factor that turns survreg's Log(scale) into it
LOG_SCALE = {
    "weibull": ("log_shape", 1.0), "lognormal": ("log_sigma", 1.0), "gaussian": ("log_noise_variance", 2.0),
}


def standard_errors(dist, model, X, y, y_upper, r):
    """mixexp's and survreg's standard errors of the slopes and the log scale, and their
    largest relative difference."""
    table = model.summary(X, y, y_upper=y_upper)
    se = dict(zip(table["parameter"], table["std_error"]))
    name, factor = LOG_SCALE[dist]
    ours = np.array([se["x0"], se["x1"], se["x2"], se[name] / factor])
    theirs = np.array([r["se"]["age"], r["se"]["sex"], r["se"]["ph.ecog"], r["se"]["Log(scale)"]])
    return ours, theirs, float(np.max(np.abs(ours / theirs - 1.0)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as rdir:
        if not run_r(rdir):
            return 0
        cols = read_columns(os.path.join(rdir, "data", "lung.csv"))
        with open(os.path.join(rdir, "censoring_r.json")) as fh:
            ref = json.load(fh)
    X = np.column_stack([cols[c] for c in COVARIATES])
    y = cols["time"]
    y_upper = np.where(cols["status"] == 1, np.inf, y)
    rows = []
    for dist, family in FAMILIES.items():
        r = ref[dist]
        model, seconds = fit_one(family, X, y, y_upper)
        ll = float(model.log_likelihood(X, y, y_upper=y_upper).sum())
        slopes = np.ravel(model.expert_coef_)[:3]
        r_slopes = np.array([r["coef"]["age"], r["coef"]["sex"], r["coef"]["ph.ecog"]])
        rows.append({
            "dist": dist, "family": family, "call": r["call"], "n": r["n"], "n_censored": r["n_censored"],
            "loglik_r": r["loglik"], "loglik_r_reported": r["reported"], "loglik_mixexp": ll,
            "lower_bound_times_n": model.lower_bound_ * r["n"],
            "diff": ll - r["loglik"], "max_slope_diff": float(np.max(np.abs(slopes - r_slopes))),
            "scale_r": r["scale"], "scale_mixexp": scale_of(dist, model), "n_iter": model.n_iter_,
            "seconds": seconds,
        })
        ours, theirs, worst = standard_errors(dist, model, X, y, y_upper, r)
        rows[-1].update(se_mixexp=ours.tolist(), se_r=theirs.tolist(), se_max_rel_diff=worst)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "censoring_r.json"), "w") as fh:
        json.dump({"rows": rows, "versions": ref["versions"], "python": sys.version.split()[0]}, fh, indent=1)
    lines = [
        "# One censored expert against R's survreg on survival's lung",
        "",
        "`PYTHONPATH=. python benchmarks/censoring_r.py` (R side: `benchmarks/censoring_r.R`; the data "
        "is exported from R at run time to a temporary folder, never committed).",
        "",
        f"227 rows of `lung` with `ph.ecog` known, 63 right-censored (`status == 1`: `y_upper = inf`); "
        f"covariates age, sex, ph.ecog. {ref['versions']['R']}, survival {ref['versions']['survival']}.",
        "mixexp: `MixtureOfExpertsRegressor(1, expert=family, alpha=0, gate_alpha=0, tol=1e-12)`, "
        "`fit(X, time, y_upper=y_upper)`; its log-likelihood is `log_likelihood(X, time, y_upper=y_upper).sum()`.",
        "",
        "| survreg dist | mixexp expert | R log-lik | mixexp log-lik | difference (nats) | max slope diff "
        "| R scale | mixexp scale | EM iterations | fit (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['dist']} | {r['family']} | {r['loglik_r']:.6f} | {r['loglik_mixexp']:.6f} | {r['diff']:.2e} "
            f"| {r['max_slope_diff']:.1e} | {r['scale_r']:.6f} | {r['scale_mixexp']:.6f} | {r['n_iter']} "
            f"| {r['seconds']:.2f} |"
        )
    lines += [
        "",
        "Standard errors: mixexp's `summary(X, time, y_upper=y_upper)` (observed information of the "
        "censored log-likelihood, Louis's identity; censored rows by the Gaussian's analytic interval "
        "derivatives, the other families' by central differences of their `log_sf`) against survreg's `sqrt(diag(vcov(fit)))`; the log scale is survreg's `Log(scale)` "
        "(mixexp: `-log_shape`, `log_sigma`, `log_noise_variance / 2`).",
        "",
        "| survreg dist | SE age (R / mixexp) | SE sex (R / mixexp) | SE ph.ecog (R / mixexp) "
        "| SE Log(scale) (R / mixexp) | max relative difference |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        cells = " | ".join(f"{a:.6g} / {b:.6g}" for a, b in zip(r["se_r"], r["se_mixexp"]))
        lines.append(f"| {r['dist']} | {cells} | {r['se_max_rel_diff']:.1e} |")
    lines += [
        "",
        "R's log-likelihood is recomputed from `d*` (deaths) and `p*(lower.tail = FALSE)` (censored) at "
        "survreg's estimates; it equals survreg's reported `loglik[2]`. Scale: survreg's `scale` "
        "(Weibull: `1 / shape_`; log-normal: `noise_scale_`; Gaussian: `sqrt(noise_variance_)`).",
    ]
    with open(os.path.join(args.out, "censoring_r.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
