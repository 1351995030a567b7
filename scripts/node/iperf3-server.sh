#!/usr/bin/env bash
# nordstack smoke test: an iperf3 server on this node's private address, for the
# length of one test run only.
#
#   iperf3-server.sh start   start it (bounded lifetime: it dies by itself)
#   iperf3-server.sh stop    stop it (idempotent)
#
# Environment:
#   NORDSTACK_IPERF_BIND      (start, required) private address to listen on
#   NORDSTACK_IPERF_PORT      default 5201
#   NORDSTACK_IPERF_LIFETIME  seconds before it stops by itself (default 600)
set -euo pipefail

PIDFILE=/run/nordstack/iperf3.pid

fatal() {
    echo "[smoke] ERROR: $*" >&2
    exit 1
}

stop() {
    if [ -f "$PIDFILE" ]; then
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        rm -f "$PIDFILE"
        echo "[smoke] iperf3 server stopped" >&2
    fi
}

start() {
    local bind=${NORDSTACK_IPERF_BIND:-} port=${NORDSTACK_IPERF_PORT:-5201} life=${NORDSTACK_IPERF_LIFETIME:-600} i
    [ -n "$bind" ] || fatal "NORDSTACK_IPERF_BIND is required"
    [ -x "$(command -v iperf3 2>/dev/null)" ] || fatal "iperf3 is not installed on $(hostname); install it (apt-get install iperf3) or set smokeMode: never"
    stop
    mkdir -p "$(dirname "$PIDFILE")"
    # timeout bounds the server's life even if the stop step never runs.
    setsid nohup timeout -k 5 "$life" iperf3 -s -B "$bind" -p "$port" >/dev/null 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for i in $(seq 1 50); do
        if [ -n "$(ss -Hltn "sport = :${port}" 2>/dev/null || true)" ]; then
            echo "[smoke] iperf3 server on ${bind}:${port} for at most ${life} s" >&2
            return
        fi
        [ "$i" -lt 50 ] || fatal "iperf3 server did not start on ${bind}:${port}"
        sleep 0.1
    done
}

main() {
    case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) fatal "usage: iperf3-server.sh start|stop" ;;
    esac
    printf '{"node":"%s","action":"%s"}\n' "$(hostname)" "$1"
}

main "$@" </dev/null
