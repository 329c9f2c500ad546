#!/usr/bin/env bash
# The full run of test/e2e/deploy-debian.int.test.ts (issue 15): the small
# Debian image built by `kiln image build` (cached under
# $TMPDIR/kiln-test-cache/debian-image; KILN_TEST_CACHE=<empty dir> forces a
# fresh build), deployed through `kiln serve` to a SeaBIOS VM (the CI part),
# then to a second VM under OVMF with two NICs and a machine description whose
# network is an active-backup bond with a static address: a different host key
# and machine-id than the first VM, the address on the bond, and ping and ssh
# still answered after the QEMU monitor's `set_link nic0 off` on the active
# NIC. About 15 minutes under TCG on 2 cores; not part of `npm test` (the CI
# kernel has no bonding driver, the guest's Debian kernel does). Needs root,
# QEMU, OVMF, iPXE, mmdebstrap and the Debian mirror apt uses.
# Usage: bash scripts/debian-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
KILN_DEBIAN_E2E_FULL=1 flock /tmp/kiln-int.lock \
  node --import tsx --test --test-reporter=spec test/e2e/deploy-debian.int.test.ts
