# shellcheck shell=bash
# What the benchmarks in bench/ have in common: the command line, checking
# for the tools they need, the scratch folder, starting a stage's release
# binary on a free port, running wrk and reading its report, reading a
# server's memory and CPU time from /proc, turning numbers into the text of
# the book's tables, and writing the page. Each benchmark sources it once it
# has changed to the repository root:
#
#   cd "$(dirname "$0")/.."
#   # shellcheck source-path=SCRIPTDIR/..
#   source bench/lib.sh
#
# (The directive tells shellcheck where to find this file, from wherever it
# is run: `source` names it from the repository root, one folder up.)
#
# Nothing here skips: a missing tool, a server that does not start or a wrk
# report that cannot be read stops the script with a message on stderr.
# Every server, wrk and curl runs under a time limit, and whatever is still
# running is stopped when the script exits.
#
# Variables it sets for the script: TARGET_DIR (where cargo builds), QUICK
# (parse_quick_option), SCRATCH (make_scratch), SERVER_PID (launch_server),
# the WRK_ ones (read_wrk) and the CURL_ ones (bounded_curl).

# Where cargo puts the release binaries.
readonly TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# ---------------------------------------------------------- command line --

# usage: prints the script's help: the comment at its top, without the `# `.
usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "bench/$(basename "$0")"
}

# parse_quick_option [ARG]: the command line of a benchmark whose one option
# is --quick. Sets QUICK to 1 with it, to 0 without; --help (or -h) prints
# the help and exits, anything else prints it to stderr and exits with 2.
parse_quick_option() {
  QUICK=0
  case "${1:-}" in
    "") ;;
    --quick) QUICK=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
}

# require_tools PACKAGES TOOL...: stops the script unless every TOOL is on
# the PATH, naming the missing ones and the Debian PACKAGES that have them.
require_tools() {
  local packages="$1" tool missing=()
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    echo "missing: ${missing[*]}" >&2
    echo "on Debian/Ubuntu: apt-get install $packages" >&2
    exit 1
  fi
}

# ------------------------------------------------- processes and cleanup --

# The servers and wrk runs still running, by pid: stopped when the script
# exits.
declare -A RUNNING=()

