# Kiln node agent: self-tests (busybox ash). run_selftests runs the tests a
# plan names (the discover answer's selfTests, or GET next's) and reports
# them (POST self-tests). Each selftest_NAME prints what it saw and returns
# 0 pass, 1 fail, 2 skipped (this hardware or image cannot run it).
# Tools come from the image (memtester, smartctl, ethtool: optional host
# tools, see build-discovery-image.ts); a missing one skips its test.

# st_disks: whole disks worth testing (no loop, ram, CD or device-mapper nodes).
st_disks() {
  for d in "$KILN_SYS"/block/*; do
    [ -e "$d" ] || continue
    n=${d##*/}
    case "$n" in loop*|ram*|sr*|dm-*|md*|zram*|fd*) continue ;; esac
    [ "$(read_trim "$d/removable")" = 1 ] && continue
    printf '%s\n' "$n"
  done
}

# selftest_memory MIB: memtester on MIB MiB, one loop; its progress spinners
# (backspace-drawn) are removed from the output. Any non-zero exit fails (2:
# stuck address, 4: another pattern, 1: it could not allocate or lock).
selftest_memory() {
  command -v memtester >/dev/null 2>&1 || { echo "memtester is not in this image"; return 2; }
  memtester "${1:-16}M" 1 > "$KILN_RUN/memtester.raw" 2>&1
  rc=$?
  tr -d '\010' < "$KILN_RUN/memtester.raw" | sed -e 's/setting *[0-9]*//g' -e 's/testing *[0-9]*//g' \
    -e 's/[-\\|/]\{2,\}//g' -e 's/:  *ok/: ok/' | grep -v '^[[:space:]]*$' | grep -v -e '^Copyright' -e '^Licensed'
  rm -f "$KILN_RUN/memtester.raw"
  echo "memtester exit $rc"
  [ "$rc" -eq 0 ]
}

# selftest_disk_smart MAXWAIT: SMART short self-test on every disk that supports it,
# waiting up to MAXWAIT seconds (default 300) per disk.
selftest_disk_smart() {
  command -v smartctl >/dev/null 2>&1 || { echo "smartctl is not in this image"; return 2; }
  tested=0; failed=0
  for n in $(st_disks); do
    dev="$KILN_DEV/$n"
    info=$(smartctl -i "$dev" 2>&1)
    if ! printf '%s\n' "$info" | grep -q 'SMART support is: *Enabled' && ! printf '%s\n' "$info" | grep -q 'NVMe'; then
      echo "$n: no SMART ($(printf '%s\n' "$info" | grep -m1 -i -e 'unavailable' -e 'unable' -e 'unknown' -e 'not support' | sed 's/^[[:space:]]*//'))"
      continue
    fi
    out=$(smartctl -t short "$dev" 2>&1)
    if ! printf '%s\n' "$out" | grep -q -i -e 'test has begun' -e 'self-test started' -e 'Testing has begun'; then
      echo "$n: short self-test not started:"; printf '%s\n' "$out" | tail -n 5
      continue
    fi
    tested=$((tested + 1)); waited=0
    while smartctl -c "$dev" 2>/dev/null | grep -q -i 'in progress' && [ "$waited" -lt "${1:-300}" ]; do
      sleep 5; waited=$((waited + 5))
    done
    log_line=$(smartctl -l selftest "$dev" 2>/dev/null | grep -m1 -e '^# *1 ' -e '^ *0 ')
    health=$(smartctl -H "$dev" 2>/dev/null | grep -i -m1 -e 'overall-health' -e 'Health Status')
    echo "$n: ${log_line:-no self-test log entry} | ${health:-no health line}"
    case "$log_line" in *"Completed without error"*|*"Completed"*"0x00"*) ;; *) failed=$((failed + 1)) ;; esac
    case "$health" in *PASSED*|*OK*|'') ;; *) failed=$((failed + 1)) ;; esac
  done
  [ "$tested" -gt 0 ] || { echo "no disk supports a SMART self-test"; return 2; }
  [ "$failed" -eq 0 ]
}

