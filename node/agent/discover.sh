# Kiln node agent, discover mode: report facts, keep the credential, then poll
# for the next action (wait, reboot, poweroff) every kiln.poll seconds (5).

run_discover() {
  KILN_URL=$(cmdline_get kiln.url); mac=$(boot_mac)
  [ -n "$KILN_URL" ] || { log "no kiln.url= on the kernel command line"; return 1; }
  network_up "$mac" >/dev/null || { log "no DHCP lease on any NIC"; return 1; }
  facts=$(facts_json "$mac")
  answer=$(api_retry POST discover "{\"facts\":$facts}") || { log "discover report failed"; return 1; }
  flat=$(printf '%s' "$answer" | json_flatten)
  store_credential "$flat"
  log "reported as host $(printf '%s\n' "$flat" | json_get hostId) ($(printf '%s\n' "$flat" | json_get name))"
  poll_next
}

# poll_next: obeys GET next until told to reboot or power off.
poll_next() {
  while :; do
    action=$(api GET next 2>/dev/null | json_flatten | json_get action)
    case "$action" in
      reboot) log "rebooting as told"; sync; reboot -f ;;
      poweroff) log "powering off as told"; sync; poweroff -f ;;
    esac
    sleep "$(cmdline_get kiln.poll | grep . || echo 5)"
  done
}
