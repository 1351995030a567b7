// The node firewall as one nftables table of our own (`inet nordstack`). Pure:
// the same inputs give the same text, so the preview diff shows every rule that
// changes, and scripts/node/firewall.sh loads exactly this (atomically, with a
// timed rollback). Other tables on the host (the distribution's, k3s's
// iptables-nft tables, an admin's) are never touched.
import { isIP } from "node:net";
import type { FlannelBackend, NodeRole } from "../config";
import { runError } from "../errors";

/** Family and name of the one table nordstack owns on every node. */
export const FIREWALL_TABLE = "inet nordstack";

export type PortProtocol = "tcp" | "udp";

/** A port reachable from anywhere, beyond SSH and the gateway's 80/443. */
export interface PublicPort {
    port: number;
    protocol: PortProtocol;
}

/** A port range only the private network may reach, and what listens there. */
export interface ClusterPort {
    from: number;
    to: number;
    protocol: PortProtocol;
    what: string;
    /** Only k3s servers listen here. */
    serversOnly?: boolean;
    /** Only with this flannel backend. */
    backend?: FlannelBackend;
}

/** NodePort range of k3s (kube-proxy's default `--service-node-port-range`). */
export const NODEPORT_RANGE = { from: 30000, to: 32767 } as const;

/**
 * What cluster members need from each other on the hosts' own addresses.
 * Linkerd is absent on purpose: its proxies (4143, 4191) and control plane are
 * pod ports, reached pod-to-pod inside the overlay (VXLAN/WireGuard on the
 * private interface, then flannel's interface, which is accepted as a whole),
 * never through a host port. Consul's server pods also talk over the overlay
 * with our chart values (no client agents, no hostPorts); its ports are listed
 * so that `server.exposeGossipAndRPCPorts`, client agents on hostNetwork or a
 * Consul agent elsewhere on the private network work without a firewall change,
 * and still only from the private network.
 */
export const CLUSTER_PORTS: readonly ClusterPort[] = [
    { from: 6443, to: 6443, protocol: "tcp", what: "Kubernetes API / k3s supervisor", serversOnly: true },
    { from: 2379, to: 2380, protocol: "tcp", what: "etcd client and peer", serversOnly: true },
    { from: 10250, to: 10250, protocol: "tcp", what: "kubelet" },
    { from: 8472, to: 8472, protocol: "udp", what: "flannel VXLAN (unauthenticated: never public)", backend: "vxlan" },
    { from: 51820, to: 51821, protocol: "udp", what: "flannel WireGuard (IPv4, IPv6)", backend: "wireguard-native" },
    { from: 5201, to: 5201, protocol: "tcp", what: "iperf3 network smoke test" },
    { from: 8300, to: 8302, protocol: "tcp", what: "Consul server RPC, LAN and WAN gossip" },
    { from: 8301, to: 8302, protocol: "udp", what: "Consul LAN and WAN gossip" },
    { from: 8500, to: 8503, protocol: "tcp", what: "Consul HTTP, HTTPS, gRPC, gRPC TLS" },
    { from: 8600, to: 8600, protocol: "tcp", what: "Consul DNS" },
    { from: 8600, to: 8600, protocol: "udp", what: "Consul DNS" },
    { ...NODEPORT_RANGE, protocol: "tcp", what: "Kubernetes NodePorts" },
    { ...NODEPORT_RANGE, protocol: "udp", what: "Kubernetes NodePorts" },
];

/**
 * Interfaces of the pod network: pods reaching their own node (CoreDNS, metrics-server
 * to the kubelet, pods to the API through the kubernetes Service) and decapsulated pod
 * traffic from other nodes. Matched by name, so the rule holds before k3s creates them.
 * Like k3s's own firewall advice (allow the pod CIDR), everything from them is accepted:
 * what pods may do is the job of NetworkPolicies, not of the host firewall.
 */
export const OVERLAY_INTERFACES: readonly string[] = ["cni0", "flannel.1", "flannel-v6.1", "flannel-wg", "flannel-wg-v6"];

export interface FirewallRulesArgs {
    role: NodeRole;
    /** Port sshd listens on. */
    sshPort: number;
    /** CIDRs that may open SSH; empty or absent: anywhere. */
    sshAllowFrom?: string[];
    /** CIDRs outside the private network that may reach the Kubernetes API (6443, servers only). */
    apiAllowFrom?: string[];
    /** Nodes that may run a gateway pod: 80/443 open to anyone. */
    gateway: boolean;
    extraPublicPorts?: PublicPort[];
    /** Interface of the private network (preflight's `privateInterface`). */
    privateInterface: string;
    /** Addresses or CIDRs of the private network's peers: every node's private address. */
    privateSources: string[];
    flannelBackend: FlannelBackend;
}

