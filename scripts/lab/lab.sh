#!/usr/bin/env bash
# nordstack lab: local test hosts made of network namespaces on one bridge.
#
# Each host gets its own network namespace (veth on a shared bridge), its own
# UTS namespace (hostname) and mount namespace with private copies of the
# directories node scripts write, and its own sshd with a throwaway key. So a
# script "run on node1" really changes only node1, as on separate machines.
# Kernel-global sysctls (fs.file-max, vm.*) are still shared with this machine:
# tests that write them restore the machine's value.
#
# Usage (as root):
#   lab.sh up [N]        create N hosts (default 3); prints the inventory JSON
#   lab.sh down          remove every host, the bridge and the state (idempotent)
#   lab.sh status        print the inventory JSON of running hosts
#   lab.sh ssh NAME CMD  run CMD on host NAME with the lab key
#
# Environment:
#   NORDSTACK_LAB_DIR     state directory (default /tmp/nordstack-lab)
#   NORDSTACK_LAB_SUBNET  first three octets of the lab /24 (default 10.199.0)
#   NORDSTACK_LAB_MTU     MTU of bridge and veths (default 1500)
#   NORDSTACK_LAB_PREFIX  name prefix for namespaces and links (default nlab)
set -euo pipefail

LAB_DIR=${NORDSTACK_LAB_DIR:-/tmp/nordstack-lab}
SUBNET=${NORDSTACK_LAB_SUBNET:-10.199.0}
MTU=${NORDSTACK_LAB_MTU:-1500}
PREFIX=${NORDSTACK_LAB_PREFIX:-nlab}
BRIDGE="${PREFIX}-br"
GATEWAY="${SUBNET}.1"
# Directories that node scripts write; each host gets its own copy.
PRIVATE_DIRS=(/etc/sysctl.d /etc/security/limits.d /etc/systemd/system.conf.d /var/lib/nordstack /usr/local/sbin)
# Directories each host gets empty, as on a fresh VPS (k3s installs here).
EMPTY_DIRS=(/usr/local/bin /etc/rancher /var/lib/rancher /run/nordstack)
# Mount points this tool had to create on the machine, shared by all labs
# (several may run at once): removed when the last lab goes down.
REGISTRY=/run/nordstack-labs

info() { echo "[lab] $*" >&2; }
fatal() {
    echo "[lab] ERROR: $*" >&2
    exit 1
}

verify_tools() {
    [ "$(id -u)" -eq 0 ] || fatal "must run as root (network namespaces need it)"
    local t
    for t in ip unshare ssh ssh-keygen nsenter; do
        command -v "$t" >/dev/null || fatal "missing '$t'; install iproute2, util-linux and openssh-client"
    done
    [ -x /usr/sbin/sshd ] || fatal "missing /usr/sbin/sshd; install openssh-server"
}

host_name() { echo "node$1"; }
host_addr() { echo "${SUBNET}.$((10 + $1))"; }

ssh_opts() {
    echo "-i ${LAB_DIR}/id_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=3"
}

write_sshd_config() {
    local name=$1 addr=$2 hdir="${LAB_DIR}/hosts/$1"
    cat >"${hdir}/sshd_config" <<EOF
ListenAddress ${addr}
Port 22
HostKey ${hdir}/ssh_host_ed25519_key
PidFile ${hdir}/sshd.pid
AuthorizedKeysFile ${LAB_DIR}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
LogLevel ERROR
EOF
}

# Runs inside the host's fresh mount+UTS namespace: hostname, private dirs, then sshd.
host_init_script() {
    local name=$1 hdir="${LAB_DIR}/hosts/$1" d
    printf 'set -e\nhostname %q\n' "$name"
    for d in "${PRIVATE_DIRS[@]}" "${EMPTY_DIRS[@]}"; do
        printf 'mount --bind %q %q\n' "${hdir}/root${d}" "$d"
    done
    # Its own /etc/hosts naming itself, as a real VPS has: sudo resolves the host name on every call.
    printf 'mount --bind %q /etc/hosts\n' "${hdir}/hosts"
    printf 'exec /usr/sbin/sshd -D -f %q -E %q\n' "${hdir}/sshd_config" "${hdir}/sshd.log"
}

