# Kiln image writer: the LUKS volumes of a machine description (busybox ash;
# sourced by install.sh after storage.sh). storage.sh made each volume with a
# random key made on this node (storage_key: RAM only, never sent anywhere)
# and opened it; the image is written inside. Here, in a chroot of the written
# root (whose own clevis, cryptsetup and initramfs-tools do the work), each
# volume is bound to Kiln's Tang with Clevis, the binding is proven (Clevis
# decrypts through Tang and the result opens the volume), the random key's
# slot is removed and the key file overwritten and deleted: the LUKS header
# keeps only the Clevis slot. Then /etc/crypttab and the initramfs (which
# unlocks every volume at boot through Tang: cryptsetup-initramfs,
# clevis-initramfs). No recovery passphrase is made (docs/machine-description.md).
#
# Functions read the flattened install plan (json-flatten.awk lines) given as
# their first argument, so tests can run them without a controller.

# The files a written root needs for this (Debian packages cryptsetup-initramfs, clevis-luks, clevis-initramfs).
LUKS_IMAGE_NEEDS="/usr/bin/clevis-luks-bind /usr/bin/clevis-decrypt-tang /usr/sbin/cryptsetup /usr/sbin/update-initramfs /usr/share/initramfs-tools/hooks/cryptroot /usr/share/initramfs-tools/hooks/clevis"

# luks_in TARGET COMMAND...: COMMAND in a chroot of the written root, with that root's own PATH
# (device-mapper without udev, as in storage.sh: the node image has none).
luks_in() {
  r=$1; shift
  chroot "$r" /usr/bin/env PATH=/usr/sbin:/usr/bin:/sbin:/bin DM_DISABLE_UDEV=1 "$@"
}

# luks_count FLAT: how many volumes the plan encrypts.
luks_count() {
  n=0
  while [ -n "$(storage_field "$1" "machine.storage.encrypted.$n.id")" ] && [ "$n" -lt 16 ]; do n=$((n + 1)); done
  echo "$n"
}

