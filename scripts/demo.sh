#!/usr/bin/env bash
# The end-to-end demo, on this machine, with a throw-away OCKAM_HOME: Ockam's quick start
# verbatim (only the ports are free ones). `ockam enroll` creates the project `default` on
# this machine (an authority node and a project node with the relay service); an HTTP
# server is reached with curl through outlet -> project relay -> inlet, end-to-end encrypted.
#
#   python3 -m http.server  <-  outlet (node s)  <-  relay forward_to_s (/project/default)
#                                                 <-  secure channel + inlet (node c)  <-  curl
set -euo pipefail
cd "$(dirname "$0")/.."
own_home=
if [ -z "${OCKAM_HOME:-}" ]; then
  OCKAM_HOME=$(mktemp -d)
  own_home=1
fi
export OCKAM_HOME
ockam=.venv/bin/ockam
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
web_port=$(free_port)
inlet_port=$(free_port)
www=$(mktemp -d)
echo "Hello from behind an Ockam portal" >"$www/index.html"
.venv/bin/python -m http.server "$web_port" --bind 127.0.0.1 --directory "$www" >/dev/null 2>&1 &
web_pid=$!
cleanup() {
  kill "$web_pid" 2>/dev/null || true
  if [ -n "$own_home" ]; then # the project's nodes too
    $ockam reset --yes >/dev/null 2>&1 || true
    rm -rf "$OCKAM_HOME"
  else
    for n in s c; do $ockam node delete "$n" --yes >/dev/null 2>&1 || true; done
  fi
  rm -rf "$www"
}
trap cleanup EXIT

show() { printf '$ %s\n' "$*" | sed "s#$ockam#ockam#g"; }
run() { show "$@"; "$@"; echo; }
project_json="$OCKAM_HOME/default-project.json"
run $ockam enroll
show "$ockam project information --output json > $project_json"
$ockam project information --output json >"$project_json"
echo
run $ockam node create s --project "$project_json"
run $ockam tcp-outlet create --at /node/s --from /service/outlet --to "127.0.0.1:$web_port"
run $ockam forwarder create s --at /project/default --to /node/s
run $ockam node create c --project "$project_json"
show "$ockam secure-channel create --from /node/c --to /project/default/service/forward_to_s/service/api |"
show "  $ockam tcp-inlet create --at /node/c --from 127.0.0.1:$inlet_port --to -/service/outlet"
$ockam secure-channel create --from /node/c --to /project/default/service/forward_to_s/service/api |
  $ockam tcp-inlet create --at /node/c --from "127.0.0.1:$inlet_port" --to -/service/outlet
echo
run curl --fail --silent --show-error --retry 10 --retry-connrefused --retry-delay 1 "http://127.0.0.1:$inlet_port/"
