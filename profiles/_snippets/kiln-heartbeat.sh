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
