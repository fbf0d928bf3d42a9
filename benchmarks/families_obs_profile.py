#!/usr/bin/env python
"""One fit of a row of speed.py's families_obs part, to profile (issue 30 item 3).

    PYTHONPATH=. py-spy record -r 50 -f raw -o out.txt -- \\
        python benchmarks/families_obs_profile.py weibull 50000 10   # row, n, max_iter
"""

import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mixexp  # noqa: E402
from speed import families_obs_config, families_obs_data  # noqa: E402


def fit(name, X, data, max_iter):
    params, y, kw = families_obs_config(name, data)
    est = mixexp.MixtureOfExpertsRegressor(n_experts=4, random_state=0, max_iter=max_iter, tol=0.0,
                                           init_params="kmeans", **params)
    return est.fit(X, y, **kw)


def main():
    warnings.filterwarnings("ignore")
    name, n, max_iter = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    fit(name, *families_obs_data(2000, 10, 4), 2)  # compile outside the profile
    X, data = families_obs_data(n, 10, 4)
    t = time.perf_counter()
    fit(name, X, data, max_iter)
    print(f"{name}: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
