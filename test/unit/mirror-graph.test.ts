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
import { preflightJson } from "../helpers/fixtures";
import { parsePlatformConfig, PlatformConfig } from "../../components/config";

const ROOT = path.resolve(__dirname, "..", "..");
const MIRROR = "registry.nordstack.example:5000/proxy";

before(() =>
    installMocks((args) => {
        const m = /^(.*)-preflight-(.*)-check$/.exec(args.name);
        if (m) return preflightJson(m[2]);
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
        assert.ok(found.some((f) => f.image === "docker.io/traefik/whoami:v1.10.3"));
        assert.ok(found.some((f) => f.image.startsWith("docker.io/library/postgres")));
        // The charts' own defaults are not set without a mirror: the chart picks its images.
        assert.ok(!found.some((f) => f.image.startsWith("cr.l5d.io")));
    });

    it("every container, init container and chart value image is under the mirror", async () => {
        const rec = await build("m", devStack({ registryMirror: MIRROR, chartMirror: "oci://registry.nordstack.example/charts" }));
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
            /^m-workloads-inventory spec.template.spec.containers\[0\]\.image registry.nordstack.example:5000\/proxy\/docker.io\/traefik\/whoami:v1.10.3$/,
        );
        has(/^m-workloads-pricing spec.template.spec.containers\[0\]\.image .*\/proxy\/docker.io\/traefik\/whoami:v1.10.3$/);
        has(/^m-workloads-inventory-postgres .*\/proxy\/docker.io\/library\/postgres:/);
        has(/^m-workloads-pricing-redis .*\/proxy\/docker.io\/library\/redis:/);
        has(/^m-workloads-gateway .*\/proxy\/docker.io\/library\/nginx:1.28.0-alpine$/);
        assert.equal(where.filter((w) => /overlay-smoke.*\/proxy\/docker.io\/library\/alpine:3.20.3$/.test(w)).length, 2);
        // Linkerd: controller, policy controller, proxy, proxy-init, debug; Consul: consul, control plane, dataplane.
        for (const [key, img] of [
            ["controllerImage", "cr.l5d.io/linkerd/controller"],
            ["policyController.image.name", "cr.l5d.io/linkerd/policy-controller"],
            ["proxy.image.name", "cr.l5d.io/linkerd/proxy"],
            ["proxyInit.image.name", "cr.l5d.io/linkerd/proxy-init"],
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
        // The overlay smoke test's packages come only from the Alpine mirror of the dev stack.
        for (const n of ["m-overlay-smoke-server", "m-overlay-smoke-client"]) {
            const spec = await value(
                pulumi.output(rec.byName(n).props.spec as pulumi.Input<{ template: { spec: { containers: { command: string[] }[] } } }>),
            );
            const script = spec.template.spec.containers[0].command[2];
            assert.match(
                script,
                /apk add --no-cache --repositories-file \/dev\/null -X https:\/\/mirror.nordstack.example\/alpine\/v3.20\/main -X https:\/\/mirror.nordstack.example\/alpine\/v3.20\/community iperf3/,
            );
        }
        // The charts come from the chart mirror.
        for (const n of ["m-linkerd-crds", "m-linkerd-control-plane", "m-consul-release"]) {
            assert.match(
                String(rec.byName(n).props.chart),
                /^oci:\/\/registry.nordstack.example\/charts\/(linkerd-crds|linkerd-control-plane|consul)$/,
            );
        }
    });

    it("the k3s nodes get registries.yaml with the mirror's credentials on stdin, and no fallback under strict", async () => {
        const rec = await build("k", devStack({ registryMirror: MIRROR, registryMirrorAuthSecret: true }), "puller:pa:ss");
        for (const node of ["osl-1", "osl-2", "osl-3"]) {
            const install = rec.byName(`k-k3s-install-${node}`);
            const stdin = pulumi.output(install.props.stdin as pulumi.Input<string>);
            assert.equal(await pulumi.isSecret(stdin), true);
            const [token, ...rest] = (await value(stdin)).split("\n");
            assert.match(token, /^Tok3n/);
            const doc = parseYaml(rest.join("\n")) as { mirrors: Record<string, unknown>; configs: Record<string, unknown> };
            assert.deepEqual(Object.keys(doc.mirrors), ["docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "cr.l5d.io"]);
            assert.deepEqual(doc.configs, { "registry.nordstack.example:5000": { auth: { username: "puller", password: "pa:ss" } } });
            const create = await value(install.props.create as pulumi.Output<string>);
            assert.match(create, /disable-default-registry-endpoint: true/);
            assert.ok(!create.includes("pa:ss"), "credentials never in the command line");
        }
        const relaxed = await build("r", devStack({ registryMirror: MIRROR, sovereignty: "relaxed" }));
        const create = await value(relaxed.byName("r-k3s-install-osl-1").props.create as pulumi.Output<string>);
        assert.doesNotMatch(create, /disable-default-registry-endpoint/, "relaxed keeps the upstream fallback");
    });
});
