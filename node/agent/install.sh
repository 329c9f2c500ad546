# Kiln image writer (kiln.mode=install). Enrols, sets the clock from the
# controller (clock.sh), fetches the install plan, gathers the image's objects
# before touching a disk (objects.sh: reused from the machine, fetched from
# Kiln; or streams the tarball),
# partitions the disk (GPT: BIOS boot + EFI system + root, always all three so
# the disk boots under either firmware), unpacks the image, installs GRUB for
# both firmwares, writes host configuration, the network configuration of the
# stack the image runs (netconf.sh), the first-boot callback and the heartbeat
# agent (node/heartbeat), runs
# the late step (late.sh: secrets and the SSH host certificate, inside the
# written root), and hands off to the installed system: a firmware reboot,
# or with plan.handoff "kexec" a jump into its kernel (kexec.sh). Every step
# reports progress; the first failing step is reported to /node/failed with its stage and the tail of its output.
# While it works, busybox httpd serves a read-only status page on port 6978
# (status.sh: stage, progress, bytes fetched and reused, the log tail).
#
# Fixed layout (512-byte sectors; the GRUB core image is pre-patched on the
# controller for LBA 2048, see src/discovery/grub-images.ts):
#   p1 2048+2048      BIOS boot, holds GRUB core.img
#   p2 4096+262144    EFI system partition (FAT32, label KILN-ESP)
#   p3 266240..end    root (ext4, label kiln-root)
#
# Layout "ab" (docs/ab-roots.md, ADR 0014): p1 and p2 as above, then two
# roots, p3 kiln-root-a and p4 kiln-root-b (halves of the rest). The ESP holds
# the switch: kiln/ab.cfg (GRUB's boot counter), kiln/slot-{a,b}.cfg (each
# slot's entry, written with that slot) and kiln/grubenv (the state; ab.sh). A
# deploy to a disk that has them writes only the slot that is not the good
# one, then arms it for plan.ab.tries boots; GRUB falls back to the good slot
# when the new root does not mark itself healthy (kiln-ab watch) in time.
#
# Layout "machine": the plan carries the machine description rendered for this
# host (machine.storage: steps, mounts, fstab; machine.network: networkd
# units); storage.sh runs the steps, GRUB's core image goes to every disk with
# a BIOS boot partition, and the network is the plan's units (machine_network).
# LUKS volumes (machine.storage.encrypted) are bound to Kiln's Tang by luks.sh
# once the image is written (their random keys then removed).
: "${KILN_TARGET:=/target}"
KILN_GRUB=${KILN_GRUB:-/usr/lib/kiln/grub}
# Tools shipped from Debian, by absolute path: busybox ash prefers its own
# applets (mke2fs, tar) over PATH, and those lack ext4 and xattrs.
KILN_BIN=${KILN_BIN:-/usr/lib/kiln/bin}

# step STAGE MESSAGE COMMAND...: reports progress, runs COMMAND, stops the
# install with /node/failed when it fails.
step() {
  stage=$1; msg=$2; shift 2
  progress "$stage" "$msg"
  step_run "$stage" "$msg" "$@"
}

# step_told STAGE MESSAGE COMMAND...: like step, but the progress report comes
# after COMMAND, with its last output line as the message (what it found).
step_told() {
  stage=$1; msg=$2; shift 2
  log "[$stage] $msg"
  [ -n "${KILN_STATUS_DIR:-}" ] && status_write "$stage" "$msg"
  step_run "$stage" "$msg" "$@"
  progress "$stage" "$(tail -n 1 "$KILN_RUN/step.log")"
}

step_run() {
  stage=$1; msg=$2; shift 2
  if ! "$@" > "$KILN_RUN/step.log" 2>&1; then
    reason="$msg failed: $(tail -n 3 "$KILN_RUN/step.log" | tr '\n' ' ')"
    log "FAILED [$stage] $reason"
    [ -n "${KILN_STATUS_DIR:-}" ] && status_write "$stage" "$reason" failed
    api_retry POST failed "{\"stage\":$(json_str "$stage"),\"reason\":$(json_str "$reason")}" >/dev/null
    install_halt
  fi
}

install_halt() {
  log "install failed; the node stays up for inspection"
  exec setsid cttyhack sh
}

plan_get() { printf '%s\n' "$PLAN" | json_get "$1"; }

