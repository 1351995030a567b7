import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { contentHash, loadNodeScript, NODE_SCRIPTS_DIR, renderNodeStep, shellQuote } from "../../components/host/remote-script";
import { readdirSync } from "node:fs";
import { tuningEnv } from "../../components/host/tuning";
import { preflightEnv } from "../../components/host/preflight";
import { crossNodeProblems, parsePreflightOutput } from "../../components/host/preflight-checks";
import { DEFAULT_SYSCTLS } from "../../components/config";
import { preflightJson } from "../helpers/fixtures";

/** Runs a rendered command with the real shell, the way sshd runs it on a node. */
function sh(command: string, input = ""): string {
    return execFileSync("sh", ["-c", command], { encoding: "utf8", input });
}

describe("shellQuote", () => {
    it("round-trips hostile strings through a real shell", () => {
        for (const s of ["plain", "two words", "it's", `"$HOME" \`id\` $(id) ; rm -rf /`, "1024 65535", "a\nb", "", "-n"]) {
            assert.equal(sh(`printf %s ${shellQuote(s)}`), s);
        }
    });
});

describe("renderNodeStep", () => {
    const script = 'set -eu\nprintf "%s|%s|%s\\n" "$1" "$GREETING" "$(id -un)"\n';

    it("runs the script from stdin with its args and env when the user is root", () => {
        const step = renderNodeStep({ script, args: ["apply"], env: { GREETING: "hei 'verden' $x" }, user: "root" });
        assert.equal(step.command, `env GREETING='hei '"'"'verden'"'"' $x' bash -s -- apply`);
        assert.equal(step.stdin, script);
        assert.equal(sh(step.command, step.stdin), `apply|hei 'verden' $x|${execFileSync("id", ["-un"], { encoding: "utf8" }).trim()}\n`);
    });

    it("uses sudo -n for other users and bounds the step with timeout -k", () => {
        assert.equal(renderNodeStep({ script, user: "debian", timeoutSeconds: 60 }).command, "sudo -n timeout -k 10 60 env bash -s --");
    });

    it("keeps the command line short whatever the script's size: a failure message quotes only it", () => {
        const big = loadNodeScript("host-tuning.sh");
        const step = renderNodeStep({ script: big, args: ["apply"], env: { A: "1" }, user: "debian", timeoutSeconds: 120 });
        assert.ok(big.length > 4000);
        assert.ok(step.command.length < 100, step.command);
        assert.equal(step.stdin, big);
    });

    it("is deterministic, and a changed script changes the step's stdin (an honest diff)", () => {
        const a = renderNodeStep({ script, user: "root" });
        assert.deepEqual(a, renderNodeStep({ script, user: "root" }));
        assert.notEqual(a.stdin, renderNodeStep({ script: script + "# v2\n", user: "root" }).stdin);
        assert.notEqual(contentHash("a", "b"), contentHash("ab"));
    });

    it("refuses bad env names instead of producing a broken command", () => {
        assert.throws(() => renderNodeStep({ script, env: { "A-B": "x" }, user: "root" }), /invalid environment variable name/);
    });

    it("every node script ends in a single main call, so a half-read script never runs", () => {
        for (const f of readdirSync(NODE_SCRIPTS_DIR).filter((x) => x.endsWith(".sh"))) {
            const text = loadNodeScript(f);
            assert.match(text, /^main "\$@" <\/dev\/null\n$/m, `${f} must end in main "$@" </dev/null`);
            assert.ok(text.trimEnd().endsWith('main "$@" </dev/null'), `${f}: nothing may follow the main call`);
        }
    });
});

describe("tuningEnv", () => {
    it("renders sorted key=value lines, floors and nofile", () => {
        const env = tuningEnv({ ...DEFAULT_SYSCTLS }, ["fs.file-max", "not.configured"], 1048576);
        assert.deepEqual(env.NORDSTACK_SYSCTLS.split("\n"), [
            "fs.file-max=2097152",
            "net.ipv4.ip_local_port_range=1024 65535",
            `net.ipv4.ip_local_reserved_ports=${DEFAULT_SYSCTLS["net.ipv4.ip_local_reserved_ports"]}`,
            "net.ipv4.tcp_tw_reuse=1",
        ]);
        assert.equal(env.NORDSTACK_FLOOR_KEYS, "fs.file-max");
        assert.equal(env.NORDSTACK_NOFILE, "1048576");
    });
});

describe("preflightEnv", () => {
    it("passes address, interface, MTU, modules and accepted virtualization", () => {
        assert.deepEqual(
            preflightEnv("10.10.0.5", { expectedMtu: 1500, requiredModules: ["overlay", "vxlan"], allowVirtualization: ["qemu"] }, "eth1"),
            {
                NORDSTACK_PRIVATE_ADDRESS: "10.10.0.5",
                NORDSTACK_PRIVATE_INTERFACE: "eth1",
                NORDSTACK_EXPECTED_MTU: "1500",
                NORDSTACK_REQUIRED_MODULES: "overlay vxlan",
                NORDSTACK_ALLOW_VIRT: "qemu",
            },
        );
        assert.equal(preflightEnv("10.10.0.5", {}).NORDSTACK_EXPECTED_MTU, "");
    });
});

describe("preflight results", () => {
    it("parse the script's last stdout line and name the node on garbage", () => {
        const r = parsePreflightOutput("osl-1", `noise\n${preflightJson("osl-1", 1450)}\n`);
        assert.equal(r.mtu, 1450);
        assert.equal(r.virtualization, "kvm");
        assert.throws(() => parsePreflightOutput("osl-2", "bash: command not found"), /preflight on osl-2 printed no result JSON/);
    });

    it("report an MTU mismatch between nodes with both values and the nodes", () => {
        const res = (node: string, mtu: number) => ({ node, result: parsePreflightOutput(node, preflightJson(node, mtu)) });
        assert.deepEqual(crossNodeProblems([res("a", 1500), res("b", 1500)]), []);
        const [p] = crossNodeProblems([res("a", 1500), res("b", 1450), res("c", 1500)]);
        assert.match(p, /MTUs differ between nodes: 1500 on a \(eth1\), c \(eth1\); 1450 on b \(eth1\)/);
    });
});
