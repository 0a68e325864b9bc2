#!/usr/bin/env bash
# Password-hashing benchmark for chapters 7 and 9: what one argon2id hash
# costs (`cargo bench -p stage-07 --bench argon2_cost`), and how much memory
# stage 07 takes when a burst of sign-ups arrives at once, with the cap on
# hashes in flight (MAX_CONCURRENT_HASHES=2) and without it (=16, one per
# worker). Then the same for a burst of logins on stage 09 (each one argon2
# check: right password, wrong password or unknown user), and the time of
# one login of each kind, one at a time.
#
# Each run starts a fresh server, reads its resident memory at rest (VmRSS),
# fires BURST requests at once from one `curl --parallel`, then reads its
# peak (VmHWM) and what it still holds (VmRSS). See bench/README.md.
#
# Usage: bench/login-storm.sh                3 runs per configuration, writes both book pages (~30 s)
#        bench/login-storm.sh --quick        1 run, fewer timed hashes, stdout only (~20 s)
#        bench/login-storm.sh --logins-only  only stage 09's logins, writes their page (~10 s);
#                                            add --quick for 1 run and stdout only
#
# All traffic goes to 127.0.0.1. Every server and curl runs under a time
# limit, and the servers are stopped when the script exits.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source bench/lib.sh

QUICK=0 LOGINS_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --logins-only) LOGINS_ONLY=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

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
# Stage 09's logins, in the same three configurations (the defaults first,
# as chapter 9 discusses them). Before each burst, USERS accounts are made one
# at a time (not timed): the burst's right and wrong passwords are theirs.
readonly LOGIN_CONFIGS=(
  "defaults on 2 cores:2:4"
  "cap:2:$BURST"
  "no cap:$WORKERS:$BURST"
)
readonly USERS=16 PASSWORD="correct horse" WRONG_PASSWORD="wrong horse!"
# One login at a time: this many of each kind, timed, after one untimed each.
readonly TIMED_LOGINS=20
# Time limits: one sign-up, the whole burst, and a server's whole life.
readonly REQUEST_TIMEOUT=30 BURST_TIMEOUT=60 SERVER_LIFETIME=600

readonly PAGE=book/src/generated/bench-argon2.md
readonly LOGIN_PAGE=book/src/generated/bench-login.md

require_tools "curl procps" curl cargo awk timeout pgrep od

make_scratch

# ---------------------------------------------------------------- measuring --

# start_server STAGE RUNNING WAITING: starts STAGE's release binary on a
# free port with these caps, waits until it has answered GET /health (so its
# worker threads are running), and sets SERVER_PID (the `timeout` around it),
# PID (the server itself) and PORT. Stage 09 runs in a fresh working folder
# of its own (it keeps its database there, in data/backend.sqlite3) and
# reads its JWT secret from SECRET_FILE.
start_server() {
  local stage="$1" running="$2" waiting="$3" out="$SCRATCH/server.stdout"
  local dir="$PWD" extra=()
  if [[ "$stage" != stage-07 ]]; then
    dir="$(mktemp -d "$SCRATCH/$stage.XXXXXX")"
    extra=(JWT_SECRET_FILE="$SECRET_FILE")
  fi
  launch_server "$stage" "$dir" "$out" "$SERVER_LIFETIME" WORKERS="$WORKERS" "${extra[@]}" \
    MAX_CONCURRENT_HASHES="$running" MAX_WAITING_HASHES="$waiting"
  PORT="$(wait_for_port "$stage" "$out")"
  PID="$(server_process "the server process" "$SERVER_PID")"
  wait_healthy "$stage" "$PORT"
}

# kib FIELD: VmRSS or VmHWM of the server, in KiB.
kib() {
  memory_kib "$PID" "$1"
}

