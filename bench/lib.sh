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
# (parse_quick_option), SCRATCH (make_scratch), SERVER_PID (launch_server,
# launch_program), the WRK_ ones (read_wrk), the CURL_ ones (bounded_curl),
# FRESH (fresh_client), and OK, DENIED, BUSY, OTHER, WALL_MS (login_burst).

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

# ------------------------------------------------- servers of any kind --
# (For a program that is not one of our stages, or that must listen on a
# port chosen in advance, such as nginx: bench/peers.sh.)

# raise_open_files N: raises this shell's soft limit on open files (which
# every program it starts inherits) to the hard limit, and stops the script
# if that is still below N.
raise_open_files() {
  local hard
  hard="$(ulimit -Hn)"
  if [[ "$hard" == unlimited ]]; then hard=1048576; fi
  ulimit -n "$hard" 2>/dev/null || true
  if (($(ulimit -n) < $1)); then
    echo "need $1 open files, but 'ulimit -Hn' allows only $hard" >&2
    exit 1
  fi
}

# free_port: prints a port of 127.0.0.1 that nothing listens on, below the
# ephemeral range (32768 and up on Linux), so that no client's own port
# can take it meanwhile.
free_port() {
  local port i
  for ((i = 0; i < 100; i++)); do
    port=$((10000 + RANDOM % 22000))
    [[ -z "$(ss -Htan "( sport = :$port )")" ]] && { echo "$port"; return 0; }
  done
  echo "found no free port" >&2
  exit 1
}

# launch_program DIR LOG LIFETIME [NAME=VALUE...] PROGRAM [ARGUMENT...]:
# starts PROGRAM in the folder DIR with the variables NAME=VALUE, like
# launch_server, but with its stdout going to /dev/null (our stages write an
# access-log line per request there from stage 10) and its stderr to the
# file LOG. `timeout` is the backstop: it stops PROGRAM after LIFETIME
# seconds. Sets SERVER_PID to the pid of that `timeout`.
launch_program() {
  local dir="$1" log="$2" lifetime="$3"
  shift 3
  (cd "$dir" && exec timeout -k 5 "$lifetime" env "$@") >/dev/null 2>>"$log" &
  SERVER_PID=$!
  RUNNING[$SERVER_PID]=1
}

