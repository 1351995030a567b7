// Helm values of the consul-k8s chart (keys as in consul-k8s 2.0.3), rendered
// by a pure function: Consul as the service catalog and DNS, with Linkerd (not
// Consul Connect) as the mesh.
import { mirrorImage, RegistryMirror } from "../images";
import { runError } from "../errors";

/**
 * The images consul-k8s 2.0.3 ships (its Chart.yaml `artifacthub.io/images`): since 2.0
 * Consul, consul-k8s-control-plane and consul-dataplane share the chart's version.
 * Set explicitly only when a mirror is used, so a different chart version keeps its own.
 */
export function consulImages(chartVersion: string): { image: string; imageK8S: string; imageConsulDataplane: string } {
    return {
        image: `docker.io/hashicorp/consul:${chartVersion}`,
        imageK8S: `docker.io/hashicorp/consul-k8s-control-plane:${chartVersion}`,
        imageConsulDataplane: `docker.io/hashicorp/consul-dataplane:${chartVersion}`,
    };
}

/**
 * What Consul's pods request. We set no resources, so these are the chart's own defaults
 * (consul-k8s 2.0.3 values.yaml: `server.resources` and `syncCatalog.resources`; the sync
 * Deployment always runs 1 replica). Client agents, DNS proxy, connect injector and
 * webhook-cert-manager are off with our values; the TLS/ACL init Jobs finish at install.
 */
export const CONSUL_CHART_REQUESTS = {
    server: { cpu: "100m", memory: "200Mi" },
    syncCatalog: { cpu: "50m", memory: "50Mi", replicas: 1 },
} as const;

/** `global.name`: fixes resource names, so the DNS Service is always `consul-dns`. */
export const CONSUL_NAME = "consul";
/** The DNS zone Consul answers (`<service>.service.consul`). */
export const CONSUL_DOMAIN = "consul";
/** The Service the chart creates in front of the servers' DNS port. */
export const CONSUL_DNS_SERVICE = `${CONSUL_NAME}-dns`;

/**
 * Namespaces whose Services are never registered in Consul: the cluster's own
 * plumbing (`default` stays allowed: a platform service may live there).
 */
export const SYSTEM_NAMESPACES: readonly string[] = ["kube-system", "kube-public", "kube-node-lease", "linkerd"];

export interface SecretRef {
    name: string;
    key: string;
}

export interface ConsulValuesInput {
    nodeCount: number;
    datacenter: string;
    /** Secret holding the base64 gossip encryption key. */
    gossipKey: SecretRef;
    /** Secret holding the ACL bootstrap token (a UUID). */
    bootstrapToken: SecretRef;
    /** Namespaces whose Services are synced; `*` for all not denied. */
    syncAllowNamespaces: string[];
    syncDenyNamespaces: string[];
    /** Size of each server's data volume, e.g. `10Gi`. */
    serverStorage: string;
    /** TLS for Consul's RPC and HTTP API (auto-generated CA). */
    tls: boolean;
    /** Pull Consul's images through this mirror; needs `chartVersion` (2.x: the images share it). */
    registryMirror?: RegistryMirror;
    /** The consul chart version, for the image tags when `registryMirror` is set. */
    chartVersion?: string;
}

/**
 * Raft servers: min(3, nodes). The chart's required anti-affinity puts one
 * server per node, and 3 tolerate a lost node; 2 tolerate none for writes but
 * still answer DNS (stale reads) when one is gone, which 1 cannot.
 */
export function consulServerReplicas(nodeCount: number): number {
    return Math.min(3, nodeCount);
}

