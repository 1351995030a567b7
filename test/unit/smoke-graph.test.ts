import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { GraphRecorder, installMocks, value } from "../helpers/mocks";
import { config, firewallConfirmJson, preflightJson } from "../helpers/fixtures";

const pairLine = (from: string, to: string, gbps: number) =>
    JSON.stringify({
        from,
        peer: to,
        address: "10.10.0.9",
        pathMtu: 1500,
        ping: "",
        iperf: { end: { sum_received: { bits_per_second: gbps * 1e9 }, sum_sent: { retransmits: 0 } } },
    });

before(() =>
    installMocks((args) => {
        const m = /-preflight-(.*)-check$/.exec(args.name);
        if (m) return preflightJson(m[1], 1500);
        if (args.name.endsWith("-sysctl")) return JSON.stringify({ changed: false, values: {} });
        if (args.name.endsWith("-confirm")) return firewallConfirmJson();
        if (args.name.endsWith("-kubeconfig")) return readFileSync(path.join(__dirname, "..", "fixtures", "k3s.yaml"), "utf8");
        const c = /-smoke-client-(.*)$/.exec(args.name);
        if (c)
            return ["osl-1", "osl-2", "osl-3"]
                .filter((n) => n !== c[1])
                .map((n) => pairLine(c[1], n, 9.4))
                .join("\n");
        return undefined;
    }),
);

async function build(name: string, overrides: Record<string, unknown> = {}) {
    const { Platform } = await import("../../components/platform");
    const rec = new GraphRecorder();
    const platform = new Platform(
        name,
        { config: config({ k3sEnabled: false, ...overrides }), sshPrivateKey: pulumi.secret("KEY"), smokeRunId: "run-1" },
        { transformations: [rec.transform] },
    );
    return { platform, rec };
}

describe("network smoke graph (mocks)", () => {
    it("starts a server on every node, tests node by node, then stops every server", async () => {
        const { rec } = await build("s1");
        const smoke = rec.resources.filter((r) => r.parent === "s1-smoke").map((r) => r.name);
        const each = (part: string) => ["osl-1", "osl-2", "osl-3"].map((n) => `s1-smoke-${part}-${n}`);
        assert.deepEqual(smoke, [...each("server"), ...each("client"), ...each("stop")]);
        assert.deepEqual(rec.byName("s1-smoke-client-osl-1").dependsOn, each("server"));
        assert.deepEqual(rec.byName("s1-smoke-client-osl-2").dependsOn, ["s1-smoke-client-osl-1"]);
        assert.deepEqual(rec.byName("s1-smoke-stop-osl-2").dependsOn, ["s1-smoke-client-osl-3"]);
        assert.deepEqual(rec.byName("s1-smoke-server-osl-1").dependsOn.sort(), [
            "s1-firewall-osl-1-confirm",
            "s1-firewall-osl-2-confirm",
            "s1-firewall-osl-3-confirm",
            "s1-tuning-osl-1-sysctl",
            "s1-tuning-osl-2-sysctl",
            "s1-tuning-osl-3-sysctl",
        ]);
        for (const r of rec.resources.filter((x) => x.parent === "s1-smoke"))
            assert.deepEqual(r.props.triggers, ["run-1"], `${r.name} re-runs with the run id`);
        assert.match(await value(rec.byName("s1-smoke-server-osl-2").props.delete as pulumi.Output<string>), /bash -s -- stop <</);
    });

    it("tests every other node over private addresses with the configured duration and streams", async () => {
        const { rec } = await build("s2", { smokeDurationSeconds: 30, smokeParallel: 4 });
        const create = await value(rec.byName("s2-smoke-client-osl-2").props.create as pulumi.Output<string>);
        assert.match(create, /NORDSTACK_PEERS='osl-1=10.10.0.5 osl-3=10.10.0.7' /);
        assert.match(create, /NORDSTACK_IPERF_DURATION=30 /);
        assert.match(create, /NORDSTACK_IPERF_PARALLEL=4 /);
        assert.match(create, /NORDSTACK_EXPECTED_MTU=1500 /);
    });

    it("exports a table per pair and passes thresholds from config", async () => {
        const { platform } = await build("s3", { smokeMinGbps: 5 });
        const results = await value(platform.smokeResults!);
        assert.equal(results.length, 6);
        assert.deepEqual(results[0], { from: "osl-1", to: "osl-2", address: "10.10.0.9", gbps: 9.4, retransmits: 0, pathMtu: 1500 });
    });

    it("no smoke resources without a run id (smokeMode: never)", async () => {
        const { Platform } = await import("../../components/platform");
        const rec = new GraphRecorder();
        new Platform(
            "s4",
            { config: config({ k3sEnabled: false }), sshPrivateKey: pulumi.secret("KEY") },
            { transformations: [rec.transform] },
        );
        assert.equal(rec.resources.filter((r) => r.name.includes("-smoke")).length, 0);
    });
});

describe("overlay smoke graph (mocks)", () => {
    it("puts the client on another node than the server, reads its report on the first server, re-runs per run id", async () => {
        const { Platform } = await import("../../components/platform");
        const rec = new GraphRecorder();
        new Platform(
            "o1",
            { config: config({ smokeMinGbps: 2 }), sshPrivateKey: pulumi.secret("KEY"), smokeRunId: "run-7" },
            { transformations: [rec.transform] },
        );
        const names = rec.resources.filter((r) => r.parent === "o1-overlay-smoke").map((r) => `${r.type} ${r.name}`);
        assert.deepEqual(names, [
            "kubernetes:core/v1:Namespace o1-overlay-smoke-ns",
            "kubernetes:apps/v1:Deployment o1-overlay-smoke-server",
            "kubernetes:core/v1:Service o1-overlay-smoke-server",
            "kubernetes:batch/v1:Job o1-overlay-smoke-client",
            "command:remote:Command o1-overlay-smoke-report",
        ]);
        assert.deepEqual(rec.byName("o1-overlay-smoke").dependsOn, ["o1-k3s"]);
        const job = rec.byName("o1-overlay-smoke-client").props as { spec: pulumi.Output<{ template: { spec: Record<string, unknown> } }> };
        const spec = (await value(job.spec)).template.spec as {
            affinity: {
                podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { labelSelector: unknown; topologyKey: string }[] };
            };
            containers: { env: { name: string; value?: string }[]; command: string[] }[];
        };
        const [term] = spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
        assert.equal(term.topologyKey, "kubernetes.io/hostname");
        assert.deepEqual(term.labelSelector, { matchLabels: { "app.kubernetes.io/name": "nordstack-iperf3-server" } });
        const env = Object.fromEntries(spec.containers[0].env.map((e) => [e.name, e.value]));
        assert.equal(env.OVERLAY_MTU, "1450", "probes the overlay MTU k3s computed");
        assert.match(spec.containers[0].command[2], /ping -M do -c1 -W1 -s \$mid/);
        assert.deepEqual(rec.byName("o1-overlay-smoke-report").props.triggers, ["run-7"]);
        const report = await value(rec.byName("o1-overlay-smoke-report").props.create as pulumi.Output<string>);
        assert.match(report, /NORDSTACK_NAMESPACE=nordstack-smoke NORDSTACK_JOB=iperf3-client /);
        const conn = await value(rec.byName("o1-overlay-smoke-report").props.connection as pulumi.Output<{ host: string }>);
        assert.equal(conn.host, "203.0.113.11", "kubectl runs on the first server");
    });
});
