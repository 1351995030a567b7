import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { config } from "../helpers/fixtures";
import {
    checkName,
    ConsulHttpCheck,
    durationSeconds,
    platformHealth,
    readinessProbeFromCheck,
    renderConsulCheck,
    serviceHealth,
} from "../../components/discovery/health-check";

// The seed notes' reference check, verbatim.
const SEED = JSON.parse(
    `{ "check": { "name": "Inventory Health Check", "http": "http://localhost:5000/health", "interval": "10s", "timeout": "1s" } }`,
) as ConsulHttpCheck;

/** The seed's shape: exactly one `check` with exactly these string fields, durations in Go form. */
function assertSeedShape(c: unknown, what: string): void {
    assert.deepEqual(Object.keys(c as object), ["check"], what);
    const check = (c as ConsulHttpCheck).check;
    assert.deepEqual(Object.keys(check).sort(), Object.keys(SEED.check).sort(), what);
    for (const v of Object.values(check)) assert.equal(typeof v, "string", what);
    assert.match(check.name, /^[A-Z][A-Za-z0-9]*( [A-Z][A-Za-z0-9]*)* Health Check$/, what);
    assert.match(check.http, /^http:\/\/localhost:\d{1,5}\/\S*$/, what);
    assert.match(check.interval, /^(\d+h)?(\d+m)?(\d+s)?$/, what);
    assert.match(check.timeout, /^(\d+h)?(\d+m)?(\d+s)?$/, what);
}

describe("Consul health checks (pure)", () => {
    it("reproduces the article's check exactly for its inventory service", () => {
        assert.deepEqual(renderConsulCheck({ name: "inventory", port: 5000, healthPath: "/health" }), SEED);
    });

    it("renders the seed shape for every service of the platform config, from its port and health path", () => {
        const cfg = config({
            services: [
                { name: "inventory", image: "docker.io/traefik/whoami:v1.10.3", port: 5000 },
                { name: "pricing", image: "docker.io/traefik/whoami:v1.10.3", healthPath: "/healthz" },
                { name: "user-profile", image: "docker.io/traefik/whoami:v1.10.3", port: 9000, healthPath: "/ready?deep=1" },
            ],
        });
        const health = platformHealth(cfg.services);
        assert.deepEqual(Object.keys(health), ["inventory", "pricing", "user-profile"]);
        for (const [name, h] of Object.entries(health)) assertSeedShape(h.check, name);
        assert.deepEqual(health.inventory.check, SEED, "the article's own service, from config");
        assert.deepEqual(health.pricing.check.check, {
            name: "Pricing Health Check",
            http: "http://localhost:8080/healthz",
            interval: "10s",
            timeout: "1s",
        });
        assert.equal(health["user-profile"].check.check.name, "User Profile Health Check");
        assert.equal(health["user-profile"].check.check.http, "http://localhost:9000/ready?deep=1");
    });

    it("takes interval and timeout per service", () => {
        const cfg = config();
        const health = platformHealth(cfg.services, { pricing: { interval: "30s", timeout: "2s" } });
        assert.deepEqual([health.pricing.check.check.interval, health.pricing.check.check.timeout], ["30s", "2s"]);
        assert.deepEqual([health.inventory.check.check.interval, health.inventory.check.check.timeout], ["10s", "1s"]);
        assertSeedShape(health.pricing.check, "pricing");
    });

    it("refuses durations it cannot run, a timeout not shorter than the interval, and overrides of unknown services, all at once", () => {
        const cfg = config();
        assert.throws(
            () =>
                platformHealth(cfg.services, {
                    inventory: { interval: "10", timeout: "500ms" },
                    pricing: { interval: "5s", timeout: "5s" },
                    billing: { interval: "10s" },
                }),
            (e: Error) => {
                assert.match(e.message, /services\[inventory\]\.healthCheck\.interval "10" must be a duration of whole seconds like 10s/);
                assert.match(e.message, /services\[inventory\]\.healthCheck\.timeout "500ms" must be a duration of whole seconds/);
                assert.match(e.message, /services\[pricing\]\.healthCheck\.timeout \(5s\) must be shorter than interval \(5s\)/);
                assert.match(e.message, /healthCheck timing for "billing": no such service/);
                return true;
            },
        );
        assert.throws(() => renderConsulCheck({ name: "x", port: 8080, healthPath: "health" }), /healthPath "health" must be a URL path/);
    });

    it("parses Go-style durations in whole seconds only", () => {
        assert.deepEqual(["10s", "1m", "1m30s", "2h", "2000ms", "1500ms", "10", "", "1d", "-1s"].map(durationSeconds), [
            10,
            60,
            90,
            7200,
            2,
            undefined,
            undefined,
            undefined,
            undefined,
            undefined,
        ]);
        assert.equal(checkName("inventory"), "Inventory Health Check");
    });

    it("turns the check into the readiness probe that really carries it to Consul, and the Service's sync annotations", () => {
        const h = serviceHealth({ name: "inventory", port: 5000, healthPath: "/health" }, { interval: "15s", timeout: "2s" });
        assert.deepEqual(h.readinessProbe, {
            httpGet: { path: "/health", port: 5000, scheme: "HTTP" },
            periodSeconds: 15,
            timeoutSeconds: 2,
            failureThreshold: 1,
            successThreshold: 1,
        });
        assert.deepEqual(readinessProbeFromCheck(SEED).httpGet, { path: "/health", port: 5000, scheme: "HTTP" });
        assert.deepEqual(h.serviceAnnotations, {
            "consul.hashicorp.com/service-sync": "true",
            "consul.hashicorp.com/service-name": "inventory",
            "consul.hashicorp.com/service-meta-health-check-http": "http://localhost:5000/health",
            "consul.hashicorp.com/service-meta-health-check-interval": "15s",
            "consul.hashicorp.com/service-meta-health-check-timeout": "2s",
        });
        // Consul service meta keys allow only letters, digits, '-' and '_'.
        for (const k of Object.keys(h.serviceAnnotations).filter((k) => k.includes("service-meta-"))) {
            assert.match(k.slice("consul.hashicorp.com/service-meta-".length), /^[A-Za-z0-9_-]{1,128}$/);
        }
    });
});
