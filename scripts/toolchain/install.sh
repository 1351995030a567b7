#!/usr/bin/env bash
# Installs the pinned Pulumi engine toolchain into <repo>/.toolchain:
#   bin/pulumi, bin/pulumi-language-nodejs, bin/pulumi-resource-<provider>,
#   home/ (a PULUMI_HOME with the providers installed as plugins) and env.sh.
#
# Per binary, in order of preference:
#   1. up to date from an earlier run (stamp: version + hash of its inputs);
#   2. already on this machine at the pinned version (pulumi on PATH, or an
#      ambient ~/.pulumi/plugins/resource-NAME-vVER plugin);
#   3. the official installer / plugin download, if the internet is reachable;
#   4. a build from the Go module proxy with scripts/toolchain/modules/NAME.
#
# Usage: scripts/toolchain/install.sh [--force] [--update-modules] [NAME...]
#   NAME: pulumi pulumi-language-nodejs kubernetes command random tls
#         (default: all of them). Exits non-zero if any requested binary could
#         not be installed, after installing the others.
#   --force           ignore stamps and ambient installs: rebuild/reinstall.
#   --update-modules  rewrite the wrapper modules' go.mod/go.sum from
#                     versions.env (go mod edit + tidy), then exit.
# Env: TOOLCHAIN_DIR (default <repo>/.toolchain), GO (default: go on PATH or
#      /usr/local/go/bin/go), TOOLCHAIN_OFFLINE=1 (skip the internet probe).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$HERE/versions.env"

TC=${TOOLCHAIN_DIR:-$ROOT/.toolchain}
BIN=$TC/bin
BUILD=$TC/build
STAMPS=$TC/stamps
LOGS=$TC/logs
PHOME=$TC/home
ALL_NAMES=(pulumi pulumi-language-nodejs kubernetes command random tls)

FORCE=0
UPDATE_MODULES=0
NAMES=()
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    --update-modules) UPDATE_MODULES=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    pulumi | pulumi-language-nodejs | kubernetes | command | random | tls) NAMES+=("$arg") ;;
    pulumi-resource-*) NAMES+=("${arg#pulumi-resource-}") ;;
    *)
      echo "install.sh: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done
