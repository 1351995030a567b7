// The real preflight script, run over real SSH on lab hosts, rendered exactly
// as the Preflight component renders it.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { Lab } from "../helpers/lab";
import { loadNodeScript, renderNodeStep } from "../../components/host/remote-script";
import { preflightEnv, PreflightArgs } from "../../components/host/preflight";
import { crossNodeProblems, parsePreflightOutput } from "../../components/host/preflight-checks";

const CONTAINER_TYPES = [
    "openvz",
    "lxc",
    "lxc-libvirt",
    "docker",
    "podman",
    "rkt",
    "systemd-nspawn",
    "wsl",
    "proot",
    "pouch",
    "container-other",
];
// What this machine really is. Lab hosts share its kernel, so they report the same.
const MACHINE_VIRT = (() => {
    try {
        return execFileSync("systemd-detect-virt", { encoding: "utf8" }).trim();
    } catch (e) {
        return ((e as { stdout?: string }).stdout ?? "").trim() || "none";
    }
})();
// Lab hosts can pass only if the machine's own virtualization is accepted.
const ACCEPT_MACHINE = CONTAINER_TYPES.includes(MACHINE_VIRT) ? [MACHINE_VIRT] : [];

describe("scripts/node/preflight.sh over SSH", () => {
    let lab: Lab;
    const script = loadNodeScript("preflight.sh");
    const preflight = (node: string, a: Omit<PreflightArgs, "node"> = {}, address?: string) =>
        lab.step(
            node,
            renderNodeStep({ script, env: preflightEnv(address ?? lab.host(node).address, a), user: "root", timeoutSeconds: 60 }),
        );

    before(() => (lab = Lab.up(2, 4)));
    after(() => lab?.down());

    it("reports OS, arch, kernel, virtualization, private interface, MTU and modules", () => {
        const r = preflight("node1", { expectedMtu: 1500, requiredModules: ["overlay"], allowVirtualization: ACCEPT_MACHINE });
        assert.equal(r.code, 0, r.stderr);
        const res = parsePreflightOutput("node1", r.stdout);
        assert.equal(res.ok, true);
        assert.equal(res.hostname, "node1");
        assert.equal(res.os, "debian");
        assert.equal(res.arch, execFileSync("uname", ["-m"], { encoding: "utf8" }).trim());
        assert.equal(res.kernel, execFileSync("uname", ["-r"], { encoding: "utf8" }).trim());
        assert.equal(res.virtualization, MACHINE_VIRT);
        assert.equal(res.privateInterface, "eth0");
        assert.equal(res.mtu, 1500);
        assert.deepEqual(res.modules, { loaded: ["overlay"], missing: [] });
    });

    it(
        "refuses this machine's container virtualization with the default policy",
        { skip: ACCEPT_MACHINE.length === 0 && `this machine is ${MACHINE_VIRT}, not a container` },
        () => {
            const r = preflight("node1");
            assert.equal(r.code, 1);
            const res = parsePreflightOutput("node1", r.stdout);
            assert.equal(res.ok, false);
            assert.match(
                res.problems.join("\n"),
                new RegExp(`virtualization '${MACHINE_VIRT}' is container virtualization: the kernel is shared`),
            );
            assert.match(r.stderr, /node node1 refused/);
        },
    );

    it("refuses an OpenVZ host and explains the jitter", () => {
        // Stand-in: no OpenVZ kernel exists here, so node2's own systemd-detect-virt
        // (in its private /usr/local/sbin, first on PATH) answers what OpenVZ answers.
        lab.run(
            "node2",
            "printf '#!/bin/sh\\necho openvz\\n' > /usr/local/sbin/systemd-detect-virt && chmod +x /usr/local/sbin/systemd-detect-virt",
        );
        try {
            const r = preflight("node2", { allowVirtualization: ACCEPT_MACHINE });
            assert.equal(r.code, 1);
            const res = parsePreflightOutput("node2", r.stdout);
            assert.equal(res.virtualization, "openvz");
            assert.match(res.problems[0], /container virtualization: .*neighbours cause unpredictable jitter.*use a KVM VPS/);
            // node1 is not affected by node2's stand-in.
            assert.equal(
                parsePreflightOutput("node1", preflight("node1", { allowVirtualization: ACCEPT_MACHINE }).stdout).virtualization,
                MACHINE_VIRT,
            );
        } finally {
            lab.run("node2", "rm -f /usr/local/sbin/systemd-detect-virt");
        }
    });

    it("refuses an interface MTU that differs from the stack's, naming both", () => {
        const r = preflight("node1", { expectedMtu: 9000, allowVirtualization: ACCEPT_MACHINE });
        assert.equal(r.code, 1);
        assert.match(parsePreflightOutput("node1", r.stdout).problems.join(), /MTU of eth0 is 1500 but the stack's mtu is 9000/);
    });

    it("refuses a private address the host does not have", () => {
        const r = preflight("node1", { allowVirtualization: ACCEPT_MACHINE }, "10.198.4.99");
        assert.equal(r.code, 1);
        assert.match(parsePreflightOutput("node1", r.stdout).problems.join(), /private address 10.198.4.99 is on no interface/);
    });

    it("refuses when a required kernel module cannot load", () => {
        const r = preflight("node1", { requiredModules: ["overlay", "nordstack_no_such_module"], allowVirtualization: ACCEPT_MACHINE });
        assert.equal(r.code, 1);
        const res = parsePreflightOutput("node1", r.stdout);
        assert.deepEqual(res.modules, { loaded: ["overlay"], missing: ["nordstack_no_such_module"] });
    });

    it("finds an MTU mismatch between two real hosts", () => {
        lab.netns("node2", "ip", "link", "set", "eth0", "mtu", "1400");
        try {
            const results = ["node1", "node2"].map((n) => ({
                node: n,
                result: parsePreflightOutput(n, preflight(n, { allowVirtualization: ACCEPT_MACHINE }).stdout),
            }));
            assert.deepEqual(
                results.map((r) => r.result.mtu),
                [1500, 1400],
            );
            assert.match(crossNodeProblems(results)[0], /1500 on node1 \(eth0\); 1400 on node2 \(eth0\)/);
        } finally {
            lab.netns("node2", "ip", "link", "set", "eth0", "mtu", "1500");
        }
    });

    it("fails clearly without its required input", () => {
        const r = lab.step("node1", renderNodeStep({ script, env: {}, user: "root" }));
        assert.equal(r.code, 2);
        assert.match(r.stderr, /NORDSTACK_PRIVATE_ADDRESS is required/);
    });
});
