#!/usr/bin/env bash
# nordstack k3s on one node, with the official install script.
#
#   k3s-install.sh install     install, upgrade or reconfigure k3s (idempotent)
#   k3s-install.sh uninstall   run k3s's own uninstaller, remove what nordstack wrote
#
# The cluster token is never an input of this script: a separate step writes it
# from the SSH session's stdin into the root-only $TOKEN_FILE, and config.yaml
# points k3s at it (token-file). Likewise /etc/rancher/k3s/registries.yaml
# (image mirrors and their credentials) is written by its own step when a
# registry mirror is configured; this script only checks it is there and, when
# no mirror is configured any more, removes the one nordstack wrote (a
# registries.yaml written by someone else is left alone).
#
# The official installer restarts k3s only when the binary, the unit file or
# its env file change, never for config.yaml or the token. So this script
# records a hash of everything the running k3s was started with (version, role,
# config.yaml, token, registries.yaml) and restarts the service itself when that hash changed
# and the installer did not restart it.
#
# Environment (install):
#   NORDSTACK_K3S_VERSION             (required) e.g. v1.36.3+k3s1
#   NORDSTACK_K3S_ROLE                (required) server-init | server-join | agent
#   NORDSTACK_K3S_CONFIG              (required) content of /etc/rancher/k3s/config.yaml
#   NORDSTACK_K3S_SERVER_URL          https://<first server>:6443 (agents)
#   NORDSTACK_K3S_INSTALL_SCRIPT_URL  (required unless air-gapped) where the install script is
#                                     downloaded from (nordstack pins a commit of k3s-io/k3s)
#   NORDSTACK_K3S_DOWNLOAD_URL        release files base (the install script's GITHUB_URL),
#                                     default https://github.com/k3s-io/k3s/releases
#   NORDSTACK_K3S_REGISTRIES          managed: registries.yaml must be there (written by
#                                     nordstack); none (default): remove nordstack's one
#   NORDSTACK_K3S_REGISTRIES_REVISION changes with registries.yaml's content (not used here:
#                                     it makes a changed registries.yaml re-run this step)
#   NORDSTACK_K3S_INSTALL_SCRIPT_SHA256  (required unless air-gapped) sha256 the downloaded
#                                     script must have before it runs as root
#   NORDSTACK_K3S_AIRGAP_DIR          air-gapped: directory the k3s binary, the images
#                                     archive and install.sh were uploaded to by the SSH
#                                     user (relative: to that user's home)
#   NORDSTACK_K3S_AIRGAP_SHA256       air-gapped: "k3s=<sha256> <images file>=<sha256> install.sh=<sha256>"
#   NORDSTACK_K3S_EXPECTED_MTU        overlay MTU flannel must choose (checked under systemd)
set -euo pipefail

STATE_DIR=/var/lib/nordstack
TOKEN_FILE="${STATE_DIR}/k3s-token"
APPLIED_FILE="${STATE_DIR}/k3s-applied.sha256"
CONFIG_DIR=/etc/rancher/k3s
CONFIG_FILE="${CONFIG_DIR}/config.yaml"
REGISTRIES_FILE="${CONFIG_DIR}/registries.yaml"
REGISTRIES_HEADER="# Managed by nordstack. Changes are overwritten by pulumi up."
AIRGAP_DIR="${STATE_DIR}/airgap"
IMAGES_DIR=/var/lib/rancher/k3s/agent/images
K3S_BIN=/usr/local/bin/k3s

info() { echo "[k3s] $*" >&2; }
fatal() {
    echo "[k3s] ERROR: $*" >&2
    exit 1
}

# registries.yaml (k3s reads it only at start) is written by its own step; it is part of the wanted hash.
check_registries() {
    case "${NORDSTACK_K3S_REGISTRIES:-none}" in
    managed) [ -s "$REGISTRIES_FILE" ] || fatal "no ${REGISTRIES_FILE}; the registries step runs before this one" ;;
    none)
        if [ -f "$REGISTRIES_FILE" ] && [ "$(head -n 1 "$REGISTRIES_FILE")" = "$REGISTRIES_HEADER" ]; then
            rm -f "$REGISTRIES_FILE"
            info "removed ${REGISTRIES_FILE} (no registry mirror configured any more)"
        fi
        ;;
    *) fatal "NORDSTACK_K3S_REGISTRIES must be managed or none" ;;
    esac
}

