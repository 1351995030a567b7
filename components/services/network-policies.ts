// The workloads namespace's NetworkPolicies, rendered by a pure function:
// default-deny for ingress and egress, then exactly the flows the platform
// needs. Each datastore's own ingress policy (only its owner) comes from
// components/data/datastore.ts; together they are evaluated as a whole in
// test/services/network-policy-matrix.test.ts.
//
// Allowed, and nothing else:
//   internet        -> gateway          its container ports (8080, 8443: the node's 80/443 by hostPort)
//   gateway         -> each service     the service's port, and Linkerd's inbound proxy port
//   service         -> its datastores   the datastore's port, and Linkerd's inbound proxy port
//   every pod       -> CoreDNS          53/udp, 53/tcp (kube-system, k8s-app=kube-dns)
//   every pod       -> Linkerd          identity 8080; destination 8086 and policy 8090
//   Linkerd's pods  -> every pod        the proxy's admin port 4191 (metrics, diagnostics)
// Consul needs no flow here: catalog sync reads Services and Endpoints from the
// API server and takes health from pod readiness; nothing calls into the pods.
// kubelet probes come from the node itself, which policies do not govern.
import { LINKERD_INBOUND_PORT, podLabels } from "./labels";

export const LINKERD_ADMIN_PORT = 4191;
export const LINKERD_IDENTITY_PORT = 8080;
export const LINKERD_DESTINATION_PORT = 8086;
export const LINKERD_POLICY_PORT = 8090;

type Labels = Record<string, string>;
type Protocol = "TCP" | "UDP";

/** The plain shape of a networking.k8s.io/v1 NetworkPolicy, as rendered here and read back by the tests. */
export interface NetworkPolicyObject {
    metadata: { name: string; namespace: string; labels?: Labels };
    spec: {
        podSelector: LabelSelector;
        policyTypes: ("Ingress" | "Egress")[];
        ingress?: PolicyRule[];
        egress?: PolicyRule[];
    };
}

export interface LabelSelector {
    matchLabels?: Labels;
    matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

export interface PolicyPeer {
    podSelector?: LabelSelector;
    namespaceSelector?: LabelSelector;
    ipBlock?: { cidr: string; except?: string[] };
}

export interface PolicyRule {
    from?: PolicyPeer[];
    to?: PolicyPeer[];
    ports?: { protocol?: Protocol; port?: number | string; endPort?: number }[];
}

export interface WorkloadPolicyInput {
    /** Namespace of the services and datastores. */
    namespace: string;
    /** Namespace of the gateway (its own: hostPort keeps it out of a `restricted` namespace). */
    gatewayNamespace: string;
    services: { name: string; port: number; datastores: { engine: "postgres" | "redis"; instance: string; port: number }[] }[];
    gateway: { name: string; containerPorts: number[] };
    /** Namespace of the Linkerd control plane; undefined when the workloads are not meshed. Default `linkerd`. */
    linkerdNamespace?: string | null;
    /** Namespace and pod labels of the cluster DNS. Default kube-system / k8s-app=kube-dns (k3s's CoreDNS). */
    dns?: { namespace: string; podLabels: Labels };
}

const nsSelector = (name: string): LabelSelector => ({ matchLabels: { "kubernetes.io/metadata.name": name } });
const tcp = (...ports: number[]) => ports.map((port) => ({ protocol: "TCP" as const, port }));

/** Every NetworkPolicy of the workloads and gateway namespaces, besides the datastores' own. Pure. */
export function renderWorkloadPolicies(i: WorkloadPolicyInput): NetworkPolicyObject[] {
    const linkerd = i.linkerdNamespace === undefined ? "linkerd" : i.linkerdNamespace;
    const dns = i.dns ?? { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } };
    // Meshed traffic may reach the server's proxy on its inbound port instead of the original one (opaque ports do).
    const withProxy = (port: number) => (linkerd === null ? [port] : [port, LINKERD_INBOUND_PORT]);
    const labels = { "app.kubernetes.io/part-of": "nordstack" };
    const policyIn =
        (namespace: string) =>
        (name: string, spec: NetworkPolicyObject["spec"]): NetworkPolicyObject => ({
            metadata: { name, namespace, labels },
            spec,
        });
    const gw = podLabels("gateway", i.gateway.name);
    const out: NetworkPolicyObject[] = [];
    const namespaces = i.gatewayNamespace === i.namespace ? [i.namespace] : [i.namespace, i.gatewayNamespace];
    for (const ns of namespaces) out.push(...commonPolicies(policyIn(ns), linkerd, dns));

