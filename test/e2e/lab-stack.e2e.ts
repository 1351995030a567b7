// End to end with the real Pulumi engine and the real providers (Automation API)
// on 3 local test hosts. Runs with `npm run e2e` where the engine and its provider
// plugins are installed (scripts/toolchain/). Two stacks:
// - `lab` (k3s off, since k3s needs the internet): preflight, the MTU gate, tuning,
//   the smoke rounds and gate, and the Linkerd PKI for real; a second `up` with
//   --expect-no-changes; a one-key change previews as exactly that update; a wrong
//   pinned host key is refused; destroy restores the hosts;
// - `lab-k3s` (k3s on): preflight refuses the lab hosts (no overlay/br_netfilter/vxlan
//   modules in this kernel), so no host is touched, but every secret the full stack
//   holds (k3s token, Consul gossip key and bootstrap token, PKI keys) is created:
//   the state exported WITHOUT secrets, the engine's events and the CLI output are
//   searched for each value.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EngineEvent, LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { Lab } from "../helpers/lab";

const ROOT = path.resolve(__dirname, "..", "..");
const PER_NS = ["net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_fin_timeout"];

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

/** Everything a run printed, and the engine events it emitted, to search for secrets. */
class Transcript {
    text = "";
    readonly events: EngineEvent[] = [];
    readonly onOutput = (s: string) => (this.text += s);
    readonly onEvent = (e: EngineEvent) => this.events.push(e);
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/**
 * Paths in the engine events where `needle` appears outside a value the engine marks secret.
 * The engine's event log carries secret values wrapped with Pulumi's secret signature (it is
 * local to the machine, like the state); what must never happen is an unmarked copy.
 */
function unmarkedOccurrences(events: EngineEvent[], needle: string): string[] {
    const hits: string[] = [];
    const walk = (v: unknown, path: string): void => {
        if (typeof v === "string") {
            // The engine's debug diagnostics print resource state as text, secrets still wrapped
            // with the signature just before the value (a PEM value spans lines): that counts as marked.
            for (let at = v.indexOf(needle); at >= 0; at = v.indexOf(needle, at + 1)) {
                if (!v.slice(Math.max(0, at - 600), at).includes(SECRET_SIG)) {
                    hits.push(path);
                    break;
                }
            }
        } else if (Array.isArray(v)) {
            v.forEach((x, i) => walk(x, `${path}[${i}]`));
        } else if (v && typeof v === "object") {
            if (SECRET_SIG in v) return;
            for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
        }
    };
    events.forEach((e, i) => walk(e, `event[${i}]`));
    return hits;
}

const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
        return await f();
    } finally {
        console.log(`# ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
};

describe("lab stacks through the real engine", { timeout: 1_800_000 }, () => {
    let lab: Lab;
    let state: string;
    let env: Record<string, string>;
    const stacks: Stack[] = [];
    const transcript = new Transcript();
    const live = (node: string, key: string) => lab.run(node, `sysctl -n ${key}`).trim().replace(/\s+/g, " ");
    let original: Record<string, string[]>;
    const nodes = () =>
        lab.hosts.map((h, i) => ({
            name: h.name,
            role: i === 0 ? "server" : "agent",
            host: h.address,
            privateAddress: h.address,
            hostKey: h.hostKey,
        }));

    async function stackWith(name: string, config: Record<string, unknown>): Promise<Stack> {
        writeFileSync(path.join(ROOT, `Pulumi.${name}.yaml`), JSON.stringify({ config }));
        const s = await LocalWorkspace.createOrSelectStack({ stackName: name, workDir: ROOT }, { envVars: env });
        stacks.push(s);
        return s;
    }
    const baseConfig = () => ({
        "nordstack:smokeMinGbps": "0.1",
        "nordstack:smokeDurationSeconds": "2",
        "nordstack:allowVirtualization": [machineVirt()],
        "nordstack:sshPrivateKeyPath": lab.keyPath,
        "nordstack:nodes": nodes(),
    });
    /** The state as `pulumi stack export` writes it by default: secrets encrypted. */
    const exportWithoutSecrets = (name: string) =>
        execFileSync("pulumi", ["stack", "export", "--stack", name, "--cwd", ROOT], { encoding: "utf8", env: { ...process.env, ...env } });

    before(() => {
        lab = Lab.up(3, 9);
        original = Object.fromEntries(lab.hosts.map((h) => [h.name, PER_NS.map((k) => live(h.name, k))]));
        state = mkdtempSync(path.join(os.tmpdir(), "nordstack-e2e-"));
        Object.assign(process.env, toolchainEnv());
        env = {
            PULUMI_BACKEND_URL: `file://${state}`,
            PULUMI_CONFIG_PASSPHRASE: "nordstack-e2e",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        };
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
        console.log(
            `# engine: ${execFileSync("pulumi", ["version"], { encoding: "utf8" }).trim()}; plugins:\n${plugins.replace(/^/gm, "#   ")}`,
        );
    });

    after(async () => {
        for (const s of stacks) await s.destroy({ onOutput: () => undefined }).catch(() => undefined);
        for (const s of stacks) rmSync(path.join(ROOT, `Pulumi.${s.name}.yaml`), { force: true });
        rmSync(state, { recursive: true, force: true });
        lab?.down();
    });

    let labStack: Stack;

    it("up runs preflight, the gates, tuning and the smoke rounds for real, and creates the Linkerd PKI", async () => {
        labStack = await stackWith("lab", { ...baseConfig(), "nordstack:k3sEnabled": "false" });
        const up = await timed("lab: up", () => labStack.up(transcript));
        assert.equal(up.summary.result, "succeeded");
        console.log(`# lab: up ${JSON.stringify(up.summary.resourceChanges)}`);
        for (const h of lab.hosts) {
            assert.equal(live(h.name, "net.ipv4.ip_local_port_range"), "1024 65535");
            assert.equal(live(h.name, "net.ipv4.tcp_tw_reuse"), "1");
            // The smoke rounds below ran through it: cluster traffic stays on the private network.
            assert.match(lab.run(h.name, "nft list table inet nordstack"), /policy drop/, `the firewall is in force on ${h.name}`);
        }
        const outs = await labStack.outputs();
        const smoke = outs.networkSmoke.value as { from: string; to: string; gbps: number; retransmitRate: number; pathMtu: number }[];
        assert.equal(smoke.length, 3, "the ring: one row per measured pair");
        for (const p of smoke)
            console.log(`#   ${p.from} -> ${p.to}: ${p.gbps} Gbit/s, retransmit rate ${p.retransmitRate}, path MTU ${p.pathMtu}`);
        const dir = mkdtempSync(path.join(os.tmpdir(), "nordstack-pki-"));
        writeFileSync(path.join(dir, "anchor.pem"), outs.linkerdTrustAnchorPem.value as string);
        const st = JSON.parse(exportWithoutSecrets("lab")) as {
            deployment: { resources: { type: string; outputs?: Record<string, unknown> }[] };
        };
        const issuer = st.deployment.resources.find((r) => r.type === "tls:index/locallySignedCert:LocallySignedCert");
        writeFileSync(path.join(dir, "issuer.pem"), issuer?.outputs?.certPem as string);
        assert.match(
            execFileSync("openssl", ["verify", "-CAfile", path.join(dir, "anchor.pem"), path.join(dir, "issuer.pem")], {
                encoding: "utf8",
            }),
            /issuer.pem: OK/,
        );
        rmSync(dir, { recursive: true });
    });

    it("a second up with the same config changes nothing (--expect-no-changes)", async () => {
        const again = await timed("lab: second up", () => labStack.up({ ...transcript, expectNoChanges: true }));
        assert.equal(again.summary.result, "succeeded");
        assert.deepEqual(Object.keys(again.summary.resourceChanges ?? {}), ["same"]);
    });

    it("a one-key change (a sysctl) previews as exactly the three tuning updates", async () => {
        await labStack.setConfig("sysctls", { value: JSON.stringify({ "net.ipv4.tcp_fin_timeout": "15" }) });
        const p = await labStack.preview({ ...transcript, diff: true });
        const changes = Object.fromEntries(Object.entries(p.changeSummary).filter(([op]) => op !== "same"));
        assert.deepEqual(changes, { update: 3 }, p.stdout);
        assert.match(p.stdout, /net\.ipv4\.tcp_fin_timeout=15/, "the diff shows the new value");
        const up = await timed("lab: up with one sysctl changed", () => labStack.up(transcript));
        assert.equal(up.summary.result, "succeeded");
        for (const h of lab.hosts) assert.equal(live(h.name, "net.ipv4.tcp_fin_timeout"), "15");
    });

    it("a wrong pinned host key is refused by the provider before anything runs on the host", async () => {
        const wrong = nodes().map((n, i) => (i === 1 ? { ...n, hostKey: lab.hosts[0].hostKey } : n));
        await labStack.setConfig("nodes", { value: JSON.stringify(wrong) });
        await assert.rejects(labStack.up(transcript), /host key mismatch|ssh: handshake failed/);
        await labStack.setConfig("nodes", { value: JSON.stringify(nodes()) });
        const back = await timed("lab: up with the right key again", () => labStack.up(transcript));
        assert.equal(back.summary.result, "succeeded");
    });

    it("with k3s on, every secret of the stack exists and none is in the exported state, the events or the output", async () => {
        const k3s = await stackWith("lab-k3s", {
            ...baseConfig(),
            // Loopback only: the install never runs (preflight refuses these hosts), and could not leave the machine.
            "nordstack:k3sInstallScriptUrl": "https://127.0.0.1:9/install.sh",
            // Sovereignty strict (the default) wants every upstream behind a mirror; documentation
            // names only: nothing is ever pulled, preflight stops the run before k3s.
            "nordstack:registryMirror": "registry.nordstack.example",
            "nordstack:chartMirror": "https://charts.nordstack.example",
            "nordstack:k3sDownloadUrl": "https://k3s.nordstack.example",
            "nordstack:services": [{ name: "inventory", image: "docker.io/traefik/whoami:v1.10.3", datastores: [{ engine: "postgres" }] }],
            "nordstack:gatewayServerNames": ["api.nordstack.example"],
            // The firewall admits the API from the nodes and from here (the machine's side of the lab bridge).
            "nordstack:apiAllowFrom": [`${lab.hosts[0].address.replace(/\.\d+$/, ".1")}/32`],
        });
        const refused = await timed("lab-k3s: up (preflight refuses)", () => k3s.up({ ...transcript, continueOnError: true })).then(
            () => "",
            (e: Error) => e.message,
        );
        assert.match(refused, /preflight on node\d refused|module/, refused.slice(-2000));
        const withSecrets = (await k3s.exportStack()).deployment as {
            resources: { type: string; urn: string; outputs?: Record<string, unknown> }[];
        };
        // Line 3 of an OpenSSH key is key material; lines 1-2 are the same for every unencrypted ed25519 key.
        const values: [string, string][] = [["SSH private key", readFileSync(lab.keyPath, "utf8").split("\n")[2]]];
        for (const r of withSecrets.resources) {
            const o = r.outputs ?? {};
            // Secret outputs come as {<signature>, plaintext: "<JSON>"} even when shown.
            const plain = (v: unknown): unknown =>
                typeof v === "object" && v !== null && "plaintext" in v ? JSON.parse((v as { plaintext: string }).plaintext) : v;
            const pick = (k: string): [string, string][] => {
                const v = plain(o[k]);
                return typeof v === "string" && v.length >= 16 ? [[`${r.urn.split("::").pop()}.${k}`, v]] : [];
            };
            if (r.type === "random:index/randomPassword:RandomPassword") values.push(...pick("result"));
            if (r.type === "tls:index/privateKey:PrivateKey")
                values.push(...pick("privateKeyPem").map(([n, v]) => [n, v.split("\n")[1]] as [string, string]));
        }
        const names = values.map(([n]) => n).join(", ");
        console.log(
            `# lab-k3s state: ${withSecrets.resources.length} resources: ${[...new Set(withSecrets.resources.map((r) => r.type))].join(", ")}`,
        );
        for (const expected of [
            "k3s-token.result",
            "gossip-key.result",
            "bootstrap-token.result",
            "anchor-key.privateKeyPem",
            "issuer-key.privateKeyPem",
        ])
            assert.ok(names.includes(expected), `the stack holds ${expected}; have ${names}`);
        const exported = exportWithoutSecrets("lab-k3s") + (stacks.some((x) => x.name === "lab") ? exportWithoutSecrets("lab") : "");
        for (const [what, v] of values) {
            assert.ok(!exported.includes(v), `${what} is in the exported state in plaintext`);
            assert.ok(!transcript.text.includes(v), `${what} is in the CLI output`);
            const hits = unmarkedOccurrences(transcript.events, v);
            if (hits.length > 0) {
                const i = Number(/^event\[(\d+)\]/.exec(hits[0])?.[1]);
                const d = (transcript.events[i] as { diagnosticEvent?: { severity?: string; urn?: string; message?: string } })
                    .diagnosticEvent;
                const m = d?.message ?? "";
                const at = m.indexOf(v);
                console.log(
                    `# LEAK ${what}: ${hits.length} events, e.g. severity ${d?.severity} urn ${d?.urn}: ${m.slice(Math.max(0, at - 300), at).replace(/\n/g, " ")} <KEY>`,
                );
            }
            assert.deepEqual(hits, [], `${what} appears unmarked in the engine events`);
        }
        console.log(
            `# searched ${values.length} secret values: 0 in ${exported.length} bytes of state exported without secrets, ` +
                `0 in ${transcript.text.length} bytes of CLI output, 0 unmarked in ${transcript.events.length} engine events`,
        );
        for (const h of lab.hosts)
            assert.equal(lab.ssh(h.name, "test -e /var/lib/nordstack/k3s-token").code, 1, "preflight stopped everything");
    });

    it("destroy restores the hosts' original sysctl values and leaves nothing of ours", async () => {
        const d = await timed("lab: destroy", () => labStack.destroy(transcript));
        assert.equal(d.summary.result, "succeeded");
        for (const h of lab.hosts) {
            assert.deepEqual(
                PER_NS.map((k) => live(h.name, k)),
                original[h.name],
            );
            assert.equal(
                lab.ssh(
                    h.name,
                    "ls /etc/sysctl.d/90-nordstack.conf /etc/security/limits.d/90-nordstack.conf /run/nordstack/iperf3.pid " +
                        "/var/lib/nordstack/firewall.nft 2>/dev/null",
                ).stdout,
                "",
            );
            assert.notEqual(lab.ssh(h.name, "nft list table inet nordstack").code, 0, `the firewall table is gone from ${h.name}`);
        }
    });
});
