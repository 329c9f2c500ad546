# Kiln image writer: the image as content-addressed objects (busybox ash;
# sourced by install.sh). Before any disk is touched, objects_prepare gathers
# every object of the image into memory: first from the machine's own Kiln
# root filesystem (LABEL=kiln-root, mounted read-only, nodev, nosuid, noexec,
# without journal replay; no other filesystem is read; on a partition, or on
# RAID 1 or LVM assembled read-only for the scan), then the rest from the
# controller (many small objects per pack request, large ones one by one).
# Everything is checked against its SHA-256: the views against the plan, the
# objects against their ids. After partitioning, objects_write turns the
# image's mtree view into a tar stream with libarchive's bsdtar and unpacks it
# with GNU tar, then restores extended attributes and hard links.
#
# The writer streams the tarball instead (today's path) when the plan has no
# objects section (an image imported before install views), when memory
# cannot hold the objects, or when the machine holds less than half of the
# image's bytes (a first install: one stream beats thousands of small files).
#
# busybox xargs runs a NOFORK applet (sha256sum, stat) in its own process,
# and the applet's buffers overwrite the arguments xargs has not passed yet
# (measured: mangled and repeated paths over a Debian root), so every xargs
# here runs `sh -c '… "$@"'`, a process of its own.
#
# Views (src/image/objects/install-views.ts) under $KILN_RUN/img:
#   files      "<object> <size> ./path" per object     mtree  the root
#   xattrs     getfattr dump for setfattr --restore    hardlinks "./path ./target"

OBJ_DIR=${OBJ_DIR:-$KILN_RUN/img}
# Largest object fetched through a pack; bigger ones come one request each.
OBJ_PACK_MAX=${OBJ_PACK_MAX:-1048576}
# Most objects in one pack request.
OBJ_PACK_IDS=${OBJ_PACK_IDS:-2048}

objects_plan() { plan_get "image.objects.$1"; }

# objects_get URL FILE: one GET, body to FILE; from another controller when the
# plan's gives no answer (lib.sh fetch_any; the same objects, content-addressed).
objects_get() { fetch_any 600 "$2" "$1"; }

# objects_view VIEW: fetches one view and checks it against the plan's SHA-256.
objects_view() {
  url=$(objects_plan "views.$1.url"); want=$(objects_plan "views.$1.sha256")
  objects_get "$url" "$OBJ_DIR/$1" || { echo "fetching $url failed"; return 1; }
  got=$(sha256sum < "$OBJ_DIR/$1" | cut -d ' ' -f 1)
  [ "$got" = "$want" ] || { echo "$url: sha256 $got, the plan says $want"; return 1; }
}

# objects_avail: bytes the object store in $OBJ_DIR may use (free space of its
# tmpfs, at most the memory available less 64 MiB).
objects_avail() {
  mem=$(awk '/^MemAvailable:/ { printf "%.0f", $2 * 1024 - 67108864 }' "$KILN_PROC/meminfo")
  run=$(df -k "$OBJ_DIR" 2>/dev/null | awk 'NR == 2 { printf "%.0f", $4 * 1024 }')
  [ -n "$run" ] && [ "$run" -lt "$mem" ] 2>/dev/null && mem=$run
  echo "${mem:-0}"
}

# objects_scan: the old Kiln root's objects (objects_scan_root), also from a
# root on RAID 1 or LVM: with storage.sh sourced (the installer), the
# machine's md arrays are assembled and its volume groups activated, all
# read-only, for the scan and stopped again before it returns; a failure to
# stop them fails the scan (partitioning would find the disks busy).
objects_scan() {
  command -v storage_old_up > /dev/null 2>&1 || { objects_scan_root; return 0; }
  storage_old_up
  objects_scan_root
  storage_old_down || { echo "the arrays or volume groups assembled for the object scan did not stop"; return 1; }
}

