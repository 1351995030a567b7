#!/usr/bin/env bash
# Sourced by run.sh and pulumi.sh: the environment every pulumi command of this
# repository runs in. No Pulumi Cloud, no environment variables to remember:
#
#   state       file://<repo>/.pulumi-state (also Pulumi.yaml's backend.url, for a
#               plain `pulumi` run from the repository root)
#   passphrase  ${XDG_CONFIG_HOME:-~/.config}/nordstack/passphrase (0600), generated
#               once; kept out of the tree that holds the state it decrypts
#   salt        for a stack file tracked by git (the example Pulumi.dev.yaml), pulumi
#               runs on a copy in .pulumi-state/stack-config/ that keeps the
#               encryptionsalt, so a preview never rewrites a tracked file
#
# Honoured when set: PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE(_FILE).
# Requires: NORDSTACK_ROOT (the repository root).

info() { echo "[nordstack] $*" >&2; }
fatal() {
    echo "[nordstack] ERROR: $*" >&2
    exit 1
}

# The pinned engine: ours under .toolchain/ when built, else the user's own.
find_pulumi() {
    if [ -f "${NORDSTACK_ROOT}/.toolchain/env.sh" ]; then
        # shellcheck disable=SC1091
        . "${NORDSTACK_ROOT}/.toolchain/env.sh"
    fi
    if ! command -v pulumi >/dev/null 2>&1 && [ -x "${NORDSTACK_ROOT}/scripts/toolchain/install.sh" ]; then
        info "no pulumi CLI on PATH; preparing the pinned toolchain (scripts/toolchain/install.sh)"
        bash "${NORDSTACK_ROOT}/scripts/toolchain/install.sh" >&2 || true
        # shellcheck disable=SC1091
        [ -f "${NORDSTACK_ROOT}/.toolchain/env.sh" ] && . "${NORDSTACK_ROOT}/.toolchain/env.sh"
    fi
    command -v pulumi >/dev/null 2>&1 || fatal "no Pulumi CLI found. Install it (https://www.pulumi.com/docs/install/: \
curl -fsSL https://get.pulumi.com | sh) and run this again; the stack needs no Pulumi Cloud account"
}

ensure_backend() {
    export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://${NORDSTACK_ROOT}/.pulumi-state}
    # The CLI would otherwise ask api.github.com / get.pulumi.com for a newer version on every run.
    export PULUMI_SKIP_UPDATE_CHECK=true
    if [[ "$PULUMI_BACKEND_URL" == file://* ]]; then mkdir -p "${PULUMI_BACKEND_URL#file://}"; fi
}

passphrase_file() {
    echo "${XDG_CONFIG_HOME:-${HOME}/.config}/nordstack/passphrase"
}

ensure_passphrase() {
    if [ -n "${PULUMI_CONFIG_PASSPHRASE:-}" ] || [ -n "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then return; fi
    local file legacy="${NORDSTACK_ROOT}/.nordstack/passphrase"
    file=$(passphrase_file)
    mkdir -p "$(dirname "$file")"
    chmod 700 "$(dirname "$file")"
    if [ ! -s "$file" ] && [ -s "$legacy" ]; then
        # Earlier versions kept it beside the state it decrypts; move it out of the tree.
        (umask 077 && cp "$legacy" "$file") && rm -f "$legacy"
        info "moved the stack passphrase from .nordstack/passphrase to ${file}"
    fi
    if [ ! -s "$file" ]; then
        (umask 077 && openssl rand -base64 32 >"$file")
        info "generated the passphrase for the stacks' secrets in ${file}: back it up (e.g. in your password manager); without it the secrets cannot be decrypted"
    fi
    chmod 600 "$file"
    export PULUMI_CONFIG_PASSPHRASE_FILE="$file"
}

# 0 when Pulumi.<stack>.yaml is tracked by git (the example stack): pulumi must not write to it.
stack_file_tracked() {
    git -C "$NORDSTACK_ROOT" ls-files --error-unmatch "Pulumi.$1.yaml" >/dev/null 2>&1
}

side_config() {
    echo "${NORDSTACK_ROOT}/.pulumi-state/stack-config/Pulumi.$1.yaml"
}

# Refreshes the untracked copy of a tracked stack file: its content, plus the salt kept from earlier runs.
prepare_side_config() {
    local stack=$1 side salt="" tmp
    side=$(side_config "$stack")
    mkdir -p "$(dirname "$side")"
    if ! grep -q '^encryptionsalt:' "${NORDSTACK_ROOT}/Pulumi.${stack}.yaml" && [ -f "$side" ]; then
        salt=$(grep '^encryptionsalt:' "$side" || true)
    fi
    tmp=$(mktemp "${side}.XXXXXX")
    { cat "${NORDSTACK_ROOT}/Pulumi.${stack}.yaml"; [ -z "$salt" ] || echo "$salt"; } >"$tmp"
    mv "$tmp" "$side"
}

# Creates the stack with the passphrase provider if it does not exist. For a tracked
# stack file, the salt `stack init` writes into it goes to the copy instead.
ensure_stack() {
    local stack=$1 backup salt
    pulumi stack select "$stack" >/dev/null 2>&1 && return 0
    if stack_file_tracked "$stack"; then
        backup=$(mktemp)
        cp -p "${NORDSTACK_ROOT}/Pulumi.${stack}.yaml" "$backup"
        pulumi stack init --secrets-provider passphrase "$stack" >/dev/null || {
            cp -p "$backup" "${NORDSTACK_ROOT}/Pulumi.${stack}.yaml" && rm -f "$backup"
            fatal "could not create stack ${stack}"
        }
        salt=$(grep '^encryptionsalt:' "${NORDSTACK_ROOT}/Pulumi.${stack}.yaml" || true)
        cp -p "$backup" "${NORDSTACK_ROOT}/Pulumi.${stack}.yaml" && rm -f "$backup"
        prepare_side_config "$stack"
        if [ -n "$salt" ] && ! grep -q '^encryptionsalt:' "$(side_config "$stack")"; then echo "$salt" >>"$(side_config "$stack")"; fi
    else
        pulumi stack init --secrets-provider passphrase "$stack" >/dev/null || fatal "could not create stack ${stack}"
    fi
}

# The arguments that make pulumi read (and write) the copy of a tracked stack file.
config_file_args() {
    local stack=$1
    stack_file_tracked "$stack" || return 0
    prepare_side_config "$stack"
    printf '%s\n' --config-file "$(side_config "$stack")"
}
