#!/usr/bin/env bash
# nordstack hypervisor: download the base image the guests' overlays sit on,
# and verify it against its SHA512 before any guest may use it.
#
# Usage: base-image.sh create|delete
# create downloads NORDSTACK_BASE_URL to NORDSTACK_BASE_IMAGE unless it is
# already there (the file name carries the URL's hash), verifies the download
# against the expected SHA512 (given, or looked up in the published checksum
# file) and keeps the verified hash beside it (<image>.sha512). A present image
# is re-hashed against that record (or, without one, verified once and recorded):
# a file changed on disk under the guests' overlays is an error, never silently
# replaced. delete removes both files.
# Guests depend on this step, so their overlays are gone before it is deleted.
#
# Environment:
#   NORDSTACK_BASE_URL         image URL (https://, or http:// only with NORDSTACK_BASE_SHA512)
#   NORDSTACK_BASE_IMAGE       destination path on the hypervisor
#   NORDSTACK_BASE_SHA512      expected SHA512 (128 hex digits); optional
#   NORDSTACK_BASE_SHA512_URL  checksum file listing the image (SHA512SUMS: "<hash>  <name>"
#                              or "SHA512 (<name>) = <hash>"); used when NORDSTACK_BASE_SHA512 is empty
set -euo pipefail

{
    info() { echo "[base-image] $*" >&2; }
    fatal() {
        echo "[base-image] ERROR: $*" >&2
        exit 1
    }

    sha512_of() { sha512sum -- "$1" | cut -d' ' -f1; }

    # The expected hash: given, or the checksum file's line for the image's file name.
    expected_hash() {
        local name sums hash
        if [ -n "${NORDSTACK_BASE_SHA512:-}" ]; then
            printf '%s\n' "${NORDSTACK_BASE_SHA512,,}"
            return
        fi
        name="${NORDSTACK_BASE_URL%%[?#]*}"
        name="${name##*/}"
        sums="$(curl -fsSL --retry 3 --connect-timeout 20 --max-time 120 -- "$NORDSTACK_BASE_SHA512_URL")" ||
            fatal "cannot fetch the checksum file ${NORDSTACK_BASE_SHA512_URL}"
        hash="$(printf '%s\n' "$sums" | awk -v n="$name" '
            $1 == "SHA512" && $2 == "(" n ")" && $3 == "=" { print tolower($4); exit }
            NF == 2 && ($2 == n || $2 == "*" n) && $1 ~ /^[0-9A-Fa-f]+$/ { print tolower($1); exit }')"
        [ -n "$hash" ] || fatal "the checksum file ${NORDSTACK_BASE_SHA512_URL} lists no ${name}"
        printf '%s\n' "$hash"
    }

    cmd_create() {
        local tmp expected actual recorded
        case "$NORDSTACK_BASE_URL" in
        https://* | file://*) ;;
        http://*)
            [ -n "${NORDSTACK_BASE_SHA512:-}" ] ||
                fatal "refusing ${NORDSTACK_BASE_URL}: an http:// image needs NORDSTACK_BASE_SHA512 (anyone on the path can change it)"
            ;;
        *) fatal "NORDSTACK_BASE_URL must be an https:// URL, got ${NORDSTACK_BASE_URL}" ;;
        esac
        if [ -n "${NORDSTACK_BASE_SHA512:-}" ]; then
            [[ "$NORDSTACK_BASE_SHA512" =~ ^[0-9A-Fa-f]{128}$ ]] || fatal "NORDSTACK_BASE_SHA512 is not 128 hex digits"
        elif [ -z "${NORDSTACK_BASE_SHA512_URL:-}" ]; then
            fatal "no checksum for ${NORDSTACK_BASE_URL}: set NORDSTACK_BASE_SHA512 or NORDSTACK_BASE_SHA512_URL"
        fi
        command -v sha512sum >/dev/null || fatal "missing sha512sum on the hypervisor"

        if [ -s "$NORDSTACK_BASE_IMAGE" ]; then
            actual="$(sha512_of "$NORDSTACK_BASE_IMAGE")"
            if [ ! -s "${NORDSTACK_BASE_IMAGE}.sha512" ]; then
                # Downloaded before images were verified: verify it now, once.
                expected="$(expected_hash)"
                [ "$actual" = "$expected" ] ||
                    fatal "${NORDSTACK_BASE_IMAGE} (from ${NORDSTACK_BASE_URL}) does not match: expected sha512 ${expected}, actual ${actual}"
                printf '%s\n' "$actual" >"${NORDSTACK_BASE_IMAGE}.sha512"
            fi
            recorded="$(cat -- "${NORDSTACK_BASE_IMAGE}.sha512")"
            [ "$actual" = "$recorded" ] ||
                fatal "${NORDSTACK_BASE_IMAGE} changed on disk since it was verified: expected ${recorded}, actual ${actual}"
            if [ -n "${NORDSTACK_BASE_SHA512:-}" ] && [ "$recorded" != "${NORDSTACK_BASE_SHA512,,}" ]; then
                fatal "${NORDSTACK_BASE_IMAGE} holds another image: expected ${NORDSTACK_BASE_SHA512,,}, actual ${recorded}"
            fi
            info "No change detected: ${NORDSTACK_BASE_IMAGE} present, sha512 ${actual}"
            return
        fi
        command -v curl >/dev/null || fatal "missing curl on the hypervisor"
        expected="$(expected_hash)"
        mkdir -p -- "$(dirname -- "$NORDSTACK_BASE_IMAGE")"
        tmp="${NORDSTACK_BASE_IMAGE}.part"
        # Expanded at exit, when this function's locals are gone (set -u).
        trap 'rm -f -- "${NORDSTACK_BASE_IMAGE}.part"' EXIT
        info "downloading ${NORDSTACK_BASE_URL}"
        curl -fsSL --retry 3 --connect-timeout 20 --max-time 1500 -o "$tmp" -- "$NORDSTACK_BASE_URL"
        actual="$(sha512_of "$tmp")"
        [ "$actual" = "$expected" ] ||
            fatal "checksum mismatch for ${NORDSTACK_BASE_URL}: expected sha512 ${expected}, actual ${actual}; the download was deleted"
        printf '%s\n' "$actual" >"${NORDSTACK_BASE_IMAGE}.sha512"
        mv -- "$tmp" "$NORDSTACK_BASE_IMAGE"
        info "saved ${NORDSTACK_BASE_IMAGE}, sha512 ${actual} verified"
    }

    case "${1:-}" in
    create) cmd_create ;;
    delete) rm -f -- "$NORDSTACK_BASE_IMAGE" "${NORDSTACK_BASE_IMAGE}.part" "${NORDSTACK_BASE_IMAGE}.sha512" ;;
    *) fatal "usage: base-image.sh create|delete" ;;
    esac
}
