#!/usr/bin/env bash
# deploy/nginx/backend.conf, for real: the site is rendered as provisioning
# renders it (envsubst, with loopback ports and a certificate of our own CA
# for `localhost`), `nginx -t` must accept it, and an nginx of our own (its
# own prefix and config, not the host's) runs in front of a fresh `backend`.
# Then, through it:
#
# - plain HTTP is redirected to HTTPS, except the ACME challenge, which
#   nginx serves from its webroot (the backend refuses dot paths);
# - HTTPS answers, with HSTS, over TLS 1.2 or 1.3 only;
# - a body over 64 KiB gets nginx's 413 before it reaches the backend;
# - a burst of logins gets 429s from `limit_req`;
# - a client's own X-Real-IP is replaced by nginx's, so the access log names
#   the real peer;
# - with the Cloudflare block (cloudflare-real-ip.conf), CF-Connecting-IP is
#   believed from Cloudflare's addresses only;
# - testssl.sh finds no HIGH or CRITICAL issue.
#
#   tests/deploy/nginx.sh     # needs nginx, openssl, envsubst (gettext-base), testssl.sh, curl
#
# Traffic stays on 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source-path=SCRIPTDIR/../..
source tests/lib.sh

for command in nginx openssl envsubst testssl curl; do
  require_command "$command" "nginx openssl gettext-base testssl.sh curl"
done
build_stages backend

make_work_folder
nginx_prefix="$work/nginx"
stop_nginx() {
  if [ -f "$nginx_prefix/nginx.pid" ]; then
    nginx -p "$nginx_prefix" -c "$nginx_prefix/nginx.conf" -s quit 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$nginx_prefix/nginx.pid" ] || break; sleep 0.1; done
  fi
}
trap 'stop_nginx; stop_stage; rm -rf "$work"' EXIT

# The backend, as on the VPS: behind nginx, trusting only it for X-Real-IP.
write_jwt_secret "$work/jwt-secret"
start_stage backend 300 JWT_SECRET_FILE="$work/jwt-secret" TRUSTED_PROXIES=127.0.0.1
backend_addr=$(wait_for_address)

# A CA of our own, and a certificate for localhost signed by it, shaped like
# Let's Encrypt's (90 days, a CRL address), so that testssl.sh judges the
# server and not a toy certificate.
certs="$work/certs"
mkdir -p "$certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
  -subj "/CN=Test CA" -keyout "$certs/ca.key" -out "$certs/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=localhost" -keyout "$certs/privkey.pem" -out "$certs/leaf.csr" 2>/dev/null
printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'extendedKeyUsage=serverAuth' \
  'crlDistributionPoints=URI:http://localhost/crl.der' >"$certs/ext"
openssl x509 -req -in "$certs/leaf.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" \
  -CAcreateserial -days 90 -extfile "$certs/ext" -out "$certs/leaf.crt" 2>/dev/null
cat "$certs/leaf.crt" "$certs/ca.crt" >"$certs/fullchain.pem"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
http_port=$(free_port)
https_port=$(free_port)

# The site, rendered as provisioning renders it: only these variables.
mkdir -p "$nginx_prefix/sites" "$nginx_prefix/logs" "$work/acme/.well-known/acme-challenge"
# nginx's workers run as an unprivileged user (nobody), and must read the
# webroot, as www-data must on the VPS: the scratch folder is ours alone
# (mktemp), so open the way to it (the secret file stays 0600).
chmod 755 "$work"
cp deploy/nginx/backend-proxy.conf deploy/nginx/cloudflare-real-ip.conf "$nginx_prefix/sites/"
# shellcheck disable=SC2016 # the names are for envsubst, not for the shell
template_variables='${DOMAIN} ${HTTP_PORT} ${HTTPS_PORT} ${CERT_DIR} ${ACME_ROOT} ${BACKEND} ${SITE_DIR}'
env DOMAIN=localhost HTTP_PORT="$http_port" HTTPS_PORT="$https_port" CERT_DIR="$certs" \
  ACME_ROOT="$work/acme" BACKEND="$backend_addr" SITE_DIR="$nginx_prefix/sites" \
  envsubst "$template_variables" \
  <deploy/nginx/backend.conf >"$nginx_prefix/sites/backend.conf"
