"""CPU seconds of ``mixexp compare``'s models on one outer fold, robust to a loaded machine.

``benchmarks/accuracy.py`` reports wall seconds per fold, which on a shared machine
measure the other jobs as much as the model.  This script fits each model (inner search
included, as :func:`mixexp.compare.make_model` builds it) on the first outer training
fold of ``mixexp compare``'s splits, numba and BLAS on one thread, and prints the test
score and the process's CPU seconds of the fit as a Markdown table.

    python benchmarks/compare_fold_cpu.py --datasets satimage optdigits waveform_21 \\
        --models moe moe-quad [--quad-max-features 8]

``--inner-starts``, ``--penalty-path`` and ``--quad-alphas`` set those fields of :class:`mixexp.compare.Settings`
(benchmarks/results/compare_cost.md); ``chosen`` is the inner search's choice.
``--quad-max-features`` overrides :data:`mixexp.compare.models.QUAD_MAX_FEATURES` (the most
features whose every quadratic term ``moe-quad`` takes), to screen smaller data sets too.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from accuracy import DEFAULT_DATA, folder_datasets  # noqa: E402
from sklearn.model_selection._search import BaseSearchCV  # noqa: E402

from mixexp import compare  # noqa: E402
from mixexp.compare import models  # noqa: E402
from mixexp.compare.search import WarmPathSearchCV  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--models", nargs="+", default=["moe", "moe-quad"], choices=list(compare.MODELS))
    parser.add_argument("--max-samples", type=int, default=2000)
    parser.add_argument("--quad-max-features", type=int, default=models.QUAD_MAX_FEATURES)
    parser.add_argument("--inner-starts", choices=compare.settings.INNER_STARTS,
                        default=compare.Settings().inner_starts)
    parser.add_argument("--quad-alphas", type=float, nargs="+")
    parser.add_argument("--penalty-path", nargs="*", choices=list(compare.MODELS),
                        default=compare.Settings().penalty_path)
    args = parser.parse_args()
    models.QUAD_MAX_FEATURES = args.quad_max_features
    settings = compare.settings_with(compare.Settings(n_repeats=1), inner_starts=args.inner_starts,
                                     quad_alphas=args.quad_alphas and tuple(args.quad_alphas),
                                     penalty_path=tuple(args.penalty_path))
    print("| data | model | test score (fold 1) | fit CPU s | chosen |")
    print("| --- | --- | ---: | ---: | --- |")
    with compare.single_threaded():
        for ds in folder_datasets(args.data, args.datasets, args.max_samples):
            train, test = next(iter(compare.make_splits(ds, settings)))
            for name in args.models:
                model = compare.make_model(name, ds.task, settings, len(train), ds.X.shape[1])
                start = time.process_time()
                model.fit(ds.X[train], ds.y[train])
                cpu = time.process_time() - start
                score = model.score(ds.X[test], ds.y[test])
                chosen = model.best_params_ if isinstance(model, (BaseSearchCV, WarmPathSearchCV)) else ""
                chosen = ", ".join(f"{k.split('__')[-1]}={v}" for k, v in dict(chosen).items())
                print(f"| {ds.name} ({ds.X.shape[0]} × {ds.X.shape[1]}) | {compare.MODELS[name]} | "
                      f"{score:.3f} | {cpu:.1f} | {chosen} |", flush=True)


if __name__ == "__main__":
    main()
