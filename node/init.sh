#!/bin/sh
# /init of the Kiln discovery initramfs (busybox ash, PID 1). Mounts the
# kernel filesystems, loads drivers, then runs the mode named by kiln.mode=
# (discover, install, wipe, stateless). If the mode script returns, a shell is offered on
# the console so a failure can be inspected.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/lib/kiln/bin
export KILN_LIB=/usr/lib/kiln
mkdir -p /proc /sys /dev /run /tmp /mnt /var/run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
[ -d /sys/firmware/efi/efivars ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
mkdir -p /run/kiln && chmod 700 /run/kiln
echo 0 > /proc/sys/kernel/printk 2>/dev/null
# Syslog before the network is up: a ring buffer in memory (256 KiB, busybox
# syslogd -C, read with logread), fed the kernel's lines by klogd (from the start of its ring
# buffer) and the agent's by `log`; net.sh's syslog_forward sends it to the
# log server DHCP names (option 7) and forwards from then on.
KILN_SESSION=$(for w in $(cat /proc/cmdline); do case "$w" in kiln.session=*) v="${w#*=}" ;; esac; done; printf '%s' "${v:-}")
export KILN_SESSION
syslogd -C256 2>/dev/null && export KILN_SYSLOG=1
klogd 2>/dev/null
. "$KILN_LIB/lib.sh"
[ -n "${KILN_SYSLOG:-}" ] && syslogd_ready
. "$KILN_LIB/net.sh"
. "$KILN_LIB/facts.sh"
mode=$(cmdline_get kiln.mode)
log "discovery image $(cat /etc/kiln-image-version 2>/dev/null), mode ${mode:-discover}"
load_hardware_modules
mdev -s 2>/dev/null
case "${mode:-discover}" in
  discover) . "$KILN_LIB/discover.sh"; run_discover ;;
  install)  . "$KILN_LIB/install.sh"; . "$KILN_LIB/late.sh"; . "$KILN_LIB/netconf.sh"; . "$KILN_LIB/clock.sh"; . "$KILN_LIB/objects.sh"; . "$KILN_LIB/storage.sh"; . "$KILN_LIB/luks.sh"; . "$KILN_LIB/status.sh"; . "$KILN_LIB/kexec.sh"; KILN_AB_SOURCE_ONLY=1 . "$KILN_LIB/ab.sh"; run_install ;;
  wipe)     . "$KILN_LIB/wipe.sh"; run_wipe ;;
  stateless) . "$KILN_LIB/install.sh"; . "$KILN_LIB/late.sh"; . "$KILN_LIB/netconf.sh"; . "$KILN_LIB/clock.sh"; . "$KILN_LIB/stateless.sh"; run_stateless ;;
  *) log "unknown kiln.mode=$mode" ;;
esac
log "agent stopped; starting a shell on the console"
exec setsid cttyhack sh
