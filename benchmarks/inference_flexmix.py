"""Standard errors of Poisson experts: mixexp's summary() against flexmix's refit(), at the
same parameters, on flexmix's own Poisson examples.

    PYTHONPATH=<checkout> python benchmarks/inference_flexmix.py [--out benchmarks/results]

Runs ``Rscript benchmarks/inference_flexmix.R`` (needs R with flexmix and jsonlite:
``apt-get install r-base-core r-cran-flexmix r-cran-jsonlite``; without them the
script says so and exits with status 0), which fits by flexmix

- NPreg ``yp ~ x``, K = 2, constant mixing weights, and
- patent ``Patents ~ lgRD``, K = 3, concomitant (gate) ``~ RDS``,

with ``FLXMRglm(family = "poisson")`` and writes ``refit()``'s estimates and standard
errors (optim's numerical Hessian).  Here a ``MixtureOfExpertsRegressor(K,
expert="poisson", gate_features=..., expert_features=..., alpha=0, gate_alpha=0)`` is
fitted to the same rows (best of ``n_init=10``), its parameters are then replaced by
refit's estimates, and ``summary(X, y)`` gives mixexp's standard errors at exactly
those parameters (the Poisson experts' analytic pieces, the softmax gate's, Louis's
identity).  Also reported: the log-likelihood of both (a check of the mapping),
mixexp's standard errors at its own maximum-likelihood fit, and its sandwich ones.
Writes ``<out>/inference_flexmix.md``.
"""
import argparse
import itertools
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
EXAMPLES = {
    "npreg": {"title": "NPreg: yp ~ x, K = 2, constant weights", "expert": ["x"], "gate": []},
    "patent": {"title": "patent: Patents ~ lgRD, K = 3, gate ~ RDS", "expert": ["lgRD"], "gate": ["RDS"]},
}


def set_raw_parameters(model, gate_rows, expert_rows):
    """Put raw-unit parameters into a fitted flat K-expert Poisson regressor.

    gate_rows[k]: (intercept, coefs over the gate's features) of expert k relative to
    expert 0; expert_rows[k]: (intercept, coefs over the experts' features) of log E[y].
    """
    state = model._fitted
    gc, ec = state.coordinates("gate"), state.coordinates("experts")
    gate = np.zeros_like(state.params["gate"]["coef"])
    for k, (b, c) in enumerate(gate_rows):
        c = np.asarray(c, dtype=float)
        gate[0, k, :-1] = c * gc.scale
        gate[0, k, -1] = b + c @ gc.mean
    coef = np.zeros_like(state.params["experts"]["coef"])
    for k, (b, c) in enumerate(expert_rows):
        c = np.asarray(c, dtype=float)
        coef[k, 0, :-1] = c * ec.scale
        coef[k, 0, -1] = b + c @ ec.mean - np.log(state.info["scale"])
    state.params = {"gate": {**state.params["gate"], "coef": gate}, "experts": {**state.params["experts"], "coef": coef}}


