// Kubernetes CPU quantities (`100m`, `1`, `1.5`), read the one way the gateway's
// worker count and the capacity check both need.

/** Millicores of a CPU quantity, or undefined when `q` is not one. */
export function parseCpuMillis(q: string): number | undefined {
    const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(q);
    if (!m) return undefined;
    return m[2] === "m" ? Number(m[1]) : Number(m[1]) * 1000;
}
