"""mixexp's bootstrap likelihood-ratio test of 1 against 2 experts on data for mixtools' ``boot.comp``.

    PYTHONPATH=<checkout> python benchmarks/bootstrap_lrt_mixtools.py [--out DIR] [--n-resamples 19]

Writes three data sets of 200 rows to ``DIR`` (``x ~ U(0, 10)``, unit normal noise;
``one``: ``1 + 0.5 x``; ``two_near``: half the rows ``1 + 0.5 x``, half ``2 + 0.3 x``;
``two_far``: half ``1 + 0.5 x``, half ``6 - 0.5 x``) and prints mixexp's
``bootstrap_lrt(MixtureOfExpertsRegressor(gate_features=[], alpha=0, gate_alpha=0, n_init=3),
n_experts=(1, 2))`` on each (constant mixing weights: mixtools' ``regmix``).  mixtools' side:
``Rscript benchmarks/bootstrap_lrt_mixtools.R DIR/<name>.csv 19`` (about 3 minutes per data set
on the loaded development machine).
"""
import argparse
import os
import time
import warnings

import numpy as np


def data(out):
    rs = np.random.RandomState(0)
    n = 200
    x = rs.uniform(0, 10, n)
    sets = {"one": 1 + 0.5 * x + rs.randn(n)}
    z = rs.rand(n) < 0.5
    sets["two_far"] = np.where(z, 1 + 0.5 * x, 6 - 0.5 * x) + rs.randn(n)
    sets["two_near"] = np.where(z, 1 + 0.5 * x, 2 + 0.3 * x) + rs.randn(n)
    os.makedirs(out, exist_ok=True)
    for name, y in sets.items():
        np.savetxt(os.path.join(out, f"{name}.csv"), np.column_stack([x, y]), delimiter=",", header="x,y",
                   comments="")
    return x, sets


def main(argv=None):
    from mixexp import MixtureOfExpertsRegressor
    from mixexp.inference import bootstrap_lrt

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bootstrap_lrt_data")
    ap.add_argument("--n-resamples", type=int, default=19)
    args = ap.parse_args(argv)
    x, sets = data(args.out)
    for name, y in sets.items():
        start = time.time()
        model = MixtureOfExpertsRegressor(gate_features=[], alpha=0.0, gate_alpha=0.0, n_init=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            test = bootstrap_lrt(model, x[:, None], y, n_experts=(1, 2), n_resamples=args.n_resamples,
                                 random_state=0)
        print(f"{name}: statistic {test.statistic:.3f}, p = {test.p_value:.3f} ({time.time() - start:.1f} s)")


if __name__ == "__main__":
    main()
