// One declaration per config key (components/config-keys.ts): Pulumi.yaml and the
// README's table agree with it, the parser knows exactly its keys, and the
// validator gaps of issue 12/13/15 are closed.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { CONFIG_KEYS, ConfigKeyDecl, SECRET_KEYS } from "../../components/config-keys";
import { DEFAULTS, imageProblem, parsePlatformConfig } from "../../components/config";
import { defaultText, pulumiYamlConfig, README_END, README_START, readmeRows } from "../../scripts/dev/config-docs";
import { hostKeyOf, rawConfig } from "../helpers/fixtures";
import { expectProblem } from "../helpers/config-problems";

const ROOT = path.resolve(__dirname, "..", "..");

describe("config keys: one declaration", () => {
    it("Pulumi.yaml's config block is exactly the generated one (npm run gen:config)", () => {
        const project = parseYaml(readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config: Record<string, unknown> };
        assert.deepEqual(project.config, pulumiYamlConfig());
        for (const [key, spec] of Object.entries(project.config) as [string, { type: string; description: string }][]) {
            // The only types the Pulumi CLI accepts in a project's config schema (the real engine refused `number`).
            assert.ok(["string", "integer", "boolean", "array"].includes(spec.type), `${key} has type ${spec.type}`);
            if (spec.type === "integer") assert.match(spec.description, /\d+-\d+|\d+ to /, `${key}: an integer key states its range`);
        }
    });

    it("the README's key table is exactly the generated one", () => {
        const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
        const block = readme.slice(readme.indexOf(README_START), readme.indexOf(README_END));
        const rows = block
            .split("\n")
            .filter((l) => l.startsWith("| `"))
            .map((l) =>
                l
                    .slice(1, -1)
                    .split(/(?<!\\)\|/)
                    .map((c) => c.trim().replace(/\\\|/g, "|")),
            );
        assert.deepEqual(rows, readmeRows());
    });

    it("the parser's defaults are the declared ones", () => {
        const c = parsePlatformConfig(rawConfig());
        assert.equal(c.ssh.user, CONFIG_KEYS.sshUser.default);
        assert.equal(c.ssh.port, CONFIG_KEYS.sshPort.default);
        assert.equal(c.mtu, CONFIG_KEYS.mtu.default);
        assert.equal(c.k3s.version, CONFIG_KEYS.k3sVersion.default);
        assert.equal(c.smoke.mode, "onChange", "a second up changes nothing by default");
        assert.equal(c.smoke.coverage, "ring");
        assert.equal(c.smoke.maxRetransmitRate, Number(CONFIG_KEYS.smokeMaxRetransmitRate.default));
        assert.equal(c.gateway.keepalive, DEFAULTS.gatewayKeepalive);
        assert.equal(c.k3s.joinConcurrency, 2, "bounded by the agent count");
        assert.equal(c.ssh.insecureSkipHostKeyVerification, false);
        for (const [k, d] of Object.entries(CONFIG_KEYS) as [string, ConfigKeyDecl][]) {
            assert.ok(d.description.length > 20, `${k} needs a description`);
            if (!d.secret && d.type !== "object") assert.notEqual(defaultText(d), "", `${k} needs a default`);
        }
        assert.deepEqual(SECRET_KEYS, [
            "sshPrivateKey",
            "registryMirrorAuth",
            "gatewayTlsPrivateKey",
            "libvirtHypervisorPrivateKey",
            "backupAccessKeyId",
            "backupSecretAccessKey",
        ]);
    });

    it("every declared key is accepted, every other top-level key refused with a suggestion", () => {
        expectProblem(rawConfig({ sshUsr: "debian" }), "sshUsr", /did you mean "sshUser"/);
        expectProblem(rawConfig({ smokeMinGpbs: "5" }), "smokeMinGpbs", /did you mean "smokeMinGbps"/);
        expectProblem(rawConfig({ smokeMaxRetransmits: 2000 }), "smokeMaxRetransmits", /replaced by smokeMaxRetransmitRate/);
        // Secrets are known keys: index.ts hands them over as `true`.
        assert.doesNotThrow(() => parsePlatformConfig(rawConfig({ gatewayTlsPrivateKey: true, gatewayTlsCertificate: "PEM" })));
    });
});

