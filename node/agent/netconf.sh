# Kiln image writer: the installed system's network configuration (busybox
# ash; sourced by install.sh). The writer looks at the written root to see
# which network stack the image runs and writes that stack's configuration,
# enabled, for the boot NIC matched by its MAC address (interface names differ
# between the installer, eth0, and the installed system, ens3 or enp1s0):
#
#   networkmanager  NetworkManager enabled: a keyfile connection bound to the MAC
#   networkd        systemd-networkd enabled: a .network unit [Match] MACAddress=
#   ifupdown        ifupdown installed: "auto mac/<MAC>=kiln-boot" (ifupdown's
#                   pattern matching) and "iface kiln-boot"; needs a DHCP client
#                   in the image for DHCP
#   networkd-enable systemd-networkd installed but not enabled (and nothing else):
#                   the unit as above and systemd-networkd enabled by the writer
#   none            none of these: only /etc/kiln/network.env (Kiln's busybox test
#                   image reads it); reported, since such a host may never call back
#
# Every case also writes /etc/kiln/network.env (mode, address, gateway, DNS).

# netconf_has ROOT PATH...: true when any PATH exists (file or link) under ROOT.
netconf_has() {
  r=$1; shift
  for p in "$@"; do [ -e "$r$p" ] || [ -L "$r$p" ] && return 0; done
  return 1
}

