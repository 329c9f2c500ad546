#!/bin/sh
# Kiln first-boot callback, installed by the image writer at
# /usr/lib/kiln/kiln-firstboot. Tells the controller the installed system
# came up (POST /api/v1/node/complete with the node credential from
# /etc/kiln/credential), retrying for up to 10 minutes, then marks itself
# done so later boots stay quiet. Works with curl, wget (busybox or GNU) or,
# in a minimal Debian root that has neither, bash's /dev/tcp (http:// only).
set -u
etc=${KILN_ETC:-/etc/kiln}; state=${KILN_STATE:-/var/lib/kiln}
url=$(cat "$etc/url"); cred=$(cat "$etc/credential")
done_file=$state/firstboot-done
[ -e "$done_file" ] && exit 0
body='{"ok":true,"stage":"firstboot"}'
# post_bash: one HTTP/1.0 POST over bash's /dev/tcp; success on a 2xx status.
post_bash() {
  case "$url" in http://*) ;; *) echo "kiln-firstboot: no curl or wget, and $url is not http://" >&2; return 1 ;; esac
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
post() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -m 20 -H "Authorization: Bearer $cred" -H 'Content-Type: application/json' -d "$body" "$url/api/v1/node/complete"
  elif command -v wget >/dev/null 2>&1; then
    timeout 60 wget -q -O - --header "Authorization: Bearer $cred" --header 'Content-Type: application/json' --post-data "$body" "$url/api/v1/node/complete"
  elif command -v bash >/dev/null 2>&1; then
    post_bash
  else
    echo "kiln-firstboot: no curl, wget or bash in this system" >&2; return 1
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
