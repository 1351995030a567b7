#!/usr/bin/env bash
# nordstack hypervisor: wait (bounded) until a guest's sshd answers with its
# banner on port 22, checked from the hypervisor, which is on the guest's
# network. Fails early when the domain stops running.
#
# Environment:
#   NORDSTACK_LIBVIRT_URI    libvirt URI
#   NORDSTACK_GUEST          domain name
#   NORDSTACK_GUEST_ADDRESS  guest address
#   NORDSTACK_WAIT_SECONDS   upper bound (default 300)
set -euo pipefail

{
    info() { echo "[wait-ssh ${NORDSTACK_GUEST}] $*" >&2; }
    fatal() {
        echo "[wait-ssh ${NORDSTACK_GUEST}] ERROR: $*" >&2
        exit 1
    }

    banner() {
        # shellcheck disable=SC2016 # expanded by the inner bash
        timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/22" && head -c 7 <&3' wait-ssh "$NORDSTACK_GUEST_ADDRESS" 2>/dev/null || true
    }

    main() {
        local deadline state
        deadline=$((SECONDS + ${NORDSTACK_WAIT_SECONDS:-300}))
        while :; do
            state=$(virsh -q -c "$NORDSTACK_LIBVIRT_URI" domstate "$NORDSTACK_GUEST" 2>/dev/null || echo missing)
            [ "$state" = "running" ] || fatal "domain is ${state}, not running"
            [ "$(banner)" != "SSH-2.0" ] || break
            [ "$SECONDS" -lt "$deadline" ] || fatal "no SSH on ${NORDSTACK_GUEST_ADDRESS}:22 after ${NORDSTACK_WAIT_SECONDS:-300} s"
            sleep 1
        done
        info "SSH answers on ${NORDSTACK_GUEST_ADDRESS}:22 after ${SECONDS} s"
    }

    main
}