# netconf_enabled ROOT UNIT: true when UNIT is linked from a .wants directory of
# /etc/systemd/system (systemctl enable's doing).
netconf_enabled() {
  for w in "$1"/etc/systemd/system/*.wants/"$2"; do [ -L "$w" ] || [ -e "$w" ] && return 0; done
  return 1
}

# netconf_system ROOT: which stack ROOT runs (one of the words above).
netconf_system() {
  nm_bin=""; netconf_has "$1" /usr/sbin/NetworkManager /sbin/NetworkManager && nm_bin=1
  nd_bin=""; netconf_has "$1" /usr/lib/systemd/systemd-networkd /lib/systemd/systemd-networkd && nd_bin=1
  if [ -n "$nm_bin" ] && netconf_enabled "$1" NetworkManager.service; then echo networkmanager
  elif [ -n "$nd_bin" ] && netconf_enabled "$1" systemd-networkd.service; then echo networkd
  elif netconf_has "$1" /usr/sbin/ifup /sbin/ifup; then echo ifupdown
  elif [ -n "$nm_bin" ]; then echo networkmanager
  elif [ -n "$nd_bin" ]; then echo networkd-enable
  else echo none; fi
}

# netconf_dhcp_client ROOT: the first DHCP client ifupdown can run, or nothing.
netconf_dhcp_client() {
  for c in /sbin/dhclient /usr/sbin/dhclient /sbin/dhcpcd /usr/sbin/dhcpcd /sbin/udhcpc /usr/sbin/udhcpc /sbin/pump /usr/sbin/pump; do
    [ -x "$1$c" ] && { echo "$c"; return 0; }
  done
  return 1
}

# netconf_unit_path ROOT UNIT: the unit file's path inside ROOT (/usr/lib or /lib).
netconf_unit_path() {
  for d in /usr/lib/systemd/system /lib/systemd/system; do
    [ -e "$1$d/$2" ] && { echo "$d/$2"; return 0; }
  done
  echo "/lib/systemd/system/$2"
}

# netconf_enable ROOT UNIT TARGET...: links UNIT into each TARGET.wants (what
# systemctl enable does for WantedBy=; the writer has no systemd to run).
netconf_enable() {
  r=$1; u=$2; shift 2; src=$(netconf_unit_path "$r" "$u")
  for w in "$@"; do
    mkdir -p "$r/etc/systemd/system/$w.wants" && ln -sf "$src" "$r/etc/systemd/system/$w.wants/$u" || return 1
  done
}

# netconf_networkd ROOT MAC MODE ADDRESS GATEWAY DNS: the .network unit.
netconf_networkd() {
  mkdir -p "$1/etc/systemd/network" || return 1
  {
    echo "# Written by the Kiln image writer: the boot NIC, matched by its MAC address."
    printf '[Match]\nMACAddress=%s\n\n[Network]\n' "$2"
    if [ "$3" = static ]; then
      echo "Address=$4"; [ -n "$5" ] && echo "Gateway=$5"
      for d in $6; do echo "DNS=$d"; done
    else
      echo "DHCP=yes"
    fi
  } > "$1/etc/systemd/network/10-kiln.network"
}

# netconf_ifupdown ROOT MAC MODE ADDRESS GATEWAY DNS: a stanza in
# interfaces.d (when /etc/network/interfaces sources it) or appended to
# /etc/network/interfaces (created with the loopback when absent).
netconf_ifupdown() {
  r=$1; ifs=$r/etc/network/interfaces
  mkdir -p "$r/etc/network/interfaces.d" || return 1
  [ -e "$ifs" ] || printf 'auto lo\niface lo inet loopback\n' > "$ifs" || return 1
  stanza=$(
    echo "# Written by the Kiln image writer: the boot NIC, whatever its name, by its MAC address."
    echo "auto mac/$2=kiln-boot"
    if [ "$3" = static ]; then
      printf 'iface kiln-boot inet static\n    address %s\n' "$4"
      [ -n "$5" ] && echo "    gateway $5"
      [ -n "$6" ] && echo "    dns-nameservers $6"
    else
      echo "iface kiln-boot inet dhcp"
    fi
  )
  if grep -qE '^[[:space:]]*(source[[:space:]]+/etc/network/interfaces\.d/\*|source-directory[[:space:]]+(/etc/network/)?interfaces\.d)' "$ifs"; then
    printf '%s\n' "$stanza" > "$r/etc/network/interfaces.d/kiln"
  else
    printf '\n%s\n' "$stanza" >> "$ifs"
  fi
}

# netconf_networkmanager ROOT MAC MODE ADDRESS GATEWAY DNS: a keyfile
# connection (0600, as NetworkManager requires) bound to the MAC.
netconf_networkmanager() {
  d=$1/etc/NetworkManager/system-connections
  mkdir -p "$d" || return 1
  uuid=$(cat "$KILN_PROC/sys/kernel/random/uuid" 2>/dev/null)
  (umask 077; {
    echo "# Written by the Kiln image writer: the boot NIC, matched by its MAC address."
    printf '[connection]\nid=kiln-boot\n'
    [ -n "$uuid" ] && echo "uuid=$uuid"
    printf 'type=ethernet\nautoconnect=true\nautoconnect-priority=100\n\n[ethernet]\nmac-address=%s\n\n[ipv4]\n' "$2"
    if [ "$3" = static ]; then
      echo "method=manual"; echo "address1=$4${5:+,$5}"
      [ -n "$6" ] && echo "dns=$(printf '%s;' $6)"
    else
      echo "method=auto"
    fi
    printf '\n[ipv6]\nmethod=auto\n'
  } > "$d/kiln-boot.nmconnection") && chmod 600 "$d/kiln-boot.nmconnection"
}

# netconf_write ROOT MAC MODE ADDRESS GATEWAY DNS: detects the stack and writes
# its configuration. Prints what it did; fails (with the reason) when the
# result cannot bring the NIC up: ifupdown with DHCP but no DHCP client.
netconf_write() {
  r=$1; mac=$2; mode=${3:-dhcp}
  [ -n "$mac" ] || { echo "no boot MAC address known: cannot bind the network configuration to the boot NIC"; return 1; }
  mkdir -p "$r/etc/kiln" &&
  printf 'KILN_NET_MAC=%s\nKILN_NET_MODE=%s\nKILN_NET_ADDRESS=%s\nKILN_NET_GATEWAY=%s\nKILN_NET_DNS="%s"\n' \
    "$mac" "$mode" "$4" "$5" "$6" > "$r/etc/kiln/network.env" || return 1
  sys=$(netconf_system "$r")
  case "$sys" in
    networkmanager)
      netconf_networkmanager "$r" "$mac" "$mode" "$4" "$5" "$6" || return 1
      netconf_enabled "$r" NetworkManager.service || netconf_enable "$r" NetworkManager.service multi-user.target || return 1
      echo "network: NetworkManager, connection kiln-boot for $mac ($mode)" ;;
    networkd|networkd-enable)
      netconf_networkd "$r" "$mac" "$mode" "$4" "$5" "$6" || return 1
      if [ "$sys" = networkd-enable ]; then
        netconf_enable "$r" systemd-networkd.service multi-user.target &&
        netconf_enable "$r" systemd-networkd.socket sockets.target &&
        netconf_enable "$r" systemd-networkd-wait-online.service network-online.target || return 1
        echo "network: systemd-networkd (enabled by the writer), 10-kiln.network for $mac ($mode)"
      else
        echo "network: systemd-networkd, 10-kiln.network for $mac ($mode)"
      fi ;;
    ifupdown)
      if [ "$mode" != static ] && ! netconf_dhcp_client "$r" > /dev/null; then
        echo "the image runs ifupdown but has no DHCP client (isc-dhcp-client, dhcpcd or udhcpc): the installed system would get no address; add one to the image or use systemd-networkd"
        return 1
      fi
      netconf_ifupdown "$r" "$mac" "$mode" "$4" "$5" "$6" || return 1
      netconf_enabled "$r" networking.service || netconf_enable "$r" networking.service multi-user.target network-online.target || return 1
      echo "network: ifupdown, kiln-boot = the NIC with MAC $mac ($mode)" ;;
    *)
      echo "network: the image runs none of systemd-networkd, ifupdown or NetworkManager; only /etc/kiln/network.env is written (the installed system must bring up $mac itself)" ;;
  esac
}

# machine_network ROOT: the machine description's network (plan
# machine.network, rendered by the controller for every stack,
# src/machine/plan-network.ts), written for the stack ROOT runs
# (netconf_system): systemd-networkd units (machine_networkd), or ifupdown
# stanzas or NetworkManager keyfiles with the .link files that name the NICs
# by MAC (machine_stack). The stack is enabled and the others are told to
# leave the described devices alone. An image with none of them fails.
machine_network() {
  r=$1
  mkdir -p "$r/etc/kiln" || return 1
  sys=$(netconf_system "$r")
  case "$sys" in
    networkd|networkd-enable) machine_networkd "$r" || return 1 ;;
    ifupdown) machine_stack "$r" ifupdown || return 1 ;;
    networkmanager) machine_stack "$r" networkManager || return 1 ;;
    *) echo "the image runs none of systemd-networkd, ifupdown or NetworkManager: the machine description's network has nothing to be written for (add one of them to the image)"; return 1 ;;
  esac
  printf 'KILN_NET_MODE=machine\n' > "$r/etc/kiln/network.env"
}

# machine_list KEY: the values of the array KEY in the plan, one a line.
machine_list() {
  printf '%s\n' "$PLAN" | awk -F '\t' -v p="$1." 'index($1, p) == 1 && substr($1, length(p) + 1) ~ /^[0-9]+$/ { sub(/^[^\t]*\t/, ""); print }'
}

# machine_any ROOT KEY: true when any path of the plan's array KEY exists in ROOT.
machine_any() {
  for p in $(machine_list "$2"); do netconf_has "$1" "$p" && return 0; done
  return 1
}

# machine_put ROOT PATH MODE KEY: writes the plan's text KEY to ROOT/PATH
# (replacing a link there, never following one) with MODE. Only the network
# configuration paths are accepted.
machine_put() {
  case "$2" in
    /etc/network/interfaces.d/*|/etc/systemd/network/*|/etc/NetworkManager/system-connections/*|/etc/NetworkManager/conf.d/*|/etc/systemd/timesyncd.conf.d/*|/etc/chrony/sources.d/*|/etc/resolv.conf) ;;
    *) echo "the machine plan names $2, which is no network configuration path"; return 1 ;;
  esac
  case "$2" in *[!A-Za-z0-9._/-]*|*..*|*/.*) echo "the machine plan names \"$2\", which is not a plain path"; return 1 ;; esac
  case "$3" in 0600|0644) ;; *) echo "the machine plan gives $2 mode \"$3\""; return 1 ;; esac
  mkdir -p "$1${2%/*}" && rm -f "$1$2" || return 1
  (umask 077; printf '%s\n' "$PLAN" | json_text "$4" | sed -e '${/^$/d;}' > "$1$2") && chmod "$3" "$1$2"
}

