"""mixexp's classification EM (``algorithm="cem"``) and user-given starts (``init_params`` as
labels) against R's flexmix ``classify="CEM"`` and ``cluster=`` on NPreg.

    PYTHONPATH=<checkout under test> python benchmarks/cem_flexmix.py [--out benchmarks/results]
        [--n-init 5] [--seed 1]

1. ``benchmarks/cem_flexmix.R`` runs in a temporary folder: it exports flexmix's ``NPreg``
   (GPL, never written into the repository) with two start partitions (NPreg's ``class``
   and a random one) and fits ``yn ~ x + I(x^2)``, K=2, constant mixing weights: CEM from
   each start (``flexmix(..., cluster=, control=list(classify="CEM"))``), EM from
   ``class``, and ``stepFlexmix(nrep=5, classify="CEM")``.  Without Rscript or flexmix
   the script says so and exits with status 0.
2. mixexp fits the same rows: ``MixtureOfExpertsRegressor(2, gate_features=[],
   expert_features=["x", "x2"], alpha=0, gate_alpha=0, tol=1e-10, max_iter=1000,
   algorithm="cem" or "em")`` with ``init_params`` the same start labels, or its own starts
   (``n_init=5``) for the last fit.
3. Both fits are scored here by the same formulas: the observed log-likelihood
   ``sum_i log sum_k pi_k N(y_i; x_i b_k, s_k^2)`` and the classification log-likelihood
   ``sum_i max_k log(pi_k N(y_i; x_i b_k, s_k^2))``, flexmix's with its coefficients, its
   sigmas and the mixing weights of its final partition (the weights its last M-step used);
   (EM: its ``prior``); the partitions are compared row by row (experts matched by their
   coefficients).
   Prints the table and writes ``<out>/cem_flexmix.md``.

flexmix's Gaussian M-step divides the residual sum of squares by ``n - rank`` (``n`` all
rows, ``mean(weights)`` rescaling), mixexp's by the expert's weight (maximum likelihood);
with hard weights flexmix's variance is the ML one times ``n / (n - 3)`` (200/197 here).
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
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn.metrics import adjusted_rand_score

HERE = os.path.dirname(os.path.abspath(__file__))
R_SCRIPT = os.path.join(HERE, "cem_flexmix.R")

FITS = {
    "cem_class": ("CEM from NPreg's class (`cluster=` / `init_params=`)", "cem", "class"),
    "cem_random": ("CEM from a random partition (`cluster=` / `init_params=`)", "cem", "random_start"),
    "em_class": ("EM from NPreg's class (`cluster=` / `init_params=`)", "em", "class"),
    "cem_best": ("CEM, best of 5 own starts", "cem", None),
}


def scores(F, y, weights, coef, sigma):
    """Observed and classification log-likelihoods, and each row's component."""
    joint = np.log(weights)[None, :] + norm.logpdf(y[:, None], F @ coef.T, sigma[None, :])
    return logsumexp(joint, axis=1).sum(), joint.max(axis=1).sum(), joint.argmax(axis=1)


