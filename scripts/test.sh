#!/usr/bin/env bash
# Install what the test suite needs (Debian peers + the package with its test extras) and
# run the whole suite. This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for bin in prometheus promtool prometheus-node-exporter prometheus-pushgateway prometheus-alertmanager amtool chromium; do
  command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq prometheus prometheus-node-exporter prometheus-pushgateway prometheus-alertmanager chromium
fi
python3 -m pip install -q -e '.[test]'
exec python3 -m pytest -q "$@"
