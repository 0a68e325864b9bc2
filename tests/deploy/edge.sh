#!/usr/bin/env bash
# deploy/lab/edge.py, the simulated Cloudflare edge, against origins that fail
# on purpose (tests/deploy/fake_origin.py), with real sockets: every code it
# claims to give, it must give, under the condition Cloudflare documents.
#
# - 200, 404 and nginx's 502 pass through, status and body intact (a POSTed
#   body too, and a chunked answer), and the origin sees CF-Connecting-IP,
#   X-Forwarded-For appended, X-Forwarded-Proto, CF-Visitor and the same
#   CF-Ray as the visitor; a visitor's own CF-Connecting-IP is overruled;
# - 521 (nothing listens), 522 (iptables drops the SYN), 523 (an unreachable
#   route, no route at all, a name that does not resolve), 524 (the origin
#   never answers), 525 (plain HTTP where TLS is expected; a close in the
#   middle of the handshake), 526 (self-signed, wrong name, expired), 520 (no
#   answer, not HTTP, a reset), each with Cloudflare's title and one log line;
# - --mode full accepts the self-signed certificate; --mode flexible speaks
#   plain HTTP;
# - the bounds: an unparseable request, or a head over 16 KiB, gets a 400, a
#   body over 1 MiB a 413, an answer over 8 MiB a 520; four visitors are
#   served at once; SIGTERM stops the edge.
#
#   tests/deploy/edge.sh     # as root: needs unshare, ip, iptables, openssl, curl, python3
#
# It runs in a network namespace of its own (unshare --net), where only `lo`
# exists: its iptables rule and routes vanish with it, and no packet can
# leave. A mount namespace of its own lets it point /etc/resolv.conf at a
# server that is not there. Every wait is bounded, and everything it started
# is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${EDGE_TEST_NAMESPACE:-}" != yes ]; then
  [ "$(id -u)" -eq 0 ] || { echo "$0: needs root (unshare --net, iptables)" >&2; exit 1; }
  for command in unshare ip iptables openssl curl python3; do
    command -v "$command" >/dev/null || { echo "$0: $command not found" >&2; exit 1; }
  done
  exec env EDGE_TEST_NAMESPACE=yes timeout 300 unshare --net --mount -- "$0" "$@"
fi

ip link set lo up
work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM
# Names resolve through a server that does not exist in this namespace, so
# a lookup fails at once (unshare --mount made this mount private to us).
echo 'nameserver 127.0.0.1' >"$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf

# Certificates: the edge's own (what curl checks), and the origins': one from
# a CA the edge trusts (--origin-ca), one self-signed, one for another name,
# one expired in 2020. openssl ca is the tool that can back-date one.
certs="$work/certs"
mkdir -p "$certs/db"
# openssl's chatter goes to a file, shown only if it fails.
new_key() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "$@" 2>"$certs/openssl.err" \
    || { cat "$certs/openssl.err" >&2; exit 1; }
}
for ca in edge-ca origin-ca; do
  new_key -x509 -days 3 -subj "/CN=$ca" -keyout "$certs/$ca.key" -out "$certs/$ca.crt"
done
leaf() { # NAME CA SUBJECT-NAME [openssl ca options]: a leaf cert signed by CA
  local name=$1 ca=$2 subject=$3
  shift 3
  new_key -subj "/CN=$subject" -addext "subjectAltName=DNS:$subject" \
    -keyout "$certs/$name.key" -out "$certs/$name.csr"
  openssl ca -batch -config "$certs/ca.cnf" -cert "$certs/$ca.crt" -keyfile "$certs/$ca.key" \
    -in "$certs/$name.csr" -out "$certs/$name.crt" -notext "$@" 2>"$certs/openssl.err" \
    || { cat "$certs/openssl.err" >&2; exit 1; }
}
printf '%s\n' '[ca]' 'default_ca = lab' '[lab]' "database = $certs/db/index" \
  "new_certs_dir = $certs/db" "serial = $certs/db/serial" 'default_md = sha256' \
  'unique_subject = no' 'policy = any' 'copy_extensions = copy' '[any]' 'commonName = supplied' >"$certs/ca.cnf"
