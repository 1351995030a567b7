// The nginx.conf renderer: what it writes, what it refuses, and `nginx -t` on
// the production text itself (cluster DNS names resolved through a private
// /etc/hosts in a mount namespace, since there is no cluster DNS here).
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import {
    GatewayRoute,
    NginxConfInput,
    keepalivePool,
    nginxConfProblems,
    renderNginxConf,
    serviceHost,
    upstreamName,
} from "../../components/gateway/nginx-conf";
import { loopbackPaths, makePrefix, nginxTest, removePrefix } from "./harness";

const ROUTES: GatewayRoute[] = [
    { name: "inventory", port: 8080, gatewayPath: "/api/inventory" },
    { name: "pricing-v2", port: 80, gatewayPath: "/api/pricing" },
];
const BASE: NginxConfInput = { routes: ROUTES, namespace: "shop", serverNames: ["api.cool-client.no"] };
const dirs: string[] = [];
after(() => dirs.forEach(removePrefix));

function block(conf: string, header: string): string {
    const start = conf.indexOf(`${header} {`);
    assert.ok(start >= 0, `no block ${header}`);
    return conf.slice(start, conf.indexOf("\n    }", start));
}

describe("renderNginxConf", () => {
    it("gives every service one upstream on its cluster DNS name, twice, with a keepalive pool for 256 concurrent requests by default", () => {
        const conf = renderNginxConf(BASE);
        assert.equal(serviceHost("inventory", "shop"), "inventory.shop.svc.cluster.local");
        assert.equal(upstreamName("pricing-v2"), "backend_pricing_v2");
        assert.deepEqual(
            block(conf, "upstream backend_inventory")
                .split("\n")
                .slice(1)
                .map((l) => l.trim()),
            [
                "server inventory.shop.svc.cluster.local:8080 max_fails=0;",
                "server inventory.shop.svc.cluster.local:8080 max_fails=0;",
                "keepalive 256;",
                "keepalive_requests 10000;",
                "keepalive_time 1h;",
                "keepalive_timeout 4s;",
            ],
        );
        assert.match(block(conf, "upstream backend_pricing_v2"), /server pricing-v2\.shop\.svc\.cluster\.local:80 max_fails=0;/);
        assert.doesNotMatch(conf, /server \d+\.\d+\.\d+\.\d+/, "never an IP address");
        assert.equal(conf.match(/^ {4}upstream /gm)?.length, 2);
    });

    it("sets the article's proxy directives, bounded retries and timeouts, server_name and the tuned nofile", () => {
        const conf = renderNginxConf({ ...BASE, nofile: 524288, keepalive: 256, nextUpstreamTries: 3, readTimeoutSeconds: 30 });
        for (const line of [
            "server_name api.cool-client.no;",
            "proxy_http_version 1.1;",
            'proxy_set_header Connection "";',
            "proxy_set_header X-Real-IP $remote_addr;",
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "proxy_next_upstream error timeout http_500;",
            "proxy_next_upstream_tries 3;",
            "proxy_next_upstream_timeout 10s;",
            "proxy_connect_timeout 1s;",
            "proxy_read_timeout 30s;",
        ]) {
            assert.ok(conf.includes(`        ${line}\n`), `missing: ${line}`);
        }
        assert.match(conf, /^worker_rlimit_nofile 524288;$/m);
        assert.match(conf, /^ {8}keepalive 256;$/m);
        assert.match(conf, /location = \/api\/inventory \{\n\s+proxy_pass http:\/\/backend_inventory;/);
        assert.match(conf, /location \/api\/inventory\/ \{\n\s+proxy_pass http:\/\/backend_inventory;/);
        assert.match(conf, /location = \/healthz \{/);
        assert.doesNotMatch(conf, /proxy_cache |limit_req |ssl_certificate /, "cache, rate limit and TLS are off unless asked for");
    });

    it("keepalive 0 removes exactly the upstream keepalive lines and nothing else", () => {
        const withKa = renderNginxConf(BASE).split("\n");
        const without = renderNginxConf({ ...BASE, keepalive: 0 }).split("\n");
        const removed = withKa.filter((l) => !without.includes(l)).map((l) => l.trim());
        assert.deepEqual(
            without.filter((l) => !withKa.includes(l)),
            [],
            "nothing added",
        );
        const comments = removed.filter((l) => l.startsWith("#"));
        // Per upstream (two services) the four keepalive directives; per server the two proxy lines.
        assert.deepEqual(removed.filter((l) => !l.startsWith("#")).sort(), [
            "keepalive 256;",
            "keepalive 256;",
            "keepalive_requests 10000;",
            "keepalive_requests 10000;",
            "keepalive_time 1h;",
            "keepalive_time 1h;",
            "keepalive_timeout 4s;",
            "keepalive_timeout 4s;",
            "proxy_http_version 1.1;",
            'proxy_set_header Connection "";',
        ]);
        // The comments explaining them go with them: one line per choice.
        assert.deepEqual(
            comments.map((l) => l.split(":")[0]),
            [
                "# Upstream connection pools (every upstream below)",
                "# keepalive 256",
                "# keepalive_requests 10000",
                "# keepalive_time 1h",
                "# keepalive_timeout 4s",
                "# Upstream keepalive needs all three",
            ],
        );
    });

    it("sizes the keepalive pool from the expected concurrency per worker, the floor (default 64) never undercut", () => {
        assert.equal(keepalivePool({}), 256, "worker_processes auto: the worker count is unknown, the pool covers all 256");
        assert.equal(keepalivePool({ expectedConcurrency: 1000 }), 1000);
        assert.equal(keepalivePool({ expectedConcurrency: 256, workerProcesses: 2 }), 160, "128 per worker + a quarter for the hash");
        assert.equal(keepalivePool({ expectedConcurrency: 256, workerProcesses: 8 }), 64, "40 per worker: the floor");
        assert.equal(keepalivePool({ expectedConcurrency: 10, keepalive: 32 }), 32);
        assert.equal(keepalivePool({ expectedConcurrency: 5000, keepalive: 0 }), 0, "0 still turns keepalive off");
        const conf = renderNginxConf({ ...BASE, expectedConcurrency: 600, workerProcesses: 3 });
        assert.match(conf, /^worker_processes 3;$/m);
        assert.equal(conf.match(/^ {8}keepalive 250;$/gm)?.length, 2, "every upstream gets the worker's whole share");
        assert.match(conf, /# keepalive 250: idle connections per worker, its share of 600 concurrent requests \(floor 64\)/);
        assert.deepEqual(nginxConfProblems({ ...BASE, expectedConcurrency: 0 }), [
            "expectedConcurrency must be an integer from 1 to 1000000, got 0",
        ]);
    });

    it("listens with reuseport, once per address (the default server), plain and TLS", () => {
        const plain = renderNginxConf(BASE);
        assert.deepEqual(plain.match(/^ +listen .*;$/gm), ["        listen 80 default_server reuseport;", "        listen 80;"]);
        const tls = renderNginxConf({ ...BASE, tlsCertificatePath: "/t.crt", tlsKeyPath: "/t.key" });
        assert.deepEqual(
            tls.match(/^ +listen .*;$/gm)?.map((l) => l.trim()),
            [
                "listen 80 default_server reuseport;",
                "listen 443 ssl http2 default_server reuseport;",
                "listen 80;",
                "listen 443 ssl http2;",
            ],
        );
    });

    it("buffers the access log to a file or pipe (4 KiB = PIPE_BUF, flushed each second); syslog unbuffered; off is off", () => {
        const logLine = (accessLog?: string) =>
            renderNginxConf({ ...BASE, accessLog })
                .match(/^ +access_log .*;$/m)?.[0]
                .trim();
        assert.equal(logLine(), "access_log /dev/stdout gateway buffer=4k flush=1s;");
        assert.equal(logLine("/var/log/nginx/api.log"), "access_log /var/log/nginx/api.log gateway buffer=4k flush=1s;");
        assert.equal(logLine("syslog:server=127.0.0.1:5514"), "access_log syslog:server=127.0.0.1:5514 gateway;");
        assert.equal(logLine("off"), "access_log off;");
    });

    it("renders micro-cache with proxy_cache_lock, per-client limit_req, and TLS when asked", () => {
        const conf = renderNginxConf({
            ...BASE,
            microCacheSeconds: 2,
            rateLimitPerSecond: 50,
            tlsCertificatePath: "/etc/nginx/tls/tls.crt",
            tlsKeyPath: "/etc/nginx/tls/tls.key",
        });
        assert.match(conf, /proxy_cache_path \/var\/cache\/nginx\/microcache .*keys_zone=microcache:10m/);
        assert.match(conf, /proxy_cache_lock on;/);
        assert.match(conf, /proxy_cache_valid 200 2s;/);
        assert.match(conf, /proxy_no_cache \$http_authorization \$http_cookie;/);
        assert.match(conf, /limit_req_zone \$binary_remote_addr zone=perclient:10m rate=50r\/s;/);
        assert.equal(conf.match(/limit_req zone=perclient burst=100 nodelay;/g)?.length, 4, "on every route location, not on /healthz");
        assert.match(conf, /listen 443 ssl http2;\n\s+ssl_certificate \/etc\/nginx\/tls\/tls.crt;/);
        assert.match(conf, /return 308 https:\/\/\$host\$request_uri;/);
        assert.match(conf, /listen 443 ssl http2 default_server reuseport;\n\s+ssl_reject_handshake on;/);
    });

    it("generates no X-Request-ID unless requestIds is on; then only for requests without one, and logs it", () => {
        const off = renderNginxConf(BASE);
        assert.doesNotMatch(off, /\$request_id|X-Request-ID \$|gateway_request_id/, "off by default: no RAND_bytes per request");
        const on = renderNginxConf({ ...BASE, requestIds: true });
        assert.match(on, /map \$http_x_request_id \$gateway_request_id \{\n\s+default \$http_x_request_id;\n\s+"" \$request_id;\n\s+\}/);
        assert.match(on, /^ {8}proxy_set_header X-Request-ID \$gateway_request_id;$/m);
        assert.match(on, /cache=\$upstream_cache_status id=\$gateway_request_id';$/m, "in the access log format");
        const offLines = new Set(off.split("\n"));
        const added = on.split("\n").filter((l) => !offLines.has(l));
        const removed = off.split("\n").filter((l) => !on.includes(l));
        assert.deepEqual(
            added.map((l) => l.trim().replace(/^#.*/, "#")),
            [
                "'upstream=$upstream_addr status=$upstream_status time=$upstream_response_time cache=$upstream_cache_status id=$gateway_request_id';",
                "#",
                "map $http_x_request_id $gateway_request_id {",
                "default $http_x_request_id;",
                '"" $request_id;',
                "proxy_set_header X-Request-ID $gateway_request_id;",
            ],
            "requestIds adds exactly the map, the header and the log field",
        );
        assert.equal(removed.length, 2, `the log line and the comment that says ids are off: ${removed.join(" | ")}`);
        assert.deepEqual(nginxConfProblems({ ...BASE, requestIds: "yes" as unknown as boolean }), [
            'requestIds must be true or false, got "yes"',
        ]);
    });

    it("streams responses (proxy_buffering off) unless responseBuffering or the micro-cache asks for buffering", () => {
        assert.match(renderNginxConf(BASE), /^ {8}proxy_buffering off;$/m);
        assert.doesNotMatch(renderNginxConf({ ...BASE, responseBuffering: true }), /proxy_buffering/);
        assert.doesNotMatch(renderNginxConf({ ...BASE, microCacheSeconds: 2 }), /proxy_buffering/, "the cache needs buffered answers");
    });

    it("refuses bad input with every problem named", () => {
        assert.deepEqual(nginxConfProblems(BASE), []);
        const problems = nginxConfProblems({
            ...BASE,
            serverNames: ["api example"],
            nofile: 4096,
            workerConnections: 4096,
            tlsCertificatePath: "/tls.crt",
            keepalive: -1,
            routes: [...ROUTES, { name: "health", port: 80, gatewayPath: "/healthz" }],
            upstreamServers: { nope: ["127.0.0.1:1"] },
        });
        assert.deepEqual(problems, [
            'serverNames: "api example" is not a host name',
            'routes.health.gatewayPath "/healthz" collides with the gateway\'s own /healthz',
            "keepalive must be an integer from 0 to 100000, got -1",
            "workerConnections 4096 needs 8192 open files (client + upstream side) but nofile is 4096; lower workerConnections or raise nofile",
            "tlsCertificatePath and tlsKeyPath must be set together (or neither, for plain HTTP)",
            "upstreamServers.nope names no route",
        ]);
        assert.throws(() => renderNginxConf({ ...BASE, serverNames: [] }), /gateway nginx.conf: serverNames is empty/);
    });
});

describe("nginx -t (nginx 1.22 from Debian)", () => {
    const hostsFor = (ns: string) => ROUTES.map((r) => `127.0.0.1 ${serviceHost(r.name, ns)}`).join("\n");

    /** Runs `nginx -t` in a private mount namespace whose /etc/hosts and resolv.conf are ours. */
    function testWithHosts(dir: string, conf: string, hosts: string): { ok: boolean; output: string } {
        const hostsFile = path.join(dir, "hosts");
        const resolvFile = path.join(dir, "resolv.conf");
        writeFileSync(hostsFile, `127.0.0.1 localhost\n${hosts}\n`);
        // A name missing from hosts is refused at once instead of waiting on a real DNS server.
        writeFileSync(resolvFile, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
        const script = 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"';
        const wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", hostsFile, resolvFile];
        return nginxTest(dir, conf, wrap);
    }

    it("passes on the production text: DNS-named upstreams, keepalive, retries (only paths moved to a temp prefix)", () => {
        const dir = makePrefix("conf-prod");
        dirs.push(dir);
        const conf = renderNginxConf({ ...BASE, ...loopbackPaths(dir, 18080), listenHttp: "127.0.0.1:18080" });
        assert.match(conf, /server inventory\.shop\.svc\.cluster\.local:8080 max_fails=0;/);
        const r = testWithHosts(dir, conf, hostsFor("shop"));
        assert.ok(r.ok, r.output);
        assert.match(r.output, /test is successful/);
    });

    it("passes with the access log to syslog (which nginx refuses to buffer)", () => {
        const dir = makePrefix("conf-syslog");
        dirs.push(dir);
        const conf = renderNginxConf({
            ...BASE,
            ...loopbackPaths(dir, 18080),
            accessLog: "syslog:server=127.0.0.1:5514",
            upstreamServers: { inventory: ["127.0.0.1:1"], "pricing-v2": ["127.0.0.1:2"] },
        });
        const r = nginxTest(dir, conf);
        assert.ok(r.ok, r.output);
    });

    it("fails when a service name does not resolve: nginx resolves upstreams once at start (the gateway waits for its Services)", () => {
        const dir = makePrefix("conf-unresolved");
        dirs.push(dir);
        const conf = renderNginxConf({ ...BASE, ...loopbackPaths(dir, 18080) });
        const r = testWithHosts(dir, conf, `127.0.0.1 ${serviceHost("inventory", "shop")}`);
        assert.equal(r.ok, false);
        assert.match(r.output, /host not found in upstream "pricing-v2\.shop\.svc\.cluster\.local:80"/);
    });

    it("passes with every option on: micro-cache, rate limit, TLS with a real certificate", () => {
        const dir = makePrefix("conf-all");
        dirs.push(dir);
        const cert = path.join(dir, "tls.crt");
        const key = path.join(dir, "tls.key");
        const gen = spawnSync(
            "openssl",
            [
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=api.cool-client.no",
            ].concat(["-keyout", key, "-out", cert]),
            { encoding: "utf8", timeout: 20_000 },
        );
        assert.equal(gen.status, 0, gen.stderr);
        const conf = renderNginxConf({
            ...BASE,
            ...loopbackPaths(dir, 18080),
            listenHttps: "127.0.0.1:18443",
            microCacheSeconds: 1,
            rateLimitPerSecond: 100,
            requestIds: true,
            accessLog: path.join(dir, "access.log"),
            tlsCertificatePath: cert,
            tlsKeyPath: key,
            upstreamServers: { inventory: ["127.0.0.1:1"], "pricing-v2": ["127.0.0.1:2", "127.0.0.1:3"] },
        });
        const r = nginxTest(dir, conf);
        assert.ok(r.ok, r.output);
        assert.match(r.output, /test is successful/);
    });
});
