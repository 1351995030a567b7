// The real firewall script over real SSH on lab hosts, with the rules the
// Firewall component renders. node1 is the host under test; the machine's side
// of the lab bridge (10.198.20.1, also the SSH client) is the public side,
// node2 is a private-network peer, and node3 a public neighbour that is no
// cluster member. On this one-interface lab the private network is told apart
// by source address (the node list), as on a VPS whose provider puts public and
// private addresses on one NIC; the interface match is the same interface.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { Lab, TEST_SSH_OPTIONS } from "../helpers/lab";
import { loadNodeScript, renderNodeStep } from "../../components/host/remote-script";
import { FirewallRulesArgs, renderFirewallRules } from "../../components/host/firewall-rules";
import { rulesHash } from "../../components/host/firewall";
import { parseSmokeOutput } from "../../components/smoke/results";

const script = loadNodeScript("firewall.sh");
const LAB_ID = 20;
const CONFIRM_SECONDS = 5;

// Stand-ins for what k3s, etcd, flannel, Consul and a NodePort would listen on (plus an unlisted port each).
// 5201 is left to the real iperf3 server of the smoke test (see below).
const TCP_PORTS = [80, 443, 8443, 6443, 10250, 2379, 8500, 30080, 9999];
const UDP_PORTS = [8472, 8301, 9998];

const LISTENER = `
const net = require("node:net"), dgram = require("node:dgram");
const [tcp, udp] = process.argv.slice(1).map((s) => s.split(",").map(Number));
let pending = tcp.length + udp.length;
const up = () => { if (--pending === 0) console.log("ready"); };
for (const p of tcp) net.createServer((s) => s.end("port " + p + "\\n")).listen(p, "0.0.0.0", up);
for (const p of udp) { const u = dgram.createSocket("udp4"); u.on("message", (m, r) => u.send(m, r.port, r.address)); u.bind(p, "0.0.0.0", up); }
`;

// Prints {"tcp:22": true, ...}: true when the port answered (TCP data or banner, UDP echo) within 1 s.
const PROBE = `
const net = require("node:net"), dgram = require("node:dgram");
const [host, ...targets] = process.argv.slice(1);
const tcp = (p) => new Promise((ok) => {
    const s = net.connect({ host, port: p }); const t = setTimeout(() => { s.destroy(); ok(false); }, 1000);
    s.once("data", () => { clearTimeout(t); s.destroy(); ok(true); }); s.once("error", () => { clearTimeout(t); ok(false); });
});
const udp = (p) => new Promise((ok) => {
    const u = dgram.createSocket("udp4"); const t = setTimeout(() => { u.close(); ok(false); }, 1000);
    u.once("message", () => { clearTimeout(t); u.close(); ok(true); }); u.send("probe", p, host);
});
Promise.all(targets.map((x) => { const [proto, port] = x.split(":"); return (proto === "tcp" ? tcp : udp)(Number(port)).then((r) => [x, r]); }))
    .then((rs) => console.log(JSON.stringify(Object.fromEntries(rs))));
`;

// 30081: a NodePort DNAT to sshd; 8080: a hostPort-like DNAT to a workload on node2 (forwarded).
const ALL_TARGETS = ["tcp:22", "tcp:30081", "tcp:8080", ...TCP_PORTS.map((p) => `tcp:${p}`), ...UDP_PORTS.map((p) => `udp:${p}`)];

