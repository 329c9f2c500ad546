# Kiln node agent: module loading and network bring-up (busybox ash).

# load_hardware_modules: loads the driver for every PCI device by modalias,
# then the fixed extras (ipmi, filesystems). Missing modules are not an error.
load_hardware_modules() {
  for a in "$KILN_SYS"/bus/pci/devices/*/modalias; do
    [ -r "$a" ] && modprobe -q "$(cat "$a")" 2>/dev/null
  done
  for m in virtio_net virtio_blk virtio_scsi sd_mod sr_mod nvme ahci ext4 vfat \
           nls_cp437 nls_ascii nls_utf8 crc32c_generic efivarfs ipmi_si ipmi_devintf \
           md_mod raid1 dm_mod xfs; do
    modprobe -q "$m" 2>/dev/null
  done
  return 0
}

# nic_names: every interface with a MAC, except loopback.
nic_names() {
  for d in "$KILN_SYS"/class/net/*; do
    n=${d##*/}; [ "$n" = lo ] && continue
    [ "$(cat "$d/type" 2>/dev/null)" = 1 ] || continue
    echo "$n"
  done
}

# nic_by_mac MAC: the interface name with that MAC.
nic_by_mac() {
  for n in $(nic_names); do
    [ "$(cat "$KILN_SYS/class/net/$n/address")" = "$1" ] && { echo "$n"; return 0; }
  done
  return 1
}

# network_up [MAC]: waits up to 30 s for NICs, then runs udhcpc on the NIC
# with MAC (or on each NIC in turn). Prints the interface that got a lease.
network_up() {
  i=0
  while [ -z "$(nic_names)" ] && [ "$i" -lt 30 ]; do sleep 1; i=$((i + 1)); done
  if [ -n "$1" ] && ifs=$(nic_by_mac "$1"); then :; else ifs=$(nic_names); fi
  for n in $ifs; do
    ip link set "$n" up
    if udhcpc -i "$n" -n -q -t 8 -T 3 -O 7 -s "$KILN_LIB/udhcpc.sh" >&2; then
      syslog_forward >&2
      echo "$n"; return 0
    fi
  done
  return 1
}

# syslog_forward: once a lease names a log server (option 7, written by
# udhcpc.sh), restarts busybox syslogd to forward every line to it over UDP
# (-R, keeping a small local ring with -L -C), then replays the lines logged
# before the network was up (the ring buffer /init started syslogd with: the
# agent's lines and the kernel's via klogd), each with its original time in
# its text. Without a log server, syslog stays local. Never fails the caller.
syslog_forward() {
  srv=$(cat "$KILN_RUN/logsrv" 2>/dev/null)
  srv=${srv%% *}
  [ -n "$srv" ] || { echo "kiln: no log server offered (DHCP option 7); syslog stays local" >&2; return 0; }
  [ -f "$KILN_RUN/syslog-forwarding" ] && return 0
  # The ring goes away with the syslogd that holds it: read it first.
  logread > "$KILN_RUN/boot.log" 2>/dev/null
  pid=$(cat /var/run/syslogd.pid 2>/dev/null)
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    # Bounded (5 s): the old syslogd is gone before the new one binds /dev/log.
    i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  rm -f /var/run/syslogd.pid
  syslogd -R "$srv:514" -L -C64 || return 0
  : > "$KILN_RUN/syslog-forwarding"
  syslogd_ready
  # Bounded by the ring (256 KiB, /init's syslogd -C256): a few thousand lines at most.
  # Each keeps its severity (logread's 5th field, facility.level); logger reads nothing from the file.
  set -f
  while IFS= read -r line; do
    set -- $line
    case "${5:-}" in *.*) pri=$5 ;; *) pri=user.notice ;; esac
    case "$line" in *kiln.session=*) tag= ;; *) tag=${KILN_SESSION:+ kiln.session=$KILN_SESSION} ;; esac
    logger -p "$pri" -t kiln-replay -- "$line$tag" </dev/null 2>/dev/null
  done < "$KILN_RUN/boot.log"
  set +f
  rm -f "$KILN_RUN/boot.log"
  echo "kiln: syslog forwarded to $srv:514" >&2
}
