# Kiln node agent, discover mode: report facts, keep the credential, run the
# self-tests a rule asks for, power off when told to, else poll for the next
# action (wait, reboot, poweroff, self-test) every kiln.poll seconds (5).
. "$KILN_LIB/selftest.sh"

run_discover() {
  KILN_URL=$(cmdline_get kiln.url); mac=$(boot_mac)
  [ -n "$KILN_URL" ] || { log "no kiln.url= on the kernel command line"; return 1; }
  network_up "$mac" >/dev/null || { log "no DHCP lease on any NIC"; return 1; }
  facts=$(facts_json "$mac")
  answer=$(discover_report "$facts") || { log "discover report failed"; return 1; }
  flat=$(printf '%s' "$answer" | json_flatten)
  store_credential "$flat"
  log "reported as host $(printf '%s\n' "$flat" | json_get hostId) ($(printf '%s\n' "$flat" | json_get name))"
  # The host is ready once the tests are reported; that answer carries `then` instead.
  if [ -n "$(printf '%s\n' "$flat" | json_get selfTests.run)" ]; then
    flat=$(run_selftests "$flat" "$mac" | json_flatten) || log "self-test report failed"
  fi
  case "$(printf '%s\n' "$flat" | json_get then)" in
    poweroff) log "powering off after discovery, as the host's rule says"; sync; poweroff -f ;;
  esac
  poll_next
}

# discover_report FACTS: the discovery report, tried as api_retry does, with
# this boot's enrolment secret on every try: when the answer that enrolled the
# host is lost (a connection reset), Kiln answers the retry with a fresh
# credential instead of enrolment_closed (docs/discovery.md, "A lost answer").
discover_report() {
  es=$(enrol_secret)
  if [ -n "$es" ]; then
    api_retry POST discover "{\"facts\":$1,\"enrolSecret\":\"$es\"}"
  else
    log "no enrolment secret (no /dev/urandom?): a lost answer to this report cannot be retried"
    api_retry POST discover "{\"facts\":$1}"
  fi
}

# poll_next: obeys GET next until told to reboot or power off.
poll_next() {
  while :; do
    next=$(api GET next 2>/dev/null | json_flatten); action=$(printf '%s\n' "$next" | json_get action)
    case "$action" in
      self-test) log "running self-tests as asked"; run_selftests "$next" "$(boot_mac)" >/dev/null || log "self-test report failed" ;;
      reboot) log "rebooting as told"; sync; reboot -f ;;
      poweroff) log "powering off as told"; sync; poweroff -f ;;
    esac
    sleep "$(cmdline_get kiln.poll | grep . || echo 5)"
  done
}
