// The workload layer with backups on, every Kubernetes object validated by a
// real kube-apiserver (test/helpers/kube-apiserver.ts): strict server-side
// dry-run, then created for real in a throwaway namespace; the backup policies'
// selectors must select the Pods the server accepts from the templates.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { KubeApiServer, Manifest, serverMessage } from "../helpers/kube-apiserver";
import { GraphRecorder, value } from "../helpers/mocks";
import { outputsFor } from "../mesh/fake-outputs";
import { config } from "../helpers/fixtures";

const NS = `bk-${randomBytes(2).toString("hex")}`;

before(() =>
    pulumi.runtime.setMocks(
        {
            newResource: (args) => ({
                id: `${args.name}-id`,
                state: {
                    ...(args.inputs as Record<string, unknown>),
                    ...outputsFor(args),
                    ...(args.type === "random:index/randomPassword:RandomPassword"
                        ? { result: `Tok3n${args.name.replace(/[^A-Za-z0-9]/g, "")}` }
                        : {}),
                },
            }),
            call: (args) => args.inputs as Record<string, unknown>,
        },
        "nordstack",
        "test",
        false,
    ),
);

/** Every Kubernetes object of the workloads with backups, as the provider would send it, in registration order. */
async function render(): Promise<Manifest[]> {
    const { Workloads } = await import("../../components/services/workloads");
    const cfg = config({
        backups: {
            endpoint: "https://198.51.100.7",
            bucket: "nordstack-backups",
            region: "no-osl-1",
            postgresImage: "registry.example.no/nordstack/postgres-pgbackrest:15.18-2.45",
        },
        backupAccessKeyId: true,
        backupSecretAccessKey: true,
    });
    assert.ok(cfg.backups);
    const rec = new GraphRecorder();
    new Workloads(
        "wl",
        {
            provider: new k8s.Provider("k8s", { kubeconfig: "{}" }),
            namespace: NS,
            services: cfg.services,
            gateway: { serverNames: ["api.nordstack.example"] },
            backups: {
                config: cfg.backups,
                accessKeyId: pulumi.secret("AKIDTEST"),
                secretAccessKey: pulumi.secret("s3cr3t-key-0123456789"),
            },
        },
        { transformations: [rec.transform] },
    );
    const out: Manifest[] = [];
    for (const r of rec.resources.filter((x) => /^kubernetes:[^:]+:\w+$/.test(x.type) && !x.type.startsWith("kubernetes:helm"))) {
        const [, group, kind] = /^kubernetes:([^:]+):(\w+)$/.exec(r.type) ?? [];
        const props = JSON.parse(JSON.stringify(await value(pulumi.output(r.props)))) as Record<string, unknown>;
        out.push({ apiVersion: group.startsWith("core/") ? group.slice(5) : group, kind, ...props } as Manifest);
    }
    return out;
}

describe("backup objects on a real kube-apiserver", () => {
    let api: KubeApiServer | undefined;
    before(async () => {
        const missing = KubeApiServer.missing();
        assert.equal(missing, undefined, missing);
        api = await KubeApiServer.start();
    });
    after(async () => api?.stop());

    it("accepts every object (strict), and the backup policies select the datastore and Job pods", async () => {
        assert.ok(api);
        const objects = await render();
        const backup = objects.filter((m) => /backup|archive/.test(m.metadata.name ?? ""));
        assert.equal(backup.length, 13, `backup objects: ${backup.map((m) => `${m.kind}/${m.metadata.name}`).join(", ")}`);
        for (const m of objects) {
            const dry = await api.create(m, { dryRun: true });
            assert.ok(dry.status < 300, `${m.kind}/${m.metadata.name}: ${serverMessage(dry)}`);
            const made = await api.create(m);
            assert.ok(made.status < 300, `${m.kind}/${m.metadata.name}: ${serverMessage(made)}`);
        }
        // Pods as the controllers would make them: the StatefulSet's, and the CronJob's Job's (no controller-manager here
        // to create the namespace's default ServiceAccount).
        const sa = await api.create({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace: NS } });
        assert.ok(sa.status < 300, serverMessage(sa));
        const pods: Manifest[] = [];
        for (const m of objects.filter((x) => x.kind === "StatefulSet" || x.kind === "CronJob")) {
            const spec = m.spec as {
                template?: { metadata: Manifest["metadata"]; spec: Record<string, unknown> };
                jobTemplate?: { spec: { template: { metadata: Manifest["metadata"]; spec: Record<string, unknown> } } };
            };
            const t = spec.template ?? spec.jobTemplate?.spec.template;
            assert.ok(t);
            // The StatefulSet controller adds each claim template as a volume.
            const claims = ((m.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? []).map(
                (c) => ({
                    name: c.metadata.name,
                    persistentVolumeClaim: { claimName: `${c.metadata.name}-${m.metadata.name}-0` },
                }),
            );
            t.spec = { ...t.spec, volumes: [...((t.spec.volumes as unknown[]) ?? []), ...claims] };
            const pod: Manifest = {
                apiVersion: "v1",
                kind: "Pod",
                metadata: { ...t.metadata, name: `${m.metadata.name}-pod`, namespace: NS },
                spec: t.spec,
            };
            const r = await api.create(pod);
            assert.ok(r.status < 300, `pod of ${m.kind}/${m.metadata.name}: ${serverMessage(r)}`);
            pods.push(pod);
        }
        for (const p of objects.filter((x) => x.kind === "NetworkPolicy" && /backup|archive/.test(x.metadata.name ?? ""))) {
            const sel = (p.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels;
            const q = Object.entries(sel)
                .map(([k, v]) => `${k}=${v}`)
                .join(",");
            const list = await api.request("GET", `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(q)}`);
            const names = ((list.body as { items: { metadata: { name: string } }[] }).items ?? []).map((i) => i.metadata.name);
            assert.equal(names.length, 1, `${p.metadata.name} selects exactly one pod: ${names.join(", ")}`);
        }
    });
});
