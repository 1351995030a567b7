// Every NetworkPolicy the workload layer renders (Pulumi mocks), evaluated as a
// whole by test/helpers/netpol-eval.ts over a matrix of from -> to pairs: the
// pods come from the rendered Deployments and StatefulSets (labels, ports; the
// Linkerd proxy's ports added where injected), next to the cluster's own pods
// and the outside world. Every allowed pair must be allowed, every other denied.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { GraphRecorder, installMocks, value } from "../helpers/mocks";
import { config } from "../helpers/fixtures";
import type { NetworkPolicyObject } from "../../components/services/network-policies";
import { Cluster, Endpoint, evaluate, inCidr, PodEndpoint, Protocol, selectorMatches } from "../helpers/netpol-eval";

// Remote commands print nothing here: only the Kubernetes objects are looked at.
before(() => installMocks(() => undefined));

const SERVICES = config({
    services: [
        { name: "inventory", image: "docker.io/traefik/whoami:v1.10.3", datastores: [{ engine: "postgres" }] },
        {
            name: "pricing",
            image: "docker.io/traefik/whoami:v1.10.3",
            port: 9000,
            datastores: [{ engine: "redis" }, { engine: "postgres" }],
        },
        { name: "frontend", image: "docker.io/traefik/whoami:v1.10.3", port: 80, gatewayPath: "/" },
    ],
}).services;

interface Template {
    metadata: { namespace: string };
    spec: {
        template: {
            metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
            spec: { containers: { ports?: { name?: string; containerPort: number; protocol?: Protocol }[] }[] };
        };
    };
}

/** The rendered objects: policies, our pods, namespaces with their labels. */
async function rendered(): Promise<{ cluster: Cluster; pods: PodEndpoint[] }> {
    const { Workloads } = await import("../../components/services/workloads");
    const rec = new GraphRecorder();
    const provider = new k8s.Provider("m-k8s", { kubeconfig: "{}" });
    new Workloads(
        "m",
        {
            provider,
            services: SERVICES,
            gateway: { serverNames: ["api.example.no"], tlsCertificate: "CERT", tlsPrivateKey: pulumi.secret("KEY") },
        },
        { transformations: [rec.transform] },
    );
    const resolve = <T>(r: { props: Record<string, unknown> }) => value(pulumi.output(r.props) as unknown as pulumi.Output<T>);
    const policies = await Promise.all(
        rec.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy").map((r) => resolve<NetworkPolicyObject>(r)),
    );
    const namespaces: Record<string, Record<string, string>> = { "kube-system": {}, linkerd: {}, consul: {}, default: {} };
    for (const r of rec.ofType("kubernetes:core/v1:Namespace")) {
        const ns = await resolve<{ metadata: { name: string; labels?: Record<string, string> } }>(r);
        namespaces[ns.metadata.name] = ns.metadata.labels ?? {};
    }
    const pods: PodEndpoint[] = [];
    let ip = 10;
    for (const r of [...rec.ofType("kubernetes:apps/v1:Deployment"), ...rec.ofType("kubernetes:apps/v1:StatefulSet")]) {
        const t = await resolve<Template>(r);
        const meshed = t.spec.template.metadata.annotations?.["linkerd.io/inject"] === "enabled";
        pods.push({
            kind: "pod",
            name: t.spec.template.metadata.labels["app.kubernetes.io/name"],
            namespace: t.metadata.namespace,
            labels: t.spec.template.metadata.labels,
            ip: `10.42.0.${ip++}`,
            ports: [
                ...t.spec.template.spec.containers.flatMap((c) => c.ports ?? []),
                // What Linkerd's injector adds to a meshed pod.
                ...(meshed
                    ? [
                          { name: "linkerd-proxy", containerPort: 4143 },
                          { name: "linkerd-admin", containerPort: 4191 },
                      ]
                    : []),
            ],
        });
    }
    return { cluster: { policies, namespaces }, pods };
}

const pod = (name: string, namespace: string, labels: Record<string, string>, ip: string, ports: [number, Protocol?][]): PodEndpoint => ({
    kind: "pod",
    name,
    namespace,
    labels,
    ip,
    ports: ports.map(([containerPort, protocol]) => ({ containerPort, protocol: protocol ?? "TCP" })),
});

// The cluster's own pods and the outside world.
const OTHERS: Endpoint[] = [
    pod("coredns", "kube-system", { "k8s-app": "kube-dns" }, "10.42.1.2", [[53, "UDP"], [53, "TCP"], [9153]]),
    pod("linkerd-identity", "linkerd", { "linkerd.io/control-plane-component": "identity" }, "10.42.1.3", [[8080]]),
    pod("linkerd-destination", "linkerd", { "linkerd.io/control-plane-component": "destination" }, "10.42.1.4", [[8086], [8090]]),
    pod("consul-sync-catalog", "consul", { app: "consul", component: "sync-catalog" }, "10.42.1.5", [[8500]]),
    pod("stranger", "default", { app: "stranger" }, "10.42.1.6", [[8080]]),
    { kind: "external", name: "internet", ip: "203.0.113.50" },
    { kind: "external", name: "kube-apiserver", ip: "10.10.0.5" },
];
const EXTERNAL_PORTS: Record<string, number[]> = { internet: [443, 80], "kube-apiserver": [6443] };

