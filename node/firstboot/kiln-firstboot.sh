#!/bin/sh
# Kiln first-boot callback, installed by the image writer at
# /usr/lib/kiln/kiln-firstboot. Tells the controller the installed system
# came up (POST /api/v1/node/complete with the node credential from
# /etc/kiln/credential), retrying for up to 10 minutes, then marks itself
# done so later boots stay quiet. Works with curl; in a minimal Debian root
# without it, bash's /dev/tcp; in a busybox root, nc through the agent's
# lib.sh http_raw (both http:// only). The credential is never on a command
# line, where every local user could read it while the call runs: curl reads
# it from a header file (0600, removed after the call), bash from its
# environment (readable by root only), nc from its input. A call whose answer
# was lost is simply made again: Kiln answers the same completion with the
# same credential, within 15 minutes, as the first (docs/discovery.md).
set -u
etc=${KILN_ETC:-/etc/kiln}; state=${KILN_STATE:-/var/lib/kiln}; lib=${KILN_LIB:-/usr/lib/kiln}
url=$(cat "$etc/url"); cred=$(cat "$etc/credential")
done_file=$state/firstboot-done
[ -e "$done_file" ] && exit 0
body='{"ok":true,"stage":"firstboot"}'
# post_bash: one HTTP/1.0 POST over bash's /dev/tcp; success on a 2xx status.
post_bash() {
  case "$url" in http://*) ;; *) echo "kiln-firstboot: no curl, and $url is not http://" >&2; return 1 ;; esac
  KILN_FB_URL=$url KILN_FB_CRED=$cred KILN_FB_BODY=$body timeout 30 bash -c '
    rest=${KILN_FB_URL#http://}; hp=${rest%%/*}; base=""
    case "$rest" in */*) base=/${rest#*/} ;; esac
    case "$hp" in
      \[*\]:*) host=${hp%]:*}; host=${host#[}; port=${hp##*]:} ;;
      \[*\]) host=${hp#[}; host=${host%]}; port=80 ;;
      *:*) host=${hp%:*}; port=${hp##*:} ;;
      *) host=$hp; port=80 ;;
    esac
    exec 3<>"/dev/tcp/$host/$port" || exit 1
    printf "POST %s/api/v1/node/complete HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s" \
      "${base%/}" "$hp" "$KILN_FB_CRED" "${#KILN_FB_BODY}" "$KILN_FB_BODY" >&3
    IFS=" " read -r _ status _ <&3
    case "$status" in 2??) exit 0 ;; esac
    echo "kiln-firstboot: HTTP ${status:-no answer}" >&2; exit 1'
}
# post_nc: the same POST through nc (busybox), by lib.sh's http_raw; its scratch directory is private.
post_nc() {
  case "$url" in http://*) ;; *) echo "kiln-firstboot: no curl or bash, and $url is not http://" >&2; return 1 ;; esac
  mkdir -p "$state/http" && chmod 700 "$state/http" && printf '%s' "$body" > "$state/http/body" || return 1
  (. "$lib/lib.sh" && http_raw "$state/http" 30 POST "$url/api/v1/node/complete" "$etc/credential" "$state/http/body" \
    'Content-Type: application/json')
}
post() {
  if command -v curl >/dev/null 2>&1; then
    (umask 077 && printf 'Authorization: Bearer %s\n' "$cred" > "$etc/auth-header") || return 1
    rc=0
    curl -fsS -m 20 -H "@$etc/auth-header" -H 'Content-Type: application/json' -d "$body" "$url/api/v1/node/complete" || rc=$?
    rm -f "$etc/auth-header"
    return "$rc"
  elif command -v bash >/dev/null 2>&1; then
    post_bash
  elif [ -r "$lib/lib.sh" ] && command -v nc >/dev/null 2>&1; then
    post_nc
  else
    echo "kiln-firstboot: no curl, bash or nc (with $lib/lib.sh) in this system" >&2; return 1
  fi
}
i=0
while [ "$i" -lt "${KILN_TRIES:-60}" ]; do
  if post >/dev/null; then
    mkdir -p "$state" && touch "$done_file"
    echo "kiln-firstboot: reported to $url"
    exit 0
  fi
  i=$((i + 1)); sleep "${KILN_DELAY:-10}"
done
echo "kiln-firstboot: could not reach $url" >&2
exit 1