# make_scratch: makes the scratch folder SCRATCH (under TMPDIR, /tmp unless
# set) and arranges that when the script exits, however it ends (done, an
# error, Ctrl-C, kill), every server and wrk still running is stopped and
# SCRATCH removed.
make_scratch() {
  SCRATCH="$(mktemp -d)"
  trap 'stop_all; rm -rf "$SCRATCH"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# stop PID: stops the process PID: TERM, up to 5 s to finish, then KILL.
stop() {
  local pid="$1" i
  unset "RUNNING[$pid]"
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# stop_all: stops every server and wrk run that is still running.
stop_all() {
  local pid
  for pid in "${!RUNNING[@]}"; do stop "$pid"; done
}

# --------------------------------------------------------------- servers --

# launch_server STAGE DIR STDOUT LIFETIME [NAME=VALUE...]: starts STAGE's
# release binary in the folder DIR on a free port (ADDR=127.0.0.1:0), with
# the variables NAME=VALUE. Its stdout is appended to the file STDOUT
# (emptied first) and its stderr goes to /dev/null: most stages write a line
# there per request, and writing it anywhere slower would measure that
# instead. `timeout` is a backstop: no server outlives the script by more
# than LIFETIME seconds. Sets SERVER_PID to the pid of that `timeout`
# (server_process finds the server under it).
launch_server() {
  local stage="$1" dir="$2" stdout="$3" lifetime="$4"
  shift 4
  : >"$stdout"
  (cd "$dir" && exec env ADDR=127.0.0.1:0 "$@" \
    timeout -k 5 "$lifetime" "$TARGET_DIR/release/$stage") >>"$stdout" 2>/dev/null &
  SERVER_PID=$!
  RUNNING[$SERVER_PID]=1
}

# wait_for_port STAGE STDOUT: waits (at most 10 s) until the server just
# launched has printed "listening on http://127.0.0.1:PORT" to the file
# STDOUT, and prints PORT. If it does not (or ends first), shows what it
# printed and stops the script.
wait_for_port() {
  local stage="$1" out="$2" port="" i
  for ((i = 0; i < 100; i++)); do
    port="$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' "$out")"
    [[ -n "$port" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$port" ]]; then
    echo "$stage did not print 'listening on http://127.0.0.1:PORT' within 10 s:" >&2
    cat "$out" >&2
    exit 1
  fi
  echo "$port"
}

# server_process NAME PID: prints the pid of the server that the `timeout`
# with pid PID started (whose /proc files tell its memory and CPU time);
# stops the script if there is none.
server_process() {
  local proc
  proc="$(pgrep -P "$2" | head -n 1 || true)"
  if [[ -z "$proc" ]]; then
    echo "cannot find $1 under timeout (pid $2)" >&2
    exit 1
  fi
  echo "$proc"
}

# wait_healthy NAME PORT: waits (retrying for a few seconds) until the server
# on PORT has answered GET /health, so that its workers are running; stops
# the script if it does not.
wait_healthy() {
  curl -s -o /dev/null -m 5 --retry 20 --retry-delay 0 --retry-connrefused \
    -H 'Connection: close' "http://127.0.0.1:$2/health" ||
    { echo "$1 on port $2 did not answer GET /health" >&2; exit 1; }
}

# wait_quiet NAME PORT: after a run, waits (at most 10 s) until the server on
# PORT holds no connections, so that one run's leftovers don't weigh on the
# next; warns, naming NAME, if it still does.
wait_quiet() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -z "$(ss -Htn state established "( sport = :$2 )")" ]] && return 0
    sleep 0.1
  done
  echo "warning: $1 still has connections 10 s after wrk stopped" >&2
}

# write_jwt_secret FILE: a JWT secret (stage 09 and later want at least 32
# bytes) of 64 random hex digits, in a file only we can read.
write_jwt_secret() {
  (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$1")
}

# ---------------------------------------------------------- wrk and curl --

# start_wrk SECONDS WRK_ARGUMENTS...: starts `wrk WRK_ARGUMENTS...`, a run of
# SECONDS, in the background with its report going to $SCRATCH/wrk.out,
# under a time limit of SECONDS + 10. finish_wrk waits for it. Call both in
# the script's own shell, not in a subshell: then the wrk run is stopped
# when the script exits, and Ctrl-C stops the script at once.
start_wrk() {
  local seconds="$1"
  shift
  timeout -k 2 $((seconds + 10)) wrk "$@" >"$SCRATCH/wrk.out" 2>&1 &
  WRK_PID=$!
  RUNNING[$WRK_PID]=1
}

# finish_wrk: waits for the wrk run that start_wrk started; if it failed,
# shows its output and stops the script.
finish_wrk() {
  local rc=0
  wait "$WRK_PID" || rc=$?
  unset "RUNNING[$WRK_PID]"
  ((rc == 0)) || wrk_failed "wrk failed (exit $rc):"
}

# wrk_failed MESSAGE: says MESSAGE, shows the last wrk report, and stops the
# script.
wrk_failed() {
  echo "$1" >&2
  cat "$SCRATCH/wrk.out" >&2
  exit 1
}

# read_wrk: reads the report of the last wrk run (run with --latency) into
# WRK_REQUESTS (the responses), WRK_RPS (responses per second), WRK_P50_MS
# and WRK_P99_MS (latency percentiles, in milliseconds), WRK_NON_2XX (answers
# that were neither 2xx nor 3xx) and WRK_SOCKET_ERRORS (connect, read, write
# and timeout errors). Stops the script if one of them is missing.
# shellcheck disable=SC2034 # The WRK_ variables are for the benchmarks.
read_wrk() {
  local out="$SCRATCH/wrk.out" p50 p99
  WRK_REQUESTS="$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$out")"
  WRK_RPS="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
  p50="$(awk '$1 == "50%" { print $2 }' "$out")"
  p99="$(awk '$1 == "99%" { print $2 }' "$out")"
  WRK_NON_2XX="$(awk '/Non-2xx or 3xx responses:/ { n += $NF } END { print n + 0 }' "$out")"
  WRK_SOCKET_ERRORS="$(awk '/Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
    END { print e + 0 }' "$out")"
  if [[ -z "$WRK_RPS" || -z "$p50" || -z "$p99" || ! "$WRK_REQUESTS" =~ ^[0-9]+$ ]]; then
    wrk_failed "could not read wrk's output:"
  fi
  WRK_P50_MS="$(to_ms "$p50")" WRK_P99_MS="$(to_ms "$p99")"
}

# bounded_curl SECONDS CURL_ARGUMENTS...: runs `curl CURL_ARGUMENTS...` for
# at most SECONDS, with its stderr going to $SCRATCH/curl.stderr (with
# --parallel it draws a progress meter there). Sets CURL_OUT (what it
# printed), CURL_RC (its exit status) and CURL_NS (how long it took, in
# nanoseconds).
# shellcheck disable=SC2034 # The CURL_ variables are for the benchmarks.
bounded_curl() {
  local seconds="$1" start end
  shift
  CURL_RC=0
  start="$(date +%s%N)"
  CURL_OUT="$(timeout -k 2 "$seconds" curl "$@" 2>"$SCRATCH/curl.stderr")" || CURL_RC=$?
  end="$(date +%s%N)"
  CURL_NS=$((end - start))
}

# curl_errors: what the last bounded_curl said on stderr, without its
# progress meter.
curl_errors() {
  grep -v '^DL%\|^--' "$SCRATCH/curl.stderr" || true
}

# count_each LINES: how many times each line occurs, on one line
# (" 30 201 2 503 ").
count_each() {
  sort <<<"$1" | uniq -c | tr -s ' \n' ' '
}

# ------------------------------------------------------------------ /proc --

# cpu_ticks PID: the process's user + system CPU time so far, all threads, in
# clock ticks (fields 14 and 15 of /proc/PID/stat, after "PID (NAME) ").
cpu_ticks() {
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# cpu_us_per_response TICKS: TICKS (of CPU time, from cpu_ticks) per
# response of the last wrk run, in microseconds. Stops the script if that
# run got no response.
cpu_us_per_response() {
  [[ "$WRK_REQUESTS" =~ ^[1-9][0-9]*$ ]] || wrk_failed "could not read wrk's output:"
  awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v n="$WRK_REQUESTS" \
    'BEGIN { printf "%.2f\n", t * 1e6 / hz / n }'
}

# memory_kib PID FIELD: the process's VmRSS (resident memory now) or VmHWM
# (its peak), from /proc/PID/status, in KiB.
memory_kib() {
  awk -v field="$2:" '$1 == field { print $2; found = 1 } END { exit !found }' "/proc/$1/status"
}

# ---------------------------------------------------------- numbers, text --

# to_ms VALUE: wrk's "25.00us" / "7.08ms" / "1.02s" / "1.50m" in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f\n", n }'
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

# ------------------------------------------------------------- the page --

# load_average: the machine's load averages (1, 5 and 15 minutes).
load_average() {
  cut -d' ' -f1-3 /proc/loadavg
}

# cpu_model: the name of the machine's CPU.
cpu_model() {
  awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo
}

# wrk_version: "wrk 4.2.0" (or nothing, if wrk does not say).
wrk_version() {
  wrk --version 2>&1 | awk 'NR == 1 { print $1, $2; exit }' || true
}

# filesystem_of PATH: the type of the file system PATH is on ("ext4",
# "tmpfs"), or "an unknown file system".
filesystem_of() {
  local type
  type="$(df --output=fstype "$1" 2>/dev/null | awk 'NR == 2 { print $1 }' || true)"
  echo "${type:-an unknown file system}"
}

# socket_errors_text N: the page's words for N socket errors over all runs.
socket_errors_text() {
  if (($1)); then
    echo "**$1 socket errors** (connect, read, write or timeout) over all runs"
  else
    echo "no socket errors"
  fi
}

# commit_note WHAT PATHS...: " at commit abc1234", plus a warning naming WHAT
# if any of PATHS has uncommitted changes; nothing outside a git checkout.
commit_note() {
  local what="$1" commit text=""
  shift
  if commit="$(git rev-parse --short HEAD 2>/dev/null)"; then
    text=" at commit $commit"
    [[ -z "$(git status --porcelain -- "$@" 2>/dev/null)" ]] ||
      text+=" (with uncommitted changes to $what)"
  fi
  echo "$text"
}

# regenerate_command: the command that made this page, for its "Regenerate
# with": bench/NAME.sh, and --quick if QUICK.
regenerate_command() {
  local text
  text="bench/$(basename "$0")"
  ((QUICK)) && text+=" --quick"
  echo "$text"
}

# write_page PAGE: copies stdin to stdout, and to the file PAGE unless QUICK.
write_page() {
  if ((QUICK)); then
    cat
    echo "(--quick: not written to $1)" >&2
  else
    tee "$1"
    echo "(written to $1)" >&2
  fi
}