: >"$certs/db/index"
echo 01 >"$certs/db/serial"
leaf edge edge-ca demo.example.com -days 3
leaf good origin-ca demo.example.com -days 3
leaf wrong-name origin-ca other.example.com -days 3
leaf expired origin-ca demo.example.com -startdate 20200101000000Z -enddate 20200201000000Z
new_key -x509 -days 3 -subj "/CN=demo.example.com" -addext "subjectAltName=DNS:demo.example.com" \
  -keyout "$certs/self-signed.key" -out "$certs/self-signed.crt"

# wait_for_line FILE PATTERN: prints the first match of the sed PATTERN in
# FILE, waiting at most 5 s for it to appear.
wait_for_line() {
  local found=
  for _ in $(seq 100); do
    found=$(sed -n "$2" "$1" | head -n 1)
    [ -n "$found" ] && break
    sleep 0.05
  done
  [ -n "$found" ] || { echo "no match for $2 in $1:" >&2; cat "$1" >&2; exit 1; }
  echo "$found"
}

# origin NAME BEHAVIOUR [CERT]: starts a fake origin (with CERT's key pair, a
# TLS one); sets origin_port.
origin() {
  local tls=()
  [ -n "${3:-}" ] && tls=(--cert "$certs/$3.crt" --key "$certs/$3.key")
  : >"$work/$1.out"  # there before wait_for_line reads it, whoever runs first
  timeout 120 python3 tests/deploy/fake_origin.py "$2" "${tls[@]}" >"$work/$1.out" 2>&1 &
  pids+=($!)
  origin_port=$(wait_for_line "$work/$1.out" 's/^listening on 127\.0\.0\.1://p')
}

# edge NAME [OPTION...]: starts an edge (HTTPS, the edge certificate, short
# timeouts) with these options; sets edge_port and edge_pid. Its log is
# $work/NAME.log.
edge() {
  local name=$1
  shift
  : >"$work/$name.log"
  timeout 120 python3 deploy/lab/edge.py --listen 127.0.0.1:0 --cert "$certs/edge.crt" \
    --key "$certs/edge.key" --connect-timeout 1 --read-timeout 2 "$@" 2>"$work/$name.log" &
  edge_pid=$!
  pids+=("$edge_pid")
  edge_port=$(wait_for_line "$work/$name.log" 's|^edge: listening on https://127\.0\.0\.1:\([0-9]*\),.*|\1|p')
}

# visit PATH [CURL OPTION...]: a visitor's request to the last edge started,
# as demo.example.com; the status is in $status, the body in $work/body and
# the response headers in $work/headers.
visit() {
  local path=$1
  shift
  status=$(curl -sS --max-time 10 --cacert "$certs/edge-ca.crt" \
    --resolve "demo.example.com:$edge_port:127.0.0.1" -o "$work/body" -D "$work/headers" \
    -w '%{http_code}' "$@" "https://demo.example.com:$edge_port$path") || true
}

failures=0
# check WHAT CONDITION...: runs CONDITION (a command) and prints one line.
check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok    $what"
  else
    echo "FAIL  $what (last HTTP status $status); the edge said:"
    sed 's/^/        /' "$edge_log"
    failures=$((failures + 1))
  fi
}
body_has() { grep -qF -- "$1" "$work/body"; }
header_is() { grep -qiE "^$1: $2"$'\r'"?$" "$work/headers"; }
# an_error CODE TITLE LOG: the edge's error page for CODE, and its log line.
an_error() {
  [ "$status" = "$1" ] && body_has "<title>Error $1: $2</title>" \
    && header_is CF-Ray '[0-9a-f]{16}-LAB' && header_is Server cloudflare-sim \
    && grep -q "^edge: $1 $3" "$edge_log"
}

