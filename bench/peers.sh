#!/usr/bin/env bash
# The Measuring chapter's benchmark: our servers side by side with real
# peers, on this machine. The peers (bench/peers/, a Cargo workspace of its
# own) answer GET /api/status and GET /health with the stages' bytes:
# axum (tokio, one worker per core), actix-web (its defaults), the floor (a
# 135-line mio loop per core that only finds `\r\n\r\n` and writes a fixed
# answer) and the ceiling (nginx `return 200`, bench/peers/nginx.conf).
# Within each repetition the servers take turns (each repetition starting
# with the next one), and every cell is the median of the repetitions:
#
#   1. wrk at 8, 64 and 256 keep-alive connections on /api/status:
#      requests/s, p99, the connections left without an answer for 1 s
#      and a fresh client's time (as bench/concurrency.sh does), and the
#      server's peak RSS during the run;
#   2. 10 000 idle keep-alive connections (each has had one answer) held
#      open by `peer-tools hold` while a fresh client is timed 50 times,
#      and the server's RSS then;
#   3. the peak RSS during a burst of 32 logins (servers that have
#      /api/login: our stages from 09), with the server's default caps;
#   4. cold start: from exec to the first 200 on /health (`peer-tools
#      cold-start`), each start in a fresh folder, so our stages create and
#      migrate a new SQLite database;
#   5. the size of the stripped release binary;
#   6. slow clients: slowhttptest's slowloris (-H), slow body (-B) and slow
#      read (-X) with 1 000 connections each, while a fresh client is timed
#      once a second.
#
# Usage: bench/peers.sh [--quick] [SERVER...]
#
#   SERVER   stage-NN or backend (our release binaries, built here with
#            cargo), axum, actix-web, mio-floor, nginx. Default: stage-10
#            and the four peers. Or set OURS="stage-10 stage-11" to keep
#            the peers and change ours.
#   --quick  (or QUICK=1) 1 repetition, shorter runs, prints the page
#            only (~6 min for five servers)
#   REPS=N   repetitions (default 3: ~22 min for five servers)
#
# Needs wrk, slowhttptest, nginx, curl, ss (apt-get install wrk
# slowhttptest nginx-light curl iproute2) and a Rust toolchain. All traffic
# goes to 127.0.0.1; every server, client and attack runs under a time
# limit, and everything still running is stopped when the script exits.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source bench/lib.sh

# ------------------------------------------------------------ command line --

QUICK="${QUICK:-0}"
ARGS=()
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h | --help) usage; exit 0 ;;
    stage-[0-9][0-9] | backend | axum | actix-web | mio-floor | nginx) ARGS+=("$arg") ;;
    *) usage >&2; exit 2 ;;
  esac
done
[[ "$QUICK" == 1 ]] || QUICK=0

readonly PEERS=(axum actix-web mio-floor nginx)
if ((${#ARGS[@]})); then
  SERVERS=("${ARGS[@]}")
else
  read -ra SERVERS <<<"${OURS:-stage-10}"
  SERVERS+=("${PEERS[@]}")
fi
readonly SERVERS

# ---------------------------------------------------------------- settings --

readonly CONNECTIONS=(8 64 256) WRK_THREADS=2
# A connection counts as starved if its request arrived this long ago and
# it has not had a byte back (see bench/concurrency.sh).
readonly UNANSWERED_AFTER_MS=1000
readonly IDLE=10000 SLOW_CONNECTIONS=1000
# Every fresh client in parts 2 and 6 gives up after this many seconds.
readonly PROBE_TIMEOUT=1
# Part 3: BURST logins of USERS users (login_burst, in bench/lib.sh).
readonly BURST=32 USERS=16 PASSWORD="correct horse" WRONG_PASSWORD="wrong horse!"
readonly REQUEST_TIMEOUT=30 BURST_TIMEOUT=60
# No server outlives the script by more than this.
readonly SERVER_LIFETIME=900
if ((QUICK)); then
  REPS="${REPS:-1}"
  readonly DURATION=4 PROBE_AT=1.5 FRESH_TIMEOUT=1.5
  readonly IDLE_PROBES=20 IDLE_READY_AFTER=5 COLD_STARTS=5 SLOW_SECONDS=8
else
  REPS="${REPS:-3}"
  readonly DURATION=6 PROBE_AT=2 FRESH_TIMEOUT=3
  readonly IDLE_PROBES=50 IDLE_READY_AFTER=10 COLD_STARTS=10 SLOW_SECONDS=15
fi
[[ "$REPS" =~ ^[1-9]$ ]] || { echo "REPS must be 1 to 9" >&2; exit 2; }
readonly REPS

readonly PAGE=book/src/generated/bench-peers.md
readonly PEERS_MANIFEST=bench/peers/Cargo.toml
readonly PEERS_TARGET="$PWD/bench/peers/target"

require_tools "wrk slowhttptest nginx-light curl iproute2 procps" \
  wrk slowhttptest nginx curl ss pgrep cargo awk timeout
# 10 000 held connections, and some for everything else, in the server and
# in the holder.
raise_open_files $((IDLE + 1000))

make_scratch

# ------------------------------------------------------------------ servers --

# is_ours NAME: true for our own servers (release binaries of the main
# workspace), false for the peers.
is_ours() {
  [[ "$1" == stage-* || "$1" == backend ]]
}

# binary_of NAME: the file that runs as NAME.
binary_of() {
  case "$1" in
    nginx) command -v nginx ;;
    axum | actix-web | mio-floor) echo "$PEERS_TARGET/release/peer-$1" ;;
    *) echo "$TARGET_DIR/release/$1" ;;
  esac
}

