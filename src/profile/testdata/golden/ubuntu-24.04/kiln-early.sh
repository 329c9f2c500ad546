#!/bin/sh
# Kiln early script for node07.lab.example.org: runs in the installer before it
# partitions anything. It enrols (gets the node credential) and reports.
set -eu
# --- kiln-node-lib.sh: how a node talks to Kiln (shared snippet) ---
# KILN_DIR holds the node credential (mode 0600) and Kiln's CA: /run/kiln in
# the installer, /etc/kiln in the installed system.
KILN_DIR=${KILN_DIR:-/run/kiln}
kiln_enrol_url='https://kiln.lab.example.org:8443/api/v1/node/enrol'
kiln_secrets_url='https://kiln.lab.example.org:8443/api/v1/node/secrets'
kiln_progress_url='https://kiln.lab.example.org:8443/api/v1/node/progress'
kiln_complete_url='https://kiln.lab.example.org:8443/api/v1/node/complete'
kiln_ssh_cert_url='https://kiln.lab.example.org:8443/api/v1/node/ssh-cert'
kiln_agent_url='https://kiln.lab.example.org:8443/api/v1/node/agent'
kiln_api_url='https://kiln.lab.example.org:8443'
kiln_boot_mac='52:54:00:12:34:56'
mkdir -p "$KILN_DIR"
chmod 700 "$KILN_DIR"
# The boot session (kiln.session= on the installer's kernel command line) tags every call on Kiln's boot timeline.
kiln_session=$(sed -n 's/.*kiln\.session=\([0-9a-f]*\).*/\1/p' /proc/cmdline 2>/dev/null)
cat > "$KILN_DIR/ca.pem" <<'KILN_CA_PEM'
-----BEGIN CERTIFICATE-----
MIIBfakeKilnCAcertificateForTestsOnly
-----END CERTIFICATE-----
KILN_CA_PEM
kiln_curl() { curl -fsS --retry 5 --retry-delay 3 --retry-connrefused --max-time 120 -H "X-Kiln-Session: $kiln_session" --cacert "$KILN_DIR/ca.pem" "$@"; }
# Calls a node route with the node credential: kiln_node_curl URL [curl args]. The credential reaches curl
# in a header file (-H @FILE: curl 7.55 or later), 0600 in $KILN_DIR and removed after the call, never on
# curl's command line, which every local user can read (/proc/PID/cmdline, ps) while the call runs.
kiln_node_curl() {
  kiln_node_url=$1; shift
  (umask 077 && printf 'Authorization: Bearer %s\n' "$(cat "$KILN_DIR/credential")" > "$KILN_DIR/auth-header") || return 1
  kiln_node_rc=0
  kiln_curl -H "@$KILN_DIR/auth-header" "$@" "$kiln_node_url" || kiln_node_rc=$?
  rm -f "$KILN_DIR/auth-header"
  return "$kiln_node_rc"
}
# Reports an install stage to the host's boot timeline; never fails the install.
kiln_progress() {
  kiln_node_curl "$kiln_progress_url" -X POST -H 'Content-Type: application/json' \
    --data "{\"stage\":\"$1\",\"message\":\"${2:-}\"}" >/dev/null 2>&1 || true
}
# A POST whose answer is lost after Kiln committed it (connection reset or closed without an answer: curl exit
# 56, 52) is not retried by curl's --retry; the caller's loop retries it, as Kiln answers such a repeat as the
# first (docs/discovery.md, "A lost answer"). kiln_retry_start N: N tries (default 6). kiln_retry_after WHAT RC,
# after a try that failed with curl exit RC: sleeps 2, 4, 8, 16, 30 s and returns 0 for the next try; says WHAT
# failed and returns 1 once the tries are spent or RC is final: 22, an HTTP error (curl has retried 408, 429 and
# 5xx), 28 or 6, a timeout or an unresolved name (curl has retried them).
kiln_retry_start() {
  case ${1:-} in '' | *[!0-9]*) kiln_tries=6 ;; *) kiln_tries=$1 ;; esac
  kiln_try=1
  kiln_wait=2
}
kiln_retry_after() {
  case $2 in
    6 | 22 | 28) kiln_try=$kiln_tries ;;
  esac
  if [ "$kiln_try" -ge "$kiln_tries" ]; then
    echo "kiln: $1 failed (curl exit $2)" >&2
    return 1
  fi
  echo "kiln: $1 got no answer (curl exit $2), trying again in ${kiln_wait}s" >&2
  sleep "$kiln_wait"
  kiln_try=$((kiln_try + 1))
  kiln_wait=$((kiln_wait * 2))
  if [ "$kiln_wait" -gt 30 ]; then kiln_wait=30; fi
}
# kiln_complete STAGE: tells Kiln this install is done (POST complete), up to KILN_COMPLETE_TRIES tries (default
# 6) when the answer is lost: Kiln answers the same stage again, with the same credential, within 15 minutes as
# a repeat, changing and recording nothing (docs/discovery.md, "A lost answer").
kiln_complete() {
  kiln_retry_start "${KILN_COMPLETE_TRIES:-}"
  while :; do
    kiln_complete_rc=0
    kiln_node_curl "$kiln_complete_url" -X POST -H 'Content-Type: application/json' --data "{\"stage\":\"$1\"}" >/dev/null ||
      kiln_complete_rc=$?
    [ "$kiln_complete_rc" -eq 0 ] && return 0
    kiln_retry_after completion "$kiln_complete_rc" || return 1
  done
}

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

kiln_enrol
kiln_progress installer-started 'ubuntu-24.04'

# --- kiln-syslog-journal.sh: an installer's journal to Kiln (shared snippet, docs/syslog.md) ---
# kiln_syslog_journal: the installer's own journal, from this boot's first
# line (so the lines from before the network was up as well), goes to Kiln as
# it is written, each tagged with the boot session (RFC 5424 structured data).
# A background journalctl | logger over UDP, ended by the installer's reboot;
# best effort: a datagram Kiln does not take is lost, and every line is sent
# as user.notice with journalctl's text (its time, unit and message).
kiln_syslog_journal() {
  if ! command -v journalctl >/dev/null 2>&1 || ! command -v logger >/dev/null 2>&1; then
    echo "kiln: no journalctl or logger here: the installer's syslog stays local" >&2
    return 0
  fi
  setsid sh -c 'journalctl -b -f -n all -o short-iso 2>/dev/null |
    logger --udp --server 192.0.2.1 --port 514 --rfc5424 --size 4096 \
      --sd-id kiln@32473 --sd-param "session=\"kbs_BOOTSESSION\"" -t installer -p user.notice' \
    </dev/null >/dev/null 2>&1 &
}

kiln_syslog_journal
