// Every Kubernetes object the dev stack renders, validated by a real
// kube-apiserver (test/helpers/kube-apiserver.ts): server-side dry-run with
// strict field validation, then created for real, each original namespace
// mapped to a throwaway one. Then the cross-object wiring is checked against
// what the server stored: a Pod made from each workload's template (as its
// controller would make it) must be accepted, and Services, NetworkPolicies,
// PodDisruptionBudgets and affinities must select those Pods (the server
// evaluates the selectors), target ports and probe ports must name ports the
// containers have, and referenced Secrets, ConfigMaps and Services must exist.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { KubeApiServer, KubeResponse, Manifest, RefusedObject, serverMessage } from "../helpers/kube-apiserver";
import { RenderedObject, renderDevStack } from "./dev-stack";

const IS_ROOT = process.getuid?.() === 0;
/** Linkerd's proxy inbound port: meshed pods listen on it besides their own ports. */
const LINKERD_PROXY_INBOUND_PORT = 4143;
const RUN = randomBytes(2).toString("hex");

/** Objects the dev stack patches but does not create, as the cluster has them (reduced to what validation needs). */
const PATCH_TARGETS: Record<string, Manifest> = {
    // k3s's packaged CoreDNS.
    "apps/v1/Deployment/kube-system/coredns": {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "coredns", namespace: "kube-system", labels: { "k8s-app": "kube-dns" } },
        spec: {
            selector: { matchLabels: { "k8s-app": "kube-dns" } },
            template: {
                metadata: { labels: { "k8s-app": "kube-dns" } },
                spec: {
                    containers: [
                        { name: "coredns", image: "rancher/mirrored-coredns-coredns:1.12.0", args: ["-conf", "/etc/coredns/Corefile"] },
                    ],
                },
            },
        },
    },
};

type Obj = Record<string, unknown>;
type Selector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
interface Container {
    name: string;
    ports?: { name?: string; containerPort: number; protocol?: string }[];
    env?: { name: string; value?: string; valueFrom?: Obj }[];
    envFrom?: { secretRef?: { name: string; optional?: boolean }; configMapRef?: { name: string; optional?: boolean } }[];
    livenessProbe?: Obj;
    readinessProbe?: Obj;
    startupProbe?: Obj;
}
interface PodSpec {
    containers: Container[];
    initContainers?: Container[];
    volumes?: {
        name: string;
        secret?: { secretName: string; items?: { key: string }[]; optional?: boolean };
        configMap?: { name: string; items?: { key: string }[]; optional?: boolean };
    }[];
    affinity?: { podAntiAffinity?: Obj; podAffinity?: Obj };
    topologySpreadConstraints?: { labelSelector?: Selector }[];
}
interface PodTemplate {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    spec: PodSpec;
}

/** A label selector as the API's `labelSelector` query parameter. */
export function selectorQuery(s: Selector): string {
    const parts = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
    for (const e of s.matchExpressions ?? []) {
        const vals = (e.values ?? []).join(",");
        if (e.operator === "In") parts.push(`${e.key} in (${vals})`);
        else if (e.operator === "NotIn") parts.push(`${e.key} notin (${vals})`);
        else if (e.operator === "Exists") parts.push(e.key);
        else if (e.operator === "DoesNotExist") parts.push(`!${e.key}`);
        else throw new Error(`unknown selector operator ${e.operator}`);
    }
    return parts.join(",");
}

/** The pod template of a workload, and what its controller adds to the Pods it makes. */
function podTemplateOf(
    m: Manifest,
): { template: PodTemplate; extraLabels: Record<string, string>; extraVolumes: Obj[]; extraSpec: Obj } | undefined {
    const spec = (m.spec ?? {}) as Obj;
    const name = m.metadata.name ?? "";
    switch (m.kind) {
        case "Deployment":
        case "ReplicaSet":
        case "DaemonSet":
            return { template: spec.template as PodTemplate, extraLabels: {}, extraVolumes: [], extraSpec: {} };
        case "StatefulSet": {
            const claims = (spec.volumeClaimTemplates ?? []) as { metadata: { name: string } }[];
            return {
                template: spec.template as PodTemplate,
                extraLabels: { "statefulset.kubernetes.io/pod-name": `${name}-0` },
                extraVolumes: claims.map((c) => ({
                    name: c.metadata.name,
                    persistentVolumeClaim: { claimName: `${c.metadata.name}-${name}-0` },
                })),
                extraSpec: { hostname: `${name}-0`, subdomain: spec.serviceName },
            };
        }
        case "Job":
            return {
                template: spec.template as PodTemplate,
                extraLabels: { "batch.kubernetes.io/job-name": name, "job-name": name },
                extraVolumes: [],
                extraSpec: {},
            };
        case "CronJob": {
            const job = ((spec.jobTemplate ?? {}) as { spec: { template: PodTemplate } }).spec;
            return { template: job.template, extraLabels: {}, extraVolumes: [], extraSpec: {} };
        }
        default:
            return undefined;
    }
}

