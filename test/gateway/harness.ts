// Runs the rendered gateway for real: nginx on 127.0.0.1 in a temporary
// prefix, in front of upstream processes (upstream.ts), and a small HTTP load
// client. Everything is bounded in time and stays on loopback. nginx runs as
// in its pod (test/helpers/pod-like.ts): the image's nginx user 101:101, no
// capabilities, read-only root and config, only its two emptyDirs writable.
import { ChildProcess, fork, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { NginxConfInput } from "../../components/gateway/nginx-conf";
import type { UpstreamCommand, UpstreamMode, UpstreamStats } from "./upstream";
import { NGINX_RUN_AS } from "../../components/services/security";
import { configFile, podCommand, PodUser, secretFile, writableDirs } from "../helpers/pod-like";

/** The gateway pod's user (components/gateway/nginx.ts). */
export const NGINX_POD: PodUser = { uid: NGINX_RUN_AS.runAsUser, gid: NGINX_RUN_AS.runAsGroup };

export const HOST = "api.nordstack.test";
export const NGINX = "nginx";

/** A port free right now on 127.0.0.1 (the kernel picks it). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const addr = s.address();
            s.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
        });
    });
}

/**
 * A temporary nginx prefix: itself read-only to nginx; `temp` and `run` stand for
 * the pod's emptyDirs (/var/cache/nginx and /tmp), owned by the pod's user.
 */
export function makePrefix(tag: string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), `nordstack-${tag}-`));
    chmodSync(dir, 0o755);
    writableDirs(NGINX_POD, path.join(dir, "temp"), path.join(dir, "run"));
    return dir;
}

export function removePrefix(dir: string | undefined): void {
    if (dir) rmSync(dir, { recursive: true, force: true });
}

/** Renderer inputs of the pod (no `user`, pid file on the tmp emptyDir), with every path inside `dir` and loopback listeners. */
export function loopbackPaths(dir: string, port: number): Partial<NginxConfInput> {
    return {
        listenHttp: `127.0.0.1:${port}`,
        user: "",
        pidPath: path.join(dir, "run", "nginx.pid"),
        errorLog: path.join(dir, "run", "error.log"),
        accessLog: "off",
        tempDir: path.join(dir, "temp"),
        cacheDir: path.join(dir, "temp", "microcache"),
    };
}

/** The machine's hard open-files limit: nginx (even as root in this container) cannot raise above it. */
export function hardNofile(): number {
    const line = readFileSync("/proc/self/limits", "utf8")
        .split("\n")
        .find((l) => l.startsWith("Max open files"));
    const hard = line?.trim().split(/\s+/)[4];
    return hard === "unlimited" || hard === undefined ? 1048576 : Number(hard);
}

