# shellcheck shell=bash
# The 521 lab's faults: each breaks one layer of the deployed site on
# purpose, the way real outages break it. Sourced by deploy/lab/lab.sh (the
# learner's shell) and tests/deploy/system.sh (which checks every one); run
# from the laptop, they change the VPS over ssh, with sudo, as an admin's
# mistake would.
#
#   lab_faults                  the list: name, what it breaks, the code the
#                               edge shows, the layer the doctor names
#   lab_break NAME, lab_fix NAME
#   lab_visit [PATH]            a visitor's request through the edge
#
# Needs LAB_HOST (the ssh name of the VPS, `vps`), DOMAIN, and for
# lab_visit, LAB_EDGE (the edge's address) and LAB_EDGE_CA (its CA file).
: "${DOMAIN:=demo.example.com}"

# ANCHOR: faults
# name                  | what it breaks                                        | edge | doctor's layer
LAB_FAULTS='backend-stopped        | systemctl stop backend                                  | 502 | service
nginx-stopped          | systemctl stop nginx                                    | 521 | nginx
firewall-drops-443     | ufw delete allow 443/tcp                                | 522 | firewall
backend-wrong-port     | a drop-in sets ADDR=127.0.0.1:9090 (nginx still uses 8080) | 502 | nginx → backend
nginx-wrong-port       | nginx proxies to 127.0.0.1:8081                         | 502 | nginx → backend
certificate-self-signed | nginx serves a self-signed certificate                 | 526 | certificate
certificate-expired    | nginx serves a certificate that expired in 2020         | 526 | certificate
static-path            | a drop-in sets STATIC_DIR=/opt/backend/current (no index.html there) | 404 | local'
# ANCHOR_END: faults

lab_faults() { printf '%s\n' "$LAB_FAULTS"; }

# lab_field NAME N: field N (1-4) of fault NAME's line, trimmed.
lab_field() {
  awk -F'|' -v name="$1" -v n="$2" '{ gsub(/^ +| +$/, "", $1) } $1 == name { gsub(/^ +| +$/, "", $n); print $n }' <<<"$LAB_FAULTS"
}

# lab_on_vps SCRIPT: runs SCRIPT (bash) as root on the VPS.
lab_on_vps() {
  ssh "$LAB_HOST" sudo -n bash -s <<<"set -e; $1"
}

# ANCHOR: break
# lab_drop_in SETTING: a drop-in for backend.service setting SETTING (as an
# admin's `systemctl edit backend` would), then the service restarted.
lab_drop_in() {
  lab_on_vps "mkdir -p /etc/systemd/system/backend.service.d
    printf '[Service]\nEnvironment=%s\n' '$1' >/etc/systemd/system/backend.service.d/lab.conf
    systemctl daemon-reload; systemctl restart backend"
}

lab_break() {
  local site=/etc/nginx/sites-available/backend
  case "$1" in
    backend-stopped) lab_on_vps 'systemctl stop backend' ;;
    nginx-stopped) lab_on_vps 'systemctl stop nginx' ;;
    firewall-drops-443) lab_on_vps 'ufw delete allow 443/tcp >/dev/null' ;;
    backend-wrong-port) lab_drop_in ADDR=127.0.0.1:9090 ;;
    nginx-wrong-port) lab_on_vps "sed -i 's/server 127.0.0.1:8080;/server 127.0.0.1:8081;/' $site; systemctl reload nginx" ;;
    certificate-self-signed | certificate-expired)
      # The certificates were made when the lab started (lab_make_certificates).
      lab_on_vps "sed -i 's|/etc/letsencrypt/live/[^/]*/|/etc/backend/lab/${1#certificate-}/|' $site; systemctl reload nginx" ;;
    static-path) lab_drop_in STATIC_DIR=/opt/backend/current ;;
    *) echo "no fault named '$1': lab_faults lists them" >&2; return 2 ;;
  esac
}
# ANCHOR_END: break

lab_fix() {
  local site=/etc/nginx/sites-available/backend
  case "$1" in
    backend-stopped) lab_on_vps 'systemctl start backend' ;;
    nginx-stopped) lab_on_vps 'systemctl start nginx' ;;
    firewall-drops-443) lab_on_vps 'ufw allow 443/tcp >/dev/null' ;;
    backend-wrong-port | static-path) lab_on_vps 'rm /etc/systemd/system/backend.service.d/lab.conf
      systemctl daemon-reload; systemctl restart backend' ;;
    nginx-wrong-port) lab_on_vps "sed -i 's/server 127.0.0.1:8081;/server 127.0.0.1:8080;/' $site; systemctl reload nginx" ;;
    certificate-self-signed | certificate-expired)
      lab_on_vps "sed -i \"s|/etc/backend/lab/${1#certificate-}/|/etc/letsencrypt/live/\$(ls /etc/letsencrypt/live | grep -v README | head -n 1)/|\" $site; systemctl reload nginx" ;;
    *) echo "no fault named '$1': lab_faults lists them" >&2; return 2 ;;
  esac
}

