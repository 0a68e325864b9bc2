# shellcheck shell=bash
# What the test scripts in tests/browser/ and tests/jwt/ have in common:
# checking for the tools they need, installing their npm packages, starting a
# stage's binary on a free port and stopping it again. Each script sources it
# once it has changed to the repository root:
#
#   cd "$(dirname "$0")/../.."
#   # shellcheck source-path=SCRIPTDIR/../..
#   source tests/lib.sh
#
# (The directive tells shellcheck where to find this file, from wherever it
# is run: `source` names it from the repository root, two folders up.)
#
# Nothing here skips: a missing tool, or a server that does not start, stops
# the script with a message on stderr and exit status 1. Every wait is
# bounded, and every server runs under `timeout`.
#
# Variables it sets for the script: `work` (the scratch folder, by
# make_work_folder), `server_pid` and `server_stage` (by start_stage).

# require_command TOOL PACKAGES: stops the script unless TOOL is on the PATH,
# naming the Debian PACKAGES to install.
require_command() {
  command -v "$1" >/dev/null || { echo "$1 not found: apt-get install $2" >&2; exit 1; }
}

# require_node MAJOR PACKAGE: stops the script unless node and npm are
# installed and node is version MAJOR or newer, which PACKAGE needs.
require_node() {
  local tool major
  for tool in node npm; do require_command "$tool" "nodejs npm"; done
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge "$1" ] || { echo "node $(node --version) is too old: $2 needs $1 or newer" >&2; exit 1; }
}

# npm_ci_if_stale DIR PACKAGE: installs the npm packages of DIR exactly as its
# package-lock.json pins them (`npm ci`), but only when PACKAGE is not
# installed yet or the lock file has changed since the last install.
npm_ci_if_stale() {
  if [ ! -d "$1/node_modules/$2" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    (cd "$1" && timeout 300 npm ci --no-audit --no-fund)
  fi
}

# require_playwright: what the tests that drive Chromium from node need:
# Debian's chromium, node 18 or newer, and the playwright-core of
# tests/browser, installed without a browser of its own.
require_playwright() {
  require_command chromium chromium
  require_node 18 playwright-core
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm_ci_if_stale tests/browser playwright-core
}

# run_playwright SCRIPT URL [ARGUMENT...]: runs the playwright-core test
# SCRIPT (a .mjs file in tests/browser) against the page at URL, with
# Debian's chromium, for at most 120 s. Any further ARGUMENTs go to SCRIPT.
run_playwright() {
  local script=$1
  shift
  CHROMIUM="$(command -v chromium)" timeout 120 node "$script" "$@"
}

# build_stages STAGE...: builds the debug binaries of these stages.
build_stages() {
  local packages=() stage
  for stage in "$@"; do packages+=(-p "$stage"); done
  cargo build --quiet --locked "${packages[@]}"
}

# make_work_folder: makes a scratch folder, `work`, and arranges that when the
# script exits, for whatever reason, the server is stopped and the folder
# removed.
make_work_folder() {
  work=$(mktemp -d)
  server_pid=
  trap 'stop_stage; rm -rf "$work"' EXIT
}

# write_jwt_secret FILE: a secret for JWT_SECRET_FILE: 40 bytes (30 random
# bytes in base64) without a line break (the server would drop one; jose
# would not), in a file that only we can read.
write_jwt_secret() {
  (umask 077 && head -c 30 /dev/urandom | base64 | tr -d '\n' >"$1")
  [ "$(wc -c <"$1")" -eq 40 ] || { echo "the test secret is not 40 bytes" >&2; exit 1; }
}

# start_stage STAGE SECONDS [NAME=VALUE...]: starts the debug binary of STAGE
# (built beforehand) in a fresh working folder of its own, $work/run-STAGE
# (from stage 08 a stage keeps its database there, in data/), with
# ADDR=127.0.0.1:0 (a free port) and the variables NAME=VALUE. `timeout`
# stops it after SECONDS whatever happens. Its stdout goes to $work/out, its
# stderr to $work/err. Sets server_pid and server_stage; wait_for_address
# tells where it listens.
start_stage() {
  local stage=$1 seconds=$2 binary
  shift 2
  binary=${CARGO_TARGET_DIR:-target}/debug/$stage
  [[ $binary = /* ]] || binary=$PWD/$binary
  mkdir "$work/run-$stage"
  (cd "$work/run-$stage" && exec env ADDR=127.0.0.1:0 "$@" timeout "$seconds" "$binary") \
    >"$work/out" 2>"$work/err" &
  server_pid=$!
  server_stage=$stage
}

# wait_for_address: waits (at most about 5 s) for the server start_stage
# started to print its "listening on http://ADDR" line, and prints ADDR.
# Without one, shows what the server said on stderr and stops the script.
wait_for_address() {
  local addr=
  for _ in $(seq 100); do
    addr=$(sed -n 's|^listening on http://||p' "$work/out")
    [ -n "$addr" ] && break
    sleep 0.05
  done
  [ -n "$addr" ] || { echo "$server_stage: no 'listening on' line" >&2; cat "$work/err" >&2; exit 1; }
  echo "$addr"
}

# check_with WHAT COMMAND...: runs COMMAND, the test's own checks against the
# server; if they fail, says that WHAT failed, shows what the server said on
# stderr, and stops the script.
check_with() {
  local what=$1
  shift
  if ! "$@"; then
    echo "the $what failed; $server_stage said on stderr:" >&2
    cat "$work/err" >&2
    exit 1
  fi
}

# stop_stage: stops the server start_stage started, if it is still running,
# and waits until it has gone.
stop_stage() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
