# shellcheck shell=bash
# A simulated VPS on this one machine, for the system test
# (tests/deploy/system.sh) and the 521 lab (deploy/lab/lab.sh). Sourced, not
# run. Needs root, and the packages the VPS will use installed on this
# machine first (the namespaces have no network, so nothing can be
# downloaded inside them): see VPS_PACKAGES.
#
# What it builds:
#
#   client namespace (10.200.0.2)              vps namespace (10.200.0.1)
#   ─────────────────────────────              ──────────────────────────
#   you: ssh, provision.sh, deploy.sh,  veth   systemd as PID 1 (systemd-nspawn
#   curl, chromium, doctor.sh         ◄──────► on a copy-on-write overlay of
#   pebble (Let's Encrypt's stand-in)          this machine's root): sshd, UFW,
#   pebble-challtestsrv (DNS)                  nginx, certbot, backend
#   the edge simulator (Cloudflare)
#
# The two namespaces have no route anywhere else: nothing they send can
# leave the machine. Everything lives inside a private mount namespace
# (sim_enter re-runs the calling script under `unshare --mount`), so the
# overlay, the namespaces' names and the scratch files vanish with it, even
# when the script is killed.
#
# The calling script does:
#
#   source deploy/lab/simulated-vps.sh
#   sim_enter "$@"          # re-runs the script in a private mount namespace
#   sim_start               # namespaces, pebble, boot the VPS; trap sim_stop
#   in_client CMD...        # run CMD on "your laptop" (the client namespace)
#   on_vps CMD...           # run CMD as root inside the VPS (for checks)
#
# Names it sets: SIM (scratch folder), VPS_IP, CLIENT_IP, DOMAIN, SIM_HOME
# (the client's $HOME, with an ssh config naming the VPS `vps` for the
# deploy user and `root@vps` for root), PEBBLE_CA (the CA of pebble's own
# HTTPS API), ACME_SERVER.

VPS_IP=10.200.0.1
CLIENT_IP=10.200.0.2
DOMAIN=${DOMAIN:-demo.example.com}
ACME_SERVER=https://$CLIENT_IP:14000/dir
VPS_PACKAGES="systemd-container openssh-server openssh-client nginx ufw iptables certbot pebble
  sqlite3 rsync sudo curl openssl iproute2"

# sim_enter ARGS...: unless already done, re-runs $0 ARGS in a private mount
# namespace (so every mount made later is ours alone), under a time limit.
# When it is done, it checks that nothing of the simulation is left on the
# host (processes, network namespaces, mounts), and exits with its status.
sim_enter() {
  if [ -z "${SIM_ENTERED:-}" ]; then
    [ "$(id -u)" = 0 ] || { echo "$0: needs root (namespaces, mounts, systemd-nspawn)" >&2; exit 1; }
    local status=0
    SIM_ENTERED=1 timeout --kill-after=10 "${SIM_TIME_LIMIT:-1800}" \
      unshare --mount --propagation private -- "$0" "$@" || status=$?
    sim_check_no_traces || status=1
    exit "$status"
  fi
}

# sim_check_no_traces: after the simulation, nothing of it may be left.
sim_check_no_traces() {
  local traces
  sleep 0.5
  traces=$( (pgrep -a -f 'systemd-nspawn -D /mnt/simulated-vps' || true
    pgrep -a -f '^pebble(-challtestsrv)? ' || true
    ip -o link show | grep -E 'veth-(vps|client)' || true
    grep -E 'sim-(scratch|overlay|root|run-netns|etc-netns)' /proc/self/mountinfo || true))
  if [ -n "$traces" ]; then
    echo "the simulated VPS left traces on the host:" >&2
    echo "$traces" >&2
    return 1
  fi
  echo "[sim] no traces left: no processes, network interfaces or mounts" >&2
}

sim_log() { printf '[sim] %s\n' "$*" >&2; }

# sim_check_packages: the VPS boots this machine's own root, so what it has
# installed is what the VPS has.
sim_check_packages() {
  local missing=() package
  for package in $VPS_PACKAGES; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing packages for the simulated VPS: apt-get install ${missing[*]}" >&2
    exit 1
  fi
}

sim_start() {
  sim_check_packages
  trap sim_stop EXIT
  # Scratch space, and our own /run/netns and /etc/netns, all on tmpfs
  # mounts that exist only in our mount namespace: nothing is left on the
  # host, even after a SIGKILL.
  mkdir -p /run/netns /etc/netns
  mount -t tmpfs -o mode=755 sim-scratch /mnt
  SIM=/mnt/simulated-vps
  mkdir -p "$SIM"
  mount -t tmpfs sim-run-netns /run/netns
  mount -t tmpfs sim-etc-netns /etc/netns
  VPS_NS=vps CLIENT_NS=client
  sim_network
  sim_client_home
  sim_pebble
  sim_boot_vps
}

