# --- kiln-enrol.sh: obtain the one-time node credential (shared snippet) ---
# `kiln deploy` arms enrolment for this host. The first POST with the boot MAC
# returns {"credential":"..."}; later POSTs get 403 enrolment_closed until an
# operator re-arms the host, except a retry with the same enrolment secret
# while the credential is unused and young: the first answer was lost, and the
# retry gets a fresh credential (docs/discovery.md, "A lost answer").
# The credential is never in an install file; it and the secret are never
# printed, nor on a command line. POSIX sh: dash, bash and busybox ash.

# kiln_enrol_secret: this install's enrolment secret, `ke_` + 64 hex digits
# from /dev/urandom, made once into $KILN_DIR/enrol-secret (0600): every try,
# and a re-run of this script, sends the same one. Non-zero (and no file)
# when none could be made.
kiln_enrol_secret() {
  grep -qx 'ke_[0-9a-f]\{64\}' "$KILN_DIR/enrol-secret" 2>/dev/null && return 0
  rm -f "$KILN_DIR/enrol-secret"
  (umask 077 && { printf 'ke_'; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; } > "$KILN_DIR/enrol-secret") 2>/dev/null
  grep -qx 'ke_[0-9a-f]\{64\}' "$KILN_DIR/enrol-secret" 2>/dev/null && return 0
  rm -f "$KILN_DIR/enrol-secret"
  return 1
}

# kiln_enrol_body: the body of POST enrol, with the secret when there is one.
kiln_enrol_body() {
  if [ -s "$KILN_DIR/enrol-secret" ]; then
    printf '{"mac":"%s","enrolSecret":"' "$kiln_boot_mac"
    cat "$KILN_DIR/enrol-secret"
    printf '"}'
  else
    printf '{"mac":"%s"}' "$kiln_boot_mac"
  fi
}

# kiln_enrol: enrols unless $KILN_DIR holds a credential, up to KILN_ENROL_TRIES tries (default 6) with the
# same body when the answer is lost (kiln-node-lib.sh kiln_retry_after): about a minute, well inside the
# controller's 15-minute retry window.
kiln_enrol() {
  [ -s "$KILN_DIR/credential" ] && return 0
  kiln_enrol_secret || echo "kiln: no enrolment secret (no /dev/urandom?): a lost answer to this enrolment cannot be retried" >&2
  kiln_retry_start "${KILN_ENROL_TRIES:-}"
  while :; do
    kiln_enrol_rc=0
    kiln_enrol_answer=$(kiln_enrol_body | kiln_curl -H 'Content-Type: application/json' --data-binary @- "$kiln_enrol_url") ||
      kiln_enrol_rc=$?
    [ "$kiln_enrol_rc" -eq 0 ] && break
    kiln_retry_after enrolment "$kiln_enrol_rc" || return 1
  done
  kiln_enrol_cred=$(printf '%s' "$kiln_enrol_answer" | sed -n 's/.*"credential"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
  [ -n "$kiln_enrol_cred" ] || { echo "kiln: enrolment answer has no credential" >&2; return 1; }
  (umask 077 && printf '%s\n' "$kiln_enrol_cred" > "$KILN_DIR/credential")
  # With the credential kept the secret has no use left: it is not copied into the installed system.
  rm -f "$KILN_DIR/enrol-secret"
}
