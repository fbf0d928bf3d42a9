"""The mixtures of ``mixexp compare`` under changed :class:`~mixexp.compare.Settings`, on the
accuracy benchmark's splits (issue 31: the sets where stacking leads).

    PYTHONPATH=<checkout> python benchmarks/stacking_gap.py --datasets waveform_21 \\
        --models moe hme --repeats 1 --set classifier_alphas=0.1,1.0,10.0 --label alpha3 \\
        --out /tmp/stack11/gap.csv

Datasets, subsampling and outer splits are those of ``benchmarks/accuracy.py`` with
``--max-samples 2000 --folds 3`` (the first repeat's folds do not depend on
``--repeats``), so the scores compare with ``benchmarks/results/accuracy.csv`` and
``accuracy_folds.csv``.  Each ``--set FIELD=VALUE`` replaces a field of the default
``Settings`` (a comma-separated value is a tuple; ``()`` an empty one).  Single job:
every fit runs in this process, and the CPU seconds of each model's cross-validation
(``time.process_time``) are reported beside the score.  One CSV row per dataset and
model is appended to ``--out``.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import ast  # noqa: E402
import csv  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from accuracy import DEFAULT_DATA, folder_datasets  # noqa: E402

from mixexp import compare  # noqa: E402

COLUMNS = ["label", "dataset", "model", "repeats", "score_mean", "score_std", "cpu_s", "folds",
           "chosen", "settings", "load_start", "load_end"]


def parse_value(text):
    """``"0.1,1"`` -> (0.1, 1); ``"()"`` -> (); ``"4"`` -> 4."""
    if "," in text and not text.startswith("("):
        return tuple(ast.literal_eval(v) for v in text.split(",") if v)
    return ast.literal_eval(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--models", nargs="+", default=["moe", "hme"], choices=list(compare.MODELS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--label", default="")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    changes = {}
    for item in args.set:
        field, _, value = item.partition("=")
        changes[field] = parse_value(value)
    settings = compare.Settings(n_splits=3, n_repeats=args.repeats, max_samples=2000, **changes)
    datasets = folder_datasets(os.path.abspath(args.data), args.datasets, 2000, 0)
    new = not os.path.exists(args.out)
    with open(args.out, "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        if new:
            writer.writeheader()
        for data in datasets:
            for name in args.models:
                load_start = os.getloadavg()[0]
                cpu = time.process_time()
                result = compare.run_comparison([data], [name], settings, n_jobs=1, progress=False)
                cpu = time.process_time() - cpu
                row = result.summary[0]
                folds = [f"{f['score']:.4f}" for f in result.folds]
                out = {"label": args.label, "dataset": data.name, "model": row["model"],
                       "repeats": args.repeats, "score_mean": f"{row['score_mean']:.4f}",
                       "score_std": f"{row['score_std']:.4f}", "cpu_s": f"{cpu:.1f}",
                       "folds": " ".join(folds), "chosen": row["chosen"] or row["error"],
                       "settings": " ".join(args.set), "load_start": f"{load_start:.1f}",
                       "load_end": f"{os.getloadavg()[0]:.1f}"}
                writer.writerow(out)
                fh.flush()
                print(" | ".join(str(out[c]) for c in COLUMNS), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
