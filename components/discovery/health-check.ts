// The article's health check for every service, and how it really reaches
// Consul. consul-k8s catalog sync registers each ready endpoint of a ClusterIP
// Service as a Consul instance carrying one check, "Kubernetes Readiness
// Check" (type kubernetes-readiness), passing exactly when the endpoint is
// ready; synced services get no other check (no annotation adds one). So the
// check runs as the pod's readinessProbe with the same URL, period and
// timeout: a pod failing it leaves the endpoints, its Consul check turns
// critical, and Consul DNS stops returning it. Pure functions.
import type { ServiceConfig } from "../config";
import { runError } from "../errors";

/** The article's Consul check definition (seed shape). */
export interface ConsulHttpCheck {
    check: { name: string; http: string; interval: string; timeout: string };
}

/** Per-service timing; Go-style durations (`10s`, `1m30s`), whole seconds because the probe counts seconds. */
export interface CheckTiming {
    interval?: string;
    timeout?: string;
}

export const DEFAULT_CHECK_TIMING = { interval: "10s", timeout: "1s" } as const;

/** The Kubernetes readiness probe that carries the check. */
export interface HttpReadinessProbe {
    httpGet: { path: string; port: number; scheme: "HTTP" };
    periodSeconds: number;
    timeoutSeconds: number;
    /** 1: like a Consul HTTP check, one failure takes the instance out. */
    failureThreshold: number;
    successThreshold: number;
}

export interface ServiceHealth {
    check: ConsulHttpCheck;
    readinessProbe: HttpReadinessProbe;
    /** For the service's Kubernetes Service: catalog sync settings and the check, visible as Consul service meta. */
    serviceAnnotations: Record<string, string>;
}

type CheckedService = Pick<ServiceConfig, "name" | "port" | "healthPath">;

/** Seconds in a Go-style duration (`10s`, `1m30s`, `2000ms`), or undefined when not one or not whole seconds. */
export function durationSeconds(d: string): number | undefined {
    const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(d);
    if (!m || d === "") return undefined;
    const ms = ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000 + Number(m[4] ?? 0);
    return ms % 1000 === 0 ? ms / 1000 : undefined;
}

/** `inventory` -> `Inventory Health Check`; `user-profile` -> `User Profile Health Check`. */
export function checkName(service: string): string {
    const words = service.split("-").filter((w) => w !== "");
    return `${words.map((w) => w[0].toUpperCase() + w.slice(1)).join(" ")} Health Check`;
}

/** Every problem with one service's check, each naming its key path. */
export function checkProblems(svc: CheckedService, timing: CheckTiming = {}): string[] {
    const at = `services[${svc.name}].healthCheck`;
    const p: string[] = [];
    if (!/^\/[^\s?#]*(\?[^\s#]*)?$/.test(svc.healthPath))
        p.push(`services[${svc.name}].healthPath ${JSON.stringify(svc.healthPath)} must be a URL path like /health`);
    if (!Number.isInteger(svc.port) || svc.port < 1 || svc.port > 65535) p.push(`services[${svc.name}].port ${svc.port} is not a TCP port`);
    const interval = timing.interval ?? DEFAULT_CHECK_TIMING.interval;
    const timeout = timing.timeout ?? DEFAULT_CHECK_TIMING.timeout;
    const iv = durationSeconds(interval);
    const to = durationSeconds(timeout);
    if (iv === undefined || iv < 1) p.push(`${at}.interval ${JSON.stringify(interval)} must be a duration of whole seconds like 10s`);
    if (to === undefined || to < 1) p.push(`${at}.timeout ${JSON.stringify(timeout)} must be a duration of whole seconds like 1s`);
    if (iv !== undefined && to !== undefined && iv >= 1 && to >= 1 && to >= iv) {
        p.push(`${at}.timeout (${timeout}) must be shorter than interval (${interval}): checks would overlap`);
    }
    return p;
}

/** The article's check for one service. Throws on invalid timing. */
export function renderConsulCheck(svc: CheckedService, timing: CheckTiming = {}): ConsulHttpCheck {
    const problems = checkProblems(svc, timing);
    if (problems.length > 0) throw runError(problems.join("\n"));
    return {
        check: {
            name: checkName(svc.name),
            http: `http://localhost:${svc.port}${svc.healthPath}`,
            interval: timing.interval ?? DEFAULT_CHECK_TIMING.interval,
            timeout: timing.timeout ?? DEFAULT_CHECK_TIMING.timeout,
        },
    };
}

/** The readiness probe executing `check`: same path and port (the kubelet probes the pod, i.e. its localhost), same period and timeout. */
export function readinessProbeFromCheck(c: ConsulHttpCheck): HttpReadinessProbe {
    const url = new URL(c.check.http);
    const port = Number(url.port || 80);
    return {
        httpGet: { path: `${url.pathname}${url.search}`, port, scheme: "HTTP" },
        periodSeconds: durationSeconds(c.check.interval) ?? 10,
        timeoutSeconds: durationSeconds(c.check.timeout) ?? 1,
        failureThreshold: 1,
        successThreshold: 1,
    };
}

/**
 * Annotations consul-k8s catalog sync reads on a Service: sync it under the
 * service's own name, and record the check as service meta (keys
 * `[A-Za-z0-9_-]`), so `consul catalog services -detailed` shows what health means.
 */
export function consulSyncAnnotations(svc: CheckedService, c: ConsulHttpCheck): Record<string, string> {
    return {
        "consul.hashicorp.com/service-sync": "true",
        "consul.hashicorp.com/service-name": svc.name,
        "consul.hashicorp.com/service-meta-health-check-http": c.check.http,
        "consul.hashicorp.com/service-meta-health-check-interval": c.check.interval,
        "consul.hashicorp.com/service-meta-health-check-timeout": c.check.timeout,
    };
}

/** The check, probe and annotations of one service. */
export function serviceHealth(svc: CheckedService, timing: CheckTiming = {}): ServiceHealth {
    const check = renderConsulCheck(svc, timing);
    return { check, readinessProbe: readinessProbeFromCheck(check), serviceAnnotations: consulSyncAnnotations(svc, check) };
}

/**
 * Health of every platform service, keyed by name. `timings` holds per-service
 * overrides; one Error lists every problem, including overrides for unknown services.
 */
export function platformHealth(services: CheckedService[], timings: Record<string, CheckTiming> = {}): Record<string, ServiceHealth> {
    const problems = services.flatMap((s) => checkProblems(s, timings[s.name]));
    const names = new Set(services.map((s) => s.name));
    for (const n of Object.keys(timings)) if (!names.has(n)) problems.push(`healthCheck timing for ${JSON.stringify(n)}: no such service`);
    if (problems.length > 0) throw runError(`invalid health checks:\n  - ${problems.join("\n  - ")}`);
    return Object.fromEntries(services.map((s) => [s.name, serviceHealth(s, timings[s.name])]));
}
