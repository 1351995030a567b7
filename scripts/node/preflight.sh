#!/usr/bin/env bash
# nordstack preflight: checks that a node can carry the platform before
# anything is installed on it. Changes nothing on the host, except loading the
# kernel modules it is asked to check (k3s would load them anyway).
#
# Prints one JSON object on stdout; human-readable findings go to stderr.
# Exits 1 when the node must not be used, naming every reason.
#
# Environment:
#   NORDSTACK_PRIVATE_ADDRESS    (required) the node's address on the private network
#   NORDSTACK_PRIVATE_INTERFACE  interface expected to hold that address (found when empty)
#   NORDSTACK_EXPECTED_MTU       MTU the private network must have (not checked when empty)
#   NORDSTACK_REQUIRED_MODULES   space-separated kernel modules that must load
#   NORDSTACK_ALLOW_VIRT         space-separated virtualization types accepted besides kvm/none
#   NORDSTACK_REQUIRED_MILLICPU  this node's share of the platform's CPU requests (not checked when empty)
#   NORDSTACK_REQUIRED_MEMORY_MIB  its share of the memory requests, MiB (not checked when empty)
#   NORDSTACK_REQUIRED_CPU_DETAIL, NORDSTACK_REQUIRED_MEMORY_DETAIL  how each share adds up (for the message)
set -euo pipefail

PROBLEMS=()
WARNINGS=()

info() { echo "[preflight] $*" >&2; }
problem() {
    PROBLEMS+=("$*")
    echo "[preflight] FAIL: $*" >&2
}
warn() {
    WARNINGS+=("$*")
    echo "[preflight] WARN: $*" >&2
}

json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/ }
    s=${s//$'\t'/ }
    printf '"%s"' "$s"
}

json_list() {
    local first=1 item
    printf '['
    for item in "$@"; do
        [ $first -eq 1 ] || printf ','
        first=0
        json_str "$item"
    done
    printf ']'
}

# systemd-detect-virt when present; otherwise the same evidence it reads.
detect_virt() {
    local v
    if command -v systemd-detect-virt >/dev/null 2>&1; then
        v=$(systemd-detect-virt 2>/dev/null || true)
        echo "${v:-none}"
        return
    fi
    if [ -d /proc/vz ] && [ ! -d /proc/bc ]; then echo openvz; return; fi
    if grep -qa 'container=lxc' /proc/1/environ 2>/dev/null; then echo lxc; return; fi
    if [ -f /.dockerenv ]; then echo docker; return; fi
    if grep -qai 'kvm' /sys/class/dmi/id/sys_vendor /sys/class/dmi/id/product_name 2>/dev/null; then echo kvm; return; fi
    if grep -qai 'qemu' /sys/class/dmi/id/sys_vendor 2>/dev/null; then echo qemu; return; fi
    if grep -q '^flags.* hypervisor' /proc/cpuinfo 2>/dev/null; then echo vm-other; return; fi
    echo none
}

check_virt() {
    local virt=$1 allowed
    for allowed in ${NORDSTACK_ALLOW_VIRT:-}; do
        if [ "$virt" = "$allowed" ]; then
            warn "virtualization '${virt}' accepted only because allowVirtualization lists it"
            return
        fi
    done
    case "$virt" in
    kvm | none) ;;
    qemu) warn "virtualization 'qemu' is software emulation: correct, but far from line speed" ;;
    openvz | lxc | lxc-libvirt | docker | podman | rkt | systemd-nspawn | wsl | proot | pouch | container-other)
        problem "virtualization '${virt}' is container virtualization: the kernel is shared with other tenants, so \
neighbours cause unpredictable jitter, and k3s cannot load its own modules or set its own sysctls there; \
use a KVM VPS (or list '${virt}' in allowVirtualization if you accept that)" ;;
    *) problem "virtualization '${virt}' is not KVM; nordstack targets KVM VPS nodes (list '${virt}' in allowVirtualization to accept it)" ;;
    esac
}

