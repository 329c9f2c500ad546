#!/bin/sh
# Kiln A/B roots (layout "ab", docs/ab-roots.md, ADR 0014). POSIX sh, busybox-
# compatible. Sourced by the image writer (install.sh) and installed in every
# A/B root as /usr/lib/kiln/kiln-ab:
#
#   kiln-ab watch    at boot: on a trial boot, arm the hardware watchdog, run the
#                    local health check until it passes (then mark this slot
#                    good and disarm) or the deadline passes (then reboot -f, so
#                    GRUB's counter falls back); nothing on a normal boot
#   kiln-ab status   one JSON object: {"slot","good","try","tries","fellBack"}
#   kiln-ab switch   make the other slot the one that boots (kiln host rollback)
#   kiln-ab good     mark the booted slot good now
#
# The switch state is a GRUB environment block (grub-editenv's format: 1024
# bytes, "# GRUB Environment Block\n", name=value lines, '#' padding) on the ESP
# at /kiln/grubenv: GRUB can write it there (never on md, LVM or LUKS). Keys:
#   kiln_good       the slot that boots when no trial is pending (a|b)
#   kiln_try        the slot under trial, empty when none
#   kiln_tries      boots the trial slot still gets; GRUB counts down (1..9)
#   kiln_fell_back  the slot whose trial ran out (set by GRUB, cleared on a deploy)
# GRUB's side of the same logic is ab_grub_cfg (the ESP's /kiln/ab.cfg).
: "${KILN_PROC:=/proc}" "${KILN_DEV:=/dev}"
# KILN_AB_ENV: the environment block file; unset, the ESP (LABEL=KILN-ESP) is mounted to find it.
AB_HEADER='# GRUB Environment Block'

# ab_env_get FILE KEY: the value of KEY (empty when absent).
ab_env_get() { awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }' "$1" 2>/dev/null; }

# ab_env_set FILE KEY=VALUE...: rewrites the block in place (same 1024 bytes:
# GRUB's save_env writes the sectors the file already has) with each KEY set;
# an empty VALUE removes KEY. Fails when the block would not fit.
ab_env_set() {
  f=$1; shift
  tmp=$f.kiln-new
  {
    printf '%s\n' "$AB_HEADER"
    [ -f "$f" ] && awk -v set="$*" 'BEGIN { n = split(set, kv, " "); for (i = 1; i <= n; i++) { split(kv[i], p, "="); drop[p[1]] = 1 } }
      NR > 1 && /^[A-Za-z_][A-Za-z0-9_]*=/ { split($0, p, "="); if (!(p[1] in drop)) print }' "$f"
    for kv in "$@"; do case "$kv" in *=) ;; *) printf '%s\n' "$kv" ;; esac; done
  } > "$tmp" || return 1
  used=$(wc -c < "$tmp")
  [ "$used" -le 1024 ] || { rm -f "$tmp"; echo "kiln-ab: $f: the block would be $used bytes (max 1024)" >&2; return 1; }
  # '#' padding to 1024 bytes, as grub-editenv writes it.
  head -c $((1024 - used)) /dev/zero | tr '\0' '#' >> "$tmp"
  if [ -f "$f" ] && [ "$(wc -c < "$f")" = 1024 ]; then
    dd if="$tmp" of="$f" bs=1024 count=1 conv=notrunc 2>/dev/null; rc=$?; rm -f "$tmp"
  else
    mv -f "$tmp" "$f"; rc=$?
  fi
  sync
  return "$rc"
}

# ab_other SLOT: the other slot.
ab_other() { [ "$1" = a ] && echo b || echo a; }

# ab_count_boot FILE: GRUB's boot step done in shell, for a boot that does not
# go through GRUB (kexec): a pending trial is counted down exactly as
# ab_grub_cfg counts it (tries left: one used; none left: fall back). Prints
# the slot this boot must start.
ab_count_boot() {
  good=$(ab_env_get "$1" kiln_good); try=$(ab_env_get "$1" kiln_try); tries=$(ab_env_get "$1" kiln_tries)
  [ -n "$good" ] || good=a
  if [ -z "$try" ]; then echo "$good"; return 0; fi
  case "$tries" in [1-9]) ab_env_set "$1" "kiln_tries=$((tries - 1))" || return 1; echo "$try" ;;
    *) ab_env_set "$1" kiln_fell_back="$try" kiln_try= kiln_tries= || return 1; echo "$good" ;;
  esac
}

