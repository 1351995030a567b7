import { runError } from "../errors";
// What the backups run, rendered: pgBackRest's configuration for the database
// side (archive-push from archive_command, the TLS server the backup Job reads
// the data directory through) and for the repository side (the backup Job),
// the Job scripts, the restore commands, and rclone's environment for Redis.
// Pure, tested by running them with Debian's pgbackrest, rclone and redis
// against a real S3 server on loopback (test/data/backup.test.ts).
//
// No secret passes through here: S3 keys reach pgBackRest as
// PGBACKREST_REPO1_S3_KEY / _KEY_SECRET and rclone as RCLONE_CONFIG_*_ACCESS_KEY_ID
// / _SECRET_ACCESS_KEY environment variables from Kubernetes Secrets.

/** Where the objects go. */
export interface S3Target {
    /** `https://host[:port]` (or `http://` for rclone only). */
    endpoint: string;
    bucket: string;
    region: string;
    uriStyle: "path" | "host";
    /** false: do not verify the server certificate (a self-signed lab server). */
    verifyTls: boolean;
    /** PEM bundle to verify the server with instead of the system's CAs. */
    caFile?: string;
}

/** `<prefix>/<instance>`: one prefix per datastore, so one datastore's retention never touches another's. */
export function backupPath(prefix: string, instance: string): string {
    return `${prefix.replace(/^\/+|\/+$/g, "")}/${instance}`;
}

function endpointParts(endpoint: string): { scheme: string; host: string; port: number } {
    const url = new URL(endpoint);
    const scheme = url.protocol.replace(/:$/, "");
    if (scheme !== "https" && scheme !== "http") throw runError(`backup endpoint ${JSON.stringify(endpoint)} must be https:// or http://`);
    return { scheme, host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || (scheme === "http" ? 80 : 443)) };
}

/** A value of pgbackrest.conf: one line, no leading/trailing blanks (the INI parser would trim or split them). */
function iniValue(key: string, value: string | number): string {
    const v = String(value);
    if (/[\n\r\0]/.test(v) || v.trim() !== v || v === "")
        throw runError(`pgbackrest.conf: ${key} ${JSON.stringify(v)} is not a one-line value`);
    return `${key}=${v}`;
}

export interface PgbackrestCommon {
    /** The stanza: the datastore's instance name. */
    stanza: string;
    s3: S3Target;
    /** Repository path inside the bucket, `/`-separated, without leading slash (see `backupPath`). */
    repoPath: string;
    /** Days full backups are kept (time-based retention; WAL older than the oldest kept backup goes with it). */
    retentionDays: number;
    /** Data directory of the database, as seen on the database side. */
    pgPath: string;
    pgPort: number;
    /** The database role pgBackRest connects as (a superuser: it runs pg_backup_start/stop). */
    pgUser: string;
    /** Directory of PostgreSQL's unix socket on the database side. */
    pgSocketPath: string;
    /** Lock files (a writable, pod-local directory). Default `/tmp/pgbackrest`. */
    lockPath?: string;
    /** Parallel compression/transfer processes of backup and restore. Default 2. */
    processMax?: number;
}

/** The database side: archive-push (archive_command), archive-get (restore_command), restore, and the TLS server. */
export interface PgbackrestDbSide extends PgbackrestCommon {
    tlsServer: {
        /** Default `*` (the pod's addresses; the NetworkPolicy limits who connects). */
        address?: string;
        port: number;
        certFile: string;
        keyFile: string;
        /** CA the client certificates must chain to. */
        caFile: string;
        /** Common name of the one client certificate allowed (the backup Job's). */
        clientCn: string;
    };
}

/** The repository side: the backup Job, which reads the data directory through the database side's TLS server. */
export interface PgbackrestRepoSide extends PgbackrestCommon {
    pgHost: string;
    pgHostPort: number;
    /** The Job's client certificate, its key, and the CA the server certificate chains to. */
    tlsClient: { certFile: string; keyFile: string; caFile: string };
}

