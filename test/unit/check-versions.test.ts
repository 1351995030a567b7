// `npm run check:versions`: the pure comparison (scripts/dev/versions.ts) on small
// hand-written index/values fixtures, and the script itself against a Helm
// repository served on 127.0.0.1 from the same fixtures.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
    archiveUrl,
    chartPins,
    fileFromTgz,
    findPinned,
    imageProblems,
    linkerdReleaseOf,
    normalizeImage,
    parseIndex,
    sortVersions,
} from "../../scripts/dev/versions";
import { LINKERD_DEFAULTS } from "../../components/mesh/linkerd";
import { CONSUL_DEFAULTS } from "../../components/discovery/consul";

const ROOT = path.resolve(__dirname, "..", "..");

/** A repository index in the shape Helm writes, with only the fields read here. */
function indexYaml(entries: Record<string, { version: string; url: string }[]>): string {
    const lines = ["apiVersion: v1", "entries:"];
    for (const [chart, list] of Object.entries(entries)) {
        lines.push(`  ${chart}:`);
        for (const e of list) lines.push(`  - name: ${chart}`, `    version: ${e.version}`, `    urls:`, `    - ${e.url}`);
    }
    return lines.join("\n") + "\n";
}

const CONTROL_PLANE_VALUES = (release: string, proxy = "cr.l5d.io/linkerd/proxy") => `
linkerdVersion: ${release}
controllerImage: cr.l5d.io/linkerd/controller
proxy:
  image:
    name: ${proxy}
    version: ""
debugContainer:
  image:
    name: cr.l5d.io/linkerd/debug
`;
const CNI_VALUES = "image:\n  name: cr.l5d.io/linkerd/cni-plugin\n  version: v1.7.0\n";
const CONSUL_VALUES = (tag: string) => `
global:
  image: hashicorp/consul:${tag}
  imageK8S: hashicorp/consul-k8s-control-plane:${tag}
  imageConsulDataplane: hashicorp/consul-dataplane:${tag}
`;

/** A chart archive as `helm package` lays it out (`<chart>/Chart.yaml`, `<chart>/values.yaml`), made with tar(1). */
function chartTgz(dir: string, chart: string, version: string, values: string, format = "ustar"): Buffer {
    const src = mkdtempSync(path.join(dir, "src-"));
    mkdirSync(path.join(src, chart));
    writeFileSync(path.join(src, chart, "Chart.yaml"), `apiVersion: v2\nname: ${chart}\nversion: ${version}\n`);
    writeFileSync(path.join(src, chart, "values.yaml"), values);
    const out = path.join(dir, `${chart}-${version}.tgz`);
    execFileSync("tar", [`--format=${format}`, "-czf", out, "-C", src, chart]);
    return readFileSync(out);
}