check_kernel() {
    local rel=$1 major minor
    major=${rel%%.*}
    minor=${rel#*.}
    minor=${minor%%.*}
    if ! [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]]; then
        warn "cannot read kernel version '${rel}'"
    elif [ "$major" -lt 4 ] || { [ "$major" -eq 4 ] && [ "$minor" -lt 15 ]; }; then
        problem "kernel ${rel} is older than 4.15, which k3s and flannel need (OpenVZ hosts often run 2.6/3.10 kernels)"
    fi
}

# Sets IFACE and MTU for the interface holding the private address.
find_private_interface() {
    local addr=$1 want=${NORDSTACK_PRIVATE_INTERFACE:-}
    IFACE=$(ip -o addr show to "$addr" 2>/dev/null | awk '{print $2; exit}')
    if [ -z "$IFACE" ]; then
        problem "private address ${addr} is on no interface of this host; check privateAddress in the node's config"
        IFACE=${want}
    elif [ -n "$want" ] && [ "$want" != "$IFACE" ]; then
        problem "private address ${addr} is on '${IFACE}', not on privateInterface '${want}'; fix privateInterface"
    fi
    MTU=0
    if [ -n "$IFACE" ] && [ -r "/sys/class/net/${IFACE}/mtu" ]; then
        MTU=$(cat "/sys/class/net/${IFACE}/mtu")
    fi
    SPEED=$(cat "/sys/class/net/${IFACE}/speed" 2>/dev/null || echo -1)
    [[ "$SPEED" =~ ^[0-9]+$ ]] || SPEED=-1
}

check_mtu() {
    local expected=${NORDSTACK_EXPECTED_MTU:-}
    if [ -n "$expected" ] && [ "$MTU" -ne 0 ] && [ "$MTU" -ne "$expected" ]; then
        problem "MTU of ${IFACE} is ${MTU} but the stack's mtu is ${expected}; a mismatched MTU fragments packets \
and causes random timeouts: set mtu to ${MTU} or fix the interface"
    fi
}

module_available() {
    local m=$1
    [ -d "/sys/module/${m}" ] && return 0
    command -v modprobe >/dev/null 2>&1 && modprobe -q "$m" 2>/dev/null && [ -d "/sys/module/${m}" ] && return 0
    [ "$m" = overlay ] && grep -qw overlay /proc/filesystems 2>/dev/null && return 0
    return 1
}

