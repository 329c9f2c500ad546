# Kiln image writer, late step (busybox ash; sourced by install.sh). Runs after
# the image and the host configuration are written, with the new root mounted
# at $KILN_TARGET, before the reboot: the image writer's counterpart of the
# kiln-late.sh the other profiles run inside their installers.
#
#   secrets   GET <api>/api/v1/node/secrets (text/plain) with the node
#             credential: root's crypt hash goes into the target's /etc/shadow
#             (without one, "*": no password login), the authorized keys
#             into root's ~/.ssh/authorized_keys (replacing the image's).
#   hostcert  host keys shipped in the image are removed (no two hosts may
#             share one); a new Ed25519 host key is made INSIDE the target by
#             its own ssh-keygen; only the public half is POSTed to
#             <api>/api/v1/node/ssh/host-certificates; the certificate and the
#             HostKey/HostCertificate lines go into the target's sshd config.
#
# The private key never leaves the node; nothing secret is on the kernel
# command line or in an install file. <api> and its CA come from the install
# plan (api.url, api.caPem; api.urls: every member's API, tried in turn when
# one gives no answer). Secrets travel over HTTPS only: the call is made with
# openssl s_client, which verifies the server against the plan's CAs alone
# (api.caPem holds every member's TLS CA).

# late_call METHOD PATH ACCEPT [BODY-FILE CONTENT-TYPE]: one HTTPS request to
# the plan's API with the node credential; prints the response body. When a
# member's API gives no answer, the next of the plan's api.urls is asked (the
# one that answered first from then on); an HTTP error is final. Exit 1 on an
# HTTP error (prints "HTTP <status>: <message>") or a certificate that does
# not verify, 2 when no member answered (openssl's reason is printed).
late_call() {
  [ -n "$(late_api_urls)" ] || { late_call_at "" "$@"; return; }
  lc_rc=2
  for lc_api in $(late_api_urls); do
    late_call_at "$lc_api" "$@" > "$KILN_RUN/late.out"; lc_rc=$?
    [ "$lc_rc" = 2 ] || break
    log "$(cat "$KILN_RUN/late.out")"
  done
  [ "$lc_rc" = 0 ] && printf '%s\n' "$lc_api" > "$KILN_RUN/controller-api-url"
  cat "$KILN_RUN/late.out" 2>/dev/null; rm -f "$KILN_RUN/late.out"
  return "$lc_rc"
}

# late_api_urls: the node API URLs to call, one per line: the one that last
# answered, the plan's api.url, then every other member's (api.urls); only
# https:// ones after the first when api.url is one.
late_api_urls() {
  first=$(plan_get api.url)
  { read_trim "$KILN_RUN/controller-api-url"; printf '%s\n' "$first"
    printf '%s\n' "$PLAN" | awk -F '\t' '$1 ~ /^api\.urls\.[0-9]+$/ { print $2 }'; } |
    awk -v f="$first" 'NF && !seen[$0]++ && (f !~ /^https:/ || /^https:/)'
}

