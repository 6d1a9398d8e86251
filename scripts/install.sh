#!/usr/bin/env bash
# Install everything this project needs on a Debian machine: system packages (when
# missing and we may install them) and a .venv with the package and its dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# (iperf3, stunnel4, ssh and sshd: the competitors of bench/portal.py)
for pair in curl:curl jq:jq ps:procps netstat:net-tools ip:iproute2 socat:socat psql:postgresql-client \
            pg_ctlcluster:postgresql iperf3:iperf3 stunnel4:stunnel4 ssh:openssh-client \
            sshd:openssh-server; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${need[*]}" >&2
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
      echo "warning: could not install ${need[*]} (some tests will be skipped)" >&2
  else
    echo "warning: missing ${need[*]} (install them with apt-get; some tests will be skipped)" >&2
  fi
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev]'
echo "installed: $(.venv/bin/ockam --version | head -1)" >&2
