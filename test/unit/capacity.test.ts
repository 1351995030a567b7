// What the enabled layers request of each node (components/host/capacity.ts):
// the arithmetic on the dev stack and its variants, and agreement with the
// requests of the Kubernetes objects the dev stack really renders under mocks.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import {
    cpuMillis,
    K3S_RESERVATION,
    LayerRequests,
    memoryMiB,
    nodeShares,
    platformRequests,
    Requests,
    shareDetail,
} from "../../components/host/capacity";
import { parsePlatformConfig, PlatformConfig } from "../../components/config";
import { devStackRawConfig, RenderedObject, renderDevStack } from "../kube/dev-stack";
import type { Manifest } from "../helpers/kube-apiserver";

const dev = (overrides: Record<string, unknown> = {}) => parsePlatformConfig({ ...devStackRawConfig(), ...overrides });
const byLayer = (layers: LayerRequests[]) => Object.fromEntries(layers.map((l) => [l.layer, l.total]));
const BACKUPS = {
    backups: {
        endpoint: "https://198.51.100.20",
        bucket: "nordstack-dev-backups",
        region: "no-osl-1",
        postgresImage: "registry.example.no/nordstack/postgres-pgbackrest:15.18-2.45",
    },
    backupAccessKeyId: true,
    backupSecretAccessKey: true,
};

describe("Kubernetes quantities", () => {
    it("reads CPU in millicores and memory in MiB, binary and decimal", () => {
        assert.deepEqual(["100m", "1", "1.5", "0.25", ""].map(cpuMillis), [100, 1000, 1500, 250, 0]);
        assert.deepEqual(["128Mi", "1Gi", "1024Ki", String(2 ** 21), ""].map(memoryMiB), [128, 1024, 1, 2, 0]);
        assert.ok(Math.abs(memoryMiB("500M") - 476.837) < 0.001);
        assert.throws(() => cpuMillis("100Mi"), /not a CPU quantity/);
        assert.throws(() => memoryMiB("1GB"), /not a memory quantity/);
    });
});