/** A CIDR or single address, normalized; a string describing the problem when it is neither. */
export function parseCidr(value: string): { family: 4 | 6; cidr: string } | string {
    const [addr, bits, ...rest] = value.trim().split("/");
    const ip = isIP(addr ?? "");
    const family: 4 | 6 = ip === 6 ? 6 : 4;
    if (rest.length > 0 || ip === 0) return `${JSON.stringify(value)} is not an IP address or CIDR like 198.51.100.0/24`;
    const max = family === 4 ? 32 : 128;
    if (bits === undefined) return { family, cidr: addr };
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `${JSON.stringify(value)} has a prefix length outside 0–${max}`;
    const prefix = Number(bits);
    const value128 = family === 4 ? ipv4ToBigInt(addr) : ipv6ToBigInt(addr);
    const hostMask = (1n << BigInt(max - prefix)) - 1n;
    if ((value128 & hostMask) !== 0n) {
        return `${JSON.stringify(value)} has host bits set; use the network address (${bigIntToIp(value128 & ~hostMask, family)}/${prefix})`;
    }
    return { family, cidr: prefix === max ? addr : `${addr}/${prefix}` };
}

function ipv4ToBigInt(a: string): bigint {
    return a.split(".").reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function ipv6ToBigInt(a: string): bigint {
    let s = a;
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
    if (v4) {
        const n = ipv4ToBigInt(v4[1]);
        s = `${s.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
    }
    const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
    const h = head ? head.split(":") : [];
    const t = tail ? tail.split(":") : [];
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
    return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || "0", 16)), 0n);
}

function bigIntToIp(n: bigint, family: 4 | 6): string {
    if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join(".");
    const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => ((n >> s) & 0xffffn).toString(16));
    return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

function split(list: string[] | undefined, what: string): { v4: string[]; v6: string[] } {
    const out = { v4: [] as string[], v6: [] as string[] };
    for (const item of list ?? []) {
        const c = parseCidr(item);
        if (typeof c === "string") throw runError(`firewall ${what}: ${c}`);
        (c.family === 4 ? out.v4 : out.v6).push(c.cidr);
    }
    out.v4 = [...new Set(out.v4)];
    out.v6 = [...new Set(out.v6)];
    return out;
}

/** Ports as an nft expression: `22`, or `{ 80, 443 }` in ascending order. */
function portSet(ports: { from: number; to: number }[]): string {
    const items = [...new Map(ports.map((p) => [`${p.from}-${p.to}`, p])).values()]
        .sort((a, b) => a.from - b.from || a.to - b.to)
        .map((p) => (p.from === p.to ? String(p.from) : `${p.from}-${p.to}`));
    return items.length === 1 ? items[0] : `{ ${items.join(", ")} }`;
}

function set(name: string, family: 4 | 6, elements: string[]): string[] {
    if (elements.length === 0) return [];
    return [
        `\tset ${name} {`,
        `\t\ttype ${family === 4 ? "ipv4_addr" : "ipv6_addr"}`,
        "\t\tflags interval",
        "\t\tauto-merge",
        `\t\telements = { ${elements.join(", ")} }`,
        "\t}",
        "",
    ];
}

/** The cluster ports this node opens to the private network. */
export function privatePorts(role: NodeRole, backend: FlannelBackend): ClusterPort[] {
    return CLUSTER_PORTS.filter((p) => (!p.serversOnly || role === "server") && (!p.backend || p.backend === backend));
}

/** A public port that would expose a cluster port; undefined when it is fine. */
export function clusterPortClash(p: PublicPort): ClusterPort | undefined {
    return CLUSTER_PORTS.find((c) => c.protocol === p.protocol && p.port >= c.from && p.port <= c.to);
}

/**
 * Renders `table inet nordstack { ... }`: input policy drop; from anywhere only
 * loopback, replies, path-MTU ICMP, IPv6 neighbour discovery and DHCP replies,
 * SSH (optionally from `sshAllowFrom` only), 80/443 on gateway nodes and the
 * extra public ports; from the private network (its interface AND a peer's
 * address, so a spoofed private source on a public interface is dropped) the
 * cluster ports and ping; from the pod network everything. A prerouting chain
 * (forwarded traffic never reaches `input`) drops, for new connections from
 * outside, NodePorts before kube-proxy's DNAT would forward them to a pod, and
 * any packet to an address that is not the node's own: a neighbour routing the
 * pod or Service network through the node gets nothing. Gateway hostPorts pass:
 * they are addressed to the node and DNATed after this chain.
 */
export function renderFirewallRules(a: FirewallRulesArgs): string {
    if (!Number.isInteger(a.sshPort) || a.sshPort < 1 || a.sshPort > 65535)
        throw runError(`firewall: SSH port ${a.sshPort} is not 1–65535`);
    if (!/^[a-zA-Z0-9_.@-]{1,15}$/.test(a.privateInterface)) {
        throw runError(`firewall: ${JSON.stringify(a.privateInterface)} is not an interface name`);
    }
    for (const p of a.extraPublicPorts ?? []) {
        const clash = clusterPortClash(p);
        if (clash) throw runError(`firewall: public port ${p.port}/${p.protocol} is a cluster port (${clash.what})`);
    }
    const ssh = split(a.sshAllowFrom, "sshAllowFrom");
    const api = a.role === "server" ? split(a.apiAllowFrom, "apiAllowFrom") : { v4: [], v6: [] };
    const priv = split(a.privateSources, "privateSources");
    const iface = JSON.stringify(a.privateInterface);
    const overlay = `{ ${OVERLAY_INTERFACES.map((i) => JSON.stringify(i)).join(", ")} }`;

    const sshRules =
        ssh.v4.length + ssh.v6.length === 0
            ? [`tcp dport ${a.sshPort} accept`]
            : [
                  ...(ssh.v4.length ? [`tcp dport ${a.sshPort} ip saddr @ssh_allow4 accept`] : []),
                  ...(ssh.v6.length ? [`tcp dport ${a.sshPort} ip6 saddr @ssh_allow6 accept`] : []),
              ];
    const publicTcp = [
        ...(a.gateway ? [80, 443] : []),
        ...(a.extraPublicPorts ?? []).filter((p) => p.protocol === "tcp").map((p) => p.port),
    ];
    const publicUdp = (a.extraPublicPorts ?? []).filter((p) => p.protocol === "udp").map((p) => p.port);
    const fromPrivate = [
        ...(priv.v4.length ? [`iifname ${iface} ip saddr @private4`] : []),
        ...(priv.v6.length ? [`iifname ${iface} ip6 saddr @private6`] : []),
    ];
    const ports = privatePorts(a.role, a.flannelBackend);
    const byProto = (proto: PortProtocol) => ports.filter((p) => p.protocol === proto);

    const input = [
        "type filter hook input priority filter; policy drop;",
        'iifname "lo" accept',
        "ct state established,related accept",
        "ct state invalid drop",
        "# path-MTU discovery must work from anywhere, or large replies black-hole",
        "icmp type destination-unreachable icmp code frag-needed accept",
        "icmpv6 type packet-too-big accept",
        "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } ip6 hoplimit 255 accept",
        "# DHCP replies (renewals go to a UDP socket; a DHCPv6 reply does not match the multicast request in conntrack)",
        "udp sport 67 udp dport 68 accept",
        "ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept",
        ...sshRules,
        ...(publicTcp.length ? [`tcp dport ${portSet(publicTcp.map((p) => ({ from: p, to: p })))} accept`] : []),
        ...(publicUdp.length ? [`udp dport ${portSet(publicUdp.map((p) => ({ from: p, to: p })))} accept`] : []),
        ...(api.v4.length ? ["tcp dport 6443 ip saddr @api_allow4 accept"] : []),
        ...(api.v6.length ? ["tcp dport 6443 ip6 saddr @api_allow6 accept"] : []),
        `iifname ${overlay} accept`,
        ...fromPrivate.map((m) => `${m} jump from_private`),
    ];
    const privateChain = [
        "# the smoke test's path-MTU probe pings between private addresses",
        "icmp type echo-request accept",
        "icmpv6 type echo-request accept",
        ...(byProto("tcp").length ? [`tcp dport ${portSet(byProto("tcp"))} accept`] : []),
        ...(byProto("udp").length ? [`udp dport ${portSet(byProto("udp"))} accept`] : []),
    ];
    const prerouting = [
        // mangle (-150): after conntrack (-200) has classified the packet, before DNAT (-100).
        "type filter hook prerouting priority mangle; policy accept;",
        'iifname "lo" return',
        "ct state established,related return",
        `iifname ${overlay} return`,
        ...fromPrivate.map((m) => `${m} return`),
        `fib daddr type local meta l4proto { tcp, udp } th dport ${NODEPORT_RANGE.from}-${NODEPORT_RANGE.to} drop`,
        "# from outside, only the node itself: nothing routed through it to pod or Service addresses",
        "fib daddr type unicast drop",
    ];
    const chain = (name: string, rules: string[]) => [`\tchain ${name} {`, ...rules.map((r) => `\t\t${r}`), "\t}"];
    return [
        `# Managed by nordstack (node ${a.role}); removed by pulumi destroy. Only this table is ours.`,
        `table ${FIREWALL_TABLE} {`,
        ...set("ssh_allow4", 4, ssh.v4),
        ...set("ssh_allow6", 6, ssh.v6),
        ...set("api_allow4", 4, api.v4),
        ...set("api_allow6", 6, api.v6),
        ...set("private4", 4, priv.v4),
        ...set("private6", 6, priv.v6),
        ...chain("input", input),
        "",
        ...chain("from_private", privateChain),
        "",
        ...chain("prerouting", prerouting),
        "}",
        "",
    ].join("\n");
}
