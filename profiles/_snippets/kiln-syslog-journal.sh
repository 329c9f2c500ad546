# --- kiln-syslog-journal.sh: an installer's journal to Kiln (shared snippet, docs/syslog.md) ---
{%- if kiln.syslog.host != "" %}
# kiln_syslog_journal: the installer's own journal, from this boot's first
# line (so the lines from before the network was up as well), goes to Kiln as
# it is written, each tagged with the boot session (RFC 5424 structured data).
# A background journalctl | logger over UDP, ended by the installer's reboot;
# best effort: a datagram Kiln does not take is lost, and every line is sent
# as user.notice with journalctl's text (its time, unit and message).
kiln_syslog_journal() {
  if ! command -v journalctl >/dev/null 2>&1 || ! command -v logger >/dev/null 2>&1; then
    echo "kiln: no journalctl or logger here: the installer's syslog stays local" >&2
    return 0
  fi
  setsid sh -c 'journalctl -b -f -n all -o short-iso 2>/dev/null |
    logger --udp --server {{ kiln.syslog.host }} --port {{ kiln.syslog.port }} --rfc5424 --size 4096 \
      --sd-id kiln@32473 --sd-param "session=\"{{ boot.session }}\"" -t installer -p user.notice' \
    </dev/null >/dev/null 2>&1 &
}
{%- else %}
# Kiln's syslog receiver is off: nothing is forwarded.
kiln_syslog_journal() { :; }
{%- endif %}
