// The whole dev stack through Pulumi mocks with registryMirror set: every image
// the graph holds (containers, init containers, Helm chart values) is pulled
// from the mirror, the k3s nodes get registries.yaml, and the charts come from
// chartMirror. Without the key, the same walk finds the upstream references.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { GraphRecorder, installMocks, value } from "../helpers/mocks";
import { firewallConfirmJson, preflightJson } from "../helpers/fixtures";
import { parsePlatformConfig, PlatformConfig } from "../../components/config";

const ROOT = path.resolve(__dirname, "..", "..");
const MIRROR = "registry.nordstack.example:5000/proxy";

before(() =>
    installMocks((args) => {
        const m = /^(.*)-preflight-(.*)-check$/.exec(args.name);
        if (m) return preflightJson(m[2]);
        if (args.name.endsWith("-confirm")) return firewallConfirmJson();
        if (args.name.endsWith("-kubeconfig")) return readFileSync(path.join(ROOT, "test", "fixtures", "k3s.yaml"), "utf8");
        if (args.name.endsWith("-sysctl")) return JSON.stringify({ changed: true, dropIn: "x", nofile: 1048576, values: {} });
        return undefined;
    }),
);

/** Pulumi.dev.yaml as index.ts reads it, with overrides. */
function devStack(overrides: Record<string, unknown> = {}): PlatformConfig {
    const doc = parseYaml(readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
    const raw = Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^nordstack:/, ""), v]));
    return parsePlatformConfig({ ...raw, ...overrides });
}

async function build(name: string, cfg: PlatformConfig, registryMirrorAuth?: string) {
    const { Platform } = await import("../../components/platform");
    const rec = new GraphRecorder();
    new Platform(
        name,
        {
            config: cfg,
            sshPrivateKey: pulumi.secret("-----BEGIN OPENSSH PRIVATE KEY-----\nk\n-----END OPENSSH PRIVATE KEY-----\n"),
            smokeRunId: "run-1",
            ...(registryMirrorAuth ? { registryMirrorAuth: pulumi.secret(registryMirrorAuth) } : {}),
            ...(cfg.backups ? { backupAccessKeyId: pulumi.secret("AKID"), backupSecretAccessKey: pulumi.secret("SAK") } : {}),
        },
        { transformations: [rec.transform] },
    );
    return rec;
}

interface Found {
    resource: string;
    at: string;
    image: string;
}

/** Every image reference in a resolved value: pod specs' containers and chart values' image keys. */
function images(resource: string, v: unknown, at = "", out: Found[] = []): Found[] {
    if (Array.isArray(v)) {
        v.forEach((x, i) => images(resource, x, `${at}[${i}]`, out));
    } else if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
            const p = at ? `${at}.${k}` : k;
            if (/^image$|^image[A-Z0-9]|Image$/.test(k) && typeof x === "string") out.push({ resource, at: p, image: x });
            else if (k === "image" && x && typeof x === "object" && typeof (x as { name?: unknown }).name === "string") {
                out.push({ resource, at: `${p}.name`, image: (x as { name: string }).name });
            } else images(resource, x, p, out);
        }
    }
    return out;
}

async function allImages(rec: GraphRecorder): Promise<Found[]> {
    const found: Found[] = [];
    for (const r of rec.resources.filter((x) => x.type.startsWith("kubernetes:"))) {
        images(r.name, await value(pulumi.output(r.props)), "", found);
    }
    return found;
}

