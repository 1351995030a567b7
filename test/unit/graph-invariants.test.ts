// Invariants over the whole mock graph of the dev stack, so a new resource cannot forget them:
// - every namespace is either out of Linkerd's injector webhook (labelled) or meshed and
//   created after the control plane, and everything in a meshed namespace waits for it;
// - every remote command sets `logging` explicitly and `addPreviousOutputInEnv: false`, and a
//   command whose output is secret logs nothing;
// - two runs of the same config give identical inputs everywhere (a second preview is empty).
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { GraphRecorder, installMocks, Recorded, value } from "../helpers/mocks";
import { healthyStepOutput } from "../helpers/fixtures";
import { parsePlatformConfig } from "../../components/config";

const ROOT = path.resolve(__dirname, "..", "..");

before(() => installMocks((args) => healthyStepOutput(args.name)));

/** The dev stack as index.ts builds it from Pulumi.dev.yaml. */
async function devStack(name: string): Promise<GraphRecorder> {
    const doc = parseYaml(readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
    const raw = Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^nordstack:/, ""), v]));
    const cfg = parsePlatformConfig(raw);
    const { Platform } = await import("../../components/platform");
    const rec = new GraphRecorder();
    new Platform(name, { config: cfg, sshPrivateKey: pulumi.secret("KEY"), smokeRunId: "run" }, { transformations: [rec.transform] });
    await new Promise((r) => setTimeout(r, 200));
    return rec;
}

type Meta = {
    name?: pulumi.Input<string>;
    namespace?: pulumi.Input<string>;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
};
const meta = (r: Recorded) => (r.props.metadata ?? {}) as Meta;

describe("graph invariants of the dev stack (mocks)", () => {
    it("every namespace is out of the injector's reach, or meshed and created after the Linkerd control plane", async () => {
        const rec = await devStack("g1");
        const namespaces = rec.ofType("kubernetes:core/v1:Namespace");
        assert.ok(namespaces.length >= 4, namespaces.map((n) => n.name).join(", "));
        const meshed: string[] = [];
        for (const ns of namespaces) {
            const m = meta(ns);
            const name = await value(m.name as pulumi.Input<string>);
            const skipped = m.labels?.["config.linkerd.io/admission-webhooks"] === "disabled";
            const injected = m.annotations?.["linkerd.io/inject"] === "enabled";
            assert.ok(skipped || injected, `namespace ${name} (${ns.name}) must be labelled out of the webhook or meshed`);
            assert.ok(!(skipped && injected), `namespace ${name} is both meshed and out of the webhook`);
            if (injected) {
                assert.ok(
                    ns.dependsOn.some((d) => d.endsWith("-linkerd-control-plane")),
                    `meshed namespace ${name} must wait for the control plane`,
                );
                meshed.push(name);
            }
        }
        assert.deepEqual(meshed, ["nordstack", "nordstack-gateway"]);
        // Everything in a meshed namespace gets the namespace from the Namespace resource's output,
        // so the engine creates it only after the namespace, hence after the control plane.
        const byName = new Map<string, Recorded>();
        for (const ns of namespaces) byName.set(await value(meta(ns).name as pulumi.Input<string>), ns);
        let inMeshed = 0;
        for (const r of rec.resources.filter((x) => x.type.startsWith("kubernetes:") && x.type !== "kubernetes:core/v1:Namespace")) {
            const nsInput = meta(r).namespace;
            const nsName = nsInput === undefined ? undefined : await value(nsInput);
            if (nsName === undefined || !meshed.includes(nsName)) continue;
            inMeshed++;
            assert.ok(pulumi.Output.isInstance(nsInput), `${r.name} must take its namespace from the Namespace resource`);
            const deps = await (nsInput as unknown as { allResources: () => Promise<Set<pulumi.Resource>> }).allResources();
            assert.ok(deps.has(byName.get(nsName)!.resource), `${r.name} does not depend on the meshed namespace ${nsName}`);
        }
        assert.ok(inMeshed > 10, `checked ${inMeshed} objects in the meshed namespace`);
    });

    it("every remote command sets logging explicitly, never logs secret output, and passes no previous output in env", async () => {
        const rec = await devStack("g2");
        const commands = [...rec.ofType("command:remote:Command"), ...rec.ofType("command:local:Command")];
        assert.ok(commands.length > 20);
        for (const c of commands) {
            assert.ok(["none", "stderr", "stdout", "stdoutAndStderr"].includes(String(c.props.logging)), `${c.name} sets no logging`);
            assert.equal(c.props.addPreviousOutputInEnv, false, `${c.name} must set addPreviousOutputInEnv: false`);
        }
        // Steps whose stdin or stdout carries a secret log nothing at all.
        for (const name of ["g2-k3s-kubeconfig", ...rec.resources.filter((r) => r.name.endsWith("-write")).map((r) => r.name)]) {
            assert.equal(rec.byName(name).props.logging, "none", `${name} handles a secret`);
        }
        for (const c of commands.filter((x) => x.props.stdin !== undefined && pulumi.Output.isInstance(x.props.stdin))) {
            assert.ok(
                (await pulumi.isSecret(c.props.stdin as pulumi.Output<string>)) ? c.props.logging === "none" : true,
                `${c.name} has a secret stdin and logs`,
            );
        }
    });

    it("two runs of the same config give identical inputs for every resource (a second preview has no diff)", async () => {
        const snapshot = async (rec: GraphRecorder) => {
            const out: Record<string, string> = {};
            for (const r of rec.resources) {
                const props = await value(pulumi.output(r.props));
                out[`${r.type}::${r.name}`] = JSON.stringify(props);
            }
            return out;
        };
        const a = await snapshot(await devStack("g3"));
        const b = await snapshot(await devStack("g3"));
        assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
        for (const k of Object.keys(a)) assert.equal(a[k], b[k], `${k} differs between two runs`);
    });
});
