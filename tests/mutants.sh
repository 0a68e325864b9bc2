#!/usr/bin/env bash
# Mutation testing: does each stage's test suite notice when its code is
# broken? cargo-mutants changes one thing at a time in stages/stage-NN/src
# (a `>` into `>=`, a function body into `Ok(())`, …), rebuilds, and runs the
# tests; a mutant that no test notices is "missed". Slow (stage 06: about
# half an hour on 2 cores), so it is not part of .ci/run.
#
# Usage: tests/mutants.sh stage-NN [more cargo-mutants options]
# Results: mutants.out/stage-NN/missed.txt (the survivors of both passes);
# cargo-mutants' own files are in mutants.out/stage-NN/mutants.out/.
#
# Two passes, because a stage is tested in two places:
# 1. the mutants against the stage's own tests (what the stage adds);
# 2. the survivors against the conformance suite for this stage (what the
#    stage carries forward: `cargo test -p conformance -- stage-NN`).
# Both passes skip mutants an earlier run already caught (--iterate), so
# running it again after adding tests re-tests only the survivors. For a
# fresh start, delete mutants.out/stage-NN.
# What survives both is listed in tests/README.md, killed or accepted.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:?usage: tests/mutants.sh stage-NN [cargo-mutants options]}
shift
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
# Its own target directory: two runs sharing one race on the build outputs.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/mutants}
out="mutants.out/$stage"
results="$out/mutants.out"
mkdir -p "$out"
count() { if [ -f "$results/$1.txt" ]; then wc -l < "$results/$1.txt"; else echo 0; fi; }
# cargo-mutants exits non-zero when mutants are missed: that is a result
# here, not a failure of the script.
cargo mutants --package "$stage" --iterate --timeout 60 --output "$out" "$@" || true
# Later runs list unviable mutants among the previously caught ones: keep
# the first run's list to count them.
[ -f "$out/unviable.txt" ] || cp "$results/unviable.txt" "$out/unviable.txt"
# Mutants that made the stage's own tests hang are detected (CI would time
# out), but --iterate tries them again; keep them to subtract below.
touch "$out/hangs.txt"
sort -u "$out/hangs.txt" "$results/timeout.txt" -o "$out/hangs.txt"
cargo mutants --package "$stage" --iterate --test-package conformance \
  --timeout 60 --output "$out" "$@" -- -- "$stage" || true
grep -vxFf "$out/hangs.txt" "$results/missed.txt" > "$out/missed.txt" || true
total=$(cargo mutants --package "$stage" --list "$@" | wc -l)
unviable=$(wc -l < "$out/unviable.txt")
missed=$(wc -l < "$out/missed.txt")
timeouts=$(sort -u "$out/hangs.txt" "$results/timeout.txt" | grep -c . || true)
viable=$((total - unviable))
caught=$((viable - missed - timeouts))
echo "$stage: $total mutants, $unviable unviable; of the $viable viable:" \
  "$caught caught, $timeouts made the tests hang (a timeout fails CI too)," \
  "$missed missed: $(( 100 * (caught + timeouts) / viable ))% detected." \
  "Survivors: $out/missed.txt"