/** The one written-down truth: which flows may exist. */
function expected(from: Endpoint, to: Endpoint, port: number, proto: Protocol): boolean {
    const ours = (e: Endpoint) => e.kind === "pod" && (e.namespace === "nordstack" || e.namespace === "nordstack-gateway");
    const svc = (e: Endpoint) => SERVICES.find((s) => s.name === e.name);
    // A datastore instance's owner: the service that lists it.
    const ownerOf = (e: Endpoint) => SERVICES.find((s) => s.datastores.some((d) => d.instance === e.name));
    if (ours(to) && from.name.startsWith("linkerd-") && port === 4191) return true;
    if (to.name === "gateway") return !ours(from) && (port === 8080 || port === 8443) && proto === "TCP";
    if (!ours(from)) return false;
    if (to.name === "coredns") return port === 53;
    if (to.name === "linkerd-identity") return port === 8080;
    if (to.name === "linkerd-destination") return port === 8086 || port === 8090;
    const s = svc(to);
    if (s && from.name === "gateway") return port === s.port || port === 4143;
    const owner = ownerOf(to);
    if (owner && from.name === owner.name)
        return port === ((to as PodEndpoint).labels["app.kubernetes.io/component"] === "postgres" ? 5432 : 6379) || port === 4143;
    return false;
}

