#!/usr/bin/env bash
# Store benchmark for chapter 8: requests/s with the store in the path.
# Stage 07 keeps its users in memory, stage 08 in SQLite. Both are started
# with WORKERS=4 (stage 08 on a fresh database), given 100 users, and then
# `wrk` (2 threads, 16 connections) asks each for GET /api/users/{id}, an id
# picked at random from 1..100 by bench/random-user.lua, and for GET /health
# as a baseline without the store. Runs alternate 07, 08, 07, 08 so noise
# hits both alike. Last, 64 sign-ups from 8 parallel clients, timed.
# See bench/README.md.
#
# Usage: bench/store.sh          3 runs of 10 s per cell, writes the book page (~2 min)
#        bench/store.sh --quick  1 run of 4 s per cell, stdout only (~30 s)
#
# All traffic goes to 127.0.0.1. Every server, wrk and curl runs under a
# time limit, and the servers are stopped when the script exits.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source bench/lib.sh

parse_quick_option "$@"

# ---------------------------------------------------------------- settings --

readonly STAGES=(stage-07 stage-08)
readonly WORKERS=4 USERS=100
readonly WRK_THREADS=2 CONNECTIONS=16 WARMUP=1
# The sign-up burst: this many sign-ups, at most this many at once. Nobody
# may be refused: MAX_WAITING_HASHES is set to the number of clients, so
# every sign-up in flight finds a place to wait for a hash.
# MAX_CONCURRENT_HASHES is left at its default, one per core.
readonly SIGNUPS=64 SIGNUP_CLIENTS=8
if ((QUICK)); then
  readonly RUNS=1 DURATION=4
else
  readonly RUNS=3 DURATION=10
fi
# Time limits: one sign-up, a burst or the seeding, a server's whole life.
readonly REQUEST_TIMEOUT=30 SIGNUPS_TIMEOUT=120 SERVER_LIFETIME=1800

readonly PAGE=book/src/generated/bench-store.md
readonly LUA=bench/random-user.lua

require_tools "wrk iproute2 curl procps" wrk ss curl cargo awk timeout pgrep getconf

# The scratch folder also holds stage 08's database: set TMPDIR to measure
# on another disk (a tmpfs /tmp makes every fsync free; see the README).
make_scratch
declare -A SERVER_PROC=() PORT=()

# ---------------------------------------------------------------- measuring --

# start_server STAGE: starts the release binary on a free port (stage 08
# with its database in the scratch folder, created afresh), waits until it
# answers GET /health, and sets SERVER_PROC[STAGE] (the server, for its CPU
# time) and PORT[STAGE].
start_server() {
  local stage="$1" out="$SCRATCH/$1.stdout"
  launch_server "$stage" "$PWD" "$out" "$SERVER_LIFETIME" WORKERS="$WORKERS" \
    MAX_WAITING_HASHES="$SIGNUP_CLIENTS" DATABASE_PATH="$SCRATCH/$stage.sqlite3"
  PORT[$stage]="$(wait_for_port "$stage" "$out")"
  SERVER_PROC[$stage]="$(server_process "$stage" "$SERVER_PID")"
  wait_healthy "$stage" "${PORT[$stage]}"
}

# signups STAGE PREFIX COUNT PARALLEL: COUNT sign-ups (users PREFIX-1 to
# PREFIX-COUNT) from one curl, PARALLEL at a time. One at a time, they share
# one keep-alive connection; in parallel each gets its own and
# `Connection: close` (otherwise a connection kept open after its answer
# holds a worker until the idle timeout, and we would measure the pool).
# Fails unless every answer is 201. Sets SIGNUP_MS (wall time).
signups() {
  local stage="$1" prefix="$2" count="$3" parallel="$4" args=() i
  local url="http://127.0.0.1:${PORT[$stage]}/api/users"
  for ((i = 1; i <= count; i++)); do
    ((i > 1)) && args+=(--next)
    args+=(-s -o /dev/null -w '%{http_code}\n' -m "$REQUEST_TIMEOUT"
      -H 'Content-Type: application/json'
      -d "{\"username\":\"$prefix-$i\",\"password\":\"correct horse\"}")
    ((parallel > 1)) && args+=(-H 'Connection: close')
    args+=("$url")
  done
  local mode=()
  ((parallel > 1)) && mode=(--parallel --parallel-immediate --parallel-max "$parallel")
  bounded_curl "$SIGNUPS_TIMEOUT" -s "${mode[@]}" "${args[@]}"
  SIGNUP_MS="$(awk -v ns="$CURL_NS" 'BEGIN { printf "%.1f\n", ns / 1e6 }')"
  if [[ "$(grep -c '^201$' <<<"$CURL_OUT" || true)" != "$count" ]]; then
    echo "$stage: not every sign-up got 201 (curl exit $CURL_RC):" "$(count_each "$CURL_OUT")" >&2
    curl_errors >&2
    exit 1
  fi
}

