#!/usr/bin/env bash
# The deploy kit, end to end, on a simulated VPS (deploy/lab/simulated-vps.sh):
# real systemd as PID 1, sshd, UFW, nginx, certbot against pebble (a local
# Let's Encrypt), and `deploy/provision.sh` and `deploy/deploy.sh` run
# unchanged over ssh from a "laptop" namespace. Then, from that laptop:
#
#   1. the firewall guard refuses to lock the session out;
#   2. provisioning works, turns root's ssh login off, and a second run
#      changes nothing;
#   3. a deploy serves HTTPS with pebble's certificate, HTTP redirects, and
#      8080 cannot be reached; a renewal is served at once;
#   4. sign-up, log in and "me" over TLS; the page in headless Chromium
#      (screenshot in target/system-test/);
#   5. kill -9 of the backend: systemd restarts it, no acknowledged user lost;
#   6. systemctl restart during a request already begun: it is answered;
#   7. a broken release is rolled back by itself, and the site stays up;
#      `deploy.sh rollback` goes back by hand; old releases are pruned;
#   8. a backup, taken and restored, serves the same users;
#   9. request smuggling through nginx (CL.TE, TE.CL and variants) never
#      reaches the backend as a request of its own;
#  10. slowhttptest (slowloris, slow body, slow read) while the site answers;
#  11. testssl.sh finds no HIGH or CRITICAL issue;
#  12. the 521 lab: every fault (deploy/lab/faults.sh), the code the edge
#      shows, and the layer deploy/doctor.sh names.
#
#   sudo tests/deploy/system.sh         # root; the packages of VPS_PACKAGES installed
#
# Traffic stays inside the two namespaces it makes; every wait is bounded,
# the whole run is under `timeout`, and nothing is left behind (checked).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

# shellcheck source-path=SCRIPTDIR/../..
source deploy/lab/simulated-vps.sh
sim_enter "$@"

started=$SECONDS
step() { printf '\n== %s (%d s)\n' "$*" "$((SECONDS - started))"; }
pass() { printf 'ok    %s\n' "$*"; }
fail() {
  printf 'FAIL  %s\n' "$*" >&2
  if [ -n "${VPS_NSPAWN_PID:-}" ]; then
    echo "--- the backend's last log lines:" >&2
    on_vps journalctl -u backend --no-pager -n 20 -o cat >&2 || true
  fi
  exit 1
}
# expect_output LABEL PATTERN CMD...: CMD's output (stdout and stderr) must
# match the extended regex PATTERN.
expect_output() {
  local label=$1 pattern=$2 output
  shift 2
  output=$("$@" 2>&1) || true
  if grep -Eq -- "$pattern" <<<"$output"; then
    pass "$label"
  else
    printf '%s\n' "$output" | tail -n 20 >&2
    fail "$label: no match for /$pattern/"
  fi
}

# run_as_reader NAME COMMAND...: runs COMMAND on the laptop, its output in
# $SIM/NAME.log, and adds it to the transcript NAME (book/src/transcripts/
# deploy/NAME.txt) as a reader would type it: the settings the test exports
# for every command (ACME_SERVER, ACME_CA_BUNDLE: pebble) are left out, and
# `DOMAIN=… EMAIL=…` is shown where the script reads them. Returns
# COMMAND's status.
run_as_reader() {
  local name=$1 status=0 shown
  shift
  in_client "$@" >"$SIM/$name.log" 2>&1 || status=$?
  shown="$*"
  shown=${shown//"$SIM_HOME"/\~}
  case "$shown" in
    *deploy/provision.sh*) shown="DOMAIN=$DOMAIN EMAIL=$EMAIL ${shown#env }" ;;
    *deploy/deploy.sh*) shown="DOMAIN=$DOMAIN ${shown#env }" ;;
  esac
  TRANSCRIPT_HOME=$SIM_HOME python3 tests/deploy/transcript.py add "$SIM/transcripts" "$name" "$shown" "$SIM/$name.log" "$status"
  return "$status"
}

artifacts=$repo/target/system-test
mkdir -p "$artifacts"
step "build backend (release), as deploy.sh will"
cargo build --release --locked --quiet -p backend