[ ${#NAMES[@]} -gt 0 ] || NAMES=("${ALL_NAMES[@]}")

T0=$(date +%s)
log() { printf '[toolchain %4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
err() { printf '[toolchain] ERROR: %s\n' "$*" >&2; }
die() {
  err "$*"
  exit 1
}
# shellcheck source=scripts/toolchain/go-build.sh
source "$HERE/go-build.sh"
free_space() { # path (need not exist yet) -> free space of its file system
  local d=${1:-/}
  while [ ! -e "$d" ]; do d=$(dirname "$d"); done
  df -Ph "$d" | awk 'NR == 2 { print $4 }'
}

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

mkdir -p "$BIN" "$BUILD" "$STAMPS" "$LOGS" "$PHOME"
# Everything under .toolchain is generated: keep it out of git.
[ -f "$TC/.gitignore" ] || printf '*\n' >"$TC/.gitignore"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$TC/.lock"
  flock 9
fi

# ---------------------------------------------------------------------------
# Per-binary facts. Sets: BIN_NAME MODULE MODULE_VERSION PKG VERSION_VAR
# VERSION_VALUE PLUGIN_NAME PLUGIN_VERSION WRAPPER ASSETS (paths in MODULE).
describe() {
  PLUGIN_NAME="" PLUGIN_VERSION="" ASSETS=""
  case $1 in
    pulumi)
      BIN_NAME=pulumi
      MODULE=$PULUMI_PKG_MODULE MODULE_VERSION=$PULUMI_PKG_MODULE_VERSION
      PKG=github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
      VERSION_VAR=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version
      VERSION_VALUE=v$PULUMI_VERSION
      ;;
    pulumi-language-nodejs)
      BIN_NAME=pulumi-language-nodejs
      MODULE=$NODEJS_HOST_MODULE MODULE_VERSION=$NODEJS_HOST_MODULE_VERSION
      PKG=github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
      VERSION_VAR=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version
      VERSION_VALUE=v$NODEJS_HOST_VERSION
      ;;
    kubernetes)
      BIN_NAME=pulumi-resource-kubernetes
      MODULE=$KUBERNETES_MODULE MODULE_VERSION=$KUBERNETES_MODULE_VERSION
      PKG=.
      VERSION_VAR=$KUBERNETES_MODULE/pkg/version.Version
      VERSION_VALUE=$KUBERNETES_VERSION
      PLUGIN_NAME=kubernetes PLUGIN_VERSION=$KUBERNETES_VERSION
      ASSETS="cmd/pulumi-resource-kubernetes/schema.json cmd/pulumi-resource-kubernetes/terraform-mapping.json"
      ;;
    command)
      BIN_NAME=pulumi-resource-command
      MODULE=$COMMAND_MODULE MODULE_VERSION=$COMMAND_MODULE_VERSION
      PKG=. VERSION_VAR=$COMMAND_MODULE/pkg/version.Version VERSION_VALUE=$COMMAND_VERSION
      PLUGIN_NAME=command PLUGIN_VERSION=$COMMAND_VERSION
      ;;
    random)
      BIN_NAME=pulumi-resource-random
      MODULE=$RANDOM_MODULE MODULE_VERSION=$RANDOM_MODULE_VERSION
      PKG=. VERSION_VAR=$RANDOM_MODULE/pkg/version.Version VERSION_VALUE=$RANDOM_VERSION
      PLUGIN_NAME=random PLUGIN_VERSION=$RANDOM_VERSION
      ;;
    tls)
      BIN_NAME=pulumi-resource-tls
      MODULE=$TLS_MODULE MODULE_VERSION=$TLS_MODULE_VERSION
      PKG=. VERSION_VAR=$TLS_MODULE/pkg/version.Version VERSION_VALUE=$TLS_VERSION
      PLUGIN_NAME=tls PLUGIN_VERSION=$TLS_VERSION
      ;;
    *) die "describe: unknown binary $1" ;;
  esac
  WRAPPER=$HERE/modules/$BIN_NAME
  LDFLAGS="-s -w -X $VERSION_VAR=$VERSION_VALUE"
  read -r COLD_PKGS COLD_SECS < <(cold_figures "$1")
}

# Measured on the build machine (2 cores, Go 1.26.8), the binaries built in
# this order: packages that `go build -v` compiled with empty Go caches
# (2026-12-01, std included), and wall seconds of the build with an empty build
# cache on an idle machine (2026-12-01). The progress ETA scales from these;
# with a partly warm cache fewer packages are compiled, so the ETA is then an
# upper bound. Update them after a cold run (see README.md).
COLD_TABLE="
pulumi                  1520  222
pulumi-language-nodejs   272   20
kubernetes              1295  441
"
COLD_DISK="Go module cache +2.2 GB, Go build cache +5.7 GB, .toolchain 450 MB (8.3 GB in all)"
COLD_LOADED="at load ~25 on 2 cores the CLI alone took 83m40s"
WARM_SECS=40
cold_figures() { # name -> "packages seconds" ("0 0" if never measured)
  local n p s
  while read -r n p s; do
    [ "$n" = "$1" ] && echo "$p $s" && return
  done <<<"$COLD_TABLE"
  echo "0 0"
}

# Requirements that versions.env imposes on each wrapper's go.mod.
module_pins() {
  case $1 in
    pulumi)
      echo "$PULUMI_PKG_MODULE $PULUMI_PKG_MODULE_VERSION"
      echo "github.com/pulumi/pulumi/sdk/v3 $PULUMI_SDK_MODULE_VERSION"
      ;;
    pulumi-language-nodejs) echo "$NODEJS_HOST_MODULE $NODEJS_HOST_MODULE_VERSION" ;;
    kubernetes) echo "$KUBERNETES_MODULE $KUBERNETES_MODULE_VERSION" ;;
    *) echo "$MODULE $MODULE_VERSION" ;;
  esac
}

