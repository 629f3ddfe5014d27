#!/bin/sh
# judge-scheduler --scale-up-command for Google Compute Engine (documented, not run by the
# tests): a VM named after the worker, with deploy/cloud-init/worker.yaml as its user-data.
set -eu
: "${JUDGE_WORKER_NAME:?}" "${JUDGE_TOKEN:?}"
USER_DATA=${JUDGE_VM_USER_DATA:-/etc/judge/worker.yaml}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
sed "s|CHANGE-ME-the-worker-token-from-judge-scheduler-token-create|$JUDGE_TOKEN|" \
    "$USER_DATA" > "$tmp"
gcloud compute instances create "$JUDGE_WORKER_NAME" \
    --zone "${JUDGE_GCE_ZONE:-europe-west1-b}" \
    --machine-type "${JUDGE_GCE_MACHINE:-e2-standard-4}" \
    --image-family debian-12 --image-project debian-cloud \
    --metadata-from-file user-data="$tmp"
