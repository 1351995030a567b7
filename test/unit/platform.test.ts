import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { GraphRecorder, installMocks, value, valueAndSecret } from "../helpers/mocks";
import { config, firewallConfirmJson, preflightJson } from "../helpers/fixtures";
import type { PlatformConfig } from "../../components/config";

// What each node's preflight "prints" in these tests, keyed by resource name.
const mtuOf: Record<string, number> = {};
const SECRET_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnordstack-test-key\n-----END OPENSSH PRIVATE KEY-----\n";

before(() =>
    installMocks((args) => {
        const m = /^(.*)-preflight-(.*)-check$/.exec(args.name);
        if (m) return preflightJson(m[2], mtuOf[`${m[1]}/${m[2]}`] ?? 1500);
        if (args.name.endsWith("-kubeconfig")) return readFileSync(path.join(__dirname, "..", "fixtures", "k3s.yaml"), "utf8");
        if (args.name.endsWith("-confirm")) return firewallConfirmJson();
        if (args.name.endsWith("-sysctl"))
            return JSON.stringify({
                changed: true,
                dropIn: "/etc/sysctl.d/90-nordstack.conf",
                nofile: 1048576,
                values: { "net.ipv4.tcp_tw_reuse": "1" },
            });
        return undefined;
    }),
);

async function build(name: string, cfg: PlatformConfig) {
    const { Platform } = await import("../../components/platform");
    const rec = new GraphRecorder();
    const platform = new Platform(name, { config: cfg, sshPrivateKey: pulumi.secret(SECRET_KEY) }, { transformations: [rec.transform] });
    return { platform, rec };
}