describe("platformRequests and nodeShares (pure)", () => {
    it("the dev stack (3 nodes, Linkerd HA): every layer's total and each node's share", () => {
        const cfg = dev();
        assert.deepEqual(byLayer(platformRequests(cfg, 3)), {
            "k3s add-ons": { milliCpu: 200, memoryMiB: 140 }, // CoreDNS + metrics-server, 100m / 70Mi each
            // 3 x (destination 100m/50Mi + sp-validator 100m/50Mi + proxy 100m/20Mi
            //      + identity 100m/10Mi + proxy + injector 100m/50Mi + proxy)
            Linkerd: { milliCpu: 2100, memoryMiB: 660 },
            "Linkerd CNI": { milliCpu: 0, memoryMiB: 0 },
            Consul: { milliCpu: 350, memoryMiB: 650 }, // 3 servers 100m/200Mi + catalog sync 50m/50Mi
            services: { milliCpu: 800, memoryMiB: 592 }, // 2 services x 2 replicas x (100m/128Mi + proxy)
            datastores: { milliCpu: 350, memoryMiB: 424 }, // postgres 100m/256Mi + redis 50m/128Mi, a proxy each
            gateway: { milliCpu: 400, memoryMiB: 296 }, // 2 x (100m/128Mi + proxy)
        });
        const shares = nodeShares(cfg, cfg.nodes);
        assert.deepEqual(
            shares.map((s) => [s.node, s.required.milliCpu, s.required.memoryMiB]),
            [
                ["osl-1", 60 + 1400, 1596 + 921], // one server: SQLite; 4200m and 2762 MiB over 3 nodes
                ["osl-2", 30 + 1400, 275 + 921],
                ["osl-3", 30 + 1400, 275 + 921],
            ],
        );
        assert.deepEqual(shareDetail(shares[0]), {
            cpu: "k3s server 60m + platform 4200m / 3 nodes",
            memory: "k3s server 1596 MiB + platform 2762 MiB / 3 nodes",
        });
    });

    it("before any service the dev stack's pods request 2650m and 1450 MiB (k3s itself adds 120m and 2146 MiB)", () => {
        const cfg = dev({ services: [] });
        const layers = platformRequests(cfg, 3);
        assert.deepEqual(
            layers.map((l) => l.layer),
            ["k3s add-ons", "Linkerd", "Linkerd CNI", "Consul"],
        );
        const shares = nodeShares(cfg, cfg.nodes);
        assert.deepEqual(shares[0].platform, { milliCpu: 2650, memoryMiB: 1450 });
        const k3s = shares.reduce((a, s) => ({ milliCpu: a.milliCpu + s.k3s.milliCpu, memoryMiB: a.memoryMiB + s.k3s.memoryMiB }), {
            milliCpu: 0,
            memoryMiB: 0,
        });
        assert.deepEqual(k3s, { milliCpu: 120, memoryMiB: 2146 });
    });

    it("below 3 nodes Linkerd is not HA: its chart's defaults request nothing, proxies included", () => {
        const cfg = dev({ nodes: (devStackRawConfig().nodes as unknown[]).slice(0, 2) });
        const t = byLayer(platformRequests(cfg, 2));
        assert.deepEqual(t.Linkerd, { milliCpu: 0, memoryMiB: 0 });
        assert.deepEqual(t.Consul, { milliCpu: 250, memoryMiB: 450 }); // 2 servers
        assert.deepEqual(t.services, { milliCpu: 400, memoryMiB: 512 });
        assert.deepEqual(t.gateway, { milliCpu: 200, memoryMiB: 256 });
    });

    it("backups add the pgBackRest sidecar to PostgreSQL and one Job pod per datastore", () => {
        const t = byLayer(platformRequests(dev(BACKUPS), 3));
        assert.deepEqual(t.datastores, { milliCpu: 360, memoryMiB: 456 }); // + 10m/32Mi
        // pgBackRest Job 100m/128Mi; Redis: ship 50m/64Mi (its snapshot init container, 50m/32Mi, is smaller)
        assert.deepEqual(t.backups, { milliCpu: 150, memoryMiB: 192 });
    });

    it("several servers run embedded etcd and reserve more; k3s off checks nothing", () => {
        const raw = devStackRawConfig();
        const nodes = (raw.nodes as Record<string, unknown>[]).map((n) => ({ ...n, role: "server" }));
        const shares = nodeShares(dev({ nodes }), dev({ nodes }).nodes);
        assert.deepEqual(
            shares.map((s) => s.k3s),
            [K3S_RESERVATION["server-etcd"], K3S_RESERVATION["server-etcd"], K3S_RESERVATION["server-etcd"]],
        );
        const off = dev({ k3sEnabled: "false" });
        assert.deepEqual(platformRequests(off, 3), []);
        assert.deepEqual(nodeShares(off, off.nodes), []);
    });

    it("a single node carries everything, rounded up", () => {
        // One node cannot run the gateway's two replicas, so no services here.
        const cfg = dev({ nodes: (devStackRawConfig().nodes as unknown[]).slice(0, 1), services: [] });
        const [s] = nodeShares(cfg, cfg.nodes);
        assert.equal(s.nodeCount, 1);
        assert.deepEqual(s.required, {
            milliCpu: Math.ceil(60 + s.platform.milliCpu),
            memoryMiB: Math.ceil(1596 + s.platform.memoryMiB),
        });
        assert.equal(shareDetail(s).cpu, `k3s server 60m + platform ${s.platform.milliCpu}m / 1 node`);
    });
});

// --- agreement with the rendered objects -------------------------------------------------------

type Container = { resources?: { requests?: { cpu?: string; memory?: string } } };
type PodSpec = { containers?: Container[]; initContainers?: Container[] };
type PodTemplate = { metadata?: { annotations?: Record<string, string> }; spec?: PodSpec };

function containerRequests(c: Container): Requests {
    return { milliCpu: cpuMillis(c.resources?.requests?.cpu ?? ""), memoryMiB: memoryMiB(c.resources?.requests?.memory ?? "") };
}