installed_version() {
    [ -x "$K3S_BIN" ] || return 0
    "$K3S_BIN" --version 2>/dev/null | awk 'NR == 1 {print $3}'
}

has_systemd() {
    command -v systemctl >/dev/null 2>&1 || return 1
    case "$(systemctl is-system-running 2>/dev/null || true)" in
    running | degraded | starting | initializing | maintenance) return 0 ;;
    *) return 1 ;;
    esac
}

# When the service last (re)started, or "" when it is not running.
started_at() {
    has_systemd || return 0
    systemctl show -p ActiveEnterTimestampMonotonic --value "$SERVICE" 2>/dev/null || true
}

verify_inputs() {
    [ "$(id -u)" -eq 0 ] || fatal "must run as root"
    [[ "${NORDSTACK_K3S_VERSION:-}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$ ]] ||
        fatal "NORDSTACK_K3S_VERSION must be a k3s release like v1.36.3+k3s1, got '${NORDSTACK_K3S_VERSION:-}'"
    case "${NORDSTACK_K3S_ROLE:-}" in
    server-init | server-join) SERVICE=k3s EXEC=server ;;
    agent) SERVICE=k3s-agent EXEC=agent ;;
    *) fatal "NORDSTACK_K3S_ROLE must be server-init, server-join or agent, got '${NORDSTACK_K3S_ROLE:-}'" ;;
    esac
    [ -n "${NORDSTACK_K3S_CONFIG:-}" ] || fatal "NORDSTACK_K3S_CONFIG (the node's config.yaml) is required"
    if [ "$EXEC" = agent ] && [ -z "${NORDSTACK_K3S_SERVER_URL:-}" ]; then
        fatal "NORDSTACK_K3S_SERVER_URL is required for agents"
    fi
    if [ -z "${NORDSTACK_K3S_AIRGAP_DIR:-}" ]; then
        [ -n "${NORDSTACK_K3S_INSTALL_SCRIPT_URL:-}" ] || fatal "NORDSTACK_K3S_INSTALL_SCRIPT_URL is required (or the air-gapped mode)"
        [[ "${NORDSTACK_K3S_INSTALL_SCRIPT_SHA256:-}" =~ ^[0-9a-f]{64}$ ]] ||
            fatal "NORDSTACK_K3S_INSTALL_SCRIPT_SHA256 must be the sha256 of the script at ${NORDSTACK_K3S_INSTALL_SCRIPT_URL}; a downloaded script never runs unchecked"
    fi
    [ -s "$TOKEN_FILE" ] || fatal "no cluster token in ${TOKEN_FILE}; the token step runs before this one"
    grep -Eqx '[A-Za-z0-9]{16,}' "$TOKEN_FILE" || fatal "${TOKEN_FILE} does not hold a token of 16+ letters and digits"
}

