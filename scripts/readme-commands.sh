#!/usr/bin/env bash
# Prints the commands of the N-th ```sh block (1-based) in README.md's
# "## Quick start" section, one per line, without trailing comments. .ci/run
# runs what this prints, so CI runs the quick start exactly as the README
# writes it; src/config/readme-sync.test.ts checks what it prints.
set -euo pipefail
n=${1:?usage: readme-commands.sh BLOCK-NUMBER [README]}
readme=${2:-"$(dirname "$0")/../README.md"}
awk -v want="$n" '
  /^## / { in_section = ($0 ~ /^## Quick start/) ; next }
  !in_section { next }
  /^```sh[[:space:]]*$/ { block++; in_block = 1; next }
  /^```/ { in_block = 0; next }
  in_block && block == want {
    sub(/[[:space:]]+#[[:space:]].*$/, "")
    if ($0 ~ /[^[:space:]]/) print
  }
' "$readme"
