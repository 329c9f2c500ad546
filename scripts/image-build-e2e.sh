#!/usr/bin/env bash
# Builds a full Kiln image (kernel, systemd, openssh-server) with
# `kiln image build` twice into a scratch data directory, checks that both
# builds give the same image id (reproducible), that no SSH host key is
# baked in and machine-id is empty, and prints times and object counts.
# Minutes and the Debian mirror apt uses: not part of `npm test`. Needs root
# and mmdebstrap (scripts/install-debian-packages.sh).
# Usage: bash scripts/image-build-e2e.sh [SUITE] [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-bookworm}
data=${2:-$(mktemp -d /var/tmp/kiln-image-e2e.XXXXXX)}
mkdir -p "$data"
kiln() { node bin/kiln.mjs "$@" --data-dir "$data"; }
for n in 1 2; do
  start=$(date +%s)
  kiln image build "e2e-$n" --suite "$suite" --json >"$data/build-$n.json" 2>"$data/build-$n.log"
  echo "build $n: $(($(date +%s) - start)) s"
  node -e 'const b=require(process.argv[1]);console.log(`  image id ${b.image.manifest}; ${b.stats.entries} entries, ${b.stats.files} files, ${b.stats.newObjects} new objects, ${(b.stats.bytes/1e6).toFixed(0)} MB of files; mmdebstrap ${(b.buildMs/1000).toFixed(0)} s, import ${(b.importMs/1000).toFixed(0)} s`)' "$data/build-$n.json"
done
kiln image show e2e-1 | sed -n 3,4p
id1=$(kiln image show e2e-1 --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).manifest))')
id2=$(kiln image show e2e-2 --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).manifest))')
kiln image diff e2e-1 e2e-2 | tail -20
kiln image show e2e-1 --entries >"$data/entries.txt"
if grep -q ' /etc/ssh/ssh_host_' "$data/entries.txt"; then
  echo "FAIL: SSH host keys in the image"; exit 1
fi
grep -E ' /etc/machine-id ' "$data/entries.txt" | grep -q ' 0$' || { echo "FAIL: /etc/machine-id is not empty"; exit 1; }
grep -q 'multi-user.target.wants/systemd-networkd.service' "$data/entries.txt" || { echo "FAIL: systemd-networkd not enabled"; exit 1; }
if [ "$id1" = "$id2" ]; then echo "PASS: both builds give image id $id1 (data in $data)"; else echo "FAIL: image ids differ: $id1 $id2"; exit 1; fi
