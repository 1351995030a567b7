#!/usr/bin/env bash
# Side-by-side gateway benchmark (README: `npm run bench:gateway`); not a test.
#
# wrk against four variants on 127.0.0.1 only, in front of the same two
# distinct upstreams (two nginx processes, each answering a small JSON body
# that names it; their stub_status counts the TCP connections they accepted):
#   project  nginx.conf from components/gateway/nginx-conf.ts, production
#            defaults (only paths, listen address and upstream addresses moved),
#            access log included: buffered to stdout, a pipe another process
#            drains (the others log nothing)
#   stock    nginx with a bare `proxy_pass` to the same two servers (no
#            upstream keepalive, Debian's worker_connections 768)
#   haproxy  HAProxy from Debian, idiomatic: keep-alive both sides,
#            `http-reuse always`, the project's retry intent (one more attempt
#            on another server on connection errors, timeouts and 500, never a POST)
#            and its forwarding headers (X-Real-IP, X-Forwarded-For, X-Forwarded-Proto)
#   direct   wrk straight to upstream a (no gateway: the ceiling)
# Every round runs every variant at every concurrency, the order rotated each
# round, so slow drift of the shared machine hits all variants alike. Each run
# is preceded by an unmeasured warm-up at the same concurrency.
#
# Per run: requests, req/s, p50/p99 (wrk --latency), upstream connections
# opened (stub_status deltas), gateway CPU time (utime+stime of the master and
# its workers from /proc), errors (non-2xx + socket errors), and halfway through
# the share of wrk's clients held by the busiest gateway process (how evenly the
# kernel spread the connections). At the end each gateway's peak RSS (VmHWM
# summed over its processes). The table is Markdown.
# Last, failover: each gateway under wrk at 64 connections for 3 s while
# upstream b is SIGKILLed (master and workers, like a crashed pod) 1 s in;
# the client errors are counted, then b is started again.
#
# Environment:
#   BENCH_ROUNDS       rounds (default 6)
#   BENCH_DURATION     seconds per measured run (default 4, at most 10)
#   BENCH_WARMUP       seconds of unmeasured load before each run (default 1)
#   BENCH_CONNECTIONS  wrk connections, space-separated (default "64 256")
#   BENCH_THREADS      wrk threads (default 2)
#   BENCH_VARIANTS     subset/order of variants, each once (default "project stock haproxy direct")
#   BENCH_CANDIDATE    JSON of renderer inputs over the project's, e.g. '{"keepalive":64}':
#                      adds a variant `candidate` (to measure one tuning choice, paired)
#   BENCH_CANDIDATE_SED  a sed script applied to the candidate's rendered text, for directives
#                      the renderer has no input for, e.g. 's/ reuseport;/;/' (implies a candidate)
# Bounded: each run at most 10 s, the whole at most 5 minutes (refused otherwise).
# Needs root (nginx workers switch to www-data), nginx, haproxy, wrk, curl, node.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${BENCH_ROUNDS:-6}
DURATION=${BENCH_DURATION:-4}
WARMUP=${BENCH_WARMUP:-1}
CONNECTIONS=${BENCH_CONNECTIONS:-64 256}
THREADS=${BENCH_THREADS:-2}
VARIANTS=${BENCH_VARIANTS:-project stock haproxy direct}
CANDIDATE=${BENCH_CANDIDATE:-}
CANDIDATE_SED=${BENCH_CANDIDATE_SED:-}
HOST=api.bench.test
URL_PATH=/api/bench/items
PORT_A=18181
PORT_A_STATUS=18182
PORT_B=18185
PORT_B_STATUS=18186
PORT_PROJECT=18183
PORT_STOCK=18184
PORT_HAPROXY=18187
PORT_CANDIDATE=18188
TICKS=$(getconf CLK_TCK)

info() { echo "[bench] $*" >&2; }
fatal() {
    echo "[bench] error: $*" >&2
    exit 1
}

