#!/bin/sh
# Regenerates the DHCPv4 golden captures: real firmware under QEMU (TCG) inside
# a private network namespace, talking to dnsmasq on a tap interface. Only the
# DHCP exchange (udp 67/68) is kept. MACs and UUIDs are fixed, so the captures
# hold no data from any real machine.
#   ipxe-bios.pcap       SeaBIOS + iPXE option ROM (e1000, pxe-e1000.rom)
#   ipxe-efi.pcap        OVMF + iPXE EFI driver ROM (e1000, efi-e1000.rom)
#   uefi-pxe-http.pcap   OVMF's own network stack (virtio-net-pci, romfile=): PXEv4 then HTTPv4 boot
# Usage (root): sh capture.sh [name...]   Writes <name>.pcap and <name>.txt next to this script.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
ns=kcapdhcp$$
cleanup() {
  for p in "$work"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up
nsx() { ip netns exec "$ns" "$@"; }

# run NAME SECONDS QEMU-ARGS...: one firmware boot, bounded by SECONDS.
run() {
  name=$1; secs=$2; shift 2
  nsx ip tuntap add dev ktap0 mode tap
  nsx ip addr add 10.0.2.1/24 dev ktap0
  nsx ip link set ktap0 up
  nsx tcpdump -i ktap0 -U -w "$work/$name.pcap" 'udp and (port 67 or port 68)' >/dev/null 2>&1 & echo $! > "$work/tcpdump.pid"
  # dnsmasq answers so the firmware goes on to REQUEST; the boot files do not exist,
  # so each boot method fails fast and the firmware moves to the next one.
  nsx /usr/sbin/dnsmasq --no-daemon --port=0 --user=root --interface=ktap0 --bind-interfaces \
    --dhcp-range=10.0.2.100,10.0.2.150,1h --dhcp-leasefile="$work/leases" --dhcp-authoritative \
    --dhcp-vendorclass=set:http,HTTPClient --dhcp-option-force=tag:http,60,HTTPClient \
    --dhcp-boot=tag:http,http://10.0.2.1/missing.efi --dhcp-boot=tag:!http,missing.file,,10.0.2.1 \
    >/dev/null 2>&1 & echo $! > "$work/dnsmasq.pid"
  sleep 1
  nsx timeout "$secs" qemu-system-x86_64 -accel tcg -m 256 -nographic -no-reboot -display none -serial none -monitor none \
    -uuid 4b696c6e-0000-4000-8000-000000000001 -netdev tap,id=n0,ifname=ktap0,script=no,downscript=no "$@" </dev/null >/dev/null 2>&1 || true
  sleep 1
  kill "$(cat "$work/dnsmasq.pid")" 2>/dev/null || true; rm -f "$work/dnsmasq.pid"
  kill "$(cat "$work/tcpdump.pid")" 2>/dev/null || true; rm -f "$work/tcpdump.pid"
  sleep 1
  nsx ip link del ktap0 2>/dev/null || true
  cp "$work/$name.pcap" "$here/$name.pcap"
  tshark -r "$here/$name.pcap" > "$here/$name.txt" 2>/dev/null || true
  echo "wrote $here/$name.pcap ($(stat -c %s "$here/$name.pcap") bytes)"
}

want() { [ $# -eq 0 ] || return 0; }
names=${*:-ipxe-bios ipxe-efi uefi-pxe-http}
for n in $names; do
  case $n in
    ipxe-bios) run ipxe-bios 60 -boot n -device e1000,netdev=n0,mac=52:54:00:4b:00:01,romfile=/usr/lib/ipxe/qemu/pxe-e1000.rom ;;
    ipxe-efi)
      cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/vars.fd"
      run ipxe-efi 150 -machine q35 -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
        -drive if=pflash,format=raw,file="$work/vars.fd" -device e1000,netdev=n0,mac=52:54:00:4b:00:02,romfile=/usr/lib/ipxe/qemu/efi-e1000.rom ;;
    uefi-pxe-http)
      cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/vars.fd"
      run uefi-pxe-http 240 -machine q35 -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
        -drive if=pflash,format=raw,file="$work/vars.fd" -device virtio-net-pci,netdev=n0,mac=52:54:00:4b:00:03,romfile= ;;
  esac
done