step "boot the simulated VPS"
sim_start
pebble_root "$SIM/pebble-root.pem"
export DOMAIN EMAIL=ops@example.com ACME_SERVER ACME_CA_BUNDLE=$PEBBLE_CA
site() { in_client curl -sS --max-time 5 --cacert "$SIM/pebble-root.pem" "$@"; }
pass "booted; pebble answers at $ACME_SERVER"

# ---------------------------------------------------------------------------
step "1. the firewall guard"
# SSH_PORT=2222, while sshd (and this session) use 22: enabling UFW would
# lock us out. provision.sh must refuse, and leave UFW off.
if run_as_reader provision-refused env SSH_PORT=2222 deploy/provision.sh root@vps; then
  fail "provision.sh enabled UFW without a rule for this session's port"
fi
expect_output "provision.sh refuses to enable UFW that would lock the session out" \
  'refusing to enable ufw: this session came in on port 22' cat "$SIM/provision-refused.log"
[ "$(on_vps ufw status)" = "Status: inactive" ] || fail "UFW is not inactive after the refusal"
in_client ssh root@vps true || fail "a new ssh session fails after the refusal"
pass "UFW still inactive, and a new ssh session still gets in"
on_vps ufw delete allow 2222/tcp >/dev/null

# ---------------------------------------------------------------------------
step "2. provisioning, twice"
run_as_reader provision-first deploy/provision.sh root@vps || { cat "$SIM/provision-first.log"; fail "provision.sh (first run)"; }
grep -E '^(ok|changed|FAILED)' "$SIM/provision-first.log"
grep -q 'certificate for demo.example.com issued' "$SIM/provision-first.log" || fail "no certificate issued"
pass "first run: $(tail -n 1 "$SIM/provision-first.log")"
if run_as_reader root-login ssh root@vps true; then fail "root can still log in over ssh"; fi
grep -q 'Permission denied (publickey)' "$SIM/root-login.log" || fail "root's login failed, but not for want of permission"
pass "root's ssh login is refused; deploy's works"
# What a second run could change, before and after it.
fingerprint() {
  on_vps sh -c 'cat /etc/ssh/sshd_config.d/* /etc/sudoers.d/deploy /etc/systemd/system/backend*.service \
      /etc/nginx/sites-enabled/* /etc/backend/jwt-secret /etc/letsencrypt/live/*/cert.pem /home/deploy/.ssh/authorized_keys
    ufw status verbose; systemctl show -p InvocationID --value nginx; stat -c %Y /etc/letsencrypt/live/*/cert.pem' |
    sha256sum
}
before=$(fingerprint)
run_as_reader provision-again deploy/provision.sh vps || { cat "$SIM/provision-again.log"; fail "provision.sh (second run)"; }
[ "$(tail -n 1 "$SIM/provision-again.log")" = "provisioned $DOMAIN: 0 changed" ] ||
  { cat "$SIM/provision-again.log"; fail "the second run changed something"; }
[ "$(fingerprint)" = "$before" ] || fail "the second run changed files, rules, the certificate or restarted nginx"
pass "second run: 0 changed; files, rules, certificate and nginx untouched"

# ---------------------------------------------------------------------------
step "3. the first deploy"
run_as_reader deploy env KEEP_RELEASES=3 deploy/deploy.sh vps || { cat "$SIM/deploy.log"; fail "deploy.sh"; }
cat "$SIM/deploy.log"
first_release=$(on_vps basename "$(on_vps readlink /opt/backend/current)")
run_as_reader unit-security ssh vps 'systemd-analyze security backend.service | tail -n 1' ||
  fail "systemd-analyze security on the VPS"
expect_output "systemd-analyze security on the VPS: 2.5 or lower" 'exposure level for backend.service: (0|1|2\.[0-5])' \
  cat "$SIM/unit-security.log"
expect_output "HTTPS /api/status with pebble's certificate" '"status":"ok"' site "https://$DOMAIN/api/status"
expect_output "HTTP redirects to HTTPS" '^301 https://demo.example.com/api/status$' \
  site -o /dev/null -w '%{http_code} %{redirect_url}' "http://$DOMAIN/api/status"
expect_output "the certificate is pebble's, for $DOMAIN" 'issuer=.*[Pp]ebble' \
  in_client sh -c "openssl s_client -connect $VPS_IP:443 -servername $DOMAIN </dev/null 2>/dev/null | openssl x509 -noout -issuer"
if in_client curl -sS --max-time 3 -o /dev/null "http://$VPS_IP:8080/" 2>/dev/null; then fail "port 8080 answers from outside"; fi
pass "port 8080 cannot be reached from outside"

served_serial() {
  in_client sh -c "openssl s_client -connect $VPS_IP:443 -servername $DOMAIN </dev/null 2>/dev/null" |
    openssl x509 -noout -serial
}
serial_before=$(served_serial)
on_vps systemctl is-active --quiet certbot.timer || fail "certbot.timer is not active"
# A renewal, forced (the certificate is far from expiry): certbot's deploy
# hook must reload nginx, or nginx goes on serving the old certificate.
in_client ssh vps sudo -n env REQUESTS_CA_BUNDLE=/etc/backend/acme-ca.pem \
  certbot renew --force-renewal --no-random-sleep-on-renew >"$SIM/renew.log" 2>&1 || { cat "$SIM/renew.log"; fail "certbot renew"; }
sleep 1
[ "$(served_serial)" != "$serial_before" ] || fail "after a renewal nginx still serves the old certificate ($serial_before)"
pass "certbot.timer is active; a renewal is served at once (the deploy hook reloaded nginx)"

# ---------------------------------------------------------------------------
step "4. the API over TLS, and the page in Chromium"
json() { site -H 'Content-Type: application/json' "$@"; }
expect_output "sign-up: 201" '^201$' json -o /dev/null -w '%{http_code}' -d '{"username":"alice","password":"correct horse"}' "https://$DOMAIN/api/users"
token=$(json -d '{"username":"alice","password":"correct horse"}' "https://$DOMAIN/api/login" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
[ -n "$token" ] || fail "no token from /api/login"
pass "log in: a token"
expect_output "me: alice" '"username":"alice"' site -H "Authorization: Bearer $token" "https://$DOMAIN/api/me"
# Chromium trusts exactly the site's key (its SPKI hash), as a browser
# trusts Let's Encrypt; curl checked the chain above.
spki=$(in_client sh -c "openssl s_client -connect $VPS_IP:443 -servername $DOMAIN </dev/null 2>/dev/null" |
  openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
# shellcheck disable=SC2054 # --window-size takes a comma
chromium_args=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  "--ignore-certificate-errors-spki-list=$spki" --window-size=1000,700)
in_client timeout 60 chromium "${chromium_args[@]}" --user-data-dir="$SIM/chromium" \
  --screenshot="$artifacts/site.png" "https://$DOMAIN/" >/dev/null 2>&1 || fail "chromium could not take the screenshot"
[ -s "$artifacts/site.png" ] || fail "no screenshot"
expect_output "the page, rendered by Chromium over HTTPS" '<form' \
  in_client timeout 60 chromium "${chromium_args[@]}" --user-data-dir="$SIM/chromium" --dump-dom "https://$DOMAIN/"
pass "screenshot: target/system-test/site.png"

# ---------------------------------------------------------------------------
step "5. kill -9: systemd restarts the backend, no acknowledged user lost"
restarts_before=$(on_vps systemctl show -p NRestarts --value backend)
# Sign-ups in the background; the ones answered 201 are acknowledged.
# shellcheck disable=SC2016 # expanded by the inner bash
in_client bash -c '
  for i in $(seq 40); do
    code=$(curl -s --max-time 5 --cacert "$1" -o /dev/null -w "%{http_code}" -H "Content-Type: application/json" \
      -d "{\"username\":\"user$i\",\"password\":\"password number $i\"}" "https://$2/api/users")
    [ "$code" = 201 ] && echo "user$i"
    sleep 0.05
  done' signups "$SIM/pebble-root.pem" "$DOMAIN" >"$SIM/acknowledged" &
signups=$!
sleep 1
# shellcheck disable=SC2016 # expanded inside the VPS
on_vps sh -c 'kill -9 "$(systemctl show -p MainPID --value backend)"'
wait "$signups"
for _ in $(seq 50); do
  [ "$(on_vps systemctl show -p NRestarts --value backend)" -gt "$restarts_before" ] &&
    on_vps systemctl is-active --quiet backend && break
  sleep 0.2
done
[ "$(on_vps systemctl show -p NRestarts --value backend)" -gt "$restarts_before" ] || fail "systemd did not restart the backend"
acknowledged=$(wc -l <"$SIM/acknowledged")
if [ "$acknowledged" -eq 0 ] || [ "$acknowledged" -ge 40 ]; then
  fail "the kill did not fall among the sign-ups ($acknowledged of 40 acknowledged)"
fi
lost=0
while read -r user; do
  code=$(json -o /dev/null -w '%{http_code}' -d "{\"username\":\"$user\",\"password\":\"password number ${user#user}\"}" "https://$DOMAIN/api/login" || true)
  [ "$code" = 200 ] || { echo "lost: $user ($code)" >&2; lost=$((lost + 1)); }
  sleep 0.25 # under nginx's limit on logins (5 a second)
done <"$SIM/acknowledged"
[ "$lost" = 0 ] || fail "$lost acknowledged users were lost"
pass "restarted by systemd; all $acknowledged acknowledged sign-ups (of 40 tried) log in"

# ---------------------------------------------------------------------------
step "6. systemctl restart during a request already begun (the drain)"
# The probe runs inside the VPS, straight to the backend's port: nginx
# would hold the body back until it had all of it.
on_vps rm -f /root/go
on_vps python3 "$repo/tests/deploy/probes.py" slow-login 127.0.0.1 8080 /root/go >"$SIM/slow.out" 2>&1 &
slow=$!
for _ in $(seq 50); do grep -q started "$SIM/slow.out" 2>/dev/null && break; sleep 0.1; done
sleep 0.5 # accepted and read by the backend
on_vps systemctl restart backend &
restart=$!
sleep 1
on_vps systemctl is-active --quiet backend && fail "the backend restarted without waiting for the request in progress"
pass "the backend is draining, not restarted yet, while the request is incomplete"
on_vps touch /root/go
wait "$slow" || true
wait "$restart" || fail "systemctl restart failed"
expect_output "the request begun before the restart is answered" '^HTTP/1.1 401' cat "$SIM/slow.out"

# ---------------------------------------------------------------------------
step "7. a broken release rolls back by itself; rollback by hand; pruning"
printf '%s\n' '#!/bin/sh' 'echo "this release is broken" >&2' 'exit 1' >"$SIM/broken-backend"
chmod +x "$SIM/broken-backend"
cp "$SIM/broken-backend" "$SIM_HOME/broken-backend"
if run_as_reader deploy-broken env KEEP_RELEASES=3 BACKEND_BINARY="$SIM_HOME/broken-backend" HEALTH_TIMEOUT=8 deploy/deploy.sh vps; then
  cat "$SIM/deploy-broken.log"
  fail "deploy.sh of a broken release exited 0"
fi
cat "$SIM/deploy-broken.log"
grep -q "rolled back: $first_release is live and healthy" "$SIM/deploy-broken.log" || fail "no automatic rollback"
expect_output "the site stayed up: $first_release serves" '"status":"ok"' site "https://$DOMAIN/api/status"
sleep 1 # release names carry the second they were made
in_client env KEEP_RELEASES=3 deploy/deploy.sh vps >"$SIM/deploy-2.log" 2>&1 || { cat "$SIM/deploy-2.log"; fail "second deploy"; }
second_release=$(on_vps basename "$(on_vps readlink /opt/backend/current)")
[ "$second_release" != "$first_release" ] || fail "the second deploy did not switch"
run_as_reader rollback deploy/deploy.sh rollback vps || { cat "$SIM/rollback.log"; fail "deploy.sh rollback"; }
cat "$SIM/rollback.log"
# The broken release was set aside (failed-…): rollback goes to the first.
current=$(on_vps basename "$(on_vps readlink /opt/backend/current)")
# shellcheck disable=SC2016 # expanded inside the VPS
exe=$(on_vps sh -c 'readlink /proc/$(systemctl show -p MainPID --value backend)/exe')
[ "$exe" = "/opt/backend/releases/$current/backend" ] || fail "the running binary ($exe) is not current's ($current)"
[ "$current" = "$first_release" ] || fail "rollback went to $current, not $first_release"
pass "rollback by hand: $second_release -> $current, and that is what runs"
for _ in 1 2; do
  sleep 1
  in_client env KEEP_RELEASES=3 deploy/deploy.sh vps >/dev/null 2>&1 || fail "a further deploy"
done
releases=$(on_vps ls /opt/backend/releases | wc -l)
[ "$releases" -le 3 ] || fail "$releases releases kept, KEEP_RELEASES=3"
pass "$releases releases kept (KEEP_RELEASES=3)"

# ---------------------------------------------------------------------------
step "8. a backup, restored"
# A sign-up just before the backup sits in SQLite's write-ahead log, not yet
# in the database file (every restart above checkpointed the log, so the
# older users are in the file): a backup that copied the file alone would
# miss it.
expect_output "a sign-up just before the backup" '^201$' json -o /dev/null -w '%{http_code}' -d '{"username":"before-backup","password":"correct horse"}' "https://$DOMAIN/api/users"
run_as_reader backup deploy/deploy.sh backup vps || { cat "$SIM/backup.log"; fail "deploy.sh backup"; }
backup=$(sed -n 's/^backup: //p' "$SIM/backup.log")
[ -s "$backup" ] || fail "no backup downloaded"
pass "backup taken by backend-backup.service and downloaded: $(basename "$backup")"
expect_output "a sign-up after the backup" '^201$' json -o /dev/null -w '%{http_code}' -d '{"username":"after-backup","password":"correct horse"}' "https://$DOMAIN/api/users"
run_as_reader restore deploy/deploy.sh restore vps "$backup" || { cat "$SIM/restore.log"; fail "deploy.sh restore"; }
cat "$SIM/restore.log"
expect_output "alice logs in after the restore" '^200$' json -o /dev/null -w '%{http_code}' -d '{"username":"alice","password":"correct horse"}' "https://$DOMAIN/api/login"
expect_output "the sign-up made just before the backup logs in after the restore" '^200$' json -o /dev/null -w '%{http_code}' -d '{"username":"before-backup","password":"correct horse"}' "https://$DOMAIN/api/login"
expect_output "the sign-up made after the backup is gone (the restore happened)" '^401$' json -o /dev/null -w '%{http_code}' -d '{"username":"after-backup","password":"correct horse"}' "https://$DOMAIN/api/login"

# ---------------------------------------------------------------------------
step "9. request smuggling: through nginx, and straight to the backend"
tag=$RANDOM$RANDOM
in_client python3 tests/deploy/probes.py smuggle "$VPS_IP" 443 "$DOMAIN" "$SIM/pebble-root.pem" "$tag" | tee "$SIM/smuggle.out"
# refused_all FILE: every probe's first answer is 400 or 501, and nothing
# on its connection came after (the honest request was never read).
refused_all() {
  [ "$(grep -cE '^[^:]+: HTTP/1\.1 (400|501) [^|]*$' "$1")" = 7 ]
}
refused_all "$SIM/smuggle.out" || fail "nginx did not refuse every ambiguous request (one 400 or 501, then nothing)"
pass "nginx refused all 7 ambiguous requests"
# The same requests, behind nginx's back: the backend must refuse them too,
# so that the two parsers never take one request two ways.
on_vps python3 "$repo/tests/deploy/probes.py" smuggle 127.0.0.1 8080 "$DOMAIN" plain "$tag-direct" | tee "$SIM/smuggle-direct.out"
refused_all "$SIM/smuggle-direct.out" || fail "the backend did not refuse every ambiguous request (one 400 or 501, then nothing)"
pass "the backend refused all 7 too"
sleep 0.5 # the access log is written every 20 ms
# Had either parser taken a hidden request for a request of its own, the
# backend would have logged its path.
if on_vps journalctl -u backend --no-pager -o cat | grep "path=/smuggled-$tag"; then
  fail "a hidden request reached the backend as a request of its own"
fi
pass "no hidden request reached the backend as a request of its own"

# ---------------------------------------------------------------------------
step "10. slowhttptest while the site answers"
# A second address for the honest client, so the attack's connections and
# the checks are told apart.
ip -n "$CLIENT_NS" addr add 10.200.0.3/24 dev veth-client
for attack in "-H slowloris" "-B slow-body" "-X slow-read"; do
  read -r flag name <<<"$attack"
  in_client timeout 60 slowhttptest "$flag" -c 400 -r 100 -l 15 -i 5 -s 8192 -t POST -k 1 -n 5 -w 10 -y 20 -z 4 \
    -u "https://$DOMAIN/api/echo" >"$SIM/slowhttptest-$name.log" 2>&1 &
  attack_pid=$!
  sleep 3
  worst=0
  for _ in $(seq 5); do
    time_taken=$(in_client curl -sS --interface 10.200.0.3 --max-time 5 --cacert "$SIM/pebble-root.pem" \
      -o /dev/null -w '%{http_code} %{time_total}' "https://$DOMAIN/api/status") || fail "$name: the site did not answer within 5 s"
    [ "${time_taken%% *}" = 200 ] || fail "$name: the site answered ${time_taken%% *}"
    worst=$(python3 -c "print(max($worst, ${time_taken#* }))")
    sleep 2
  done
  wait "$attack_pid" || true
  cp "$SIM/slowhttptest-$name.log" "$artifacts/"
  pass "$name: the site answered 5 of 5 checks during the attack (slowest ${worst} s)"
done

# ---------------------------------------------------------------------------
step "11. testssl.sh against the deployed site"
in_client timeout 600 testssl --quiet --color 0 --warnings off --add-ca "$SIM/pebble-root.pem" \
  --ip "$VPS_IP" --jsonfile "$SIM/testssl.json" "https://$DOMAIN/" >"$SIM/testssl.log" 2>&1 || true
[ -s "$SIM/testssl.json" ] || { tail -n 20 "$SIM/testssl.log"; fail "testssl.sh wrote no results"; }
bad=$(python3 -c '
import json, sys
findings = json.load(open(sys.argv[1]))
for f in findings:
    if f.get("severity") in ("HIGH", "CRITICAL"):
        print(f["id"], f["severity"], f["finding"])
' "$SIM/testssl.json")
[ -z "$bad" ] || { echo "$bad" >&2; fail "testssl.sh found HIGH or CRITICAL issues"; }
cp "$SIM/testssl.json" "$artifacts/testssl.json"
pass "testssl.sh: no HIGH or CRITICAL ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$SIM/testssl.json") findings checked)"

# ---------------------------------------------------------------------------
step "12. the 521 lab: each fault, the code the edge shows, the layer the doctor names"
# Behind Cloudflare, provisioning adds nginx's real-IP block for its ranges.
in_client env CLOUDFLARE=yes deploy/provision.sh vps >"$SIM/provision-cloudflare.log" 2>&1 ||
  { cat "$SIM/provision-cloudflare.log"; fail "provision.sh with CLOUDFLARE=yes"; }
grep -q '^changed  /etc/nginx/conf.d/cloudflare-real-ip.conf$' "$SIM/provision-cloudflare.log" ||
  { cat "$SIM/provision-cloudflare.log"; fail "CLOUDFLARE=yes did not install the real-IP block"; }
pass "CLOUDFLARE=yes: nginx's real-IP block for Cloudflare's ranges installed, and nginx took it"
source deploy/lab/faults.sh
lab_start_edge "$SIM/lab"
# lab FUNCTION ARGS...: one of faults.sh's functions, run on the laptop.
lab() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  in_client env LAB_HOST=vps LAB_EDGE="$CLIENT_IP" LAB_EDGE_CA="$LAB_EDGE_CA" DOMAIN="$DOMAIN" \
    bash -c 'source deploy/lab/faults.sh; "$@"' lab "$@"
}
doctor() { in_client env DOMAIN="$DOMAIN" CA_FILE="$LAB_ORIGIN_CA" deploy/doctor.sh vps; }
expect_output "through the edge, unbroken: 200" '^200 ' lab lab_visit /
doctor >"$SIM/doctor.log" 2>&1 || { cat "$SIM/doctor.log"; fail "the doctor finds a broken layer before any fault"; }
cat "$SIM/doctor.log"
TRANSCRIPT_HOME=$SIM_HOME python3 tests/deploy/transcript.py add "$SIM/transcripts" doctor-healthy \
  "deploy/doctor.sh vps" "$SIM/doctor.log"
faults=$(lab_faults | awk -F'|' '{ gsub(/ /, "", $1); print $1 }')
for fault in $faults; do
  code=$(lab_field "$fault" 3)
  layer=$(lab_field "$fault" 4)
  lab lab_break "$fault" || fail "$fault: could not break it"
  sleep 1 # nginx reloads and restarts settle
  lab lab_visit / >"$SIM/visit.out" 2>&1 || true
  [ "$(cut -d' ' -f1 "$SIM/visit.out")" = "$code" ] ||
    { cat "$SIM/visit.out"; tail -n 3 "$SIM/lab/edge.log"; fail "$fault: the edge showed $(cat "$SIM/visit.out"), not $code"; }
  doctor >"$SIM/doctor-$fault.log" 2>&1 && { cat "$SIM/doctor-$fault.log"; fail "$fault: the doctor found nothing wrong"; }
  grep -q "^BROKEN  $layer:" "$SIM/doctor-$fault.log" ||
    { cat "$SIM/doctor-$fault.log"; fail "$fault: the doctor did not name the layer '$layer'"; }
  # The transcript the chapter shows: the visit, then the doctor.
  cp "$SIM/visit.out" "$SIM/lab-visit.log"
  TRANSCRIPT_HOME=$SIM_HOME python3 tests/deploy/transcript.py add "$SIM/transcripts" "lab-$fault" \
    "lab_visit /" "$SIM/lab-visit.log"
  TRANSCRIPT_HOME=$SIM_HOME python3 tests/deploy/transcript.py add "$SIM/transcripts" "lab-$fault" \
    "deploy/doctor.sh vps" "$SIM/doctor-$fault.log" 1
  lab lab_fix "$fault" || fail "$fault: could not fix it"
  sleep 1
  expect_output "$fault: edge $code, doctor: $(grep -m1 '^BROKEN' "$SIM/doctor-$fault.log" | sed 's/^BROKEN *//'); fixed: 200 again" \
    '^200 ' lab lab_visit /
done
doctor >"$SIM/doctor.log" 2>&1 || { cat "$SIM/doctor.log"; fail "a layer is still broken after the faults were fixed"; }
pass "after every fix, the doctor finds every layer answering"
# Proxied by Cloudflare, the name resolves to one of Cloudflare's addresses
# (only the hosts file says so: nothing is sent there), and the doctor
# checks the origin directly.
cp "/etc/netns/$CLIENT_NS/hosts" "$SIM/hosts.direct"
sed -i "s/^$VPS_IP $DOMAIN\$/104.16.0.1 $DOMAIN/" "/etc/netns/$CLIENT_NS/hosts"
doctor >"$SIM/doctor-proxied.log" 2>&1 || { cat "$SIM/doctor-proxied.log"; fail "the doctor, with the name on Cloudflare"; }
grep -q '^ok      dns: .*resolves to Cloudflare' "$SIM/doctor-proxied.log" || { cat "$SIM/doctor-proxied.log"; fail "the doctor did not see Cloudflare"; }
grep -q '^ok      certificate:' "$SIM/doctor-proxied.log" || fail "the doctor did not check the origin's certificate"
cp "$SIM/hosts.direct" "/etc/netns/$CLIENT_NS/hosts"
pass "with the name on Cloudflare's addresses, the doctor says so and still checks the origin's certificate"

step "the book's Part II transcripts (book/src/transcripts/deploy/)"
python3 tests/deploy/transcript.py finish "$SIM/transcripts" "$repo/book/src/transcripts/deploy" ||
  fail "the transcripts differ from the book's"

step "done: every check passed in $((SECONDS - started)) s"