# --- passing through ---------------------------------------------------------
origin web http good
edge strict --origin 127.0.0.1 --origin-port "$origin_port" --origin-ca "$certs/origin-ca.crt"
edge_log="$work/strict.log"
visit / -H 'X-Forwarded-For: 203.0.113.7' -H 'CF-Connecting-IP: 6.6.6.6'
# The origin's page echoes the request head it got: the edge's headers must
# be there, with the visitor's CF-Ray, and the spoofed CF-Connecting-IP not.
seen_by_origin() {
  local ray
  ray=$(tr -d '\r' <"$work/headers" | sed -n 's/^cf-ray: //Ip')
  [ "$status" = 200 ] && body_has "hello from the origin" && [ -n "$ray" ] \
    && body_has "Host: demo.example.com:$edge_port" && body_has "CF-Connecting-IP: 127.0.0.1" \
    && ! body_has 6.6.6.6 && body_has "X-Forwarded-For: 203.0.113.7, 127.0.0.1" \
    && body_has "X-Forwarded-Proto: https" && body_has 'CF-Visitor: {"scheme":"https"}' \
    && body_has "CF-Ray: $ray" && header_is Server cloudflare-sim \
    && grep -q "^edge: 200 from the origin: GET / " "$edge_log"
}
check "200 passed through, the origin saw the edge's headers" seen_by_origin
head -c 300000 /dev/urandom >"$work/upload"
visit /echo --data-binary "@$work/upload"
echoed() { [ "$status" = 200 ] && cmp -s "$work/upload" "$work/body"; }
check "a 300 KB POST body reaches the origin and comes back intact" echoed
visit /chunked
unchunked() { [ "$status" = 200 ] && [ "$(cat "$work/body")" = "chunky bacon" ]; }
check "a chunked answer passes through" unchunked
visit /missing
not_found() { [ "$status" = 404 ] && body_has "no such page"; }
check "404 passed through" not_found
visit /bad-gateway
nginx_502() { [ "$status" = 502 ] && body_has "<center>nginx</center>"; }
check "nginx's 502 passed through, not turned into a 52x" nginx_502
visit / -H 'Bad Header: x'
check "an unparseable request gets a 400" an_error 400 "Bad request" "bad request: from 127.0.0.1: bad header line"
visit / -H "X-Big: $(printf '%017000d' 0)"
check "a request head over 16 KiB gets a 400" an_error 400 "Bad request" "bad request: from 127.0.0.1: head longer than"
head -c $((1024 * 1024 + 1)) /dev/zero >"$work/big-upload"
visit /echo --data-binary "@$work/big-upload"
check "a body over 1 MiB gets a 413" an_error 413 "Payload too large" "payload too large: from 127.0.0.1"
visit /huge
check "an answer over 8 MiB is cut off with a 520" \
  an_error 520 "Web server is returning an unknown error" "web server is returning an unknown error: .* more than the lab's limit"

curls=()
for i in 1 2 3 4; do
  curl -sS --max-time 20 --cacert "$certs/edge-ca.crt" --resolve "demo.example.com:$edge_port:127.0.0.1" \
    -o "$work/together$i" "https://demo.example.com:$edge_port/together" &
  curls+=($!)
done
together=yes
for pid in "${curls[@]}"; do wait "$pid" || together=no; done
all_together() { [ "$together" = yes ] && [ "$(cat "$work"/together[1-4])" = "$(printf 'together\n%.0s' 1 2 3 4)" ]; }
check "4 visitors served at once (the origin answers only when all 4 are waiting)" all_together

# --- the origin's errors -----------------------------------------------------
closed_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
edge refused --origin 127.0.0.1 --origin-port "$closed_port" --origin-ca "$certs/origin-ca.crt"
edge_log="$work/refused.log"
visit /
check "521 when nothing listens" \
  an_error 521 "Web server is down" "web server is down: connection refused by 127.0.0.1:$closed_port "

origin dropped http good
iptables -A INPUT -p tcp --dport "$origin_port" -j DROP
edge dropped --origin 127.0.0.1 --origin-port "$origin_port" --origin-ca "$certs/origin-ca.crt"
edge_log="$work/dropped.log"
visit /
check "522 when a firewall drops the SYN" an_error 522 "Connection timed out" "connection timed out: no answer to SYN"

ip route add unreachable 10.9.9.0/24
edge unreachable --origin 10.9.9.9 --origin-ca "$certs/origin-ca.crt"
edge_log="$work/unreachable.log"
visit /
check "523 when the route is unreachable (EHOSTUNREACH)" \
  an_error 523 "Origin is unreachable" "origin is unreachable: no route to 10.9.9.9:443"
edge no-route --origin 192.0.2.1 --origin-ca "$certs/origin-ca.crt"
edge_log="$work/no-route.log"
visit /
check "523 when there is no route at all (ENETUNREACH)" \
  an_error 523 "Origin is unreachable" "origin is unreachable: no route to 192.0.2.1:443"