# shellcheck disable=SC2016 # a literal ${NAME}, as the template writes it
if grep -v '^ *#' "$nginx_prefix/sites/backend.conf" | grep -n '\${[A-Z_]*}'; then
  echo "a template variable was left unfilled" >&2
  exit 1
fi
# Debian's nginx.conf, reduced to what a test instance needs: everything
# under our prefix, no user switch, our site.
cat >"$nginx_prefix/nginx.conf" <<CONF
worker_processes 1;
pid $nginx_prefix/nginx.pid;
error_log $nginx_prefix/logs/error.log;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $nginx_prefix/logs/access.log;
    client_body_temp_path $nginx_prefix/client_body;
    proxy_temp_path $nginx_prefix/proxy;
    fastcgi_temp_path $nginx_prefix/fastcgi;
    uwsgi_temp_path $nginx_prefix/uwsgi;
    scgi_temp_path $nginx_prefix/scgi;
    include $nginx_prefix/sites/cloudflare-real-ip.conf;
    include $nginx_prefix/sites/backend.conf;
}
CONF
nginx -t -q -p "$nginx_prefix" -c "$nginx_prefix/nginx.conf"
echo "ok: nginx -t accepts the site"
nginx -p "$nginx_prefix" -c "$nginx_prefix/nginx.conf"
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$http_port/" && break
  sleep 0.1
done

https() {
  curl -s --max-time 5 --cacert "$certs/ca.crt" --resolve "localhost:$https_port:127.0.0.1" "$@"
}
fail() {
  echo "FAILED: $*" >&2
  echo "nginx's error log:" >&2
  cat "$nginx_prefix/logs/error.log" >&2
  exit 1
}

# Plain HTTP: redirected, except the ACME challenge.
location=$(curl -s --max-time 5 -o /dev/null -w '%{http_code} %{redirect_url}' \
  "http://127.0.0.1:$http_port/api/status?x=1" -H 'Host: localhost')
[ "$location" = "301 https://localhost/api/status?x=1" ] || fail "HTTP → HTTPS: got '$location'"
echo "ok: plain HTTP is redirected to HTTPS, query string and all"
printf 'token-content' >"$work/acme/.well-known/acme-challenge/token123"
challenge=$(curl -s --max-time 5 -w ' %{http_code}' \
  "http://127.0.0.1:$http_port/.well-known/acme-challenge/token123" -H 'Host: localhost')
[ "$challenge" = "token-content 200" ] || fail "ACME challenge: got '$challenge'"
echo "ok: the ACME challenge is served over plain HTTP, from the webroot"

# HTTPS: the backend's answer, with HSTS.
head=$(https -D - -o "$work/status.json" "https://localhost:$https_port/api/status")
grep -qi '^strict-transport-security: max-age=63072000' <<<"$head" || fail "no HSTS in: $head"
grep -q '"stage":"final"' "$work/status.json" || fail "not backend's status: $(cat "$work/status.json")"
echo "ok: HTTPS reaches backend, with HSTS"
for old in --tlsv1.0 --tlsv1.1; do
  if https "$old" --tls-max "${old#--tlsv}" -o /dev/null "https://localhost:$https_port/health"; then
    fail "TLS ${old#--tlsv} accepted"
  fi
done
echo "ok: TLS 1.0 and 1.1 are refused"

# Limits: nginx refuses an oversized body itself.
code=$(head -c 70000 /dev/zero | https -o /dev/null -w '%{http_code}' \
  -H 'Content-Type: application/octet-stream' --data-binary @- "https://localhost:$https_port/api/echo")
