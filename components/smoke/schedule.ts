// Which node pairs the network smoke test measures, and in which round.
// Pure: the same nodes give the same schedule, so a second preview is empty.

/** `ring`: each node sends to its ring neighbour and receives from the other (ordered so
 * neighbours sit in different zones where zones exist); `full`: every pair once. */
export type SmokeCoverage = "ring" | "full";

export interface ScheduleNode {
    name: string;
    /** Zone label (`topology.kubernetes.io/zone`), if any. */
    zone?: string;
}

/** One measurement: an iperf3 run from `from` to `to` (names). */
export interface SmokePair {
    from: string;
    to: string;
}

/**
 * Nodes interleaved by zone (a1, b1, a2, b2, ...), so ring neighbours are in
 * different zones whenever zones allow it. Stable: sorted by name inside a zone.
 */
export function ringOrder(nodes: ScheduleNode[]): ScheduleNode[] {
    const zones = new Map<string, ScheduleNode[]>();
    for (const n of [...nodes].sort((a, b) => a.name.localeCompare(b.name))) {
        const z = n.zone ?? "";
        zones.set(z, [...(zones.get(z) ?? []), n]);
    }
    const lists = [...zones.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, l]) => l);
    const out: ScheduleNode[] = [];
    for (let i = 0; out.length < nodes.length; i++) for (const l of lists) if (i < l.length) out.push(l[i]);
    return out;
}

/** The measured pairs for a coverage mode. */
export function smokePairs(nodes: ScheduleNode[], coverage: SmokeCoverage): SmokePair[] {
    const order = ringOrder(nodes);
    const n = order.length;
    if (n < 2) return [];
    if (coverage === "ring") {
        // n = 2: both directions (a one-way MTU black hole shows in one direction only).
        return order.map((node, i) => ({ from: node.name, to: order[(i + 1) % n].name }));
    }
    const pairs: SmokePair[] = [];
    for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
            // Alternate the direction so every node sends about as often as it receives.
            pairs.push((i + j) % 2 === 0 ? { from: order[i].name, to: order[j].name } : { from: order[j].name, to: order[i].name });
        }
    }
    return pairs;
}

/**
 * Rounds of pairs in which every node takes part in at most one measurement,
 * so the pairs of a round run in parallel without sharing a link end.
 * `full` uses the circle method (n-1 rounds for even n, n for odd n); `ring`
 * a greedy colouring of the cycle (2 rounds for even n, 3 for odd n).
 */
export function scheduleRounds(nodes: ScheduleNode[], coverage: SmokeCoverage): SmokePair[][] {
    const pairs = smokePairs(nodes, coverage);
    if (coverage === "full")
        return circleRounds(
            ringOrder(nodes).map((x) => x.name),
            pairs,
        );
    const rounds: SmokePair[][] = [];
    const busy: Set<string>[] = [];
    for (const p of pairs) {
        let r = 0;
        while (busy[r]?.has(p.from) || busy[r]?.has(p.to)) r++;
        (rounds[r] ??= []).push(p);
        (busy[r] ??= new Set()).add(p.from).add(p.to);
    }
    return rounds;
}

function circleRounds(names: string[], pairs: SmokePair[]): SmokePair[][] {
    const key = (a: string, b: string) => [a, b].sort().join("\0");
    const direction = new Map(pairs.map((p) => [key(p.from, p.to), p]));
    const ring: (string | undefined)[] = names.length % 2 === 0 ? [...names] : [...names, undefined];
    const m = ring.length;
    const rounds: SmokePair[][] = [];
    for (let r = 0; r < m - 1; r++) {
        const round: SmokePair[] = [];
        for (let i = 0; i < m / 2; i++) {
            const a = ring[i];
            const b = ring[m - 1 - i];
            if (a !== undefined && b !== undefined) round.push(direction.get(key(a, b)) as SmokePair);
        }
        rounds.push(round);
        // Keep the first seat, rotate the others by one.
        ring.splice(1, 0, ring.pop());
    }
    return rounds;
}
