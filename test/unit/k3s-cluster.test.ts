import { describe, it, before } from "node:test";
import { K3S_INSTALL_SCRIPT_SHA256, K3S_INSTALL_SCRIPT_URL } from "../../components/k3s/install-script-pin";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { GraphRecorder, installMocks, value, valueAndSecret } from "../helpers/mocks";
import { config, healthyStepOutput, hostKeyOf } from "../helpers/fixtures";
import type { PlatformConfig } from "../../components/config";

before(() => installMocks((args) => healthyStepOutput(args.name)));

const node = (name: string, role: string, i: number) => ({
    name,
    role,
    host: `203.0.113.${i}`,
    privateAddress: `10.10.0.${i}`,
    hostKey: hostKeyOf(name),
});
const oneServer = () => [node("s1", "server", 1), node("a1", "agent", 11), node("a2", "agent", 12)];
const threeServers = () => [
    node("s1", "server", 1),
    node("s2", "server", 2),
    node("s3", "server", 3),
    node("a1", "agent", 11),
    node("a2", "agent", 12),
];

async function build(name: string, cfg: PlatformConfig) {
    const { Platform } = await import("../../components/platform");
    const rec = new GraphRecorder();
    const platform = new Platform(name, { config: cfg, sshPrivateKey: pulumi.secret("KEY") }, { transformations: [rec.transform] });
    return { platform, rec };
}

const cmd = async (rec: GraphRecorder, name: string, field = "create") => value(rec.byName(name).props[field] as pulumi.Input<string>);