# server_command NAME DIR PORT: sets COMMAND to the variables and the
# command line that start NAME on 127.0.0.1:PORT with DIR as its working
# folder (where our stages keep their database, and nginx everything).
server_command() {
  local name="$1" dir="$2" port="$3" binary
  binary="$(binary_of "$name")"
  case "$name" in
    nginx)
      sed "s/listen 127\.0\.0\.1:8090;/listen 127.0.0.1:$port;/" bench/peers/nginx.conf >"$dir/nginx.conf"
      COMMAND=("$binary" -p "$dir/" -c nginx.conf -e stderr -g 'daemon off;')
      ;;
    axum | actix-web | mio-floor) COMMAND=(ADDR="127.0.0.1:$port" "$binary") ;;
    *) COMMAND=(ADDR="127.0.0.1:$port" JWT_SECRET_FILE="$SECRET_FILE" "$binary") ;;
  esac
}

# start NAME: starts NAME on a free port in a fresh folder of its own,
# waits until it answers GET /health, and sets PORT, URL (its /api/status),
# SERVER_PID (the `timeout` around it), PID (the server itself; nginx's
# master) and LOG (its stderr).
start() {
  local name="$1" dir
  dir="$(mktemp -d "$SCRATCH/$name.XXXXXX")"
  PORT="$(free_port)"
  LOG="$dir/stderr.log"
  server_command "$name" "$dir" "$PORT"
  launch_program "$dir" "$LOG" "$SERVER_LIFETIME" "${COMMAND[@]}"
  wait_listening "$name" "$PORT" "$LOG"
  PID="$(server_process "$name" "$SERVER_PID")"
  wait_healthy "$name" "$PORT"
  URL="http://127.0.0.1:$PORT/api/status"
}

# stop_server: stops the server that `start` started (TERM, and KILL after
# 5 s), and then any of its processes still left (nginx's workers, or a
# server whose `timeout` had to be killed).
stop_server() {
  local pids pid
  pids="$(process_tree "$SERVER_PID")"
  stop "$SERVER_PID"
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
}

# check_answers NAME: stops the script unless NAME answers GET /api/status
# with 200, application/json and the service's JSON, and GET /health with
# 200 and "ok" (the floor answers every request with its /api/status
# answer, so only the status is checked there).
check_answers() {
  local name="$1" answer
  answer="$(curl -s -m 5 -w '\n%{http_code} %{content_type}' "$URL")"
  if [[ "$answer" != '{"service":"from-socket-to-ship",'*$'}\n200 application/json' ]]; then
    echo "$name: GET /api/status answered:" >&2
    echo "$answer" >&2
    exit 1
  fi
  answer="$(curl -s -m 5 -w '%{http_code}' "http://127.0.0.1:$PORT/health")"
  if [[ "$answer" != $'ok\n200' && ! ("$name" == mio-floor && "$answer" == *200) ]]; then
    echo "$name: GET /health answered: $answer" >&2
    exit 1
  fi
}

# -------------------------------------------------------------- sampling --

# now_us: the time, in microseconds since the epoch.
now_us() {
  local t="$EPOCHREALTIME"
  echo "${t/./}"
}

# sample_rss_until DEADLINE_US [WHILE_PID]: reads the server's RSS (all its
# processes) every 0.1 s until DEADLINE_US (or WHILE_PID has ended), and
# keeps the largest in RSS_MAX.
sample_rss_until() {
  local rss
  while (($(now_us) < $1)); do
    [[ -n "${2:-}" ]] && ! kill -0 "$2" 2>/dev/null && break
    rss="$(tree_rss_kib "$PID")"
    ((rss > RSS_MAX)) && RSS_MAX=$rss
    sleep 0.1
  done
}

