#!/usr/bin/env bash
# Shellcheck every shell script of the repository (tracked or new).
set -euo pipefail
cd "$(dirname "$0")/../.."
mapfile -t files < <(
    { git ls-files --cached --others --exclude-standard -- '*.sh' .ci/run 2>/dev/null || find scripts -name '*.sh'; } | sort -u
)
[ ${#files[@]} -gt 0 ] || {
    echo "no shell scripts found" >&2
    exit 1
}
shellcheck --severity=style "${files[@]}"
echo "shellcheck: ${#files[@]} scripts clean" >&2
