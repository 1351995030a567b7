// Reading what net-smoke.sh printed (iperf3 --json reports and ping output) and
// judging it against the thresholds. Pure functions, tested on real output.

/** Throughput and retransmits of one iperf3 TCP run. */
export interface IperfSummary {
    /** What the receiver got, in Gbit/s. */
    gbps: number;
    retransmits: number;
    /** Segments sent: bytes sent / MSS (0 when the report has no MSS). */
    segments: number;
    /** iperf3's own error, e.g. "unable to connect to server: No route to host". */
    error?: string;
}

export interface PingSummary {
    transmitted: number;
    received: number;
    avgRttMs?: number;
}

/** One ordered pair's measurements, as stack output. */
export interface PairResult {
    from: string;
    to: string;
    address: string;
    gbps: number;
    retransmits: number;
    /** Segments sent (bytes / MSS). */
    segments: number;
    /** Retransmitted segments per segment sent. */
    retransmitRate: number;
    /** Largest packet that crossed unfragmented; 0 when none did. */
    pathMtu: number;
    /** Average ping round trip, when measured. */
    rttMs?: number;
    error?: string;
}

export interface SmokeThresholds {
    /** Minimum Gbit/s per pair. */
    minGbps: number;
    /** Minimum fraction of the slower end's link speed, where the link reports one (0 = off). */
    minLinkFraction: number;
    /**
     * Most retransmitted segments per segment sent (e.g. 0.01 = 1 %). A rate, not a
     * count: a healthy 10 Gbit/s link can retransmit thousands of segments in 10 s.
     */
    maxRetransmitRate: number;
}

export function parseIperf3(report: unknown): IperfSummary {
    const r = report as {
        error?: string;
        start?: { tcp_mss_default?: number; tcp_mss?: number };
        end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number; bytes?: number } };
    };
    if (typeof r !== "object" || r === null) return { gbps: 0, retransmits: 0, segments: 0, error: "no iperf3 report" };
    if (r.error) return { gbps: 0, retransmits: 0, segments: 0, error: r.error };
    const bps = r.end?.sum_received?.bits_per_second;
    if (typeof bps !== "number") return { gbps: 0, retransmits: 0, segments: 0, error: "iperf3 report has no end.sum_received" };
    const mss = r.start?.tcp_mss ?? r.start?.tcp_mss_default ?? 0;
    const bytes = r.end?.sum_sent?.bytes ?? 0;
    return {
        gbps: Math.round((bps / 1e9) * 1000) / 1000,
        retransmits: r.end?.sum_sent?.retransmits ?? 0,
        segments: mss > 0 ? Math.round(bytes / mss) : 0,
    };
}

export function parsePing(output: string): PingSummary {
    const stats = /(\d+) packets transmitted, (\d+) received/.exec(output);
    const rtt = /= [\d.]+\/([\d.]+)\/[\d.]+\/[\d.]+ ms/.exec(output);
    return {
        transmitted: stats ? Number(stats[1]) : 0,
        received: stats ? Number(stats[2]) : 0,
        ...(rtt ? { avgRttMs: Number(rtt[1]) } : {}),
    };
}

/**
 * Parses smoke output, one JSON object per line: net-smoke.sh's judged figures
 * (`gbps`, `retransmits`, `segments`), or the overlay pod's raw `iperf` report.
 */
export function parseSmokeOutput(stdout: string): PairResult[] {
    return stdout
        .split("\n")
        .filter((l) => l.trim().startsWith("{"))
        .map((line) => {
            const d = JSON.parse(line) as {
                from: string;
                to?: string;
                peer?: string;
                address: string;
                pathMtu: number;
                rttMs?: number | null;
                gbps?: number;
                retransmits?: number;
                segments?: number;
                error?: string;
                iperf?: unknown;
            };
            const s: IperfSummary =
                d.iperf !== undefined
                    ? parseIperf3(d.iperf)
                    : { gbps: d.gbps ?? 0, retransmits: d.retransmits ?? 0, segments: d.segments ?? 0, error: d.error };
            return {
                from: d.from,
                to: d.to ?? d.peer ?? "?",
                address: d.address,
                gbps: s.gbps,
                retransmits: s.retransmits,
                segments: s.segments,
                retransmitRate: s.segments > 0 ? Math.round((s.retransmits / s.segments) * 1e6) / 1e6 : 0,
                pathMtu: d.pathMtu,
                ...(typeof d.rttMs === "number" ? { rttMs: d.rttMs } : {}),
                ...(s.error ? { error: s.error } : {}),
            };
        });
}

/**
 * Every way a pair misses the bar, each naming the pair, the measured and the
 * required figure. `mtuOf` is each node's private-interface MTU (from
 * preflight), so a mismatch names both ends and both values.
 */
export function judgePairs(
    pairs: PairResult[],
    t: SmokeThresholds,
    mtuOf: Record<string, number>,
    linkMbpsOf: Record<string, number> = {},
): string[] {
    const problems: string[] = [];
    for (const p of pairs) {
        const name = `${p.from} -> ${p.to}`;
        if (p.error) {
            problems.push(`${name}: iperf3 failed: ${p.error}`);
            continue;
        }
        const required = requiredGbps(t, linkMbpsOf[p.from], linkMbpsOf[p.to]);
        if (p.gbps < required.gbps) {
            problems.push(
                `${name}: ${p.gbps} Gbit/s, required ${required.gbps} Gbit/s (${required.why}); virtualization overhead or a noisy neighbour?`,
            );
        }
        if (p.retransmitRate > t.maxRetransmitRate) {
            problems.push(
                `${name}: ${(p.retransmitRate * 100).toFixed(4)} % of segments retransmitted (${p.retransmits} of ${p.segments}), ` +
                    `at most ${(t.maxRetransmitRate * 100).toFixed(4)} % allowed (an MTU problem drops large segments)`,
            );
        }
        const a = mtuOf[p.from];
        const b = mtuOf[p.to];
        if (a !== undefined && b !== undefined && (a !== b || p.pathMtu !== a)) {
            problems.push(
                `${name}: MTU mismatch: ${p.from} has ${a}, ${p.to} has ${b}, but ${p.pathMtu || "no"} bytes cross unfragmented; ` +
                    "set every private interface (and the switch/bridge between them) to the same MTU",
            );
        }
    }
    return problems;
}

/** The Gbit/s a pair must reach: `minGbps`, or a fraction of the slower link where both report a speed. */
export function requiredGbps(t: SmokeThresholds, fromMbps?: number, toMbps?: number): { gbps: number; why: string } {
    const speeds = [fromMbps, toMbps].filter((s): s is number => typeof s === "number" && s > 0);
    if (t.minLinkFraction > 0 && speeds.length === 2) {
        const link = Math.min(...speeds) / 1000;
        const byLink = Math.round(link * t.minLinkFraction * 1000) / 1000;
        if (byLink > t.minGbps) return { gbps: byLink, why: `${t.minLinkFraction} of the ${link} Gbit/s link` };
    }
    return { gbps: t.minGbps, why: "smokeMinGbps" };
}
