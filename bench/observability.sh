#!/usr/bin/env bash
# Observability benchmark for chapter 10: what the access log and the
# metrics cost. Stage 10 writes one access-log line per request to stdout
# and counts every request in a mutex-protected map (/metrics); stage 09
# does neither. Three servers, each with WORKERS=4: stage 09 (stdout to
# /dev/null), stage 10 with its log going to /dev/null, and stage 10 with
# its log going to a file on disk. `wrk` (2 threads, 16 connections) asks
# each for GET /health and for GET /api/status; runs are interleaved, each
# round in a different order, so noise hits all three alike. Reports
# requests/s, p50, the server's CPU time per request (from /proc), the
# ratios to stage 09, and how many bytes the log grows per request.
# See bench/README.md.
#
# Usage: bench/observability.sh          5 runs of 10 s per cell, writes the book page (~5½ min)
#        bench/observability.sh --quick  1 run of 4 s per cell, stdout only (~35 s)
#
# All traffic goes to 127.0.0.1. Every server and wrk runs under a time
# limit, and the servers are stopped when the script exits.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source bench/lib.sh

parse_quick_option "$@"

# ---------------------------------------------------------------- settings --

# The servers: a key, the stage, and where its stdout goes.
readonly SERVERS=(
  "09:stage-09:null"
  "10-null:stage-10:null"
  "10-file:stage-10:file"
)
readonly ENDPOINTS=(health status)
readonly WORKERS=4 WRK_THREADS=2 CONNECTIONS=16 WARMUP=1
if ((QUICK)); then
  readonly RUNS=1 DURATION=4
else
  # Five rounds, not three: on a shared machine a busy minute can slow one
  # whole round, and the median of five shrugs off two of them.
  readonly RUNS=5 DURATION=10
fi
# Time limit: a server's whole life.
readonly SERVER_LIFETIME=1800

readonly PAGE=book/src/generated/bench-observability.md

require_tools "wrk iproute2 curl procps" wrk ss curl cargo awk timeout pgrep getconf od

# The scratch folder also holds the servers' working folders (databases)
# and the access log: set TMPDIR to measure on another disk.
make_scratch
declare -A SERVER_PROC=() PORT=() LOG=()

# ---------------------------------------------------------------- measuring --

# listening_port PID: the TCP port the process PID listens on, from `ss`
# (its stdout may be /dev/null, so we cannot read its "listening on" line).
listening_port() {
  ss -Htlnp 2>/dev/null | awk -v pid="pid=$1," 'index($0, pid) {
    n = split($4, part, ":"); print part[n]; exit }'
}

# start_server KEY STAGE STDOUT: starts STAGE's release binary on a free port
# in a fresh working folder of its own (stage 09 and 10 keep their database
# there, in data/), with stdout going to /dev/null (`null`) or appended to
# an access log in that folder (`file`; appended, so that we can empty it
# between runs while the server keeps writing). stderr goes to /dev/null:
# stage 09 prints "METHOD PATH" there for every request, and stage 10 its
# configuration. Waits until it answers GET /health; sets SERVER_PROC[KEY]
# (the server, for its CPU time), PORT[KEY] and, for `file`, LOG[KEY].
start_server() {
  local key="$1" stage="$2" stdout="$3" dir port="" proc="" i out=/dev/null
  dir="$(mktemp -d "$SCRATCH/$key.XXXXXX")"
  if [[ "$stdout" == file ]]; then
    out="$dir/access.log"
    LOG[$key]=$out
  fi
  launch_server "$stage" "$dir" "$out" "$SERVER_LIFETIME" WORKERS="$WORKERS" \
    JWT_SECRET_FILE="$SECRET_FILE"
  for ((i = 0; i < 100; i++)); do
    [[ -z "$proc" ]] && proc="$(pgrep -P "$SERVER_PID" | head -n 1 || true)"
    [[ -n "$proc" ]] && port="$(listening_port "$proc")"
    [[ -n "$port" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$port" ]]; then
    echo "$stage ($key) is not listening on 127.0.0.1 after 10 s" >&2
    exit 1
  fi
  SERVER_PROC[$key]=$proc PORT[$key]=$port
  wait_healthy "$stage ($key)" "$port"
}

# path ENDPOINT: the path wrk asks for.
path() {
  case "$1" in
    health) echo /health ;;
    status) echo /api/status ;;
  esac
}

# file_size FILE: its size in bytes.
file_size() {
  stat -c %s "$1"
}

