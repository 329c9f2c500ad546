#!/bin/sh
# /init of the CI test image's initrd: loads the disk and ext4 drivers, mounts
# the root filesystem root=LABEL=... names (kiln-root; layout ab's
# kiln-root-a or kiln-root-b) and switches to its /sbin/init.
export PATH=/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in virtio_pci virtio_blk virtio_scsi sd_mod ahci nvme crc32c_generic ext4; do modprobe -q "$m"; done
label=kiln-root
for a in $(cat /proc/cmdline); do case "$a" in root=LABEL=*) label=${a#root=LABEL=} ;; esac; done
i=0
while ! root=$(findfs "LABEL=$label" 2>/dev/null) && [ "$i" -lt 30 ]; do sleep 1; mdev -s; i=$((i + 1)); done
echo "kiln-test-image initrd: root is ${root:-missing}"
mkdir -p /newroot
mount -t ext4 -o ro "$root" /newroot || exec sh
umount /sys /proc
mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec switch_root /newroot /sbin/init
