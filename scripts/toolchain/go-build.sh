#!/usr/bin/env bash
# Sourced by install.sh and kube-apiserver.sh: `go build` in the background with
# a progress report every 30 s. Needs $GO.

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# go_build_watched DIR LOG OUT LDFLAGS PKG REPORT [ARG...]: builds PKG in DIR into
# OUT (go's output in LOG), runs `REPORT ARG... ELAPSED_SECONDS` every 30 s while
# the build runs, and returns the build's exit status.
go_build_watched() {
  local dir=$1 log=$2 out=$3 ldflags=$4 pkg=$5 report=$6 start pid rc=0
  shift 6
  start=$(date +%s)
  (cd "$dir" && exec "$GO" build -p 2 -trimpath -v -ldflags "$ldflags" -o "$out" "$pkg") >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do
      sleep 1
      kill -0 "$pid" 2>/dev/null || break
    done
    kill -0 "$pid" 2>/dev/null || break
    "$report" "$@" "$(($(date +%s) - start))"
  done
  wait "$pid" || rc=$?
  return "$rc"
}
