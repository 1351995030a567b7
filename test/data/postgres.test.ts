// The rendered postgresql.conf and pg_hba.conf, started for real with
// Debian's PostgreSQL on 127.0.0.1, as in its pod (test/helpers/pod-like.ts):
// the postgres user without capabilities, root filesystem and config files
// read-only, only the data volume and the socket directory writable.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, SpawnSyncReturns } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pgIdentifier, pgQuote, renderPgHba, renderPostgresConf } from "../../components/data/postgres-conf";
import { freePort } from "../gateway/harness";
import { configFile, podCommand, PodUser, writableDirs } from "../helpers/pod-like";
import { initdbArgs } from "../helpers/initdb";

/** Newest PostgreSQL from Debian's postgresql-NN packages. */
function pgBin(): string {
    const root = "/usr/lib/postgresql";
    const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
    assert.ok(versions.length > 0, "PostgreSQL is not installed (Debian package postgresql)");
    return path.join(root, versions.sort((x, y) => Number(y) - Number(x))[0], "bin");
}

/** Runs a command; `env` entries set to undefined are removed from the inherited environment. */
function run(cmd: string, args: string[], env: Record<string, string | undefined> = {}): SpawnSyncReturns<string> {
    const merged: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete merged[k];
        else merged[k] = v;
    }
    return spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000, env: merged });
}

const USER = pgIdentifier("inventory-svc");
const DB = USER;
const PASSWORD = randomBytes(24).toString("base64url");
let bin: string;
let dir: string | undefined;
let port: number;
let started = false;
/** Debian's postgres user (initdb needs a passwd entry; the image's is 999:999). */
let pod: PodUser;
/** The data volume (PVC), PGDATA a directory in it as in the pod, and the socket directory (emptyDir). */
const volume = () => path.join(dir ?? "", "volume");
const pgdata = () => path.join(volume(), "pgdata");
const sockets = () => path.join(dir ?? "", "run");
/** A PostgreSQL program as the pod runs it. */
function asPod(program: string, args: string[]): SpawnSyncReturns<string> {
    const [cmd, cmdArgs] = podCommand([path.join(bin, program), ...args], pod, [volume(), sockets()]);
    return run(cmd, cmdArgs);
}

/** psql as a client: never prompts (-w), never reads ~/.pgpass; the password only via PGPASSWORD (never argv). */
function psql(o: { host: string; db: string; password?: string; sql: string }): SpawnSyncReturns<string> {
    return run(path.join(bin, "psql"), ["-X", "-w", "-h", o.host, "-p", String(port), "-U", USER, "-d", o.db, "-tAc", o.sql], {
        PGPASSWORD: o.password,
        PGPASSFILE: "/dev/null",
        PGCONNECT_TIMEOUT: "5",
    });
}

describe("postgresql.conf / pg_hba.conf renderers", () => {
    it("render scram-only authentication and the service's own database and user", () => {
        const conf = renderPostgresConf({ maxConnections: 50, slowQueryMs: 0 });
        assert.match(conf, /^password_encryption = 'scram-sha-256'$/m);
        assert.match(conf, /^max_connections = 50$/m);
        assert.match(conf, /^log_min_duration_statement = -1$/m);
        assert.match(conf, /^hba_file = '\/etc\/postgresql\/pg_hba.conf'$/m);
        assert.equal(pgIdentifier("inventory-v2"), "inventory_v2");
        assert.equal(pgQuote("it's"), "'it''s'");
        const hba = renderPgHba("inventory", "inventory");
        assert.deepEqual(
            hba.split("\n").filter((l) => l && !l.startsWith("#")),
            [
                "local   all       all            scram-sha-256",
                "host    inventory  inventory  0.0.0.0/0  scram-sha-256",
                "host    inventory  inventory  ::/0       scram-sha-256",
            ],
        );
        assert.doesNotMatch(hba, /trust|md5|password\s*$/m);
        assert.throws(() => renderPgHba("inventory-v2", "x"), /not a plain PostgreSQL identifier/);
        assert.throws(() => renderPostgresConf({ port: 0 }), /port must be 1-65535/);
    });
});