describe("config: trust at the edges", () => {
    const nodes = (over: Record<string, unknown>[] = []) =>
        rawConfig().nodes instanceof Array
            ? (rawConfig().nodes as Record<string, unknown>[]).map((n, i) => ({ ...n, ...(over[i] ?? {}) }))
            : [];

    it("a node without a pinned host key is refused, naming ssh-keyscan; the opt-out accepts it", () => {
        expectProblem(rawConfig({ nodes: nodes([{ hostKey: undefined }]) }), "nodes[0].hostKey", /ssh-keyscan -t ed25519 203\.0\.113\.11/);
        const c = parsePlatformConfig(rawConfig({ nodes: nodes([{ hostKey: undefined }]), insecureSkipHostKeyVerification: true }));
        assert.equal(c.ssh.insecureSkipHostKeyVerification, true);
    });

    it("a jump host needs its own pinned key", () => {
        expectProblem(rawConfig({ nodes: nodes([{ jumpHost: { host: "203.0.113.1" } }]) }), "nodes[0].jumpHost.hostKey", /ssh-keyscan/);
        const c = parsePlatformConfig(rawConfig({ nodes: nodes([{ jumpHost: { host: "203.0.113.1", hostKey: hostKeyOf("bastion") } }]) }));
        assert.equal(c.nodes[0].jumpHost?.hostKey, hostKeyOf("bastion"));
    });

    it("user names are POSIX names: 'root ' does not silently become a sudo user", () => {
        expectProblem(rawConfig({ sshUser: "root " }), "sshUser", /not a POSIX user name/);
        expectProblem(rawConfig({ nodes: nodes([{ user: "Deb ian" }]) }), "nodes[0].user", /not a POSIX user name/);
    });

    it("image references are pinned: no :latest, no untagged, no whitespace; digests allowed", () => {
        assert.match(imageProblem("nginx") ?? "", /no tag/);
        assert.match(imageProblem("docker.io/library/nginx:latest") ?? "", /:latest/);
        assert.match(imageProblem("nginx :1.27") ?? "", /whitespace/);
        assert.match(imageProblem("nginx@sha256:abc") ?? "", /malformed digest/);
        assert.equal(imageProblem("registry.example.no:5000/team/app:1.2.3"), undefined);
        assert.equal(imageProblem(`docker.io/traefik/whoami@sha256:${"a".repeat(64)}`), undefined);
        const services = [{ name: "a", image: "docker.io/traefik/whoami:latest" }];
        expectProblem(rawConfig({ services }), "services[0].image", /:latest/);
    });

    it("sysctl keys: only net/fs/vm/kernel, never the ones that run programs as root", () => {
        expectProblem(rawConfig({ sysctls: { "kernel.core_pattern": "|/tmp/x" } }), "sysctls.kernel.core_pattern", /run programs as root/);
        expectProblem(rawConfig({ sysctls: { "kernel.modprobe": "/tmp/x" } }), "sysctls.kernel.modprobe", /refused/);
        expectProblem(rawConfig({ sysctls: { "dev.tty.ldisc_autoload": "0" } }), "sysctls.dev.tty.ldisc_autoload", /only net\.\*/);
        assert.doesNotThrow(() => parsePlatformConfig(rawConfig({ sysctls: { "net.core.somaxconn": "4096" } })));
    });

    it("the whole libvirt block is checked: unknown keys, hypervisor fields, null guests", () => {
        const hypervisor = { host: "203.0.113.50", hostKey: hostKeyOf("hv") };
        const guest = { name: "g1", role: "server", address: "10.0.0.2", vcpus: 2, memoryMiB: 2048, diskGiB: 20 };
        const base = { nodes: undefined, sshPrivateKey: undefined };
        expectProblem(rawConfig({ ...base, libvirt: { hypervisor, guests: [null] } }), "libvirt.guests[0]", /must be a map/);
        expectProblem(
            rawConfig({ ...base, libvirt: { hypervisor, guests: [guest], bridgee: "br0" } }),
            "libvirt.bridgee",
            /did you mean "bridge"/,
        );
        expectProblem(
            rawConfig({ ...base, libvirt: { hypervisor: { host: "203.0.113.50" }, guests: [guest] } }),
            "libvirt.hypervisor.hostKey",
            /ssh-keyscan/,
        );
        expectProblem(
            rawConfig({ ...base, libvirt: { hypervisor: { ...hypervisor, port: 70000, user: "r oot" }, guests: [guest] } }),
            "libvirt.hypervisor.port",
            /1–65535/,
        );
        expectProblem(
            rawConfig({ ...base, libvirt: { hypervisor, guests: [{ ...guest, cpu: 2 }] } }),
            "libvirt.guests[0].cpu",
            /did you mean/,
        );
    });
});

