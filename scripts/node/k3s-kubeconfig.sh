#!/usr/bin/env bash
# Prints the admin kubeconfig k3s wrote on this server (bounded wait for it).
set -euo pipefail

main() {
    local f=/etc/rancher/k3s/k3s.yaml i
    for i in $(seq 1 60); do
        [ -s "$f" ] && break
        [ "$i" -lt 60 ] || {
            echo "[k3s] ERROR: ${f} did not appear within 120 s; is k3s running on this server?" >&2
            exit 1
        }
        sleep 2
    done
    cat "$f"
}

main "$@" </dev/null
