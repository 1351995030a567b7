// The rendered redis.conf (ConfigMap part) and auth.conf (Secret part),
// started for real with Debian's redis-server on 127.0.0.1, as in its pod:
// uid 999, group 1000, no capabilities, read-only root and config files, only
// the data directory writable (test/helpers/pod-like.ts).
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { redisQuote, renderRedisAuthConf, renderRedisConf } from "../../components/data/redis-conf";
import { freePort, sleep } from "../gateway/harness";
import { REDIS_RUN_AS } from "../../components/services/security";
import { configFile, podCommand, PodUser, secretFile, writableDirs } from "../helpers/pod-like";
import { redis } from "./resp";

const REDIS_POD: PodUser = { uid: REDIS_RUN_AS.runAsUser, gid: REDIS_RUN_AS.runAsGroup };

let server: ChildProcess | undefined;
let dir: string | undefined;

after(async () => {
    if (server && server.exitCode === null) {
        const gone = new Promise((resolve) => server?.once("exit", resolve));
        server.kill("SIGTERM");
        await Promise.race([gone, sleep(5000)]);
        if (server.exitCode === null) server.kill("SIGKILL");
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("redis.conf renderers", () => {
    it("keep the password out of redis.conf and quote it safely in the Secret part", () => {
        const conf = renderRedisConf();
        assert.doesNotMatch(conf, /^\s*requirepass/m, "the ConfigMap part never holds the password");
        assert.match(conf, /^include "\/etc\/redis\/auth\/auth.conf"$/m);
        assert.equal(conf.trim().split("\n").pop(), 'include "/etc/redis/auth/auth.conf"', "included last: nothing can override it");
        assert.match(conf, /^maxmemory-policy noeviction$/m);
        assert.match(conf, /^appendonly yes$/m);
        assert.equal(redisQuote('a"b\\c d\n'), '"a\\"b\\\\c d\\x0a"');
        assert.equal(renderRedisAuthConf("0123456789abcdefXYZ"), 'requirepass "0123456789abcdefXYZ"\n');
        assert.throws(() => renderRedisAuthConf("short"), /at least 16 characters/);
        assert.throws(() => renderRedisConf({ port: 70000 }), /port must be 1-65535/);
    });
});

describe("redis-server started on the rendered configuration", () => {
    it("accepts the generated password, refuses no password and a wrong one", async (t) => {
        dir = mkdtempSync(path.join(os.tmpdir(), "nordstack-redis-"));
        const port = await freePort();
        // Characters that need the quoting (space, quote, backslash) besides a random part like RandomPassword's.
        const password = `${randomBytes(18).toString("base64url")} "q\\ z`;
        chmodSync(dir, 0o755);
        // The Secret volume's file: root-owned, readable by the pod's group only.
        const authFile = path.join(dir, "auth", "auth.conf");
        configFile(authFile, renderRedisAuthConf(password));
        secretFile(authFile, REDIS_POD);
        const confFile = path.join(dir, "conf", "redis.conf");
        const data = path.join(dir, "data");
        writableDirs(REDIS_POD, data);
        // Production values; only the address, port and file locations belong to this machine.
        configFile(confFile, renderRedisConf({ bind: "127.0.0.1", port, dir: data, authFile }));
        const [cmd, args] = podCommand(["redis-server", confFile], REDIS_POD, [data]);
        server = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
        let log = "";
        server.stdout?.on("data", (d: Buffer) => (log += d.toString()));
        server.stderr?.on("data", (d: Buffer) => (log += d.toString()));
        const deadline = Date.now() + 10_000;
        for (;;) {
            assert.equal(server.exitCode, null, `redis-server exited: ${log}`);
            const up = await redis(port, [["PING"]]).catch(() => undefined);
            if (up) break;
            assert.ok(Date.now() < deadline, `redis-server did not listen within 10 s: ${log}`);
            await sleep(50);
        }

        const [noAuth] = await redis(port, [["PING"]]);
        assert.equal(noAuth, "-NOAUTH Authentication required.");
        const [wrong, stillLocked] = await redis(port, [
            ["AUTH", `${password}x`],
            ["GET", "k"],
        ]);
        assert.match(String(wrong), /^-WRONGPASS/);
        assert.equal(stillLocked, "-NOAUTH Authentication required.");

        const replies = await redis(port, [
            ["AUTH", password],
            ["PING"],
            ["SET", "stock:42", "7"],
            ["GET", "stock:42"],
            ["CONFIG", "GET", "requirepass"],
            ["CONFIG", "GET", "maxmemory-policy"],
            ["CONFIG", "GET", "appendonly"],
            ["CONFIG", "GET", "maxmemory"],
        ]);
        t.diagnostic(`with the password: ${JSON.stringify(replies.slice(0, 4))}`);
        assert.deepEqual(replies, [
            "OK",
            "PONG",
            "OK",
            "7",
            ["requirepass", password],
            ["maxmemory-policy", "noeviction"],
            ["appendonly", "yes"],
            ["maxmemory", String(192 * 1024 * 1024)],
        ]);
        assert.ok(existsSync(path.join(data, "appendonlydir")), "the append-only file lives in the data directory");
        const status = readFileSync(`/proc/${server.pid}/status`, "utf8");
        assert.match(status, /^Uid:\s+999\s+999\s/m, "runs as the image's redis user");
        assert.match(status, /^CapEff:\s+0+$/m, "without any capability");
        assert.equal(statSync(path.join(data, "appendonlydir")).uid, 999);
    });
});