describe("config: versions, labels, smoke and k3s concurrency", () => {
    it("refuses a k3s older than the Linkerd chart accepts, naming both versions", () => {
        expectProblem(
            rawConfig({ k3sVersion: "v1.30.9+k3s1" }),
            "k3sVersion",
            /v1\.30\.9\+k3s1 is older than v1\.31.*kubeVersion >=1\.31\.0-0/,
        );
        assert.equal(parsePlatformConfig(rawConfig({ k3sVersion: "v1.31.4+k3s1" })).k3s.version, "v1.31.4+k3s1");
    });

    it("refuses node labels the kubelet would refuse, naming the allowed prefixes", () => {
        const n = (labels: Record<string, string>) =>
            rawConfig({ nodes: (rawConfig().nodes as object[]).map((x, i) => (i === 0 ? { ...x, labels } : x)) });
        expectProblem(
            n({ "node-role.kubernetes.io/worker": "true" }),
            "nodes[0].labels.node-role.kubernetes.io/worker",
            /topology\.kubernetes\.io\//,
        );
        expectProblem(n({ "k8s.io/anything": "x" }), "nodes[0].labels.k8s.io/anything", /kubelet refuses/);
        assert.doesNotThrow(() => parsePlatformConfig(n({ "topology.kubernetes.io/zone": "no-oslo-a", "nordstack.io/role": "db" })));
    });

    it("air-gap images keep a known extension", () => {
        const airgap = { binary: "/x/k3s", images: "/x/images.tgz", installScript: "/x/install.sh" };
        expectProblem(rawConfig({ k3sAirgap: airgap }), "k3sAirgap.images", /\.tar, \.tar\.gz or \.tar\.zst/);
    });

    it("concurrency keys are bounded by the agent count; coverage and rates are checked", () => {
        expectProblem(rawConfig({ k3sJoinConcurrency: 0 }), "k3sJoinConcurrency", /1–2/);
        expectProblem(rawConfig({ k3sJoinConcurrency: 3 }), "k3sJoinConcurrency", /there are 2 agents/);
        expectProblem(rawConfig({ k3sUpgradeBatch: 5 }), "k3sUpgradeBatch", /1–2/);
        expectProblem(rawConfig({ smokeCoverage: "some" }), "smokeCoverage", /ring .* or full/);
        expectProblem(rawConfig({ smokeMaxRetransmitRate: "5" }), "smokeMaxRetransmitRate", /0–1/);
        const c = parsePlatformConfig(rawConfig({ k3sJoinConcurrency: "2", k3sUpgradeBatch: 2, smokeCoverage: "full" }));
        assert.deepEqual([c.k3s.joinConcurrency, c.k3s.upgradeBatch, c.smoke.coverage], [2, 2, "full"]);
    });
});