# lab_make_certificates DIR DOMAIN: a self-signed certificate for DOMAIN,
# and one from a lab CA (DIR/lab-ca.crt, which the edge and the doctor are
# told to trust) that expired in 2020; then puts both on the VPS, under
# /etc/backend/lab/{self-signed,expired}/{fullchain,privkey}.pem.
lab_make_certificates() {
  local dir=$1 domain=$2
  mkdir -p "$dir/self-signed" "$dir/expired" "$dir/ca"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=$domain" \
    -addext "subjectAltName=DNS:$domain" -keyout "$dir/self-signed/privkey.pem" -out "$dir/self-signed/fullchain.pem" 2>/dev/null
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj "/CN=Lab CA" \
    -keyout "$dir/lab-ca.key" -out "$dir/lab-ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$domain" \
    -keyout "$dir/expired/privkey.pem" -out "$dir/expired/leaf.csr" 2>/dev/null
  # `openssl x509 -req` cannot date a certificate in the past; `openssl ca`
  # can (-startdate, -enddate).
  touch "$dir/ca/index.txt"
  echo 01 >"$dir/ca/serial"
  cat >"$dir/ca/ca.cnf" <<EOF
[ca]
default_ca = lab
[lab]
dir = $dir/ca
database = $dir/ca/index.txt
serial = $dir/ca/serial
new_certs_dir = $dir/ca
default_md = sha256
policy = anything
copy_extensions = none
x509_extensions = leaf
[anything]
commonName = supplied
[leaf]
subjectAltName = DNS:$domain
extendedKeyUsage = serverAuth
EOF
  openssl ca -batch -config "$dir/ca/ca.cnf" -cert "$dir/lab-ca.crt" -keyfile "$dir/lab-ca.key" \
    -startdate 20200101000000Z -enddate 20200401000000Z -in "$dir/expired/leaf.csr" \
    -out "$dir/expired/leaf.crt" 2>/dev/null
  cat "$dir/expired/leaf.crt" "$dir/lab-ca.crt" >"$dir/expired/fullchain.pem"
  tar -C "$dir" -c self-signed/fullchain.pem self-signed/privkey.pem expired/fullchain.pem expired/privkey.pem |
    ssh "$LAB_HOST" sudo -n sh -c "'mkdir -p /etc/backend/lab && tar -x -C /etc/backend/lab && chmod -R go-rwx /etc/backend/lab'"
}

# lab_visit [PATH] [CURL OPTION...]: a visitor's request, through the edge.
# Prints the status code, and the edge's error title when it is one of its.
lab_visit() {
  local path=${1:-/} body code
  shift || true
  body=$(curl -sS --max-time 30 --cacert "$LAB_EDGE_CA" --resolve "$DOMAIN:443:$LAB_EDGE" \
    -w '\n%{http_code}' "$@" "https://$DOMAIN$path") || return
  code=${body##*$'\n'}
  echo "$code $(grep -o '<title>[^<]*</title>' <<<"$body" | sed 's/<[^>]*>//g')"
}

# ANCHOR: start
# lab_start_edge DIR: (from the simulation's side, where in_client exists)
# certificates for the lab, and the edge simulator in the client namespace
# on $CLIENT_IP:443, in Full (strict) mode, trusting the site's real CA
# (pebble's root) and the lab's CA. Sets LAB_EDGE_CA and LAB_ORIGIN_CA.
lab_start_edge() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=Edge CA" \
    -keyout "$dir/edge-ca.key" -out "$dir/edge-ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$DOMAIN" \
    -keyout "$dir/edge.key" -out "$dir/edge.csr" 2>/dev/null
  openssl x509 -req -in "$dir/edge.csr" -CA "$dir/edge-ca.crt" -CAkey "$dir/edge-ca.key" -CAcreateserial \
    -days 30 -extfile <(printf 'subjectAltName=DNS:%s\n' "$DOMAIN") -out "$dir/edge.crt" 2>/dev/null
  # shellcheck disable=SC2016 # expanded by the inner bash
  in_client env LAB_HOST=vps DOMAIN="$DOMAIN" bash -c 'source deploy/lab/faults.sh; lab_make_certificates "$1" "$DOMAIN"' \
    lab "$dir/certificates"
  pebble_root "$dir/pebble-root.pem"
  cat "$dir/pebble-root.pem" "$dir/certificates/lab-ca.crt" >"$dir/origin-ca.pem"
  LAB_EDGE_CA=$dir/edge-ca.crt
  LAB_ORIGIN_CA=$dir/origin-ca.pem
  in_client python3 deploy/lab/edge.py --listen "$CLIENT_IP:443" --cert "$dir/edge.crt" --key "$dir/edge.key" \
    --origin "$VPS_IP" --host "$DOMAIN" --mode strict --origin-ca "$LAB_ORIGIN_CA" \
    --connect-timeout 3 --read-timeout 10 2>"$dir/edge.log" &
  SIM_PIDS+=($!)
  local tries
  for tries in $(seq 50); do
    in_client curl -s -o /dev/null --cacert "$LAB_EDGE_CA" --resolve "$DOMAIN:443:$CLIENT_IP" "https://$DOMAIN/" && return
    sleep 0.1
  done
  echo "the edge did not start ($tries tries):" >&2
  cat "$dir/edge.log" >&2
  return 1
}
# ANCHOR_END: start
