#!/bin/sh
# judge-scheduler --scale-down-command for deploy/scale/gcloud-up.sh (documented, not run by
# the tests): the worker has been drained; delete its VM.
set -eu
: "${JUDGE_WORKER_NAME:?}"
gcloud compute instances delete "$JUDGE_WORKER_NAME" \
    --zone "${JUDGE_GCE_ZONE:-europe-west1-b}" --quiet
