// What the enabled layers request of each node, so preflight can refuse a node
// that cannot carry its share before anything is installed. Pure functions over
// the parsed config; the figures are the constants the components render, so
// the sum cannot drift from what the cluster is asked to schedule.
import type { NodeRole, PlatformConfig } from "../config";
import { linkerdHighAvailability, LINKERD_HA_REPLICAS, LINKERD_HA_RESOURCES } from "../mesh/linkerd-values";
import { consulServerReplicas, CONSUL_CHART_REQUESTS } from "../discovery/consul-values";
import { GATEWAY_RESOURCES } from "../gateway/nginx";
import { POSTGRES_RESOURCES } from "../data/postgres";
import { REDIS_RESOURCES } from "../data/redis";
import { PGBACKREST_RESOURCES } from "../data/backup-postgres";
import { REDIS_BACKUP_RESOURCES } from "../data/backup-redis";
import { runError } from "../errors";
import { parseCpuMillis } from "../quantity";

/** CPU in millicores, memory in MiB (fractions kept until a share is rounded up). */
export interface Requests {
    milliCpu: number;
    memoryMiB: number;
}

export const NO_REQUESTS: Requests = { milliCpu: 0, memoryMiB: 0 };

/**
 * What k3s itself (k3s and containerd, outside any pod) needs, by role: the K3s
 * resource profiling (docs.k3s.io/reference/resource-profiling, K3s v1.26.5 on an
 * Intel 8375C, 95th percentile of steady state): a server with a workload 6% of a
 * core and 1596 M (SQLite) / 1606 M (embedded etcd), an agent 3% of a core and 275 M.
 * The "M" are read as MiB (the larger reading), so the check errs towards refusing.
 */
export const K3S_RESERVATION: Readonly<Record<"server-sqlite" | "server-etcd" | "agent", Requests>> = {
    "server-sqlite": { milliCpu: 60, memoryMiB: 1596 },
    "server-etcd": { milliCpu: 60, memoryMiB: 1606 },
    agent: { milliCpu: 30, memoryMiB: 275 },
};

/**
 * The pods k3s deploys itself and we keep (Traefik and ServiceLB are disabled):
 * CoreDNS and metrics-server each request 100m / 70Mi in k3s's manifests
 * (manifests/coredns.yaml, manifests/metrics-server/metrics-server-deployment.yaml);
 * the local-path provisioner requests nothing.
 */
export const K3S_ADDON_REQUESTS = {
    coredns: { cpu: "100m", memory: "70Mi" },
    metricsServer: { cpu: "100m", memory: "70Mi" },
} as const;

/** One kind of pod: `count` of them, each requesting `perPod` (its containers, an injected proxy included). */
export interface PodRequest {
    what: string;
    count: number;
    perPod: Requests;
}

export interface LayerRequests {
    layer: string;
    /** A pod on every node (DaemonSet-like) rather than pods the scheduler spreads over the nodes. */
    perNode: boolean;
    pods: PodRequest[];
    /** Sum over `pods` (per node when `perNode`, else for the whole cluster). */
    total: Requests;
}

/** Millicores of a Kubernetes CPU quantity (`100m`, `1`, `1.5`); empty is 0. Throws on anything else. */
export function cpuMillis(q: string): number {
    if (q === "") return 0;
    const millis = parseCpuMillis(q);
    if (millis === undefined) throw runError(`${JSON.stringify(q)} is not a CPU quantity like 250m or 2`);
    return millis;
}

const MEMORY_UNITS: Record<string, number> = {
    "": 1,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
};

