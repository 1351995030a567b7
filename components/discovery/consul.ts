import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import { isDns1123Label } from "../validate";
import { podSecurityLabels } from "../services/security";
import { UNMESHED_NAMESPACE_LABELS } from "../mesh/linkerd-values";
import { chartSource, checkPinnedVersion } from "../mesh/chart-source";
import type { RegistryMirror } from "../images";
import { CONSUL_DNS_SERVICE, CONSUL_DOMAIN, consulServerReplicas, consulValues, SYSTEM_NAMESPACES } from "./consul-values";
import { COREDNS_CUSTOM, COREDNS_RESTART_ANNOTATION, coreDnsCustomData, coreDnsDataHash } from "./coredns";
import { resourceError, runError } from "../errors";

export const CONSUL_DEFAULTS = {
    chartRepository: "https://helm.releases.hashicorp.com",
    chartVersion: "2.0.3",
    namespace: "consul",
    datacenter: "dc1",
    syncAllowNamespaces: ["*"],
    serverStorage: "10Gi",
    tls: true,
    manageCoreDns: true,
    timeoutSeconds: 900,
};

/** Where the chart finds its secrets; the names are fixed so an operator can find them. */
const GOSSIP_SECRET = { name: "consul-gossip-encryption-key", key: "key" };
const BOOTSTRAP_SECRET = { name: "consul-bootstrap-acl-token", key: "token" };

export interface ConsulArgs {
    /** The cluster's kubernetes provider (from the k3s layer). */
    provider: k8s.Provider;
    /** Nodes in the cluster; Consul runs min(3, nodeCount) servers, one per node. */
    nodeCount: number;
    /** Helm repository (`https://...`) or OCI registry (`oci://...`) with the `consul` chart. Default https://helm.releases.hashicorp.com. */
    chartRepository?: string;
    /** Exact consul chart (consul-k8s) version. Default 2.0.3 (Consul 2.0.3). */
    chartVersion?: string;
    /** Namespace, created here and left out of the mesh (Consul secures its own traffic; its gossip is partly UDP). Default `consul`. */
    namespace?: string;
    /** Consul datacenter name; cannot change once the servers exist. Default `dc1`. */
    datacenter?: string;
    /** Namespaces whose Services are registered in Consul. Default `["*"]` (all not denied). */
    syncAllowNamespaces?: string[];
    /** Namespaces never registered. Default: kube-system, kube-public, kube-node-lease, linkerd and Consul's own. */
    syncDenyNamespaces?: string[];
    /** Data volume per server (default StorageClass; k3s: local-path). Default `10Gi`. */
    serverStorage?: string;
    /** TLS for Consul's RPC and HTTP API with a chart-generated CA. Default true. */
    tls?: boolean;
    /** Forward the `consul` zone from the cluster's CoreDNS (k3s's `coredns-custom` ConfigMap) and restart CoreDNS on change. Default true. */
    manageCoreDns?: boolean;
    /** Upper bound for the chart install/upgrade in seconds. Default 900. */
    timeoutSeconds?: number;
    /** Pull Consul's images (consul, consul-k8s-control-plane, consul-dataplane) through this mirror. Default: Docker Hub. */
    registryMirror?: RegistryMirror;
}

/**
 * Consul as the platform's service catalog (the article's "no hard-coded IPs"):
 * consul-k8s servers with gossip encryption and ACLs, catalog sync registering
 * every Kubernetes Service (each ready endpoint an instance, health from pod
 * readiness), and Consul DNS reachable from every pod as `<service>.service.consul`.
 * Consul's own mesh is off: Linkerd is the mesh.
 */