describe("check:versions, pure parts", () => {
    it("pins the components' chart versions and repositories, or the stack's chartMirror and overrides", () => {
        const pins = chartPins();
        assert.deepEqual(
            pins.map((p) => [p.chart, p.version, p.repository]),
            [
                ["linkerd-crds", LINKERD_DEFAULTS.crdsChartVersion, LINKERD_DEFAULTS.chartRepository],
                ["linkerd-control-plane", LINKERD_DEFAULTS.controlPlaneChartVersion, LINKERD_DEFAULTS.chartRepository],
                ["linkerd2-cni", LINKERD_DEFAULTS.controlPlaneChartVersion, LINKERD_DEFAULTS.chartRepository],
                ["consul", CONSUL_DEFAULTS.chartVersion, CONSUL_DEFAULTS.chartRepository],
            ],
        );
        assert.deepEqual(
            pins[3].images.map((i) => i.expected),
            [
                "docker.io/hashicorp/consul:2.0.3",
                "docker.io/hashicorp/consul-k8s-control-plane:2.0.3",
                "docker.io/hashicorp/consul-dataplane:2.0.3",
            ],
        );
        assert.equal(pins[1].images[0].expected, "edge-26.8.3");
        const mirrored = chartPins({
            chartMirror: "https://charts.example.no",
            consulChartRepository: "https://c.example.no",
            consulChartVersion: "2.0.4",
        });
        assert.deepEqual(
            mirrored.map((p) => `${p.chart} ${p.version} ${p.repository}`),
            [
                "linkerd-crds 2026.8.3 https://charts.example.no",
                "linkerd-control-plane 2026.8.3 https://charts.example.no",
                "linkerd2-cni 2026.8.3 https://charts.example.no",
                "consul 2.0.4 https://c.example.no",
            ],
        );
        assert.equal(linkerdReleaseOf("2026.10.1"), "edge-26.10.1");
        assert.equal(linkerdReleaseOf("1.16.4"), undefined);
    });

    it("finds the pinned version in an index, or names chart, pin and the newest versions there are", () => {
        const idx = parseIndex(
            indexYaml({
                consul: ["1.9.11", "2.0.2", "2.0.10", "2.0.3-rc1", "2.0.3"].map((v) => ({ version: v, url: `consul-${v}.tgz` })),
            }),
        );
        const pin = chartPins().find((p) => p.chart === "consul");
        assert.ok(pin);
        assert.deepEqual(findPinned(idx, pin, "https://h.example/index.yaml"), { version: "2.0.3", urls: ["consul-2.0.3.tgz"] });
        assert.equal(
            findPinned(idx, { ...pin, version: "2.0.9" }, "https://h.example/index.yaml"),
            "consul 2.0.9 is not in https://h.example/index.yaml; it has 5 versions, newest 2.0.10, 2.0.3, 2.0.3-rc1, 2.0.2, 1.9.11",
        );
        assert.equal(
            findPinned(idx, { ...pin, chart: "linkerd-crds" }, "https://h.example/index.yaml"),
            "linkerd-crds 2.0.3: https://h.example/index.yaml has no chart named linkerd-crds",
        );
        assert.deepEqual(sortVersions(["2026.8.3", "2026.10.1", "2026.8.12"]), ["2026.10.1", "2026.8.12", "2026.8.3"]);
        assert.throws(() => parseIndex("just: text\n"), /not a Helm repository index/);
    });

    it("resolves archive URLs relative to the index, as Helm does", () => {
        assert.equal(
            archiveUrl({ version: "1", urls: ["consul-2.0.3.tgz"] }, "https://helm.example/sub/index.yaml"),
            "https://helm.example/sub/consul-2.0.3.tgz",
        );
        assert.equal(
            archiveUrl({ version: "1", urls: ["https://cdn.example/x.tgz"] }, "https://helm.example/index.yaml"),
            "https://cdn.example/x.tgz",
        );
        assert.equal(archiveUrl({ version: "1", urls: [] }, "https://helm.example/index.yaml"), undefined);
    });

    it("compares pinned images with the chart's values: same image, other tag, other name, unset", () => {
        const [, cp, cni, consul] = chartPins();
        assert.deepEqual(imageProblems(consul, CONSUL_VALUES("2.0.3")), []);
        assert.deepEqual(imageProblems(consul, CONSUL_VALUES("2.0.4")), [
            "consul 2.0.3 values.yaml global.image is hashicorp/consul:2.0.4; we pin docker.io/hashicorp/consul:2.0.3",
            "consul 2.0.3 values.yaml global.imageK8S is hashicorp/consul-k8s-control-plane:2.0.4; we pin docker.io/hashicorp/consul-k8s-control-plane:2.0.3",
            "consul 2.0.3 values.yaml global.imageConsulDataplane is hashicorp/consul-dataplane:2.0.4; we pin docker.io/hashicorp/consul-dataplane:2.0.3",
        ]);
        assert.deepEqual(imageProblems(cp, CONTROL_PLANE_VALUES("edge-26.8.3")), []);
        assert.deepEqual(imageProblems(cp, CONTROL_PLANE_VALUES("edge-26.8.2", "ghcr.io/linkerd/proxy")), [
            "linkerd-control-plane 2026.8.3 values.yaml linkerdVersion is edge-26.8.2; we pin edge-26.8.3",
            "linkerd-control-plane 2026.8.3 values.yaml proxy.image.name is ghcr.io/linkerd/proxy; we pin cr.l5d.io/linkerd/proxy",
        ]);
        assert.deepEqual(imageProblems(cni, CNI_VALUES), []);
        assert.deepEqual(imageProblems(cni, "image:\n  version: v1\n"), [
            "linkerd2-cni 2026.8.3 values.yaml image.name is not set; we pin cr.l5d.io/linkerd/cni-plugin",
        ]);
        assert.equal(normalizeImage("docker.io/library/nginx:1.28"), "nginx:1.28");
        assert.equal(normalizeImage("nginx:1.28"), "nginx:1.28");
    });

    it("reads values.yaml out of a chart archive (ustar; pax and GNU long names)", () => {
        const dir = mkdtempSync(path.join(tmpdir(), "nordstack-versions-"));
        try {
            const tgz = chartTgz(dir, "consul", "2.0.3", CONSUL_VALUES("2.0.3"));
            assert.equal(fileFromTgz(tgz, "consul/values.yaml"), CONSUL_VALUES("2.0.3"));
            assert.match(fileFromTgz(tgz, "consul/Chart.yaml") ?? "", /version: 2.0.3/);
            assert.equal(fileFromTgz(tgz, "consul/missing.yaml"), undefined);
            const long = `chart-${"x".repeat(120)}`;
            // ustar cannot store a name component over 100 characters; pax and GNU tar can.
            for (const format of ["pax", "gnu"]) {
                assert.equal(fileFromTgz(chartTgz(dir, long, "1.0.0", "a: 1\n", format), `${long}/values.yaml`), "a: 1\n", format);
            }
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("npm run check:versions against a repository on 127.0.0.1", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "nordstack-versions-repo-"));
    const files = new Map<string, Buffer>();
    let server: Server;
    let base = "";
    const run = (...args: string[]) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
            execFile(
                process.execPath,
                ["--import", "tsx", path.join(ROOT, "scripts", "dev", "check-versions.ts"), ...args],
                { cwd: ROOT, timeout: 120_000 },
                (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
            ),
        );
    /** Serves one repository holding every chart (the chartMirror layout), the consul chart at `consulVersion` with `consulTag`. */
    const publish = (consulVersion: string, consulTag: string) => {
        files.clear();
        const charts: [string, string, string][] = [
            ["linkerd-crds", "2026.8.3", "installGatewayAPI: false\n"],
            ["linkerd-control-plane", "2026.8.3", CONTROL_PLANE_VALUES("edge-26.8.3")],
            ["linkerd2-cni", "2026.8.3", CNI_VALUES],
            ["consul", consulVersion, CONSUL_VALUES(consulTag)],
        ];
        const entries: Record<string, { version: string; url: string }[]> = {};
        for (const [chart, version, values] of charts) {
            files.set(`/charts/${chart}-${version}.tgz`, chartTgz(dir, chart, version, values));
            // Helm indexes may point anywhere: relative for three, absolute for consul.
            const url = chart === "consul" ? `${base}/charts/${chart}-${version}.tgz` : `charts/${chart}-${version}.tgz`;
            entries[chart] = [{ version, url }];
        }
        files.set("/index.yaml", Buffer.from(indexYaml(entries)));
    };

    before(async () => {
        server = createServer((req, res) => {
            const body = files.get(req.url ?? "");
            res.writeHead(body ? 200 : 404).end(body ?? "not found");
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => {
        server?.close();
        rmSync(dir, { recursive: true, force: true });
    });

    it("passes when every pin exists and ships the pinned images", async () => {
        publish("2.0.3", "2.0.3");
        const r = await run("--chart-mirror", base);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /ok: linkerd-crds 2026\.8\.3 exists/);
        assert.match(r.stdout, /ok: consul 2\.0\.3 exists and ships docker\.io\/hashicorp\/consul:2\.0\.3/);
    });

    it("fails naming the chart, the pinned version and what exists; and an image tag that differs", async () => {
        publish("2.0.4", "2.0.4");
        let r = await run("--chart-mirror", base);
        assert.equal(r.code, 1);
        assert.match(r.stderr, new RegExp(`FAIL: consul 2\\.0\\.3 is not in ${base}/index\\.yaml; it has 1 versions, newest 2\\.0\\.4`));
        // The stack pins 2.0.4 (consulChartVersion), but the chart ships other images than its version says.
        publish("2.0.4", "2.0.5");
        const stack = path.join(dir, "Pulumi.t.yaml");
        writeFileSync(stack, `config:\n  nordstack:chartMirror: ${base}/\n  nordstack:consulChartVersion: "2.0.4"\n`);
        r = await run("--config", stack);
        assert.equal(r.code, 1);
        assert.match(
            r.stderr,
            /FAIL: consul 2\.0\.4 values\.yaml global\.image is hashicorp\/consul:2\.0\.5; we pin docker\.io\/hashicorp\/consul:2\.0\.4/,
        );
    });

    it("offline: exits 2 with 'cannot reach <url>: not checked'", async () => {
        // A port nothing listens on: bind one, note it, close it.
        const s = createServer();
        await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
        const port = (s.address() as AddressInfo).port;
        await new Promise((r) => s.close(r));
        const r = await run("--chart-mirror", `http://127.0.0.1:${port}`);
        assert.equal(r.code, 2, r.stderr);
        assert.match(
            r.stdout,
            new RegExp(
                `cannot reach http://127\\.0\\.0\\.1:${port}/index\\.yaml: not checked \\(ECONNREFUSED; linkerd-crds 2026\\.8\\.3, .*consul 2\\.0\\.3\\)`,
            ),
        );
        const oci = await run("--chart-mirror", "oci://registry.example.no/charts");
        assert.equal(oci.code, 2);
        assert.match(oci.stdout, /oci:\/\/registry\.example\.no\/charts is an OCI registry, which has no index\.yaml: not checked/);
    });
});