sim_network() {
  ip netns add "$VPS_NS"
  ip netns add "$CLIENT_NS"
  ip link add veth-vps type veth peer name veth-client
  ip link set veth-vps netns "$VPS_NS"
  ip link set veth-client netns "$CLIENT_NS"
  ip -n "$VPS_NS" addr add "$VPS_IP/24" dev veth-vps
  ip -n "$CLIENT_NS" addr add "$CLIENT_IP/24" dev veth-client
  ip -n "$VPS_NS" link set veth-vps up
  ip -n "$CLIENT_NS" link set veth-client up
  ip -n "$VPS_NS" link set lo up
  ip -n "$CLIENT_NS" link set lo up
  # The client's DNS: the site's name is the VPS (as an A record would say).
  mkdir -p "/etc/netns/$CLIENT_NS"
  printf '127.0.0.1 localhost\n%s %s\n%s vps\n' "$VPS_IP" "$DOMAIN" "$VPS_IP" >"/etc/netns/$CLIENT_NS/hosts"
}

# The laptop's $HOME: an ssh key, and a config naming the VPS.
sim_client_home() {
  SIM_HOME=$SIM/home
  mkdir -p "$SIM_HOME/.ssh"
  chmod 700 "$SIM_HOME/.ssh"
  ssh-keygen -q -t ed25519 -N '' -C you@laptop -f "$SIM_HOME/.ssh/id_ed25519"
  # The VPS's host key is this machine's (its root is ours): known in advance,
  # as a provider's console shows it, so StrictHostKeyChecking stays on.
  printf '%s %s\n' "$VPS_IP" "$(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)" >"$SIM_HOME/.ssh/known_hosts"
  # ssh reads ~/.ssh from the password database, not from $HOME: the
  # laptop's .ssh is mounted over root's, in our mount namespace only.
  mkdir -p /root/.ssh
  mount --bind "$SIM_HOME/.ssh" /root/.ssh
  cat >"$SIM_HOME/.ssh/config" <<EOF
Host vps
  HostName $VPS_IP
  User deploy
Host *
  StrictHostKeyChecking yes
  HostKeyAlgorithms ssh-ed25519
  BatchMode yes
  ConnectTimeout 5
EOF
}

# in_client CMD...: runs CMD in the client namespace, with the laptop's HOME
# (cargo and rustup still find their own homes).
in_client() {
  ip netns exec "$CLIENT_NS" env HOME="$SIM_HOME" \
    CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" "$@"
}

