#!/usr/bin/env bash
# Installs the Debian packages `kiln serve` needs to run: the network-boot
# binaries it serves, the tools the node-image builder uses, the BMC clients of
# the power drivers, and the compilers for the native addons. The test suite's
# protocol peers are not here: scripts/install-test-peers.sh adds them.
# Safe to run again; needs root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  # network boot: Debian's iPXE binaries (ipxe-dir), router advertisements for iPXE's IPv6 wait
  ipxe radvd iproute2
  # node image (discovery / image writer) build inputs
  # (gdisk's sgdisk, mdadm, lvm2 and xfsprogs: machine descriptions' storage plans, node/agent/storage.sh)
  busybox-static cpio kmod e2fsprogs dosfstools gdisk fdisk mdadm lvm2 xfsprogs zstd xz-utils grub-common grub-pc-bin grub-efi-amd64-bin openssl
  # the image writer's object path: bsdtar (mtree view to a tar stream) and setfattr (also the image import test's xattrs)
  libarchive-tools attr
  # the image writer's hand-off by kexec (node/agent/kexec.sh); the preseed below keeps the controller's own reboots plain
  kexec-tools
  # the node image's self-test tools (node/agent/selftest.sh; optional in the image, a missing one skips its test)
  memtester smartmontools ethtool
  # OS images: `kiln image build` (Debian roots with mmdebstrap; zstd above unpacks .tar.zst imports)
  mmdebstrap
  # stateless images: the squashfs root built from an image tarball (src/image/squashfs-root.ts, docs/stateless.md)
  squashfs-tools
  # the repo subset (kiln repo sync/check, docs/repo.md): apt-ftparchive, the repo key (gpg) and the Debian archive
  # keyring upstream InRelease files verify with; debian-installer's netboot kernel and initrd for the debian-12 profile
  apt-utils gnupg gpgv debian-archive-keyring debian-installer-12-netboot-amd64
  # LUKS volumes of machine descriptions (docs/machine-description.md): Kiln's Tang server runs Debian's tangd per
  # connection (tang-listen); cryptsetup goes into the node image (luksFormat and open before the image is written)
  tang cryptsetup-bin
  # power drivers: IPMI and libvirt BMC clients
  ipmitool libvirt-clients
  # native addon builds (npm ci runs node-gyp on native/bind-to-device and native/tftp-pump)
  gcc g++ make python3
)
# kexec-tools asks whether kexec should take over this machine's reboots (default yes): Kiln only ships the
# binary in its node image, so the controller's own reboots stay firmware reboots.
echo 'kexec-tools kexec-tools/load_kexec boolean false' | debconf-set-selections
bash "$(dirname "$0")/apt-install-missing.sh" "${packages[@]}"
# The tang package enables its own socket-activated tangd on port 80 (keys in /var/lib/tang) under systemd; Kiln
# runs its own Tang (tang-listen, keys in the data dir), so that one is switched off.
if [ -d /run/systemd/system ]; then systemctl disable --now tangd.socket 2>/dev/null || true; fi
