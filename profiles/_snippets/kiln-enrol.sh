# --- kiln-enrol.sh: obtain the one-time node credential (shared snippet) ---
# `kiln deploy` arms enrolment for this host. The first POST with the boot MAC
# returns {"credential":"..."}; later POSTs get 403 enrolment_closed until an
# operator re-arms the host. The credential is never in an install file.
kiln_enrol() {
  [ -s "$KILN_DIR/credential" ] && return 0
  resp=$(kiln_curl -X POST -H 'Content-Type: application/json' \
    --data "{\"mac\":\"$kiln_boot_mac\"}" "$kiln_enrol_url") || { echo "kiln: enrolment failed" >&2; return 1; }
  cred=$(printf '%s' "$resp" | sed -n 's/.*"credential"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
  [ -n "$cred" ] || { echo "kiln: enrolment answer has no credential" >&2; return 1; }
  (umask 077 && printf '%s\n' "$cred" > "$KILN_DIR/credential")
}