describe("Platform graph (mocks)", () => {
    it("registers exactly the expected components and commands, with parents", async () => {
        const { rec } = await build("p1", config({ k3sEnabled: false }));
        const shape = rec.resources.map((r) => `${r.type} ${r.name} <- ${r.parent ?? "-"}`);
        const perNode = (n: string) => [
            `nordstack:host:Preflight p1-preflight-${n} <- p1`,
            `command:remote:Command p1-preflight-${n}-check <- p1-preflight-${n}`,
        ];
        const tuning = (n: string) => [
            `nordstack:host:Tuning p1-tuning-${n} <- p1`,
            `command:remote:Command p1-tuning-${n}-sysctl <- p1-tuning-${n}`,
        ];
        const firewall = (n: string) => [
            `nordstack:host:Firewall p1-firewall-${n} <- p1`,
            `command:remote:Command p1-firewall-${n}-rules <- p1-firewall-${n}`,
            `command:remote:Command p1-firewall-${n}-confirm <- p1-firewall-${n}`,
        ];
        assert.deepEqual(shape, [
            "nordstack:index:Platform p1 <- -",
            "nordstack:nodes:ExistingHosts p1-nodes <- p1",
            ...perNode("osl-1"),
            ...perNode("osl-2"),
            ...perNode("osl-3"),
            "command:local:Command p1-preflight-gate <- p1",
            ...tuning("osl-1"),
            ...tuning("osl-2"),
            ...tuning("osl-3"),
            ...firewall("osl-1"),
            ...firewall("osl-2"),
            ...firewall("osl-3"),
            // The mesh PKI needs no cluster, so it exists with k3s off too.
            "nordstack:mesh:LinkerdPki p1-linkerd-pki <- p1",
            "tls:index/privateKey:PrivateKey p1-linkerd-pki-anchor-key <- p1-linkerd-pki",
            "tls:index/selfSignedCert:SelfSignedCert p1-linkerd-pki-anchor-cert <- p1-linkerd-pki",
            "tls:index/privateKey:PrivateKey p1-linkerd-pki-issuer-key <- p1-linkerd-pki",
            "tls:index/certRequest:CertRequest p1-linkerd-pki-issuer-csr <- p1-linkerd-pki",
            "tls:index/locallySignedCert:LocallySignedCert p1-linkerd-pki-issuer-cert <- p1-linkerd-pki",
        ]);
    });

    it("tunes a node only after every node passed preflight, and reverts before re-creating", async () => {
        const { rec } = await build("p2", config());
        for (const n of ["osl-1", "osl-2", "osl-3"]) {
            const t = rec.byName(`p2-tuning-${n}-sysctl`);
            assert.deepEqual(t.dependsOn.sort(), [
                "p2-preflight-gate",
                "p2-preflight-osl-1-check",
                "p2-preflight-osl-2-check",
                "p2-preflight-osl-3-check",
            ]);
        }
        assert.deepEqual(rec.byName("p2-preflight-gate").dependsOn.sort(), [
            "p2-preflight-osl-1-check",
            "p2-preflight-osl-2-check",
            "p2-preflight-osl-3-check",
        ]);
        const cmd = rec.byName("p2-tuning-osl-2-sysctl");
        // Plain strings, not outputs: the preview shows exactly what will run (the gate is its own resource).
        const create = cmd.props.create as string;
        const update = cmd.props.update as string;
        const del = cmd.props.delete as string;
        assert.equal(typeof create, "string");
        assert.equal(create, update, "a changed value re-applies in place");
        assert.match(create, /NORDSTACK_SYSCTLS='fs.file-max=2097152\nnet.ipv4.ip_local_port_range=1024 65535\n/);
        assert.match(create, /bash -s -- apply$/);
        assert.match(del, /bash -s -- revert$/);
        assert.match(String(cmd.props.stdin), /^#!\/usr\/bin\/env bash\n/);
        assert.doesNotMatch(del.split("\n")[0], /NORDSTACK_SYSCTLS/, "revert needs no values: it restores what the host had");
    });

    it("keeps the SSH key secret and out of every command line", async () => {
        const { platform, rec } = await build("p3", config());
        for (const c of rec.ofType("command:remote:Command")) {
            const [conn, secret] = await valueAndSecret(
                pulumi.output(c.props.connection as pulumi.Input<{ privateKey: string; host: string }>),
            );
            assert.equal(secret, true, `${c.name}.connection must be secret`);
            assert.equal(conn.privateKey, SECRET_KEY);
            for (const field of ["create", "update", "delete"]) {
                const text = c.props[field] === undefined ? "" : await value(c.props[field] as pulumi.Input<string>);
                assert.ok(!text.includes("nordstack-test-key"), `${c.name}.${field} leaks the key`);
            }
        }
        const [nodes, nodesSecret] = await valueAndSecret(platform.nodes);
        assert.equal(nodesSecret, false, "the node summary is not secret and carries no key");
        assert.ok(!JSON.stringify(nodes).includes("nordstack-test-key"));
        assert.deepEqual(nodes[0], {
            name: "osl-1",
            role: "server",
            region: "no-oslo",
            publicAddress: "203.0.113.11",
            privateAddress: "10.10.0.5",
        });
    });

    it("passes per-node SSH settings: port, user, pinned host key, jump host", async () => {
        const cfg = config({
            services: [],
            nodes: [
                {
                    name: "osl-1",
                    role: "server",
                    host: "203.0.113.11",
                    privateAddress: "10.10.0.5",
                    port: 2222,
                    user: "debian",
                    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTest",
                    jumpHost: { host: "bastion.example.no", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBastionKey" },
                },
            ],
        });
        const { rec } = await build("p4", cfg);
        const conn = await value(rec.byName("p4-preflight-osl-1-check").props.connection as pulumi.Output<Record<string, unknown>>);
        assert.equal(conn.port, 2222);
        assert.equal(conn.user, "debian");
        assert.equal(conn.hostKey, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTest");
        assert.deepEqual(
            { ...(conn.proxy as object), dialErrorLimit: undefined, perDialTimeout: undefined },
            {
                host: "bastion.example.no",
                port: 2222,
                user: "debian",
                privateKey: SECRET_KEY,
                hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBastionKey",
                dialErrorLimit: undefined,
                perDialTimeout: undefined,
            },
        );
        assert.equal(conn.dialErrorLimit, 10);
        const create = rec.byName("p4-tuning-osl-1-sysctl").props.create as string;
        assert.ok(create.startsWith("sudo -n timeout -k 10 120 env "), "non-root users run node scripts through sudo");
    });

    it("feeds preflight the stack's MTU, modules and accepted virtualization", async () => {
        const { rec } = await build("p5", config({ mtu: 9000, allowVirtualization: ["qemu"] }));
        const create = await value(rec.byName("p5-preflight-osl-3-check").props.create as pulumi.Output<string>);
        assert.match(create, /NORDSTACK_PRIVATE_ADDRESS=10.10.0.7 /);
        assert.match(create, /NORDSTACK_EXPECTED_MTU=9000 /);
        assert.match(create, /NORDSTACK_REQUIRED_MODULES='overlay br_netfilter vxlan' /);
        assert.match(create, /NORDSTACK_ALLOW_VIRT=qemu /);
    });

    it("exports preflight results and tuned values per node", async () => {
        const { platform } = await build("p7", config());
        const results = await value(platform.preflightResults);
        assert.deepEqual(Object.keys(results), ["osl-1", "osl-2", "osl-3"]);
        assert.equal(results["osl-2"].virtualization, "kvm");
        assert.deepEqual(await value(platform.tunedValues), {
            "osl-1": { "net.ipv4.tcp_tw_reuse": "1" },
            "osl-2": { "net.ipv4.tcp_tw_reuse": "1" },
            "osl-3": { "net.ipv4.tcp_tw_reuse": "1" },
        });
    });

    it("wires every layer in order: k3s after tuning, mesh and discovery on the cluster, workloads after both", async () => {
        const { platform, rec } = await build("p9", config());
        const layer = (t: string) => rec.ofType(t).map((r) => `${r.name} <- ${r.parent}`);
        assert.deepEqual(layer("nordstack:k3s:Cluster"), ["p9-k3s <- p9"]);
        assert.deepEqual(layer("nordstack:mesh:Linkerd"), ["p9-linkerd <- p9"]);
        assert.deepEqual(layer("nordstack:discovery:Consul"), ["p9-consul <- p9"]);
        assert.deepEqual(layer("nordstack:services:Workloads"), ["p9-workloads <- p9"]);
        assert.deepEqual(rec.byName("p9-workloads").dependsOn, ["p9-consul"]);
        assert.deepEqual(rec.byName("p9-workloads-namespace").dependsOn, ["p9-linkerd-control-plane"], "meshed: waits for the injector");
        // Every Kubernetes object goes to the cluster's provider, never an ambient kubeconfig.
        const k8sObjects = rec.resources.filter((r) => r.type.startsWith("kubernetes:"));
        assert.ok(k8sObjects.length > 20);
        assert.equal(platform.cluster?.provider !== undefined, true);
        const [values, secret] = await valueAndSecret(
            pulumi.output(rec.byName("p9-linkerd-control-plane").props.values as pulumi.Output<Record<string, unknown>>),
        );
        assert.equal(secret, true, "the control plane values carry the issuer key");
        assert.match(JSON.stringify(values), /cert-of-p9-linkerd-pki-anchor-cert/);
        assert.equal(await value(platform.pki.issuerExpiresAt), "2099-01-01T00:00:00Z");
    });

    it("adding or removing an agent changes only that node's resources", async () => {
        const three = config();
        const two = config({ nodes: (config().nodes as unknown[]).slice(0, 2).map((n) => ({ ...(n as object) })) });
        const a = (await build("p8", three)).rec.resources.map((r) => `${r.type}::${r.name}`);
        const b = (await build("p8", two)).rec.resources.map((r) => `${r.type}::${r.name}`);
        const removed = a.filter((x) => !b.includes(x));
        assert.deepEqual(removed.sort(), [
            "command:remote:Command::p8-firewall-osl-3-confirm",
            "command:remote:Command::p8-firewall-osl-3-rules",
            "command:remote:Command::p8-k3s-install-osl-3",
            "command:remote:Command::p8-k3s-prepare-osl-3",
            "command:remote:Command::p8-k3s-ready-osl-3",
            "command:remote:Command::p8-k3s-token-osl-3-write",
            "command:remote:Command::p8-preflight-osl-3-check",
            "command:remote:Command::p8-tuning-osl-3-sysctl",
            "nordstack:host:Firewall::p8-firewall-osl-3",
            "nordstack:host:Preflight::p8-preflight-osl-3",
            "nordstack:host:SecretFile::p8-k3s-token-osl-3",
            "nordstack:host:Tuning::p8-tuning-osl-3",
        ]);
        assert.deepEqual(
            b.filter((x) => !a.includes(x)),
            [],
        );
    });
});

describe("Platform with libvirt guests (mocks)", () => {
    const libvirt = {
        hypervisor: { host: "203.0.113.50", user: "root", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHypervisorKey" },
        domainType: "qemu",
        bridge: "br0",
        guests: [
            { name: "g1", role: "server", vcpus: 2, memoryMiB: 2048, diskGiB: 20, address: "10.20.0.11", prefix: 24, gateway: "10.20.0.1" },
            { name: "g2", role: "agent", vcpus: 2, memoryMiB: 2048, diskGiB: 20, address: "10.20.0.12", prefix: 24, gateway: "10.20.0.1" },
        ],
    };

    it("takes its nodes from the guests: same preflight and tuning per node, behind the guests' readiness", async () => {
        const { Platform } = await import("../../components/platform");
        const { parsePlatformConfig } = await import("../../components/config");
        const cfg = parsePlatformConfig({ libvirt, k3sEnabled: false, services: [] });
        assert.deepEqual(
            cfg.nodes.map((n) => [n.name, n.role, n.privateAddress]),
            [
                ["g1", "server", "10.20.0.11"],
                ["g2", "agent", "10.20.0.12"],
            ],
        );
        const rec = new GraphRecorder();
        new Platform("lv", { config: cfg, libvirtHypervisorPrivateKey: pulumi.secret("HVKEY") }, { transformations: [rec.transform] });
        assert.equal(rec.byName("lv-guests").type, "nordstack:nodes:LibvirtGuests");
        assert.equal(rec.byName("lv-guests").parent, "lv");
        assert.ok(
            rec.byName("lv-preflight-g1-check").dependsOn.some((d) => d.startsWith("lv-guests-g1")),
            "preflight waits for the guest",
        );
        assert.equal(rec.ofType("nordstack:host:Tuning").length, 2);
    });

    it("refuses nodes and libvirt guests together, and guest problems by key", async () => {
        const { parsePlatformConfig } = await import("../../components/config");
        assert.throws(
            () => parsePlatformConfig({ libvirt, nodes: [], services: [] }),
            /nodes: set either nodes \(existing hosts\) or libvirt.guests, not both/,
        );
        assert.throws(() => parsePlatformConfig({ libvirt: { hypervisor: {}, guests: "x" } }), /libvirt: must be a map with hypervisor/);
    });
});
