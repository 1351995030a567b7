#!/usr/bin/env bash
# Builds a real kube-apiserver for the tests (test/helpers/kube-apiserver.ts)
# from the Go module proxy, with the wrapper module
# scripts/toolchain/modules/kube-apiserver (k8s.io/kubernetes pinned, every
# k8s.io staging module replaced by the matching v0.X.Y), into
#   ${TOOLCHAIN_DIR:-<repo>/.toolchain}/bin/kube-apiserver
# Skipped when up to date (stamp: version + hash of the wrapper and the Go
# version). Cold: about 15 CPU-minutes (8-10 min on 2 idle cores), 1.5 GB peak
# memory, 1.8 GB of Go build cache, a 92 MB binary; warm (Go build cache of an
# earlier build kept, e.g. another clone on the same machine): under a minute.
#
# Usage: scripts/toolchain/kube-apiserver.sh [--force | --check | --update-module VERSION]
#   --check                 exit 0 if the binary is up to date, 1 if not (no build)
#   --force                 rebuild even if up to date
#   --update-module V       rewrite the wrapper's go.mod/go.sum for k8s.io/kubernetes V
#                           (e.g. v1.31.4): replaces from that release's go.mod, then tidy
# Env: TOOLCHAIN_DIR (default <repo>/.toolchain), GO (default go on PATH or
#      /usr/local/go/bin/go).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WRAPPER=$HERE/modules/kube-apiserver
PKG=k8s.io/kubernetes/cmd/kube-apiserver
TC=${TOOLCHAIN_DIR:-$ROOT/.toolchain}
BIN=$TC/bin
STAMP=$TC/stamps/kube-apiserver
LOG=$TC/logs/kube-apiserver.build.log
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
export CGO_ENABLED=0
# The committed go.sum is complete: a build that needs anything else fails.
export GOFLAGS="-mod=readonly -buildvcs=false"

T0=$(date +%s)
log() { printf '[kube-apiserver %4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
die() {
  printf '[kube-apiserver] ERROR: %s\n' "$*" >&2
  exit 1
}
# shellcheck source=scripts/toolchain/go-build.sh
source "$HERE/go-build.sh"

# The staging modules that k8s.io/kubernetes replaces with ./staging/src/...
# The sample-* ones are left out: kube-apiserver does not import them and the
# proxy does not serve them.
update_module() { # version
  local kver=$1 sver dir m
  [[ $kver =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "--update-module wants a release like v1.31.4, got '$kver'"
  sver="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
  dir=$(cd / && "$GO" mod download -json "k8s.io/kubernetes@$kver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$dir" ] || [ ! -f "$dir/go.mod" ]; then die "the Go module proxy did not serve k8s.io/kubernetes@$kver"; fi
  UPDATE_TMP=$(mktemp -d)
  trap 'rm -rf "$UPDATE_TMP"' EXIT
  local tmp=$UPDATE_TMP
  {
    printf 'module nordstack.local/toolchain/kube-apiserver\n\ngo 1.24\n\ntool %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$PKG" "$kver"
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/src/.*#\1#p' "$dir/go.mod" | grep -v '^k8s.io/sample-' |
      while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$sver"; done
    printf ')\n'
  } >"$tmp/go.mod"
  (cd "$tmp" && GOFLAGS=-mod=mod "$GO" mod tidy) || die "go mod tidy failed for k8s.io/kubernetes@$kver"
  cp "$tmp/go.mod" "$tmp/go.sum" "$WRAPPER/"
  log "wrapper module now builds k8s.io/kubernetes $kver (staging $sver)"
}

MODE=build
case ${1:-} in
  "") ;;
  --force) MODE=force ;;
  --check) MODE=check ;;
  --update-module)
    update_module "${2:?--update-module needs a version, e.g. v1.31.4}"
    exit 0
    ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown argument '$1' (try --help)" ;;
esac

