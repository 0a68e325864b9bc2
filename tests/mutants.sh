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
# By default it runs the stage's own tests. Behaviour carried forward from
# earlier stages is checked by the conformance suite, so a mutant only that
# suite catches shows as missed; add
#   --test-package stage-NN --test-package conformance
# to count those too (slower: every mutant then runs the whole suite).
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:?usage: tests/mutants.sh stage-NN [cargo-mutants options]}
shift
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
# Its own target directory: two runs sharing one race on the build outputs.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/mutants}
mkdir -p "mutants.out/$stage"
cargo mutants --package "$stage" --timeout 60 --output "mutants.out/$stage" "$@"