# Hash of everything that determines a built binary.
input_hash() {
  {
    echo "$1|$BIN_NAME|$MODULE@$MODULE_VERSION|$PKG|$LDFLAGS|$ASSETS"
    if [ "$1" = kubernetes ]; then echo "sdk/v4@$KUBERNETES_SDK_MODULE_VERSION"; fi
    "$GO" env GOVERSION GOOS GOARCH 2>/dev/null || true
    if [ -d "$WRAPPER" ]; then
      (cd "$WRAPPER" && find . -type f | LC_ALL=C sort | xargs sha256sum)
    fi
  } | sha256sum | cut -d' ' -f1
}

stamp_ok() { # name expected-stamp
  [ "$FORCE" = 0 ] && [ -x "$BIN/$BIN_NAME" ] && [ -f "$STAMPS/$1" ] &&
    [ "$(cat "$STAMPS/$1")" = "$2" ]
}

# ---------------------------------------------------------------------------
# 2. Ambient installs.
ambient_pulumi() { # prints the path of a pulumi on PATH at the pinned version
  local p
  p=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$BIN" | paste -sd: -) command -v pulumi || true)
  [ -n "$p" ] || return 1
  [ "$("$p" version 2>/dev/null || true)" = "v$PULUMI_VERSION" ] || return 1
  readlink -f "$p"
}

ambient_src() { # name: prints the path of an ambient install at the pinned version
  local src=""
  case $1 in
    pulumi)
      src=$(ambient_pulumi) || return 1
      ;;
    pulumi-language-nodejs)
      src=$(ambient_pulumi) || return 1
      src=$(dirname "$src")/pulumi-language-nodejs
      ;;
    *)
      src=${PULUMI_HOME_AMBIENT:-$HOME/.pulumi}/plugins/resource-$PLUGIN_NAME-v$PLUGIN_VERSION/$BIN_NAME
      ;;
  esac
  [ -x "$src" ] || return 1
  printf '%s\n' "$src"
}

from_ambient() { # name
  local src
  src=$(ambient_src "$1") || return 1
  ln -sfn "$src" "$BIN/$BIN_NAME"
  log "$BIN_NAME: using the ambient install $src"
}

# ---------------------------------------------------------------------------
# 3. Official installer (internet only).
ONLINE=""
online() {
  if [ -z "$ONLINE" ]; then
    ONLINE=no
    if [ "${TOOLCHAIN_OFFLINE:-0}" = 1 ]; then
      log "internet probe skipped (TOOLCHAIN_OFFLINE=1)"
    else
      if curl -fsS --max-time 5 -o /dev/null https://get.pulumi.com 2>/dev/null; then ONLINE=yes; fi
      log "internet (get.pulumi.com) reachable: $ONLINE"
    fi
  fi
  [ "$ONLINE" = yes ]
}

from_official() { # name
  online || return 1
  case $1 in
    pulumi | pulumi-language-nodejs)
      local root=$TC/official
      if [ ! -x "$root/bin/pulumi" ] || [ "$("$root/bin/pulumi" version 2>/dev/null || true)" != "v$PULUMI_VERSION" ]; then
        log "$1: running the official installer (get.pulumi.com) for v$PULUMI_VERSION"
        curl -fsSL --max-time 300 https://get.pulumi.com/install.sh |
          sh -s -- --version "$PULUMI_VERSION" --install-root "$root" --no-edit-path >"$LOGS/official-pulumi.log" 2>&1 ||
          {
            err "official installer failed (see $LOGS/official-pulumi.log)"
            return 1
          }
      fi
      [ -x "$root/bin/$BIN_NAME" ] || return 1
      cp -f "$root/bin/$BIN_NAME" "$BIN/$BIN_NAME"
      ;;
    *)
      [ -x "$BIN/pulumi" ] || return 1
      log "$BIN_NAME: downloading plugin resource $PLUGIN_NAME v$PLUGIN_VERSION"
      PULUMI_HOME=$PHOME PULUMI_SKIP_UPDATE_CHECK=true \
        "$BIN/pulumi" plugin install resource "$PLUGIN_NAME" "$PLUGIN_VERSION" >"$LOGS/official-$1.log" 2>&1 || {
        err "plugin download failed (see $LOGS/official-$1.log)"
        return 1
      }
      cp -f "$PHOME/plugins/resource-$PLUGIN_NAME-v$PLUGIN_VERSION/$BIN_NAME" "$BIN/$BIN_NAME"
      ;;
  esac
  log "$BIN_NAME: installed from the official release"
}

