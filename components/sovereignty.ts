// Every external endpoint the stack makes its hosts or its cluster contact, with
// the jurisdiction the stack knows for it, and the sovereignty check on them:
// under `strict` an endpoint known to be outside the EEA is a config problem
// (naming the key that fixes it); under `relaxed` it is a warning. Pure.
import { isIP } from "node:net";
import type { PlatformConfig } from "./config";
import { mirrorPrefix, splitImage, UPSTREAM_REGISTRIES } from "./images";
import { NGINX_IMAGE } from "./gateway/nginx";
import { POSTGRES_IMAGE } from "./data/postgres";
import { REDIS_IMAGE } from "./data/redis";
import { RCLONE_IMAGE } from "./data/backup-redis";
import { OVERLAY_SMOKE_IMAGE } from "./smoke/overlay";
import { LINKERD_DEFAULTS } from "./mesh/linkerd";
import { CONSUL_DEFAULTS } from "./discovery/consul";
import { DEFAULT_BASE_IMAGE } from "./nodes/libvirt-guests";
import { ConfigProblem } from "./validate";

/** EU member states plus Iceland, Liechtenstein and Norway (ISO 3166-1 alpha-2). */
export const EEA: readonly string[] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL",
    "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
]; // prettier-ignore

export interface Jurisdiction {
    /** ISO 3166-1 alpha-2 country, `local` (private network, the operator's own), or `unknown`. */
    country: string;
    /** Who runs it, as far as the stack knows. */
    operator?: string;
}

/**
 * What the stack knows about the endpoints it uses by default: the company or
 * body running each, and where that one is incorporated. Exact host match first,
 * then suffix (`.example.com` matches subdomains). Anything else is "unknown".
 */
export const KNOWN_ENDPOINTS: Readonly<Record<string, Jurisdiction>> = {
    "docker.io": { country: "US", operator: "Docker, Inc." },
    "registry-1.docker.io": { country: "US", operator: "Docker, Inc." },
    "registry.k8s.io": { country: "US", operator: "Linux Foundation (Kubernetes), served from Google Cloud and AWS" },
    "ghcr.io": { country: "US", operator: "GitHub (Microsoft)" },
    "github.com": { country: "US", operator: "GitHub (Microsoft)" },
    "raw.githubusercontent.com": { country: "US", operator: "GitHub (Microsoft)" },
    "quay.io": { country: "US", operator: "Red Hat (IBM)" },
    "cr.l5d.io": { country: "US", operator: "Buoyant, Inc. (Linkerd)" },
    "helm.linkerd.io": { country: "US", operator: "Buoyant, Inc. (Linkerd)" },
    "helm.releases.hashicorp.com": { country: "US", operator: "HashiCorp (IBM)" },
    "1.1.1.1": { country: "US", operator: "Cloudflare, Inc." },
    "1.0.0.1": { country: "US", operator: "Cloudflare, Inc." },
    "8.8.8.8": { country: "US", operator: "Google LLC" },
    "8.8.4.4": { country: "US", operator: "Google LLC" },
    "9.9.9.9": { country: "CH", operator: "Quad9 Foundation" },
    "149.112.112.112": { country: "CH", operator: "Quad9 Foundation" },
    // A .no name needs a registrant organised in Norway (Norid's rules): the operator is Norwegian.
    ".no": { country: "NO", operator: "a .no domain holder (Norid requires a Norwegian organisation)" },
};

export interface Endpoint {
    /** What is fetched or asked there. */
    purpose: string;
    /** Host (or address) contacted, e.g. `docker.io`, `registry.example.no:5000`. */
    endpoint: string;
    /** Full URL where there is one. */
    url?: string;
    country: string;
    operator?: string;
    /** true: in the EEA; false: known outside; undefined: not known. */
    eea?: boolean;
    /** For images: the upstream registry this endpoint stands for (the mirror does). */
    upstream?: string;
    /** Config key that changes this endpoint, and how. */
    key: string;
    fix: string;
}

export interface SovereigntyReport {
    sovereignty: PlatformConfig["sovereignty"];
    endpoints: Endpoint[];
    /** Endpoints known to be outside the EEA: config problems under strict. */
    problems: ConfigProblem[];
    /** The same under relaxed (the deployment goes on). */
    warnings: string[];
}

