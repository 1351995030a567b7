#!/usr/bin/env bash
# nordstack cluster membership, run on the first server (it has kubectl):
#
#   k3s-member.sh prepare NODE   before installing/upgrading NODE: if NODE is in the
#                                cluster at another version, cordon and drain it
#   k3s-member.sh ready NODE     bounded wait until NODE is Ready, then uncordon it
#   k3s-member.sh remove NODE    drain NODE (bounded) and delete it from the cluster
#
# Environment:
#   NORDSTACK_K3S_VERSION   (prepare) the version NODE is about to get
#   NORDSTACK_TIMEOUT       seconds for ready/drain (default 300)
set -euo pipefail

info() { echo "[k3s] $*" >&2; }
fatal() {
    echo "[k3s] ERROR: $*" >&2
    exit 1
}

kubectl() { k3s kubectl "$@"; }

node_exists() { kubectl get node "$1" >/dev/null 2>&1; }

prepare() {
    local node=$1 have
    if ! command -v k3s >/dev/null 2>&1 || ! node_exists "$node"; then
        info "${node} is not in the cluster yet; nothing to drain"
        return
    fi
    have=$(kubectl get node "$node" -o jsonpath='{.status.nodeInfo.kubeletVersion}')
    if [ "$have" = "${NORDSTACK_K3S_VERSION:?NORDSTACK_K3S_VERSION is required}" ]; then
        info "${node} already runs ${have}; No change detected"
        return
    fi
    info "draining ${node} (${have} -> ${NORDSTACK_K3S_VERSION})"
    kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout="${TIMEOUT}s" >&2 ||
        fatal "could not drain ${node} within ${TIMEOUT} s (a PodDisruptionBudget?); the upgrade stops before touching it"
}

ready() {
    local node=$1 deadline status=unknown
    deadline=$(($(date +%s) + TIMEOUT))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        status=$(kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || echo absent)
        [ "$status" = True ] && break
        sleep 3
    done
    [ "$status" = True ] ||
        fatal "node ${node} did not become Ready within ${TIMEOUT} s (Ready=${status:-absent}); check 'journalctl -u k3s' or 'journalctl -u k3s-agent' on ${node}"
    kubectl uncordon "$node" >&2
    info "${node} is Ready"
}

remove() {
    local node=$1
    if ! command -v k3s >/dev/null 2>&1 || ! node_exists "$node"; then
        info "${node} is not in the cluster; No change detected"
        return
    fi
    kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout="${TIMEOUT}s" >&2 ||
        info "drain of ${node} did not finish within ${TIMEOUT} s; deleting it anyway"
    kubectl delete node "$node" >&2
}

main() {
    local mode=${1:-} node=${2:-}
    TIMEOUT=${NORDSTACK_TIMEOUT:-300}
    [[ "$node" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || fatal "usage: k3s-member.sh prepare|ready|remove NODE"
    case "$mode" in
    prepare) prepare "$node" ;;
    ready) ready "$node" ;;
    remove) remove "$node" ;;
    *) fatal "usage: k3s-member.sh prepare|ready|remove NODE" ;;
    esac
}

main "$@" </dev/null
