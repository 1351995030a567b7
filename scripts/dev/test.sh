#!/usr/bin/env bash
# The whole test suite (README: `npm test`): types, lint, shellcheck, unit tests
# with Pulumi mocks, and the real node scripts over real SSH against lab hosts.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -eq 0 ]; then
    bash scripts/dev/system-deps.sh --install
    # The real API server of test/kube: built once (~10 min cold), then up to date in a second.
    # If it cannot be built, the other tests still run and test/kube fails saying how to build it.
    bash scripts/toolchain/kube-apiserver.sh || echo "[test] kube-apiserver build failed: test/kube will fail" >&2
    # The S3 server of the backup tests (~20 min cold here), likewise.
    bash scripts/s3-server/install.sh || echo "[test] S3 server build failed: test/data/backup.test.ts will fail" >&2
else
    bash scripts/dev/system-deps.sh --check
fi
[ -d node_modules/@pulumi/pulumi ] || npm ci --no-audit --no-fund

echo "== types" >&2
npx tsc --noEmit
echo "== lint" >&2
npx eslint .
npx prettier --check . >/dev/null
bash scripts/dev/shellcheck.sh
echo "== tests" >&2
# One runner invocation, so its closing summary counts every test.
mapfile -t tests < <(find test -name '*.test.ts' -not -path 'test/e2e/*' | sort)
exec node --import tsx --test "${tests[@]}"
