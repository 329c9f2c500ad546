#!/bin/sh
# Kiln heartbeat agent (POSIX sh, busybox-compatible), installed on every
# deployed host at /usr/lib/kiln/kiln-heartbeat with lib.sh, net.sh and
# facts.sh beside it (the discovery agent's own fact collection, so a
# re-audit hashes what discovery hashed). Each heartbeat POSTs the host's
# health to <url>/api/v1/node/heartbeat with the node credential:
# uptime, boot id, kernel, load, memory, disk use per mount, failed systemd
# units, machine-check / EDAC / SMART counts where the machine has them, the
# boot session (kiln.session=), and the discovery facts when the controller
# asked for a re-audit (and on the first heartbeat of each boot). The reply
# (text/plain lines) names the next interval and carries the SSH KRL when it
# changed: it is installed as sshd's RevokedKeys. On a layout ab host the body
# carries `kiln-ab status` and a reply line `ab-switch 1` (kiln host rollback)
# makes the other slot the good one and reboots.
#
#   kiln-heartbeat          one heartbeat if one is due (systemd timer: every 10 s)
#   kiln-heartbeat --loop   forever, at the interval the controller names (busybox init)
#
# Files: $KILN_ETC (/etc/kiln) url, credential, api-url and ca.pem (optional:
# with curl, the HTTPS API verified against that CA, every member's, is used instead of url), urls and
# api-urls (every member, one a line: tried in turn when one gives no answer; rewritten from the reply's
# `url` and `api-url` lines when they change; ca.pem too, from a verified HTTPS reply, when a member joined
# later); state in $KILN_HB_STATE (/run/kiln-heartbeat, gone
# at reboot); the KRL at $KILN_SSH_DIR (/etc/ssh)/kiln-revoked-keys.
set -u
: "${KILN_ETC:=/etc/kiln}" "${KILN_HB_STATE:=/run/kiln-heartbeat}" "${KILN_LIB:=/usr/lib/kiln}" "${KILN_SSH_DIR:=/etc/ssh}"
# Where a running systemd and sshd show themselves (tests point these at scratch paths, never at the test machine's).
: "${KILN_SYSTEMD_RUN:=/run/systemd/system}" "${KILN_SSHD_PID:=/run/sshd.pid}"
. "$KILN_LIB/lib.sh"
. "$KILN_LIB/net.sh"
. "$KILN_LIB/facts.sh"
KILN_HB_VERSION=1

# hb_uptime: whole seconds since boot.
hb_uptime() { awk '{ printf "%d", $1 }' "$KILN_PROC/uptime"; }

# hb_memory: {totalBytes, availableBytes} from /proc/meminfo.
hb_memory() {
  awk '/^MemTotal:/ { t = $2 * 1024 } /^MemAvailable:/ { a = $2 * 1024 }
    END { printf "{\"totalBytes\":%d,\"availableBytes\":%d}", t, a }' "$KILN_PROC/meminfo"
}

# hb_disks: [{mount, sizeBytes, usedBytes}] for each mounted /dev/ filesystem (at most 64).
hb_disks() {
  sep=""; n=0; printf '['
  for m in $(awk '$1 ~ /^\/dev\// { print $2 }' "$KILN_PROC/mounts" | sort -u); do
    [ "$n" -ge 64 ] && break
    line=$(df -P -k "$m" 2>/dev/null | awk 'NR == 2 { print $2, $3 }')
    [ -n "$line" ] || continue
    set -- $line
    printf '%s{"mount":%s,"sizeBytes":%s,"usedBytes":%s}' "$sep" "$(json_str "$m")" "$(($1 * 1024))" "$(($2 * 1024))"
    sep=","; n=$((n + 1))
  done
  printf ']'
}

# hb_failed_units: systemd's failed units as a JSON list; null without systemd.
hb_failed_units() {
  if ! command -v systemctl >/dev/null 2>&1 || [ ! -d "$KILN_SYSTEMD_RUN" ]; then printf 'null'; return; fi
  sep=""; printf '['
  for u in $(timeout 20 systemctl list-units --state=failed --no-legend --plain 2>/dev/null | awk '{ print $1 }' | head -n 256); do
    printf '%s%s' "$sep" "$(json_str "$u")"; sep=","
  done
  printf ']'
}

