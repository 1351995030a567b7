// What preflight reports, and the cross-node checks made from all reports.
// Pure functions, tested directly.
import { parseLastJsonLine } from "./remote-script";
import { runError } from "../errors";

/** The JSON object printed by scripts/node/preflight.sh. */
export interface PreflightResult {
    hostname: string;
    os: string;
    osVersion: string;
    arch: string;
    kernel: string;
    virtualization: string;
    privateInterface: string;
    mtu: number;
    /** -1 when the interface does not report a speed (common for virtio). */
    linkSpeedMbps: number;
    timeSync: string;
    /** CPUs this node can use (`nproc`). */
    cpus: number;
    /** MemTotal of /proc/meminfo, MiB. */
    memoryMiB: number;
    modules: { loaded: string[]; missing: string[] };
    warnings: string[];
    problems: string[];
    ok: boolean;
}

/** Parses preflight stdout; throws naming the node when it is not the expected JSON. */
export function parsePreflightOutput(node: string, stdout: string): PreflightResult {
    const r = parseLastJsonLine(`preflight on ${node}`, stdout) as PreflightResult;
    if (
        typeof r !== "object" ||
        r === null ||
        typeof r.mtu !== "number" ||
        typeof r.virtualization !== "string" ||
        typeof r.cpus !== "number" ||
        typeof r.memoryMiB !== "number"
    ) {
        throw runError(`preflight on ${node} printed an unexpected result: ${JSON.stringify(r).slice(0, 200)}`);
    }
    return r;
}

/**
 * Problems that only show when nodes are compared: every node's private
 * interface must have the same MTU, or packets between them fragment or vanish.
 */
export function crossNodeProblems(results: { node: string; result: PreflightResult }[]): string[] {
    const byMtu = new Map<number, string[]>();
    for (const { node, result } of results) {
        byMtu.set(result.mtu, [...(byMtu.get(result.mtu) ?? []), `${node} (${result.privateInterface || "?"})`]);
    }
    if (byMtu.size <= 1) return [];
    const groups = [...byMtu.entries()].map(([mtu, nodes]) => `${mtu} on ${nodes.join(", ")}`).join("; ");
    return [`private-network MTUs differ between nodes: ${groups}; set every node's private interface to the same MTU`];
}