# fresh_ms: FRESH (from fresh_client) as "CODE MILLISECONDS", or "timeout",
# or "error".
fresh_ms() {
  case "$FRESH" in
    timeout) echo timeout ;;
    error:*) echo error ;;
    *) awk -v r="$FRESH" 'BEGIN { split(r, f, ":"); printf "%s %.3f\n", f[1], f[2] * 1000 }' ;;
  esac
}

# probe_outcome: the last fresh client's outcome in one word: its status
# ("200", "503"), "none" (no answer in time) or "error" (refused, reset).
probe_outcome() {
  case "$FRESH" in
    timeout) echo none ;;
    error:*) echo error ;;
    *) echo "${FRESH%%:*}" ;;
  esac
}

# tally "OUTCOMES": the outcomes other than 200 in a space-separated list of
# probe_outcome's words, counted: "7 × 503, 2 × no answer", or "—".
tally() {
  local words
  read -ra words <<<"$1"
  ((${#words[@]})) || { echo "—"; return 0; }
  printf '%s\n' "${words[@]}" | { grep -v '^200$' || true; } | sort | uniq -c |
    awk '{ w = $2; if (w == "none") w = "no answer"; else if (w == "error") w = "connection error"
           printf "%s%d × %s", (NR > 1 ? ", " : ""), $1, w }
         END { if (NR == 0) printf "—" }'
}

# med "VALUES": the median of a space-separated list.
med() {
  local values
  read -ra values <<<"$1"
  median "${values[@]}"
}

# mib KIB: "17.2 MiB".
mib() {
  awk -v k="$1" 'BEGIN { printf "%.1f MiB\n", k / 1024 }'
}

# ---------------------------------------------- 1. keep-alive load (wrk) --

declare -A RPS=() P99=() ERRS=() STARVED=() FRESHES=() RSS_LOAD=()

# wrk_cell C: one wrk run with C connections on /api/status; at PROBE_AT,
# the starved connections (ss) and a fresh client; the server's RSS every
# 0.1 s throughout. Runs in this shell (not a subshell), as in
# concurrency.sh.
wrk_cell() {
  local c="$1" started
  started="$(now_us)"
  RSS_MAX=0
  start_wrk "$DURATION" -t"$WRK_THREADS" -c"$c" -d"${DURATION}s" --latency "$URL"
  sample_rss_until "$(awk -v s="$started" -v p="$PROBE_AT" 'BEGIN { printf "%d", s + p * 1e6 }')"
  # ss first: the fresh client's own connection must not be counted.
  UNANSWERED="$(count_unanswered "$PORT" "$UNANSWERED_AFTER_MS")"
  fresh_client "$FRESH_TIMEOUT" "$URL"
  sample_rss_until $((started + (DURATION + 12) * 1000000)) "$WRK_PID"
  finish_wrk
  read_wrk
  ERRORS=$((WRK_SOCKET_ERRORS + WRK_NON_2XX))
  wait_quiet "$NAME" "$PORT"
}

measure_load() {
  local c key
  start "$NAME"
  ((REP > 1)) || check_answers "$NAME"
  for c in "${CONNECTIONS[@]}"; do
    wrk_cell "$c"
    echo "    $NAME C=$c: $WRK_RPS req/s, p99 $WRK_P99_MS ms, errors $ERRORS," \
      "starved $UNANSWERED, fresh client $FRESH, peak RSS $RSS_MAX KiB" >&2
    key="$NAME|$c"
    RPS[$key]+=" $WRK_RPS" P99[$key]+=" $WRK_P99_MS" ERRS[$key]+=" $ERRORS"
    STARVED[$key]+=" $UNANSWERED" FRESHES[$key]+=" $FRESH" RSS_LOAD[$key]+=" $RSS_MAX"
  done
  stop_server
}

# -------------------------------------- 2. 10 000 idle keep-alive connections --

declare -A IDLE_HELD=() IDLE_OTHER=() IDLE_OPEN=() IDLE_P50=() IDLE_P99=() IDLE_OK=()
declare -A IDLE_OUTCOMES=() IDLE_RSS=() IDLE_REST=() IDLE_CLOSED_NOTE=()

# field LINE NAME: the value of NAME=VALUE in LINE (0 if absent).
field() {
  awk -v name="$2" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) { print kv[2]; found = 1 } } }
    END { if (!found) print 0 }' <<<"$1"
}

