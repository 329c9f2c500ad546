#!/bin/sh
# Regenerates the *.hex captures: real syslog senders on the loopback of a private
# network namespace (its own lo, no other traffic), received by capture-listener.mjs.
# The namespace also has its own UTS name (host name "kiln-capture") and its own
# /dev (a tmpfs), so busybox syslogd's /dev/log socket never touches the host's.
#   util-linux logger   --rfc5424 / --rfc3164, UDP, TCP, --octet-count, structured data
#   busybox syslogd -R  fed by busybox logger through /dev/log (UDP, the no-hostname 3164 form)
#   rsyslogd            imudp on 127.0.0.1:5515 fed by logger, omfwd in four framings/formats
# Usage (root): sh capture.sh   Writes <case>.hex next to this script (format: capture-listener.mjs).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "${KILN_SYSLOG_CAPTURE_INNER:-}" != 1 ]; then
  exec env KILN_SYSLOG_CAPTURE_INNER=1 unshare --net --mount --uts --propagation private sh "$0" "$@"
fi
work=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
hostname kiln-capture
ip link set lo up
mount -t tmpfs -o mode=755 kiln-dev /dev
mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9
P=5514
until_true() { # until_true <command...>: poll every 0.1 s, give up after 10 s
  n=0; until "$@"; do n=$((n+1)); [ $n -lt 100 ] || { echo "timed out: $*" >&2; exit 1; }; sleep 0.1; done
}
listen() { # listen <port> <case>: start a capture listener, remember its PID, wait until it listens
  node "$here/capture-listener.mjs" "$1" "$work/$2.hex" & pids="$pids $!"
  until_true test -e "$work/$2.hex.ready"
}
stop_all() { # stop every listener and daemon started so far, by PID
  sleep 1
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  pids=""
}
case_logger() { # case_logger <case> <logger args...>: one util-linux logger run
  c=$1; shift
  listen $P "$c"
  printf 'first line of %s\nsecond line, tab\there\n' "$c" | logger -n 127.0.0.1 -P $P -t kiln-test -p local0.notice "$@"
  stop_all
}
# `sh capture.sh debian-installer` captures only that case (the others keep their files).
only=${1:-all}
if [ "$only" = all ]; then
case_logger logger-rfc5424-udp --rfc5424 --udp
case_logger logger-rfc3164-udp --rfc3164 --udp
case_logger logger-rfc5424-tcp-octet --rfc5424 --tcp --octet-count
case_logger logger-rfc5424-tcp-lf --rfc5424 --tcp
case_logger logger-rfc3164-tcp-lf --rfc3164 --tcp
case_logger logger-rfc5424-sd --rfc5424 --udp --msgid BOOT --id=4242 \
  --sd-id kiln@32473 --sd-param 'session="3f2a9c1b7d4e"' --sd-param 'note="quote \" backslash \\ bracket \]"' \
  --sd-id origin --sd-param 'ip="127.0.0.1"'
# busybox syslogd -R forwards what local programs write to /dev/log (busybox logger here).
listen $P busybox-syslogd
busybox syslogd -n -R 127.0.0.1:$P -O "$work/messages" & pids="$pids $!"
until_true test -S /dev/log
busybox logger -t bbtag -p daemon.warning 'busybox says hello'
busybox logger -p user.info 'no tag given'
echo '<4>kernel-style line from a pipe' | busybox logger -t kernel -p kern.warning
stop_all
# rsyslogd on a private config (no imuxsock, no klog): imudp in, omfwd out in four framings.
listen 5521 rsyslog-fwd-udp; listen 5522 rsyslog-fwd-tcp-lf; listen 5523 rsyslog-fwd-tcp-octet5424; listen 5524 rsyslog-fwd-udp5424
mkdir -p "$work/rsyslog"
cat > "$work/rsyslog.conf" <<CONF
global(workDirectory="$work/rsyslog")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="5515")
*.* action(type="omfwd" target="127.0.0.1" port="5521" protocol="udp")
*.* action(type="omfwd" target="127.0.0.1" port="5522" protocol="tcp")
*.* action(type="omfwd" target="127.0.0.1" port="5523" protocol="tcp" tcp_framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
*.* action(type="omfwd" target="127.0.0.1" port="5524" protocol="udp" template="RSYSLOG_SyslogProtocol23Format")
CONF
rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslog.pid" & pids="$pids $!"
until_true sh -c 'ss -Hluna | grep -q "127.0.0.1:5515 "'
logger -n 127.0.0.1 -P 5515 --udp --rfc3164 -t kiln-relay -p local3.err 'via rsyslog, 3164 in'
logger -n 127.0.0.1 -P 5515 --udp --rfc5424 -t kiln-relay -p local3.info --msgid M1 --sd-id kiln@32473 --sd-param 'session="3f2a9c1b7d4e"' 'via rsyslog, 5424 in'
sleep 2
stop_all
fi
# debian-installer's own sender: the netboot initrd (debian-installer-12-netboot-amd64) unpacked and its
# busybox syslogd run in a chroot with the options lib/debian-installer-startup.d/S10syslog gives it for
# log_host/log_port (-m 0 -O /var/log/syslog -S -L -R host:port; -n to stay in the foreground), fed by d-i's own
# log-output (how d-i components log a program's output) and busybox logger, as main-menu and anna log.
if [ "$only" = all ] || [ "$only" = debian-installer ]; then
initrd=/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/initrd.gz
di=$work/di
mkdir -p "$di"
(cd "$di" && zcat "$initrd" | cpio -id --quiet)
mount -t tmpfs -o mode=755 kiln-di-dev "$di/dev"
mknod -m 666 "$di/dev/null" c 1 3
listen $P debian-installer-syslogd
chroot "$di" /sbin/syslogd -n -m 0 -O /var/log/syslog -S -L -R 127.0.0.1:$P & pids="$pids $!"
until_true test -S "$di/dev/log"
chroot "$di" /bin/busybox logger -t main-menu 'generated: a main-menu style line'
chroot "$di" /bin/log-output -t netcfg sh -c 'echo "generated: stdout of a program run by log-output"; echo "generated: its stderr" >&2'
chroot "$di" /bin/busybox logger -t anna -p user.info 'generated: an anna style line'
stop_all
umount "$di/dev"
fi
for f in "$work"/*.hex; do
  [ -s "$f" ] || { echo "nothing captured for $(basename "$f")" >&2; exit 1; }
done
for f in "$work"/*.hex; do cp "$f" "$here/"; done
ls -l "$here"/*.hex
