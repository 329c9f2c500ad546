# Kiln image writer: the storage plan of a machine description (busybox ash;
# sourced by install.sh). The controller renders the plan (src/machine/
# plan-storage.ts) as data: steps run in order, each a tool from a closed set
# with its arguments, or a wait for a device node; then the filesystems to
# mount and the fstab. Nothing here decides a layout: it only runs the plan.
# Arguments never hold blanks (the controller guarantees it; checked here
# too), so they pass by word splitting with globbing off.
#
# Functions read the flattened install plan (json-flatten.awk lines) given as
# their first argument, so tests can run them without a controller.

: "${KILN_BIN:=/usr/lib/kiln/bin}"

# storage_tool NAME: the tool's path: the node image's copy when shipped, else
# NAME on PATH (tests on a development machine).
storage_tool() {
  if [ -x "$KILN_BIN/$1" ]; then echo "$KILN_BIN/$1"; else command -v "$1"; fi
}

# storage_wait DEV: waits, bounded (20 s), for the block device DEV; asks mdev
# to create missing nodes (the node image has no udev).
storage_wait() {
  w=0
  while [ ! -b "$1" ] && [ "$w" -lt 20 ]; do
    [ -n "${KILN_NO_MDEV-}" ] || mdev -s 2>/dev/null
    [ -b "$1" ] && break
    sleep 1; w=$((w + 1))
  done
  [ -b "$1" ]
}

# storage_key FILE: a new random LUKS key (384 bits from the kernel's CSPRNG,
# as 96 hex digits: Clevis reads it as text) in FILE, which must be under /run/kiln/luks/ (tmpfs: RAM only), mode 0600.
# The key never leaves the node; luks.sh removes its key slot once Clevis's
# binding to Kiln's Tang is proven, then overwrites the file and removes it.
# Loads dm-crypt and the ciphers first (the node image has no udev to do it).
storage_key() {
  case "$1" in /run/kiln/luks/*.key) ;; *) echo "LUKS key file $1 is not under /run/kiln/luks"; return 1 ;; esac
  case "${1#/run/kiln/luks/}" in */*|.*) echo "LUKS key file $1 is not a plain name"; return 1 ;; esac
  for m in dm_crypt ecb xts aesni_intel aes_generic sha256_generic algif_skcipher; do modprobe -q "$m" 2>/dev/null; done
  mkdir -p /run/kiln/luks /run/cryptsetup && chmod 700 /run/kiln/luks &&
    (umask 077; od -An -v -tx1 -N48 /dev/urandom | tr -d ' \n' > "$1") && [ "$(wc -c < "$1")" -eq 96 ] ||
    { echo "could not make the LUKS key $1"; return 1; }
}

# The arrays and volume groups already on the machine's disks, for the
# object scan (objects.sh) before anything is written: storage_old_up
# assembles the md arrays it finds read-only and activates their LVM volume
# groups with every volume read-only, so a Kiln root on RAID 1 or LVM is
# found by its label like one on a partition; storage_old_down deactivates
# and stops exactly what storage_old_up started (the node image starts none
# itself), so partitioning finds no disk busy. What was started is listed in
# $KILN_RUN/storage-old.md and .vg, one name a line.

# storage_md_list: the md arrays the kernel has now (md127 …), one a line.
storage_md_list() { ls "${KILN_SYS:-/sys}/block" 2>/dev/null | grep '^md'; }

storage_old_up() {
  old=${KILN_RUN:-/tmp}/storage-old
  : > "$old.md"; : > "$old.vg"
  if mdadm=$(storage_tool mdadm) && [ -n "$mdadm" ]; then
    had=" $(storage_md_list | tr '\n' ' ') "
    # --run: a mirror missing a member is still read; --readonly: nothing is written, no resync starts.
    "$mdadm" --assemble --scan --readonly --run < /dev/null > "$old.log" 2>&1
    for md in $(storage_md_list); do
      case "$had" in *" $md "*) continue ;; esac
      echo "$md" >> "$old.md"; echo "assembled /dev/$md read-only for the object scan"
    done
  fi
  if lvm=$(storage_tool lvm) && [ -n "$lvm" ]; then
    # LVM names are [A-Za-z0-9+_.-]; anything else on a disk is not activated (it goes into --config text).
    for vg in $(DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1 "$lvm" vgs --noheadings -o vg_name 2>/dev/null); do
      case "$vg" in *[!A-Za-z0-9+_.-]*) echo "volume group name \"$vg\" not activated"; continue ;; esac
      echo "$vg" >> "$old.vg"
    done
    if [ -s "$old.vg" ]; then
      vgs=$(tr '\n' ' ' < "$old.vg"); ro=$(awk '{ printf "%s\"%s\"", (NR > 1 ? "," : ""), $1 }' "$old.vg")
      if DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1 "$lvm" vgchange --activate y --monitor n \
          --config "activation { read_only_volume_list = [ $ro ] }" $vgs < /dev/null >> "$old.log" 2>&1; then
        echo "activated volume groups ${vgs% } read-only for the object scan"
      else
        echo "activating volume groups ${vgs% } failed: $(tail -n 1 "$old.log")"
      fi
    fi
  fi
  return 0
}

