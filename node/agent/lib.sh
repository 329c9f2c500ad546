# Kiln node agent: shared helpers (busybox ash). Sourced by the other agent
# scripts; defines functions only. Paths come from variables so the unit tests
# can run the same functions against a fake tree:
#   KILN_PROC (/proc)  KILN_SYS (/sys)  KILN_DEV (/dev)  KILN_RUN (/run/kiln)
#   KILN_LIB (directory of these scripts)
: "${KILN_PROC:=/proc}" "${KILN_SYS:=/sys}" "${KILN_DEV:=/dev}" "${KILN_RUN:=/run/kiln}"
: "${KILN_LIB:=/usr/lib/kiln}"

# log TEXT: to the console, and to syslog (busybox syslogd, started by /init:
# kept in a local file until the network is up, then forwarded to Kiln, see
# syslog_forward in net.sh), tagged with the boot session when the kernel
# command line names one (kiln.session=, docs/syslog.md).
log() {
  echo "kiln: $*" >&2
  # The installer's status page keeps a tail of these (status.sh).
  [ -n "${KILN_STATUS_LOG:-}" ] && printf '%s\n' "$*" >> "$KILN_STATUS_LOG" 2>/dev/null
  [ -n "${KILN_SYSLOG:-}" ] && logger -t kiln-agent -- "kiln: $*${KILN_SESSION:+ kiln.session=$KILN_SESSION}" 2>/dev/null
  return 0
}

# syslogd_ready: waits, bounded (5 s), until a just-started busybox syslogd
# has written its pid file, which it does after binding /dev/log: before
# that, logger's lines are lost without an error.
syslogd_ready() {
  i=0
  while [ ! -s /var/run/syslogd.pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}

# cmdline_get KEY: value of KEY=... on the kernel command line (last wins).
cmdline_get() {
  v=""
  for w in $(cat "$KILN_PROC/cmdline"); do
    case "$w" in "$1="*) v="${w#*=}" ;; esac
  done
  printf '%s' "$v"
}

# boot_mac: the MAC the node booted from, lower-case with colons, from
# kiln.mac= or PXELINUX-style BOOTIF=01-aa-bb-cc-dd-ee-ff; empty when neither.
boot_mac() {
  m=$(cmdline_get kiln.mac)
  if [ -z "$m" ]; then
    m=$(cmdline_get BOOTIF)
    case "$m" in ??-??-??-??-??-??-??) m=${m#??-} ;; esac
    m=$(printf '%s' "$m" | tr '-' ':')
  fi
  printf '%s' "$m" | tr 'A-F' 'a-f'
}

# json_str VALUE: VALUE as a JSON string literal (quotes, backslashes and
# control characters escaped; leading/trailing blanks trimmed).
json_str() {
  printf '%s' "$1" | awk 'BEGIN { for (i = 1; i < 32; i++) ord[sprintf("%c", i)] = i; printf "\"" }
    { line = $0; if (NR == 1) sub(/^[ \t]+/, "", line)
      out = ""
      for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (c == "\\") out = out "\\\\"
        else if (c == "\"") out = out "\\\""
        else if (c in ord) out = out sprintf("\\u%04x", ord[c])
        else out = out c
      }
      buf = buf (NR > 1 ? "\n" : "") out }
    END { sub(/[ \t\n]+$/, "", buf); gsub(/\n/, "\\n", buf); printf "%s\"", buf }'
}

# json_num VALUE: VALUE if it is a non-negative integer, else null.
json_num() {
  case "$1" in ''|*[!0-9]*) printf 'null' ;; *) printf '%s' "$1" ;; esac
}

# read_trim FILE: first line of FILE without surrounding blanks; empty if unreadable.
read_trim() {
  [ -r "$1" ] || return 0
  head -n 1 "$1" 2>/dev/null | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'
}

# json_get KEY < FLAT: the value of KEY in json-flatten.awk output.
json_get() { awk -F '\t' -v k="$1" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }'; }

# json_text KEY < FLAT: like json_get, for a string that may span lines (a
# PEM certificate): continuation lines are those without a tab.
json_text() { awk -F '\t' -v k="$1" 'on { if (index($0, "\t")) exit; print; next } $1 == k { sub(/^[^\t]*\t/, ""); print; on = 1 }'; }