# run_wrk KEY ENDPOINT SECONDS: one wrk run. Sets the WRK_ values (read_wrk),
# CPU_US (the server's CPU time per response, in microseconds), and for the
# server that logs to a file LOG_BYTES and LOG_LINES (what the run added to
# the log), then empties the log. A non-2xx answer stops the script.
run_wrk() {
  local key="$1" endpoint="$2" seconds="$3" ticks_before ticks size_before=0
  ticks_before="$(cpu_ticks "${SERVER_PROC[$key]}")"
  [[ -n "${LOG[$key]:-}" ]] && size_before="$(file_size "${LOG[$key]}")"
  start_wrk "$seconds" -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${seconds}s" --latency \
    "http://127.0.0.1:${PORT[$key]}$(path "$endpoint")"
  finish_wrk
  # Every connection closed: every request wrk sent is answered and logged.
  wait_quiet "$key" "${PORT[$key]}"
  ticks=$(($(cpu_ticks "${SERVER_PROC[$key]}") - ticks_before))
  read_wrk
  ((WRK_NON_2XX == 0)) ||
    wrk_failed "$key GET $(path "$endpoint"): $WRK_NON_2XX answers were not 2xx; wrk said:"
  CPU_US="$(cpu_us_per_response "$ticks")"
  LOG_BYTES=0 LOG_LINES=0
  if [[ -n "${LOG[$key]:-}" ]]; then
    LOG_BYTES=$(($(file_size "${LOG[$key]}") - size_before))
    LOG_LINES="$(tail -c +$((size_before + 1)) "${LOG[$key]}" | wc -l)"
    # The run's first line, to show on the page. (Not its last: the requests
    # wrk cuts off when it stops are logged with peer=0.0.0.0, because the
    # server asks for the peer's address after answering, and by then the
    # socket was reset.)
    tail -c +$((size_before + 1)) "${LOG[$key]}" | head -n 1 >"$SCRATCH/$endpoint.line" || true
    # The server appends (O_APPEND), so emptying the file is safe: its next
    # line goes to the new end. This keeps the disk use to one run's log.
    : >"${LOG[$key]}"
  fi
}

# --------------------------------------------------------------------- main --

started=$SECONDS
load_before="$(load_average)"

echo "==> building stage-09 and stage-10 (release) into $TARGET_DIR" >&2
cargo build --release --locked -p stage-09 -p stage-10 >&2

# Both stages want a JWT secret of at least 32 bytes: 64 random hex digits.
SECRET_FILE="$SCRATCH/jwt-secret"
write_jwt_secret "$SECRET_FILE"

KEYS=()
declare -A STAGE=() STDOUT=()
for server in "${SERVERS[@]}"; do
  IFS=: read -r key stage stdout <<<"$server"
  KEYS+=("$key")
  STAGE[$key]=$stage STDOUT[$key]=$stdout
  start_server "$key" "$stage" "$stdout"
  echo "==> $stage, stdout to ${stdout/null//dev/null}, on 127.0.0.1:${PORT[$key]}, WORKERS=$WORKERS" >&2
  for endpoint in "${ENDPOINTS[@]}"; do
    run_wrk "$key" "$endpoint" "$WARMUP" # warm-up, not counted
  done
done

