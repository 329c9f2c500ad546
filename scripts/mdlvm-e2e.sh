#!/usr/bin/env bash
# test/e2e/deploy-mdlvm.int.test.ts (issue 15): a real Debian image (the CI
# package set plus mdadm and lvm2, built by `kiln image build` and cached under
# $TMPDIR/kiln-test-cache/debian-image; KILN_TEST_CACHE=<empty dir> forces a
# fresh build) deployed through `kiln serve` to a SeaBIOS VM with two disks, on
# a root volume of LVM on RAID 1; it boots, answers ssh trusting only Kiln's
# CA with `systemctl is-system-running` = running, GRUB is on both disks, and
# it boots again from the second disk alone (degraded mirror). Long under TCG
# on 2 cores, so not part of `npm test`. Needs root, QEMU, iPXE, mmdebstrap and
# the Debian mirror apt uses (when the image is not cached).
# Usage: bash scripts/mdlvm-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
KILN_MDLVM_E2E=1 flock /tmp/kiln-int.lock \
  node --import tsx --test --test-reporter=spec test/e2e/deploy-mdlvm.int.test.ts
