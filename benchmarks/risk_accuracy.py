"""Accuracy of the risk measures (mixexp/_risk.py) against the slow scipy reference of
tests/test_risk.py, at the fitted parameters of every family with distributions: two
experts fitted to 4000 rows of the tests' true model, 20 random rows, the largest relative
error of quantiles (levels 0.01 to 1 - 1e-6), CTE at 0.99 and limited means at the 0.7
quantile of y.  ``python benchmarks/risk_accuracy.py`` (about 1 minute);
results in benchmarks/results/risk_accuracy.md.
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
import test_risk as T  # noqa: E402

from mixexp import MixtureOfExpertsRegressor  # noqa: E402


def main():
    rs = np.random.RandomState(0)
    levels = [0.01, 0.1, 0.5, 0.9, 0.99, 1 - 1e-6]
    print("| family | quantile | CTE 0.99 | limited mean |\n| --- | --- | --- | --- |")
    for fam in T.FAMILIES:
        X, y = T.simulate(fam, 4000, seed=1)
        model = T._fit(MixtureOfExpertsRegressor(2, expert=fam, random_state=0, n_init=2), X, y)
        Xt = rs.normal(size=(20, 1))
        discrete = fam in T.DISCRETE
        gates, comps = model.predict_gate(Xt), T.fitted_components(model, Xt, fam)
        Q = model.predict_quantile(Xt, levels)
        C = model.predict_cte(Xt, 0.99)
        u = np.quantile(y, 0.7)
        L = model.predict_limited_mean(Xt, u)
        errors = np.zeros(3)
        for i in range(len(Xt)):
            w, c = gates[i], comps[i]
            for j, q in enumerate(levels):
                ref = T.ref_quantile(w, c, q, discrete)
                errors[0] = max(errors[0], abs(Q[i, j] - ref) / max(abs(ref), 1e-300))
            ref = T.ref_cte(w, c, 0.99, discrete)
            errors[1] = max(errors[1], abs(C[i] - ref) / abs(ref))
            ref = T.ref_limited_mean(w, c, u, discrete)
            errors[2] = max(errors[2], abs(L[i] - ref) / abs(ref))
        print(f"| {fam} | " + " | ".join(f"{e:.1e}" for e in errors) + " |")


if __name__ == "__main__":
    main()
