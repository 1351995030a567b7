#!/usr/bin/env bash
# `npm run pulumi -- ARGS...`: the pulumi CLI with this repository's local state
# and passphrase (scripts/dev/pulumi-env.sh), so every command works as written
# with no environment variables and no Pulumi Cloud account, e.g.
#
#   npm run pulumi -- config set --stack prod --secret sshPrivateKey < ~/.ssh/nordstack
#   npm run pulumi -- stack output --stack prod sovereignty
#
# A stack is created (passphrase provider) the first time a command names it with
# --stack/-s. preview/up/destroy/refresh of a stack whose file is tracked by git
# run on an untracked copy, so they never rewrite that file. `npm run -s pulumi`
# keeps npm's banner out of stdout.
set -euo pipefail
NORDSTACK_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/dev/pulumi-env.sh
. "${NORDSTACK_ROOT}/scripts/dev/pulumi-env.sh"

# The stack named on the command line (--stack X, --stack=X, -s X), if any.
stack_arg() {
    while [ $# -gt 0 ]; do
        case "$1" in
        --stack | -s) echo "${2:-}" && return ;;
        --stack=*) echo "${1#--stack=}" && return ;;
        esac
        shift
    done
}

main() {
    local stack extra=()
    find_pulumi
    ensure_backend
    ensure_passphrase
    stack=$(stack_arg "$@")
    if [ -n "$stack" ] && [ "${1:-}" != stack ]; then
        ensure_stack "$stack"
        case "${1:-}" in
        preview | up | update | destroy | refresh) mapfile -t extra < <(config_file_args "$stack") ;;
        esac
    fi
    exec pulumi "$@" "${extra[@]}"
}

main "$@"
