#!/bin/sh
# /sbin/init of the CI test image (busybox, PID 1): mounts the kernel
# filesystems, starts the A/B health check (kiln-ab watch, layout ab: arms the
# i6300esb watchdog on a trial boot), brings up the boot NIC as /etc/kiln/network.env says, starts
# sshd (when the writer gave the host a key), runs the Kiln first-boot
# callback, starts the heartbeat agent, then idles.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -o remount,rw /
mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp
hostname -F /etc/hostname
if [ -x /usr/lib/kiln/kiln-ab ]; then
  for m in vfat nls_cp437 nls_ascii nls_utf8 i6300esb; do modprobe -q "$m"; done
  /usr/lib/kiln/kiln-ab watch > /dev/console 2>&1 &
fi
echo "kiln-test-image: booted from disk as $(hostname)"
for m in virtio_pci virtio_net e1000 e1000e; do modprobe -q "$m"; done
. /etc/kiln/network.env 2>/dev/null
iface=""; i=0
while [ -z "$iface" ] && [ "$i" -lt 20 ]; do
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address")" = "$KILN_NET_MAC" ] && iface=${d##*/}
  done
  [ -z "$iface" ] && { sleep 1; i=$((i + 1)); }
done
[ -n "$iface" ] || iface=eth0
ip link set lo up; ip link set "$iface" up
if [ "$KILN_NET_MODE" = static ]; then
  ip addr add "$KILN_NET_ADDRESS" dev "$iface"
  [ -n "$KILN_NET_GATEWAY" ] && ip route add default via "$KILN_NET_GATEWAY"
else
  udhcpc -i "$iface" -n -q -t 10 -T 3 -s /usr/share/udhcpc/default.script
fi
# sshd with the host key and certificate the image writer installed (none in the image itself).
if [ -f /etc/ssh/ssh_host_ed25519_key ]; then
  mkdir -p /run/sshd && chmod 755 /run/sshd
  /usr/sbin/sshd -D -e &
  # Listening (port 22 = 0016, state 0A) before the callback, so "deployed" means ssh answers.
  i=0
  while ! grep -q ':0016 00000000:0000 0A' /proc/net/tcp && [ "$i" -lt 60 ]; do sleep 1; i=$((i + 1)); done
  if grep -q ':0016 00000000:0000 0A' /proc/net/tcp; then echo "kiln-test-image: sshd listening after ${i}s"; else echo "kiln-test-image: sshd is not listening"; fi
fi
/usr/lib/kiln/kiln-firstboot
# The heartbeat agent the writer installed (no systemd here: its loop mode, in the background).
[ -x /usr/lib/kiln/kiln-heartbeat ] && { /usr/lib/kiln/kiln-heartbeat --loop > /dev/console 2>&1 & }
echo "kiln-test-image: idle"
while :; do sleep 3600; done
