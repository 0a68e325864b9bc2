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

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}

QUICK=0
case "${1:-}" in
  "") ;;
  --quick) QUICK=1 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

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

cd "$(dirname "$0")/.."
readonly PAGE=book/src/generated/bench-store.md
readonly LUA=bench/random-user.lua
readonly TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# ------------------------------------------------------------------- tools --

missing=()
for tool in wrk ss curl cargo awk timeout pgrep getconf; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "missing: ${missing[*]}" >&2
  echo "on Debian/Ubuntu: apt-get install wrk iproute2 curl procps" >&2
  exit 1
fi

CLOCK_TICKS="$(getconf CLK_TCK)"
readonly CLOCK_TICKS

# ----------------------------------------------------------------- cleanup --

# The scratch folder also holds stage 08's database: set TMPDIR to measure
# on another disk (a tmpfs /tmp makes every fsync free; see the README).
SCRATCH="$(mktemp -d)"
declare -A SERVER_PID=() SERVER_PROC=() PORT=()
WRK_PID=""

stop() { # stop PID: TERM, up to 5 s to finish, then KILL
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local stage
  if [[ -n "$WRK_PID" ]]; then stop "$WRK_PID"; fi
  for stage in "${!SERVER_PID[@]}"; do stop "${SERVER_PID[$stage]}"; done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- measuring --

# start_server STAGE: starts the release binary on a free port (stage 08
# with its database in the scratch folder, created afresh), waits until it
# answers GET /health, and sets SERVER_PID[STAGE] (the `timeout` around it)
# SERVER_PROC[STAGE] (the server itself, for its CPU time) and PORT[STAGE]. stderr (one line per request) goes to /dev/null: writing
# it anywhere slower would measure that instead.
start_server() {
  local stage="$1" out="$SCRATCH/$1.stdout" port="" i
  : >"$out"
  # `timeout` is a backstop: no server outlives the script by more than this.
  env ADDR=127.0.0.1:0 WORKERS="$WORKERS" MAX_WAITING_HASHES="$SIGNUP_CLIENTS" \
    DATABASE_PATH="$SCRATCH/$stage.sqlite3" \
    timeout -k 5 "$SERVER_LIFETIME" "$TARGET_DIR/release/$stage" >"$out" 2>/dev/null &
  SERVER_PID[$stage]=$!
  for ((i = 0; i < 100; i++)); do
    port="$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' "$out")"
    [[ -n "$port" ]] && break
    kill -0 "${SERVER_PID[$stage]}" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$port" ]]; then
    echo "$stage did not print 'listening on http://127.0.0.1:PORT' within 10 s:" >&2
    cat "$out" >&2
    exit 1
  fi
  PORT[$stage]=$port
  SERVER_PROC[$stage]="$(pgrep -P "${SERVER_PID[$stage]}" | head -n 1 || true)"
  if [[ -z "${SERVER_PROC[$stage]}" ]]; then
    echo "cannot find $stage under timeout (pid ${SERVER_PID[$stage]})" >&2
    exit 1
  fi
  curl -s -o /dev/null -m 5 --retry 20 --retry-delay 0 --retry-connrefused \
    -H 'Connection: close' "http://127.0.0.1:$port/health" ||
    { echo "$stage on port $port did not answer GET /health" >&2; exit 1; }
}

# signups STAGE PREFIX COUNT PARALLEL: COUNT sign-ups (users PREFIX-1 to
# PREFIX-COUNT) from one curl, PARALLEL at a time. One at a time, they share
# one keep-alive connection; in parallel each gets its own and
# `Connection: close` (otherwise a connection kept open after its answer
# holds a worker until the idle timeout, and we would measure the pool).
# Fails unless every answer is 201. Sets SIGNUP_MS (wall time).
signups() {
  local stage="$1" prefix="$2" count="$3" parallel="$4" args=() i codes rc start end
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
  rc=0
  start="$(date +%s%N)"
  # curl's stderr to a file: with --parallel it draws a progress meter there.
  codes="$(timeout -k 2 "$SIGNUPS_TIMEOUT" curl -s "${mode[@]}" "${args[@]}" \
    2>"$SCRATCH/curl.stderr")" || rc=$?
  end="$(date +%s%N)"
  SIGNUP_MS="$(awk -v ns=$((end - start)) 'BEGIN { printf "%.1f\n", ns / 1e6 }')"
  if [[ "$(grep -c '^201$' <<<"$codes" || true)" != "$count" ]]; then
    echo "$stage: not every sign-up got 201 (curl exit $rc):" \
      "$(sort <<<"$codes" | uniq -c | tr -s ' \n' ' ')" >&2
    grep -v '^DL%\|^--' "$SCRATCH/curl.stderr" >&2 || true
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

# wait_quiet STAGE: after a run, wait (at most 10 s) until the server holds
# no connections, so one run's leftovers don't weigh on the next.
wait_quiet() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -z "$(ss -Htn state established "( sport = :${PORT[$1]} )")" ]] && return 0
    sleep 0.1
  done
  echo "warning: $1 still has connections 10 s after wrk stopped" >&2
}