/** What the scheduler counts for a pod: its containers' sum, or its largest init container if that is larger. */
function podRequests(spec: PodSpec): Requests {
    const sum = (spec.containers ?? []).map(containerRequests).reduce(add, { milliCpu: 0, memoryMiB: 0 });
    return (spec.initContainers ?? [])
        .map(containerRequests)
        .reduce((a, i) => ({ milliCpu: Math.max(a.milliCpu, i.milliCpu), memoryMiB: Math.max(a.memoryMiB, i.memoryMiB) }), sum);
}
const add = (a: Requests, b: Requests): Requests => ({ milliCpu: a.milliCpu + b.milliCpu, memoryMiB: a.memoryMiB + b.memoryMiB });
const scale = (a: Requests, n: number): Requests => ({ milliCpu: a.milliCpu * n, memoryMiB: a.memoryMiB * n });

interface Workload {
    kind: string;
    name: string;
    namespace: string;
    replicas: number;
    pod: Requests;
}

/** Every pod-making object with its requests, a Linkerd proxy added where the injector would add one. */
function workloads(objects: RenderedObject[], proxy: Requests): Workload[] {
    // A patch changes an object someone else made (k3s's CoreDNS, counted as a k3s add-on); checked below.
    const manifests = objects
        .filter((o) => !o.patch)
        .map((o) => o.manifest)
        .filter((m): m is Manifest => m !== undefined);
    const nsInject = new Map(
        manifests
            .filter((m) => m.kind === "Namespace")
            .map((m) => [m.metadata.name, (m.metadata as { annotations?: Record<string, string> }).annotations?.["linkerd.io/inject"]]),
    );
    const out: Workload[] = [];
    for (const m of manifests) {
        const spec = (m as unknown as { spec?: Record<string, unknown> }).spec ?? {};
        let template: PodTemplate | undefined;
        if (["Deployment", "StatefulSet", "DaemonSet", "Job"].includes(m.kind)) template = spec.template as PodTemplate;
        if (m.kind === "CronJob") template = (spec.jobTemplate as { spec: { template: PodTemplate } }).spec.template;
        if (m.kind === "Pod") template = { metadata: m.metadata as PodTemplate["metadata"], spec: spec as PodSpec };
        if (!template) continue;
        const namespace = String(m.metadata.namespace);
        const podInject = template.metadata?.annotations?.["linkerd.io/inject"];
        const meshed = podInject === "enabled" || (podInject === undefined && nsInject.get(namespace) === "enabled");
        const own = podRequests(template.spec ?? {});
        out.push({
            kind: m.kind,
            name: String(m.metadata.name),
            namespace,
            replicas: m.kind === "Deployment" || m.kind === "StatefulSet" ? Number(spec.replicas ?? 1) : 1,
            pod: meshed ? add(own, proxy) : own,
        });
    }
    return out;
}

type LinkerdResources = { cpu?: { request?: string }; memory?: { request?: string } } | undefined;
/** A Linkerd values resource block; absent keys are the chart's defaults, which request nothing. */
const linkerdReq = (r: LinkerdResources): Requests => ({
    milliCpu: cpuMillis(r?.cpu?.request ?? ""),
    memoryMiB: memoryMiB(r?.memory?.request ?? ""),
});

function release(objects: RenderedObject[], chart: string): Record<string, unknown> {
    // `oci://registry/charts/<name>` with the dev stack's chart mirror, else the name.
    const r = objects.find((o) => o.chart === chart || o.chart?.endsWith(`/${chart}`));
    assert.ok(r?.values, `no Helm release of ${chart}`);
    return r.values;
}

