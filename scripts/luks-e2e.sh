#!/usr/bin/env bash
# LUKS with boot-time unlock by Clevis through Kiln's Tang, end to end under
# QEMU (test/e2e/deploy-luks.int.test.ts): a Debian 12 image built by `kiln
# image build` with cryptsetup-initramfs, clevis-luks and clevis-initramfs is
# installed on an encrypted root and boots unattended to ssh and `systemctl
# is-system-running`; with Kiln's Tang stopped the boot waits at the LUKS
# prompt; with Tang back it unlocks. Minutes and the Debian mirror; not part of
# `npm test`. Needs root, QEMU, mmdebstrap and tang.
# Status: not yet passed; it has not yet got past discovery. The LUKS image
# builds (283 s on 2026-12-06, cached after). The one run so far (2026-12-06
# 22:10 UTC, KILN_QEMU_ACCEL=kvm) never discovered the VM: under this
# machine's nested KVM the guest sat in the NIC's iPXE ROM and sent no packet
# in 218 s (tcpdump on kbr0), so run it under TCG (the default). A TCG run was
# queued behind the shared QEMU lock and did not start before the deadline.
# Checked without QEMU: the image's update-initramfs in a chroot, with the
# crypttab the writer writes, puts the crypttab line, Clevis's local-top and
# local-bottom scripts, clevis-decrypt-tang, curl, ipconfig, ps, virtio_net,
# dm-crypt and xts into the initramfs.
# Usage: bash scripts/luks-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
KILN_LUKS_E2E=1 KILN_KEEP_E2E_LOGS=${KILN_KEEP_E2E_LOGS:-1} flock /tmp/kiln-int.lock \
  node --import tsx --test --test-reporter=spec test/e2e/deploy-luks.int.test.ts