# pick_disk: plan.disk, or with "auto" the first non-removable disk >= 1 GiB.
pick_disk() {
  want=$(plan_get disk)
  if [ -n "$want" ] && [ "$want" != auto ]; then echo "$want"; return 0; fi
  for d in "$KILN_SYS"/block/*; do
    n=${d##*/}
    case "$n" in loop*|ram*|zram*|dm-*|md*|sr*|fd*) continue ;; esac
    [ "$(read_trim "$d/removable")" = 1 ] && continue
    [ "$(read_trim "$d/size")" -ge 2097152 ] 2>/dev/null || continue
    echo "/dev/$n"; return 0
  done
  return 1
}

# part_dev DISK N: partition N of DISK (/dev/vda3, /dev/nvme0n1p3).
part_dev() { case "$1" in *[0-9]) echo "${1}p$2" ;; *) echo "$1$2" ;; esac; }

partition_disk() {
  "$KILN_BIN/sfdisk" --wipe always --wipe-partitions always "$1" <<PARTS
label: gpt
start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, name="kiln-bios"
start=4096, size=262144, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="kiln-esp"
start=266240, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="kiln-root"
PARTS
  i=0; while [ ! -b "$(part_dev "$1" 3)" ] && [ "$i" -lt 20 ]; do sleep 1; mdev -s; i=$((i + 1)); done
  [ -b "$(part_dev "$1" 3)" ]
}

# partition_disk_ab DISK: layout ab's four partitions (the two roots share what follows the ESP).
partition_disk_ab() {
  total=$(( $(cat "$KILN_SYS/block/${1##*/}/size") ))
  half=$(( (total - 266240 - 2048) / 2 / 2048 * 2048 ))
  "$KILN_BIN/sfdisk" --wipe always --wipe-partitions always "$1" <<PARTS
label: gpt
start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, name="kiln-bios"
start=4096, size=262144, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="kiln-esp"
start=266240, size=$half, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="kiln-root-a"
start=$((266240 + half)), size=$half, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="kiln-root-b"
PARTS
  i=0; while [ ! -b "$(part_dev "$1" 4)" ] && [ "$i" -lt 20 ]; do sleep 1; mdev -s; i=$((i + 1)); done
  [ -b "$(part_dev "$1" 4)" ]
}

# ab_detect DISK: which slot this deploy writes (no write). A disk with both
# roots and the ESP's kiln/grubenv keeps its good slot and gets the other;
# anything else is a first install to slot a. Sets AB_SLOT and AB_KEEP
# (empty on a first install); prints what it found.
ab_detect() {
  AB_SLOT=a; AB_KEEP=""
  esp=$(part_dev "$1" 2); m=$KILN_RUN/ab-esp
  if [ "$(findfs LABEL=kiln-root-a 2>/dev/null)" = "$(part_dev "$1" 3)" ] &&
    [ "$(findfs LABEL=kiln-root-b 2>/dev/null)" = "$(part_dev "$1" 4)" ] &&
    mkdir -p "$m" && mount -t vfat -o ro "$esp" "$m" 2>/dev/null; then
    good=$(ab_env_get "$m/kiln/grubenv" kiln_good)
    umount "$m"
    case "$good" in a|b) AB_KEEP=$good; AB_SLOT=$(ab_other "$good") ;; esac
  fi
  printf 'AB_SLOT=%s\nAB_KEEP=%s\n' "$AB_SLOT" "$AB_KEEP" > "$KILN_RUN/ab.slot"
  if [ -n "$AB_KEEP" ]; then echo "A/B disk $1: slot $AB_KEEP is kept, slot $AB_SLOT is written"
  else echo "no A/B roots on $1: first install, slot a"; fi
}

# make_filesystems_ab DISK: a first install partitions the disk and makes the
# ESP and both roots (b empty, so both labels exist); a later one only remakes
# the slot it writes. Mounts that slot at the target and the ESP under it.
make_filesystems_ab() {
  . "$KILN_RUN/ab.slot"
  if [ -z "$AB_KEEP" ]; then
    partition_disk_ab "$1" &&
    "$KILN_BIN/mkfs.vfat" -F 32 -s 1 -n KILN-ESP "$(part_dev "$1" 2)" &&
    "$KILN_BIN/mke2fs" -q -F -t ext4 -L kiln-root-b "$(part_dev "$1" 4)" || return 1
  fi
  n=3; [ "$AB_SLOT" = b ] && n=4
  "$KILN_BIN/mke2fs" -q -F -t ext4 -L "kiln-root-$AB_SLOT" "$(part_dev "$1" $n)" &&
  mkdir -p "$KILN_TARGET" && mount -t ext4 "$(part_dev "$1" $n)" "$KILN_TARGET" &&
  mkdir -p "$KILN_TARGET/boot/efi" && mount -t vfat "$(part_dev "$1" 2)" "$KILN_TARGET/boot/efi"
}