# selftest_nic_speed MAC MIN: the link speed of the NIC with MAC (ethtool, else
# sysfs) must be known and at least MIN Mbit/s (0: any); no carrier fails.
selftest_nic_speed() {
  dev=""
  for n in "$KILN_SYS"/class/net/*; do
    [ "$(read_trim "$n/address")" = "$1" ] && dev=${n##*/}
  done
  [ -n "$dev" ] || { echo "no NIC with MAC $1"; return 1; }
  speed=""
  if command -v ethtool >/dev/null 2>&1; then
    eo=$(ethtool "$dev" 2>/dev/null)
    printf '%s\n' "$eo" | grep -e 'Speed:' -e 'Duplex:' -e 'Link detected:' | sed 's/^[[:space:]]*//'
    speed=$(printf '%s\n' "$eo" | sed -n 's/^[[:space:]]*Speed: \([0-9][0-9]*\)Mb\/s.*/\1/p')
  fi
  [ -n "$speed" ] || speed=$(read_trim "$KILN_SYS/class/net/$dev/speed")
  carrier=$(read_trim "$KILN_SYS/class/net/$dev/carrier")
  echo "$dev ($1): carrier ${carrier:-unknown}, speed ${speed:-unknown} Mb/s, at least ${2:-0} wanted"
  [ "$carrier" = 0 ] && { echo "no link"; return 1; }
  case "$speed" in ''|-*|*[!0-9]*) echo "the NIC reports no speed (virtual NIC?)"; return 2 ;; esac
  [ "$speed" -ge "${2:-0}" ]
}

# selftest_disk_write: DESTRUCTIVE. Writes 4 MiB of random data 1 MiB into every
# disk, reads it back past the page cache and compares.
selftest_disk_write() {
  tested=0; failed=0
  dd if=/dev/urandom of="$KILN_RUN/st-pattern" bs=1048576 count=4 2>/dev/null
  for n in $(st_disks); do
    dev="$KILN_DEV/$n"
    [ -w "$dev" ] || { echo "$n: not writable"; failed=$((failed + 1)); continue; }
    tested=$((tested + 1))
    dd if="$KILN_RUN/st-pattern" of="$dev" bs=1048576 seek=1 conv=notrunc,fsync 2>/dev/null
    echo 3 > "$KILN_PROC/sys/vm/drop_caches" 2>/dev/null
    dd if="$dev" of="$KILN_RUN/st-read" bs=1048576 skip=1 count=4 2>/dev/null
    if cmp -s "$KILN_RUN/st-pattern" "$KILN_RUN/st-read"; then echo "$n: 4 MiB written and read back equal"
    else echo "$n: read back differs from what was written"; failed=$((failed + 1)); fi
  done
  rm -f "$KILN_RUN/st-pattern" "$KILN_RUN/st-read"
  [ "$tested" -gt 0 ] || { echo "no disk to write"; return 2; }
  [ "$failed" -eq 0 ]
}

# run_selftests FLAT MAC: runs the plan in FLAT (json-flatten lines under
# PREFIX, default selfTests) and reports; prints the report's answer.
# (rs_out, not out: busybox ash has no local variables, and selftest_disk_smart
# keeps smartctl's answer in out, which lost the test's output from the report.)
run_selftests() {
  p=${3:-selfTests}
  run=$(printf '%s\n' "$1" | json_get "$p.run"); tests=$(printf '%s\n' "$1" | json_get "$p.tests")
  mib=$(printf '%s\n' "$1" | json_get "$p.memoryMiB"); min=$(printf '%s\n' "$1" | json_get "$p.nicMinMbps")
  destructive=$(printf '%s\n' "$1" | json_get "$p.destructive")
  results=""
  for t in $(printf '%s' "$tests" | tr ',' ' '); do
    started=$(date +%s); rs_out="$KILN_RUN/selftest-$t.out"
    log "self-test $t"
    case "$t" in
      memory) selftest_memory "${mib:-16}" > "$rs_out" 2>&1 ;;
      disk-smart) selftest_disk_smart "${KILN_SMART_WAIT:-300}" > "$rs_out" 2>&1 ;;
      nic-speed) selftest_nic_speed "$2" "${min:-0}" > "$rs_out" 2>&1 ;;
      disk-write)
        if [ "$destructive" = true ]; then selftest_disk_write > "$rs_out" 2>&1
        else echo "disk-write is destructive and the plan is not" > "$rs_out"; (exit 2); fi ;;
      *) echo "unknown test $t" > "$rs_out"; (exit 2) ;;
    esac
    case $? in 0) st=pass ;; 2) st=skipped ;; *) st=fail ;; esac
    log "self-test $t: $st"
    results="$results${results:+,}{\"name\":$(json_str "$t"),\"status\":\"$st\",\"seconds\":$(( $(date +%s) - started )),\"output\":$(json_str "$(tail -c 16000 "$rs_out")")}"
  done
  api_retry POST self-tests "{\"run\":$(json_str "$run"),\"results\":[$results]}"
}