/** What the stack knows about a host name or address. */
export function jurisdictionOf(hostOrUrl: string): Jurisdiction {
    const host = hostOf(hostOrUrl);
    const known = KNOWN_ENDPOINTS[host];
    if (known) return known;
    if (isPrivateAddress(host) || host === "localhost") return { country: "local", operator: "a private address of your own network" };
    const suffix = Object.keys(KNOWN_ENDPOINTS)
        .filter((k) => k.startsWith("."))
        .sort((a, b) => b.length - a.length)
        .find((k) => host.endsWith(k));
    return suffix ? KNOWN_ENDPOINTS[suffix] : { country: "unknown" };
}

/** `https://host:port/path` or `host:port/path` -> `host` (lower case, no port). */
export function hostOf(hostOrUrl: string): string {
    const noScheme = hostOrUrl.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "");
    const hostPort = noScheme.split("/")[0].toLowerCase();
    if (isIP(hostPort)) return hostPort;
    return hostPort.replace(/:\d+$/, "");
}

function isPrivateAddress(host: string): boolean {
    if (isIP(host) !== 4) return false;
    const [a, b] = host.split(".").map(Number);
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || a === 127;
}

function endpointFor(e: Omit<Endpoint, "country" | "operator" | "eea">): Endpoint {
    const j = jurisdictionOf(e.url ?? e.endpoint);
    const eea = j.country === "local" || EEA.includes(j.country) ? true : j.country === "unknown" ? undefined : false;
    return { ...e, country: j.country, ...(j.operator ? { operator: j.operator } : {}), ...(eea === undefined ? {} : { eea }) };
}

const MIRROR_FIX = "set registryMirror to a registry mirror in the EEA (e.g. registry.example.no) that proxies it";

/**
 * Every endpoint the configured stack contacts, and the sovereignty verdict on them.
 * `extra` lets other layers (e.g. a backup target) add theirs.
 */