# ab_kexec_entry ESP_DIR: for a kexec into an A/B disk (the ESP mounted at
# ESP_DIR): counts the boot (ab_count_boot) and prints the entry of the slot
# it starts, from that slot's kiln/slot-SLOT.cfg, as shell assignments:
# AB_SLOT, AB_KERNEL and AB_INITRD (paths inside the slot's root), AB_CMDLINE.
ab_kexec_entry() {
  s=$(ab_count_boot "$1/kiln/grubenv") || return 1
  [ -f "$1/kiln/slot-$s.cfg" ] || { echo "kiln-ab: no $1/kiln/slot-$s.cfg" >&2; return 1; }
  awk -v s="$s" '$1 == "linux" { k = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); c = $0 } $1 == "initrd" { i = $2 }
    END { printf "AB_SLOT=%s\nAB_KERNEL=%s\nAB_INITRD=%s\nAB_CMDLINE=\x27%s\x27\n", s, k, i, c }' "$1/kiln/slot-$s.cfg"
}

# ab_arm SLOT TRIES FILE: the next boots try SLOT (TRIES of them) and fall back to the current good slot.
ab_arm() { ab_env_set "$3" kiln_try="$1" kiln_tries="$2" kiln_fell_back=; }

# ab_mark_good FILE SLOT: SLOT boots from now on; no trial pending.
ab_mark_good() { ab_env_set "$1" kiln_good="$2" kiln_try= kiln_tries=; }

# ab_grub_cfg TRIES_MAX: the ESP's /kiln/ab.cfg (GRUB script, read through the
# embedded config in src/discovery/grub-images.ts). GRUB has no arithmetic, so
# the countdown is one branch per value. It saves the count before it boots,
# so a boot that never comes back (panic, hang, watchdog reset) has used its try.
ab_grub_cfg() {
  max=${1:-9}
  cat <<'EOF'
# Kiln A/B roots: written by the image writer; update-grub never writes here.
search --no-floppy --file /kiln/grubenv --set=kiln_esp
load_env -f ($kiln_esp)/kiln/grubenv
set slot=$kiln_good
if [ -z "$slot" ]; then set slot=a; fi
if [ -n "$kiln_try" ]; then
EOF
  n=$max; kw=if
  while [ "$n" -ge 1 ]; do
    printf '  %s [ "$kiln_tries" = %s ]; then set kiln_tries=%s; set slot=$kiln_try\n' "$kw" "$n" "$((n - 1))"
    kw=elif; n=$((n - 1))
  done
  cat <<'EOF'
  else set kiln_fell_back=$kiln_try; set kiln_try=; set kiln_tries=
  fi
  save_env -f ($kiln_esp)/kiln/grubenv kiln_try kiln_tries kiln_fell_back
fi
set timeout=1
set default=0
source ($kiln_esp)/kiln/slot-$slot.cfg
EOF
}

# ab_slot_cfg SLOT KERNEL INITRD ARGS: the menu entry of one slot (ESP /kiln/slot-SLOT.cfg).
ab_slot_cfg() {
  echo "menuentry 'Kiln: slot $1' {"
  echo "  search --no-floppy --label kiln-root-$1 --set=root"
  echo "  linux $2 root=LABEL=kiln-root-$1 ro kiln.slot=$1 $4"
  [ -n "$3" ] && echo "  initrd $3"
  echo "}"
}

# ab_grub_d: /etc/grub.d/09_kiln_ab for the installed system's own GRUB: when
# update-grub runs (a kernel upgrade, grub-pc installed later) the menu it
# writes starts with Kiln's A/B switch, so the boot counter keeps working even
# if that GRUB is what firmware starts.
ab_grub_d() {
  cat <<'EOF'
#!/bin/sh
# Kiln A/B roots (docs/ab-roots.md): hand the boot to the ESP's A/B switch,
# which keeps the boot counter. Written by Kiln's image writer; keep it.
cat <<'CFG'
if search --no-floppy --file /kiln/ab.cfg --set=kiln_esp; then
  configfile ($kiln_esp)/kiln/ab.cfg
fi
CFG
EOF
}

# ab_env_file: the environment block of this machine, the ESP mounted when needed.
ab_env_file() {
  [ -n "${KILN_AB_ENV:-}" ] && { echo "$KILN_AB_ENV"; return 0; }
  for m in /boot/efi /run/kiln-ab/esp; do [ -f "$m/kiln/grubenv" ] && { echo "$m/kiln/grubenv"; return 0; }; done
  dev=$(findfs LABEL=KILN-ESP 2>/dev/null) || { echo "kiln-ab: no ESP (LABEL=KILN-ESP)" >&2; return 1; }
  mkdir -p /run/kiln-ab/esp && mount -t vfat "$dev" /run/kiln-ab/esp || { echo "kiln-ab: $dev does not mount" >&2; return 1; }
  [ -f /run/kiln-ab/esp/kiln/grubenv ] || { echo "kiln-ab: no kiln/grubenv on $dev" >&2; return 1; }
  echo /run/kiln-ab/esp/kiln/grubenv
}

# ab_booted: the slot this boot runs (kiln.slot= on the kernel command line).
ab_booted() { tr ' ' '\n' < "$KILN_PROC/cmdline" | awk -F= '$1 == "kiln.slot" { print $2; exit }'; }

