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

# shellcheck source-path=SCRIPTDIR/../..
source tests/lib.sh

require_playwright
build_stages stage-09

# The server keeps its database in its working folder ($work/run-stage-09)
# and reads its signing secret from a file of ours.
make_work_folder
write_jwt_secret "$work/jwt-secret"
start_stage stage-09 180 JWT_SECRET_FILE="$work/jwt-secret"
addr=$(wait_for_address)
check_with "login test" run_playwright tests/browser/login.mjs "http://$addr/"
