#!/usr/bin/env bash
# The 521 lab: the whole deployment on your machine, with a Cloudflare
# stand-in in front of it, for you to break and mend.
#
#   sudo deploy/lab/lab.sh
#
# It boots the simulated VPS (deploy/lab/simulated-vps.sh), provisions it
# and deploys `backend` with the real scripts, starts the edge simulator
# (deploy/lab/edge.py, in Full (strict) mode), and opens a shell on "your
# laptop", where:
#
#   lab_faults              lists the faults: what each breaks, what the edge shows
#   lab_break NAME          breaks one (on the VPS, over ssh, as an admin's mistake would)
#   lab_visit [PATH]        a visitor's request through the edge: the code, and its page title
#   deploy/doctor.sh vps    walks the layers and names the broken one
#   lab_fix NAME            mends it
#   ssh vps                 the VPS itself (user deploy, sudo without a password)
#
# Leave the shell (exit, or Ctrl-D) and everything is taken down: nothing is
# left on your machine. Needs root, Linux with network namespaces, and the
# packages listed in VPS_PACKAGES (deploy/lab/simulated-vps.sh) installed:
# the simulated VPS is your own machine's root, seen through an overlay.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source-path=SCRIPTDIR/../..
source deploy/lab/simulated-vps.sh
sim_enter "$@"
# shellcheck source-path=SCRIPTDIR/../..
source deploy/lab/faults.sh

echo "lab: booting the VPS, provisioning it, deploying (about a minute)"
# Setting up reads nothing from the terminal (ssh would take what you type
# ahead): the shell at the end gets it all.
exec 4<&0 </dev/null
sim_start
export DOMAIN EMAIL=ops@example.com ACME_SERVER ACME_CA_BUNDLE=$PEBBLE_CA
cargo build --release --locked --quiet -p backend
in_client deploy/provision.sh root@vps >"$SIM/provision.log" 2>&1 || { cat "$SIM/provision.log"; exit 1; }
in_client deploy/deploy.sh vps >"$SIM/deploy.log" 2>&1 || { cat "$SIM/deploy.log"; exit 1; }
lab_start_edge "$SIM/lab"

cat >"$SIM/lab/bashrc" <<EOF
export DOMAIN=$DOMAIN LAB_HOST=vps LAB_EDGE=$CLIENT_IP LAB_EDGE_CA=$LAB_EDGE_CA CA_FILE=$LAB_ORIGIN_CA
source deploy/lab/faults.sh
PS1='laptop\$ '
echo
echo "The lab is up: https://$DOMAIN/ is served by the VPS ($VPS_IP), behind the edge ($CLIENT_IP)."
echo "The edge's log: $SIM/lab/edge.log. Try:"
echo "  lab_visit /                      # 200, through the edge"
echo "  lab_faults                       # what you can break"
echo "  lab_break nginx-stopped; lab_visit /; deploy/doctor.sh vps; lab_fix nginx-stopped"
echo "exit (or Ctrl-D) takes it all down."
EOF
in_client bash --rcfile "$SIM/lab/bashrc" -i <&4 || true
echo "lab: taking it down"
