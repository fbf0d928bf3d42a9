"""The default ``algorithm="em"`` against an earlier commit: the same fits, bit for bit, and
their times.

    python benchmarks/em_default_identity.py --base f3527ec [--repeats 5]

Extracts ``mixexp`` of the commit ``--base`` (``git archive``) and of the work tree into
temporary folders, fits five models with each (flat and HME regressors, a classifier, a
Gaussian gate, grouped rows; n = 3000-4000) in a subprocess, and compares
``lower_bounds_``, ``expert_coef_`` and ``gate_coef_`` exactly, and the median wall-clock
time of ``--repeats`` fits after one warm-up fit (a shared machine: for orientation).
"""
import argparse
import os
import pickle
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

FITS = r'''
import pickle, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from mixexp import *
from mixexp.datasets import make_moe_classification, make_moe_regression
X, y = make_moe_regression(n_samples=4000, n_features=5, n_experts=3, random_state=0)[:2]
Xc, yc = make_moe_classification(n_samples=3000, n_features=4, n_experts=3, random_state=0)[:2]
g = np.arange(4000) // 4
cases = {
    "flat regressor": lambda: MixtureOfExpertsRegressor(3, random_state=0).fit(X, y),
    "HME regressor": lambda: HierarchicalMixtureOfExpertsRegressor(2, 2, random_state=0).fit(X, y),
    "flat classifier": lambda: MixtureOfExpertsClassifier(3, random_state=0).fit(Xc, yc),
    "Gaussian gate": lambda: MixtureOfExpertsRegressor(3, gate="gaussian", random_state=0).fit(X, y),
    "groups": lambda: MixtureOfExpertsRegressor(3, gate_features=[], random_state=0).fit(X, y, groups=g),
}
out = {}
for name, fit in cases.items():
    fit()
    times = []
    for _ in range(int(sys.argv[2])):
        t = time.perf_counter()
        m = fit()
        times.append(time.perf_counter() - t)
    out[name] = (m.lower_bounds_, m.expert_coef_, getattr(m, "gate_coef_", None), float(np.median(times)))
pickle.dump(out, open(sys.argv[1], "wb"))
'''


def run(tree, repeats, tmp, name):
    path = os.path.join(tmp, name + ".pkl")
    env = dict(os.environ, PYTHONPATH=tree)
    subprocess.run([sys.executable, "-c", FITS, path, str(repeats)], check=True, env=env, cwd=tree)
    with open(path, "rb") as f:
        return pickle.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base, new = os.path.join(tmp, "base"), os.path.join(tmp, "new")
        os.makedirs(base)
        archive = subprocess.run(["git", "archive", args.base, "mixexp"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", base], input=archive, check=True)
        shutil.copytree(os.path.join(ROOT, "mixexp"), os.path.join(new, "mixexp"))
        a = run(base, args.repeats, tmp, "base")
        b = run(new, args.repeats, tmp, "new")
    print(f"| fit | iterations | identical to {args.base} | base s | this tree s |")
    print("|---|---|---|---|---|")
    for name in a:
        same = all(
            (u is None and v is None) or (u is not None and v is not None and np.array_equal(u, v))
            for u, v in zip(a[name][:3], b[name][:3])
        )
        print(f"| {name} | {len(a[name][0])} | {'yes' if same else 'NO'} | {a[name][3]:.3f} | {b[name][3]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