# burst RUN: BURST sign-ups at once, each on its own connection, from one
# curl process (`--parallel-immediate` opens all connections at the start).
# `Connection: close`: otherwise each of curl's connections stays open after
# its answer and holds a worker until the idle timeout, and the burst would
# measure the pool. Sets OK (201s), BUSY (503s), OTHER and WALL_MS.
burst() {
  local run="$1" args=() i
  for ((i = 1; i <= BURST; i++)); do
    ((i > 1)) && args+=(--next)
    args+=(-s -o /dev/null -w '%{http_code}\n' -m "$REQUEST_TIMEOUT"
      -H 'Content-Type: application/json' -H 'Connection: close'
      -d "{\"username\":\"storm-$run-$i\",\"password\":\"correct horse\"}"
      "http://127.0.0.1:$PORT/api/users")
  done
  bounded_curl "$BURST_TIMEOUT" -s --parallel --parallel-immediate --parallel-max "$BURST" "${args[@]}"
  WALL_MS=$((CURL_NS / 1000000))
  OK="$(grep -c '^201$' <<<"$CURL_OUT" || true)"
  BUSY="$(grep -c '^503$' <<<"$CURL_OUT" || true)"
  OTHER=$((BURST - OK - BUSY))
  if ((OTHER)); then
    echo "warning: $OTHER of $BURST sign-ups got neither 201 nor 503 (curl exit $CURL_RC):" \
      "$(count_each "$CURL_OUT")" >&2
    curl_errors >&2
  fi
}

# time_logins: one login at a time on one keep-alive connection: one of each
# kind untimed, then TIMED_LOGINS rounds of right, wrong, unknown. Sets
# LOGIN_MS[KIND] to the times in milliseconds, space-separated; stops the
# script on any answer but 200 for `right` and 401 for the others.
declare -A LOGIN_MS=()
time_logins() {
  local args=() i kind line first=1 code seconds
  for ((i = 0; i <= TIMED_LOGINS; i++)); do
    for kind in right wrong unknown; do
      ((first)) || args+=(--next)
      first=0
      # Users 1..USERS in turn (unknown ones: nobody-1..USERS).
      while IFS= read -r line; do args+=("$line"); done \
        < <(login_args "$kind" $((i % USERS + 1)))
      args+=("http://127.0.0.1:$PORT/api/login")
    done
  done
  bounded_curl "$BURST_TIMEOUT" "${args[@]}"
  LOGIN_MS=([right]="" [wrong]="" [unknown]="")
  i=0
  while read -r kind code seconds; do
    i=$((i + 1))
    case "$kind $code" in
      "right 200" | "wrong 401" | "unknown 401") ;;
      *)
        echo "a login one at a time got '$kind $code' (curl exit $CURL_RC):" >&2
        cat "$SCRATCH/curl.stderr" >&2
        exit 1
        ;;
    esac
    # The first round (3 answers) warms up, and is not counted.
    ((i > 3)) && LOGIN_MS[$kind]+=" $(awk -v s="$seconds" 'BEGIN { printf "%.3f", s * 1000 }')"
  done <<<"$CURL_OUT"
  if ((i != 3 * (TIMED_LOGINS + 1))); then
    echo "expected $((3 * (TIMED_LOGINS + 1))) answers one at a time, got $i (curl exit $CURL_RC)" >&2
    exit 1
  fi
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

# ------------------------------------------------------------ the machine --

glibc="$(ldd --version 2>/dev/null | awk 'NR == 1 { print $NF }' || true)"
machine_text="$(nproc) CPUs ($(cpu_model)), Linux $(uname -r), glibc $glibc, $(rustc --version | cut -d' ' -f1-2)"
if ((RUNS > 1)); then
  runs_text="median of $RUNS runs, each on a fresh server (range in brackets)"
else
  runs_text="one run"
fi

# ---------------------------------------------- chapter 7: stage 07 sign-ups --

