// A minimal RESP client for the Redis tests: one connection, pipelined commands.
import * as net from "node:net";

export type Reply = string | null | Reply[];

/** Sends RESP commands on one connection and returns one reply per command (+OK -> "OK", -ERR -> "-ERR ..."). */
export function redis(port: number, commands: string[][]): Promise<Reply[]> {
    return new Promise((resolve, reject) => {
        const sock = net.connect(port, "127.0.0.1");
        let buf = Buffer.alloc(0);
        const replies: Reply[] = [];
        sock.setTimeout(5000, () => sock.destroy(new Error("redis did not answer within 5 s")));
        sock.on("error", reject);
        sock.on("data", (d: Buffer) => {
            buf = Buffer.concat([buf, d]);
            for (;;) {
                const parsed = parse(buf, 0);
                if (!parsed) break;
                replies.push(parsed.value);
                buf = buf.subarray(parsed.end);
            }
            if (replies.length === commands.length) {
                sock.end();
                resolve(replies);
            }
        });
        for (const c of commands) {
            sock.write(`*${c.length}\r\n`);
            for (const arg of c) sock.write(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
        }
    });
}

function parse(b: Buffer, at: number): { value: Reply; end: number } | undefined {
    const eol = b.indexOf("\r\n", at);
    if (eol < 0) return undefined;
    const line = b.toString("utf8", at + 1, eol);
    switch (String.fromCharCode(b[at])) {
        case "+":
        case ":":
            return { value: line, end: eol + 2 };
        case "-":
            return { value: `-${line}`, end: eol + 2 };
        case "$": {
            const n = Number(line);
            if (n < 0) return { value: null, end: eol + 2 };
            if (b.length < eol + 2 + n + 2) return undefined;
            return { value: b.toString("utf8", eol + 2, eol + 2 + n), end: eol + 2 + n + 2 };
        }
        case "*": {
            const items: Reply[] = [];
            let end = eol + 2;
            for (let i = 0; i < Number(line); i++) {
                const item = parse(b, end);
                if (!item) return undefined;
                items.push(item.value);
                end = item.end;
            }
            return { value: items, end };
        }
        default:
            throw new Error(`unexpected RESP reply ${JSON.stringify(b.toString("utf8", at))}`);
    }
}
