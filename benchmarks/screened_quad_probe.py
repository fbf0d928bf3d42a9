"""Single-split probe of the screened-quadratic experts: how many features to screen.

One stratified (classification) or plain 2/3-1/3 split of at most 2000 rows per data set
(subsampled as ``mixexp compare`` does), one ``MoE`` with ``n_experts=4`` and ``alpha=1``,
the gate on x; the experts on x (``lin``), on x and the quadratic terms of the ``m``
screened features (``m``, :class:`mixexp.compare.quadratic.ScreenedQuadraticFeatures`
fitted on the training rows), or on every quadratic term (``full``).  Prints the test
score and the fit's CPU seconds (numba and BLAS on one thread) as a Markdown table.

    python benchmarks/screened_quad_probe.py --datasets satimage optdigits waveform_21 \\
        --variants lin 4 8 12 [--random-state 1]

Not cross-validated: a probe to choose ``QUAD_SCREENED``, not a comparison.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import PolynomialFeatures, StandardScaler  # noqa: E402

from accuracy import DEFAULT_DATA, folder_datasets  # noqa: E402
from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor  # noqa: E402
from mixexp.compare import single_threaded  # noqa: E402
from mixexp.compare.quadratic import ScreenedQuadraticFeatures  # noqa: E402


def probe(dataset, variant, random_state=0):
    """(test score, fit CPU seconds) of one variant on one split of ``dataset``."""
    reg = dataset.task == "regression"
    X_tr, X_te, y_tr, y_te = train_test_split(
        dataset.X, dataset.y, test_size=1 / 3, random_state=random_state,
        stratify=None if reg else dataset.y)
    d = dataset.X.shape[1]
    est = (MixtureOfExpertsRegressor if reg else MixtureOfExpertsClassifier)(
        n_experts=4, alpha=1.0, gate_features=list(range(d)), random_state=random_state)
    steps = [("scale", StandardScaler())]
    if variant == "full":
        steps.append(("quad", PolynomialFeatures(2, include_bias=False)))
    elif variant != "lin":
        steps.append(("quad", ScreenedQuadraticFeatures(int(variant), task=dataset.task)))
    model = Pipeline(steps + [("moe", est)])
    start = time.process_time()
    model.fit(X_tr, y_tr)
    return model.score(X_te, y_te), time.process_time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--variants", nargs="+", default=["lin", "4", "8", "12"],
                        help="lin, full, or a number of screened features")
    parser.add_argument("--max-samples", type=int, default=2000)
    parser.add_argument("--random-state", type=int, default=0, help="seed of the split and the fits")
    args = parser.parse_args()
    datasets = folder_datasets(args.data, args.datasets, args.max_samples)
    print("| data | " + " | ".join(args.variants) + " |")
    print("| --- |" + " ---: |" * len(args.variants))
    with single_threaded():
        for ds in datasets:
            cells = []
            for v in args.variants:
                score, cpu = probe(ds, v, args.random_state)
                cells.append(f"{score:.3f} ({cpu:.1f} s)")
            print(f"| {ds.name} ({ds.X.shape[0]} × {ds.X.shape[1]}) | " + " | ".join(cells) + " |",
                  flush=True)


if __name__ == "__main__":
    main()