check_modules() {
    local m
    MODULES_OK=()
    MODULES_MISSING=()
    for m in ${NORDSTACK_REQUIRED_MODULES:-}; do
        if module_available "$m"; then MODULES_OK+=("$m"); else MODULES_MISSING+=("$m"); fi
    done
    if [ ${#MODULES_MISSING[@]} -gt 0 ]; then
        problem "kernel module(s) ${MODULES_MISSING[*]} cannot be loaded; k3s needs them (a container VPS cannot load modules)"
    fi
}

# Sets CPUS (online CPUs this process may use) and MEMORY_MIB (MemTotal).
read_capacity() {
    local kb
    CPUS=$(nproc 2>/dev/null || echo 0)
    kb=$(awk '/^MemTotal:/ {print $2; exit}' /proc/meminfo 2>/dev/null || true)
    [[ "$kb" =~ ^[0-9]+$ ]] || kb=0
    MEMORY_MIB=$((kb / 1024))
}

check_capacity() {
    local cpu=${NORDSTACK_REQUIRED_MILLICPU:-} mem=${NORDSTACK_REQUIRED_MEMORY_MIB:-}
    local cpu_detail=${NORDSTACK_REQUIRED_CPU_DETAIL:-} mem_detail=${NORDSTACK_REQUIRED_MEMORY_DETAIL:-}
    if [ -n "$cpu" ]; then
        if ! [[ "$cpu" =~ ^[0-9]+$ ]]; then
            problem "NORDSTACK_REQUIRED_MILLICPU '${cpu}' is not a number of millicores"
        elif [ $((CPUS * 1000)) -lt "$cpu" ]; then
            problem "${CPUS} CPUs ($((CPUS * 1000))m) but this node's share of the platform's requests is ${cpu}m\
${cpu_detail:+ (${cpu_detail})}; add a CPU or a node"
        fi
    fi
    if [ -n "$mem" ]; then
        if ! [[ "$mem" =~ ^[0-9]+$ ]]; then
            problem "NORDSTACK_REQUIRED_MEMORY_MIB '${mem}' is not a number of MiB"
        elif [ "$MEMORY_MIB" -lt "$mem" ]; then
            problem "${MEMORY_MIB} MiB of memory but this node's share of the platform's requests is ${mem} MiB\
${mem_detail:+ (${mem_detail})}; add memory or a node"
        fi
    fi
}

main() {
    local addr=${NORDSTACK_PRIVATE_ADDRESS:-} os_id os_version arch kernel virt time_sync
    [ -n "$addr" ] || {
        echo "[preflight] ERROR: NORDSTACK_PRIVATE_ADDRESS is required" >&2
        exit 2
    }
    os_id=unknown os_version=unknown
    if [ -r /etc/os-release ]; then
        # shellcheck disable=SC1091
        os_id=$(. /etc/os-release && echo "${ID:-unknown}")
        # shellcheck disable=SC1091
        os_version=$(. /etc/os-release && echo "${VERSION_ID:-unknown}")
    fi
    arch=$(uname -m)
    case "$arch" in x86_64 | aarch64) ;; *) problem "architecture ${arch} is not supported (x86_64 or aarch64)" ;; esac
    kernel=$(uname -r)
    check_kernel "$kernel"
    virt=$(detect_virt)
    check_virt "$virt"
    find_private_interface "$addr"
    check_mtu
    check_modules
    read_capacity
    check_capacity
    time_sync=unknown
    if command -v timedatectl >/dev/null 2>&1; then
        time_sync=$(timedatectl show -p NTPSynchronized --value 2>/dev/null || echo unknown)
        [ "$time_sync" != no ] || warn "clock is not NTP-synchronized; etcd and TLS need synchronized clocks"
    fi
    info "${os_id} ${os_version} ${arch}, kernel ${kernel}, virtualization ${virt}, ${IFACE:-?} mtu ${MTU}, ${CPUS} CPUs, ${MEMORY_MIB} MiB"

    printf '{"hostname":%s,"os":%s,"osVersion":%s,"arch":%s,"kernel":%s,"virtualization":%s,' \
        "$(json_str "$(hostname)")" "$(json_str "$os_id")" "$(json_str "$os_version")" "$(json_str "$arch")" \
        "$(json_str "$kernel")" "$(json_str "$virt")"
    printf '"privateInterface":%s,"mtu":%s,"linkSpeedMbps":%s,"timeSync":%s,"cpus":%s,"memoryMiB":%s,' \
        "$(json_str "${IFACE:-}")" "$MTU" "$SPEED" "$(json_str "$time_sync")" "$CPUS" "$MEMORY_MIB"
    printf '"modules":{"loaded":%s,"missing":%s},"warnings":%s,"problems":%s,"ok":%s}\n' \
        "$(json_list "${MODULES_OK[@]}")" "$(json_list "${MODULES_MISSING[@]}")" \
        "$(json_list "${WARNINGS[@]}")" "$(json_list "${PROBLEMS[@]}")" \
        "$([ ${#PROBLEMS[@]} -eq 0 ] && echo true || echo false)"

    if [ ${#PROBLEMS[@]} -gt 0 ]; then
        echo "[preflight] node $(hostname) refused: ${#PROBLEMS[@]} problem(s) above" >&2
        exit 1
    fi
}

main "$@" </dev/null
