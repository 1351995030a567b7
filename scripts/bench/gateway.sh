#!/usr/bin/env bash
# Benchmark of the rendered gateway (README: `npm run bench:gateway`); not a test.
#
# wrk against three variants, alternating, on 127.0.0.1 only:
#   gateway      nginx.conf from components/gateway/nginx-conf.ts (keepalive 64)
#   no-keepalive the same conf rendered with keepalive 0 (the three keepalive lines gone)
#   direct       the upstream itself
# The upstream is an nginx answering a small JSON body; its stub_status counts
# the TCP connections it accepted, so every run reports upstream connections
# opened per 1,000 requests. Both gateways list the upstream twice, as
# production lists a Service's DNS name twice (see peersPerService).
#
# Environment:
#   BENCH_ROUNDS       rounds of the three variants (default 5)
#   BENCH_DURATION     seconds per measured run (default 6)
#   BENCH_CONNECTIONS  wrk connections (default 64)
#   BENCH_THREADS      wrk threads (default 2)
#   BENCH_WARMUP       seconds of unmeasured load before each run (default 1)
# Needs root (nginx workers switch to www-data), nginx, wrk, curl and node.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${BENCH_ROUNDS:-5}
DURATION=${BENCH_DURATION:-6}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-1}
HOST=api.bench.test
URL_PATH=/api/bench/items
PORT_UP=18181
PORT_STATUS=18182
PORT_GW=18183
PORT_NOKA=18184

info() { echo "[bench] $*" >&2; }
fatal() {
    echo "[bench] error: $*" >&2
    exit 1
}

verify() {
    [ "$(id -u)" -eq 0 ] || fatal "run as root (nginx workers switch to www-data)"
    local c
    for c in nginx wrk curl node; do
        command -v "$c" >/dev/null 2>&1 || fatal "$c is missing (apt-get install -y nginx wrk curl)"
    done
}

DIR=""
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    [ -z "$DIR" ] || rm -rf "$DIR"
}

# nofile for worker_rlimit_nofile: the tuned value if this machine's hard limit allows it.
nofile() {
    local hard
    hard=$(ulimit -Hn)
    if [ "$hard" = unlimited ] || [ "$hard" -gt 1048576 ]; then hard=1048576; fi
    echo "$hard"
}

# render_gateway PORT KEEPALIVE PREFIX -> nginx.conf on stdout, from the production renderer.
render_gateway() {
    # shellcheck disable=SC2016 # ${...} below are JavaScript template literals
    node --import tsx -e '
const { renderNginxConf } = require("./components/gateway/nginx-conf");
const [port, keepalive, dir, upstream, nofile] = process.argv.slice(1);
process.stdout.write(renderNginxConf({
    routes: [{ name: "bench", port: 80, gatewayPath: "/api/bench" }],
    namespace: "bench",
    serverNames: ["api.bench.test"],
    keepalive: Number(keepalive),
    nofile: Number(nofile),
    workerConnections: Math.min(16384, Math.floor(Number(nofile) / 2)),
    listenHttp: `127.0.0.1:${port}`,
    user: "www-data",
    pidPath: `${dir}/nginx.pid`,
    errorLog: `${dir}/error.log`,
    accessLog: "off",
    tempDir: `${dir}/temp`,
    cacheDir: `${dir}/cache`,
    upstreamServers: { bench: [upstream, upstream] },
}));
' "$@"
}

# The stand-in service. keepalive_requests high: a real service does not hang up every 1,000 requests.
render_upstream() {
    cat <<EOF
user www-data;
worker_processes auto;
worker_rlimit_nofile $(nofile);
pid $1/nginx.pid;
error_log $1/error.log warn;
daemon off;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:${PORT_UP} reuseport;
        location / {
            default_type application/json;
            return 200 '{"items":[1,2,3],"service":"bench"}';
        }
    }
    server {
        listen 127.0.0.1:${PORT_STATUS};
        location = /status { stub_status; }
    }
}
EOF
}