verify() {
    [ "$(id -u)" -eq 0 ] || fatal "run as root (nginx workers switch to www-data)"
    local c
    for c in nginx haproxy wrk curl node; do
        command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || fatal "$c is missing (bash scripts/dev/system-deps.sh --install)"
    done
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || fatal "BENCH_ROUNDS must be a positive integer"
    [[ $DURATION =~ ^[1-9][0-9]*$ && $DURATION -le 10 ]] || fatal "BENCH_DURATION must be 1 to 10 seconds"
    [[ $WARMUP =~ ^[0-9]+$ && $WARMUP -le 5 ]] || fatal "BENCH_WARMUP must be 0 to 5 seconds"
    # Each variant once: two gateways on one reuseport port would split its clients and spoil both.
    local v seen=" "
    for v in $VARIANTS; do
        case "$v" in
            project | stock | haproxy | direct | candidate) ;;
            *) fatal "BENCH_VARIANTS: unknown variant '$v' (project, stock, haproxy, direct, candidate)" ;;
        esac
        [[ $seen != *" $v "* ]] || fatal "BENCH_VARIANTS lists '$v' twice; list each variant once"
        seen="$seen$v "
    done
    if [ -n "$CANDIDATE$CANDIDATE_SED" ]; then
        # Listed by hand to choose its place in the rotation, or added last.
        [[ $seen == *" candidate "* ]] || VARIANTS="$VARIANTS candidate"
    elif [[ $seen == *" candidate "* ]]; then
        fatal "BENCH_VARIANTS lists 'candidate' but neither BENCH_CANDIDATE nor BENCH_CANDIDATE_SED is set"
    fi
    local nv nc estimate
    nv=$(wc -w <<<"$VARIANTS")
    nc=$(wc -w <<<"$CONNECTIONS")
    # A run costs its warm-up, its measured seconds and ~0.4 s of wrk start-up and /proc reads.
    # Failover: 3 s and a restart of upstream b per gateway.
    estimate=$((ROUNDS * nv * nc * (DURATION + WARMUP) + ROUNDS * nv * nc * 4 / 10 + nv * 4 + 5))
    [ "$estimate" -le 300 ] || fatal "about ${estimate}s planned ($ROUNDS rounds x $nv variants x $nc concurrencies); the bench stays under 300 s"
    ESTIMATE=$estimate
    # A second bench (or anything else) on these ports would share them through reuseport and spoil both.
    local port
    for port in $PORT_A $PORT_A_STATUS $PORT_B $PORT_B_STATUS $PORT_PROJECT $PORT_STOCK $PORT_HAPROXY $PORT_CANDIDATE; do
        [ -z "$(ss -Htln "sport = :$port")" ] || fatal "127.0.0.1:$port is in use (another bench still running?): $(ss -Htlnp "sport = :$port" | head -n 1)"
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
        timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
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

# render_project PORT DIR OVERRIDES_JSON -> nginx.conf from the production renderer, production defaults.
render_project() {
    # shellcheck disable=SC2016 # ${...} below are JavaScript template literals
    node --import tsx -e '
const { renderNginxConf } = require("./components/gateway/nginx-conf");
const [port, dir, a, b, nofile, overrides] = process.argv.slice(1);
process.stdout.write(renderNginxConf({
    routes: [{ name: "bench", port: 80, gatewayPath: "/api/bench" }],
    namespace: "bench",
    serverNames: ["api.bench.test"],
    nofile: Number(nofile),
    workerConnections: Math.min(16384, Math.floor(Number(nofile) / 2)),
    listenHttp: `127.0.0.1:${port}`,
    user: "www-data",
    pidPath: `${dir}/nginx.pid`,
    errorLog: `${dir}/error.log`,
    tempDir: `${dir}/temp`,
    cacheDir: `${dir}/cache`,
    upstreamServers: { bench: [a, b] },
    ...JSON.parse(overrides || "{}"),
}));
' "$1" "$2" "127.0.0.1:$PORT_A" "127.0.0.1:$PORT_B" "$(nofile)" "${3:-}"
}

