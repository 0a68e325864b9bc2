#!/usr/bin/env bash
# Stage 09's tokens, cross-checked by a second, independent JWT
# implementation: jose (panva/jose, pinned in package-lock.json). A fresh
# stage-09 is started in a scratch folder with a secret of our own
# (JWT_SECRET_FILE), and crosscheck.mjs, given the same file, checks that jose
# verifies the server's tokens, that the server accepts jose's, and that it
# refuses the ones it must (another key, HS384/HS512, expired, nbf, no exp,
# alg none, a user who does not exist).
#
#   tests/jwt/crosscheck.sh      # needs node and npm: apt-get install nodejs npm
#
# CI runs it after the browser tests. It never skips: no Node.js is a
# failure. Traffic stays on 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install nodejs npm" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "node $(node --version) is too old: jose 6 needs 20 or newer" >&2; exit 1; }

# The exact jose of package-lock.json, installed again only when the lock
# file has changed since the last install.
if [ ! -d tests/jwt/node_modules/jose ] ||
   [ tests/jwt/package-lock.json -nt tests/jwt/node_modules/.package-lock.json ]; then
  (cd tests/jwt && timeout 300 npm ci --no-audit --no-fund)
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

# A 40-byte secret (30 random bytes in base64), without a line break (the
# server would drop one; jose would not), that only we can read. The server
# runs in $work/run, where it keeps its database (data/backend.sqlite3).
mkdir "$work/run"
(umask 077 && head -c 30 /dev/urandom | base64 | tr -d '\n' >"$work/jwt-secret")
[ "$(wc -c <"$work/jwt-secret")" -eq 40 ] || { echo "the test secret is not 40 bytes" >&2; exit 1; }

(cd "$work/run" &&
  ADDR=127.0.0.1:0 JWT_SECRET_FILE="$work/jwt-secret" exec timeout 120 "$binary") \
  >"$work/out" 2>"$work/err" &
server_pid=$!
addr=
for _ in $(seq 100); do
  addr=$(sed -n 's|^listening on http://||p' "$work/out")
  [ -n "$addr" ] && break
  sleep 0.05
done
[ -n "$addr" ] || { echo "stage-09: no 'listening on' line" >&2; cat "$work/err" >&2; exit 1; }
if [ -e "$work/run/data/jwt-secret" ]; then
  echo "stage-09 made a development secret instead of reading JWT_SECRET_FILE" >&2
  exit 1
fi

if ! JWT_SECRET_FILE="$work/jwt-secret" timeout 60 node tests/jwt/crosscheck.mjs "http://$addr"; then
  echo "the JWT cross-check failed; stage-09 said on stderr:" >&2
  cat "$work/err" >&2
  exit 1
fi
