// The composition of every layer, in the order of one `pulumi up`.
import * as pulumi from "@pulumi/pulumi";
import type { PlatformConfig } from "./config";
import { Preflight } from "./host/preflight";
import { crossNodeProblems, PreflightResult } from "./host/preflight-checks";
import { nodeShares, shareDetail } from "./host/capacity";
import { HostTuning, TuningResult } from "./host/tuning";
import { Firewall } from "./host/firewall";
import { Cluster } from "./k3s/cluster";
import { NetworkSmoke } from "./smoke/network";
import { OverlaySmoke } from "./smoke/overlay";
import { LinkerdPki } from "./mesh/pki";
import { Linkerd } from "./mesh/linkerd";
import { Consul } from "./discovery/consul";
import { Workloads } from "./services/workloads";
import { gate } from "./host/gate";
import type { PairResult } from "./smoke/results";
import { ExistingHosts } from "./nodes/existing-hosts";
import { LibvirtGuests } from "./nodes/libvirt-guests";
import type { NodeSource } from "./nodes/source";
import { mirrorImage } from "./images";
import { parseRegistryAuth, renderRegistriesYaml } from "./k3s/registries";
import { NGINX_IMAGE } from "./gateway/nginx";
import { POSTGRES_IMAGE } from "./data/postgres";
import { REDIS_IMAGE } from "./data/redis";
import { RCLONE_IMAGE } from "./data/backup-redis";
import { OVERLAY_SMOKE_IMAGE } from "./smoke/overlay";
import { runError } from "./errors";

export interface PlatformArgs {
    /** The validated stack configuration (see `parsePlatformConfig`). */
    config: PlatformConfig;
    /** SSH private key for the configured nodes; kept secret. Unused when `nodeSource` is given. */
    sshPrivateKey?: pulumi.Input<string>;
    /** Where nodes come from; default: the configured existing hosts over SSH. */
    nodeSource?: NodeSource;
    /** Re-runs the network smoke tests when it changes (see `smokeRunId`); none when undefined. */
    smokeRunId?: pulumi.Input<string>;
    /** SSH key of the libvirt hypervisor (when `config.libvirt` is set); kept secret. */
    libvirtHypervisorPrivateKey?: pulumi.Input<string>;
    /** Private key (PEM) for the gateway's TLS certificate; kept secret. */
    gatewayTlsPrivateKey?: pulumi.Input<string>;
    /** The gateway's TLS certificate (PEM); TLS is on when both are set. */
    gatewayTlsCertificate?: string;
    /** `username:password` for `config.mirrors.registry` (the secret registryMirrorAuth); kept secret. */
    registryMirrorAuth?: pulumi.Input<string>;
    /** The object storage key pair for `config.backups` (secrets). */
    backupAccessKeyId?: pulumi.Input<string>;
    backupSecretAccessKey?: pulumi.Input<string>;
}

export class Platform extends pulumi.ComponentResource {
    public readonly nodeSource: NodeSource;
    public readonly preflight: Record<string, Preflight> = {};
    public readonly tuning: Record<string, HostTuning> = {};
    /** Per node: the nftables firewall (empty when `firewallEnabled` is false). */
    public readonly firewall: Record<string, Firewall> = {};
    /** Per node: name, role, region and addresses (no secrets). */
    public readonly nodes: pulumi.Output<{ name: string; role: string; region: string; publicAddress: string; privateAddress: string }[]>;
    /** Per node: what preflight found (OS, virtualization, interface, MTU, modules). */
    public readonly preflightResults: pulumi.Output<Record<string, PreflightResult>>;
    /** Per node: the sysctl values in force after tuning. */
    public readonly tunedValues: pulumi.Output<Record<string, TuningResult["values"]>>;
    /** Network smoke test results per node pair; undefined when smoke tests are off. */
    public readonly smokeResults?: pulumi.Output<PairResult[]>;
    /** Pod-to-pod smoke test across the overlay; undefined without k3s or smoke tests. */
    public readonly overlaySmokeResults?: pulumi.Output<PairResult[]>;
    /** The k3s cluster; undefined when `k3sEnabled` is false. */
    public readonly cluster?: Cluster;
    /** Linkerd's trust anchor and identity issuer (made with @pulumi/tls; needs no cluster). */
    public readonly pki: LinkerdPki;
    public readonly linkerd?: Linkerd;
    public readonly consul?: Consul;
    public readonly workloads?: Workloads;

    constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:index:Platform", name, {}, opts);
        const cfg = args.config;
        // Every image the stack renders goes through mirrorImage: unchanged without a mirror.
        const mirror = cfg.mirrors.registry;
        const image = (ref: string) => mirrorImage(ref, mirror);

        // 1 nodes
        this.nodeSource =
            args.nodeSource ??
            (cfg.libvirt
                ? new LibvirtGuests(
                      `${name}-guests`,
                      {
                          ...cfg.libvirt,
                          hypervisor: { ...cfg.libvirt.hypervisor, privateKey: args.libvirtHypervisorPrivateKey ?? missingKey() },
                      },
                      { parent: this },
                  )
                : undefined) ??
            new ExistingHosts(
                `${name}-nodes`,
                {
                    hosts: cfg.nodes,
                    privateKey: args.sshPrivateKey ?? missingKey(),
                    insecureSkipHostKeyVerification: cfg.ssh.insecureSkipHostKeyVerification,
                },
                { parent: this },
            );

        this.nodes = pulumi.all(
            this.nodeSource.nodes.map((n) =>
                pulumi.all([n.publicAddress, n.privateAddress]).apply(([publicAddress, privateAddress]) => ({
                    name: n.name,
                    role: n.role,
                    region: n.region,
                    publicAddress,
                    privateAddress,
                })),
            ),
        );

        // 2 preflight, per node; nothing else touches a node before all of them pass.
        // With k3s, each node must also fit its share of what the enabled layers request.
        const shares = new Map(nodeShares(cfg, this.nodeSource.nodes).map((s) => [s.node, s]));
        for (const node of this.nodeSource.nodes) {
            const share = shares.get(node.name);
            this.preflight[node.name] = new Preflight(
                `${name}-preflight-${node.name}`,
                {
                    node,
                    expectedMtu: cfg.mtu,
                    requiredModules: cfg.preflight.requiredModules,
                    allowVirtualization: cfg.preflight.allowVirtualization,
                    capacity: share && {
                        ...share.required,
                        cpuDetail: shareDetail(share).cpu,
                        memoryDetail: shareDetail(share).memory,
                    },
                },
                { parent: this },
            );
        }
        const results = Object.entries(this.preflight).map(([node, p]) => p.result.apply((result) => ({ node, result })));
        this.preflightResults = pulumi.all(results).apply((rs) => Object.fromEntries(rs.map((r) => [r.node, r.result])));
        // The cross-node gate: its own resource, failing before any host is touched.
        const allPreflights = Object.values(this.preflight).map((p) => p.command);
        const preflightGate = gate(
            `${name}-preflight-gate`,
            pulumi.all(results).apply((rs) => {
                const problems = crossNodeProblems(rs);
                if (problems.length > 0) throw runError(`nordstack preflight: ${problems.join("; ")}`);
                return rs.length;
            }),
            { parent: this, dependsOn: allPreflights },
        );

        // 3 host tuning, per node, once every node passed preflight and the gate
        for (const node of this.nodeSource.nodes) {
            this.tuning[node.name] = new HostTuning(
                `${name}-tuning-${node.name}`,
                {
                    node,
                    sysctls: cfg.tuning.sysctls,
                    floorKeys: cfg.tuning.floorKeys,
                    nofile: cfg.tuning.nofile,
                    dependsOn: [...allPreflights, preflightGate],
                },
                { parent: this },
            );
        }
        this.tunedValues = pulumi
            .all(Object.entries(this.tuning).map(([node, t]) => t.result.apply((r) => [node, r.values] as const)))
            .apply((entries) => Object.fromEntries(entries));

        // 5 host-level smoke tests, right after tuning and the firewall (4), in rounds of disjoint pairs.
        // Each pair's step fails on a bad figure; the smoke gate waits for all of them,
        // and every k3s step waits for the gate: a bad network stops the run before k3s.
        const tuned = [...Object.values(this.tuning).map((t) => t.command), ...this.firewalls(name, cfg)];
        let smokeGate: pulumi.Resource | undefined;
        if (args.smokeRunId !== undefined && this.nodeSource.nodes.length > 1) {
            const smoke = new NetworkSmoke(
                `${name}-smoke`,
                {
                    nodes: this.nodeSource.nodes.map((node) => ({
                        node,
                        linkSpeedMbps: this.preflight[node.name].result.linkSpeedMbps,
                        zone: node.labels["topology.kubernetes.io/zone"],
                    })),
                    mtu: cfg.mtu,
                    thresholds: cfg.smoke,
                    coverage: cfg.smoke.coverage,
                    durationSeconds: cfg.smoke.durationSeconds,
                    parallel: cfg.smoke.parallel,
                    runId: args.smokeRunId,
                    dependsOn: tuned,
                },
                { parent: this },
            );
            this.smokeResults = smoke.results;
            smokeGate = gate(
                `${name}-smoke-gate`,
                smoke.results.apply((r) => r.length),
                { parent: this, dependsOn: smoke.finished },
            );
        }

