import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { installMocks } from "../helpers/mocks";
import { config, firewallConfirmJson, preflightJson } from "../helpers/fixtures";

// Its own file: the refused graph leaves promises unresolved on purpose, and the
// Pulumi runtime's exit-time leak check must not see the other tests' graphs.
const mtuOf: Record<string, number> = { "osl-2": 1450 };

before(() =>
    installMocks((args) => {
        const m = /-preflight-(.*)-check$/.exec(args.name);
        if (args.name.endsWith("-confirm")) return firewallConfirmJson();
        return m ? preflightJson(m[1], mtuOf[m[1]] ?? 1500) : undefined;
    }),
);

after(() => {
    // Internal API (not in the typings): forget the refused graph's pending promises.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require("@pulumi/pulumi/runtime/debuggable") as { leakedPromises: () => unknown }).leakedPromises();
});

describe("Platform MTU gate (mocks)", () => {
    it("refuses to tune any node when preflight MTUs differ between nodes", async () => {
        // The failure surfaces when the engine serializes the tuning command's inputs,
        // which the test runner would otherwise report as an unexpected rejection.
        const saved = process.listeners("unhandledRejection");
        process.removeAllListeners("unhandledRejection");
        const errors: string[] = [];
        process.on("unhandledRejection", (e) => errors.push(String(e)));
        try {
            const { Platform } = await import("../../components/platform");
            const platform = new Platform("p6", { config: config({ k3sEnabled: false }), sshPrivateKey: pulumi.secret("key") });
            let created = false;
            platform.tuning["osl-1"].command.create.apply(() => (created = true));
            await new Promise((r) => setTimeout(r, 300));
            assert.equal(created, false, "the tuning command must not get a create command");
        } finally {
            process.removeAllListeners("unhandledRejection");
            saved.forEach((l) => process.on("unhandledRejection", l));
        }
        assert.ok(errors.length >= 3, `one failure per node, got ${errors.length}`);
        for (const e of errors)
            assert.match(e, /MTUs differ between nodes: 1500 on osl-1 \(eth1\), osl-3 \(eth1\); 1450 on osl-2 \(eth1\)/);
    });
});