# luks_chroot_enter TARGET / luks_chroot_leave TARGET: what a chroot of the
# written root needs (proc, sys, dev; a tmpfs /run with the key directory).
luks_chroot_enter() {
  t=$1
  # /dev/fd and the std links: bash's process substitution (clevis-encrypt-tang uses it) opens /dev/fd/N, and the
  # node image's /dev, with no udev, has none of them.
  [ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
  # (fdlink, not n: busybox ash has no local variables, and luks_finish counts its volumes in luks_n.)
  for fdlink in 0:stdin 1:stdout 2:stderr; do
    [ -e "/dev/${fdlink#*:}" ] || ln -s "/proc/self/fd/${fdlink%%:*}" "/dev/${fdlink#*:}"
  done
  mount -t proc proc "$t/proc" && mount -o bind /sys "$t/sys" && mount -o bind /dev "$t/dev" &&
    mount -t tmpfs -o mode=0755 tmpfs "$t/run" && mkdir -p "$t/run/kiln/luks" "$t/run/cryptsetup" &&
    mount -o bind /run/kiln/luks "$t/run/kiln/luks"
}
luks_chroot_leave() {
  for m in run/kiln/luks run dev sys proc; do umount "$1/$m" 2>/dev/null; done
  return 0
}

# luks_keyslots DEV: the number of LUKS2 key slots in use on DEV.
luks_keyslots() {
  "$(storage_tool cryptsetup)" luksDump "$1" | awk '/^Keyslots:/ { k = 1; next } /^[A-Za-z]/ { k = 0 } k && /^  [0-9]+: / { n++ } END { print n + 0 }'
}

# luks_bind_one FLAT TARGET N: binds volume N to Tang, proves it, removes the random key.
luks_bind_one() {
  p=machine.storage.encrypted.$3
  id=$(storage_field "$1" "$p.id"); dev=$(storage_field "$1" "$p.device"); key=$(storage_field "$1" "$p.keyFile")
  url=$(storage_field "$1" "$p.clevis.url"); thp=$(storage_field "$1" "$p.clevis.thp")
  if printf '%s' "$url$thp" | grep -q '[^][A-Za-z0-9_.:/-]'; then echo "volume $id: the Tang URL or thumbprint holds unexpected characters"; return 1; fi
  [ -b "$dev" ] && [ -s "$key" ] || { echo "volume $id: $dev or its key $key is missing"; return 1; }
  cfg="{\"url\":\"$url\",\"thp\":\"$thp\"}"
  # Clevis fetches Tang's advertisement, checks it is signed by the key with thumbprint thp, and adds a key slot
  # holding a new random passphrase, kept only as a JWE in the LUKS2 token (decryptable only with Tang's help).
  luks_in "$2" clevis luks bind -y -d "$dev" -k "${key}" tang "$cfg" || {
    # clevis luks bind prints only "Unable to perform encryption": say why, from the tang pin's own steps
    # (the advertisement fetch, then jose) with their exit codes, run the same way in the same root.
    echo "volume $id: clevis luks bind to $url failed; the tang pin's steps:"
    luks_in "$2" sh -c 'curl -sfg -o /dev/null "$1/adv/$2"; echo "curl $1/adv/$2: exit $?";
      echo x | clevis encrypt tang "$3" -y > /dev/null; echo "clevis encrypt tang: exit $?"' sh "$url" "$thp" "$cfg" 2>&1 |
      tail -n 8
    return 1
  }
  slot=$(luks_in "$2" clevis luks list -d "$dev" | awk -F: '/tang/ { print $1; exit }')
  [ -n "$slot" ] || { echo "volume $id: no tang binding on $dev after clevis luks bind"; return 1; }
  # The proof, as the initramfs will do it: decrypt through Tang; the result must open the volume (it only crosses a pipe).
  luks_in "$2" sh -c 'clevis luks pass -d "$1" -s "$2" | cryptsetup open --test-passphrase --key-file - "$1"' sh "$dev" "$slot" ||
    { echo "volume $id: the Clevis slot $slot does not open $dev through Tang"; return 1; }
  luks_in "$2" cryptsetup luksRemoveKey --batch-mode "$dev" "$key" ||
    { echo "volume $id: removing the random key's slot failed"; return 1; }
  if luks_in "$2" cryptsetup open --test-passphrase --key-file "$key" "$dev" 2>/dev/null; then
    echo "volume $id: the random key still opens $dev"; return 1
  fi
  k=$(luks_keyslots "$dev")
  [ "$k" = 1 ] || { echo "volume $id: $k key slots in use on $dev, expected only Clevis's"; return 1; }
  echo "volume $id ($dev): bound to Tang at $url (thp $thp), slot $slot; the random key's slot is removed"
}

# luks_check_headers FLAT: after the last write, every volume's LUKS header as read from the disk (the page cache
# dropped after a sync) holds Clevis's token and only its key slot: a header without them stops the installed
# system at its LUKS prompt, so the install fails here instead, naming the volume and the header's epoch.
luks_check_headers() {
  nv=$(luks_count "$1"); iv=0
  sync; echo 3 > "$KILN_PROC/sys/vm/drop_caches" 2>/dev/null
  while [ "$iv" -lt "$nv" ]; do
    id=$(storage_field "$1" "machine.storage.encrypted.$iv.id"); dev=$(storage_field "$1" "machine.storage.encrypted.$iv.device")
    dump=$("$(storage_tool cryptsetup)" luksDump "$dev") || { echo "volume $id: cryptsetup luksDump $dev failed"; return 1; }
    epoch=$(printf '%s\n' "$dump" | awk '/^Epoch:/ { print $2; exit }')
    printf '%s\n' "$dump" | awk '/^Tokens:/ { t = 1; next } /^[A-Za-z]/ { t = 0 } t && /^  [0-9]+: clevis/ { f = 1 } END { exit !f }' ||
      { echo "volume $id ($dev): the LUKS header on the disk has no Clevis token (epoch $epoch)"; return 1; }
    k=$(luks_keyslots "$dev")
    [ "$k" = 1 ] || { echo "volume $id ($dev): $k key slots in the LUKS header on the disk, expected only Clevis's (epoch $epoch)"; return 1; }
    echo "volume $id ($dev): the header on the disk holds Clevis's token and slot only (epoch $epoch)"
    iv=$((iv + 1))
  done
}

# luks_wipe_keys: overwrites and removes every random key file.
luks_wipe_keys() {
  for kf in /run/kiln/luks/*.key; do
    [ -f "$kf" ] || continue
    dd if=/dev/zero of="$kf" bs=64 count=4 conv=notrunc 2>/dev/null; rm -f "$kf"
  done
}

# luks_initramfs_network TARGET: the initramfs carries the boot NIC's driver, listed in
# /etc/initramfs-tools/modules whatever MODULES= says (a built-in driver has no module and needs nothing): Clevis's
# local-top script brings the network up there (configure_networking, with the kernel's ip=::::::dhcp that boot_entry
# adds for an encrypted root) to reach Tang.
luks_initramfs_network() {
  t=$1
  mkdir -p "$t/etc/initramfs-tools" || return 1
  # (netdev, not n: busybox ash has no local variables.)
  for netdev in "$KILN_SYS"/class/net/*; do
    [ "$(read_trim "$netdev/address")" = "${BOOT_MAC:-}" ] || continue
    m=$(readlink "$netdev/device/driver/module" 2>/dev/null) || continue
    m=${m##*/}
    [ -n "$m" ] || continue
    grep -qsx "$m" "$t/etc/initramfs-tools/modules" || echo "$m" >> "$t/etc/initramfs-tools/modules" || return 1
    echo "initramfs: the boot NIC's driver $m listed in /etc/initramfs-tools/modules"
  done
}

