// Everything the k3s layer renders: config.yaml per node, the overlay MTU, and
// the kubeconfig rewrite. Pure functions, tested directly.
import { parse, stringify } from "yaml";
import type { FlannelBackend } from "../config";
import { runError } from "../errors";

/** Bytes each flannel backend adds to a packet (outer headers). */
export const BACKEND_OVERHEAD: Readonly<Record<FlannelBackend, number>> = { vxlan: 50, "wireguard-native": 80 };

/** Root-only file the cluster token lives in on every node (never argv, never config.yaml). */
export const TOKEN_FILE = "/var/lib/nordstack/k3s-token";
/** k3s's image mirror configuration, read at start. */
export const REGISTRIES_FILE = "/etc/rancher/k3s/registries.yaml";

/**
 * The MTU pods see: the private interface's real MTU minus the backend's overhead.
 * Flannel derives it the same way from --flannel-iface; we compute it to export
 * it and to check what flannel really chose.
 */
export function overlayMtu(interfaceMtu: number, backend: FlannelBackend): number {
    const mtu = interfaceMtu - BACKEND_OVERHEAD[backend];
    if (!Number.isInteger(interfaceMtu) || mtu < 1280) {
        throw runError(`interface MTU ${interfaceMtu} leaves ${mtu} for ${backend} pods; the overlay needs at least 1280 (IPv6 minimum)`);
    }
    return mtu;
}

export type K3sRole = "server-init" | "server-join" | "agent";

export interface K3sNodeConfigArgs {
    role: K3sRole;
    nodeName: string;
    /** The node's private address: cluster traffic and the API stay on the private network. */
    nodeIp: string;
    /** Interface holding nodeIp (found by preflight). */
    flannelIface: string;
    /** Public address of the node, advertised for external traffic (the gateway's hostPorts). */
    externalIp?: string;
    /** Extra names/addresses the API certificate must cover (servers only). */
    tlsSans?: string[];
    /** `https://<first server private IP>:6443` for every node but the first server. */
    serverUrl?: string;
    flannelBackend: FlannelBackend;
    /** More than one server: embedded etcd (`cluster-init`) instead of SQLite. */
    embeddedEtcd: boolean;
    labels?: Record<string, string>;
    /**
     * Pull only from the mirrors in registries.yaml, never falling back to the upstream
     * registries (k3s >= v1.29.1+k3s1). For `sovereignty: strict` with a registry mirror.
     */
    disableDefaultRegistryEndpoint?: boolean;
}

/** Renders /etc/rancher/k3s/config.yaml for one node. */
export function renderK3sConfig(a: K3sNodeConfigArgs): string {
    if (a.role !== "server-init" && !a.serverUrl) throw runError(`${a.nodeName}: a joining node needs serverUrl`);
    const server = a.role !== "agent";
    const cfg: Record<string, unknown> = {
        "node-name": a.nodeName,
        "node-ip": a.nodeIp,
        ...(a.externalIp ? { "node-external-ip": a.externalIp } : {}),
        "flannel-iface": a.flannelIface,
        "token-file": TOKEN_FILE,
        ...(a.role === "server-init" ? {} : { server: a.serverUrl }),
        ...(a.labels && Object.keys(a.labels).length > 0
            ? {
                  "node-label": Object.entries(a.labels)
                      .sort(([x], [y]) => x.localeCompare(y))
                      .map(([k, v]) => `${k}=${v}`),
              }
            : {}),
        ...(a.disableDefaultRegistryEndpoint ? { "disable-default-registry-endpoint": true } : {}),
    };
    if (server) {
        Object.assign(cfg, {
            ...(a.role === "server-init" && a.embeddedEtcd ? { "cluster-init": true } : {}),
            "advertise-address": a.nodeIp,
            "tls-san": [...new Set([a.nodeIp, ...(a.tlsSans ?? [])])],
            // Our NGINX gateway is the only entry point; without ServiceLB (klipper) no
            // LoadBalancer Service can open host ports behind the firewall's back.
            disable: ["traefik", "servicelb"],
            "secrets-encryption": true,
            "write-kubeconfig-mode": "0600",
            "flannel-backend": a.flannelBackend,
        });
    }
    return `# Managed by nordstack. Changes are overwritten by pulumi up.\n${stringify(cfg)}`;
}

/** Kubeconfig as k3s writes it, rewritten to reach the API from outside and named after the cluster. */
export function rewriteKubeconfig(k3sYaml: string, serverUrl: string, name: string): string {
    const doc = parse(k3sYaml) as {
        clusters?: { name: string; cluster: { server: string } }[];
        contexts?: { name: string; context: { cluster: string; user: string } }[];
        users?: { name: string }[];
        "current-context"?: string;
    };
    if (!doc?.clusters?.length || !doc.contexts?.length || !doc.users?.length) {
        throw runError("the kubeconfig from the first server has no cluster, context or user");
    }
    const rename = (n: string) => (n === "default" ? name : n);
    for (const c of doc.clusters) {
        c.name = rename(c.name);
        c.cluster.server = serverUrl;
    }
    for (const c of doc.contexts) {
        c.name = rename(c.name);
        c.context.cluster = rename(c.context.cluster);
        c.context.user = rename(c.context.user);
    }
    for (const u of doc.users) u.name = rename(u.name);
    doc["current-context"] = rename(doc["current-context"] ?? "default");
    return stringify(doc);
}

/** The API URL of a host, bracketing IPv6 literals. */
export function apiUrl(host: string): string {
    return `https://${host.includes(":") ? `[${host}]` : host}:6443`;
}