# ---------------------------------------------------------------------------
# 4. Build from the Go module proxy.
mod_download() { # module@version -> prints the module's Dir; error text on stderr
  local out dir e
  out=$("$GO" mod download -json "$1" 2>&1 || true)
  dir=$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    e=$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p')
    printf '%s\n' "${e:-$out}" | sed 's/\\n\\t/ /g; s/\\n/ /g' >&2
    return 1
  fi
  printf '%s\n' "$dir"
}

check_pins() { # name: the wrapper's go.mod must agree with versions.env
  local mod ver
  while read -r mod ver; do
    grep -Eq "^[[:space:]]*(require[[:space:]]+)?$mod $ver( |$)" "$WRAPPER/go.mod" ||
      die "$WRAPPER/go.mod does not require $mod $ver as versions.env says: run $0 --update-modules"
  done < <(module_pins "$1")
}

# "N/T packages (P%), Xm elapsed, about Ym left ..." for the binary being
# built: from the rate so far once a tenth is compiled, before that from the
# measured cold time (an idle machine's pace).
progress() { # packages-done elapsed-seconds modules-downloaded
  local n=$1 t=$2 dl=$3 total=$COLD_PKGS eta
  if [ "$n" = 0 ] && [ "$dl" = 0 ]; then
    printf 'nothing to compile so far (Go build cache hits), %s elapsed' "$(fmt_secs "$t")"
    return
  fi
  if [ "$total" -le 0 ]; then
    printf '%s packages compiled, %s elapsed' "$n" "$(fmt_secs "$t")"
    return
  fi
  if [ "$n" -ge "$total" ]; then
    printf '%s/%s packages, %s elapsed, linking' "$n" "$total" "$(fmt_secs "$t")"
    return
  fi
  if [ $((n * 10)) -lt "$total" ]; then
    eta="$(fmt_secs $((COLD_SECS * (total - n) / total))) left at the idle-machine pace"
  else
    eta="$(fmt_secs $((t * (total - n) / n))) left at the rate so far"
  fi
  printf '%s/%s packages (%s%%), %s elapsed, about %s' \
    "$n" "$total" $((n * 100 / total)) "$(fmt_secs "$t")" "$eta"
}

# "; then NAME (~Xm cold), ..." for the binaries after NAME still to build.
left_after() { # name
  local seen=0 n rest="" p s
  for n in "${TO_BUILD[@]}"; do
    if [ "$seen" = 1 ]; then
      read -r p s < <(cold_figures "$n")
      rest+="${rest:+, }$n (~$(fmt_secs "$s") cold)"
    fi
    [ "$n" = "$1" ] && seen=1
  done
  [ -z "$rest" ] || printf '; then %s' "$rest"
}

# Every 30 s of a build: packages done, time left, what comes after, go's last line.
build_report() { # name elapsed-seconds
  local n dl last
  n=$(grep -Ecv '^(go: downloading|#)' "$LOGS/$1.build.log" || true)
  dl=$(grep -c '^go: downloading' "$LOGS/$1.build.log" || true)
  last=$(tail -n 1 "$LOGS/$1.build.log" | cut -c1-60)
  log "$BIN_NAME: building, $(progress "$n" "$2" "$dl")$(left_after "$1") (last: ${last:-none})"
}

