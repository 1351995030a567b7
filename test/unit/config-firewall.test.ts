// The firewall's config keys: defaults, validation, and the API reachability check.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parsePlatformConfig } from "../../components/config";
import { rawConfig } from "../helpers/fixtures";

function problems(raw: unknown): { path: string; message: string }[] {
    try {
        parsePlatformConfig(raw);
    } catch (e) {
        if (e instanceof ConfigError) return e.problems;
        throw e;
    }
    return [];
}

function expectProblem(raw: unknown, keyPath: string, fragment: RegExp): void {
    const found = problems(raw);
    assert.ok(
        found.some((p) => p.path === keyPath && fragment.test(p.message)),
        `expected a problem at ${keyPath} matching ${fragment}; got ${JSON.stringify(found)}`,
    );
}

describe("firewall config", () => {
    it("defaults: on, SSH from anywhere, no extra ports, 60 s to confirm", () => {
        const { apiAllowFrom: _api, ...raw } = rawConfig();
        void _api;
        const c = parsePlatformConfig({ ...raw, k3sEnabled: false });
        assert.deepEqual(c.firewall, { enabled: true, sshAllowFrom: [], apiAllowFrom: [], extraPublicPorts: [], confirmSeconds: 60 });
    });

    it("reads CIDRs, extra ports (protocol default tcp) and the confirm timeout", () => {
        const c = parsePlatformConfig(
            rawConfig({
                sshAllowFrom: ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"],
                firewallExtraPublicPorts: [{ port: 8443 }, { port: "51000", protocol: "udp" }],
                firewallConfirmSeconds: "90",
            }),
        );
        assert.deepEqual(c.firewall.sshAllowFrom, ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]);
        assert.deepEqual(c.firewall.extraPublicPorts, [
            { port: 8443, protocol: "tcp" },
            { port: 51000, protocol: "udp" },
        ]);
        assert.equal(c.firewall.confirmSeconds, 90);
    });

    it("refuses bad CIDRs, naming the entry and the fix", () => {
        expectProblem(rawConfig({ sshAllowFrom: ["office"] }), "sshAllowFrom[0]", /"office" is not an IP address or CIDR.*list CIDRs like/);
        expectProblem(
            rawConfig({ sshAllowFrom: ["203.0.113.5/24"] }),
            "sshAllowFrom[0]",
            /host bits set; use the network address \(203\.0\.113\.0\/24\)/,
        );
        expectProblem(rawConfig({ apiAllowFrom: ["10.0.0.0/40"] }), "apiAllowFrom[0]", /prefix length outside 0–32/);
        expectProblem(rawConfig({ sshAllowFrom: "203.0.113.0/24" }), "sshAllowFrom", /must be a list of strings/);
    });

    it("refuses extra ports out of range, without a number, of another protocol, twice, or a cluster port", () => {
        expectProblem(
            rawConfig({ firewallExtraPublicPorts: [{ port: 70000 }] }),
            "firewallExtraPublicPorts[0].port",
            /70000 is outside 1–65535/,
        );
        expectProblem(rawConfig({ firewallExtraPublicPorts: [{ protocol: "tcp" }] }), "firewallExtraPublicPorts[0].port", /is required/);
        expectProblem(
            rawConfig({ firewallExtraPublicPorts: [{ port: 53, protocol: "sctp" }] }),
            "firewallExtraPublicPorts[0].protocol",
            /must be tcp or udp/,
        );
        expectProblem(
            rawConfig({ firewallExtraPublicPorts: [{ port: 53 }, { port: 53 }] }),
            "firewallExtraPublicPorts[1]",
            /53\/tcp is listed twice/,
        );
        expectProblem(
            rawConfig({ firewallExtraPublicPorts: [{ port: 8080, prot: "tcp" }] }),
            "firewallExtraPublicPorts[0].prot",
            /unknown key/,
        );
        expectProblem(rawConfig({ firewallExtraPublicPorts: 8443 }), "firewallExtraPublicPorts", /must be a list like \[\{ port: 8443/);
        expectProblem(
            rawConfig({ firewallExtraPublicPorts: [{ port: 8472, protocol: "udp" }] }),
            "firewallExtraPublicPorts[0].port",
            /8472\/udp is a cluster port \(flannel VXLAN.*reachable from the private network only; pick another port/,
        );
        expectProblem(
            rawConfig({ firewallExtraPublicPorts: [{ port: 6443 }] }),
            "firewallExtraPublicPorts[0].port",
            /6443\/tcp is a cluster port .*list your address in apiAllowFrom/,
        );
        expectProblem(
            rawConfig({ firewallExtraPublicPorts: [{ port: 30080 }] }),
            "firewallExtraPublicPorts[0].port",
            /Kubernetes NodePorts/,
        );
    });

    it("refuses a confirm timeout outside 10–120 s and a non-boolean switch", () => {
        expectProblem(rawConfig({ firewallConfirmSeconds: 5 }), "firewallConfirmSeconds", /5 is outside 10–120; use 10–120 seconds/);
        expectProblem(rawConfig({ firewallEnabled: "yes" }), "firewallEnabled", /must be true or false/);
    });

    it("refuses a firewall that would lock Pulumi out of the API it deploys to", () => {
        const { apiAllowFrom: _api, ...raw } = rawConfig();
        void _api;
        expectProblem(
            raw,
            "apiAllowFrom",
            /only from the nodes' private addresses, but Pulumi reaches it at 203\.0\.113\.11 from this machine/,
        );
        // Even over a VPN to a private address: the deploy machine is no node.
        expectProblem(
            { ...raw, k3sApiHost: "10.10.0.5" },
            "apiAllowFrom",
            /at 10\.10\.0\.5 from this machine; list this machine's address/,
        );
        // Pulumi on a server itself, without the firewall, or without k3s: fine.
        assert.deepEqual(problems({ ...raw, k3sApiHost: "127.0.0.1" }), []);
        assert.deepEqual(problems({ ...raw, firewallEnabled: false }), []);
        assert.deepEqual(problems({ ...raw, k3sEnabled: false }), []);
    });
});