def markdown(rows):
    """One column per fit, one row per measure."""
    def cell(v):
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    keys = [k for k in rows[0] if k != "fit"]
    lines = ["| | " + " | ".join(r["fit"] for r in rows) + " |", "|---" * (len(rows) + 1) + "|"]
    lines += [f"| {k} | " + " | ".join(cell(r[k]) for r in rows) + " |" for k in keys]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--n-init", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("Rscript") is None:
        print("Rscript not found: nothing to compare against.")
        return 0
    import mixexp
    from mixexp import MixtureOfExpertsRegressor

    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(["Rscript", R_SCRIPT, "--out", tmp, "--seed", str(args.seed)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print("cem_flexmix.R failed (is flexmix installed?):\n" + run.stderr)
            return 0
        with open(os.path.join(tmp, "cem_flexmix.json")) as f:
            r = json.load(f)
        data = pd.read_csv(os.path.join(tmp, "npreg_cem.csv"))
    x, y = data["x"].to_numpy(), data["yn"].to_numpy()
    X = pd.DataFrame({"x": x, "x2": x**2})
    F = np.column_stack([np.ones_like(x), x, x**2])
    n = len(y)
    rows = []
    for fit in r["fits"]:
        label, algorithm, start = FITS[fit["name"]]
        init = {} if start is None else {"init_params": data[start].to_numpy() - 1}
        model = MixtureOfExpertsRegressor(
            2, gate_features=[], expert_features=["x", "x2"], alpha=0.0, gate_alpha=0.0, tol=1e-10,
            max_iter=1000, algorithm=algorithm, n_init=args.n_init if start is None else 1,
            random_state=args.seed, **init,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        m_coef = np.column_stack([model.expert_intercept_.ravel(), model.expert_coef_.reshape(2, -1)])
        m_sigma = np.sqrt(model.noise_variance_.ravel())
        m_weights = model.predict_gate(X.iloc[:1])[0]
        m_obs, m_cls, m_part = scores(F, y, m_weights, m_coef, m_sigma)
        f_coef, f_sigma = np.array(fit["coef"]), np.array(fit["sigma"])
        # the mixing weights of flexmix's last M-step: its final partition's proportions
        # (CEM), the mean posteriors (EM; flexmix's prior)
        f_weights = np.array(fit["weights"] if algorithm == "cem" else fit["prior"])
        f_obs, f_cls, f_part = scores(F, y, f_weights, f_coef, f_sigma)
        # mixexp's own report of the same quantities, as a check of the formulas above
        loglik = model.log_likelihood(X, y)
        own_cls = (loglik + np.log(model.responsibilities(X, y).max(axis=1))).sum()
        order = min([(0, 1), (1, 0)], key=lambda p: np.abs(m_coef[list(p)] - f_coef).sum())
        m_coef, m_sigma, m_part = m_coef[list(order)], m_sigma[list(order)], np.argsort(order)[m_part]
        rows.append({
            "fit": label,
            "flexmix logLik (reported)": fit["loglik"],
            "flexmix observed": f_obs,
            "mixexp observed": m_obs,
            "flexmix classification": f_cls,
            "mixexp classification": m_cls,
            "mixexp classification (own)": own_cls,
            "rows in another cluster": int((m_part != np.array(fit["cluster"]) - 1).sum()),
            "ARI": adjusted_rand_score(fit["cluster"], m_part),
            "max abs coef difference": float(np.abs(m_coef - f_coef).max()),
            "sigma ratio mixexp/flexmix": "/".join(f"{v:.5f}" for v in m_sigma / f_sigma),
            "iterations flexmix/mixexp": f"{fit['iter']}/{model.n_iter_}",
        })
    text = markdown(rows)
    print(text)
    header = [
        "# Classification EM against flexmix `classify=\"CEM\"` (NPreg, yn ~ x + I(x^2), K=2)",
        "",
        "```",
        f"PYTHONPATH=. python benchmarks/cem_flexmix.py --n-init {args.n_init} --seed {args.seed}",
        "```",
        "",
        f"{r['R']}, flexmix {r['flexmix']}; mixexp {mixexp.__version__}, Python "
        f"{sys.version.split()[0]}; n = {n} rows.  Constant mixing weights (`gate_features=[]`), no "
        "penalties.  Log-likelihoods in nats (sums over rows), both models scored by the same "
        "formulas from their parameters (flexmix's mixing weights: its final partition's "
        "proportions under CEM, its prior under EM); \"(own)\" is mixexp's `log_likelihood + log max responsibilities`.  "
        f"(N-3)/N = {(n - 3) / n:.5f}, its square root {np.sqrt((n - 3) / n):.5f}: flexmix's "
        "Gaussian sigma is the ML one times sqrt(N/(N-3)) for hard weights.",
        "",
    ]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "cem_flexmix.md"), "w") as f:
        f.write("\n".join(header) + "\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
