// A small, pure evaluator of Kubernetes NetworkPolicy semantics
// (networking.k8s.io/v1), for tests over the policies the stack renders:
// may a connection from A to B on port/protocol happen?
//
// Modelled as the API documents it: a pod is isolated for a direction when a
// policy of its namespace selects it with that policy type; an isolated pod
// admits a connection when any selecting policy has a matching rule; policies
// are additive; a connection needs the source's egress AND the destination's
// ingress. Peers: podSelector (policy's namespace), namespaceSelector, both
// (AND), ipBlock (with except). Ports: number, named (the destination pod's
// container port name), endPort ranges; protocol defaults to TCP. Not
// modelled: traffic from a pod's own node (kubelet probes), hostNetwork pods.
import { isIPv4 } from "node:net";
import type { LabelSelector, NetworkPolicyObject, PolicyPeer, PolicyRule } from "../../components/services/network-policies";

export type Protocol = "TCP" | "UDP" | "SCTP";

export interface PodEndpoint {
    kind: "pod";
    /** Test-facing name, e.g. `gateway`. */
    name: string;
    namespace: string;
    labels: Record<string, string>;
    ip: string;
    ports: { name?: string; containerPort: number; protocol?: Protocol }[];
}

export interface ExternalEndpoint {
    kind: "external";
    name: string;
    ip: string;
}

export type Endpoint = PodEndpoint | ExternalEndpoint;

export interface Cluster {
    policies: NetworkPolicyObject[];
    /** Namespace name -> labels; `kubernetes.io/metadata.name` is added as the API server does. */
    namespaces: Record<string, Record<string, string>>;
}

export function selectorMatches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
    if (sel === undefined) return false;
    for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
    for (const e of sel.matchExpressions ?? []) {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        const values = e.values ?? [];
        const ok =
            e.operator === "In"
                ? has && values.includes(labels[e.key])
                : e.operator === "NotIn"
                  ? !has || !values.includes(labels[e.key])
                  : e.operator === "Exists"
                    ? has
                    : !has;
        if (!ok) return false;
    }
    return true;
}

function ipToInt(ip: string): number {
    if (!isIPv4(ip)) throw new Error(`not an IPv4 address: ${ip}`);
    return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function inCidr(ip: string, cidr: string): boolean {
    const [base, bits] = cidr.split("/");
    const n = Number(bits ?? "32");
    const size = 2 ** (32 - n);
    const start = Math.floor(ipToInt(base) / size) * size;
    const x = ipToInt(ip);
    return x >= start && x < start + size;
}

function nsLabels(c: Cluster, ns: string): Record<string, string> {
    return { ...(c.namespaces[ns] ?? {}), "kubernetes.io/metadata.name": ns };
}

/** Does `peer` (in a policy of namespace `policyNs`) describe endpoint `e`? */
function peerMatches(c: Cluster, peer: PolicyPeer, policyNs: string, e: Endpoint): boolean {
    if (peer.ipBlock) {
        if (!inCidr(e.ip, peer.ipBlock.cidr)) return false;
        return !(peer.ipBlock.except ?? []).some((x) => inCidr(e.ip, x));
    }
    if (e.kind !== "pod") return false;
    if (peer.namespaceSelector !== undefined) {
        if (!selectorMatches(peer.namespaceSelector, nsLabels(c, e.namespace))) return false;
    } else if (e.namespace !== policyNs) {
        return false;
    }
    return peer.podSelector === undefined || selectorMatches(peer.podSelector, e.labels);
}

function portMatches(rule: PolicyRule, dst: Endpoint, port: number, protocol: Protocol): boolean {
    if (rule.ports === undefined || rule.ports.length === 0) return true;
    return rule.ports.some((p) => {
        if ((p.protocol ?? "TCP") !== protocol) return false;
        if (p.port === undefined) return true;
        if (typeof p.port === "string") {
            if (dst.kind !== "pod") return false;
            return dst.ports.some((cp) => cp.name === p.port && cp.containerPort === port && (cp.protocol ?? "TCP") === protocol);
        }
        return p.endPort === undefined ? p.port === port : port >= p.port && port <= p.endPort;
    });
}

function policyTypes(p: NetworkPolicyObject): ("Ingress" | "Egress")[] {
    if (p.spec.policyTypes && p.spec.policyTypes.length > 0) return p.spec.policyTypes;
    return p.spec.egress ? ["Ingress", "Egress"] : ["Ingress"];
}

/** The policies isolating pod `e` in `direction`. */
function selecting(c: Cluster, e: PodEndpoint, direction: "Ingress" | "Egress"): NetworkPolicyObject[] {
    return c.policies.filter(
        (p) => p.metadata.namespace === e.namespace && policyTypes(p).includes(direction) && selectorMatches(p.spec.podSelector, e.labels),
    );
}

export interface Verdict {
    allowed: boolean;
    /** Why: which side refused, or which policies admitted it. */
    reason: string;
}

/** May `src` open a connection to `dst` on `port`/`protocol`? */
export function evaluate(c: Cluster, src: Endpoint, dst: Endpoint, port: number, protocol: Protocol = "TCP"): Verdict {
    let egressBy = "not isolated";
    if (src.kind === "pod") {
        const pols = selecting(c, src, "Egress");
        if (pols.length > 0) {
            const ok = pols.filter((p) =>
                (p.spec.egress ?? []).some(
                    (r) =>
                        (r.to === undefined || r.to.length === 0 || r.to.some((peer) => peerMatches(c, peer, p.metadata.namespace, dst))) &&
                        portMatches(r, dst, port, protocol),
                ),
            );
            if (ok.length === 0)
                return {
                    allowed: false,
                    reason: `egress of ${src.name} denied (isolated by ${pols.map((p) => p.metadata.name).join(", ")})`,
                };
            egressBy = ok.map((p) => p.metadata.name).join(", ");
        }
    }
    let ingressBy = "not isolated";
    if (dst.kind === "pod") {
        const pols = selecting(c, dst, "Ingress");
        if (pols.length > 0) {
            const ok = pols.filter((p) =>
                (p.spec.ingress ?? []).some(
                    (r) =>
                        (r.from === undefined ||
                            r.from.length === 0 ||
                            r.from.some((peer) => peerMatches(c, peer, p.metadata.namespace, src))) &&
                        portMatches(r, dst, port, protocol),
                ),
            );
            if (ok.length === 0)
                return {
                    allowed: false,
                    reason: `ingress of ${dst.name} denied (isolated by ${pols.map((p) => p.metadata.name).join(", ")})`,
                };
            ingressBy = ok.map((p) => p.metadata.name).join(", ");
        }
    }
    return { allowed: true, reason: `egress: ${egressBy}; ingress: ${ingressBy}` };
}