make_filesystems() {
  "$KILN_BIN/mkfs.vfat" -F 32 -s 1 -n KILN-ESP "$(part_dev "$1" 2)" &&
  "$KILN_BIN/mke2fs" -q -F -t ext4 -L kiln-root "$(part_dev "$1" 3)" &&
  mkdir -p "$KILN_TARGET" && mount -t ext4 "$(part_dev "$1" 3)" "$KILN_TARGET" &&
  mkdir -p "$KILN_TARGET/boot/efi" && mount -t vfat "$(part_dev "$1" 2)" "$KILN_TARGET/boot/efi"
}

# unpack_image URL SHA256 FORMAT: streams the image into the target while
# hashing it; a digest mismatch fails the step (the disk is rewritten on retry).
# When the controller gives no answer (before or during the stream), the same
# image is streamed again from the next controller (lib.sh url_alternates),
# over what was unpacked; a 4xx answer is final.
unpack_image() {
  for ui_url in $(url_alternates "$1"); do
    unpack_image_from "$ui_url" "$2" "$3" && return 0
    wget_refused "$KILN_RUN/wget.err" && return 1
    [ -s "$KILN_RUN/wget.err" ] || return 1
    echo "$ui_url gave no answer: $(head -n 1 "$KILN_RUN/wget.err")"
  done
  return 1
}

# unpack_image_from URL SHA256 FORMAT: one attempt of unpack_image; wget's
# complaints in $KILN_RUN/wget.err (empty when the download itself went well).
unpack_image_from() {
  fifo=$KILN_RUN/image.fifo; rm -f "$fifo"; mkfifo "$fifo"
  sha256sum < "$fifo" > "$KILN_RUN/image.sha256" &
  hasher=$!
  case "$3" in tar.zst) dec="$KILN_BIN/zstd -dc" ;; *) dec="gzip -dc" ;; esac
  tar=tar; topts="-xpf -"
  [ -x "$KILN_BIN/tar" ] && { tar=$KILN_BIN/tar; topts="--numeric-owner --xattrs --xattrs-include=* -xpf -"; }
  set -f -o pipefail
  # wget killed by SIGPIPE (141): the unpack failed, not the controller.
  (wget -q -O - "$1" 2> "$KILN_RUN/wget.err"; w=$?
    case $w in 0) ;; 141) : > "$KILN_RUN/wget.err"; exit 1 ;; *) echo "wget exit $w" >> "$KILN_RUN/wget.err"; exit 1 ;; esac) |
    tee "$fifo" | $dec | "$tar" -C "$KILN_TARGET" $topts
  rc=$?; set +f +o pipefail
  wait "$hasher"
  [ "$rc" = 0 ] || { echo "download or unpack failed (exit $rc)"; return 1; }
  got=$(cut -d ' ' -f 1 "$KILN_RUN/image.sha256")
  [ "$got" = "$2" ] || { : > "$KILN_RUN/wget.err"; echo "image sha256 mismatch: got $got want $2"; return 1; }
}

# install_bootloader DISK: GRUB for BIOS (MBR boot code + core.img in p1) and
# UEFI (removable-media path EFI/BOOT/BOOTX64.EFI, no NVRAM entry), plus the
# grub.cfg both read from the root filesystem.
install_bootloader() {
  dd if="$KILN_GRUB/boot.img" of="$1" bs=440 count=1 conv=notrunc &&
  dd if="$KILN_GRUB/core.img" of="$1" bs=512 seek=2048 conv=notrunc &&
  mkdir -p "$KILN_TARGET/boot/efi/EFI/BOOT" "$KILN_TARGET/boot/grub" &&
  cp "$KILN_GRUB/BOOTX64.EFI" "$KILN_TARGET/boot/efi/EFI/BOOT/BOOTX64.EFI" &&
  write_grub_cfg
}

# install_bootloader_machine: GRUB's BIOS images on every disk of the plan with
# a BIOS boot partition (either disk of a mirror boots), the UEFI loader on
# the ESP mounted at /boot/efi when there is one, and grub.cfg.
install_bootloader_machine() {
  for d in $(storage_list "$PLAN" machine.storage.biosBoot); do
    dd if="$KILN_GRUB/boot.img" of="$d" bs=440 count=1 conv=notrunc &&
    dd if="$KILN_GRUB/core.img" of="$d" bs=512 seek=2048 conv=notrunc || return 1
    echo "GRUB (BIOS) on $d"
  done
  if [ -n "$(plan_get machine.storage.esp)" ]; then
    mkdir -p "$KILN_TARGET/boot/efi/EFI/BOOT" &&
    cp "$KILN_GRUB/BOOTX64.EFI" "$KILN_TARGET/boot/efi/EFI/BOOT/BOOTX64.EFI" || return 1
    echo "GRUB (UEFI) on $(plan_get machine.storage.esp)"
  fi
  mkdir -p "$KILN_TARGET/boot/grub" && write_grub_cfg
}

