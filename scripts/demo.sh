#!/usr/bin/env bash
# The end-to-end demo on this machine, with a throw-away OCKAM_HOME:
# three background nodes, a message routed n1 -> n2 (hop) -> n3 (uppercase).
set -euo pipefail
cd "$(dirname "$0")/.."
export OCKAM_HOME=${OCKAM_HOME:-$(mktemp -d)}
ockam=.venv/bin/ockam
trap '$ockam node delete --all --yes >/dev/null 2>&1 || true' EXIT

$ockam node create n1 >/dev/null
$ockam node create n2 >/dev/null
$ockam node create n3 >/dev/null
$ockam service start hop --at n2 -q
out=$($ockam message send hello --from n1 --to /node/n2/service/hop/node/n3/service/uppercase)
echo "n1 -> n2/hop -> n3/uppercase: $out"
[ "$out" = HELLO ]
