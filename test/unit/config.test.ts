import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { DEFAULT_SYSCTLS, parsePlatformConfig } from "../../components/config";
import { hostKeyOf, rawConfig } from "../helpers/fixtures";
import { expectProblem, problems } from "../helpers/config-problems";

const ROOT = path.resolve(__dirname, "..", "..");

const node = (name: string, host: string, priv: string, role = "agent") => ({
    name,
    role,
    host,
    privateAddress: priv,
    hostKey: hostKeyOf(name),
});

describe("parsePlatformConfig accepts", () => {
    it("the fixture config and applies every default", () => {
        const c = parsePlatformConfig(rawConfig());
        assert.equal(c.sovereignty, "strict");
        assert.equal(c.region, "no-oslo");
        assert.equal(c.mtu, 1500);
        assert.deepEqual(c.ssh, { user: "root", port: 22, privateKeyPath: undefined, insecureSkipHostKeyVerification: false });
        assert.equal(c.nodes[0].port, 22);
        assert.equal(c.nodes[0].region, "no-oslo");
        assert.deepEqual(c.tuning.sysctls, DEFAULT_SYSCTLS);
        assert.equal(c.tuning.sysctls["net.ipv4.ip_local_port_range"], "1024 65535");
        assert.equal(c.tuning.sysctls["net.ipv4.tcp_tw_reuse"], "1");
        assert.equal(c.tuning.sysctls["fs.file-max"], "2097152");
        assert.deepEqual(c.preflight.requiredModules, ["overlay", "br_netfilter", "vxlan"]);
        assert.equal(c.services[0].gatewayPath, "/api/inventory");
        assert.equal(c.services[0].healthPath, "/health");
        assert.deepEqual(c.services[0].datastores, [{ engine: "postgres", instance: "inventory-postgres" }]);
    });

    it("Pulumi.dev.yaml as shipped", () => {
        const doc = parseYaml(readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
        const raw = Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^nordstack:/, ""), v]));
        const c = parsePlatformConfig(raw);
        assert.deepEqual(
            c.nodes.map((n) => [n.name, n.role, n.region]),
            [
                ["osl-1", "server", "no-oslo"],
                ["osl-2", "agent", "no-oslo"],
                ["osl-3", "agent", "no-oslo"],
            ],
        );
        assert.deepEqual(
            c.services.map((s) => s.name),
            ["inventory", "pricing"],
        );
        // Example hosts must be documentation addresses, never someone's real machine.
        for (const n of c.nodes) assert.match(n.host, /^(192\.0\.2|198\.51\.100|203\.0\.113)\./);
    });

    it("integers given as strings (pulumi config set without --path)", () => {
        const c = parsePlatformConfig(rawConfig({ sshPort: "2222", mtu: "9000" }));
        assert.equal(c.ssh.port, 2222);
        assert.equal(c.mtu, 9000);
    });

    it("three or five servers, and a region outside Norway when sovereignty is relaxed", () => {
        const nodes = [1, 2, 3].map((i) => node(`s${i}`, `203.0.113.${i}`, `10.0.0.${i}`, "server"));
        assert.equal(parsePlatformConfig(rawConfig({ nodes })).nodes.length, 3);
        const c = parsePlatformConfig(rawConfig({ sovereignty: "relaxed", region: "de-frankfurt" }));
        assert.equal(c.region, "de-frankfurt");
    });

    it("sysctl overrides merged over the seed values; k3s off drops the module requirement", () => {
        const c = parsePlatformConfig(
            rawConfig({ sysctls: { "net.ipv4.tcp_tw_reuse": "2", "net.core.somaxconn": 4096 }, k3sEnabled: false }),
        );
        assert.equal(c.tuning.sysctls["net.ipv4.tcp_tw_reuse"], "2");
        assert.equal(c.tuning.sysctls["net.core.somaxconn"], "4096");
        assert.equal(c.tuning.sysctls["fs.file-max"], "2097152");
        assert.deepEqual(c.preflight.requiredModules, []);
    });
});

