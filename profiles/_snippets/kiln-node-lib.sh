# --- kiln-node-lib.sh: how a node talks to Kiln (shared snippet) ---
# KILN_DIR holds the node credential (mode 0600) and Kiln's CA: /run/kiln in
# the installer, /etc/kiln in the installed system.
KILN_DIR=${KILN_DIR:-/run/kiln}
kiln_enrol_url={{ kiln.nodeApi.enrol | sh }}
kiln_secrets_url={{ kiln.nodeApi.secrets | sh }}
kiln_progress_url={{ kiln.nodeApi.progress | sh }}
kiln_complete_url={{ kiln.nodeApi.complete | sh }}
kiln_ssh_cert_url={{ kiln.nodeApi.sshCert | sh }}
kiln_agent_url={{ kiln.nodeApi.agent | sh }}
kiln_api_url={{ kiln.apiUrl | sh }}
kiln_boot_mac={{ host.bootMac | sh }}
mkdir -p "$KILN_DIR"
chmod 700 "$KILN_DIR"
# The boot session (kiln.session= on the installer's kernel command line) tags every call on Kiln's boot timeline.
kiln_session=$(sed -n 's/.*kiln\.session=\([0-9a-f]*\).*/\1/p' /proc/cmdline 2>/dev/null)
{%- if kiln.caPem != "" %}
cat > "$KILN_DIR/ca.pem" <<'KILN_CA_PEM'
{{ kiln.caPem | strip }}
KILN_CA_PEM
kiln_curl() { curl -fsS --retry 5 --retry-delay 3 --retry-connrefused --max-time 120 -H "X-Kiln-Session: $kiln_session" --cacert "$KILN_DIR/ca.pem" "$@"; }
{%- else %}
kiln_curl() { curl -fsS --retry 5 --retry-delay 3 --retry-connrefused --max-time 120 -H "X-Kiln-Session: $kiln_session" "$@"; }
{%- endif %}
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
