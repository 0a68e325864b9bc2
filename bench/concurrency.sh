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

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

QUICK=0
case "${1:-}" in
  "") ;;
  --quick) QUICK=1 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

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

cd "$(dirname "$0")/.."
readonly PAGE=book/src/generated/bench-concurrency.md
readonly TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# ------------------------------------------------------------------- tools --

missing=()
for tool in wrk ss curl cargo awk timeout; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "missing: ${missing[*]}" >&2
  echo "on Debian/Ubuntu: apt-get install wrk iproute2 curl" >&2
  exit 1
fi

# Stage 06 is picked up as soon as it exists.
STAGES=(stage-04 stage-05)
[[ -f stages/stage-06/Cargo.toml ]] && STAGES+=(stage-06)

# ----------------------------------------------------------------- cleanup --

SCRATCH="$(mktemp -d)"
SERVER_PID=""
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
  if [[ -n "$WRK_PID" ]]; then stop "$WRK_PID"; fi
  if [[ -n "$SERVER_PID" ]]; then stop "$SERVER_PID"; fi
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- measuring --

# start_server STAGE: starts the release binary on a free port, sets
# SERVER_PID and PORT. stderr (one line per request) goes to /dev/null:
# writing it to a terminal would slow the server down and measure the terminal.
start_server() {
  local stage="$1" out="$SCRATCH/$1.stdout" i
  : >"$out"
  # `timeout` is a backstop: no server outlives the script by more than this.
  env ADDR=127.0.0.1:0 WORKERS="$WORKERS" \
    timeout -k 5 1800 "$TARGET_DIR/release/$stage" >"$out" 2>/dev/null &
  SERVER_PID=$!
  PORT=""
  for ((i = 0; i < 100; i++)); do
    PORT="$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' "$out")"
    [[ -n "$PORT" ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "$stage did not print 'listening on http://127.0.0.1:PORT' within 10 s:" >&2
  cat "$out" >&2
  exit 1
}

# established: the server side of every established connection on PORT,
# one per line, with its TCP details (ss prints them on a second line).
established() {
  ss -Htni state established "( sport = :$PORT )" |
    awk '/^[^ \t]/ { if (r != "") print r; r = $0; next } { r = r " " $0 } END { if (r != "") print r }'
}

# count_unanswered: connections whose request arrived at least
# UNANSWERED_AFTER_MS ago and that have not been sent a single byte.
# ss omits bytes_sent while it is zero; lastrcv is "ms since we last received".
count_unanswered() {
  established | awk -v after="$UNANSWERED_AFTER_MS" '
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

# wait_quiet: after a run, wait (at most 10 s) until the server holds no
# connections, so one run's leftovers don't weigh on the next.
wait_quiet() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -z "$(established)" ]] && return 0
    sleep 0.1
  done
  echo "warning: port $PORT still has connections 10 s after wrk stopped" >&2
}

# to_ms VALUE: wrk's "25.00us" / "7.08ms" / "1.02s" / "1.50m" in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f\n", n }'
}

# run_cell C: one wrk run with C connections, probed at PROBE_AT. Sets
# RPS, P99_MS, ERRORS, UNANSWERED and FRESH ("CODE:SECONDS", "timeout" or
# "error:CURL_EXIT"). Runs in this shell, not a subshell, so that the EXIT
# trap knows WRK_PID and an `exit` here ends the script.
run_cell() {
  local c="$1" wrk_out="$SCRATCH/wrk.out" curl_out rc
  timeout -k 2 $((DURATION + 10)) \
    wrk -t"$WRK_THREADS" -c"$c" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/health" \
    >"$wrk_out" 2>&1 &
  WRK_PID=$!
  sleep "$PROBE_AT"
  # ss first: the fresh client's own connection must not be counted.
  UNANSWERED="$(count_unanswered)"
  rc=0
  curl_out="$(curl -s -o /dev/null -m "$FRESH_TIMEOUT" -w '%{http_code}:%{time_total}' \
    "http://127.0.0.1:$PORT/health")" || rc=$?
  if ((rc == 0)); then FRESH="$curl_out"
  elif ((rc == 28)); then FRESH="timeout"
  else FRESH="error:$rc"
  fi
  rc=0
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  if ((rc != 0)); then
    echo "wrk failed (exit $rc):" >&2
    cat "$wrk_out" >&2
    exit 1
  fi
  local p99
  RPS="$(awk '/^Requests\/sec:/ { print $2 }' "$wrk_out")"
  p99="$(awk '$1 == "99%" { print $2 }' "$wrk_out")"
  # Socket errors (connect, read, write, timeout) and non-2xx/3xx answers.
  ERRORS="$(awk '
    /Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { e += $NF }
    END { print e + 0 }' "$wrk_out")"
  if [[ -z "$RPS" || -z "$p99" ]]; then
    echo "could not read wrk's output:" >&2
    cat "$wrk_out" >&2
    exit 1
  fi
  P99_MS="$(to_ms "$p99")"
  wait_quiet
}

