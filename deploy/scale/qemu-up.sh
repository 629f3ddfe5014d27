#!/bin/sh
# judge-scheduler --scale-up-command for workers in local qemu VMs (see deploy/README.md).
# Boots a copy-on-write VM of a cloud image with deploy/cloud-init/worker.yaml as its
# user-data (host name, token and scheduler filled in), behind qemu's user-mode NAT: it dials
# out to the scheduler and needs no inbound port. Needs qemu-system-x86 and qemu-utils, and
# cloud-image-utils (cloud-localds) or dosfstools and mtools for the seed. The scheduler gives
# JUDGE_WORKER_NAME and JUDGE_TOKEN; the rest is set in the scheduler's environment.
set -eu
: "${JUDGE_WORKER_NAME:?}" "${JUDGE_TOKEN:?}"
IMAGE=${JUDGE_VM_IMAGE:-/var/lib/judge/vm/debian-12-genericcloud-amd64.qcow2}
IMAGE_FORMAT=${JUDGE_VM_IMAGE_FORMAT:-qcow2}
USER_DATA=${JUDGE_VM_USER_DATA:-/etc/judge/worker.yaml}
SCHEDULER=${JUDGE_VM_SCHEDULER:?set JUDGE_VM_SCHEDULER to the URL the VM dials}
STATE=${JUDGE_VM_STATE:-/var/lib/judge/vm/run}
MEMORY=${JUDGE_VM_MEMORY_MIB:-4096}
CPUS=${JUDGE_VM_CPUS:-2}
# The NAT: by default the guest reaches the host's network as qemu's user mode allows.
# A restricted one reaches only what it forwards, e.g.
# "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:7070-cmd:nc judge.lan 7070".
NETDEV=${JUDGE_VM_NETDEV:-user,id=n0}
# kvm where /dev/kvm works, else tcg (emulation: slow); set it where KVM opens but fails.
ACCEL=${JUDGE_VM_ACCEL:-}
# Images without a boot loader boot their kernel directly.
KERNEL=${JUDGE_VM_KERNEL:-}
INITRD=${JUDGE_VM_INITRD:-}
APPEND=${JUDGE_VM_APPEND:-console=ttyS0 root=LABEL=judge-root rw}

vm="$STATE/$JUDGE_WORKER_NAME"
mkdir -p "$vm"
qemu-img create -q -f qcow2 -F "$IMAGE_FORMAT" -b "$IMAGE" "$vm/disk.qcow2" 20G
# The worker's name is the VM's host name (the unit is judge-worker@<host name>).
sed -e "s|CHANGE-ME-the-worker-token-from-judge-scheduler-token-create|$JUDGE_TOKEN|" \
    -e "s|^\( *JUDGE_SCHEDULER=\).*|\1$SCHEDULER|" \
    "$USER_DATA" > "$vm/user-data"
printf 'instance-id: %s\nlocal-hostname: %s\n' "$JUDGE_WORKER_NAME" "$JUDGE_WORKER_NAME" \
    > "$vm/meta-data"
if command -v cloud-localds >/dev/null; then
    cloud-localds "$vm/seed.img" "$vm/user-data" "$vm/meta-data"
else
    rm -f "$vm/seed.img"
    mkfs.vfat -n CIDATA -C "$vm/seed.img" 1024 >/dev/null
    mcopy -i "$vm/seed.img" "$vm/user-data" "$vm/meta-data" ::
fi
if [ -z "$ACCEL" ]; then
    ACCEL=tcg
    [ -w /dev/kvm ] && ACCEL=kvm
fi
set -- -accel "$ACCEL"
[ "$ACCEL" = kvm ] && set -- "$@" -cpu host
[ "$ACCEL" = tcg ] && set -- "$@" -cpu max
if [ -n "$KERNEL" ]; then
    set -- "$@" -kernel "$KERNEL" -append "$APPEND"
    [ -n "$INITRD" ] && set -- "$@" -initrd "$INITRD"
fi
qemu-system-x86_64 "$@" -m "$MEMORY" -smp "$CPUS" -display none \
    -drive "file=$vm/disk.qcow2,if=virtio" -drive "file=$vm/seed.img,if=virtio,format=raw" \
    -netdev "$NETDEV" -device virtio-net-pci,netdev=n0 \
    -serial "file:$vm/console.log" \
    -daemonize -pidfile "$vm/qemu.pid"