# hb_machine_checks: machine-check lines the kernel logged this boot; null when the log is unreadable.
hb_machine_checks() {
  out=$(dmesg 2>/dev/null) || { printf 'null'; return; }
  printf '%s\n' "$out" | grep -c -e 'Machine check events logged' -e 'mce: \[Hardware Error\]'
}

# hb_edac: summed corrected/uncorrected counts of every EDAC memory controller; null without EDAC.
hb_edac() {
  set -- "$KILN_SYS"/devices/system/edac/mc/mc[0-9]*
  [ -e "$1" ] || { printf 'null'; return; }
  ce=0; ue=0
  for mc in "$@"; do
    c=$(read_trim "$mc/ce_count"); u=$(read_trim "$mc/ue_count")
    ce=$((ce + ${c:-0})); ue=$((ue + ${u:-0}))
  done
  printf '{"correctable":%s,"uncorrectable":%s}' "$ce" "$ue"
}

# hb_smart: smartctl's overall verdict and reallocated sectors per whole disk; null without smartctl.
hb_smart() {
  command -v smartctl >/dev/null 2>&1 || { printf 'null'; return; }
  sep=""; printf '['
  for d in "$KILN_SYS"/block/*; do
    n=${d##*/}
    case "$n" in loop*|ram*|zram*|dm-*|md*|sr*|fd*) continue ;; esac
    out=$(timeout 20 smartctl -H -A "$KILN_DEV/$n" 2>/dev/null)
    case "$out" in *PASSED*|*"Health Status: OK"*) ok=true ;; *FAILED*) ok=false ;; *) ok=null ;; esac
    re=$(printf '%s\n' "$out" | awk '$2 == "Reallocated_Sector_Ct" { print $10; exit }')
    printf '%s{"device":%s,"passed":%s,"reallocatedSectors":%s}' "$sep" "$(json_str "$n")" "$ok" "$(json_num "$re")"
    sep=","
  done
  printf ']'
}

# hb_body AUDIT: the heartbeat's JSON body; with AUDIT=1 the discovery facts ride along.
hb_body() {
  sess=$(cmdline_get kiln.session)
  krl=$(cat "$KILN_HB_STATE/krl.sha256" 2>/dev/null)
  printf '{"agentVersion":%s,"bootId":%s,"uptimeSeconds":%s,"kernel":%s,"load":%s,"memory":%s,"disks":%s,"failedUnits":%s,"machineChecks":%s,"edac":%s,"smart":%s,"session":%s' \
    "$KILN_HB_VERSION" "$(json_str "$(read_trim "$KILN_PROC/sys/kernel/random/boot_id")")" "$(hb_uptime)" \
    "$(json_str "$(read_trim "$KILN_PROC/sys/kernel/osrelease")")" \
    "$(awk '{ printf "[%s,%s,%s]", $1, $2, $3 }' "$KILN_PROC/loadavg")" "$(hb_memory)" "$(hb_disks)" \
    "$(hb_failed_units)" "$(hb_machine_checks)" "$(hb_edac)" "$(hb_smart)" \
    "$([ -n "$sess" ] && json_str "$sess" || printf 'null')"
  [ -n "$krl" ] && printf ',"krlSha256":%s' "$(json_str "$krl")"
  [ -s "$KILN_ETC/ca.pem" ] && printf ',"caSha256":"%s"' "$(sha256sum < "$KILN_ETC/ca.pem" | cut -d ' ' -f 1)"
  # Layout ab: the slot state on the ESP (Kiln records deploy.rolled_back from fellBack).
  if [ -x "$KILN_LIB/kiln-ab" ]; then ab=$("$KILN_LIB/kiln-ab" status 2>/dev/null) && [ -n "$ab" ] && printf ',"ab":%s' "$ab"; fi
  [ "$1" = 1 ] && printf ',"facts":%s' "$(facts_json "$(boot_mac)")"
  printf '}'
}