build() { # name
  local dir out moddir a start rc elapsed
  log "$BIN_NAME: building $MODULE@$MODULE_VERSION from the Go module proxy"
  if ! moddir=$(mod_download "$MODULE@$MODULE_VERSION" 2>"$LOGS/$1.fetch.log"); then
    err "$BIN_NAME: the Go module proxy could not fetch $MODULE@$MODULE_VERSION: $(head -c 400 "$LOGS/$1.fetch.log")"
    return 1
  fi
  if [ ! -f "$WRAPPER/go.mod" ]; then
    err "$BIN_NAME: no wrapper module at $WRAPPER (see scripts/toolchain/README.md)"
    return 1
  fi
  check_pins "$1"

  dir=$BUILD/$BIN_NAME
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -R "$WRAPPER/." "$dir/"
  for a in $ASSETS; do
    [ -f "$moddir/$a" ] || {
      err "$BIN_NAME: $MODULE@$MODULE_VERSION has no $a"
      return 1
    }
    cp "$moddir/$a" "$dir/"
  done
  chmod -R u+w "$dir"

  out=$BIN/.$BIN_NAME.tmp
  start=$(date +%s)
  log "$BIN_NAME: go build -p 2 -trimpath $PKG (log: $LOGS/$1.build.log)"
  rc=0
  go_build_watched "$dir" "$LOGS/$1.build.log" "$out" "$LDFLAGS" "$PKG" build_report "$1" || rc=$?
  elapsed=$(($(date +%s) - start))
  if [ "$rc" != 0 ]; then
    rm -f "$out"
    err "$BIN_NAME: go build of $MODULE@$MODULE_VERSION failed after $(fmt_secs "$elapsed"); last lines of $LOGS/$1.build.log:"
    grep -v '^[a-z0-9.]*/' "$LOGS/$1.build.log" | tail -n 15 >&2 || true
    return 1
  fi
  mv -f "$out" "$BIN/$BIN_NAME"
  printf '%s %s %ss\n' "$(date -u +%FT%TZ)" "$BIN_NAME" "$elapsed" >>"$LOGS/timings.log"
  log "$BIN_NAME: built in $(fmt_secs "$elapsed")"
}

# ---------------------------------------------------------------------------
update_modules() {
  local name tmp
  for name in pulumi pulumi-language-nodejs kubernetes command random tls; do
    describe "$name"
    [ -f "$WRAPPER/go.mod" ] || {
      log "$BIN_NAME: no wrapper module, skipped"
      continue
    }
    log "$BIN_NAME: go mod edit + tidy from versions.env"
    tmp=$BUILD/tidy-$BIN_NAME
    rm -rf "$tmp"
    mkdir -p "$tmp"
    cp -R "$WRAPPER/." "$tmp/"
    local mod ver
    while read -r mod ver; do
      (cd "$tmp" && "$GO" mod edit -require="$mod@$ver")
    done < <(module_pins "$name")
    if [ "$name" = kubernetes ]; then
      (cd "$tmp" && "$GO" mod edit \
        -replace="github.com/pulumi/pulumi-kubernetes/sdk/v4=github.com/pulumi/pulumi-kubernetes/sdk/v4@$KUBERNETES_SDK_MODULE_VERSION")
    fi
    (cd "$tmp" && "$GO" mod tidy) || die "$BIN_NAME: go mod tidy failed"
    cp "$tmp/go.mod" "$tmp/go.sum" "$WRAPPER/"
  done
}

if [ "$UPDATE_MODULES" = 1 ]; then
  update_modules
  exit 0
fi

# ---------------------------------------------------------------------------
[ -x "$GO" ] || command -v "$GO" >/dev/null 2>&1 || log "note: no Go toolchain found ($GO); building is impossible"

# The CLI is needed to register plugins: handle it first.
ORDERED=()
for n in "${ALL_NAMES[@]}"; do
  for m in "${NAMES[@]}"; do [ "$n" = "$m" ] && ORDERED+=("$n") && break; done
done

