#!/usr/bin/env bash
# Kiln quick start: installs what `kiln serve` needs (Debian packages when run
# as root, npm packages), builds it and starts the controller on the embedded SQLite store
# (./kiln-data) with the sample profiles (./profiles). Settings come from the
# environment (KILN_LISTEN=127.0.0.1:8080, …; see README.md) or extra
# arguments, which go to `kiln serve`. The test suite's peers are installed by
# scripts/install-test-peers.sh, not here.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  bash scripts/install-debian-packages.sh
else
  echo "not root: skipping Debian packages (run scripts/install-debian-packages.sh as root for network boot)" >&2
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# npm ci builds the native addons (docs/dhcp.md "Interfaces", docs/tftp.md "Engines"); build them in trees installed before they existed.
[ -e native/bind-to-device/build/Release/bind_to_device.node ] && [ -e native/tftp-pump/build/Release/tftp_pump.node ] || npm run install
# Compiles to dist/ (bin/kiln.mjs runs it); incremental, so a checkout that is already built takes about a second.
npm run build --silent
# data-dir (./kiln-data) and profiles-dir (./profiles) are the defaults, relative to this checkout.
exec node bin/kiln.mjs serve "$@"
