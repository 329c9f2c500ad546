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
