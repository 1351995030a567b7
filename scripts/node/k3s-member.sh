#!/usr/bin/env bash
# nordstack cluster membership, run on the first server (it has kubectl):
#
#   k3s-member.sh prepare NODE   before installing/upgrading NODE: if NODE is in the
#                                cluster at another version, take an upgrade slot
#                                (at most NORDSTACK_UPGRADE_SLOTS nodes upgrade at once),
#                                then cordon and drain it
#   k3s-member.sh ready NODE     bounded wait until NODE is Ready and reports
#                                NORDSTACK_K3S_VERSION, then uncordon it and free its slot
#   k3s-member.sh remove NODE    drain NODE (bounded) and delete it from the cluster
#
# Environment:
#   NORDSTACK_K3S_VERSION   (prepare, ready) the version NODE is about to get / must report
#   NORDSTACK_UPGRADE_SLOTS (prepare) nodes upgrading at once (default 1)
#   NORDSTACK_TIMEOUT       seconds for ready/drain/slot wait (default 300)
set -euo pipefail

info() { echo "[k3s] $*" >&2; }
fatal() {
    echo "[k3s] ERROR: $*" >&2
    exit 1
}

kubectl() { k3s kubectl "$@"; }

SLOTS_DIR=/var/lib/nordstack/upgrade-slots

# An upgrade slot is a directory slot-N holding the node's name: mkdir is atomic,
# so parallel prepare steps never take the same slot. A node keeps its own slot
# across retries; a slot older than twice the timeout is left over from a failed
# run and is taken over.
take_slot() {
    local node=$1 slots=${NORDSTACK_UPGRADE_SLOTS:-1} deadline i s
    [[ "$slots" =~ ^[1-9][0-9]*$ ]] || fatal "NORDSTACK_UPGRADE_SLOTS must be a positive number"
    mkdir -p "$SLOTS_DIR"
    deadline=$(($(date +%s) + TIMEOUT))
    while :; do
        for i in $(seq 0 $((slots - 1))); do
            s="${SLOTS_DIR}/slot-${i}"
            if [ "$(cat "${s}/node" 2>/dev/null)" = "$node" ]; then return; fi
            if [ -d "$s" ] && [ -n "$(find "$s" -maxdepth 0 -mmin +$((TIMEOUT * 2 / 60 + 1)) 2>/dev/null)" ]; then
                info "taking over stale upgrade slot ${i} of $(cat "${s}/node" 2>/dev/null || echo '?')"
                rm -rf "$s"
            fi
            if mkdir "$s" 2>/dev/null; then
                echo "$node" >"${s}/node"
                info "${node} holds upgrade slot ${i} of ${slots}"
                return
            fi
        done
        [ "$(date +%s)" -lt "$deadline" ] || fatal "no upgrade slot free within ${TIMEOUT} s (${slots} in use by: $(cat "${SLOTS_DIR}"/*/node 2>/dev/null | tr '\n' ' '))"
        sleep 2
    done
}

free_slot() {
    local s
    for s in "${SLOTS_DIR}"/slot-*; do
        [ "$(cat "${s}/node" 2>/dev/null)" = "$1" ] && rm -rf "$s" && info "$1 freed its upgrade slot"
    done
    return 0
}

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
    take_slot "$node"
    info "draining ${node} (${have} -> ${NORDSTACK_K3S_VERSION})"
    kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout="${TIMEOUT}s" >&2 ||
        fatal "could not drain ${node} within ${TIMEOUT} s (a PodDisruptionBudget?); the upgrade stops before touching it"
}

ready() {
    local node=$1 deadline status=unknown have="" want=${NORDSTACK_K3S_VERSION:-}
    deadline=$(($(date +%s) + TIMEOUT))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        status=$(kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || echo absent)
        have=$(kubectl get node "$node" -o jsonpath='{.status.nodeInfo.kubeletVersion}' 2>/dev/null || true)
        [ "$status" = True ] && { [ -z "$want" ] || [ "$have" = "$want" ]; } && break
        sleep 3
    done
    [ "$status" = True ] ||
        fatal "node ${node} did not become Ready within ${TIMEOUT} s (Ready=${status:-absent}); check 'journalctl -u k3s' or 'journalctl -u k3s-agent' on ${node}"
    [ -z "$want" ] || [ "$have" = "$want" ] ||
        fatal "node ${node} is Ready but reports ${have:-no version}, not ${want}: the upgrade did not restart k3s on it"
    kubectl uncordon "$node" >&2
    free_slot "$node"
    info "${node} is Ready at ${have:-its version}"
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
