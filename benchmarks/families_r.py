"""One mixexp expert against R's single-model maximum-likelihood fits, family by family, on real data.

    PYTHONPATH=<checkout under test> python benchmarks/families_r.py [--out benchmarks/results]

1. ``benchmarks/families_r.R`` runs in a temporary folder: it exports MASS's ``quine`` and
   ``Insurance``, survival's ``lung`` (deaths only) and fitdistrplus's ``danishuni`` and
   ``endosulfan`` (GPL/LGPL: written to the temporary folder only, never into the repository)
   and fits the references (``MASS::glm.nb``, ``survival::survreg``, ``glm(inverse.gaussian)``,
   ``fitdistrplus::fitdist`` with actuar's ``burr`` and ``invgauss``).  Without Rscript or the
   packages the script says so and exits with status 0.
2. mixexp fits the same rows with one expert, ``MixtureOfExpertsRegressor(1, expert=family,
   alpha=0, gate_alpha=0, tol=1e-12)`` (no penalty: maximum likelihood), the covariates as the
   expert's features (none: an intercept only), the exposure where R has an offset.
3. Compared: the total log-likelihood in nats, R's recomputed from its d-functions at its
   estimates, and the largest difference of the parameters (coefficients absolute, positive
   parameters relative).  Writes ``<out>/families_r.md`` and ``.json``.
"""
import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
R_SCRIPT = os.path.join(HERE, "families_r.R")

# data set -> target column, exposure column (or None)
DATA = {"quine": ("Days", None), "insurance": ("Claims", "Holders"), "lung": ("time", None),
        "danish": ("Loss", None), "endosulfan": ("ATV", None)}