# objects_scan_root: copies every object the old Kiln root holds at its image path
# (same path, regular file, same size) into $OBJ_DIR/reuse and keeps those
# whose SHA-256 is the object's id. Writes reuse.ok ("<object> ./path").
objects_scan_root() {
  : > "$OBJ_DIR/reuse.ok"
  # KILN_REUSE_LABEL: layout ab reads the slot it keeps (kiln-root-a or -b).
  dev=$(findfs "LABEL=${KILN_REUSE_LABEL:-kiln-root}" 2>/dev/null) || { echo "no Kiln root filesystem on this machine"; return 0; }
  old=$OBJ_DIR/old; mkdir -p "$old" "$OBJ_DIR/reuse"
  mount -t ext4 -o ro,nodev,nosuid,noexec,noload "$dev" "$old" 2>/dev/null ||
    { echo "the Kiln root filesystem on $dev does not mount read-only as ext4: not read"; return 0; }
  # Only paths the shell can pass as they are (no escapes, so no blanks or quotes).
  awk '$3 !~ /\\/ { print $3 }' "$OBJ_DIR/files" > "$OBJ_DIR/cand.paths"
  (cd "$old" && xargs -r sh -c 'stat -c "%F|%s|%n" "$@"' sh < "$OBJ_DIR/cand.paths" 2>/dev/null) > "$OBJ_DIR/cand.stat"
  awk -F '|' 'NR == FNR { split($0, f, " "); size[f[3]] = f[2]; next }
    $1 == "regular file" && ($3 in size) && $2 == size[$3] { print $3 }' "$OBJ_DIR/files" "$OBJ_DIR/cand.stat" > "$OBJ_DIR/reuse.paths"
  if [ -s "$OBJ_DIR/reuse.paths" ]; then
    set -o pipefail
    "$KILN_BIN/tar" -C "$old" -cf - --no-recursion -T "$OBJ_DIR/reuse.paths" | "$KILN_BIN/tar" -C "$OBJ_DIR/reuse" -xf -
    rc=$?; set +o pipefail
  else
    rc=0
  fi
  umount "$old"
  [ "$rc" = 0 ] || { echo "copying from $dev failed"; rm -rf "$OBJ_DIR/reuse"; mkdir -p "$OBJ_DIR/reuse"; return 0; }
  (cd "$OBJ_DIR/reuse" && xargs -r sh -c 'sha256sum "$@"' sh < "$OBJ_DIR/reuse.paths") > "$OBJ_DIR/reuse.sums"
  awk 'NR == FNR { want[$3] = $1; next } want[$2] == $1 { print $1, $2 }' "$OBJ_DIR/files" "$OBJ_DIR/reuse.sums" > "$OBJ_DIR/reuse.ok"
  echo "scanned $dev"
}

# objects_pack LIST: fetches the objects of LIST ("<object> <size>" lines) in
# one pack and splits it into $OBJ_DIR/objects/ab/cdef… by the sizes it knows.
objects_pack() {
  awk 'BEGIN { printf "{\"ids\":[" } { printf "%s\"%s\"", (NR > 1 ? "," : ""), $1 } END { printf "]}" }' "$1" > "$OBJ_DIR/pack.json"
  fetch_any 600 "$OBJ_DIR/pack" "$(objects_plan objectsUrl)/pack" --header 'Content-Type: application/json' \
    --post-file "$OBJ_DIR/pack.json" || { echo "pack request failed"; return 1; }
  want=$(awk '{ s += 40 + $2 } END { printf "%.0f", s + 8 }' "$1")
  got=$(($(wc -c < "$OBJ_DIR/pack")))
  [ "$got" = "$want" ] || { echo "pack of $got bytes, expected $want"; return 1; }
  awk '{ printf "%s %.0f %s\n", $1, off + 48, $2; off += 40 + $2 }' "$1" | while read -r id off size; do
    d=$OBJ_DIR/objects/$(echo "$id" | cut -c 1-2); mkdir -p "$d"
    dd if="$OBJ_DIR/pack" of="$d/$(echo "$id" | cut -c 3-)" bs=65536 iflag=skip_bytes,count_bytes skip="$off" count="$size" 2>/dev/null || exit 1
  done || { echo "splitting the pack failed"; return 1; }
  rm -f "$OBJ_DIR/pack"
}

