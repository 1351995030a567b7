import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ringOrder, scheduleRounds, smokePairs } from "../../components/smoke/schedule";

const nodes = (n: number, zones = 0) =>
    Array.from({ length: n }, (_, i) => ({ name: `n${String(i).padStart(2, "0")}`, ...(zones ? { zone: `z${i % zones}` } : {}) }));

/** Every node takes part in at most one measurement per round. */
function assertDisjoint(rounds: { from: string; to: string }[][]): void {
    for (const [r, round] of rounds.entries()) {
        const seen = new Set<string>();
        for (const p of round) {
            assert.ok(!seen.has(p.from) && !seen.has(p.to), `round ${r}: ${p.from} or ${p.to} twice`);
            seen.add(p.from).add(p.to);
        }
    }
}

describe("smoke schedule", () => {
    it("ring: each node sends once and receives once, in 2 rounds for even and 3 for odd counts, for any size", () => {
        for (const n of [2, 3, 4, 5, 10, 25, 50, 51, 200]) {
            const rounds = scheduleRounds(nodes(n), "ring");
            assertDisjoint(rounds);
            assert.equal(rounds.length, n % 2 === 0 ? 2 : 3, `${n} nodes`);
            const pairs = rounds.flat();
            assert.equal(pairs.length, n);
            for (const x of nodes(n)) {
                assert.equal(pairs.filter((p) => p.from === x.name).length, 1);
                assert.equal(pairs.filter((p) => p.to === x.name).length, 1);
            }
        }
    });

    it("two nodes are measured in both directions (a one-way MTU black hole shows in one only)", () => {
        assert.deepEqual(smokePairs(nodes(2), "ring"), [
            { from: "n00", to: "n01" },
            { from: "n01", to: "n00" },
        ]);
    });

    it("ring neighbours sit in different zones whenever the zones allow it", () => {
        const order = ringOrder(nodes(6, 2));
        for (let i = 0; i < order.length; i++) assert.notEqual(order[i].zone, order[(i + 1) % order.length].zone);
        const pairs = smokePairs(nodes(9, 3), "ring");
        const zoneOf = new Map(nodes(9, 3).map((x) => [x.name, x.zone]));
        assert.ok(pairs.every((p) => zoneOf.get(p.from) !== zoneOf.get(p.to)));
    });

    it("full: every pair exactly once, in n-1 rounds (n even) or n rounds (n odd)", () => {
        for (const n of [2, 3, 4, 7, 10]) {
            const rounds = scheduleRounds(nodes(n), "full");
            assertDisjoint(rounds);
            assert.equal(rounds.length, n % 2 === 0 ? n - 1 : n);
            const keys = rounds.flat().map((p) => [p.from, p.to].sort().join("-"));
            assert.equal(new Set(keys).size, (n * (n - 1)) / 2);
            assert.equal(keys.length, (n * (n - 1)) / 2);
        }
    });

    it("is stable: the same nodes in another order give the same schedule", () => {
        const a = scheduleRounds(nodes(7, 2), "ring");
        const b = scheduleRounds([...nodes(7, 2)].reverse(), "ring");
        assert.deepEqual(a, b);
    });
});