# hb_urls: the controllers to send to, one per line: the one that answered last,
# then $KILN_ETC/api-urls (or api-url) with curl, else $KILN_ETC/urls (or url),
# each once. The lists come from the install and are refreshed from each reply.
hb_urls() {
  if command -v curl >/dev/null 2>&1 && [ -s "$KILN_ETC/api-url" ]; then set -- api-urls api-url; else set -- urls url; fi
  { read_trim "$KILN_HB_STATE/answered-$1"; cat "$KILN_ETC/$1" 2>/dev/null; head -n 1 "$KILN_ETC/$2" 2>/dev/null; } |
    awk 'NF && !seen[$0]++'
}

# hb_post: POSTs $KILN_HB_STATE/body to the heartbeat route; prints the reply. curl (verifying an
# https url against $KILN_ETC/ca.pem when present: every member's CA), else lib.sh http_raw (plain http only).
# A controller that gives no answer (connection refused or reset, a time-out, a TLS failure, a 5xx)
# is passed over for the next of hb_urls; a 4xx answer is final (the next would say the same).
hb_post() {
  list=urls; command -v curl >/dev/null 2>&1 && [ -s "$KILN_ETC/api-url" ] && list=api-urls
  rc=1
  for base in $(hb_urls); do
    hb_post_to "${base%/}/api/v1/node/heartbeat" > "$KILN_HB_STATE/reply.one"; rc=$?
    if [ "$rc" = 0 ]; then
      HB_ANSWERED=$base
      printf '%s\n' "$base" > "$KILN_HB_STATE/answered-$list"
      cat "$KILN_HB_STATE/reply.one"; return 0
    fi
    [ "$rc" = 4 ] && return 1
    log "heartbeat to $base gave no answer; trying the next controller"
  done
  return 1
}

# hb_post_to URL: one POST. 0 answered, 4 refused with a 4xx, else no answer. The credential is never on a
# command line (every local user could read it there while the call runs): curl reads it from a header file
# (-H @FILE) in $KILN_HB_STATE (0700), removed after the call; without curl, http_raw writes it to nc's input.
hb_post_to() {
  to=$1
  if command -v curl >/dev/null 2>&1; then
    if [ -s "$KILN_ETC/ca.pem" ]; then set -- --cacert "$KILN_ETC/ca.pem"; else set --; fi
    (umask 077 && printf 'Authorization: Bearer %s\n' "$(head -n 1 "$KILN_ETC/credential")" > "$KILN_HB_STATE/auth-header") || return 1
    code=$(curl -sS -m 30 "$@" -o "$KILN_HB_STATE/reply.body" -w '%{http_code}' -H "@$KILN_HB_STATE/auth-header" -H 'Accept: text/plain' \
      -H 'Content-Type: application/json' --data-binary "@$KILN_HB_STATE/body" "$to"); hb_curl_rc=$?
    rm -f "$KILN_HB_STATE/auth-header"
    [ "$hb_curl_rc" = 0 ] || return 1
    case "$code" in
      2??) cat "$KILN_HB_STATE/reply.body"; return 0 ;;
      4??) log "heartbeat to $to: HTTP $code"; return 4 ;;
      *) return 1 ;;
    esac
  fi
  case "$to" in
    http://*) http_raw "$KILN_HB_STATE" 30 POST "$to" "$KILN_ETC/credential" "$KILN_HB_STATE/body" \
      'Accept: text/plain' 'Content-Type: application/json' ;;
    *) echo "kiln-heartbeat: $to needs curl (this system has none)" >&2; return 4 ;;
  esac
}

# hb_member_urls REPLY KEY FILE: the reply's KEY lines (every healthy member) into $KILN_ETC/FILE when they
# differ from it; of api-url lines only the https:// ones (an HTTPS agent's list: a member whose TLS is off is
# not sent the credential in the clear).
hb_member_urls() {
  pat='^https?://[^ ]+$'; [ "$2" = api-url ] && pat='^https://[^ ]+$'
  awk -v k="$2" -v p="$pat" '$1 == k && NF == 2 && $2 ~ p { print $2 }' "$1" > "$KILN_HB_STATE/$3.new"
  if [ -s "$KILN_HB_STATE/$3.new" ] && ! cmp -s "$KILN_HB_STATE/$3.new" "$KILN_ETC/$3"; then
    cp "$KILN_HB_STATE/$3.new" "$KILN_ETC/$3.tmp" && mv -f "$KILN_ETC/$3.tmp" "$KILN_ETC/$3" &&
      log "controllers to fail over to ($3): $(tr '\n' ' ' < "$KILN_ETC/$3")"
  fi
  rm -f "$KILN_HB_STATE/$3.new"
  return 0
}

