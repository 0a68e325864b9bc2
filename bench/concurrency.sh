#!/usr/bin/env bash
# Concurrency benchmark for chapters 5 and 6: stage 04 (one thread) against
# stage 05 (a pool of WORKERS threads, keep-alive) and, once it exists,
# stage 06 (timeouts and a connection cap), under `wrk` with fewer, as many
# and more connections than workers.
#
# wrk only times the responses it gets, so a server that never answers some
# connections still shows a fine p99 and zero errors. So, while wrk runs, we
# also count the connections the server has left unanswered (with `ss`) and
# time one fresh client (with `curl`). See bench/README.md.
#
# Usage: bench/concurrency.sh          3 runs per cell, writes the book page (~5 min)
#        bench/concurrency.sh --quick  1 run per cell, shorter, stdout only (~1 min)
#
# All traffic goes to 127.0.0.1. Every server, wrk and curl runs under a
# time limit, and the servers are stopped when the script exits.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source bench/lib.sh

parse_quick_option "$@"

# ---------------------------------------------------------------- settings --

# Connection counts: below, at, and above the number of workers.
readonly WORKERS=4
readonly CONNECTIONS=(2 4 16 64)
readonly WRK_THREADS=2
if ((QUICK)); then
  readonly RUNS=1 DURATION=4 PROBE_AT=1.5 FRESH_TIMEOUT=1.5
else
  readonly RUNS=3 DURATION=6 PROBE_AT=2 FRESH_TIMEOUT=3
fi
# A connection counts as "unanswered" if its request reached the server at
# least this long ago and not one byte has come back. (A single-threaded
# server always has a few connections waiting a millisecond in the accept
# queue; that is queueing, not starving, and must not count.)
readonly UNANSWERED_AFTER_MS=1000
# The fresh client starts at PROBE_AT and gives up FRESH_TIMEOUT later; that
# must be well before wrk stops at DURATION and lets go of its connections,
# or a starved server would get to answer it just because the load ended.
awk -v p="$PROBE_AT" -v f="$FRESH_TIMEOUT" -v d="$DURATION" -v u="$UNANSWERED_AFTER_MS" \
  'BEGIN { exit !(p + f + 0.5 <= d && p * 1000 > u) }' ||
  { echo "inconsistent settings: PROBE_AT + FRESH_TIMEOUT must end before DURATION" >&2; exit 2; }

readonly PAGE=book/src/generated/bench-concurrency.md

require_tools "wrk iproute2 curl" wrk ss curl cargo awk timeout

# Stage 06 is picked up as soon as it exists.
STAGES=(stage-04 stage-05)
[[ -f stages/stage-06/Cargo.toml ]] && STAGES+=(stage-06)

# ---------------------------------------------------------------- measuring --

make_scratch

# start_server STAGE: starts the release binary on a free port, sets
# SERVER_PID and PORT.
start_server() {
  launch_server "$1" "$PWD" "$SCRATCH/$1.stdout" 1800 WORKERS="$WORKERS"
  PORT="$(wait_for_port "$1" "$SCRATCH/$1.stdout")"
}

# run_cell C: one wrk run with C connections, probed at PROBE_AT. Sets the
# WRK_ values (read_wrk), ERRORS, UNANSWERED and FRESH ("CODE:SECONDS",
# "timeout" or "error:CURL_EXIT"). Runs in this shell, not a subshell, so
# that the EXIT trap can stop wrk and an `exit` here ends the script.
run_cell() {
  local c="$1"
  start_wrk "$DURATION" -t"$WRK_THREADS" -c"$c" -d"${DURATION}s" --latency \
    "http://127.0.0.1:$PORT/health"
  sleep "$PROBE_AT"
  # ss first: the fresh client's own connection must not be counted.
  UNANSWERED="$(count_unanswered "$PORT" "$UNANSWERED_AFTER_MS")"
  fresh_client "$FRESH_TIMEOUT" "http://127.0.0.1:$PORT/health"
  finish_wrk
  read_wrk
  # Socket errors (connect, read, write, timeout) and non-2xx/3xx answers.
  ERRORS=$((WRK_SOCKET_ERRORS + WRK_NON_2XX))
  wait_quiet "port $PORT" "$PORT"
}