/** `nginx -t` on a config text; `wrap` runs it through another command (e.g. unshare). */
export function nginxTest(dir: string, conf: string, wrap: string[] = []): { ok: boolean; output: string } {
    const file = path.join(dir, "nginx.conf");
    writeFileSync(file, conf);
    const cmd = [...wrap, NGINX, "-t", "-p", dir, "-c", file];
    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: "utf8", timeout: 20_000 });
    return { ok: r.status === 0, output: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

export interface RunningNginx {
    pid: number;
    port: number;
    dir: string;
    stop(): Promise<void>;
    errorLog(): string;
    /** What nginx wrote to its stdout so far (the pod's log stream; the access log with `accessLog: "/dev/stdout"`). */
    stdout(): string;
}

/**
 * Starts nginx in the foreground (`daemon off` is in the rendered conf) as in its pod
 * (same command line: `-e stderr`), and waits for /healthz. The conf is root's, 0444;
 * certificate files it names get the Secret volume's root:fsGroup 0440.
 */
export async function startNginx(dir: string, conf: string, port: number): Promise<RunningNginx> {
    const file = configFile(path.join(dir, "conf", "nginx.conf"), conf);
    for (const m of conf.matchAll(/^\s*ssl_certificate(?:_key)? (\S+);$/gm)) secretFile(m[1], NGINX_POD);
    const [cmd, cmdArgs] = podCommand([NGINX, "-e", "stderr", "-p", dir, "-c", file], NGINX_POD, [
        path.join(dir, "temp"),
        path.join(dir, "run"),
    ]);
    // stdout is a FIFO, as the container runtime gives a pod (Node's own "pipe" is a socket, which nginx cannot open as /dev/stdout).
    const fifo = path.join(dir, "run", "stdout.fifo");
    const made = spawnSync("mkfifo", ["-m", "0666", fifo], { encoding: "utf8" });
    if (made.status !== 0) throw new Error(`mkfifo ${fifo}: ${made.stderr}`);
    const reader = new net.Socket({ fd: openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
    const writeEnd = openSync(fifo, constants.O_WRONLY);
    let stdout = "";
    reader.on("data", (d: Buffer) => (stdout += d.toString()));
    const drained = once(reader, "end"); // every writer (master and workers) has closed it
    // Own process group: stopping it can never leave a worker behind. The exec chain keeps the pid: it is nginx's master.
    const child = spawn(cmd, cmdArgs, { detached: true, stdio: ["ignore", writeEnd, "pipe"] });
    closeSync(writeEnd);
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = Promise.all([new Promise<void>((resolve) => child.once("exit", () => resolve())), drained]);
    const errorLog = () => {
        try {
            return readFileSync(path.join(dir, "run", "error.log"), "utf8") + stderr;
        } catch {
            return stderr;
        }
    };
    const stop = async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        process.kill(child.pid ?? 0, "SIGTERM");
        const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
        if (!done) process.kill(-(child.pid ?? 0), "SIGKILL");
        await exited;
    };
    const deadline = Date.now() + 10_000;
    for (;;) {
        if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${errorLog()}`);
        const r = await request({ port, path: "/healthz", timeoutMs: 500 }).catch(() => undefined);
        if (r?.status === 200) break;
        if (Date.now() > deadline) {
            await stop();
            throw new Error(`nginx did not answer /healthz within 10 s: ${errorLog()}`);
        }
        await sleep(50);
    }
    return { pid: child.pid ?? 0, port, dir, stop, errorLog, stdout: () => stdout };
}

export interface Upstream {
    id: string;
    port: number;
    address: string;
    stats(): Promise<UpstreamStats>;
    setMode(mode: UpstreamMode): Promise<UpstreamStats>;
    /** SIGKILL, like a crashed pod; resolves once the process is gone. */
    kill(): Promise<void>;
}

/** Forks upstream.ts and waits until it listens. */
export async function startUpstream(id: string, mode: UpstreamMode = "ok"): Promise<Upstream> {
    const child: ChildProcess = fork(path.join(__dirname, "upstream.ts"), [], {
        execArgv: ["--import", "tsx"],
        env: { ...process.env, UPSTREAM_ID: id, UPSTREAM_MODE: mode },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const port = await withTimeout(
        new Promise<number>((resolve) => child.once("message", (m: { port: number }) => resolve(m.port))),
        15_000,
        `upstream ${id} did not start`,
    );
    const ask = (m: UpstreamCommand) =>
        withTimeout(
            new Promise<UpstreamStats>((resolve) => {
                child.once("message", (r: { stats: UpstreamStats }) => resolve(r.stats));
                child.send(m);
            }),
            5000,
            `upstream ${id} did not answer`,
        );
    return {
        id,
        port,
        address: `127.0.0.1:${port}`,
        stats: () => ask({ cmd: "stats" }),
        setMode: (m) => ask({ cmd: "mode", mode: m }),
        kill: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
            await exited;
        },
    };
}

export interface Reply {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
    /** The upstream that answered, from its echo (undefined for nginx's own pages). */
    upstream?: string;
    /** Headers the upstream received, from its echo. */
    seen?: Record<string, string>;
}

export interface RequestOptions {
    port: number;
    path: string;
    /** Default GET. */
    method?: string;
    /** Request body (sent with its Content-Length). */
    body?: string;
    host?: string;
    headers?: Record<string, string>;
    /** Source address on loopback (127.0.0.0/8), to look like a different client. */
    localAddress?: string;
    agent?: http.Agent;
    timeoutMs?: number;
}

/** One request (GET unless told) to 127.0.0.1. */
export function request(o: RequestOptions): Promise<Reply> {
    return new Promise((resolve, reject) => {
        const bodyHeaders = o.body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(o.body) };
        const req = http.request(
            {
                host: "127.0.0.1",
                port: o.port,
                path: o.path,
                method: o.method ?? "GET",
                headers: { host: o.host ?? HOST, ...bodyHeaders, ...o.headers },
                localAddress: o.localAddress,
                agent: o.agent ?? false,
                timeout: o.timeoutMs ?? 10_000,
            },
            (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (d: string) => (body += d));
                res.on("end", () => {
                    const reply: Reply = { status: res.statusCode ?? 0, headers: res.headers, body };
                    if (String(res.headers["content-type"]).startsWith("application/json")) {
                        const echo = JSON.parse(body) as { upstream: string; headers: Record<string, string> };
                        reply.upstream = echo.upstream;
                        reply.seen = echo.headers;
                    }
                    resolve(reply);
                });
                res.on("error", reject);
            },
        );
        req.on("timeout", () => req.destroy(new Error(`${o.method ?? "GET"} ${o.path} timed out`)));
        req.on("error", reject);
        req.end(o.body);
    });
}

export interface LoadResult {
    statuses: Record<number, number>;
    errors: string[];
    /** Answering upstream of each completed request, in completion order. */
    served: (string | undefined)[];
    ms: number;
}

/**
 * `total` GETs from `concurrency` keep-alive client connections.
 * `onProgress(done)` runs after each completion (e.g. to kill an upstream half-way).
 */
export async function load(
    o: RequestOptions & { total: number; concurrency: number; onProgress?: (done: number) => void },
): Promise<LoadResult> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
    const result: LoadResult = { statuses: {}, errors: [], served: [], ms: 0 };
    const start = Date.now();
    let next = 0;
    const worker = async () => {
        while (next < o.total) {
            next++;
            try {
                const r = await request({ ...o, agent });
                result.statuses[r.status] = (result.statuses[r.status] ?? 0) + 1;
                result.served.push(r.upstream);
            } catch (e) {
                result.errors.push(String(e));
            }
            o.onProgress?.(result.served.length + result.errors.length);
        }
    };
    await Promise.all(Array.from({ length: o.concurrency }, worker));
    agent.destroy();
    result.ms = Date.now() - start;
    return result;
}

export function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)));
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
