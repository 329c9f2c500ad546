{% render 'kiln-early.sh' %}
{% render 'kiln-syslog-journal.sh' %}
kiln_syslog_journal