export class Consul extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;
    public readonly release: k8s.helm.v3.Release;
    public readonly serverReplicas: number;
    /** The ACL bootstrap (initial management) token, secret: for the UI and `consul acl` as an operator. */
    public readonly bootstrapToken: pulumi.Output<string>;
    /** ClusterIP of the `consul-dns` Service that CoreDNS forwards the `consul` zone to. */
    public readonly dnsServiceIp: pulumi.Output<string>;

    constructor(name: string, args: ConsulArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:discovery:Consul", name, {}, opts);
        const D = CONSUL_DEFAULTS;
        const namespace = args.namespace ?? D.namespace;
        const manageCoreDns = args.manageCoreDns ?? D.manageCoreDns;
        let chart: ReturnType<typeof chartSource>;
        let values: Record<string, unknown>;
        try {
            if (!isDns1123Label(namespace)) throw runError(`namespace ${JSON.stringify(namespace)} is not a DNS-1123 label`);
            checkPinnedVersion(args.chartVersion ?? D.chartVersion, "chartVersion");
            chart = chartSource(args.chartRepository ?? D.chartRepository, "consul");
            values = consulValues({
                nodeCount: args.nodeCount,
                datacenter: args.datacenter ?? D.datacenter,
                gossipKey: GOSSIP_SECRET,
                bootstrapToken: BOOTSTRAP_SECRET,
                syncAllowNamespaces: args.syncAllowNamespaces ?? D.syncAllowNamespaces,
                syncDenyNamespaces: args.syncDenyNamespaces ?? [...SYSTEM_NAMESPACES, namespace],
                serverStorage: args.serverStorage ?? D.serverStorage,
                tls: args.tls ?? D.tls,
                registryMirror: args.registryMirror,
                chartVersion: args.chartVersion ?? D.chartVersion,
            });
        } catch (e) {
            throw resourceError((e as Error).message, this);
        }
        this.serverReplicas = consulServerReplicas(args.nodeCount);
        const k8sOpts = { parent: this, provider: args.provider };

        const ns = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            // Not meshed: the label keeps Linkerd's injector webhook off it, so Consul installs without waiting for Linkerd.
            // The chart does not promise `restricted` for all its pods (Jobs included): baseline is enforced, restricted reported.
            {
                metadata: {
                    name: namespace,
                    labels: { ...UNMESHED_NAMESPACE_LABELS, ...podSecurityLabels("baseline") },
                    annotations: { "linkerd.io/inject": "disabled" },
                },
            },
            k8sOpts,
        );
        this.namespace = ns.metadata.name;

        // 32 random bytes, base64: an AES-256 gossip key, as `consul keygen` makes. From a
        // RandomPassword, whose resource ID is "none": a RandomBytes' or RandomUuid's ID is
        // the value itself, and IDs are stored in plaintext whatever additionalSecretOutputs say.
        const gossipHex = new random.RandomPassword(`${name}-gossip-key`, hexPassword(64), { parent: this });
        const gossipKey = { base64: pulumi.secret(gossipHex.result.apply((h) => Buffer.from(h, "hex").toString("base64"))) };
        const gossipSecret = new k8s.core.v1.Secret(
            `${name}-gossip-secret`,
            {
                metadata: { name: GOSSIP_SECRET.name, namespace: this.namespace },
                type: "Opaque",
                stringData: { [GOSSIP_SECRET.key]: pulumi.secret(gossipKey.base64) },
            },
            k8sOpts,
        );

        // The servers use it as acl.tokens.initial_management, which must be a UUID: 122 random bits
        // formatted as a version-4 UUID (again a RandomPassword, so no plaintext ID).
        const tokenHex = new random.RandomPassword(`${name}-bootstrap-token`, hexPassword(32), { parent: this });
        this.bootstrapToken = pulumi.secret(tokenHex.result.apply(uuidFromHex));
        const tokenSecret = new k8s.core.v1.Secret(
            `${name}-bootstrap-token-secret`,
            {
                metadata: { name: BOOTSTRAP_SECRET.name, namespace: this.namespace },
                type: "Opaque",
                stringData: { [BOOTSTRAP_SECRET.key]: this.bootstrapToken },
            },
            k8sOpts,
        );

        this.release = new k8s.helm.v3.Release(
            `${name}-release`,
            {
                name: "consul",
                ...chart,
                version: args.chartVersion ?? D.chartVersion,
                namespace: this.namespace,
                values,
                atomic: true,
                timeout: args.timeoutSeconds ?? D.timeoutSeconds,
            },
            // The servers read both secrets at start; created after them, never with a missing key.
            { ...k8sOpts, dependsOn: [ns, gossipSecret, tokenSecret] },
        );

        // Read back once the release exists (unknown in a first preview, so nothing is read early).
        const dnsService = k8s.core.v1.Service.get(
            `${name}-dns-service`,
            pulumi.interpolate`${this.release.status.namespace}/${CONSUL_DNS_SERVICE}`,
            {
                ...k8sOpts,
                dependsOn: [this.release],
            },
        );
        this.dnsServiceIp = dnsService.spec.clusterIP;

        if (manageCoreDns) {
            const data = this.dnsServiceIp.apply((ip) => coreDnsCustomData(CONSUL_DOMAIN, ip));
            const customConfig = new k8s.core.v1.ConfigMap(
                `${name}-coredns-custom`,
                { metadata: { name: COREDNS_CUSTOM.name, namespace: COREDNS_CUSTOM.namespace }, data },
                k8sOpts,
            );
            // CoreDNS's reload plugin does not see imported files change: roll it when they do.
            new k8s.apps.v1.DeploymentPatch(
                `${name}-coredns-restart`,
                {
                    metadata: { name: COREDNS_CUSTOM.deployment, namespace: COREDNS_CUSTOM.namespace },
                    spec: { template: { metadata: { annotations: { [COREDNS_RESTART_ANNOTATION]: data.apply(coreDnsDataHash) } } } },
                },
                { ...k8sOpts, dependsOn: [customConfig] },
            );
        }

        this.registerOutputs({
            namespace: this.namespace,
            serverReplicas: this.serverReplicas,
            bootstrapToken: this.bootstrapToken,
            dnsServiceIp: this.dnsServiceIp,
        });
    }
}

/** RandomPassword arguments for a lower-case hex string of `length` characters. */
export function hexPassword(length: number): random.RandomPasswordArgs {
    return { length, upper: false, lower: false, numeric: false, special: true, overrideSpecial: "0123456789abcdef" };
}

/** Formats 32 hex digits as an RFC 4122 version-4 UUID (version and variant bits set). */
export function uuidFromHex(hex: string): string {
    if (!/^[0-9a-f]{32}$/.test(hex)) throw runError("Consul bootstrap token: expected 32 hex digits");
    const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