# start_nginx NAME CONF_TEXT PORT: runs nginx in the foreground of a background job, waits for PORT.
start_nginx() {
    local dir=$DIR/$1 i
    mkdir -p "$dir/temp"
    chmod 755 "$dir"
    printf '%s' "$2" >"$dir/nginx.conf"
    nginx -p "$dir" -c "$dir/nginx.conf" &
    PIDS+=("$!")
    for i in $(seq 1 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$3/healthz" 2>/dev/null; then return 0; fi
        [ "$i" -lt 100 ] || fatal "$1 did not listen on $3: $(cat "$dir/error.log" 2>/dev/null)"
        sleep 0.1
    done
}

# Connections the upstream has accepted so far, not counting this status request itself.
accepted() {
    curl -s "http://127.0.0.1:${PORT_STATUS}/status" | awk 'NR == 3 { print $1 - 1 }'
}

# wrk_run PORT -> "requests req_per_s p99_ms"
wrk_run() {
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -H "Host: $HOST" "http://127.0.0.1:$1$URL_PATH" | awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        / requests in / { req = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { bad = $5 }
        END { printf "%d %.0f %.2f %d\n", req, rps, p99, bad + 0 }'
}

measure() { # measure VARIANT PORT ROUND
    local before after req rps p99 bad conns
    wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -H "Host: $HOST" "http://127.0.0.1:$2$URL_PATH" >/dev/null
    before=$(accepted)
    read -r req rps p99 bad < <(wrk_run "$2")
    after=$(accepted)
    # For `direct` these are wrk's own connections; the summary shows none for it.
    conns=$((after - before))
    printf '%s %s %s %s %s %s %s\n' "$3" "$1" "$req" "$rps" "$p99" "$conns" "$bad" >>"$DIR/results"
    info "round $3 $1: $rps req/s, p99 $p99 ms, $conns upstream connections for $req requests, non-2xx $bad"
}

main() {
    verify
    DIR=$(mktemp -d /tmp/nordstack-bench-XXXXXX)
    chmod 755 "$DIR"
    trap cleanup EXIT
    local nf
    nf=$(nofile)
    info "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; wrk -t$THREADS -c$CONNS -d${DURATION}s x $ROUNDS rounds"
    start_nginx upstream "$(render_upstream "$DIR/upstream")" "$PORT_UP"
    start_nginx gateway "$(render_gateway "$PORT_GW" 64 "$DIR/gateway" "127.0.0.1:$PORT_UP" "$nf")" "$PORT_GW"
    start_nginx no-keepalive "$(render_gateway "$PORT_NOKA" 0 "$DIR/no-keepalive" "127.0.0.1:$PORT_UP" "$nf")" "$PORT_NOKA"
    : >"$DIR/results"

    local round order v
    for round in $(seq 1 "$ROUNDS"); do
        # Rotate the order so no variant always runs right after the same one.
        case $((round % 3)) in
        1) order="gateway no-keepalive direct" ;;
        2) order="no-keepalive direct gateway" ;;
        *) order="direct gateway no-keepalive" ;;
        esac
        for v in $order; do
            case $v in
            gateway) measure gateway "$PORT_GW" "$round" ;;
            no-keepalive) measure no-keepalive "$PORT_NOKA" "$round" ;;
            direct) measure direct "$PORT_UP" "$round" ;;
            esac
        done
    done
    info "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

    # Ratios twice: of the medians, and the median of each round's own ratio. The variants of one
    # round run back to back, so the paired ratio is the one that survives background load drifting.
    awk -v conns="$CONNS" '
        function median(a, n,    i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        {
            v = $2; n[v]++
            rps[v, n[v]] = $4; p99[v, n[v]] = $5; byRound[v, $1] = $4; rounds[$1] = 1
            req[v] += $3; con[v] += $6; bad[v] += $7
            lo[v] = (n[v] == 1 || $4 < lo[v]) ? $4 : lo[v]; hi[v] = ($4 > hi[v]) ? $4 : hi[v]
        }
        END {
            printf "\n%-13s %10s %17s %9s %24s %8s\n", "variant", "req/s", "(min-max)", "p99 ms", "upstream conns/1000 req", "non-2xx"
            split("gateway no-keepalive direct", vs, " ")
            for (k = 1; k <= 3; k++) {
                v = vs[k]; m = n[v]
                for (i = 1; i <= m; i++) { r[i] = rps[v, i]; q[i] = p99[v, i] }
                med[v] = median(r, m); mp99[v] = median(q, m)
                per = (v == "direct") ? "-" : sprintf("%.3f", con[v] * 1000 / req[v])
                printf "%-13s %10.0f %8.0f-%-8.0f %9.2f %24s %8d\n", v, med[v], lo[v], hi[v], mp99[v], per, bad[v]
            }
            m = 0
            for (rd in rounds) { m++; gd[m] = byRound["gateway", rd] / byRound["direct", rd]; kn[m] = byRound["gateway", rd] / byRound["no-keepalive", rd] }
            printf "\nmedians over %d rounds, %d connections                 of medians   paired per round\n", m, conns
            printf "gateway / direct req/s (target >= 0.4x, ceiling ~0.5x)   %8.2fx   %8.2fx\n", med["gateway"] / med["direct"], median(gd, m)
            printf "keepalive / no-keepalive req/s (target >= 2.5x)         %8.2fx   %8.2fx\n", med["gateway"] / med["no-keepalive"], median(kn, m)
            printf "p99 no-keepalive / gateway                               %8.2fx\n", mp99["no-keepalive"] / mp99["gateway"]
            printf "upstream connections per 1000 requests: keepalive %.3f (target < 1), no-keepalive %.1f\n", con["gateway"] * 1000 / req["gateway"], con["no-keepalive"] * 1000 / req["no-keepalive"]
        }' "$DIR/results"
}

main "$@"