function globalSection(c: PgbackrestCommon): string[] {
    const e = endpointParts(c.s3.endpoint);
    if (e.scheme !== "https") throw runError(`pgBackRest speaks only HTTPS to object storage; ${c.s3.endpoint} is not https://`);
    if (!Number.isInteger(c.retentionDays) || c.retentionDays < 1)
        throw runError(`pgbackrest.conf: retentionDays must be at least 1, got ${c.retentionDays}`);
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(c.stanza))
        throw runError(`pgbackrest.conf: stanza ${JSON.stringify(c.stanza)} is not a DNS-1123 label`);
    return [
        "[global]",
        "repo1-type=s3",
        iniValue("repo1-s3-endpoint", e.host),
        iniValue("repo1-storage-port", e.port),
        iniValue("repo1-s3-bucket", c.s3.bucket),
        iniValue("repo1-s3-region", c.s3.region),
        iniValue("repo1-s3-uri-style", c.s3.uriStyle),
        ...(c.s3.verifyTls ? [] : ["repo1-storage-verify-tls=n"]),
        ...(c.s3.caFile ? [iniValue("repo1-storage-ca-file", c.s3.caFile)] : []),
        iniValue("repo1-path", `/${c.repoPath.replace(/^\/+/, "")}`),
        "# Time-based retention: full backups older than this go (once a newer one is that old), with their WAL.",
        "repo1-retention-full-type=time",
        iniValue("repo1-retention-full", c.retentionDays),
        "# Small files bundled into fewer objects: fewer requests, cheaper and faster on object storage.",
        "repo1-bundle=y",
        "compress-type=zst",
        iniValue("process-max", c.processMax ?? 2),
        "start-fast=y",
        "# How long check/backup wait for a WAL segment to reach the repository: room for a backlog after an outage.",
        "archive-timeout=600",
        "delta=y",
        "log-level-console=info",
        "log-level-stderr=off",
        "log-level-file=off",
        iniValue("lock-path", c.lockPath ?? "/tmp/pgbackrest"),
    ];
}

function pgOptions(c: PgbackrestCommon): string[] {
    return [
        iniValue("pg1-path", c.pgPath),
        iniValue("pg1-port", c.pgPort),
        iniValue("pg1-socket-path", c.pgSocketPath),
        iniValue("pg1-user", c.pgUser),
    ];
}

export function renderPgbackrestDbConf(c: PgbackrestDbSide): string {
    const t = c.tlsServer;
    if (!/^[A-Za-z0-9._-]+$/.test(t.clientCn))
        throw runError(`pgbackrest.conf: client CN ${JSON.stringify(t.clientCn)} has characters tls-server-auth cannot hold`);
    return [
        "# Rendered by nordstack (components/data/backup-render.ts): the database side.",
        ...globalSection(c),
        iniValue("tls-server-address", t.address ?? "*"),
        iniValue("tls-server-port", t.port),
        iniValue("tls-server-cert-file", t.certFile),
        iniValue("tls-server-key-file", t.keyFile),
        iniValue("tls-server-ca-file", t.caFile),
        "# Only the backup Job's client certificate, and only for this stanza.",
        iniValue("tls-server-auth", `${t.clientCn}=${c.stanza}`),
        "",
        `[${c.stanza}]`,
        ...pgOptions(c),
        "",
    ].join("\n");
}

export function renderPgbackrestRepoConf(c: PgbackrestRepoSide): string {
    return [
        "# Rendered by nordstack (components/data/backup-render.ts): the repository side (the backup Job).",
        ...globalSection(c),
        "",
        `[${c.stanza}]`,
        ...pgOptions(c),
        iniValue("pg1-host", c.pgHost),
        "pg1-host-type=tls",
        iniValue("pg1-host-port", c.pgHostPort),
        iniValue("pg1-host-cert-file", c.tlsClient.certFile),
        iniValue("pg1-host-key-file", c.tlsClient.keyFile),
        iniValue("pg1-host-ca-file", c.tlsClient.caFile),
        "",
    ].join("\n");
}

/** A word for sh: single-quoted unless it is plainly safe. */
export function shQuote(s: string): string {
    return /^[A-Za-z0-9_.,:/=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'"'"'`)}'`;
}

/** `archive_command`: pgBackRest pushes each finished WAL segment; a failure makes PostgreSQL keep and retry it. */
export function pgArchiveCommand(configPath: string, stanza: string): string {
    return `pgbackrest --config=${shQuote(configPath)} --stanza=${shQuote(stanza)} archive-push %p`;
}

/**
 * The backup Job: create the stanza (idempotent), check that WAL reaches the
 * repository (forces a segment switch and waits for it), take a full backup
 * (retention expires old ones after it), print what the repository holds.
 * `set -e`: any failing step fails the Job, which Kubernetes shows as Failed.
 */
export function renderPgBackupScript(configPath: string, stanza: string): string {
    const pgb = `pgbackrest --config=${shQuote(configPath)} --stanza=${shQuote(stanza)}`;
    return ["set -eu", `${pgb} stanza-create`, `${pgb} check`, `${pgb} --type=full backup`, `${pgb} --output=json info`, ""].join("\n");
}

/**
 * Point-in-time restore into `pgPath` (empty, or the old directory with
 * `delta=y` in the config): replay WAL up to `target` (a timestamp with time
 * zone, e.g. `2026-12-01 21:30:00+00`), then promote. Without `target`, replay
 * everything archived. Run as the database user, PostgreSQL stopped.
 */
export function pgRestoreArgs(o: { configPath: string; stanza: string; pgPath: string; target?: string }): string[] {
    if (o.target !== undefined && !/^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:?\d\d)?|Z| UTC)$/.test(o.target)) {
        throw runError(`restore target ${JSON.stringify(o.target)} is not a timestamp with a time zone like 2026-12-01 21:30:00+00`);
    }
    return [
        `--config=${o.configPath}`,
        `--stanza=${o.stanza}`,
        `--pg1-path=${o.pgPath}`,
        ...(o.target ? ["--type=time", `--target=${o.target}`, "--target-action=promote"] : []),
        "restore",
    ];
}

