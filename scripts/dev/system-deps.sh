#!/usr/bin/env bash
# The Debian packages the test suite runs for real: sshd for the lab hosts,
# iproute2/util-linux for namespaces, iperf3/ping for network checks, nftables
# for the node firewall (per lab namespace), nginx,
# PostgreSQL and Redis running the rendered configs, pgBackRest and rclone
# backing them up (to the S3 server scripts/s3-server/install.sh builds), wrk
# and HAProxy for the gateway benchmark, etcd for the test API server
# (test/helpers/kube-apiserver.ts), and the shell linter.
#
#   system-deps.sh --check    exit 1 listing what is missing
#   system-deps.sh --install  install what is missing (root, apt)
set -euo pipefail

# command -> Debian package
DEPS=(
    "sshd:openssh-server"
    "ssh:openssh-client"
    "ssh-keygen:openssh-client"
    "ip:iproute2"
    "unshare:util-linux"
    "nsenter:util-linux"
    "ping:iputils-ping"
    "tracepath:iputils-tracepath"
    "iperf3:iperf3"
    "sysctl:procps"
    "nft:nftables"
    "flock:util-linux"
    "shellcheck:shellcheck"
    "openssl:openssl"
    "nginx:nginx"
    "redis-server:redis-server"
    "redis-cli:redis-tools"
    "pg_ctlcluster:postgresql"
    "pgbackrest:pgbackrest"
    "rclone:rclone"
    "curl:curl"
    "sudo:sudo"
    "wrk:wrk"
    "haproxy:haproxy"
    "virsh:libvirt-clients"
    "libvirtd:libvirt-daemon-system"
    "virt-qemu-run:libvirt-daemon-driver-qemu"
    "qemu-system-x86_64:qemu-system-x86"
    "qemu-img:qemu-utils"
    "cloud-localds:cloud-image-utils"
    "mmdebstrap:mmdebstrap"
    "linux-version:linux-image-amd64"
    "etcd:etcd-server"
)

missing_packages() {
    local dep cmd pkg
    for dep in "${DEPS[@]}"; do
        cmd=${dep%%:*}
        pkg=${dep#*:}
        if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then echo "$pkg"; fi
    done | sort -u
}

main() {
    local missing
    missing=$(missing_packages | tr '\n' ' ')
    case "${1:---check}" in
    --check)
        if [ -n "${missing// /}" ]; then
            echo "missing Debian packages: ${missing}" >&2
            echo "install them with: sudo bash scripts/dev/system-deps.sh --install" >&2
            exit 1
        fi
        ;;
    --install)
        [ -n "${missing// /}" ] || return 0
        [ "$(id -u)" -eq 0 ] || {
            echo "installing ${missing}needs root: sudo bash scripts/dev/system-deps.sh --install" >&2
            exit 1
        }
        echo "[deps] installing: ${missing}" >&2
        apt-get update -qq
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
        ;;
    *)
        echo "usage: system-deps.sh --check|--install" >&2
        exit 2
        ;;
    esac
}

main "$@"