KVER=$(sed -n 's#^[[:space:]]*k8s.io/kubernetes \(v[0-9.]*\)\( .*\)\{0,1\}$#\1#p' "$WRAPPER/go.mod" | head -n 1)
[[ $KVER =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "$WRAPPER/go.mod does not pin k8s.io/kubernetes to a release"
MINOR=${BASH_REMATCH[1]}

# Version the binary reports (/version, and the compatibility version that
# gates features), as Kubernetes' own hack/lib/version.sh sets it.
ldflags() { # commit date
  local v p out=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    for v in "gitVersion=$KVER" gitMajor=1 "gitMinor=$MINOR" "gitCommit=$1" gitTreeState=clean "buildDate=$2"; do
      out+=" -X $p.$v"
    done
  done
  printf '%s' "-s -w$out"
}

input_hash() {
  {
    echo "$KVER|$PKG|$CGO_ENABLED|$(ldflags COMMIT DATE)"
    "$GO" env GOVERSION GOOS GOARCH 2>/dev/null || true
    (cd "$WRAPPER" && find . -type f | LC_ALL=C sort | xargs sha256sum)
  } | sha256sum | cut -d' ' -f1
}

up_to_date() { [ -x "$BIN/kube-apiserver" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$1" ]; }

command -v "$GO" >/dev/null 2>&1 || [ -x "$GO" ] || die "no Go toolchain ($GO): install Go >= 1.24 to build kube-apiserver"
WANT="$KVER $(input_hash)"
if [ "$MODE" = check ]; then
  up_to_date "$WANT"
  exit
fi

mkdir -p "$BIN" "$TC/stamps" "$TC/logs" "$TC/build"
# Everything under the toolchain dir is generated: keep it out of git.
[ -f "$TC/.gitignore" ] || printf '*\n' >"$TC/.gitignore"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$TC/.lock-kube-apiserver"
  flock 9
fi
if [ "$MODE" = build ] && up_to_date "$WANT"; then
  log "up to date ($KVER): $BIN/kube-apiserver"
  exit 0
fi

# The commit and date of the release, from the module proxy's metadata.
info=$(cd / && "$GO" mod download -json "k8s.io/kubernetes@$KVER") || die "the Go module proxy did not serve k8s.io/kubernetes@$KVER"
commit=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Hash": "\([0-9a-f]*\)",\{0,1\}$/\1/p' | head -n 1)
infofile=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p')
bdate=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$infofile" 2>/dev/null || true)

dir=$TC/build/kube-apiserver
rm -rf "$dir"
mkdir -p "$dir"
cp "$WRAPPER/go.mod" "$WRAPPER/go.sum" "$dir/"
total=$( (cd "$dir" && "$GO" list -deps "$PKG" 2>/dev/null) | grep -c . || true)
[ "${total:-0}" -gt 0 ] || total=""
log "building $PKG $KVER (${total:-?} packages; cold: ~15 CPU-minutes, 8-10 min on 2 idle cores, 1.8 GB of Go build cache; log: $LOG)"

report() { # elapsed-seconds
  local el=$1 n eta=""
  n=$(grep -Ecv '^(go: downloading|#)' "$LOG" || true)
  if [ -n "$total" ] && [ "$n" -gt 20 ] && [ "$n" -lt "$total" ]; then
    # Packages not rebuilt (cached) are not printed: the ETA is pessimistic.
    eta=", about $(fmt_secs $((el * (total - n) / n))) left"
  fi
  log "still building: $(fmt_secs "$el") elapsed, $n of ${total:-?} packages compiled$eta"
}
out=$BIN/.kube-apiserver.tmp
start=$(date +%s)
rc=0
go_build_watched "$dir" "$LOG" "$out" "$(ldflags "${commit:-unknown}" "${bdate:-1970-01-01T00:00:00Z}")" "$PKG" report || rc=$?
el=$(($(date +%s) - start))
if [ "$rc" != 0 ]; then
  rm -f "$out"
  grep -v '^[a-z0-9.-]*/' "$LOG" | tail -n 15 >&2 || true
  die "go build of $PKG $KVER failed after $(fmt_secs "$el") (log: $LOG)"
fi
mv -f "$out" "$BIN/kube-apiserver"
echo "$WANT" >"$STAMP"
printf '%s kube-apiserver %ss\n' "$(date -u +%FT%TZ)" "$el" >>"$TC/logs/timings.log"
log "built $("$BIN/kube-apiserver" --version 2>/dev/null || echo '(does not run)') in $(fmt_secs "$el"): $BIN/kube-apiserver"
