import { runError } from "../errors";
// Renders one service's PostgreSQL configuration: postgresql.conf and
// pg_hba.conf. Pure, tested by starting Debian's PostgreSQL on them.
// No secret ever passes through here: the password reaches the server from a
// Kubernetes Secret (POSTGRES_PASSWORD at first start), never from a file we render.

export interface PostgresConfInput {
    /** Default 5432. */
    port?: number;
    /** Default `*`: the NetworkPolicy, not the bind address, limits who connects. */
    listenAddresses?: string;
    /** Default 100. */
    maxConnections?: number;
    /** MiB. Default 128 (a quarter of the default 512Mi memory limit). */
    sharedBuffersMb?: number;
    /** MiB the planner may assume the OS caches. Default 384. */
    effectiveCacheSizeMb?: number;
    /** MiB per sort/hash operation. Default 4. */
    workMemMb?: number;
    /** Milliseconds; statements slower than this are logged. Default 500; 0 disables. */
    slowQueryMs?: number;
    /** Seconds a session may sit idle inside a transaction (it holds locks) before it is ended. Default 60. */
    idleInTransactionTimeoutSeconds?: number;
    /** Where the rendered pg_hba.conf is mounted. Default `/etc/postgresql/pg_hba.conf`. */
    hbaFile?: string;
    /** Default `/var/run/postgresql` (the official image's). */
    unixSocketDirectories?: string;
    /** Continuous WAL archiving (backups): the command and the most seconds a segment may wait while idle. Default off. */
    archive?: { command: string; timeoutSeconds: number };
}

export const POSTGRES_CONF_DEFAULTS = {
    port: 5432,
    listenAddresses: "*",
    maxConnections: 100,
    sharedBuffersMb: 128,
    effectiveCacheSizeMb: 384,
    workMemMb: 4,
    slowQueryMs: 500,
    idleInTransactionTimeoutSeconds: 60,
    hbaFile: "/etc/postgresql/pg_hba.conf",
    unixSocketDirectories: "/var/run/postgresql",
} as const;

/** A service name as a PostgreSQL role/database name: `-` would need quoting everywhere (and in URLs). */
export function pgIdentifier(name: string): string {
    return name.replace(/-/g, "_");
}

/** A value in postgresql.conf: single-quoted, quotes doubled. */
export function pgQuote(value: string): string {
    if (/[\n\r\0]/.test(value)) throw runError(`postgresql.conf value ${JSON.stringify(value)} contains a line break or NUL`);
    return `'${value.replace(/'/g, "''")}'`;
}

export function renderPostgresConf(input: PostgresConfInput = {}): string {
    const c = {
        ...POSTGRES_CONF_DEFAULTS,
        ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
    } as Required<PostgresConfInput>;
    const ints: [string, number, number, number][] = [
        ["port", c.port, 1, 65535],
        ["maxConnections", c.maxConnections, 1, 10000],
        ["sharedBuffersMb", c.sharedBuffersMb, 1, 1048576],
        ["effectiveCacheSizeMb", c.effectiveCacheSizeMb, 1, 1048576],
        ["workMemMb", c.workMemMb, 1, 1048576],
        ["slowQueryMs", c.slowQueryMs, 0, 3600000],
        ["idleInTransactionTimeoutSeconds", c.idleInTransactionTimeoutSeconds, 0, 86400],
    ];
    if (input.archive) ints.push(["archive.timeoutSeconds", input.archive.timeoutSeconds, 1, 300]);
    const bad = ints.filter(([, v, min, max]) => !Number.isInteger(v) || v < min || v > max);
    if (bad.length > 0)
        throw runError(`postgresql.conf: ${bad.map(([k, v, min, max]) => `${k} must be ${min}-${max}, got ${v}`).join("; ")}`);
    return [
        "# Rendered by nordstack (components/data/postgres-conf.ts). One instance per service: no shared data.",
        `listen_addresses = ${pgQuote(c.listenAddresses)}`,
        `port = ${c.port}`,
        `max_connections = ${c.maxConnections}`,
        `unix_socket_directories = ${pgQuote(c.unixSocketDirectories)}`,
        `hba_file = ${pgQuote(c.hbaFile)}`,
        "# Only salted challenge-response passwords, never md5 or plain text.",
        "password_encryption = 'scram-sha-256'",
        "# Encryption in transit is the mesh's job (Linkerd mTLS between the service and its datastore).",
        "ssl = off",
        `shared_buffers = ${c.sharedBuffersMb}MB`,
        `effective_cache_size = ${c.effectiveCacheSizeMb}MB`,
        `work_mem = ${c.workMemMb}MB`,
        "# Find half-open connections from crashed pods within about two minutes, not the kernel's two hours.",
        "tcp_keepalives_idle = 60",
        "tcp_keepalives_interval = 10",
        "tcp_keepalives_count = 6",
        `idle_in_transaction_session_timeout = ${c.idleInTransactionTimeoutSeconds * 1000}`,
        `log_min_duration_statement = ${c.slowQueryMs === 0 ? -1 : c.slowQueryMs}`,
        "log_connections = on",
        "log_disconnections = off",
        "log_destination = 'stderr'",
        "logging_collector = off",
        ...(input.archive
            ? [
                  "# Every finished WAL segment goes to object storage; an idle server still switches segments",
                  "# after archive_timeout, so at most that much committed work is lost with the node's disk.",
                  "wal_level = replica",
                  "archive_mode = on",
                  `archive_command = ${pgQuote(input.archive.command)}`,
                  `archive_timeout = ${input.archive.timeoutSeconds}`,
              ]
            : []),
        "",
    ].join("\n");
}

/**
 * pg_hba.conf: every connection proves the password (scram-sha-256), the
 * local socket included; over the network only the service's own user and
 * database are accepted.
 */
export function renderPgHba(database: string, user: string): string {
    for (const [k, v] of [
        ["database", database],
        ["user", user],
    ]) {
        if (!/^[a-z_][a-z0-9_]{0,62}$/.test(v))
            throw runError(`pg_hba.conf: ${k} ${JSON.stringify(v)} is not a plain PostgreSQL identifier`);
    }
    return [
        "# Rendered by nordstack (components/data/postgres-conf.ts).",
        "# TYPE  DATABASE  USER  ADDRESS  METHOD",
        "local   all       all            scram-sha-256",
        `host    ${database}  ${user}  0.0.0.0/0  scram-sha-256`,
        `host    ${database}  ${user}  ::/0       scram-sha-256`,
        "",
    ].join("\n");
}