def read_columns(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {c: np.array([float(r[c]) for r in rows]) for c in rows[0]}


def run_r(rdir):
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("Rscript not found: install R with MASS, survival, fitdistrplus, actuar, statmod and "
              "jsonlite (Debian: apt-get install r-base-core r-cran-mass r-cran-survival "
              "r-cran-fitdistrplus r-cran-actuar r-cran-statmod r-cran-jsonlite); exiting.")
        return False
    res = subprocess.run([rscript, R_SCRIPT, "--out", rdir], capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stdout[-3000:], res.stderr[-3000:], sep="\n")
        print("the R script failed (are the packages installed?); exiting.")
        return False
    return True


def fit_one(family, columns, target, exposure):
    """mixexp's one-expert maximum-likelihood fit: the model, X, y and the exposure."""
    from mixexp import MixtureOfExpertsRegressor

    names = [c for c in columns if c not in (target, exposure)]
    y = columns[target]
    X = np.column_stack([columns[c] for c in names]) if names else np.zeros((y.shape[0], 1))
    e = None if exposure is None else columns[exposure]
    model = MixtureOfExpertsRegressor(
        1, expert=family, alpha=0.0, gate_alpha=0.0, tol=1e-12, max_iter=100, gate_features=[],
        expert_features=list(range(len(names))), random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, exposure=e)
    return model, X, y, e


def mixexp_parameters(family, model, n_coef):
    """mixexp's estimates in the order of R's (see families_r.R): coefficients then the family's own."""
    b0, b = float(model.expert_intercept_[0, 0]), list(model.expert_coef_[0, 0])
    coef = [b0, *b] if n_coef else []
    if family == "negative_binomial":
        return coef + [1.0 / model.dispersion_[0]], n_coef
    if family == "lognormal":
        return (coef if n_coef else [b0]) + [model.noise_scale_[0, 0]], max(n_coef, 1)
    if family == "weibull":
        return (coef + [model.shape_[0]]) if n_coef else [model.shape_[0], np.exp(b0)], n_coef
    if family == "inverse_gaussian":
        return (coef + [model.dispersion_[0]]) if n_coef else [np.exp(b0), 1.0 / model.dispersion_[0]], n_coef
    return [model.shape_[0], model.shape2_[0], np.exp(-b0)], 0  # burr: shape1, shape2, rate


def parameter_gaps(r_values, ours, n_coef):
    """Largest differences: absolute over the first ``n_coef`` (coefficients, meanlog; None
    without), relative over the others (the positive parameters)."""
    r, m = np.asarray(r_values, float), np.asarray(ours, float)
    coef = float(np.abs(m[:n_coef] - r[:n_coef]).max()) if n_coef else None
    return coef, float(np.abs(m[n_coef:] / r[n_coef:] - 1.0).max())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as rdir:
        if not run_r(rdir):
            return 0
        with open(os.path.join(rdir, "families_r.json")) as fh:
            ref = json.load(fh)
        data = {name: read_columns(os.path.join(rdir, "data", f"{name}.csv")) for name in DATA}

    import mixexp

    rows = {}
    for key, r in ref["results"].items():
        target, exposure = DATA[r["data"]]
        model, X, y, e = fit_one(r["family"], data[r["data"]], target, exposure)
        ll = float(model.log_likelihood(X, y, exposure=e).sum())
        n_names = len([c for c in data[r["data"]] if c not in (target, exposure)])
        n_coef = n_names + 1 if n_names else 0
        ours, n_abs = mixexp_parameters(r["family"], model, n_coef)
        row = {**r, "mixexp_loglik": ll, "difference": ll - r["loglik"],
               "mixexp_estimates": [float(v) for v in ours],
               "parameter_gaps": parameter_gaps(list(r["estimates"].values()), ours, n_abs),
               "n_iter": int(model.n_iter_)}
        if "poisson_loglik" in r:
            row["difference_to_poisson"] = ll - r["poisson_loglik"]
        rows[key] = row
        print(f"{key:28s} R {r['loglik']:.8f}  mixexp {ll:.8f}  diff {ll - r['loglik']:+.2e}  "
              f"params {row['parameter_gaps']}", flush=True)

    meta = {"mixexp": getattr(mixexp, "__version__", "?"), "python": platform.python_version(),
            "R": ref["r_version"], "packages": ref["packages"],
            "command": "python benchmarks/families_r.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "families_r.json"), "w") as fh:
        json.dump({"meta": meta, "results": rows}, fh, indent=2)
    pk = ", ".join(f"{p} {v}" for p, v in meta["packages"].items())
    lines = [
        "# One mixexp expert against R's maximum-likelihood fits (total log-likelihood, nats)",
        "",
        f"Made by `{meta['command'].strip()}` (mixexp {meta['mixexp']}, Python {meta['python']}; "
        f"{meta['R']}; {pk}).",
        "",
        "- R: `benchmarks/families_r.R`; each log-likelihood recomputed from the d-function at R's "
        "estimates (`dnbinom`, `dweibull`, `dlnorm`, `statmod::dinvgauss`, `actuar::dburr`); fitdist "
        "restarted at reltol 1e-15 until it stops gaining.",
        "- mixexp: `MixtureOfExpertsRegressor(1, expert=..., alpha=0, gate_alpha=0, tol=1e-12)`, the "
        "covariates as the expert's features (none: intercept only), `exposure=Holders` for Insurance.",
        "- parameters: the largest difference, absolute for the coefficients (and `meanlog`), relative "
        "for the positive parameters (theta, sigma, shapes, scales, means, dispersions, rates).",
        "- data (exported from the R packages at run time; GPL/LGPL, not in the repository): "
        "`MASS::quine`, `MASS::Insurance` (64 rows, offset `log(Holders)`), `survival::lung` (the 164 "
        "deaths, `status == 2`, with `ph.ecog` known: uncensored rows only), "
        "`fitdistrplus::danishuni$Loss` (2167 Danish fire losses 1980-1990, millions of DKK), "
        "`fitdistrplus::endosulfan$ATV` (104 toxicity values).",
        "",
        "| data | family | R reference | n | R | mixexp | mixexp - R | coefficients (abs) | positive parameters (rel) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows.values():
        coef, own = row["parameter_gaps"]
        coef = "" if coef is None else f"{coef:.1e}"
        lines.append(f"| {row['data']} | {row['family']} | `{row['call']}` | {row['n']} | {row['loglik']:.8f} | "
                     f"{row['mixexp_loglik']:.8f} | {row['difference']:+.1e} | {coef} | {own:.1e} |")
    lines += ["", "Notes:", ""]
    for key, row in rows.items():
        if row.get("notes"):
            extra = ""
            if "difference_to_poisson" in row:
                extra = f" mixexp - Poisson glm: {row['difference_to_poisson']:+.1e} nats."
            if row["family"] in ("negative_binomial", "burr"):  # where a bound may hold
                names = list(row["estimates"])[-len(row["mixexp_estimates"]):]
                own = slice(-1, None) if row["family"] == "negative_binomial" else slice(0, 2)
                pairs = ", ".join(f"{n} R {row['estimates'][n]:.6g} / mixexp {v:.6g}"
                                  for n, v in zip(names[own], row["mixexp_estimates"][own]))
                extra += f" {pairs}."
            lines.append(f"- {key}: {row['notes']}.{extra}")
    with open(os.path.join(args.out, "families_r.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