# expect_status STAGE PATH CODE: one GET, which must answer CODE.
expect_status() {
  local code
  code="$(curl -s -o /dev/null -m 5 -w '%{http_code}' -H 'Connection: close' \
    "http://127.0.0.1:${PORT[$1]}$2" || true)"
  if [[ "$code" != "$3" ]]; then
    echo "$1: GET $2 answered ${code:-nothing}, expected $3" >&2
    exit 1
  fi
}

# run_wrk STAGE ENDPOINT SECONDS: one wrk run against `health` or `users`.
# Sets the WRK_ values (read_wrk) and CPU_US (the server's CPU time per
# response, in microseconds); a non-2xx answer stops the script (a 404 or
# 500 here would be measuring the wrong thing).
run_wrk() {
  local stage="$1" endpoint="$2" seconds="$3" ticks_before ticks
  local base="http://127.0.0.1:${PORT[$stage]}" target=()
  case "$endpoint" in
    health) target=("$base/health") ;;
    users) target=(-s "$LUA" "$base/" -- "$USERS") ;;
  esac
  ticks_before="$(cpu_ticks "${SERVER_PROC[$stage]}")"
  start_wrk "$seconds" -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${seconds}s" --latency "${target[@]}"
  finish_wrk
  ticks=$(($(cpu_ticks "${SERVER_PROC[$stage]}") - ticks_before))
  read_wrk
  ((WRK_NON_2XX == 0)) ||
    wrk_failed "$stage GET $endpoint: $WRK_NON_2XX answers were not 2xx; wrk said:"
  CPU_US="$(cpu_us_per_response "$ticks")"
  wait_quiet "$stage" "${PORT[$stage]}"
}

# --------------------------------------------------------------------- main --

started=$SECONDS
load_before="$(load_average)"

echo "==> building ${STAGES[*]} (release) into $TARGET_DIR" >&2
cargo build --release --locked -p stage-07 -p stage-08 >&2

declare -A SEED_MS=()
for stage in "${STAGES[@]}"; do
  start_server "$stage"
  signups "$stage" user "$USERS" 1
  SEED_MS[$stage]=$SIGNUP_MS
  # The ids wrk will ask for are exactly the users we made.
  expect_status "$stage" "/api/users/1" 200
  expect_status "$stage" "/api/users/$USERS" 200
  expect_status "$stage" "/api/users/$((USERS + 1))" 404
  echo "==> $stage on 127.0.0.1:${PORT[$stage]}, WORKERS=$WORKERS:" \
    "$USERS sign-ups one at a time in ${SIGNUP_MS} ms" >&2
  run_wrk "$stage" users "$WARMUP" # warm-up, not counted
done

# Every run of every cell, as space-separated lists keyed "stage endpoint".
declare -A RPS_RUNS=() P50_RUNS=() P99_RUNS=() CPU_RUNS=() SIGNUP_RUNS=()
socket_errors=0
for ((run = 1; run <= RUNS; run++)); do
  for endpoint in health users; do
    for stage in "${STAGES[@]}"; do
      run_wrk "$stage" "$endpoint" "$DURATION"
      echo "    run $run/$RUNS $stage $endpoint: $WRK_RPS req/s, p50 $WRK_P50_MS ms," \
        "p99 $WRK_P99_MS ms, server CPU $CPU_US µs/request, non-2xx $WRK_NON_2XX," \
        "socket errors $WRK_SOCKET_ERRORS" >&2
      RPS_RUNS["$stage $endpoint"]+=" $WRK_RPS"
      P50_RUNS["$stage $endpoint"]+=" $WRK_P50_MS"
      P99_RUNS["$stage $endpoint"]+=" $WRK_P99_MS"
      CPU_RUNS["$stage $endpoint"]+=" $CPU_US"
      socket_errors=$((socket_errors + WRK_SOCKET_ERRORS))
    done
  done
done
for ((run = 1; run <= RUNS; run++)); do
  for stage in "${STAGES[@]}"; do
    signups "$stage" "burst$run" "$SIGNUPS" "$SIGNUP_CLIENTS"
    per_second="$(awk -v n="$SIGNUPS" -v ms="$SIGNUP_MS" 'BEGIN { printf "%.1f\n", n * 1000 / ms }')"
    echo "    run $run/$RUNS $stage: $SIGNUPS sign-ups, $SIGNUP_CLIENTS at a time," \
      "in $SIGNUP_MS ms: $per_second/s" >&2
    SIGNUP_RUNS[$stage]+=" $per_second"
  done