# kernel_paths: "KERNEL INITRD" of the written root (paths inside it; INITRD may be empty).
kernel_paths() {
  k=""; for c in /boot/vmlinuz /vmlinuz $(ls "$KILN_TARGET"/boot/vmlinuz-* 2>/dev/null | sed "s|^$KILN_TARGET||" | sort -r); do
    [ -e "$KILN_TARGET$c" ] && { k=$c; break; }; done
  r=""; for c in /boot/initrd.img /initrd.img $(ls "$KILN_TARGET"/boot/initrd.img-* 2>/dev/null | sed "s|^$KILN_TARGET||" | sort -r); do
    [ -e "$KILN_TARGET$c" ] && { r=$c; break; }; done
  [ -n "$k" ] || { echo "the image has no kernel (/boot/vmlinuz)"; return 1; }
  echo "$k $r"
}

# install_bootloader_ab DISK: GRUB as install_bootloader does, then the ESP's
# A/B switch and this slot's entry; the root's own grub.cfg and an
# /etc/grub.d snippet hand over to the switch (so update-grub keeps it).
install_bootloader_ab() {
  . "$KILN_RUN/ab.slot"
  e=$KILN_TARGET/boot/efi
  dd if="$KILN_GRUB/boot.img" of="$1" bs=440 count=1 conv=notrunc &&
  dd if="$KILN_GRUB/core.img" of="$1" bs=512 seek=2048 conv=notrunc &&
  mkdir -p "$e/EFI/BOOT" "$e/kiln" "$KILN_TARGET/boot/grub" "$KILN_TARGET/etc/grub.d" &&
  cp "$KILN_GRUB/BOOTX64.EFI" "$e/EFI/BOOT/BOOTX64.EFI" || return 1
  set -- $(kernel_paths) || return 1
  [ -n "${1:-}" ] || { echo "the image has no kernel (/boot/vmlinuz)"; return 1; }
  ab_slot_cfg "$AB_SLOT" "$1" "${2:-}" "console=tty0 console=ttyS0,115200 $(plan_get kernelArgs)" > "$e/kiln/slot-$AB_SLOT.cfg" &&
  ab_grub_cfg 9 > "$e/kiln/ab.cfg" &&
  ab_grub_d > "$KILN_TARGET/etc/grub.d/09_kiln_ab" && chmod 755 "$KILN_TARGET/etc/grub.d/09_kiln_ab" &&
  printf 'search --no-floppy --file /kiln/ab.cfg --set=kiln_esp\nconfigfile ($kiln_esp)/kiln/ab.cfg\n' > "$KILN_TARGET/boot/grub/grub.cfg" &&
  [ -f "$e/kiln/grubenv" ] || ab_env_set "$e/kiln/grubenv" kiln_good=a
}

# write_ab_config: the slot's health watcher (kiln-ab, its systemd unit in
# sysinit.target) and its deadline (plan ab.healthSeconds).
write_ab_config() {
  t=$KILN_TARGET
  cp "$KILN_LIB/ab.sh" "$t/usr/lib/kiln/kiln-ab" && chmod 755 "$t/usr/lib/kiln/kiln-ab" &&
  printf 'KILN_AB_DEADLINE=%s\n' "$(plan_get ab.healthSeconds)" > "$t/etc/kiln/ab.env" &&
  cp "$KILN_LIB/kiln-ab.service" "$t/etc/systemd/system/kiln-ab.service" &&
  mkdir -p "$t/etc/systemd/system/sysinit.target.wants" &&
  ln -sf ../kiln-ab.service "$t/etc/systemd/system/sysinit.target.wants/kiln-ab.service"
}

# ab_arm_written: the last step before the reboot: a later install arms the
# written slot for plan ab.tries boots (kiln_good stays the kept slot); a
# first install makes slot a good at once (nothing to fall back to).
ab_arm_written() {
  . "$KILN_RUN/ab.slot"
  f=$KILN_TARGET/boot/efi/kiln/grubenv
  if [ -n "$AB_KEEP" ]; then
    ab_keep_credential && ab_arm "$AB_SLOT" "$(plan_get ab.tries)" "$f" && echo "slot $AB_SLOT armed for $(plan_get ab.tries) boots; slot $AB_KEEP is the fallback"
  else ab_mark_good "$f" a && echo "slot a is good (first install)"; fi
}

