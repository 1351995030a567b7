// The stack configuration: its typed shape, its defaults, and one pure parser
// that validates all of it before any resource exists.
import {
    checkKnownKeys,
    ConfigError,
    isAddress,
    isDns1123Label,
    isHostname,
    isObject,
    join,
    Obj,
    Problems,
    readBool,
    readInt,
    readString,
    readStringList,
    readStringMap,
} from "./validate";
import { isIP } from "node:net";
import { CONFIG_KEYS, keyDefault, RETIRED_KEYS } from "./config-keys";
import type { LibvirtGuestsArgs } from "./nodes/libvirt-guests";
import { validateLibvirtGuests } from "./nodes/libvirt-validate";
import { parseRegistryMirror, RegistryMirror } from "./images";
import { clusterPortClash, parseCidr, PublicPort } from "./host/firewall-rules";
import type { ServiceSecurityOverride } from "./services/security";
import { endpointSovereignty } from "./data/backup-endpoints";

/** Guests to create on a hypervisor (issue 8): LibvirtGuests' arguments without the secret keys. */
export type LibvirtConfig = Omit<LibvirtGuestsArgs, "hypervisor" | "guestPrivateKey"> & {
    hypervisor: Omit<LibvirtGuestsArgs["hypervisor"], "privateKey">;
};

export { ConfigError } from "./validate";
export type { ConfigProblem } from "./validate";

export type Sovereignty = "strict" | "relaxed";
export type NodeRole = "server" | "agent";
export type DatastoreEngine = "postgres" | "redis";

/** Where a node reaches the outside world through, e.g. a bastion in front of a private network. */
export interface JumpHostConfig {
    host: string;
    /** Pinned SSH host key of the bastion (`ssh-ed25519 AAAA...`); required unless verification is skipped deliberately. */
    hostKey?: string;
    /** Default: the node's SSH port. */
    port?: number;
    /** Default: the node's SSH user. */
    user?: string;
}

export interface NodeConfig {
    /** Kubernetes node name and resource name part; a DNS-1123 label. */
    name: string;
    role: NodeRole;
    /** Public IP or DNS name used for SSH (and the API certificate's SAN). */
    host: string;
    /** Address on the private network that carries cluster traffic. */
    privateAddress: string;
    /** Interface of `privateAddress`; found by preflight when omitted. */
    privateInterface?: string;
    /** `<country>-<site>`, e.g. `no-oslo`. */
    region: string;
    port: number;
    user: string;
    /** SSH host public key (`ssh-ed25519 AAAA...`); required unless `insecureSkipHostKeyVerification`. */
    hostKey?: string;
    jumpHost?: JumpHostConfig;
    labels: Record<string, string>;
}

export interface DatastoreConfig {
    engine: DatastoreEngine;
    /** Instance name, unique in the platform: a datastore belongs to one service. */
    instance: string;
}

export interface ServiceConfig {
    name: string;
    image: string;
    port: number;
    replicas: number;
    healthPath: string;
    /** URL prefix routed by the gateway, e.g. `/api/inventory`. */
    gatewayPath: string;
    datastores: DatastoreConfig[];
    resources: { cpu: string; memory: string; cpuLimit?: string; memoryLimit: string };
    /** Overrides of the hardened defaults (non-root 65532:65532, read-only root filesystem). */
    securityContext?: ServiceSecurityOverride;
}

export interface TuningConfig {
    /** Final sysctl values: the seed's defaults merged with `sysctls` overrides. */
    sysctls: Record<string, string>;
    /** Keys whose value is a floor: a host already above it keeps its higher value. */
    floorKeys: string[];
    /** Open-files limit for services (limits.d and systemd's DefaultLimitNOFILE). */
    nofile: number;
}

export type FlannelBackend = "vxlan" | "wireguard-native";

export interface K3sConfig {
    enabled: boolean;
    /** Pinned k3s release, e.g. `v1.31.4+k3s1`. Changing it upgrades node by node. */
    version: string;
    flannelBackend: FlannelBackend;
    /** Address the API certificate covers and the kubeconfig uses; default: the first server's host. */
    apiHost?: string;
    /** Where the official install script comes from (a mirror works). */
    installScriptUrl: string;
    /** sha256 the downloaded install script must have (not used air-gapped). */
    installScriptSha256: string;
    /** Base URL of the k3s release files (the install script's GITHUB_URL). */
    downloadUrl: string;
    /** Air-gapped install: local paths of the k3s binary, images tarball and install script. */
    airgap?: { binary: string; images: string; installScript: string };
    /** Agents joining at once once the servers are Ready. */
    joinConcurrency: number;
    /** Agents upgraded at once on a version change. */
    upgradeBatch: number;
}

/** Where images, charts and packages come from instead of their US-hosted upstreams (issue 16). */
export interface MirrorConfig {
    /** Registry mirror for every image (`registryMirror`); registries.yaml and every rendered reference. */
    registry?: RegistryMirror;
    /** The secret `registryMirrorAuth` (username:password) is set; the value never passes through here. */
    registryAuth: boolean;
    /** One Helm repository (https:// or oci://) holding linkerd-crds, linkerd-control-plane, linkerd2-cni and consul. */
    chart?: string;
}

export interface MeshConfig {
    /** Rotates the Linkerd identity issuer (any new value) without touching the trust anchor. */
    issuerRotation?: string;
    /** Generation of the trust anchor: only a change of it replaces the anchor. */
    trustAnchorGeneration: string;
    /** Warn in the preview when a Linkerd certificate expires within this many days. */
    certWarnDays: number;
    linkerdChartRepository?: string;
    linkerdChartVersion?: string;
    consulChartRepository?: string;
    consulChartVersion?: string;
}

export interface GatewayConfig {
    /** `server_name`s of the public API, e.g. api.example.no. */
    serverNames: string[];
    replicas: number;
    keepalive: number;
    /** Concurrent requests one gateway pod serves at peak; sizes the keepalive pools. */
    expectedConcurrency: number;
    /** 0 = off. */
    microCacheSeconds: number;
    /** Per client address; 0 = off. */
    rateLimitPerSecond: number;
    /** Generate an X-Request-ID for requests without one. */
    requestIds: boolean;
    /** proxy_buffering on (always on with the micro-cache). */
    responseBuffering: boolean;
}

export type SmokeMode = "always" | "onChange" | "never";
export type SmokeCoverage = "ring" | "full";

export interface SmokeConfig {
    /** always: every `up`; onChange: when nodes or thresholds change; never. */
    mode: SmokeMode;
    /** ring: each node to its ring neighbour; full: every pair. */
    coverage: SmokeCoverage;
    minGbps: number;
    /** Fraction of the slower end's link speed required where the link reports one; 0 = off. */
    minLinkFraction: number;
    /** Retransmitted segments per segment sent. */
    maxRetransmitRate: number;
    durationSeconds: number;
    parallel: number;
}

export interface PreflightConfig {
    /** `systemd-detect-virt` answers accepted besides `kvm` and `none`. */
    allowVirtualization: string[];
    /** Kernel modules that must be loadable. Empty when k3s is off. */
    requiredModules: string[];
}

export interface FirewallConfig {
    /** The nftables node firewall (table inet nordstack). */
    enabled: boolean;
    /** CIDRs that may open SSH; empty: anywhere. */
    sshAllowFrom: string[];
    /** CIDRs outside the private network that may reach the Kubernetes API (6443 on servers). */
    apiAllowFrom: string[];
    /** Ports open to anyone besides SSH and the gateway's 80/443. */
    extraPublicPorts: PublicPort[];
    /** Seconds new rules stay without a confirming fresh SSH connection before they roll back. */
    confirmSeconds: number;
}