/** MiB of a Kubernetes memory quantity (`128Mi`, `1Gi`, `500M`, bytes); empty is 0. Throws on anything else. */
export function memoryMiB(q: string): number {
    if (q === "") return 0;
    const m = /^(\d+(?:\.\d+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
    if (!m) throw runError(`${JSON.stringify(q)} is not a memory quantity like 256Mi or 1Gi`);
    return (Number(m[1]) * MEMORY_UNITS[m[2] ?? ""]) / 2 ** 20;
}

/** Requests from the `{cpu, memory}` quantities the components use. */
export function requestsOf(r: { cpu?: string; memory?: string }): Requests {
    return { milliCpu: cpuMillis(r.cpu ?? ""), memoryMiB: memoryMiB(r.memory ?? "") };
}

export function addRequests(...rs: Requests[]): Requests {
    return rs.reduce((a, b) => ({ milliCpu: a.milliCpu + b.milliCpu, memoryMiB: a.memoryMiB + b.memoryMiB }), NO_REQUESTS);
}

function times(r: Requests, n: number): Requests {
    return { milliCpu: r.milliCpu * n, memoryMiB: r.memoryMiB * n };
}

/** Linkerd's `{cpu: {request}, memory: {request}}` resource shape. */
function linkerdRequests(r: { cpu: { request: string }; memory: { request: string } }): Requests {
    return requestsOf({ cpu: r.cpu.request, memory: r.memory.request });
}

function layer(name: string, pods: PodRequest[], perNode = false): LayerRequests {
    return { layer: name, perNode, pods, total: addRequests(...pods.map((p) => times(p.perPod, p.count))) };
}

/**
 * The pod requests of every enabled layer, by layer, for a cluster of `nodeCount`
 * nodes. Empty when k3s is off (nothing is scheduled). Init containers are left out:
 * each is smaller than the sum of its pod's containers, which is what the scheduler counts.
 * The overlay smoke test's pods set no requests and are not listed.
 */
export function platformRequests(cfg: PlatformConfig, nodeCount: number): LayerRequests[] {
    if (!cfg.k3s.enabled) return [];
    const ha = linkerdHighAvailability(nodeCount);
    // Without HA the chart's defaults leave every request empty: the control plane and each proxy request nothing.
    const proxy = ha ? linkerdRequests(LINKERD_HA_RESOURCES.proxy) : NO_REQUESTS;
    const controller = ha ? linkerdRequests(LINKERD_HA_RESOURCES.controller) : NO_REQUESTS;
    const identity = ha ? linkerdRequests(LINKERD_HA_RESOURCES.identity) : NO_REQUESTS;
    const replicas = ha ? LINKERD_HA_REPLICAS : 1;
    const layers: LayerRequests[] = [
        layer("k3s add-ons", [
            { what: "coredns", count: 1, perPod: requestsOf(K3S_ADDON_REQUESTS.coredns) },
            { what: "metrics-server", count: 1, perPod: requestsOf(K3S_ADDON_REQUESTS.metricsServer) },
        ]),
        layer("Linkerd", [
            // destination, sp-validator, policy (the chart sets no policy-controller requests, HA or not) and its proxy
            { what: "linkerd-destination", count: replicas, perPod: addRequests(controller, controller, proxy) },
            { what: "linkerd-identity", count: replicas, perPod: addRequests(identity, proxy) },
            { what: "linkerd-proxy-injector", count: replicas, perPod: addRequests(controller, proxy) },
        ]),
        // linkerd2-cni's DaemonSet: the chart's default resources request nothing.
        layer("Linkerd CNI", [{ what: "linkerd-cni", count: 1, perPod: NO_REQUESTS }], true),
        layer("Consul", [
            { what: "consul-server", count: consulServerReplicas(nodeCount), perPod: requestsOf(CONSUL_CHART_REQUESTS.server) },
            {
                what: "consul-sync-catalog",
                count: CONSUL_CHART_REQUESTS.syncCatalog.replicas,
                perPod: requestsOf(CONSUL_CHART_REQUESTS.syncCatalog),
            },
        ]),
    ];
    // The workloads layer exists only with services (see Platform).
    if (cfg.services.length === 0) return layers;
    const meshed = (r: Requests) => addRequests(r, proxy);
    layers.push(
        layer(
            "services",
            cfg.services.map((s) => ({ what: s.name, count: s.replicas, perPod: meshed(requestsOf(s.resources)) })),
        ),
    );
    const backups = cfg.backups !== undefined;
    const datastores = cfg.services.flatMap((s) => s.datastores);
    layers.push(
        layer(
            "datastores",
            datastores.map((d) => ({
                what: `${d.engine} ${d.instance}`,
                count: 1,
                perPod:
                    d.engine === "postgres"
                        ? meshed(
                              addRequests(
                                  requestsOf(POSTGRES_RESOURCES),
                                  backups ? requestsOf(PGBACKREST_RESOURCES.sidecar.requests) : NO_REQUESTS,
                              ),
                          )
                        : meshed(requestsOf(REDIS_RESOURCES)),
            })),
        ),
    );
    layers.push(layer("gateway", [{ what: "gateway", count: cfg.gateway.replicas, perPod: meshed(requestsOf(GATEWAY_RESOURCES)) }]));
    if (backups) {
        // One backup Job pod per datastore at a time (not meshed); Redis's snapshot runs as an init container.
        const redisJob = requestsOf(REDIS_BACKUP_RESOURCES.ship.requests);
        const redisInit = requestsOf(REDIS_BACKUP_RESOURCES.snapshot.requests);
        layers.push(
            layer(
                "backups",
                datastores.map((d) => ({
                    what: `backup ${d.instance}`,
                    count: 1,
                    perPod:
                        d.engine === "postgres"
                            ? requestsOf(PGBACKREST_RESOURCES.job.requests)
                            : {
                                  milliCpu: Math.max(redisJob.milliCpu, redisInit.milliCpu),
                                  memoryMiB: Math.max(redisJob.memoryMiB, redisInit.memoryMiB),
                              },
                })),
            ),
        );
    }
    return layers;
}

/** What one node must be able to give. */
export interface NodeShare {
    node: string;
    role: NodeRole;
    /** "k3s server" or "k3s agent". */
    k3sLabel: string;
    k3s: Requests;
    /** Pods every node runs (DaemonSets). */
    perNode: Requests;
    /** Everything the scheduler spreads over the nodes, for the whole cluster. */
    platform: Requests;
    nodeCount: number;
    /** k3s + per-node pods + platform / nodeCount, rounded up (millicores, MiB). */
    required: Requests;
}

/**
 * Each node's share: k3s's own reservation by role, every per-node pod, and an
 * equal part of the cluster-wide requests (servers carry no taint, so every node
 * can run them). Empty when k3s is off.
 */
export function nodeShares(cfg: PlatformConfig, nodes: { name: string; role: NodeRole }[]): NodeShare[] {
    if (!cfg.k3s.enabled || nodes.length === 0) return [];
    const layers = platformRequests(cfg, nodes.length);
    const perNode = addRequests(...layers.filter((l) => l.perNode).map((l) => l.total));
    const platform = addRequests(...layers.filter((l) => !l.perNode).map((l) => l.total));
    const servers = nodes.filter((n) => n.role === "server").length;
    return nodes.map((n) => {
        const k3s = n.role === "agent" ? K3S_RESERVATION.agent : K3S_RESERVATION[servers > 1 ? "server-etcd" : "server-sqlite"];
        const sum = addRequests(k3s, perNode, { milliCpu: platform.milliCpu / nodes.length, memoryMiB: platform.memoryMiB / nodes.length });
        return {
            node: n.name,
            role: n.role,
            k3sLabel: `k3s ${n.role}`,
            k3s,
            perNode,
            platform,
            nodeCount: nodes.length,
            // A hair of float noise must not add a whole unit.
            required: { milliCpu: Math.ceil(sum.milliCpu - 1e-9), memoryMiB: Math.ceil(sum.memoryMiB - 1e-9) },
        };
    });
}

/** How a share adds up, for the preflight message: `k3s server 60m + platform 4200m / 3 nodes`. */
export function shareDetail(s: NodeShare): { cpu: string; memory: string } {
    const part = (k3s: number, perNode: number, platform: number, unit: string) =>
        [
            `${s.k3sLabel} ${Math.ceil(k3s)}${unit}`,
            ...(perNode > 0 ? [`per-node pods ${Math.ceil(perNode)}${unit}`] : []),
            `platform ${Math.ceil(platform)}${unit} / ${s.nodeCount} node${s.nodeCount === 1 ? "" : "s"}`,
        ].join(" + ");
    return {
        cpu: part(s.k3s.milliCpu, s.perNode.milliCpu, s.platform.milliCpu, "m"),
        memory: part(s.k3s.memoryMiB, s.perNode.memoryMiB, s.platform.memoryMiB, " MiB"),
    };
}