function probePorts(c: Container): { probe: string; port: string | number }[] {
    const out: { probe: string; port: string | number }[] = [];
    for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"] as const) {
        const p = c[probe] as
            | { httpGet?: { port: string | number }; tcpSocket?: { port: string | number }; grpc?: { port: number } }
            | undefined;
        const port = p?.httpGet?.port ?? p?.tcpSocket?.port ?? p?.grpc?.port;
        if (port !== undefined) out.push({ probe, port });
    }
    return out;
}

/** Every `<service>.<namespace>.svc.cluster.local[:port]` named in a string. */
function serviceNames(text: string): { service: string; namespace: string; port?: number }[] {
    return [...text.matchAll(/\b([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc\.cluster\.local(?::(\d+))?/g)].map(
        (m) => ({
            service: m[1],
            namespace: m[3],
            port: m[5] ? Number(m[5]) : undefined,
        }),
    );
}

describe(
    "dev stack objects on a real kube-apiserver",
    { skip: IS_ROOT ? false : "needs root, as in CI (npm test as root builds kube-apiserver and installs etcd-server)" },
    () => {
        let api: KubeApiServer;
        let objects: RenderedObject[];
        /** Original namespace -> the throwaway one it is created in. */
        const nsMap = new Map<string, string>();
        /** Created objects, as the server returned them, with the rendered object they came from. */
        const created: { from: RenderedObject; stored: Manifest }[] = [];
        const mapNs = (ns: string) => {
            let t = nsMap.get(ns);
            if (!t) nsMap.set(ns, (t = `${ns.slice(0, 50)}-t${RUN}`));
            return t;
        };
        const ensureNamespace = async (name: string, labels: Record<string, string> = {}) => {
            const r = await api.request("GET", `/api/v1/namespaces/${name}`);
            if (r.status === 200) return;
            const c = await api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
            assert.equal(c.status, 201, `throwaway namespace ${name}: ${serverMessage(c)}`);
        };
        /** What a controller-manager would add to a namespace: the `default` ServiceAccount Pods run as. */
        const ensureDefaultServiceAccount = async (ns: string) => {
            const r = await api.request("GET", `/api/v1/namespaces/${ns}/serviceaccounts/default`);
            if (r.status === 200) return;
            const c = await api.create({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace: ns } });
            assert.equal(c.status, 201, `ServiceAccount default in ${ns}: ${serverMessage(c)}`);
        };

        before(
            async () => {
                const missing = KubeApiServer.missing();
                if (missing) throw new Error(missing);
                objects = await renderDevStack();
                api = await KubeApiServer.start();
            },
            { timeout: 600_000 },
        );
        after(async () => {
            await api?.stop();
        });

        it("is a real v1.31 API server on 127.0.0.1", async () => {
            const v = await api.request("GET", "/version");
            assert.equal(v.status, 200);
            assert.match(String(v.body.gitVersion), /^v1\.31\.\d+$/);
            const ready = await api.request("GET", "/readyz?verbose");
            assert.equal(ready.status, 200);
        });

        it(
            "every rendered object passes server-side dry-run with strict field validation, then is created",
            { timeout: 300_000 },
            async (t) => {
                const failures: string[] = [];
                const skipped: string[] = [];
                const warnings: string[] = [];
                let validated = 0;
                const record = (o: RenderedObject, step: string, r: KubeResponse, want: number[]) => {
                    for (const w of r.warnings) warnings.push(`${o.name} (${step}): ${w}`);
                    if (want.includes(r.status)) return true;
                    failures.push(`${o.name} (${o.manifest?.kind} ${o.manifest?.metadata.name}) ${step}: ${serverMessage(r)}`);
                    return false;
                };
                // CRDs our stack defines go first, so objects of their kinds can follow; then Namespaces.
                const rank = (o: RenderedObject) => ({ CustomResourceDefinition: 0, Namespace: 1 })[o.manifest?.kind ?? ""] ?? 2;
                const ordered = [...objects].sort((a, b) => rank(a) - rank(b));
                for (const o of ordered) {
                    if (o.skipped || !o.manifest) {
                        skipped.push(`${o.type} ${o.name}: ${o.skipped}`);
                        continue;
                    }
                    const m = structuredClone(o.manifest);
                    const res = await api.resourceFor(m.apiVersion, m.kind);
                    if (!res) {
                        skipped.push(
                            `${o.type} ${o.name}: ${m.apiVersion} ${m.kind} is a custom resource whose CRD our stack does not define (a chart installs it)`,
                        );
                        continue;
                    }
                    try {
                        if (m.kind === "Namespace") {
                            m.metadata.name = mapNs(m.metadata.name ?? "");
                        } else if (res.namespaced) {
                            const ns = mapNs(m.metadata.namespace ?? "default");
                            m.metadata.namespace = ns;
                            await ensureNamespace(ns);
                        }
                        if (o.patch) {
                            const key = `${m.apiVersion}/${m.kind}/${o.manifest.metadata.namespace}/${m.metadata.name}`;
                            const target = PATCH_TARGETS[key];
                            if (!target) {
                                failures.push(
                                    `${o.name}: patches ${key}, which no stand-in in this test provides; add it to PATCH_TARGETS`,
                                );
                                continue;
                            }
                            const standIn = structuredClone(target);
                            standIn.metadata.namespace = m.metadata.namespace;
                            if (!record(o, "create the object it patches", await api.create(standIn), [201])) continue;
                            if (!record(o, "server-side apply, dry-run", await api.apply(m, "pulumi-kubernetes", { dryRun: true }), [200]))
                                continue;
                            validated++;
                            if (!record(o, "server-side apply", await api.apply(m, "pulumi-kubernetes"), [200])) continue;
                            const got = await api.request("GET", `${res.path(m.metadata.namespace)}/${m.metadata.name}`);
                            const want = ((m.spec as Obj | undefined)?.template as PodTemplate | undefined)?.metadata?.annotations ?? {};
                            const have = (got.body.spec as { template: PodTemplate }).template.metadata?.annotations ?? {};
                            for (const [k, v] of Object.entries(want)) {
                                if (have[k] !== v)
                                    failures.push(`${o.name}: after the patch, template annotation ${k} is ${have[k]}, not ${v}`);
                            }
                            created.push({ from: o, stored: got.body as Manifest });
                            continue;
                        }
                        if (!record(o, "dry-run create", await api.create(m, { dryRun: true }), [200, 201])) continue;
                        validated++;
                        const r = await api.create(m);
                        if (!record(o, "create", r, [201])) continue;
                        created.push({ from: o, stored: r.body as Manifest });
                        if (m.kind === "CustomResourceDefinition") await waitEstablished(api, m.metadata.name ?? "");
                    } catch (e) {
                        if (e instanceof RefusedObject) failures.push(`${o.name}: ${e.message}`);
                        else throw e;
                    }
                }
                t.diagnostic(`${validated} objects validated (dry-run), ${created.length} created in ${[...nsMap.values()].join(", ")}`);
                for (const s of skipped) t.diagnostic(`skipped: ${s}`);
                for (const w of warnings) t.diagnostic(`server warning: ${w}`);
                assert.deepEqual(failures, [], `the API server refused objects:\n  - ${failures.join("\n  - ")}`);
                assert.ok(validated >= 20, `only ${validated} objects validated`);
                assert.equal(
                    created.length,
                    objects.filter((o) => o.manifest).length - skipped.filter((s) => s.includes("custom resource")).length,
                );
            },
        );

        it(
            "workload templates make valid Pods, and selectors, ports and references resolve on the server",
            { timeout: 300_000 },
            async (t) => {
                assert.ok(created.length > 0, "the previous test created nothing");
                const problems: string[] = [];
                const get = (p: string) => api.request("GET", p);
                const podsMatching = async (ns: string, sel: Selector) => {
                    const r = await get(`/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selectorQuery(sel))}`);
                    assert.equal(r.status, 200, serverMessage(r));
                    return (r.body.items ?? []) as { metadata: { name: string; annotations?: Record<string, string> }; spec: PodSpec }[];
                };
                const workloads = created.filter((c) => c.from.manifest && podTemplateOf(c.stored) && !c.from.patch);

                // 1. A Pod per workload, as its controller would make it (no controllers run here).
                const psaNs = mapNs("pod-security-restricted");
                await ensureNamespace(psaNs, {
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/warn-version": "v1.31",
                });
                await ensureDefaultServiceAccount(psaNs);
                let pods = 0;
                for (const { from, stored } of workloads) {
                    const ns = stored.metadata.namespace ?? "";
                    await ensureDefaultServiceAccount(ns);
                    const { template, extraLabels, extraVolumes, extraSpec } = podTemplateOf(stored)!;
                    const pod: Manifest = {
                        apiVersion: "v1",
                        kind: "Pod",
                        metadata: {
                            name: `${stored.metadata.name}-pod`.slice(0, 63),
                            namespace: ns,
                            labels: { ...(template.metadata?.labels ?? {}), ...extraLabels },
                            annotations: {
                                ...(template.metadata?.annotations ?? {}),
                                "nordstack.io/from": `${stored.kind}/${stored.metadata.name}`,
                            },
                        },
                        spec: { ...template.spec, ...extraSpec, volumes: [...(template.spec.volumes ?? []), ...extraVolumes] },
                    };
                    const r = await api.create(pod);
                    if (r.status !== 201) problems.push(`${from.name}: its pod template is not a valid Pod: ${serverMessage(r)}`);
                    else pods++;
                    // For information only (k3s admits everything by default): what Pod Security "restricted" would say.
                    const psa = await api.create({ ...pod, metadata: { ...pod.metadata, namespace: psaNs } }, { dryRun: true });
                    for (const w of psa.warnings) t.diagnostic(`Pod Security restricted, ${stored.kind} ${stored.metadata.name}: ${w}`);
                }
                t.diagnostic(`${pods} Pods created from ${workloads.length} workload templates`);

                // 2. What selects Pods selects some, and names ports they have.
                for (const { from, stored } of created) {
                    const ns = stored.metadata.namespace ?? "";
                    const spec = (stored.spec ?? {}) as Obj;
                    const where = `${from.name} (${stored.kind} ${stored.metadata.name})`;
                    if (stored.kind === "Service" && spec.selector) {
                        const selected = await podsMatching(ns, { matchLabels: spec.selector as Record<string, string> });
                        if (selected.length === 0) {
                            problems.push(`${where}: selector ${JSON.stringify(spec.selector)} matches no workload's pods`);
                            continue;
                        }
                        for (const p of (spec.ports ?? []) as {
                            name?: string;
                            port: number;
                            targetPort?: string | number;
                            protocol?: string;
                        }[]) {
                            const target = p.targetPort ?? p.port;
                            const ok = selected.some((pod) =>
                                pod.spec.containers.some((c) =>
                                    (c.ports ?? []).some(
                                        (cp) =>
                                            (typeof target === "string" ? cp.name === target : cp.containerPort === target) &&
                                            (cp.protocol ?? "TCP") === (p.protocol ?? "TCP"),
                                    ),
                                ),
                            );
                            if (!ok)
                                problems.push(
                                    `${where}: port ${p.name ?? p.port} targets ${target}, which no container of ${selected.map((x) => x.metadata.name).join(", ")} declares`,
                                );
                        }
                    }
                    if (stored.kind === "NetworkPolicy") {
                        const selected = await podsMatching(ns, spec.podSelector as Selector);
                        if (selected.length === 0) problems.push(`${where}: podSelector matches no workload's pods`);
                        const meshed = selected.some((pod) => pod.metadata.annotations?.["linkerd.io/inject"] === "enabled");
                        for (const rule of (spec.ingress ?? []) as {
                            from?: { podSelector?: Selector; namespaceSelector?: Selector }[];
                            ports?: { port?: number | string }[];
                        }[]) {
                            for (const peer of rule.from ?? []) {
                                if (
                                    peer.podSelector &&
                                    !peer.namespaceSelector &&
                                    (await podsMatching(ns, peer.podSelector)).length === 0
                                ) {
                                    problems.push(`${where}: ingress from ${JSON.stringify(peer.podSelector)} matches no workload's pods`);
                                }
                            }
                            for (const { port } of rule.ports ?? []) {
                                if (port === undefined || (meshed && port === LINKERD_PROXY_INBOUND_PORT)) continue;
                                const ok = selected.some((pod) =>
                                    pod.spec.containers.some((c) =>
                                        (c.ports ?? []).some((cp) =>
                                            typeof port === "string" ? cp.name === port : cp.containerPort === port,
                                        ),
                                    ),
                                );
                                if (!ok) problems.push(`${where}: allows port ${port}, which no selected container declares`);
                            }
                        }
                    }
                    if (stored.kind === "PodDisruptionBudget" && (await podsMatching(ns, spec.selector as Selector)).length === 0) {
                        problems.push(`${where}: selector matches no workload's pods`);
                    }
                    const tpl = podTemplateOf(stored)?.template;
                    if (!tpl || from.patch) continue;
                    // Affinity and spread selectors of a workload are about its own pods.
                    const pa = (tpl.spec.affinity?.podAntiAffinity ?? {}) as {
                        requiredDuringSchedulingIgnoredDuringExecution?: { labelSelector?: Selector }[];
                        preferredDuringSchedulingIgnoredDuringExecution?: { podAffinityTerm: { labelSelector?: Selector } }[];
                    };
                    const selectors = [
                        ...(pa.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((x) => x.labelSelector),
                        ...(pa.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((x) => x.podAffinityTerm.labelSelector),
                        ...(tpl.spec.topologySpreadConstraints ?? []).map((x) => x.labelSelector),
                    ].filter((s): s is Selector => s !== undefined);
                    for (const s of selectors) {
                        if ((await podsMatching(ns, s)).length === 0)
                            problems.push(`${where}: affinity/spread selector ${JSON.stringify(s)} matches no pods`);
                    }
                    if (stored.kind === "StatefulSet") {
                        const svc = await get(`/api/v1/namespaces/${ns}/services/${String(spec.serviceName)}`);
                        if (svc.status !== 200)
                            problems.push(`${where}: serviceName ${String(spec.serviceName)} is not a Service of the stack`);
                        else if ((svc.body.spec as Obj).clusterIP !== "None")
                            problems.push(`${where}: serviceName ${String(spec.serviceName)} is not headless`);
                    }
                    // 3. Probe ports name ports of their container; referenced Secrets/ConfigMaps and their keys exist.
                    for (const c of [...(tpl.spec.initContainers ?? []), ...tpl.spec.containers]) {
                        for (const { probe, port } of probePorts(c)) {
                            if (typeof port === "string" && !(c.ports ?? []).some((cp) => cp.name === port)) {
                                problems.push(
                                    `${where}: container ${c.name} ${probe} uses port "${port}", which the container does not declare`,
                                );
                            }
                        }
                        const refs: { kind: "secrets" | "configmaps"; name: string; key?: string; what: string }[] = [];
                        for (const e of c.env ?? []) {
                            const s = e.valueFrom?.secretKeyRef as { name: string; key: string; optional?: boolean } | undefined;
                            const cm = e.valueFrom?.configMapKeyRef as { name: string; key: string; optional?: boolean } | undefined;
                            if (s && !s.optional) refs.push({ kind: "secrets", name: s.name, key: s.key, what: `env ${e.name}` });
                            if (cm && !cm.optional) refs.push({ kind: "configmaps", name: cm.name, key: cm.key, what: `env ${e.name}` });
                        }
                        for (const e of c.envFrom ?? []) {
                            if (e.secretRef && !e.secretRef.optional)
                                refs.push({ kind: "secrets", name: e.secretRef.name, what: "envFrom" });
                            if (e.configMapRef && !e.configMapRef.optional)
                                refs.push({ kind: "configmaps", name: e.configMapRef.name, what: "envFrom" });
                        }
                        for (const v of tpl.spec.volumes ?? []) {
                            if (v.secret && !v.secret.optional) {
                                for (const key of v.secret.items?.map((i) => i.key) ?? [undefined])
                                    refs.push({ kind: "secrets", name: v.secret.secretName, key, what: `volume ${v.name}` });
                            }
                            if (v.configMap && !v.configMap.optional) {
                                for (const key of v.configMap.items?.map((i) => i.key) ?? [undefined])
                                    refs.push({ kind: "configmaps", name: v.configMap.name, key, what: `volume ${v.name}` });
                            }
                        }
                        for (const ref of refs) {
                            const r = await get(`/api/v1/namespaces/${ns}/${ref.kind}/${ref.name}`);
                            if (r.status !== 200)
                                problems.push(`${where}: ${ref.what} needs ${ref.kind} ${ref.name}, which the stack does not create`);
                            else if (ref.key && !(ref.key in ((r.body.data ?? {}) as Obj)))
                                problems.push(
                                    `${where}: ${ref.what} needs key ${ref.key} of ${ref.kind} ${ref.name}, which it does not have`,
                                );
                        }
                    }
                }

                // 4. Service DNS names in config, secrets and env name Services of the stack, on a port they expose.
                // Services in a Helm release's namespace come from its chart, which is not rendered here.
                const helmNamespaces = new Set(objects.flatMap((o) => (o.releaseNamespace ? [o.releaseNamespace] : [])));
                let names = 0;
                for (const { from, stored } of created) {
                    const texts: string[] = [];
                    if (stored.kind === "ConfigMap") texts.push(...Object.values((stored.data ?? {}) as Record<string, string>));
                    if (stored.kind === "Secret")
                        texts.push(
                            ...Object.values((stored.data ?? {}) as Record<string, string>).map((b) =>
                                Buffer.from(b, "base64").toString("utf8"),
                            ),
                        );
                    const tpl = podTemplateOf(stored)?.template;
                    for (const c of tpl?.spec.containers ?? []) texts.push(...(c.env ?? []).map((e) => e.value ?? ""));
                    for (const ref of texts.flatMap(serviceNames)) {
                        names++;
                        if (helmNamespaces.has(ref.namespace)) continue;
                        const ns = nsMap.get(ref.namespace);
                        const svc = ns ? await get(`/api/v1/namespaces/${ns}/services/${ref.service}`) : undefined;
                        if (!svc || svc.status !== 200) {
                            problems.push(
                                `${from.name} (${stored.kind} ${stored.metadata.name}): names ${ref.service}.${ref.namespace}.svc.cluster.local, which is not a Service of the stack`,
                            );
                        } else if (
                            ref.port !== undefined &&
                            !((svc.body.spec as Obj).ports as { port: number }[]).some((p) => p.port === ref.port)
                        ) {
                            problems.push(
                                `${from.name} (${stored.kind} ${stored.metadata.name}): names ${ref.service}.${ref.namespace}:${ref.port}, a port that Service does not expose`,
                            );
                        }
                    }
                }
                t.diagnostic(`${names} Service DNS names checked`);
                assert.deepEqual(problems, [], `wiring problems:\n  - ${problems.join("\n  - ")}`);
                assert.ok(pods >= 5, `only ${pods} pods made from templates`);
            },
        );

        it("strict field validation is real: unknown fields are refused, the same object without them is accepted", async () => {
            const ns = mapNs("negative");
            await ensureNamespace(ns);
            const cm: Manifest = {
                apiVersion: "v1",
                kind: "ConfigMap",
                metadata: { name: "strict-check", namespace: ns },
                data: { a: "b" },
            };
            const bad = await api.create({ ...cm, bogusField: "x" }, { dryRun: true });
            assert.equal(bad.status, 400, serverMessage(bad));
            assert.match(serverMessage(bad), /unknown field "bogusField"/);
            const deployment: Manifest = {
                apiVersion: "apps/v1",
                kind: "Deployment",
                metadata: { name: "strict-check", namespace: ns },
                spec: {
                    selector: { matchLabels: { app: "x" } },
                    template: {
                        metadata: { labels: { app: "x" } },
                        spec: { containers: [{ name: "c", image: "busybox", imagePullPolice: "Always" }] },
                    },
                },
            };
            const typo = await api.create(deployment, { dryRun: true });
            assert.equal(typo.status, 400, serverMessage(typo));
            assert.match(serverMessage(typo), /unknown field "spec\.template\.spec\.containers\[0\]\.imagePullPolice"/);
            const fixed = structuredClone(deployment) as { spec: { template: { spec: { containers: Obj[] } } } } & Manifest;
            delete fixed.spec.template.spec.containers[0].imagePullPolice;
            const ok = await api.create(fixed, { dryRun: true });
            assert.equal(ok.status, 201, serverMessage(ok));
            assert.equal((await api.create(cm, { dryRun: true })).status, 201);
            // And the server's own validation, not only the schema: a selector that misses the template's labels.
            const mismatch = structuredClone(fixed) as unknown as { spec: { selector: Selector } } & Manifest;
            mismatch.spec.selector = { matchLabels: { app: "y" } };
            const sel = await api.create(mismatch, { dryRun: true });
            assert.equal(sel.status, 422, serverMessage(sel));
            assert.match(serverMessage(sel), /selector.*does not match template `labels`/);
        });

        it("the harness refuses webhook configurations and APIServices, and says why, before sending them", async () => {
            const hook = { name: "x.nordstack.io", admissionReviewVersions: ["v1"], sideEffects: "None" };
            const refused: [Manifest, RegExp][] = [
                [
                    {
                        apiVersion: "admissionregistration.k8s.io/v1",
                        kind: "ValidatingWebhookConfiguration",
                        metadata: { name: "refused-validating" },
                        webhooks: [
                            { ...hook, clientConfig: { service: { namespace: "linkerd", name: "linkerd-sp-validator", port: 443 } } },
                        ],
                    },
                    /admission webhook: the API server would call x\.nordstack\.io: the Service linkerd-sp-validator\.linkerd\.svc:443 .*this machine's resolver and connecting off the machine/,
                ],
                [
                    {
                        apiVersion: "admissionregistration.k8s.io/v1",
                        kind: "MutatingWebhookConfiguration",
                        metadata: { name: "refused-mutating" },
                        webhooks: [{ ...hook, clientConfig: { url: "https://injector.example.net/inject" } }],
                    },
                    /admission webhook: .*the URL https:\/\/injector\.example\.net\/inject/,
                ],
                [
                    {
                        apiVersion: "apiregistration.k8s.io/v1",
                        kind: "APIService",
                        metadata: { name: "v1beta1.metrics.k8s.io" },
                        spec: {
                            group: "metrics.k8s.io",
                            version: "v1beta1",
                            service: { namespace: "kube-system", name: "metrics-server" },
                            groupPriorityMinimum: 100,
                            versionPriority: 100,
                        },
                    },
                    /aggregated API: .*the Service metrics-server\.kube-system\.svc:443/,
                ],
                [
                    {
                        apiVersion: "apiextensions.k8s.io/v1",
                        kind: "CustomResourceDefinition",
                        metadata: { name: "things.nordstack.io" },
                        spec: {
                            conversion: { strategy: "Webhook", webhook: { clientConfig: { service: { namespace: "x", name: "conv" } } } },
                        },
                    },
                    /conversion webhook: .*the Service conv\.x\.svc:443/,
                ],
            ];
            for (const [m, why] of refused) {
                await assert.rejects(api.create(m, { dryRun: true }), (e: Error) => e instanceof RefusedObject && why.test(e.message));
                await assert.rejects(api.apply(m, "test"), RefusedObject);
            }
            // Nothing reached the server.
            for (const p of [
                "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
                "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
            ]) {
                const r = await api.request("GET", p);
                assert.equal(r.status, 200);
                assert.deepEqual(r.body.items, []);
            }
            const svcs = await api.request("GET", "/apis/apiregistration.k8s.io/v1/apiservices");
            assert.deepEqual(
                (svcs.body.items as { metadata: { name: string }; spec: { service?: unknown } }[])
                    .filter((s) => s.spec.service)
                    .map((s) => s.metadata.name),
                [],
            );
        });
    },
);

async function waitEstablished(api: KubeApiServer, name: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
        const r = await api.request("GET", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
        const conds = ((r.body.status ?? {}) as { conditions?: { type: string; status: string }[] }).conditions ?? [];
        if (conds.some((c) => c.type === "Established" && c.status === "True")) return;
        await new Promise((res) => setTimeout(res, 250));
    }
    throw new Error(`CRD ${name} not Established after 30 s`);
}