/** Continuous backups of every datastore to S3-compatible object storage (issue 17). */
export interface BackupsConfig {
    /** `https://host[:port]` of the S3 API (`http://` only with `allowInsecure`, and only for Redis). */
    endpoint: string;
    bucket: string;
    /** S3 region name the requests are signed for. */
    region: string;
    /** Key prefix; each datastore gets `<prefix>/<instance>/`. */
    prefix: string;
    /** Days a base backup / RDB snapshot is kept (pgBackRest time retention; RDB objects older are deleted). */
    retentionDays: number;
    /** Cron schedule of base backups and RDB shipping (UTC). */
    schedule: string;
    /** Seconds after which PostgreSQL ships a WAL segment even when idle: the RPO bound. */
    archiveTimeoutSeconds: number;
    /** Accept `http://` (Redis only) and unverified TLS certificates. */
    allowInsecure: boolean;
    /** `path` (`https://host/bucket/key`, what most S3-compatible servers want) or `host` (`https://bucket.host/key`). */
    uriStyle: "path" | "host";
    /** Addresses the backup traffic may go to; default: the endpoint's IP when it is one, else any address on its port. */
    egressCidrs: string[];
    /** PostgreSQL image that also carries pgBackRest (images/postgres-pgbackrest); required with postgres datastores. */
    postgresImage?: string;
    /** Things to tell the user that are not errors (an endpoint of unknown location). */
    warnings: string[];
}

export interface PlatformConfig {
    sovereignty: Sovereignty;
    region: string;
    ssh: { user: string; port: number; privateKeyPath?: string; insecureSkipHostKeyVerification: boolean };
    mtu: number;
    nodes: NodeConfig[];
    tuning: TuningConfig;
    preflight: PreflightConfig;
    k3s: K3sConfig;
    smoke: SmokeConfig;
    mesh: MeshConfig;
    gateway: GatewayConfig;
    mirrors: MirrorConfig;
    firewall: FirewallConfig;
    /** When set, nodes are KVM guests created on this hypervisor instead of existing hosts. */
    libvirt?: LibvirtConfig;
    services: ServiceConfig[];
    /** Object storage backups; undefined when the `backups` key is not set. */
    backups?: BackupsConfig;
}

/** The article's tuning for many connections, plus reserved ports so ephemeral ports never take a cluster port. */
export const DEFAULT_SYSCTLS: Readonly<Record<string, string>> = {
    "net.ipv4.ip_local_port_range": "1024 65535",
    "net.ipv4.tcp_tw_reuse": "1",
    "fs.file-max": "2097152",
    // With the port range starting at 1024, an outgoing connection could take a port that
    // etcd, the API server, kubelet, flannel or a NodePort must listen on.
    "net.ipv4.ip_local_reserved_ports": "2379-2380,6443-6444,7946,8472,10010,10250-10260,30000-32767,51820-51821",
};
export const DEFAULT_FLOOR_KEYS: readonly string[] = ["fs.file-max"];
export const DEFAULT_NOFILE = 1048576;
export const K3S_MODULES: readonly string[] = ["overlay", "br_netfilter", "vxlan"];

/** Parser defaults: the declared defaults of components/config-keys.ts. */
export const DEFAULTS = {
    sovereignty: keyDefault<Sovereignty>("sovereignty"),
    region: keyDefault<string>("region"),
    sshUser: keyDefault<string>("sshUser"),
    sshPort: keyDefault<number>("sshPort"),
    mtu: keyDefault<number>("mtu"),
    nofile: keyDefault<number>("nofile"),
    k3sEnabled: keyDefault<boolean>("k3sEnabled"),
    k3sVersion: keyDefault<string>("k3sVersion"),
    k3sFlannelBackend: keyDefault<FlannelBackend>("k3sFlannelBackend"),
    k3sInstallScriptUrl: keyDefault<string>("k3sInstallScriptUrl"),
    k3sInstallScriptSha256: keyDefault<string>("k3sInstallScriptSha256"),
    k3sDownloadUrl: keyDefault<string>("k3sDownloadUrl"),
    k3sJoinConcurrency: keyDefault<number>("k3sJoinConcurrency"),
    k3sUpgradeBatch: keyDefault<number>("k3sUpgradeBatch"),
    smokeMode: keyDefault<SmokeMode>("smokeMode"),
    smokeCoverage: keyDefault<SmokeCoverage>("smokeCoverage"),
    smokeMinGbps: Number(keyDefault<string>("smokeMinGbps")),
    smokeMinLinkFraction: Number(keyDefault<string>("smokeMinLinkFraction")),
    smokeMaxRetransmitRate: Number(keyDefault<string>("smokeMaxRetransmitRate")),
    smokeDurationSeconds: keyDefault<number>("smokeDurationSeconds"),
    smokeParallel: keyDefault<number>("smokeParallel"),
    linkerdCertWarnDays: keyDefault<number>("linkerdCertWarnDays"),
    linkerdTrustAnchorGeneration: keyDefault<string>("linkerdTrustAnchorGeneration"),
    gatewayReplicas: keyDefault<number>("gatewayReplicas"),
    gatewayKeepalive: keyDefault<number>("gatewayKeepalive"),
    gatewayExpectedConcurrency: keyDefault<number>("gatewayExpectedConcurrency"),
    gatewayRequestIds: keyDefault<boolean>("gatewayRequestIds"),
    gatewayResponseBuffering: keyDefault<boolean>("gatewayResponseBuffering"),
    firewallEnabled: keyDefault<boolean>("firewallEnabled"),
    firewallConfirmSeconds: keyDefault<number>("firewallConfirmSeconds"),
};

/** The oldest k3s minor the pinned Linkerd chart accepts (its Chart.yaml: kubeVersion >=1.31.0-0). */
export const MIN_K3S_MINOR = { major: 1, minor: 31 };

const TOP_KEYS = Object.keys(CONFIG_KEYS);

/**
 * Validates the whole stack configuration and returns it typed, with defaults
 * applied. Throws one `ConfigError` listing every problem, each naming the key
 * path and the fix. Secret keys (`sshPrivateKey`, ...) arrive only as `true`
 * (set); their values never pass through here.
 */