# objects_fetch: every object neither reused nor fetched yet; small ones in
# packs of up to OBJ_PACK_IDS, large ones by GET. Prints "<objects> <bytes>
# <packs> <singles>".
objects_fetch() {
  awk 'NR == FNR { have[$1] = 1; next } !($1 in have) { print $1, $2 }' "$OBJ_DIR/reuse.ok" "$OBJ_DIR/files" > "$OBJ_DIR/missing"
  awk -v max="$OBJ_PACK_MAX" '$2 <= max' "$OBJ_DIR/missing" > "$OBJ_DIR/missing.small"
  awk -v max="$OBJ_PACK_MAX" '$2 > max' "$OBJ_DIR/missing" > "$OBJ_DIR/missing.large"
  packs=0; singles=0; got_b=0
  rm -f "$OBJ_DIR"/batch.*
  awk -v n="$OBJ_PACK_IDS" -v d="$OBJ_DIR" '{ f = sprintf("%s/batch.%06d", d, int((NR - 1) / n)); if (f != last) { if (last != "") close(last); last = f }; print > f }' "$OBJ_DIR/missing.small"
  for b in "$OBJ_DIR"/batch.*; do
    [ -s "$b" ] || continue
    objects_pack "$b" >&2 || return 1
    packs=$((packs + 1))
    got_b=$((got_b + $(awk '{ s += $2 } END { printf "%.0f", s }' "$b")))
    [ -n "${KILN_STATUS_DIR:-}" ] && status_bytes "$got_b" "${rb:-0}" "${total:-0}"
  done
  while read -r id size; do
    d=$OBJ_DIR/objects/$(echo "$id" | cut -c 1-2); mkdir -p "$d"
    objects_get "$(objects_plan objectsUrl)/$id" "$d/$(echo "$id" | cut -c 3-)" || { echo "fetching object $id failed" >&2; return 1; }
    singles=$((singles + 1)); got_b=$((got_b + size))
    [ -n "${KILN_STATUS_DIR:-}" ] && status_bytes "$got_b" "${rb:-0}" "${total:-0}"
  done < "$OBJ_DIR/missing.large"
  awk -v p="$packs" -v s="$singles" '{ n++; b += $2 } END { printf "%d %.0f %d %d\n", n, b, p, s }' "$OBJ_DIR/missing"
}

# objects_verify: every fetched object hashes to its id.
objects_verify() {
  [ -d "$OBJ_DIR/objects" ] || return 0
  (cd "$OBJ_DIR/objects" && find . -type f | xargs -r sh -c 'sha256sum "$@"' sh) |
    awk '{ n = $2; gsub(/[.\/]/, "", n); if (n != $1) { print "object " n " hashes to " $1; bad++ } } END { exit bad > 0 }'
}

objects_clear() { rm -rf "$OBJ_DIR/objects" "$OBJ_DIR/reuse" "$OBJ_DIR/ready"; }

