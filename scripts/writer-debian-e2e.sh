#!/usr/bin/env bash
# The image writer with a real Debian 12 root, the measured case of issue 15:
# mmdebstrap minbase with the kernel, systemd, udev, openssh-server, ifupdown
# and isc-dhcp-client (systemd-networkd installed, not enabled; no curl or
# wget), written by the writer under QEMU, booted from disk under SeaBIOS:
# it must get an address on its NIC (ens3, not eth0) through ifupdown bound to
# the MAC, call back, and let ssh in with Kiln's @cert-authority line.
# Minutes and the Debian mirror; not part of `npm test`. Needs root, mmdebstrap
# and QEMU.
# Usage: bash scripts/writer-debian-e2e.sh [ROOT_TARBALL]
set -euo pipefail
cd "$(dirname "$0")/.."
tarball=${1:-/var/tmp/kiln-writer-e2e/debian12-ifupdown.tar.zst}
if [ ! -s "$tarball" ]; then
  mkdir -p "$(dirname "$tarball")"
  start=$(date +%s)
  mmdebstrap --variant=minbase --architectures=amd64 \
    --include=linux-image-amd64,systemd,systemd-sysv,udev,dbus,openssh-server,iproute2,ifupdown,isc-dhcp-client \
    --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' --customize-hook='rm -f "$1"/etc/hostname' \
    --customize-hook='if [ -e "$1"/etc/machine-id ]; then : > "$1"/etc/machine-id; fi' \
    bookworm "$tarball"
  echo "mmdebstrap: $(($(date +%s) - start)) s, $(du -h "$tarball" | cut -f 1)"
fi
# TCG unless KILN_QEMU_ACCEL=kvm (where KVM works: on the 2-core CI VM it boots nothing).
npm run build >/dev/null
KILN_WRITER_DEBIAN_IMAGE=$tarball flock /tmp/kiln-int.lock \
  node --import tsx --test --test-reporter=spec src/discovery/image-writer-debian.int.test.ts