[ "$code" = 413 ] || fail "a 70 000-byte body: $code, not 413"
sleep 0.3 # the access log is written every 20 ms
grep -q 'path=/api/echo' "$work/out" && fail "the oversized body reached the backend"
echo "ok: a body over 64 KiB gets nginx's 413 and never reaches backend"

# A burst of 20 logins at once: the first 11 (1 + a burst of 10) pass to the
# backend, the rest get 429 from nginx.
codes=$(for _ in $(seq 20); do
  https -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
    -d '{"username":"nobody","password":"wrong password"}' "https://localhost:$https_port/api/login" &
done; wait)
limited=$(grep -c '^429$' <<<"$codes" || true)
[ "$limited" -ge 5 ] || fail "20 logins at once, $limited got 429: $(tr '\n' ' ' <<<"$codes")"
echo "ok: a burst of logins is limited ($limited of 20 got 429)"

# The metrics stay on the machine.
code=$(https -o /dev/null -w '%{http_code}' "https://localhost:$https_port/metrics")
[ "$code" = 404 ] || fail "/metrics through nginx: $code, not 404"
echo "ok: /metrics is not served through nginx (404)"

# Who the client is: a client's own X-Real-IP is replaced by nginx's.
https -o /dev/null -H 'X-Real-IP: 203.0.113.9' "https://localhost:$https_port/health"
sleep 0.3 # the access log is written every 20 ms
line=$(grep 'path=/health' "$work/out" | tail -n 1)
grep -q 'peer=127.0.0.1 ' <<<"$line" || fail "the access log believed the client: $line"
echo "ok: a client cannot choose the address backend logs"

# The Cloudflare block: CF-Connecting-IP is believed only from Cloudflare's
# ranges. From 127.0.0.1 (not one of them) it is ignored...
https -o /dev/null -H 'CF-Connecting-IP: 203.0.113.7' "https://localhost:$https_port/health"
# ...and once 127.0.0.1 is trusted as if it were Cloudflare, believed.
echo 'set_real_ip_from 127.0.0.1;' >>"$nginx_prefix/sites/cloudflare-real-ip.conf"
nginx -t -q -p "$nginx_prefix" -c "$nginx_prefix/nginx.conf"
nginx -s reload -p "$nginx_prefix" -c "$nginx_prefix/nginx.conf" 2>/dev/null
sleep 0.5 # the new workers take over
https -o /dev/null -H 'CF-Connecting-IP: 203.0.113.7' "https://localhost:$https_port/api/status"
sleep 0.3 # the access log is written every 20 ms
outside=$(grep 'path=/health ' "$work/out" | tail -n 1 || true)
inside=$(grep 'path=/api/status ' "$work/out" | tail -n 1 || true)
grep -q 'peer=127.0.0.1 ' <<<"$outside" || fail "CF-Connecting-IP believed from outside Cloudflare's ranges: $outside"
grep -q 'peer=203.0.113.7 ' <<<"$inside" || fail "CF-Connecting-IP not believed from a trusted address: $inside"
echo "ok: the Cloudflare block believes CF-Connecting-IP from Cloudflare's ranges only"

# testssl.sh: no HIGH or CRITICAL finding.
testssl --quiet --color 0 --add-ca "$certs/ca.crt" --severity HIGH --jsonfile "$work/testssl.json" \
  --ip 127.0.0.1 "localhost:$https_port" >"$work/testssl.txt" 2>&1 || true
[ -s "$work/testssl.json" ] || { cat "$work/testssl.txt" >&2; fail "testssl.sh wrote no findings"; }
findings=$(python3 -c '
import json, sys
found = [f for f in json.load(open(sys.argv[1])) if f.get("severity") in ("HIGH", "CRITICAL")]
for f in found:
    print(f["severity"], f["id"], f["finding"])
' "$work/testssl.json")
[ -z "$findings" ] || fail "testssl.sh: $findings"
echo "ok: testssl.sh finds no HIGH or CRITICAL issue"