# Say up front what a build from the Go module proxy would cost: the binaries
# neither up to date, nor installed, that have a wrapper module to build.
TO_BUILD=()
cold_total=0
for name in "${ORDERED[@]}"; do
  describe "$name"
  stamp_ok "$name" "$VERSION_VALUE $(input_hash "$name")" && continue
  [ "$FORCE" = 1 ] || ! ambient_src "$name" >/dev/null || continue
  [ -f "$WRAPPER/go.mod" ] || continue
  TO_BUILD+=("$name")
  cold_total=$((cold_total + COLD_SECS))
done
if [ ${#TO_BUILD[@]} -gt 0 ]; then
  log "to build from the Go module proxy unless the official release is reachable: ${TO_BUILD[*]}"
  log "  measured on an idle 2-core machine: ~$(fmt_secs "$cold_total") with empty Go caches; with warm ones the whole toolchain takes ~${WARM_SECS}s"
  log "  disk, whole toolchain from empty caches: $COLD_DISK; free now: $(free_space "$("$GO" env GOCACHE 2>/dev/null || echo "$TC")") where the Go build cache is"
  read -r load _ </proc/loadavg 2>/dev/null || load=0
  cores=$(nproc 2>/dev/null || echo 1)
  if [ "${load%.*}" -gt "$cores" ]; then
    log "  the CPU is shared now (load $load on $cores cores): expect up to ~$((${load%.*} / cores))x longer; $COLD_LOADED"
  fi
fi

FAILED=()
for name in "${ORDERED[@]}"; do
  describe "$name"
  want="$VERSION_VALUE $(input_hash "$name")"
  if stamp_ok "$name" "$want"; then
    log "$BIN_NAME: up to date ($VERSION_VALUE)"
    continue
  fi
  rm -f "$STAMPS/$name"
  if { [ "$FORCE" = 0 ] && from_ambient "$name"; } || from_official "$name" || build "$name"; then
    echo "$want" >"$STAMPS/$name"
  else
    FAILED+=("$BIN_NAME ($MODULE@$MODULE_VERSION)")
  fi
done

# Register the providers as plugins in our PULUMI_HOME, so that the engine
# finds them even with PULUMI_IGNORE_AMBIENT_PLUGINS set and never downloads.
if [ -x "$BIN/pulumi" ]; then
  for name in kubernetes command random tls; do
    describe "$name"
    [ -x "$BIN/$BIN_NAME" ] || continue
    dest=$PHOME/plugins/resource-$PLUGIN_NAME-v$PLUGIN_VERSION/$BIN_NAME
    if [ -x "$dest" ] && cmp -s "$dest" "$BIN/$BIN_NAME"; then continue; fi
    log "$BIN_NAME: pulumi plugin install resource $PLUGIN_NAME $PLUGIN_VERSION --file ..."
    PULUMI_HOME=$PHOME PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
      "$BIN/pulumi" plugin install resource "$PLUGIN_NAME" "$PLUGIN_VERSION" --file "$BIN/$BIN_NAME" \
      >"$LOGS/plugin-install-$name.log" 2>&1 || {
      err "pulumi plugin install of $BIN_NAME failed (see $LOGS/plugin-install-$name.log)"
      FAILED+=("$BIN_NAME (plugin install)")
    }
  done
fi

cat >"$TC/env.sh" <<EOF
# Generated by scripts/toolchain/install.sh: source it to use the pinned toolchain.
case ":\$PATH:" in *":$BIN:"*) ;; *) export PATH="$BIN:\$PATH" ;; esac
export PULUMI_HOME="$PHOME"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# Plugins come from PULUMI_HOME (providers) and from beside pulumi (language
# host) only: no "using ... from \$PATH" warnings, no stray plugins.
export PULUMI_IGNORE_AMBIENT_PLUGINS=true
EOF

if [ -x "$BIN/pulumi" ]; then
  log "pulumi $("$BIN/pulumi" version 2>/dev/null || echo '(does not run)') in $BIN; source $TC/env.sh"
fi
if [ ${#FAILED[@]} -gt 0 ]; then
  err "could not install: ${FAILED[*]}"
  exit 1
fi
log "done"