describe("registryMirror over the whole dev stack (mocks)", () => {
    it("without a mirror the walk finds the upstream references it must rewrite", async () => {
        const found = await allImages(await build("u", devStack({ registryMirror: "" })));
        const upstream = found.filter((f) => !f.image.startsWith(MIRROR));
        assert.equal(upstream.length, found.length);
        assert.ok(found.some((f) => f.image.startsWith("docker.io/traefik/whoami:v1.10.3")));
        assert.ok(found.some((f) => f.image.startsWith("docker.io/library/postgres")));
        // The charts' own defaults are not set without a mirror: the chart picks its images.
        assert.ok(!found.some((f) => f.image.startsWith("cr.l5d.io")));
    });

    it("every container, init container and chart value image is under the mirror", async () => {
        const rec = await build(
            "m",
            devStack({
                registryMirror: MIRROR,
                chartMirror: "oci://registry.nordstack.example/charts",
                backups: {
                    endpoint: "https://s3.osl.example.no",
                    bucket: "nordstack-backups",
                    region: "no-osl-1",
                    postgresImage: "docker.io/nordstack/postgres-pgbackrest:15.18-2.45",
                },
                backupAccessKeyId: true,
                backupSecretAccessKey: true,
            }),
        );
        const found = await allImages(rec);
        const escaped = found.filter((f) => !f.image.startsWith(`${MIRROR}/`));
        assert.deepEqual(escaped, [], "no image reference outside the mirror");
        const where = found.map((f) => `${f.resource} ${f.at} ${f.image}`).sort();
        const has = (re: RegExp) =>
            assert.ok(
                where.some((w) => re.test(w)),
                `expected ${re}`,
            );
        // Services, datastores, gateway, overlay smoke test (server and client).
        has(
            /^m-workloads-inventory spec.template.spec.containers\[0\]\.image registry.nordstack.example:5000\/proxy\/docker.io\/traefik\/whoami:v1.10.3@sha256:/,
        );
        has(/^m-workloads-pricing spec.template.spec.containers\[0\]\.image .*\/proxy\/docker.io\/traefik\/whoami:v1.10.3@sha256:/);
        // With backups the database runs the configured image that carries pgBackRest.
        has(/^m-workloads-inventory-postgres .*\/proxy\/docker.io\/nordstack\/postgres-pgbackrest:15.18-2.45$/);
        has(/^m-workloads-pricing-redis .*\/proxy\/docker.io\/library\/redis:/);
        has(/^m-workloads-gateway .*\/proxy\/docker.io\/library\/nginx:1.28.0-alpine$/);
        assert.equal(
            where.filter((w) => /overlay-smoke.*\/proxy\/docker.io\/nicolaka\/netshoot:v0.13@sha256:[0-9a-f]{64}$/.test(w)).length,
            2,
        );
        // The backup CronJobs: pgBackRest in the configured Postgres image, redis-cli and rclone for Redis snapshots.
        has(/^m-workloads-inventory-postgres-backup-cron \S+ .*\/proxy\/docker.io\/nordstack\/postgres-pgbackrest:15.18-2.45$/);
        has(/^m-workloads-pricing-redis-backup-cron \S+initContainers\[0\]\.image .*\/proxy\/docker.io\/library\/redis:/);
        has(/^m-workloads-pricing-redis-backup-cron \S+containers\[0\]\.image .*\/proxy\/docker.io\/rclone\/rclone:/);
        has(/^m-linkerd-cni values.image.name registry.nordstack.example:5000\/proxy\/cr.l5d.io\/linkerd\/cni-plugin$/);
        // Linkerd: controller (also the policy controller), proxy (also init and validator), debug; Consul: consul, control plane, dataplane.
        for (const [key, img] of [
            ["controllerImage", "cr.l5d.io/linkerd/controller"],
            ["proxy.image.name", "cr.l5d.io/linkerd/proxy"],
            ["debugContainer.image.name", "cr.l5d.io/linkerd/debug"],
        ]) {
            assert.ok(where.includes(`m-linkerd-control-plane values.${key} ${MIRROR}/${img}`), key);
        }
        for (const [key, img] of [
            ["image", "hashicorp/consul:2.0.3"],
            ["imageK8S", "hashicorp/consul-k8s-control-plane:2.0.3"],
            ["imageConsulDataplane", "hashicorp/consul-dataplane:2.0.3"],
        ]) {
            assert.ok(where.includes(`m-consul-release values.global.${key} ${MIRROR}/docker.io/${img}`), key);
        }
        // The charts come from the chart mirror.
        for (const n of ["m-linkerd-crds", "m-linkerd-control-plane", "m-linkerd-cni", "m-consul-release"]) {
            assert.match(
                String(rec.byName(n).props.chart),
                /^oci:\/\/registry.nordstack.example\/charts\/(linkerd-crds|linkerd-control-plane|linkerd2-cni|consul)$/,
            );
        }
    });

    it("each k3s node gets registries.yaml from its own SecretFile step (credentials only there), the install after it, no fallback under strict", async () => {
        const rec = await build("k", devStack({ registryMirror: MIRROR, registryMirrorAuth: true }), "puller:pa:ss");
        const revisions = new Set<string>();
        for (const node of ["osl-1", "osl-2", "osl-3"]) {
            const write = rec.byName(`k-k3s-registries-${node}-write`);
            const stdin = pulumi.output(write.props.stdin as pulumi.Input<string>);
            assert.equal(await pulumi.isSecret(stdin), true);
            const doc = parseYaml(await value(stdin)) as { mirrors: Record<string, unknown>; configs: Record<string, unknown> };
            assert.deepEqual(Object.keys(doc.mirrors), ["docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "cr.l5d.io"]);
            assert.deepEqual(doc.configs, { "registry.nordstack.example:5000": { auth: { username: "puller", password: "pa:ss" } } });
            assert.match(await value(write.props.create as pulumi.Input<string>), / '?\/etc\/rancher\/k3s\/registries.yaml'?$/);
            const install = rec.byName(`k-k3s-install-${node}`);
            assert.ok(install.dependsOn.includes(`k-k3s-registries-${node}`), "the install waits for registries.yaml");
            const create = await value(install.props.create as pulumi.Output<string>);
            assert.match(create, /disable-default-registry-endpoint: true/);
            assert.match(create, /NORDSTACK_K3S_REGISTRIES='?managed/);
            revisions.add(/NORDSTACK_K3S_REGISTRIES_REVISION='?([0-9a-f]{32})/.exec(create)?.[1] ?? "");
            assert.ok(!create.includes("pa:ss") && !create.includes("puller"), "credentials never in the command line");
        }
        assert.equal(revisions.size, 1);
        assert.ok(!revisions.has(""));
        // Another password: another revision, so the install re-runs and restarts k3s.
        const other = await build("o", devStack({ registryMirror: MIRROR, registryMirrorAuth: true }), "puller:other");
        const otherCreate = await value(other.byName("o-k3s-install-osl-1").props.create as pulumi.Output<string>);
        assert.ok(!otherCreate.includes([...revisions][0]));
        // No mirror: no registries step, and the install removes nordstack's file.
        const none = await build("n", devStack({ registryMirror: "" }));
        assert.ok(!none.resources.some((r) => r.name.startsWith("n-k3s-registries-")));
        assert.doesNotMatch(
            await value(none.byName("n-k3s-install-osl-1").props.create as pulumi.Output<string>),
            /NORDSTACK_K3S_REGISTRIES/,
        );
        const relaxed = await build("r", devStack({ registryMirror: MIRROR, sovereignty: "relaxed" }));
        const create = await value(relaxed.byName("r-k3s-install-osl-1").props.create as pulumi.Output<string>);
        assert.doesNotMatch(create, /disable-default-registry-endpoint/, "relaxed keeps the upstream fallback");
    });
});