# json_flatten < JSON: "path<TAB>value" lines.
json_flatten() { awk -f "$KILN_LIB/json-flatten.awk"; }

# (busybox 1.35 wget segfaults with -T, so time limits come from timeout(1); API calls go through http_raw.)
# api METHOD PATH [BODY]: calls the controller at kiln.url (or, when it does
# not answer, the next of kiln.urls=: api_urls), with the node credential
# when one is stored; prints the response body. Non-zero when no controller
# answered without a transport or HTTP error (busybox wget treats >= 400 as
# an error).
# Once the install plan named an HTTPS API and its CA (install.sh sets
# KILN_API_TLS), every call goes there through late.sh's verifying client
# (openssl s_client against that CA alone), not busybox wget over HTTP.
api() {
  if [ -n "${KILN_API_TLS-}" ]; then
    if [ "$1" = POST ]; then
      printf '%s' "${3-}" > "$KILN_RUN/request.json"
      late_call POST "/api/v1/node/$2" application/json "$KILN_RUN/request.json" application/json
    else
      late_call GET "/api/v1/node/$2" application/json
    fi
    return
  fi
  # Every controller of the store, the one that last answered first (api_urls): a dead one is passed over.
  # A controller that answers with an HTTP error is also passed over: the next one gives the same answer.
  for kiln_api_base in $(api_urls); do
    if api_at "$kiln_api_base" "$@"; then
      kiln_api_first=$(api_urls | head -n 1)
      [ "$kiln_api_base" = "$kiln_api_first" ] || log "controller $kiln_api_first did not answer; using $kiln_api_base"
      printf '%s\n' "$kiln_api_base" > "$KILN_RUN/controller-url" 2>/dev/null
      return 0
    fi
  done
  return 1
}

# api_urls: the controllers to call, one per line: the one that last answered
# ($KILN_RUN/controller-url), kiln.url (KILN_URL), every URL of kiln.urls=
# (comma-separated, every healthy controller of the store when the per-host
# script was made), then those the install plan named ($KILN_RUN/controller-urls,
# the members healthy when the plan was made), each once.
api_urls() {
  { read_trim "$KILN_RUN/controller-url"; printf '%s\n' "$KILN_URL"; cmdline_get kiln.urls | tr ',' '\n'
    cat "$KILN_RUN/controller-urls" 2>/dev/null; } | awk 'NF && !seen[$0]++'
}

