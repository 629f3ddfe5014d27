#!/bin/sh
# judge-scheduler --scale-up-command for workers in local qemu VMs (see deploy/README.md).
# Boots a copy-on-write VM of a cloud image with deploy/cloud-init/worker.yaml as its
# user-data (hostname, token and scheduler filled in), behind qemu's user-mode NAT: it dials
# out to the scheduler and needs no inbound port. Needs qemu-system-x86, qemu-utils and
# cloud-image-utils (cloud-localds). The scheduler gives JUDGE_WORKER_NAME and JUDGE_TOKEN.
set -eu
: "${JUDGE_WORKER_NAME:?}" "${JUDGE_TOKEN:?}"
IMAGE=${JUDGE_VM_IMAGE:-/var/lib/judge/vm/debian-12-genericcloud-amd64.qcow2}
USER_DATA=${JUDGE_VM_USER_DATA:-/etc/judge/worker.yaml}
SCHEDULER=${JUDGE_VM_SCHEDULER:?set JUDGE_VM_SCHEDULER to the URL the VM dials}
STATE=${JUDGE_VM_STATE:-/var/lib/judge/vm/run}
MEMORY=${JUDGE_VM_MEMORY_MIB:-4096}
CPUS=${JUDGE_VM_CPUS:-2}

vm="$STATE/$JUDGE_WORKER_NAME"
mkdir -p "$vm"
qemu-img create -q -f qcow2 -F qcow2 -b "$IMAGE" "$vm/disk.qcow2" 20G
# The worker's name is the VM's host name (the unit is judge-worker@<host name>).
sed -e "s|CHANGE-ME-the-worker-token-from-judge-scheduler-token-create|$JUDGE_TOKEN|" \
    -e "s|^\( *JUDGE_SCHEDULER=\).*|\1$SCHEDULER|" \
    "$USER_DATA" > "$vm/user-data"
printf 'hostname: %s\n' "$JUDGE_WORKER_NAME" >> "$vm/user-data"
printf 'instance-id: %s\nlocal-hostname: %s\n' "$JUDGE_WORKER_NAME" "$JUDGE_WORKER_NAME" \
    > "$vm/meta-data"
cloud-localds "$vm/seed.iso" "$vm/user-data" "$vm/meta-data"
accel=tcg
[ -w /dev/kvm ] && accel=kvm:tcg
qemu-system-x86_64 -accel "$accel" -m "$MEMORY" -smp "$CPUS" -display none \
    -drive "file=$vm/disk.qcow2,if=virtio" -drive "file=$vm/seed.iso,if=virtio,format=raw" \
    -nic user,model=virtio-net-pci \
    -daemonize -pidfile "$vm/qemu.pid"
