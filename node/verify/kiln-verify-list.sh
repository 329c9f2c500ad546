#!/bin/sh
# Lists an installed Kiln root for `kiln host verify` (run as root on the host,
# over SSH: `ssh root@HOST sh -s < kiln-verify-list.sh`; the tests pass a root
# directory as $1). Output format kiln-verify/1 (src/image/objects/
# verify-root.ts): a header with the image id the writer recorded, one
# tab-separated line per path of the root filesystem, then sha256sum's line
# for every regular file. Needs GNU find, xargs and sha256sum (Debian's
# findutils and coreutils); reads only, writes nothing.
set -eu
root=${1:-/}; root=${root%/}
cd "$root/"
id=$(cat etc/kiln/image-id 2>/dev/null || echo unknown)
echo "kiln-verify/1 $id"
# Trees not compared (SKIPPED_TREES in verify-root.ts) are not walked either.
set -- \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run -o -path ./tmp -o -path ./var -o -path ./home \
  -o -path ./root -o -path ./srv -o -path ./mnt -o -path ./media -o -path ./boot/efi -o -path ./boot/grub -o -path ./lost+found \) -prune
find . -xdev "$@" -o -printf '%y\t%m\t%U\t%G\t%s\t/%P\t%l\n'
echo "--- sha256"
find . -xdev "$@" -o -type f -print0 | xargs -0 -r sha256sum | sed 's|^\([0-9a-f]*\) [ *]\./|\1  /|'