create_host() {
    local i=$1 name addr ns veth hdir d
    name=$(host_name "$i")
    addr=$(host_addr "$i")
    ns="${PREFIX}-${name}"
    veth="${PREFIX}-v${i}"
    hdir="${LAB_DIR}/hosts/${name}"
    mkdir -p "$hdir"
    { cat /etc/hosts; printf '%s %s\n' "$addr" "$name"; } >"${hdir}/hosts"
    for d in "${PRIVATE_DIRS[@]}" "${EMPTY_DIRS[@]}"; do
        if [ ! -d "$d" ]; then
            mkdir -p "$d"
            echo "$d" >>"${REGISTRY}/created-mountpoints"
        fi
        mkdir -p "${hdir}/root${d}"
    done
    for d in "${PRIVATE_DIRS[@]}"; do cp -a "${d}/." "${hdir}/root${d}/"; done
    ssh-keygen -q -t ed25519 -N "" -C "$name" -f "${hdir}/ssh_host_ed25519_key"
    write_sshd_config "$name" "$addr"
    host_init_script "$name" >"${hdir}/init.sh"

    ip netns add "$ns"
    ip link add "$veth" mtu "$MTU" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$BRIDGE" up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 mtu "$MTU" up
    ip -n "$ns" addr add "${addr}/24" dev eth0
    ip -n "$ns" route add default via "$GATEWAY"

    # setsid + nohup: sshd must outlive this script; its pid is the one we kill on down.
    setsid nohup ip netns exec "$ns" unshare --mount --uts --propagation private \
        bash "${hdir}/init.sh" >"${hdir}/console.log" 2>&1 </dev/null &
    echo $! >"${hdir}/pid"
    printf '%s %s %s\n' "$name" "$addr" "$ns" >>"${LAB_DIR}/hosts.txt"
}

wait_ssh() {
    local name=$1 addr=$2 tries=50
    # shellcheck disable=SC2046
    until ssh $(ssh_opts) "root@${addr}" true 2>/dev/null; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || fatal "sshd on ${name} (${addr}) did not answer; see ${LAB_DIR}/hosts/${name}/sshd.log"
        sleep 0.1
    done
}

inventory() {
    local first=1 name addr ns
    printf '{"keyPath":"%s","user":"root","hosts":[' "${LAB_DIR}/id_ed25519"
    [ -f "${LAB_DIR}/hosts.txt" ] && while read -r name addr ns; do
        [ $first -eq 1 ] || printf ','
        first=0
        printf '{"name":"%s","address":"%s","netns":"%s","hostKey":"%s"}' \
            "$name" "$addr" "$ns" "$(cut -d' ' -f1,2 "${LAB_DIR}/hosts/${name}/ssh_host_ed25519_key.pub")"
    done <"${LAB_DIR}/hosts.txt"
    printf ']}\n'
}

# Lab hosts share this machine's kernel: `sysctl --system` inside one applies
# every file in /etc/sysctl.d to kernel-global keys (kernel.pid_max,
# fs.protected_*, fs.file-max, vm.*). The first lab up records the machine's
# values of every key those files and our tuning name; the last lab down puts
# back each one that changed.
SNAPSHOT="${REGISTRY}/sysctl-snapshot"
GLOBAL_KEYS=(fs.file-max fs.nr_open fs.protected_fifos fs.protected_hardlinks fs.protected_regular fs.protected_symlinks
    kernel.pid_max kernel.kptr_restrict kernel.sysrq kernel.yama.ptrace_scope vm.swappiness vm.max_map_count vm.overcommit_memory)

sysctl_keys() {
    {
        printf '%s\n' "${GLOBAL_KEYS[@]}"
        cat /etc/sysctl.conf /etc/sysctl.d/*.conf /run/sysctl.d/*.conf /usr/local/lib/sysctl.d/*.conf \
            /usr/lib/sysctl.d/*.conf /lib/sysctl.d/*.conf 2>/dev/null |
            sed -n 's/^[[:space:]]*-\{0,1\}\([a-z0-9_][a-z0-9_.-]*\)[[:space:]]*=.*/\1/p'
    } | sort -u
}

snapshot_sysctls() {
    local k v
    : >"${SNAPSHOT}.new"
    for k in $(sysctl_keys); do
        v=$(sysctl -n "$k" 2>/dev/null) || continue
        printf '%s\t%s\n' "$k" "$v" >>"${SNAPSHOT}.new"
    done
    mv "${SNAPSHOT}.new" "$SNAPSHOT"
}