# machine_stack ROOT KEY: the plan's machine.network.KEY (ifupdown or
# networkManager): refuses what that stack cannot do and what the image lacks
# for it, writes its files (each only when the image has what it is for),
# and enables the stack.
machine_stack() {
  r=$1; k=machine.network.$2
  case "$2" in ifupdown) label=ifupdown ;; *) label=NetworkManager ;; esac
  [ -n "$(plan_get "$k.files.0.path")" ] || {
    echo "the image runs $label, and this deployment's machine plan was rendered for systemd-networkd only (before Kiln rendered $label): deploy the host again"
    return 1
  }
  refused=$(machine_list "$k.refusals" | awk '{ printf "%s%s", s, $0; s = "; " }')
  [ -z "$refused" ] || { echo "the image runs $label, which cannot do what the machine description asks: $refused"; return 1; }
  i=0
  while :; do
    reason=$(plan_get "$k.needs.$i.reason"); [ -n "$reason" ] || break
    machine_any "$r" "$k.needs.$i.anyOf" || { echo "the image runs $label: $reason"; return 1; }
    i=$((i + 1))
  done
  i=0; n=0
  while :; do
    f=$k.files.$i; path=$(plan_get "$f.path"); [ -n "$path" ] || break
    i=$((i + 1))
    if [ -n "$(plan_get "$f.ifAny.0")" ]; then machine_any "$r" "$f.ifAny" || continue; fi
    if [ -n "$(plan_get "$f.unlessAny.0")" ]; then machine_any "$r" "$f.unlessAny" && continue; fi
    machine_put "$r" "$path" "$(plan_get "$f.mode")" "$f.text" || return 1
    n=$((n + 1))
  done
  if [ "$2" = ifupdown ]; then
    ifs=$r/etc/network/interfaces
    [ -e "$ifs" ] || printf 'auto lo\niface lo inet loopback\n' > "$ifs" || return 1
    grep -qE '^[[:space:]]*(source[[:space:]]+/etc/network/interfaces\.d/(\*|kiln)[[:space:]]*$|source-directory[[:space:]]+(/etc/network/)?interfaces\.d)' "$ifs" ||
      printf '\n# Kiln: the machine description (interfaces.d/kiln).\nsource /etc/network/interfaces.d/kiln\n' >> "$ifs" || return 1
    netconf_enabled "$r" networking.service || netconf_enable "$r" networking.service multi-user.target network-online.target || return 1
  else
    netconf_enabled "$r" NetworkManager.service || netconf_enable "$r" NetworkManager.service multi-user.target || return 1
  fi
  echo "network: $label, $n files from the machine description (NICs named by MAC)"
}

