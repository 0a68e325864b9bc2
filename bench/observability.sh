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

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
}

QUICK=0
case "${1:-}" in
  "") ;;
  --quick) QUICK=1 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

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

cd "$(dirname "$0")/.."
readonly PAGE=book/src/generated/bench-observability.md
readonly TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# ------------------------------------------------------------------- tools --

missing=()
for tool in wrk ss curl cargo awk timeout pgrep getconf od; do
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

# The scratch folder also holds the servers' working folders (databases)
# and the access log: set TMPDIR to measure on another disk.
SCRATCH="$(mktemp -d)"
declare -A SERVER_PID=() SERVER_PROC=() PORT=() LOG=()
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
  local key
  if [[ -n "$WRK_PID" ]]; then stop "$WRK_PID"; fi
  for key in "${!SERVER_PID[@]}"; do stop "${SERVER_PID[$key]}"; done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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
# configuration. Waits until it answers GET /health; sets SERVER_PID[KEY]
# (the `timeout` around it), SERVER_PROC[KEY] (the server, for its CPU
# time), PORT[KEY] and, for `file`, LOG[KEY].
start_server() {
  local key="$1" stage="$2" stdout="$3" dir port="" proc="" i out=/dev/null
  dir="$(mktemp -d "$SCRATCH/$key.XXXXXX")"
  if [[ "$stdout" == file ]]; then
    out="$dir/access.log"
    : >"$out"
    LOG[$key]=$out
  fi
  # `timeout` is a backstop: no server outlives the script by more than this.
  (cd "$dir" && exec env ADDR=127.0.0.1:0 WORKERS="$WORKERS" JWT_SECRET_FILE="$SECRET_FILE" \
    timeout -k 5 "$SERVER_LIFETIME" "$TARGET_DIR/release/$stage") >>"$out" 2>/dev/null &
  SERVER_PID[$key]=$!
  for ((i = 0; i < 100; i++)); do
    [[ -z "$proc" ]] && proc="$(pgrep -P "${SERVER_PID[$key]}" | head -n 1 || true)"
    [[ -n "$proc" ]] && port="$(listening_port "$proc")"
    [[ -n "$port" ]] && break
    kill -0 "${SERVER_PID[$key]}" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$port" ]]; then
    echo "$stage ($key) is not listening on 127.0.0.1 after 10 s" >&2
    exit 1
  fi
  SERVER_PROC[$key]=$proc PORT[$key]=$port
  curl -s -o /dev/null -m 5 --retry 20 --retry-delay 0 --retry-connrefused \
    -H 'Connection: close' "http://127.0.0.1:$port/health" ||
    { echo "$stage ($key) on port $port did not answer GET /health" >&2; exit 1; }
}

# path ENDPOINT: the path wrk asks for.
path() {
  case "$1" in
    health) echo /health ;;
    status) echo /api/status ;;
  esac
}

# wait_quiet KEY: after a run, wait (at most 10 s) until the server holds
# no connections, so one run's leftovers don't weigh on the next.
wait_quiet() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -z "$(ss -Htn state established "( sport = :${PORT[$1]} )")" ]] && return 0
    sleep 0.1
  done
  echo "warning: $1 still has connections 10 s after wrk stopped" >&2
}

# cpu_ticks KEY: the server's user + system CPU time so far, all threads,
# in clock ticks (fields 14 and 15 of /proc/PID/stat, after "PID (NAME) ").
cpu_ticks() {
  sed 's/^.*) //' "/proc/${SERVER_PROC[$1]}/stat" | awk '{ print $12 + $13 }'
}

# file_size FILE: its size in bytes.
file_size() {
  stat -c %s "$1"
}

# to_ms VALUE: wrk's "25.00us" / "7.08ms" / "1.02s" / "1.50m" in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f\n", n }'
}

