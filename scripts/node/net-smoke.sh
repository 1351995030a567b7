#!/usr/bin/env bash
# nordstack network smoke test of one pair, run on the sending node over the
# private network: a path-MTU probe (binary search of `ping -M do`, which finds
# what tracepath misses) and an iperf3 TCP run from this node to the peer.
#
# It judges the pair itself and exits 1 naming the pair and the figures when
# it misses a threshold, so a failed measurement is never stored as a success
# and the next `pulumi up` measures again.
#
# stdout: one JSON line {"from","to","address","pathMtu","gbps","retransmits",
#         "segments","retransmitRate","rttMs","error"?}
#
# Environment:
#   NORDSTACK_SELF_NAME           this node's name (default: hostname)
#   NORDSTACK_PEER_NAME           (required) the receiving node's name
#   NORDSTACK_PEER_ADDRESS        (required) its private address (iperf3 server)
#   NORDSTACK_EXPECTED_MTU        MTU both private interfaces have (default 1500)
#   NORDSTACK_MIN_GBPS            minimum Gbit/s (default 1)
#   NORDSTACK_MAX_RETRANSMIT_RATE most retransmitted segments per segment sent (default 0.01)
#   NORDSTACK_IPERF_PORT          default 5201
#   NORDSTACK_IPERF_DURATION      seconds per run (default 10)
#   NORDSTACK_IPERF_PARALLEL      parallel streams (default 1)
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

# Reads iperf3's pretty-printed --json report on stdin and prints
# "bits_per_second_received bytes_sent retransmits mss error". iperf3 prints one
# key per line, so the end.sum_sent / end.sum_received objects are found by
# their opening lines.
iperf_figures() {
    awk '
        function num(line) { sub(/^[^:]*:[ \t]*/, "", line); sub(/[ \t,]*$/, "", line); return line + 0 }
        /"tcp_mss_default"[ \t]*:/ { mss = num($0) }
        /"tcp_mss"[ \t]*:/ { mss = num($0) }
        /"error"[ \t]*:/ { e = $0; sub(/^[^:]*:[ \t]*"/, "", e); sub(/"[ \t,]*$/, "", e); err = e }
        /"sum_sent"[ \t]*:[ \t]*\{/ { sec = "sent"; next }
        /"sum_received"[ \t]*:[ \t]*\{/ { sec = "recv"; next }
        /\}/ { sec = "" }
        sec == "sent" && /"bytes"[ \t]*:/ { sent = num($0) }
        sec == "sent" && /"retransmits"[ \t]*:/ { rt = num($0) }
        sec == "recv" && /"bits_per_second"[ \t]*:/ { bps = num($0) }
        END { gsub(/[ \t]+/, "_", err); printf "%.0f %.0f %.0f %.0f %s\n", bps, sent, rt, mss, (err == "" ? "-" : err) }
    '
}

main() {
    local peer=${NORDSTACK_PEER_NAME:-} addr=${NORDSTACK_PEER_ADDRESS:-} mtu=${NORDSTACK_EXPECTED_MTU:-1500}
    local port=${NORDSTACK_IPERF_PORT:-5201} duration=${NORDSTACK_IPERF_DURATION:-10} parallel=${NORDSTACK_IPERF_PARALLEL:-1}
    local min_gbps=${NORDSTACK_MIN_GBPS:-1} max_rate=${NORDSTACK_MAX_RETRANSMIT_RATE:-0.01}
    local self pmtu rtt report bps sent rt mss err verdict
    { [ -n "$peer" ] && [ -n "$addr" ]; } || fatal "NORDSTACK_PEER_NAME and NORDSTACK_PEER_ADDRESS are required"
    [[ "$mtu" =~ ^[0-9]+$ && "$duration" =~ ^[0-9]+$ && "$parallel" =~ ^[0-9]+$ && "$port" =~ ^[0-9]+$ ]] ||
        fatal "MTU, port, duration and parallel must be numbers"
    [[ "$min_gbps" =~ ^[0-9]+(\.[0-9]+)?$ && "$max_rate" =~ ^[0-9]+(\.[0-9]+)?$ ]] || fatal "thresholds must be numbers"
    self=${NORDSTACK_SELF_NAME:-$(hostname)}
    [ -x "$(command -v iperf3 2>/dev/null)" ] || fatal "iperf3 is not installed on ${self}; install it (apt-get install iperf3) or set smokeMode: never"
    [ -x "$(command -v ping 2>/dev/null)" ] || fatal "ping is not installed on ${self}; install iputils-ping"

    pmtu=$(path_mtu "$addr" "$mtu")
    rtt=$(ping -c3 -i0.2 -W1 "$addr" 2>/dev/null | sed -n 's|^rtt [^=]*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
    # Bounded: a one-way MTU black hole can stall TCP forever.
    report=$(timeout -k 5 $((duration + 20)) iperf3 -c "$addr" -p "$port" -J -t "$duration" -P "$parallel" \
        --connect-timeout 3000 2>/dev/null || true)
    [ -n "$report" ] || report='{"error": "iperf3 produced no report (timed out)"}'
    read -r bps sent rt mss err < <(printf '%s\n' "$report" | iperf_figures)
    [ "$err" = - ] && err="" || err=${err//_/ }

    # Figures and verdict in one awk call: bash has no floating point.
    verdict=$(awk -v bps="$bps" -v sent="$sent" -v rt="$rt" -v mss="$mss" -v min="$min_gbps" -v max="$max_rate" \
        -v pmtu="$pmtu" -v mtu="$mtu" -v err="$err" 'BEGIN {
            gbps = int(bps / 1e6 + 0.5) / 1000
            segs = (mss > 0) ? sent / mss : 0
            rate = (segs > 0) ? rt / segs : 0
            why = ""
            if (err != "") why = why "; iperf3 failed: " err
            else {
                if (gbps < min) why = why sprintf("; %s Gbit/s, required %s Gbit/s (virtualization overhead or a noisy neighbour?)", gbps, min)
                if (rate > max) why = why sprintf("; %.4f%% of segments retransmitted (%d of %d), at most %.4f%% allowed", rate * 100, rt, segs, max * 100)
            }
            if (pmtu != mtu) why = why sprintf("; path MTU %s, expected %s (the private interfaces\x27 MTU): set every private interface and the switch/bridge between them to the same MTU", (pmtu > 0 ? pmtu : "none"), mtu)
            printf "%s %.0f %.6f %s\n", gbps, segs, rate, substr(why, 3)
        }')
    local gbps segs rate why
    read -r gbps segs rate why <<<"$verdict"
    printf '{"from":%s,"to":%s,"address":%s,"pathMtu":%s,"gbps":%s,"retransmits":%s,"segments":%s,"retransmitRate":%s,"rttMs":%s%s}\n' \
        "$(json_str "$self")" "$(json_str "$peer")" "$(json_str "$addr")" "$pmtu" "$gbps" "$rt" "$segs" "$rate" "${rtt:-null}" \
        "$([ -n "$err" ] && printf ',"error":%s' "$(json_str "$err")")"
    [ -z "$why" ] || fatal "network smoke test ${self} -> ${peer} (${addr}) failed: ${why}"
    echo "[smoke] ${self} -> ${peer}: ${gbps} Gbit/s, ${rt} retransmits (${rate}), path MTU ${pmtu}" >&2
}

main "$@" </dev/null