signups() {
  local load_before commit_text command_text hash_table rows=() config name running waiting
  local idle_runs peak_runs after_runs ok_runs busy_runs wall_runs run idle peak after
  local in_flight expected
  load_before="$(load_average)"

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

  for config in "${CONFIGS[@]}"; do
    IFS=: read -r name running waiting <<<"$config"
    idle_runs=() peak_runs=() after_runs=() ok_runs=() busy_runs=() wall_runs=()
    for ((run = 1; run <= RUNS; run++)); do
      start_server stage-07 "$running" "$waiting"
      idle="$(kib VmRSS)"
      burst "$run"
      # Right after the last answer: the peak so far, and what is still held.
      peak="$(kib VmHWM)" after="$(kib VmRSS)"
      echo "    $name ($running running, $waiting waiting) run $run/$RUNS:" \
        "$OK × 201, $BUSY × 503 in $WALL_MS ms; RSS idle $idle KiB, peak $peak KiB, after $after KiB" >&2
      stop "$SERVER_PID"
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

  # The frontend does not change what is measured; the code and the Cargo files do.
  commit_text="$(commit_note "stage 07's code or the Cargo files" Cargo.toml Cargo.lock \
    stages/stage-07/Cargo.toml stages/stage-07/src stages/stage-07/benches)"
  command_text="$(regenerate_command)"

  write_page "$PAGE" <<EOF
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

# ------------------------------------------------ chapter 9: stage 09 logins --

# show_median_ms MS...: the median in milliseconds, two decimals.
show_median_ms() {
  awk -v v="$(median "$@")" 'BEGIN { printf "%.2f ms\n", v }'
}

logins() {
  local load_before commit_text command_text rows=() times=() config name running waiting
  local idle_runs peak_runs after_runs ok_runs denied_runs busy_runs wall_runs run idle peak after
  local in_flight expected login_kib kind right_ms ms shown answer hwm_text
  load_before="$(load_average)"

  echo "==> building stage-09 (release) into $TARGET_DIR" >&2
  cargo build --release --locked -p stage-09 >&2
  # Memory per check: stage 09's own constant (`7 * 1024`, in KiB).
  login_kib="$(sed -n 's/^pub const MEMORY_KIB: u32 = \(.*\);$/\1/p' stages/stage-09/src/passwords.rs)"
  if [[ "$login_kib" =~ ^([0-9]+)\ \*\ ([0-9]+)$ ]]; then
    login_kib=$((BASH_REMATCH[1] * BASH_REMATCH[2]))
  fi
  if [[ ! "$login_kib" =~ ^[0-9]+$ ]]; then
    echo "could not read MEMORY_KIB from stages/stage-09/src/passwords.rs" >&2
    exit 1
  fi
  # A JWT secret of 64 characters (stage 09 wants at least 32 bytes).
  SECRET_FILE="$SCRATCH/jwt-secret"
  write_jwt_secret "$SECRET_FILE"

  # Stage 09 hashes its dummy password when it starts, so its peak at rest
  # already holds one block: we reset the peak (`5` to clear_refs, Linux 4.0
  # and later) after reading the RSS at rest, so that it is the burst's.
  hwm_text="reset just before the burst"
  for config in "${LOGIN_CONFIGS[@]}"; do
    IFS=: read -r name running waiting <<<"$config"
    idle_runs=() peak_runs=() after_runs=() ok_runs=() denied_runs=() busy_runs=() wall_runs=()
    for ((run = 1; run <= RUNS; run++)); do
      start_server stage-09 "$running" "$waiting"
      make_users
      idle="$(kib VmRSS)"
      if ! echo 5 2>/dev/null >"/proc/$PID/clear_refs"; then
        echo "warning: cannot reset VmHWM (/proc/$PID/clear_refs); the peak includes start-up" >&2
        hwm_text="**not** reset (this kernel refused), so it includes the dummy hash at start-up"
      fi
      login_burst
      peak="$(kib VmHWM)" after="$(kib VmRSS)"
      echo "    $name ($running running, $waiting waiting) run $run/$RUNS:" \
        "$OK × 200, $DENIED × 401, $BUSY × 503 in $WALL_MS ms;" \
        "RSS idle $idle KiB, peak $peak KiB, after $after KiB" >&2
      stop "$SERVER_PID"
      idle_runs+=("$idle") peak_runs+=("$peak") after_runs+=("$after")
      ok_runs+=("$OK") denied_runs+=("$DENIED") busy_runs+=("$BUSY") wall_runs+=("$WALL_MS")
    done
    in_flight=$((running < WORKERS ? running : WORKERS))
    expected="$(mib $(($(median "${idle_runs[@]}") + in_flight * login_kib)))"
    rows+=("| $name | $running | $waiting | $(median "${ok_runs[@]}") |\
 $(median "${denied_runs[@]}") | $(median "${busy_runs[@]}") | $(median "${wall_runs[@]}") ms |\
 $(show_mib "${idle_runs[@]}") | $(show_mib "${peak_runs[@]}") | $expected | $(show_mib "${after_runs[@]}") |")
  done

  echo "==> one login at a time: $TIMED_LOGINS of each kind" >&2
  start_server stage-09 2 4
  make_users
  time_logins
  stop "$SERVER_PID"
  read -ra ms <<<"${LOGIN_MS[right]}"
  right_ms="$(median "${ms[@]}")"
  for kind in right wrong unknown; do
    read -ra ms <<<"${LOGIN_MS[$kind]}"
    echo "    $kind:${LOGIN_MS[$kind]} (ms)" >&2
    case "$kind" in
      right) shown="right password" answer=200 ;;
      wrong) shown="wrong password" answer=401 ;;
      unknown) shown="unknown user" answer=401 ;;
    esac
    times+=("| $shown | $answer | $(show_median_ms "${ms[@]}") |\
 $(printf '%s\n' "${ms[@]}" | sort -g | awk 'NR == 1 { printf "%.2f ms", $1 }') |\
 $(printf '%s\n' "${ms[@]}" | sort -g | awk '{ v = $1 } END { printf "%.2f ms", v }') |\
 $(awk -v a="$(median "${ms[@]}")" -v b="$right_ms" 'BEGIN { printf "%.2f", a / b }') |")
  done

  commit_text="$(commit_note "stage 09's code or the Cargo files" Cargo.toml Cargo.lock \
    stages/stage-09/Cargo.toml stages/stage-09/src)"
  command_text="bench/login-storm.sh"
  ((LOGINS_ONLY)) && command_text+=" --logins-only"
  ((QUICK)) && command_text+=" --quick"

  write_page "$LOGIN_PAGE" <<EOF