        // 4 k3s, after every node is tuned (and the network passed, when tested)
        if (cfg.k3s.enabled) {
            this.cluster = new Cluster(
                `${name}-k3s`,
                {
                    nodes: this.nodeSource.nodes.map((node) => ({
                        node,
                        privateInterface: this.preflight[node.name].result.privateInterface,
                    })),
                    version: cfg.k3s.version,
                    interfaceMtu: cfg.mtu,
                    flannelBackend: cfg.k3s.flannelBackend,
                    apiHost: cfg.k3s.apiHost,
                    installScriptUrl: cfg.k3s.installScriptUrl,
                    installScriptSha256: cfg.k3s.installScriptSha256,
                    downloadUrl: cfg.k3s.downloadUrl,
                    airgap: cfg.k3s.airgap,
                    registriesYaml: mirror ? registriesYaml(mirror, args.registryMirrorAuth) : undefined,
                    // strict: an unreachable mirror fails the pull instead of silently falling back to the US registries.
                    disableDefaultRegistryEndpoint: mirror !== undefined && cfg.sovereignty === "strict",
                    joinConcurrency: cfg.k3s.joinConcurrency,
                    upgradeBatch: cfg.k3s.upgradeBatch,
                    dependsOn: [...tuned, ...(smokeGate ? [smokeGate] : [])],
                },
                { parent: this },
            );
        }

        // 7b overlay smoke test: two pods on different nodes, once the cluster is up
        if (this.cluster && args.smokeRunId !== undefined && this.nodeSource.nodes.length > 1) {
            const firstServer = this.nodeSource.nodes.find((n) => n.role === "server") ?? this.nodeSource.nodes[0];
            this.overlaySmokeResults = new OverlaySmoke(
                `${name}-overlay-smoke`,
                {
                    provider: this.cluster.provider,
                    firstServer,
                    overlayMtu: this.cluster.overlayMtu,
                    thresholds: cfg.smoke,
                    durationSeconds: cfg.smoke.durationSeconds,
                    parallel: cfg.smoke.parallel,
                    runId: args.smokeRunId,
                    image: image(OVERLAY_SMOKE_IMAGE),
                },
                // Two nodes suffice: the provider waits for the servers and the first join window.
                { parent: this },
            ).results;
        }

        // 5 mesh PKI: certificates only, so it exists even without a cluster
        this.pki = new LinkerdPki(
            `${name}-linkerd-pki`,
            {
                issuerRotation: cfg.mesh.issuerRotation,
                trustAnchorGeneration: cfg.mesh.trustAnchorGeneration,
                warnDays: cfg.mesh.certWarnDays,
            },
            { parent: this },
        );

