// End to end with the real Pulumi engine (Automation API): a `lab` stack whose
// nodes are local test hosts. Runs with `npm run e2e` where the engine and its
// provider plugins are installed (see scripts/toolchain/). k3s needs the
// internet, so the lab config turns it off (k3sEnabled: false) and the host
// layers (preflight, tuning, smoke tests) and the Linkerd PKI run for real.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { Lab } from "../helpers/lab";

const ROOT = path.resolve(__dirname, "..", "..");
const STACK_FILE = path.join(ROOT, "Pulumi.lab.yaml");
const PER_NS = ["net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse"];

function toolchainEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    const file = path.join(ROOT, ".toolchain", "env.sh");
    if (existsSync(file)) {
        const out = execFileSync("bash", ["-c", `. ${file} && env`], { encoding: "utf8" });
        for (const line of out.split("\n")) {
            const m = /^(PATH|PULUMI_[A-Z_]+)=(.*)$/.exec(line);
            if (m) env[m[1]] = m[2];
        }
    }
    return env;
}

function machineVirt(): string {
    try {
        return execFileSync("systemd-detect-virt", { encoding: "utf8" }).trim();
    } catch (e) {
        return ((e as { stdout?: string }).stdout ?? "").trim() || "none";
    }
}

describe("lab stack through the real engine", () => {
    let lab: Lab;
    let stack: Stack;
    let state: string;
    const live = (node: string, key: string) => lab.run(node, `sysctl -n ${key}`).trim().replace(/\s+/g, " ");
    let original: Record<string, string[]>;

    before(async () => {
        lab = Lab.up(2, 9);
        original = Object.fromEntries(["node1", "node2"].map((n) => [n, PER_NS.map((k) => live(n, k))]));
        state = mkdtempSync(path.join(os.tmpdir(), "nordstack-e2e-"));
        writeFileSync(
            STACK_FILE,
            JSON.stringify({
                config: {
                    "nordstack:k3sEnabled": "false",
                    "nordstack:smokeMode": "onChange",
                    "nordstack:smokeMinGbps": "0.1",
                    "nordstack:smokeDurationSeconds": "2",
                    "nordstack:allowVirtualization": [machineVirt()],
                    "nordstack:sshPrivateKeyPath": lab.keyPath,
                    "nordstack:region": "no-oslo",
                    "nordstack:nodes": lab.hosts.map((h, i) => ({
                        name: h.name,
                        role: i === 0 ? "server" : "agent",
                        host: h.address,
                        privateAddress: h.address,
                        hostKey: h.hostKey,
                    })),
                },
            }),
        );
        // The Automation API finds `pulumi` on this process's PATH.
        Object.assign(process.env, toolchainEnv());
        const plugins = execFileSync("pulumi", ["plugin", "ls"], { encoding: "utf8" });
        const missing = ["command", "random", "tls"]
            .map((n) => [
                n,
                (JSON.parse(readFileSync(path.join(ROOT, "node_modules", "@pulumi", n, "package.json"), "utf8")) as { version: string })
                    .version,
            ])
            .filter(([n, v]) => !new RegExp(`^${n}\\s+resource\\s+${v.replace(/\./g, "\\.")}\\s`, "m").test(plugins));
        if (missing.length > 0) {
            throw new Error(
                `the engine has no provider plugin ${missing.map(([n, v]) => `${n} ${v}`).join(", ")}: ` +
                    "install them with `pulumi plugin install resource NAME VERSION` (internet) or `npm run toolchain`",
            );
        }
        stack = await LocalWorkspace.createOrSelectStack(
            { stackName: "lab", workDir: ROOT },
            {
                envVars: {
                    PULUMI_BACKEND_URL: `file://${state}`,
                    PULUMI_CONFIG_PASSPHRASE: "nordstack-e2e",
                    PULUMI_SKIP_UPDATE_CHECK: "true",
                    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
                },
            },
        );
    });

    after(async () => {
        await stack?.destroy({ onOutput: () => undefined }).catch(() => undefined);
        rmSync(STACK_FILE, { force: true });
        rmSync(state, { recursive: true, force: true });
        lab?.down();
    });

    it("previews every host layer", async () => {
        const p = await stack.preview();
        for (const t of [
            "nordstack:index:Platform",
            "nordstack:host:Preflight",
            "nordstack:host:Tuning",
            "nordstack:smoke:Network",
            "nordstack:mesh:LinkerdPki",
        ]) {
            assert.match(p.stdout, new RegExp(t.replace(/:/g, ":")), `preview lists ${t}`);
        }
    });

    it("up runs preflight, tuning and the smoke test for real, and creates the Linkerd PKI", async () => {
        const up = await stack.up();
        assert.equal(up.summary.result, "succeeded");
        for (const n of ["node1", "node2"]) {
            assert.equal(live(n, "net.ipv4.ip_local_port_range"), "1024 65535");
            assert.equal(live(n, "net.ipv4.tcp_tw_reuse"), "1");
        }
        const outs = await stack.outputs();
        assert.ok((outs.networkSmoke.value as unknown[]).length === 2, "a result per ordered pair");
        const dir = mkdtempSync(path.join(os.tmpdir(), "nordstack-pki-"));
        writeFileSync(path.join(dir, "anchor.pem"), outs.linkerdTrustAnchorPem.value as string);
        const st = (await stack.exportStack()).deployment as { resources: { type: string; outputs?: Record<string, unknown> }[] };
        const issuer = st.resources.find((r) => r.type === "tls:index/locallySignedCert:LocallySignedCert");
        writeFileSync(path.join(dir, "issuer.pem"), issuer?.outputs?.certPem as string);
        assert.match(
            execFileSync("openssl", ["verify", "-CAfile", path.join(dir, "anchor.pem"), path.join(dir, "issuer.pem")], {
                encoding: "utf8",
            }),
            /issuer.pem: OK/,
        );
        rmSync(dir, { recursive: true });
    });

    it("a second up changes nothing", async () => {
        const p = await stack.preview();
        const changes = Object.entries(p.changeSummary).filter(([op]) => op !== "same");
        assert.deepEqual(changes, []);
    });

    it("the exported state holds no plaintext secret", async () => {
        const text = JSON.stringify(await stack.exportStack());
        const key = readFileSync(lab.keyPath, "utf8").split("\n")[1];
        assert.ok(!text.includes(key), "SSH private key");
        assert.doesNotMatch(text, /BEGIN (EC )?PRIVATE KEY/, "PKI private keys");
    });

    it("destroy restores the hosts' original sysctl values", async () => {
        await stack.destroy();
        for (const n of ["node1", "node2"])
            assert.deepEqual(
                PER_NS.map((k) => live(n, k)),
                original[n],
            );
        assert.equal(lab.ssh("node1", "test -e /etc/sysctl.d/90-nordstack.conf").code, 1);
    });
});
