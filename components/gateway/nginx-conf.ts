import { runError } from "../errors";
// Renders the gateway's nginx.conf from the services. Pure: the same input
// gives the same text, so the preview diff shows every gateway change and the
// tests can run the exact text with the real nginx.
//
// Upstreams name each service by its cluster DNS name, never an IP. nginx
// open-source (1.22, and the pinned image) resolves an upstream `server` name
// once, at start, and has no `resolve` parameter. That is sound here: the name
// is a ClusterIP Service, whose address stays fixed for the Service's whole
// life while pods come and go behind it (kube-proxy or the Linkerd proxy picks
// a pod per connection or request). The alternative, `resolver` plus a
// variable in `proxy_pass`, re-resolves but turns every upstream into an
// implicit one without a `keepalive` pool: one TCP handshake per request, the
// very thing the article warns about. A replaced Service (new ClusterIP) rolls
// the gateway pods instead (see `rolloutTriggers` in nginx.ts).

/** What the gateway needs to know about one service. `ServiceConfig` satisfies it. */
export interface GatewayRoute {
    /** Service name: a DNS-1123 label, also the Kubernetes Service's name. */
    name: string;
    /** Port of the ClusterIP Service. */
    port: number;
    /** URL prefix routed to the service, e.g. `/api/inventory`; passed on unchanged (no prefix stripping). */
    gatewayPath: string;
}

export interface NginxConfInput {
    routes: GatewayRoute[];
    /** Namespace of the services' ClusterIP Services. */
    namespace: string;
    /** Default `cluster.local` (k3s default). */
    clusterDomain?: string;
    /** `server_name` values, e.g. `["api.example.no"]`. Requests for other hosts get no answer (444), except `/healthz`. */
    serverNames: string[];
    /**
     * Floor of the idle upstream connections each worker keeps per service. Default 64; the pool is
     * the larger of this and the per-worker share of `expectedConcurrency` (see `keepalivePool`).
     * 0 renders no upstream keepalive at all (no `keepalive`, no HTTP/1.1, no empty Connection
     * header), for comparison only.
     */
    keepalive?: number;
    /**
     * Concurrent requests one gateway pod is expected to serve at peak, all services together.
     * Default 256. Sizes the keepalive pool: requests in flight beyond a worker's idle pool close
     * their upstream connection after use and the next ones open new ones.
     */
    expectedConcurrency?: number;
    /** Requests per upstream connection before nginx closes it. Default 10000 (nginx's own 1000 costs one handshake per 1,000 requests). */
    keepaliveRequests?: number;
    /** Seconds an idle upstream connection is kept. Default 4: below the 5 s idle timeout of Node's http server, the shortest common one. */
    keepaliveTimeoutSeconds?: number;
    /**
     * `server` entries per service. Default 2. A ClusterIP is one address, and nginx never retries on
     * the peer that just failed: with one entry `proxy_next_upstream` could never fire. Two entries of
     * the same name give the retry a fresh connection, which the mesh (or kube-proxy) sends to another pod.
     */
    peersPerService?: number;
    /** Seconds to open an upstream connection. Default 1 (same data centre; the mesh proxy is local). */
    connectTimeoutSeconds?: number;
    /** Seconds between two writes/reads to/from the upstream. Default 10. */
    sendTimeoutSeconds?: number;
    readTimeoutSeconds?: number;
    /** Upper bound on attempts per request, the first included. Default 2. */
    nextUpstreamTries?: number;
    /** Seconds after the first attempt during which a retry may start. Default 10. */
    nextUpstreamTimeoutSeconds?: number;
    /** Open-files limit of the node (the tuned `nofile`). Default 1048576. */
    nofile?: number;
    /** Connections per worker, client and upstream side together. Default 16384; must be at most half of `nofile`. */
    workerConnections?: number;
    /** Worker processes; 0 means `auto` (one per core). Default 0. */
    workerProcesses?: number;
    /** Seconds a 200 response is cached; 0 (default) disables the micro-cache. Requests with Authorization or Cookie are never cached. */
    microCacheSeconds?: number;
    /** Sustained requests per second per client IP; 0 (default) disables `limit_req`. */
    rateLimitPerSecond?: number;
    /** Requests above the rate a client may send at once before getting 429. Default 2x the rate. */
    rateLimitBurst?: number;
    /**
     * Give every request without an `X-Request-ID` one of nginx's `$request_id` (and log it). Default false:
     * a client's own `X-Request-ID` is passed on unchanged either way, but generating one costs 16 bytes
     * from OpenSSL's RAND_bytes per request, ~9 % of the gateway's CPU per request in `npm run bench:gateway`.
     */
    requestIds?: boolean;
    /**
     * Buffer service responses in the gateway (`proxy_buffering on`). Default false: a response is passed
     * to the client as it arrives, the cheaper path in nginx (1.09x the requests per second and 0.89x the
     * p99 at 64 connections, paired in `npm run bench:gateway`). A service can still ask for buffering of one response with
     * `X-Accel-Buffering: yes` (e.g. a large one to slow clients). The micro-cache needs buffering, so
     * `microCacheSeconds` > 0 turns it on.
     */
    responseBuffering?: boolean;
    /** PEM certificate and key paths inside the container; with them, port 443 serves the routes and port 80 redirects. */
    tlsCertificatePath?: string;
    tlsKeyPath?: string;
    /** Listen address of plain HTTP: a port or `address:port`. Default `80`. */
    listenHttp?: string;
    /** Listen address of HTTPS. Default `443`. */
    listenHttps?: string;
    /** Worker user. Default `nginx` (the official image's). `""` renders none: an unprivileged master runs its workers as itself. */
    user?: string;
    /** Default `/var/run/nginx.pid`. */
    pidPath?: string;
    /** Default `stderr`. */
    errorLog?: string;
    /** Default `/dev/stdout`, buffered (4 KiB or 1 s); `syslog:...` unbuffered; `off` disables it. */
    accessLog?: string;
    /** Directory for request/response buffers on disk. Default `/var/cache/nginx`. */
    tempDir?: string;
    /** Micro-cache directory. Default `/var/cache/nginx/microcache`. */
    cacheDir?: string;
    /**
     * Tests and benchmarks only: service name -> `host:port` list replacing the DNS entries,
     * e.g. loopback servers. Production never sets it.
     */
    upstreamServers?: Record<string, string[]>;
}