# url_alternates URL: URL, then the same path at every other controller
# (api_urls) when URL is under one of them (a plan's image and object URLs are
# under the member that made the plan); URL alone otherwise.
url_alternates() {
  rest=""
  for b in $(api_urls); do
    case "$1" in "${b%/}"/*) rest=${1#"${b%/}"}; break ;; esac
  done
  [ -n "$rest" ] || { printf '%s\n' "$1"; return 0; }
  { printf '%s\n' "$1"; for b in $(api_urls); do printf '%s%s\n' "${b%/}" "$rest"; done; } | awk '!seen[$0]++'
}

# wget_refused ERRFILE: busybox wget's stderr in ERRFILE says the server
# answered with a 4xx: the next controller would answer the same (or not hold
# what this one was asked for), so a fetch stops there.
wget_refused() { grep -q 'server returned error: HTTP/1\.[01] 4' "$1" 2>/dev/null; }

# fetch_any SECONDS FILE URL [WGET ARGS...]: one wget of URL into FILE (- for
# stdout), within SECONDS, from the controller the URL names or, when that
# gives no answer (connection refused or reset, a time-out, a 5xx), from the
# next of url_alternates. A 4xx answer is final. Non-zero when none answered.
fetch_any() {
  fa_t=$1; fa_out=$2; fa_url=$3; shift 3
  for fa_u in $(url_alternates "$fa_url"); do
    timeout "$fa_t" wget -q -O "$fa_out" "$@" "$fa_u" 2> "$KILN_RUN/wget.err" && return 0
    cat "$KILN_RUN/wget.err" >&2
    wget_refused "$KILN_RUN/wget.err" && return 1
    [ "$fa_u" = "$fa_url" ] || continue
    log "$fa_url gave no answer; trying the other controllers"
  done
  return 1
}

# api_at BASE METHOD PATH [BODY]: one call to the controller at BASE (plain HTTP), with the node credential
# when one is stored (http_raw: never on a command line).
api_at() {
  url="${1%/}/api/v1/node/$3"
  shift
  set -- "$1" "$2" "${3-}"
  cred=""; [ -s "$KILN_RUN/credential" ] && cred=$KILN_RUN/credential
  # The boot session (kiln.session= from the per-host script) tags every call on the controller's timeline.
  sess="X-Kiln-Session: $(cmdline_get kiln.session)"
  if [ "$1" = POST ]; then
    printf '%s' "$3" > "$KILN_RUN/request.json"
    http_raw "$KILN_RUN" 60 POST "$url" "$cred" "$KILN_RUN/request.json" "$sess" 'Content-Type: application/json'
  else
    http_raw "$KILN_RUN" 60 "$1" "$url" "$cred" "" "$sess"
  fi
}

# http_raw DIR SECONDS METHOD URL CREDENTIAL-FILE BODY-FILE [HEADER...]: one HTTP/1.0 request to a plain
# http:// URL through nc, within SECONDS; prints the answer's body as sent. With a CREDENTIAL-FILE (empty:
# none) its first line goes in "Authorization: Bearer", written by printf, a shell builtin: the credential is
# never on a command line, which every local user can read (/proc/PID/cmdline, ps); busybox wget takes headers
# only there. A BODY-FILE (empty: none) is sent with its Content-Length. DIR (private, 0700) holds the
# request's fifo and the answer during the call. Exit 0 on a whole 2xx answer, 4 on a 4xx (the next controller
# would say the same), 1 on anything else: refused, reset, timed out, cut short (Content-Length), a 5xx.
http_raw() {
  hr_dir=$1; hr_t=$2; hr_method=$3; hr_url=$4; hr_cred=$5; hr_body=$6; shift 6
  case "$hr_url" in
    http://*) ;;
    *) echo "kiln: $hr_url: not http:// (this client speaks plain HTTP only)" >&2; return 1 ;;
  esac
  hr_rest=${hr_url#http://}; hr_hp=${hr_rest%%/*}; hr_path=/
  case "$hr_rest" in */*) hr_path=/${hr_rest#*/} ;; esac
  case "$hr_hp" in
    \[*\]:*) hr_host=${hr_hp%\]:*}; hr_host=${hr_host#\[}; hr_port=${hr_hp##*\]:} ;;
    \[*\]) hr_host=${hr_hp#\[}; hr_host=${hr_host%\]}; hr_port=80 ;;
    *:*) hr_host=${hr_hp%:*}; hr_port=${hr_hp##*:} ;;
    *) hr_host=$hr_hp; hr_port=80 ;;
  esac
  rm -f "$hr_dir/http.in" "$hr_dir/http.out"
  mkfifo -m 600 "$hr_dir/http.in" || return 1
  # The writer keeps nc's input open until the answer is in: nc ends its sending side at the end of its input
  # (a TCP half-close), and Node's HTTP server then drops the request unanswered.
  {
    printf '%s %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n' "$hr_method" "$hr_path" "$hr_hp"
    [ -z "$hr_cred" ] || printf 'Authorization: Bearer %s\r\n' "$(head -n 1 "$hr_cred")"
    for hr_h in "$@"; do printf '%s\r\n' "$hr_h"; done
    if [ -n "$hr_body" ]; then
      printf 'Content-Length: %s\r\n\r\n' "$(($(wc -c < "$hr_body")))"
      cat "$hr_body"
    else
      printf '\r\n'
    fi
    exec sleep $((hr_t + 5))
  } > "$hr_dir/http.in" &
  hr_w=$!
  hr_rc=0
  timeout "$hr_t" nc "$hr_host" "$hr_port" < "$hr_dir/http.in" > "$hr_dir/http.out" || hr_rc=$?
  # SIGPIPE: no shell reports a job that died of it.
  kill -PIPE "$hr_w" 2>/dev/null; wait "$hr_w" 2>/dev/null
  rm -f "$hr_dir/http.in"
  http_answer "$hr_dir/http.out" "$hr_rc" "$hr_method $hr_url"; hr_rc=$?
  rm -f "$hr_dir/http.out"
  return "$hr_rc"
}