restore_sysctls() {
    local k v now restored=0
    [ -f "$SNAPSHOT" ] || return 0
    while IFS=$'\t' read -r k v; do
        now=$(sysctl -n "$k" 2>/dev/null) || continue
        if [ "$now" != "$v" ]; then
            sysctl -qw "${k}=${v}" 2>/dev/null && restored=$((restored + 1)) && info "restored ${k} = ${v} (a test had set ${now})"
        fi
    done <"$SNAPSHOT"
    rm -f "$SNAPSHOT"
    [ "$restored" -eq 0 ] || info "restored ${restored} kernel-global sysctl(s) of this machine"
}

cmd_up() {
    local n=${1:-3} i
    [[ "$n" =~ ^[1-9][0-9]?$ ]] || fatal "host count must be 1-99, got '$n'"
    verify_tools
    [ ! -e "${LAB_DIR}/hosts.txt" ] || fatal "a lab is already up in ${LAB_DIR}; run 'lab.sh down' first"
    trap 'echo "[lab] set-up failed; cleaning up" >&2; cmd_down' ERR
    mkdir -p "$LAB_DIR" /run/sshd "$REGISTRY"
    compgen -G "${REGISTRY}/lab-*" >/dev/null || snapshot_sysctls
    touch "${REGISTRY}/lab-${PREFIX}"
    # Traversable, so sshd can read authorized_keys as a non-root test user (the private key stays 0600).
    chmod 711 "$LAB_DIR"
    ssh-keygen -q -t ed25519 -N "" -C nordstack-lab -f "${LAB_DIR}/id_ed25519"
    cp "${LAB_DIR}/id_ed25519.pub" "${LAB_DIR}/authorized_keys"
    chmod 644 "${LAB_DIR}/authorized_keys"
    : >"${LAB_DIR}/hosts.txt"
    ip link add "$BRIDGE" mtu "$MTU" type bridge
    ip addr add "${GATEWAY}/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    for ((i = 1; i <= n; i++)); do create_host "$i"; done
    for ((i = 1; i <= n; i++)); do wait_ssh "$(host_name "$i")" "$(host_addr "$i")"; done
    trap - ERR
    info "${n} host(s) up on ${SUBNET}.0/24"
    inventory
}

kill_pid() {
    local pid=$1 tries=20
    kill "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && [ $tries -gt 0 ]; do
        sleep 0.05
        tries=$((tries - 1))
    done
    kill -9 "$pid" 2>/dev/null || true
}

cmd_down() {
    local f ns d
    [ "$(id -u)" -eq 0 ] || fatal "must run as root"
    # Order matters: sshd, root-side veth, namespace, bridge; else a veth lingers.
    for f in "${LAB_DIR}"/hosts/*/pid "${LAB_DIR}"/hosts/*/sshd.pid; do
        if [ -f "$f" ]; then kill_pid "$(cat "$f")"; fi
    done
    { ip -o link show 2>/dev/null || true; } | awk -F': ' '{print $2}' | cut -d@ -f1 | { grep "^${PREFIX}-v" || true; } |
        while read -r f; do ip link del "$f" 2>/dev/null || true; done
    { ip netns list 2>/dev/null || true; } | awk '{print $1}' | { grep "^${PREFIX}-" || true; } |
        while read -r ns; do
            ip netns pids "$ns" 2>/dev/null | while read -r f; do kill_pid "$f"; done
            ip netns del "$ns" 2>/dev/null || true
        done
    ip link del "$BRIDGE" 2>/dev/null || true
    rm -f "${REGISTRY}/lab-${PREFIX}"
    compgen -G "${REGISTRY}/lab-*" >/dev/null || restore_sysctls
    if [ -f "${REGISTRY}/created-mountpoints" ] && ! compgen -G "${REGISTRY}/lab-*" >/dev/null; then
        sort -ru "${REGISTRY}/created-mountpoints" | while read -r d; do rmdir "$d" 2>/dev/null || true; done
        rm -f "${REGISTRY}/created-mountpoints"
    fi
    rm -rf "$LAB_DIR"
    info "lab removed"
}

cmd_ssh() {
    local name=${1:?host name} addr
    shift
    addr=$(awk -v n="$name" '$1 == n {print $2}' "${LAB_DIR}/hosts.txt" 2>/dev/null)
    [ -n "$addr" ] || fatal "no lab host named '${name}'; run 'lab.sh status'"
    # shellcheck disable=SC2046
    exec ssh $(ssh_opts) "root@${addr}" "$@"
}

main() {
    local cmd=${1:-}
    shift || true
    case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    status) inventory ;;
    ssh) cmd_ssh "$@" ;;
    *) fatal "usage: lab.sh up [N] | down | status | ssh NAME CMD" ;;
    esac
}

main "$@"
