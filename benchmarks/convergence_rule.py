#!/usr/bin/env python
"""EM's stopping rule: iterations and bounds under four rules, and what each leaves behind.

    PYTHONPATH=. python benchmarks/convergence_rule.py [--quick] [--large] [--out FILE]

Rules (``tol`` is on the gain in mean per-sample penalised log-likelihood):

``one``
    the rule before: stop at the first iteration that gains less than ``tol``.
``two`` (the rule now, ``mixexp._engine.SMALL_GAINS_TO_CONVERGE = 2``)
    stop when two iterations in a row gained less than ``tol``.
``three``
    three in a row.
``aitken``
    Aitken's rule as MoEClust and mclust use it: with ``a_k = d_k / d_{k-1}``
    (``d_k`` the gain of iteration k) and the limit it predicts
    ``l_inf = l_{k-1} + d_k / (1 - a_k)``, stop when ``0 <= a_k < 1`` and
    ``l_inf - l_k < tol`` (from the second iteration on).

Every rule applies wherever EM decides convergence: the start's short runs
(``init_params="short_em"``), a tree's flat start and the final run.  Each
case is fitted with its defaults (``tol=1e-4``, ``random_state=0``) under each
rule; ``left`` is what that fit left behind: the gain of continuing it
(``warm_start``) to ``tol=1e-6`` (max 1000 iterations).  A fit with ``left``
above 10 tol stopped early, or converges slowly; one whose continuation
has an iteration that gains more than 10 tol (``later``) was fooled: it
declared convergence on a small gain with larger gains still to come.

Estimator experts (Ridge, trees) take the approximate path: iterations
without gain neither count nor break a run of small gains, and
more than ``NON_GAIN_PATIENCE`` of them in a row end EM as before.

``--quick`` runs fewer seeds (a check of the script); ``--large`` adds the
issue's case, 10**6 rows x 20 features, 4 experts, data seeds 0-11 under
``one`` and ``two`` (about 10 min).  Writes a markdown report to ``--out``
(default ``benchmarks/results/convergence_rule.md``).
"""

import argparse
import copy
import os
import sys
import time
import warnings
from statistics import median

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

import mixexp._engine as engine
from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp.datasets import (
    make_gaussian_gated_regression,
    make_hme_regression,
    make_moe_classification,
    make_moe_regression,
)

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-4
LEFT_TOL = 1e-6
_two = engine.converged


def _in_a_row(k):
    def rule(bounds, tol):
        return len(bounds) > k and all(bounds[-i] - bounds[-i - 1] < tol for i in range(1, k + 1))

    return rule


def aitken(bounds, tol):
    if len(bounds) < 3:
        return False
    d1, d2 = bounds[-2] - bounds[-3], bounds[-1] - bounds[-2]
    if not d1 > 0:
        return d2 < tol  # no rate to estimate: the plain gain
    a = d2 / d1
    if not 0 <= a < 1:
        return False
    return d2 * a / (1 - a) < tol  # l_inf - l_k


RULES = {"one": _in_a_row(1), "two": _two, "three": _in_a_row(3), "aitken": aitken}

CASES = [
    # name, data(n, seed), estimator, sizes, seeds
    ("MoE reg d=20 K=4", lambda n, s: make_moe_regression(n, 20, 4, random_state=s)[:2],
     lambda: MixtureOfExpertsRegressor(4), (2000, 20000, 200000), (12, 12, 4)),
    ("MoE reg d=5 K=3", lambda n, s: make_moe_regression(n, 5, 3, random_state=s)[:2],
     lambda: MixtureOfExpertsRegressor(3), (2000, 20000), (12, 12)),
    ("MoE clf d=10 K=4 C=3", lambda n, s: make_moe_classification(n, 10, 4, 3, random_state=s)[:2],
     lambda: MixtureOfExpertsClassifier(4), (2000, 20000), (12, 8)),
    ("HME reg d=5 depth 2", lambda n, s: make_hme_regression(n, 5, 2, 2, random_state=s)[:2],
     lambda: HierarchicalMixtureOfExpertsRegressor(2, 2), (2000, 20000), (12, 8)),
    ("Gaussian gate d=2 K=3", lambda n, s: make_gaussian_gated_regression(n, 2, 3, random_state=s)[:2],
     lambda: MixtureOfExpertsRegressor(3, gate="gaussian"), (2000, 20000), (12, 8)),
    ("Ridge experts d=5 K=3", lambda n, s: make_moe_regression(n, 5, 3, random_state=s)[:2],
     lambda: MixtureOfExpertsRegressor(3, expert=Ridge(alpha=1e-3)), (2000,), (8,)),
    ("Tree experts d=5 K=3", lambda n, s: make_moe_regression(n, 5, 3, random_state=s)[:2],
     lambda: MixtureOfExpertsRegressor(3, expert=DecisionTreeRegressor(max_depth=4, random_state=0)),
     (2000,), (8,)),
]
LARGE = ("MoE reg d=20 K=4", lambda n, s: make_moe_regression(n, 20, 4, random_state=s)[:2],
         lambda: MixtureOfExpertsRegressor(4), (10**6,), (12,))