function checkAgainstRendered(cfg: PlatformConfig, objects: RenderedObject[]): void {
    const layers = platformRequests(cfg, cfg.nodes.length);
    const t = byLayer(layers);
    const cp = release(objects, "linkerd-control-plane") as {
        controllerReplicas?: number;
        proxy?: { resources?: LinkerdResources };
        destinationResources?: LinkerdResources;
        spValidatorResources?: LinkerdResources;
        identityResources?: LinkerdResources;
        proxyInjectorResources?: LinkerdResources;
    };
    // The proxy every injected pod gets: the values' proxy.resources (the chart's default requests nothing).
    const proxy = linkerdReq(cp.proxy?.resources);
    const replicas = cp.controllerReplicas ?? 1; // the chart's default controllerReplicas
    const linkerd = scale(
        [
            add(add(linkerdReq(cp.destinationResources), linkerdReq(cp.spValidatorResources)), proxy),
            add(linkerdReq(cp.identityResources), proxy),
            add(linkerdReq(cp.proxyInjectorResources), proxy),
        ].reduce(add),
        replicas,
    );
    assert.deepEqual(t.Linkerd, linkerd, "Linkerd: the values passed to linkerd-control-plane");
    assert.equal(release(objects, "linkerd2-cni").resources, undefined, "linkerd2-cni keeps the chart's (empty) requests");
    assert.deepEqual(t["Linkerd CNI"], { milliCpu: 0, memoryMiB: 0 });

    const consul = release(objects, "consul") as {
        server: { replicas: number; resources?: unknown };
        syncCatalog: { resources?: unknown };
    };
    // We pass no resources: the chart's defaults (100m/200Mi per server, 50m/50Mi for the one sync pod) apply.
    assert.equal(consul.server.resources, undefined);
    assert.equal(consul.syncCatalog.resources, undefined);
    assert.deepEqual(t.Consul, add(scale({ milliCpu: 100, memoryMiB: 200 }, consul.server.replicas), { milliCpu: 50, memoryMiB: 50 }));

    const patched = objects
        .filter((o) => o.patch && o.manifest)
        .map((o) => `${o.manifest?.kind} ${o.manifest?.metadata.namespace}/${o.manifest?.metadata.name}`);
    assert.deepEqual(patched, ["Deployment kube-system/coredns"]);
    assert.ok(layers.some((l) => l.layer === "k3s add-ons" && l.pods.some((p) => p.what === "coredns")));
    const ws = workloads(objects, proxy);
    const total = (f: (w: Workload) => boolean) =>
        ws.filter(f).reduce((a, w) => add(a, scale(w.pod, w.replicas)), { milliCpu: 0, memoryMiB: 0 } as Requests);
    // Every pod the stack makes lives in a namespace counted below: a new one cannot be forgotten.
    assert.deepEqual([...new Set(ws.map((w) => w.namespace))].sort(), ["nordstack", "nordstack-gateway", "nordstack-smoke"]);
    for (const s of cfg.services) {
        const d = ws.find((w) => w.kind === "Deployment" && w.name === s.name && w.namespace === "nordstack");
        assert.ok(d, `Deployment ${s.name}`);
        const entry = layers.find((l) => l.layer === "services")?.pods.find((p) => p.what === s.name);
        assert.deepEqual(scale(d.pod, d.replicas), entry && scale(entry.perPod, entry.count), `service ${s.name}`);
    }
    const longRunning = (w: Workload) => w.kind !== "Job" && w.kind !== "CronJob";
    assert.deepEqual(
        total((w) => w.namespace === "nordstack" && longRunning(w)),
        add(t.services, t.datastores),
    );
    assert.deepEqual(
        total((w) => w.namespace === "nordstack-gateway"),
        t.gateway,
    );
    // The overlay smoke test's server and client set no requests.
    assert.deepEqual(
        total((w) => w.namespace === "nordstack-smoke"),
        { milliCpu: 0, memoryMiB: 0 },
    );
    const cron = total((w) => w.kind === "CronJob");
    assert.deepEqual(cron, t.backups ?? { milliCpu: 0, memoryMiB: 0 });
    // PostgreSQL's first backup Job (once, at install) runs the same pod as its CronJob.
    const cronPods = ws.filter((w) => w.kind === "CronJob").map((w) => w.pod);
    for (const j of ws.filter((w) => w.kind === "Job" && w.namespace === "nordstack")) {
        assert.ok(
            cronPods.some((p) => p.milliCpu === j.pod.milliCpu && p.memoryMiB === j.pod.memoryMiB),
            `${j.name} is no CronJob's pod`,
        );
    }
}

describe("capacity agrees with what the dev stack renders (mocks)", () => {
    it("the dev stack as configured", async () => {
        checkAgainstRendered(dev(), await renderDevStack());
    });

    it("with backups on", async () => {
        const keys = { backupAccessKeyId: pulumi.secret("AKIDTEST"), backupSecretAccessKey: pulumi.secret("s3cr3t-key-0123456789") };
        checkAgainstRendered(dev(BACKUPS), await renderDevStack(BACKUPS, keys));
    });

    it("on two nodes (Linkerd without HA)", async () => {
        const nodes = (devStackRawConfig().nodes as unknown[]).slice(0, 2);
        checkAgainstRendered(dev({ nodes }), await renderDevStack({ nodes }));
    });
});