measure_idle() {
  local out holder ready="" i rest rss open times=() r code ms non200=0 timeouts=0 other
  start "$NAME"
  rest="$(tree_rss_kib "$PID")"
  out="$SCRATCH/holder.out"
  : >"$out"
  timeout -k 2 $((IDLE_READY_AFTER + IDLE_PROBES * PROBE_TIMEOUT + 60)) \
    "$PEERS_TARGET/release/peer-tools" hold "127.0.0.1:$PORT" "$IDLE" "$IDLE_READY_AFTER" \
    $((IDLE_READY_AFTER + IDLE_PROBES * PROBE_TIMEOUT + 30)) >"$out" 2>"$SCRATCH/holder.err" &
  holder=$!
  RUNNING[$holder]=1
  for ((i = 0; i < (IDLE_READY_AFTER + 10) * 10; i++)); do
    ready="$(sed -n 's/^ready: //p' "$out")"
    [[ -n "$ready" ]] && break
    kill -0 "$holder" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$ready" ]]; then
    echo "$NAME: the holder did not get ready:" >&2
    cat "$out" "$SCRATCH/holder.err" >&2
    exit 1
  fi
  for ((i = 0; i < IDLE_PROBES; i++)); do
    fresh_client "$PROBE_TIMEOUT" "$URL"
    IDLE_OUTCOMES[$NAME]+=" $(probe_outcome)"
    r="$(fresh_ms)"
    case "$r" in
      timeout | error) timeouts=$((timeouts + 1)) ;;
      *)
        read -r code ms <<<"$r"
        if [[ "$code" == 200 ]]; then times+=("$ms"); else non200=$((non200 + 1)); fi
        ;;
    esac
  done
  rss="$(tree_rss_kib "$PID")"
  open="$(ss -Htn state established "( sport = :$PORT )" | wc -l)"
  stop "$holder"
  echo "    $NAME: holder $ready; $((${#times[@]})) of $IDLE_PROBES fresh clients got 200" \
    "($non200 other answers, $timeouts without one in ${PROBE_TIMEOUT} s); open after them $open;" \
    "RSS $rest KiB at rest, $rss KiB with them" >&2
  IDLE_HELD[$NAME]+=" $(field "$ready" held)"
  other="$(($(field "$ready" closed_after_answer) + $(field "$ready" closed_unanswered)))"
  IDLE_OTHER[$NAME]+=" $other/$(field "$ready" unanswered)/$(($(field "$ready" failed) + $(field "$ready" not_opened)))"
  # What the closed ones had been answered, as "503:9744" (the last
  # repetition's; "-" for none), and how many had had no answer.
  IDLE_CLOSED_NOTE[$NAME]="$(field "$ready" closed_by_status)"
  if (($(field "$ready" closed_unanswered))); then
    IDLE_CLOSED_NOTE[$NAME]+=", $(field "$ready" closed_unanswered) unanswered"
  fi
  IDLE_OPEN[$NAME]+=" $open" IDLE_RSS[$NAME]+=" $rss" IDLE_REST[$NAME]+=" $rest"
  IDLE_OK[$NAME]+=" ${#times[@]}"
  if ((${#times[@]})); then
    IDLE_P50[$NAME]+=" $(percentile 50 "${times[@]}")" IDLE_P99[$NAME]+=" $(percentile 99 "${times[@]}")"
  fi
  stop_server
}

# -------------------------------------------------------- 3. a login storm --

declare -A STORM_PEAK=() STORM_REST=() STORM_ANSWERS=()

# has_logins: true if the server just started knows POST /api/login (it
# answers an empty JSON object with something else than 404 or 405).
has_logins() {
  local code
  code="$(curl -s -o /dev/null -m 5 -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{}' "http://127.0.0.1:$PORT/api/login" || true)"
  [[ "$code" != 404 && "$code" != 405 && "$code" != 000 ]]
}

measure_storm() {
  local rest peak
  start "$NAME"
  if has_logins; then
    make_users
    rest="$(memory_kib "$PID" VmRSS)"
    # The peak since now: the burst's, not the start-up's (login-storm.sh).
    if ! echo 5 2>/dev/null >"/proc/$PID/clear_refs"; then
      echo "warning: cannot reset VmHWM of $NAME; its peak includes start-up" >&2
    fi
    login_burst
    peak="$(memory_kib "$PID" VmHWM)"
    echo "    $NAME: $BURST logins: $OK × 200, $DENIED × 401, $BUSY × 503 in $WALL_MS ms;" \
      "RSS $rest KiB before, peak $peak KiB" >&2
    STORM_REST[$NAME]+=" $rest" STORM_PEAK[$NAME]+=" $peak"
    STORM_ANSWERS[$NAME]+=" $OK/$DENIED/$BUSY"
  else
    echo "    $NAME: no POST /api/login" >&2
  fi
  stop_server
}

# ------------------------------------------------------------ 4. cold start --

declare -A COLD=()

measure_cold() {
  local i dir port us
  for ((i = 0; i < COLD_STARTS; i++)); do
    dir="$(mktemp -d "$SCRATCH/cold-$NAME.XXXXXX")"
    port="$(free_port)"
    server_command "$NAME" "$dir" "$port"
    us="$(cd "$dir" && timeout -k 2 30 "$PEERS_TARGET/release/peer-tools" cold-start \
      "127.0.0.1:$port" /health -- "${COMMAND[@]}" 2>>"$dir/stderr.log")" ||
      { echo "$NAME: cold start failed:" >&2; cat "$dir/stderr.log" >&2; exit 1; }
    COLD[$NAME]+=" $us"
    rm -rf "$dir"
  done
  echo "    $NAME: cold starts (µs):${COLD[$NAME]}" >&2
}

# ------------------------------------------------------------ 6. slow clients --

readonly SLOW_MODES=(H B X)
declare -A SLOW_HELD=() SLOW_OK=() SLOW_MAX=() SLOW_PROBES=() SLOW_OUTCOMES=()

# slow_arguments MODE: slowhttptest's arguments for MODE, besides the common
# ones: slowloris sends one more header line every 5 s and never ends the
# head; slow body announces 8 KiB of POST body and sends a little every
# 5 s; slow read asks for the answer 3 times on each connection and reads
# 32 bytes every 5 s through a window of at most 64 bytes.
slow_arguments() {
  case "$1" in
    H) echo "-H -i 5 -x 24" ;;
    B) echo "-B -i 5 -x 24 -s 8192" ;;
    X) echo "-X -k 3 -n 5 -w 16 -y 64 -z 32" ;;
  esac
}

