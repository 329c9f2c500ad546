#!/bin/bash
# Layout ab end to end under QEMU (TCG; 14 minutes measured): four deploys of the
# CI test image with the real image writer and GRUB, a health-check failure
# and a hang rolled back with the node API stopped (src/discovery/ab-roots.int.test.ts).
# Needs root (network namespaces) and the test peers (scripts/install-test-peers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build
KILN_AB_E2E=1 flock /tmp/kiln-int.lock node scripts/run-tests.mjs --no-build ab-roots.int
