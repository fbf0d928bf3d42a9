"""mixexp's Poisson experts against R's flexmix, on flexmix's own examples and on simulated data.

    PYTHONPATH=<checkout under test> python benchmarks/families_flexmix.py [--out benchmarks/results]
        [--n-init 10] [--seed 0]

1. Simulated data (mixexp's generators, BSD like mixexp) are written to
   ``<out>/families_flexmix/sim/`` (committed: tests/test_families_flexmix.py refits them).
2. ``benchmarks/flexmix_families.R`` runs in a temporary folder: it exports flexmix's
   ``NPreg``, ``patent`` and ``seizure`` (GPL, never written into the repository) and fits
   every data set with ``stepFlexmix(nrep=10)``.  Without Rscript or flexmix the script
   says so and exits with status 0.
3. mixexp fits the same rows, design, K, offset and gate variables:
   ``MixtureOfExpertsRegressor(K, expert="poisson", gate_features=..., expert_features=...,
   alpha=0, gate_alpha=0, tol=1e-10, max_iter=20000, n_init=N, random_state=seed)`` (no
   penalties: maximum likelihood as flexmix), ``fit(X, y, exposure=...)``; reported: the
   total train log-likelihood ``log_likelihood(X, y, exposure).sum()`` and the free
   parameters as ``bic`` counts them.
4. Prints the table and writes ``<out>/families_flexmix.md`` and ``.json``.

Timings are wall-clock seconds on a shared machine (measured under load), for orientation only.
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
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
R_SCRIPT = os.path.join(HERE, "flexmix_families.R")

# flexmix's examples: columns of the exported CSV, K, and which columns the gate sees
EXAMPLES = {
    "npreg": {"title": "NPreg: yp ~ x, K=2, constant weights", "K": 2, "expert": ["x"], "gate": [],
              "reported": (-440.6424, 5)},
    "patent": {"title": "patent: Patents ~ lgRD, K=3, gate ~ RDS", "K": 3, "expert": ["lgRD"], "gate": ["RDS"],
               "reported": (-197.6753, 10)},
    "seizure": {"title": "seizure: Seizures ~ Treatment*log(Day), offset log(Hours), K=2", "K": 2,
                "expert": ["treatment", "log_day", "treatment_log_day"], "gate": [], "reported": (-376.1762, 9)},
}


def simulated_sets():
    """name -> (columns dict, K, expert columns, gate columns, generator call in words)."""
    from mixexp.datasets import make_moe_family, make_npreg

    sets = {}
    X, y = make_npreg(100, response="poisson", random_state=2602)
    sets["npreg_sim"] = ({"x1": X[:, 0], "y": y}, 2, ["x1"], [],
                         'make_npreg(100, response="poisson", random_state=2602)')
    X, y = make_moe_family("poisson", 200, n_features=2, n_experts=3, gate_features=[1],
                           expert_features=[0], random_state=1998)
    sets["patent_sim"] = ({"x1": X[:, 0], "x2": X[:, 1], "y": y}, 3, ["x1"], ["x2"],
                          'make_moe_family("poisson", 200, n_features=2, n_experts=3, gate_features=[1], '
                          "expert_features=[0], random_state=1998)")
    exposure = np.random.RandomState(1996).uniform(6.0, 12.0, size=140)
    X, y = make_moe_family("poisson", 140, n_features=3, n_experts=2, gate_features=[], exposure=exposure,
                           random_state=1996)
    sets["seizure_sim"] = ({"x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "exposure": exposure, "y": y}, 2,
                           ["x1", "x2", "x3"], [],
                           "exposure = RandomState(1996).uniform(6, 12, 140); make_moe_family(\"poisson\", 140, "
                           "n_features=3, n_experts=2, gate_features=[], exposure=exposure, random_state=1996)")
    return sets


def write_columns(path, columns):
    names = list(columns)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for row in zip(*(columns[n] for n in names)):
            w.writerow([repr(float(v)) for v in row])


def read_columns(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {c: np.array([float(r[c]) for r in rows]) for c in rows[0]}


def run_r(rdir):
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("Rscript not found: install R and flexmix (Debian: apt-get install r-base-core "
              "r-cran-flexmix r-cran-jsonlite); nothing to compare against, exiting.")
        return False
    res = subprocess.run([rscript, R_SCRIPT, "--out", rdir], capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stdout[-3000:], res.stderr[-3000:], sep="\n")
        print("the R script failed (is flexmix installed?); exiting.")
        return False
    print(res.stdout, end="")
    return True


def fit_mixexp(columns, K, expert, gate, n_init, seed):
    """mixexp's best-of-n_init maximum-likelihood fit; its log-likelihood, df, seconds."""
    from mixexp import MixtureOfExpertsRegressor

    names = expert + gate
    X = np.column_stack([columns[c] for c in names])
    exposure = columns.get("exposure")
    model = MixtureOfExpertsRegressor(
        K, expert="poisson", gate_features=list(range(len(expert), len(names))),
        expert_features=list(range(len(expert))), alpha=0.0, gate_alpha=0.0, tol=1e-10, max_iter=20000,
        n_init=n_init, random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        model.fit(X, columns["y"], exposure=exposure)
        seconds = time.perf_counter() - t0
    ll = float(model.log_likelihood(X, columns["y"], exposure=exposure).sum())
    return {"loglik": ll, "df": int(model._n_parameters()), "seconds": seconds,
            "converged": bool(model.converged_), "n_iter": int(model.n_iter_)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    simdir = os.path.join(args.out, "families_flexmix", "sim")
    os.makedirs(simdir, exist_ok=True)
    sims = simulated_sets()
    with tempfile.TemporaryDirectory() as rdir:
        os.makedirs(os.path.join(rdir, "sim"))
        models = [["name", "K", "expert_columns", "gate_columns", "exposure"]]
        for name, (cols, K, expert, gate, _) in sims.items():
            for folder in (simdir, os.path.join(rdir, "sim")):
                write_columns(os.path.join(folder, f"{name}.csv"), cols)
            models.append([name, K, " ".join(expert), " ".join(gate), int("exposure" in cols)])
        with open(os.path.join(rdir, "sim", "models.csv"), "w", newline="") as fh:
            csv.writer(fh).writerows(models)
        if not run_r(rdir):
            return 0
        with open(os.path.join(rdir, "flexmix_families.json")) as fh:
            flexmix = json.load(fh)
        data = {name: read_columns(os.path.join(rdir, "data", f"{name}.csv")) for name in EXAMPLES}

    import mixexp

    rows = []
    for name, spec in EXAMPLES.items():
        rows.append((name, spec["title"], spec["reported"], data[name], spec["K"], spec["expert"], spec["gate"], None))
    for name, (cols, K, expert, gate, call) in sims.items():
        rows.append((name, f"simulated: {call}", None, cols, K, expert, gate, call))
    results = {}
    for name, title, reported, cols, K, expert, gate, call in rows:
        fx = flexmix["results"][name]
        mx = fit_mixexp(cols, K, expert, gate, args.n_init, args.seed)
        results[name] = {"title": title, "K": K, "expert_columns": expert, "gate_columns": gate,
                         "flexmix_reported": reported, "flexmix": fx, "mixexp": mx, "generator": call}
        print(f"{name:12s} flexmix {fx['loglik']:.6f} (df {fx['df']}, k {fx['k_final']})  "
              f"mixexp {mx['loglik']:.6f} (df {mx['df']}, {mx['seconds']:.1f} s)", flush=True)
    meta = {"mixexp": getattr(mixexp, "__version__", "?"), "python": platform.python_version(),
            "R": flexmix["r_version"], "flexmix": flexmix["flexmix"], "nrep": flexmix["nrep"],
            "flexmix_seed": flexmix["seed"], "n_init": args.n_init, "seed": args.seed,
            "command": "python benchmarks/families_flexmix.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    with open(os.path.join(args.out, "families_flexmix.json"), "w") as fh:
        json.dump({"meta": meta, "results": results}, fh, indent=2)
    lines = [
        "# mixexp Poisson experts against flexmix (total train log-likelihood, higher is better)",
        "",
        f"Made by `{meta['command'].strip()}` (mixexp {meta['mixexp']}, Python {meta['python']}; "
        f"{meta['R']}, flexmix {meta['flexmix']}).",
        "",
        f"- flexmix: `benchmarks/flexmix_families.R`, `stepFlexmix(nrep={meta['nrep']})` with "
        "`FLXMRglm(family=\"poisson\")`, default control; `k`: components left (minprior 0.05).",
        f"- mixexp: best of n_init={args.n_init} (random_state={args.seed}), `alpha=0, gate_alpha=0, "
        "tol=1e-10, max_iter=20000`, expert=\"poisson\", the gate on the concomitant variables "
        "(`gate_features=[]`: constant mixing weights); df as `bic` counts them.",
        "- flexmix's examples are exported from R at run time (GPL, not in the repository); "
        "the simulated sets are in `families_flexmix/sim/`.",
        "- seconds: wall clock on a shared 2-core machine, measured under load.",
        "",
        "| data | flexmix documented | flexmix here (df, k) | mixexp (df) | mixexp - flexmix here | mixexp s | flexmix s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        fx, mx, rep = r["flexmix"], r["mixexp"], r["flexmix_reported"]
        doc = f"{rep[0]:.4f} (df {rep[1]})" if rep else ""
        lines.append(f"| {r['title']} | {doc} | {fx['loglik']:.6f} ({fx['df']}, {fx['k_final']}) | "
                     f"{mx['loglik']:.6f} ({mx['df']}) | {mx['loglik'] - fx['loglik']:+.6f} | "
                     f"{mx['seconds']:.1f} | {fx['seconds_all_starts']:.1f} |")
    with open(os.path.join(args.out, "families_flexmix.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