export const NGINX_CONF_DEFAULTS = {
    clusterDomain: "cluster.local",
    keepalive: 64,
    expectedConcurrency: 256,
    keepaliveRequests: 10000,
    keepaliveTimeoutSeconds: 4,
    peersPerService: 2,
    connectTimeoutSeconds: 1,
    sendTimeoutSeconds: 10,
    readTimeoutSeconds: 10,
    nextUpstreamTries: 2,
    nextUpstreamTimeoutSeconds: 10,
    nofile: 1048576,
    workerConnections: 16384,
    workerProcesses: 0,
    microCacheSeconds: 0,
    rateLimitPerSecond: 0,
    requestIds: false,
    responseBuffering: false,
    listenHttp: "80",
    listenHttps: "443",
    user: "nginx",
    pidPath: "/var/run/nginx.pid",
    errorLog: "stderr",
    accessLog: "/dev/stdout",
    tempDir: "/var/cache/nginx",
    cacheDir: "/var/cache/nginx/microcache",
} as const;

/** `<svc>.<ns>.svc.<domain>`: the ClusterIP Service's stable DNS name. */
export function serviceHost(service: string, namespace: string, clusterDomain: string = NGINX_CONF_DEFAULTS.clusterDomain): string {
    return `${service}.${namespace}.svc.${clusterDomain}`;
}

/** nginx upstream block name of a service (`-` is not allowed there; `_` cannot occur in a DNS label, so no collisions). */
export function upstreamName(service: string): string {
    return `backend_${service.replace(/-/g, "_")}`;
}

/**
 * Idle upstream connections each worker keeps per service (`keepalive` in each upstream block):
 * 0 when keepalive is off, otherwise the larger of the `keepalive` floor and the requests one
 * worker must carry. With `reuseport` the kernel spreads client connections over the workers by
 * hash, so one worker carries about `expectedConcurrency / workerProcesses`, plus a quarter for the
 * hash's unevenness; with `worker_processes auto` the count is only known on the node, so the pool
 * covers the whole concurrency. Every service gets the whole share: which one is busy is not known.
 * The pool only caps idle connections, it opens none: a large one costs nothing until the load is there.
 */