describe("scripts/node/firewall.sh over SSH", () => {
    let lab: Lab;
    const listeners: ChildProcess[] = [];
    let node1: string;
    let node2: string;
    let tester: string;
    // The host's own rules, which the firewall must never touch: an admin's table and a
    // kube-proxy-like NodePort DNAT (30081 -> sshd) to prove NodePorts are closed before DNAT.
    let foreign: string;

    const rulesArgs = (over: Partial<FirewallRulesArgs> = {}): FirewallRulesArgs => ({
        role: "server",
        sshPort: 22,
        gateway: true,
        extraPublicPorts: [{ port: 8443, protocol: "tcp" }],
        privateInterface: "eth0",
        privateSources: [node1, node2],
        flannelBackend: "vxlan",
        ...over,
    });
    const run = (mode: string, env: Record<string, string> = {}) =>
        lab.step("node1", renderNodeStep({ script, args: [mode], env, user: "root", timeoutSeconds: 60 }));
    const apply = (rules: string, seconds = CONFIRM_SECONDS) =>
        run("apply", { NORDSTACK_FW_RULES: rules, NORDSTACK_FW_CONFIRM_SECONDS: String(seconds) });
    const confirm = (rules: string) => run("confirm", { NORDSTACK_FW_HASH: rulesHash(rules) });
    const json = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop() ?? "") as Record<string, unknown>;
    const nft = (...args: string[]) => lab.netns("node1", "nft", ...args);
    const ourTable = () => spawnSync("ip", ["netns", "exec", lab.host("node1").netns, "nft", "-s", "list", "table", "inet", "nordstack"]);
    const foreignTables = () => nft("-s", "list", "table", "ip", "hostfw") + nft("-s", "list", "table", "ip", "kubesim");
    const probe = (from: "public" | "private" | "outside", targets = ALL_TARGETS, host = node1): Record<string, boolean> => {
        const cmd = [process.execPath, "-e", PROBE, host, ...targets];
        const out =
            from === "public"
                ? execFileSync(cmd[0], cmd.slice(1), { encoding: "utf8" })
                : lab.netns(from === "private" ? "node2" : "node3", ...cmd);
        return JSON.parse(out) as Record<string, boolean>;
    };
    const listen = async (node: string, tcp: number[], udp: number[]): Promise<ChildProcess> => {
        const child = spawn("ip", ["netns", "exec", lab.host(node).netns, process.execPath, "-e", LISTENER, tcp.join(","), udp.join(",")], {
            stdio: ["ignore", "pipe", "inherit"],
        });
        await new Promise<void>((resolve, reject) => {
            child.stdout.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
            child.once("exit", (code) => reject(new Error(`stand-in listeners on ${node} exited ${code}`)));
        });
        return child;
    };
    const answering = (r: Record<string, boolean>) =>
        Object.keys(r)
            .filter((k) => r[k])
            .sort();
    const ping = (from: "public" | "private") =>
        (from === "public"
            ? spawnSync("ping", ["-c1", "-W1", node1])
            : spawnSync("ip", ["netns", "exec", lab.host("node2").netns, "ping", "-c1", "-W1", node1])
        ).status === 0;
    // A new SSH login from the public side, as Pulumi's confirm step makes it (the first -o wins in OpenSSH).
    const sshWorks = () =>
        spawnSync("ssh", ["-i", lab.keyPath, "-o", "ConnectTimeout=2", ...TEST_SSH_OPTIONS, `root@${node1}`, "true"], { timeout: 20_000 })
            .status === 0;
    const timerProcesses = () =>
        execFileSync("ip", ["netns", "pids", lab.host("node1").netns], { encoding: "utf8" })
            .split("\n")
            .filter((pid) => /^\d+$/.test(pid))
            .filter((pid) =>
                spawnSync("cat", [`/proc/${pid}/cmdline`], { encoding: "utf8" }).stdout.includes("nordstack-firewall-rollback"),
            );

    before(async () => {
        lab = Lab.up(3, LAB_ID);
        node1 = lab.host("node1").address;
        node2 = lab.host("node2").address;
        tester = node1.replace(/\.\d+$/, ".1");
        execFileSync("ip", ["netns", "exec", lab.host("node1").netns, "nft", "-f", "-"], {
            input: `table ip hostfw {
    chain input {
        type filter hook input priority 10; policy accept;
        tcp dport 9999 counter
    }
}
table ip kubesim {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        tcp dport 30081 dnat to ${node1}:22
        tcp dport 8080 dnat to ${node2}:6443
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        ip daddr ${node2} tcp dport 6443 masquerade
    }
}
`,
        });
        // node1 routes (per-namespace sysctls); node3 sends node2's traffic through node1 and ignores redirects.
        lab.netns(
            "node1",
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.send_redirects=0",
            "net.ipv4.conf.eth0.send_redirects=0",
        );
        lab.netns("node3", "sysctl", "-qw", "net.ipv4.conf.all.accept_redirects=0", "net.ipv4.conf.eth0.accept_redirects=0");
        lab.netns("node3", "ip", "route", "add", `${node2}/32`, "via", node1);
        foreign = foreignTables();
        listeners.push(await listen("node1", TCP_PORTS, UDP_PORTS), await listen("node2", [6443], []));
    });
    after(() => {
        for (const l of listeners) l.kill();
        lab?.down();
    });

    it("before any rules, every stand-in answers from both sides (the probes work)", () => {
        assert.deepEqual(answering(probe("public")), [...ALL_TARGETS].sort());
        assert.deepEqual(answering(probe("private")), [...ALL_TARGETS].sort());
        assert.equal(ping("public"), true);
        assert.ok(lab.netns("node3", "ip", "route", "get", node2).includes(`via ${node1} `), "node3 routes node2 via node1");
        assert.deepEqual(probe("outside", ["tcp:6443"], node2), { "tcp:6443": true }, "node3 reaches node2 through node1");
    });

    it("apply loads the rules with a rollback armed; confirm over a new connection cancels it", async () => {
        const rules = renderFirewallRules(rulesArgs());
        let t = Date.now();
        const a = apply(rules);
        const applyMs = Date.now() - t;
        assert.equal(a.code, 0, a.stderr);
        assert.deepEqual(json(a.stdout), { changed: true, hash: rulesHash(rules), pending: true, confirmSeconds: CONFIRM_SECONDS });
        assert.equal(timerProcesses().length, 1, "one rollback timer waits");
        t = Date.now();
        const c = confirm(rules);
        const confirmMs = Date.now() - t;
        assert.equal(c.code, 0, c.stderr);
        assert.deepEqual(json(c.stdout), { changed: true, confirmed: true, hash: rulesHash(rules) });
        assert.deepEqual(timerProcesses(), [], "confirm stopped the timer");
        console.log(`# apply ${applyMs} ms, confirm (fresh SSH connection) ${confirmMs} ms`);
        // Past the rollback deadline the rules are still in force.
        await new Promise((r) => setTimeout(r, (CONFIRM_SECONDS + 1) * 1000));
        assert.equal(ourTable().status, 0);
        assert.equal(foreignTables(), foreign, "the host's own tables are untouched");
        assert.match(lab.run("node1", "cat /var/lib/nordstack/firewall.nft"), /^table inet nordstack \{\}\ndelete table inet nordstack\n/);
    });

    it("from the public side only SSH, 80/443 and the extra public port answer; no ping", () => {
        const r = probe("public");
        console.log(`# public side: ${answering(r).join(" ")}`);
        assert.deepEqual(answering(r), ["tcp:22", "tcp:443", "tcp:80", "tcp:8080", "tcp:8443"]);
        assert.equal(r["tcp:30081"], false, "a NodePort is dropped before kube-proxy's DNAT");
        assert.equal(r["tcp:8080"], true, "a hostPort-like DNAT to a workload (the gateway's path) still answers");
        assert.equal(ping("public"), false);
    });

    it("from a public neighbour nothing is routed through the node; its public ports still answer", () => {
        assert.deepEqual(probe("outside", ["tcp:6443"], node2), { "tcp:6443": false }, "node3 -> node1 -> node2 is dropped");
        assert.deepEqual(answering(probe("outside", ["tcp:22", "tcp:80", "tcp:8080", "tcp:6443", "tcp:10250"])), [
            "tcp:22",
            "tcp:80",
            "tcp:8080",
        ]);
    });

    it("from the private network the cluster ports answer too, and ping", () => {
        const r = probe("private");
        console.log(`# private side: ${answering(r).join(" ")}`);
        assert.deepEqual(
            answering(r),
            [
                "tcp:22",
                "tcp:2379",
                "tcp:30080",
                "tcp:30081",
                "tcp:443",
                "tcp:8080",
                "tcp:6443",
                "tcp:80",
                "tcp:8443",
                "tcp:8500",
                "tcp:10250",
                "udp:8301",
                "udp:8472",
            ].sort(),
        );
        assert.equal(r["tcp:9999"], false, "a port that is no cluster port stays closed");
        assert.equal(r["udp:9998"], false);
        assert.equal(ping("private"), true, "the smoke test's path-MTU probe needs ping");
    });

    it("the network smoke test passes through the firewall from the private peer, and not from outside", () => {
        const server = loadNodeScript("iperf3-server.sh");
        const serve = (mode: string) =>
            lab.step(
                "node1",
                renderNodeStep({
                    script: server,
                    args: [mode],
                    env: mode === "start" ? { NORDSTACK_IPERF_BIND: node1, NORDSTACK_IPERF_LIFETIME: "60" } : {},
                    user: "root",
                }),
            );
        assert.equal(serve("start").code, 0);
        try {
            const r = lab.step(
                "node2",
                renderNodeStep({
                    script: loadNodeScript("net-smoke.sh"),
                    env: {
                        NORDSTACK_SELF_NAME: "node2",
                        NORDSTACK_PEER_NAME: "node1",
                        NORDSTACK_PEER_ADDRESS: node1,
                        NORDSTACK_EXPECTED_MTU: "1500",
                        NORDSTACK_MIN_GBPS: "0.1",
                        NORDSTACK_MAX_RETRANSMIT_RATE: "1",
                        NORDSTACK_IPERF_DURATION: "1",
                    },
                    user: "root",
                    timeoutSeconds: 60,
                }),
                90_000,
            );
            assert.equal(r.code, 0, r.stderr);
            const [pair] = parseSmokeOutput(r.stdout);
            assert.equal(pair.pathMtu, 1500, "the path-MTU probe's pings get through");
            assert.ok(pair.gbps > 0.1, `iperf3 through the firewall: ${pair.gbps} Gbit/s`);
            console.log(`# smoke through the firewall, node2 -> node1: ${pair.gbps} Gbit/s, path MTU ${pair.pathMtu}`);
            const outside = spawnSync("iperf3", ["-c", node1, "-t", "1", "--connect-timeout", "1000"], {
                encoding: "utf8",
                timeout: 20_000,
            });
            assert.notEqual(outside.status, 0, "iperf3 from the public side does not connect");
        } finally {
            serve("stop");
        }
    });

    it("a second apply and confirm change nothing and rewrite nothing", () => {
        const rules = renderFirewallRules(rulesArgs());
        const files = "/var/lib/nordstack/firewall.nft /var/lib/nordstack/firewall.sha256 /var/lib/nordstack/firewall.listing";
        const stamp = lab.run("node1", `stat -c '%n %Y.%N %i' ${files}`);
        const listing = ourTable().stdout.toString();
        const a = apply(rules);
        assert.equal(a.code, 0, a.stderr);
        assert.equal(json(a.stdout).changed, false);
        assert.equal(json(a.stdout).pending, false);
        assert.match(a.stderr, /No change detected/);
        assert.deepEqual(timerProcesses(), [], "no rollback armed for no change");
        const c = confirm(rules);
        assert.equal(c.code, 0, c.stderr);
        assert.deepEqual(json(c.stdout), { changed: false, confirmed: true, hash: rulesHash(rules) });
        assert.equal(lab.run("node1", `stat -c '%n %Y.%N %i' ${files}`), stamp);
        assert.equal(ourTable().stdout.toString(), listing);
    });

    it("rules that cut SSH roll back to the previous rules after the timeout, and confirm says so", async () => {
        const before = ourTable().stdout.toString();
        // Only node2 may SSH: the tester (the public side) is cut off.
        const cutting = renderFirewallRules(rulesArgs({ sshAllowFrom: [`${node2}/32`], extraPublicPorts: [] }));
        const a = apply(cutting);
        const armedAt = Date.now();
        assert.equal(a.code, 0, a.stderr);
        assert.equal(sshWorks(), false, "a fresh SSH connection is refused by the new rules");
        let back = 0;
        while (Date.now() - armedAt < (CONFIRM_SECONDS + 10) * 1000) {
            if (probe("public", ["tcp:22"])["tcp:22"]) {
                back = Date.now() - armedAt;
                break;
            }
            await new Promise((r) => setTimeout(r, 200));
        }
        console.log(`# SSH cut by the new rules; reachable again ${back} ms after apply (rollback after ${CONFIRM_SECONDS} s)`);
        assert.ok(back >= CONFIRM_SECONDS * 1000 - 500 && back < (CONFIRM_SECONDS + 3) * 1000, `back after ${back} ms`);
        assert.equal(sshWorks(), true, "SSH logins work again");
        const c = confirm(cutting);
        assert.equal(c.code, 1);
        assert.match(c.stderr, /rolled back at \S+: no new SSH connection confirmed them in time.*check sshAllowFrom/);
        assert.equal(ourTable().stdout.toString(), before, "the previous rules of our table are back, not just removed");
        assert.deepEqual(answering(probe("public")), ["tcp:22", "tcp:443", "tcp:80", "tcp:8080", "tcp:8443"]);
        assert.equal(foreignTables(), foreign);
    });

    it("sshAllowFrom including the deployer keeps SSH and confirms; an update keeps other tables", () => {
        const rules = renderFirewallRules(rulesArgs({ sshAllowFrom: [`${tester}/32`, "2001:db8::/32"], extraPublicPorts: [] }));
        assert.equal(apply(rules).code, 0);
        const c = confirm(rules);
        assert.equal(c.code, 0, c.stderr);
        assert.equal(sshWorks(), true);
        assert.deepEqual(answering(probe("public", ["tcp:22", "tcp:80", "tcp:8443"])), ["tcp:22", "tcp:80"]);
        assert.equal(foreignTables(), foreign);
    });

    it("refuses rules that touch another table, and rules nft rejects, changing nothing", () => {
        const before = ourTable().stdout.toString();
        const r1 = apply(`flush ruleset\n${renderFirewallRules(rulesArgs())}`);
        assert.equal(r1.code, 1);
        assert.match(r1.stderr, /may only define 'table inet nordstack \{'; found: 1:flush ruleset/);
        const r2 = apply(renderFirewallRules(rulesArgs()).replace("policy drop;", "policy maybe;"));
        assert.equal(r2.code, 1);
        assert.match(r2.stderr, /nft refused the rules \(nothing changed\)/);
        assert.equal(ourTable().stdout.toString(), before);
        assert.deepEqual(timerProcesses(), []);
    });

    it("every role and backend renders rules nft accepts (agent, WireGuard, IPv6 peers)", () => {
        const variants = [
            rulesArgs({ role: "agent", gateway: false, flannelBackend: "wireguard-native" }),
            rulesArgs({
                privateSources: [node1, "fd00:10::5", "fd00:10::/64"],
                sshAllowFrom: ["2001:db8::/32"],
                apiAllowFrom: ["198.51.100.7"],
            }),
            rulesArgs({ extraPublicPorts: [{ port: 51000, protocol: "udp" }], sshPort: 2222 }),
        ];
        for (const v of variants) {
            const text = `table inet nordstack {}\ndelete table inet nordstack\n${renderFirewallRules(v)}`;
            const r = spawnSync("ip", ["netns", "exec", lab.host("node1").netns, "nft", "-c", "-f", "-"], {
                input: text,
                encoding: "utf8",
            });
            assert.equal(r.status, 0, `${JSON.stringify(v)}: ${r.stderr}`);
        }
    });

    it("revert removes exactly our table and its files; the host's own tables stay", () => {
        const r = run("revert");
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(json(r.stdout), { changed: true });
        assert.notEqual(ourTable().status, 0, "table inet nordstack is gone");
        assert.equal(foreignTables(), foreign);
        assert.equal(lab.ssh("node1", "ls /var/lib/nordstack/firewall.* 2>/dev/null").stdout, "");
        assert.deepEqual(answering(probe("public")), [...ALL_TARGETS].sort(), "everything answers again");
        const again = run("revert");
        assert.deepEqual(json(again.stdout), { changed: false });
        assert.match(again.stderr, /No change detected/);
    });

    it("names the package when nft is missing", () => {
        const r = run("apply", { PATH: "/usr/bin:/bin", NORDSTACK_FW_RULES: renderFirewallRules(rulesArgs()) });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /nft not found; install the nftables package \(apt-get install nftables\)/);
        assert.notEqual(ourTable().status, 0);
    });
});
