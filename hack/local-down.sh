#!/usr/bin/env bash
# Stops what hack/local-up.sh started and removes everything it made on the machine: pods
# (asked to stop through the API first, then whatever is left in our cgroups), their mounts and
# network namespaces, the node and hub namespaces. Data stays in $TINYKUBE_LOCAL_DIR.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/lib.sh
source "$here/lib.sh"

# Let the kubelet stop the pods it runs, so containers end as they would on a real node.
if is_running kube-apiserver && is_running kubelet; then
  nsenter --net="/run/netns/$HUB_NS" /usr/bin/kubectl --kubeconfig "$KUBECONFIG_PATH" \
    delete pods --all --all-namespaces --wait=false --request-timeout=10s >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do
    [ -z "$(ls -A "$NODE_STATE/netns" 2>/dev/null)" ] && break
    sleep 0.5
  done
fi

for name in kube-proxy kubelet tinykube-runtime kube-scheduler kube-controller-manager kube-apiserver etcd; do
  stop_background "$name"
done

# Whatever is still running in our cgroups (containers, pause processes) is killed.
for controller in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
  dir="$controller$CGROUP_PARENT"
  [ -d "$dir" ] || continue
  find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
done
# Shims of the runtime, found by the state directory on their command line.
pkill -KILL -f -- "$NODE_STATE" 2>/dev/null || true
sleep 0.5
for controller in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
  dir="$controller$CGROUP_PARENT"
  [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
done

# Mounts the runtime made (overlay root filesystems, pod network namespaces), deepest first.
awk '{print $5}' /proc/self/mountinfo | grep -E "^($NODE_DIR|$NODE_STATE)/" | sort -r |
  while read -r mount; do umount -l "$mount" 2>/dev/null || true; done

for ns in "$NODE_NS" "$HUB_NS"; do
  if netns_exists "$ns"; then
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns"
  fi
done
rm -rf "$NODE_STATE"
echo "local cluster: stopped and removed (data kept in $LOCAL_DIR; remove it for a fresh cluster)"
