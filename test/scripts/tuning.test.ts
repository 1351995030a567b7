// The real host-tuning script, run over real SSH on lab hosts, rendered exactly
// as the HostTuning component renders it.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { globalSysctl, Lab } from "../helpers/lab";
import { loadNodeScript, renderNodeStep } from "../../components/host/remote-script";
import { tuningEnv } from "../../components/host/tuning";
import { DEFAULT_SYSCTLS, DEFAULT_FLOOR_KEYS } from "../../components/config";

const script = loadNodeScript("host-tuning.sh");
const NOFILE = 1048576;
const PER_NS_KEYS = ["net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse", "net.ipv4.ip_local_reserved_ports"];

describe("scripts/node/host-tuning.sh over SSH", () => {
    let lab: Lab;
    // fs.file-max is kernel-global: every lab host shares this machine's value.
    const fileMax = globalSysctl("fs.file-max");

    const apply = (node: string, sysctls: Record<string, string> = { ...DEFAULT_SYSCTLS }, nofile = NOFILE) =>
        lab.step(
            node,
            renderNodeStep({
                script,
                args: ["apply"],
                env: tuningEnv(sysctls, [...DEFAULT_FLOOR_KEYS], nofile),
                user: "root",
                timeoutSeconds: 60,
            }),
        );
    const revert = (node: string) => lab.step(node, renderNodeStep({ script, args: ["revert"], user: "root", timeoutSeconds: 60 }));
    const live = (node: string, key: string) => lab.run(node, `sysctl -n ${key}`).trim().replace(/\s+/g, " ");
    const setFileMax = (v: number) => lab.run("node1", `sysctl -qw fs.file-max=${v}`);
    const result = (stdout: string) =>
        JSON.parse(stdout.trim()) as { changed: boolean; values: Record<string, string>; restored?: Record<string, string> };

    before(() => (lab = Lab.up(2, 5)));
    after(() => {
        fileMax.restore();
        lab?.down();
    });

    it("applies the seed's values, reads them back, and leaves other hosts alone", () => {
        setFileMax(1000000);
        const before2 = PER_NS_KEYS.map((k) => live("node2", k));
        const r = apply("node1");
        assert.equal(r.code, 0, r.stderr);
        const res = result(r.stdout);
        assert.equal(res.changed, true);
        assert.equal(live("node1", "net.ipv4.ip_local_port_range"), "1024 65535");
        assert.equal(live("node1", "net.ipv4.tcp_tw_reuse"), "1");
        assert.equal(live("node1", "fs.file-max"), "2097152");
        assert.equal(live("node1", "net.ipv4.ip_local_reserved_ports"), DEFAULT_SYSCTLS["net.ipv4.ip_local_reserved_ports"]);
        assert.equal(res.values["net.ipv4.ip_local_port_range"], "1024 65535");
        assert.match(lab.run("node1", "cat /etc/sysctl.d/90-nordstack.conf"), /^net\.ipv4\.tcp_tw_reuse = 1$/m);
        assert.match(lab.run("node1", "cat /etc/security/limits.d/90-nordstack.conf"), /^\* +hard nofile 1048576$/m);
        assert.match(lab.run("node1", "cat /etc/systemd/system.conf.d/90-nordstack.conf"), /^DefaultLimitNOFILE=1048576$/m);
        assert.deepEqual(
            PER_NS_KEYS.map((k) => live("node2", k)),
            before2,
        );
        assert.equal(lab.ssh("node2", "test -e /etc/sysctl.d/90-nordstack.conf").code, 1);
    });

    it("changes nothing on a second run", () => {
        const stamp = lab.run("node1", "stat -c %Y.%i /etc/sysctl.d/90-nordstack.conf /var/lib/nordstack/sysctl-previous.tsv");
        const r = apply("node1");
        assert.equal(r.code, 0, r.stderr);
        assert.equal(result(r.stdout).changed, false);
        assert.match(r.stderr, /No change detected/);
        assert.equal(lab.run("node1", "stat -c %Y.%i /etc/sysctl.d/90-nordstack.conf /var/lib/nordstack/sysctl-previous.tsv"), stamp);
    });

    it("re-applies a changed value and restores a key no longer configured", () => {
        const original = lab
            .run("node1", "awk -F'\\t' '$1 == \"net.ipv4.ip_local_reserved_ports\" {print $2}' /var/lib/nordstack/sysctl-previous.tsv")
            .trim();
        const { "net.ipv4.ip_local_reserved_ports": _dropped, ...rest } = DEFAULT_SYSCTLS;
        void _dropped;
        const r = apply("node1", { ...rest, "net.ipv4.tcp_tw_reuse": "2" });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(result(r.stdout).changed, true);
        assert.equal(live("node1", "net.ipv4.tcp_tw_reuse"), "2");
        assert.equal(live("node1", "net.ipv4.ip_local_reserved_ports"), original);
        assert.doesNotMatch(lab.run("node1", "cat /etc/sysctl.d/90-nordstack.conf"), /reserved_ports/);
        assert.equal(apply("node1").code, 0);
    });

    it("revert removes the drop-ins and restores the values found before the first apply", () => {
        const r = revert("node1");
        assert.equal(r.code, 0, r.stderr);
        const res = result(r.stdout);
        assert.equal(res.changed, true);
        assert.deepEqual(
            PER_NS_KEYS.map((k) => live("node1", k)),
            PER_NS_KEYS.map((k) => live("node2", k)),
            "node1 is back to what an untouched host has",
        );
        assert.equal(live("node1", "fs.file-max"), "1000000");
        assert.equal(
            lab
                .run("node1", "ls /etc/sysctl.d /etc/security/limits.d /etc/systemd/system.conf.d /var/lib/nordstack/")
                .match(/90-nordstack|sysctl-previous/),
            null,
        );
        const again = revert("node1");
        assert.equal(result(again.stdout).changed, false);
        assert.match(again.stderr, /No change detected/);
    });

    it("keeps a host's fs.file-max when it is already above the seed's floor", () => {
        setFileMax(3000000);
        try {
            const r = apply("node1");
            assert.equal(r.code, 0, r.stderr);
            assert.equal(live("node1", "fs.file-max"), "3000000");
            assert.match(r.stderr, /host value 3000000 is above the wanted minimum 2097152; keeping it/);
            assert.match(lab.run("node1", "cat /etc/sysctl.d/90-nordstack.conf"), /^fs\.file-max = 3000000$/m);
        } finally {
            assert.equal(revert("node1").code, 0);
        }
        assert.equal(live("node1", "fs.file-max"), "3000000");
    });

    it("fails naming the key when a later sysctl file overrides a value", () => {
        lab.run("node2", "echo 'net.ipv4.tcp_tw_reuse = 0' > /etc/sysctl.d/99-zz-local.conf");
        try {
            const r = apply("node2");
            assert.equal(r.code, 1);
            assert.match(
                r.stderr,
                /net\.ipv4\.tcp_tw_reuse is '0' after sysctl --system, wanted '1'; also set in: \/etc\/sysctl\.d\/99-zz-local\.conf/,
            );
        } finally {
            lab.run("node2", "rm /etc/sysctl.d/99-zz-local.conf");
            assert.equal(revert("node2").code, 0);
        }
    });

    it("rejects an unknown sysctl before changing anything", () => {
        const r = apply("node2", { ...DEFAULT_SYSCTLS, "net.ipv4.no_such_key": "1" });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /sysctl net\.ipv4\.no_such_key does not exist on this kernel; remove it from sysctls/);
        assert.equal(lab.ssh("node2", "test -e /etc/sysctl.d/90-nordstack.conf || test -e /var/lib/nordstack/sysctl-previous.tsv").code, 1);
    });
});