# median VALUES...: the middle value (the lower middle for an even count).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# show_ms MS: "0.105 ms", "7.08 ms", "1020 ms".
show_ms() {
  awk -v v="$1" 'BEGIN {
    if (v < 1) printf "%.3f ms\n", v; else if (v < 100) printf "%.2f ms\n", v; else printf "%.0f ms\n", v }'
}

# show_fresh RESULTS...: one cell for the fresh client over all runs.
show_fresh() {
  local r shown=() timeouts=0 times=() code
  for r in "$@"; do
    case "$r" in
      timeout) timeouts=$((timeouts + 1)) ;;
      error:*) shown+=("curl error ${r#error:}") ;;
      *)
        code="${r%%:*}"
        times+=("$(awk -v s="${r#*:}" 'BEGIN { printf "%.3f\n", s * 1000 }')")
        [[ "$code" == 200 ]] || shown+=("status $code")
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
    text+="**no answer in ${FRESH_TIMEOUT} s**"
    ((timeouts < $#)) && text+=" ($timeouts of $# runs)"
  fi
  ((${#shown[@]})) && text+=" [$(IFS=,; echo "${shown[*]}")]"
  echo "$text"
}

# --------------------------------------------------------------------- main --

started=$SECONDS
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

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
      echo "    C=$c run $run/$RUNS: $RPS req/s, p99 $P99_MS ms, wrk errors $ERRORS," \
        "unanswered $UNANSWERED, fresh client $FRESH" >&2
      rps_runs+=("$RPS") p99_runs+=("$P99_MS") err_runs+=("$ERRORS")
      unanswered_runs+=("$UNANSWERED") fresh_runs+=("$FRESH")
    done
    # How far apart the runs were: (max - min) / median of requests/s.
    spread="$(printf '%s\n' "${rps_runs[@]}" | sort -g |
      awk -v m="$(median "${rps_runs[@]}")" '{ v[NR] = $1 } END { printf "%.0f\n", (v[NR] - v[1]) * 100 / m }')"
    ((spread > max_spread)) && max_spread=$spread
    rows+=("| $stage | $c | $(printf '%.0f' "$(median "${rps_runs[@]}")") |\
 $(show_ms "$(median "${p99_runs[@]}")") | $(median "${err_runs[@]}") |\
 $(median "${unanswered_runs[@]}") of $c | $(show_fresh "${fresh_runs[@]}") |")
  done
  stop "$SERVER_PID"
  SERVER_PID=""
done

# ------------------------------------------------------------------ report --

cpu="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
wrk_version="$(wrk --version 2>&1 | awk 'NR == 1 { print $1, $2; exit }' || true)"
if ((RUNS > 1)); then
  runs_text="Each cell is the median of $RUNS runs (each column separately); in the
least steady cell, requests/s varied by $max_spread% of its median between runs."
else
  runs_text="Each cell is a single run."
fi
commit_text=""
if commit="$(git rev-parse --short HEAD 2>/dev/null)"; then
  commit_text=" at commit $commit"
  [[ -z "$(git status --porcelain -- Cargo.toml Cargo.lock "${STAGES[@]/#/stages/}" 2>/dev/null)" ]] ||
    commit_text+=" (with uncommitted changes to the stages or the Cargo files)"
fi
command_text="bench/concurrency.sh"
((QUICK)) && command_text="bench/concurrency.sh --quick"

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
$(nproc) CPUs ($cpu), Linux $(uname -r), $(rustc --version), $wrk_version;
wrk and the server share the machine; load average before the run: $load_before.
Regenerate with \`$command_text\`.
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
