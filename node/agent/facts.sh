# Kiln node agent: hardware facts as JSON (busybox ash). Every function reads
# only below $KILN_SYS, $KILN_PROC and $KILN_DEV, so tests can point them at a
# fake tree. Sizes are bytes; absent values are null.

# facts_nics: [{name, mac, driver, link, speedMbps}] for every Ethernet NIC.
facts_nics() {
  sep=""; printf '['
  for n in $(nic_names); do
    d="$KILN_SYS/class/net/$n"
    drv=""; [ -L "$d/device/driver" ] && drv=$(basename "$(readlink "$d/device/driver")")
    case "$(read_trim "$d/carrier")" in 1) link=up ;; 0) link=down ;; *) link=unknown ;; esac
    speed=$(read_trim "$d/speed")
    printf '%s{"name":%s,"mac":%s,"driver":%s,"link":"%s","speedMbps":%s}' "$sep" \
      "$(json_str "$n")" "$(json_str "$(read_trim "$d/address")")" "$(json_str "$drv")" "$link" "$(json_num "$speed")"
    sep=","
  done
  printf ']'
}

# facts_cpu: {model, count} from /proc/cpuinfo (count = logical CPUs).
facts_cpu() {
  model=$(awk -F ': ' '/^model name/ { print $2; exit }' "$KILN_PROC/cpuinfo")
  count=$(grep -c '^processor' "$KILN_PROC/cpuinfo")
  printf '{"model":%s,"count":%s}' "$(json_str "$model")" "$(json_num "$count")"
}

# facts_memory: {totalBytes (usable, MemTotal), installedBytes (online memory
# blocks, closer to what is fitted; null without memory hotplug sysfs)}.
facts_memory() {
  total=$(awk '/^MemTotal:/ { printf "%d", $2 * 1024 }' "$KILN_PROC/meminfo")
  inst=""
  bs=$(read_trim "$KILN_SYS/devices/system/memory/block_size_bytes")
  if [ -n "$bs" ]; then
    blocks=0
    for s in "$KILN_SYS"/devices/system/memory/memory*/state; do
      [ "$(read_trim "$s")" = online ] && blocks=$((blocks + 1))
    done
    [ "$blocks" -gt 0 ] && inst=$((0x$bs * blocks))
  fi
  printf '{"totalBytes":%s,"installedBytes":%s}' "$(json_num "$total")" "$(json_num "$inst")"
}

# facts_disks: [{name, sizeBytes, model, serial, rotational, removable}] for
# whole disks (no partitions, loop, ram, zram, device-mapper or md devices).
facts_disks() {
  sep=""; printf '['
  for d in "$KILN_SYS"/block/*; do
    n=${d##*/}
    case "$n" in loop*|ram*|zram*|dm-*|md*|sr*|fd*) continue ;; esac
    sectors=$(read_trim "$d/size")
    model=$(read_trim "$d/device/model"); serial=$(read_trim "$d/device/serial")
    [ -z "$serial" ] && serial=$(read_trim "$d/serial")
    case "$(read_trim "$d/queue/rotational")" in 1) rot=true ;; 0) rot=false ;; *) rot=null ;; esac
    case "$(read_trim "$d/removable")" in 1) rem=true ;; *) rem=false ;; esac
    size=null; [ -n "$sectors" ] && size=$((sectors * 512))
    printf '%s{"name":%s,"sizeBytes":%s,"model":%s,"serial":%s,"rotational":%s,"removable":%s}' "$sep" \
      "$(json_str "$n")" "$size" "$(json_str "$model")" "$(json_str "$serial")" "$rot" "$rem"
    sep=","
  done
  printf ']'
}

# facts_pci: [{slot, vendor, device, class, driver}] with hex ids without 0x.
facts_pci() {
  sep=""; printf '['
  for d in "$KILN_SYS"/bus/pci/devices/*; do
    [ -e "$d/vendor" ] || continue
    drv=""; [ -L "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
    v=$(read_trim "$d/vendor"); dev=$(read_trim "$d/device"); c=$(read_trim "$d/class")
    printf '%s{"slot":%s,"vendor":%s,"device":%s,"class":%s,"driver":%s}' "$sep" \
      "$(json_str "${d##*/}")" "$(json_str "${v#0x}")" "$(json_str "${dev#0x}")" "$(json_str "${c#0x}")" "$(json_str "$drv")"
    sep=","
  done
  printf ']'
}

# facts_dmi: SMBIOS strings from /sys/class/dmi/id (empty when absent).
facts_dmi() {
  d="$KILN_SYS/class/dmi/id"; sep=""; printf '{'
  for pair in vendor:sys_vendor product:product_name version:product_version serial:product_serial \
              uuid:product_uuid boardVendor:board_vendor boardProduct:board_name boardSerial:board_serial \
              chassisSerial:chassis_serial biosVendor:bios_vendor biosVersion:bios_version; do
    printf '%s"%s":%s' "$sep" "${pair%%:*}" "$(json_str "$(read_trim "$d/${pair#*:}")")"; sep=","
  done
  printf '}'
}

# facts_firmware: "uefi" when the kernel was started by UEFI, else "bios".
facts_firmware() {
  if [ -d "$KILN_SYS/firmware/efi" ]; then printf '"uefi"'; else printf '"bios"'; fi
}

# facts_bmc: {present, ipAddress, macAddress}; present means an IPMI system
# interface answered (ipmi_si bound, /dev/ipmi0 exists). The LAN settings come
# from ipmitool when it is shipped in the image.
facts_bmc() {
  present=false; ipaddr=""; mac=""
  if [ -e "$KILN_DEV/ipmi0" ]; then
    present=true
    if command -v ipmitool >/dev/null 2>&1; then
      out=$(timeout 20 ipmitool lan print 2>/dev/null)
      ipaddr=$(printf '%s\n' "$out" | awk -F ': ' '/^IP Address  / { print $2; exit }')
      mac=$(printf '%s\n' "$out" | awk -F ': ' '/^MAC Address  / { print $2; exit }')
    fi
  fi
  printf '{"present":%s,"ipAddress":%s,"macAddress":%s}' "$present" "$(json_str "$ipaddr")" "$(json_str "$mac")"
}

# facts_json BOOTMAC: the whole facts document.
facts_json() {
  printf '{"agentVersion":1,"bootMac":%s,"firmware":%s,"cpu":%s,"memory":%s,"nics":%s,"disks":%s,"pci":%s,"dmi":%s,"bmc":%s,"lldp":null}' \
    "$(json_str "$1")" "$(facts_firmware)" "$(facts_cpu)" "$(facts_memory)" "$(facts_nics)" \
    "$(facts_disks)" "$(facts_pci)" "$(facts_dmi)" "$(facts_bmc)"
}