# hb_install_ca BASE64 SHA256: every member's TLS CA bundle from a reply into $KILN_ETC/ca.pem (a member that
# joined after the install), only when that reply came over HTTPS verified against the ca.pem it replaces (curl),
# only PEM certificates, and only when it hashes to SHA256.
hb_install_ca() {
  case "${HB_ANSWERED-}" in https://*) ;; *) return 0 ;; esac
  command -v curl >/dev/null 2>&1 && [ -s "$KILN_ETC/ca.pem" ] || return 0
  printf '%s\n' "$1" | base64 -d > "$KILN_ETC/ca.pem.new" 2>/dev/null
  if [ "$(sha256sum < "$KILN_ETC/ca.pem.new" | cut -d ' ' -f 1)" != "$2" ] ||
    ! grep -q '^-----BEGIN CERTIFICATE-----' "$KILN_ETC/ca.pem.new" || grep -q 'PRIVATE KEY' "$KILN_ETC/ca.pem.new"; then
    rm -f "$KILN_ETC/ca.pem.new"; log "the heartbeat reply carried no valid CA bundle; kept ca.pem"; return 1
  fi
  chmod 644 "$KILN_ETC/ca.pem.new" && mv -f "$KILN_ETC/ca.pem.new" "$KILN_ETC/ca.pem" &&
    log "installed every controller's TLS CA ($(grep -c 'BEGIN CERTIFICATE' "$KILN_ETC/ca.pem") certificates) at $KILN_ETC/ca.pem"
}