# cpu_ticks STAGE: the server's user + system CPU time so far, all threads,
# in clock ticks (fields 14 and 15 of /proc/PID/stat, after "PID (NAME) ").
cpu_ticks() {
  sed 's/^.*) //' "/proc/${SERVER_PROC[$1]}/stat" | awk '{ print $12 + $13 }'
}

# to_ms VALUE: wrk's "25.00us" / "7.08ms" / "1.02s" / "1.50m" in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f\n", n }'
}

# run_wrk STAGE ENDPOINT SECONDS: one wrk run against `health` or `users`.
# Sets RPS, P50_MS, P99_MS, CPU_US (the server's CPU time per response, in
# microseconds), NON_2XX and SOCKET_ERRORS; a non-2xx answer
# stops the script (a 404 or 500 here would be measuring the wrong thing).
# Runs in this shell, not a subshell, so that the EXIT trap knows WRK_PID.
run_wrk() {
  local stage="$1" endpoint="$2" seconds="$3" out="$SCRATCH/wrk.out" rc=0 ticks_before
  local base="http://127.0.0.1:${PORT[$stage]}" target=()
  case "$endpoint" in
    health) target=("$base/health") ;;
    users) target=(-s "$LUA" "$base/" -- "$USERS") ;;
  esac
  ticks_before="$(cpu_ticks "$stage")"
  timeout -k 2 $((seconds + 10)) \
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${seconds}s" --latency "${target[@]}" \
    >"$out" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  local ticks=$(($(cpu_ticks "$stage") - ticks_before))
  if ((rc != 0)); then
    echo "wrk failed (exit $rc):" >&2
    cat "$out" >&2
    exit 1
  fi
  local p50 p99 requests
  requests="$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$out")"
  RPS="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
  p50="$(awk '$1 == "50%" { print $2 }' "$out")"
  p99="$(awk '$1 == "99%" { print $2 }' "$out")"
  NON_2XX="$(awk '/Non-2xx or 3xx responses:/ { n += $NF } END { print n + 0 }' "$out")"
  SOCKET_ERRORS="$(awk '/Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
    END { print e + 0 }' "$out")"
  if [[ -z "$RPS" || -z "$p50" || -z "$p99" || ! "$requests" =~ ^[1-9][0-9]*$ ]]; then
    echo "could not read wrk's output:" >&2
    cat "$out" >&2
    exit 1
  fi
  if ((NON_2XX)); then
    echo "$stage GET $endpoint: $NON_2XX answers were not 2xx; wrk said:" >&2
    cat "$out" >&2
    exit 1
  fi
  P50_MS="$(to_ms "$p50")" P99_MS="$(to_ms "$p99")"
  CPU_US="$(awk -v t="$ticks" -v hz="$CLOCK_TICKS" -v n="$requests" \
    'BEGIN { printf "%.2f\n", t * 1e6 / hz / n }')"
  wait_quiet "$stage"
}

