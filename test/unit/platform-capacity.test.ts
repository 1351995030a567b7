// Platform hands each node's share of the platform's requests to its preflight
// step (mocks): the figures of components/host/capacity.ts, with k3s only.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { GraphRecorder, installMocks, value } from "../helpers/mocks";
import { healthyStepOutput } from "../helpers/fixtures";
import { parsePlatformConfig } from "../../components/config";
import { nodeShares, shareDetail } from "../../components/host/capacity";
import { shellQuote } from "../../components/host/remote-script";
import { devStackRawConfig } from "../kube/dev-stack";

before(() => installMocks((args) => healthyStepOutput(args.name)));

async function preflightCommands(name: string, overrides: Record<string, unknown> = {}): Promise<Record<string, string>> {
    const cfg = parsePlatformConfig({ ...devStackRawConfig(), ...overrides });
    const { Platform } = await import("../../components/platform");
    const rec = new GraphRecorder();
    new Platform(name, { config: cfg, sshPrivateKey: pulumi.secret("KEY") }, { transformations: [rec.transform] });
    const out: Record<string, string> = {};
    for (const n of cfg.nodes)
        out[n.name] = await value(rec.byName(`${name}-preflight-${n.name}-check`).props.create as pulumi.Input<string>);
    return out;
}

describe("Platform: preflight gets each node's share (mocks)", () => {
    it("with k3s, every node's command carries its share and how it adds up", async () => {
        const cfg = parsePlatformConfig(devStackRawConfig());
        const commands = await preflightCommands("c1");
        for (const share of nodeShares(cfg, cfg.nodes)) {
            const cmd = commands[share.node];
            const d = shareDetail(share);
            assert.ok(cmd.includes(`NORDSTACK_REQUIRED_MILLICPU=${shellQuote(String(share.required.milliCpu))}`), cmd);
            assert.ok(cmd.includes(`NORDSTACK_REQUIRED_MEMORY_MIB=${shellQuote(String(share.required.memoryMiB))}`), cmd);
            assert.ok(cmd.includes(`NORDSTACK_REQUIRED_CPU_DETAIL=${shellQuote(d.cpu)}`), cmd);
            assert.ok(cmd.includes(`NORDSTACK_REQUIRED_MEMORY_DETAIL=${shellQuote(d.memory)}`), cmd);
        }
        assert.match(commands["osl-1"], /NORDSTACK_REQUIRED_MILLICPU='?1460'? /);
        assert.match(commands["osl-2"], /NORDSTACK_REQUIRED_MEMORY_MIB='?1196'? /);
    });

    it("without k3s nothing is scheduled, so nothing is checked", async () => {
        const commands = await preflightCommands("c2", { k3sEnabled: "false" });
        for (const cmd of Object.values(commands)) {
            assert.doesNotMatch(cmd, /NORDSTACK_REQUIRED_(MILLICPU|MEMORY)/);
        }
    });
});
