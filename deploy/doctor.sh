#!/usr/bin/env bash
# What is wrong with the site? Walks the layers from the inside out and
# stops at the first broken one, naming it and its fix:
#
#   on the server (over ssh: deploy/remote/doctor.sh)
#     1 service      is systemd running backend? (its last log lines if not)
#     2 listener     does it listen on its ADDR?
#     3 local        does it answer there, and serve the page?
#     4 nginx        nginx -t, nginx running, proxying to that address,
#                    and answering through it
#     5 firewall     does UFW let 80 and 443 in?
#   from here, as a visitor
#     6 reachable    do 80 and 443 answer from outside?
#     7 dns          does DOMAIN point at the server?
#     8 certificate  valid, for DOMAIN, not about to expire?
#   then, for Cloudflare, which 52x code each broken layer shows as.
#
#   DOMAIN=example.com deploy/doctor.sh deploy@203.0.113.7
#
# Settings (environment):
#   DOMAIN    the site's name
#   CA_FILE   a CA to trust for the certificate check instead of the
#             system's (a test CA; never needed for Let's Encrypt)
# Exit status: 0 when every layer answers, 1 at the first broken one.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -ne 1 ] || [[ "$1" == -* ]]; then
  sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
host=$1
: "${DOMAIN:?set DOMAIN (the site name, e.g. example.com)}"

ok() { printf 'ok      %-16s %s\n' "$1:" "$2"; }
broken() {
  printf 'BROKEN  %-16s %s\n' "$1:" "$2"
  printf 'fix:    %s\n' "$3"
  cloudflare_hints
  exit 1
}

# ANCHOR: hints
cloudflare_hints() {
  cat <<'EOF'

Behind Cloudflare, a broken layer shows as one of its codes:
  502/504  from nginx, passed through: service, listener, local, nginx → backend
  521      the origin refused the connection: nginx stopped, or nothing on 443
  522      no answer to the connection at all: a firewall (UFW, the provider's) dropping 443
  523      no route to the origin: its address in Cloudflare's DNS is wrong
  524      connected, but no answer within 100 s: a request the backend never finishes
  525      the TLS handshake failed: nginx serves no TLS on 443, or no shared cipher
  526      the certificate is invalid (in Full (strict) mode): expired, self-signed, wrong name
  520      an empty or malformed answer: the origin crashed or reset mid-answer
EOF
}
# ANCHOR_END: hints

echo "doctor: $DOMAIN on $host, from the inside out"
# 1-5, on the server.
ssh -T "$host" sudo -n env DOMAIN="$(printf '%q' "$DOMAIN")" bash -s <"$repo/deploy/remote/doctor.sh"
case $? in
  0) ;;
  1) cloudflare_hints; exit 1 ;;
  *) broken ssh "cannot run the checks on $host over ssh" "check \`ssh $host\` works: the address, your key, and that UFW allows SSH" ;;
esac

# ANCHOR: outside
# 6. From outside: the server's address, as ssh knows it, and its ports.
address=$(ssh -G "$host" 2>/dev/null | awk '$1 == "hostname" { print $2 }')
for port in 80 443; do
  result=$(timeout 5 bash -c "exec 3<>/dev/tcp/$address/$port" 2>&1)
  case $? in
    0) ;;
    124) broken reachable "$address:$port does not answer from outside (no reply: packets dropped)" \
      "a firewall drops it: the provider's firewall (its web console), or UFW (\`sudo ufw status\`)" ;;
    *) broken reachable "$address:$port refuses from outside: ${result##*: }" "nothing listens on $port for outside addresses: nginx's \`listen\` lines" ;;
  esac
done
ok reachable "$address answers on 80 and 443 from here"

# 7. DNS: does the name lead to the server?
resolved=$(getent ahostsv4 "$DOMAIN" | awk '{ print $1 }' | sort -u | paste -sd ' ' -)
if [ -z "$resolved" ]; then
  broken dns "$DOMAIN does not resolve" "add an A record for $DOMAIN pointing at $address, at your DNS provider"
fi
# behind_cloudflare IP...: are they all in Cloudflare's published ranges
# (the ones nginx/cloudflare-real-ip.conf lists)?
behind_cloudflare() {
  python3 - "$repo/deploy/nginx/cloudflare-real-ip.conf" "$@" <<'PYTHON'
import ipaddress, re, sys
ranges = [ipaddress.ip_network(r) for r in re.findall(r"^set_real_ip_from (\S+);", open(sys.argv[1]).read(), re.M)]
sys.exit(0 if all(any(ipaddress.ip_address(ip) in r for r in ranges) for ip in sys.argv[2:]) else 1)
PYTHON
}
if grep -qw -- "$address" <<<"$resolved"; then
  ok dns "$DOMAIN resolves to $address"
elif read -ra ips <<<"$resolved" && behind_cloudflare "${ips[@]}"; then
  # Proxied (the orange cloud): visitors reach Cloudflare, which connects
  # to the origin. Whether Cloudflare's A record names $address, only its
  # dashboard says; the checks go on against $address directly.
  ok dns "$DOMAIN resolves to Cloudflare ($resolved): proxied; its A record in Cloudflare must say $address"
else
  broken dns "$DOMAIN resolves to $resolved, not to the server ($address)" \
    "correct the A record at your DNS provider (or, if Cloudflare proxies it and this is one of its new ranges, update nginx/cloudflare-real-ip.conf)"
fi

# 8. The certificate, as a visitor's browser sees it.
ca=()
[ -n "${CA_FILE:-}" ] && ca=(-CAfile "$CA_FILE")
handshake=$(timeout 10 openssl s_client -connect "$address:443" -servername "$DOMAIN" -verify_hostname "$DOMAIN" \
  "${ca[@]}" </dev/null 2>&1)
certificate=$(openssl x509 -noout -subject -issuer -enddate 2>/dev/null <<<"$handshake")
if [ -z "$certificate" ]; then
  tail -n 3 <<<"$handshake" | sed 's/^/|       /'
  broken certificate "no TLS on $address:443 (no certificate in the handshake)" "nginx's TLS server: \`sudo nginx -t\`, and its ssl_certificate lines"
fi
verify=$(sed -n 's/^Verify return code: //p' <<<"$handshake" | tail -n 1)
if [ "${verify%% *}" != 0 ]; then
  printf '%s\n' "$certificate" | sed 's/^/|       /'
  broken certificate "a browser would refuse it: $verify" \
    "an expired one: \`sudo certbot renew\`, then \`sudo systemctl reload nginx\`; a self-signed or wrong one: point ssl_certificate at /etc/letsencrypt/live/$DOMAIN/fullchain.pem"
fi
expires=$(sed -n 's/^notAfter=//p' <<<"$certificate")
days=$((($(date -d "$expires" +%s) - $(date +%s)) / 86400))
if [ "$days" -lt 14 ]; then
  broken certificate "it expires in $days days, and renewals should have replaced it at 30" \
    "\`sudo certbot renew\`, and see why the timer did not: \`systemctl status certbot.timer\`, \`journalctl -u certbot\`"
fi
ok certificate "valid for $DOMAIN, $days days left, $(sed -n 's/^issuer=//p' <<<"$certificate")"
# ANCHOR_END: outside

echo "doctor: every layer answers"