def fit_case(make_est, X, y, rule):
    engine.converged = RULES[rule]
    try:
        t = time.perf_counter()
        est = make_est().set_params(random_state=0, tol=TOL).fit(X, y)
        seconds = time.perf_counter() - t
        more = copy.deepcopy(est).set_params(warm_start=True, tol=LEFT_TOL, max_iter=1000).fit(X, y)
    finally:
        engine.converged = _two
    later = np.diff(np.r_[est.lower_bound_, more.lower_bounds_])
    return {"n_iter": est.n_iter_, "bound": est.lower_bound_, "converged": est.converged_,
            "left": more.lower_bound_ - est.lower_bound_, "later": later.max(), "seconds": seconds}


def run(cases, rules, log):
    rows = []
    for name, data, make_est, sizes, seeds in cases:
        for n, n_seeds in zip(sizes, seeds):
            for seed in range(n_seeds):
                X, y = data(n, seed)
                for rule in rules:
                    r = fit_case(make_est, X, y, rule)
                    r.update(case=name, n=n, seed=seed, rule=rule)
                    rows.append(r)
                    print(f"{name} n={n} seed={seed} {rule}: n_iter {r['n_iter']} bound {r['bound']:.5f}"
                          f" left {r['left']:.2e} later {r['later']:.2e} {r['seconds']:.1f}s", file=log, flush=True)
    return rows


def table(rows, rules):
    keys = sorted({(r["case"], r["n"]) for r in rows}, key=lambda k: ([r["case"] for r in rows].index(k[0]), k[1]))
    head = ["case", "n", "seeds"]
    for rule in rules:
        head += [f"{rule}: n_iter median / max", f"{rule}: mean bound", f"{rule}: max left", f"{rule}: fooled"]
    out = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + " |"]
    for case, n in keys:
        sel = [r for r in rows if r["case"] == case and r["n"] == n]
        cells = [case, f"{n:,}", str(len({r['seed'] for r in sel}))]
        for rule in rules:
            rr = [r for r in sel if r["rule"] == rule]
            its = [r["n_iter"] for r in rr]
            cells += [f"{median(its):g} / {max(its)}", f"{np.mean([r['bound'] for r in rr]):.5f}",
                      f"{max(r['left'] for r in rr):.1e}", str(sum(r["later"] > 10 * TOL for r in rr))]
        out.append("| " + " | ".join(cells) + " |")
    return out


def summary(rows, rules):
    out = ["| rule | fits | mean n_iter | n_iter vs one: mean / max | fooled (later > 10 tol) | "
           "left > 10 tol | mean bound vs one | worst bound vs one | fit time vs one |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    base = {(r["case"], r["n"], r["seed"]): r for r in rows if r["rule"] == "one"}
    for rule in rules:
        rr = [r for r in rows if r["rule"] == rule]
        extra = [r["n_iter"] - base[(r["case"], r["n"], r["seed"])]["n_iter"] for r in rr]
        gain = [r["bound"] - base[(r["case"], r["n"], r["seed"])]["bound"] for r in rr]
        time_ratio = sum(r["seconds"] for r in rr) / sum(base[(r["case"], r["n"], r["seed"])]["seconds"] for r in rr)
        out.append(f"| {rule} | {len(rr)} | {np.mean([r['n_iter'] for r in rr]):.1f} | "
                   f"{np.mean(extra):+.1f} / {max(extra):+d} | {sum(r['later'] > 10 * TOL for r in rr)} | "
                   f"{sum(r['left'] > 10 * TOL for r in rr)} | {np.mean(gain):+.1e} | {min(gain):+.1e} | "
                   f"{time_ratio:.2f} |")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "convergence_rule.md"))
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    rules = list(RULES)
    X, y = make_moe_regression(300, 3, 2, random_state=0)[:2]
    MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)  # compile or load the numba kernels
    cases = CASES
    if args.quick:
        cases = [(c[0], c[1], c[2], c[3][:1], (2,)) for c in CASES]
    t0 = time.time()
    rows = run(cases, rules, sys.stderr)
    lines = [
        "# EM's stopping rule",
        "",
        f"`PYTHONPATH=. python benchmarks/convergence_rule.py{' --large' if args.large else ''}` "
        f"({time.strftime('%Y-%m-%d')}, {(time.time() - t0) / 60:.0f} min on a shared 2-core machine). "
        f"Defaults (tol={TOL:g}, random_state=0), data seeds 0..seeds-1; the rules are described in the script's doc. "
        f"`left`: gain of continuing the fit to tol={LEFT_TOL:g}; `fooled`: fits whose continuation "
        f"has an iteration gaining more than 10 tol. The n_iter_ of the final run is not the whole cost: "
        f"the rule also lengthens the start's short runs; fit time (all fits of a rule against rule one) is.",
        "",
        "## All fits",
        "",
        *summary(rows, rules),
        "",
        "## By case",
        "",
        *table(rows, rules),
    ]
    if args.large:
        t1 = time.time()
        big = run([LARGE], ["one", "two"], sys.stderr)
        lines += [
            "",
            f"## The issue's case: 10^6 rows ({(time.time() - t1) / 60:.0f} min)",
            "",
            "| seed | one: n_iter | one: bound | one: left (largest later gain) | two: n_iter | two: bound | two: left (largest later gain) |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for seed in sorted({r["seed"] for r in big}):
            a, b = (next(r for r in big if r["seed"] == seed and r["rule"] == rule) for rule in ("one", "two"))
            lines.append(f"| {seed} | {a['n_iter']} | {a['bound']:.4f} | {a['left']:.1e} ({a['later']:.1e}) | "
                         f"{b['n_iter']} | {b['bound']:.4f} | {b['left']:.1e} ({b['later']:.1e}) |")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