    const policy = policyIn(i.namespace);
    // The gateway as a peer seen from the services' namespace, and the services seen from the gateway's.
    const gatewayPeer: PolicyPeer = {
        ...(i.gatewayNamespace === i.namespace ? {} : { namespaceSelector: nsSelector(i.gatewayNamespace) }),
        podSelector: { matchLabels: gw },
    };
    const servicePeer = (name: string): PolicyPeer => ({
        ...(i.gatewayNamespace === i.namespace ? {} : { namespaceSelector: nsSelector(i.namespace) }),
        podSelector: { matchLabels: podLabels("service", name) },
    });
    const services = [...i.services].sort((a, b) => a.name.localeCompare(b.name));
    out.push(
        policyIn(i.gatewayNamespace)(`${i.gateway.name}-ingress-egress`, {
            podSelector: { matchLabels: gw },
            policyTypes: ["Ingress", "Egress"],
            // The public entry: from anywhere, on nginx's own ports only.
            ingress: [{ ports: tcp(...i.gateway.containerPorts) }],
            egress: services.map((s) => ({ to: [servicePeer(s.name)], ports: tcp(...withProxy(s.port)) })),
        }),
    );
    for (const s of services) {
        const sel = { matchLabels: podLabels("service", s.name) };
        out.push(
            policy(`${s.name}-ingress-egress`, {
                podSelector: sel,
                policyTypes: ["Ingress", "Egress"],
                ingress: [{ from: [gatewayPeer], ports: tcp(...withProxy(s.port)) }],
                egress: [...s.datastores]
                    .sort((a, b) => a.instance.localeCompare(b.instance))
                    .map((d) => ({
                        to: [{ podSelector: { matchLabels: podLabels(d.engine, d.instance) } }],
                        ports: tcp(...withProxy(d.port)),
                    })),
            }),
        );
    }
    return out;
}

/** Default-deny, DNS and Linkerd for every pod of one namespace. */
function commonPolicies(
    policy: (name: string, spec: NetworkPolicyObject["spec"]) => NetworkPolicyObject,
    linkerd: string | null,
    dns: { namespace: string; podLabels: Labels },
): NetworkPolicyObject[] {
    const out: NetworkPolicyObject[] = [
        // Selects every pod, allows nothing: whatever is not allowed below is dropped, both ways.
        policy("nordstack-default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
        policy("nordstack-dns", {
            podSelector: {},
            policyTypes: ["Egress"],
            egress: [
                {
                    to: [{ namespaceSelector: nsSelector(dns.namespace), podSelector: { matchLabels: dns.podLabels } }],
                    ports: [
                        { protocol: "UDP", port: 53 },
                        { protocol: "TCP", port: 53 },
                    ],
                },
            ],
        }),
    ];
    if (linkerd !== null) {
        const component = (c: string): PolicyPeer => ({
            namespaceSelector: nsSelector(linkerd),
            podSelector: { matchLabels: { "linkerd.io/control-plane-component": c } },
        });
        out.push(
            policy("nordstack-linkerd", {
                podSelector: {},
                policyTypes: ["Ingress", "Egress"],
                ingress: [{ from: [{ namespaceSelector: nsSelector(linkerd) }], ports: tcp(LINKERD_ADMIN_PORT) }],
                egress: [
                    { to: [component("identity")], ports: tcp(LINKERD_IDENTITY_PORT) },
                    { to: [component("destination")], ports: tcp(LINKERD_DESTINATION_PORT, LINKERD_POLICY_PORT) },
                ],
            }),
        );
    }
    return out;
}