# late_call_at API METHOD PATH ACCEPT [BODY-FILE CONTENT-TYPE]: late_call to one member's API.
# (lca_msg, not msg: busybox ash has no local variables, and install.sh's step_run, which runs the late stages,
# keeps its stage's message in msg for the failure report.)
late_call_at() {
  api=$1; method=$2; path=$3; accept=$4; body=${5-}; ctype=${6-}
  case "$api" in
    https://*) ;;
    *) echo "the API URL in the install plan is \"$api\", not https://: node secrets are sent over HTTPS only (is the controller's tls-listen off?)"; return 1 ;;
  esac
  rest=${api#https://}; hostport=${rest%%/*}
  case "$rest" in */*) base=/${rest#*/} ;; *) base="" ;; esac
  case "$hostport" in
    \[*\]) hostport="$hostport:443" ;;
    \[*|*:*) ;;
    *) hostport="$hostport:443" ;;
  esac
  host=${hostport%:*}; host=${host#\[}; host=${host%\]}
  case "$host" in
    *:*) verify="-verify_ip $host" ;;
    *[!0-9.]*) verify="-verify_hostname $host -servername $host" ;;
    *) verify="-verify_ip $host" ;;
  esac
  resp=$KILN_RUN/late.resp
  {
    printf '%s %s%s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\nAccept: %s\r\nConnection: close\r\n' \
      "$method" "${base%/}" "$path" "$hostport" "$(cat "$KILN_RUN/credential")" "$accept"
    if [ -n "$body" ]; then
      printf 'Content-Type: %s\r\nContent-Length: %s\r\n\r\n' "$ctype" "$(($(wc -c < "$body")))"
      cat "$body"
    else
      printf '\r\n'
    fi
  } | timeout 60 "$KILN_BIN/openssl" s_client -quiet -verify_return_error -CAfile "$KILN_RUN/ca.pem" -no-CApath -no-CAstore \
      $verify -connect "$hostport" > "$resp" 2> "$KILN_RUN/late.err"
  status=$(head -n 1 "$resp" | awk '{ print $2 }')
  case "$status" in
    2??) awk 'b { print; next } /^\r?$/ { b = 1 }' "$resp"; rm -f "$resp"; return 0 ;;
    [1-9]??)
      lca_msg=$(awk 'b { print; next } /^\r?$/ { b = 1 }' "$resp" | json_flatten 2>/dev/null | json_get error.message)
      echo "$method $path: HTTP $status: ${lca_msg:-no error message}"; rm -f "$resp"; return 1 ;;
  esac
  if grep -q 'verify error\|certificate verify failed' "$KILN_RUN/late.err"; then
    echo "$method $path: the certificate of $hostport does not verify against the CA in the install plan: $(grep -m 1 'verify error' "$KILN_RUN/late.err")"
    rm -f "$resp"; return 1
  fi
  echo "$method $path: no answer from $hostport: $(grep -v '^depth=\|^verify return:\|SSL_get_servername' "$KILN_RUN/late.err" | tail -n 2 | tr '\n' ' ')"
  rm -f "$resp"; return 2
}

# late_call_retry ARGS...: late_call, retrying only when no answer came (up
# to 5 attempts, 1, 2, 4, 8 s apart); an HTTP error is final.
late_call_retry() {
  i=0; delay=1
  while :; do
    late_call "$@"; rc=$?
    [ "$rc" = 2 ] || return "$rc"
    i=$((i + 1)); [ "$i" -ge 5 ] && return 1
    sleep "$delay"; delay=$((delay * 2))
  done
}

# late_ca: writes the plan's CA certificate (api.caPem) for openssl.
late_ca() {
  printf '%s\n' "$PLAN" | json_text api.caPem > "$KILN_RUN/ca.pem"
  grep -q 'BEGIN CERTIFICATE' "$KILN_RUN/ca.pem" || { echo "the install plan has no CA certificate (api.caPem) to verify the API with"; return 1; }
}

# target_run COMMAND ARGS...: runs COMMAND inside the target root (chroot, with
# /dev and /proc mounted there for the command's time).
target_run() {
  t=$KILN_TARGET
  mkdir -p "$t/dev" "$t/proc"
  mount --bind /dev "$t/dev" || return 1
  mount -t proc proc "$t/proc" || { umount "$t/dev"; return 1; }
  chroot "$t" "$@"; rc=$?
  umount "$t/proc"; umount "$t/dev"
  return "$rc"
}

