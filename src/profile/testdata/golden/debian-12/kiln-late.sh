#!/bin/sh
# Kiln late script for node07.lab.example.org: runs inside the installed system
# (chroot) at the end of the install. It fetches this host's secrets with the
# node credential, installs SSH host certificates and the heartbeat agent,
# and reports completion.
# It contains no secret itself.
set -eu
KILN_DIR=/etc/kiln
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

# --- kiln-secrets.sh: apply root password hash and SSH keys (shared snippet) ---
# GET secrets (Accept: text/plain) answers one item per line:
#   root-password-hash <crypt hash>      (absent: password locked, keys only)
#   authorized-key <OpenSSH public key>  (zero or more)
kiln_apply_secrets() {
  secrets=$(kiln_node_curl "$kiln_secrets_url" -H 'Accept: text/plain') || { echo "kiln: cannot fetch secrets" >&2; return 1; }
  hash=$(printf '%s\n' "$secrets" | sed -n 's/^root-password-hash //p' | head -n 1)
  if [ -n "$hash" ]; then
    printf 'root:%s\n' "$hash" | chpasswd -e
  else
    passwd -l root >/dev/null
  fi
  mkdir -p /root/.ssh
  chmod 700 /root/.ssh
  (umask 077 && printf '%s\n' "$secrets" | sed -n 's/^authorized-key //p' > /root/.ssh/authorized_keys)
  unset secrets hash
}

# --- kiln-ssh-cert.sh: get SSH host certificates from Kiln's CA (shared snippet) ---
# POSTs the host's public host keys (text/plain, one per line) and installs
# each returned certificate as /etc/ssh/ssh_host_<type>_key-cert.pub with a
# HostCertificate line. Private host keys never leave the machine.
kiln_install_host_certs() {
  ssh-keygen -A >/dev/null
  conf=/etc/ssh/sshd_config.d/10-kiln.conf
  grep -qi '^Include /etc/ssh/sshd_config.d/' /etc/ssh/sshd_config || conf=/etc/ssh/sshd_config
  certs=$(cat /etc/ssh/ssh_host_*_key.pub | kiln_node_curl "$kiln_ssh_cert_url" -X POST \
    -H 'Content-Type: text/plain' -H 'Accept: text/plain' --data-binary @-) || { echo "kiln: cannot get host certificates" >&2; return 1; }
  {
    echo "# Written by Kiln at install time."
    echo "PasswordAuthentication no"
    echo "PermitRootLogin prohibit-password"
  } >> "$conf"
  printf '%s\n' "$certs" | while read -r type blob comment; do
    case $type in
      ssh-ed25519-cert-v01@openssh.com) kind=ed25519 ;;
      ecdsa-sha2-nistp*-cert-v01@openssh.com) kind=ecdsa ;;
      ssh-rsa-cert-v01@openssh.com|rsa-sha2-*-cert-v01@openssh.com) kind=rsa ;;
      *) continue ;;
    esac
    printf '%s %s %s\n' "$type" "$blob" "$comment" > "/etc/ssh/ssh_host_${kind}_key-cert.pub"
    echo "HostCertificate /etc/ssh/ssh_host_${kind}_key-cert.pub" >> "$conf"
  done
}

# --- kiln-syslog-rsyslog.sh: the installed system's syslog to Kiln (shared snippet, docs/syslog.md) ---
# kiln_syslog_rsyslog: the installed system (this script runs in it) sends
# every syslog line to Kiln as well, through rsyslog (the profile installs it
# when syslog is on). No session tag: its boots are sessions of their own.
# Best effort: while Kiln is unreachable up to 10000 lines wait in memory and
# later ones are dropped; lines still queued at shutdown are lost.
kiln_syslog_rsyslog() {
  mkdir -p /etc/rsyslog.d && cat > /etc/rsyslog.d/60-kiln-forward.conf <<'KILN_RSYSLOG'
# Written by Kiln at install: every line also goes to Kiln's syslog receiver
# (TCP, RFC 5424, octet-counted framing per RFC 6587), attributed to this host.
# RSYSLOG_SyslogProtocol23Format, less the space an RFC 3164 origin leaves
# before the message text ("tag: text").
template(name="KilnForward" type="string"
         string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg:R,ERE,1,FIELD:^ ?(.*)$--end%")
*.* action(type="omfwd" target="192.0.2.1" port="514" protocol="tcp"
           TCP_Framing="octet-counted" template="KilnForward"
           queue.type="LinkedList" queue.size="10000" action.resumeRetryCount="-1")
KILN_RSYSLOG
}

# --- kiln-heartbeat.sh: install the heartbeat agent (shared snippet) ---
# Fetches the agent (kiln-heartbeat with lib.sh, net.sh and facts.sh, the
# discovery agent's own fact collection) and its systemd service and timer
# into the installed system, points it at Kiln's API (/etc/kiln/url, verified
# against /etc/kiln/ca.pem when there is one) and enables the timer. The
# agent reports health every interval with the node credential in
# /etc/kiln/credential and installs the SSH KRL Kiln answers with as sshd's
# RevokedKeys (docs/heartbeat.md).
kiln_install_heartbeat() {
  mkdir -p /usr/lib/kiln /etc/systemd/system/timers.target.wants
  for f in lib.sh net.sh facts.sh kiln-heartbeat kiln-heartbeat.service kiln-heartbeat.timer; do
    kiln_node_curl "$kiln_agent_url/$f" -o "/usr/lib/kiln/$f" || { echo "kiln: cannot fetch the heartbeat agent's $f" >&2; return 1; }
  done
  chmod 755 /usr/lib/kiln/kiln-heartbeat
  mv /usr/lib/kiln/kiln-heartbeat.service /usr/lib/kiln/kiln-heartbeat.timer /etc/systemd/system/
  ln -sf ../kiln-heartbeat.timer /etc/systemd/system/timers.target.wants/kiln-heartbeat.timer
  printf '%s\n' "$kiln_api_url" > "$KILN_DIR/url"
  # Today's KRL and sshd's RevokedKeys line now, so sshd reads it from its first start (only a valid KRL:
  # a RevokedKeys line without one would refuse every key); later KRLs come with the heartbeats.
  if kiln_curl -o /etc/ssh/kiln-revoked-keys.new "$kiln_api_url/api/v1/ssh/revoked-keys" &&
    [ "$(head -c 6 /etc/ssh/kiln-revoked-keys.new)" = SSHKRL ]; then
    mv -f /etc/ssh/kiln-revoked-keys.new /etc/ssh/kiln-revoked-keys
    conf=/etc/ssh/sshd_config.d/10-kiln.conf
    grep -qi '^Include /etc/ssh/sshd_config.d/' /etc/ssh/sshd_config || conf=/etc/ssh/sshd_config
    echo "RevokedKeys /etc/ssh/kiln-revoked-keys" >> "$conf"
  else
    rm -f /etc/ssh/kiln-revoked-keys.new
  fi
}

kiln_enrol
kiln_syslog_rsyslog || echo 'kiln: could not write the syslog forwarding rule' >&2
kiln_progress installing 'applying secrets and host certificates'
kiln_apply_secrets
kiln_install_host_certs
# A host without the agent still works; it only sends no heartbeat (an operator sees status "never").
kiln_install_heartbeat || echo "kiln: the heartbeat agent is not installed" >&2
kiln_complete install