describe("NetworkPolicies as a whole (evaluated over the rendered objects)", () => {
    it("the evaluator follows the API's semantics on small cases", () => {
        const a = pod("a", "x", { app: "a" }, "10.0.0.1", [[80]]);
        const b = pod("b", "x", { app: "b" }, "10.0.0.2", [[80], [81]]);
        const c = pod("c", "y", { app: "a" }, "10.0.0.3", [[80]]);
        const none: Cluster = { policies: [], namespaces: { x: {}, y: { team: "t" } } };
        assert.equal(evaluate(none, a, b, 80).allowed, true, "no policy: everything flows");
        const deny: NetworkPolicyObject = {
            metadata: { name: "deny", namespace: "x" },
            spec: { podSelector: {}, policyTypes: ["Ingress"] },
        };
        assert.equal(evaluate({ ...none, policies: [deny] }, a, b, 80).allowed, false);
        assert.equal(evaluate({ ...none, policies: [deny] }, b, c, 80).allowed, true, "another namespace is not isolated");
        const allowA: NetworkPolicyObject = {
            metadata: { name: "a", namespace: "x" },
            spec: {
                podSelector: { matchLabels: { app: "b" } },
                policyTypes: ["Ingress"],
                ingress: [{ from: [{ podSelector: { matchLabels: { app: "a" } } }], ports: [{ port: 80 }] }],
            },
        };
        const cl = { ...none, policies: [deny, allowA] };
        assert.equal(evaluate(cl, a, b, 80).allowed, true, "additive");
        assert.equal(evaluate(cl, a, b, 81).allowed, false, "port");
        assert.equal(evaluate(cl, a, b, 80, "UDP").allowed, false, "protocol defaults to TCP");
        assert.equal(evaluate(cl, c, b, 80).allowed, false, "a podSelector alone means the policy's namespace");
        const byNs: NetworkPolicyObject = {
            metadata: { name: "ns", namespace: "x" },
            spec: {
                podSelector: {},
                policyTypes: ["Ingress"],
                ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "t" } }, podSelector: { matchLabels: { app: "a" } } }] }],
            },
        };
        assert.equal(evaluate({ ...none, policies: [deny, byNs] }, c, b, 81).allowed, true, "namespace AND pod selector");
        const egress: NetworkPolicyObject = {
            metadata: { name: "e", namespace: "x" },
            spec: {
                podSelector: {},
                policyTypes: ["Egress"],
                egress: [{ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8"] } }] }],
            },
        };
        const out: Endpoint = { kind: "external", name: "out", ip: "198.51.100.1" };
        assert.equal(evaluate({ ...none, policies: [egress] }, a, out, 443).allowed, true);
        assert.equal(evaluate({ ...none, policies: [egress] }, a, b, 80).allowed, false, "except");
        assert.equal(selectorMatches({ matchExpressions: [{ key: "app", operator: "NotIn", values: ["a"] }] }, { app: "b" }), true);
        assert.equal(selectorMatches({ matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, { app: "b" }), false);
        assert.equal(inCidr("10.1.2.3", "10.0.0.0/8"), true);
        assert.equal(inCidr("11.1.2.3", "10.0.0.0/8"), false);
        const named: NetworkPolicyObject = {
            metadata: { name: "n", namespace: "x" },
            spec: { podSelector: {}, policyTypes: ["Ingress"], ingress: [{ ports: [{ port: "http" }] }] },
        };
        const web: PodEndpoint = { ...b, ports: [{ name: "http", containerPort: 8080 }] };
        assert.equal(evaluate({ ...none, policies: [named] }, a, web, 8080).allowed, true, "named port");
        assert.equal(evaluate({ ...none, policies: [named] }, a, web, 80).allowed, false);
    });

    it("allows exactly the platform's flows: every pair checked on every port", async () => {
        const { cluster, pods } = await rendered();
        assert.deepEqual(pods.map((p) => `${p.namespace}/${p.name}`).sort(), [
            "nordstack-gateway/gateway",
            "nordstack/frontend",
            "nordstack/inventory",
            "nordstack/inventory-postgres",
            "nordstack/pricing",
            "nordstack/pricing-postgres",
            "nordstack/pricing-redis",
        ]);
        const all: Endpoint[] = [...pods, ...OTHERS];
        const portsOf = (e: Endpoint): [number, Protocol][] =>
            e.kind === "external"
                ? EXTERNAL_PORTS[e.name].map((p) => [p, "TCP"])
                : // Every declared port, plus one nobody declared.
                  [...e.ports.map((p): [number, Protocol] => [p.containerPort, p.protocol ?? "TCP"]), [9999, "TCP"]];
        const wrong: string[] = [];
        const allowed: string[] = [];
        let checked = 0;
        for (const from of all)
            for (const to of all) {
                if (from === to) continue;
                // Flows between the cluster's own pods and the outside are not this layer's business.
                const involved = (e: Endpoint) => pods.includes(e as PodEndpoint);
                if (!involved(from) && !involved(to)) continue;
                for (const [port, proto] of portsOf(to)) {
                    checked++;
                    const v = evaluate(cluster, from, to, port, proto);
                    const want = expected(from, to, port, proto);
                    const flow = `${from.name} -> ${to.name}:${port}/${proto}`;
                    if (v.allowed) allowed.push(flow);
                    if (v.allowed !== want)
                        wrong.push(`${flow}: ${v.allowed ? "allowed" : "denied"}, expected ${want ? "allowed" : "denied"} (${v.reason})`);
                }
            }
        assert.deepEqual(wrong, []);
        // The spot checks the issue names, spelled out.
        const verdict = (f: string, t: string, port: number, proto: Protocol = "TCP") =>
            evaluate(cluster, all.find((e) => e.name === f) as Endpoint, all.find((e) => e.name === t) as Endpoint, port, proto).allowed;
        assert.equal(verdict("inventory", "pricing-redis", 6379), false, "service A -> datastore of B");
        assert.equal(verdict("inventory", "pricing-redis", 4143), false, "... not even through the proxy port");
        assert.equal(verdict("gateway", "inventory-postgres", 5432), false, "gateway -> datastore");
        assert.equal(verdict("inventory", "internet", 443), false, "service -> internet");
        assert.equal(verdict("inventory", "kube-apiserver", 6443), false, "service -> API server");
        assert.equal(verdict("inventory", "pricing", 9000), false, "service -> another service");
        assert.equal(verdict("internet", "inventory", 8080), false, "internet -> service");
        assert.equal(verdict("stranger", "inventory-postgres", 5432), false, "another namespace -> datastore");
        assert.equal(verdict("internet", "gateway", 8443), true);
        assert.equal(verdict("gateway", "pricing", 9000), true);
        assert.equal(verdict("pricing", "pricing-redis", 6379), true);
        assert.equal(verdict("pricing-redis", "coredns", 53, "UDP"), true);
        assert.equal(verdict("frontend", "linkerd-destination", 8090), true);
        console.log(`# matrix: ${checked} flows checked, ${allowed.length} allowed, ${checked - allowed.length} denied`);
        assert.ok(checked > 400, `a real matrix (${checked})`);
        // The matrix has teeth: without the default-deny policies, services reach the internet and the API server.
        const loose = { ...cluster, policies: cluster.policies.filter((p) => p.metadata.name !== "nordstack-default-deny") };
        const inv = all.find((e) => e.name === "inventory") as Endpoint;
        assert.equal(
            evaluate(loose, inv, all.find((e) => e.name === "internet") as Endpoint, 443).allowed,
            false,
            "egress still isolated by the other policies",
        );
        const bare = {
            ...cluster,
            policies: cluster.policies.filter((p) => !/^nordstack-/.test(p.metadata.name) && !p.metadata.name.endsWith("-ingress-egress")),
        };
        assert.equal(evaluate(bare, inv, all.find((e) => e.name === "internet") as Endpoint, 443).allowed, true, "nothing left to stop it");
    });
});