ab_status() {
  f=$(ab_env_file) || return 1
  j() { [ -n "$1" ] && printf '"%s"' "$1" || printf null; }
  printf '{"slot":%s,"good":%s,"try":%s,"tries":%s,"fellBack":%s}\n' "$(j "$(ab_booted)")" "$(j "$(ab_env_get "$f" kiln_good)")" \
    "$(j "$(ab_env_get "$f" kiln_try)")" "$(j "$(ab_env_get "$f" kiln_tries)")" "$(j "$(ab_env_get "$f" kiln_fell_back)")"
}

# ab_switch: the other slot than the booted one boots from the next boot on
# (permanent: it was the good slot before; kiln host rollback).
ab_switch() {
  f=$(ab_env_file) || return 1
  s=$(ab_booted); [ -n "$s" ] || s=$(ab_env_get "$f" kiln_good)
  o=$(ab_other "$s")
  ab_env_set "$f" kiln_good="$o" kiln_try= kiln_tries= && echo "kiln-ab: slot $o boots next"
}

# ab_healthy: the local health check: the image's hook /etc/kiln/health-check
# (exit 0) when it has one, and systemd's "running" on a systemd system.
ab_healthy() {
  hook=${KILN_AB_HOOK:-/etc/kiln/health-check}
  if [ -x "$hook" ]; then timeout 60 "$hook" || return 1; fi
  if [ -d "${KILN_SYSTEMD_RUN:-/run/systemd/system}" ] && command -v systemctl >/dev/null 2>&1; then
    [ "$(systemctl is-system-running 2>/dev/null)" = running ] || return 1
  fi
  return 0
}

# ab_watchdog_arm SECONDS: arms the hardware watchdog (busybox watchdog: sets
# the timeout, pets once, then sleeps far longer than the timeout), so only
# ab_watchdog_disarm (SIGTERM: magic close 'V') stops the reset. Prints its PID.
ab_watchdog_arm() {
  wd=${KILN_AB_WATCHDOG:-$KILN_DEV/watchdog}
  [ -c "$wd" ] || [ -n "${KILN_AB_WATCHDOG:-}" ] || { echo "kiln-ab: no $wd: a hang is not reset (only a failing check is)" >&2; return 1; }
  command -v busybox > /dev/null 2>&1 || { echo "kiln-ab: no busybox (its watchdog applet arms $wd): a hang is not reset (only a failing check is)" >&2; return 1; }
  busybox watchdog -F -T "$1" -t 3000 "$wd" > /dev/null 2>&1 &
  echo $!
}
ab_watchdog_disarm() { [ -n "$1" ] && kill -TERM "$1" 2>/dev/null; }

# ab_watch: see the header. KILN_AB_DEADLINE (s, default 300) and KILN_AB_POLL
# (s, default 5) come from /etc/kiln/ab.env (the install plan's ab section).
ab_watch() {
  [ -f "${KILN_ETC:-/etc/kiln}/ab.env" ] && . "${KILN_ETC:-/etc/kiln}/ab.env"
  deadline=${KILN_AB_DEADLINE:-300}; poll=${KILN_AB_POLL:-5}
  f=$(ab_env_file) || return 1
  s=$(ab_booted); try=$(ab_env_get "$f" kiln_try)
  if [ -z "$s" ] || [ "$s" != "$try" ]; then echo "kiln-ab: slot ${s:-?} is not on trial"; return 0; fi
  wdpid=$(ab_watchdog_arm $((deadline + ${KILN_AB_WATCHDOG_MARGIN:-30})))
  [ -n "$wdpid" ] && echo "kiln-ab: trial boot of slot $s; watchdog armed ($((deadline + ${KILN_AB_WATCHDOG_MARGIN:-30}))s); health check for up to ${deadline}s"
  start=$(awk '{ printf "%d", $1 }' "$KILN_PROC/uptime")
  while :; do
    if ab_healthy; then
      ab_mark_good "$f" "$s" || return 1
      ab_watchdog_disarm "$wdpid"
      echo "kiln-ab: slot $s is healthy; it boots from now on"
      return 0
    fi
    now=$(awk '{ printf "%d", $1 }' "$KILN_PROC/uptime")
    [ $((now - start)) -ge "$deadline" ] && break
    sleep "$poll"
  done
  echo "kiln-ab: slot $s not healthy after ${deadline}s; rebooting (GRUB falls back when its tries are used)"
  sync
  ${KILN_AB_REBOOT:-reboot -f}
}

ab_main() {
  case "${1-}" in
    watch) ab_watch ;;
    status) ab_status ;;
    switch) ab_switch ;;
    good) f=$(ab_env_file) && ab_mark_good "$f" "$(ab_booted)" ;;
    *) echo "usage: kiln-ab watch|status|switch|good" >&2; return 2 ;;
  esac
}

[ "${KILN_AB_SOURCE_ONLY-}" = 1 ] || ab_main "$@"
