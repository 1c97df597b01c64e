#!/usr/bin/env bash
# Brings a local tinykube cluster up on this machine without systemd, in the order of
# DESIGN §11: etcd -> kube-apiserver -> kube-controller-manager -> kube-scheduler ->
# tinykube-runtime -> kubelet -> kube-proxy.
#
# Everything that owns network state runs inside two network namespaces this script creates,
# never in the machine's own: a "hub" namespace holding the control plane and a bridge, and a
# "node" namespace (one node, node1) joined to it by a veth pair, where the runtime, the kubelet
# and kube-proxy run and where pods get their own namespaces from the CNI plugins.
# Logs are in $TINYKUBE_LOCAL_DIR/logs, pids in $TINYKUBE_LOCAL_DIR/run; `make down` undoes it all.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/lib.sh
source "$here/lib.sh"

mkdir -p "$LOCAL_DIR/run" "$LOCAL_DIR/logs" "$LOCAL_DIR/etcd" "$NODE_DIR"/{cni,kubelet,manifests,pod-logs} "$NODE_STATE"

missing=()

# The two namespaces and the link between them (idempotent).
create_network() {
  if ! netns_exists "$HUB_NS"; then
    ip netns add "$HUB_NS"
    ip -n "$HUB_NS" link set lo up
    ip -n "$HUB_NS" link add tkbr0 type bridge
    ip -n "$HUB_NS" addr add "$HUB_IP/24" dev tkbr0
    ip -n "$HUB_NS" link set tkbr0 up
  fi
  if ! netns_exists "$NODE_NS"; then
    ip netns add "$NODE_NS"
    ip -n "$NODE_NS" link set lo up
    ip -n "$HUB_NS" link add tkv1 type veth peer name eth0 netns "$NODE_NS"
    ip -n "$HUB_NS" link set tkv1 master tkbr0 up
    ip -n "$NODE_NS" addr add "$NODE_IP/24" dev eth0
    ip -n "$NODE_NS" link set eth0 up
    ip -n "$NODE_NS" route add default via "$HUB_IP"
    # The hub reaches pods through the node, host-gw style (DESIGN §10).
    ip -n "$HUB_NS" route add "$CLUSTER_CIDR" via "$NODE_IP"
  fi
  echo "network: hub namespace $HUB_NS ($HUB_IP), node namespace $NODE_NS ($NODE_IP)"
}

start_etcd() {
  if is_running etcd; then
    echo "etcd: already running (pid $(cat "$LOCAL_DIR/run/etcd.pid"))"
    return
  fi
  start_background etcd "$HUB_NS" etcd \
    --name tinykube-local \
    --data-dir "$LOCAL_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:2379" \
    --advertise-client-urls "http://127.0.0.1:2379" \
    --listen-peer-urls "http://127.0.0.1:2380" \
    --initial-advertise-peer-urls "http://127.0.0.1:2380" \
    --initial-cluster "tinykube-local=http://127.0.0.1:2380"
  wait_healthy etcd "$HUB_NS" "http://127.0.0.1:2379/health" ||
    fail "etcd did not become healthy; see $LOCAL_DIR/logs/etcd.log"
  echo "etcd: up in $HUB_NS at http://127.0.0.1:2379 (data in $LOCAL_DIR/etcd)"
}

# start_component NAME NETNS HEALTH_URL ARGS...: starts one of our binaries inside NETNS and
# waits for its health endpoint (none: "-"); a component that exits at once (not built yet,
# or a bad flag) is reported with the last line it printed.
start_component() {
  local name=$1 ns=$2 health=$3
  shift 3
  local binary="$BIN_DIR/$name"
  [ -x "$binary" ] || fail "$name: $binary is missing; run 'make build' first"
  if is_running "$name"; then
    echo "$name: already running (pid $(cat "$LOCAL_DIR/run/$name.pid"))"
    return
  fi
  start_background "$name" "$ns" "$binary" "$@"
  sleep 0.3
  if [ "$health" != "-" ] && is_running "$name"; then
    wait_healthy "$name" "$ns" "$health" || true
  fi
  if ! is_running "$name"; then
    missing+=("$name")
    echo "$name: not running: $(tail -n 1 "$LOCAL_DIR/logs/$name.log")"
    rm -f "$LOCAL_DIR/run/$name.pid"
  else
    if [ "$health" = "-" ]; then echo "$name: up in $ns"; else echo "$name: up in $ns ($health)"; fi
  fi
}

