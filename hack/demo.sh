#!/usr/bin/env bash
# `make demo`: runs the example web app on the local cluster and shows it working for real:
# a Deployment's pods running as processes on node1, reached through their Service's ClusterIP
# (iptables rules kube-proxy wrote in node1's namespace), and their logs read with kubectl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/lib.sh
source "$here/lib.sh"
kubectl() { "$here/kubectl" "$@"; }

netns_exists "$HUB_NS" || fail "no local cluster: run 'make up' first"
echo "+ kubectl apply -f manifests/examples/web.yaml"
kubectl apply -f "$here/../manifests/examples/web.yaml"
echo "+ kubectl rollout status deployment/web"
kubectl rollout status deployment/web --timeout=120s
echo "+ kubectl get pods -l app=web -o wide; kubectl get svc,endpoints web"
kubectl get pods -l app=web -o wide
kubectl get svc,endpoints web
# kube-proxy batches changes (--min-sync-period 1s): give it a moment to see all three endpoints.
for _ in $(seq 1 20); do
  ready=$(kubectl get endpoints web -o jsonpath='{.subsets[*].addresses[*].ip}' | wc -w)
  [ "$ready" -ge 3 ] && break
  sleep 0.5
done
sleep 2
cluster_ip=$(kubectl get svc web -o jsonpath='{.spec.clusterIP}')
echo "+ six requests to the Service at $cluster_ip:80 from node1 (each pod answers with its name)"
for _ in 1 2 3 4 5 6; do
  nsenter --net="/run/netns/$NODE_NS" timeout 5 busybox wget -qO- "http://$cluster_ip/hostname" || echo "(no answer)"
done
pod=$(kubectl get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
echo "+ kubectl run hello --image=busybox:latest --restart=Never -- sh -c ...; kubectl logs hello"
kubectl delete pod hello --ignore-not-found --grace-period=0 --force >/dev/null 2>&1
kubectl run hello --image=busybox:latest --restart=Never -- sh -c "echo hello from a tinykube pod next to $pod" >/dev/null
for _ in $(seq 1 30); do
  [ "$(kubectl get pod hello -o jsonpath='{.status.phase}')" = Succeeded ] && break
  sleep 1
done
kubectl logs hello
kubectl delete pod hello --wait=false >/dev/null
echo "done: hack/kubectl talks to the cluster; make down stops and removes it"
