// Backups for real, with the rendered configurations and scripts: Debian's
// PostgreSQL 15 + pgBackRest and Redis + rclone against a real S3 server
// (versitygw, HTTPS on 127.0.0.1).
//
// PostgreSQL runs in the cluster's layout: the database side archives WAL
// (archive_command) and serves its data directory through `pgbackrest server`
// (mutual TLS); the backup "Job" is a separate pgBackRest with the repository
// side's config, reaching the database only through that TLS server.
//
// BACKUP_TEST_MB (default 32) sizes a bulk table that goes into the base
// backup, for measuring backup and restore time (the README's figures were
// taken with BACKUP_TEST_MB=1024).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
    chmodSync,
    chownSync,
    existsSync,
    mkdirSync,
    mkdtempSync,
    readdirSync,
    readFileSync,
    rmSync,
    utimesSync,
    writeFileSync,
} from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import {
    backupPath,
    pgArchiveCommand,
    PgbackrestCommon,
    pgRestoreArgs,
    rcloneEnv,
    renderPgBackupScript,
    renderPgbackrestDbConf,
    renderPgbackrestRepoConf,
    renderRedisFetchScript,
    renderRedisShipScript,
    renderRedisSnapshotScript,
    S3Target,
} from "../../components/data/backup-render";
import { pgIdentifier, renderPgHba, renderPostgresConf } from "../../components/data/postgres-conf";
import { renderRedisAuthConf, renderRedisConf } from "../../components/data/redis-conf";
import { freePort, sleep } from "../gateway/harness";
import { redis, Reply } from "./resp";
import { listObjects, makeCa, RunningS3, startS3, TestCa } from "./s3-server";
import { initdbArgs } from "../helpers/initdb";

const BUCKET = "nordstack-backups";
const PREFIX = "nordstack";
const BULK_MB = Number(process.env.BACKUP_TEST_MB ?? 32);

type Env = Record<string, string | undefined>;

function run(cmd: string, args: string[], env: Env = {}, timeoutMs = 120_000): SpawnSyncReturns<string> {
    const merged: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete merged[k];
        else merged[k] = v;
    }
    return spawnSync(cmd, args, { encoding: "utf8", timeout: timeoutMs, env: merged, maxBuffer: 64 * 1024 * 1024 });
}

/** As the postgres user, environment kept (secrets travel there, never in argv). */
function asPostgres(cmd: string, args: string[], env: Env = {}, timeoutMs = 120_000): SpawnSyncReturns<string> {
    return run("runuser", ["-p", "-u", "postgres", "--", cmd, ...args], { HOME: "/var/lib/postgresql", ...env }, timeoutMs);
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
    assert.equal(r.status, 0, `${what} failed (${r.status ?? r.signal}): ${r.stdout}\n${r.stderr}`);
    return r.stdout;
}

function pgBin(): string {
    const root = "/usr/lib/postgresql";
    const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
    assert.ok(versions.includes("15"), "PostgreSQL 15 is not installed (Debian package postgresql-15)");
    return path.join(root, "15", "bin");
}

function postgresIds(): { uid: number; gid: number } {
    const uid = Number(run("id", ["-u", "postgres"]).stdout.trim());
    const gid = Number(run("id", ["-g", "postgres"]).stdout.trim());
    assert.ok(uid > 0, "the postgres user exists (Debian package postgresql-common)");
    return { uid, gid };
}

/** What a Kubernetes Secret volume with defaultMode 0440 and fsGroup gives: root-owned, group postgres, no world access. */
function secretFile(file: string, gid: number): void {
    chownSync(file, 0, gid);
    chmodSync(file, 0o440);
}

function rcloneEnvFor(s3: RunningS3, target: S3Target, secret = s3.secretAccessKey): Env {
    return {
        ...rcloneEnv(target),
        RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID: s3.accessKeyId,
        RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY: secret,
        RCLONE_CONFIG: "/dev/null",
        // This machine's environment points the AWS SDK inside rclone at a CA bundle, which rclone's own transport refuses.
        AWS_CA_BUNDLE: undefined,
    };
}