# The staging directory of the upload, relative to the SSH login user's home.
staging_dir() {
    local dir=$1 home
    case "$dir" in
    /*) printf '%s\n' "$dir" ;;
    *)
        home=$(getent passwd "${SUDO_USER:-$(id -un)}" | cut -d: -f6)
        printf '%s/%s\n' "${home:-$HOME}" "$dir"
        ;;
    esac
}

# Checks each air-gap file's sha256 (freshly uploaded, or already in place) and installs it.
install_airgap() {
    local dir entry name want have src images="" ext
    dir=$(staging_dir "$1")
    mkdir -p "$AIRGAP_DIR" "$IMAGES_DIR"
    chmod 0700 "$AIRGAP_DIR"
    for entry in ${NORDSTACK_K3S_AIRGAP_SHA256:?NORDSTACK_K3S_AIRGAP_SHA256 is required with NORDSTACK_K3S_AIRGAP_DIR}; do
        name=${entry%%=*}
        want=${entry#*=}
        [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || fatal "bad air-gap file name '${name}'"
        src="${dir}/${name}"
        [ -s "$src" ] || src="${AIRGAP_DIR}/${name}"
        [ -s "$src" ] || fatal "air-gapped install: ${dir}/${name} is missing; upload it first"
        have=$(sha256sum "$src" | cut -d' ' -f1)
        [ "$have" = "$want" ] || fatal "air-gapped install: ${src} has sha256 ${have}, expected ${want}; upload it again"
        [ "$src" = "${AIRGAP_DIR}/${name}" ] || install -m 0600 "$src" "${AIRGAP_DIR}/${name}"
        case "$name" in
        k3s | install.sh) chmod 0700 "${AIRGAP_DIR}/${name}" ;;
        *.tar.zst) images=$name ext=tar.zst ;;
        *.tar.gz) images=$name ext=tar.gz ;;
        *.tar) images=$name ext=tar ;;
        *) fatal "air-gapped install: unexpected file ${name}" ;;
        esac
    done
    [ -n "$images" ] || fatal "air-gapped install: no images archive (.tar, .tar.gz or .tar.zst) in NORDSTACK_K3S_AIRGAP_SHA256"
    # k3s picks the decompressor from the extension: keep it.
    cmp -s "${AIRGAP_DIR}/${images}" "${IMAGES_DIR}/k3s-airgap-images.${ext}" 2>/dev/null ||
        install -m 0644 "${AIRGAP_DIR}/${images}" "${IMAGES_DIR}/k3s-airgap-images.${ext}"
    rm -rf "$dir"
}

fetch_install_script() {
    if [ -n "${NORDSTACK_K3S_AIRGAP_DIR:-}" ]; then
        INSTALL_SCRIPT="${AIRGAP_DIR}/install.sh"
        # The installer with INSTALL_K3S_SKIP_DOWNLOAD uses the binary in place.
        cmp -s "${AIRGAP_DIR}/k3s" "$K3S_BIN" 2>/dev/null || install -m 0755 "${AIRGAP_DIR}/k3s" "$K3S_BIN"
        chmod 0755 "$INSTALL_SCRIPT"
        return
    fi
    local url=$NORDSTACK_K3S_INSTALL_SCRIPT_URL want=$NORDSTACK_K3S_INSTALL_SCRIPT_SHA256 have
    command -v curl >/dev/null || fatal "curl is required to download ${url}; install it or use the air-gapped mode"
    INSTALL_SCRIPT=$(mktemp /tmp/k3s-install.XXXXXX)
    trap 'rm -f "$INSTALL_SCRIPT"' EXIT
    curl -sfL --retry 3 --connect-timeout 10 --max-time 120 -o "$INSTALL_SCRIPT" "$url" ||
        fatal "could not download the k3s install script from ${url}"
    have=$(sha256sum "$INSTALL_SCRIPT" | cut -d' ' -f1)
    [ "$have" = "$want" ] ||
        fatal "the install script from ${url} has sha256 ${have}, expected ${want}; it is not run (if you reviewed this script, set nordstack:k3sInstallScriptSha256 to ${have})"
}

run_install() {
    # We only get here when something changed; the installer itself restarts k3s only when its binary,
    # unit or env file changed, not for config.yaml, the token or registries.yaml, which k3s reads at start.
    local env=(INSTALL_K3S_VERSION="$NORDSTACK_K3S_VERSION" INSTALL_K3S_EXEC="$EXEC" K3S_TOKEN_FILE="$TOKEN_FILE")
    [ -n "${NORDSTACK_K3S_AIRGAP_DIR:-}" ] || env+=(GITHUB_URL="${NORDSTACK_K3S_DOWNLOAD_URL:-https://github.com/k3s-io/k3s/releases}")
    [ "$EXEC" = agent ] && env+=(K3S_URL="$NORDSTACK_K3S_SERVER_URL")
    [ -n "${NORDSTACK_K3S_AIRGAP_DIR:-}" ] && env+=(INSTALL_K3S_SKIP_DOWNLOAD=true)
    info "installing k3s ${NORDSTACK_K3S_VERSION} (${EXEC})"
    env "${env[@]}" sh "$INSTALL_SCRIPT" >&2 || fatal "the k3s install script failed"
}

wait_service() {
    local i mtu
    if ! has_systemd; then
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
    mtu=$(sed -n 's/^FLANNEL_MTU=//p' /run/flannel/subnet.env)
    [ "$mtu" = "$NORDSTACK_K3S_EXPECTED_MTU" ] ||
        fatal "flannel chose overlay MTU ${mtu}, expected ${NORDSTACK_K3S_EXPECTED_MTU}: the interface MTU is not what preflight saw"
}

install_k3s() {
    local before wanted applied="" config_changed=0 restarted=0 t0
    verify_inputs
    mkdir -p "$STATE_DIR" "$CONFIG_DIR"
    chmod 0755 "$STATE_DIR"
    [ -z "${NORDSTACK_K3S_AIRGAP_DIR:-}" ] || install_airgap "$NORDSTACK_K3S_AIRGAP_DIR"
    if ! { [ -f "$CONFIG_FILE" ] && cmp -s "$CONFIG_FILE" <(printf '%s\n' "$NORDSTACK_K3S_CONFIG"); }; then
        (umask 077 && printf '%s\n' "$NORDSTACK_K3S_CONFIG" >"${CONFIG_FILE}.new")
        mv -f "${CONFIG_FILE}.new" "$CONFIG_FILE"
        config_changed=1
    fi
    check_registries
    # What the running k3s must have been started with; the token and registries.yaml only as part of a hash.
    local registries=()
    [ -f "$REGISTRIES_FILE" ] && registries=("$REGISTRIES_FILE")
    wanted=$({
        printf '%s\n%s\n' "$NORDSTACK_K3S_VERSION" "$NORDSTACK_K3S_ROLE"
        cat "$CONFIG_FILE" "$TOKEN_FILE" "${registries[@]}"
    } | sha256sum | cut -d' ' -f1)
    [ -f "$APPLIED_FILE" ] && applied=$(cat "$APPLIED_FILE")
    before=$(installed_version)
    if [ "$before" = "$NORDSTACK_K3S_VERSION" ] && [ "$applied" = "$wanted" ]; then
        info "k3s ${before} already runs with this configuration; No change detected"
        wait_service
        printf '{"changed":false,"restarted":false,"role":"%s","service":"%s","previousVersion":"%s","version":"%s"}\n' \
            "$NORDSTACK_K3S_ROLE" "$SERVICE" "$before" "$NORDSTACK_K3S_VERSION"
        return
    fi
    fetch_install_script
    t0=$(started_at)
    run_install
    [ "$(installed_version)" = "$NORDSTACK_K3S_VERSION" ] ||
        fatal "after install, k3s reports '$(installed_version)', not ${NORDSTACK_K3S_VERSION}"
    if has_systemd && [ -n "$before" ] && [ "$(started_at)" = "$t0" ]; then
        # The installer saw no change in binary/unit/env: config.yaml or the token did change.
        info "restarting ${SERVICE}: its configuration changed and the installer did not restart it"
        systemctl restart "$SERVICE" || fatal "systemctl restart ${SERVICE} failed; see journalctl -u ${SERVICE}"
        restarted=1
    elif [ "$(started_at)" != "$t0" ]; then
        restarted=1
    fi
    wait_service
    (umask 077 && printf '%s\n' "$wanted" >"$APPLIED_FILE")
    printf '{"changed":true,"restarted":%s,"configChanged":%s,"role":"%s","service":"%s","previousVersion":"%s","version":"%s"}\n' \
        "$([ "$restarted" -eq 1 ] && echo true || echo false)" "$([ "$config_changed" -eq 1 ] && echo true || echo false)" \
        "$NORDSTACK_K3S_ROLE" "$SERVICE" "$before" "$NORDSTACK_K3S_VERSION"
}

uninstall_k3s() {
    local ran=none f removed=0
    [ "$(id -u)" -eq 0 ] || fatal "must run as root"
    if [ -x /usr/local/bin/k3s-agent-uninstall.sh ]; then
        /usr/local/bin/k3s-agent-uninstall.sh >&2
        ran=k3s-agent-uninstall.sh
    elif [ -x /usr/local/bin/k3s-uninstall.sh ]; then
        /usr/local/bin/k3s-uninstall.sh >&2
        ran=k3s-uninstall.sh
    fi
    for f in "$CONFIG_FILE" "$APPLIED_FILE" "$AIRGAP_DIR"; do
        if [ -e "$f" ]; then
            rm -rf "$f"
            removed=$((removed + 1))
        fi
    done
    rmdir "$CONFIG_DIR" /etc/rancher 2>/dev/null || true
    if [ "$ran" = none ] && [ "$removed" -eq 0 ]; then
        info "k3s is not installed; No change detected"
    else
        info "uninstalled (${ran}), removed ${removed} nordstack file(s)"
    fi
    printf '{"uninstaller":"%s","removedFiles":%s}\n' "$ran" "$removed"
}

main() {
    case "${1:-}" in
    install) install_k3s ;;
    uninstall) uninstall_k3s ;;
    *) fatal "usage: k3s-install.sh install|uninstall" ;;
    esac
}

main "$@" </dev/null
