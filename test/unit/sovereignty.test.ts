// The sovereignty report: every endpoint of the dev stack with its jurisdiction,
// and the strict/relaxed verdict on endpoints known to be outside the EEA.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { parsePlatformConfig } from "../../components/config";
import { ConfigError } from "../../components/validate";
import { formatSovereigntyReport, jurisdictionOf, sovereigntyReport } from "../../components/sovereignty";
import { rawConfig } from "../helpers/fixtures";

const ROOT = path.resolve(__dirname, "..", "..");

function devRaw(): Record<string, unknown> {
    const doc = parseYaml(readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
    return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^nordstack:/, ""), v]));
}

const libvirt = (extra: Record<string, unknown> = {}) => ({
    hypervisor: { host: "203.0.113.50", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHypervisorKey" },
    guests: [
        { name: "g1", role: "server", vcpus: 2, memoryMiB: 2048, diskGiB: 20, address: "192.168.122.11", gateway: "192.168.122.1" },
        { name: "g2", role: "agent", vcpus: 2, memoryMiB: 2048, diskGiB: 20, address: "192.168.122.12", gateway: "192.168.122.1" },
    ],
    ...extra,
});

describe("sovereignty report", () => {
    it("the dev stack as shipped: every endpoint behind its mirrors, none known outside the EEA", () => {
        const r = sovereigntyReport(parsePlatformConfig(devRaw()));
        assert.deepEqual(r.problems, []);
        assert.deepEqual(r.warnings, []);
        assert.deepEqual(
            r.endpoints.map((e) => [e.endpoint, e.upstream ?? "", e.country, e.key]),
            [
                ["mirror.nordstack.example", "", "unknown", "k3sInstallScriptUrl"],
                ["mirror.nordstack.example", "", "unknown", "k3sDownloadUrl"],
                ["registry.nordstack.example", "docker.io", "unknown", "registryMirror"],
                ["registry.nordstack.example", "cr.l5d.io", "unknown", "registryMirror"],
                ["registry.nordstack.example", "", "unknown", "chartMirror"],
                ["registry.nordstack.example", "", "unknown", "chartMirror"],
                ["nodes' resolv.conf", "", "unknown", "nodes"],
                ["nodes' NTP", "", "unknown", "nodes"],
            ],
        );
        const docker = r.endpoints.find((e) => e.upstream === "docker.io");
        assert.equal(
            docker?.purpose,
            "container images: k3s system images, service inventory, service pricing, Postgres, Redis, NGINX gateway, overlay smoke test, Consul",
        );
        assert.equal(docker?.url, "https://registry.nordstack.example/docker.io");
        const text = formatSovereigntyReport(r);
        assert.match(text, /^sovereignty \(strict\): the stack contacts 8 external endpoints:\n/);
        assert.match(text, /\n {2}- registry.nordstack.example \(mirror of cr.l5d.io\): unknown — container images: Linkerd\n/);
    });

    it("the dev stack without its mirrors: each US endpoint is a strict config problem naming the key and the fix", () => {
        const raw = devRaw();
        for (const k of ["registryMirror", "chartMirror", "k3sInstallScriptUrl", "k3sDownloadUrl"]) delete raw[k];
        const r = sovereigntyReport(parsePlatformConfig(raw));
        assert.deepEqual(
            r.problems.map((p) => [p.path, p.message.split(" ")[0]]),
            [
                ["k3sInstallScriptUrl", "raw.githubusercontent.com"],
                ["k3sDownloadUrl", "github.com"],
                ["registryMirror", "docker.io"],
                ["registryMirror", "cr.l5d.io"],
                ["chartMirror", "helm.linkerd.io"],
                ["chartMirror", "helm.releases.hashicorp.com"],
            ],
        );
        assert.equal(
            r.problems[2].message,
            "docker.io (US, Docker, Inc.) is outside the EEA [container images: k3s system images, service inventory, service pricing, " +
                'Postgres, Redis, NGINX gateway, overlay smoke test, Consul] while sovereignty is "strict"; set registryMirror to a registry ' +
                "mirror in the EEA (e.g. registry.example.no) that proxies it, or set sovereignty: relaxed deliberately",
        );
        assert.equal(
            r.endpoints.find((e) => e.endpoint === "raw.githubusercontent.com")?.country,
            "US",
            "the pinned install script's host",
        );
        // index.ts throws these as one ConfigError, the same format as every other config problem.
        assert.match(
            new ConfigError(r.problems).message,
            /^nordstack: the stack configuration has 6 problems:\n {2}- k3sInstallScriptUrl: raw.githubusercontent.com/,
        );

        const relaxed = sovereigntyReport(parsePlatformConfig({ ...raw, sovereignty: "relaxed" }));
        assert.deepEqual(relaxed.problems, []);
        assert.equal(relaxed.warnings.length, 6);
        assert.match(
            relaxed.warnings[1],
            /^sovereignty: github.com \(US, GitHub \(Microsoft\)\) is outside the EEA \[k3s v1.36.3\+k3s1 binary/,
        );
    });

    it("a mirror known outside the EEA is refused too; air-gapped k3s and k3s off contact fewer endpoints", () => {
        const viaUs = sovereigntyReport(parsePlatformConfig({ ...devRaw(), registryMirror: "ghcr.io/someone" }));
        assert.deepEqual(
            viaUs.problems.map((p) => p.path),
            ["registryMirror", "registryMirror"],
        );
        const airgap = sovereigntyReport(
            parsePlatformConfig({ ...devRaw(), k3sAirgap: { binary: "/tmp/k3s", images: "/tmp/i.tar", installScript: "/tmp/install.sh" } }),
        );
        assert.ok(!airgap.endpoints.some((e) => /^k3s/.test(e.purpose)));
        const off = sovereigntyReport(parsePlatformConfig(rawConfig({ k3sEnabled: false })));
        assert.deepEqual(
            off.endpoints.map((e) => e.endpoint),
            ["nodes' resolv.conf", "nodes' NTP"],
        );
    });

    it("libvirt guests: base image URL and guest resolvers (default the gateway: the hypervisor's)", () => {
        const base = {
            ...rawConfig({ k3sEnabled: false }),
            nodes: undefined,
            sshPrivateKey: false,
            services: [],
            gatewayServerNames: [],
        };
        const dflt = sovereigntyReport(parsePlatformConfig({ ...base, libvirt: libvirt() }));
        assert.deepEqual(
            dflt.endpoints.map((e) => [e.endpoint, e.country, e.key]),
            [
                ["cloud.debian.org", "unknown", "libvirt.baseImage"],
                ["192.168.122.1", "local", "libvirt.nameservers"],
                ["guests' timesyncd", "unknown", "nodes"],
            ],
        );
        const cf = sovereigntyReport(parsePlatformConfig({ ...base, libvirt: libvirt({ nameservers: ["1.1.1.1", "9.9.9.9"] }) }));
        assert.deepEqual(
            cf.problems.map((p) => [p.path, p.message.split(" (")[0]]),
            [
                ["libvirt.nameservers", "1.1.1.1"],
                ["libvirt.nameservers", "9.9.9.9"],
            ],
        );
        assert.match(cf.problems[1].message, /^9.9.9.9 \(CH, Quad9 Foundation\) is outside the EEA/);
    });

    it("the jurisdiction table: exact hosts, then suffixes; private addresses are local; the rest unknown", () => {
        assert.deepEqual(jurisdictionOf("https://helm.linkerd.io/edge"), { country: "US", operator: "Buoyant, Inc. (Linkerd)" });
        assert.equal(jurisdictionOf("oci://harbor.example.no:8443/charts").country, "NO");
        assert.equal(jurisdictionOf("registry.example.com").country, "unknown");
        assert.equal(jurisdictionOf("10.0.0.53").country, "local");
        assert.equal(jurisdictionOf("docker.io.evil.example").country, "unknown", "suffixes are only the dotted entries");
    });
});
