#!/usr/bin/env bash
# nordstack hypervisor: create or delete one libvirt guest.
#
# create: a qcow2 copy-on-write overlay on the base image (virtual size
# NORDSTACK_DISK_GIB), a NoCloud seed ISO made with cloud-localds, the domain
# defined from the rendered XML, autostarted and started. Idempotent: a domain
# of the same name carrying the same nordstack spec hash is left alone.
# delete: destroys and undefines the domain, then removes exactly its disk and
# seed. Refuses any domain nordstack did not create (no nordstack metadata).
#
# The seed holds the guest's SSH host private key (user-data `ssh_keys`): it is
# made 0600 (libvirt hands it to QEMU's user at start), and user-data comes from
# a root-only file written from an SSH session's stdin, never from argv or env.
#
# Usage: guest.sh create|delete
# Environment (none of it secret; the guests' login private key never comes here):
#   NORDSTACK_LIBVIRT_URI     libvirt URI (e.g. qemu:///system)
#   NORDSTACK_GUEST           domain name
#   NORDSTACK_SPEC            spec hash, also in the domain metadata
#   NORDSTACK_STORAGE_DIR     directory for disk and seed
#   NORDSTACK_BASE_IMAGE      base image path (raw or qcow2)   (create only)
#   NORDSTACK_DISK            overlay path
#   NORDSTACK_DISK_GIB        overlay virtual size in GiB      (create only)
#   NORDSTACK_SEED            seed ISO path
#   NORDSTACK_DOMAIN_XML      domain XML                       (create only)
#   NORDSTACK_USER_DATA_FILE  root-only file with the user-data (a secret) (create only)
#   NORDSTACK_META_DATA, NORDSTACK_NETWORK_CONFIG  seed content      (create only)
set -euo pipefail

METADATA_NS="https://nordstack.dev/xmlns/libvirt-guest/1"

