// A stand-in service for the gateway tests, run as its own process (fork with
// IPC) so a test can kill it with SIGKILL like a crashed pod. It listens on
// 127.0.0.1, counts TCP connections with the `connection` event, echoes the
// headers it received, and answers the parent's IPC questions.
//   UPSTREAM_ID    name echoed in every answer
//   UPSTREAM_MODE  ok (200), fail (500) or close (drops the connection without an
//                  answer, like a crash mid-request); changeable at run time over IPC
//   paths under /slow/ answer after 300 ms (long enough for 100 requests to pile up)
//   paths under /big/ answer 32 MiB of "x" (more than the socket buffers on the way hold),
//   counted in `finished` once all of it is written; with ?buffer=yes the answer carries
//   X-Accel-Buffering: yes (a service asking the gateway to buffer it)
import * as http from "node:http";

export interface UpstreamStats {
    id: string;
    connections: number;
    requests: number;
    byPath: Record<string, number>;
    /** Requests by `METHOD url`, counted when the request (body included) has arrived. */
    byRequest: Record<string, number>;
    /** Answers by url, counted when the whole answer has been handed to the kernel. */
    finished: Record<string, number>;
}

export type UpstreamMode = "ok" | "fail" | "close";
export type UpstreamCommand = { cmd: "stats" } | { cmd: "mode"; mode: UpstreamMode };

const id = process.env.UPSTREAM_ID ?? "upstream";
const MODES: readonly string[] = ["ok", "fail", "close"];
let mode = (MODES.includes(process.env.UPSTREAM_MODE ?? "") ? process.env.UPSTREAM_MODE : "ok") as UpstreamMode;
const stats: UpstreamStats = { id, connections: 0, requests: 0, byPath: {}, byRequest: {}, finished: {} };
const BIG_BYTES = 32 * 1024 * 1024;

const server = http.createServer((req, res) => {
    stats.requests++;
    const url = req.url ?? "/";
    stats.byPath[url] = (stats.byPath[url] ?? 0) + 1;
    const key = `${req.method ?? "?"} ${url}`;
    req.resume();
    req.on("end", () => {
        stats.byRequest[key] = (stats.byRequest[key] ?? 0) + 1;
        if (mode === "close") req.socket.destroy();
    });
    if (mode === "close") return;
    const answer = () => {
        res.statusCode = mode === "fail" ? 500 : 200;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ upstream: id, url, headers: req.headers }));
    };
    res.on("finish", () => (stats.finished[url] = (stats.finished[url] ?? 0) + 1));
    if (url.includes("/big/")) {
        res.writeHead(200, {
            "content-type": "text/plain",
            "content-length": BIG_BYTES,
            ...(url.endsWith("?buffer=yes") ? { "x-accel-buffering": "yes" } : {}),
        });
        res.end(Buffer.alloc(BIG_BYTES, "x"));
    } else if (url.includes("/slow/")) setTimeout(answer, 300);
    else answer();
});
server.on("connection", () => stats.connections++);

process.on("message", (m: UpstreamCommand) => {
    if (m.cmd === "mode") mode = m.mode;
    process.send?.({
        stats: { ...stats, byPath: { ...stats.byPath }, byRequest: { ...stats.byRequest }, finished: { ...stats.finished } },
    });
});
// The parent going away (a crashed test run) must not leave this process behind.
process.on("disconnect", () => process.exit(0));

server.listen(0, "127.0.0.1", () => {
    const addr = server.address();
    process.send?.({ port: typeof addr === "object" && addr ? addr.port : 0 });
});