# render_stock PORT DIR: what one writes first, a bare proxy_pass (Debian's defaults otherwise).
render_stock() {
    cat <<EOF
user www-data;
worker_processes auto;
pid $2/nginx.pid;
error_log $2/error.log warn;
daemon off;
events { worker_connections 768; }
http {
    access_log off;
    upstream backend {
        server 127.0.0.1:${PORT_A};
        server 127.0.0.1:${PORT_B};
    }
    server {
        listen 127.0.0.1:$1;
        location / { proxy_pass http://backend; }
    }
}
EOF
}

# render_haproxy PORT DIR: HAProxy as its documentation suggests for an HTTP reverse proxy.
render_haproxy() {
    cat <<EOF
global
    maxconn 8000
    pidfile $2/haproxy.pid
    # nbthread: default, one thread per CPU (like nginx's worker_processes auto)

defaults
    mode http
    timeout connect 1s
    timeout client 65s
    timeout server 10s
    timeout http-keep-alive 65s
    # The project's retry intent: one more attempt, on the other server.
    retries 1
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 500
    http-reuse always

frontend gateway
    bind 127.0.0.1:$1
    # The project's forwarding headers; X-Forwarded-For as a line after the client's (one list, as nginx's appended one).
    option forwardfor
    http-request set-header X-Real-IP %[src]
    http-request set-header X-Forwarded-Proto http
    default_backend services

backend services
    balance roundrobin
    # Never resend a POST that may have reached a server.
    http-request disable-l7-retry if METH_POST
    server a 127.0.0.1:${PORT_A}
    server b 127.0.0.1:${PORT_B}
EOF
}

# render_upstream ID PORT STATUS_PORT DIR: a stand-in service. keepalive_requests high: a real
# service does not hang up every 1,000 requests.
render_upstream() {
    cat <<EOF
user www-data;
worker_processes auto;
worker_rlimit_nofile $(nofile);
pid $4/nginx.pid;
error_log $4/error.log warn;
daemon off;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$2 reuseport;
        location / {
            default_type application/json;
            return 200 '{"items":[1,2,3],"service":"$1"}';
        }
    }
    server {
        listen 127.0.0.1:$3;
        location = /status { stub_status; }
    }
}
EOF
}

# start NAME PORT CONF_TEXT COMMAND...: runs COMMAND in the background, waits until PORT answers URL_PATH with 200.
start() {
    local name=$1 port=$2 conf=$3 dir=$DIR/$1 i code
    shift 3
    mkdir -p "$dir/temp"
    chmod 755 "$dir"
    printf '%s\n' "$conf" >"$dir/conf"
    # stdout is a pipe drained by another process, as a container runtime's (the project logs there).
    "$@" > >(exec cat >/dev/null) &
    PIDS+=("$!")
    eval "PID_${name}=$!"
    for i in $(seq 1 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST" "http://127.0.0.1:$port$URL_PATH" 2>/dev/null || true)
        [ "$code" != 200 ] || return 0
        [ "$i" -lt 100 ] || fatal "$name did not answer on $port (HTTP $code): $(cat "$dir/error.log" 2>/dev/null)"
        sleep 0.1
    done
}

# Connections both upstreams have accepted so far, not counting these status requests.
accepted() {
    local a b
    a=$(curl -s "http://127.0.0.1:${PORT_A_STATUS}/status" | awk 'NR == 3 { print $1 - 1 }')
    b=$(curl -s "http://127.0.0.1:${PORT_B_STATUS}/status" | awk 'NR == 3 { print $1 - 1 }')
    echo $((a + b))
}

# gateway_pids VARIANT: the master (or the single HAProxy process) and its children.
# master_pid NAME: the pid `start` recorded for NAME (nginx's master, or the single HAProxy process).
master_pid() {
    local var="PID_$1"
    echo "${!var}"
}

gateway_pids() {
    local pid
    pid=$(master_pid "$1")
    echo "$pid"
    cat "/proc/$pid/task/$pid/children" 2>/dev/null || true
}

# cpu_ticks VARIANT: user+system clock ticks of the gateway's processes (all threads).
cpu_ticks() {
    local p total=0 t
    for p in $(gateway_pids "$1"); do
        t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total"
}

# peak_rss_kb VARIANT: VmHWM summed over the gateway's processes.
peak_rss_kb() {
    local p
    for p in $(gateway_pids "$1"); do
        awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true
    done | awk '{ s += $1 } END { print s + 0 }'
}

# wrk_run PORT CONNS SECONDS -> "requests req_per_s p50_ms p99_ms errors"
wrk_run() {
    timeout -k 2 $(($3 + 10)) wrk -t"$THREADS" -c"$2" -d"$3s" --latency -H "Host: $HOST" "http://127.0.0.1:$1$URL_PATH" | awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        / requests in / { req = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { bad += $5 }
        /Socket errors:/ { gsub(/,/, ""); bad += $4 + $6 + $8 + $10 }
        END { printf "%d %.0f %.3f %.3f %d\n", req, rps, p50, p99, bad + 0 }'
}

port_of() {
    case $1 in
    project) echo "$PORT_PROJECT" ;;
    stock) echo "$PORT_STOCK" ;;
    haproxy) echo "$PORT_HAPROXY" ;;
    candidate) echo "$PORT_CANDIDATE" ;;
    direct) echo "$PORT_A" ;;
    esac
}