measure_slow() {
  local mode="$1" attack started t probe_at r code ms answered=0 slowest=0 probes=0 held arguments
  start "$NAME"
  read -ra arguments <<<"$(slow_arguments "$mode")"
  timeout -k 2 $((SLOW_SECONDS + 15)) slowhttptest "${arguments[@]}" -c "$SLOW_CONNECTIONS" \
    -r "$SLOW_CONNECTIONS" -l "$SLOW_SECONDS" -p 3 -u "$URL" -g -o "$SCRATCH/slow" \
    >"$SCRATCH/slow.out" 2>&1 &
  attack=$!
  RUNNING[$attack]=1
  started="$(now_us)"
  # One fresh client a second, from the second second to the end.
  for ((t = 1; t < SLOW_SECONDS; t++)); do
    probe_at=$((started + t * 1000000))
    while (($(now_us) < probe_at)); do sleep 0.05; done
    fresh_client "$PROBE_TIMEOUT" "$URL"
    SLOW_OUTCOMES[$NAME|$mode]+=" $(probe_outcome)"
    r="$(fresh_ms)"
    probes=$((probes + 1))
    if [[ "$r" != timeout && "$r" != error ]]; then
      read -r code ms <<<"$r"
      if [[ "$code" == 200 ]]; then
        answered=$((answered + 1))
        slowest="$(awk -v a="$slowest" -v b="$ms" 'BEGIN { print (b > a ? b : a) }')"
      fi
    fi
  done
  wait "$attack" || true
  unset "RUNNING[$attack]"
  # slowhttptest's own count, once a second: the most connections it had
  # open at once (column 4 of its CSV, "connected").
  held="$(awk -F, 'NR > 1 && $4 + 0 > m { m = $4 + 0 } END { print m + 0 }' "$SCRATCH/slow.csv" 2>/dev/null || echo 0)"
  echo "    $NAME -$mode: slowhttptest held up to $held connections;" \
    "$answered of $probes fresh clients got 200 within ${PROBE_TIMEOUT} s, slowest $slowest ms" >&2
  SLOW_HELD[$NAME|$mode]+=" $held" SLOW_OK[$NAME|$mode]+=" $answered"
  SLOW_PROBES[$NAME|$mode]+=" $probes"
  ((answered == 0)) || SLOW_MAX[$NAME|$mode]+=" $slowest"
  rm -f "$SCRATCH"/slow.*
  stop_server
}

# --------------------------------------------------------------------- main --

started=$SECONDS
load_before="$(load_average)"

