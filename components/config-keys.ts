// The one declaration of every top-level config key of the `nordstack`
// namespace: its type, default and description. The parser takes its key list
// and defaults from here, Pulumi.yaml's `config:` block and the README's key
// table are generated from it (`npm run gen:config`), and a test fails when
// either file drifts.

import { K3S_INSTALL_SCRIPT_SHA256, K3S_INSTALL_SCRIPT_URL } from "./k3s/install-script-pin";

/** `object`: a structured key (YAML map or list of maps), set in the stack file, not declared in Pulumi.yaml. */
export type ConfigKeyType = "string" | "integer" | "boolean" | "array" | "object";

export interface ConfigKeyDecl {
    type: ConfigKeyType;
    /** Parser default; `undefined` when the key is optional without one. */
    default?: string | number | boolean | string[];
    /** One or two sentences: what it does, the allowed values or range, the default's meaning. */
    description: string;
    /** Set with `pulumi config set --secret`; only index.ts reads its value, the parser sees only whether it is set. */
    secret?: boolean;
    /** Shape shown in the README for structured keys. */
    shape?: string;
}

export const CONFIG_KEYS = {
    sovereignty: {
        type: "string",
        default: "strict",
        description:
            "strict or relaxed. strict refuses nodes outside Norway and any endpoint the stack contacts that is known to be outside the EEA (registries, chart repositories, downloads, DNS, backups), naming the key that fixes it; relaxed allows them deliberately, with a warning.",
    },
    region: {
        type: "string",
        default: "no-oslo",
        description: "Default <country>-<site> of nodes that set none, e.g. no-oslo, no-bergen.",
    },
    sshUser: {
        type: "string",
        default: "root",
        description: "SSH user (POSIX user name) for nodes that set none; a non-root user needs passwordless sudo.",
    },
    sshPort: { type: "integer", default: 22, description: "SSH port for nodes that set none, 1-65535." },
    sshPrivateKeyPath: {
        type: "string",
        default: "",
        description:
            "Path of the SSH private key file (read at run time, kept as a secret). Leave empty and set the secret sshPrivateKey instead.",
    },
    sshPrivateKey: {
        type: "string",
        secret: true,
        description: "The SSH private key itself, stored encrypted: pulumi config set --secret sshPrivateKey < KEYFILE.",
    },
    insecureSkipHostKeyVerification: {
        type: "boolean",
        default: false,
        description:
            "true or false. true lets nodes without a pinned hostKey connect without verifying the host (a warning on every preview names them); never for real servers.",
    },
    mtu: {
        type: "integer",
        default: 1500,
        description:
            "MTU every private interface must have, 1280-9000 (1500 plain Ethernet, up to 9000 jumbo); preflight fails on a mismatch.",
    },
    nodes: {
        type: "object",
        description: "The existing hosts (or none with libvirt).",
        shape: "list of `{name, role: server|agent, host, privateAddress, privateInterface?, region?, port?, user?, hostKey, jumpHost?: {host, hostKey, port?, user?}, labels?}`",
    },
    sysctls: {
        type: "object",
        description: "sysctl overrides merged over the defaults (`net.*`, `fs.*`, `vm.*`, `kernel.*`, except the dangerous ones).",
        shape: "map of `key: value`",
    },
    nofile: {
        type: "integer",
        default: 1048576,
        description: "Open-files limit for services (limits.d and systemd DefaultLimitNOFILE), 1024-1048576.",
    },
    allowVirtualization: {
        type: "array",
        default: [],
        description:
            "systemd-detect-virt answers accepted besides kvm and none, e.g. [qemu]. Container types (openvz, lxc, docker) are refused unless listed.",
    },
    k3sEnabled: {
        type: "boolean",
        default: true,
        description: "true or false. false stops after the host layers (preflight, tuning, smoke tests).",
    },
    k3sVersion: {
        type: "string",
        default: "v1.36.3+k3s1",
        description:
            "Pinned k3s release vMAJOR.MINOR.PATCH+k3sN, at least v1.31 (the Linkerd chart's floor). Changing it upgrades servers one at a time, then agents in batches.",
    },
    k3sFlannelBackend: {
        type: "string",
        default: "vxlan",
        description: "vxlan (50 bytes overhead) or wireguard-native (80 bytes, encrypted); the overlay MTU is the interface MTU minus it.",
    },
    k3sApiHost: {
        type: "string",
        default: "",
        description: "DNS name or address the API certificate covers and the kubeconfig uses; empty means the first server's host.",
    },
    k3sInstallScriptUrl: {
        type: "string",
        default: K3S_INSTALL_SCRIPT_URL,
        description:
            "https:// URL nodes download the k3s install script from: by default a pinned commit of k3s-io/k3s, never the moving https://get.k3s.io (a mirror of the same file works). Not used with k3sAirgap.",
    },
    k3sInstallScriptSha256: {
        type: "string",
        default: K3S_INSTALL_SCRIPT_SHA256,
        description:
            "sha256 (64 hex digits) the downloaded install script must have before it runs as root; a different script fails the install step naming the URL, the expected and the actual hash. Change it together with k3sInstallScriptUrl, after reviewing the new script.",
    },
    k3sDownloadUrl: {
        type: "string",
        default: "https://github.com/k3s-io/k3s/releases",
        description:
            "https:// base URL of the k3s release files (the install script's GITHUB_URL: download/<version>/k3s and sha256sum-<arch>.txt below it); point it at a mirror in the EEA, GitHub is US-hosted. Not used with k3sAirgap.",
    },
    registryMirror: {
        type: "string",
        default: "",
        description:
            "Registry mirror host[:port][/path] (e.g. registry.example.no) for every image: k3s's registries.yaml mirrors docker.io, registry.k8s.io, ghcr.io, quay.io and cr.l5d.io to it and every rendered image becomes <mirror>/<upstream>/<name>; empty means the upstream registries.",
    },
    registryMirrorAuth: {
        type: "string",
        secret: true,
        description:
            "username:password of registryMirror, stored encrypted: pulumi config set --secret registryMirrorAuth 'user:pass'. Requires registryMirror.",
    },
    chartMirror: {
        type: "string",
        default: "",
        description:
            "One https:// Helm repository or oci:// registry path holding linkerd-crds, linkerd-control-plane, linkerd2-cni and consul at the pinned versions, used unless linkerdChartRepository/consulChartRepository are set; empty means the upstream repositories.",
    },
    k3sJoinConcurrency: {
        type: "integer",
        default: 10,
        description: "Agents that join at once after the servers are Ready, 1 to the number of agents (servers always join one at a time).",
    },
    k3sUpgradeBatch: {
        type: "integer",
        default: 1,
        description: "Agents upgraded (drained, upgraded, uncordoned) at once on a k3sVersion change, 1 to the number of agents.",
    },
    k3sAirgap: {
        type: "object",
        description: "Air-gapped install from local files.",
        shape: "`{binary, images (.tar, .tar.gz or .tar.zst), installScript}` (local paths)",
    },
    smokeMode: {
        type: "string",
        default: "onChange",
        description:
            "When the iperf3/path-MTU smoke tests run: onChange (default: when nodes, MTU or thresholds change), always (every up), never.",
    },
    smokeCoverage: {
        type: "string",
        default: "ring",
        description:
            "ring (each node to its ring neighbour, zones interleaved: 2-3 rounds for any node count) or full (every pair, n-1 rounds).",
    },
    smokeMinGbps: {
        type: "string",
        default: "1",
        description: "Minimum TCP Gbit/s per measured pair, a number 0-400; a pair below it fails the run before k3s.",
    },
    smokeMinLinkFraction: {
        type: "string",
        default: "0",
        description:
            "Also require this fraction (0-1, e.g. 0.8) of the slower end's link speed where the interface reports one; 0 turns it off.",
    },
    smokeMaxRetransmitRate: {
        type: "string",
        default: "0.01",
        description:
            "Most retransmitted TCP segments per segment sent, a number 0-1 (0.01 = 1 %); a rate, since a healthy fast link retransmits thousands.",
    },
    smokeDurationSeconds: { type: "integer", default: 10, description: "Seconds per iperf3 run, 1-300 (the article uses 30)." },
    smokeParallel: { type: "integer", default: 1, description: "Parallel TCP streams per iperf3 run, 1-32." },
    linkerdIssuerRotation: {
        type: "string",
        default: "",
        description: "Set or change it to rotate Linkerd's identity issuer now; the trust anchor stays.",
    },
    linkerdTrustAnchorGeneration: {
        type: "string",
        default: "1",
        description:
            "Generation of Linkerd's trust anchor. The anchor is never replaced implicitly; changing this replaces it deliberately (every proxy must restart: see README).",
    },
    linkerdCertWarnDays: {
        type: "integer",
        default: 60,
        description: "The preview warns when the Linkerd issuer or trust anchor expires within this many days, 1-3650.",
    },
    linkerdChartRepository: {
        type: "string",
        default: "",
        description: "https:// or oci:// repository of the linkerd-crds and linkerd-control-plane charts; empty means Linkerd's own.",
    },
    linkerdChartVersion: {
        type: "string",
        default: "",
        description: "Pinned Linkerd chart version like 2026.8.3; empty means the version nordstack is tested with.",
    },
    consulChartRepository: {
        type: "string",
        default: "",
        description: "https:// or oci:// repository of the consul chart; empty means HashiCorp's.",
    },
    consulChartVersion: {
        type: "string",
        default: "",
        description: "Pinned consul chart version like 2.0.3; empty means the version nordstack is tested with.",
    },
    gatewayServerNames: {
        type: "array",
        default: [],
        description: "server_name(s) of the public API on the NGINX gateway, e.g. [api.example.no]; required when services are configured.",
    },
    gatewayReplicas: {
        type: "integer",
        default: 2,
        description: "Gateway replicas, 2-100 and at most the node count: one per node on ports 80/443.",
    },
    gatewayKeepalive: {
        type: "integer",
        default: 64,
        description:
            "Floor of the idle keepalive connections per gateway worker per upstream, 0-10000 (the pool is sized from gatewayExpectedConcurrency); 0 turns upstream keepalive off.",
    },
    gatewayExpectedConcurrency: {
        type: "integer",
        default: 256,
        description:
            "Concurrent requests one gateway pod serves at peak (all services), 1-1000000; sizes each worker's upstream keepalive pool.",
    },
    gatewayMicroCacheSeconds: {
        type: "integer",
        default: 0,
        description: "Micro-cache identical GETs for this many seconds with proxy_cache_lock, 0-3600; 0 = off.",
    },
    gatewayRateLimitPerSecond: {
        type: "integer",
        default: 0,
        description: "Per-client request rate limit (limit_req) on API routes, 0-1000000; 0 = off.",
    },
    gatewayRequestIds: {
        type: "boolean",
        default: false,
        description:
            "true or false. Give each request without an X-Request-ID a random one (passed to the service, logged); a client's own passes unchanged either way. Off by default: it costs ~9 % of the gateway's CPU per request.",
    },
    gatewayResponseBuffering: {
        type: "boolean",
        default: false,
        description:
            "true or false. Buffer service responses in the gateway (proxy_buffering); off, responses stream to the client, the faster path, and a service can still ask per response with X-Accel-Buffering: yes. The micro-cache turns it on.",
    },
    gatewayTlsCertificate: {
        type: "string",
        default: "",
        description: "PEM certificate chain for HTTPS on the gateway; set the secret gatewayTlsPrivateKey with it.",
    },
    gatewayTlsPrivateKey: {
        type: "string",
        secret: true,
        description: "PEM private key of gatewayTlsCertificate: pulumi config set --secret gatewayTlsPrivateKey < KEYFILE.",
    },
    firewallEnabled: {
        type: "boolean",
        default: true,
        description:
            "true or false. The nftables node firewall (table inet nordstack): cluster ports from the private network only, SSH and the gateway's 80/443 public, rolled back unless a fresh SSH connection confirms it.",
    },
    sshAllowFrom: {
        type: "array",
        default: [],
        description:
            "CIDRs that may open SSH to the nodes, e.g. [203.0.113.0/24]; empty means from anywhere. Include the machine Pulumi runs on (or its jump host), or the rules roll back.",
    },
    apiAllowFrom: {
        type: "array",
        default: [],
        description:
            "CIDRs besides the nodes that may reach the Kubernetes API (6443 on servers), e.g. your deploy machine [198.51.100.7/32] (its public or VPN address); required with k3s and the firewall on.",
    },
    firewallExtraPublicPorts: {
        type: "object",
        description: "More ports open to anyone on every node, besides SSH and the gateway's 80/443; cluster ports are refused.",
        shape: "list of `{port (1-65535), protocol: tcp|udp (tcp)}`",
    },
    firewallConfirmSeconds: {
        type: "integer",
        default: 60,
        description: "Seconds new firewall rules stay loaded without a confirming fresh SSH connection before they roll back, 10-120.",
    },
    libvirt: {
        type: "object",
        description: "Create the nodes as KVM guests on a hypervisor instead of using existing hosts.",
        shape: "`{hypervisor: {host, hostKey, port?, user?}, baseImage?, baseImageSha512? (128 hex), baseImageChecksumUrl? (https SHA512SUMS), guests: [{name, role, address, cpus, memoryMiB, diskGiB, ...}]}`",
    },
    libvirtHypervisorPrivateKey: {
        type: "string",
        secret: true,
        description: "SSH private key of the libvirt hypervisor: pulumi config set --secret libvirtHypervisorPrivateKey < KEYFILE.",
    },
    services: {
        type: "object",
        description: "The microservices, each with its own datastores.",
        shape: "list of `{name, image (pinned tag or @sha256 digest), port (8080), replicas (2), healthPath (/health), gatewayPath (/api/<name>), datastores: [{engine: postgres|redis, instance?}], resources?: {cpu, memory, cpuLimit?, memoryLimit}, securityContext?: {runAsUser (65532), runAsGroup (65532), readOnlyRootFilesystem (true)}}`",
    },
    backups: {
        type: "object",
        description: "Datastore backups to S3 storage (README: Backups); secrets backupAccessKeyId, backupSecretAccessKey.",
        shape: "`{endpoint, bucket, region, prefix (nordstack), retentionDays (14), schedule (15 2 * * *), archiveTimeoutSeconds (300), allowInsecure, uriStyle, egressCidrs?, postgresImage}`",
    },
    backupAccessKeyId: {
        type: "string",
        secret: true,
        description: "Access key id of the backup object storage: pulumi config set --secret backupAccessKeyId <id>.",
    },
    backupSecretAccessKey: {
        type: "string",
        secret: true,
        description: "Secret access key of the backup object storage: pulumi config set --secret backupSecretAccessKey <key>.",
    },
} satisfies Record<string, ConfigKeyDecl>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** Keys removed from the schema, with what replaces them: named in the error instead of a bare "unknown key". */
export const RETIRED_KEYS: Readonly<Record<string, string>> = {
    smokeMaxRetransmits: "replaced by smokeMaxRetransmitRate (retransmitted segments per segment sent, default 0.01)",
    alpineMirror: "no longer needed: the overlay smoke test's image (netshoot, pinned by digest) installs nothing at run time; remove it",
};

export const SECRET_KEYS: readonly string[] = Object.entries(CONFIG_KEYS)
    .filter(([, d]) => (d as ConfigKeyDecl).secret)
    .map(([k]) => k);

/** The declared default of a key (typed by the caller). */
export function keyDefault<T extends string | number | boolean | string[]>(key: ConfigKey): T {
    return (CONFIG_KEYS[key] as ConfigKeyDecl).default as T;
}
