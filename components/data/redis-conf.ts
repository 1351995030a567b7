import { runError } from "../errors";
// Renders one service's Redis configuration. Pure, tested by starting
// Debian's redis-server on it.
//
// The password never enters redis.conf: that file goes into a ConfigMap
// (visible to anyone who can read the namespace, and in the preview diff).
// It `include`s a second file, rendered by `renderRedisAuthConf`, that holds
// only `requirepass` and lives in a Kubernetes Secret.

export interface RedisConfInput {
    /** Default `0.0.0.0`: the NetworkPolicy, not the bind address, limits who connects. */
    bind?: string;
    /** Default 6379. */
    port?: number;
    /** Data directory (the persistent volume). Default `/data`. */
    dir?: string;
    /** MiB of data before `maxMemoryPolicy` applies; keep it below the container's memory limit. Default 192. */
    maxMemoryMb?: number;
    /** Default `noeviction`: a datastore refuses writes when full rather than dropping data silently. */
    maxMemoryPolicy?: "noeviction" | "allkeys-lru" | "volatile-lru" | "allkeys-lfu" | "volatile-lfu" | "volatile-ttl";
    /** Append-only file, fsync every second: at most one second of writes lost on a crash. Default true. */
    appendOnly?: boolean;
    /** Path of the Secret-mounted file with `requirepass`. Default `/etc/redis/auth/auth.conf`. */
    authFile?: string;
}

export const REDIS_CONF_DEFAULTS = {
    bind: "0.0.0.0",
    port: 6379,
    dir: "/data",
    maxMemoryMb: 192,
    maxMemoryPolicy: "noeviction",
    appendOnly: true,
    authFile: "/etc/redis/auth/auth.conf",
} as const;

/** A redis.conf argument in double quotes; backslash, quote and control characters escaped (redis' sdssplitargs rules). */
export function redisQuote(value: string): string {
    let out = "";
    for (const ch of value) {
        const code = ch.codePointAt(0) ?? 0;
        if (ch === "\\" || ch === '"') out += `\\${ch}`;
        else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
        else out += ch;
    }
    return `"${out}"`;
}

export function renderRedisConf(input: RedisConfInput = {}): string {
    const c = {
        ...REDIS_CONF_DEFAULTS,
        ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
    } as Required<RedisConfInput>;
    const problems: string[] = [];
    if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535) problems.push(`port must be 1-65535, got ${c.port}`);
    if (!Number.isInteger(c.maxMemoryMb) || c.maxMemoryMb < 1)
        problems.push(`maxMemoryMb must be a positive integer, got ${c.maxMemoryMb}`);
    if (!/^[0-9a-fA-F.:*-]+$/.test(c.bind)) problems.push(`bind ${JSON.stringify(c.bind)} is not an address`);
    if (problems.length > 0) throw runError(`redis.conf: ${problems.join("; ")}`);
    return [
        "# Rendered by nordstack (components/data/redis-conf.ts). One instance per service: no shared data.",
        `bind ${c.bind}`,
        `port ${c.port}`,
        "protected-mode yes",
        "daemonize no",
        'logfile ""',
        "loglevel notice",
        "# Find half-open connections from crashed pods; never close idle clients (they pool connections).",
        "tcp-keepalive 60",
        "timeout 0",
        `dir ${redisQuote(c.dir)}`,
        `maxmemory ${c.maxMemoryMb}mb`,
        `maxmemory-policy ${c.maxMemoryPolicy}`,
        `appendonly ${c.appendOnly ? "yes" : "no"}`,
        "appendfsync everysec",
        "# RDB snapshots too: the backup ships one (redis-cli --rdb), and a restore starts from one.",
        "save 3600 1 300 100 60 10000",
        'dbfilename "dump.rdb"',
        "# requirepass comes from a Secret-mounted file; included last so nothing above can override it.",
        `include ${redisQuote(c.authFile)}`,
        "",
    ].join("\n");
}

/** The Secret-held part of the configuration: only the password. */
export function renderRedisAuthConf(password: string): string {
    if (password.length < 16) throw runError("redis requirepass: the password must be at least 16 characters");
    return `requirepass ${redisQuote(password)}\n`;
}
