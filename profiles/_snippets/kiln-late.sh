#!/bin/sh
# Kiln late script for {{ host.fqdn }}: runs inside the installed system
# (chroot) at the end of the install. It fetches this host's secrets with the
# node credential, installs SSH host certificates and the heartbeat agent,
# and reports completion.
# It contains no secret itself.
set -eu
KILN_DIR=/etc/kiln
{% render 'kiln-node-lib.sh' %}
{% render 'kiln-enrol.sh' %}
{% render 'kiln-secrets.sh' %}
{% render 'kiln-ssh-cert.sh' %}
{% render 'kiln-syslog-rsyslog.sh' %}
{% render 'kiln-heartbeat.sh' %}
kiln_enrol
kiln_syslog_rsyslog || echo 'kiln: could not write the syslog forwarding rule' >&2
kiln_progress installing 'applying secrets and host certificates'
kiln_apply_secrets
kiln_install_host_certs
# A host without the agent still works; it only sends no heartbeat (an operator sees status "never").
kiln_install_heartbeat || echo "kiln: the heartbeat agent is not installed" >&2
kiln_complete install
