#!/usr/bin/env bash
# The product's page, final/frontend/, used the way a person uses it, keyboard
# first: a fresh server is started in a scratch folder, with its signing
# secret in a file of our own (JWT_SECRET_FILE), and final.mjs has headless
# Chromium (Debian's, driven by playwright-core) sign up, log in, ask who it
# is and log out, checking what the page shows, where the token is kept, and
# that the page is accessible: labels, keyboard, visible errors and focus, a
# 320 px screen. It saves a screenshot of the page, logged in, in
# target/browser-artifacts/.
#
#   tests/browser/final.sh       # needs chromium and node: apt-get install chromium nodejs npm
#
# The server is the `backend` package (final/) when the workspace has one,
# and stage 11 otherwise (final/ is stage 11 laid out as a crate, with the
# same API). PACKAGE=NAME runs another package; it must exist. Either way it
# serves the page from FRONTEND (default final/frontend), which is how the
# test was shown to fail: FRONTEND=a-broken-copy tests/browser/final.sh.
#
# Like the other browser tests it is a script, so that `cargo test
# --workspace` needs no browser, and it never skips: no Chromium or no
# Node.js is a failure. playwright-core downloads no browser. Traffic stays
# on 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source-path=SCRIPTDIR/../..
source tests/lib.sh

require_playwright

# Is PACKAGE a package of this workspace, with a binary of the same name?
# (node reads cargo's JSON; jq may not be installed, node is.)
has_package() {
  cargo metadata --no-deps --format-version 1 | node -e '
    let json = "";
    process.stdin.on("data", (chunk) => (json += chunk)).on("end", () => {
      const found = JSON.parse(json).packages.find((p) => p.name === process.argv[1]);
      const binary = found?.targets.some((t) => t.kind.includes("bin") && t.name === process.argv[1]);
      process.exit(binary ? 0 : 1);
    });' "$1"
}

if [ -n "${PACKAGE:-}" ]; then
  has_package "$PACKAGE" || { echo "PACKAGE=$PACKAGE: no such package with a binary in the workspace" >&2; exit 1; }
  package=$PACKAGE why="PACKAGE"
elif has_package backend; then
  package=backend why="final/"
else
  package=stage-11 why="no backend package in the workspace yet"
fi
frontend=$(realpath "${FRONTEND:-final/frontend}")
[ -f "$frontend/index.html" ] || { echo "$frontend has no index.html" >&2; exit 1; }
echo "server: $package ($why), serving $frontend"
build_stages "$package"

# Where the screenshots go; CI keeps this folder as the test's artifact.
artifacts=$PWD/target/browser-artifacts
mkdir -p "$artifacts"

# The server keeps its database in its working folder ($work/run-$package)
# and reads its signing secret from a file of ours.
make_work_folder
write_jwt_secret "$work/jwt-secret"
start_stage "$package" 180 JWT_SECRET_FILE="$work/jwt-secret" STATIC_DIR="$frontend"
addr=$(wait_for_address)
check_with "page test" run_playwright tests/browser/final.mjs "http://$addr/" "$artifacts"