# luks_initramfs FLAT TARGET: /etc/crypttab, cryptsetup and the NIC driver in the initramfs, and the initramfs rebuilt.
luks_initramfs() {
  t=$2
  printf '%s\n' "$1" | json_text machine.storage.crypttab > "$t/etc/crypttab" &&
    mkdir -p "$t/etc/cryptsetup-initramfs" &&
    { grep -qx 'CRYPTSETUP=y' "$t/etc/cryptsetup-initramfs/conf-hook" 2>/dev/null || echo CRYPTSETUP=y >> "$t/etc/cryptsetup-initramfs/conf-hook"; } &&
    luks_initramfs_network "$t" || return 1
  if ls "$t"/boot/initrd.img-* > /dev/null 2>&1; then how=-u; else how=-c; fi
  luks_in "$t" update-initramfs "$how" -k all || { echo "update-initramfs in the written root failed"; return 1; }
  for f in "$t"/boot/initrd.img-*; do
    # The rebuilt initramfs must carry what unlocks the root: cryptsetup, Clevis's tang pin, and the crypttab.
    list=$(luks_in "$t" lsinitramfs "${f#$t}") || { echo "lsinitramfs ${f#$t} failed"; return 1; }
    for need in cryptroot/crypttab usr/bin/clevis-decrypt-tang scripts/local-top/clevis; do
      printf '%s\n' "$list" | grep -q "$need" || { echo "${f#$t} lacks $need"; return 1; }
    done
  done
  echo "crypttab written; initramfs rebuilt with cryptsetup and Clevis ($how)"
}

# luks_finish FLAT TARGET: everything above for every volume; the keys are wiped whatever happens.
# Its counters have names of their own (luks_n, luks_i): the functions it calls share busybox ash's globals, and
# a helper's loop over "n" once turned the count into "2:stderr", so no volume was bound and the step still passed.
luks_finish() {
  luks_n=$(luks_count "$1"); t=$2
  [ "$luks_n" -gt 0 ] || { echo "no LUKS volumes"; return 0; }
  for need in $LUKS_IMAGE_NEEDS; do
    [ -e "$t$need" ] || {
      luks_wipe_keys
      echo "the image lacks $need: build it with the packages cryptsetup-initramfs clevis-luks clevis-initramfs (docs/machine-description.md, LUKS)"
      return 1
    }
  done
  luks_chroot_enter "$t" || { luks_chroot_leave "$t"; luks_wipe_keys; echo "could not prepare the chroot"; return 1; }
  rc=0; luks_i=0
  while [ "$luks_i" -lt "$luks_n" ]; do luks_bind_one "$1" "$t" "$luks_i" || { rc=1; break; }; luks_i=$((luks_i + 1)); done
  [ "$rc" = 0 ] && [ "$luks_i" != "$luks_n" ] && { echo "bound $luks_i of $luks_n LUKS volumes"; rc=1; }
  luks_wipe_keys
  [ "$rc" = 0 ] && { luks_initramfs "$1" "$t" || rc=1; }
  luks_chroot_leave "$t"
  [ "$rc" = 0 ] && echo "LUKS: $luks_n volume(s) unlock at boot through Kiln's Tang"
  return $rc
}