# run_wrk KEY ENDPOINT SECONDS: one wrk run. Sets RPS, P50_MS, CPU_US (the
# server's CPU time per response, in microseconds), REQUESTS and
# SOCKET_ERRORS, and for the server that logs to a file LOG_BYTES and
# LOG_LINES (what the run added to the log), then empties the log. A non-2xx
# answer stops the script. Runs in this shell, not a subshell, so that the
# EXIT trap knows WRK_PID.
run_wrk() {
  local key="$1" endpoint="$2" seconds="$3" out="$SCRATCH/wrk.out" rc=0 ticks_before size_before=0
  ticks_before="$(cpu_ticks "$key")"
  [[ -n "${LOG[$key]:-}" ]] && size_before="$(file_size "${LOG[$key]}")"
  timeout -k 2 $((seconds + 10)) \
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${seconds}s" --latency \
    "http://127.0.0.1:${PORT[$key]}$(path "$endpoint")" >"$out" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  # Every connection closed: every request wrk sent is answered and logged.
  wait_quiet "$key"
  local ticks=$(($(cpu_ticks "$key") - ticks_before))
  if ((rc != 0)); then
    echo "wrk failed (exit $rc):" >&2
    cat "$out" >&2
    exit 1
  fi
  local p50 non_2xx
  REQUESTS="$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$out")"
  RPS="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
  p50="$(awk '$1 == "50%" { print $2 }' "$out")"
  non_2xx="$(awk '/Non-2xx or 3xx responses:/ { n += $NF } END { print n + 0 }' "$out")"
  SOCKET_ERRORS="$(awk '/Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
    END { print e + 0 }' "$out")"
  if [[ -z "$RPS" || -z "$p50" || ! "$REQUESTS" =~ ^[1-9][0-9]*$ ]]; then
    echo "could not read wrk's output:" >&2
    cat "$out" >&2
    exit 1
  fi
  if ((non_2xx)); then
    echo "$key GET $(path "$endpoint"): $non_2xx answers were not 2xx; wrk said:" >&2
    cat "$out" >&2
    exit 1
  fi
  P50_MS="$(to_ms "$p50")"
  CPU_US="$(awk -v t="$ticks" -v hz="$CLOCK_TICKS" -v n="$REQUESTS" \
    'BEGIN { printf "%.2f\n", t * 1e6 / hz / n }')"
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

echo "==> building stage-09 and stage-10 (release) into $TARGET_DIR" >&2
cargo build --release --locked -p stage-09 -p stage-10 >&2

# Both stages want a JWT secret of at least 32 bytes: 64 random hex digits.
SECRET_FILE="$SCRATCH/jwt-secret"
(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$SECRET_FILE")

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
      echo "    run $run/$RUNS $key GET $(path "$endpoint"): $RPS req/s, p50 $P50_MS ms," \
        "server CPU $CPU_US µs/request, socket errors $SOCKET_ERRORS" \
        "$( ((LOG_LINES)) && echo "; log +$LOG_BYTES bytes in $LOG_LINES lines for $REQUESTS responses")" >&2
      RPS_RUNS["$key $endpoint"]+=" $RPS"
      P50_RUNS["$key $endpoint"]+=" $P50_MS"
      CPU_RUNS["$key $endpoint"]+=" $CPU_US"
      if [[ -n "${LOG[$key]:-}" ]]; then
        BYTES[$endpoint]=$((${BYTES[$endpoint]:-0} + LOG_BYTES))
        LINES[$endpoint]=$((${LINES[$endpoint]:-0} + LOG_LINES))
        ANSWERED[$endpoint]=$((${ANSWERED[$endpoint]:-0} + REQUESTS))
      fi
      socket_errors=$((socket_errors + SOCKET_ERRORS))
    done
  done
done
for key in "${KEYS[@]}"; do
  stop "${SERVER_PID[$key]}"
  unset "SERVER_PID[$key]"
done

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

cpu="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
wrk_version="$(wrk --version 2>&1 | awk 'NR == 1 { print $1, $2; exit }' || true)"
filesystem="$(df --output=fstype "$SCRATCH" 2>/dev/null | awk 'NR == 2 { print $1 }' || true)"
filesystem="${filesystem:-an unknown file system}"
if ((RUNS > 1)); then
  runs_text="median of $RUNS runs, each column separately (in the least steady
cells, requests/s varied by $max_spread% of its median between runs, and server CPU
per request by $max_cpu_spread%)"
else
  runs_text="a single run"
fi
commit_text=""
if commit="$(git rev-parse --short HEAD 2>/dev/null)"; then
  commit_text=" at commit $commit"
  [[ -z "$(git status --porcelain -- Cargo.toml Cargo.lock stages/stage-09/Cargo.toml \
    stages/stage-09/src stages/stage-10/Cargo.toml stages/stage-10/src 2>/dev/null)" ]] ||
    commit_text+=" (with uncommitted changes to the stages' code or the Cargo files)"
fi
command_text="bench/observability.sh"
((QUICK)) && command_text="bench/observability.sh --quick"
errors_text="no socket errors"
((socket_errors)) && errors_text="**$socket_errors socket errors** (connect, read, write or timeout) over all runs"
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
responses wrk counted. Every answer was 2xx; $errors_text; $runs_text.

| access log | bytes per line | lines | lines per response | per million requests | at stage 10's rate above |
|---|---:|---:|---:|---:|---:|
$(printf '%s\n' "${log_rows[@]}")

Measured from the file stage 10 wrote (on $filesystem), over all its runs: the
bytes and lines each run added, and the responses wrk counted in the same runs.
A line for \`/health\`:

\`\`\`text
$sample_line
\`\`\`

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
