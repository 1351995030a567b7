#!/usr/bin/env bash
# nordstack k3s install/upgrade on one node, with the official install script.
#
# The cluster token arrives on file descriptor $NORDSTACK_SECRET_FD (stdin of
# the SSH session), never in argv or the environment, and is kept in a
# root-only file that config.yaml points k3s at (token-file). The rest of that
# input, when not empty, is /etc/rancher/k3s/registries.yaml (image mirrors and
# their credentials), written root-only 0600; when empty, a registries.yaml
# nordstack wrote earlier is removed (one written by someone else is left alone).
#
# Idempotent: when the wanted version is installed and config and token are
# unchanged it prints "No change detected" and touches nothing.
#
# Environment:
#   NORDSTACK_K3S_VERSION             (required) e.g. v1.31.4+k3s1
#   NORDSTACK_K3S_ROLE                (required) server-init | server-join | agent
#   NORDSTACK_K3S_CONFIG              (required) content of /etc/rancher/k3s/config.yaml
#   NORDSTACK_K3S_SERVER_URL          https://<first server>:6443 (agents)
#   NORDSTACK_K3S_INSTALL_SCRIPT_URL  default https://get.k3s.io
#   NORDSTACK_K3S_DOWNLOAD_URL        release files base (the install script's GITHUB_URL),
#                                     default https://github.com/k3s-io/k3s/releases
#   NORDSTACK_K3S_AIRGAP              1: use the binary, images and install script
#                                     uploaded to /var/lib/nordstack/airgap
#   NORDSTACK_K3S_EXPECTED_MTU        overlay MTU flannel must choose (checked when systemd runs k3s)
#   NORDSTACK_SECRET_FD               descriptor the token is read from (default 0)
set -euo pipefail

STATE_DIR=/var/lib/nordstack
TOKEN_FILE="${STATE_DIR}/k3s-token"
CONFIG_DIR=/etc/rancher/k3s
CONFIG_FILE="${CONFIG_DIR}/config.yaml"
REGISTRIES_FILE="${CONFIG_DIR}/registries.yaml"
REGISTRIES_HEADER="# Managed by nordstack. Changes are overwritten by pulumi up."
AIRGAP_DIR="${STATE_DIR}/airgap"
K3S_BIN=/usr/local/bin/k3s

info() { echo "[k3s] $*" >&2; }
fatal() {
    echo "[k3s] ERROR: $*" >&2
    exit 1
}

# Writes stdin to $1 with mode $2 when the content differs; sets CHANGED=1.
install_secret_file() {
    local path=$1 mode=$2 tmp
    tmp=$(mktemp "${path}.XXXXXX")
    chmod "$mode" "$tmp"
    cat >"$tmp"
    if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
        rm -f "$tmp"
    else
        mv "$tmp" "$path"
        CHANGED=1
    fi
}

# k3s reads registries.yaml only at start: a change counts as CHANGED, so the install re-runs and restarts it.
install_registries() {
    if [ -n "$REGISTRIES" ]; then
        install_secret_file "$REGISTRIES_FILE" 0600 <<<"$REGISTRIES"
    elif [ -f "$REGISTRIES_FILE" ] && [ "$(head -n 1 "$REGISTRIES_FILE")" = "$REGISTRIES_HEADER" ]; then
        rm -f "$REGISTRIES_FILE"
        info "removed ${REGISTRIES_FILE} (no registry mirror configured any more)"
        CHANGED=1
    fi
}

installed_version() {
    [ -x "$K3S_BIN" ] || return 0
    "$K3S_BIN" --version 2>/dev/null | awk 'NR == 1 {print $3}'
}

verify_inputs() {
    [ "$(id -u)" -eq 0 ] || fatal "must run as root"
    [[ "${NORDSTACK_K3S_VERSION:-}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$ ]] ||
        fatal "NORDSTACK_K3S_VERSION must be a k3s release like v1.31.4+k3s1, got '${NORDSTACK_K3S_VERSION:-}'"
    case "${NORDSTACK_K3S_ROLE:-}" in
    server-init | server-join) SERVICE=k3s EXEC=server ;;
    agent) SERVICE=k3s-agent EXEC=agent ;;
    *) fatal "NORDSTACK_K3S_ROLE must be server-init, server-join or agent, got '${NORDSTACK_K3S_ROLE:-}'" ;;
    esac
    [ -n "${NORDSTACK_K3S_CONFIG:-}" ] || fatal "NORDSTACK_K3S_CONFIG (the node's config.yaml) is required"
    if [ "$EXEC" = agent ] && [ -z "${NORDSTACK_K3S_SERVER_URL:-}" ]; then
        fatal "NORDSTACK_K3S_SERVER_URL is required for agents"
    fi
    local fd=${NORDSTACK_SECRET_FD:-0}
    [[ "$fd" =~ ^[0-9]$ ]] || fatal "NORDSTACK_SECRET_FD must be a descriptor number"
    IFS= read -r TOKEN <&"$fd" || true
    [[ "${TOKEN:-}" =~ ^[A-Za-z0-9]{16,}$ ]] || fatal "no cluster token on descriptor ${fd} (expected 16+ letters and digits)"
    REGISTRIES=$(cat <&"$fd")
    if [ -n "$REGISTRIES" ] && [ "${REGISTRIES%%$'\n'*}" != "$REGISTRIES_HEADER" ]; then
        fatal "the registries.yaml after the token must start with '${REGISTRIES_HEADER}'"
    fi
    if [ "${NORDSTACK_K3S_AIRGAP:-0}" = 1 ]; then
        local f
        for f in k3s images.tar install.sh; do
            [ -s "${AIRGAP_DIR}/${f}" ] || fatal "air-gapped install: ${AIRGAP_DIR}/${f} is missing; upload it first"
        done
    fi
}

