#!/usr/bin/env bash
# Shared by the hack/ scripts: where the local cluster lives and how its processes are handled.

LOCAL_DIR=${TINYKUBE_LOCAL_DIR:-/var/lib/tinykube/local}
BIN_DIR=${TINYKUBE_BIN_DIR:-${CARGO_TARGET_DIR:-/var/cache/tinykube/target}/debug}
APISERVER_PORT=${APISERVER_PORT:-6443}
KUBECONFIG_PATH=$LOCAL_DIR/admin.kubeconfig
# The network namespaces of the local cluster and their addresses (they exist only in there).
HUB_NS=tinykube-hub
NODE_NS=tinykube-node1
HUB_IP=10.199.0.254
NODE_IP=10.199.0.1
CLUSTER_CIDR=${CLUSTER_CIDR:-10.244.0.0/16}
NODE_DIR=$LOCAL_DIR/node1
NODE_STATE=/run/tinykube/local-node1
CGROUP_PARENT=tinykube-local

fail() {
  echo "$*" >&2
  exit 1
}

netns_exists() {
  [ -e "/run/netns/$1" ]
}

# is_running NAME: the pid file names a live process that is still the one we started.
is_running() {
  local pid_file="$LOCAL_DIR/run/$1.pid"
  [ -f "$pid_file" ] || return 1
  local pid
  pid=$(cat "$pid_file")
  [ -d "/proc/$pid" ] && grep -qa -- "$(cat "$LOCAL_DIR/run/$1.cmd" 2>/dev/null)" "/proc/$pid/cmdline" 2>/dev/null
}

# start_background NAME NETNS PROGRAM ARGS...: runs PROGRAM detached inside NETNS, logging to
# logs/NAME.log. `nsenter --net` switches only the network namespace, so the process keeps
# seeing the machine's /sys and cgroups (the runtime needs them).
start_background() {
  local name=$1 ns=$2 program=$3
  shift 3
  setsid nsenter --net="/run/netns/$ns" "$program" "$@" >"$LOCAL_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$LOCAL_DIR/run/$name.pid"
  basename "$program" >"$LOCAL_DIR/run/$name.cmd"
}

# stop_background NAME: SIGTERM, up to 10 s for a graceful exit, then SIGKILL.
stop_background() {
  local name=$1
  if ! is_running "$name"; then
    rm -f "$LOCAL_DIR/run/$name.pid" "$LOCAL_DIR/run/$name.cmd"
    return
  fi
  local pid
  pid=$(cat "$LOCAL_DIR/run/$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  if [ -d "/proc/$pid" ]; then
    echo "$name: did not stop within 10 s, killing" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$LOCAL_DIR/run/$name.pid" "$LOCAL_DIR/run/$name.cmd"
  echo "$name: stopped"
}

# wait_healthy NAME NETNS URL: up to 20 s for URL, seen from inside NETNS, to answer 200.
wait_healthy() {
  local name=$1 ns=$2 url=$3
  for _ in $(seq 1 100); do
    if nsenter --net="/run/netns/$ns" bash -c "$(declare -f http_ok); http_ok '$url'"; then
      return 0
    fi
    is_running "$name" || return 1
    sleep 0.2
  done
  return 1
}

# http_ok URL: a plain HTTP GET answers 200 (no curl on a fresh machine).
http_ok() {
  local rest=${1#http://}
  local hostport=${rest%%/*} path="/${rest#*/}"
  local host=${hostport%%:*} port=${hostport##*:}
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
  local status_line
  read -r -t 5 status_line <&3 || status_line=""
  exec 3<&-
  [[ $status_line == *" 200"* ]]
}