# wait_listening NAME PORT LOG: waits (at most 10 s) until something listens
# on 127.0.0.1:PORT; if the server just launched ends first, or nothing
# listens by then, shows its LOG and stops the script.
wait_listening() {
  local i
  for ((i = 0; i < 200; i++)); do
    [[ -n "$(ss -Htln "( sport = :$2 )")" ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "$1 is not listening on 127.0.0.1:$2:" >&2
  cat "$3" >&2
  exit 1
}

# process_tree PID: PID and every process under it, one per line (nginx's
# master and its workers).
process_tree() {
  local child
  echo "$1"
  for child in $(pgrep -P "$1" || true); do process_tree "$child"; done
}

# tree_rss_kib PID: the VmRSS of PID and every process under it, added up,
# in KiB (pages shared between them, such as nginx's code, count once per
# process). Processes that end meanwhile count as 0.
tree_rss_kib() {
  local pid total=0 kib
  for pid in $(process_tree "$1"); do
    kib="$(memory_kib "$pid" VmRSS 2>/dev/null || true)"
    total=$((total + ${kib:-0}))
  done
  echo "$total"
}

# established PORT: the server side of every established connection on
# 127.0.0.1:PORT, one per line, with its TCP details (ss prints them on a
# second line).
established() {
  ss -Htni state established "( sport = :$1 )" |
    awk '/^[^ \t]/ { if (r != "") print r; r = $0; next } { r = r " " $0 } END { if (r != "") print r }'
}

# count_unanswered PORT AFTER_MS: connections to PORT whose request arrived
# at least AFTER_MS ago and that have not been sent a single byte. ss omits
# bytes_sent while it is zero; lastrcv is "ms since we last received".
count_unanswered() {
  established "$1" | awk -v after="$2" '
    {
      sent = 0; received = 0; lastrcv = 0
      for (i = 1; i <= NF; i++) {
        split($i, kv, ":")
        if (kv[1] == "bytes_sent") sent = kv[2]
        else if (kv[1] == "bytes_received") received = kv[2]
        else if (kv[1] == "lastrcv") lastrcv = kv[2]
      }
      if (received > 0 && sent == 0 && lastrcv >= after) n++
    }
    END { print n + 0 }'
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

# fresh_client SECONDS URL: one more client, `curl` for URL, given up after
# SECONDS. Sets FRESH to "CODE:SECONDS" (its status and how long it took),
# "timeout" or "error:CURL_EXIT".
# shellcheck disable=SC2034 # FRESH is for the benchmarks.
fresh_client() {
  local out rc=0
  out="$(curl -s -o /dev/null -m "$1" -w '%{http_code}:%{time_total}' "$2")" || rc=$?
  if ((rc == 0)); then FRESH="$out"
  elif ((rc == 28)); then FRESH="timeout"
  else FRESH="error:$rc"
  fi
}

# show_fresh TIMEOUT RESULTS...: one cell for fresh_client's RESULTS over
# all runs: the median time, and how many runs got no answer in TIMEOUT
# seconds, or an error, or a status other than 200.
show_fresh() {
  local timeout="$1" r notes=() timeouts=0 times=() code
  shift
  for r in "$@"; do
    case "$r" in
      timeout) timeouts=$((timeouts + 1)) ;;
      error:*) notes+=("curl error ${r#error:}") ;;
      *)
        code="${r%%:*}"
        times+=("$(awk -v s="${r#*:}" 'BEGIN { printf "%.3f\n", s * 1000 }')")
        [[ "$code" == 200 ]] || notes+=("status $code")
        ;;
    esac
  done
  local text=""
  if ((${#times[@]})); then
    text="$(show_ms "$(median "${times[@]}")")"
    ((${#times[@]} < $#)) && text+=" (answered in ${#times[@]} of $# runs)"
  fi
  if ((timeouts)); then
    [[ -n "$text" ]] && text+="; "
    text+="**no answer in ${timeout} s**"
    ((timeouts < $#)) && text+=" ($timeouts of $# runs)"
  fi
  ((${#notes[@]})) && text+=" [$(IFS=,; echo "${notes[*]}")]"
  echo "$text"
}

# count_each LINES: how many times each line occurs, on one line
# (" 30 201 2 503 ").
count_each() {
  sort <<<"$1" | uniq -c | tr -s ' \n' ' '
}

# ---------------------------------------------------------------- logins --
# Sign-ups and logins (stage 09 and later), shared by login-storm.sh and
# peers.sh. They read the script's settings: PORT (the server's), USERS,
# PASSWORD and WRONG_PASSWORD, BURST, REQUEST_TIMEOUT (one request) and
# BURST_TIMEOUT (the whole burst); and they use bounded_curl.

# make_users: USERS sign-ups (user-1 … user-USERS), one after another on one
# keep-alive connection; each must answer 201. Not timed.
make_users() {
  local args=() i
  for ((i = 1; i <= USERS; i++)); do
    ((i > 1)) && args+=(--next)
    args+=(-s -o /dev/null -w '%{http_code}\n' -m "$REQUEST_TIMEOUT"
      -H 'Content-Type: application/json'
      -d "{\"username\":\"user-$i\",\"password\":\"$PASSWORD\"}"
      "http://127.0.0.1:$PORT/api/users")
  done
  bounded_curl "$BURST_TIMEOUT" "${args[@]}"
  if [[ "$(grep -c '^201$' <<<"$CURL_OUT" || true)" != "$USERS" ]]; then
    echo "not every sign-up got 201 (curl exit $CURL_RC):" "$(count_each "$CURL_OUT")" >&2
    cat "$SCRATCH/curl.stderr" >&2
    exit 1
  fi
}

# login_args KIND N: curl's arguments for one login, printed one per line,
# of KIND `right` (user-N, right password), `wrong` (user-N, wrong
# password) or `unknown` (nobody-N, a user that does not exist). `-w`
# prints the kind, the status and curl's total time in seconds. More
# arguments (such as a header) may follow.
login_args() {
  local kind="$1" n="$2" username="user-$2" password="$PASSWORD"
  case "$kind" in
    wrong) password="$WRONG_PASSWORD" ;;
    unknown) username="nobody-$n" ;;
  esac
  printf '%s\n' -s -o /dev/null -w "$kind %{http_code} %{time_total}\n" -m "$REQUEST_TIMEOUT" \
    -H 'Content-Type: application/json' \
    -d "{\"username\":\"$username\",\"password\":\"$password\"}"
}

# login_burst: BURST logins at once, each on its own connection (with
# `Connection: close`, as login-storm.sh's sign-ups), from one curl process: half with the
# right password, a quarter with a wrong one, a quarter for unknown users,
# interleaved (right, right, wrong, unknown, …) so that whoever gets a
# turn is a mix. Every one costs one argon2 check. Sets OK (200s), DENIED
# (401s), BUSY (503s), OTHER and WALL_MS; stops the script if a wrong
# password or an unknown user got 200, or a right password 401.
# shellcheck disable=SC2034 # OK, DENIED, BUSY and WALL_MS are for the benchmarks.
login_burst() {
  local args=() i kind line
  local -A per_kind=([right]=0 [wrong]=0 [unknown]=0)
  for ((i = 0; i < BURST; i++)); do
    case $((i % 4)) in
      0 | 1) kind=right ;;
      2) kind=wrong ;;
      3) kind=unknown ;;
    esac
    per_kind[$kind]=$((per_kind[$kind] + 1))
    ((i > 0)) && args+=(--next)
    while IFS= read -r line; do args+=("$line"); done < <(login_args "$kind" "${per_kind[$kind]}")
    args+=(-H 'Connection: close' "http://127.0.0.1:$PORT/api/login")
  done
  bounded_curl "$BURST_TIMEOUT" -s --parallel --parallel-immediate --parallel-max "$BURST" "${args[@]}"
  WALL_MS=$((CURL_NS / 1000000))
  OK="$(grep -c '^right 200 ' <<<"$CURL_OUT" || true)"
  DENIED="$(grep -c '^\(wrong\|unknown\) 401 ' <<<"$CURL_OUT" || true)"
  BUSY="$(grep -c '^[a-z]* 503 ' <<<"$CURL_OUT" || true)"
  OTHER=$((BURST - OK - DENIED - BUSY))
  if grep -q '^\(wrong\|unknown\) 200 \|^right 401 ' <<<"$CURL_OUT"; then
    echo "a login got the wrong answer (curl exit $CURL_RC):" >&2
    echo "$CURL_OUT" >&2
    exit 1
  fi
  if ((OTHER)); then
    echo "warning: $OTHER of $BURST logins got none of 200, 401 or 503 (curl exit $CURL_RC):" \
      "$(count_each "$(cut -d' ' -f1-2 <<<"$CURL_OUT")")" >&2
    curl_errors >&2
  fi
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

# percentile P VALUES...: the P-th percentile (nearest rank: the smallest
# value with at least P% of the values at or below it).
percentile() {
  local p="$1"
  shift
  printf '%s\n' "$@" | sort -g |
    awk -v p="$p" '{ v[NR] = $1 } END { r = int((p * NR + 99) / 100); if (r < 1) r = 1; print v[r] }'
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