        if (this.cluster) {
            const provider = this.cluster.provider;
            const nodeCount = this.nodeSource.nodes.length;
            // 5 mesh and discovery
            this.linkerd = new Linkerd(
                `${name}-linkerd`,
                {
                    provider,
                    nodeCount,
                    trustAnchorPem: this.pki.trustAnchorPem,
                    issuerCertPem: this.pki.issuerCertPem,
                    issuerKeyPem: this.pki.issuerKeyPem,
                    chartRepository: cfg.mesh.linkerdChartRepository ?? cfg.mirrors.chart,
                    crdsChartVersion: cfg.mesh.linkerdChartVersion,
                    controlPlaneChartVersion: cfg.mesh.linkerdChartVersion,
                    registryMirror: mirror,
                },
                { parent: this },
            );
            this.consul = new Consul(
                `${name}-consul`,
                {
                    provider,
                    nodeCount,
                    chartRepository: cfg.mesh.consulChartRepository ?? cfg.mirrors.chart,
                    chartVersion: cfg.mesh.consulChartVersion,
                    datacenter: cfg.region,
                    registryMirror: mirror,
                },
                { parent: this },
            );
            // 6 workloads: services, their own datastores, the gateway (meshed, so after Linkerd)
            if (cfg.services.length > 0) {
                this.workloads = new Workloads(
                    `${name}-workloads`,
                    {
                        provider,
                        services: cfg.services.map((s) => ({ ...s, image: image(s.image) })),
                        postgresImage: image(POSTGRES_IMAGE),
                        redisImage: image(REDIS_IMAGE),
                        rcloneImage: image(RCLONE_IMAGE),
                        ...(cfg.backups && args.backupAccessKeyId && args.backupSecretAccessKey
                            ? {
                                  backups: {
                                      config: {
                                          ...cfg.backups,
                                          postgresImage: cfg.backups.postgresImage && image(cfg.backups.postgresImage),
                                      },
                                      accessKeyId: args.backupAccessKeyId,
                                      secretAccessKey: args.backupSecretAccessKey,
                                  },
                              }
                            : {}),
                        controlPlane: this.linkerd.controlPlane,
                        gateway: {
                            image: image(NGINX_IMAGE),
                            serverNames: cfg.gateway.serverNames,
                            replicas: cfg.gateway.replicas,
                            keepalive: cfg.gateway.keepalive,
                            expectedConcurrency: cfg.gateway.expectedConcurrency,
                            microCacheSeconds: cfg.gateway.microCacheSeconds,
                            rateLimitPerSecond: cfg.gateway.rateLimitPerSecond,
                            requestIds: cfg.gateway.requestIds,
                            responseBuffering: cfg.gateway.responseBuffering,
                            nofile: cfg.tuning.nofile,
                            ...(args.gatewayTlsCertificate && args.gatewayTlsPrivateKey
                                ? { tlsCertificate: args.gatewayTlsCertificate, tlsPrivateKey: args.gatewayTlsPrivateKey }
                                : {}),
                        },
                    },
                    // Meshed: its namespace (so everything in it) waits for Linkerd's injector.
                    { parent: this, dependsOn: [this.consul] },
                );
            }
        }

        this.registerOutputs({
            linkerdIssuerExpiresAt: this.pki.issuerExpiresAt,
            linkerdTrustAnchorExpiresAt: this.pki.trustAnchorExpiresAt,
            nodes: this.nodes,
            preflightResults: this.preflightResults,
            tunedValues: this.tunedValues,
            kubeconfig: this.cluster?.kubeconfig,
            smokeResults: this.smokeResults,
            overlaySmokeResults: this.overlaySmokeResults,
        });
    }

    /** 4 firewall, per node, after its tuning: cluster ports from the private network only. Returns the confirm steps. */
    private firewalls(name: string, cfg: PlatformConfig): pulumi.Resource[] {
        if (!cfg.firewall.enabled) return [];
        const privateSources = this.nodeSource.nodes.map((n) => n.privateAddress);
        for (const node of this.nodeSource.nodes) {
            this.firewall[node.name] = new Firewall(
                `${name}-firewall-${node.name}`,
                {
                    node,
                    privateInterface: this.preflight[node.name].result.privateInterface,
                    privateSources,
                    sshPort: cfg.nodes.find((n) => n.name === node.name)?.port ?? cfg.ssh.port,
                    sshAllowFrom: cfg.firewall.sshAllowFrom,
                    apiAllowFrom: cfg.firewall.apiAllowFrom,
                    // Gateway pods may land on any node (anti-affinity, no node selector).
                    gateway: cfg.k3s.enabled && cfg.services.length > 0,
                    extraPublicPorts: cfg.firewall.extraPublicPorts,
                    flannelBackend: cfg.k3s.flannelBackend,
                    confirmSeconds: cfg.firewall.confirmSeconds,
                },
                { parent: this, dependsOn: [this.tuning[node.name].command] },
            );
        }
        return Object.values(this.firewall).map((f) => f.confirm);
    }
}

/** registries.yaml for the mirror, a secret (it may hold the mirror's password). */
function registriesYaml(mirror: NonNullable<PlatformConfig["mirrors"]["registry"]>, auth?: pulumi.Input<string>): pulumi.Output<string> {
    if (auth === undefined) return pulumi.output(renderRegistriesYaml(mirror));
    return pulumi.secret(
        pulumi.output(auth).apply((value) => {
            const parsed = parseRegistryAuth(value);
            if (typeof parsed === "string") throw runError(`nordstack: ${parsed}`);
            return renderRegistriesYaml(mirror, parsed);
        }),
    );
}

function missingKey(): never {
    throw runError("Platform: an SSH key is required (sshPrivateKey, or libvirtHypervisorPrivateKey for libvirt guests)");
}