edge unresolved --origin origin.example.invalid --origin-ca "$certs/origin-ca.crt"
edge_log="$work/unresolved.log"
visit /
check "523 when the origin's name does not resolve" \
  an_error 523 "Origin is unreachable" "origin is unreachable: cannot resolve origin.example.invalid"

origin silent silent good
edge silent --origin 127.0.0.1 --origin-port "$origin_port" --origin-ca "$certs/origin-ca.crt"
edge_log="$work/silent.log"
visit /
check "524 when the origin never answers" an_error 524 "A timeout occurred" "a timeout occurred: no HTTP response"

origin plain http
edge plain --origin 127.0.0.1 --origin-port "$origin_port" --origin-ca "$certs/origin-ca.crt"
edge_log="$work/plain.log"
visit /
check "525 when the origin speaks plain HTTP on its TLS port" \
  an_error 525 "SSL handshake failed" "ssl handshake failed: TLS handshake with 127.0.0.1:$origin_port failed: .*WRONG_VERSION_NUMBER"
origin hangup hangup
edge hangup --origin 127.0.0.1 --origin-port "$origin_port" --mode full
edge_log="$work/hangup.log"
visit /
check "525 when the origin closes in the middle of the handshake" \
  an_error 525 "SSL handshake failed" "ssl handshake failed: TLS handshake"

for cert in self-signed wrong-name expired; do
  origin "$cert" http "$cert"
  edge "$cert" --origin 127.0.0.1 --origin-port "$origin_port" --origin-ca "$certs/origin-ca.crt"
  edge_log="$work/$cert.log"
  visit /
  check "526 for a certificate that is $cert" an_error 526 "Invalid SSL certificate" "invalid ssl certificate: "
done
reasons_named() {
  grep -q "self-signed certificate" "$work/self-signed.log" && grep -q "Hostname mismatch" "$work/wrong-name.log" \
    && grep -q "certificate has expired" "$work/expired.log"
}
check "each 526 log line names its reason" reasons_named

# (The reset is checked over plain HTTP, --mode flexible: through TLS,
# Python's ssl module reports an RST as an end of file, which is a 520 too.)
for behaviour in "empty good closed the connection without answering" \
  "garbage good answered with no HTTP head" "reset - reset the connection after the request"; do
  read -r name cert detail <<<"$behaviour"
  if [ "$cert" = - ]; then
    origin "$name" "$name"
    edge "$name" --origin 127.0.0.1 --origin-port "$origin_port" --mode flexible
  else
    origin "$name" "$name" "$cert"
    edge "$name" --origin 127.0.0.1 --origin-port "$origin_port" --origin-ca "$certs/origin-ca.crt"
  fi
  edge_log="$work/$name.log"
  visit /
  check "520 when the origin $detail" \
    an_error 520 "Web server is returning an unknown error" "web server is returning an unknown error: 127.0.0.1:$origin_port $detail"
done

# --- the other modes ---------------------------------------------------------
origin full http self-signed
edge full --origin 127.0.0.1 --origin-port "$origin_port" --mode full
edge_log="$work/full.log"
visit /
answered() { [ "$status" = 200 ] && body_has "hello from the origin"; }
check "--mode full takes the self-signed certificate that strict refused" answered

origin flexible http
edge flexible --origin 127.0.0.1 --origin-port "$origin_port" --mode flexible
edge_log="$work/flexible.log"
visit /
flexible() { answered && body_has "X-Forwarded-Proto: https" && body_has "CF-Connecting-IP: 127.0.0.1"; }
check "--mode flexible speaks plain HTTP to the origin" flexible

# --- stopping ----------------------------------------------------------------
kill -TERM "$edge_pid"
stop_status=0
# Bounded: an edge that ignored SIGTERM would be killed here after 10 s.
if timeout 10 tail --pid="$edge_pid" -f /dev/null; then
  wait "$edge_pid" || stop_status=$?
else
  stop_status="still running after 10 s"
  kill -KILL "$edge_pid"
  wait "$edge_pid" || true
fi
stopped() { [ "$stop_status" = 0 ] && grep -q "^edge: stopped by SIGTERM" "$edge_log"; }
check "SIGTERM stops the edge (exit status $stop_status)" stopped

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
