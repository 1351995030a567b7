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
import type { LibvirtGuestsArgs } from "./nodes/libvirt-guests";
import { validateLibvirtGuests } from "./nodes/libvirt-validate";
import { parseRegistryMirror, RegistryMirror } from "./images";

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
    /** SSH host public key (`ssh-ed25519 AAAA...`); pins the host when set. */
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
    /** Base URL of the k3s release files (the install script's GITHUB_URL). */
    downloadUrl: string;
    /** Air-gapped install: local paths of the k3s binary, images tarball and install script. */
    airgap?: { binary: string; images: string; installScript: string };
}

/** Where images, charts and packages come from instead of their US-hosted upstreams (issue 16). */
export interface MirrorConfig {
    /** Registry mirror for every image (`registryMirror`); registries.yaml and every rendered reference. */
    registry?: RegistryMirror;
    /** The secret `registryMirrorAuth` (username:password) is set; the value never passes through here. */
    registryAuth: boolean;
    /** One Helm repository (https:// or oci://) holding linkerd-crds, linkerd-control-plane and consul. */
    chart?: string;
    /** Alpine package mirror for the overlay smoke test's iperf3 (`alpineMirror`), e.g. https://mirror.example.no/alpine. */
    alpine?: string;
}

export interface MeshConfig {
    /** Rotates the Linkerd identity issuer (any new value) without touching the trust anchor. */
    issuerRotation?: string;
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
    /** 0 = off. */
    microCacheSeconds: number;
    /** Per client address; 0 = off. */
    rateLimitPerSecond: number;
}

export type SmokeMode = "always" | "onChange" | "never";

export interface SmokeConfig {
    /** always: every `up`; onChange: when nodes or thresholds change; never. */
    mode: SmokeMode;
    minGbps: number;
    /** Fraction of the slower end's link speed required where the link reports one; 0 = off. */
    minLinkFraction: number;
    maxRetransmits: number;
    durationSeconds: number;
    parallel: number;
}

export interface PreflightConfig {
    /** `systemd-detect-virt` answers accepted besides `kvm` and `none`. */
    allowVirtualization: string[];
    /** Kernel modules that must be loadable. Empty when k3s is off. */
    requiredModules: string[];
}