# kexec_before_exec (kexec.sh's hook): layout ab hands off by firmware reboot
# for now: the kexec entry is not yet the slot's (ab.sh ab_kexec_entry names it
# and counts the boot; wiring it here is the next step), so a kexec would boot
# the wrong root=. Other layouts: no objection.
kexec_before_exec() {
  [ "$(plan_get layout)" = ab ] || return 0
  echo "layout ab: kexec into the A/B slot is not yet wired (ab_kexec_entry); rebooting through GRUB"
  return 1
}

# ab_keep_credential: the one file the writer changes in the kept slot: this
# enrolment's node credential (it replaced the one the kept slot has), so a
# host that falls back can still report (heartbeat, deploy.rolled_back).
ab_keep_credential() {
  m=$KILN_RUN/ab-keep; n=3; [ "$AB_KEEP" = b ] && n=4
  mkdir -p "$m" && mount -t ext4 "$(part_dev "$disk" $n)" "$m" || { echo "the kept slot $AB_KEEP does not mount"; return 1; }
  rc=0
  if [ -d "$m/etc/kiln" ]; then (umask 077; cp "$KILN_RUN/credential" "$m/etc/kiln/credential") && chmod 600 "$m/etc/kiln/credential" || rc=1; fi
  umount "$m" && return "$rc"
}

