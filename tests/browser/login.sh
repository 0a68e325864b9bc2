#!/usr/bin/env bash
# Stage 09's "Log in" and "Who am I" cards, used the way a person uses them: a
# fresh stage-09 is started in a scratch folder, with its signing secret in a
# file of our own (JWT_SECRET_FILE), and login.mjs has headless Chromium
# (Debian's, driven by playwright-core) sign up, log in, ask who it is,
# reload, log out and try a tampered token, checking what the page shows.
#
#   tests/browser/login.sh       # needs chromium and node: apt-get install chromium nodejs npm
#
# CI runs it after signup.sh. Like the other browser tests it is a script, so
# that `cargo test --workspace` needs no browser, and it never skips: no
# Chromium or no Node.js is a failure. playwright-core downloads no browser.
# Traffic stays on 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

chromium=$(command -v chromium) || { echo "chromium not found: apt-get install chromium" >&2; exit 1; }
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install nodejs npm" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || { echo "node $(node --version) is too old: playwright-core needs 18 or newer" >&2; exit 1; }

# The exact playwright-core of package-lock.json, installed again only when
# the lock file has changed since the last install.
if [ ! -d tests/browser/node_modules/playwright-core ] ||
   [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 300 npm ci --no-audit --no-fund)
fi

cargo build --quiet --locked -p stage-09
binary=${CARGO_TARGET_DIR:-target}/debug/stage-09
[[ $binary = /* ]] || binary=$PWD/$binary

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A 40-byte secret (30 random bytes in base64), without a line break, that
# only we can read. The server runs in $work/run, where it keeps its
# database (data/backend.sqlite3).
mkdir "$work/run"
(umask 077 && head -c 30 /dev/urandom | base64 | tr -d '\n' >"$work/jwt-secret")
[ "$(wc -c <"$work/jwt-secret")" -eq 40 ] || { echo "the test secret is not 40 bytes" >&2; exit 1; }

(cd "$work/run" &&
  ADDR=127.0.0.1:0 JWT_SECRET_FILE="$work/jwt-secret" exec timeout 180 "$binary") \
  >"$work/out" 2>"$work/err" &
server_pid=$!
addr=
for _ in $(seq 100); do
  addr=$(sed -n 's|^listening on http://||p' "$work/out")
  [ -n "$addr" ] && break
  sleep 0.05
done
[ -n "$addr" ] || { echo "stage-09: no 'listening on' line" >&2; cat "$work/err" >&2; exit 1; }

if ! CHROMIUM="$chromium" timeout 120 node tests/browser/login.mjs "http://$addr/"; then
  echo "the login test failed; stage-09 said on stderr:" >&2
  cat "$work/err" >&2
  exit 1
fi
