import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { GraphRecorder, installMocks, value } from "../helpers/mocks";
import { spawnSync } from "node:child_process";
import { config, healthyStepOutput, hostKeyOf } from "../helpers/fixtures";

const pairLine = (from: string, to: string, gbps: number) =>
    JSON.stringify({
        from,
        to,
        address: "10.10.0.9",
        pathMtu: 1500,
        gbps,
        retransmits: 3,
        segments: 30000,
        retransmitRate: 0.0001,
        rttMs: 0.2,
    });

before(() =>
    installMocks((args) => {
        const c = /-smoke-pair-(.*)-(osl-\d)$/.exec(args.name);
        return c ? pairLine(c[1], c[2], 9.4) : healthyStepOutput(args.name);
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
    it("starts a server on every node, measures the ring in rounds of disjoint pairs, then stops every server", async () => {
        const { rec, platform } = await build("s1");
        const smoke = rec.resources.filter((r) => r.parent === "s1-smoke").map((r) => r.name);
        const each = (part: string) => ["osl-1", "osl-2", "osl-3"].map((n) => `s1-smoke-${part}-${n}`);
        // 3 nodes in a ring: 3 pairs, 3 rounds (an odd cycle needs 3 colours).
        const pairs = ["s1-smoke-pair-osl-1-osl-2", "s1-smoke-pair-osl-2-osl-3", "s1-smoke-pair-osl-3-osl-1"];
        assert.deepEqual(smoke, [...each("server"), ...pairs, ...each("stop")]);
        assert.deepEqual(rec.byName(pairs[0]).dependsOn, each("server"));
        assert.deepEqual(rec.byName(pairs[1]).dependsOn, [pairs[0]]);
        assert.deepEqual(rec.byName(pairs[2]).dependsOn, [pairs[1]]);
        assert.deepEqual(rec.byName("s1-smoke-stop-osl-2").dependsOn, [pairs[2]]);
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
        assert.match(await value(rec.byName("s1-smoke-server-osl-2").props.delete as pulumi.Output<string>), /bash -s -- stop$/);
        const gateRes = rec.byName("s1-smoke-gate");
        assert.equal(gateRes.type, "command:local:Command");
        assert.deepEqual(gateRes.dependsOn, [...pairs, ...each("stop")]);
        assert.deepEqual((await value(platform.smokeResults!)).length, 3, "one row per measured pair");
    });

    it("with 4 nodes the ring runs in 2 rounds of 2 parallel pairs", async () => {
        const nodes = [
            ...(config().nodes as unknown as Record<string, unknown>[]),
            { name: "osl-4", role: "agent", host: "203.0.113.14", privateAddress: "10.10.0.8", hostKey: hostKeyOf("osl-4") },
        ];
        const { rec } = await build("s5", {
            nodes: nodes.map((n) => ({ name: n.name, role: n.role, host: n.host, privateAddress: n.privateAddress, hostKey: n.hostKey })),
        });
        const round1 = ["s5-smoke-pair-osl-1-osl-2", "s5-smoke-pair-osl-3-osl-4"];
        const round2 = ["s5-smoke-pair-osl-2-osl-3", "s5-smoke-pair-osl-4-osl-1"];
        for (const p of round1) assert.equal(rec.byName(p).dependsOn.length, 4, `${p} waits for the 4 servers only`);
        for (const p of round2) assert.deepEqual(rec.byName(p).dependsOn, round1);
    });

    it("each pair step judges itself: thresholds, expected MTU and the peer go to net-smoke.sh", async () => {
        const { rec } = await build("s2", {
            smokeDurationSeconds: 30,
            smokeParallel: 4,
            smokeMinGbps: 2.5,
            smokeMaxRetransmitRate: "0.005",
        });
        const step = rec.byName("s2-smoke-pair-osl-2-osl-3");
        const create = await value(step.props.create as pulumi.Output<string>);
        assert.match(create, /NORDSTACK_PEER_NAME=osl-3 NORDSTACK_PEER_ADDRESS=10.10.0.7 /);
        assert.match(create, /NORDSTACK_EXPECTED_MTU=1500 NORDSTACK_MIN_GBPS=2.5 NORDSTACK_MAX_RETRANSMIT_RATE=0.005 /);
        assert.match(create, /NORDSTACK_IPERF_DURATION=30 NORDSTACK_IPERF_PARALLEL=4 bash -s --$/);
        assert.equal(await value(step.props.update as pulumi.Output<string>), create, "a failed pair is measured again on the next up");
        assert.match(String(step.props.stdin), /# nordstack network smoke test of one pair/);
        const conn = await value(step.props.connection as pulumi.Output<{ host: string }>);
        assert.equal(conn.host, "203.0.113.12", "runs on the sending node");
    });

    it("exports a table per pair", async () => {
        const { platform } = await build("s3", { smokeMinGbps: 5 });
        const results = await value(platform.smokeResults!);
        assert.equal(results.length, 3);
        assert.deepEqual(results[0], {
            from: "osl-1",
            to: "osl-2",
            address: "10.10.0.9",
            gbps: 9.4,
            retransmits: 3,
            segments: 30000,
            retransmitRate: 0.0001,
            pathMtu: 1500,
            rttMs: 0.2,
        });
    });

    it("a failed pair stops the run before k3s: no k3s step ever reaches the engine", () => {
        const { stdout: out } = spawnSync(
            process.execPath,
            ["--import", "tsx", path.join(__dirname, "..", "helpers", "failing-smoke-run.ts"), "f-smoke-pair-osl-2-osl-3"],
            {
                encoding: "utf8",
            },
        );
        const { registered, errors } = JSON.parse(out) as { registered: string[]; errors: string[] };
        assert.ok(registered.includes("f-smoke-pair-osl-1-osl-2"), "the first round ran");
        assert.ok(registered.includes("f-smoke-pair-osl-2-osl-3"), "the failing pair ran");
        assert.ok(!registered.includes("f-smoke-pair-osl-3-osl-1"), "later rounds do not run");
        assert.ok(!registered.includes("f-smoke-gate"), "the gate never passes");
        // Components register at once; no k3s step below them (token file, prepare, install, ready, kubeconfig) is sent.
        assert.ok(registered.includes("f-k3s-token-osl-1"), "the SecretFile component exists");
        assert.deepEqual(
            registered.filter((n) => n.startsWith("f-k3s-") && /-(write|prepare|install|ready|kubeconfig|provider)/.test(n)),
            [],
        );
        assert.ok(
            errors.some((e) => /f-smoke-pair-osl-2-osl-3 failed: 0.2 Gbit\/s, required 1 Gbit\/s/.test(e)),
            errors.join("\n"),
        );
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
        // It waits for the cluster through its provider (servers and the first join window Ready), not for every node.
        assert.deepEqual(rec.byName("o1-overlay-smoke").dependsOn, []);
        assert.equal(rec.byName("o1-overlay-smoke-ns").provider, "o1-k3s-provider");
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