# kubeconfig FILE SERVER: an admin kubeconfig (plain HTTP, no authentication yet).
write_kubeconfig() {
  cat >"$1" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: tinykube-local
  cluster:
    server: $2
contexts:
- name: tinykube-local
  context:
    cluster: tinykube-local
    user: admin
    namespace: default
current-context: tinykube-local
users:
- name: admin
  user: {}
KUBECONFIG
}

# The node's images: busybox built from the distro's busybox-static, no network needed.
import_images() {
  if [ ! -f "$LOCAL_DIR/busybox.tar" ]; then
    bash "$here/build-busybox-image.sh" "$LOCAL_DIR/busybox.tar" >/dev/null
  fi
  "$BIN_DIR/tinykube-runtime" --root "$NODE_DIR/runtime" import "$LOCAL_DIR/busybox.tar" >/dev/null
  echo "images: busybox imported into node1's runtime"
}

create_network
start_etcd
APISERVER_URL="http://$HUB_IP:$APISERVER_PORT"
start_component kube-apiserver "$HUB_NS" "http://127.0.0.1:$APISERVER_PORT/healthz" \
  --etcd-servers "http://127.0.0.1:2379" \
  --insecure-bind-address 0.0.0.0 --insecure-port "$APISERVER_PORT" --advertise-address "$HUB_IP"
write_kubeconfig "$KUBECONFIG_PATH" "$APISERVER_URL"
write_kubeconfig "$LOCAL_DIR/hub.kubeconfig" "http://127.0.0.1:$APISERVER_PORT"
start_component kube-controller-manager "$HUB_NS" "http://127.0.0.1:10257/healthz" \
  --kubeconfig "$LOCAL_DIR/hub.kubeconfig" --bind-address 127.0.0.1 --secure-port 10257 \
  --allocate-node-cidrs --cluster-cidr "$CLUSTER_CIDR"
start_component kube-scheduler "$HUB_NS" "http://127.0.0.1:10259/healthz" \
  --kubeconfig "$LOCAL_DIR/hub.kubeconfig" --bind-address 127.0.0.1 --secure-port 10259
import_images
start_component tinykube-runtime "$NODE_NS" - \
  --listen "$NODE_STATE/runtime.sock" --root "$NODE_DIR/runtime" --state "$NODE_STATE" \
  --cni-conf-dir "$NODE_DIR/cni" --cgroup-parent "$CGROUP_PARENT"
# The node shares the machine's disk, often fuller than upstream's 10%/15% free defaults allow;
# like kind, a local cluster only reacts to memory, so disk use does not taint the node.
start_component kubelet "$NODE_NS" "http://127.0.0.1:10250/healthz" \
  --eviction-hard "memory.available<100Mi,nodefs.available<0%,imagefs.available<0%" \
  --kubeconfig "$KUBECONFIG_PATH" --hostname-override node1 --node-ip "$NODE_IP" \
  --container-runtime-endpoint "unix://$NODE_STATE/runtime.sock" \
  --root-dir "$NODE_DIR/kubelet" --pod-manifest-path "$NODE_DIR/manifests" \
  --pod-logs-dir "$NODE_DIR/pod-logs" --cni-conf-dir "$NODE_DIR/cni" --port 10250
start_component kube-proxy "$NODE_NS" "http://127.0.0.1:10256/healthz" \
  --kubeconfig "$KUBECONFIG_PATH" --hostname-override node1

echo
if [ "${#missing[@]}" -gt 0 ]; then
  echo "local cluster: up; not running yet: ${missing[*]}"
else
  echo "local cluster: every component is up"
fi
echo "logs: $LOCAL_DIR/logs   stop everything: make down"
if is_running kube-apiserver; then
  echo "the API lives in the $HUB_NS namespace; hack/kubectl runs the real kubectl there:"
  echo "  hack/kubectl get nodes,pods -A -o wide"
fi
