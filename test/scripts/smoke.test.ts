// The network smoke scripts for real: iperf3 and ping between lab hosts over
// their veths, judged by the same functions the NetworkSmoke component uses.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { Lab } from "../helpers/lab";
import { loadNodeScript, renderScriptCommand } from "../../components/host/remote-script";
import { judgePairs, parseSmokeOutput } from "../../components/smoke/results";

// Retransmits on veths track this machine's CPU load (other tests, builds), not the
// link, so these tests judge throughput and MTU; retransmit limits are unit-tested.
const T = { minGbps: 0.5, minLinkFraction: 0, maxRetransmits: 1e9 };

describe("network smoke scripts over SSH (real iperf3, real namespaces)", () => {
    let lab: Lab;
    const server = loadNodeScript("iperf3-server.sh");
    const smoke = loadNodeScript("net-smoke.sh");
    const addr = (n: string) => lab.host(n).address;
    const startServer = (n: string) =>
        lab.ssh(
            n,
            renderScriptCommand({
                script: server,
                args: ["start"],
                env: { NORDSTACK_IPERF_BIND: addr(n), NORDSTACK_IPERF_LIFETIME: "120" },
                user: "root",
            }),
        );
    const stopServer = (n: string) => lab.ssh(n, renderScriptCommand({ script: server, args: ["stop"], user: "root" }));
    const runSmoke = (from: string, to: string[]) =>
        lab.ssh(
            from,
            renderScriptCommand({
                script: smoke,
                env: {
                    NORDSTACK_PEERS: to.map((t) => `${t}=${addr(t)}`).join(" "),
                    NORDSTACK_EXPECTED_MTU: "1500",
                    NORDSTACK_IPERF_DURATION: "2",
                },
                user: "root",
                timeoutSeconds: 120,
            }),
            150_000,
        );
    const iperfProcs = (n: string) =>
        execFileSync("ip", ["netns", "pids", lab.host(n).netns], { encoding: "utf8" })
            .split("\n")
            .filter((pid) => pid && /iperf3/.test(execFileSync("cat", [`/proc/${pid}/comm`], { encoding: "utf8" }).trim()));

    before(() => (lab = Lab.up(3, 7)));
    after(() => {
        for (const n of ["node1", "node2", "node3"]) stopServer(n);
        lab?.down();
    });

    it("measures real throughput between two hosts and reports it per pair", () => {
        assert.equal(startServer("node2").code, 0);
        assert.equal(iperfProcs("node2").length, 1, "one iperf3 server, in node2 only");
        const r = runSmoke("node1", ["node2"]);
        assert.equal(r.code, 0, r.stderr);
        const [pair] = parseSmokeOutput(r.stdout);
        assert.equal(pair.from, "node1");
        assert.equal(pair.to, "node2");
        assert.equal(pair.pathMtu, 1500);
        assert.ok(pair.gbps > 0.5, `veth throughput ${pair.gbps} Gbit/s`);
        assert.deepEqual(judgePairs([pair], T, { node1: 1500, node2: 1500 }), []);
        console.log(`# measured node1 -> node2: ${pair.gbps} Gbit/s, ${pair.retransmits} retransmits`);
    });

    it("fails a threshold above what the link can do, naming the pair and both figures", () => {
        const [pair] = parseSmokeOutput(runSmoke("node1", ["node2"]).stdout);
        const problems = judgePairs([pair], { ...T, minGbps: 400 }, { node1: 1500, node2: 1500 });
        assert.equal(problems.length, 1);
        assert.match(problems[0], new RegExp(`^node1 -> node2: ${pair.gbps} Gbit/s, required 400 Gbit/s`));
    });

    it("detects and names a pair of hosts whose interfaces have mismatched MTUs", () => {
        assert.equal(startServer("node3").code, 0);
        lab.netns("node3", "ip", "link", "set", "eth0", "mtu", "1400");
        try {
            const r = runSmoke("node1", ["node2", "node3"]);
            assert.equal(r.code, 0, r.stderr);
            const pairs = parseSmokeOutput(r.stdout);
            assert.deepEqual(
                pairs.map((p) => [p.to, p.pathMtu === 1500]),
                [
                    ["node2", true],
                    ["node3", false],
                ],
            );
            const problems = judgePairs(pairs, T, { node1: 1500, node2: 1500, node3: 1400 });
            assert.ok(problems.length >= 1, "the mismatch is reported");
            assert.ok(
                problems.every((m) => m.startsWith("node1 -> node3: ")),
                problems.join("\n"),
            );
            assert.ok(problems.some((m) => /MTU mismatch: node1 has 1500, node3 has 1400/.test(m)));
        } finally {
            lab.netns("node3", "ip", "link", "set", "eth0", "mtu", "1500");
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
            const r = runSmoke("node3", ["node1"]);
            assert.equal(r.code, 1);
            assert.match(r.stderr, /iperf3 is not installed on node3; install it \(apt-get install iperf3\) or set smokeMode: never/);
            const s = lab.ssh(
                "node3",
                renderScriptCommand({ script: server, args: ["start"], env: { NORDSTACK_IPERF_BIND: addr("node3") }, user: "root" }),
            );
            assert.match(s.stderr, /iperf3 is not installed on node3/);
        } finally {
            execFileSync("nsenter", ["-t", sshdPid, "-m", "umount", "/usr/bin/iperf3"]);
        }
    });

    it("removes what it started", () => {
        for (const n of ["node2", "node3"]) {
            assert.equal(stopServer(n).code, 0);
            assert.deepEqual(iperfProcs(n), [], `no iperf3 left on ${n}`);
            assert.equal(lab.ssh(n, "test -e /run/nordstack/iperf3.pid").code, 1);
        }
        assert.equal(stopServer("node2").code, 0, "stopping twice is fine");
    });
});