# median VALUES...: the middle value (the lower middle for an even count).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# spread VALUES...: (max - min) / median, in percent.
spread() {
  printf '%s\n' "$@" | sort -g |
    awk -v m="$(median "$@")" '{ v[NR] = $1 } END { printf "%.0f\n", (v[NR] - v[1]) * 100 / m }'
}

# show_ms MS: "0.105 ms", "7.08 ms", "1020 ms".
show_ms() {
  awk -v v="$1" 'BEGIN {
    if (v < 1) printf "%.3f ms\n", v; else if (v < 100) printf "%.2f ms\n", v; else printf "%.0f ms\n", v }'
}

# ratio A B: A / B with two decimals.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'
}

# --------------------------------------------------------------------- main --

started=$SECONDS
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

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
      echo "    run $run/$RUNS $stage $endpoint: $RPS req/s, p50 $P50_MS ms, p99 $P99_MS ms," \
        "server CPU $CPU_US µs/request, non-2xx $NON_2XX, socket errors $SOCKET_ERRORS" >&2
      RPS_RUNS["$stage $endpoint"]+=" $RPS"
      P50_RUNS["$stage $endpoint"]+=" $P50_MS"
      P99_RUNS["$stage $endpoint"]+=" $P99_MS"
      CPU_RUNS["$stage $endpoint"]+=" $CPU_US"
      socket_errors=$((socket_errors + SOCKET_ERRORS))
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
for stage in "${STAGES[@]}"; do
  stop "${SERVER_PID[$stage]}"
  unset "SERVER_PID[$stage]"
done

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

cpu="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
wrk_version="$(wrk --version 2>&1 | awk 'NR == 1 { print $1, $2; exit }' || true)"
filesystem="$(df --output=fstype "$SCRATCH" 2>/dev/null | awk 'NR == 2 { print $1 }' || true)"
filesystem="${filesystem:-an unknown file system}"
if ((RUNS > 1)); then
  runs_text="median of $RUNS runs, each column separately (in the least steady
cell, requests/s varied by $max_spread% of its median between runs)"
else
  runs_text="a single run"
fi
commit_text=""
if commit="$(git rev-parse --short HEAD 2>/dev/null)"; then
  commit_text=" at commit $commit"
  [[ -z "$(git status --porcelain -- Cargo.toml Cargo.lock stages/stage-07/Cargo.toml \
    stages/stage-07/src stages/stage-08/Cargo.toml stages/stage-08/src 2>/dev/null)" ]] ||
    commit_text+=" (with uncommitted changes to the stages' code or the Cargo files)"
fi
command_text="bench/store.sh"
((QUICK)) && command_text="bench/store.sh --quick"
errors_text="no socket errors"
((socket_errors)) && errors_text="**$socket_errors socket errors** (connect, read, write or timeout) over all runs"

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
divided by the responses wrk counted. Every answer was 2xx; $errors_text;
$runs_text; the runs alternated between the stages. Stage 08's database is a fresh
file on $filesystem (WAL, \`synchronous=FULL\`). With $CONNECTIONS connections and $WORKERS workers, p99
is mostly time spent waiting for a worker, not the store (see \`bench/README.md\`).

Measured on $(date -u +%Y-%m-%d)$commit_text: $(nproc) CPUs ($cpu), Linux $(uname -r), $(rustc --version | cut -d' ' -f1-2), $wrk_version; wrk and the servers share the machine; load average before the run: $load_before. Regenerate with \`$command_text\`.
EOF
}

if ((QUICK)); then
  report
  echo "(--quick: not written to $PAGE)" >&2
else
  report | tee "$PAGE"
  echo "(written to $PAGE)" >&2
fi
echo "==> done in $((SECONDS - started)) s" >&2
