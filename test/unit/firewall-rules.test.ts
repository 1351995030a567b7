import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
    CLUSTER_PORTS,
    clusterPortClash,
    FirewallRulesArgs,
    parseCidr,
    privatePorts,
    renderFirewallRules,
} from "../../components/host/firewall-rules";
import { rulesHash } from "../../components/host/firewall";
import { execFileSync } from "node:child_process";

const base: FirewallRulesArgs = {
    role: "server",
    sshPort: 22,
    gateway: true,
    privateInterface: "eth1",
    privateSources: ["10.10.0.5", "10.10.0.6", "10.10.0.7"],
    flannelBackend: "vxlan",
};

/** The rules of one chain, without comments. */
function chain(text: string, name: string): string[] {
    const m = new RegExp(`\\tchain ${name} \\{\\n([\\s\\S]*?)\\n\\t\\}`).exec(text);
    assert.ok(m, `chain ${name} rendered`);
    return m[1]
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#"));
}

describe("renderFirewallRules", () => {
    it("a gateway server: drop by default, SSH and 80/443 public, cluster ports from the private network", () => {
        const text = renderFirewallRules(base);
        assert.match(text, /^# Managed by nordstack .*\ntable inet nordstack \{\n/);
        assert.equal(text.match(/^table /gm)?.length, 1, "one table, ours");
        assert.doesNotMatch(text, /flush|delete/);
        assert.match(
            text,
            /\tset private4 \{\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge\n\t\telements = \{ 10\.10\.0\.5, 10\.10\.0\.6, 10\.10\.0\.7 \}\n/,
        );
        assert.deepEqual(chain(text, "input"), [
            "type filter hook input priority filter; policy drop;",
            'iifname "lo" accept',
            "ct state established,related accept",
            "ct state invalid drop",
            "icmp type destination-unreachable icmp code frag-needed accept",
            "icmpv6 type packet-too-big accept",
            "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } ip6 hoplimit 255 accept",
            "udp sport 67 udp dport 68 accept",
            "ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept",
            "tcp dport 22 accept",
            "tcp dport { 80, 443 } accept",
            'iifname { "cni0", "flannel.1", "flannel-v6.1", "flannel-wg", "flannel-wg-v6" } accept',
            'iifname "eth1" ip saddr @private4 jump from_private',
        ]);
        assert.deepEqual(chain(text, "from_private"), [
            "icmp type echo-request accept",
            "icmpv6 type echo-request accept",
            "tcp dport { 2379-2380, 5201, 6443, 8300-8302, 8500-8503, 8600, 10250, 30000-32767 } accept",
            "udp dport { 8301-8302, 8472, 8600, 30000-32767 } accept",
        ]);
        assert.deepEqual(chain(text, "prerouting"), [
            "type filter hook prerouting priority mangle; policy accept;",
            'iifname "lo" return',
            "ct state established,related return",
            'iifname { "cni0", "flannel.1", "flannel-v6.1", "flannel-wg", "flannel-wg-v6" } return',
            'iifname "eth1" ip saddr @private4 return',
            "fib daddr type local meta l4proto { tcp, udp } th dport 30000-32767 drop",
            "fib daddr type unicast drop",
        ]);
    });

    it("an agent with WireGuard: no API or etcd, WireGuard instead of VXLAN, no 80/443 off the gateway", () => {
        const text = renderFirewallRules({ ...base, role: "agent", gateway: false, flannelBackend: "wireguard-native" });
        const priv = chain(text, "from_private").join("\n");
        assert.doesNotMatch(priv, /6443|2379/);
        assert.doesNotMatch(priv, /8472/);
        assert.match(priv, /udp dport \{ 8301-8302, 8600, 30000-32767, 51820-51821 \} accept/);
        assert.doesNotMatch(chain(text, "input").join("\n"), /80, 443/);
    });

    it("SSH and the API only from the listed CIDRs, per family; extra public ports; another SSH port", () => {
        const text = renderFirewallRules({
            ...base,
            sshPort: 2222,
            sshAllowFrom: ["203.0.113.0/24", "2001:db8::/32", "203.0.113.0/24"],
            apiAllowFrom: ["198.51.100.7"],
            extraPublicPorts: [
                { port: 8443, protocol: "tcp" },
                { port: 51000, protocol: "udp" },
            ],
        });
        const input = chain(text, "input");
        assert.ok(input.includes("tcp dport 2222 ip saddr @ssh_allow4 accept"));
        assert.ok(input.includes("tcp dport 2222 ip6 saddr @ssh_allow6 accept"));
        assert.ok(!input.some((r) => /^tcp dport 2222 accept/.test(r)), "no SSH from anywhere");
        assert.ok(input.includes("tcp dport { 80, 443, 8443 } accept"));
        assert.ok(input.includes("udp dport 51000 accept"));
        assert.ok(input.includes("tcp dport 6443 ip saddr @api_allow4 accept"));
        assert.match(text, /set ssh_allow4 \{[^}]*elements = \{ 203\.0\.113\.0\/24 \}/, "duplicates listed once");
        assert.match(text, /set ssh_allow6 \{[^}]*elements = \{ 2001:db8::\/32 \}/);
        // An agent serves no API, whatever apiAllowFrom says.
        assert.doesNotMatch(renderFirewallRules({ ...base, role: "agent", apiAllowFrom: ["198.51.100.7"] }), /6443|api_allow/);
    });

    it("IPv6 private peers get their own set and the same interface match", () => {
        const text = renderFirewallRules({ ...base, privateSources: ["10.10.0.5", "fd00:10::5", "fd00:10::/64"] });
        assert.match(text, /set private6 \{[^}]*type ipv6_addr[^}]*elements = \{ fd00:10::5, fd00:10::\/64 \}/);
        assert.ok(chain(text, "input").includes('iifname "eth1" ip6 saddr @private6 jump from_private'));
        assert.ok(chain(text, "prerouting").includes('iifname "eth1" ip6 saddr @private6 return'));
    });

    it("refuses what would break the rules or open a cluster port", () => {
        assert.throws(() => renderFirewallRules({ ...base, privateInterface: 'eth1"; flush ruleset' }), /is not an interface name/);
        assert.throws(() => renderFirewallRules({ ...base, sshPort: 0 }), /SSH port 0 is not 1–65535/);
        assert.throws(
            () => renderFirewallRules({ ...base, sshAllowFrom: ["10.0.0.1/33"] }),
            /sshAllowFrom: "10.0.0.1\/33" has a prefix length outside 0–32/,
        );
        assert.throws(
            () => renderFirewallRules({ ...base, extraPublicPorts: [{ port: 8472, protocol: "udp" }] }),
            /public port 8472\/udp is a cluster port \(flannel VXLAN/,
        );
    });

    it("is stable: same inputs, same text and hash", () => {
        assert.equal(renderFirewallRules(base), renderFirewallRules({ ...base }));
        assert.equal(rulesHash(renderFirewallRules(base)), rulesHash(renderFirewallRules(base)));
        assert.notEqual(rulesHash(renderFirewallRules(base)), rulesHash(renderFirewallRules({ ...base, gateway: false })));
    });

    it("rulesHash is what firewall.sh computes (printf '%s' | sha256sum)", () => {
        const text = renderFirewallRules(base);
        const shell = execFileSync("bash", ["-c", `printf '%s' "$R" | sha256sum | cut -d' ' -f1`], {
            env: { ...process.env, R: text },
            encoding: "utf8",
        }).trim();
        assert.equal(rulesHash(text), shell);
    });
});

describe("parseCidr and cluster ports", () => {
    it("accepts addresses and CIDRs of both families, refuses host bits and junk", () => {
        assert.deepEqual(parseCidr("198.51.100.7"), { family: 4, cidr: "198.51.100.7" });
        assert.deepEqual(parseCidr("198.51.100.0/24"), { family: 4, cidr: "198.51.100.0/24" });
        assert.deepEqual(parseCidr("198.51.100.7/32"), { family: 4, cidr: "198.51.100.7" });
        assert.deepEqual(parseCidr("2001:db8::/32"), { family: 6, cidr: "2001:db8::/32" });
        assert.deepEqual(parseCidr("0.0.0.0/0"), { family: 4, cidr: "0.0.0.0/0" });
        assert.match(parseCidr("198.51.100.7/24") as string, /has host bits set; use the network address \(198\.51\.100\.0\/24\)/);
        assert.match(parseCidr("2001:db8::1/32") as string, /host bits set; use the network address \(2001:db8::\/32\)/);
        assert.match(parseCidr("example.no") as string, /is not an IP address or CIDR/);
        assert.match(parseCidr("10.0.0.0/8/8") as string, /is not an IP address or CIDR/);
    });

    it("servers open the API and etcd, agents do not; each backend its own overlay port", () => {
        const names = (r: "server" | "agent", b: "vxlan" | "wireguard-native") => privatePorts(r, b).map((p) => `${p.from}/${p.protocol}`);
        assert.ok(names("server", "vxlan").includes("6443/tcp"));
        assert.ok(!names("agent", "vxlan").includes("6443/tcp"));
        assert.ok(names("agent", "vxlan").includes("8472/udp") && !names("agent", "vxlan").includes("51820/udp"));
        assert.ok(names("agent", "wireguard-native").includes("51820/udp") && !names("agent", "wireguard-native").includes("8472/udp"));
        assert.equal(clusterPortClash({ port: 31000, protocol: "tcp" })?.what, "Kubernetes NodePorts");
        assert.equal(clusterPortClash({ port: 8472, protocol: "tcp" }), undefined, "VXLAN is UDP only");
        assert.ok(CLUSTER_PORTS.every((p) => p.from <= p.to));
    });
});
