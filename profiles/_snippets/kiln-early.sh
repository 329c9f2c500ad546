#!/bin/sh
# Kiln early script for {{ host.fqdn }}: runs in the installer before it
# partitions anything. It enrols (gets the node credential) and reports.
set -eu
{% render 'kiln-node-lib.sh' %}
{% render 'kiln-enrol.sh' %}
kiln_enrol
kiln_progress installer-started {{ profile.name | sh }}
