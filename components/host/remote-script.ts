// Turns a node script (a file under scripts/node/) into the one command line
// that runs it over SSH. Pure: same inputs, same command, so the preview diff
// shows exactly what will run on the host when a script or a value changes.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";

/** Root of scripts/node/, resolved from this file so it works from any working directory. */
export const NODE_SCRIPTS_DIR = path.resolve(__dirname, "..", "..", "scripts", "node");

/** Reads a script shipped in scripts/node/. */
export function loadNodeScript(file: string): string {
    return readFileSync(path.join(NODE_SCRIPTS_DIR, file), "utf8");
}

/** POSIX single-quote quoting: safe for any byte string except NUL. */
export function shellQuote(value: string): string {
    if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
    return `'${value.replace(/'/g, `'"'"'`)}'`;
}

export interface ScriptCommandArgs {
    /** Full text of the script. */
    script: string;
    /** Positional arguments (e.g. `apply`). */
    args?: string[];
    /** Environment for the script. Never put secrets here: they would show in `ps` and in state. */
    env?: Record<string, string>;
    /** SSH login user; anyone but root runs the script through `sudo -n`. */
    user: string;
    /** Upper bound in seconds; a hung step (e.g. an MTU black hole) is killed instead of hanging `pulumi up`. */
    timeoutSeconds?: number;
    /**
     * The script reads a secret from the SSH session's stdin (remote.Command `stdin`).
     * The script then travels as `bash -c` text instead of a here-document, so stdin
     * stays free for the secret, also through sudo (which closes other descriptors).
     */
    secretOnStdin?: boolean;
}

/**
 * Renders `[sudo -n] [timeout] env K=V ... bash -s -- ARGS <<'EOF' script EOF`.
 * The script travels inside the command (a quoted here-document), so the same
 * string works for create, update and delete without any file left on the host.
 */
export function renderScriptCommand(a: ScriptCommandArgs): string {
    if (/\0/.test(a.script)) throw new Error("node scripts must not contain NUL bytes");
    const marker = `NORDSTACK_SCRIPT_${createHash("sha256").update(a.script).digest("hex").slice(0, 12)}`;
    if (a.script.split("\n").includes(marker)) throw new Error(`script contains its own end marker ${marker}`);
    const env = Object.entries(a.env ?? {}).map(([k, v]) => {
        if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`invalid environment variable name ${JSON.stringify(k)}`);
        return `${k}=${shellQuote(v)}`;
    });
    const prefix = [
        ...(a.user === "root" ? [] : ["sudo", "-n"]),
        ...(a.timeoutSeconds ? ["timeout", "-k", "10", String(a.timeoutSeconds)] : []),
        "env",
        ...env,
    ];
    const args = (a.args ?? []).map(shellQuote);
    if (a.secretOnStdin) {
        return [...prefix, "NORDSTACK_SECRET_FD=0", "bash", "-c", shellQuote(a.script), "nordstack-node-script", ...args].join(" ");
    }
    const body = a.script.endsWith("\n") ? a.script : `${a.script}\n`;
    return `${[...prefix, "bash", "-s", "--", ...args].join(" ")} <<'${marker}'\n${body}${marker}\n`;
}

/** Short content hash, used as a trigger so a changed script re-runs its step. */
export function contentHash(...parts: string[]): string {
    const h = createHash("sha256");
    for (const p of parts) h.update(p).update("\0");
    return h.digest("hex").slice(0, 16);
}

/**
 * Node scripts print human output on stderr and one JSON object as the last
 * stdout line. Parses that line; `what` (e.g. "preflight on osl-1") names the
 * step in the error.
 */
export function parseLastJsonLine(what: string, stdout: string): unknown {
    const line = stdout.trim().split("\n").pop() ?? "";
    try {
        return JSON.parse(line);
    } catch {
        throw new Error(`${what} printed no result JSON (got ${JSON.stringify(stdout.slice(0, 200))})`);
    }
}
