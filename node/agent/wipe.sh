# Kiln node agent, wipe mode: enrol, then erase every whole disk's partition
# tables and filesystem signatures (first and last 4 MiB, plus blkdiscard
# where the device supports it), report completion and power off.

run_wipe() {
  KILN_URL=$(cmdline_get kiln.url); mac=$(boot_mac)
  network_up "$mac" >/dev/null || { log "no DHCP lease on any NIC"; return 1; }
  answer=$(api_retry POST enrol "$(enrol_body "$mac")") || { log "enrol failed"; return 1; }
  store_credential "$(printf '%s' "$answer" | json_flatten)"
  for d in "$KILN_SYS"/block/*; do
    n=${d##*/}
    case "$n" in loop*|ram*|zram*|dm-*|md*|sr*|fd*) continue ;; esac
    [ "$(read_trim "$d/removable")" = 1 ] && continue
    sectors=$(read_trim "$d/size"); [ "${sectors:-0}" -gt 16384 ] || continue
    progress wipe "erasing /dev/$n"
    blkdiscard "/dev/$n" 2>/dev/null
    dd if=/dev/zero of="/dev/$n" bs=1M count=4 conv=fsync 2>/dev/null
    dd if=/dev/zero of="/dev/$n" bs=512 seek=$((sectors - 8192)) count=8192 conv=fsync 2>/dev/null
  done
  api_retry POST complete '{"ok":true}' >/dev/null
  sync; poweroff -f
}
