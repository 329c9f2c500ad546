#!/bin/sh
# udhcpc event script: applies the lease (address, router, DNS) to $interface.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface" 2>/dev/null; break; done
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    # DHCP option 7 (RFC 2132 §3.9), which Kiln sends when it receives syslog: where syslog_forward sends lines.
    # A busybox that knows the option names it $logsrv; Debian's does not and passes it as hex, $opt7.
    srv=${logsrv:-}
    if [ -z "$srv" ] && [ -n "${opt7:-}" ]; then
      set -- $(printf '%s' "$opt7" | sed -n 's/^\([0-9a-fA-F][0-9a-fA-F]\)\([0-9a-fA-F][0-9a-fA-F]\)\([0-9a-fA-F][0-9a-fA-F]\)\([0-9a-fA-F][0-9a-fA-F]\).*/\1 \2 \3 \4/p')
      [ $# -eq 4 ] && srv=$(printf '%d.%d.%d.%d' "0x$1" "0x$2" "0x$3" "0x$4")
    fi
    mkdir -p "${KILN_RUN:-/run/kiln}"
    printf '%s\n' "$srv" > "${KILN_RUN:-/run/kiln}/logsrv"
    ;;
esac
exit 0
