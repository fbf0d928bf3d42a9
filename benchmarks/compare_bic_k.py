"""Does BIC on the outer training fold choose the size that ``mixexp compare``'s inner CV chooses?

For each data set and mixture, on the first outer fold of ``mixexp compare``'s splits (as
``benchmarks/compare_fold_cpu.py``), every size of the grid (``n_experts`` or ``depth``) is fitted
once on the outer training fold at the penalty the inner CV chose, and the size of lowest BIC
(on those training rows) is compared with the inner CV's choice: agreement and the test score of
each choice.  The inner CV's choices are read from a table that ``compare_fold_cpu.py`` printed:

    python benchmarks/compare_fold_cpu.py --datasets concrete kin8nm mcycle peterson_barney vowel \\
        --models moe hme moe-quad --inner-starts default --penalty-path > fold_default.md
    python benchmarks/compare_bic_k.py --choices fold_default.md
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from accuracy import DEFAULT_DATA, folder_datasets  # noqa: E402
from mixexp import compare  # noqa: E402

KEYS = {display: key for key, display in compare.MODELS.items()}


def read_choices(path):
    """{(data set, model key): {parameter: value}} from a compare_fold_cpu.py table."""
    out = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[1] not in KEYS:
            continue
        params = dict(kv.split("=") for kv in cells[4].split(", ") if kv)
        out[(cells[0].split(" (")[0], KEYS[cells[1]])] = params
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--choices", required=True)
    args = parser.parse_args()
    choices = read_choices(args.choices)
    names = sorted({d for d, _ in choices})
    settings = compare.Settings(n_repeats=1)
    print("| data | model | inner CV size | test score | BIC size | test score | BIC CPU s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    with compare.single_threaded():
        for ds in folder_datasets(args.data, names):
            train, test = next(iter(compare.make_splits(ds, settings)))
            for (name, key), chosen in choices.items():
                if name != ds.name:
                    continue
                search = compare.make_model(key, ds.task, settings, len(train), ds.X.shape[1])
                pipe, grid = search.estimator, search.param_grid
                size_param = next(iter(grid))
                step = size_param.split("__")[0]
                size_name = size_param.split("__")[1]
                fixed = {f"{step}__{k}": float(v) for k, v in chosen.items() if k != size_name}
                fits, start = {}, time.process_time()
                for size in grid[size_param]:
                    fit = pipe.set_params(**{size_param: size}, **fixed).fit(ds.X[train], ds.y[train])
                    Z = fit[:-1].transform(ds.X[train])
                    fits[size] = (fit[-1].bic(Z, ds.y[train]), fit.score(ds.X[test], ds.y[test]))
                cpu = time.process_time() - start
                cv_size = int(chosen[size_name])
                bic_size = min(fits, key=lambda s: fits[s][0])
                print(f"| {ds.name} | {compare.MODELS[key]} | {cv_size} | {fits[cv_size][1]:.3f} | "
                      f"{bic_size} | {fits[bic_size][1]:.3f} | {cpu:.1f} |", flush=True)


if __name__ == "__main__":
    main()
