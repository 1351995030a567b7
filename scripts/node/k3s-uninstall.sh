#!/usr/bin/env bash
# nordstack k3s removal from one node: runs the uninstall script k3s installed
# (agent or server), then removes the files nordstack wrote. Idempotent.
set -euo pipefail

info() { echo "[k3s] $*" >&2; }

main() {
    local ran=none
    [ "$(id -u)" -eq 0 ] || {
        echo "[k3s] ERROR: must run as root" >&2
        exit 1
    }
    if [ -x /usr/local/bin/k3s-agent-uninstall.sh ]; then
        /usr/local/bin/k3s-agent-uninstall.sh >&2
        ran=k3s-agent-uninstall.sh
    elif [ -x /usr/local/bin/k3s-uninstall.sh ]; then
        /usr/local/bin/k3s-uninstall.sh >&2
        ran=k3s-uninstall.sh
    fi
    local f removed=0
    for f in /var/lib/nordstack/k3s-token /etc/rancher/k3s/config.yaml /etc/rancher/k3s/registries.yaml /var/lib/nordstack/airgap; do
        if [ -e "$f" ]; then
            rm -rf "$f"
            removed=$((removed + 1))
        fi
    done
    rmdir /etc/rancher/k3s /etc/rancher 2>/dev/null || true
    if [ "$ran" = none ] && [ "$removed" -eq 0 ]; then
        info "k3s is not installed; No change detected"
    else
        info "uninstalled (${ran}), removed ${removed} nordstack file(s)"
    fi
    printf '{"uninstaller":"%s","removedFiles":%s}\n' "$ran" "$removed"
}

main "$@" </dev/null