# storage_old_down: undoes storage_old_up; fails (naming what stays busy) when
# a volume group or array does not stop.
storage_old_down() {
  old=${KILN_RUN:-/tmp}/storage-old; rc=0
  if [ -s "$old.vg" ]; then
    vgs=$(tr '\n' ' ' < "$old.vg")
    DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1 "$(storage_tool lvm)" vgchange --activate n $vgs < /dev/null > "$old.log" 2>&1 ||
      { cat "$old.log"; echo "volume groups ${vgs% } did not deactivate"; rc=1; }
  fi
  if [ -s "$old.md" ]; then
    for md in $(cat "$old.md"); do
      storage_wait "/dev/$md" && "$(storage_tool mdadm)" --stop "/dev/$md" < /dev/null > "$old.log" 2>&1 ||
        { cat "$old.log"; echo "/dev/$md did not stop"; rc=1; }
    done
  fi
  [ "$rc" = 0 ] && [ -s "$old.md" -o -s "$old.vg" ] && echo "stopped what the object scan started: $(cat "$old.vg" "$old.md" | tr '\n' ' ')"
  : > "$old.md"; : > "$old.vg"
  return $rc
}

# storage_field FLAT KEY: one field of the plan.
storage_field() { printf '%s\n' "$1" | json_get "$2"; }

# storage_apply FLAT: runs machine.storage.steps in order, printing each; the
# first failing step stops the run with its output (the caller reports it).
storage_apply() {
  flat=$1; i=0; log_file=${KILN_RUN:-/tmp}/storage-step.log
  while :; do
    p="machine.storage.steps.$i"
    tool=$(storage_field "$flat" "$p.tool"); dev=$(storage_field "$flat" "$p.wait"); about=$(storage_field "$flat" "$p.about")
    key=$(storage_field "$flat" "$p.key")
    [ -n "$tool$dev$key" ] || break
    [ "$i" -lt 1000 ] || { echo "storage plan: more than 1000 steps"; return 1; }
    if [ -n "$key" ]; then
      storage_key "$key" || { echo "step $i ($about) failed"; return 1; }
      echo "step $i: $about"
    elif [ -n "$dev" ]; then
      storage_wait "$dev" || { echo "step $i ($about): $dev did not appear within 20 s"; return 1; }
      echo "step $i: $about"
    else
      case "$tool" in
        sgdisk|partx|wipefs|mdadm|lvm|mke2fs|mkfs.xfs|mkfs.vfat|mkswap|cryptsetup) ;;
        *) echo "step $i: tool \"$tool\" is not one the storage plan may run"; return 1 ;;
      esac
      args=$(printf '%s\n' "$flat" | awk -F '\t' -v k="$p.args." 'index($1, k) == 1 && substr($1, length(k) + 1) ~ /^[0-9]+$/ { print $2 }')
      bad=$(printf '%s\n' "$args" | tr -d 'A-Za-z0-9._:/=+,%@\n-')
      [ -z "$bad" ] || { echo "step $i: an argument holds characters the storage plan never uses: $bad"; return 1; }
      bin=$(storage_tool "$tool") || { echo "step $i ($about): $tool is not in this image"; return 1; }
      echo "step $i: $about: $tool $(printf '%s' "$args" | tr '\n' ' ')"
      set -f
      # The node image has no udev: device-mapper (lvm) makes its own nodes.
      DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1 "$bin" $args < /dev/null > "$log_file" 2>&1
      rc=$?
      set +f
      [ "$rc" = 0 ] || { cat "$log_file"; echo "step $i ($about) failed: $tool exited $rc"; return 1; }
    fi
    i=$((i + 1))
  done
  echo "storage: $i steps done"
}

# storage_mount FLAT TARGET: mounts machine.storage.mounts (parents first) under TARGET.
storage_mount() {
  i=0
  while :; do
    dev=$(storage_field "$1" "machine.storage.mounts.$i.device")
    [ -n "$dev" ] || break
    path=$(storage_field "$1" "machine.storage.mounts.$i.path"); type=$(storage_field "$1" "machine.storage.mounts.$i.type")
    mkdir -p "$2$path" && mount -t "$type" "$dev" "$2$path" || { echo "mounting $dev ($type) at $path failed"; return 1; }
    i=$((i + 1))
  done
  [ "$i" -gt 0 ] || { echo "the storage plan mounts nothing"; return 1; }
  echo "storage: $i filesystems mounted"
}

# storage_unmount FLAT TARGET: unmounts what storage_mount mounted, children first.
storage_unmount() {
  i=0; paths=""
  while :; do
    path=$(storage_field "$1" "machine.storage.mounts.$i.path")
    [ -n "$path" ] || break
    paths="$path
$paths"; i=$((i + 1))
  done
  rc=0
  for path in $paths; do umount "$2$path" || rc=1; done
  return $rc
}

# storage_list FLAT KEY: the values of the array KEY (biosBoot), one a line.
storage_list() {
  printf '%s\n' "$1" | awk -F '\t' -v k="$2." 'index($1, k) == 1 && substr($1, length(k) + 1) ~ /^[0-9]+$/ { print $2 }'
}