export function parsePlatformConfig(raw: unknown): PlatformConfig {
    const p = new Problems();
    const r: Obj = isObject(raw) ? raw : {};
    if (!isObject(raw)) p.add("(root)", "the configuration must be a map of keys");
    for (const [key, why] of Object.entries(RETIRED_KEYS)) if (key in r) p.add(key, `is no longer a key: ${why}`);
    checkKnownKeys(Object.fromEntries(Object.entries(r).filter(([k]) => !(k in RETIRED_KEYS))), TOP_KEYS, "", p);

    const sovereignty = readString(r, "sovereignty", "", p, { default: DEFAULTS.sovereignty });
    if (sovereignty !== "strict" && sovereignty !== "relaxed") {
        p.add("sovereignty", `must be "strict" or "relaxed", got ${JSON.stringify(sovereignty)}`);
    }
    const strict = sovereignty !== "relaxed";
    const region = readString(r, "region", "", p, { default: DEFAULTS.region }) ?? DEFAULTS.region;
    checkRegion(region, "region", strict, p);

    const sshUser = readString(r, "sshUser", "", p, { default: DEFAULTS.sshUser }) ?? DEFAULTS.sshUser;
    checkUser(sshUser, "sshUser", p);
    const sshPort = readInt(r, "sshPort", "", p, sshPortRange(DEFAULTS.sshPort)) ?? DEFAULTS.sshPort;
    const privateKeyPath = readString(r, "sshPrivateKeyPath", "", p);
    // The secret itself never passes through here: index.ts hands over `true` when it is set.
    const hasSecretKey = r.sshPrivateKey !== undefined && r.sshPrivateKey !== null && r.sshPrivateKey !== false && r.sshPrivateKey !== "";
    const skipHostKeys = readBool(r, "insecureSkipHostKeyVerification", "", p, false);
    if (!privateKeyPath && !hasSecretKey && (r.libvirt === undefined || r.libvirt === null)) {
        p.add(
            "sshPrivateKey",
            "no SSH key configured; run `pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519` " +
                "or set sshPrivateKeyPath to the key file",
        );
    } else if (privateKeyPath && hasSecretKey) {
        p.add("sshPrivateKeyPath", "both sshPrivateKeyPath and the secret sshPrivateKey are set; keep one");
    }

    const mtu = readInt(r, "mtu", "", p, {
        min: 1280,
        max: 9000,
        default: DEFAULTS.mtu,
        fix: "set the MTU of the nodes' private network (1500 for plain Ethernet, up to 9000 with jumbo frames)",
    });

    const libvirt = parseLibvirt(r, skipHostKeys, p);
    // Guests become the node list, so every node rule (names, addresses, servers, region) applies to them too.
    const rawNodes = libvirt
        ? libvirt.guests.map((g) => ({
              name: g.name,
              role: g.role,
              host: g.publicAddress ?? g.address,
              privateAddress: g.address,
              ...(g.region ? { region: g.region } : {}),
              ...(g.labels ? { labels: g.labels } : {}),
          }))
        : r.nodes;
    if (libvirt && r.nodes !== undefined) p.add("nodes", "set either nodes (existing hosts) or libvirt.guests, not both");
    const nodes = parseNodes(rawNodes, { user: sshUser, port: sshPort, region, strict, requireHostKey: !skipHostKeys && !libvirt }, p);

    const sysctlOverrides = readStringMap(r, "sysctls", "", p);
    for (const [k, v] of Object.entries(sysctlOverrides)) {
        const problem = sysctlKeyProblem(k);
        if (problem) p.add(join("sysctls", k), problem);
        if (/[\n\r#=]/.test(v) || v.trim() === "") {
            p.add(join("sysctls", k), `value ${JSON.stringify(v)} must be non-empty and without newline, '#' or '='`);
        }
    }
    const nofile = readInt(r, "nofile", "", p, {
        min: 1024,
        max: 1048576,
        default: DEFAULTS.nofile,
        fix: "set an open-files limit between 1024 and 1048576 (the kernel's default fs.nr_open)",
    });

    const k3sEnabled = readBool(r, "k3sEnabled", "", p, DEFAULTS.k3sEnabled);
    const k3s = parseK3s(r, k3sEnabled, nodes.filter((n) => n.role === "agent").length, p);
    const allowVirtualization = readStringList(r, "allowVirtualization", "", p, []);
    allowVirtualization.forEach((v, i) => {
        if (!/^[a-z0-9-]+$/.test(v)) p.add(join("allowVirtualization", i), `${JSON.stringify(v)} is not a systemd-detect-virt name`);
    });

    const services = parseServices(r.services, p);
    const smoke = parseSmoke(r, p);
    const mesh = parseMesh(r, p);
    const gateway = parseGateway(r, services.length > 0, nodes.length, p);
    const mirrors = parseMirrors(r, p);
    const firewall = parseFirewall(r, k3s.enabled ? (k3s.apiHost ?? nodes.find((n) => n.role === "server")?.host) : undefined, p);
    const backups = parseBackups(r, strict, services, p);

    if (p.list.length > 0) throw new ConfigError(p.list);
    return {
        sovereignty: strict ? "strict" : "relaxed",
        region,
        ssh: { user: sshUser, port: sshPort, privateKeyPath, insecureSkipHostKeyVerification: skipHostKeys },
        mtu,
        nodes,
        tuning: {
            sysctls: { ...DEFAULT_SYSCTLS, ...sysctlOverrides },
            floorKeys: [...DEFAULT_FLOOR_KEYS],
            nofile,
        },
        preflight: { allowVirtualization, requiredModules: k3sEnabled ? [...K3S_MODULES] : [] },
        k3s,
        smoke,
        mesh,
        gateway,
        mirrors,
        firewall,
        libvirt,
        services,
        ...(backups ? { backups } : {}),
    };
}

function parseMirrors(r: Obj, p: Problems): MirrorConfig {
    let registry: RegistryMirror | undefined;
    const raw = readString(r, "registryMirror", "", p);
    if (raw !== undefined) {
        const parsed = parseRegistryMirror(raw);
        if (typeof parsed === "string") p.add("registryMirror", `${parsed}, e.g. registry.example.no or registry.example.no:5000/proxy`);
        else registry = parsed;
    }
    const v = r.registryMirrorAuth;
    const registryAuth = v !== undefined && v !== null && v !== false && v !== "";
    if (registryAuth && !registry) p.add("registryMirrorAuth", "is set but registryMirror is not; set registryMirror or remove the secret");
    const chart = readString(r, "chartMirror", "", p)?.replace(/\/+$/, "");
    if (chart !== undefined && !/^(https|oci):\/\/[^\s/'"]+(\/[^\s'"]*)?$/.test(chart)) {
        p.add(
            "chartMirror",
            "must be an https:// Helm repository or an oci:// registry path holding linkerd-crds, linkerd-control-plane, linkerd2-cni and consul",
        );
    }
    return { registry, registryAuth, chart };
}

/** `apiHost`: where Pulumi reaches the Kubernetes API (undefined without k3s). */
function parseFirewall(r: Obj, apiHost: string | undefined, p: Problems): FirewallConfig {
    const enabled = readBool(r, "firewallEnabled", "", p, DEFAULTS.firewallEnabled);
    const cidrs = (key: string, example: string): string[] =>
        readStringList(r, key, "", p, []).flatMap((v, i) => {
            const c = parseCidr(v);
            if (typeof c !== "string") return [c.cidr];
            p.add(join(key, i), `${c}; list CIDRs like ${example}`);
            return [];
        });
    const sshAllowFrom = cidrs("sshAllowFrom", "203.0.113.0/24 or 2001:db8::/32 (empty: SSH from anywhere)");
    const apiAllowFrom = cidrs("apiAllowFrom", "198.51.100.7/32 (your deploy machine)");
    const extraPublicPorts: PublicPort[] = [];
    const rawPorts = r.firewallExtraPublicPorts;
    if (rawPorts !== undefined && rawPorts !== null && !Array.isArray(rawPorts)) {
        p.add("firewallExtraPublicPorts", "must be a list like [{ port: 8443, protocol: tcp }]");
    } else {
        (rawPorts ?? []).forEach((item: unknown, i: number) => {
            const at = join("firewallExtraPublicPorts", i);
            if (!isObject(item)) return p.add(at, "must be a map with port and protocol (tcp or udp)");
            checkKnownKeys(item, ["port", "protocol"], at, p);
            const port = readInt(item, "port", at, p, { min: 1, max: 65535, fix: "use a port number 1–65535" });
            if (port === undefined)
                return item.port === undefined ? p.add(join(at, "port"), "is required; set the port to open") : undefined;
            const protocol = readString(item, "protocol", at, p, { default: "tcp" });
            if (protocol !== "tcp" && protocol !== "udp")
                return p.add(join(at, "protocol"), `must be tcp or udp, got ${JSON.stringify(protocol)}`);
            const clash = clusterPortClash({ port, protocol });
            if (clash) {
                return p.add(
                    join(at, "port"),
                    `${port}/${protocol} is a cluster port (${clash.what}), reachable from the private network only; ` +
                        (clash.from === 6443 ? "to reach the API from outside list your address in apiAllowFrom" : "pick another port"),
                );
            }
            if (extraPublicPorts.some((x) => x.port === port && x.protocol === protocol))
                return p.add(at, `${port}/${protocol} is listed twice`);
            extraPublicPorts.push({ port, protocol });
        });
    }
    const confirmSeconds = readInt(r, "firewallConfirmSeconds", "", p, {
        min: 10,
        max: 120,
        default: DEFAULTS.firewallConfirmSeconds,
        fix: "use 10–120 seconds (SSH dial retries must outlast it, so the failure is reported after the rollback)",
    });
    // Pulumi's kubernetes provider talks to apiHost:6443, which the firewall admits only from the nodes
    // themselves (their private addresses) and apiAllowFrom: even a deploy machine on a VPN must be listed.
    if (enabled && apiHost !== undefined && apiAllowFrom.length === 0 && !/^(127\.|::1$|localhost$)/.test(apiHost)) {
        p.add(
            "apiAllowFrom",
            `the firewall admits the Kubernetes API (6443) only from the nodes' private addresses, but Pulumi reaches it at ` +
                `${apiHost} from this machine; list this machine's address as the servers see it (e.g. [198.51.100.7/32], ` +
                "or its VPN address), or set firewallEnabled: false",
        );
    }
    return { enabled, sshAllowFrom, apiAllowFrom, extraPublicPorts, confirmSeconds };
}

const LIBVIRT_KEYS = [
    "hypervisor",
    "guests",
    "baseImage",
    "domainType",
    "storageDir",
    "bridge",
    "network",
    "nameservers",
    "guestUser",
    "guestPublicKey",
    "kernel",
    "initrd",
    "kernelArgs",
    "sshWaitSeconds",
];
const GUEST_KEYS = ["name", "role", "vcpus", "memoryMiB", "diskGiB", "address", "prefix", "gateway", "publicAddress", "region", "labels"];

function parseLibvirt(r: Obj, skipHostKeys: boolean, p: Problems): LibvirtConfig | undefined {
    if (r.libvirt === undefined || r.libvirt === null) return undefined;
    const v = r.libvirt;
    if (!isObject(v) || !isObject(v.hypervisor) || !Array.isArray(v.guests)) {
        p.add("libvirt", "must be a map with hypervisor: {host, hostKey, user?, port?} and guests: [...]");
        return undefined;
    }
    checkKnownKeys(v, LIBVIRT_KEYS, "libvirt", p);
    const hv = v.hypervisor;
    checkKnownKeys(hv, ["host", "port", "user", "hostKey"], "libvirt.hypervisor", p);
    const host = readString(hv, "host", "libvirt.hypervisor", p, { required: true, fix: "set the hypervisor's address" }) ?? "";
    if (host && !isAddress(host)) p.add("libvirt.hypervisor.host", `${JSON.stringify(host)} is neither an IP address nor a hostname`);
    readInt(hv, "port", "libvirt.hypervisor", p, sshPortRange());
    const user = readString(hv, "user", "libvirt.hypervisor", p);
    if (user !== undefined) checkUser(user, "libvirt.hypervisor.user", p);
    checkHostKey(hv, "libvirt.hypervisor", !skipHostKeys, host, p);
    let guestsOk = true;
    v.guests.forEach((g, i) => {
        if (!isObject(g)) {
            p.add(`libvirt.guests[${i}]`, "must be a map with name, role, address, vcpus, memoryMiB and diskGiB");
            guestsOk = false;
        } else {
            checkKnownKeys(g, GUEST_KEYS, `libvirt.guests[${i}]`, p);
            for (const k of ["name", "address"])
                if (typeof g[k] !== "string") {
                    p.add(`libvirt.guests[${i}].${k}`, "is required and must be a string");
                    guestsOk = false;
                }
        }
    });
    if (v.nameservers !== undefined && !(Array.isArray(v.nameservers) && v.nameservers.every((x) => typeof x === "string"))) {
        p.add("libvirt.nameservers", "must be a list of IPv4 addresses");
        guestsOk = false;
    }
    const cfg = v as unknown as LibvirtConfig;
    // The key is a secret (libvirtHypervisorPrivateKey) and never passes through here.
    if (guestsOk)
        for (const problem of validateLibvirtGuests({ ...cfg, hypervisor: { ...cfg.hypervisor, privateKey: "" } }))
            p.add("libvirt", problem);
    return guestsOk ? cfg : undefined;
}

const BACKUP_KEYS = [
    "endpoint",
    "bucket",
    "region",
    "prefix",
    "retentionDays",
    "schedule",
    "archiveTimeoutSeconds",
    "allowInsecure",
    "uriStyle",
    "egressCidrs",
    "postgresImage",
];

/**
 * `backups`: where every datastore's backups go. The S3 keys are the secrets
 * `backupAccessKeyId` and `backupSecretAccessKey`; only whether they are set
 * passes through here.
 */
function parseBackups(r: Obj, strict: boolean, services: ServiceConfig[], p: Problems): BackupsConfig | undefined {
    if (r.backups === undefined || r.backups === null) return undefined;
    if (!isObject(r.backups)) {
        p.add("backups", "must be a map with endpoint, bucket, region (and optional retentionDays, schedule, ...)");
        return undefined;
    }
    const b = r.backups;
    checkKnownKeys(b, BACKUP_KEYS, "backups", p);
    const warnings: string[] = [];
    const hasPostgres = services.some((s) => s.datastores.some((d) => d.engine === "postgres"));
    const allowInsecure = readBool(b, "allowInsecure", "backups", p, false);

    const endpoint =
        readString(b, "endpoint", "backups", p, {
            required: true,
            fix: "set the S3 endpoint URL, e.g. https://s3.example.no",
        }) ?? "";
    let host = "";
    let port = 0;
    if (endpoint) {
        let url: URL | undefined;
        try {
            url = new URL(endpoint);
        } catch {
            p.add("backups.endpoint", `${JSON.stringify(endpoint)} is not a URL; use https://host[:port]`);
        }
        if (url) {
            host = url.hostname.replace(/^\[|\]$/g, "");
            port = Number(url.port || (url.protocol === "http:" ? 80 : 443));
            if (url.protocol !== "https:" && url.protocol !== "http:") {
                p.add("backups.endpoint", `${JSON.stringify(endpoint)} must start with https://`);
            } else if (url.protocol === "http:" && !allowInsecure) {
                p.add(
                    "backups.endpoint",
                    `${JSON.stringify(endpoint)} is plain http: backups and credentials would cross the network unencrypted; ` +
                        "use https://, or set backups.allowInsecure: true deliberately (a lab server)",
                );
            } else if (url.protocol === "http:" && hasPostgres) {
                p.add(
                    "backups.endpoint",
                    `${JSON.stringify(endpoint)} is plain http, but pgBackRest (PostgreSQL backups) speaks only HTTPS to object storage; ` +
                        "use https:// (allowInsecure accepts a self-signed certificate)",
                );
            }
            if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.username || url.password) {
                p.add(
                    "backups.endpoint",
                    "must be only scheme, host and port (no path, query or credentials); put the bucket in backups.bucket",
                );
            }
            const verdict = endpointSovereignty(host, strict);
            if (verdict.error) p.add("backups.endpoint", verdict.error);
            if (verdict.warning) warnings.push(`backups.endpoint: ${verdict.warning}`);
        }
    }
    const bucket = readString(b, "bucket", "backups", p, { required: true, fix: "set the bucket name (create it first)" }) ?? "";
    if (bucket && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
        p.add("backups.bucket", `${JSON.stringify(bucket)} is not an S3 bucket name (3–63 lower-case letters, digits, '.', '-')`);
    }
    const region =
        readString(b, "region", "backups", p, {
            required: true,
            fix: "set the region the storage signs requests for (the provider documents it; single-region servers usually accept us-east-1)",
        }) ?? "";
    if (region && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(region)) p.add("backups.region", `${JSON.stringify(region)} is not a region name`);
    const prefix = readString(b, "prefix", "backups", p, { default: "nordstack" }) ?? "nordstack";
    if (!/^[a-z0-9][a-z0-9_-]*(\/[a-z0-9][a-z0-9_-]*)*$/.test(prefix)) {
        p.add(
            "backups.prefix",
            `${JSON.stringify(prefix)} must be path segments of lower-case letters, digits, '-', '_' (no leading or trailing '/')`,
        );
    }
    const retentionDays = readInt(b, "retentionDays", "backups", p, {
        min: 1,
        max: 3650,
        default: 14,
        fix: "keep backups at least 1 day (0 would delete every backup right after taking it)",
    });
    const schedule = readString(b, "schedule", "backups", p, { default: "15 2 * * *" }) ?? "15 2 * * *";
    if (!isCronSchedule(schedule))
        p.add("backups.schedule", `${JSON.stringify(schedule)} is not a 5-field cron schedule like "15 2 * * *"`);
    const archiveTimeoutSeconds = readInt(b, "archiveTimeoutSeconds", "backups", p, {
        min: 30,
        max: 300,
        default: 300,
        fix: "use 30–300 seconds: at most this much committed work is lost with the node's disk",
    });
    const uriStyle = readString(b, "uriStyle", "backups", p, { default: "path" });
    if (uriStyle !== "path" && uriStyle !== "host") p.add("backups.uriStyle", `must be path or host, got ${JSON.stringify(uriStyle)}`);
    const egressCidrs = readStringList(
        b,
        "egressCidrs",
        "backups",
        p,
        isIP(host) === 4 ? [`${host}/32`] : isIP(host) === 6 ? [`${host}/128`] : [],
    );
    egressCidrs.forEach((c, i) => {
        const [ip, bits, extra] = c.split("/");
        const max = isIP(ip ?? "") === 4 ? 32 : isIP(ip ?? "") === 6 ? 128 : -1;
        if (extra !== undefined || max < 0 || !/^\d+$/.test(bits ?? "") || Number(bits) > max) {
            p.add(join("backups.egressCidrs", i), `${JSON.stringify(c)} is not a CIDR like 198.51.100.7/32`);
        }
    });
    if (host && isIP(host) === 0 && b.egressCidrs === undefined) {
        warnings.push(
            `backups.egressCidrs: not set, so backup pods may reach any address on port ${port}; list the storage's addresses to allow only them`,
        );
    }
    const postgresImage = readString(b, "postgresImage", "backups", p);
    if (hasPostgres && !postgresImage) {
        p.add(
            "backups.postgresImage",
            "is required with postgres datastores: PostgreSQL runs pgBackRest itself (archive_command); " +
                "build images/postgres-pgbackrest/Dockerfile, push it to your registry and set its pinned reference",
        );
    }
    // The secrets themselves never pass through here: index.ts hands over `true` when one is set.
    const isSet = (v: unknown) => v !== undefined && v !== null && v !== false && v !== "";
    for (const [name, set] of [
        ["backupAccessKeyId", isSet(r.backupAccessKeyId)],
        ["backupSecretAccessKey", isSet(r.backupSecretAccessKey)],
    ] as const) {
        if (!set) p.add(name, `backups are on but the secret ${name} is not set; run \`pulumi config set --secret ${name} <value>\``);
    }
    return {
        endpoint: endpoint.replace(/\/+$/, ""),
        bucket,
        region,
        prefix,
        retentionDays,
        schedule,
        archiveTimeoutSeconds,
        allowInsecure,
        uriStyle: uriStyle === "host" ? "host" : "path",
        egressCidrs,
        postgresImage,
        warnings,
    };
}

/** Five cron fields, each `*`, numbers, ranges, lists and steps (what a Kubernetes CronJob accepts, without macros). */
function isCronSchedule(s: string): boolean {
    const fields = s.trim().split(/\s+/);
    const field = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;
    return fields.length === 5 && fields.every((f) => field.test(f));
}

function parseMesh(r: Obj, p: Problems): MeshConfig {
    const rotation = r.linkerdIssuerRotation;
    if (rotation !== undefined && rotation !== null && typeof rotation !== "string" && typeof rotation !== "number") {
        p.add("linkerdIssuerRotation", "must be a string or number (change it to rotate the issuer)");
    }
    const repo = (key: string) => {
        const v = readString(r, key, "", p);
        if (v !== undefined && !/^(https|oci):\/\/\S+$/.test(v))
            p.add(key, "must be an https:// or oci:// chart repository (an internal mirror works)");
        return v;
    };
    const version = (key: string) => {
        const v = readString(r, key, "", p);
        if (v !== undefined && !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(v))
            p.add(key, `${JSON.stringify(v)} is not a pinned chart version like 1.2.3`);
        return v;
    };
    return {
        issuerRotation: rotation === undefined || rotation === null || rotation === "" ? undefined : String(rotation as string | number),
        trustAnchorGeneration: trustAnchorGeneration(r, p),
        certWarnDays: readInt(r, "linkerdCertWarnDays", "", p, {
            min: 1,
            max: 3650,
            default: DEFAULTS.linkerdCertWarnDays,
            fix: "use days before expiry to start warning",
        }),
        linkerdChartRepository: repo("linkerdChartRepository"),
        linkerdChartVersion: version("linkerdChartVersion"),
        consulChartRepository: repo("consulChartRepository"),
        consulChartVersion: version("consulChartVersion"),
    };
}

function parseGateway(r: Obj, hasServices: boolean, nodeCount: number, p: Problems): GatewayConfig {
    const serverNames = readStringList(r, "gatewayServerNames", "", p, []);
    if (hasServices && serverNames.length === 0) {
        p.add("gatewayServerNames", "the gateway needs at least one server name when services are configured, e.g. [api.example.no]");
    }
    serverNames.forEach((n, i) => {
        if (!isHostname(n.replace(/^\*\./, "x."))) p.add(join("gatewayServerNames", i), `${JSON.stringify(n)} is not a host name`);
    });
    const replicas = readInt(r, "gatewayReplicas", "", p, {
        min: 2,
        max: 100,
        default: DEFAULTS.gatewayReplicas,
        fix: "the only entry point must survive the loss of a node: use 2 or more, on as many nodes",
    });
    if (hasServices && nodeCount > 0 && replicas > nodeCount) {
        p.add(
            "gatewayReplicas",
            `${replicas} gateway replicas need ${replicas} nodes (one per node on ports 80/443), there are ${nodeCount}`,
        );
    }
    const int = (key: string, max: number, dflt: number, fix: string) => readInt(r, key, "", p, { min: 0, max, default: dflt, fix });
    return {
        serverNames,
        replicas,
        keepalive: int(
            "gatewayKeepalive",
            10000,
            DEFAULTS.gatewayKeepalive,
            "use the floor of the idle upstream pool per worker, e.g. 64 (0 turns keepalive off)",
        ),
        expectedConcurrency: readInt(r, "gatewayExpectedConcurrency", "", p, {
            min: 1,
            max: 1000000,
            default: DEFAULTS.gatewayExpectedConcurrency,
            fix: "use the concurrent requests one gateway pod serves at peak, e.g. 256",
        }),
        microCacheSeconds: int("gatewayMicroCacheSeconds", 3600, 0, "use seconds to cache identical GETs (0 = off)"),
        rateLimitPerSecond: int("gatewayRateLimitPerSecond", 1000000, 0, "use requests per second per client (0 = off)"),
        requestIds: readBool(r, "gatewayRequestIds", "", p, DEFAULTS.gatewayRequestIds),
        responseBuffering: readBool(r, "gatewayResponseBuffering", "", p, DEFAULTS.gatewayResponseBuffering),
    };
}

function parseSmoke(r: Obj, p: Problems): SmokeConfig {
    const mode = readString(r, "smokeMode", "", p, { default: DEFAULTS.smokeMode });
    if (mode !== "always" && mode !== "onChange" && mode !== "never") {
        p.add("smokeMode", `must be onChange, always or never, got ${JSON.stringify(mode)}`);
    }
    const coverage = readString(r, "smokeCoverage", "", p, { default: DEFAULTS.smokeCoverage });
    if (coverage !== "ring" && coverage !== "full") {
        p.add("smokeCoverage", `must be ring (each node to its ring neighbour) or full (every pair), got ${JSON.stringify(coverage)}`);
    }
    const num = (key: string, min: number, max: number, dflt: number, fix: string): number => {
        const v = r[key];
        if (v === undefined || v === null || v === "") return dflt;
        const n = typeof v === "string" ? Number(v) : v;
        if (typeof n !== "number" || !Number.isFinite(n) || n < min || n > max) {
            p.add(key, `${JSON.stringify(v)} is not a number in ${min}–${max}; ${fix}`);
            return dflt;
        }
        return n;
    };
    return {
        mode: mode === "always" || mode === "never" ? mode : "onChange",
        coverage: coverage === "full" ? "full" : "ring",
        minGbps: num("smokeMinGbps", 0, 400, DEFAULTS.smokeMinGbps, "set the minimum Gbit/s each node pair must reach"),
        minLinkFraction: num("smokeMinLinkFraction", 0, 1, DEFAULTS.smokeMinLinkFraction, "use a fraction like 0.8 (0 turns it off)"),
        maxRetransmitRate: num(
            "smokeMaxRetransmitRate",
            0,
            1,
            DEFAULTS.smokeMaxRetransmitRate,
            "use retransmitted segments per segment sent, e.g. 0.01 for 1 %",
        ),
        durationSeconds: readInt(r, "smokeDurationSeconds", "", p, {
            min: 1,
            max: 300,
            default: DEFAULTS.smokeDurationSeconds,
            fix: "use 1–300 seconds per run",
        }),
        parallel: readInt(r, "smokeParallel", "", p, {
            min: 1,
            max: 32,
            default: DEFAULTS.smokeParallel,
            fix: "use 1–32 parallel streams",
        }),
    };
}

function parseK3s(r: Obj, enabled: boolean, agents: number, p: Problems): K3sConfig {
    const version = readString(r, "k3sVersion", "", p, { default: DEFAULTS.k3sVersion }) ?? DEFAULTS.k3sVersion;
    const m = /^v(\d+)\.(\d+)\.\d+\+k3s\d+$/.exec(version);
    if (!m) {
        p.add(
            "k3sVersion",
            `${JSON.stringify(version)} is not a k3s release like ${DEFAULTS.k3sVersion} (see github.com/k3s-io/k3s/releases)`,
        );
    } else if (Number(m[1]) < MIN_K3S_MINOR.major || (Number(m[1]) === MIN_K3S_MINOR.major && Number(m[2]) < MIN_K3S_MINOR.minor)) {
        p.add(
            "k3sVersion",
            `${version} is older than v${MIN_K3S_MINOR.major}.${MIN_K3S_MINOR.minor}, the oldest Kubernetes the pinned Linkerd chart accepts ` +
                `(kubeVersion >=${MIN_K3S_MINOR.major}.${MIN_K3S_MINOR.minor}.0-0); use ${DEFAULTS.k3sVersion} or another supported release`,
        );
    }
    const bounded = (key: string, dflt: number, what: string) => {
        const max = Math.max(1, agents);
        return readInt(r, key, "", p, {
            min: 1,
            max,
            default: Math.min(dflt, max),
            fix: `use 1–${max} (${what}; there are ${agents} agents)`,
        });
    };
    const joinConcurrency = bounded("k3sJoinConcurrency", DEFAULTS.k3sJoinConcurrency, "agents joining at once");
    const upgradeBatch = bounded("k3sUpgradeBatch", DEFAULTS.k3sUpgradeBatch, "agents upgraded at once");
    const backend = readString(r, "k3sFlannelBackend", "", p, { default: DEFAULTS.k3sFlannelBackend });
    if (backend !== "vxlan" && backend !== "wireguard-native") {
        p.add("k3sFlannelBackend", `must be vxlan or wireguard-native, got ${JSON.stringify(backend)}`);
    }
    const apiHost = readString(r, "k3sApiHost", "", p);
    if (apiHost && !isAddress(apiHost)) p.add("k3sApiHost", `${JSON.stringify(apiHost)} is neither an IP address nor a hostname`);
    const installScriptUrl = readString(r, "k3sInstallScriptUrl", "", p, { default: DEFAULTS.k3sInstallScriptUrl }) ?? "";
    if (!/^https:\/\/[^\s'"]+$/.test(installScriptUrl)) p.add("k3sInstallScriptUrl", "must be an https:// URL");
    const installScriptSha256 = readString(r, "k3sInstallScriptSha256", "", p, { default: DEFAULTS.k3sInstallScriptSha256 }) ?? "";
    if (!/^[0-9a-f]{64}$/.test(installScriptSha256)) {
        p.add(
            "k3sInstallScriptSha256",
            `must be the install script's sha256 (64 lowercase hex digits, as \`curl -sfL URL | sha256sum\` prints), got ${JSON.stringify(installScriptSha256)}`,
        );
    }
    const downloadUrl = (readString(r, "k3sDownloadUrl", "", p, { default: DEFAULTS.k3sDownloadUrl }) ?? "").replace(/\/+$/, "");
    if (!/^https:\/\/[^\s'"]+$/.test(downloadUrl)) {
        p.add(
            "k3sDownloadUrl",
            "must be an https:// URL with the release files under download/<version>/ (k3s, sha256sum-amd64.txt), like https://github.com/k3s-io/k3s/releases",
        );
    }
    let airgap: K3sConfig["airgap"];
    if (r.k3sAirgap !== undefined && r.k3sAirgap !== null) {
        if (!isObject(r.k3sAirgap)) {
            p.add("k3sAirgap", "must be a map with binary, images and installScript (local file paths)");
        } else {
            checkKnownKeys(r.k3sAirgap, ["binary", "images", "installScript"], "k3sAirgap", p);
            const fix = "set the local path of the file downloaded from the k3s release";
            const images = readString(r.k3sAirgap, "images", "k3sAirgap", p, { required: true, fix }) ?? "";
            if (images && !/\.tar(\.gz|\.zst)?$/.test(images)) {
                p.add(
                    "k3sAirgap.images",
                    `${JSON.stringify(images)} must end in .tar, .tar.gz or .tar.zst (k3s picks the decompressor from it)`,
                );
            }
            airgap = {
                binary: readString(r.k3sAirgap, "binary", "k3sAirgap", p, { required: true, fix }) ?? "",
                images,
                installScript:
                    readString(r.k3sAirgap, "installScript", "k3sAirgap", p, {
                        required: true,
                        fix: "save the pinned install script (k3sInstallScriptUrl) locally",
                    }) ?? "",
            };
        }
    }
    return {
        enabled,
        version,
        flannelBackend: backend === "wireguard-native" ? "wireguard-native" : "vxlan",
        apiHost,
        installScriptUrl,
        installScriptSha256,
        downloadUrl,
        airgap,
        joinConcurrency,
        upgradeBatch,
    };
}

function sshPortRange(dflt?: number) {
    return { min: 1, max: 65535, default: dflt, fix: "use the port sshd listens on (1–65535, usually 22)" };
}

function checkRegion(region: string, path: string, strict: boolean, p: Problems): void {
    if (!/^[a-z]{2}-[a-z0-9-]+$/.test(region)) {
        p.add(path, `${JSON.stringify(region)} is not <country>-<site> like "no-oslo"`);
    } else if (strict && !region.startsWith("no-")) {
        p.add(
            path,
            `${JSON.stringify(region)} is outside Norway while sovereignty is "strict"; ` +
                `use a Norwegian site (no-oslo, no-bergen, ...) or set sovereignty: relaxed deliberately`,
        );
    }
}

interface NodeDefaults {
    user: string;
    port: number;
    region: string;
    strict: boolean;
    /** A node (and its jump host) must pin its SSH host key. */
    requireHostKey: boolean;
}

const NODE_KEYS = ["name", "role", "host", "privateAddress", "privateInterface", "region", "port", "user", "hostKey", "jumpHost", "labels"];

function parseNodes(raw: unknown, d: NodeDefaults, p: Problems): NodeConfig[] {
    if (!Array.isArray(raw) || raw.length === 0) {
        p.add("nodes", "no nodes configured; list at least one node with name, role: server, host and privateAddress");
        return [];
    }
    const nodes: NodeConfig[] = [];
    raw.forEach((item, i) => {
        const path = join("nodes", i);
        if (!isObject(item)) {
            p.add(path, "must be a map with name, role, host and privateAddress");
            return;
        }
        checkKnownKeys(item, NODE_KEYS, path, p);
        const name = readString(item, "name", path, p, { required: true, fix: "give the node a unique name like osl-1" }) ?? "";
        if (name && !isDns1123Label(name)) {
            p.add(join(path, "name"), `${JSON.stringify(name)} is not a DNS-1123 label (lower-case letters, digits, '-')`);
        }
        const role = readString(item, "role", path, p, { default: "agent" });
        if (role !== "server" && role !== "agent") p.add(join(path, "role"), `must be "server" or "agent", got ${JSON.stringify(role)}`);
        const host = readString(item, "host", path, p, { required: true, fix: "set the node's public IP or DNS name" }) ?? "";
        if (host && !isAddress(host)) p.add(join(path, "host"), `${JSON.stringify(host)} is neither an IP address nor a hostname`);
        const privateAddress =
            readString(item, "privateAddress", path, p, { required: true, fix: "set the node's IP on the private network" }) ?? "";
        if (privateAddress && isIP(privateAddress) === 0) {
            p.add(join(path, "privateAddress"), `${JSON.stringify(privateAddress)} is not an IP address (k3s needs --node-ip)`);
        }
        const region = readString(item, "region", path, p, { default: d.region }) ?? d.region;
        if (item.region !== undefined) checkRegion(region, join(path, "region"), d.strict, p);
        const privateInterface = readString(item, "privateInterface", path, p);
        if (privateInterface && !/^[a-zA-Z0-9_.@-]{1,15}$/.test(privateInterface)) {
            p.add(join(path, "privateInterface"), `${JSON.stringify(privateInterface)} is not an interface name`);
        }
        const hostKey = checkHostKey(item, path, d.requireHostKey, host, p);
        const user = readString(item, "user", path, p, { default: d.user }) ?? d.user;
        if (item.user !== undefined) checkUser(user, join(path, "user"), p);
        nodes.push({
            name,
            role: role === "server" ? "server" : "agent",
            host,
            privateAddress,
            privateInterface,
            region,
            port: readInt(item, "port", path, p, sshPortRange(d.port)) ?? d.port,
            user,
            hostKey,
            jumpHost: parseJumpHost(item.jumpHost, join(path, "jumpHost"), d.requireHostKey, p),
            labels: parseLabels(item, path, p),
        });
    });
    checkUnique(nodes, (n) => n.name, "name", "nodes", p);
    checkUnique(nodes, (n) => `${n.host}:${n.port}`, "host", "nodes", p);
    checkUnique(nodes, (n) => n.privateAddress, "privateAddress", "nodes", p);
    const servers = nodes.filter((n) => n.role === "server").length;
    if (nodes.length > 0 && servers === 0) {
        p.add("nodes", "no node has role: server; make one node (or 3 for high availability) a server");
    } else if (servers > 1 && servers % 2 === 0) {
        p.add(
            "nodes",
            `${servers} servers is an even number: embedded etcd needs a majority, so ${servers} tolerate no more ` +
                `failures than ${servers - 1}; use 1, 3 or 5 servers`,
        );
    }
    return nodes;
}

function parseJumpHost(raw: unknown, path: string, requireHostKey: boolean, p: Problems): JumpHostConfig | undefined {
    if (raw === undefined || raw === null) return undefined;
    if (!isObject(raw)) {
        p.add(path, "must be a map with host (and optional port, user)");
        return undefined;
    }
    checkKnownKeys(raw, ["host", "port", "user", "hostKey"], path, p);
    const host = readString(raw, "host", path, p, { required: true, fix: "set the bastion's address" }) ?? "";
    if (host && !isAddress(host)) p.add(join(path, "host"), `${JSON.stringify(host)} is neither an IP address nor a hostname`);
    const user = readString(raw, "user", path, p);
    if (user !== undefined) checkUser(user, join(path, "user"), p);
    return {
        host,
        hostKey: checkHostKey(raw, path, requireHostKey, host, p),
        port: readInt(raw, "port", path, p, sshPortRange()),
        user,
    };
}

function parseLabels(item: Obj, path: string, p: Problems): Record<string, string> {
    const labels = readStringMap(item, "labels", path, p);
    for (const [k, v] of Object.entries(labels)) {
        if (!/^([a-z0-9.-]{1,253}\/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(k)) {
            p.add(join(join(path, "labels"), k), "is not a valid Kubernetes label key");
        } else if (!kubeletMaySetLabel(k)) {
            p.add(
                join(join(path, "labels"), k),
                "the kubelet refuses to start with a label under kubernetes.io/ or k8s.io/ other than " +
                    `${KUBELET_LABEL_PREFIXES.join(", ")}; use your own prefix, e.g. nordstack.io/role`,
            );
        }
        if (v !== "" && !/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(v)) {
            p.add(join(join(path, "labels"), k), `value ${JSON.stringify(v)} is not a valid Kubernetes label value`);
        }
    }
    return labels;
}

const SERVICE_KEYS = ["name", "image", "port", "replicas", "healthPath", "gatewayPath", "datastores", "resources", "securityContext"];

function parseServices(raw: unknown, p: Problems): ServiceConfig[] {
    if (raw === undefined || raw === null) return [];
    if (!Array.isArray(raw)) {
        p.add("services", "must be a list of services");
        return [];
    }
    const services: ServiceConfig[] = [];
    raw.forEach((item, i) => {
        const path = join("services", i);
        if (!isObject(item)) {
            p.add(path, "must be a map with name, image and port");
            return;
        }
        checkKnownKeys(item, SERVICE_KEYS, path, p);
        const name = readString(item, "name", path, p, { required: true, fix: "name the service, e.g. inventory" }) ?? "";
        if (name && !isDns1123Label(name)) {
            p.add(
                join(path, "name"),
                `${JSON.stringify(name)} is not a DNS-1123 label; use lower-case letters, digits and '-', at most 63 characters`,
            );
        }
        const healthPath = readString(item, "healthPath", path, p, { default: "/health" }) ?? "/health";
        if (!healthPath.startsWith("/")) p.add(join(path, "healthPath"), "must start with '/'");
        const gatewayPath = readString(item, "gatewayPath", path, p, { default: `/api/${name}` }) ?? `/api/${name}`;
        if (!/^\/[A-Za-z0-9._~\/-]*$/.test(gatewayPath)) {
            p.add(join(path, "gatewayPath"), `${JSON.stringify(gatewayPath)} must be a URL path starting with '/'`);
        }
        services.push({
            name,
            image: checkImage(
                readString(item, "image", path, p, { required: true, fix: "set a pinned container image" }),
                join(path, "image"),
                p,
            ),
            port: readInt(item, "port", path, p, { min: 1, max: 65535, default: 8080, fix: "use the port the container listens on" }),
            replicas: readInt(item, "replicas", path, p, { min: 1, max: 100, default: 2, fix: "use 1–100 replicas" }),
            healthPath,
            gatewayPath: gatewayPath.replace(/\/+$/, "") || "/",
            datastores: parseDatastores(item.datastores, join(path, "datastores"), name, p),
            resources: parseResources(item.resources, join(path, "resources"), p),
            securityContext: parseSecurityOverride(item.securityContext, join(path, "securityContext"), p),
        });
    });
    checkUnique(services, (s) => s.name, "name", "services", p);
    checkUnique(services, (s) => s.gatewayPath, "gatewayPath", "services", p);
    const owner = new Map<string, string>();
    services.forEach((s, i) =>
        s.datastores.forEach((d, j) => {
            const prev = owner.get(d.instance);
            if (prev !== undefined && prev !== s.name) {
                p.add(
                    `services[${i}].datastores[${j}].instance`,
                    `datastore ${JSON.stringify(d.instance)} is already owned by service ${JSON.stringify(prev)}; ` +
                        "each service gets its own datastore (no shared data); give this one its own instance name",
                );
            }
            owner.set(d.instance, s.name);
        }),
    );
    return services;
}

function parseDatastores(raw: unknown, path: string, service: string, p: Problems): DatastoreConfig[] {
    if (raw === undefined || raw === null) return [];
    if (!Array.isArray(raw)) {
        p.add(path, "must be a list like [{ engine: postgres }]");
        return [];
    }
    const out: DatastoreConfig[] = [];
    raw.forEach((item, j) => {
        const at = join(path, j);
        if (!isObject(item)) {
            p.add(at, "must be a map with engine (postgres or redis)");
            return;
        }
        checkKnownKeys(item, ["engine", "instance"], at, p);
        const engine = readString(item, "engine", at, p, { required: true, fix: "set engine: postgres or engine: redis" });
        if (engine !== undefined && engine !== "postgres" && engine !== "redis") {
            p.add(join(at, "engine"), `must be postgres or redis, got ${JSON.stringify(engine)}`);
            return;
        }
        const instance = readString(item, "instance", at, p, { default: `${service}-${engine ?? "db"}` }) ?? "";
        if (!isDns1123Label(instance)) p.add(join(at, "instance"), `${JSON.stringify(instance)} is not a DNS-1123 label`);
        if (engine) out.push({ engine, instance });
    });
    return out;
}

function parseResources(raw: unknown, path: string, p: Problems): ServiceConfig["resources"] {
    const dflt = { cpu: "100m", memory: "128Mi", memoryLimit: "256Mi" };
    if (raw === undefined || raw === null) return dflt;
    if (!isObject(raw)) {
        p.add(path, "must be a map with cpu, memory, cpuLimit, memoryLimit");
        return dflt;
    }
    checkKnownKeys(raw, ["cpu", "memory", "cpuLimit", "memoryLimit"], path, p);
    const qty = (key: string, d?: string): string | undefined => {
        const v = readString(raw, key, path, p, { default: d });
        if (v !== undefined && !/^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.test(v)) {
            p.add(join(path, key), `${JSON.stringify(v)} is not a Kubernetes quantity like 250m or 256Mi`);
        }
        return v;
    };
    return {
        cpu: qty("cpu", dflt.cpu) ?? dflt.cpu,
        memory: qty("memory", dflt.memory) ?? dflt.memory,
        cpuLimit: qty("cpuLimit"),
        memoryLimit: qty("memoryLimit", dflt.memoryLimit) ?? dflt.memoryLimit,
    };
}

function parseSecurityOverride(raw: unknown, path: string, p: Problems): ServiceSecurityOverride {
    if (raw === undefined || raw === null) return {};
    if (!isObject(raw)) {
        p.add(path, "must be a map with runAsUser, runAsGroup, readOnlyRootFilesystem");
        return {};
    }
    checkKnownKeys(raw, ["runAsUser", "runAsGroup", "readOnlyRootFilesystem"], path, p);
    const fix = "use the numeric non-root user/group the image expects (not 0)";
    const out: ServiceSecurityOverride = {};
    for (const key of ["runAsUser", "runAsGroup"] as const) {
        if (raw[key] === 0 || raw[key] === "0") {
            p.add(join(path, key), "0 is root; every workload runs as non-root: " + fix);
            continue;
        }
        const v = readInt(raw, key, path, p, { min: 1, max: 2147483647, fix });
        if (v !== undefined) out[key] = v;
    }
    if (raw.readOnlyRootFilesystem !== undefined && raw.readOnlyRootFilesystem !== null)
        out.readOnlyRootFilesystem = readBool(raw, "readOnlyRootFilesystem", path, p, true);
    return out;
}

function checkUnique<T>(items: T[], key: (t: T) => string, field: string, list: string, p: Problems): void {
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
        const k = key(item);
        if (!k || k.startsWith(":")) return;
        const first = seen.get(k);
        if (first !== undefined) {
            p.add(`${list}[${i}].${field}`, `duplicates ${list}[${first}].${field} (${JSON.stringify(k)}); each must be unique`);
        } else {
            seen.set(k, i);
        }
    });
}

/** Shared by nodes, jump hosts and the hypervisor: a pinned host key, unless verification is skipped deliberately. */
function checkHostKey(obj: Obj, path: string, required: boolean, host: string, p: Problems): string | undefined {
    const hostKey = readString(obj, "hostKey", path, p);
    if (hostKey && !/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?$/.test(hostKey)) {
        p.add(join(path, "hostKey"), "must be a public host key line like `ssh-ed25519 AAAA...` (ssh-keyscan prints it)");
    } else if (!hostKey && required) {
        p.add(
            join(path, "hostKey"),
            `is required: without it the first connection trusts whoever answers; pin it with \`ssh-keyscan -t ed25519 ${host || "HOST"}\` ` +
                "(compare it with the provider's console), or set insecureSkipHostKeyVerification: true deliberately",
        );
    }
    return hostKey;
}

/** POSIX user name (the portable subset useradd accepts); no whitespace, so "root " cannot silently become sudo. */
function checkUser(user: string, path: string, p: Problems): void {
    if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) {
        p.add(path, `${JSON.stringify(user)} is not a POSIX user name (lower-case letters, digits, '_' and '-', at most 32, no spaces)`);
    }
}

const SYSCTL_PREFIXES = ["net.", "fs.", "vm.", "kernel."];
/** Keys that hand a root shell to whoever controls them, or stop the machine: never set from config. */
export const FORBIDDEN_SYSCTLS: readonly string[] = [
    "kernel.core_pattern",
    "kernel.modprobe",
    "kernel.hotplug",
    "kernel.poweroff_cmd",
    "kernel.usermodehelper.bset",
    "kernel.usermodehelper.inheritable",
    "kernel.modules_disabled",
    "kernel.sysrq",
    "kernel.panic",
    "kernel.panic_on_oops",
    "vm.panic_on_oom",
    "fs.suid_dumpable",
];

function sysctlKeyProblem(k: string): string | undefined {
    if (!/^[a-z0-9_]+(\.[a-z0-9_-]+)+$/.test(k)) return "is not a sysctl key (expected dotted form like net.ipv4.tcp_tw_reuse)";
    if (!SYSCTL_PREFIXES.some((x) => k.startsWith(x))) return `only ${SYSCTL_PREFIXES.map((x) => x + "*").join(", ")} keys can be set`;
    if (FORBIDDEN_SYSCTLS.includes(k) || k.startsWith("kernel.usermodehelper."))
        return "is refused: it can run programs as root or stop the machine; set it outside nordstack if you must";
    return undefined;
}

/** Labels the kubelet may set on its own node under the reserved kubernetes.io / k8s.io namespaces. */
export const KUBELET_LABEL_PREFIXES: readonly string[] = [
    "kubelet.kubernetes.io/",
    "node.kubernetes.io/",
    "topology.kubernetes.io/",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "kubernetes.io/hostname",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "failure-domain.beta.kubernetes.io/",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
];

function kubeletMaySetLabel(key: string): boolean {
    const slash = key.indexOf("/");
    if (slash < 0) return true;
    const prefix = key.slice(0, slash);
    const reserved = /(^|\.)(kubernetes\.io|k8s\.io)$/.test(prefix);
    return !reserved || KUBELET_LABEL_PREFIXES.some((x) => (x.endsWith("/") ? key.startsWith(x) : key === x));
}

/** An image reference pinned by tag or digest: no `:latest`, no untagged name, no whitespace. */
export function imageProblem(ref: string): string | undefined {
    if (/\s/.test(ref) || ref === "") return "must be an image reference without whitespace";
    const digest = /@sha256:[a-f0-9]{64}$/.test(ref);
    if (ref.includes("@") && !digest) return "has a malformed digest; use name@sha256:<64 hex digits>";
    const name = ref.replace(/@sha256:[a-f0-9]{64}$/, "");
    const lastSlash = name.lastIndexOf("/");
    const colon = name.indexOf(":", lastSlash + 1);
    const tag = colon >= 0 ? name.slice(colon + 1) : undefined;
    if (!/^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?$/.test(name)) {
        return "is not an image reference like registry.example.no/team/app:1.2.3";
    }
    if (!digest && tag === undefined) return "has no tag: pin a version (name:1.2.3) or a digest (name@sha256:...)";
    if (!digest && tag === "latest") return "uses :latest, which changes under you; pin a version or a digest";
    return undefined;
}

function checkImage(ref: string | undefined, path: string, p: Problems): string {
    if (ref === undefined) return "";
    const problem = imageProblem(ref);
    if (problem) p.add(path, `${JSON.stringify(ref)} ${problem}`);
    return ref;
}

function trustAnchorGeneration(r: Obj, p: Problems): string {
    const v = r.linkerdTrustAnchorGeneration;
    if (v === undefined || v === null || v === "") return DEFAULTS.linkerdTrustAnchorGeneration;
    const s = String(v as string | number);
    if (!/^[a-z0-9]{1,16}$/.test(s))
        p.add("linkerdTrustAnchorGeneration", `${JSON.stringify(s)} must be 1–16 lower-case letters or digits`);
    return s;
}
