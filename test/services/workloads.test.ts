// Pulumi mocks over the whole workload layer: services, their own datastores,
// the gateway. Asserts the graph, isolation (one datastore per service, owner-only
// NetworkPolicies, own Secrets only), secrecy, and that only the gateway is exposed.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { GraphRecorder, Recorded, value, valueAndSecret } from "../helpers/mocks";
import { config } from "../helpers/fixtures";
import type { ServiceConfig } from "../../components/config";
import { renderNginxConf } from "../../components/gateway/nginx-conf";

// What the mocked cluster hands back: generated passwords and Service IPs.
const clusterIPs: Record<string, string> = {};
const passwordOf = (resourceName: string) => `Pw${resourceName.replace(/[^A-Za-z0-9]/g, "")}0123456789abcdef`;

before(() =>
    pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                const state: Record<string, unknown> = { ...(args.inputs as Record<string, unknown>) };
                if (args.type === "random:index/randomPassword:RandomPassword") state.result = passwordOf(args.name);
                if (args.type === "kubernetes:core/v1:Service") {
                    const spec = (state.spec ?? {}) as Record<string, unknown>;
                    if (spec.clusterIP !== "None") state.spec = { ...spec, clusterIP: clusterIPs[args.name] ?? "10.43.0.10" };
                }
                return { id: `${args.name}-id`, state };
            },
            call: (args) => args.inputs as Record<string, unknown>,
        },
        "nordstack",
        "test",
        false,
    ),
);

const TWO_EACH: ServiceConfig[] = config({
    services: [
        { name: "inventory", image: "docker.io/traefik/whoami:v1.10.3", datastores: [{ engine: "postgres" }, { engine: "redis" }] },
        { name: "pricing", image: "docker.io/traefik/whoami:v1.10.3", datastores: [{ engine: "postgres" }, { engine: "redis" }] },
        { name: "frontend", image: "docker.io/traefik/whoami:v1.10.3", gatewayPath: "/" },
    ],
}).services;

async function build(name: string, services: ServiceConfig[] = config().services, gateway: Record<string, unknown> = {}) {
    const { Workloads } = await import("../../components/services/workloads");
    const rec = new GraphRecorder();
    const provider = new k8s.Provider(`${name}-k8s`, { kubeconfig: "{}" });
    const workloads = new Workloads(
        name,
        { provider, services, gateway: { serverNames: ["api.cool-client.no"], ...gateway } },
        { transformations: [rec.transform] },
    );
    return { workloads, rec };
}

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";

/** The resource of that type and name (a component and its main child share a name). */
function find(rec: GraphRecorder, type: string, name: string): Recorded {
    const r = rec.ofType(type).find((x) => x.name === name);
    assert.ok(r, `no ${type} named ${name}`);
    return r;
}

/** Fully resolved inputs of a recorded resource (Outputs unwrapped). */
function props<T = Record<string, unknown>>(r: Recorded): Promise<T> {
    return value(pulumi.output(r.props)) as unknown as Promise<T>;
}

// Inputs as the SDK's output shapes: every Input resolved.
type Deployment = k8s.types.output.apps.v1.Deployment;
type StatefulSet = k8s.types.output.apps.v1.StatefulSet;
type KService = k8s.types.output.core.v1.Service;
type NetworkPolicy = k8s.types.output.networking.v1.NetworkPolicy;
type ConfigMap = k8s.types.output.core.v1.ConfigMap;
type EnvVar = k8s.types.output.core.v1.EnvVar;
type PodTemplate = {
    owner: Recorded;
    labels: Record<string, string>;
    spec: k8s.types.output.core.v1.PodSpec;
    annotations: Record<string, string>;
};
async function podTemplates(rec: GraphRecorder): Promise<PodTemplate[]> {
    const out: PodTemplate[] = [];
    for (const r of [...rec.ofType("kubernetes:apps/v1:Deployment"), ...rec.ofType("kubernetes:apps/v1:StatefulSet")]) {
        const p = await props<Deployment | StatefulSet>(r);
        out.push({
            owner: r,
            labels: p.spec.template.metadata.labels,
            spec: p.spec.template.spec,
            annotations: p.spec.template.metadata.annotations,
        });
    }
    return out;
}

