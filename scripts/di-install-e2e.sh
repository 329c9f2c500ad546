#!/usr/bin/env bash
# debian-installer's full install attempt (issue 18), the long form of
# src/boot/debian-installer-qemu.int.test.ts: `kiln repo sync` of the shipped
# profiles from this machine's Debian mirror, then a QEMU VM (SeaBIOS + iPXE,
# TCG unless KILN_QEMU_ACCEL=kvm, a 10 GiB disk) network-boots the debian-12
# preseed profile from `kiln serve` in a namespace whose only server is Kiln
# (10.49.0.0/16). Prints each d-i step (main-menu's "Menu item selected") with
# its seconds since the VM started, and ends when the host leaves `deploying`,
# when d-i is silent for 5 min, or after 60 min; then says clearly where it
# stopped and what d-i reported (the udebs upstream answers 404 for stop it:
# docs/repo.md). Minutes to an hour; not part of `npm test`. Needs root,
# QEMU, ipxe, debian-installer-12-netboot-amd64.
# Usage: bash scripts/di-install-e2e.sh   (KILN_KEEP_NETBOOT_LOGS=1 keeps the work directory)
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
KILN_DI_E2E=1 flock /tmp/kiln-int.lock \
  node --import tsx --test --test-reporter=spec src/boot/debian-installer-qemu.int.test.ts