# hb_sshd_revoked_keys: makes sshd read the KRL (RevokedKeys): in sshd_config.d/10-kiln-krl.conf when
# sshd_config includes that directory, else first in sshd_config; a running sshd is told to reload.
hb_sshd_revoked_keys() {
  cfg=$KILN_SSH_DIR/sshd_config
  [ -f "$cfg" ] || return 0
  grep -qs "^RevokedKeys $KILN_SSH_DIR/kiln-revoked-keys" "$cfg" "$KILN_SSH_DIR"/sshd_config.d/*.conf && return 0
  line="RevokedKeys $KILN_SSH_DIR/kiln-revoked-keys"
  if grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/' "$cfg"; then
    mkdir -p "$KILN_SSH_DIR/sshd_config.d" && printf '# Kiln: certificates revoked by the controller (kiln ssh revoke).\n%s\n' "$line" > "$KILN_SSH_DIR/sshd_config.d/10-kiln-krl.conf"
  else
    { printf '%s\n' "$line"; cat "$cfg"; } > "$cfg.kiln" && cat "$cfg.kiln" > "$cfg" && rm -f "$cfg.kiln"
  fi
  log "sshd now reads the KRL ($line)"
  if [ -d "$KILN_SYSTEMD_RUN" ] && command -v systemctl >/dev/null 2>&1; then
    systemctl try-reload-or-restart ssh.service sshd.service >/dev/null 2>&1
  elif [ -s "$KILN_SSHD_PID" ]; then
    kill -HUP "$(cat "$KILN_SSHD_PID")" 2>/dev/null
  fi
  return 0
}

# hb_install_krl BASE64 SHA256: writes the KRL (only an OpenSSH KRL, "SSHKRL\n\0" magic) atomically.
hb_install_krl() {
  f=$KILN_SSH_DIR/kiln-revoked-keys
  mkdir -p "$KILN_SSH_DIR"
  printf '%s\n' "$1" | base64 -d > "$f.new" 2>/dev/null
  if [ "$(head -c 6 "$f.new" 2>/dev/null)" != SSHKRL ]; then
    rm -f "$f.new"; log "the heartbeat reply carried no valid KRL; kept the old one"; return 1
  fi
  chmod 644 "$f.new" && mv -f "$f.new" "$f" && printf '%s\n' "$2" > "$KILN_HB_STATE/krl.sha256" || return 1
  log "installed the SSH KRL $2 at $f"
  hb_sshd_revoked_keys
}

# hb_ab_switch: kiln host rollback: the other slot becomes the good one, then a reboot into it.
hb_ab_switch() {
  [ -x "$KILN_LIB/kiln-ab" ] || { log "the controller asked for an A/B switch, but this system has no kiln-ab"; return 1; }
  "$KILN_LIB/kiln-ab" switch || { log "kiln-ab switch failed"; return 1; }
  log "switched A/B slot on the controller's request (kiln host rollback); rebooting"
  sync; ${KILN_HB_REBOOT:-reboot}
}

# hb_send: one heartbeat; applies the reply. Sets HB_INTERVAL (seconds to the next one).
hb_send() {
  mkdir -p "$KILN_HB_STATE" && chmod 700 "$KILN_HB_STATE"
  audit=0; [ -e "$KILN_HB_STATE/audited" ] || audit=1; [ -e "$KILN_HB_STATE/audit" ] && audit=1
  hb_body "$audit" > "$KILN_HB_STATE/body"
  if ! hb_post > "$KILN_HB_STATE/reply"; then
    log "heartbeat to $(hb_urls | tr '\n' ' ')failed; next in ${HB_INTERVAL}s"
    return 1
  fi
  [ "$audit" = 1 ] && { touch "$KILN_HB_STATE/audited"; rm -f "$KILN_HB_STATE/audit"; }
  r=$KILN_HB_STATE/reply
  i=$(awk '$1 == "interval" { print $2; exit }' "$r")
  case "$i" in ''|*[!0-9]*|0) ;; *) HB_INTERVAL=$i ;; esac
  [ "$(awk '$1 == "audit" { print $2; exit }' "$r")" = 1 ] && touch "$KILN_HB_STATE/audit"
  krl=$(awk '$1 == "krl" { print $2; exit }' "$r")
  [ -n "$krl" ] && hb_install_krl "$krl" "$(awk '$1 == "krl-sha256" { print $2; exit }' "$r")"
  # A host whose url is HTTPS (the profiles' late step writes the API URL there) keeps HTTPS members only.
  case "$(head -n 1 "$KILN_ETC/url" 2>/dev/null)" in
    https://*) hb_member_urls "$r" api-url urls ;;
    *) hb_member_urls "$r" url urls ;;
  esac
  [ -s "$KILN_ETC/api-url" ] && hb_member_urls "$r" api-url api-urls
  ca=$(awk '$1 == "ca" { print $2; exit }' "$r")
  [ -n "$ca" ] && hb_install_ca "$ca" "$(awk '$1 == "ca-sha256" { print $2; exit }' "$r")"
  [ "$(awk '$1 == "ab-switch" { print $2; exit }' "$r")" = 1 ] && hb_ab_switch
  return 0
}

# hb_main [--loop]
hb_main() {
  HB_INTERVAL=60
  mkdir -p "$KILN_HB_STATE"
  [ -s "$KILN_HB_STATE/interval" ] && HB_INTERVAL=$(cat "$KILN_HB_STATE/interval")
  if [ "${1-}" = --loop ]; then
    while :; do
      hb_send
      sleep "$HB_INTERVAL"
    done
  fi
  # Timer mode: a heartbeat only when the last one is an interval old (by uptime: no wall-clock jumps).
  up=$(hb_uptime); next=$(cat "$KILN_HB_STATE/next" 2>/dev/null)
  [ -n "$next" ] && [ "$up" -lt "$next" ] && return 0
  hb_send; rc=$?
  printf '%s\n' "$HB_INTERVAL" > "$KILN_HB_STATE/interval"
  printf '%s\n' "$(($(hb_uptime) + HB_INTERVAL - 1))" > "$KILN_HB_STATE/next"
  return "$rc"
}

[ "${KILN_HB_SOURCE_ONLY-}" = 1 ] || hb_main "$@"
