# --- kiln-syslog-rsyslog.sh: the installed system's syslog to Kiln (shared snippet, docs/syslog.md) ---
{%- if kiln.syslog.host != "" %}
# kiln_syslog_rsyslog: the installed system (this script runs in it) sends
# every syslog line to Kiln as well, through rsyslog (the profile installs it
# when syslog is on). No session tag: its boots are sessions of their own.
# Best effort: while Kiln is unreachable up to 10000 lines wait in memory and
# later ones are dropped; lines still queued at shutdown are lost.
kiln_syslog_rsyslog() {
  mkdir -p /etc/rsyslog.d && cat > /etc/rsyslog.d/60-kiln-forward.conf <<'KILN_RSYSLOG'
# Written by Kiln at install: every line also goes to Kiln's syslog receiver
# (TCP, RFC 5424, octet-counted framing per RFC 6587), attributed to this host.
# RSYSLOG_SyslogProtocol23Format, less the space an RFC 3164 origin leaves
# before the message text ("tag: text").
template(name="KilnForward" type="string"
         string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg:R,ERE,1,FIELD:^ ?(.*)$--end%")
*.* action(type="omfwd" target="{{ kiln.syslog.host }}" port="{{ kiln.syslog.port }}" protocol="tcp"
           TCP_Framing="octet-counted" template="KilnForward"
           queue.type="LinkedList" queue.size="10000" action.resumeRetryCount="-1")
KILN_RSYSLOG
}
{%- else %}
# Kiln's syslog receiver is off: nothing is forwarded.
kiln_syslog_rsyslog() { :; }
{%- endif %}
