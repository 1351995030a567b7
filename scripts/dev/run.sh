#!/usr/bin/env bash
# The main job (README: `npm run preview`): `pulumi preview` (or up/destroy) of
# a stack on a local file backend with a passphrase secrets provider. No Pulumi
# Cloud account: state and secrets stay where you keep this directory.
#
#   run.sh preview|up|destroy [STACK]   (default stack: dev)
#
# Environment:
#   PULUMI_BACKEND_URL         default file://<repo>/.pulumi-state
#   PULUMI_CONFIG_PASSPHRASE   or PULUMI_CONFIG_PASSPHRASE_FILE; default: a random
#                              passphrase generated once in .nordstack/passphrase
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

info() { echo "[nordstack] $*" >&2; }
fatal() {
    echo "[nordstack] ERROR: $*" >&2
    exit 1
}

# The pinned engine: ours under .toolchain/ when built, else the user's own.
find_pulumi() {
    if [ -f "${ROOT}/.toolchain/env.sh" ]; then
        # shellcheck disable=SC1091
        . "${ROOT}/.toolchain/env.sh"
    fi
    if ! command -v pulumi >/dev/null 2>&1 && [ -x "${ROOT}/scripts/toolchain/install.sh" ]; then
        info "no pulumi CLI on PATH; preparing the pinned toolchain (scripts/toolchain/install.sh)"
        bash "${ROOT}/scripts/toolchain/install.sh" >&2 || true
        # shellcheck disable=SC1091
        [ -f "${ROOT}/.toolchain/env.sh" ] && . "${ROOT}/.toolchain/env.sh"
    fi
    command -v pulumi >/dev/null 2>&1 || fatal "no Pulumi CLI found. Install it (https://www.pulumi.com/docs/install/: \
curl -fsSL https://get.pulumi.com | sh) and run this again; the stack needs no Pulumi Cloud account"
}

ensure_passphrase() {
    if [ -n "${PULUMI_CONFIG_PASSPHRASE:-}" ] || [ -n "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then return; fi
    mkdir -p .nordstack
    chmod 700 .nordstack
    if [ ! -s .nordstack/passphrase ]; then
        (umask 077 && openssl rand -base64 32 >.nordstack/passphrase)
        info "generated a passphrase for the stack's secrets in .nordstack/passphrase: back it up, without it the secrets cannot be decrypted"
    fi
    export PULUMI_CONFIG_PASSPHRASE_FILE="${ROOT}/.nordstack/passphrase"
}

# The example dev stack names a key file; make a throwaway one so preview works
# out of the box. Real environments point sshPrivateKeyPath at their own key.
ensure_dev_key() {
    local stack=$1 key=.nordstack/keys/dev_ed25519
    [ "$stack" = dev ] || return 0
    grep -q "sshPrivateKeyPath: ${key}" "Pulumi.${stack}.yaml" 2>/dev/null || return 0
    [ -f "$key" ] && return 0
    mkdir -p "$(dirname "$key")"
    ssh-keygen -q -t ed25519 -N "" -C nordstack-dev -f "$key"
    info "created a throwaway SSH key ${key} for the example dev stack (replace it with your nodes' key before 'up')"
}

# Names the provider plugins the engine will not find, with the fix, before it fails on them.
check_plugins() {
    local pkg version missing=()
    for pkg in command random tls kubernetes; do
        version=$(node -p "require('@pulumi/${pkg}/package.json').version" 2>/dev/null) || continue
        pulumi plugin ls 2>/dev/null | awk -v n="$pkg" -v v="$version" '$1 == n && $3 == v {f=1} END {exit !f}' ||
            missing+=("${pkg} ${version}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    info "provider plugins not installed: ${missing[*]}"
    info "install each with 'pulumi plugin install resource NAME VERSION' where the internet is reachable (or build them: npm run toolchain)"
}

main() {
    local action=${1:-preview} stack=${2:-dev}
    case "$action" in preview | up | destroy | refresh) ;; *) fatal "usage: run.sh preview|up|destroy|refresh [STACK]" ;; esac
    [ -f "Pulumi.${stack}.yaml" ] || fatal "no Pulumi.${stack}.yaml; copy Pulumi.dev.yaml to Pulumi.${stack}.yaml and edit it"
    [ -d node_modules/@pulumi/pulumi ] || npm ci --no-audit --no-fund
    find_pulumi
    export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://${ROOT}/.pulumi-state}
    export PULUMI_SKIP_UPDATE_CHECK=true
    if [[ "$PULUMI_BACKEND_URL" == file://* ]]; then mkdir -p "${PULUMI_BACKEND_URL#file://}"; fi
    ensure_passphrase
    ensure_dev_key "$stack"
    check_plugins
    pulumi stack select --create --secrets-provider passphrase "$stack" >/dev/null
    info "pulumi ${action} --stack ${stack} (state: ${PULUMI_BACKEND_URL})"
    case "$action" in
    preview) pulumi preview --stack "$stack" --diff ;;
    *) pulumi "$action" --stack "$stack" ;;
    esac
}

main "$@"
