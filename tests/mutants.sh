#!/usr/bin/env bash
# Mutation testing: does each stage's test suite notice when its code is
# broken? cargo-mutants changes one thing at a time in stages/stage-NN/src
# (a `>` into `>=`, a function body into `Ok(())`, …), rebuilds, and runs the
# tests; a mutant that no test notices is "missed". Slow (stage 06: about
# half an hour on 2 cores), so it is not part of .ci/run.
#
# Usage: tests/mutants.sh stage-NN [more cargo-mutants options]
# Results: mutants.out/stage-NN/mutants.out/{caught,missed,timeout,unviable}.txt
#
# Two passes, because a stage is tested in two places:
# 1. every mutant against the stage's own tests (what the stage adds);
# 2. the mutants that survived, against the conformance suite for this stage
#    (what the stage carries forward: `cargo test -p conformance -- stage-NN`).
# What survives both is listed in tests/README.md, killed or accepted.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:?usage: tests/mutants.sh stage-NN [cargo-mutants options]}
shift
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
# Its own target directory: two runs sharing one race on the build outputs.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/mutants}
out="mutants.out/$stage"
mkdir -p "$out"
# cargo-mutants exits non-zero when mutants are missed: that is a result
# here, not a failure of the script.
cargo mutants --package "$stage" --timeout 60 --output "$out" "$@" || true
count() { if [ -f "$out/mutants.out/$1.txt" ]; then wc -l < "$out/mutants.out/$1.txt"; else echo 0; fi; }
# The second pass lists the first pass's caught and unviable mutants together
# in previously_caught.txt, so count the unviable ones now.
unviable=$(count unviable)
cargo mutants --package "$stage" --iterate --test-package conformance \
  --timeout 60 --output "$out" "$@" -- -- "$stage" || true
caught=$(( $(count caught) + $(count previously_caught) - unviable ))
missed=$(count missed)
timeouts=$(count timeout)
echo "$stage: $caught caught (by its own tests or the conformance suite)," \
  "$missed missed, $timeouts timed out, $unviable unviable;" \
  "caught $(( 100 * caught / (caught + missed + timeouts) ))% of the viable ones." \
  "Survivors: $out/mutants.out/missed.txt"