measure() { # measure VARIANT CONNS ROUND
    local port before after cpu0 cpu1 req rps p50 p99 bad conns cpu split_pid split
    port=$(port_of "$1")
    [ "$WARMUP" -eq 0 ] || wrk_run "$port" "$2" "$WARMUP" >/dev/null
    before=$(accepted)
    if [ "$1" != direct ]; then cpu0=$(cpu_ticks "$1"); fi
    # Halfway through: how the kernel spread wrk's client connections over the gateway's processes.
    (
        sleep "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')"
        # No client connected yet (a loaded machine, a short run) is a sample of none, not a failure.
        ss -Htnp state established "( sport = :$port )" | { grep -o 'pid=[0-9]*' || true; } | sort | uniq -c | awk '{ print $1 }' | sort -rn | paste -sd / -
    ) >"$DIR/split" &
    split_pid=$!
    read -r req rps p50 p99 bad < <(wrk_run "$port" "$2" "$DURATION")
    wait "$split_pid"
    if [ "$1" != direct ]; then cpu1=$(cpu_ticks "$1"); fi
    after=$(accepted)
    # For `direct` these are wrk's own connections; the table shows none for it.
    conns=$((after - before))
    cpu=$([ "$1" = direct ] && echo 0 || echo $((cpu1 - cpu0)))
    split=$(cat "$DIR/split")
    printf '%s %s %s %s %s %s %s %s %s %s %s\n' "$3" "$2" "$1" "$req" "$rps" "$p50" "$p99" "$conns" "$cpu" "$bad" "${split:--}" >>"$DIR/results"
    info "round $3 c$2 $1: $rps req/s, p50 $p50 ms, p99 $p99 ms, $conns upstream connections for $req requests, cpu $cpu ticks, errors $bad, clients per process $split"
}

upstream_b() {
    start b "$PORT_B" "$(render_upstream b "$PORT_B" "$PORT_B_STATUS" "$DIR/b")" nginx -p "$DIR/b" -c "$DIR/b/conf"
}

# failover VARIANT: 3 s of wrk at c64; 1 s in, upstream b dies (SIGKILL to master and workers).
failover() {
    local port wrk_pid req rps p50 p99 bad
    port=$(port_of "$1")
    wrk_run "$port" 64 3 >"$DIR/failover-run" &
    wrk_pid=$!
    sleep 1
    # Out of the job table first, so bash prints no "Killed" notice for the crash we cause (it still reaps it).
    disown "$(master_pid b)"
    # shellcheck disable=SC2046 # one pid per word
    kill -KILL $(gateway_pids b)
    wait "$wrk_pid"
    read -r req rps p50 p99 bad <"$DIR/failover-run"
    echo "$1 $req $bad $p99" >>"$DIR/failover"
    info "failover $1: $bad client errors in $req requests ($rps req/s, p99 $p99 ms) with upstream b SIGKILLed 1 s in"
    upstream_b
}

