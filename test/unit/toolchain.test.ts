import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

describe("scripts/toolchain/versions.env", () => {
    it("pins the engine and every provider at the versions package.json uses", () => {
        const env = Object.fromEntries(
            readFileSync(path.join(ROOT, "scripts", "toolchain", "versions.env"), "utf8")
                .split("\n")
                .filter((l) => /^[A-Z_]+=/.test(l))
                .map((l) => l.split("=") as [string, string]),
        );
        const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
        assert.equal(env.PULUMI_VERSION, pkg.dependencies["@pulumi/pulumi"]);
        assert.equal(env.PULUMI_PKG_MODULE_VERSION, `v${pkg.dependencies["@pulumi/pulumi"]}`);
        for (const [key, name] of [
            ["COMMAND_VERSION", "command"],
            ["RANDOM_VERSION", "random"],
            ["TLS_VERSION", "tls"],
            ["KUBERNETES_VERSION", "kubernetes"],
        ]) {
            assert.equal(env[key], pkg.dependencies[`@pulumi/${name}`], `${key} vs @pulumi/${name}`);
        }
    });
});
