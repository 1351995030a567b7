#!/usr/bin/env bash
# nordstack network smoke test, run on one node against each peer over the
# private network: a path-MTU probe (binary search of `ping -M do`, which finds
# what tracepath misses) and an iperf3 TCP run from this node to the peer.
#
# stdout: one JSON line per peer: {"peer","address","pathMtu","ping","iperf"}
# with iperf3's own --json report; thresholds are judged by the caller.
#
# Environment:
#   NORDSTACK_PEERS            (required) space-separated name=address pairs
#   NORDSTACK_EXPECTED_MTU     largest MTU to probe (default 1500)
#   NORDSTACK_IPERF_PORT       default 5201
#   NORDSTACK_IPERF_DURATION   seconds per run (default 10)
#   NORDSTACK_IPERF_PARALLEL   parallel streams (default 1)
set -euo pipefail

fatal() {
    echo "[smoke] ERROR: $*" >&2
    exit 1
}

json_str() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    printf '"%s"' "${s//$'\t'/ }"
}

# Largest MTU that crosses to $1 unfragmented (payload + 28 bytes of IP/ICMP headers); 0 if none.
path_mtu() {
    local addr=$1 lo=1252 hi=$(($2 - 28)) mid
    ping -M "do" -c1 -W1 -s "$lo" "$addr" >/dev/null 2>&1 || {
        echo 0
        return
    }
    while [ "$lo" -lt "$hi" ]; do
        mid=$(((lo + hi + 1) / 2))
        if ping -M "do" -c1 -W1 -s "$mid" "$addr" >/dev/null 2>&1; then lo=$mid; else hi=$((mid - 1)); fi
    done
    echo $((lo + 28))
}

main() {
    local peers=${NORDSTACK_PEERS:-} mtu=${NORDSTACK_EXPECTED_MTU:-1500} port=${NORDSTACK_IPERF_PORT:-5201}
    local duration=${NORDSTACK_IPERF_DURATION:-10} parallel=${NORDSTACK_IPERF_PARALLEL:-1} pair name addr pmtu ping_out report
    [ -n "$peers" ] || fatal "NORDSTACK_PEERS is required (name=address ...)"
    [[ "$mtu" =~ ^[0-9]+$ && "$duration" =~ ^[0-9]+$ && "$parallel" =~ ^[0-9]+$ ]] || fatal "MTU, duration and parallel must be numbers"
    [ -x "$(command -v iperf3 2>/dev/null)" ] || fatal "iperf3 is not installed on $(hostname); install it (apt-get install iperf3) or set smokeMode: never"
    [ -x "$(command -v ping 2>/dev/null)" ] || fatal "ping is not installed on $(hostname); install iputils-ping"
    for pair in $peers; do
        name=${pair%%=*}
        addr=${pair#*=}
        pmtu=$(path_mtu "$addr" "$mtu")
        ping_out=$(ping -M "do" -c3 -i0.2 -W1 -s $((mtu - 28)) "$addr" 2>&1 || true)
        # Bounded: a one-way MTU black hole can stall TCP forever.
        report=$(timeout -k 5 $((duration + 20)) iperf3 -c "$addr" -p "$port" -J -t "$duration" -P "$parallel" \
            --connect-timeout 3000 2>/dev/null | tr '\n\t' '  ' || true)
        [ -n "$report" ] || report='{"error":"iperf3 produced no report (timed out)"}'
        printf '{"from":%s,"peer":%s,"address":%s,"pathMtu":%s,"ping":%s,"iperf":%s}\n' \
            "$(json_str "$(hostname)")" "$(json_str "$name")" "$(json_str "$addr")" "$pmtu" "$(json_str "$ping_out")" "$report"
    done
}

main "$@" </dev/null
