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
# Calls a node route with the node credential: kiln_node_curl URL [curl args].
kiln_node_curl() {
  url=$1; shift
  kiln_curl -H "Authorization: Bearer $(cat "$KILN_DIR/credential")" "$@" "$url"
}
# Reports an install stage to the host's boot timeline; never fails the install.
kiln_progress() {
  kiln_node_curl "$kiln_progress_url" -X POST -H 'Content-Type: application/json' \
    --data "{\"stage\":\"$1\",\"message\":\"${2:-}\"}" >/dev/null 2>&1 || true
}

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