ours=()
for name in "${SERVERS[@]}"; do is_ours "$name" && ours+=("$name"); done
if ((${#ours[@]})); then
  echo "==> building ${ours[*]} (release) into $TARGET_DIR" >&2
  build_args=()
  for name in "${ours[@]}"; do build_args+=(-p "$name"); done
  nice -n 10 cargo build --release --locked "${build_args[@]}" >&2
fi
echo "==> building the peers (release) into $PEERS_TARGET" >&2
nice -n 10 cargo build --release --locked --manifest-path "$PEERS_MANIFEST" >&2

SECRET_FILE="$SCRATCH/jwt-secret"
write_jwt_secret "$SECRET_FILE"

# in_turn REP: the servers, starting with the REP-th (so that no server is
# always the first or the last of a repetition).
in_turn() {
  local n=${#SERVERS[@]} i
  for ((i = 0; i < n; i++)); do echo "${SERVERS[(i + $1 - 1) % n]}"; done
}

for ((REP = 1; REP <= REPS; REP++)); do
  mapfile -t ORDER < <(in_turn "$REP")
  echo "==> repetition $REP of $REPS: ${ORDER[*]} ($((SECONDS - started)) s so far)" >&2
  echo "  -> keep-alive load" >&2
  for NAME in "${ORDER[@]}"; do measure_load; done
  echo "  -> $IDLE idle connections" >&2
  for NAME in "${ORDER[@]}"; do measure_idle; done
  echo "  -> a burst of $BURST logins" >&2
  for NAME in "${ORDER[@]}"; do
    if is_ours "$NAME"; then measure_storm; fi
  done
  echo "  -> cold start" >&2
  for NAME in "${ORDER[@]}"; do measure_cold; done
  for mode in "${SLOW_MODES[@]}"; do
    echo "  -> slowhttptest -$mode" >&2
    for NAME in "${ORDER[@]}"; do measure_slow "$mode"; done
  done
done

# ------------------------------------------------------------------ report --

# cell_ratio NAME C OTHER: NAME's median requests/s over OTHER's at C
# connections, or "—" if OTHER was not measured.
cell_ratio() {
  if [[ -n "${RPS[$3|$2]:-}" ]]; then
    ratio "$(med "${RPS[$1|$2]}")" "$(med "${RPS[$3|$2]}")"
  else
    echo "—"
  fi
}

load_rows=()
for c in "${CONNECTIONS[@]}"; do
  for name in "${SERVERS[@]}"; do
    key="$name|$c"
    read -ra fresh_runs <<<"${FRESHES[$key]}"
    load_rows+=("| $name | $c | $(printf '%.0f' "$(med "${RPS[$key]}")") |\
 $(cell_ratio "$name" "$c" nginx) | $(cell_ratio "$name" "$c" actix-web) |\
 $(show_ms "$(med "${P99[$key]}")") | $(med "${ERRS[$key]}") | $(med "${STARVED[$key]}") of $c |\
 $(show_fresh "$FRESH_TIMEOUT" "${fresh_runs[@]}") | $(mib "$(med "${RSS_LOAD[$key]}")") |")
  done
done

idle_rows=()
for name in "${SERVERS[@]}"; do
  read -ra oks <<<"${IDLE_OK[$name]}"
  ok_total=0
  for n in "${oks[@]}"; do ok_total=$((ok_total + n)); done
  if [[ -n "${IDLE_P50[$name]:-}" ]]; then
    p50="$(show_ms "$(med "${IDLE_P50[$name]}")")" p99="$(show_ms "$(med "${IDLE_P99[$name]}")")"
  else
    p50="—" p99="—"
  fi
  # closed/unanswered/failed of the repetition whose "held" is the median
  # is close enough; show each part's median.
  read -ra others <<<"${IDLE_OTHER[$name]}"
  closed=() waiting=() failed=()
  for o in "${others[@]}"; do
    IFS=/ read -r a b f <<<"$o"
    closed+=("$a") waiting+=("$b") failed+=("$f")
  done
  closed_text="$(median "${closed[@]}")"
  [[ "${IDLE_CLOSED_NOTE[$name]}" == - ]] || closed_text+=" (${IDLE_CLOSED_NOTE[$name]})"
  idle_rows+=("| $name | $(med "${IDLE_HELD[$name]}") | $closed_text |\
 $(median "${waiting[@]}") | $(median "${failed[@]}") |\
 $(med "${IDLE_OPEN[$name]}") | $p50 | $p99 | $ok_total of $((REPS * IDLE_PROBES)) |\
 $(tally "${IDLE_OUTCOMES[$name]}") |\
 $(mib "$(med "${IDLE_REST[$name]}")") | **$(mib "$(med "${IDLE_RSS[$name]}")")** |")
done

summary_rows=()
for name in "${SERVERS[@]}"; do
  if [[ -n "${STORM_PEAK[$name]:-}" ]]; then
    read -ra answers <<<"${STORM_ANSWERS[$name]}"
    answers_text="$(IFS=,; echo "${answers[*]}")"
    storm="$(mib "$(med "${STORM_PEAK[$name]}")") (at rest $(mib "$(med "${STORM_REST[$name]}")");\
 200/401/503 in each repetition: ${answers_text//,/, })"
  else
    storm="n/a (no /api/login)"
  fi
  read -ra colds <<<"${COLD[$name]}"
  cold_ms=()
  for us in "${colds[@]}"; do cold_ms+=("$(awk -v u="$us" 'BEGIN { printf "%.3f", u / 1000 }')"); done
  range="$(printf '%s\n' "${cold_ms[@]}" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f–%.2f", v[1], v[NR] }')"
  binary="$(binary_of "$name")"
  bytes="$(stat -c %s "$binary")"
  size="$bytes ($(awk -v b="$bytes" 'BEGIN { printf "%.2f MB", b / 1e6 }'))"
  [[ "$name" == nginx ]] && size+=", plus shared libraries"
  summary_rows+=("| $name | $(mib "$(med "${RSS_LOAD[$name|256]}")") | $storm |\
 $(awk -v m="$(median "${cold_ms[@]}")" 'BEGIN { printf "%.2f ms", m }') ($range) | $size |")
done

slow_rows=()
for mode in "${SLOW_MODES[@]}"; do
  case "$mode" in
    H) attack="slowloris (-H)" ;;
    B) attack="slow body (-B)" ;;
    X) attack="slow read (-X)" ;;
  esac
  for name in "${SERVERS[@]}"; do
    key="$name|$mode"
    read -ra oks <<<"${SLOW_OK[$key]}"
    read -ra probes <<<"${SLOW_PROBES[$key]}"
    ok_total=0 probe_total=0
    for n in "${oks[@]}"; do ok_total=$((ok_total + n)); done
    for n in "${probes[@]}"; do probe_total=$((probe_total + n)); done
    slowest="—"
    [[ -z "${SLOW_MAX[$key]:-}" ]] || slowest="$(show_ms "$(med "${SLOW_MAX[$key]}")")"
    slow_rows+=("| $name | $attack | $(med "${SLOW_HELD[$key]}") | $ok_total of $probe_total |\
 $slowest | $(tally "${SLOW_OUTCOMES[$key]}") |")
  done