describe("parsePlatformConfig rejects, naming the key and the fix", () => {
    it("no nodes", () => {
        expectProblem(rawConfig({ nodes: [] }), "nodes", /no nodes configured; list at least one node/);
        expectProblem(rawConfig({ nodes: undefined }), "nodes", /no nodes configured/);
    });

    it("duplicate node names", () => {
        const nodes = [node("a", "203.0.113.1", "10.0.0.1", "server"), node("a", "203.0.113.2", "10.0.0.2")];
        expectProblem(rawConfig({ nodes }), "nodes[1].name", /duplicates nodes\[0\]\.name \("a"\)/);
    });

    it("duplicate public addresses", () => {
        const nodes = [node("a", "203.0.113.1", "10.0.0.1", "server"), node("b", "203.0.113.1", "10.0.0.2")];
        expectProblem(rawConfig({ nodes }), "nodes[1].host", /duplicates nodes\[0\]\.host/);
    });

    it("duplicate private addresses", () => {
        const nodes = [node("a", "203.0.113.1", "10.0.0.1", "server"), node("b", "203.0.113.2", "10.0.0.1")];
        expectProblem(rawConfig({ nodes }), "nodes[1].privateAddress", /duplicates nodes\[0\]\.privateAddress/);
    });

    it("an address that is neither an IP nor a hostname", () => {
        const nodes = [node("a", "not a host!", "10.0.0.1", "server")];
        expectProblem(rawConfig({ nodes }), "nodes[0].host", /neither an IP address nor a hostname/);
        const nodes2 = [node("a", "203.0.113.1", "osl-1.internal", "server")];
        expectProblem(rawConfig({ nodes: nodes2 }), "nodes[0].privateAddress", /is not an IP address \(k3s needs --node-ip\)/);
    });

    it("no server node", () => {
        const nodes = [node("a", "203.0.113.1", "10.0.0.1"), node("b", "203.0.113.2", "10.0.0.2")];
        expectProblem(rawConfig({ nodes }), "nodes", /no node has role: server/);
    });

    it("an even number of servers above one", () => {
        const nodes = [1, 2, 3, 4].map((i) => node(`s${i}`, `203.0.113.${i}`, `10.0.0.${i}`, "server"));
        expectProblem(rawConfig({ nodes }), "nodes", /4 servers is an even number: embedded etcd needs a majority.*use 1, 3 or 5/);
    });

    it("an SSH port out of range, stack-wide and per node", () => {
        expectProblem(rawConfig({ sshPort: 70000 }), "sshPort", /70000 is outside 1–65535; use the port sshd listens on/);
        const nodes = [{ ...node("a", "203.0.113.1", "10.0.0.1", "server"), port: 0 }];
        expectProblem(rawConfig({ nodes }), "nodes[0].port", /0 is outside 1–65535/);
    });

    it("a region outside Norway when sovereignty is strict (the default)", () => {
        expectProblem(rawConfig({ region: "de-frankfurt" }), "region", /outside Norway while sovereignty is "strict"/);
        const nodes = [{ ...node("a", "203.0.113.1", "10.0.0.1", "server"), region: "us-ashburn" }];
        expectProblem(rawConfig({ nodes }), "nodes[0].region", /outside Norway.*use a Norwegian site/);
    });

    it("an MTU outside 1280–9000", () => {
        expectProblem(rawConfig({ mtu: 1279 }), "mtu", /1279 is outside 1280–9000; set the MTU of the nodes' private network/);
        expectProblem(rawConfig({ mtu: 9001 }), "mtu", /9001 is outside 1280–9000/);
    });

    it("a service name that is not a DNS-1123 label", () => {
        const services = [{ name: "Inventory_Service", image: "x:1" }];
        expectProblem(rawConfig({ services }), "services[0].name", /is not a DNS-1123 label; use lower-case letters/);
    });

    it("two services declaring the same gateway path", () => {
        const services = [
            { name: "a", image: "x:1", gatewayPath: "/api/shared" },
            { name: "b", image: "x:1", gatewayPath: "/api/shared/" },
        ];
        expectProblem(rawConfig({ services }), "services[1].gatewayPath", /duplicates services\[0\]\.gatewayPath/);
    });

    it("a datastore instance claimed by two services", () => {
        const services = [
            { name: "a", image: "x:1", datastores: [{ engine: "postgres", instance: "users-db" }] },
            { name: "b", image: "x:1", datastores: [{ engine: "postgres", instance: "users-db" }] },
        ];
        expectProblem(rawConfig({ services }), "services[1].datastores[0].instance", /already owned by service "a".*no shared data/);
    });

    it("no SSH key, or two of them", () => {
        expectProblem(rawConfig({ sshPrivateKey: undefined }), "sshPrivateKey", /pulumi config set --secret sshPrivateKey/);
        expectProblem(rawConfig({ sshPrivateKeyPath: "~/.ssh/id", sshPrivateKey: true }), "sshPrivateKeyPath", /keep one/);
    });

    it("unknown keys, suggesting the intended one", () => {
        const nodes = [{ ...node("a", "203.0.113.1", "10.0.0.1", "server"), hots: "x" }];
        expectProblem(rawConfig({ nodes }), "nodes[0].hots", /unknown key; did you mean "host"\?/);
    });

    it("bad sysctl keys and values", () => {
        expectProblem(rawConfig({ sysctls: { "not a key": "1" } }), "sysctls.not a key", /is not a sysctl key/);
        expectProblem(
            rawConfig({ sysctls: { "net.ipv4.tcp_tw_reuse": "1\nfs.file-max=1" } }),
            "sysctls.net.ipv4.tcp_tw_reuse",
            /without newline/,
        );
    });

    it("a k3s version, flannel backend or air-gap set that is not usable", () => {
        expectProblem(rawConfig({ k3sVersion: "1.31" }), "k3sVersion", /is not a k3s release like v1\.36\.3\+k3s1/);
        expectProblem(rawConfig({ k3sFlannelBackend: "host-gw" }), "k3sFlannelBackend", /must be vxlan or wireguard-native/);
        expectProblem(rawConfig({ k3sAirgap: { binary: "/srv/k3s" } }), "k3sAirgap.images", /is required; set the local path/);
        expectProblem(rawConfig({ k3sInstallScriptUrl: "http://get.k3s.io" }), "k3sInstallScriptUrl", /must be an https:\/\/ URL/);
        expectProblem(
            rawConfig({ k3sInstallScriptSha256: "sha256:ABC" }),
            "k3sInstallScriptSha256",
            /must be the install script's sha256 \(64 lowercase hex digits, as `curl -sfL URL \| sha256sum` prints\), got "sha256:ABC"/,
        );
    });

    it("a gateway without server names, or with more replicas than nodes", () => {
        expectProblem(
            rawConfig({ gatewayServerNames: [] }),
            "gatewayServerNames",
            /needs at least one server name when services are configured/,
        );
        expectProblem(rawConfig({ gatewayReplicas: 4 }), "gatewayReplicas", /4 gateway replicas need 4 nodes .* there are 3/);
        expectProblem(rawConfig({ linkerdChartRepository: "ftp://x" }), "linkerdChartRepository", /https:\/\/ or oci:\/\//);
        expectProblem(rawConfig({ consulChartVersion: "^1.2" }), "consulChartVersion", /not a pinned chart version/);
    });

    it("every problem at once, in one error", () => {
        const raw = rawConfig({ mtu: 100, sshPort: -1, region: "de-berlin", nodes: [] });
        const ps = problems(raw);
        assert.deepEqual(ps.map((p) => p.path).sort(), ["mtu", "nodes", "region", "sshPort"]);
        assert.throws(() => parsePlatformConfig(raw), /the stack configuration has 4 problems:\n {2}- region: /);
    });
});
