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

# kiln_enrol: enrols unless $KILN_DIR holds a credential. curl's --retry does
# not retry a POST whose connection was reset or closed without an answer
# (exit 52, 56: the controller may have committed), so this loop does, with
# the same body, up to KILN_ENROL_TRIES tries (default 6), 2, 4, 8, 16, 30 s
# apart: about a minute, well inside the controller's 15-minute retry window.
# Not retried here: an HTTP error (22: curl has retried 408, 429 and 5xx;
# 403 enrolment_closed is final), a timeout or an unresolved name (28, 6:
# curl has retried them).
kiln_enrol() {
  [ -s "$KILN_DIR/credential" ] && return 0
  kiln_enrol_secret || echo "kiln: no enrolment secret (no /dev/urandom?): a lost answer to this enrolment cannot be retried" >&2
  case ${KILN_ENROL_TRIES:-} in '' | *[!0-9]*) kiln_enrol_tries=6 ;; *) kiln_enrol_tries=$KILN_ENROL_TRIES ;; esac
  kiln_enrol_try=1
  kiln_enrol_wait=2
  while :; do
    kiln_enrol_rc=0
    kiln_enrol_answer=$(kiln_enrol_body | kiln_curl -H 'Content-Type: application/json' --data-binary @- "$kiln_enrol_url") ||
      kiln_enrol_rc=$?
    [ "$kiln_enrol_rc" -eq 0 ] && break
    case $kiln_enrol_rc in
      6 | 22 | 28) kiln_enrol_try=$kiln_enrol_tries ;;
    esac
    if [ "$kiln_enrol_try" -ge "$kiln_enrol_tries" ]; then
      echo "kiln: enrolment failed (curl exit $kiln_enrol_rc)" >&2
      return 1
    fi
    echo "kiln: enrolment got no answer (curl exit $kiln_enrol_rc), trying again in ${kiln_enrol_wait}s" >&2
    sleep "$kiln_enrol_wait"
    kiln_enrol_try=$((kiln_enrol_try + 1))
    kiln_enrol_wait=$((kiln_enrol_wait * 2))
    if [ "$kiln_enrol_wait" -gt 30 ]; then kiln_enrol_wait=30; fi
  done
  kiln_enrol_cred=$(printf '%s' "$kiln_enrol_answer" | sed -n 's/.*"credential"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
  [ -n "$kiln_enrol_cred" ] || { echo "kiln: enrolment answer has no credential" >&2; return 1; }
  (umask 077 && printf '%s\n' "$kiln_enrol_cred" > "$KILN_DIR/credential")
  # With the credential kept the secret has no use left: it is not copied into the installed system.
  rm -f "$KILN_DIR/enrol-secret"
}