describe("PostgreSQL started on the rendered configuration", () => {
    before(() => {
        bin = pgBin();
        dir = mkdtempSync(path.join(os.tmpdir(), "nordstack-pg-"));
        const uid = Number(run("id", ["-u", "postgres"]).stdout.trim());
        const gid = Number(run("id", ["-g", "postgres"]).stdout.trim());
        assert.ok(uid > 0, "the postgres user exists (Debian package postgresql-common)");
        pod = { uid, gid };
        chmodSync(dir, 0o755);
        writableDirs(pod, volume(), sockets());
        // The entrypoint's initdb reads the password from a pipe; here from a file in the writable socket directory.
        const pwfile = path.join(sockets(), "pwfile");
        writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
        chownSync(pwfile, uid, gid);
        // What the official image's entrypoint does with POSTGRES_USER/POSTGRES_PASSWORD: the service's user, its password.
        const init = asPod("initdb", initdbArgs(pgdata(), USER, pwfile));
        assert.equal(init.status, 0, init.stderr);
        rmSync(pwfile);
    });

    after(() => {
        if (started && dir) asPod("pg_ctl", ["-D", pgdata(), "-m", "fast", "-w", "stop"]);
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("starts with the rendered files; login with the generated password works, without it or with another it fails", async (t) => {
        assert.ok(dir);
        port = await freePort();
        // The ConfigMap's files: root's, 0444.
        const hbaFile = configFile(path.join(dir, "conf", "pg_hba.conf"), renderPgHba(DB, USER));
        // Production values; only the addresses and file locations belong to this machine.
        const confFile = configFile(
            path.join(dir, "conf", "postgresql.conf"),
            renderPostgresConf({ port, listenAddresses: "127.0.0.1", hbaFile, unixSocketDirectories: sockets() }),
        );
        const start = asPod(
            "pg_ctl",
            ["-D", pgdata()].concat([
                "-o",
                `-c config_file=${confFile}`,
                "-l",
                path.join(sockets(), "server.log"),
                "-w",
                "-t",
                "30",
                "start",
            ]),
        );
        assert.equal(start.status, 0, start.stdout + start.stderr);
        started = true;
        const postmaster = readFileSync(path.join(pgdata(), "postmaster.pid"), "utf8").split("\n")[0];
        const status = readFileSync(`/proc/${postmaster}/status`, "utf8");
        assert.match(status, new RegExp(`^Uid:\\s+${pod.uid}\\s+${pod.uid}\\s`, "m"), "the postmaster runs as the pod's user");
        assert.match(status, /^CapEff:\s+0+$/m, "without any capability");
        assert.match(status, /^NoNewPrivs:\s+1$/m);

        // The entrypoint creates POSTGRES_DB over the local socket, which also demands the password.
        const noPwSocket = psql({ host: sockets(), db: "postgres", sql: "select 1" });
        assert.notEqual(noPwSocket.status, 0);
        assert.match(noPwSocket.stderr, /no password supplied/);
        const create = psql({ host: sockets(), db: "postgres", password: PASSWORD, sql: `CREATE DATABASE ${DB}` });
        assert.equal(create.status, 0, create.stderr);

        const ok = psql({
            host: "127.0.0.1",
            db: DB,
            password: PASSWORD,
            sql:
                "select current_user, current_database(), current_setting('password_encryption'), current_setting('max_connections'), current_setting('hba_file') = '" +
                hbaFile +
                "', (select rolpassword like 'SCRAM-SHA-256$%' from pg_authid where rolname = current_user)",
        });
        t.diagnostic(`login with the password: ${ok.stdout.trim()}`);
        assert.equal(ok.status, 0, ok.stderr);
        assert.equal(ok.stdout.trim(), `${USER}|${DB}|scram-sha-256|100|t|t`);

        const none = psql({ host: "127.0.0.1", db: DB, sql: "select 1" });
        assert.notEqual(none.status, 0, "no password, no login");
        assert.match(none.stderr, /fe_sendauth: no password supplied/);

        const wrong = psql({ host: "127.0.0.1", db: DB, password: `${PASSWORD}x`, sql: "select 1" });
        assert.notEqual(wrong.status, 0, "a wrong password, no login");
        assert.match(wrong.stderr, new RegExp(`password authentication failed for user "${USER}"`));

        const otherDb = psql({ host: "127.0.0.1", db: "postgres", password: PASSWORD, sql: "select 1" });
        assert.notEqual(otherDb.status, 0, "over the network only the service's own database is reachable");
        assert.match(otherDb.stderr, /no pg_hba.conf entry for host "127.0.0.1", user "inventory_svc", database "postgres"/);
    });
});
