#!/bin/bash
# CPU time and scores of the mixtures in `mixexp compare`, inner search "grid" (every grid
# point from scratch) against "warm" (warm-started paths), on four small development sets.
# Run from the repository root: bash benchmarks/compare_search.sh grid; ... warm
# Needs /work/shared/data/abalone.csv.gz (the development data, not in the repository).
# Result: benchmarks/results/compare_search.md
set -e
search=${1:-warm}
out=${OUT:-/tmp/compare_search}
mkdir -p "$out"
zcat /work/shared/data/abalone.csv.gz > "$out/abalone.csv"
for spec in "--datasets mcycle" "--datasets concrete" "--datasets peterson_barney" \
            "--csv $out/abalone.csv --target target"; do
  name=$(echo $spec | awk '{print $2}' | xargs basename | sed 's/.csv//')
  /usr/bin/time -f "$search $name cpu_user=%U cpu_sys=%S wall=%e" \
    python -m mixexp compare $spec --models moe hme moe-quad --max-samples 500 --n-jobs 1 \
    --no-progress --no-plots --search "$search" --out "$out/$search-$name" \
    > "$out/$search-$name.log" 2>&1 || true
  tail -1 "$out/$search-$name.log"
done
