#!/usr/bin/env bash
# Password-hashing benchmark for chapter 7: what one argon2id hash costs
# (`cargo bench -p stage-07 --bench argon2_cost`), and how much memory stage
# 07 takes when a burst of sign-ups arrives at once, with the cap on hashes
# in flight (MAX_CONCURRENT_HASHES=2) and without it (=16, one per worker).
#
# Each run starts a fresh server, reads its resident memory at rest (VmRSS),
# fires BURST sign-ups at once from one `curl --parallel`, then reads its
# peak (VmHWM) and what it still holds (VmRSS). See bench/README.md.
#
# Usage: bench/login-storm.sh          3 runs per configuration, writes the book page (~20 s)
#        bench/login-storm.sh --quick  1 run, fewer timed hashes, stdout only (~15 s)
#
# All traffic goes to 127.0.0.1. Every server and curl runs under a time
# limit, and the servers are stopped when the script exits.
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

# Sign-ups fired at once, and workers: more workers than the largest cap, so
# the pool is never what limits the hashes in flight.
readonly BURST=32 WORKERS=16
if ((QUICK)); then
  readonly RUNS=1 HASH_RUNS=10
else
  readonly RUNS=3 HASH_RUNS=30
fi
# The configurations: a name, MAX_CONCURRENT_HASHES and MAX_WAITING_HASHES.
# 2 running and 4 waiting are the defaults on a 2-core machine (one per
# core, two per core); we set them explicitly so that the table means the
# same on any machine.
readonly CONFIGS=(
  "cap:2:$BURST"
  "no cap:$WORKERS:$BURST"
  "defaults on 2 cores:2:4"
)
# Time limits: one sign-up, the whole burst, and a server's whole life.
readonly REQUEST_TIMEOUT=30 BURST_TIMEOUT=60 SERVER_LIFETIME=600

cd "$(dirname "$0")/.."
readonly PAGE=book/src/generated/bench-argon2.md
readonly TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
readonly SERVER="$TARGET_DIR/release/stage-07"

# ------------------------------------------------------------------- tools --

missing=()
for tool in curl cargo awk timeout pgrep; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "missing: ${missing[*]}" >&2
  echo "on Debian/Ubuntu: apt-get install curl procps" >&2
  exit 1
fi

# ----------------------------------------------------------------- cleanup --

SCRATCH="$(mktemp -d)"
SERVER_PID=""

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
  if [[ -n "$SERVER_PID" ]]; then stop "$SERVER_PID"; fi
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- measuring --

