#!/usr/bin/env bash
# Stage 07's sign-up form, used the way a person uses it: a fresh stage-07 is
# started, and signup.mjs has headless Chromium (Debian's, driven by
# playwright-core) fill in the form, submit it, and check what the page shows.
#
#   tests/browser/signup.sh      # needs chromium and node: apt-get install chromium nodejs npm
#
# CI runs it after frontend.sh. Like frontend.sh it is a script, so that
# `cargo test --workspace` needs no browser, and it never skips: no Chromium
# or no Node.js is a failure. playwright-core downloads no browser. Traffic
# stays on 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source-path=SCRIPTDIR/../..
source tests/lib.sh

require_playwright
build_stages stage-07

make_work_folder
start_stage stage-07 180
addr=$(wait_for_address)
check_with "sign-up test" run_playwright tests/browser/signup.mjs "http://$addr/"