describe("k3s Cluster graph (mocks)", () => {
    it("1 server + 2 agents: one install chain, first server without cluster-init, agents join its private IP", async () => {
        const { rec } = await build("c1", config({ nodes: oneServer() }));
        const k3s = rec.resources.filter((r) => r.parent === "c1-k3s").map((r) => `${r.type} ${r.name}`);
        const chain = (n: string) => [
            `nordstack:host:SecretFile c1-k3s-token-${n}`,
            `command:remote:Command c1-k3s-prepare-${n}`,
            `command:remote:Command c1-k3s-install-${n}`,
            `command:remote:Command c1-k3s-ready-${n}`,
        ];
        assert.deepEqual(k3s, [
            "random:index/randomPassword:RandomPassword c1-k3s-token",
            ...chain("s1"),
            ...chain("a1"),
            ...chain("a2"),
            "command:remote:Command c1-k3s-kubeconfig",
            "pulumi:providers:kubernetes c1-k3s-provider",
        ]);
        assert.equal(rec.byName("c1-k3s").parent, "c1");
        assert.equal(rec.byName("c1-k3s-token-a1-write").parent, "c1-k3s-token-a1");
        const s1 = await cmd(rec, "c1-k3s-install-s1");
        assert.match(s1, / bash -s -- install$/, "the script travels on stdin, not in the command line");
        assert.match(String(rec.byName("c1-k3s-install-s1").props.stdin), /^#!\/usr\/bin\/env bash\n# nordstack k3s on one node/);
        assert.match(s1, /NORDSTACK_K3S_ROLE=server-init /);
        assert.doesNotMatch(s1, /cluster-init: true/);
        assert.match(s1, /flannel-iface: eth1/);
        assert.match(s1, /NORDSTACK_K3S_EXPECTED_MTU=1450 /);
        const a1 = await cmd(rec, "c1-k3s-install-a1");
        assert.match(a1, /NORDSTACK_K3S_ROLE=agent /);
        assert.match(a1, /NORDSTACK_K3S_SERVER_URL=https:\/\/10.10.0.1:6443 /);
        assert.match(a1, /server: https:\/\/10.10.0.1:6443/);
        assert.doesNotMatch(a1, /disable:/, "agents get no server flags");
    });

    it("3 servers + 2 agents: embedded etcd on the first, servers join one at a time before agents", async () => {
        const { rec } = await build("c2", config({ nodes: threeServers() }));
        assert.match(await cmd(rec, "c2-k3s-install-s1"), /cluster-init: true/);
        assert.match(await cmd(rec, "c2-k3s-install-s2"), /NORDSTACK_K3S_ROLE=server-join [\s\S]*server: https:\/\/10.10.0.1:6443/);
        // The install script is a pinned commit's, checked against its sha256 before it runs as root.
        assert.ok(
            (await cmd(rec, "c2-k3s-install-s2")).includes(
                `NORDSTACK_K3S_INSTALL_SCRIPT_URL=${K3S_INSTALL_SCRIPT_URL} NORDSTACK_K3S_DOWNLOAD_URL=`,
            ),
        );
        assert.match(await cmd(rec, "c2-k3s-install-s2"), new RegExp(`NORDSTACK_K3S_INSTALL_SCRIPT_SHA256=${K3S_INSTALL_SCRIPT_SHA256} `));
        assert.match(K3S_INSTALL_SCRIPT_URL, /^https:\/\/raw\.githubusercontent\.com\/k3s-io\/k3s\/[0-9a-f]{40}\/install\.sh$/);
        // Servers one at a time, each Ready before the next (etcd membership changes are serial).
        for (const [prev, n] of [
            ["s1", "s2"],
            ["s2", "s3"],
        ]) {
            assert.deepEqual(rec.byName(`c2-k3s-prepare-${n}`).dependsOn, [`c2-k3s-ready-${prev}`, "c2-k3s-install-s1"]);
            assert.deepEqual(rec.byName(`c2-k3s-install-${n}`).dependsOn, [`c2-k3s-prepare-${n}`, `c2-k3s-token-${n}`]);
            assert.deepEqual(rec.byName(`c2-k3s-ready-${n}`).dependsOn, [`c2-k3s-install-${n}`]);
        }
        // Agents: installs once the last server is Ready, in parallel (2 agents, concurrency 2); their
        // prepare (the drain lease on the first server) needs only the first server.
        for (const n of ["a1", "a2"]) {
            assert.deepEqual(rec.byName(`c2-k3s-prepare-${n}`).dependsOn, ["c2-k3s-ready-s1"]);
            assert.deepEqual(rec.byName(`c2-k3s-install-${n}`).dependsOn, [`c2-k3s-prepare-${n}`, `c2-k3s-token-${n}`, "c2-k3s-ready-s3"]);
        }
        // After every node's firewall (confirmed over a fresh connection) and tuning.
        assert.deepEqual(rec.byName("c2-k3s-prepare-s1").dependsOn.sort(), [
            "c2-firewall-a1-confirm",
            "c2-firewall-a2-confirm",
            "c2-firewall-s1-confirm",
            "c2-firewall-s2-confirm",
            "c2-firewall-s3-confirm",
            "c2-tuning-a1-sysctl",
            "c2-tuning-a2-sysctl",
            "c2-tuning-s1-sysctl",
            "c2-tuning-s2-sysctl",
            "c2-tuning-s3-sysctl",
        ]);
        assert.deepEqual(rec.byName("c2-k3s-kubeconfig").dependsOn, ["c2-k3s-ready-s3"]);
    });

    it("agents install at most k3sJoinConcurrency at once; upgrades take k3sUpgradeBatch slots", async () => {
        const agents = [1, 2, 3, 4, 5].map((i) => node(`a${i}`, "agent", 10 + i));
        const { rec } = await build(
            "c9",
            config({ nodes: [node("s1", "server", 1), ...agents], k3sJoinConcurrency: 2, k3sUpgradeBatch: 3 }),
        );
        const ready = "c9-k3s-ready-s1";
        assert.deepEqual(rec.byName("c9-k3s-install-a1").dependsOn, ["c9-k3s-prepare-a1", "c9-k3s-token-a1", ready]);
        assert.deepEqual(rec.byName("c9-k3s-install-a2").dependsOn, ["c9-k3s-prepare-a2", "c9-k3s-token-a2", ready]);
        assert.deepEqual(rec.byName("c9-k3s-install-a3").dependsOn, ["c9-k3s-prepare-a3", "c9-k3s-token-a3", ready, "c9-k3s-install-a1"]);
        assert.deepEqual(rec.byName("c9-k3s-install-a5").dependsOn, ["c9-k3s-prepare-a5", "c9-k3s-token-a5", ready, "c9-k3s-install-a3"]);
        // The layers above start once the servers and the first window are Ready; a3..a5 keep joining.
        assert.deepEqual(rec.byName("c9-k3s-provider").dependsOn, [ready, "c9-k3s-ready-a1", "c9-k3s-ready-a2"]);
        assert.match(await cmd(rec, "c9-k3s-prepare-a4"), /NORDSTACK_UPGRADE_SLOTS=3 /);
        assert.match(await cmd(rec, "c9-k3s-prepare-s1"), /NORDSTACK_UPGRADE_SLOTS=1 /, "servers upgrade one at a time");
    });

    it("membership steps run on the first server: prepare drains, ready uncordons, delete drains and removes", async () => {
        const { rec } = await build("c3", config({ nodes: oneServer() }));
        const conn = await value(rec.byName("c3-k3s-ready-a2").props.connection as pulumi.Output<{ host: string }>);
        assert.equal(conn.host, "203.0.113.1");
        assert.match(await cmd(rec, "c3-k3s-prepare-a2"), /bash -s -- prepare a2$/);
        assert.match(await cmd(rec, "c3-k3s-ready-a2"), /bash -s -- ready a2$/);
        assert.match(await cmd(rec, "c3-k3s-ready-a2", "delete"), /bash -s -- remove a2$/);
        assert.match(String(rec.byName("c3-k3s-ready-a2").props.stdin), /# nordstack cluster membership/);
        assert.equal(rec.byName("c3-k3s-ready-s1").props.delete, undefined, "the first server is not drained out of its own cluster");
        assert.match(await cmd(rec, "c3-k3s-install-a2", "delete"), /bash -s -- uninstall$/);
    });

    it("keeps the token secret: only on the token step's stdin, never in a command line or log; kubeconfig secret and rewritten", async () => {
        const { platform, rec } = await build("c4", config({ nodes: oneServer() }));
        const token = "Tok3nc4k3stoken";
        for (const c of rec.ofType("command:remote:Command")) {
            for (const f of ["create", "update", "delete", ...(c.name.includes("-token-") ? [] : ["stdin"])]) {
                const text = c.props[f] === undefined ? "" : await value(c.props[f] as pulumi.Input<string>);
                assert.ok(!text.includes(token), `${c.name}.${f} leaks the token`);
            }
        }
        const write = rec.byName("c4-k3s-token-a1-write");
        const [stdin, secret] = await valueAndSecret(pulumi.output(write.props.stdin as pulumi.Output<string>));
        assert.equal(stdin, `${token}\n`);
        assert.equal(secret, true);
        assert.equal(write.props.logging, "none");
        assert.match(await cmd(rec, "c4-k3s-token-a1-write"), /^sh -c .*nordstack-secret-file \/var\/lib\/nordstack\/k3s-token$/);
        assert.equal(rec.byName("c4-k3s-kubeconfig").props.logging, "none", "its stdout is the admin credential");
        const [kc, kcSecret] = await valueAndSecret(platform.cluster!.kubeconfig);
        assert.equal(kcSecret, true);
        assert.match(kc, /server: https:\/\/203.0.113.1:6443/);
        assert.match(kc, /current-context: nordstack-c4-k3s/);
        assert.equal(platform.cluster!.overlayMtu, 1450);
    });

    it("wireguard-native lowers the overlay MTU by 80 and a k3sApiHost goes into SANs and the kubeconfig", async () => {
        const { platform, rec } = await build(
            "c5",
            config({ nodes: oneServer(), k3sFlannelBackend: "wireguard-native", k3sApiHost: "api.example.no" }),
        );
        assert.equal(platform.cluster!.overlayMtu, 1420);
        const s1 = await cmd(rec, "c5-k3s-install-s1");
        assert.match(s1, /flannel-backend: wireguard-native/);
        assert.match(s1, /tls-san:\n {2}- 10.10.0.1\n {2}- 203.0.113.1\n {2}- api.example.no/);
        assert.match(await value(platform.cluster!.kubeconfig), /server: https:\/\/api.example.no:6443/);
    });

    it("a version change rewrites every node's install, prepare and ready steps in place, none replaced", async () => {
        const a = await build("c6", config({ nodes: threeServers(), k3sVersion: "v1.31.4+k3s1" }));
        const b = await build("c6", config({ nodes: threeServers(), k3sVersion: "v1.32.3+k3s1" }));
        assert.deepEqual(
            a.rec.resources.map((r) => r.name),
            b.rec.resources.map((r) => r.name),
        );
        for (const n of ["s1", "s2", "s3", "a1", "a2"]) {
            for (const step of ["prepare", "install", "ready"]) {
                const before = await cmd(a.rec, `c6-k3s-${step}-${n}`);
                const after = await cmd(b.rec, `c6-k3s-${step}-${n}`);
                assert.match(before, /NORDSTACK_K3S_VERSION=v1.31.4\+k3s1 /);
                assert.match(after, /NORDSTACK_K3S_VERSION=v1.32.3\+k3s1 /);
                assert.equal(after.replace(/v1\.32\.3\+k3s1/g, "v1.31.4+k3s1"), before, `${step}-${n} differs only by the version`);
            }
            assert.equal(
                await cmd(b.rec, `c6-k3s-install-${n}`, "update"),
                await cmd(b.rec, `c6-k3s-install-${n}`),
                "update re-runs the installer",
            );
        }
        const triggers = b.rec.byName("c6-k3s-kubeconfig").props.triggers as unknown[];
        assert.equal(triggers[0], "v1.32.3+k3s1");
        assert.equal(triggers.length, 2, "re-read when the first server's k3s is (re)installed, not on every run");
    });

    it("adding an agent adds only its resources; the others keep their names", async () => {
        const small = (await build("c7", config({ nodes: oneServer() }))).rec.resources.map((r) => r.name);
        const big = (await build("c7", config({ nodes: [...oneServer(), node("a3", "agent", 13)] }))).rec.resources.map((r) => r.name);
        assert.deepEqual(
            small.filter((n) => !big.includes(n)),
            [],
        );
        assert.deepEqual(big.filter((n) => !small.includes(n)).sort(), [
            "c7-firewall-a3",
            "c7-firewall-a3-confirm",
            "c7-firewall-a3-rules",
            "c7-k3s-install-a3",
            "c7-k3s-prepare-a3",
            "c7-k3s-ready-a3",
            "c7-k3s-token-a3",
            "c7-k3s-token-a3-write",
            "c7-preflight-a3",
            "c7-preflight-a3-check",
            "c7-tuning-a3",
            "c7-tuning-a3-sysctl",
        ]);
    });

    it("k3sEnabled: false stops after the host layers", async () => {
        const { platform, rec } = await build("c8", config({ nodes: oneServer(), k3sEnabled: false }));
        assert.equal(platform.cluster, undefined);
        assert.equal(rec.resources.filter((r) => r.name.includes("-k3s")).length, 0);
    });
});