# --------------------------------------------------------------------- main --

started=$SECONDS
load_before="$(load_average)"

echo "==> building ${STAGES[*]} (release) into $TARGET_DIR" >&2
build_args=()
for stage in "${STAGES[@]}"; do build_args+=(-p "$stage"); done
cargo build --release --locked "${build_args[@]}" >&2

rows=()
max_spread=0
for stage in "${STAGES[@]}"; do
  start_server "$stage"
  echo "==> $stage on 127.0.0.1:$PORT, WORKERS=$WORKERS" >&2
  for c in "${CONNECTIONS[@]}"; do
    rps_runs=() p99_runs=() err_runs=() unanswered_runs=() fresh_runs=()
    for ((run = 1; run <= RUNS; run++)); do
      run_cell "$c"
      echo "    C=$c run $run/$RUNS: $WRK_RPS req/s, p99 $WRK_P99_MS ms, wrk errors $ERRORS," \
        "unanswered $UNANSWERED, fresh client $FRESH" >&2
      rps_runs+=("$WRK_RPS") p99_runs+=("$WRK_P99_MS") err_runs+=("$ERRORS")
      unanswered_runs+=("$UNANSWERED") fresh_runs+=("$FRESH")
    done
    # How far apart the runs were: (max - min) / median of requests/s.
    s="$(spread "${rps_runs[@]}")"
    ((s > max_spread)) && max_spread=$s
    rows+=("| $stage | $c | $(printf '%.0f' "$(median "${rps_runs[@]}")") |\
 $(show_ms "$(median "${p99_runs[@]}")") | $(median "${err_runs[@]}") |\
 $(median "${unanswered_runs[@]}") of $c | $(show_fresh "$FRESH_TIMEOUT" "${fresh_runs[@]}") |")
  done
  stop "$SERVER_PID"
done

# ------------------------------------------------------------------ report --

if ((RUNS > 1)); then
  runs_text="Each cell is the median of $RUNS runs (each column separately); in the
least steady cell, requests/s varied by $max_spread% of its median between runs."
else
  runs_text="Each cell is a single run."
fi
commit_text="$(commit_note "the stages or the Cargo files" \
  Cargo.toml Cargo.lock "${STAGES[@]/#/stages/}")"
command_text="$(regenerate_command)"

report() {
  cat <<EOF
<!-- Generated by \`bench/concurrency.sh\`; do not edit by hand. -->

| stage | connections | requests/s | p99 | wrk errors | connections unanswered for ≥ $((UNANSWERED_AFTER_MS / 1000)) s (at ${PROBE_AT} s) | a fresh client (at ${PROBE_AT} s) |
|---|---:|---:|---:|---:|---:|---|
$(printf '%s\n' "${rows[@]}")

\`wrk -t$WRK_THREADS -cC -d${DURATION}s --latency http://127.0.0.1:PORT/health\` against
each stage's release build, started with \`WORKERS=$WORKERS\` (stage 04 ignores it: it has one
thread). *requests/s*, *p99* and *wrk errors* are wrk's own and count only the
responses wrk received. The last two columns are taken ${PROBE_AT} s into each run: how
many of wrk's C connections had sent a request at least $((UNANSWERED_AFTER_MS / 1000)) s earlier and had
not received one byte back (\`ss -tni\`), and how long one more client's request
for /health took (\`curl\`, given up after ${FRESH_TIMEOUT} s, before wrk stops at ${DURATION} s).
$runs_text

Measured on $(date -u +%Y-%m-%d)$commit_text:
$(nproc) CPUs ($(cpu_model)), Linux $(uname -r), $(rustc --version), $(wrk_version);
wrk and the server share the machine; load average before the run: $load_before.
Regenerate with \`$command_text\`.
EOF
}

report | write_page "$PAGE"
echo "==> done in $((SECONDS - started)) s" >&2
