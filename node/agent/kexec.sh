# Kiln image writer: the hand-off to the installed system (issue 16). With
# plan.handoff "kexec" the writer starts the installed kernel with kexec(8)
# instead of a firmware reboot: it loads the very kernel, initrd and command
# line grub.cfg's entry names (boot_entry in install.sh, the one source of
# truth for both) while the target is still mounted, unmounts the target,
# reports stage "installed" with handoff "kexec", then jumps. Every failure
# before the jump (no kexec binary, a kernel without kexec, a load refused, a
# hook that fails) falls back to the firmware reboot, which is then what the
# "installed" report says. With plan.handoff "reboot" (the default) nothing
# here runs. Binaries by absolute path, as install.sh: KILN_KEXEC overrides
# the kexec binary (the unit tests use a fake that records its arguments).

# handoff_planned: "kexec" when the plan asks for it, else "reboot".
handoff_planned() {
  case "$(plan_get handoff)" in kexec) echo kexec ;; *) echo reboot ;; esac
}

# kexec_load_installed: loads grub.cfg's entry into the running kernel
# (kexec -l) from the mounted target. Prints what it loaded, or why not;
# non-zero when kexec cannot be used (the caller reboots instead).
kexec_load_installed() {
  kx=${KILN_KEXEC:-$KILN_BIN/kexec}
  [ -x "$kx" ] || { echo "no kexec binary in this image ($kx)"; return 1; }
  [ -z "${KILN_KEXEC:-}" ] && [ ! -e "$KILN_SYS/kernel/kexec_loaded" ] && { echo "this kernel has no kexec support"; return 1; }
  boot_entry || return 1
  if [ -n "$BOOT_INITRD" ]; then
    "$kx" -l "$KILN_TARGET$BOOT_KERNEL" --initrd="$KILN_TARGET$BOOT_INITRD" --command-line="$BOOT_ARGS" 2>&1 ||
      { echo "kexec -l $BOOT_KERNEL failed"; return 1; }
  else
    "$kx" -l "$KILN_TARGET$BOOT_KERNEL" --command-line="$BOOT_ARGS" 2>&1 ||
      { echo "kexec -l $BOOT_KERNEL failed"; return 1; }
  fi
  echo "loaded $BOOT_KERNEL${BOOT_INITRD:+ with $BOOT_INITRD}: $BOOT_ARGS"
}

# kexec_unload: drops a loaded kernel (the writer reboots through firmware instead).
kexec_unload() { "${KILN_KEXEC:-$KILN_BIN/kexec}" -u > /dev/null 2>&1 || true; }

# handoff_prepare: decides the hand-off while the target is still mounted.
# Sets HANDOFF to "kexec" when the plan asks for it, the entry loaded and the
# hook (kexec_before_exec, when defined: where the A/B boot counter counts a
# kexec boot as GRUB counts a firmware one; it runs with the target mounted at
# KILN_TARGET) succeeded; else to "reboot", with HANDOFF_WHY saying why not.
handoff_prepare() {
  HANDOFF=reboot; HANDOFF_WHY=""
  [ "$(handoff_planned)" = kexec ] || return 0
  out=$(kexec_load_installed) || { HANDOFF_WHY=$(printf '%s\n' "$out" | tail -n 1); return 0; }
  printf '%s\n' "$out"
  if type kexec_before_exec > /dev/null 2>&1 && ! kexec_before_exec; then
    HANDOFF_WHY="kexec_before_exec failed"; kexec_unload; return 0
  fi
  HANDOFF=kexec
}

# finish_handoff: the "finish" stage: handoff_prepare, then the target
# unmounted (finish_install); its last line says which hand-off comes next.
finish_handoff() {
  handoff_prepare
  finish_install || return 1
  if [ "$HANDOFF" = kexec ]; then echo "unmounted; the installed kernel is loaded for kexec"
  elif [ -n "$HANDOFF_WHY" ]; then echo "unmounted; firmware reboot next (no kexec: $HANDOFF_WHY)"
  else echo "unmounted; firmware reboot next"; fi
}

# kexec_exec: the jump into the loaded kernel. Returns only when it did not
# happen (the caller reboots through the firmware).
kexec_exec() {
  sync
  "${KILN_KEXEC:-$KILN_BIN/kexec}" -e
  log "kexec -e returned ($?); rebooting through the firmware instead"
  return 1
}
