"""Command line of mixexp: ``mixexp compare`` (also ``python -m mixexp compare``).

The work is done by :mod:`mixexp.compare`; this module only parses arguments,
turns bad ones into clear usage errors and prints what was done.
"""

import argparse
import os
import sys
import time

from . import __version__

_DESCRIPTION = """\
Cross-validate mixtures of experts (MoE, HME) against CART, stacking, a linear
model and histogram gradient boosting, on the same repeated K-fold splits.
With no arguments: every bundled dataset, every model, 3-fold CV x 2 repeats.
Prints a table per task and writes results.csv, folds.csv, results.md and PNG
charts into --out."""

_EPILOG = """\
examples:
  mixexp compare
  mixexp compare --datasets mcycle concrete --models moe hme cart --folds 5
  mixexp compare --csv mydata.csv --target price --out price-compare
  mixexp compare --quick            # small grids, 2 folds, at most 500 rows: a smoke test
"""


def _names(values):
    """Accept both ``a b`` and ``a,b``."""
    if values is None:
        return None
    return [v for value in values for v in value.split(",") if v]


def _positive_int(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    return parse


def build_parser():
    """The argument parser of ``mixexp``.

    Returns
    -------
    argparse.ArgumentParser
    """
    from .compare import MODELS

    parser = argparse.ArgumentParser(
        prog="mixexp", description="Mixtures of experts trained by EM: command line tools."
    )
    parser.add_argument("--version", action="version", version=f"mixexp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser(
        "compare", help="cross-validate MoE/HME against CART, stacking and others",
        description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(run=_compare, subparser=p)
    data = p.add_argument_group("data")
    data.add_argument("--datasets", nargs="+", metavar="NAME",
                      help="bundled datasets to use (default: all, or none with --csv); "
                      "see mixexp.datasets.list_datasets()")
    data.add_argument("--csv", metavar="FILE",
                      help="also compare on your own CSV file (header row, numeric columns)")
    data.add_argument("--target", metavar="COLUMN", help="target column of --csv")
    data.add_argument("--task", choices=["auto", "regression", "classification"],
                      default="auto", help="task of --csv (default: guessed from the target)")
    data.add_argument("--max-samples", type=_positive_int(0), metavar="N",
                      help="subsample datasets with more rows to N (default 2000, --quick "
                      "500; 0 keeps all)")
    models = p.add_argument_group("models and cross-validation")
    models.add_argument("--models", nargs="+", metavar="NAME",
                        help=f"models to compare: {', '.join(MODELS)} (default: all but moe-spline, "
                        "which runs by default on data with one feature only)")
    models.add_argument("--folds", type=_positive_int(2), metavar="K",
                        help="folds of the repeated K-fold (default 3, --quick 2)")
    models.add_argument("--repeats", type=_positive_int(1), metavar="R",
                        help="repeats of the K-fold (default 2, --quick 1)")
    models.add_argument("--max-iter", type=_positive_int(1), metavar="N",
                        help="EM iterations cap of the mixtures (default 200, --quick 30)")
    models.add_argument("--random-state", type=int, default=0, metavar="SEED",
                        help="seed of the splits, subsampling and models (default 0)")
    models.add_argument("--search", choices=["warm", "grid"], default=None,
                        help="the mixtures' inner search: 'warm' fits each inner fold's grid "
                        "along warm-started paths, one multi-start fit per fold; 'grid' fits "
                        "every point from scratch (default grid; warm: ~3x less CPU, scores not always as high)")
    models.add_argument("--quick", action="store_true",
                        help="small grids, 2 folds x 1 repeat, at most 500 rows")
    run = p.add_argument_group("running and output")
    run.add_argument("--n-jobs", type=int, default=-1, metavar="N",
                     help="parallel jobs for cross_validate (default -1: all cores)")
    run.add_argument("--out", default="mixexp-compare", metavar="DIR",
                     help="output folder (default ./mixexp-compare)")
    run.add_argument("--no-plots", action="store_true", help="do not draw PNG charts")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _load_data(args, parser, settings):
    """The datasets to compare; usage errors for unknown names and unusable CSV files."""
    from . import compare

    names = _names(args.datasets)  # None: every bundled dataset
    if names is None and args.csv is not None:
        names = []  # only the user's CSV
    try:
        datasets = compare.bundled_datasets(names, settings.max_samples, settings.random_state)
        if args.csv is not None:
            datasets.append(compare.read_csv_dataset(
                args.csv, args.target, args.task, settings.max_samples, settings.random_state))
        for data in datasets:
            compare.make_splits(data, settings)  # checks every class fills the folds
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    return datasets


def _compare(args, parser):
    from . import compare

    if args.target is not None and args.csv is None:
        parser.error("--target needs --csv FILE")
    if args.csv is not None and args.target is None:
        parser.error("--csv needs --target COLUMN (the column to predict)")
    try:
        named = _names(args.models)
        models = compare.validate_models(named)
    except ValueError as exc:
        parser.error(str(exc))
    if args.n_jobs == 0:
        parser.error("--n-jobs must not be 0 (use 1 for no parallelism, -1 for all cores)")
    base = compare.QUICK_SETTINGS if args.quick else compare.Settings()
    settings = compare.settings_with(
        base, n_splits=args.folds, n_repeats=args.repeats, max_iter=args.max_iter,
        max_samples=args.max_samples, random_state=args.random_state, search=args.search,
    )
    datasets = _load_data(args, parser, settings)

    print(f"mixexp compare: {len(datasets)} dataset(s) x {len(models)} model(s) "
          f"({', '.join(compare.MODELS[m] for m in models)}); {settings.describe()}; "
          f"n_jobs={args.n_jobs}")
    for data in datasets:
        if data.note:
            print(f"  {data.name}: {data.note}")
        if named is None and len(compare.models.default_models(data.n_features)) > len(models):
            print(f"  {data.name}: MoE-spline too (one feature)")
    sys.stdout.flush()
    start = time.perf_counter()
    result = compare.run_comparison(datasets, named and models, settings, n_jobs=args.n_jobs,
                                    progress=not args.no_progress)
    print()
    print(compare.format_table(result))
    files, message = compare.write_report(result, args.out, plots=not args.no_plots)
    print(f"Wrote {len(files)} files to {os.path.abspath(args.out)}: "
          f"{', '.join(os.path.basename(f) for f in files)}")
    if message:
        print(message[0].upper() + message[1:] + ".")
    print(f"Done in {time.perf_counter() - start:.0f} s.")
    return 1 if result.failures else 0


def main(argv=None):
    """Run the ``mixexp`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        Exit code: 0 on success, 1 if a model failed on some dataset.  Usage
        errors raise ``SystemExit(2)`` with a message, as argparse does.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return args.run(args, args.subparser)


if __name__ == "__main__":
    sys.exit(main())
