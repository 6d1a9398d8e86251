#!/usr/bin/env bash
# The end-to-end demo, on this machine, with a throw-away OCKAM_HOME: an HTTP server
# reached with curl through outlet -> relay -> inlet, end-to-end encrypted.
#
#   python3 -m http.server  <-  outlet (node s)  <-  relay forward_to_s (node relay)
#                                                 <-  secure channel + inlet (node c)  <-  curl
set -euo pipefail
cd "$(dirname "$0")/.."
export OCKAM_HOME=${OCKAM_HOME:-$(mktemp -d)}
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
  $ockam node delete --all --yes >/dev/null 2>&1 || true
  rm -rf "$www"
}
trap cleanup EXIT

show() { printf '$ %s\n' "$*" | sed "s#$ockam#ockam#g"; }
run() { show "$@"; "$@"; echo; }
run $ockam node create relay
run $ockam node create s
run $ockam tcp-outlet create --at /node/s --to "127.0.0.1:$web_port"
run $ockam relay create s --at /node/relay --to /node/s
run $ockam node create c
show "$ockam secure-channel create --from /node/c --to /node/relay/service/forward_to_s/service/api |"
show "  $ockam tcp-inlet create --at /node/c --from 127.0.0.1:$inlet_port --to -/service/outlet"
$ockam secure-channel create --from /node/c --to /node/relay/service/forward_to_s/service/api |
  $ockam tcp-inlet create --at /node/c --from "127.0.0.1:$inlet_port" --to -/service/outlet
echo
run curl --fail --silent --show-error --retry 10 --retry-connrefused --retry-delay 1 "http://127.0.0.1:$inlet_port/"
