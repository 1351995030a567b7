// The real preflight script's CPU and memory check, over real SSH on a lab host,
// with the figures Platform computes for the dev stack (components/host/capacity.ts).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Lab } from "../helpers/lab";
import { loadNodeScript, renderNodeStep } from "../../components/host/remote-script";
import { preflightEnv, PreflightArgs } from "../../components/host/preflight";
import { parsePreflightOutput } from "../../components/host/preflight-checks";
import { nodeShares, shareDetail } from "../../components/host/capacity";
import { parsePlatformConfig } from "../../components/config";
import { devStackRawConfig } from "../kube/dev-stack";

// Lab hosts are namespaces of this machine: they see its CPUs and its memory.
const NPROC = Number(execFileSync("nproc", { encoding: "utf8" }).trim());
const MEM_MIB = Math.floor(Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1]) / 1024);
// Whatever this machine's virtualization is, the capacity check is what is under test here.
const VIRT = (() => {
    try {
        return execFileSync("systemd-detect-virt", { encoding: "utf8" }).trim();
    } catch (e) {
        return ((e as { stdout?: string }).stdout ?? "").trim() || "none";
    }
})();

describe("scripts/node/preflight.sh: CPUs and memory against the node's share", () => {
    let lab: Lab;
    const script = loadNodeScript("preflight.sh");
    const preflight = (a: Omit<PreflightArgs, "node">) =>
        lab.step(
            "node1",
            renderNodeStep({
                script,
                env: preflightEnv(lab.host("node1").address, { allowVirtualization: [VIRT], ...a }),
                user: "root",
                timeoutSeconds: 60,
            }),
        );

    before(() => (lab = Lab.up(1, 14)));
    after(() => lab?.down());

    it("reports nproc and MemTotal, and passes a node that fits the dev stack's server share", () => {
        const cfg = parsePlatformConfig(devStackRawConfig());
        const share = nodeShares(cfg, cfg.nodes).find((s) => s.role === "server");
        assert.ok(share);
        // This machine is larger than a dev-stack server's share: the check must let it through.
        assert.ok(share.required.milliCpu <= NPROC * 1000 && share.required.memoryMiB <= MEM_MIB, JSON.stringify(share.required));
        const r = preflight({
            capacity: { ...share.required, cpuDetail: shareDetail(share).cpu, memoryDetail: shareDetail(share).memory },
        });
        assert.equal(r.code, 0, r.stderr);
        const res = parsePreflightOutput("node1", r.stdout);
        assert.equal(res.ok, true, res.problems.join("; "));
        assert.equal(res.cpus, NPROC);
        assert.equal(res.memoryMiB, MEM_MIB);
        assert.match(r.stderr, new RegExp(`${NPROC} CPUs, ${MEM_MIB} MiB`));
    });

    it("reports the figures without checking them when no share is given (k3s off)", () => {
        const r = preflight({});
        assert.equal(r.code, 0, r.stderr);
        const res = parsePreflightOutput("node1", r.stdout);
        assert.deepEqual([res.cpus, res.memoryMiB, res.problems], [NPROC, MEM_MIB, []]);
    });

    it("refuses a node with fewer CPUs than its share, naming both figures and the sum", () => {
        const want = NPROC * 1000 + 350;
        const r = preflight({
            capacity: { milliCpu: want, memoryMiB: 1, cpuDetail: `k3s server 60m + platform ${want * 3 - 180}m / 3 nodes` },
        });
        assert.equal(r.code, 1);
        const res = parsePreflightOutput("node1", r.stdout);
        assert.equal(res.ok, false);
        assert.deepEqual(res.problems, [
            `${NPROC} CPUs (${NPROC * 1000}m) but this node's share of the platform's requests is ${want}m ` +
                `(k3s server 60m + platform ${want * 3 - 180}m / 3 nodes); add a CPU or a node`,
        ]);
        assert.match(r.stderr, /node node1 refused/);
    });

    it("refuses a node with less memory than its share, naming both figures", () => {
        const want = MEM_MIB + 1;
        const r = preflight({
            capacity: { milliCpu: 1, memoryMiB: want, memoryDetail: "k3s agent 275 MiB + platform 99999 MiB / 3 nodes" },
        });
        assert.equal(r.code, 1);
        assert.deepEqual(parsePreflightOutput("node1", r.stdout).problems, [
            `${MEM_MIB} MiB of memory but this node's share of the platform's requests is ${want} MiB ` +
                `(k3s agent 275 MiB + platform 99999 MiB / 3 nodes); add memory or a node`,
        ]);
    });

    it("passes exactly at the machine's size and refuses a malformed figure", () => {
        assert.equal(preflight({ capacity: { milliCpu: NPROC * 1000, memoryMiB: MEM_MIB } }).code, 0);
        const bad = lab.step(
            "node1",
            renderNodeStep({
                script,
                env: { ...preflightEnv(lab.host("node1").address, { allowVirtualization: [VIRT] }), NORDSTACK_REQUIRED_MILLICPU: "2 CPUs" },
                user: "root",
            }),
        );
        assert.equal(bad.code, 1);
        assert.match(parsePreflightOutput("node1", bad.stdout).problems.join(), /NORDSTACK_REQUIRED_MILLICPU '2 CPUs' is not a number/);
    });
});
