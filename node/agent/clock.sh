# Kiln image writer: the clock, set from the controller before anything else
# (busybox ash; sourced by install.sh). A node whose clock is years off fails
# every TLS handshake (certificates "not yet valid" or expired), and files it
# writes get nonsense times. The controller's HTTP Date header (RFC 9110
# IMF-fixdate, one-second resolution) is the source: no NTP server is needed.
# (Seconds are printed with %.0f: busybox awk's %d stops at 2^31, in 2038.)

# clock_epoch_of_date "Sun, 06 Nov 1994 08:49:37 GMT": seconds since the epoch
# (UTC); nothing and exit 1 when the text is not an IMF-fixdate. Pure awk.
clock_epoch_of_date() {
  printf '%s\n' "$1" | awk '
    function days(y, m, d,   a, yy, mm) { a = int((14 - m) / 12); yy = y + 4800 - a; mm = m + 12 * a - 3
      return d + int((153 * mm + 2) / 5) + 365 * yy + int(yy / 4) - int(yy / 100) + int(yy / 400) - 32045 - 2440588 }
    { sub(/\r$/, "")
      if (NF != 6 || $6 != "GMT" || $2 !~ /^[0-9][0-9]?$/ || $4 !~ /^[0-9][0-9][0-9][0-9]$/ || $5 !~ /^[0-2][0-9]:[0-5][0-9]:[0-6][0-9]$/) exit 1
      m = index("JanFebMarAprMayJunJulAugSepOctNovDec", $3); if (m == 0 || (m - 1) % 3) exit 1
      split($5, t, ":")
      printf "%.0f\n", days($4 + 0, (m - 1) / 3 + 1, $2 + 0) * 86400 + t[1] * 3600 + t[2] * 60 + t[3]; ok = 1; exit 0 }
    END { exit ok ? 0 : 1 }'
}

# clock_controller_date URL: the Date header of the controller's answer to URL.
clock_controller_date() {
  timeout 30 wget -S -q -O /dev/null "$1" 2>&1 | sed -n 's/^ *[Dd]ate: *//p' | head -n 1 | tr -d '\r'
}

# clock_set EPOCH: sets the system clock (and the hardware clock, best effort,
# so the installed system starts near the right time). Replaced in tests.
clock_set() {
  date -u -s "@$1" > /dev/null || return 1
  hwclock -u -w 2> /dev/null || true
}

# clock_from_controller: sets the clock from the controller at $KILN_URL;
# prints what it did (old and new time, the step in seconds). Fails with the
# reason when no usable Date header came.
clock_from_controller() {
  url="${KILN_URL%/}/api/v1/health"
  d=$(clock_controller_date "$url")
  [ -n "$d" ] || { echo "no Date header from $url"; return 1; }
  new=$(clock_epoch_of_date "$d") || { echo "the controller's Date header \"$d\" is not an HTTP date"; return 1; }
  old=$(date -u +%s)
  clock_set "$new" || { echo "could not set the clock to $d"; return 1; }
  echo "clock set from the controller to $d (was $(date -u -d "@$old" '+%Y-%m-%d %H:%M:%S' 2>/dev/null || echo "$old") UTC, stepped $((new - old)) s)"
}