<!-- Generated by \`bench/login-storm.sh\`; do not edit by hand. -->

| configuration | MAX_CONCURRENT_HASHES | MAX_WAITING_HASHES | 200 | 401 | 503 | burst took | RSS at rest | peak RSS | rest + $((login_kib / 1024)) MiB × cap | RSS after |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${rows[@]}")

$BURST logins (\`POST /api/login\`) sent at once by one \`curl --parallel\`, each on its
own connection: $((BURST / 2)) with the right password (\`200\`), $((BURST / 4)) with a wrong one and $((BURST / 4))
for usernames that do not exist (\`401\`), interleaved; each costs one argon2id
check, against a dummy hash for an unknown user. Stage 09's release build with
\`WORKERS=$WORKERS\`, after $USERS sign-ups one at a time (not timed); RSS is \`VmRSS\`
before the burst and after the last answer, peak is \`VmHWM\`, $hwm_text
(stage 09 hashes its dummy password at start-up); $runs_text.

| login | answer | median | min | max | ÷ right password |
|---|---:|---:|---:|---:|---:|
$(printf '%s\n' "${times[@]}")

One login at a time on one keep-alive connection, $TIMED_LOGINS of each kind interleaved
(right, wrong, unknown, right, …) after one untimed of each, to a fresh stage 09
(defaults of 2 cores: 2 running, 4 waiting) holding $USERS users; the time is
curl's \`%{time_total}\`, from sending the request to the last byte of the answer.

Measured on $(date -u +%Y-%m-%d)$commit_text, $machine_text;
load average before the run: $load_before. Regenerate with \`$command_text\`.
EOF
}

# --------------------------------------------------------------------- main --

started=$SECONDS
((LOGINS_ONLY)) || signups
logins
echo "==> done in $((SECONDS - started)) s" >&2
