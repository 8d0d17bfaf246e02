#!/usr/bin/env bash
# benchmarks/ab_commits.sh REV [ROUNDS] [--full]
#
# Before/after timing of a refactor: this checkout against commit REV, on the same machine. The
# two trees run side by side, one process per core (1 torch thread each), in ROUNDS pairs (default
# 2), so that both see the same load; a noisy machine moves both. Measures
# benchmarks/ep_throughput.py and `memprop reproduce STUDY --quick` for reconstruction,
# classification and devices; with --full also the full `memprop reproduce reconstruction` (one
# pair, about 20 minutes); AB_STUDIES="classification" limits the quick studies. REV gets a git worktree and a virtual environment of its own under
# ${AB_DIR:-/tmp/memprop-ab}. Prints one line per run: "tree measure seconds"; the result folders
# stay under AB_DIR for benchmarks/compare_results.py.
set -euo pipefail
rev=${1:?usage: benchmarks/ab_commits.sh REV [ROUNDS] [--full]}
rounds=${2:-2}
full=${3:-}
here=$(git rev-parse --show-toplevel)
ab=${AB_DIR:-/tmp/memprop-ab}
mkdir -p "$ab"
base="$ab/base-$(git rev-parse --short "$rev")"
if [ ! -d "$base" ]; then
  git -C "$here" worktree add -q --detach "$base" "$rev"
fi
for tree in "$here" "$base"; do
  if [ ! -x "$tree/.venv/bin/memprop" ]; then
    python3 -m venv "$tree/.venv"
    "$tree/.venv/bin/pip" install -q torch==2.13.0
    "$tree/.venv/bin/pip" install -q -e "$tree"
  fi
done
pair() {  # pair NAME ARGS...: run "ARGS" in both trees at once, print their wall times
  local name=$1; shift
  for tree in "$here" "$base"; do
    tag=$([ "$tree" = "$here" ] && echo after || echo before)
    ( cd "$tree" && start=$EPOCHREALTIME && MEMPROP_THREADS=1 "$@" "$ab/$tag-$name" > "$ab/$tag-$name.log" 2>&1 \
        && awk -v a="$start" -v b="$EPOCHREALTIME" -v t="$tag" -v n="$name" 'BEGIN { printf "%s %s %.2f\n", t, n, b - a }' ) &
  done
  wait
}
ep() { rm -rf "$1"; mkdir -p "$1"; .venv/bin/python benchmarks/ep_throughput.py --repeats 3 > "$1/ep.txt"; }
study() { local s=$1; shift; rm -rf "$1"; .venv/bin/memprop reproduce "$s" --quick --quiet --out "$1"; }
for r in $(seq "$rounds"); do
  pair ep ep
  for tag in after before; do grep -E "measured|ratio" "$ab/$tag-ep/ep.txt" | sed "s/^/$tag ep: /"; done
  for s in ${AB_STUDIES:-classification reconstruction devices}; do pair "$s" study "$s"; done
done
if [ "$full" = "--full" ]; then
  fullrun() { rm -rf "$1"; .venv/bin/memprop reproduce reconstruction --quiet --out "$1"; }
  pair full fullrun
fi
