#!/usr/bin/env bash
# The server half of deploy/doctor.sh: runs as root on the VPS and checks
# the layers that only the server can see, from the inside out. It stops at
# the first broken one. Never run by hand; doctor.sh pipes it over ssh.
#
# Each line it prints is one of:
#   ok LAYER: what was checked
#   BROKEN LAYER: what is wrong
#   fix: what to do about it
#   | evidence (the service's state, nginx -t's complaint, UFW's rules)
#   | log: a log line (the service's journal, nginx's error log)
# and it exits 1 after a BROKEN, 0 when every layer answered.
set -uo pipefail
: "${DOMAIN:?}"

ok() { printf 'ok      %-16s %s\n' "$1:" "$2"; }
broken() {
  printf 'BROKEN  %-16s %s\n' "$1:" "$2"
  printf 'fix:    %s\n' "$3"
  exit 1
}
evidence() { sed 's/^/|       /'; }
log_lines() { sed 's/^/|       log: /'; }

# The service's setting NAME (from its Environment= lines, drop-ins included).
setting() {
  systemctl show -p Environment --value backend | tr ' ' '\n' | sed -n "s/^$1=//p" | tail -n 1
}

# ANCHOR: service
# 1. The service: is systemd running it?
state=$(systemctl is-active backend)
if [ "$state" != active ]; then
  systemctl show -p ActiveState -p SubState -p Result -p ExecMainStatus backend | evidence
  journalctl -u backend --no-pager -n 8 -o cat | log_lines
  broken service "backend.service is $state" \
    "read the log lines above; then \`sudo systemctl start backend\` (after a bad deploy: \`deploy/deploy.sh rollback HOST\`)"
fi
ok service "backend.service is active (pid $(systemctl show -p MainPID --value backend), $(systemctl show -p NRestarts --value backend) restarts)"
# ANCHOR_END: service

# ANCHOR: listener
# 2. The listener: is it listening where its ADDR says?
addr=$(setting ADDR)
addr=${addr:-127.0.0.1:8080}
pid=$(systemctl show -p MainPID --value backend)
if ! ss -H -ltnp "sport = :${addr##*:}" | grep -q "pid=$pid,"; then
  ss -H -ltnp | grep "pid=$pid," | evidence
  broken listener "backend runs, but does not listen on its ADDR=$addr" \
    "the log (\`journalctl -u backend\`) says where it listens, or why it could not"
fi
ok listener "backend listens on $addr"
# ANCHOR_END: listener

# ANCHOR: local
# 3. Locally, without nginx: does it answer, and serve the page?
status=$(curl -s --max-time 5 "http://$addr/api/status")
if ! grep -q '"status":"ok"' <<<"$status"; then
  broken local "GET http://$addr/api/status did not answer ok: ${status:-no answer within 5 s}" \
    "the service is up but not well: read \`journalctl -u backend -n 50\`"
fi
page=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://$addr/")
if [ "$page" != 200 ]; then
  static_dir=$(setting STATIC_DIR)
  find "$static_dir/" -maxdepth 1 2>&1 | head -n 5 | evidence
  broken local "GET http://$addr/ answers $page: the page is not where STATIC_DIR=$static_dir says" \
    "STATIC_DIR must be an absolute path to the folder holding index.html (/opt/backend/current/frontend): check \`systemctl cat backend\` for a drop-in that changes it"
fi
ok local "http://$addr/api/status is ok, and / is the page (200)"
# ANCHOR_END: local

# ANCHOR: nginx
# 4. nginx: valid, running, proxying to where backend listens, answering.
if ! said=$(nginx -t 2>&1); then
  evidence <<<"$said"
  broken nginx "nginx -t refuses the configuration" "correct the file it names, then \`sudo nginx -t && sudo systemctl reload nginx\`"
fi
if ! systemctl is-active --quiet nginx; then
  journalctl -u nginx --no-pager -n 5 -o cat | log_lines
  broken nginx "nginx is $(systemctl is-active nginx): nothing answers on 80 and 443" "\`sudo systemctl start nginx\` (and \`systemctl enable nginx\` so it starts at boot)"
fi
upstream=$(nginx -T 2>/dev/null | awk '/upstream backend/ { inside = 1 } inside && $1 == "server" { sub(/;$/, "", $2); print $2; exit }')
if [ "$upstream" != "$addr" ]; then
  broken "nginx → backend" "nginx proxies to ${upstream:-nothing}, but backend listens on $addr (its ADDR)" \
    "make them agree: the \`server\` line of \`upstream backend\` in /etc/nginx/sites-available/backend, or ADDR in the unit (\`systemctl cat backend\`)"
fi
through=$(curl -sk --max-time 10 -o /dev/null -w '%{http_code}' --resolve "$DOMAIN:443:127.0.0.1" "https://$DOMAIN/api/status")
if [ "$through" != 200 ]; then
  tail -n 3 /var/log/nginx/error.log | log_lines
  broken "nginx → backend" "https://$DOMAIN/api/status through nginx answers ${through/#000/nothing}" "nginx's error log (above) names the problem"
fi
ok nginx "nginx -t is happy, nginx runs, proxies to $upstream, and https://$DOMAIN/api/status through it is 200"
# ANCHOR_END: nginx

# ANCHOR: firewall
# 5. The firewall: are 80 and 443 let in?
if ufw status | grep -q '^Status: active'; then
  for port in 80 443; do
    if ! ufw status | grep -Eq "^$port(/tcp)? +ALLOW( IN)? +Anywhere"; then
      ufw status | evidence
      broken firewall "UFW is on and does not allow $port/tcp: visitors' packets are dropped (a browser waits, then times out)" \
        "\`sudo ufw allow $port/tcp\`"
    fi
  done
  ok firewall "UFW is on and allows 80/tcp and 443/tcp"
else
  ok firewall "UFW is off (every port is open: \`deploy/provision.sh\` turns it on)"
fi
# ANCHOR_END: firewall