export function sovereigntyReport(cfg: PlatformConfig, extra: Omit<Endpoint, "country" | "operator" | "eea">[] = []): SovereigntyReport {
    const out: Omit<Endpoint, "country" | "operator" | "eea">[] = [];
    const k3s = cfg.k3s.enabled;
    const mirror = cfg.mirrors.registry;

    if (k3s && !cfg.k3s.airgap) {
        out.push({
            purpose: "k3s install script",
            endpoint: hostOf(cfg.k3s.installScriptUrl),
            url: cfg.k3s.installScriptUrl,
            key: "k3sInstallScriptUrl",
            fix: "point k3sInstallScriptUrl at a copy of the install script in the EEA, or install from local files with k3sAirgap",
        });
        out.push({
            purpose: `k3s ${cfg.k3s.version} binary and checksums`,
            endpoint: hostOf(cfg.k3s.downloadUrl),
            url: cfg.k3s.downloadUrl,
            key: "k3sDownloadUrl",
            fix: "set k3sDownloadUrl to a mirror of the k3s release files in the EEA, or install from local files with k3sAirgap",
        });
    }

    if (k3s) {
        // Which upstream serves which of the stack's images; docker.io also serves k3s's own system images.
        const uses = new Map<string, Set<string>>();
        const use = (ref: string, what: string) => {
            const { registry } = splitImage(ref);
            uses.set(registry, (uses.get(registry) ?? new Set()).add(what));
        };
        use("docker.io/rancher/mirrored-pause", "k3s system images");
        cfg.services.forEach((s) => use(s.image, `service ${s.name}`));
        if (cfg.services.some((s) => s.datastores.some((d) => d.engine === "postgres"))) use(POSTGRES_IMAGE, "Postgres");
        if (cfg.services.some((s) => s.datastores.some((d) => d.engine === "redis"))) use(REDIS_IMAGE, "Redis");
        if (cfg.services.length > 0) use(NGINX_IMAGE, "NGINX gateway");
        if (cfg.backups) {
            const kinds = new Set(cfg.services.flatMap((s) => s.datastores.map((d) => d.engine)));
            if (kinds.has("postgres") && cfg.backups.postgresImage) use(cfg.backups.postgresImage, "Postgres backups");
            if (kinds.has("redis")) use(RCLONE_IMAGE, "Redis backups");
        }
        const overlaySmoke = cfg.smoke.mode !== "never" && cfg.nodes.length > 1;
        if (overlaySmoke) use(OVERLAY_SMOKE_IMAGE, "overlay smoke test");
        use("cr.l5d.io/linkerd/proxy", "Linkerd");
        use("docker.io/hashicorp/consul", "Consul");
        for (const [registry, what] of uses) {
            const mirrored = mirror !== undefined && UPSTREAM_REGISTRIES.includes(registry);
            out.push({
                purpose: `container images: ${[...what].join(", ")}`,
                endpoint: mirrored ? mirror.host : registry,
                ...(mirrored ? { url: `https://${mirrorPrefix(mirror)}/${registry}`, upstream: registry } : {}),
                key: mirrored ? "registryMirror" : UPSTREAM_REGISTRIES.includes(registry) ? "registryMirror" : "services[].image",
                fix: UPSTREAM_REGISTRIES.includes(registry) ? MIRROR_FIX : "use an image from a registry in the EEA",
            });
        }

        const chart = (key: string, explicit: string | undefined, dflt: string, charts: string) => {
            const repo = explicit ?? cfg.mirrors.chart ?? dflt;
            out.push({
                purpose: `Helm charts: ${charts}`,
                endpoint: hostOf(repo),
                url: repo,
                key: explicit ? key : "chartMirror",
                fix: explicit
                    ? `point ${key} at a Helm repository in the EEA`
                    : "set chartMirror to one Helm repository (https:// or oci://) in the EEA holding linkerd-crds, linkerd-control-plane, linkerd2-cni and consul",
            });
        };

        chart(
            "linkerdChartRepository",
            cfg.mesh.linkerdChartRepository,
            LINKERD_DEFAULTS.chartRepository,
            "linkerd-crds, linkerd-control-plane, linkerd2-cni",
        );
        chart("consulChartRepository", cfg.mesh.consulChartRepository, CONSUL_DEFAULTS.chartRepository, "consul");
    }

    if (cfg.libvirt) {
        const base = cfg.libvirt.baseImage ?? DEFAULT_BASE_IMAGE;
        if (/^https?:\/\//.test(base)) {
            out.push({
                purpose: "guest base image",
                endpoint: hostOf(base),
                url: base,
                key: "libvirt.baseImage",
                fix: "download the image once and set libvirt.baseImage to its path on the hypervisor (or a URL in the EEA)",
            });
        }
        const explicit = cfg.libvirt.nameservers;
        const servers = explicit ?? [...new Set(cfg.libvirt.guests.flatMap((g) => (g.gateway ? [g.gateway] : [])))];
        for (const ns of servers) {
            out.push({
                purpose: explicit ? "guest DNS resolver" : "guest DNS resolver (the guests' gateway: the hypervisor's resolver)",
                endpoint: ns,
                key: "libvirt.nameservers",
                fix: "set libvirt.nameservers to resolvers in the EEA (default: each guest's gateway, the hypervisor)",
            });
        }
    } else {
        out.push({
            purpose: "DNS: the nodes' own resolvers (/etc/resolv.conf; CoreDNS forwards to them); not managed by nordstack",
            endpoint: "nodes' resolv.conf",
            key: "nodes",
            fix: "configure the nodes' resolvers",
        });
    }
    out.push({
        purpose: "NTP: the nodes' own time servers (Debian default: debian.pool.ntp.org); not managed by nordstack",
        endpoint: cfg.libvirt ? "guests' timesyncd" : "nodes' NTP",
        key: "nodes",
        fix: "configure the nodes' time servers",
    });
    out.push(...extra);

    const endpoints = out.map(endpointFor);
    const strict = cfg.sovereignty === "strict";
    const problems: ConfigProblem[] = [];
    const warnings: string[] = [];
    for (const e of endpoints) {
        if (e.eea !== false) continue;
        const what = `${e.endpoint} (${e.country}${e.operator ? `, ${e.operator}` : ""}) is outside the EEA [${e.purpose}]`;
        if (strict) {
            problems.push({
                path: e.key,
                message: `${what} while sovereignty is "strict"; ${e.fix}, or set sovereignty: relaxed deliberately`,
            });
        } else {
            warnings.push(`sovereignty: ${what}; ${e.fix}`);
        }
    }
    return { sovereignty: cfg.sovereignty, endpoints, problems, warnings };
}

/** The preview message: one line per endpoint. */
export function formatSovereigntyReport(r: SovereigntyReport): string {
    const lines = r.endpoints.map((e) => {
        const where = e.country === "unknown" ? "unknown" : `${e.country}${e.eea === false ? " (outside the EEA)" : ""}`;
        return `  - ${e.endpoint}${e.upstream ? ` (mirror of ${e.upstream})` : ""}: ${where} — ${e.purpose}`;
    });
    return `sovereignty (${r.sovereignty}): the stack contacts ${r.endpoints.length} external endpoints:\n${lines.join("\n")}`;
}
