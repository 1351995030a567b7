import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { judgePairs, parseIperf3, parsePing, parseSmokeOutput } from "../../components/smoke/results";
import { smokeRunId } from "../../components/smoke/run-id";
import { config } from "../helpers/fixtures";

// Captured from the real net-smoke.sh between two lab hosts (iperf 3.12, iputils ping).
const fixture = (f: string) => readFileSync(path.join(__dirname, "..", "fixtures", "smoke", f), "utf8");
const OK = fixture("net-smoke-ok.jsonl");
const MISMATCH = fixture("net-smoke-mtu-mismatch.jsonl");
const T = { minGbps: 1, minLinkFraction: 0, maxRetransmitRate: 0.01 };

describe("parsing real iperf3 and ping output", () => {
    it("reads receiver throughput and retransmits from iperf3 --json", () => {
        const [p] = parseSmokeOutput(OK);
        assert.equal(p.from, "node1");
        assert.equal(p.to, "node2");
        assert.equal(p.pathMtu, 1500);
        assert.ok(p.gbps > 1 && p.gbps < 100, `plausible veth throughput, got ${p.gbps}`);
        assert.equal(p.retransmits, 0);
        assert.ok(p.segments > 100000, `segments sent = bytes / MSS, got ${p.segments}`);
        assert.equal(p.retransmitRate, 0);
        assert.equal(p.error, undefined);
    });

    it("reads iperf3's own error report", () => {
        const ghost = parseSmokeOutput(MISMATCH).find((p) => p.to === "ghost");
        assert.equal(ghost?.error, "unable to connect to server: No route to host");
        assert.equal(ghost?.pathMtu, 0);
        assert.deepEqual(parseIperf3({}), { gbps: 0, retransmits: 0, segments: 0, error: "iperf3 report has no end.sum_received" });
    });

    it("reads ping statistics", () => {
        const lines = OK.split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { ping: string });
        const ok = parsePing(lines[0].ping);
        assert.equal(ok.transmitted, 3);
        assert.equal(ok.received, 3);
        assert.ok((ok.avgRttMs ?? 0) > 0);
        const lost = parsePing((JSON.parse(MISMATCH.split("\n")[0]) as { ping: string }).ping);
        assert.deepEqual(lost, { transmitted: 3, received: 0 });
    });
});

describe("judgePairs", () => {
    it("passes a healthy pair", () => {
        assert.deepEqual(judgePairs(parseSmokeOutput(OK), T, { node1: 1500, node2: 1500 }), []);
    });

    it("names the pair, the measured and the required figure when below threshold", () => {
        const [p] = parseSmokeOutput(OK);
        const [msg] = judgePairs([p], { ...T, minGbps: 400 }, { node1: 1500, node2: 1500 });
        assert.match(msg, new RegExp(`^node1 -> node2: ${p.gbps} Gbit/s, required 400 Gbit/s \\(smokeMinGbps\\)`));
    });

    it("requires a fraction of the link speed where both ends report one", () => {
        const [p] = parseSmokeOutput(OK);
        const [msg] = judgePairs(
            [{ ...p, gbps: 7 }],
            { ...T, minLinkFraction: 0.8 },
            { node1: 1500, node2: 1500 },
            { node1: 10000, node2: 10000 },
        );
        assert.match(msg, /node1 -> node2: 7 Gbit\/s, required 8 Gbit\/s \(0.8 of the 10 Gbit\/s link\)/);
        assert.deepEqual(
            judgePairs([{ ...p, gbps: 7 }], { ...T, minLinkFraction: 0.8 }, { node1: 1500, node2: 1500 }, { node1: -1, node2: 10000 }),
            [],
        );
    });

    it("reports a real MTU mismatch with both ends, both values, and the retransmits it caused", () => {
        const problems = judgePairs(
            parseSmokeOutput(MISMATCH).filter((p) => p.to === "node2"),
            T,
            { node1: 1500, node2: 1400 },
        );
        assert.ok(
            problems.some((m) =>
                /^node1 -> node2: MTU mismatch: node1 has 1500, node2 has 1400, but 1404 bytes cross unfragmented/.test(m),
            ),
            problems.join("\n"),
        );
        // The path-MTU probe is the MTU verdict: this mismatch cost 0.26 % retransmits, under the 1 % rate limit.
        assert.ok(!problems.some((m) => /retransmitted/.test(m)), problems.join("\n"));
        const strict = judgePairs(
            parseSmokeOutput(MISMATCH).filter((p) => p.to === "node2"),
            { ...T, maxRetransmitRate: 0.001 },
            { node1: 1500, node2: 1400 },
        );
        assert.ok(
            strict.some((m) =>
                /^node1 -> node2: 0\.2633 % of segments retransmitted \(3590 of 1363324\), at most 0\.1000 % allowed/.test(m),
            ),
            strict.join("\n"),
        );
    });
});

describe("smokeRunId", () => {
    const now = new Date("2026-11-28T01:00:00Z");
    it("onChange by default, and the same for the same config in any order of nodes", () => {
        const a = smokeRunId(config(), now);
        assert.equal(a, smokeRunId(config(), new Date()), "a second run has the same id: no diff");
        const nodes = config().nodes.map((n) => ({
            name: n.name,
            role: n.role,
            host: n.host,
            privateAddress: n.privateAddress,
            hostKey: n.hostKey,
        }));
        assert.equal(smokeRunId(config({ nodes: [nodes[0], nodes[2], nodes[1]] }), now), a);
    });

    it("changes every run for always, only with the network for onChange, and is absent for never", () => {
        assert.equal(smokeRunId(config({ smokeMode: "always" }), now), "2026-11-28T01:00:00.000Z");
        const a = smokeRunId(config({ smokeMode: "onChange" }), now);
        assert.equal(a, smokeRunId(config({ smokeMode: "onChange" }), new Date()));
        assert.notEqual(a, smokeRunId(config({ smokeMode: "onChange", smokeMinGbps: 5 }), now));
        assert.equal(smokeRunId(config({ smokeMode: "never" }), now), undefined);
    });
});
