#!/usr/bin/env bash
# nordstack hypervisor: download the base image the guests' overlays sit on.
#
# Usage: base-image.sh create|delete
# create downloads NORDSTACK_BASE_URL to NORDSTACK_BASE_IMAGE unless it is
# already there (the file name carries the URL's hash); delete removes it.
# Guests depend on this step, so their overlays are gone before it is deleted.
#
# Environment:
#   NORDSTACK_BASE_URL    image URL (https)
#   NORDSTACK_BASE_IMAGE  destination path on the hypervisor
set -euo pipefail

{
    info() { echo "[base-image] $*" >&2; }
    fatal() {
        echo "[base-image] ERROR: $*" >&2
        exit 1
    }

    cmd_create() {
        local tmp
        if [ -s "$NORDSTACK_BASE_IMAGE" ]; then
            info "No change detected: ${NORDSTACK_BASE_IMAGE} present"
            return
        fi
        command -v curl >/dev/null || fatal "missing curl on the hypervisor"
        mkdir -p -- "$(dirname -- "$NORDSTACK_BASE_IMAGE")"
        tmp="${NORDSTACK_BASE_IMAGE}.part"
        trap 'rm -f -- "$tmp"' EXIT
        info "downloading ${NORDSTACK_BASE_URL}"
        curl -fsSL --retry 3 --connect-timeout 20 --max-time 1500 -o "$tmp" -- "$NORDSTACK_BASE_URL"
        mv -- "$tmp" "$NORDSTACK_BASE_IMAGE"
        info "saved ${NORDSTACK_BASE_IMAGE}"
    }

    case "${1:-}" in
    create) cmd_create ;;
    delete) rm -f -- "$NORDSTACK_BASE_IMAGE" "${NORDSTACK_BASE_IMAGE}.part" ;;
    *) fatal "usage: base-image.sh create|delete" ;;
    esac
}