summary() {
    local v
    : >"$DIR/rss"
    for v in $VARIANTS; do
        if [ "$v" != direct ]; then echo "$v $(peak_rss_kb "$v")" >>"$DIR/rss"; fi
    done
    awk -v ticks="$TICKS" -v variants="$VARIANTS" -v concs="$CONNECTIONS" '
        function median(a, n,    i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        function commas(x,    s, r) { s = sprintf("%.0f", x); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } return s r }
        FILENAME ~ /rss$/ { rss[$1] = $2; next }
        FILENAME ~ /failover$/ { fo = fo sprintf("%s%s %d errors in %s requests", fo == "" ? "" : "; ", $1, $3, commas($2)); next }
        {
            k = $3 SUBSEP $2; n[k]++
            rps[k, n[k]] = $5; p50[k, n[k]] = $6; p99[k, n[k]] = $7
            byRound[$3, $2, $1] = $5; p99Round[$3, $2, $1] = $7; rounds[$2, $1] = 1
            req[k] += $4; con[k] += $8; cpu[k] += $9; bad[k] += $10
            # Share of the wrk clients on the busiest nginx process (the split is sorted, busiest first; 0.50: even
            # over two, 1.00: one worker holds them all). HAProxy is one process; "-" is a sample of none.
            np = split($11, per_proc, "/")
            if ($3 != "haproxy" && $3 != "direct" && $11 != "-") { total = 0; for (i = 1; i <= np; i++) total += per_proc[i]; nb[k]++; busy[k, nb[k]] = per_proc[1] / total; busyRound[$3, $2, $1] = busy[k, nb[k]] }
            lo[k] = (n[k] == 1 || $5 < lo[k]) ? $5 : lo[k]; hi[k] = ($5 > hi[k]) ? $5 : hi[k]
        }
        END {
            nv = split(variants, vs, " "); nc = split(concs, cs, " ")
            print ""
            print "| variant | conns | req/s median | req/s range | p50 ms | p99 ms | upstream conns / 1k req | CPU s / 100k req | peak RSS MiB | busiest process | errors |"
            print "|---|---|---|---|---|---|---|---|---|---|---|"
            for (i = 1; i <= nv; i++) for (j = 1; j <= nc; j++) {
                v = vs[i]; c = cs[j]; k = v SUBSEP c; m = n[k]
                if (m == 0) continue
                for (r = 1; r <= m; r++) { a1[r] = rps[k, r]; a2[r] = p50[k, r]; a3[r] = p99[k, r] }
                med[k] = median(a1, m); mp50 = median(a2, m); mp99[k] = median(a3, m)
                per = (v == "direct") ? "–" : sprintf("%.2f", con[k] * 1000 / req[k])
                cs100k = (v == "direct") ? "–" : sprintf("%.2f", cpu[k] / ticks * 100000 / req[k])
                mem = (v == "direct") ? "–" : sprintf("%.1f", rss[v] / 1024)
                # Median share of the clients on the busiest process; – where none was taken (HAProxy, direct).
                share = "–"
                if (nb[k] > 0) { for (r = 1; r <= nb[k]; r++) a4[r] = busy[k, r]; share = sprintf("%.2f", median(a4, nb[k])) }
                printf "| %s | %d | %s | %s–%s | %.2f | %.2f | %s | %s | %s | %s | %d |\n", v, c, commas(med[k]), commas(lo[k]), commas(hi[k]), mp50, mp99[k], per, cs100k, mem, share, bad[k]
            }
            print ""
            if (fo != "") print "failover (upstream b SIGKILLed 1 s into 3 s at c64): " fo
            for (j = 1; j <= nc; j++) {
                c = cs[j]
                if (!(("project" SUBSEP c) in n) || !(("haproxy" SUBSEP c) in n)) continue
                m = 0
                for (rc in rounds) {
                    split(rc, parts, SUBSEP)
                    if (parts[1] != c) continue
                    m++; pr[m] = byRound["project", c, parts[2]] / byRound["haproxy", c, parts[2]]
                    pp[m] = p99Round["project", c, parts[2]] / p99Round["haproxy", c, parts[2]]
                }
                extra = ""
                if (("stock" SUBSEP c) in med) extra = extra sprintf("; project/stock req/s %.2f", med["project", c] / med["stock", c])
                if (("direct" SUBSEP c) in med) extra = extra sprintf("; project/direct req/s %.2f", med["project", c] / med["direct", c])
                printf "c%d project/haproxy paired per round (median of %d): req/s %.2f, p99 %.2f%s\n", c, m, median(pr, m), median(pp, m), extra
                # The same p99 ratios, grouped by how evenly the reuseport hash spread the clients over the
                # project workers that round (the busiest process holding at most 0.55 of them, or more).
                ne = 0; nu = 0
                for (rc in rounds) {
                    split(rc, parts, SUBSEP)
                    if (parts[1] != c || !(("project" SUBSEP c SUBSEP parts[2]) in busyRound)) continue
                    ratio = p99Round["project", c, parts[2]] / p99Round["haproxy", c, parts[2]]
                    if (busyRound["project", c, parts[2]] <= 0.55) even[++ne] = ratio; else uneven[++nu] = ratio
                }
                printf "c%d project/haproxy p99 by the project split: near-even (busiest <= 0.55) %s in %d rounds, uneven %s in %d\n", c,
                    ne ? sprintf("%.2f", median(even, ne)) : "-", ne, nu ? sprintf("%.2f", median(uneven, nu)) : "-", nu
                if (("candidate" SUBSEP c) in n) {
                    m = 0
                    for (rc in rounds) {
                        split(rc, parts, SUBSEP)
                        if (parts[1] != c) continue
                        m++; qr[m] = byRound["candidate", c, parts[2]] / byRound["project", c, parts[2]]
                        qp[m] = p99Round["candidate", c, parts[2]] / p99Round["project", c, parts[2]]
                    }
                    printf "c%d candidate/project paired per round (median of %d): req/s %.3f, p99 %.3f\n", c, m, median(qr, m), median(qp, m)
                }
            }
            for (j = 1; j <= nc; j++) {
                c = cs[j]
                if (!(("project" SUBSEP c) in n) || !(("haproxy" SUBSEP c) in n)) continue
                printf "project/haproxy c%d: req/s %.2f p99 %.2f\n", c, med["project", c] / med["haproxy", c], mp99["project", c] / mp99["haproxy", c]
            }
        }' "$DIR/rss" "$DIR/failover" "$DIR/results"
}

