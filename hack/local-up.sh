#!/usr/bin/env bash
# Brings a local tinykube cluster up on this machine without systemd, in the order of
# DESIGN §11: etcd -> tinykube-runtime -> kube-apiserver -> kube-controller-manager ->
# kube-scheduler -> kubelet -> kube-proxy. Each component is started in the background with its
# log under $TINYKUBE_LOCAL_DIR/logs and its pid under $TINYKUBE_LOCAL_DIR/run; `make down`
# (hack/local-down.sh) stops them. A component that is not built yet says so and is reported
# as missing; the ones before it keep running.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/lib.sh
source "$here/lib.sh"

mkdir -p "$LOCAL_DIR/run" "$LOCAL_DIR/logs" "$LOCAL_DIR/etcd"

missing=()

start_etcd() {
  if is_running etcd; then
    echo "etcd: already running (pid $(cat "$LOCAL_DIR/run/etcd.pid"))"
    return
  fi
  if ! port_is_free "$ETCD_CLIENT_PORT" || ! port_is_free "$ETCD_PEER_PORT"; then
    fail "etcd: port $ETCD_CLIENT_PORT or $ETCD_PEER_PORT on 127.0.0.1 is taken; set ETCD_CLIENT_PORT/ETCD_PEER_PORT"
  fi
  start_background etcd etcd \
    --name tinykube-local \
    --data-dir "$LOCAL_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "tinykube-local=http://127.0.0.1:$ETCD_PEER_PORT"
  wait_healthy etcd "http://127.0.0.1:$ETCD_CLIENT_PORT/health" || fail "etcd did not become healthy; see $LOCAL_DIR/logs/etcd.log"
  echo "etcd: up at http://127.0.0.1:$ETCD_CLIENT_PORT (data in $LOCAL_DIR/etcd)"
}

# start_component NAME HEALTH_URL ARGS...: starts one of our binaries and waits for its health
# endpoint (none: "-"); a component that exits at once (not built yet, or a bad flag) is
# reported with the last line it printed.
start_component() {
  local name=$1 health=$2
  shift 2
  local binary="$BIN_DIR/$name"
  [ -x "$binary" ] || fail "$name: $binary is missing; run 'make build' first"
  if is_running "$name"; then
    echo "$name: already running (pid $(cat "$LOCAL_DIR/run/$name.pid"))"
    return
  fi
  start_background "$name" "$binary" "$@"
  sleep 0.3
  if [ "$health" != "-" ] && is_running "$name"; then
    wait_healthy "$name" "$health" || true
  fi
  if ! is_running "$name"; then
    missing+=("$name")
    echo "$name: not running: $(tail -n 1 "$LOCAL_DIR/logs/$name.log")"
    rm -f "$LOCAL_DIR/run/$name.pid"
  elif [ "$health" != "-" ]; then
    echo "$name: up ($health)"
  fi
}

write_kubeconfig() {
  cat >"$KUBECONFIG_PATH" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: tinykube-local
  cluster:
    server: http://127.0.0.1:$APISERVER_PORT
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

start_etcd
start_component tinykube-runtime - \
  --listen "${TINYKUBE_RUNTIME_SOCKET:-/run/tinykube/runtime.sock}" \
  --root /var/lib/tinykube/runtime --state /run/tinykube \
  --cni-conf-dir /etc/cni/net.d --cni-bin-dir /usr/lib/cni
start_component kube-apiserver "http://127.0.0.1:$APISERVER_PORT/healthz" \
  --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT"
write_kubeconfig
start_component kube-controller-manager - --kubeconfig "$KUBECONFIG_PATH"
start_component kube-scheduler - --kubeconfig "$KUBECONFIG_PATH"
start_component kubelet - --kubeconfig "$KUBECONFIG_PATH"
start_component kube-proxy - --kubeconfig "$KUBECONFIG_PATH"

echo
if [ "${#missing[@]}" -gt 0 ]; then
  echo "local cluster: etcd is up; not running yet: ${missing[*]}"
else
  echo "local cluster: every component is up"
fi
echo "logs: $LOCAL_DIR/logs   stop everything: make down"
if is_running kube-apiserver; then
  echo "kubeconfig: $KUBECONFIG_PATH"
  echo "  try: kubectl --kubeconfig $KUBECONFIG_PATH get namespaces"
fi