/** rclone's remote name in the environment (`RCLONE_CONFIG_<NAME>_*`). */
export const RCLONE_REMOTE = "backup";

/**
 * rclone's non-secret configuration as environment variables; add
 * `RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID` and `..._SECRET_ACCESS_KEY` from a Secret.
 */
export function rcloneEnv(s3: S3Target): Record<string, string> {
    endpointParts(s3.endpoint);
    const p = `RCLONE_CONFIG_${RCLONE_REMOTE.toUpperCase()}_`;
    return {
        [`${p}TYPE`]: "s3",
        [`${p}PROVIDER`]: "Other",
        [`${p}ENDPOINT`]: s3.endpoint,
        [`${p}REGION`]: s3.region,
        [`${p}FORCE_PATH_STYLE`]: s3.uriStyle === "path" ? "true" : "false",
        // The bucket exists (the operator creates it); checking would need a permission the key may not have.
        [`${p}NO_CHECK_BUCKET`]: "true",
        ...(s3.verifyTls ? {} : { RCLONE_NO_CHECK_CERTIFICATE: "true" }),
        ...(s3.caFile ? { RCLONE_CA_CERT: s3.caFile } : {}),
    };
}

/** Step 1 of a Redis backup (the Redis image): fetch a snapshot over the replication protocol and check it. */
export function renderRedisSnapshotScript(o: { host: string; port: number; file: string }): string {
    return [
        "set -eu",
        // REDISCLI_AUTH (from the Secret) authenticates; the password is in no argument.
        `redis-cli -h ${shQuote(o.host)} -p ${o.port} --rdb ${shQuote(o.file)}`,
        `redis-check-rdb ${shQuote(o.file)}`,
        "",
    ].join("\n");
}

/**
 * Step 2 (the rclone image): upload the snapshot under a UTC timestamp
 * (rclone compares checksums after the upload), then delete this datastore's
 * snapshots older than the retention: only after a successful upload, so the
 * newest is never deleted.
 */
export function renderRedisShipScript(o: { file: string; bucket: string; path: string; retentionDays: number }): string {
    if (!Number.isInteger(o.retentionDays) || o.retentionDays < 1)
        throw runError(`retentionDays must be at least 1, got ${o.retentionDays}`);
    const dir = shQuote(`${RCLONE_REMOTE}:${o.bucket}/${o.path}/`);
    return [
        "set -eu",
        'name="dump-$(date -u +%Y%m%dT%H%M%SZ).rdb"',
        `rclone copyto ${shQuote(o.file)} ${dir}"$name"`,
        `rclone delete --min-age ${o.retentionDays}d --include 'dump-*.rdb' ${dir}`,
        `echo "shipped $name to ${o.bucket}/${o.path}/"`,
        `rclone lsl --include 'dump-*.rdb' ${dir}`,
        "",
    ].join("\n");
}

/** Restore step 1: download this datastore's newest snapshot (or a named one) to `file`. */
export function renderRedisFetchScript(o: { file: string; bucket: string; path: string; object?: string }): string {
    const dir = shQuote(`${RCLONE_REMOTE}:${o.bucket}/${o.path}/`);
    return [
        "set -eu",
        o.object ? `name=${shQuote(o.object)}` : `name=$(rclone lsf --include 'dump-*.rdb' ${dir} | sort | tail -n 1)`,
        '[ -n "$name" ] || { echo "no snapshot under the prefix" >&2; exit 1; }',
        `rclone copyto ${dir}"$name" ${shQuote(o.file)}`,
        `echo "fetched $name"`,
        "",
    ].join("\n");
}
