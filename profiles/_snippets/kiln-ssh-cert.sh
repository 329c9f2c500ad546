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