export function keepalivePool(input: Pick<NginxConfInput, "keepalive" | "expectedConcurrency" | "workerProcesses">): number {
    const floor = input.keepalive ?? NGINX_CONF_DEFAULTS.keepalive;
    if (floor === 0) return 0;
    const concurrency = input.expectedConcurrency ?? NGINX_CONF_DEFAULTS.expectedConcurrency;
    const workers = input.workerProcesses ?? NGINX_CONF_DEFAULTS.workerProcesses;
    const perWorker = workers === 0 ? concurrency : Math.ceil((concurrency * 1.25) / workers);
    return Math.max(floor, perWorker);
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const URL_PATH = /^\/[A-Za-z0-9._~/-]*$/;
// Safe inside nginx.conf without quoting: no whitespace, ';', '{', '}', '#', quotes or '$'.
const CONF_WORD = /^[A-Za-z0-9_./:@[\]=+-]+$/;
const LISTEN = /^(\d{1,5}|[0-9.]+:\d{1,5}|\[[0-9a-fA-F:.]+\]:\d{1,5})$/;

/**
 * The access log line. To a file or pipe (the default, the container's stdout) it is buffered: one
 * write per 4 KiB of lines or per second instead of one per request, which cost 18 % of req/s and
 * 11 % of p99 unbuffered (`npm run bench:gateway`). 4 KiB is PIPE_BUF, so the workers' writes to one
 * pipe never interleave inside a line. syslog cannot be buffered (nginx refuses it).
 */
function accessLogLines(accessLog: string): string[] {
    if (accessLog === "off") return ["access_log off;"];
    if (accessLog.startsWith("syslog:")) return [`access_log ${accessLog} gateway;`];
    return [
        "# Buffered: one write per 4 KiB (PIPE_BUF: lines never interleave) or per second, not one per request.",
        `access_log ${accessLog} gateway buffer=4k flush=1s;`,
    ];
}

/** Every problem of the input, each naming the field; empty when it renders. */
export function nginxConfProblems(input: NginxConfInput): string[] {
    const c = withDefaults(input);
    const p: string[] = [];
    if (!LABEL.test(c.namespace)) p.push(`namespace ${JSON.stringify(c.namespace)} is not a DNS-1123 label`);
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(c.clusterDomain))
        p.push(`clusterDomain ${JSON.stringify(c.clusterDomain)} is not a domain`);
    if (c.serverNames.length === 0) p.push("serverNames is empty; set the public host name(s) of the API, e.g. api.example.no");
    for (const n of c.serverNames) if (!HOSTNAME.test(n)) p.push(`serverNames: ${JSON.stringify(n)} is not a host name`);
    const seenPaths = new Set<string>();
    for (const r of c.routes) {
        if (!LABEL.test(r.name)) p.push(`routes: service name ${JSON.stringify(r.name)} is not a DNS-1123 label`);
        if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) p.push(`routes.${r.name}.port ${r.port} is not a TCP port`);
        if (!URL_PATH.test(r.gatewayPath)) p.push(`routes.${r.name}.gatewayPath ${JSON.stringify(r.gatewayPath)} is not a URL path`);
        if (r.gatewayPath === "/healthz" || r.gatewayPath.startsWith("/healthz/")) {
            p.push(`routes.${r.name}.gatewayPath ${JSON.stringify(r.gatewayPath)} collides with the gateway's own /healthz`);
        }
        if (seenPaths.has(r.gatewayPath)) p.push(`routes.${r.name}.gatewayPath ${JSON.stringify(r.gatewayPath)} is routed twice`);
        seenPaths.add(r.gatewayPath);
    }
    const int = (field: string, v: number, min: number, max: number) => {
        if (!Number.isInteger(v) || v < min || v > max) p.push(`${field} must be an integer from ${min} to ${max}, got ${v}`);
    };
    int("keepalive", c.keepalive, 0, 100000);
    int("expectedConcurrency", c.expectedConcurrency, 1, 1000000);
    int("keepaliveRequests", c.keepaliveRequests, 1, 10000000);
    int("keepaliveTimeoutSeconds", c.keepaliveTimeoutSeconds, 1, 3600);
    int("peersPerService", c.peersPerService, 1, 16);
    int("connectTimeoutSeconds", c.connectTimeoutSeconds, 1, 75);
    int("sendTimeoutSeconds", c.sendTimeoutSeconds, 1, 3600);
    int("readTimeoutSeconds", c.readTimeoutSeconds, 1, 3600);
    int("nextUpstreamTries", c.nextUpstreamTries, 1, 10);
    int("nextUpstreamTimeoutSeconds", c.nextUpstreamTimeoutSeconds, 1, 3600);
    int("nofile", c.nofile, 1024, 1048576);
    int("workerConnections", c.workerConnections, 64, 1048576);
    int("workerProcesses", c.workerProcesses, 0, 1024);
    int("microCacheSeconds", c.microCacheSeconds, 0, 3600);
    int("rateLimitPerSecond", c.rateLimitPerSecond, 0, 1000000);
    int("rateLimitBurst", c.rateLimitBurst, 0, 1000000);
    const bool = (field: string, v: unknown) => {
        if (typeof v !== "boolean") p.push(`${field} must be true or false, got ${JSON.stringify(v)}`);
    };
    bool("requestIds", c.requestIds);
    bool("responseBuffering", c.responseBuffering);
    if (c.workerConnections * 2 > c.nofile) {
        p.push(
            `workerConnections ${c.workerConnections} needs ${c.workerConnections * 2} open files (client + upstream side) ` +
                `but nofile is ${c.nofile}; lower workerConnections or raise nofile`,
        );
    }
    if ((c.tlsCertificatePath === undefined) !== (c.tlsKeyPath === undefined)) {
        p.push("tlsCertificatePath and tlsKeyPath must be set together (or neither, for plain HTTP)");
    }
    for (const [field, v] of [
        ["user", c.user],
        ["pidPath", c.pidPath],
        ["errorLog", c.errorLog],
        ["accessLog", c.accessLog],
        ["tempDir", c.tempDir],
        ["cacheDir", c.cacheDir],
        ["tlsCertificatePath", c.tlsCertificatePath],
        ["tlsKeyPath", c.tlsKeyPath],
    ] as const) {
        if (v !== undefined && !(field === "user" && v === "") && !CONF_WORD.test(v))
            p.push(`${field} ${JSON.stringify(v)} has characters nginx.conf would need quoted`);
    }
    for (const [field, v] of [
        ["listenHttp", c.listenHttp],
        ["listenHttps", c.listenHttps],
    ] as const) {
        if (!LISTEN.test(v)) p.push(`${field} ${JSON.stringify(v)} must be a port or address:port`);
    }
    for (const [svc, servers] of Object.entries(c.upstreamServers ?? {})) {
        if (!c.routes.some((r) => r.name === svc)) p.push(`upstreamServers.${svc} names no route`);
        if (servers.length === 0) p.push(`upstreamServers.${svc} is empty`);
        for (const s of servers) if (!CONF_WORD.test(s)) p.push(`upstreamServers.${svc}: ${JSON.stringify(s)} is not host:port`);
    }
    return p;
}