# objects_prepare: the "objects" stage. Leaves $OBJ_DIR/ready when every
# object is in memory; prints what it did (last line: bytes fetched and
# reused; the status page shows both, status.sh). Fails only on a fetch or a
# hash that is wrong.
objects_prepare() {
  objects_clear
  [ -n "$(objects_plan manifest)" ] || { echo "the image has no install views (imported before them): streaming the tarball"; return 0; }
  [ -x "$KILN_BIN/bsdtar" ] || { echo "this node image has no bsdtar: streaming the tarball"; return 0; }
  mkdir -p "$OBJ_DIR/objects" "$OBJ_DIR/reuse" || return 1
  for v in files mtree xattrs hardlinks; do objects_view "$v" || return 1; done
  total=$(awk '{ s += $2 } END { printf "%.0f", s }' "$OBJ_DIR/files")
  count=$(awk 'END { print NR }' "$OBJ_DIR/files")
  avail=$(objects_avail)
  if [ "$total" -gt "$avail" ]; then
    objects_clear
    echo "the image's $count objects ($((total / 1048576)) MiB) do not fit in memory ($((avail / 1048576)) MiB free): streaming the tarball"
    return 0
  fi
  objects_scan || return 1
  reused=$(awk '{ print $1 }' "$OBJ_DIR/reuse.ok" | awk 'NR == FNR { s[$1] = $2; next } { b += s[$1]; n++ } END { printf "%d %.0f\n", n, b }' "$OBJ_DIR/files" -)
  rn=${reused% *}; rb=${reused#* }
  if [ $((rb * 2)) -lt "$total" ]; then
    objects_clear
    echo "this machine holds $rn of the image's $count objects ($((rb / 1048576)) of $((total / 1048576)) MiB): streaming the tarball"
    return 0
  fi
  fetched=$(objects_fetch) || return 1
  objects_verify || return 1
  : > "$OBJ_DIR/ready"
  set -- $fetched
  [ -n "${KILN_STATUS_DIR:-}" ] && status_bytes "$2" "$rb" "$total"
  echo "objects: fetched $2 bytes ($1 objects, $3 packs, $4 single) and reused $rb bytes ($rn objects) of $total"
}

# objects_write: the "image" stage from objects (after objects_prepare left
# ready): mtree with reused paths substituted, bsdtar into GNU tar, then
# extended attributes and hard links. Frees the memory after.
objects_write() {
  awk 'NR == FNR { sub(/^\.\//, "", $2); at[$1] = "reuse/" $2; next }
    { if (match($0, / contents=objects\/[0-9a-f][0-9a-f]\/[0-9a-f]+/)) {
        id = substr($0, RSTART + 18, RLENGTH - 18); sub(/\//, "", id)
        if (id in at) $0 = substr($0, 1, RSTART - 1) " contents=" at[id] substr($0, RSTART + RLENGTH) }
      print }' "$OBJ_DIR/reuse.ok" "$OBJ_DIR/mtree" > "$OBJ_DIR/mtree.local" || return 1
  set -o pipefail
  (cd "$OBJ_DIR" && "$KILN_BIN/bsdtar" --format pax -cf - @mtree.local) | "$KILN_BIN/tar" -C "$KILN_TARGET" --numeric-owner -xpf -
  rc=$?; set +o pipefail
  [ "$rc" = 0 ] || { echo "bsdtar | tar failed (exit $rc)"; return 1; }
  if [ -s "$OBJ_DIR/xattrs" ]; then
    (cd "$KILN_TARGET" && "$KILN_BIN/setfattr" --restore="$OBJ_DIR/xattrs") || { echo "setfattr --restore failed"; return 1; }
  fi
  links=0
  while read -r p t; do
    case "$p$t" in *\\*) continue ;; esac
    ln -f "$KILN_TARGET/${t#./}" "$KILN_TARGET/${p#./}" || return 1
    links=$((links + 1))
  done < "$OBJ_DIR/hardlinks"
  # Linking touched the links' directories: their times again, from the mtree.
  if [ "$links" -gt 0 ]; then
    { echo '#mtree'; awk 'NR == FNR { d = $1; sub(/\/[^\/]*$/, "", d); dir[d] = 1; next } ($1 in dir) && / type=dir / { print }' \
        "$OBJ_DIR/hardlinks" "$OBJ_DIR/mtree"; } > "$OBJ_DIR/mtree.dirs"
    set -o pipefail
    (cd "$OBJ_DIR" && "$KILN_BIN/bsdtar" --format pax -cf - @mtree.dirs) | "$KILN_BIN/tar" -C "$KILN_TARGET" --numeric-owner -xpf -
    rc=$?; set +o pipefail
    [ "$rc" = 0 ] || { echo "restoring directory times failed (exit $rc)"; return 1; }
  fi
  objects_clear
  echo "wrote the image from objects ($(awk 'END { print NR - 1 }' "$OBJ_DIR/mtree") entries, $links hard links)"
}