fetch_install_script() {
    if [ "${NORDSTACK_K3S_AIRGAP:-0}" = 1 ]; then
        INSTALL_SCRIPT="${AIRGAP_DIR}/install.sh"
        install -m 0755 "${AIRGAP_DIR}/k3s" "$K3S_BIN"
        mkdir -p /var/lib/rancher/k3s/agent/images
        cp "${AIRGAP_DIR}/images.tar" /var/lib/rancher/k3s/agent/images/k3s-airgap-images.tar
        return
    fi
    local url=${NORDSTACK_K3S_INSTALL_SCRIPT_URL:-https://get.k3s.io}
    command -v curl >/dev/null || fatal "curl is required to download ${url}; install it or use the air-gapped mode"
    INSTALL_SCRIPT=$(mktemp /tmp/k3s-install.XXXXXX)
    trap 'rm -f "$INSTALL_SCRIPT"' EXIT
    curl -sfL --retry 3 --connect-timeout 10 --max-time 120 -o "$INSTALL_SCRIPT" "$url" ||
        fatal "could not download the k3s install script from ${url}"
}

run_install() {
    # We only get here when something changed; the installer itself restarts k3s only when its binary,
    # unit or env file changed, not for config.yaml, the token or registries.yaml, which k3s reads at start.
    local env=(INSTALL_K3S_VERSION="$NORDSTACK_K3S_VERSION" INSTALL_K3S_EXEC="$EXEC" K3S_TOKEN_FILE="$TOKEN_FILE"
        INSTALL_K3S_FORCE_RESTART=true)
    [ "${NORDSTACK_K3S_AIRGAP:-0}" = 1 ] || env+=(GITHUB_URL="${NORDSTACK_K3S_DOWNLOAD_URL:-https://github.com/k3s-io/k3s/releases}")
    [ "$EXEC" = agent ] && env+=(K3S_URL="$NORDSTACK_K3S_SERVER_URL")
    [ "${NORDSTACK_K3S_AIRGAP:-0}" = 1 ] && env+=(INSTALL_K3S_SKIP_DOWNLOAD=true)
    info "installing k3s ${NORDSTACK_K3S_VERSION} (${EXEC})"
    env "${env[@]}" sh "$INSTALL_SCRIPT" >&2 || fatal "the k3s install script failed"
}

wait_service() {
    local i
    if [ ! -d /run/systemd/system ]; then
        info "no systemd here; not waiting for the ${SERVICE} service"
        return
    fi
    for i in $(seq 1 60); do
        systemctl is-active --quiet "$SERVICE" && break
        [ "$i" -lt 60 ] || fatal "${SERVICE} did not become active within 120 s; see journalctl -u ${SERVICE}"
        sleep 2
    done
    [ -n "${NORDSTACK_K3S_EXPECTED_MTU:-}" ] || return 0
    for i in $(seq 1 60); do
        [ -s /run/flannel/subnet.env ] && break
        [ "$i" -lt 60 ] || fatal "flannel wrote no /run/flannel/subnet.env within 120 s"
        sleep 2
    done
    local mtu
    mtu=$(sed -n 's/^FLANNEL_MTU=//p' /run/flannel/subnet.env)
    [ "$mtu" = "$NORDSTACK_K3S_EXPECTED_MTU" ] ||
        fatal "flannel chose overlay MTU ${mtu}, expected ${NORDSTACK_K3S_EXPECTED_MTU}: the interface MTU is not what preflight saw"
}

main() {
    local before
    CHANGED=0
    verify_inputs
    mkdir -p "$STATE_DIR" "$CONFIG_DIR"
    chmod 0755 "$STATE_DIR"
    # Here-strings, not pipes: a pipe would run install_secret_file in a subshell and lose CHANGED.
    install_secret_file "$TOKEN_FILE" 0600 <<<"$TOKEN"
    install_secret_file "$CONFIG_FILE" 0600 <<<"$NORDSTACK_K3S_CONFIG"
    install_registries
    before=$(installed_version)
    if [ "$before" = "$NORDSTACK_K3S_VERSION" ] && [ "$CHANGED" -eq 0 ]; then
        info "k3s ${before} already installed with this configuration; No change detected"
    else
        fetch_install_script
        run_install
        CHANGED=1
        [ "$(installed_version)" = "$NORDSTACK_K3S_VERSION" ] ||
            fatal "after install, k3s reports '$(installed_version)', not ${NORDSTACK_K3S_VERSION}"
    fi
    wait_service
    printf '{"changed":%s,"role":"%s","service":"%s","previousVersion":"%s","version":"%s"}\n' \
        "$([ "$CHANGED" -eq 1 ] && echo true || echo false)" "$NORDSTACK_K3S_ROLE" "$SERVICE" "$before" "$NORDSTACK_K3S_VERSION"
}

main "$@"