# pebble (an ACME server, as Let's Encrypt) and pebble-challtestsrv (the DNS
# it asks: every name is the VPS), both in the client namespace.
sim_pebble() {
  local dir=$SIM/pebble
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=pebble API CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=pebble" \
    -keyout "$dir/pebble.key" -out "$dir/pebble.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s\n' "$CLIENT_IP" >"$dir/ext"
  openssl x509 -req -in "$dir/pebble.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/ext" -out "$dir/pebble.crt" 2>/dev/null
  PEBBLE_CA=$dir/ca.crt
  # Certificates name an OCSP responder, as a real CA's name a CRL or an
  # OCSP address (testssl.sh counts one without either as HIGH). None
  # answers there: nothing checks revocation here.
  cat >"$dir/config.json" <<EOF
{"pebble": {"listenAddress": "$CLIENT_IP:14000", "managementListenAddress": "$CLIENT_IP:15000",
  "certificate": "$dir/pebble.crt", "privateKey": "$dir/pebble.key",
  "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "http://$CLIENT_IP:4002/", "externalAccountBindingRequired": false}}
EOF
  ip netns exec "$CLIENT_NS" pebble-challtestsrv -defaultIPv4 "$VPS_IP" -defaultIPv6 "" \
    -dns01 "$CLIENT_IP:8053" -http01 "" -https01 "" -tlsalpn01 "" -management "$CLIENT_IP:8055" \
    >"$dir/challtestsrv.log" 2>&1 &
  SIM_PIDS+=($!)
  ip netns exec "$CLIENT_NS" env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
    pebble -config "$dir/config.json" -dnsserver "$CLIENT_IP:8053" >"$dir/pebble.log" 2>&1 &
  SIM_PIDS+=($!)
  local tries
  for tries in $(seq 50); do
    in_client curl -sf --cacert "$PEBBLE_CA" "$ACME_SERVER" >/dev/null 2>&1 && return
    sleep 0.2
  done
  echo "pebble did not start ($tries tries):" >&2
  cat "$dir/pebble.log" >&2
  return 1
}

# pebble_root FILE: the root that signs pebble's certificates (a new one each
# time pebble starts), for clients that check the site's certificate.
pebble_root() {
  in_client curl -sf --cacert "$PEBBLE_CA" "https://$CLIENT_IP:15000/roots/0" >"$1"
}

# The VPS: this machine's root, seen through a copy-on-write overlay (writes
# go to a tmpfs and vanish), booted by systemd-nspawn with systemd as PID 1,
# in the vps namespace. It starts as a freshly bought VPS does: root can log
# in with your key, nothing is configured.
sim_boot_vps() {
  local overlay=$SIM/overlay root=$SIM/root
  mkdir -p "$overlay" "$root"
  mount -t tmpfs -o size=2g,mode=755 sim-overlay "$overlay"
  mkdir -p "$overlay/upper" "$overlay/work"
  mount -t overlay sim-root -o "lowerdir=/,upperdir=$overlay/upper,workdir=$overlay/work" "$root"
  VPS_ROOT=$root
  # This machine forbids starting services on install; a VPS does not.
  rm -f "$root/usr/sbin/policy-rc.d"
  systemd-id128 new >"$root/etc/machine-id"
  echo vps >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 vps\n' >"$root/etc/hosts"
  # A fresh VPS runs sshd and not much else: what the packages installed
  # here would start, the provisioning starts when it means to.
  systemctl --root="$root" --quiet disable nginx.service 2>/dev/null || true
  local unit
  for unit in postgresql.service e2scrub_reap.service; do
    systemctl --root="$root" --quiet mask "$unit" 2>/dev/null || true
  done
  systemctl --root="$root" --quiet enable ssh.service
  rm -rf "$root/etc/letsencrypt" "$root/etc/backend" "$root/opt/backend" "$root/var/lib/backend" \
    "$root/var/lib/private/backend" "$root/etc/systemd/system/backend.service"
  sed -i 's/^ENABLED=.*/ENABLED=no/' "$root/etc/ufw/ufw.conf"
  # root logs in with your key, as on a VPS made with an SSH key.
  mkdir -p "$root/root/.ssh"
  cp "$SIM_HOME/.ssh/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
  chmod 700 "$root/root/.ssh"
  chmod 600 "$root/root/.ssh/authorized_keys"

  systemd-nspawn -D "$root" --register=no --keep-unit --link-journal=no --console=pipe \
    --network-namespace-path="/run/netns/$VPS_NS" --capability=CAP_NET_ADMIN \
    --machine=vps -b -- systemd.unit=multi-user.target >"$SIM/vps-console.log" 2>&1 &
  VPS_NSPAWN_PID=$!
  local tries state
  for tries in $(seq 100); do
    state=$(on_vps systemctl is-system-running 2>/dev/null) || true
    case "$state" in running | degraded) break ;; esac
    sleep 0.2
  done
  case "$state" in
    running) ;;
    degraded) sim_log "the VPS booted degraded:"; on_vps systemctl --failed --no-legend >&2 || true ;;
    *) echo "the VPS did not boot ($tries tries, state '$state'):" >&2; tail -n 30 "$SIM/vps-console.log" >&2; return 1 ;;
  esac
  for tries in $(seq 50); do
    in_client ssh -n root@vps true 2>/dev/null && return
    sleep 0.2
  done
  echo "ssh to the VPS did not answer:" >&2
  on_vps journalctl -u ssh --no-pager -n 20 >&2 || true
  return 1
}

# The PID (in our namespace) of the VPS's PID 1: the child of systemd-nspawn.
vps_init_pid() {
  local pid
  pid=$(pgrep -P "$VPS_NSPAWN_PID" | head -n 1) || return 1
  [ -n "$pid" ] && echo "$pid"
}

# on_vps CMD...: runs CMD as root inside the VPS (all its namespaces), for
# the test's own checks; the scripts under test only ever use ssh.
on_vps() {
  local pid
  pid=$(vps_init_pid) || return 1
  nsenter --target "$pid" --all --root --wd env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb "$@"
}

sim_stop() {
  local status=$?
  set +e
  if [ -n "${VPS_NSPAWN_PID:-}" ] && kill -0 "$VPS_NSPAWN_PID" 2>/dev/null; then
    kill -TERM "$VPS_NSPAWN_PID"
    local tries
    for tries in $(seq 100); do kill -0 "$VPS_NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$VPS_NSPAWN_PID" 2>/dev/null && { sim_log "nspawn did not stop after $tries tries: killing it"; kill -KILL "$VPS_NSPAWN_PID"; }
    wait "$VPS_NSPAWN_PID" 2>/dev/null
  fi
  local pid
  for pid in "${SIM_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${SIM_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  # Anything still running in the namespaces (a test's stray curl) goes too.
  local ns
  for ns in "${VPS_NS:-}" "${CLIENT_NS:-}"; do
    [ -n "$ns" ] && ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
  done
  sleep 0.2
  [ -n "${VPS_ROOT:-}" ] && umount -l "$VPS_ROOT" 2>/dev/null
  [ -n "${SIM:-}" ] && umount -l "$SIM/overlay" 2>/dev/null
  [ -n "${VPS_NS:-}" ] && ip netns del "$VPS_NS" 2>/dev/null
  [ -n "${CLIENT_NS:-}" ] && ip netns del "$CLIENT_NS" 2>/dev/null
  return "$status"
}
SIM_PIDS=()
