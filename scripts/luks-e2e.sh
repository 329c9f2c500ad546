#!/usr/bin/env bash
# LUKS with boot-time unlock by Clevis through Kiln's Tang, end to end under
# QEMU (test/e2e/deploy-luks.int.test.ts): a Debian 12 image built by `kiln
# image build` with cryptsetup-initramfs, clevis-luks and clevis-initramfs is
# installed on an encrypted root and boots unattended to ssh and `systemctl
# is-system-running`; with Kiln's Tang stopped the boot waits at the LUKS
# prompt; with Tang back it unlocks. Minutes and the Debian mirror; not part of
# `npm test`. Needs root, QEMU, mmdebstrap and tang.
# Status: passed on 2026-12-07 in 623 s under TCG with the image cached
# (docs/bench-logs/luks-e2e-2026-12-07.txt; the faults fixed on the way are in
# docs/machine-description.md, Tests). The image (cloud kernel) builds in about
# 5 minutes, cached after. KVM is no use here (the guest sat in the NIC's iPXE
# ROM); run under TCG, the default.
# Usage: bash scripts/luks-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
KILN_LUKS_E2E=1 KILN_KEEP_E2E_LOGS=${KILN_KEEP_E2E_LOGS:-1} flock /tmp/kiln-int.lock \
  node --import tsx --test --test-reporter=spec test/e2e/deploy-luks.int.test.ts