done

if ((REPS > 1)); then
  runs_text="Each cell is the median of $REPS repetitions (each column separately) unless it says otherwise"
else
  runs_text="Each cell is a single repetition"
fi
commit_text="$(commit_note "the servers or the Cargo files" Cargo.toml Cargo.lock \
  "${ours[@]/#/stages/}" bench/peers)"
command_text="bench/peers.sh"
default_reps=3
if ((QUICK)); then default_reps=1 command_text+=" --quick"; fi
if ((REPS != default_reps)); then command_text="REPS=$REPS $command_text"; fi
if ((${#ARGS[@]})); then
  command_text+=" ${ARGS[*]}"
elif [[ -n "${OURS:-}" ]]; then
  command_text="OURS=\"$OURS\" $command_text"
fi
glibc="$(ldd --version 2>/dev/null | awk 'NR == 1 { print $NF }' || true)"

report() {
  cat <<EOF
<!-- Generated by \`bench/peers.sh\`; do not edit by hand. -->

Our servers (${ours[*]:-none}) and the peers: axum $(cargo_version axum), actix-web $(cargo_version actix-web)
(both with their defaults: one worker thread per core), the floor (a mio loop per core
that answers every \`\r\n\r\n\` with the same bytes) and nginx $(nginx_version) \`return 200\`
(\`worker_processes auto\`, \`access_log off\`). Every server runs its release build on
127.0.0.1 with its default settings, its stdout to \`/dev/null\` (where stage 10 writes its
access log). $runs_text; within a repetition the servers take turns, each repetition
starting with the next one. RSS is \`VmRSS\` of the server's processes added up (nginx: the
master and its workers, so the pages they share count more than once). nginx runs with
\`worker_connections 16384\` (its default, 512 per worker, cannot hold 10 000 connections), and
each worker sets up its connection and event tables for all of them when it starts: about
6 MiB of each worker's RSS at rest, which \`worker_connections 1024\` would not take.

#### Keep-alive load

| server | connections | requests/s | ÷ nginx | ÷ actix-web | p99 | wrk errors | connections unanswered for ≥ $((UNANSWERED_AFTER_MS / 1000)) s (at ${PROBE_AT} s) | a fresh client (at ${PROBE_AT} s) | peak RSS |
|---|---:|---:|---:|---:|---:|---:|---:|---|---:|
$(printf '%s\n' "${load_rows[@]}")

\`wrk -t$WRK_THREADS -cC -d${DURATION}s --latency http://127.0.0.1:PORT/api/status\`, one server process
per repetition for the three connection counts. The ratios are of the medians. *wrk
errors* counts socket errors and answers other than 2xx/3xx. ${PROBE_AT} s into the run, \`ss -tni\`
counts wrk's connections that sent a request at least $((UNANSWERED_AFTER_MS / 1000)) s earlier and have had no byte
back, and one more client's \`curl\` for /api/status is timed (given up after ${FRESH_TIMEOUT} s).
*peak RSS*: the largest of the samples taken every 0.1 s during the run.

#### $IDLE idle keep-alive connections

| server | held open after an answer | closed by the server (the answer they had) | no answer yet | could not connect | still open after the probes | fresh client p50 | fresh client p99 | fresh clients answered 200 within ${PROBE_TIMEOUT} s | the other fresh clients | RSS before | RSS with them open |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|
$(printf '%s\n' "${idle_rows[@]}")

\`peer-tools hold\` (bench/peers/tools) opens $IDLE connections, at most 128 on their way at a
time (one that has waited 1 s for its answer no longer counts), sends \`GET /api/status\` on each
and reads the answer, then holds them idle. Once all have an answer, or after ${IDLE_READY_AFTER} s, $IDLE_PROBES fresh clients (\`curl -m $PROBE_TIMEOUT\`) ask for /api/status one after
another; then \`ss\` counts the server's connections still open and the server's RSS is read.
p50 and p99 are over the answers with status 200 of each repetition (with $IDLE_PROBES probes, p99 is the
slowest), medians over the repetitions; *answered* adds the repetitions up. actix-web and
our stages close idle connections after 5 s, later than the probes end, so here they do
not; our stages before stage 11 cap connections (\`MAX_CONNECTIONS=256\`, a \`503\` beyond it),
which shows.

#### Memory under load, start-up, size

| server | peak RSS at 256 connections | peak RSS in a burst of $BURST logins | cold start: exec to the first 200, median (range) | stripped binary, bytes |
|---|---:|---|---:|---:|
$(printf '%s\n' "${summary_rows[@]}")

*Logins*: for servers with \`POST /api/login\`, $USERS sign-ups one at a time, then $BURST logins at once (half with
the right password, a quarter wrong, a quarter for unknown users; \`login_burst\` in
bench/lib.sh, as bench/login-storm.sh) with the server's default caps on hashing; the peak is
\`VmHWM\`, reset just before the burst. *Cold start*: \`peer-tools cold-start\` starts the server,
connects every 0.1 ms and sends \`GET /health\` until it gets a 200; $COLD_STARTS starts per repetition,
each in a fresh folder (so our stages create and migrate a new SQLite database each time),
median and range of all $((COLD_STARTS * REPS)). *Binary*: the release build (LTO, one codegen unit,
stripped; the peers also \`panic = "abort"\`); every one links glibc dynamically.

#### Slow clients

| server | attack | connections slowhttptest held (max) | fresh clients answered 200 within ${PROBE_TIMEOUT} s | slowest of those | the other fresh clients |
|---|---|---:|---:|---:|---|
$(printf '%s\n' "${slow_rows[@]}")

\`slowhttptest -c $SLOW_CONNECTIONS -r $SLOW_CONNECTIONS -l $SLOW_SECONDS -u http://127.0.0.1:PORT/api/status\` with \`$(slow_arguments H)\`
(slowloris: the head never ends), \`$(slow_arguments B)\` (a POST body announced and sent a
little at a time) or \`$(slow_arguments X)\` (slow read), against a fresh server each time. Once a
second from the first second, one fresh client's \`curl -m $PROBE_TIMEOUT\` for /api/status; the table adds the
repetitions up, and shows the median over them of the slowest answer.

Measured on $(date -u +%Y-%m-%d)$commit_text:
$(nproc) CPUs ($(cpu_model)), Linux $(uname -r), glibc $glibc, $(rustc --version | cut -d' ' -f1-2),
$(wrk_version), slowhttptest $(slowhttptest_version); the load generators and the server share the machine;
load average before the run: $load_before. The whole run took $(((SECONDS - started + 30) / 60)) min.
Regenerate with \`$command_text\`.
EOF
}

# cargo_version CRATE: the version of CRATE in bench/peers/Cargo.lock.
cargo_version() {
  awk -v name="$1" '$1 == "name" && $3 == "\"" name "\"" { getline; gsub(/"/, "", $3); print $3; exit }' \
    bench/peers/Cargo.lock
}

# nginx_version: "1.22.1".
nginx_version() {
  nginx -v 2>&1 | sed -n 's|^nginx version: nginx/||p'
}

# slowhttptest_version: "1.8.2".
slowhttptest_version() {
  slowhttptest -h 2>&1 | sed -n 's/.* - version \([0-9.]*\).*/\1/p' | head -n 1
}

report | write_page "$PAGE"
echo "==> done in $((SECONDS - started)) s" >&2