main() {
    verify
    DIR=$(mktemp -d /tmp/nordstack-bench-XXXXXX)
    chmod 755 "$DIR"
    trap cleanup EXIT
    local started=$SECONDS
    info "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $(nginx -v 2>&1 | sed 's/.*: //'), HAProxy $(haproxy -v | awk 'NR == 1 { print $3 }'), wrk -t$THREADS -d${DURATION}s at c${CONNECTIONS// /,c}, $ROUNDS rounds (~${ESTIMATE}s)"
    start a "$PORT_A" "$(render_upstream a "$PORT_A" "$PORT_A_STATUS" "$DIR/a")" nginx -p "$DIR/a" -c "$DIR/a/conf"
    upstream_b
    local v
    for v in $VARIANTS; do
        case $v in
        project) start project "$PORT_PROJECT" "$(render_project "$PORT_PROJECT" "$DIR/project")" nginx -p "$DIR/project" -c "$DIR/project/conf" ;;
        candidate)
            start candidate "$PORT_CANDIDATE" "$(render_project "$PORT_CANDIDATE" "$DIR/candidate" "$CANDIDATE" | sed -e "${CANDIDATE_SED:-}")" \
                nginx -p "$DIR/candidate" -c "$DIR/candidate/conf"
            ;;
        stock) start stock "$PORT_STOCK" "$(render_stock "$PORT_STOCK" "$DIR/stock")" nginx -p "$DIR/stock" -c "$DIR/stock/conf" ;;
        haproxy) start haproxy "$PORT_HAPROXY" "$(render_haproxy "$PORT_HAPROXY" "$DIR/haproxy")" haproxy -db -f "$DIR/haproxy/conf" ;;
        direct) ;; # verify() refused any other name before anything started
        esac
    done
    if [ -f "$DIR/project/conf" ] && [ -f "$DIR/candidate/conf" ]; then
        info "candidate = project with: $(sed "s|$DIR/candidate/|$DIR/project/|; s|:$PORT_CANDIDATE|:$PORT_PROJECT|" "$DIR/candidate/conf" |
            diff "$DIR/project/conf" - | grep '^[<>]' | tr -s ' ' | paste -sd ' ' -)"
    fi
    : >"$DIR/results"

    local round c order vs n shift
    read -r -a vs <<<"$VARIANTS"
    n=${#vs[@]}
    for round in $(seq 1 "$ROUNDS"); do
        # Rotate the order each round so no variant always runs right after the same one.
        shift=$(((round - 1) % n))
        order="${vs[*]:shift} ${vs[*]:0:shift}"
        for c in $CONNECTIONS; do
            for v in $order; do measure "$v" "$c" "$round"; done
        done
    done
    : >"$DIR/failover"
    for v in $VARIANTS; do
        if [ "$v" != direct ]; then failover "$v"; fi
    done
    info "load average after: $(cut -d' ' -f1-3 /proc/loadavg); $((SECONDS - started)) s in all"
    summary
}

main "$@"
