"""Jordan & Jacobs (1994)-style comparison on robot-arm data: relative error and iterations.

Relative error = test MSE / variance of y on the test set, for linear regression,
CART (max_depth tuned by inner 3-fold CV), an MLP trained by gradient descent
(Adam, its epochs reported), flat MoE and HME with comparable numbers of leaves.
EM iterations are reported against the MLP's epochs.  Reads ``../shared/data``
(the project's development datasets); exits with a message when it is absent.

    python benchmarks/hme_robot.py [--max-rows 8192] [--datasets kin8nm puma8NH 2dplanes fried]

Writes benchmarks/results/hme_robot.md and hme_robot.csv.
"""

import argparse
import csv
import os
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

from mixexp import HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsRegressor

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data")
RESULTS = os.path.join(HERE, "results")


def models(seed):
    em = dict(max_iter=300, tol=1e-5, random_state=seed)
    out = {
        "linear": make_pipeline(StandardScaler(), LinearRegression()),
        "CART": GridSearchCV(
            DecisionTreeRegressor(random_state=seed),
            {"max_depth": [4, 6, 8, 10, 12, 15, None]},
            cv=3,
        ),
        "MLP (64, Adam)": make_pipeline(
            StandardScaler(),
            MLPRegressor(hidden_layer_sizes=(64,), max_iter=500, early_stopping=True, random_state=seed),
        ),
    }
    for k, depth in [(4, 2), (8, 3), (16, 4)]:
        out[f"MoE K={k}"] = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(k, **em))
        out[f"HME {depth}x2 ({k} leaves)"] = make_pipeline(
            StandardScaler(), HierarchicalMixtureOfExpertsRegressor(depth, 2, **em)
        )
    return out


def iterations(model):
    last = model[-1] if hasattr(model, "steps") else model
    if hasattr(last, "n_iter_"):
        return int(last.n_iter_), bool(getattr(last, "converged_", True))
    return "", ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["kin8nm", "puma8NH", "2dplanes", "fried"])
    parser.add_argument("--max-rows", type=int, default=8192, help="subsample larger datasets")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not os.path.isdir(DATA):
        print(f"{DATA} not found: the development datasets are absent; nothing to do.")
        return 0
    sys.path.insert(0, DATA)
    from load import load

    rows = []
    for name in args.datasets:
        X, y = load(name)
        rs = np.random.RandomState(args.seed)
        idx = rs.permutation(X.shape[0])[: args.max_rows]
        X, y = X[idx], y[idx]
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=args.seed)
        for label, model in models(args.seed).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                model.fit(Xtr, ytr)
                seconds = time.perf_counter() - start
            rel = float(np.mean((model.predict(Xte) - yte) ** 2) / np.var(yte))
            n_iter, converged = iterations(model)
            rows.append([name, X.shape[0], label, f"{rel:.4f}", n_iter, converged, f"{seconds:.2f}"])
            print(*rows[-1], sep="\t", flush=True)

    os.makedirs(RESULTS, exist_ok=True)
    header = ["dataset", "rows", "model", "relative error", "EM iterations / epochs", "converged", "fit s"]
    with open(os.path.join(RESULTS, "hme_robot.csv"), "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    with open(os.path.join(RESULTS, "hme_robot.md"), "w") as fh:
        fh.write(f"Command: `python benchmarks/hme_robot.py --max-rows {args.max_rows}`"
                 f" (75/25 split, seed {args.seed}; rows subsampled to at most {args.max_rows})\n\n")
        fh.write("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
        for r in rows:
            fh.write("| " + " | ".join(str(v) for v in r) + " |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
