# Kiln stateless boot (kiln.mode=stateless; docs/stateless.md). Runs a Kiln
# image from RAM and keeps the host's identity on a small local partition:
#
# 1. Identity: the ext4 filesystem labelled kiln-id holds the node credential,
#    the host id, machine-id and the SSH host key. With a credential there the
#    node is the host it was. Without one (no such partition, or it was wiped)
#    the node does NOT enrol by MAC: it makes a random request secret, asks
#    Kiln for an identity (POST /node/identity/request), shows the request's
#    code on the console and polls (POST /node/identity/claim) until an
#    operator approves it (`kiln host approve HOST --code CODE`); only then
#    does it get a credential, which it writes to a new kiln-id partition.
# 2. Root: the plan (GET /node/install-plan, layout "stateless") names the
#    image's squashfs root; it is fetched into RAM, checked against the plan's
#    SHA-256, loop-mounted read-only under a tmpfs overlay, given the host's
#    configuration, identity, secrets and Kiln host certificate (late.sh), and
#    the node switches to it (switch_root). Nothing but kiln-id is written to disk.
KILN_TARGET=/target
KILN_BIN=${KILN_BIN:-/usr/lib/kiln/bin}
KILN_ID=/mnt/kiln-id
KILN_RW=/mnt/kiln-rw

# id_device: the block device of the kiln-id filesystem, waiting (bounded, 10 s) for disks to appear.
id_device() {
  i=0
  while [ "$i" -lt 10 ]; do
    d=$(findfs LABEL=kiln-id 2>/dev/null) && { echo "$d"; return 0; }
    sleep 1; mdev -s 2>/dev/null; i=$((i + 1))
  done
  return 1
}

# identity_load DEVICE: mounts it; true when it holds a credential (copied to $KILN_RUN).
identity_load() {
  mkdir -p "$KILN_ID" && mount -t ext4 "$1" "$KILN_ID" || return 1
  [ -s "$KILN_ID/credential" ] && [ -s "$KILN_ID/host-id" ] || return 1
  (umask 077; cp "$KILN_ID/credential" "$KILN_RUN/credential")
  HOST_ID=$(cat "$KILN_ID/host-id")
}

# identity_code SECRET: the code Kiln shows for a request (src/node/node-service.ts identityCode).
identity_code() {
  h=$(printf '%s' "$1" | sha256sum | cut -c 1-8 | tr 'a-f' 'A-F')
  printf '%s-%s' "$(printf '%s' "$h" | cut -c 1-4)" "$(printf '%s' "$h" | cut -c 5-8)"
}

# identity_approval: asks for an identity and waits (polling every
# kiln.approval-poll= seconds, 1-99, default 5, for at most 24 h) for an operator to
# approve it; stores the credential and HOST_ID once claimed.
identity_approval() {
  req="kr_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  code=$(identity_code "$req")
  body="{\"mac\":$(json_str "$BOOT_MAC"),\"request\":\"$req\"}"
  answer=$(api_retry POST identity/request "$body") || { log "Kiln refused or did not answer the identity request"; return 1; }
  name=$(printf '%s' "$answer" | json_flatten | json_get name)
  poll=$(cmdline_get kiln.approval-poll); case "$poll" in [1-9]|[1-9][0-9]) ;; *) poll=5 ;; esac
  # (claim_i, not i: busybox ash has no local variables, and api_retry counts its own tries in i.)
  max=$((86400 / poll)); claim_i=0
  while [ "$claim_i" -lt "$max" ]; do
    [ $((claim_i % 12)) = 0 ] && log "no identity on this host: waiting for approval. Check the code, then run: kiln host approve ${name:-HOST} --code $code"
    answer=$(api_retry POST identity/claim "$body") || { log "identity claim refused or unanswered"; return 1; }
    flat=$(printf '%s' "$answer" | json_flatten)
    if [ "$(printf '%s\n' "$flat" | json_get status)" = approved ]; then
      store_credential "$flat"
      HOST_ID=$(printf '%s\n' "$flat" | json_get hostId)
      [ -s "$KILN_RUN/credential" ] || return 1
      log "identity request $code approved: credential received for $name"
      return 0
    fi
    sleep "$poll"; claim_i=$((claim_i + 1))
  done
  log "no approval within 24 h"; return 1
}