/** Every problem with the input, by field. */
export function consulValuesProblems(i: ConsulValuesInput): string[] {
    const p: string[] = [];
    const label = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
    if (!Number.isInteger(i.nodeCount) || i.nodeCount < 1) p.push(`nodeCount must be at least 1, got ${i.nodeCount}`);
    if (!label.test(i.datacenter))
        p.push(`datacenter ${JSON.stringify(i.datacenter)} must be a DNS label like no-oslo (it is part of DNS names)`);
    for (const [field, ref] of [
        ["gossipKey", i.gossipKey],
        ["bootstrapToken", i.bootstrapToken],
    ] as const) {
        if (!label.test(ref.name)) p.push(`${field}.name ${JSON.stringify(ref.name)} is not a Secret name`);
        if (!/^[-._a-zA-Z0-9]+$/.test(ref.key)) p.push(`${field}.key ${JSON.stringify(ref.key)} is not a Secret key`);
    }
    for (const [field, list] of [
        ["syncAllowNamespaces", i.syncAllowNamespaces],
        ["syncDenyNamespaces", i.syncDenyNamespaces],
    ] as const) {
        for (const ns of list) if (ns !== "*" && !label.test(ns)) p.push(`${field}: ${JSON.stringify(ns)} is not a namespace name or *`);
    }
    if (i.syncAllowNamespaces.length === 0) p.push("syncAllowNamespaces is empty: no platform service would be registered in Consul");
    if (!/^\d+(Mi|Gi|Ti)$/.test(i.serverStorage)) p.push(`serverStorage ${JSON.stringify(i.serverStorage)} must be a size like 10Gi`);
    if (i.registryMirror && !/^([2-9]|\d{2,})\.\d+\.\d+$/.test(i.chartVersion ?? "")) {
        p.push(
            `chartVersion ${JSON.stringify(i.chartVersion)}: with a registry mirror the image tags follow the chart version, ` +
                "which holds for consul-k8s 2.x releases only; use a 2.x chart",
        );
    }
    return p;
}

/** Values of the consul chart. Throws listing every problem of the input. */
export function consulValues(i: ConsulValuesInput): Record<string, unknown> {
    const problems = consulValuesProblems(i);
    if (problems.length > 0) throw runError(`invalid Consul settings:\n  - ${problems.join("\n  - ")}`);
    const replicas = consulServerReplicas(i.nodeCount);
    const images = i.registryMirror
        ? Object.fromEntries(Object.entries(consulImages(i.chartVersion ?? "")).map(([k, ref]) => [k, mirrorImage(ref, i.registryMirror)]))
        : {};
    return {
        global: {
            name: CONSUL_NAME,
            ...images,
            domain: CONSUL_DOMAIN,
            datacenter: i.datacenter,
            // Linkerd owns the Gateway API CRDs; Consul's API gateway is off with connectInject anyway.
            installK8sNetworkingCRDs: false,
            gossipEncryption: { autoGenerate: false, secretName: i.gossipKey.name, secretKey: i.gossipKey.key },
            acls: {
                manageSystemACLs: true,
                // Pre-filled: servers take it as initial_management, and server-acl-init skips bootstrapping.
                bootstrapToken: { secretName: i.bootstrapToken.name, secretKey: i.bootstrapToken.key },
            },
            tls: { enabled: i.tls },
            // Nothing scraped, nothing sent: the chart's Prometheus metrics stay off.
            metrics: { enabled: false },
        },
        server: {
            replicas,
            bootstrapExpect: replicas,
            storage: i.serverStorage,
            // No Consul Connect CA: Linkerd issues the workload identities.
            connect: false,
            // Consul agents ask checkpoint-api.hashicorp.com (US) for new versions unless told not to.
            extraConfig: JSON.stringify({ disable_update_check: true }),
            // One server: the chart's budget would be maxUnavailable 0, and the node drain of a
            // k3s upgrade could never finish. With 3 servers it allows one down at a time.
            disruptionBudget: replicas > 1 ? { enabled: true, maxUnavailable: 1 } : { enabled: false },
        },
        // Consul's own service mesh stays off: Linkerd is the mesh.
        connectInject: { enabled: false },
        meshGateway: { enabled: false },
        syncCatalog: {
            enabled: true,
            // Every Service in an allowed namespace is registered, no opt-in annotation needed.
            default: true,
            toConsul: true,
            toK8S: false,
            // ClusterIP services are registered per ready endpoint, each with a Kubernetes readiness check.
            syncClusterIPServices: true,
            k8sAllowNamespaces: i.syncAllowNamespaces,
            k8sDenyNamespaces: i.syncDenyNamespaces,
            // `inventory.service.consul`, not `inventory-<namespace>.service.consul`.
            addK8SNamespaceSuffix: false,
        },
        dns: { enabled: true, enableRedirection: false, type: "ClusterIP" },
    };
}
