#!/usr/bin/env bash
# Prints an admin kubeconfig for Pulumi, made on this server (it has kubectl):
# the cluster's CA from k3s.yaml and the token of a `nordstack-pulumi`
# ServiceAccount bound to cluster-admin. Unlike k3s's admin client certificate
# (valid one year, renewed on restart), the token does not expire, so a stack
# left alone for a year still reaches its cluster. Idempotent.
#
# stdout: the kubeconfig (a secret: the caller sets logging none).
set -euo pipefail

fatal() {
    echo "[k3s] ERROR: $*" >&2
    exit 1
}

kubectl() { k3s kubectl "$@"; }

main() {
    local f=/etc/rancher/k3s/k3s.yaml i ca token
    for i in $(seq 1 60); do
        [ -s "$f" ] && break
        [ "$i" -lt 60 ] || fatal "${f} did not appear within 120 s; is k3s running on this server?"
        sleep 2
    done
    kubectl apply -f - >/dev/null <<'YAML' || fatal "could not create the nordstack-pulumi ServiceAccount"
apiVersion: v1
kind: ServiceAccount
metadata: {name: nordstack-pulumi, namespace: kube-system, labels: {app.kubernetes.io/managed-by: nordstack}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: nordstack-pulumi, labels: {app.kubernetes.io/managed-by: nordstack}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: nordstack-pulumi, namespace: kube-system}]
---
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: nordstack-pulumi-token
  namespace: kube-system
  annotations: {kubernetes.io/service-account.name: nordstack-pulumi}
YAML
    for i in $(seq 1 30); do
        token=$(kubectl -n kube-system get secret nordstack-pulumi-token -o jsonpath='{.data.token}' 2>/dev/null || true)
        [ -n "$token" ] && break
        [ "$i" -lt 30 ] || fatal "the token of nordstack-pulumi was not issued within 60 s"
        sleep 2
    done
    ca=$(sed -n 's/^ *certificate-authority-data: *//p' "$f" | head -1)
    [ -n "$ca" ] || fatal "${f} has no certificate-authority-data"
    cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: default
  cluster:
    certificate-authority-data: ${ca}
    server: https://127.0.0.1:6443
contexts:
- name: default
  context: {cluster: default, user: default}
current-context: default
users:
- name: default
  user:
    token: $(printf '%s' "$token" | base64 -d)
EOF
}

main "$@" </dev/null
