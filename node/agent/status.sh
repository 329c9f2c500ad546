# Kiln image writer: the installer's status page (busybox ash; sourced by
# install.sh), like the Dominator installer's on port 6978. busybox httpd
# serves a document root the agent rewrites at every stage: status.json and
# index.html (stage, progress, bytes fetched and reused, the log tail).
# Read-only by construction: no CGI (an empty httpd.conf outside the root, no
# cgi-bin), only GET and HEAD (busybox httpd answers 501 to POST, PUT and the
# rest without CGI), no path outside the root (it answers 400 to ..), and it
# runs as uid 65534, which cannot read /run/kiln (0700: the credential, the
# plan). Every line served goes through status_redact: the credential, crypt
# hashes and bearer tokens never reach it. The plan's secrets are fetched
# after the plan and never logged (late.sh); the root hash never is either.
#   KILN_STATUS_DIR (/run/kiln-status)  KILN_STATUS_PORT (6978)
#   KILN_STATUS_BIND (0.0.0.0)
: "${KILN_STATUS_PORT:=6978}" "${KILN_STATUS_BIND:=0.0.0.0}"

# The writer's stages in order (install.sh); the position gives the percentage.
KILN_STATUS_STAGES="clock plan objects partition mkfs image bootloader config network secrets hostcert syslog finish installed"

# status_start: the document root, the first status, and busybox httpd in the
# background (KILN_STATUS_PID). Best-effort: a failure leaves the install alone.
status_start() {
  KILN_STATUS_DIR=${KILN_STATUS_DIR:-/run/kiln-status}
  mkdir -p "$KILN_STATUS_DIR/www" "$KILN_STATUS_DIR/tmp" && chmod 755 "$KILN_STATUS_DIR" "$KILN_STATUS_DIR/www" &&
    chmod 700 "$KILN_STATUS_DIR/tmp" && : > "$KILN_STATUS_DIR/httpd.conf" || { KILN_STATUS_DIR=""; return 0; }
  KILN_STATUS_LOG=$KILN_STATUS_DIR/tmp/log
  status_write start "the installer started"
  httpd -f -p "$KILN_STATUS_BIND:$KILN_STATUS_PORT" -h "$KILN_STATUS_DIR/www" -c "$KILN_STATUS_DIR/httpd.conf" -u 65534:65534 < /dev/null > /dev/null 2>&1 &
  KILN_STATUS_PID=$!
  log "status page on port $KILN_STATUS_PORT (read-only)"
}

# status_redact < LINES: the lines with the node credential, crypt hashes
# ($id$...) and bearer tokens replaced by [redacted].
status_redact() {
  awk -v credf="$KILN_RUN/credential" 'BEGIN { if ((getline cred < credf) <= 0) cred = "" }
    { if (length(cred) >= 8) while ((p = index($0, cred)) > 0) $0 = substr($0, 1, p - 1) "[redacted]" substr($0, p + length(cred))
      gsub(/\$(1|2[abxy]|5|6|7|y|gy)\$[^ \t:]+/, "[redacted]")
      gsub(/[Bb]earer +[^ \t]+/, "Bearer [redacted]")
      print }'
}

# status_html < TEXT: TEXT with &, <, > and " escaped for HTML.
status_html() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }

# status_bytes FETCHED REUSED TOTAL: the object counts objects.sh reports; the
# page is rewritten with them (the current stage and message kept).
status_bytes() {
  [ -n "${KILN_STATUS_DIR-}" ] || return 0
  printf '%s %s %s\n' "$1" "$2" "$3" > "$KILN_STATUS_DIR/tmp/bytes"
  status_write "${STATUS_STAGE:-objects}" "${STATUS_MESSAGE-}" "${STATUS_STATE:-running}"
}

# status_write STAGE MESSAGE [STATE]: rewrites status.json and index.html
# (STATE running, failed or installed). Prints nothing; never fails.
# Its counters and message have names of their own (sw_*): busybox ash has no local variables, and every
# stage's progress report runs this, from callers that hold their own n (wipe.sh's disk) and msg (install.sh's step).
status_write() {
  [ -n "${KILN_STATUS_DIR-}" ] || return 0
  STATUS_STAGE=$1; STATUS_MESSAGE=$2; STATUS_STATE=${3:-running}
  d=$KILN_STATUS_DIR; sw_n=0; sw_i=0
  for sw_s in $KILN_STATUS_STAGES; do sw_i=$((sw_i + 1)); [ "$sw_s" = "$1" ] && sw_n=$sw_i; done
  pct=$((sw_n * 100 / sw_i)); [ "$STATUS_STATE" = installed ] && pct=100
  # The log tail: the last 20 of the agent's lines (lib.sh log), kept to 200.
  [ -f "$KILN_STATUS_LOG" ] && tail -n 200 "$KILN_STATUS_LOG" > "$d/tmp/log.new" && mv "$d/tmp/log.new" "$KILN_STATUS_LOG"
  tail -n 20 "$KILN_STATUS_LOG" 2>/dev/null | status_redact > "$d/tmp/tail"
  sw_msg=$(printf '%s\n' "$2" | status_redact)
  host=$(plan_get hostname 2>/dev/null)
  bytes=null
  if [ -s "$d/tmp/bytes" ]; then
    set -- $(cat "$d/tmp/bytes")
    bytes="{\"fetched\":$(json_num "$1"),\"reused\":$(json_num "$2"),\"total\":$(json_num "$3")}"
  fi
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  {
    printf '{"stage":%s,"state":%s,"message":%s,' "$(json_str "$STATUS_STAGE")" "$(json_str "$STATUS_STATE")" "$(json_str "$sw_msg")"
    printf '"host":%s,"step":%s,"steps":%s,"percent":%s,"bytes":%s,"updatedAt":%s,"log":[' \
      "$([ -n "$host" ] && json_str "$host" || echo null)" "$sw_n" "$sw_i" "$pct" "$bytes" "$(json_str "$now")"
    sep=""; while IFS= read -r l; do printf '%s%s' "$sep" "$(json_str "$l")"; sep=","; done < "$d/tmp/tail"
    printf ']}\n'
  } > "$d/tmp/status.json"
  {
    printf '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">\n'
    printf '<title>Kiln installer: %s</title></head><body>\n' "$(printf '%s' "${host:-node}" | status_html)"
    printf '<h1>Kiln installer %s</h1>\n' "$(printf '%s' "$host" | status_html)"
    printf '<p>Stage <strong id="stage">%s</strong> (%s of %s, %s%%): <span id="state">%s</span></p>\n' \
      "$(printf '%s' "$STATUS_STAGE" | status_html)" "$sw_n" "$sw_i" "$pct" "$STATUS_STATE"
    printf '<p id="message">%s</p>\n' "$(printf '%s' "$sw_msg" | status_html)"
    [ "$bytes" != null ] && printf '<p id="bytes">Objects: %s bytes fetched, %s bytes reused, of %s.</p>\n' "$1" "$2" "$3"
    printf '<p>Updated %s; this page reloads every 5 s; <a href="status.json">status.json</a>.</p>\n<h2>Log</h2>\n<pre>' "$now"
    status_html < "$d/tmp/tail"
    printf '</pre>\n</body></html>\n'
  } > "$d/tmp/index.html"
  chmod 644 "$d/tmp/status.json" "$d/tmp/index.html"
  mv "$d/tmp/status.json" "$d/www/status.json"; mv "$d/tmp/index.html" "$d/www/index.html"
  return 0
}