# identity_create: a kiln-id filesystem for a host that had none. Re-made in
# place when the disk's first GPT partition is named kiln-id (its filesystem
# was wiped); else made only on a disk with no partition table (a 64 MiB
# partition), never over a disk that holds other partitions.
identity_create() {
  disk=$(pick_disk) || { echo "no disk for the identity partition"; return 1; }
  p1=$(part_dev "$disk" 1)
  if [ "$("$KILN_BIN/sfdisk" --part-label "$disk" 1 2>/dev/null)" = kiln-id ] && [ -b "$p1" ]; then
    echo "re-making the wiped identity filesystem on $p1"
  elif "$KILN_BIN/sfdisk" -d "$disk" > /dev/null 2>&1; then
    echo "$disk has partitions but no kiln-id identity partition; wipe it or name another disk (image.disk)"; return 1
  else
    printf 'label: gpt\nstart=2048, size=131072, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="kiln-id"\n' |
      "$KILN_BIN/sfdisk" -q "$disk" || return 1
    i=0; while [ ! -b "$p1" ] && [ "$i" -lt 20 ]; do sleep 1; mdev -s; i=$((i + 1)); done
  fi
  "$KILN_BIN/mke2fs" -q -F -t ext4 -L kiln-id "$p1" || return 1
  mkdir -p "$KILN_ID" && mount -t ext4 "$p1" "$KILN_ID" && chmod 700 "$KILN_ID" || return 1
  (umask 077; cp "$KILN_RUN/credential" "$KILN_ID/credential") && printf '%s\n' "$HOST_ID" > "$KILN_ID/host-id" &&
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$KILN_ID/machine-id" && echo >> "$KILN_ID/machine-id" && sync &&
  echo "identity partition $p1 (kiln-id) made on $disk"
}

# fetch_root URL SHA256: the squashfs root into RAM, checked against the plan's digest; from the next
# controller when the plan's gives no answer (lib.sh fetch_any).
fetch_root() {
  mkdir -p "$KILN_RW" && mount -t tmpfs -o mode=0755 tmpfs "$KILN_RW" || return 1
  fetch_any 1800 "$KILN_RW/root.squashfs" "$1" || { echo "download of $1 failed"; return 1; }
  got=$(sha256sum "$KILN_RW/root.squashfs" | cut -d ' ' -f 1)
  [ "$got" = "$2" ] || { echo "squashfs sha256 mismatch: got $got want $2"; return 1; }
  echo "squashfs root $(wc -c < "$KILN_RW/root.squashfs") bytes, sha256 $got"
}

# mount_root: the squashfs read-only, a tmpfs overlay on it at $KILN_TARGET.
mount_root() {
  mkdir -p "$KILN_RW/ro" "$KILN_RW/upper" "$KILN_RW/work" "$KILN_TARGET" &&
  mount -t squashfs -o loop,ro "$KILN_RW/root.squashfs" "$KILN_RW/ro" &&
  mount -t overlay overlay -o "lowerdir=$KILN_RW/ro,upperdir=$KILN_RW/upper,workdir=$KILN_RW/work" "$KILN_TARGET" &&
  echo "root: squashfs under a tmpfs overlay"
}

# apply_identity: machine-id and the SSH host key from kiln-id; a key is made
# in the root (its ssh-keygen) and kept on kiln-id when there is none yet.
apply_identity() {
  t=$KILN_TARGET
  mkdir -p "$t/etc/ssh" "$t/var/lib/kiln/identity" || return 1
  cp "$KILN_ID/machine-id" "$t/etc/machine-id" || return 1
  rm -f "$t"/etc/ssh/ssh_host_*key*
  if [ -s "$KILN_ID/ssh/ssh_host_ed25519_key" ]; then
    cp "$KILN_ID/ssh/ssh_host_ed25519_key" "$KILN_ID/ssh/ssh_host_ed25519_key.pub" "$t/etc/ssh/" &&
    chmod 600 "$t/etc/ssh/ssh_host_ed25519_key" || return 1
    echo "host key kept on kiln-id: $(cut -d ' ' -f 2 "$t/etc/ssh/ssh_host_ed25519_key.pub" | cut -c 1-40)…"
  else
    keygen=""
    for c in /usr/bin/ssh-keygen /bin/ssh-keygen; do [ -x "$t$c" ] && { keygen=$c; break; }; done
    [ -n "$keygen" ] || { echo "the image has no OpenSSH (ssh-keygen): no host key"; return 0; }
    target_run "$keygen" -q -t ed25519 -N '' -C "root@$(plan_get hostname)" -f /etc/ssh/ssh_host_ed25519_key || return 1
    mkdir -p "$KILN_ID/ssh" && chmod 700 "$KILN_ID/ssh" &&
    cp "$t/etc/ssh/ssh_host_ed25519_key" "$t/etc/ssh/ssh_host_ed25519_key.pub" "$KILN_ID/ssh/" && sync || return 1
    echo "host key made and kept on kiln-id"
  fi
}