def compare(name, spec, data, fx):
    from mixexp import MixtureOfExpertsRegressor

    K = fx["k"]
    names = spec["expert"] + spec["gate"]
    X = np.column_stack([data[c] for c in names])
    y = data["y"].to_numpy()
    n_e = len(spec["expert"])
    model = MixtureOfExpertsRegressor(
        K, expert="poisson", expert_features=list(range(n_e)), gate_features=list(range(n_e, len(names))),
        alpha=0.0, gate_alpha=0.0, tol=1e-10, max_iter=20000, n_init=10, random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    own_ll = float(model.log_likelihood(X, y).sum())
    est = dict(zip(fx["names"], fx["estimate"]))
    # the own fit's experts put in flexmix's order (labels are arbitrary), so that its gate
    # rows are relative to the same component
    theirs = np.array([[est[f"model.1_Comp.{k}_coef.{f}"] for f in ["(Intercept)", *spec["expert"]]]
                       for k in range(1, K + 1)])
    mine = np.column_stack([model.expert_intercept_[:, 0], model.expert_coef_[:, 0, :n_e]])
    perm = list(min(itertools.permutations(range(K)), key=lambda q: np.abs(mine[list(q)] - theirs).sum()))
    state = model._fitted
    state.params = {"gate": {**state.params["gate"], "coef": state.params["gate"]["coef"][:, perm]},
                    "experts": {**state.params["experts"], "coef": state.params["experts"]["coef"][perm]}}
    own = model.summary(X, y).set_index(["component", "parameter"])
    own_sandwich = model.summary(X, y, cov_type="sandwich").set_index(["component", "parameter"])
    se_fx = dict(zip(fx["names"], fx["std_error"]))
    gate_rows = [(0.0, [0.0] * len(spec["gate"]))]
    for k in range(2, K + 1):
        if spec["gate"]:
            gate_rows.append((est[f"concomitant_Comp.{k}.(Intercept)"],
                              [est[f"concomitant_Comp.{k}.{g}"] for g in spec["gate"]]))
        else:
            gate_rows.append((est[f"concomitant_Comp.{k}.alpha"], []))
    expert_rows = [(est[f"model.1_Comp.{k}_coef.(Intercept)"], [est[f"model.1_Comp.{k}_coef.{f}"] for f in spec["expert"]])
                   for k in range(1, K + 1)]
    set_raw_parameters(model, gate_rows, expert_rows)
    ours = model.summary(X, y).set_index(["component", "parameter"])
    # a third opinion at the same parameters: a central-difference Hessian of mixexp's log-likelihood
    sys.path.insert(0, HERE)
    from inference_components import fd_std_errors

    ours["fd"] = fd_std_errors(model, X, y, {}, step=3e-5)
    ll = float(model.log_likelihood(X, y).sum())
    rows = []
    xnames = ["(intercept)", *[f"x{i}" for i in range(len(names))]]
    for k in range(1, K + 1):
        for f, ours_name in zip(["(Intercept)", *spec["expert"]], ["(intercept)", *xnames[1 : 1 + n_e]]):
            rows.append((f"Comp.{k} coef {f}", se_fx[f"model.1_Comp.{k}_coef.{f}"], f"expert {k - 1}", ours_name))
    for k in range(2, K + 1):
        if spec["gate"]:
            for f, ours_name in zip(["(Intercept)", *spec["gate"]], ["(intercept)", *xnames[1 + n_e :]]):
                rows.append((f"concomitant Comp.{k} {f}", se_fx[f"concomitant_Comp.{k}.{f}"],
                             f"gate: expert {k - 1} vs 0", ours_name))
        else:
            rows.append((f"concomitant Comp.{k} alpha", se_fx[f"concomitant_Comp.{k}.alpha"],
                         f"gate: expert {k - 1} vs 0", "(intercept)"))
    out = []
    for label, se_r, comp, par in rows:
        se_m = ours.loc[(comp, par), "std_error"]
        out.append({"parameter": label, "flexmix refit SE": se_r, "mixexp SE": se_m, "ratio": se_m / se_r,
                    "finite-difference SE": ours.loc[(comp, par), "fd"],
                    "mixexp own fit SE": own.loc[(comp, par), "std_error"],
                    "own fit sandwich SE": own_sandwich.loc[(comp, par), "std_error"]})
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
        print("Rscript not found: apt-get install r-base-core r-cran-flexmix r-cran-jsonlite; nothing to compare.")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run(["Rscript", os.path.join(HERE, "inference_flexmix.R"), tmp], capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stdout[-3000:], res.stderr[-3000:], sep="\n")
            print("the R script failed (is flexmix installed?); nothing to compare.")
            return 0
        fx = json.load(open(os.path.join(tmp, "inference_flexmix.json")))
        data = {name: pd.read_csv(os.path.join(tmp, f"{name}.csv")) for name in EXAMPLES}
    lines = [
        "# Standard errors of Poisson experts: mixexp against flexmix's refit()", "",
        "`python benchmarks/inference_flexmix.py` (runs `Rscript benchmarks/inference_flexmix.R`; "
        f"{fx['R']}, flexmix {fx['flexmix']}).", "",
        "flexmix: `stepFlexmix(..., k = K, nrep = 5, model = FLXMRglm(family = \"poisson\"))` (NPreg: constant "
        "weights; patent: `concomitant = FLXPmultinom(~RDS)`), then `refit()` (BFGS from the fit, then optim's "
        "numerical Hessian). mixexp: `summary(X, y)` of a `MixtureOfExpertsRegressor(K, expert=\"poisson\", "
        "alpha=0, gate_alpha=0)` whose parameters are set to refit's estimates (Louis's identity with the Poisson "
        "experts' and the softmax gate's analytic pieces); finite-difference SE: from minus a central-difference "
        "Hessian of mixexp's log-likelihood at the same parameters (step 3e-5, relative; on patent its SE "
        "approach mixexp's as the step shrinks: largest relative difference 2e-2, 2e-3, 2e-4, 2e-5 at steps 1e-3, "
        "3e-4, 1e-4, 3e-5, then rounding takes over: the gap to flexmix is optim's numerical Hessian's). flexmix's constant-weight `alpha` is mixexp's gate "
        "intercept (`gate_features=[]`). Last two columns: mixexp's observed and sandwich SE at its own "
        "maximum-likelihood fit (best of `n_init=10`, its experts put in flexmix's order).",
    ]
    for name, spec in EXAMPLES.items():
        table, ll, own_ll = compare(name, spec, data[name], fx[name])
        worst = np.abs(table["ratio"] - 1).max()
        lines += ["", f"## {spec['title']} (n = {fx[name]['n']})", "",
                  f"log-likelihood: flexmix (at its EM fit) {fx[name]['loglik']:.4f}, mixexp at refit's estimates "
                  f"{ll:.4f}, mixexp's own fit {own_ll:.4f}; largest |SE ratio - 1|: {worst:.3%}", "",
                  markdown(table)]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "inference_flexmix.md"), "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
