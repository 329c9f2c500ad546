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
    mkdir -p "${KILN_RUN:-/run/kiln}"
    printf '%s\n' "${logsrv:-}" > "${KILN_RUN:-/run/kiln}/logsrv"
    ;;
esac
exit 0
