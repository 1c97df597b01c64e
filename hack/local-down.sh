#!/usr/bin/env bash
# Stops what hack/local-up.sh started, newest first: SIGTERM, a bounded wait, then SIGKILL.
# Only processes recorded in our pid files are touched. Data stays in $TINYKUBE_LOCAL_DIR.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/lib.sh
source "$here/lib.sh"

for name in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver tinykube-runtime etcd; do
  stop_background "$name"
done
echo "local cluster: stopped (data kept in $LOCAL_DIR; remove it for a fresh cluster)"