const selects = (matchLabels: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(matchLabels).every(([k, v]) => labels[k] === v);

describe("Workloads graph (mocks)", () => {
    it("registers exactly the expected components and Kubernetes objects, with parents", async () => {
        const { rec } = await build("w1");
        const shape = rec.resources.map((r) => `${r.type} ${r.name} <- ${r.parent ?? "-"}`);
        const datastore = (comp: string, inst: string) => [
            `nordstack:data:${comp} w1-${inst} <- w1`,
            `random:index/randomPassword:RandomPassword w1-${inst}-password <- w1-${inst}`,
            `kubernetes:core/v1:ConfigMap w1-${inst}-conf <- w1-${inst}`,
            `kubernetes:core/v1:Secret w1-${inst}-credentials <- w1-${inst}`,
            `kubernetes:core/v1:Service w1-${inst}-service <- w1-${inst}`,
            `kubernetes:networking.k8s.io/v1:NetworkPolicy w1-${inst}-policy <- w1-${inst}`,
            `kubernetes:apps/v1:StatefulSet w1-${inst} <- w1-${inst}`,
        ];
        const service = (s: string) => [
            `nordstack:services:Service w1-${s} <- w1`,
            `kubernetes:apps/v1:Deployment w1-${s} <- w1-${s}`,
            `kubernetes:core/v1:Service w1-${s}-service <- w1-${s}`,
        ];
        assert.deepEqual(shape, [
            "nordstack:services:Workloads w1 <- -",
            "kubernetes:core/v1:Namespace w1-namespace <- w1",
            "kubernetes:core/v1:Namespace w1-gateway-namespace <- w1",
            ...datastore("Postgres", "inventory-postgres"),
            ...service("inventory"),
            ...datastore("Redis", "pricing-redis"),
            ...service("pricing"),
            "nordstack:gateway:Nginx w1-gateway <- w1",
            "kubernetes:core/v1:ConfigMap w1-gateway-conf <- w1-gateway",
            "kubernetes:apps/v1:Deployment w1-gateway <- w1-gateway",
            "kubernetes:policy/v1:PodDisruptionBudget w1-gateway-pdb <- w1-gateway",
            ...["nordstack-default-deny", "nordstack-dns", "nordstack-linkerd"].map(
                (p) => `kubernetes:networking.k8s.io/v1:NetworkPolicy w1-netpol-${p} <- w1`,
            ),
            ...["nordstack-default-deny", "nordstack-dns", "nordstack-linkerd", "gateway-ingress-egress"].map(
                (p) => `kubernetes:networking.k8s.io/v1:NetworkPolicy w1-gateway-netpol-${p} <- w1`,
            ),
            "kubernetes:networking.k8s.io/v1:NetworkPolicy w1-netpol-inventory-ingress-egress <- w1",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy w1-netpol-pricing-ingress-egress <- w1",
        ]);
    });

    it("gives every service its own datastore objects: StatefulSet, volume, password, Secret, policy", async () => {
        const { workloads, rec } = await build("w2", TWO_EACH);
        const instances = ["inventory-postgres", "inventory-redis", "pricing-postgres", "pricing-redis"];
        assert.deepEqual(Object.keys(workloads.datastores).sort(), instances);
        for (const type of [
            "kubernetes:apps/v1:StatefulSet",
            "kubernetes:core/v1:Secret",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "random:index/randomPassword:RandomPassword",
        ]) {
            assert.equal(rec.ofType(type).filter((r) => !r.name.includes("-netpol-")).length, 4, `${type}: one per datastore`);
        }
        const sets = rec.ofType("kubernetes:apps/v1:StatefulSet");
        const seen = new Set<string>();
        for (const s of sets) {
            const p = await props<StatefulSet>(s);
            const inst = p.metadata.name;
            assert.ok(instances.includes(inst));
            assert.equal(p.spec.replicas, 1);
            assert.equal(p.spec.serviceName, inst, "its own headless Service");
            assert.deepEqual(p.spec.volumeClaimTemplates[0].spec.storageClassName, "local-path");
            assert.deepEqual(p.spec.volumeClaimTemplates[0].spec.accessModes, ["ReadWriteOnce"]);
            const secretRefs = JSON.stringify(p.spec.template.spec).match(/"(?:name|secretName)":"[a-z-]+-credentials"/g) ?? [];
            assert.ok(
                secretRefs.length > 0 && secretRefs.every((r) => r.includes(`"${inst}-credentials"`)),
                `${inst} uses only its own Secret`,
            );
            seen.add(inst);
        }
        assert.equal(seen.size, 4);
        const headless = await Promise.all(rec.ofType("kubernetes:core/v1:Service").map((r) => props<KService>(r)));
        assert.deepEqual(
            headless
                .filter((s) => s.spec.clusterIP === "None")
                .map((s) => s.metadata.name)
                .sort(),
            instances,
        );
        const pg = await props<ConfigMap>(rec.byName("w2-pricing-postgres-conf"));
        assert.match(pg.data["pg_hba.conf"], /host {4}pricing {2}pricing {2}0\.0\.0\.0\/0 {2}scram-sha-256/, "its own database and user");
        assert.match(pg.data["postgresql.conf"], /^password_encryption = 'scram-sha-256'$/m);
    });

    it("injects into each service only its own datastores' Secrets, by reference", async () => {
        const { rec } = await build("w3", TWO_EACH);
        for (const svc of ["inventory", "pricing", "frontend"]) {
            const p = await props<Deployment>(find(rec, DEPLOYMENT, `w3-${svc}`));
            const env: EnvVar[] = p.spec.template.spec.containers[0].env;
            const refs = new Set(env.filter((e) => e.valueFrom).map((e) => e.valueFrom.secretKeyRef.name));
            const own = svc === "frontend" ? [] : [`${svc}-postgres-credentials`, `${svc}-redis-credentials`];
            assert.deepEqual([...refs].sort(), own, `${svc} reads exactly its own Secrets`);
            assert.deepEqual(
                env.filter((e) => e.value !== undefined).map((e) => e.name),
                ["PORT"],
                "no credential as a plain value",
            );
            if (svc === "inventory") {
                assert.deepEqual(
                    env.filter((e) => e.valueFrom).map((e) => `${e.name}=${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`),
                    [
                        "INVENTORY_POSTGRES_HOST=inventory-postgres-credentials/host",
                        "INVENTORY_POSTGRES_PORT=inventory-postgres-credentials/port",
                        "INVENTORY_POSTGRES_USER=inventory-postgres-credentials/username",
                        "INVENTORY_POSTGRES_PASSWORD=inventory-postgres-credentials/password",
                        "INVENTORY_POSTGRES_DATABASE=inventory-postgres-credentials/database",
                        "INVENTORY_POSTGRES_URL=inventory-postgres-credentials/url",
                        "INVENTORY_REDIS_HOST=inventory-redis-credentials/host",
                        "INVENTORY_REDIS_PORT=inventory-redis-credentials/port",
                        "INVENTORY_REDIS_PASSWORD=inventory-redis-credentials/password",
                        "INVENTORY_REDIS_URL=inventory-redis-credentials/url",
                        "DATABASE_URL=inventory-postgres-credentials/url",
                        "REDIS_URL=inventory-redis-credentials/url",
                    ],
                );
            }
        }
    });

    it("keeps every password secret and out of ConfigMaps, pod specs and every other object", async () => {
        const { workloads, rec } = await build("w4", TWO_EACH);
        const passwords = rec.ofType("random:index/randomPassword:RandomPassword").map((r) => passwordOf(r.name));
        assert.equal(passwords.length, 4);
        for (const s of rec.ofType("kubernetes:core/v1:Secret")) {
            const [data, secret] = await valueAndSecret(pulumi.output(s.props.stringData as pulumi.Input<Record<string, string>>));
            assert.equal(secret, true, `${s.name}.stringData must be secret`);
            const inst = (await props<KService>(s)).metadata.name.replace(/-credentials$/, "");
            const own = passwordOf(`w4-${inst}-password`);
            assert.equal(data.password, own, `${s.name} holds its own instance's password`);
            assert.ok(data.url.includes(own));
            if (inst.endsWith("-redis")) assert.equal(data["auth.conf"], `requirepass "${own}"\n`);
        }
        for (const [inst, store] of Object.entries(workloads.datastores)) {
            const [pw, secret] = await valueAndSecret(store.password);
            assert.equal(secret, true, `${inst}.password output must be secret`);
            assert.equal(pw, passwordOf(`w4-${inst}-password`));
        }
        for (const r of rec.resources.filter((x) => x.type !== "kubernetes:core/v1:Secret" && !x.type.startsWith("nordstack:"))) {
            const text = JSON.stringify(await props(r));
            for (const pw of passwords) assert.ok(!text.includes(pw), `${r.type} ${r.name} leaks a password`);
        }
    });

    it("NetworkPolicies select exactly the datastore's pods and admit exactly its owner's", async () => {
        const { rec } = await build("w5", TWO_EACH);
        const templates = await podTemplates(rec);
        for (const np of rec.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy").filter((r) => r.name.endsWith("-policy"))) {
            const p = await props<NetworkPolicy>(np);
            const inst = p.metadata.name.replace(/-owner-only$/, "");
            const owner = inst.replace(/-(postgres|redis)$/, "");
            const port = inst.endsWith("-postgres") ? 5432 : 6379;
            assert.deepEqual(p.spec.policyTypes, ["Ingress"]);
            assert.deepEqual(
                templates.filter((t) => selects(p.spec.podSelector.matchLabels, t.labels)).map((t) => t.owner.name),
                [`w5-${inst}`],
                `${np.name} applies to ${inst}'s pods only`,
            );
            assert.equal(p.spec.ingress.length, 1);
            assert.equal(p.spec.ingress[0].from.length, 1);
            const from = p.spec.ingress[0].from[0];
            assert.deepEqual(Object.keys(from), ["podSelector"], "no namespace or IP block widening it");
            assert.deepEqual(
                templates.filter((t) => selects(from.podSelector.matchLabels, t.labels)).map((t) => t.owner.name),
                [`w5-${owner}`],
                `${np.name} admits ${owner}'s pods only`,
            );
            assert.deepEqual(p.spec.ingress[0].ports, [
                { protocol: "TCP", port },
                { protocol: "TCP", port: 4143 },
            ]);
        }
    });

    it("exposes only the gateway: no LoadBalancer/NodePort Service, hostPort only on the gateway", async () => {
        const { rec } = await build("w6", TWO_EACH, { tlsCertificate: "CERT", tlsPrivateKey: pulumi.secret("KEY") });
        for (const s of rec.ofType("kubernetes:core/v1:Service")) {
            const p = await props<KService>(s);
            assert.ok(p.spec.type === undefined || p.spec.type === "ClusterIP", `${s.name} is ${p.spec.type}`);
            assert.equal(p.spec.externalIPs, undefined);
        }
        const exposed: string[] = [];
        for (const t of await podTemplates(rec)) {
            assert.notEqual(t.spec.hostNetwork, true, `${t.owner.name} uses the host network`);
            for (const c of t.spec.containers)
                for (const port of c.ports ?? []) if (port.hostPort) exposed.push(`${t.owner.name}:${port.hostPort}`);
        }
        assert.deepEqual(exposed, ["w6-gateway:80", "w6-gateway:443"]);
        const [tls, secret] = await valueAndSecret(
            pulumi.output(rec.byName("w6-gateway-tls").props.stringData as pulumi.Input<Record<string, string>>),
        );
        assert.equal(secret, true, "the TLS key stays secret");
        assert.equal(tls["tls.key"], "KEY");
    });

    it("runs the gateway as 2 pods on different nodes, meshed, probed on /healthz, with the rendered conf", async () => {
        const { workloads, rec } = await build("w7", config().services, { keepalive: 128, microCacheSeconds: 1 });
        const d = await props<Deployment>(find(rec, DEPLOYMENT, "w7-gateway"));
        assert.equal(d.spec.replicas, 2);
        assert.deepEqual(d.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution, [
            { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: d.spec.selector.matchLabels } },
        ]);
        assert.equal(d.spec.template.metadata.annotations["linkerd.io/inject"], "enabled");
        assert.equal(d.spec.template.metadata.annotations["config.linkerd.io/skip-inbound-ports"], "8080");
        assert.equal(d.metadata.namespace, "nordstack-gateway");
        const c = d.spec.template.spec.containers[0];
        assert.equal(c.image, "docker.io/library/nginx:1.28.0-alpine");
        assert.deepEqual(c.readinessProbe.httpGet, { path: "/healthz", port: "http" });
        const conf = (await props<ConfigMap>(rec.byName("w7-gateway-conf"))).data["nginx.conf"];
        assert.equal(
            conf,
            renderNginxConf({
                routes: config().services,
                namespace: "nordstack",
                serverNames: ["api.cool-client.no"],
                keepalive: 128,
                microCacheSeconds: 1,
                listenHttp: "8080",
                listenHttps: "8443",
                user: "",
                pidPath: "/tmp/nginx.pid",
            }),
        );
        assert.doesNotMatch(conf, /^user /m, "an unprivileged master has no user to switch to");
        assert.match(conf, /^ {8}listen 8080;$/m);
        assert.match(conf, /server inventory\.nordstack\.svc\.cluster\.local:8080 max_fails=0;/);
        assert.equal(await value(workloads.gateway.conf), conf);
        assert.deepEqual(await value(workloads.endpoints), {
            inventory: { host: "inventory.nordstack.svc.cluster.local", port: 8080 },
            pricing: { host: "pricing.nordstack.svc.cluster.local", port: 8080 },
        });
    });

    it("spreads, meshes and probes every service on its health path", async () => {
        const { rec } = await build("w8");
        for (const svc of config().services) {
            const d = await props<Deployment>(find(rec, DEPLOYMENT, `w8-${svc.name}`));
            const t = d.spec.template;
            assert.equal(d.spec.replicas, 2);
            assert.equal(t.metadata.annotations["linkerd.io/inject"], "enabled");
            assert.deepEqual(t.spec.topologySpreadConstraints, [
                {
                    maxSkew: 1,
                    topologyKey: "kubernetes.io/hostname",
                    whenUnsatisfiable: "ScheduleAnyway",
                    labelSelector: { matchLabels: t.metadata.labels },
                },
            ]);
            const c = t.spec.containers[0];
            for (const probe of ["livenessProbe", "startupProbe"] as const) {
                assert.deepEqual(c[probe].httpGet, { path: "/health", port: "http" }, probe);
            }
            // Readiness is what Consul's catalog sync reports: the article's check, 10 s interval, 1 s timeout, down on the first failure.
            assert.deepEqual(c.readinessProbe.httpGet, { path: "/health", port: "http", scheme: "HTTP" });
            assert.equal(c.readinessProbe.periodSeconds, 10);
            assert.equal(c.readinessProbe.timeoutSeconds, 1);
            assert.equal(c.readinessProbe.failureThreshold, 1);
            assert.equal(c.livenessProbe.periodSeconds, 10);
            assert.equal(c.livenessProbe.timeoutSeconds, 1);
            assert.deepEqual(c.resources, { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } });
            const s = await props<KService>(rec.byName(`w8-${svc.name}-service`));
            assert.deepEqual(s.spec.ports, [{ name: "http", port: 8080, targetPort: "http", protocol: "TCP" }]);
        }
    });

    it("a replaced Service (new ClusterIP) rolls the gateway; adding a service adds only its own objects", async () => {
        const hash = async (name: string) =>
            (await props<Deployment>(find((await build(name)).rec, DEPLOYMENT, `${name}-gateway`))).spec.template.metadata.annotations[
                "nordstack.io/restart-hash"
            ];
        const first = await hash("w9");
        clusterIPs["w9-inventory-service"] = "10.43.7.7";
        const second = await hash("w9");
        delete clusterIPs["w9-inventory-service"];
        assert.notEqual(first, second);

        const two = config().services;
        const three = config({
            services: [
                ...(config().services as unknown[]),
                { name: "search", image: "docker.io/traefik/whoami:v1.10.3", datastores: [{ engine: "redis" }] },
            ],
        }).services;
        const a = (await build("w10", two)).rec.resources.map((r) => `${r.type}::${r.name}`);
        const b = (await build("w10", three)).rec.resources.map((r) => `${r.type}::${r.name}`);
        assert.deepEqual(
            a.filter((x) => !b.includes(x)),
            [],
        );
        assert.deepEqual(
            b
                .filter((x) => !a.includes(x))
                .map((x) => x.split("::")[1])
                .sort(),
            [
                "w10-netpol-search-ingress-egress",
                "w10-search",
                "w10-search",
                "w10-search-redis",
                "w10-search-redis",
                "w10-search-redis-conf",
                "w10-search-redis-credentials",
                "w10-search-redis-password",
                "w10-search-redis-policy",
                "w10-search-redis-service",
                "w10-search-service",
            ],
        );
    });

    it("refuses bad arguments before creating anything, naming the fields", async () => {
        await assert.rejects(build("w11", config().services, { replicas: 1 }), /gateway: replicas 1: the only entry point must survive/);
        await assert.rejects(build("w12", config().services, { serverNames: [] }), /serverNames is empty/);
        await assert.rejects(
            build("w13", config().services, { tlsCertificate: "CERT" }),
            /tlsCertificate and tlsPrivateKey must be set together/,
        );
        const clash = config({
            services: [
                { name: "inventory-postgres", image: "x:1" },
                { name: "inventory", image: "x:1", datastores: [{ engine: "postgres" }] },
            ],
        });
        await assert.rejects(
            build("w14", clash.services),
            /postgres inventory-postgres of inventory and service inventory-postgres are both named "inventory-postgres"/,
        );
        const { Service } = await import("../../components/services/service");
        const provider = new k8s.Provider("w15-k8s", { kubeconfig: "{}" });
        const [inventory] = config().services;
        assert.throws(
            () =>
                new Service("w15", {
                    provider,
                    namespace: "nordstack",
                    service: inventory,
                    datastores: [
                        { engine: "postgres", instance: "inventory-postgres", secretName: "inventory-postgres-credentials" },
                        { engine: "redis", instance: "pricing-redis", secretName: "pricing-redis-credentials" },
                    ],
                }),
            /service inventory was given the credentials of redis "pricing-redis", which it does not own/,
        );
    });
});
