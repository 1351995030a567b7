#!/usr/bin/env bash
# The main job (README: `npm run preview`): `pulumi preview` (or up/destroy) of
# a stack on a local file backend with a passphrase secrets provider. No Pulumi
# Cloud account: state and secrets stay on this machine (scripts/dev/pulumi-env.sh
# says where). A preview never rewrites a file tracked by git.
#
#   run.sh preview|up|destroy|refresh [STACK]   (default stack: dev)
#
# Environment (all optional):
#   PULUMI_BACKEND_URL         default file://<repo>/.pulumi-state
#   PULUMI_CONFIG_PASSPHRASE   or PULUMI_CONFIG_PASSPHRASE_FILE; default: a random
#                              passphrase generated once in ~/.config/nordstack/passphrase
set -euo pipefail
cd "$(dirname "$0")/../.."
NORDSTACK_ROOT=$PWD
# shellcheck source=scripts/dev/pulumi-env.sh
. "${NORDSTACK_ROOT}/scripts/dev/pulumi-env.sh"

# The example dev stack names a key file; make a throwaway one so preview works
# out of the box. Real environments point sshPrivateKeyPath at their own key.
ensure_dev_key() {
    local stack=$1 key=.nordstack/keys/dev_ed25519
    [ "$stack" = dev ] || return 0
    grep -q "sshPrivateKeyPath: ${key}" "Pulumi.${stack}.yaml" 2>/dev/null || return 0
    [ -f "$key" ] && return 0
    mkdir -p "$(dirname "$key")"
    chmod 700 .nordstack
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
    local action=${1:-preview} stack=${2:-dev} extra=()
    case "$action" in preview | up | destroy | refresh) ;; *) fatal "usage: run.sh preview|up|destroy|refresh [STACK]" ;; esac
    [ -f "Pulumi.${stack}.yaml" ] || fatal "no Pulumi.${stack}.yaml; copy Pulumi.dev.yaml to Pulumi.${stack}.yaml and edit it"
    [ -d node_modules/@pulumi/pulumi ] || npm ci --no-audit --no-fund
    find_pulumi
    ensure_backend
    ensure_passphrase
    ensure_dev_key "$stack"
    check_plugins
    ensure_stack "$stack"
    mapfile -t extra < <(config_file_args "$stack")
    info "pulumi ${action} --stack ${stack} (state: ${PULUMI_BACKEND_URL}${extra[1]:+, config: ${extra[1]}})"
    case "$action" in
    preview) pulumi preview --stack "$stack" --diff "${extra[@]}" ;;
    *) pulumi "$action" --stack "$stack" "${extra[@]}" ;;
    esac
}

main "$@"