let dir: string;
let ca: TestCa;
let s3: RunningS3;
let target: S3Target;

before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "nordstack-backup-"));
    chmodSync(dir, 0o755);
    ca = makeCa(path.join(dir, "pki"));
    chmodSync(path.join(dir, "pki"), 0o755);
    chmodSync(ca.caFile, 0o644);
    s3 = await startS3(dir, ca, "no-osl-1");
    target = { endpoint: s3.endpoint, bucket: BUCKET, region: "no-osl-1", uriStyle: "path", verifyTls: true, caFile: ca.caFile };
    // The operator creates the bucket once; the backups never need the right to.
    ok(
        run("rclone", ["mkdir", `backup:${BUCKET}`], { ...rcloneEnvFor(s3, target), RCLONE_CONFIG_BACKUP_NO_CHECK_BUCKET: "false" }),
        "rclone mkdir",
    );
});

after(async () => {
    await s3?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("PostgreSQL: WAL archive + base backup with pgBackRest, point-in-time restore", () => {
    const bin = () => pgBin();
    const STANZA = "inventory-postgres";
    const USER = pgIdentifier("inventory");
    const PASSWORD = randomBytes(24).toString("base64url");
    let pgDir: string;
    let pgPort: number;
    let tlsPort: number;
    let dbConfFile: string;
    let repoConfFile: string;
    let confFile: string;
    let server: ChildProcess | undefined;
    let serverLog = "";
    const running: string[] = [];
    let keyEnv: Env;

    const pgCtl = (data: string, action: string, extra: string[] = []) =>
        asPostgres(path.join(bin(), "pg_ctl"), ["-D", data, ...extra, "-w", "-t", "120", action], keyEnv, 180_000);
    const psql = (port: number, sql: string, timeoutMs = 120_000) =>
        ok(
            run(
                path.join(bin(), "psql"),
                ["-X", "-w", "-h", "127.0.0.1", "-p", String(port), "-U", USER, "-d", USER, "-tAc", sql],
                { PGPASSWORD: PASSWORD, PGPASSFILE: "/dev/null", PGCONNECT_TIMEOUT: "5" },
                timeoutMs,
            ),
            `psql ${sql.slice(0, 60)}`,
        ).trim();

    before(async () => {
        const { uid, gid } = postgresIds();
        pgDir = path.join(dir, "pg");
        mkdirSync(pgDir, { mode: 0o755 });
        chownSync(pgDir, uid, gid);
        pgPort = await freePort();
        tlsPort = await freePort();
        keyEnv = { PGBACKREST_REPO1_S3_KEY: s3.accessKeyId, PGBACKREST_REPO1_S3_KEY_SECRET: s3.secretAccessKey };

        // The database pod's server certificate and the backup Job's client certificate, from one CA.
        const srv = ca.issue("pg-server", { cn: "localhost", dns: ["localhost"], usage: "serverAuth" });
        const cli = ca.issue("pg-client", { cn: `pgbackrest-${STANZA}`, usage: "clientAuth" });
        for (const f of [srv.cert, srv.key, cli.cert, cli.key]) secretFile(f, gid);

        const common: PgbackrestCommon = {
            stanza: STANZA,
            s3: target,
            repoPath: backupPath(PREFIX, STANZA),
            retentionDays: 14,
            pgPath: path.join(pgDir, "data"),
            pgPort,
            pgUser: USER,
            pgSocketPath: pgDir,
            lockPath: path.join(pgDir, "lock"),
        };
        dbConfFile = path.join(pgDir, "pgbackrest-db.conf");
        repoConfFile = path.join(pgDir, "pgbackrest-repo.conf");
        writeFileSync(
            dbConfFile,
            renderPgbackrestDbConf({
                ...common,
                tlsServer: {
                    address: "127.0.0.1",
                    port: tlsPort,
                    certFile: srv.cert,
                    keyFile: srv.key,
                    caFile: ca.caFile,
                    clientCn: `pgbackrest-${STANZA}`,
                },
            }),
        );
        // The Job: its own lock directory, as in its own pod.
        writeFileSync(
            repoConfFile,
            renderPgbackrestRepoConf({
                ...common,
                lockPath: path.join(pgDir, "job-lock"),
                pgHost: "localhost",
                pgHostPort: tlsPort,
                tlsClient: { certFile: cli.cert, keyFile: cli.key, caFile: ca.caFile },
            }),
        );

        const pwfile = path.join(pgDir, "pwfile");
        writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
        chownSync(pwfile, uid, gid);
        ok(asPostgres(path.join(bin(), "initdb"), initdbArgs(path.join(pgDir, "data"), USER, pwfile)), "initdb");
        rmSync(pwfile);
        const hbaFile = path.join(pgDir, "pg_hba.conf");
        writeFileSync(hbaFile, renderPgHba(USER, USER));
        confFile = path.join(pgDir, "postgresql.conf");
        // The production settings and archive settings; only addresses, paths and the port belong to this machine.
        writeFileSync(
            confFile,
            renderPostgresConf({
                port: pgPort,
                listenAddresses: "127.0.0.1",
                hbaFile,
                unixSocketDirectories: pgDir,
                archive: { command: pgArchiveCommand(dbConfFile, STANZA), timeoutSeconds: 300 },
            }),
        );
        ok(
            pgCtl(path.join(pgDir, "data"), "start", ["-o", `-c config_file=${confFile}`, "-l", path.join(pgDir, "server.log")]),
            "pg_ctl start",
        );
        running.push(path.join(pgDir, "data"));
        ok(
            run(
                path.join(bin(), "psql"),
                ["-X", "-w", "-h", pgDir, "-p", String(pgPort), "-U", USER, "-d", "postgres", "-c", `CREATE DATABASE ${USER}`],
                { PGPASSWORD: PASSWORD },
            ),
            "create database",
        );

        // The sidecar: pgBackRest's TLS server, as the postgres user; libpq reads PGPASSWORD for the local socket.
        server = spawn("runuser", ["-p", "-u", "postgres", "--", "pgbackrest", `--config=${dbConfFile}`, "server"], {
            env: { ...process.env, PGPASSWORD: PASSWORD, HOME: "/var/lib/postgresql" },
            stdio: ["ignore", "pipe", "pipe"],
        });
        server.stdout?.on("data", (d: Buffer) => (serverLog += d.toString()));
        server.stderr?.on("data", (d: Buffer) => (serverLog += d.toString()));
        const deadline = Date.now() + 15_000;
        for (;;) {
            assert.equal(server.exitCode, null, `pgbackrest server exited: ${serverLog}`);
            const up = await new Promise<boolean>((resolve) => {
                const s = net.connect(tlsPort, "127.0.0.1", () => (s.destroy(), resolve(true)));
                s.on("error", () => resolve(false));
            });
            if (up) break;
            assert.ok(Date.now() < deadline, `pgbackrest server did not listen: ${serverLog}`);
            await sleep(100);
        }
    });

    after(async () => {
        for (const data of running) pgCtl(data, "stop", ["-m", "immediate"]);
        if (server && server.exitCode === null) {
            server.kill("SIGTERM");
            await sleep(300);
            if (server.exitCode === null) server.kill("SIGKILL");
        }
    });

    it("a backup with a wrong S3 key fails (the Job's exit status), naming the storage's refusal, and writes nothing", () => {
        const bad = asPostgres(
            "sh",
            ["-c", renderPgBackupScript(repoConfFile, STANZA)],
            { ...keyEnv, PGBACKREST_REPO1_S3_KEY_SECRET: "wrong-secret-key-0000000000" },
            300_000,
        );
        assert.notEqual(bad.status, 0, "the backup Job must fail");
        assert.match(bad.stdout + bad.stderr, /403|SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId/);
        assert.deepEqual(listObjects(s3.root, BUCKET), [], "nothing in the bucket");
    });

    it("backs up, keeps archiving, restores to a timestamp in a fresh data directory with exactly the rows up to it", async (t) => {
        psql(pgPort, "CREATE TABLE ledger (id int PRIMARY KEY, phase text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())");
        psql(pgPort, "INSERT INTO ledger (id, phase) SELECT g, 'before-backup' FROM generate_series(1, 1000) g");
        // Hex from random(): compresses about 2:1, like real data more than a repeated string would.
        const rows = Math.max(1, Math.round((BULK_MB * 1024 * 1024) / 600));
        psql(
            pgPort,
            `CREATE TABLE bulk AS SELECT g AS id, ${Array(16).fill("md5(random()::text)").join(" || ")} AS payload FROM generate_series(1, ${rows}) g`,
            1_800_000,
        );
        const dbBytes = Number(psql(pgPort, "SELECT pg_database_size(current_database())"));

        // The backup Job's script, with the repository side's config and only the S3 keys in its environment.
        let t0 = Date.now();
        const backup = asPostgres("sh", ["-c", renderPgBackupScript(repoConfFile, STANZA)], keyEnv, 1_800_000);
        const backupSeconds = (Date.now() - t0) / 1000;
        ok(backup, `backup job (server log: ${serverLog})`);
        // Segments finished before the stanza existed failed and were retried (PostgreSQL keeps them); none fail from here on.
        const failedBefore = psql(pgPort, "SELECT failed_count FROM pg_stat_archiver");
        const info = JSON.parse(backup.stdout.slice(backup.stdout.indexOf("[{"))) as {
            backup: { type: string; info: { size: number; repository: { delta: number } }; timestamp: { start: number; stop: number } }[];
            status: { code: number };
        }[];
        assert.equal(info[0].status.code, 0, JSON.stringify(info[0].status));
        assert.equal(info[0].backup.length, 1);
        assert.equal(info[0].backup[0].type, "full");
        const stored = listObjects(s3.root, BUCKET);
        assert.ok(
            stored.some((f) => f.startsWith(`${PREFIX}/${STANZA}/backup/${STANZA}/`)),
            `base backup under the datastore's prefix: ${stored.slice(0, 5).join(", ")}`,
        );
        assert.ok(
            stored.some((f) => f.startsWith(`${PREFIX}/${STANZA}/archive/${STANZA}/15-1/`)),
            "WAL under the datastore's prefix",
        );
        assert.ok(
            stored.every((f) => f.startsWith(`${PREFIX}/${STANZA}/`)),
            "nothing outside the prefix",
        );

        psql(pgPort, "INSERT INTO ledger (id, phase) SELECT g, 'after-backup' FROM generate_series(1001, 1500) g");
        await sleep(1100);
        const targetTime = psql(pgPort, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
        await sleep(1100);
        psql(pgPort, "INSERT INTO ledger (id, phase) SELECT g, 'after-target' FROM generate_series(1501, 2000) g");
        // Close the segment holding the last rows, as archive_timeout would within 300 s, and wait until it is archived.
        const segment = psql(pgPort, "SELECT pg_walfile_name(pg_switch_wal())");
        const deadline = Date.now() + 60_000;
        while (psql(pgPort, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") < segment) {
            assert.ok(Date.now() < deadline, `segment ${segment} not archived in 60 s: ${psql(pgPort, "SELECT * FROM pg_stat_archiver")}`);
            await sleep(200);
        }
        assert.equal(psql(pgPort, "SELECT failed_count FROM pg_stat_archiver"), failedBefore, "no archive failure after the first backup");

        // The node's disk dies: the server and its data directory are gone.
        ok(pgCtl(path.join(pgDir, "data"), "stop", ["-m", "immediate"]), "pg_ctl stop");
        running.splice(running.indexOf(path.join(pgDir, "data")), 1);
        rmSync(path.join(pgDir, "data"), { recursive: true, force: true });

        const fresh = path.join(pgDir, "restored");
        mkdirSync(fresh, { mode: 0o700 });
        chownSync(fresh, postgresIds().uid, postgresIds().gid);
        t0 = Date.now();
        ok(
            asPostgres(
                "pgbackrest",
                pgRestoreArgs({ configPath: dbConfFile, stanza: STANZA, pgPath: fresh, target: targetTime }),
                keyEnv,
                1_800_000,
            ),
            "restore",
        );
        const restoreSeconds = (Date.now() - t0) / 1000;
        const restoredPort = await freePort();
        const restoredConf = path.join(pgDir, "restored.conf");
        writeFileSync(restoredConf, readFileSync(confFile, "utf8").replace(`port = ${pgPort}`, `port = ${restoredPort}`));
        t0 = Date.now();
        ok(pgCtl(fresh, "start", ["-o", `-c config_file=${restoredConf}`, "-l", path.join(pgDir, "restored.log")]), "start restored");
        running.push(fresh);
        const promoted = Date.now() + 120_000;
        while (psql(restoredPort, "SELECT pg_is_in_recovery()") !== "f") {
            assert.ok(Date.now() < promoted, `still in recovery: ${readFileSync(path.join(pgDir, "restored.log"), "utf8").slice(-2000)}`);
            await sleep(200);
        }
        const replaySeconds = (Date.now() - t0) / 1000;

        const got = psql(
            restoredPort,
            "SELECT count(*), min(id), max(id), count(*) FILTER (WHERE phase = 'after-target'), bool_and(at <= $$" +
                targetTime +
                "$$::timestamptz) FROM ledger",
        );
        t.diagnostic(`restored to ${targetTime}: count|min|max|after-target|all-before = ${got}`);
        assert.equal(got, "1500|1|1500|0|t", "exactly the rows written up to the target");
        assert.equal(psql(restoredPort, "SELECT count(*) FROM bulk"), String(rows));
        const log = readFileSync(path.join(pgDir, "restored.log"), "utf8");
        assert.match(log, /recovery stopping before commit of transaction \d+, time /);

        const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
        t.diagnostic(
            `database ${mb(dbBytes)} MB: backup job ${backupSeconds.toFixed(1)} s (of it the full backup ` +
                `${info[0].backup[0].timestamp.stop - info[0].backup[0].timestamp.start} s; the rest stanza-create, check, WAL backlog), ` +
                `restore (files) ${restoreSeconds.toFixed(1)} s, ` +
                `WAL replay to target + promote ${replaySeconds.toFixed(1)} s, in the repository ${mb(info[0].backup[0].info.repository.delta)} MB`,
        );
    });
});

describe("Redis: RDB snapshot shipped with rclone, restored into a fresh server", () => {
    const INSTANCE = "pricing-redis";
    const PASSWORD = `${randomBytes(18).toString("base64url")}-redis`;
    const servers: ChildProcess[] = [];
    let keyEnv: Env;

    async function startRedis(data: string, extra: string[] = []): Promise<number> {
        mkdirSync(data, { recursive: true });
        const port = await freePort();
        const authFile = path.join(data, "..", `${path.basename(data)}-auth.conf`);
        writeFileSync(authFile, renderRedisAuthConf(PASSWORD), { mode: 0o600 });
        const conf = path.join(data, "..", `${path.basename(data)}-redis.conf`);
        writeFileSync(conf, renderRedisConf({ bind: "127.0.0.1", port, dir: data, authFile }));
        const proc = spawn("redis-server", [conf, ...extra], { stdio: ["ignore", "pipe", "pipe"] });
        let log = "";
        proc.stdout?.on("data", (d: Buffer) => (log += d.toString()));
        proc.stderr?.on("data", (d: Buffer) => (log += d.toString()));
        servers.push(proc);
        const deadline = Date.now() + 15_000;
        for (;;) {
            assert.equal(proc.exitCode, null, `redis-server exited: ${log}`);
            const r = cli(port, ["PING"]);
            if (r.status === 0 && r.stdout.trim() === "PONG") return port;
            assert.ok(Date.now() < deadline, `redis did not answer: ${log}`);
            await sleep(100);
        }
    }
    const cli = (port: number, args: string[]) =>
        run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { REDISCLI_AUTH: PASSWORD }, 30_000);

    /** Every key with its type, value and whether it expires, sorted: the comparison of two servers (one connection, pipelined). */
    async function contents(port: number): Promise<string[]> {
        const auth = ["AUTH", PASSWORD];
        const keys: string[] = [];
        let cursor = "0";
        do {
            const [, page] = await redis(port, [auth, ["SCAN", cursor, "COUNT", "1000"]]);
            const [next, batch] = page as [string, string[]];
            keys.push(...batch);
            cursor = next;
        } while (cursor !== "0");
        keys.sort();
        const types = (await redis(port, [auth, ...keys.map((k) => ["TYPE", k])])).slice(1) as string[];
        const read: Record<string, (k: string) => string[]> = {
            string: (k) => ["GET", k],
            hash: (k) => ["HGETALL", k],
            list: (k) => ["LRANGE", k, "0", "-1"],
            set: (k) => ["SMEMBERS", k],
            zset: (k) => ["ZRANGE", k, "0", "-1", "WITHSCORES"],
        };
        const values = (await redis(port, [auth, ...keys.map((k, i) => read[types[i]](k))])).slice(1);
        const ttls = (await redis(port, [auth, ...keys.map((k) => ["TTL", k])])).slice(1);
        const norm = (v: Reply, type: string): string => {
            if (!Array.isArray(v)) return String(v);
            if (type === "set") return [...(v as string[])].sort().join(",");
            if (type === "hash") {
                const pairs: string[] = [];
                for (let i = 0; i < v.length; i += 2) pairs.push(`${String(v[i])}=${String(v[i + 1])}`);
                return pairs.sort().join(",");
            }
            return v.join(",");
        };
        return keys.map((k, i) => `${k} ${types[i]} ${norm(values[i], types[i])} ${ttls[i] === "-1" ? "persistent" : "expires"}`);
    }

    before(() => {
        keyEnv = rcloneEnvFor(s3, target);
    });

    after(async () => {
        for (const p of servers) {
            if (p.exitCode !== null) continue;
            const gone = new Promise((resolve) => p.once("exit", resolve));
            p.kill("SIGTERM");
            await Promise.race([gone, sleep(5000)]);
            if (p.exitCode === null) p.kill("SIGKILL");
        }
    });

    it("snapshots, ships, expires old snapshots, restores into a fresh server with the same keys, and keeps them with AOF on", async (t) => {
        const port = await startRedis(path.join(dir, "redis-a"));
        assert.equal(cli(port, ["CONFIG", "GET", "save"]).stdout.split("\n")[1], "3600 1 300 100 60 10000");
        assert.equal(cli(port, ["CONFIG", "GET", "appendfsync"]).stdout.split("\n")[1], "everysec");
        const pipe = [];
        for (let i = 0; i < 2000; i++) pipe.push(`SET stock:${i} ${i * 7}`);
        for (let i = 0; i < 200; i++)
            pipe.push(
                `HSET price:${i} eur ${i}.50 nok ${i * 11}`,
                `RPUSH history:${i % 20} ${i}`,
                `SADD tags:${i % 10} t${i}`,
                `ZADD rank ${i} item${i}`,
            );
        pipe.push("SET session:keep x EX 86400");
        const load = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port)], {
            input: pipe.join("\n") + "\n",
            encoding: "utf8",
            env: { ...process.env, REDISCLI_AUTH: PASSWORD },
        });
        assert.equal(load.status, 0, load.stderr);
        const before = await contents(port);
        assert.equal(before.length, 2000 + 200 + 20 + 10 + 1 + 1);

        // A snapshot from long ago, which the retention must delete.
        const stalePath = backupPath(PREFIX, INSTANCE);
        const staleFile = path.join(dir, "stale.rdb");
        writeFileSync(staleFile, "stale");
        const old = new Date(Date.now() - 30 * 86400_000);
        utimesSync(staleFile, old, old);
        ok(run("rclone", ["copyto", staleFile, `backup:${BUCKET}/${stalePath}/dump-20000101T000000Z.rdb`], keyEnv), "upload stale");

        // The Job: step 1 in the Redis image, step 2 in the rclone image, sharing one file.
        const snapshot = path.join(dir, "job", "dump.rdb");
        mkdirSync(path.dirname(snapshot), { recursive: true });
        ok(
            run("sh", ["-c", renderRedisSnapshotScript({ host: "127.0.0.1", port, file: snapshot })], { REDISCLI_AUTH: PASSWORD }),
            "snapshot",
        );
        const ship = ok(
            run("sh", ["-c", renderRedisShipScript({ file: snapshot, bucket: BUCKET, path: stalePath, retentionDays: 14 })], keyEnv),
            "ship",
        );
        t.diagnostic(ship.trim().split("\n")[0]);
        const stored = listObjects(s3.root, BUCKET).filter((f) => f.startsWith(`${stalePath}/`));
        assert.equal(stored.length, 1, `one snapshot left (the stale one expired): ${stored.join(", ")}`);
        assert.match(stored[0], new RegExp(`^${stalePath}/dump-\\d{8}T\\d{6}Z\\.rdb$`));

        // Restore: fetch the newest snapshot into a fresh data directory, load it with AOF off, then turn AOF on
        // (Redis writes the AOF from memory) and restart with the production config.
        const freshDir = path.join(dir, "redis-b");
        mkdirSync(freshDir, { recursive: true });
        ok(
            run("sh", ["-c", renderRedisFetchScript({ file: path.join(freshDir, "dump.rdb"), bucket: BUCKET, path: stalePath })], keyEnv),
            "fetch",
        );
        const restored = await startRedis(freshDir, ["--appendonly", "no"]);
        assert.deepEqual(await contents(restored), before, "the fresh server has every key with its value");
        ok(cli(restored, ["CONFIG", "SET", "appendonly", "yes"]), "appendonly on");
        const deadline = Date.now() + 30_000;
        while (
            !/aof_rewrite_in_progress:0/.test(cli(restored, ["INFO", "persistence"]).stdout) ||
            !/aof_enabled:1/.test(cli(restored, ["INFO", "persistence"]).stdout)
        ) {
            assert.ok(Date.now() < deadline, "AOF rewrite did not finish");
            await sleep(100);
        }
        await sleep(200);
        ok(cli(restored, ["SHUTDOWN"]), "shutdown");
        const again = await startRedis(freshDir);
        assert.deepEqual(await contents(again), before, "after a restart with AOF on, the keys are still there");
        assert.ok(before.includes("session:keep string x expires"), "the expiry travelled too");
    });

    it("a shipment with a wrong S3 key fails (the Job's exit status)", () => {
        const file = path.join(dir, "job", "dump.rdb");
        const bad = run(
            "sh",
            ["-c", renderRedisShipScript({ file, bucket: BUCKET, path: backupPath(PREFIX, INSTANCE), retentionDays: 14 })],
            {
                ...rcloneEnvFor(s3, target, "wrong-secret-key-0000000000"),
                RCLONE_RETRIES: "1",
                RCLONE_LOW_LEVEL_RETRIES: "1",
            },
        );
        assert.notEqual(bad.status, 0, "the Job must fail");
        assert.match(bad.stderr, /403|SignatureDoesNotMatch|AccessDenied/);
    });
});
