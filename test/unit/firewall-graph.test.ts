// The Firewall layer in the Platform graph (Pulumi mocks): one per node, two
// connections each (apply, then a fresh one to confirm), before k3s and smoke.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { GraphRecorder, installMocks, value } from "../helpers/mocks";
import { config, healthyStepOutput, hostKeyOf } from "../helpers/fixtures";
import type { PlatformConfig } from "../../components/config";
import { rulesHash } from "../../components/host/firewall";

before(() => installMocks((args) => healthyStepOutput(args.name)));

async function build(name: string, cfg: PlatformConfig) {
    const { Platform } = await import("../../components/platform");
    const rec = new GraphRecorder();
    const platform = new Platform(name, { config: cfg, sshPrivateKey: pulumi.secret("KEY") }, { transformations: [rec.transform] });
    return { platform, rec };
}

/** Everything `name` waits for, directly or through what it waits for. */
function upstream(rec: GraphRecorder, name: string, seen = new Set<string>()): Set<string> {
    for (const d of rec.byName(name).dependsOn) {
        if (!seen.has(d)) {
            seen.add(d);
            upstream(rec, d, seen);
        }
    }
    return seen;
}

const NODES = ["osl-1", "osl-2", "osl-3"];

describe("Firewall in the Platform graph (mocks)", () => {
    it("every node has a Firewall, confirmed over its own connection, before its k3s install", async () => {
        const { rec } = await build("f1", config({ smokeMode: "never" }));
        assert.equal(rec.ofType("nordstack:host:Firewall").length, 3);
        for (const n of NODES) {
            assert.equal(rec.byName(`f1-firewall-${n}`).parent, "f1");
            assert.deepEqual(rec.byName(`f1-firewall-${n}`).dependsOn, [`f1-tuning-${n}-sysctl`], "after the node's tuning");
            assert.deepEqual(rec.byName(`f1-firewall-${n}-confirm`).dependsOn, [`f1-firewall-${n}-rules`]);
            const before = upstream(rec, `f1-k3s-install-${n}`);
            for (const m of NODES) assert.ok(before.has(`f1-firewall-${m}-confirm`), `k3s on ${n} waits for the firewall of ${m}`);
        }
    });

    it("apply updates in place, deletes by revert, and confirm checks the same rules' hash", async () => {
        const { rec, platform } = await build("f2", config());
        const rules = rec.byName("f2-firewall-osl-2-rules");
        const confirm = rec.byName("f2-firewall-osl-2-confirm");
        const create = await value(rules.props.create as pulumi.Output<string>);
        assert.equal(create, await value(rules.props.update as pulumi.Output<string>));
        assert.match(create, /^timeout -k 10 120 env NORDSTACK_FW_RULES='# Managed by nordstack \(node agent\)/);
        assert.match(create, /NORDSTACK_FW_CONFIRM_SECONDS=60 bash -s -- apply$/);
        assert.match(await value(rules.props.delete as string), /^timeout -k 10 120 env bash -s -- revert$/);
        // The script travels on stdin, for every step (the command line stays short).
        assert.match(await value(rules.props.stdin as string), /^#!\/usr\/bin\/env bash\n# nordstack node firewall/);
        assert.equal(await value(confirm.props.stdin as string), await value(rules.props.stdin as string));
        assert.equal(rules.props.logging, "stderr");
        assert.equal(rules.props.addPreviousOutputInEnv, false);
        assert.equal(confirm.props.addPreviousOutputInEnv, false);
        assert.equal(confirm.props.delete, undefined, "nothing to undo for a confirmation");
        const text = await value(platform.firewall["osl-2"].rules);
        assert.match(
            await value(confirm.props.create as pulumi.Output<string>),
            new RegExp(`^timeout -k 10 120 env NORDSTACK_FW_HASH=${rulesHash(text)} bash -s -- confirm$`),
        );
        const triggers = await value(rules.props.triggers as pulumi.Output<unknown[]>);
        assert.equal(triggers.length, 3);
        assert.equal(triggers[1], text, "triggers: the script's hash, the rendered rules and the machine's identity");
        assert.equal(triggers[2], hostKeyOf("osl-2"), "a replaced machine (new host key) gets its firewall again");
        // Every node's private address, on the interface preflight found; 80/443 since services exist.
        assert.match(text, /elements = \{ 10\.10\.0\.5, 10\.10\.0\.6, 10\.10\.0\.7 \}/);
        assert.match(text, /iifname "eth1" ip saddr @private4 jump from_private/);
        assert.match(text, /tcp dport \{ 80, 443 \} accept/);
        // osl-1 is the server: the API is open to the deploy machine (apiAllowFrom in the fixture).
        assert.match(await value(platform.firewall["osl-1"].rules), /set api_allow4 \{[^}]*198\.51\.100\.7/);
        assert.doesNotMatch(text, /api_allow/);
    });

    it("a new node's address reaches every node's rules; sshAllowFrom, ports and timeout pass through", async () => {
        const nodes = [
            ...config().nodes.map((n) => ({
                name: n.name,
                role: n.role,
                host: n.host,
                privateAddress: n.privateAddress,
                hostKey: n.hostKey,
            })),
            { name: "osl-4", role: "agent", host: "203.0.113.14", privateAddress: "10.10.0.8", hostKey: hostKeyOf("osl-4") },
        ];
        const { rec, platform } = await build(
            "f3",
            config({
                nodes,
                sshAllowFrom: ["203.0.113.0/24"],
                firewallExtraPublicPorts: [{ port: 8443 }],
                firewallConfirmSeconds: 30,
                sshPort: 2222,
            }),
        );
        for (const n of [...NODES, "osl-4"]) {
            const text = await value(platform.firewall[n].rules);
            assert.match(text, /10\.10\.0\.5, 10\.10\.0\.6, 10\.10\.0\.7, 10\.10\.0\.8/, `${n} admits osl-4`);
            assert.match(text, /tcp dport 2222 ip saddr @ssh_allow4 accept/);
            assert.match(text, /tcp dport \{ 80, 443, 8443 \} accept/);
        }
        assert.match(
            await value(rec.byName("f3-firewall-osl-4-rules").props.create as pulumi.Output<string>),
            /NORDSTACK_FW_CONFIRM_SECONDS=30 /,
        );
    });

    it("no gateway ports without services, nothing at all with firewallEnabled: false", async () => {
        const bare = await build("f4", config({ services: [], gatewayServerNames: [] }));
        assert.doesNotMatch(await value(bare.platform.firewall["osl-1"].rules), /80, 443/);
        const off = await build("f5", config({ firewallEnabled: false }));
        assert.equal(off.rec.ofType("nordstack:host:Firewall").length, 0);
        assert.deepEqual(
            off.rec.byName("f5-k3s-prepare-osl-1").dependsOn.filter((d) => d.includes("firewall")),
            [],
        );
    });

    it("a non-root SSH user runs every step through sudo", async () => {
        const { rec } = await build("f6", config({ sshUser: "debian" }));
        const r = rec.byName("f6-firewall-osl-1-rules");
        assert.match(await value(r.props.create as pulumi.Output<string>), /^sudo -n timeout -k 10 120 env /);
        assert.match(await value(rec.byName("f6-firewall-osl-1-confirm").props.create as pulumi.Output<string>), /^sudo -n timeout /);
        assert.match(await value(r.props.delete as string), /^sudo -n timeout /);
    });
});
