#!/usr/bin/env bash
# Installs what the test suite and benchmarks run against, on top of what
# `kiln serve` needs (scripts/install-debian-packages.sh, run first): real
# protocol peers (a second DHCP server, TFTP and HTTP servers, DHCP clients,
# syslog senders),
# QEMU and firmware, a BMC simulator, a browser, packet capture, Prometheus and
# the install-file validators. A controller does not need any of them.
# Safe to run again; needs root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/.."
bash scripts/install-debian-packages.sh
packages=(
  # firmware and machines for the network-boot tests
  ipxe-qemu ovmf qemu-system-x86 qemu-utils
  # arm64 UEFI (AAVMF) for the arm64 network-boot test
  qemu-system-arm qemu-efi-aarch64
  # real protocol peers used by the tests and benchmarks
  udhcpc isc-dhcp-client kea-dhcp4-server kea-admin dnsmasq-base
  tftp-hpa tftpd-hpa atftp curl nginx-light
  openipmi openssh-server openssh-client
  tcpdump tshark iputils-ping procps ndisc6
  # every program a node script runs, with its argv: the credential-on-no-command-line tests (test/support/exec-trace.ts)
  strace
  # HTTP load generator for bench/inventory.bench.ts
  wrk
  prometheus
  chromium
  # install-file validators (cloud-init schema)
  cloud-init
  # syslog senders for the syslog codec's captures (logger; busybox syslogd comes with busybox-static)
  bsdutils rsyslog
  # the machine description's ifupdown rendering runs under the real ifupdown (ifquery, ifup in a
  # namespace); policy-rc.d (apt-install-missing.sh) keeps networking.service from starting
  ifupdown ifenslave bridge-utils
  # nmcli's library and the NetworkManager daemon's (both unpacked below, not installed as a service),
  # and a D-Bus daemon for the one the test starts in its namespace
  libnm0 libndp0 libpsl5 libcurl3-gnutls dbus-daemon
  # the Clevis client (tang pin; jose, curl) for the round trip against Kiln's Tang (src/tang/tang-server.int.test.ts),
  # and its LUKS binding for the image writer's LUKS steps on a loop device (src/machine/luks-writer.int.test.ts)
  clevis clevis-luks
)
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
bash "$(dirname "$0")/apt-install-missing.sh" "${packages[@]}"
# atftpd conflicts with tftpd-hpa as a package, but the benchmarks run both side
# by side: unpack atftpd's binary (no service) under /opt/kiln-peers.
if [ ! -x /opt/kiln-peers/usr/sbin/atftpd ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq atftpd)
  mkdir -p /opt/kiln-peers
  dpkg-deb -x "$tmp"/atftpd_*.deb /opt/kiln-peers
  rm -rf "$tmp"
fi
# The NetworkManager tests run `nmcli --offline` and a NetworkManager the test starts in a network
# namespace. Installing network-manager would enable a daemon that takes over this machine's
# interfaces at its next boot: unpack only nmcli and the NetworkManager binary under
# /opt/kiln-peers/network-manager (libnm0 above is the same version); no unit, no configuration.
if [ ! -x /opt/kiln-peers/network-manager/usr/bin/nmcli ] || [ ! -x /opt/kiln-peers/network-manager/usr/sbin/NetworkManager ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq network-manager)
  mkdir -p "$tmp/x" /opt/kiln-peers/network-manager/usr/bin /opt/kiln-peers/network-manager/usr/sbin
  dpkg-deb -x "$tmp"/network-manager_*.deb "$tmp/x"
  cp "$tmp/x/usr/bin/nmcli" /opt/kiln-peers/network-manager/usr/bin/nmcli
  cp "$tmp/x/usr/sbin/NetworkManager" /opt/kiln-peers/network-manager/usr/sbin/NetworkManager
  rm -rf "$tmp"
fi
# Debian bookworm's `ipxe` has no arm64 build; trixie's `ipxe` (Architecture: all) ships
# ipxe-arm64.efi. The arm64 network-boot test serves that file: fetch the package with
# a throw-away apt configuration (same mirror as this machine's bookworm sources, suite
# trixie) and unpack it under /opt/kiln-peers/ipxe-trixie; nothing is installed.
trixie_ipxe=/opt/kiln-peers/ipxe-trixie
if [ ! -f "$trixie_ipxe/usr/lib/ipxe/ipxe-arm64.efi" ]; then
  mirror=$(apt-cache policy | awk '$3 == "bookworm/main" { print $2; exit }')
  if [ -n "$mirror" ]; then
    tmp=$(mktemp -d)
    mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$tmp/sources.list"
    aptx=(-o "Dir::Etc::sourcelist=$tmp/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache")
    if apt-get "${aptx[@]}" update -qq && (cd "$tmp" && apt-get "${aptx[@]}" download -qq ipxe); then
      mkdir -p "$trixie_ipxe"
      dpkg-deb -x "$tmp"/ipxe_*.deb "$trixie_ipxe"
    else
      echo "warning: could not fetch trixie's ipxe package; the arm64 netboot test will serve a stand-in" >&2
    fi
    rm -rf "$tmp"
  fi
fi