done
stop_all

# ------------------------------------------------------------------ report --

declare -A RPS_MEDIAN=()
max_spread=0
for key in "${!RPS_RUNS[@]}"; do
  read -ra runs <<<"${RPS_RUNS[$key]}"
  RPS_MEDIAN[$key]="$(median "${runs[@]}")"
  s="$(spread "${runs[@]}")"
  ((s > max_spread)) && max_spread=$s
done

rows=()
for endpoint in health users; do
  case "$endpoint" in
    health) shown="\`GET /health\`" ;;
    users) shown="\`GET /api/users/{id}\`" ;;
  esac
  for stage in "${STAGES[@]}"; do
    key="$stage $endpoint"
    read -ra p50 <<<"${P50_RUNS[$key]}"
    read -ra p99 <<<"${P99_RUNS[$key]}"
    read -ra cpu_us <<<"${CPU_RUNS[$key]}"
    versus_07=""
    [[ "$stage" == stage-08 ]] &&
      versus_07="$(ratio "${RPS_MEDIAN[$key]}" "${RPS_MEDIAN[stage-07 $endpoint]}")"
    versus_health="$(ratio "${RPS_MEDIAN[$key]}" "${RPS_MEDIAN[$stage health]}")"
    rows+=("| $shown | $stage | $(printf '%.0f' "${RPS_MEDIAN[$key]}") |\
 $(show_ms "$(median "${p50[@]}")") | $(show_ms "$(median "${p99[@]}")") |\
 $(printf '%.1f' "$(median "${cpu_us[@]}")") µs | $versus_health | $versus_07 |")
  done
done

read -ra burst07 <<<"${SIGNUP_RUNS[stage-07]}"
read -ra burst08 <<<"${SIGNUP_RUNS[stage-08]}"
signups07="$(median "${burst07[@]}")" signups08="$(median "${burst08[@]}")"
each07="$(awk -v ms="${SEED_MS[stage-07]}" -v n="$USERS" 'BEGIN { printf "%.1f\n", ms / n }')"
each08="$(awk -v ms="${SEED_MS[stage-08]}" -v n="$USERS" 'BEGIN { printf "%.1f\n", ms / n }')"

if ((RUNS > 1)); then
  runs_text="median of $RUNS runs, each column separately (in the least steady
cell, requests/s varied by $max_spread% of its median between runs)"
else
  runs_text="a single run"
fi
commit_text="$(commit_note "the stages' code or the Cargo files" Cargo.toml Cargo.lock \
  stages/stage-07/Cargo.toml stages/stage-07/src stages/stage-08/Cargo.toml stages/stage-08/src)"
command_text="$(regenerate_command)"

report() {
  cat <<EOF
<!-- Generated by \`bench/store.sh\`; do not edit by hand. -->

| endpoint | stage | requests/s | p50 | p99 | server CPU per request | requests/s ÷ \`/health\`'s | requests/s, stage 08 ÷ stage 07 |
|---|---|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${rows[@]}")

**Sign-ups** (\`POST /api/users\`, one argon2id hash each; $SIGNUPS from $SIGNUP_CLIENTS clients at a time):
stage-07 $signups07/s, stage-08 $signups08/s (stage 08 ÷ stage 07: $(ratio "$signups08" "$signups07")).
One at a time (the first $USERS, on one connection): $each07 ms each for stage-07,
$each08 ms for stage-08, which commits each one with \`synchronous=FULL\`.

\`wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s --latency\` against each stage's release build
with \`WORKERS=$WORKERS\`, after $USERS sign-ups; \`/api/users/{id}\` asks for an id picked
at random in 1..$USERS for each request (\`bench/random-user.lua\`). *Server CPU per
request* is the server process's user + system time during the run (\`/proc/PID/stat\`)
divided by the responses wrk counted. Every answer was 2xx; $(socket_errors_text "$socket_errors");
$runs_text; the runs alternated between the stages. Stage 08's database is a fresh
file on $(filesystem_of "$SCRATCH") (WAL, \`synchronous=FULL\`). With $CONNECTIONS connections and $WORKERS workers, p99
is mostly time spent waiting for a worker, not the store (see \`bench/README.md\`).

Measured on $(date -u +%Y-%m-%d)$commit_text: $(nproc) CPUs ($(cpu_model)), Linux $(uname -r), $(rustc --version | cut -d' ' -f1-2), $(wrk_version); wrk and the servers share the machine; load average before the run: $load_before. Regenerate with \`$command_text\`.
EOF
}

report | write_page "$PAGE"
echo "==> done in $((SECONDS - started)) s" >&2
