// The gateway as its pod runs it: the rendered production conf (only addresses
// and paths moved) in the real nginx as uid 101 without capabilities, root
// filesystem and conf read-only. Proves the harness every gateway test uses
// really is that: who the processes are, what they cannot write, and that nginx
// needs nothing else (no `user` warning, no write outside its two directories).
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { renderNginxConf } from "../../components/gateway/nginx-conf";
import {
    freePort,
    hardNofile,
    HOST,
    loopbackPaths,
    makePrefix,
    NGINX_POD,
    removePrefix,
    request,
    startNginx,
    startUpstream,
} from "./harness";
import { podCommand } from "../helpers/pod-like";

const dirs: string[] = [];
after(() => dirs.forEach(removePrefix));

/** Uid, gid, effective capabilities and no_new_privs of a process. */
function identity(pid: number): string {
    const st = readFileSync(`/proc/${pid}/status`, "utf8");
    const f = (k: string) => (new RegExp(`^${k}:\\s+(.*)$`, "m").exec(st)?.[1] ?? "").trim().split(/\s+/);
    return `uid=${f("Uid")[0]}/${f("Uid")[1]} gid=${f("Gid")[0]} groups=${f("Groups").join(",")} capEff=${f("CapEff")[0]} noNewPrivs=${f("NoNewPrivs")[0]}`;
}

describe("the gateway runs as in its pod", () => {
    it("nginx master and workers run as 101:101 with no capability, serve the routes, and cannot write their conf or the root", async () => {
        const dir = makePrefix("pod-like");
        dirs.push(dir);
        const up = await startUpstream("a");
        const port = await freePort();
        const conf = renderNginxConf({
            routes: [{ name: "inventory", port: 8080, gatewayPath: "/api/inventory" }],
            namespace: "nordstack",
            serverNames: [HOST],
            nofile: hardNofile(),
            workerProcesses: 2,
            workerConnections: 4096,
            ...loopbackPaths(dir, port),
            upstreamServers: { inventory: [up.address] },
        });
        assert.doesNotMatch(conf, /^user /m);
        const g = await startNginx(dir, conf, port).catch(async (e: Error) => {
            await up.kill();
            throw e;
        });
        try {
            const r = await request({ port, path: "/api/inventory/x" });
            assert.equal(r.status, 200);
            assert.equal(r.upstream, "a");
            const want = "uid=101/101 gid=101 groups=101 capEff=0000000000000000 noNewPrivs=1";
            assert.equal(identity(g.pid), want, "master");
            const workers = readdirSync("/proc")
                .filter((p) => /^\d+$/.test(p))
                .filter((p) => {
                    try {
                        return new RegExp(`^PPid:\\s+${g.pid}$`, "m").test(readFileSync(`/proc/${p}/status`, "utf8"));
                    } catch {
                        return false;
                    }
                });
            assert.equal(workers.length, 2);
            for (const w of workers) assert.equal(identity(Number(w)), want, `worker ${w}`);
            const confFile = path.join(dir, "conf", "nginx.conf");
            const mode = spawnSync("stat", ["-c", "%U:%G %a", confFile], { encoding: "utf8" }).stdout.trim();
            assert.equal(mode, "root:root 444");
            // The same confinement, for a shell: the conf, the prefix and the root are not writable; the two volumes are.
            const [cmd, args] = podCommand(
                [
                    "sh",
                    "-c",
                    `for f in ${confFile} ${dir}/x /etc/x /tmp/x ${dir}/temp/x ${dir}/run/x; do if (: >"$f") 2>/dev/null; then echo "$f:w"; else echo "$f:-"; fi; done`,
                ],
                NGINX_POD,
                [path.join(dir, "temp"), path.join(dir, "run")],
            );
            const out = spawnSync(cmd, args, { encoding: "utf8", timeout: 10_000 });
            assert.equal(out.status, 0, out.stderr);
            assert.deepEqual(out.stdout.trim().split("\n"), [
                `${confFile}:-`,
                `${dir}/x:-`,
                "/etc/x:-",
                "/tmp/x:-",
                `${dir}/temp/x:w`,
                `${dir}/run/x:w`,
            ]);
            assert.doesNotMatch(g.errorLog(), /\[(warn|alert|emerg)\]/, g.errorLog());
        } finally {
            await g.stop();
            await up.kill();
        }
    });
});
