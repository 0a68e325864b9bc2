#!/usr/bin/env bash
# Stage 09's tokens (or another package's: the first argument, such as
# `backend`), cross-checked by a second, independent JWT implementation:
# jose (panva/jose, pinned in package-lock.json). A fresh server is started in a scratch folder with a secret of our own
# (JWT_SECRET_FILE), and crosscheck.mjs, given the same file, checks that jose
# verifies the server's tokens, that the server accepts jose's, and that it
# refuses the ones it must (another key, HS384/HS512, expired, nbf, no exp,
# alg none, a user who does not exist).
#
#   tests/jwt/crosscheck.sh          # stage-09; needs node and npm (apt-get install nodejs npm)
#   tests/jwt/crosscheck.sh backend  # the product
#
# CI runs it after the browser tests. It never skips: no Node.js is a
# failure. Traffic stays on 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source-path=SCRIPTDIR/../..
source tests/lib.sh

require_node 20 "jose 6"
npm_ci_if_stale tests/jwt jose
package="${1:-stage-09}"
build_stages "$package"

# The server keeps its database in its working folder ($work/run-PACKAGE)
# and reads its signing secret from a file of ours, which jose reads too.
make_work_folder
write_jwt_secret "$work/jwt-secret"
start_stage "$package" 120 JWT_SECRET_FILE="$work/jwt-secret"
addr=$(wait_for_address)
if [ -e "$work/run-$package/data/jwt-secret" ]; then
  echo "$package made a development secret instead of reading JWT_SECRET_FILE" >&2
  exit 1
fi

JWT_SECRET_FILE="$work/jwt-secret" check_with "JWT cross-check" \
  timeout 60 node tests/jwt/crosscheck.mjs "http://$addr"