{
    info() { echo "[guest ${NORDSTACK_GUEST}] $*" >&2; }
    fatal() {
        echo "[guest ${NORDSTACK_GUEST}] ERROR: $*" >&2
        exit 1
    }

    vsh() { virsh -q -c "$NORDSTACK_LIBVIRT_URI" "$@"; }

    verify_tools() {
        local t
        for t in "$@"; do
            command -v "$t" >/dev/null || fatal "missing '$t' on the hypervisor; install libvirt-clients, qemu-utils and cloud-image-utils"
        done
    }

    domain_exists() { vsh dominfo "$NORDSTACK_GUEST" >/dev/null 2>&1; }

    # Prints the spec hash from the domain's nordstack metadata, or nothing for a foreign domain.
    domain_spec() {
        local xml
        # A foreign domain has no such metadata: virsh fails, and that is an answer, not an error.
        xml=$(vsh metadata "$NORDSTACK_GUEST" "$METADATA_NS" 2>/dev/null) || return 0
        printf '%s\n' "$xml" | sed -n 's:.*<nordstack\:spec>\([0-9a-f]*\)</nordstack\:spec>.*:\1:p;s:.*<spec>\([0-9a-f]*\)</spec>.*:\1:p' | head -n1
    }

    ensure_running() {
        if [ "$(vsh domstate "$NORDSTACK_GUEST")" != "running" ]; then
            info "starting"
            vsh start "$NORDSTACK_GUEST" >/dev/null
        fi
    }

    CREATED=()
    DEFINED=0
    DONE=0
    WORK=""
    # On any exit before the end of create (failed command or fatal), undo what this run made.
    on_exit() {
        local f
        [ -z "$WORK" ] || rm -rf -- "$WORK"
        [ "$DONE" -eq 0 ] || return 0
        [ "$DEFINED" -eq 1 ] || [ ${#CREATED[@]} -gt 0 ] || return 0
        echo "[guest ${NORDSTACK_GUEST}] create failed; removing what this run made" >&2
        if [ "$DEFINED" -eq 1 ]; then
            vsh destroy "$NORDSTACK_GUEST" >/dev/null 2>&1 || true
            vsh undefine "$NORDSTACK_GUEST" >/dev/null 2>&1 || true
        fi
        for f in "${CREATED[@]}"; do rm -f -- "$f"; done
    }

    cmd_create() {
        verify_tools virsh qemu-img cloud-localds
        local spec fmt
        if domain_exists; then
            spec=$(domain_spec)
            [ -n "$spec" ] || fatal "a domain named ${NORDSTACK_GUEST} exists and was not created by nordstack; refusing to touch it"
            [ "$spec" = "$NORDSTACK_SPEC" ] || fatal "domain ${NORDSTACK_GUEST} exists with spec ${spec}, want ${NORDSTACK_SPEC}; it must be deleted first"
            ensure_running
            info "No change detected"
            return
        fi
        local f
        for f in "$NORDSTACK_DISK" "$NORDSTACK_SEED"; do
            [ ! -e "$f" ] || fatal "${f} exists but no domain uses it; refusing to overwrite a file nordstack did not create in this run"
        done
        [ -f "$NORDSTACK_BASE_IMAGE" ] || fatal "base image ${NORDSTACK_BASE_IMAGE} not found on the hypervisor"
        [ -s "$NORDSTACK_USER_DATA_FILE" ] || fatal "user-data ${NORDSTACK_USER_DATA_FILE} not found on the hypervisor (written by the step before)"
        trap on_exit EXIT
        mkdir -p -- "$NORDSTACK_STORAGE_DIR"
        WORK=$(mktemp -d)
        fmt=$(qemu-img info --output=json -- "$NORDSTACK_BASE_IMAGE" | sed -n 's/^ *"format": *"\([a-z0-9]*\)".*/\1/p' | head -n1)
        [ -n "$fmt" ] || fatal "cannot read the format of ${NORDSTACK_BASE_IMAGE}"
        info "disk: ${NORDSTACK_DISK_GIB} GiB qcow2 overlay on ${NORDSTACK_BASE_IMAGE} (${fmt})"
        CREATED+=("$NORDSTACK_DISK")
        qemu-img create -q -f qcow2 -F "$fmt" -b "$NORDSTACK_BASE_IMAGE" -- "$NORDSTACK_DISK" "${NORDSTACK_DISK_GIB}G"
        cp -- "$NORDSTACK_USER_DATA_FILE" "${WORK}/user-data"
        printf '%s' "$NORDSTACK_META_DATA" >"${WORK}/meta-data"
        printf '%s' "$NORDSTACK_NETWORK_CONFIG" >"${WORK}/network-config"
        printf '%s' "$NORDSTACK_DOMAIN_XML" >"${WORK}/domain.xml"
        info "seed: ${NORDSTACK_SEED}"
        CREATED+=("$NORDSTACK_SEED")
        # The seed carries the host private key: never readable by others, not even for an instant.
        (umask 077 && cloud-localds -N "${WORK}/network-config" -- "$NORDSTACK_SEED" "${WORK}/user-data" "${WORK}/meta-data")
        DEFINED=1
        vsh define "${WORK}/domain.xml" >/dev/null
        vsh autostart "$NORDSTACK_GUEST" >/dev/null
        vsh start "$NORDSTACK_GUEST" >/dev/null
        DONE=1
        info "defined, autostarted and started"
    }

    cmd_delete() {
        verify_tools virsh
        local spec tries=60
        if domain_exists; then
            spec=$(domain_spec)
            [ -n "$spec" ] || fatal "domain ${NORDSTACK_GUEST} was not created by nordstack; refusing to delete it"
            if [ "$(vsh domstate "$NORDSTACK_GUEST")" != "shut off" ]; then
                vsh destroy "$NORDSTACK_GUEST" >/dev/null 2>&1 || true
            fi
            # destroy returns before QEMU has released the disk on a loaded host.
            until [ "$(vsh domstate "$NORDSTACK_GUEST")" = "shut off" ]; do
                tries=$((tries - 1))
                [ "$tries" -gt 0 ] || fatal "domain ${NORDSTACK_GUEST} did not stop"
                sleep 0.5
            done
            vsh undefine "$NORDSTACK_GUEST" >/dev/null
            info "destroyed and undefined"
        else
            info "no domain"
        fi
        rm -f -- "$NORDSTACK_DISK" "$NORDSTACK_SEED"
        info "removed ${NORDSTACK_DISK} and ${NORDSTACK_SEED}"
    }

    case "${1:-}" in
    create) cmd_create ;;
    delete) cmd_delete ;;
    *) fatal "usage: guest.sh create|delete" ;;
    esac
}