# start_server RUNNING WAITING: starts the release binary on a free port
# with these caps, waits until it has answered GET /health (so its worker
# threads are running), and sets SERVER_PID (the `timeout` around it), PID
# (the server itself) and PORT. stderr goes to /dev/null.
start_server() {
  local running="$1" waiting="$2" out="$SCRATCH/server.stdout" i
  : >"$out"
  # `timeout` is a backstop: no server outlives the script by more than this.
  env ADDR=127.0.0.1:0 WORKERS="$WORKERS" \
    MAX_CONCURRENT_HASHES="$running" MAX_WAITING_HASHES="$waiting" \
    timeout -k 5 "$SERVER_LIFETIME" "$SERVER" >"$out" 2>/dev/null &
  SERVER_PID=$!
  PORT=""
  for ((i = 0; i < 100; i++)); do
    PORT="$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$|\1|p' "$out")"
    [[ -n "$PORT" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$PORT" ]]; then
    echo "stage-07 did not print 'listening on http://127.0.0.1:PORT' within 10 s:" >&2
    cat "$out" >&2
    exit 1
  fi
  PID="$(pgrep -P "$SERVER_PID" | head -n 1 || true)"
  if [[ -z "$PID" ]]; then
    echo "cannot find the server process under timeout (pid $SERVER_PID)" >&2
    exit 1
  fi
  curl -s -o /dev/null -m 5 --retry 20 --retry-delay 0 --retry-connrefused \
    -H 'Connection: close' "http://127.0.0.1:$PORT/health" ||
    { echo "stage-07 on port $PORT did not answer GET /health" >&2; exit 1; }
}

# kib FIELD: VmRSS or VmHWM of the server, in KiB.
kib() {
  awk -v field="$1:" '$1 == field { print $2; found = 1 } END { exit !found }' "/proc/$PID/status"
}

# burst RUN: BURST sign-ups at once, each on its own connection, from one
# curl process (`--parallel-immediate` opens all connections at the start).
# `Connection: close`: otherwise each of curl's connections stays open after
# its answer and holds a worker until the idle timeout, and the burst would
# measure the pool. Sets OK (201s), BUSY (503s), OTHER and WALL_MS.
burst() {
  local run="$1" args=() i codes rc start end
  for ((i = 1; i <= BURST; i++)); do
    ((i > 1)) && args+=(--next)
    args+=(-s -o /dev/null -w '%{http_code}\n' -m "$REQUEST_TIMEOUT"
      -H 'Content-Type: application/json' -H 'Connection: close'
      -d "{\"username\":\"storm-$run-$i\",\"password\":\"correct horse\"}"
      "http://127.0.0.1:$PORT/api/users")
  done
  start="$(date +%s%N)"
  rc=0
  # curl's stderr to a file: with --parallel it draws a progress meter there.
  codes="$(timeout -k 2 "$BURST_TIMEOUT" curl -s --parallel --parallel-immediate \
    --parallel-max "$BURST" "${args[@]}" 2>"$SCRATCH/curl.stderr")" || rc=$?
  end="$(date +%s%N)"
  WALL_MS=$(((end - start) / 1000000))
  OK="$(grep -c '^201$' <<<"$codes" || true)"
  BUSY="$(grep -c '^503$' <<<"$codes" || true)"
  OTHER=$((BURST - OK - BUSY))
  if ((OTHER)); then
    echo "warning: $OTHER of $BURST sign-ups got neither 201 nor 503 (curl exit $rc):" \
      "$(sort <<<"$codes" | uniq -c | tr -s ' \n' ' ')" >&2
    grep -v '^DL%\|^--' "$SCRATCH/curl.stderr" >&2 || true
  fi
}

# median VALUES...: the middle value (the lower middle for an even count).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# mib KIB: "17.2 MiB".
mib() {
  awk -v k="$1" 'BEGIN { printf "%.1f MiB\n", k / 1024 }'
}

# show_mib KIB...: the median in MiB, and the range when there are several.
show_mib() {
  local text
  text="$(mib "$(median "$@")")"
  if (($# > 1)); then
    text+="$(printf '%s\n' "$@" | sort -g |
      awk '{ v[NR] = $1 } END { printf " (%.1f–%.1f)", v[1] / 1024, v[NR] / 1024 }')"
  fi
  echo "$text"
}

# --------------------------------------------------------------------- main --

started=$SECONDS
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

echo "==> building stage-07 (release) into $TARGET_DIR" >&2
cargo build --release --locked -p stage-07 >&2

echo "==> timing $HASH_RUNS hashes of each kind (cargo bench)" >&2
hash_table="$(cargo bench --locked -p stage-07 --bench argon2_cost -- --markdown --runs "$HASH_RUNS")"
echo "$hash_table" >&2
# Memory per hash with our parameters, from the table's m column.
hash_kib="$(awk -F' *\\| *' '$2 == "hash, our parameters" { print $3 }' <<<"$hash_table")"
if [[ ! "$hash_kib" =~ ^[0-9]+$ ]]; then
  echo "could not read our m (KiB) from the bench's table" >&2
  exit 1
fi

rows=()
for config in "${CONFIGS[@]}"; do
  IFS=: read -r name running waiting <<<"$config"
  idle_runs=() peak_runs=() after_runs=() ok_runs=() busy_runs=() wall_runs=()
  for ((run = 1; run <= RUNS; run++)); do
    start_server "$running" "$waiting"
    idle="$(kib VmRSS)"
    burst "$run"
    # Right after the last answer: the peak so far, and what is still held.
    peak="$(kib VmHWM)" after="$(kib VmRSS)"
    echo "    $name ($running running, $waiting waiting) run $run/$RUNS:" \
      "$OK × 201, $BUSY × 503 in $WALL_MS ms; RSS idle $idle KiB, peak $peak KiB, after $after KiB" >&2
    stop "$SERVER_PID"
    SERVER_PID=""
    idle_runs+=("$idle") peak_runs+=("$peak") after_runs+=("$after")
    ok_runs+=("$OK") busy_runs+=("$BUSY") wall_runs+=("$WALL_MS")
  done
  # What the arithmetic says: the server at rest plus one block per hash
  # that can be in flight (no more than the workers, or the burst).
  in_flight=$((running < WORKERS ? running : WORKERS))
  expected="$(mib $(($(median "${idle_runs[@]}") + in_flight * hash_kib)))"
  rows+=("| $name | $running | $waiting | $(median "${ok_runs[@]}") |\
 $(median "${busy_runs[@]}") | $(median "${wall_runs[@]}") ms | $(show_mib "${idle_runs[@]}") |\
 $(show_mib "${peak_runs[@]}") | $expected | $(show_mib "${after_runs[@]}") |")
done

# ------------------------------------------------------------------ report --

cpu="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
glibc="$(ldd --version 2>/dev/null | awk 'NR == 1 { print $NF }' || true)"
if ((RUNS > 1)); then
  runs_text="median of $RUNS runs, each on a fresh server (range in brackets)"
else
  runs_text="one run"
fi
commit_text=""
if commit="$(git rev-parse --short HEAD 2>/dev/null)"; then
  commit_text=" at commit $commit"
  # The frontend does not change what is measured; the code and the Cargo files do.
  [[ -z "$(git status --porcelain -- Cargo.toml Cargo.lock stages/stage-07/Cargo.toml \
    stages/stage-07/src stages/stage-07/benches 2>/dev/null)" ]] ||
    commit_text+=" (with uncommitted changes to stage 07's code or the Cargo files)"
fi
command_text="bench/login-storm.sh"
((QUICK)) && command_text="bench/login-storm.sh --quick"
machine_text="$(nproc) CPUs ($cpu), Linux $(uname -r), glibc $glibc, $(rustc --version | cut -d' ' -f1-2)"

report() {
  cat <<EOF
<!-- Generated by \`bench/login-storm.sh\`; do not edit by hand. -->

$hash_table

One argon2id hash on one thread, $HASH_RUNS timed after 3 untimed
(\`cargo bench -p stage-07 --bench argon2_cost\`, release profile); *m* is the
memory each hash fills. Like the server, the bench makes glibc return each
block to the OS (\`mallopt\`), so every hash writes fresh pages; the last row
is our hash in a process left at glibc's default, which reuses warm ones. Measured on $(date -u +%Y-%m-%d)$commit_text, $machine_text.
Regenerate with \`$command_text\`.

| configuration | MAX_CONCURRENT_HASHES | MAX_WAITING_HASHES | 201 | 503 | burst took | RSS at rest | peak RSS | rest + $((hash_kib / 1024)) MiB × cap | RSS after |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${rows[@]}")

$BURST sign-ups (\`POST /api/users\`) sent at once by one \`curl --parallel\`, each on
its own connection, to stage 07's release build with \`WORKERS=$WORKERS\`; RSS is
\`VmRSS\` before the burst and after the last answer, peak is \`VmHWM\`; $runs_text.
Measured on $(date -u +%Y-%m-%d)$commit_text, $machine_text;
load average before the run: $load_before. Regenerate with \`$command_text\`.
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