# machine_networkd ROOT: the plan's systemd-networkd units into ROOT's
# /etc/systemd/network, systemd-networkd enabled, the described NICs left
# alone by NetworkManager when the image has it, and /etc/resolv.conf from
# the plan when the image has no systemd-resolved.
machine_networkd() {
  r=$1
  mkdir -p "$r/etc/systemd/network" "$r/etc/kiln" || return 1
  i=0
  while :; do
    name=$(plan_get "machine.network.files.$i.name")
    [ -n "$name" ] || break
    case "$name" in *[!A-Za-z0-9._-]*|.*) echo "unit name \"$name\" is not a plain file name"; return 1 ;; esac
    printf '%s\n' "$PLAN" | json_text "machine.network.files.$i.text" | sed -e '${/^$/d;}' > "$r/etc/systemd/network/$name" || return 1
    i=$((i + 1))
  done
  [ "$i" -gt 0 ] || { echo "the machine plan's network has no units"; return 1; }
  netconf_enabled "$r" systemd-networkd.service || {
    netconf_enable "$r" systemd-networkd.service multi-user.target &&
    netconf_enable "$r" systemd-networkd.socket sockets.target &&
    netconf_enable "$r" systemd-networkd-wait-online.service network-online.target
  } || return 1
  macs=$(printf '%s\n' "$PLAN" | awk -F '\t' '$1 ~ /^machine\.network\.macs\.[0-9]+$/ { printf "%smac:%s", s, $2; s = ";" }')
  if netconf_has "$r" /usr/sbin/NetworkManager /sbin/NetworkManager && [ -n "$macs" ]; then
    mkdir -p "$r/etc/NetworkManager/conf.d" &&
    printf '# Written by the Kiln image writer: systemd-networkd runs these NICs (machine description).\n[keyfile]\nunmanaged-devices=%s\n' "$macs" \
      > "$r/etc/NetworkManager/conf.d/10-kiln-unmanaged.conf" || return 1
  fi
  if [ -n "$(plan_get machine.network.resolvConf)" ] && ! netconf_enabled "$r" systemd-resolved.service; then
    rm -f "$r/etc/resolv.conf" && printf '%s\n' "$PLAN" | json_text machine.network.resolvConf | sed -e '${/^$/d;}' > "$r/etc/resolv.conf" || return 1
  fi
  echo "network: systemd-networkd, $i units from the machine description"
}