export interface PlatformConfig {
    sovereignty: Sovereignty;
    region: string;
    ssh: { user: string; port: number; privateKeyPath?: string };
    mtu: number;
    nodes: NodeConfig[];
    tuning: TuningConfig;
    preflight: PreflightConfig;
    k3s: K3sConfig;
    smoke: SmokeConfig;
    mesh: MeshConfig;
    gateway: GatewayConfig;
    mirrors: MirrorConfig;
    /** When set, nodes are KVM guests created on this hypervisor instead of existing hosts. */
    libvirt?: LibvirtConfig;
    services: ServiceConfig[];
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

export const DEFAULTS = {
    sovereignty: "strict" as Sovereignty,
    region: "no-oslo",
    sshUser: "root",
    sshPort: 22,
    mtu: 1500,
    nofile: DEFAULT_NOFILE,
    k3sEnabled: true,
    k3sVersion: "v1.31.4+k3s1",
    k3sFlannelBackend: "vxlan" as FlannelBackend,
    k3sInstallScriptUrl: "https://get.k3s.io",
    k3sDownloadUrl: "https://github.com/k3s-io/k3s/releases",
    smokeMode: "always" as SmokeMode,
    smokeMinGbps: 1,
    smokeMinLinkFraction: 0,
    smokeMaxRetransmits: 2000,
    smokeDurationSeconds: 10,
    smokeParallel: 1,
    linkerdCertWarnDays: 60,
    gatewayReplicas: 2,
    gatewayKeepalive: 64,
};

const TOP_KEYS = [
    "sovereignty",
    "region",
    "sshUser",
    "sshPort",
    "sshPrivateKeyPath",
    "sshPrivateKeySecret",
    "mtu",
    "nodes",
    "sysctls",
    "nofile",
    "allowVirtualization",
    "k3sEnabled",
    "k3sVersion",
    "k3sFlannelBackend",
    "k3sApiHost",
    "k3sInstallScriptUrl",
    "k3sDownloadUrl",
    "k3sAirgap",
    "smokeMode",
    "smokeMinGbps",
    "smokeMinLinkFraction",
    "smokeMaxRetransmits",
    "smokeDurationSeconds",
    "smokeParallel",
    "linkerdIssuerRotation",
    "linkerdCertWarnDays",
    "linkerdChartRepository",
    "linkerdChartVersion",
    "consulChartRepository",
    "consulChartVersion",
    "gatewayServerNames",
    "gatewayReplicas",
    "gatewayKeepalive",
    "gatewayMicroCacheSeconds",
    "gatewayRateLimitPerSecond",
    "libvirt",
    "services",
    "registryMirror",
    "registryMirrorAuthSecret",
    "chartMirror",
    "alpineMirror",
] as const;

/**
 * Validates the whole stack configuration and returns it typed, with defaults
 * applied. Throws one `ConfigError` listing every problem, each naming the key
 * path and the fix. `sshPrivateKeySecret` is only a flag saying the secret
 * `sshPrivateKey` is set; the key itself never passes through here.
 */
export function parsePlatformConfig(raw: unknown): PlatformConfig {
    const p = new Problems();
    const r: Obj = isObject(raw) ? raw : {};
    if (!isObject(raw)) p.add("(root)", "the configuration must be a map of keys");
    checkKnownKeys(r, TOP_KEYS, "", p);

    const sovereignty = readString(r, "sovereignty", "", p, { default: DEFAULTS.sovereignty });
    if (sovereignty !== "strict" && sovereignty !== "relaxed") {
        p.add("sovereignty", `must be "strict" or "relaxed", got ${JSON.stringify(sovereignty)}`);
    }
    const strict = sovereignty !== "relaxed";
    const region = readString(r, "region", "", p, { default: DEFAULTS.region }) ?? DEFAULTS.region;
    checkRegion(region, "region", strict, p);

    const sshUser = readString(r, "sshUser", "", p, { default: DEFAULTS.sshUser }) ?? DEFAULTS.sshUser;
    const sshPort = readInt(r, "sshPort", "", p, sshPortRange(DEFAULTS.sshPort)) ?? DEFAULTS.sshPort;
    const privateKeyPath = readString(r, "sshPrivateKeyPath", "", p);
    const hasSecretKey = readBool(r, "sshPrivateKeySecret", "", p, false);
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

    const libvirt = parseLibvirt(r, p);
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
    const nodes = parseNodes(rawNodes, { user: sshUser, port: sshPort, region, strict }, p);

    const sysctlOverrides = readStringMap(r, "sysctls", "", p);
    for (const [k, v] of Object.entries(sysctlOverrides)) {
        if (!/^[a-z0-9_]+(\.[a-z0-9_-]+)+$/.test(k)) {
            p.add(join("sysctls", k), "is not a sysctl key (expected dotted form like net.ipv4.tcp_tw_reuse)");
        }
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
    const k3s = parseK3s(r, k3sEnabled, p);
    const allowVirtualization = readStringList(r, "allowVirtualization", "", p, []);
    allowVirtualization.forEach((v, i) => {
        if (!/^[a-z0-9-]+$/.test(v)) p.add(join("allowVirtualization", i), `${JSON.stringify(v)} is not a systemd-detect-virt name`);
    });

    const services = parseServices(r.services, p);
    const smoke = parseSmoke(r, p);
    const mesh = parseMesh(r, p);
    const gateway = parseGateway(r, services.length > 0, nodes.length, p);
    const mirrors = parseMirrors(r, p);

    if (p.list.length > 0) throw new ConfigError(p.list);
    return {
        sovereignty: strict ? "strict" : "relaxed",
        region,
        ssh: { user: sshUser, port: sshPort, privateKeyPath },
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
        libvirt,
        services,
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
    const registryAuth = readBool(r, "registryMirrorAuthSecret", "", p, false);
    if (registryAuth && !registry) p.add("registryMirrorAuth", "is set but registryMirror is not; set registryMirror or remove the secret");
    const chart = readString(r, "chartMirror", "", p)?.replace(/\/+$/, "");
    if (chart !== undefined && !/^(https|oci):\/\/[^\s/'"]+(\/[^\s'"]*)?$/.test(chart)) {
        p.add(
            "chartMirror",
            "must be an https:// Helm repository or an oci:// registry path holding linkerd-crds, linkerd-control-plane and consul",
        );
    }
    const alpine = readString(r, "alpineMirror", "", p)?.replace(/\/+$/, "");
    if (alpine !== undefined && !/^https?:\/\/[^\s'"$`\\]+$/.test(alpine)) {
        p.add(
            "alpineMirror",
            "must be the http(s) URL of an Alpine mirror's root (the one holding v3.20/main), e.g. https://mirror.example.no/alpine",
        );
    }
    return { registry, registryAuth, chart, alpine };
}

function parseLibvirt(r: Obj, p: Problems): LibvirtConfig | undefined {
    if (r.libvirt === undefined || r.libvirt === null) return undefined;
    const v = r.libvirt;
    if (!isObject(v) || !isObject(v.hypervisor) || !Array.isArray(v.guests)) {
        p.add("libvirt", "must be a map with hypervisor: {host, user?, port?, hostKey?} and guests: [...]");
        return undefined;
    }
    const cfg = v as unknown as LibvirtConfig;
    // The key is a secret (libvirtHypervisorPrivateKey) and never passes through here.
    for (const problem of validateLibvirtGuests({ ...cfg, hypervisor: { ...cfg.hypervisor, privateKey: "" } })) p.add("libvirt", problem);
    return cfg;
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
            "size the idle upstream pool from the expected concurrency (0 turns keepalive off)",
        ),
        microCacheSeconds: int("gatewayMicroCacheSeconds", 3600, 0, "use seconds to cache identical GETs (0 = off)"),
        rateLimitPerSecond: int("gatewayRateLimitPerSecond", 1000000, 0, "use requests per second per client (0 = off)"),
    };
}

function parseSmoke(r: Obj, p: Problems): SmokeConfig {
    const mode = readString(r, "smokeMode", "", p, { default: DEFAULTS.smokeMode });
    if (mode !== "always" && mode !== "onChange" && mode !== "never") {
        p.add("smokeMode", `must be always, onChange or never, got ${JSON.stringify(mode)}`);
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
        mode: mode === "onChange" || mode === "never" ? mode : "always",
        minGbps: num("smokeMinGbps", 0, 400, DEFAULTS.smokeMinGbps, "set the minimum Gbit/s each node pair must reach"),
        minLinkFraction: num("smokeMinLinkFraction", 0, 1, DEFAULTS.smokeMinLinkFraction, "use a fraction like 0.8 (0 turns it off)"),
        maxRetransmits: num("smokeMaxRetransmits", 0, 1e9, DEFAULTS.smokeMaxRetransmits, "set the most TCP retransmits a run may have"),
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

function parseK3s(r: Obj, enabled: boolean, p: Problems): K3sConfig {
    const version = readString(r, "k3sVersion", "", p, { default: DEFAULTS.k3sVersion }) ?? DEFAULTS.k3sVersion;
    if (!/^v\d+\.\d+\.\d+\+k3s\d+$/.test(version)) {
        p.add("k3sVersion", `${JSON.stringify(version)} is not a k3s release like v1.31.4+k3s1 (see github.com/k3s-io/k3s/releases)`);
    }
    const backend = readString(r, "k3sFlannelBackend", "", p, { default: DEFAULTS.k3sFlannelBackend });
    if (backend !== "vxlan" && backend !== "wireguard-native") {
        p.add("k3sFlannelBackend", `must be vxlan or wireguard-native, got ${JSON.stringify(backend)}`);
    }
    const apiHost = readString(r, "k3sApiHost", "", p);
    if (apiHost && !isAddress(apiHost)) p.add("k3sApiHost", `${JSON.stringify(apiHost)} is neither an IP address nor a hostname`);
    const installScriptUrl = readString(r, "k3sInstallScriptUrl", "", p, { default: DEFAULTS.k3sInstallScriptUrl }) ?? "";
    if (!/^https:\/\/[^\s'"]+$/.test(installScriptUrl)) p.add("k3sInstallScriptUrl", "must be an https:// URL");
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
            airgap = {
                binary: readString(r.k3sAirgap, "binary", "k3sAirgap", p, { required: true, fix }) ?? "",
                images: readString(r.k3sAirgap, "images", "k3sAirgap", p, { required: true, fix }) ?? "",
                installScript:
                    readString(r.k3sAirgap, "installScript", "k3sAirgap", p, { required: true, fix: "save https://get.k3s.io locally" }) ??
                    "",
            };
        }
    }
    return {
        enabled,
        version,
        flannelBackend: backend === "wireguard-native" ? "wireguard-native" : "vxlan",
        apiHost,
        installScriptUrl,
        downloadUrl,
        airgap,
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
        const hostKey = readString(item, "hostKey", path, p);
        if (hostKey && !/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?$/.test(hostKey)) {
            p.add(join(path, "hostKey"), "must be a public host key line like `ssh-ed25519 AAAA...` (ssh-keyscan prints it)");
        }
        nodes.push({
            name,
            role: role === "server" ? "server" : "agent",
            host,
            privateAddress,
            privateInterface,
            region,
            port: readInt(item, "port", path, p, sshPortRange(d.port)) ?? d.port,
            user: readString(item, "user", path, p, { default: d.user }) ?? d.user,
            hostKey,
            jumpHost: parseJumpHost(item.jumpHost, join(path, "jumpHost"), p),
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

function parseJumpHost(raw: unknown, path: string, p: Problems): JumpHostConfig | undefined {
    if (raw === undefined || raw === null) return undefined;
    if (!isObject(raw)) {
        p.add(path, "must be a map with host (and optional port, user)");
        return undefined;
    }
    checkKnownKeys(raw, ["host", "port", "user"], path, p);
    const host = readString(raw, "host", path, p, { required: true, fix: "set the bastion's address" }) ?? "";
    if (host && !isAddress(host)) p.add(join(path, "host"), `${JSON.stringify(host)} is neither an IP address nor a hostname`);
    return { host, port: readInt(raw, "port", path, p, sshPortRange()), user: readString(raw, "user", path, p) };
}

function parseLabels(item: Obj, path: string, p: Problems): Record<string, string> {
    const labels = readStringMap(item, "labels", path, p);
    for (const [k, v] of Object.entries(labels)) {
        if (!/^([a-z0-9.-]{1,253}\/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(k)) {
            p.add(join(join(path, "labels"), k), "is not a valid Kubernetes label key");
        }
        if (v !== "" && !/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(v)) {
            p.add(join(join(path, "labels"), k), `value ${JSON.stringify(v)} is not a valid Kubernetes label value`);
        }
    }
    return labels;
}

const SERVICE_KEYS = ["name", "image", "port", "replicas", "healthPath", "gatewayPath", "datastores", "resources"];

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
            image: readString(item, "image", path, p, { required: true, fix: "set a pinned container image" }) ?? "",
            port: readInt(item, "port", path, p, { min: 1, max: 65535, default: 8080, fix: "use the port the container listens on" }),
            replicas: readInt(item, "replicas", path, p, { min: 1, max: 100, default: 2, fix: "use 1–100 replicas" }),
            healthPath,
            gatewayPath: gatewayPath.replace(/\/+$/, "") || "/",
            datastores: parseDatastores(item.datastores, join(path, "datastores"), name, p),
            resources: parseResources(item.resources, join(path, "resources"), p),
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