# write_stateless_config: hostname, Kiln's files (credential, URL, host id),
# the first-boot callback and the heartbeat agent, in the overlay (RAM).
write_stateless_config() {
  t=$KILN_TARGET; h=$(plan_get hostname)
  mkdir -p "$t/etc/kiln" "$t/usr/lib/kiln" "$t/etc/systemd/system/multi-user.target.wants" &&
  echo "$h" > "$t/etc/hostname" &&
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$h" > "$t/etc/hosts" &&
  printf '# Kiln stateless: the root is a squashfs under a tmpfs overlay (RAM); identity on LABEL=kiln-id.\n' > "$t/etc/fstab" &&
  (umask 077; cp "$KILN_RUN/credential" "$t/etc/kiln/credential") && chmod 600 "$t/etc/kiln/credential" &&
  printf '%s\n' "$KILN_URL" > "$t/etc/kiln/url" && api_urls > "$t/etc/kiln/urls" &&
  printf '%s\n' "$HOST_ID" > "$t/etc/kiln/host-id" &&
  printf 'stateless\n' > "$t/etc/kiln/boot-mode" &&
  { [ -z "$(plan_get image.manifest)" ] || printf '%s\n' "$(plan_get image.manifest)" > "$t/etc/kiln/image-id"; } &&
  cp "$KILN_LIB/kiln-firstboot.sh" "$t/usr/lib/kiln/kiln-firstboot" && chmod 755 "$t/usr/lib/kiln/kiln-firstboot" &&
  cp "$KILN_LIB/kiln-firstboot.service" "$t/etc/systemd/system/kiln-firstboot.service" &&
  ln -sf ../kiln-firstboot.service "$t/etc/systemd/system/multi-user.target.wants/kiln-firstboot.service" &&
  write_heartbeat_agent
}

# switch_to_root: the kernel filesystems and kiln-id into the new root, then
# switch_root to its /sbin/init (this shell is PID 1).
switch_to_root() {
  t=$KILN_TARGET
  sync
  [ -s /var/run/syslogd.pid ] && kill "$(cat /var/run/syslogd.pid)" 2>/dev/null
  for p in $(pidof klogd udhcpc 2>/dev/null); do kill "$p" 2>/dev/null; done
  mount --move "$KILN_ID" "$t/var/lib/kiln/identity" || umount "$KILN_ID"
  mkdir -p "$t/dev" "$t/proc" "$t/sys"
  umount /dev/pts 2>/dev/null
  mount --move /dev "$t/dev" || umount /dev
  umount /sys/firmware/efi/efivars 2>/dev/null; umount /sys; umount /proc
  exec switch_root "$t" /sbin/init
}

run_stateless() {
  KILN_URL=$(cmdline_get kiln.url); BOOT_MAC=$(boot_mac)
  [ -n "$KILN_URL" ] || { log "no kiln.url= on the kernel command line"; return 1; }
  iface=$(network_up "$BOOT_MAC") || { log "no DHCP lease on any NIC"; return 1; }
  [ -n "$BOOT_MAC" ] || BOOT_MAC=$(read_trim "$KILN_SYS/class/net/$iface/address")
  for m in loop squashfs overlay; do modprobe -q "$m" 2>/dev/null; done
  iddev=$(id_device) || iddev=""
  if [ -n "$iddev" ] && identity_load "$iddev"; then
    log "identity: $iddev (kiln-id) holds the credential of host $HOST_ID"
    had_id=1
  else
    [ -n "$iddev" ] && { log "identity: $iddev (kiln-id) holds no credential"; umount "$KILN_ID" 2>/dev/null; }
    [ -z "$iddev" ] && log "identity: no kiln-id partition on this host"
    identity_approval || return 1
    had_id=""
  fi
  step_told clock "setting the clock from the controller" clock_from_controller
  PLAN=$(api_retry GET install-plan | json_flatten) || { log "no plan (a revoked credential? an operator can revoke it and approve a new identity)"; install_halt; }
  printf '%s\n' "$PLAN" | awk -F '\t' '$1 ~ /^baseUrls\.[0-9]+$/ { print $2 }' > "$KILN_RUN/controller-urls"
  case "$(plan_get api.url)" in https://*) late_ca > /dev/null 2>&1 && KILN_API_TLS=1 ;; esac
  [ "$(plan_get layout)" = stateless ] || step plan "the plan's layout is $(plan_get layout), not stateless" false
  [ -n "$had_id" ] || step_told identity "making the identity partition (kiln-id)" identity_create
  step_told image "fetching the squashfs root $(plan_get stateless.squashfs.url)" fetch_root "$(plan_get stateless.squashfs.url)" "$(plan_get stateless.squashfs.sha256)"
  step_told mount "mounting the root in RAM" mount_root
  step_told identity "applying the identity from kiln-id" apply_identity
  step config "writing host configuration" write_stateless_config
  step_told network "writing the network configuration the image uses" write_network_config
  step secrets "applying root's password hash and authorized keys from Kiln" late_secrets
  if [ -s "$KILN_TARGET/etc/ssh/ssh_host_ed25519_key.pub" ]; then
    step hostcert "getting the Kiln certificate of the kept SSH host key" late_certify
  fi
  step_told syslog "writing the system's syslog forwarding to Kiln" late_syslog
  log "[stateless] switching to the image's root (RAM)"
  progress stateless "switching to the image's root in RAM"
  switch_to_root
}
