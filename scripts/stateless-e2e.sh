#!/usr/bin/env bash
# A stateless host under QEMU (TCG) against the in-process controller
# (src/discovery/stateless.int.test.ts, docs/stateless.md): the first boot on a
# blank disk waits for `kiln host approve`, runs the CI test image from a
# squashfs root in RAM; a reboot keeps the same SSH host key and credential; a
# wiped identity partition waits for approval again. Three TCG boots take
# minutes, so it is not part of `npm test`. Needs root, QEMU, mksquashfs
# (squashfs-tools) and the Debian packages the node image builder uses.
# Usage: bash scripts/stateless-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
KILN_STATELESS_E2E=1 flock /tmp/kiln-int.lock \
  node --import tsx --test --test-reporter=spec src/discovery/stateless.int.test.ts
