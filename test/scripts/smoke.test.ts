// The network smoke scripts for real: iperf3 and ping between lab hosts over
// their veths, judged by the same functions the NetworkSmoke component uses.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { Lab, TEST_SSH_OPTIONS } from "../helpers/lab";
import { loadNodeScript, renderNodeStep } from "../../components/host/remote-script";
import { parseSmokeOutput } from "../../components/smoke/results";

// The default thresholds, but a floor this shared 2-core machine always clears: the
// retransmit verdict is the real one (a rate, not a count), judged by the script itself.
const MIN_GBPS = "0.5";

describe("network smoke scripts over SSH (real iperf3, real namespaces)", () => {
    let lab: Lab;
    const server = loadNodeScript("iperf3-server.sh");
    const smoke = loadNodeScript("net-smoke.sh");
    const addr = (n: string) => lab.host(n).address;
    const startServer = (n: string) =>
        lab.step(
            n,
            renderNodeStep({
                script: server,
                args: ["start"],
                env: { NORDSTACK_IPERF_BIND: addr(n), NORDSTACK_IPERF_LIFETIME: "300" },
                user: "root",
            }),
        );
    const stopServer = (n: string) => lab.step(n, renderNodeStep({ script: server, args: ["stop"], user: "root" }));
    const pairStep = (from: string, to: string, over: Record<string, string> = {}) =>
        renderNodeStep({
            script: smoke,
            env: {
                NORDSTACK_SELF_NAME: from,
                NORDSTACK_PEER_NAME: to,
                NORDSTACK_PEER_ADDRESS: addr(to),
                NORDSTACK_EXPECTED_MTU: "1500",
                NORDSTACK_MIN_GBPS: MIN_GBPS,
                NORDSTACK_MAX_RETRANSMIT_RATE: "0.01",
                NORDSTACK_IPERF_DURATION: "2",
                ...over,
            },
            user: "root",
            timeoutSeconds: 120,
        });
    const runPair = (from: string, to: string, over: Record<string, string> = {}) => lab.step(from, pairStep(from, to, over), 150_000);
    /** Runs several pairs at once over SSH, as one round's steps run in parallel. */
    const runRound = async (pairs: [string, string][]) =>
        Promise.all(
            pairs.map(
                ([from, to]) =>
                    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
                        const step = pairStep(from, to);
                        const child = spawn("ssh", ["-i", lab.keyPath, ...TEST_SSH_OPTIONS, `root@${addr(from)}`, step.command]);
                        let stdout = "";
                        let stderr = "";
                        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
                        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
                        child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
                        child.stdin.end(step.stdin);
                    }),
            ),
        );
    const iperfProcs = (n: string) =>
        execFileSync("ip", ["netns", "pids", lab.host(n).netns], { encoding: "utf8" })
            .split("\n")
            // A process may exit between the listing and the read: it is then not running.
            .filter((pid) => pid && /iperf3/.test(spawnSync("cat", [`/proc/${pid}/comm`], { encoding: "utf8" }).stdout ?? ""));

    before(() => {
        lab = Lab.up(4, 7);
        for (const n of ["node1", "node2", "node3", "node4"]) assert.equal(startServer(n).code, 0);
    });
    after(() => {
        for (const n of ["node1", "node2", "node3", "node4"]) stopServer(n);
        lab?.down();
    });

    it("measures a healthy pair and passes it on the retransmit rate, not the count", () => {
        assert.equal(iperfProcs("node2").length, 1, "one iperf3 server, in node2 only");
        const r = runPair("node1", "node2");
        assert.equal(r.code, 0, r.stderr);
        const [pair] = parseSmokeOutput(r.stdout);
        assert.deepEqual([pair.from, pair.to, pair.pathMtu], ["node1", "node2", 1500]);
        assert.ok(pair.gbps > 0.5, `veth throughput ${pair.gbps} Gbit/s`);
        assert.ok(pair.segments > 10000, `segments sent ${pair.segments}`);
        assert.ok(pair.retransmitRate <= 0.01, `retransmit rate ${pair.retransmitRate}`);
        assert.equal(pair.retransmitRate, Math.round((pair.retransmits / pair.segments) * 1e6) / 1e6);
        console.log(`# node1 -> node2: ${pair.gbps} Gbit/s, ${pair.retransmits} retransmits of ${pair.segments} segments`);
    });

    it("fails a threshold above what the link can do, naming the pair and both figures, and still prints the row", () => {
        const r = runPair("node1", "node2", { NORDSTACK_MIN_GBPS: "400" });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /network smoke test node1 -> node2 \(10\.198\.7\.\d+\) failed: [\d.]+ Gbit\/s, required 400 Gbit\/s/);
        assert.equal(parseSmokeOutput(r.stdout).length, 1);
    });

    it("fails a pair whose far end has a 1400-byte MTU, naming the path MTU and the interfaces' MTU", () => {
        lab.netns("node3", "ip", "link", "set", "eth0", "mtu", "1400");
        try {
            const r = runPair("node1", "node3");
            assert.equal(r.code, 1, r.stdout);
            assert.match(r.stderr, /node1 -> node3 .* failed: .*path MTU 14\d\d, expected 1500 \(the private interfaces' MTU\)/);
            assert.ok(parseSmokeOutput(r.stdout)[0].pathMtu < 1500);
        } finally {
            lab.netns("node3", "ip", "link", "set", "eth0", "mtu", "1500");
        }
    });

    it("runs a round's disjoint pairs in parallel: both pass, and a 1400-byte MTU host is still found", async () => {
        const round = await runRound([
            ["node1", "node2"],
            ["node3", "node4"],
        ]);
        for (const r of round) assert.equal(r.code, 0, r.stderr);
        const [a, b] = round.map((r) => parseSmokeOutput(r.stdout)[0]);
        console.log(`# parallel round: ${a.gbps} and ${b.gbps} Gbit/s, retransmit rates ${a.retransmitRate} and ${b.retransmitRate}`);
        lab.netns("node4", "ip", "link", "set", "eth0", "mtu", "1400");
        try {
            const [ok, bad] = await runRound([
                ["node1", "node2"],
                ["node3", "node4"],
            ]);
            assert.equal(ok.code, 0, ok.stderr);
            assert.equal(bad.code, 1);
            assert.match(bad.stderr, /node3 -> node4 .* path MTU 14\d\d/);
        } finally {
            lab.netns("node4", "ip", "link", "set", "eth0", "mtu", "1500");
        }
    });

    it("gives a clear error on a host without iperf3", () => {
        // Hide iperf3 from node3 only, inside its own mount namespace.
        const sshdPid = execFileSync("ip", ["netns", "pids", lab.host("node3").netns], { encoding: "utf8" })
            .split("\n")
            .find((pid) => pid && execFileSync("cat", [`/proc/${pid}/comm`], { encoding: "utf8" }).trim() === "sshd");
        assert.ok(sshdPid, "node3's sshd");
        execFileSync("nsenter", ["-t", sshdPid, "-m", "mount", "--bind", "/dev/null", "/usr/bin/iperf3"]);
        try {
            const r = runPair("node3", "node1");
            assert.equal(r.code, 1);
            assert.match(r.stderr, /iperf3 is not installed on node3; install it \(apt-get install iperf3\) or set smokeMode: never/);
            stopServer("node3");
            const s = lab.step(
                "node3",
                renderNodeStep({ script: server, args: ["start"], env: { NORDSTACK_IPERF_BIND: addr("node3") }, user: "root" }),
            );
            assert.match(s.stderr, /iperf3 is not installed on node3/);
        } finally {
            execFileSync("nsenter", ["-t", sshdPid, "-m", "umount", "/usr/bin/iperf3"]);
            startServer("node3");
        }
    });

    it("removes what it started", () => {
        for (const n of ["node2", "node3", "node4"]) {
            assert.equal(stopServer(n).code, 0);
            assert.deepEqual(iperfProcs(n), [], `no iperf3 left on ${n}`);
            assert.equal(lab.ssh(n, "test -e /run/nordstack/iperf3.pid").code, 1);
        }
        assert.equal(stopServer("node2").code, 0, "stopping twice is fine");
    });
});
