"""Where the default fit's time goes at 10^4 rows (d=10, K=5): a py-spy profile, summarised.

    PYTHONPATH=. py-spy record -f raw -r 500 -o /tmp/prof.raw -- \
        python benchmarks/default_fit_profile.py --fits 60
    python benchmarks/default_fit_profile.py --summarise /tmp/prof.raw

The first command fits ``MixtureOfExpertsRegressor(n_experts=5, random_state=0)`` ``--fits`` times on
``speed.py``'s data of its ``flexmix_step`` part (``make_moe_regression(10**4, 10, 5, noise=0.1,
random_state=0)``) after one compiling fit on 500 rows.  The second reads py-spy's raw
(collapsed-stack) output and prints the share of the timed fits' samples in each part of a fit:
the start's short EM runs, its gate fits to the initial partitions, its k-means / random
partitions, the main EM run, and the rest; then the functions of largest inclusive and own share.
"""

import argparse
import collections
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TIMED = "default_fit_profile.py:{line})"


def fits(n_fits):
    sys.path.insert(0, HERE)
    import mixexp
    from speed import make_data

    X, y = make_data("reg", 10**4, 10, 5)
    est = mixexp.MixtureOfExpertsRegressor(n_experts=5, random_state=0)
    est.fit(X[:500], y[:500])  # compile outside the measurement
    t = time.perf_counter()
    for _ in range(n_fits):
        est.fit(X, y)  # the timed line: summarise() keeps the samples under it
    print(f"{(time.perf_counter() - t) / n_fits * 1e3:.0f} ms per fit, main run {est.n_iter_} iterations")


def _timed_line():
    src = open(__file__).read().splitlines()
    return next(i + 1 for i, ln in enumerate(src) if ln.strip().startswith("est.fit(X, y)  # the timed"))


def part(frames):
    """Which part of a fit a stack (function names, outermost first) belongs to."""
    if "initial_params (mixexp/_init.py)" in frames:
        below = frames[frames.index("initial_params (mixexp/_init.py)") + 1:]
        if "EMEngine.run (mixexp/_engine.py)" in below:
            return "start: the five short EM runs"
        if "EMEngine.fit_posteriors (mixexp/_engine.py)" in below:
            return "start: gate and experts fitted to each initial partition (M-step, 10 gate steps)"
        if "initial_labels (mixexp/_init.py)" in below:
            return "start: k-means / random partitions"
        return "start: other"
    if "EMEngine.run (mixexp/_engine.py)" in frames:
        return "main EM run"
    return "validation, standardisation, result"


def summarise(path, top=25):
    timed = TIMED.format(line=_timed_line())
    parts, inclusive, own = collections.Counter(), collections.Counter(), collections.Counter()
    total = 0
    for line in open(path):
        stack, count = line.rsplit(" ", 1)
        frames = stack.split(";")
        if not any(f.endswith(timed) for f in frames):
            continue
        count = int(count)
        total += count
        names = [re.sub(r":\d+\)$", ")", f) for f in frames]
        parts[part(names)] += count
        for name in set(names):
            inclusive[name] += count
        own[names[-1]] += count
    if not total:
        raise SystemExit(f"no samples under {timed} in {path}")
    print(f"{total} samples in the timed fits\n\n| part of the fit | share |\n| --- | ---: |")
    for name, c in parts.most_common():
        print(f"| {name} | {100 * c / total:.1f}% |")
    for title, counter in (("inclusive", inclusive), ("own", own)):
        print(f"\n| function ({title}) | share |\n| --- | ---: |")
        for name, c in counter.most_common(top):
            print(f"| `{name}` | {100 * c / total:.1f}% |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fits", type=int, default=60)
    ap.add_argument("--summarise", help="py-spy's raw output of a run of --fits")
    a = ap.parse_args()
    if a.summarise:
        summarise(a.summarise)
    else:
        fits(a.fits)


if __name__ == "__main__":
    main()
