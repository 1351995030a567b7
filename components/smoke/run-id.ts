import { createHash } from "node:crypto";
import type { PlatformConfig } from "../config";

/**
 * What triggers a smoke-test run: the current time for `always` (so every `up`
 * runs it, and the preview says so), or a hash of what the network depends on
 * for `onChange`. Undefined for `never`.
 */
export function smokeRunId(cfg: PlatformConfig, now: Date): string | undefined {
    switch (cfg.smoke.mode) {
        case "never":
            return undefined;
        case "always":
            return now.toISOString();
        case "onChange": {
            const basis = {
                nodes: cfg.nodes.map((n) => [n.name, n.privateAddress]),
                mtu: cfg.mtu,
                smoke: cfg.smoke,
                sysctls: cfg.tuning.sysctls,
            };
            return createHash("sha256").update(JSON.stringify(basis)).digest("hex").slice(0, 16);
        }
    }
}
