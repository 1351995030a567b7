#!/usr/bin/env bash
# Builds the S3-compatible server the backup tests run against on loopback:
# versitygw (github.com/versity/versitygw) with its posix backend, from the Go
# module proxy, into <repo>/.toolchain/bin/versitygw (git ignored).
#
# Why versitygw: a real S3 gateway (SigV4, multipart, path-style buckets over a
# plain directory), about 80 modules against minio's 260, and the Go proxy
# serves tagged releases of it (minio and seaweedfs only pseudo-versions).
#
# Usage: scripts/s3-server/install.sh [--check]
#   --check  exit 1 (saying how to build) unless the pinned binary is there.
# Env: TOOLCHAIN_DIR (default <repo>/.toolchain), GO (default: go on PATH or
#      /usr/local/go/bin/go), S3_BUILD_TIMEOUT seconds (default 3600).
# Idempotent: a stamp with the version and Go toolchain skips a second build;
# the Go build and module caches make a rebuild in another checkout quick.
set -euo pipefail

VERSITYGW_MODULE=github.com/versity/versitygw
VERSITYGW_VERSION=v1.8.0
TMP_DIR=""
cleanup() { if [ -n "$TMP_DIR" ]; then rm -rf "$TMP_DIR"; fi; }
trap cleanup EXIT

main() {
    local here root tc bin stamp want go_bin start
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    root=$(cd "$here/../.." && pwd)
    tc=${TOOLCHAIN_DIR:-$root/.toolchain}
    bin=$tc/bin/versitygw
    stamp=$tc/stamps/versitygw
    go_bin=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
    want="$VERSITYGW_MODULE@$VERSITYGW_VERSION"

    if [ "${1:-}" = --check ]; then
        if [ -x "$bin" ] && [ "$(cut -d' ' -f1 "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
        echo "versitygw $VERSITYGW_VERSION is not built; run: bash scripts/s3-server/install.sh" >&2
        exit 1
    fi
    [ -x "$go_bin" ] || {
        echo "s3-server: no Go toolchain (go on PATH or /usr/local/go/bin/go); install Go >= 1.25" >&2
        exit 1
    }
    want="$want $("$go_bin" env GOVERSION GOOS GOARCH | tr '\n' ' ')"
    if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        echo "[s3-server] versitygw $VERSITYGW_VERSION: No change detected" >&2
        return 0
    fi

    mkdir -p "$tc/bin" "$tc/stamps" "$tc/logs"
    [ -f "$tc/.gitignore" ] || printf '*\n' >"$tc/.gitignore"
    TMP_DIR=$(mktemp -d)
    start=$(date +%s)
    echo "[s3-server] building $VERSITYGW_MODULE/cmd/versitygw@$VERSITYGW_VERSION (log: $tc/logs/versitygw.build.log)" >&2
    # go install PKG@VERSION builds with the module's own go.mod/go.sum, checked against the checksum database.
    if ! GOBIN=$TMP_DIR GOFLAGS=-buildvcs=false CGO_ENABLED=0 timeout -k 10 "${S3_BUILD_TIMEOUT:-3600}" \
        "$go_bin" install -p 2 -trimpath -ldflags "-s -w" "$VERSITYGW_MODULE/cmd/versitygw@$VERSITYGW_VERSION" \
        >"$tc/logs/versitygw.build.log" 2>&1; then
        echo "[s3-server] build failed; last lines of $tc/logs/versitygw.build.log:" >&2
        tail -n 15 "$tc/logs/versitygw.build.log" >&2
        exit 1
    fi
    mv -f "$TMP_DIR/versitygw" "$bin"
    printf '%s\n' "$want" >"$stamp"
    echo "[s3-server] versitygw $VERSITYGW_VERSION built in $(($(date +%s) - start)) s" >&2
}

{ main "$@"; }
