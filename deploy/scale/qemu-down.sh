#!/bin/sh
# judge-scheduler --scale-down-command for deploy/scale/qemu-up.sh: the worker has been
# drained (it finished its jobs and stopped); stop its VM and remove its disk.
set -eu
: "${JUDGE_WORKER_NAME:?}"
STATE=${JUDGE_VM_STATE:-/var/lib/judge/vm/run}
vm="$STATE/$JUDGE_WORKER_NAME"
if [ -f "$vm/qemu.pid" ]; then
    kill "$(cat "$vm/qemu.pid")" 2>/dev/null || true
fi
rm -rf "$vm"
