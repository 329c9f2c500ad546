#!/bin/sh
# Regenerates tftp-clients.pcap: real TFTP clients against real servers, inside
# a private network namespace (its own loopback, so no other traffic is seen).
#   tftp-hpa client  -> in.tftpd (tftpd-hpa)   plain RFC 1350 read, octet and netascii
#   curl             -> in.tftpd               blksize + tsize (RFC 2348/2349), a missing file
#   atftp            -> atftpd                 blksize + windowsize + tsize + timeout (RFC 7440), a write (atftpd running as root in the namespace accepts it)
# Usage (root): sh capture.sh   Writes tftp-clients.pcap and tftp-clients.txt next to this script.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ns=kcaptftp$$
work=$(mktemp -d)
cleanup() {
  [ -f "$work/tcpdump.pid" ] && kill "$(cat "$work/tcpdump.pid")" 2>/dev/null || true
  [ -f "$work/hpa.pid" ] && kill "$(cat "$work/hpa.pid")" 2>/dev/null || true
  [ -f "$work/atftpd.pid" ] && kill "$(cat "$work/atftpd.pid")" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/root" "$work/out"
# Deterministic content: 2600 bytes of text (6 blocks at 512, 3 blocks at 1024).
i=0; while [ $i -lt 100 ]; do printf 'kiln tftp golden line %03d\n' $i; i=$((i+1)); done | head -c 2600 > "$work/root/boot.txt"
chmod -R a+rX "$work"
ip netns add "$ns"
ip -n "$ns" link set lo up
# in.tftpd resolves its -a address with AI_ADDRCONFIG, which ignores loopback: give the namespace one
# non-loopback address on a veth pair kept inside the namespace (no traffic uses it).
ip -n "$ns" link add kdummy0 type veth peer name kdummy1
ip -n "$ns" addr add 192.0.2.1/24 dev kdummy0
ip -n "$ns" link set kdummy0 up
nsx() { ip netns exec "$ns" "$@"; }
# Started with `ip netns exec` directly (not through nsx, whose subshell would own $!): ip execs the
# command, so $! is the daemon's own PID and cleanup stops exactly it.
ip netns exec "$ns" tcpdump -i lo -U -w "$work/cap.pcap" 'udp' >/dev/null 2>&1 & echo $! > "$work/tcpdump.pid"
ip netns exec "$ns" /usr/sbin/in.tftpd -L -s "$work/root" -a 127.0.0.1:69 & echo $! > "$work/hpa.pid"
ip netns exec "$ns" /opt/kiln-peers/usr/sbin/atftpd --daemon --no-fork --user root --group root --port 69 --bind-address 127.0.0.2 "$work/root" & echo $! > "$work/atftpd.pid"
sleep 1
nsx tftp -m octet 127.0.0.1 -c get boot.txt "$work/out/1"
nsx tftp -m netascii 127.0.0.1 -c get boot.txt "$work/out/2"
nsx curl -sS --tftp-blksize 1024 -o "$work/out/3" tftp://127.0.0.1/boot.txt
nsx curl -sS -o "$work/out/4" tftp://127.0.0.1/missing.bin || true
nsx atftp -g -r boot.txt -l "$work/out/5" --option "blksize 1024" --option "windowsize 2" --option "tsize 0" --option "timeout 3" 127.0.0.2 69
nsx atftp -p -r upload.txt -l "$work/root/boot.txt" 127.0.0.2 69 || true
sleep 1
cmp "$work/out/1" "$work/root/boot.txt"
cmp "$work/out/3" "$work/root/boot.txt"
cmp "$work/out/5" "$work/root/boot.txt"
kill "$(cat "$work/tcpdump.pid")"; rm "$work/tcpdump.pid"; sleep 1
cp "$work/cap.pcap" "$here/tftp-clients.pcap.new"
mv "$here/tftp-clients.pcap.new" "$here/tftp-clients.pcap"
tshark -r "$here/tftp-clients.pcap" -d udp.port==69,tftp > "$here/tftp-clients.txt" 2>/dev/null
echo "wrote $here/tftp-clients.pcap ($(stat -c %s "$here/tftp-clients.pcap") bytes)"
