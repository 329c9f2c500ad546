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
