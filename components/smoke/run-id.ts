import { createHash } from "node:crypto";
import type { PlatformConfig } from "../config";

/**
 * What triggers a smoke-test run: a hash of what the network depends on for
 * `onChange` (the default: a second `up` with the same config changes nothing),
 * or the current time for `always` (every `up` runs it, and the preview says so).
 * Undefined for `never`. A sysctl change does not re-run them (it previews as
 * exactly the tuning updates); change a threshold or use `always` to measure again.
 * Every input is sorted, so list order in the stack file
 * does not re-run the tests.
 */
export function smokeRunId(cfg: PlatformConfig, now: Date): string | undefined {
    switch (cfg.smoke.mode) {
        case "never":
            return undefined;
        case "always":
            return now.toISOString();
        case "onChange": {
            const basis = {
                nodes: cfg.nodes.map((n) => [n.name, n.privateAddress, n.labels["topology.kubernetes.io/zone"] ?? ""]).sort(),
                mtu: cfg.mtu,
                smoke: cfg.smoke,
            };
            return createHash("sha256").update(JSON.stringify(basis)).digest("hex").slice(0, 16);
        }
    }
}
