// User-facing failures inside applies (components/errors.ts): the message the user
// reads is the one we wrote, and formatting the error costs nothing. Measured with the
// real engine before this: a preview failing on one parse error cost 38-56 s of CPU and
// 3.6 GB with RunError, 69-104 s and 3.9 GB with a plain Error; now 4-5 s and 200 MB.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { inspect } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import { resourceError, runError } from "../../components/errors";

describe("user-facing errors", () => {
    it("keep their message when the SDK prefixes it, and inspect as name and message only", () => {
        const e = runError("smoke pair a -> b: 0.2 Gbit/s, required 1");
        // What rpc.ts does once per awaiting input.
        e.message = `error serializing property "create": ${e.message}`;
        assert.equal(e.message, "smoke pair a -> b: 0.2 Gbit/s, required 1");
        assert.ok(pulumi.RunError.isInstance(e));
        assert.equal(inspect(e, { colors: true }), "Error: smoke pair a -> b: 0.2 Gbit/s, required 1");
        const r = resourceError("gateway: replicas 1", new pulumi.ComponentResource("t:x:Y", "y", {}, {}, true));
        assert.ok(pulumi.ResourceError.isInstance(r));
        assert.equal(r.hideStack, true);
        assert.equal(String(r), "Error: gateway: replicas 1");
    });

    it("a failed parse inside an apply of the dev stack reaches the runtime as our message, inspected at once", () => {
        const { stdout, stderr } = spawnSync(
            process.execPath,
            ["--import", "tsx", path.join(__dirname, "..", "helpers", "failing-apply-run.ts"), "osl-2"],
            { encoding: "utf8", timeout: 60_000 },
        );
        const r = JSON.parse(stdout) as { rejections: number; message: string; stack: string; inspected: string };
        assert.ok(r.rejections > 0, stderr);
        assert.equal(r.message, 'preflight on osl-2 printed no result JSON (got "preflight: garbage, not JSON")');
        // The frames that made Node's coloured inspect grow without bound: source-mapped SDK files.
        assert.match(r.stack, /node_modules\/@pulumi\/output\.ts:\d+:\d+/);
        assert.equal(r.inspected, `Error: ${r.message}`, "no frames left to colour");
    });
});