/** Renders nginx.conf; throws one Error listing every problem of the input. */
export function renderNginxConf(input: NginxConfInput): string {
    const problems = nginxConfProblems(input);
    if (problems.length > 0) throw runError(`gateway nginx.conf: ${problems.join("; ")}`);
    const c = withDefaults(input);
    const pool = keepalivePool(c);
    const ka = pool > 0;
    const tls = c.tlsCertificatePath !== undefined && c.tlsKeyPath !== undefined;
    const cache = c.microCacheSeconds > 0;
    const limit = c.rateLimitPerSecond > 0;
    const routes = [...c.routes].sort((a, b) => a.name.localeCompare(b.name));
    const out: string[] = [];
    const put = (indent: number, ...lines: string[]) => lines.forEach((l) => out.push(l === "" ? "" : `${"    ".repeat(indent)}${l}`));

    put(
        0,
        "# Rendered by nordstack (components/gateway/nginx-conf.ts): change the stack config, not this file.",
        ...(c.user === "" ? [] : [`user ${c.user};`]),
        `worker_processes ${c.workerProcesses === 0 ? "auto" : c.workerProcesses};`,
        "# The node's tuned open-files limit: every proxied request holds two descriptors (client and upstream).",
        `worker_rlimit_nofile ${c.nofile};`,
        `pid ${c.pidPath};`,
        `error_log ${c.errorLog} warn;`,
        "# The container runtime supervises the master process.",
        "daemon off;",
        "",
        "events {",
        `    worker_connections ${c.workerConnections};`,
        "}",
        "",
        "http {",
    );
    put(
        1,
        "server_tokens off;",
        "default_type application/octet-stream;",
        "log_format gateway '$remote_addr [$time_local] \"$request\" $status $body_bytes_sent $request_time '",
        `                   'upstream=$upstream_addr status=$upstream_status time=$upstream_response_time cache=$upstream_cache_status${c.requestIds ? " id=$gateway_request_id" : ""}';`,
        ...accessLogLines(c.accessLog),
        "sendfile on;",
        "tcp_nopush on;",
        "# Client side: reuse connections too, and free the slots of clients that stopped reading.",
        "keepalive_timeout 65s;",
        "keepalive_requests 10000;",
        "reset_timedout_connection on;",
        "client_max_body_size 8m;",
        `client_body_temp_path ${c.tempDir}/client_temp;`,
        `proxy_temp_path ${c.tempDir}/proxy_temp;`,
        `fastcgi_temp_path ${c.tempDir}/fastcgi_temp;`,
        `uwsgi_temp_path ${c.tempDir}/uwsgi_temp;`,
        `scgi_temp_path ${c.tempDir}/scgi_temp;`,
    );
    if (c.requestIds) {
        put(
            1,
            "",
            "# The client's X-Request-ID if it sent one, else a fresh random one (RAND_bytes: only evaluated when needed).",
            "map $http_x_request_id $gateway_request_id {",
            "    default $http_x_request_id;",
            '    "" $request_id;',
            "}",
        );
    }
    if (limit) {
        put(
            1,
            "",
            "# Per client IP (hostPort keeps the client's address): one client cannot starve the others.",
            `limit_req_zone $binary_remote_addr zone=perclient:10m rate=${c.rateLimitPerSecond}r/s;`,
            "limit_req_status 429;",
        );
    }
    if (cache) {
        put(
            1,
            "",
            "# Micro-cache against the thundering herd: identical concurrent requests wait for one upstream answer.",
            `proxy_cache_path ${c.cacheDir} levels=1:2 keys_zone=microcache:10m max_size=256m inactive=1m use_temp_path=off;`,
        );
    }
    if (ka) {
        put(
            1,
            "",
            "# Upstream connection pools (every upstream below):",
            `# keepalive ${pool}: idle connections per worker, its share of ${c.expectedConcurrency} concurrent requests (floor ${c.keepalive}); past it each request costs a handshake.`,
            `# keepalive_requests ${c.keepaliveRequests}: one handshake per ${c.keepaliveRequests} requests, and busy connections rotate across the Service's pods.`,
            "# keepalive_time 1h: nginx's default age bound; keepalive_requests already rotates busy connections, keepalive_timeout idle ones.",
            `# keepalive_timeout ${c.keepaliveTimeoutSeconds}s: below the services' idle timeout (Node: 5 s), so nginx never reuses a connection being closed.`,
        );
    }
    for (const r of routes) {
        const servers =
            c.upstreamServers?.[r.name] ??
            Array<string>(c.peersPerService).fill(`${serviceHost(r.name, c.namespace, c.clusterDomain)}:${r.port}`);
        put(1, "", `upstream ${upstreamName(r.name)} {`);
        // max_fails=0: one failed attempt says one pod failed, not the Service; never take the ClusterIP out of rotation.
        put(2, ...servers.map((s) => `server ${s} max_fails=0;`));
        if (ka) {
            put(
                2,
                `keepalive ${pool};`,
                `keepalive_requests ${c.keepaliveRequests};`,
                "keepalive_time 1h;",
                `keepalive_timeout ${c.keepaliveTimeoutSeconds}s;`,
            );
        }
        put(1, "}");
    }

    const health = ["location = /healthz {", "    access_log off;", "    default_type text/plain;", '    return 200 "ok\\n";', "}"];
    put(1, "", "# Requests for unknown hosts (scanners, IP-only probes) get no answer; kubelet probes reach /healthz here.", "server {");
    put(
        2,
        "# reuseport: one listening socket per worker, the kernel spreads clients evenly (one shared socket let one worker take most).",
        `listen ${c.listenHttp} default_server reuseport;`,
        ...health,
        "location / {",
        "    return 444;",
        "}",
    );
    put(1, "}");
    if (tls) {
        put(1, "", "server {");
        put(2, `listen ${c.listenHttps} ssl http2 default_server reuseport;`, "ssl_reject_handshake on;");
        put(1, "}", "", "server {");
        put(2, `listen ${c.listenHttp};`, `server_name ${c.serverNames.join(" ")};`, ...health, "location / {");
        put(3, "return 308 https://$host$request_uri;");
        put(2, "}");
        put(1, "}");
    }

    put(1, "", "server {");
    if (tls) {
        put(
            2,
            `listen ${c.listenHttps} ssl http2;`,
            `ssl_certificate ${c.tlsCertificatePath ?? ""};`,
            `ssl_certificate_key ${c.tlsKeyPath ?? ""};`,
            "ssl_protocols TLSv1.2 TLSv1.3;",
            "ssl_session_cache shared:TLS:10m;",
            "ssl_session_timeout 1h;",
            "ssl_session_tickets off;",
        );
    } else {
        put(2, `listen ${c.listenHttp};`);
    }
    put(2, `server_name ${c.serverNames.join(" ")};`, "");
    if (ka) put(2, "# Upstream keepalive needs all three: `keepalive` in the upstream, HTTP/1.1 and no `Connection: close`.");
    if (ka) put(2, "proxy_http_version 1.1;", 'proxy_set_header Connection "";');
    put(
        2,
        "proxy_set_header Host $host;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        ...(c.requestIds
            ? ["proxy_set_header X-Request-ID $gateway_request_id;"]
            : ["# No X-Request-ID of our own (requestIds off): a client's passes unchanged; generating one costs ~9 % CPU per request."]),
        "# Retries, bounded in attempts and time: never of a POST or PATCH that reached a service (no `non_idempotent`).",
        "proxy_next_upstream error timeout http_500;",
        `proxy_next_upstream_tries ${c.nextUpstreamTries};`,
        `proxy_next_upstream_timeout ${c.nextUpstreamTimeoutSeconds}s;`,
        `proxy_connect_timeout ${c.connectTimeoutSeconds}s;`,
        `proxy_send_timeout ${c.sendTimeoutSeconds}s;`,
        `proxy_read_timeout ${c.readTimeoutSeconds}s;`,
        ...(c.responseBuffering || cache
            ? []
            : [
                  "# Responses pass to the client as they arrive (nginx's cheaper path); a service asks for buffering with X-Accel-Buffering: yes.",
                  "proxy_buffering off;",
              ]),
    );
    if (cache) {
        put(
            2,
            "proxy_cache microcache;",
            "proxy_cache_key $scheme$request_method$host$request_uri;",
            `proxy_cache_valid 200 ${c.microCacheSeconds}s;`,
            "proxy_cache_lock on;",
            "proxy_cache_lock_timeout 5s;",
            "proxy_cache_lock_age 5s;",
            "proxy_cache_use_stale updating;",
            "proxy_cache_background_update on;",
            "# Per-user answers are never shared.",
            "proxy_cache_bypass $http_authorization $http_cookie;",
            "proxy_no_cache $http_authorization $http_cookie;",
            "add_header X-Cache-Status $upstream_cache_status always;",
        );
    }
    put(2, "", ...health);
    for (const r of routes) {
        // An exact match and the prefix with its slash: /api/inventory and /api/inventory/x, not /api/inventoryx.
        const locations = r.gatewayPath === "/" ? ["/"] : [`= ${r.gatewayPath}`, `${r.gatewayPath}/`];
        for (const loc of locations) {
            put(2, "", `location ${loc} {`);
            if (limit) put(3, `limit_req zone=perclient burst=${c.rateLimitBurst} nodelay;`);
            put(3, `proxy_pass http://${upstreamName(r.name)};`);
            put(2, "}");
        }
    }
    if (!routes.some((r) => r.gatewayPath === "/")) put(2, "", "location / {", "    return 404;", "}");
    put(1, "}");
    put(0, "}");
    return `${out.join("\n")}\n`;
}

type Resolved = Required<Omit<NginxConfInput, "tlsCertificatePath" | "tlsKeyPath" | "upstreamServers">> &
    Pick<NginxConfInput, "tlsCertificatePath" | "tlsKeyPath" | "upstreamServers">;

function withDefaults(i: NginxConfInput): Resolved {
    const d = NGINX_CONF_DEFAULTS;
    const rate = i.rateLimitPerSecond ?? d.rateLimitPerSecond;
    return {
        ...d,
        ...Object.fromEntries(Object.entries(i).filter(([, v]) => v !== undefined)),
        routes: i.routes,
        namespace: i.namespace,
        serverNames: i.serverNames,
        rateLimitBurst: i.rateLimitBurst ?? rate * 2,
    } as Resolved;
}