# root_arg: the kernel's root=: the label, or an LVM root's /dev/mapper path
# (initramfs-tools activates the volume group of a root it can name).
root_arg() {
  case "$(plan_get machine.storage.root.device)" in
    /dev/mapper/*) plan_get machine.storage.root.device ;;
    *) echo LABEL=kiln-root ;;
  esac
}

# boot_entry: the installed system's boot entry, as paths inside the target:
# BOOT_KERNEL, BOOT_INITRD (empty when the image has none) and BOOT_ARGS, the
# kernel command line. The one source of truth for grub.cfg's menu entry
# (write_grub_cfg) and for kexec (kexec.sh kexec_load_installed).
boot_entry() {
  # A /boot of its own (machine.storage.separateBoot) holds what GRUB reads: the root's /vmlinuz links are not on it.
  top="/vmlinuz"; topi="/initrd.img"
  [ "$(plan_get machine.storage.separateBoot)" = true ] && { top=""; topi=""; }
  BOOT_KERNEL=""; for c in /boot/vmlinuz $top $(ls "$KILN_TARGET"/boot/vmlinuz-* 2>/dev/null | sed "s|^$KILN_TARGET||" | sort -r); do
    [ -e "$KILN_TARGET$c" ] && { BOOT_KERNEL=$c; break; }; done
  BOOT_INITRD=""; for c in /boot/initrd.img $topi $(ls "$KILN_TARGET"/boot/initrd.img-* 2>/dev/null | sed "s|^$KILN_TARGET||" | sort -r); do
    [ -e "$KILN_TARGET$c" ] && { BOOT_INITRD=$c; break; }; done
  [ -n "$BOOT_KERNEL" ] || { echo "the image has no kernel (/boot/vmlinuz)"; return 1; }
  BOOT_ARGS="root=$(root_arg) ro console=tty0 console=ttyS0,115200 $(plan_get kernelArgs)"
  # LUKS volumes are unlocked in the initramfs through Kiln's Tang: it needs the network (DHCP) there. The long
  # form, DHCP on every interface (kernel nfsroot.txt: client:server:gw:netmask:hostname:device:autoconf): Clevis's
  # local-top script takes field 6 of ip= as an interface to wait for, and with the short "ip=dhcp" that is "dhcp",
  # which never appears, so it skipped configure_networking and the boot waited at the LUKS prompt.
  [ -n "$(plan_get machine.storage.encrypted.0.id)" ] && BOOT_ARGS="$BOOT_ARGS ip=::::::dhcp"
  BOOT_ARGS=${BOOT_ARGS% }
}

write_grub_cfg() {
  boot_entry || return 1
  # On a /boot of its own GRUB's paths are relative to that filesystem (kiln-boot), which holds grub.cfg too.
  gk=$BOOT_KERNEL; gi=$BOOT_INITRD
  if [ "$(plan_get machine.storage.separateBoot)" = true ]; then
    case "$gk" in /boot/*) gk=${gk#/boot} ;; *) echo "the kernel $gk is not on /boot"; return 1 ;; esac
    gi=${gi#/boot}
  fi
  {
    echo "set timeout=1"
    [ "$(plan_get machine.storage.separateBoot)" = true ] && echo "search --label kiln-boot --set=root"
    echo "menuentry 'Kiln: $(plan_get hostname)' {"
    echo "  linux $gk $BOOT_ARGS"
    [ -n "$gi" ] && echo "  initrd $gi"
    echo "}"
  } > "$KILN_TARGET/boot/grub/grub.cfg"
}

# write_fstab FILE: the machine plan's fstab, or the single layout's.
write_fstab() {
  if [ "$(plan_get layout)" = machine ] && [ -n "$(plan_get machine.storage.fstab)" ]; then
    printf '%s\n' "$PLAN" | json_text machine.storage.fstab > "$1"
  elif [ "$(plan_get layout)" = ab ]; then
    . "$KILN_RUN/ab.slot"
    printf 'LABEL=kiln-root-%s\t/\text4\terrors=remount-ro\t0 1\nLABEL=KILN-ESP\t/boot/efi\tvfat\tumask=0077,nofail\t0 2\n' "$AB_SLOT" > "$1"
  else
    printf 'LABEL=kiln-root\t/\text4\terrors=remount-ro\t0 1\nLABEL=KILN-ESP\t/boot/efi\tvfat\tumask=0077,nofail\t0 2\n' > "$1"
  fi
}

write_host_config() {
  t=$KILN_TARGET; h=$(plan_get hostname)
  mkdir -p "$t/etc/kiln" "$t/usr/lib/kiln" &&
  echo "$h" > "$t/etc/hostname" &&
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$h" > "$t/etc/hosts" &&
  write_fstab "$t/etc/fstab" &&
  (umask 077; cp "$KILN_RUN/credential" "$t/etc/kiln/credential") &&
  chmod 600 "$t/etc/kiln/credential" &&
  printf '%s\n' "$KILN_URL" > "$t/etc/kiln/url" &&
  api_urls > "$t/etc/kiln/urls" &&
  printf '%s\n' "$HOST_ID" > "$t/etc/kiln/host-id" &&
  { [ -z "$(plan_get image.manifest)" ] || printf '%s\n' "$(plan_get image.manifest)" > "$t/etc/kiln/image-id"; } &&
  cp "$KILN_LIB/kiln-firstboot.sh" "$t/usr/lib/kiln/kiln-firstboot" && chmod 755 "$t/usr/lib/kiln/kiln-firstboot" &&
  mkdir -p "$t/etc/systemd/system/multi-user.target.wants" &&
  cp "$KILN_LIB/kiln-firstboot.service" "$t/etc/systemd/system/kiln-firstboot.service" &&
  ln -sf ../kiln-firstboot.service "$t/etc/systemd/system/multi-user.target.wants/kiln-firstboot.service" &&
  write_heartbeat_agent &&
  { [ "$(plan_get layout)" != ab ] || write_ab_config; }
}

# write_heartbeat_agent: the heartbeat agent (node/heartbeat) with the fact
# collection it shares with discovery, its systemd service and timer (enabled),
# and, when the plan names an HTTPS API, that URL and its CA (the agent uses
# them when the image has curl; else /etc/kiln/url, plain HTTP, like the
# first-boot callback). A busybox image's init runs `kiln-heartbeat --loop`.
write_heartbeat_agent() {
  t=$KILN_TARGET
  for f in lib.sh net.sh facts.sh; do cp "$KILN_LIB/$f" "$t/usr/lib/kiln/$f" || return 1; done
  cp "$KILN_LIB/kiln-heartbeat.sh" "$t/usr/lib/kiln/kiln-heartbeat" && chmod 755 "$t/usr/lib/kiln/kiln-heartbeat" &&
  cp "$KILN_LIB/kiln-heartbeat.service" "$KILN_LIB/kiln-heartbeat.timer" "$t/etc/systemd/system/" &&
  mkdir -p "$t/etc/systemd/system/timers.target.wants" &&
  ln -sf ../kiln-heartbeat.timer "$t/etc/systemd/system/timers.target.wants/kiln-heartbeat.timer" || return 1
  case "$(plan_get api.url)" in
    https://*) [ -s "$KILN_RUN/ca.pem" ] && cp "$KILN_RUN/ca.pem" "$t/etc/kiln/ca.pem" && printf '%s\n' "$(plan_get api.url)" > "$t/etc/kiln/api-url" &&
      late_api_urls > "$t/etc/kiln/api-urls" ;;
  esac
  write_krl
  return 0
}

# write_krl: today's SSH KRL (GET /api/v1/ssh/revoked-keys, public) and sshd's
# RevokedKeys line, so sshd reads it from its first start and the heartbeat
# agent's later KRLs need no reload. Skipped (the agent adds both later) when
# the controller gives no KRL: a RevokedKeys line without a valid file would
# refuse every key.
write_krl() {
  t=$KILN_TARGET; f=$t/etc/ssh/kiln-revoked-keys
  [ -d "$t/etc/ssh" ] || return 0
  fetch_any 30 "$KILN_RUN/krl" "${KILN_URL%/}/api/v1/ssh/revoked-keys" 2>/dev/null &&
    [ "$(head -c 6 "$KILN_RUN/krl")" = SSHKRL ] || { rm -f "$KILN_RUN/krl"; return 0; }
  cp "$KILN_RUN/krl" "$f" && chmod 644 "$f" || return 0
  line="RevokedKeys /etc/ssh/kiln-revoked-keys"
  if grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/' "$t/etc/ssh/sshd_config" 2>/dev/null; then
    mkdir -p "$t/etc/ssh/sshd_config.d" && printf '# Kiln: certificates revoked by the controller (kiln ssh revoke).\n%s\n' "$line" > "$t/etc/ssh/sshd_config.d/10-kiln-krl.conf"
  elif [ -f "$t/etc/ssh/sshd_config" ]; then
    { printf '%s\n' "$line"; cat "$t/etc/ssh/sshd_config"; } > "$t/etc/ssh/sshd_config.kiln" && mv "$t/etc/ssh/sshd_config.kiln" "$t/etc/ssh/sshd_config"
  fi
}

# write_network_config: plan.network {mode: dhcp|static, address (CIDR),
# gateway, dns[]} for the boot NIC, in the configuration of the network stack
# the written image runs, matched by MAC (netconf.sh).
write_network_config() {
  if [ "$(plan_get network.mode)" = machine ]; then machine_network "$KILN_TARGET"; return; fi
  dns=$(printf '%s\n' "$PLAN" | awk -F '\t' '$1 ~ /^network\.dns\.[0-9]+$/ { printf "%s%s", s, $2; s = " " }')
  netconf_write "$KILN_TARGET" "$BOOT_MAC" "$(plan_get network.mode)" "$(plan_get network.address)" "$(plan_get network.gateway)" "$dns"
}

finish_install() {
  if [ -n "$MACHINE_STORAGE" ]; then
    sync; storage_unmount "$PLAN" "$KILN_TARGET" && sync || return 1
    # Encrypted volumes: their headers, read back from the disk, must hold Clevis's binding (luks.sh).
    [ "$(luks_count "$PLAN")" -gt 0 ] || return 0
    luks_check_headers "$PLAN"
    return
  fi
  [ "$(plan_get layout)" = ab ] && { ab_arm_written || return 1; }
  sync; umount "$KILN_TARGET/boot/efi" && umount "$KILN_TARGET" && sync
}

# report_installed HANDOFF: the last progress report, stage "installed": it
# switches the controller's per-host boot script to the local disk, so a lost
# report would boot the installer again. Unlike the other stages it is retried
# with back-off (api_retry) on any failure, a lost answer included (the
# connection reset or cut short after the request went out: curl's exit 52 or
# 56 on the TLS path, the raw client's exit 1); Kiln takes the same report again with the same
# credential within 15 minutes as a repeat and records nothing more
# (docs/discovery.md, "A lost answer"). Returns 1 when every try failed.
report_installed() {
  if [ "$1" = kexec ]; then ri_msg="installation finished; starting the installed kernel with kexec"
  else ri_msg="installation finished; rebooting into the installed system"; fi
  log "[installed] $ri_msg"
  [ -n "${KILN_STATUS_DIR:-}" ] && status_write installed "$ri_msg" installed
  api_retry POST progress "{\"stage\":\"installed\",\"message\":$(json_str "$ri_msg"),\"handoff\":\"$1\"}" >/dev/null && return 0
  log "could not report stage installed; the next network boot may start the installer again"
  return 1
}

run_install() {
  KILN_URL=$(cmdline_get kiln.url); BOOT_MAC=$(boot_mac)
  [ -n "$KILN_URL" ] || { log "no kiln.url= on the kernel command line"; return 1; }
  iface=$(network_up "$BOOT_MAC") || { log "no DHCP lease on any NIC"; return 1; }
  [ -n "$BOOT_MAC" ] || BOOT_MAC=$(read_trim "$KILN_SYS/class/net/$iface/address")
  status_start
  answer=$(api_retry POST enrol "$(enrol_body "$BOOT_MAC")") || { log "enrol failed"; return 1; }
  flat=$(printf '%s' "$answer" | json_flatten); store_credential "$flat"
  HOST_ID=$(printf '%s\n' "$flat" | json_get hostId)
  [ -s "$KILN_RUN/credential" ] || { log "enrol answered without a credential"; return 1; }
  step_told clock "setting the clock from the controller" clock_from_controller
  progress plan "fetching the install plan"
  PLAN=$(api_retry GET install-plan | json_flatten) || { log "no install plan"; install_halt; }
  # The members healthy when the plan was made: the agent fails over to them too (lib.sh api_urls).
  printf '%s\n' "$PLAN" | awk -F '\t' '$1 ~ /^baseUrls\.[0-9]+$/ { print $2 }' > "$KILN_RUN/controller-urls"
  # From here on the credential travels only to the plan's HTTPS API, verified
  # against its CA (late.sh's client); a plan without one keeps plain HTTP.
  case "$(plan_get api.url)" in https://*) late_ca > /dev/null 2>&1 && KILN_API_TLS=1 ;; esac
  # The layouts this writer implements (src/image/install-plan.ts imageLayouts).
  layout=$(plan_get layout)
  case "${layout:-single}" in single|machine|ab) ;; *) step partition "layout \"$layout\" is not implemented by this writer (only single, machine, ab)" false ;; esac
  MACHINE_STORAGE=""; [ "$layout" = machine ] && [ -n "$(plan_get machine.storage.root.device)" ] && MACHINE_STORAGE=1
  if [ "$layout" = ab ]; then
    disk=$(pick_disk) || step disk "choosing a disk" false
    step_told slot "choosing the A/B slot on $disk" ab_detect "$disk"
    . "$KILN_RUN/ab.slot"
    # Objects are reused from the slot that is kept (never written by this deploy).
    KILN_REUSE_LABEL=kiln-root-${AB_KEEP:-a}
  fi
  step_told objects "gathering the image's objects (reused from this machine, fetched from Kiln)" objects_prepare
  if [ -n "$MACHINE_STORAGE" ]; then
    step_told partition "laying out storage from the machine description" storage_apply "$PLAN"
    step_told mkfs "mounting the machine description's filesystems" storage_mount "$PLAN" "$KILN_TARGET"
  elif [ "$layout" = ab ]; then
    step mkfs "making the filesystem of slot $AB_SLOT on $disk" make_filesystems_ab "$disk"
  else
    disk=$(pick_disk) || step disk "choosing a disk" false
    step partition "partitioning $disk" partition_disk "$disk"
    step mkfs "making filesystems on $disk" make_filesystems "$disk"
  fi
  if [ -e "$OBJ_DIR/ready" ]; then
    step image "writing image $(plan_get image.objects.manifest) from objects" objects_write
  else
    step image "writing image $(plan_get image.url)" unpack_image "$(plan_get image.url)" "$(plan_get image.sha256)" "$(plan_get image.format)"
  fi
  if [ -n "$MACHINE_STORAGE" ]; then
    step_told bootloader "installing GRUB on the machine description's boot disks" install_bootloader_machine
  elif [ "$layout" = ab ]; then
    step bootloader "installing GRUB (BIOS and UEFI) and the A/B switch for slot $AB_SLOT" install_bootloader_ab "$disk"
  else
    step bootloader "installing GRUB (BIOS and UEFI)" install_bootloader "$disk"
  fi
  step config "writing host configuration" write_host_config
  if [ -n "$MACHINE_STORAGE" ] && [ -n "$(plan_get machine.storage.encrypted.0.id)" ]; then
    step_told luks "binding the LUKS volumes to Kiln's Tang with Clevis; rebuilding the initramfs" luks_finish "$PLAN" "$KILN_TARGET"
  fi
  step_told network "writing the network configuration the image uses" write_network_config
  step secrets "applying root's password hash and authorized keys from Kiln" late_secrets
  step hostcert "making the SSH host key in the target and getting its Kiln certificate" late_hostcert
  step_told syslog "writing the installed system's syslog forwarding to Kiln" late_syslog
  # The hand-off (kexec.sh): with plan.handoff "kexec" the installed kernel is
  # loaded before the target is unmounted; HANDOFF says which path follows.
  step_told finish "unmounting" finish_handoff
  report_installed "$HANDOFF" || :
  [ "$HANDOFF" = kexec ] && kexec_exec
  sync; reboot -f
}
