#!/usr/bin/env bash
# Installs what tinykube needs on Debian 12: the real parts its tests and `make up` use.
# Idempotent and quiet: it prints nothing and touches nothing when everything is installed.
set -euo pipefail

packages=(
  etcd-server                 # the cluster's state store
  etcd-client                 # etcdctl, to look at what the apiserver stored
  iptables                    # kube-proxy's Service rules (nf_tables backend)
  iproute2                    # ip netns / link / route for node namespaces
  conntrack                   # flushing UDP conntrack entries of removed endpoints
  containernetworking-plugins # bridge, host-local, loopback, portmap CNI plugins
  busybox-static              # the test and demo image's only binary
  protobuf-compiler           # protoc, for the CRI and etcd gRPC code
  docker-registry             # a local OCI registry on loopback that the runtime's pull tests push to
  openssl                     # the test CA and certificates of the runtime's HTTPS registry test
  crun                        # the OCI runtime the runtime benchmark compares against
  ca-certificates
  make
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: must run as root (apt-get install)" >&2
  exit 1
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rust components that `make test` runs.
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    echo "install-deps: adding rustup component $component"
    rustup component add "$component" >/dev/null
  fi
done