# http_answer FILE NC-EXIT WHAT: prints the body of the raw HTTP answer in FILE; exit as http_raw's.
http_answer() {
  [ "$2" = 0 ] || { echo "kiln: $3: no answer (nc exit $2)" >&2; return 1; }
  ha_head=$(awk '{ n += length($0) + 1 } /^\r?$/ { print n; exit }' "$1")
  [ -n "$ha_head" ] || { echo "kiln: $3: no answer" >&2; return 1; }
  ha_status=$(head -n 1 "$1" | awk '{ print $2 }')
  ha_len=$(awk 'NR > 1 && /^\r?$/ { exit } tolower($1) == "content-length:" { print $2 + 0; exit }' "$1")
  if [ -n "$ha_len" ] && [ "$ha_len" != $(($(wc -c < "$1") - ha_head)) ]; then
    echo "kiln: $3: the answer was cut short" >&2
    return 1
  fi
  case "$ha_status" in
    2??) tail -c +$((ha_head + 1)) "$1"; return 0 ;;
  esac
  ha_msg=$(tail -c +$((ha_head + 1)) "$1" | head -c 2000 | sed -n 's/.*"message" *: *"\([^"]*\)".*/\1/p' | head -n 1)
  echo "kiln: $3: HTTP ${ha_status:-?}${ha_msg:+: $ha_msg}" >&2
  case "$ha_status" in 4??) return 4 ;; esac
  return 1
}

# api_retry METHOD PATH [BODY]: api with up to KILN_TRIES attempts (default
# 10), sleeping 1, 2, 4 ... 30 s between them.
api_retry() {
  i=0; delay=1
  while :; do
    api "$@" && return 0
    i=$((i + 1)); [ "$i" -ge "${KILN_TRIES:-10}" ] && return 1
    log "$1 $2 failed, retrying in ${delay}s"
    sleep "$delay"; delay=$((delay * 2)); [ "$delay" -gt 30 ] && delay=30
  done
}

# progress STAGE MESSAGE: best-effort progress report (and the installer's
# status page when status.sh started one).
progress() {
  log "[$1] $2"
  [ -n "${KILN_STATUS_DIR:-}" ] && status_write "$1" "$2"
  api POST progress "{\"stage\":$(json_str "$1"),\"message\":$(json_str "$2")}" >/dev/null 2>&1 || true
}

# store_credential FLAT: saves .credential from a flattened answer, if present.
store_credential() {
  c=$(printf '%s\n' "$1" | json_get credential)
  [ -n "$c" ] || return 0
  (umask 077; printf '%s' "$c" > "$KILN_RUN/credential")
}

# enrol_secret: this boot's enrolment secret, ke_ + 64 hex digits from
# /dev/urandom, made once into $KILN_RUN/enrol-secret (a tmpfs: a new one each
# boot); empty when none could be made. Kiln keeps only its hash. Sent with the
# discovery report and the installer's enrolment on every try: when the answer
# that enrolled the host is lost, Kiln answers the retry with a fresh credential
# instead of enrolment_closed (docs/discovery.md, "A lost answer").
enrol_secret() {
  [ -s "$KILN_RUN/enrol-secret" ] || {
    es="ke_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    [ "${#es}" -eq 67 ] && (umask 077; printf '%s' "$es" > "$KILN_RUN/enrol-secret")
  }
  cat "$KILN_RUN/enrol-secret" 2>/dev/null
}

# enrol_body MAC: the body of POST enrol, with this boot's enrolment secret
# when one could be made.
enrol_body() {
  eb_secret=$(enrol_secret)
  if [ -n "$eb_secret" ]; then
    printf '{"mac":%s,"enrolSecret":"%s"}' "$(json_str "$1")" "$eb_secret"
  else
    log "no enrolment secret (no /dev/urandom?): a lost answer to this enrolment cannot be retried"
    printf '{"mac":%s}' "$(json_str "$1")"
  fi
}
