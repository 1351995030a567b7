import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { Lab } from "../helpers/lab";

describe("lab hosts (scripts/lab/lab.sh)", () => {
    let lab: Lab;
    before(() => (lab = Lab.up(3, 1)));
    after(() => lab?.down());

    it("are three SSH hosts with their own address, hostname and host key", () => {
        assert.deepEqual(
            lab.hosts.map((h) => [h.name, h.address]),
            [
                ["node1", "10.198.1.11"],
                ["node2", "10.198.1.12"],
                ["node3", "10.198.1.13"],
            ],
        );
        for (const h of lab.hosts) {
            assert.equal(lab.run(h.name, "hostname").trim(), h.name);
            assert.match(lab.run(h.name, "ip -o -4 addr show dev eth0"), new RegExp(` ${h.address.replace(/\./g, "\\.")}/24 `));
        }
        assert.equal(new Set(lab.hosts.map((h) => h.hostKey)).size, 3);
    });

    it("give each host private copies of the directories node scripts write", () => {
        lab.run("node1", "touch /etc/sysctl.d/lab-probe.conf /var/lib/nordstack/probe /etc/security/limits.d/probe");
        assert.equal(lab.ssh("node2", "ls /etc/sysctl.d/lab-probe.conf").code, 2);
        assert.equal(existsSync("/etc/sysctl.d/lab-probe.conf"), false, "the machine's own /etc/sysctl.d is untouched");
        assert.equal(existsSync("/var/lib/nordstack/probe"), false);
        lab.run("node1", "rm /etc/sysctl.d/lab-probe.conf /var/lib/nordstack/probe /etc/security/limits.d/probe");
    });

    it("keep per-namespace sysctls apart", () => {
        const machine = execFileSync("cat", ["/proc/sys/net/ipv4/ip_local_port_range"], { encoding: "utf8" });
        lab.run("node1", "sysctl -qw net.ipv4.ip_local_port_range='20000 30000'");
        assert.equal(lab.run("node1", "cat /proc/sys/net/ipv4/ip_local_port_range").trim(), "20000\t30000");
        assert.notEqual(lab.run("node2", "cat /proc/sys/net/ipv4/ip_local_port_range").trim(), "20000\t30000");
        assert.equal(execFileSync("cat", ["/proc/sys/net/ipv4/ip_local_port_range"], { encoding: "utf8" }), machine);
    });

    it("reach each other over the bridge", () => {
        assert.match(lab.run("node1", "ping -c1 -W2 10.198.1.12"), /1 received/);
    });
});

describe("lab down", () => {
    it("removes namespaces, links and state, and is idempotent", () => {
        const lab = Lab.up(2, 2);
        lab.down();
        lab.down();
        assert.doesNotMatch(execFileSync("ip", ["netns", "list"], { encoding: "utf8" }), /nlt2-/);
        assert.doesNotMatch(execFileSync("ip", ["-o", "link"], { encoding: "utf8" }), /nlt2-/);
        assert.equal(existsSync("/tmp/nordstack-lab-test-2"), false);
    });

    it("puts back every kernel-global sysctl a lab host changed (they share this machine's kernel)", () => {
        const read = (k: string) => execFileSync("sysctl", ["-n", k], { encoding: "utf8" }).trim();
        const before = { pidMax: read("kernel.pid_max"), fifos: read("fs.protected_fifos") };
        const lab = Lab.up(1, 2);
        try {
            // What `sysctl --system` inside a host did to the machine.
            lab.run(
                "node1",
                `sysctl -qw kernel.pid_max=${Number(before.pidMax) === 65536 ? 65537 : 65536} fs.protected_fifos=${before.fifos === "0" ? 1 : 0}`,
            );
            assert.notEqual(read("kernel.pid_max"), before.pidMax, "the change reached the machine");
        } finally {
            lab.down();
        }
        assert.deepEqual({ pidMax: read("kernel.pid_max"), fifos: read("fs.protected_fifos") }, before);
    });

    it("cleans up after a failed set-up", () => {
        const env = {
            ...process.env,
            NORDSTACK_LAB_DIR: "/tmp/nordstack-lab-test-3",
            NORDSTACK_LAB_PREFIX: "nlt3",
            NORDSTACK_LAB_SUBNET: "10.198.300",
        };
        const r = spawnSync("bash", ["scripts/lab/lab.sh", "up", "2"], { env, encoding: "utf8" });
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /set-up failed; cleaning up/);
        assert.doesNotMatch(execFileSync("ip", ["-o", "link"], { encoding: "utf8" }), /nlt3-/);
        assert.doesNotMatch(execFileSync("ip", ["netns", "list"], { encoding: "utf8" }), /nlt3-/);
        assert.equal(existsSync("/tmp/nordstack-lab-test-3"), false);
    });
});