# late_root_password HASH: root's crypt hash in the target's /etc/shadow; an
# empty HASH makes it "*" (no password matches: keys only; unlike passwd -l's
# "!", which sshd without PAM treats as a locked account, refusing keys too);
# /etc/passwd's field for root becomes "x" so the shadow entry is the one used.
late_root_password() {
  t=$KILN_TARGET; sh=$t/etc/shadow
  mkdir -p "$t/etc"
  [ -e "$sh" ] || (umask 077; : > "$sh")
  (umask 077; KILN_HASH=$1 KILN_DAYS=$(($(date +%s) / 86400)) awk -F : -v OFS=: '
    BEGIN { h = ENVIRON["KILN_HASH"] }
    $1 == "root" { $2 = (h != "" ? h : "*"); $3 = ENVIRON["KILN_DAYS"]; seen = 1 }
    { print }
    END { if (!seen) print "root", (h != "" ? h : "*"), ENVIRON["KILN_DAYS"], 0, 99999, 7, "", "", "" }' "$sh" > "$sh.kiln") &&
  cat "$sh.kiln" > "$sh" && rm -f "$sh.kiln" || return 1
  if [ -f "$t/etc/passwd" ]; then
    awk -F : -v OFS=: '$1 == "root" && $2 != "x" { $2 = "x" } { print }' "$t/etc/passwd" > "$t/etc/passwd.kiln" &&
    cat "$t/etc/passwd.kiln" > "$t/etc/passwd" && rm -f "$t/etc/passwd.kiln"
  fi
}

# late_authorized_keys < KEYS: root's authorized_keys in the target (home from
# the target's /etc/passwd, else /root), mode 0600 in a 0700 directory.
late_authorized_keys() {
  t=$KILN_TARGET
  home=$(awk -F : '$1 == "root" { print $6; exit }' "$t/etc/passwd" 2>/dev/null)
  case "$home" in /*) ;; *) home=/root ;; esac
  d=$t$home/.ssh
  mkdir -p "$d" && chmod 700 "$d" && (umask 077; cat > "$d/authorized_keys") && chmod 600 "$d/authorized_keys"
}

# late_secrets: the "secrets" stage.
late_secrets() {
  late_ca || return 1
  late_call_retry GET /api/v1/node/secrets text/plain > "$KILN_RUN/secrets" || { cat "$KILN_RUN/secrets"; rm -f "$KILN_RUN/secrets"; return 1; }
  hash=$(sed -n 's/^root-password-hash //p' "$KILN_RUN/secrets" | head -n 1)
  keys=$(grep -c '^authorized-key ' "$KILN_RUN/secrets")
  sed -n 's/^authorized-key //p' "$KILN_RUN/secrets" | late_authorized_keys && late_root_password "$hash"
  rc=$?; rm -f "$KILN_RUN/secrets"
  [ "$rc" = 0 ] && echo "root password $([ -n "$hash" ] && echo "hash set" || echo "disabled (*)"), $keys authorized key(s)"
  unset hash
  return "$rc"
}

# late_sshd_config: HostKey/HostCertificate (and keys-only login) for the
# target's sshd: sshd_config.d/10-kiln.conf when sshd_config includes that
# directory, else prepended to sshd_config (sshd takes the first value).
late_sshd_config() {
  t=$KILN_TARGET; cfg=$t/etc/ssh/sshd_config
  lines="# Written by the Kiln image writer: this host's own key and its certificate from Kiln's SSH CA.
HostKey /etc/ssh/ssh_host_ed25519_key
HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub
PasswordAuthentication no
PermitRootLogin prohibit-password"
  if grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/' "$cfg" 2>/dev/null; then
    printf '%s\n' "$lines" > "$t/etc/ssh/sshd_config.d/10-kiln.conf"
  else
    { printf '%s\n\n' "$lines"; cat "$cfg" 2>/dev/null; } > "$cfg.kiln" && mv "$cfg.kiln" "$cfg"
  fi
}

# late_hostcert: the "hostcert" stage.
late_hostcert() {
  t=$KILN_TARGET
  keygen=""
  for c in /usr/bin/ssh-keygen /bin/ssh-keygen; do [ -x "$t$c" ] && { keygen=$c; break; }; done
  if [ -z "$keygen" ]; then
    echo "the image has no OpenSSH (no /usr/bin/ssh-keygen): no host key, no certificate"
    progress hostcert "the image has no OpenSSH (ssh-keygen): no host key or certificate made"
    return 0
  fi
  shipped=$(ls "$t"/etc/ssh/ssh_host_*key* 2>/dev/null | sed "s|^$t||" | tr '\n' ' ')
  [ -n "$shipped" ] && echo "removing host keys shipped in the image: $shipped"
  rm -f "$t"/etc/ssh/ssh_host_*key*
  mkdir -p "$t/etc/ssh/sshd_config.d"
  target_run "$keygen" -q -t ed25519 -N '' -C "root@$(plan_get hostname)" -f /etc/ssh/ssh_host_ed25519_key || { echo "ssh-keygen in the target failed"; return 1; }
  late_certify
}

# late_certify: Kiln's certificate for the target's /etc/ssh/ssh_host_ed25519_key
# (made by late_hostcert, or a stateless host's kept key) and sshd's lines for it.
late_certify() {
  t=$KILN_TARGET
  late_call_retry POST /api/v1/node/ssh/host-certificates text/plain "$t/etc/ssh/ssh_host_ed25519_key.pub" text/plain > "$KILN_RUN/certs" || { cat "$KILN_RUN/certs"; return 1; }
  cert=$(awk '$1 == "ssh-ed25519-cert-v01@openssh.com" { print; exit }' "$KILN_RUN/certs")
  [ -n "$cert" ] || { echo "Kiln answered no ssh-ed25519 certificate: $(head -c 200 "$KILN_RUN/certs")"; return 1; }
  printf '%s\n' "$cert" > "$t/etc/ssh/ssh_host_ed25519_key-cert.pub" && chmod 644 "$t/etc/ssh/ssh_host_ed25519_key-cert.pub" &&
  late_sshd_config &&
  echo "host key $(cut -d ' ' -f 1-2 "$t/etc/ssh/ssh_host_ed25519_key.pub" | cut -c 1-60)… certified by Kiln"
}

# late_syslog: the "syslog" stage. With Kiln's syslog receiver in the plan
# (syslog.host, syslog.port; absent when it is off) and rsyslog in the image,
# the installed system forwards its syslog there: the rule the other
# profiles' late steps write (profiles/_snippets/kiln-syslog-rsyslog.sh).
# Otherwise its syslog stays local; this stage never fails the install.
late_syslog() {
  t=$KILN_TARGET; host=$(plan_get syslog.host); port=$(plan_get syslog.port)
  [ -n "$host" ] || { echo "Kiln's syslog receiver is off: the installed system's syslog stays local"; return 0; }
  [ -x "$t/usr/sbin/rsyslogd" ] || { echo "the image has no rsyslog (/usr/sbin/rsyslogd): its syslog stays local"; return 0; }
  mkdir -p "$t/etc/rsyslog.d" && cat > "$t/etc/rsyslog.d/60-kiln-forward.conf" <<KILN_RSYSLOG || return 1
# Written by Kiln at install: every line also goes to Kiln's syslog receiver
# (TCP, RFC 5424, octet-counted framing per RFC 6587), attributed to this host.
# RSYSLOG_SyslogProtocol23Format, less the space an RFC 3164 origin leaves
# before the message text ("tag: text").
template(name="KilnForward" type="string"
         string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg:R,ERE,1,FIELD:^ ?(.*)\$--end%")
*.* action(type="omfwd" target="$host" port="${port:-514}" protocol="tcp"
           TCP_Framing="octet-counted" template="KilnForward"
           queue.type="LinkedList" queue.size="10000" action.resumeRetryCount="-1")
KILN_RSYSLOG
  echo "the installed system forwards its syslog to $host:${port:-514} (rsyslog)"
}