# Every run of every cell, as space-separated lists keyed "key endpoint".
declare -A RPS_RUNS=() P50_RUNS=() CPU_RUNS=() BYTES=() LINES=() ANSWERED=()
socket_errors=0
for ((run = 1; run <= RUNS; run++)); do
  for endpoint in "${ENDPOINTS[@]}"; do
    # Each round starts with the next server: no server always goes first.
    for ((i = 0; i < ${#KEYS[@]}; i++)); do
      key="${KEYS[$(((i + run - 1) % ${#KEYS[@]}))]}"
      run_wrk "$key" "$endpoint" "$DURATION"
      echo "    run $run/$RUNS $key GET $(path "$endpoint"): $WRK_RPS req/s, p50 $WRK_P50_MS ms," \
        "server CPU $CPU_US µs/request, socket errors $WRK_SOCKET_ERRORS" \
        "$( ((LOG_LINES)) && echo "; log +$LOG_BYTES bytes in $LOG_LINES lines for $WRK_REQUESTS responses")" >&2
      RPS_RUNS["$key $endpoint"]+=" $WRK_RPS"
      P50_RUNS["$key $endpoint"]+=" $WRK_P50_MS"
      CPU_RUNS["$key $endpoint"]+=" $CPU_US"
      if [[ -n "${LOG[$key]:-}" ]]; then
        BYTES[$endpoint]=$((${BYTES[$endpoint]:-0} + LOG_BYTES))
        LINES[$endpoint]=$((${LINES[$endpoint]:-0} + LOG_LINES))
        ANSWERED[$endpoint]=$((${ANSWERED[$endpoint]:-0} + WRK_REQUESTS))
      fi
      socket_errors=$((socket_errors + WRK_SOCKET_ERRORS))
    done
  done
done
stop_all

# ------------------------------------------------------------------ report --

declare -A RPS_MEDIAN=() CPU_MEDIAN=()
max_spread=0 max_cpu_spread=0
for cell in "${!RPS_RUNS[@]}"; do
  read -ra runs <<<"${RPS_RUNS[$cell]}"
  RPS_MEDIAN[$cell]="$(median "${runs[@]}")"
  s="$(spread "${runs[@]}")"
  ((s > max_spread)) && max_spread=$s
  read -ra runs <<<"${CPU_RUNS[$cell]}"
  CPU_MEDIAN[$cell]="$(median "${runs[@]}")"
  s="$(spread "${runs[@]}")"
  ((s > max_cpu_spread)) && max_cpu_spread=$s
done

rows=() log_rows=()
for endpoint in "${ENDPOINTS[@]}"; do
  shown="\`GET $(path "$endpoint")\`"
  for key in "${KEYS[@]}"; do
    cell="$key $endpoint"
    read -ra p50 <<<"${P50_RUNS[$cell]}"
    case "${STDOUT[$key]}" in
      null) where="\`/dev/null\`" ;;
      file) where="a file" ;;
    esac
    rps_ratio="" cpu_ratio=""
    if [[ "$key" != 09 ]]; then
      rps_ratio="$(ratio "${RPS_MEDIAN[$cell]}" "${RPS_MEDIAN[09 $endpoint]}")"
      cpu_ratio="$(ratio "${CPU_MEDIAN[$cell]}" "${CPU_MEDIAN[09 $endpoint]}")"
    fi
    rows+=("| $shown | ${STAGE[$key]} | $where | $(printf '%.0f' "${RPS_MEDIAN[$cell]}") |\
 $(show_ms "$(median "${p50[@]}")") | $(printf '%.1f' "${CPU_MEDIAN[$cell]}") µs |\
 $rps_ratio | $cpu_ratio |")
  done
  # The log: bytes per line, lines per response wrk counted, and what that
  # makes at the median rate of the stage 10 that wrote it.
  per_line="$(awk -v b="${BYTES[$endpoint]}" -v l="${LINES[$endpoint]}" 'BEGIN { printf "%.1f", b / l }')"
  per_response="$(awk -v l="${LINES[$endpoint]}" -v n="${ANSWERED[$endpoint]}" 'BEGIN { printf "%.3f", l / n }')"
  rate="$(awk -v b="$per_line" -v r="${RPS_MEDIAN[10-file $endpoint]}" \
    'BEGIN { printf "%.1f MB/s (%.0f GB a day)", b * r / 1e6, b * r * 86400 / 1e9 }')"
  # bytes per line × a million requests: as many MB as bytes per line.
  million="$(awk -v b="$per_line" 'BEGIN { printf "%.0f MB", b }')"
  log_rows+=("| $shown | $per_line | ${LINES[$endpoint]} | $per_response | $million | $rate |")
done

if ((RUNS > 1)); then
  runs_text="median of $RUNS runs, each column separately (in the least steady
cells, requests/s varied by $max_spread% of its median between runs, and server CPU
per request by $max_cpu_spread%)"
else
  runs_text="a single run"
fi
commit_text="$(commit_note "the stages' code or the Cargo files" Cargo.toml Cargo.lock \
  stages/stage-09/Cargo.toml stages/stage-09/src stages/stage-10/Cargo.toml stages/stage-10/src)"
command_text="$(regenerate_command)"
sample_line="$(cat "$SCRATCH/health.line")"

report() {
  cat <<EOF
<!-- Generated by \`bench/observability.sh\`; do not edit by hand. -->

| endpoint | stage | stdout to | requests/s | p50 | server CPU per request | requests/s ÷ stage 09's | CPU per request ÷ stage 09's |
|---|---|---|---:|---:|---:|---:|---:|
$(printf '%s\n' "${rows[@]}")

\`wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s --latency\` against each stage's release build
with \`WORKERS=$WORKERS\`; the three servers ran side by side and the runs were interleaved,
each round starting with a different server. Stage 10 writes one access-log line
per request to stdout and counts each request in \`/metrics\`; stage 09 does
neither, but prints \`METHOD PATH\` to stderr for each request (to \`/dev/null\`, like
every server's stderr), so it is not a server that logs nothing: see
\`bench/README.md\`. *Server CPU per request* is the server
process's user + system time during the run (\`/proc/PID/stat\`) divided by the
responses wrk counted. Every answer was 2xx; $(socket_errors_text "$socket_errors"); $runs_text.

| access log | bytes per line | lines | lines per response | per million requests | at stage 10's rate above |
|---|---:|---:|---:|---:|---:|
$(printf '%s\n' "${log_rows[@]}")

Measured from the file stage 10 wrote (on $(filesystem_of "$SCRATCH")), over all its runs: the
bytes and lines each run added, and the responses wrk counted in the same runs.
A line for \`/health\`:

\`\`\`text
$sample_line
\`\`\`

Measured on $(date -u +%Y-%m-%d)$commit_text: $(nproc) CPUs ($(cpu_model)), Linux $(uname -r), $(rustc --version | cut -d' ' -f1-2), $(wrk_version); wrk and the servers share the machine; load average before the run: $load_before. Regenerate with \`$command_text\`.
EOF
}

report | write_page "$PAGE"
echo "==> done in $((SECONDS - started)) s" >&2
