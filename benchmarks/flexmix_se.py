"""mixexp's standard errors against flexmix's refit(), at the same parameters.

    PYTHONPATH=<checkout> python benchmarks/flexmix_se.py [--out benchmarks/results]

Runs ``Rscript benchmarks/flexmix_se.R`` (needs R with flexmix and jsonlite:
``apt-get install r-base-core r-cran-flexmix r-cran-jsonlite``), which fits a K = 2
mixture of linear regressions with a multinomial-logit gate by flexmix on NPreg
(``yn ~ x + I(x^2)``, gate ``~ x``) and on mcycle (``accel ~ times``, gate
``~ times``; mixexp's bundled copy) and writes refit()'s estimates and
standard errors.  Here a ``MixtureOfExpertsRegressor(2, gate_features=[0],
gate_alpha=0, alpha=0)`` is fitted to the same data (for its shapes), its
parameters are then replaced by flexmix's refit estimates, and ``summary(X,
y)`` gives mixexp's standard errors at exactly those parameters.  flexmix's
``log(sigma)`` corresponds to half of mixexp's ``log_noise_variance`` (its
standard error is half).  Also reported: the log-likelihood of both at those
parameters (a check of the mapping) and mixexp's own maximum-likelihood fit.
Writes ``<out>/flexmix_se.md``.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))


def set_raw_parameters(model, gate_row, expert_rows, sigmas):
    """Put raw-unit parameters into a fitted flat K-expert regressor (one target).

    gate_row[k]: (intercept, coefs over the gate's features) of expert k relative to
    expert 0; expert_rows[k]: (intercept, coefs over all features); sigmas[k]: noise sd.
    """
    state = model._fitted
    gc, ec = state.coordinates("gate"), state.coordinates("experts")
    ym, ys = state.info["mean"][0], state.info["scale"][0]
    gate = np.zeros_like(state.params["gate"]["coef"])
    for k, (b, c) in enumerate(gate_row):
        c = np.asarray(c)
        gate[0, k, :-1] = c * gc.scale
        gate[0, k, -1] = b + c @ gc.mean
    coef = np.zeros_like(state.params["experts"]["coef"])
    for k, (b, c) in enumerate(expert_rows):
        c = np.asarray(c)
        coef[k, 0, :-1] = c * ec.scale / ys
        coef[k, 0, -1] = (b + c @ ec.mean - ym) / ys
    state.params = {
        "gate": {**state.params["gate"], "coef": gate},
        "experts": {"coef": coef, "var": (np.asarray(sigmas)[:, None] / ys) ** 2},
    }


def compare(name, X, y, fx):
    from mixexp import MixtureOfExpertsRegressor

    est = dict(zip(fx["names"], fx["estimate"]))
    se_fx = dict(zip(fx["names"], fx["std_error"]))
    feats = [n[len("model.1_Comp.1_coef."):] for n in fx["names"] if n.startswith("model.1_Comp.1_coef.")]
    gate_feat = [n[len("concomitant_Comp.2."):] for n in fx["names"] if n.startswith("concomitant_Comp.2.")]
    model = MixtureOfExpertsRegressor(2, gate_features=[0], gate_alpha=0.0, alpha=0.0, tol=1e-8,
                                      max_iter=2000, n_init=10, random_state=0).fit(X, y)
    own = model.summary(X, y)
    own_ll = model.log_likelihood(X, y).sum()
    set_raw_parameters(
        model,
        [(0.0, [0.0]), (est["concomitant_Comp.2.(Intercept)"], [est[f"concomitant_Comp.2.{gate_feat[1]}"]])],
        [(est[f"model.1_Comp.{k}_coef.(Intercept)"], [est[f"model.1_Comp.{k}_coef.{f}"] for f in feats[1:]])
         for k in (1, 2)],
        [np.exp(est[f"model.1_Comp.{k}_log(sigma)"]) for k in (1, 2)],
    )
    ours = model.summary(X, y)
    ll = model.log_likelihood(X, y).sum()
    rows = []
    names_x = ["(intercept)", *[f"x{i}" for i in range(X.shape[1])]]
    for k in (1, 2):
        for f, ours_name in zip(feats, names_x):
            rows.append((f"Comp.{k} coef {f}", se_fx[f"model.1_Comp.{k}_coef.{f}"],
                         f"expert {k - 1}", ours_name, 1.0))
        rows.append((f"Comp.{k} log(sigma)", se_fx[f"model.1_Comp.{k}_log(sigma)"],
                     f"expert {k - 1}", "log_noise_variance", 0.5))
    for f, ours_name in zip(gate_feat, ["(intercept)", "x0"]):
        rows.append((f"gate Comp.2 {f}", se_fx[f"concomitant_Comp.2.{f}"], "gate: expert 1 vs 0", ours_name, 1.0))
    idx = ours.set_index(["component", "parameter"])
    own_idx = own.set_index(["component", "parameter"])
    out = []
    for label, se_r, comp, par, factor in rows:
        se_m = idx.loc[(comp, par), "std_error"] * factor
        out.append({"parameter": label, "flexmix refit SE": se_r, "mixexp SE": se_m,
                    "ratio": se_m / se_r, "mixexp own fit SE": own_idx.loc[(comp, par), "std_error"] * factor})
    return pd.DataFrame(out), ll, own_ll


def markdown(table):
    cells = [[f"{v:.5g}" if isinstance(v, float) else str(v) for v in row] for row in table.itertuples(index=False)]
    return "\n".join(["| " + " | ".join(table.columns) + " |", "|---" + "|---:" * (table.shape[1] - 1) + "|"]
                     + ["| " + " | ".join(r) + " |" for r in cells])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    if shutil.which("Rscript") is None:
        print("Rscript not found: apt-get install r-base-core r-cran-flexmix r-cran-jsonlite")
        return 1
    from mixexp.datasets import load_mcycle

    Xm, ym = load_mcycle()
    with tempfile.TemporaryDirectory() as tmp:
        pd.DataFrame({"times": np.ravel(Xm), "accel": ym}).to_csv(os.path.join(tmp, "in_mcycle.csv"), index=False)
        subprocess.run(["Rscript", os.path.join(HERE, "flexmix_se.R"), tmp, os.path.join(tmp, "in_mcycle.csv")],
                       check=True)
        fx = json.load(open(os.path.join(tmp, "flexmix_se.json")))
        npreg = pd.read_csv(os.path.join(tmp, "npreg.csv"))
        mcycle = pd.read_csv(os.path.join(tmp, "mcycle.csv"))
    data = {
        "npreg": (np.column_stack([npreg["x"], npreg["x"] ** 2]), npreg["yn"].to_numpy()),
        "mcycle": (mcycle[["times"]].to_numpy(), mcycle["accel"].to_numpy()),
    }
    lines = ["# Standard errors: mixexp against flexmix's refit()", "",
             "`python benchmarks/flexmix_se.py` (runs `Rscript benchmarks/flexmix_se.R`; "
             f"{fx['R']}, flexmix {fx['flexmix']}).", "",
             "flexmix: `stepFlexmix(..., k = 2, nrep = 5, concomitant = FLXPmultinom(...))`, then "
             "`refit()` (BFGS from the fit, then optim's numerical Hessian). mixexp: `summary(X, y)` of a "
             "`MixtureOfExpertsRegressor(2, gate_features=[0])` whose parameters are set to refit's "
             "estimates (exact Hessian, Louis's identity). flexmix's log(sigma) SE is compared with half of "
             "mixexp's log_noise_variance SE. Last column: mixexp's SE at its own maximum-likelihood fit (best of `n_init=10`)."]
    for name, (X, y) in data.items():
        table, ll, own_ll = compare(name, X, y, fx[name])
        worst = np.abs(table["ratio"] - 1).max()
        lines += ["", f"## {name} (n = {fx[name]['n']})", "",
                  f"log-likelihood at refit's estimates: flexmix (at its EM fit) {fx[name]['loglik']:.4f}, "
                  f"mixexp (at refit's) {ll:.4f}, mixexp's own fit {own_ll:.4f}; largest |SE ratio - 1|: {worst:.2%}", "",
                  markdown(table)]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "flexmix_se.md"), "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
