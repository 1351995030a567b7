// Turns a node script (a file under scripts/node/) into the one command line
// that runs it over SSH. Pure: same inputs, same command, so the preview diff
// shows exactly what will run on the host when a script or a value changes.
import { runError } from "../errors";
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

export interface NodeStepArgs {
    /** Full text of the script (a file under scripts/). */
    script: string;
    /** Positional arguments (e.g. `apply`). */
    args?: string[];
    /** Environment for the script. Never put secrets here: they would show in `ps` and in state. */
    env?: Record<string, string>;
    /** SSH login user; anyone but root runs the script through `sudo -n`. */
    user: string;
    /** Upper bound in seconds; a hung step (e.g. an MTU black hole) is killed instead of hanging `pulumi up`. */
    timeoutSeconds?: number;
}

/** What a remote.Command sends: a short command line, and the script itself on stdin. */
export interface NodeStep {
    /** `[sudo -n] [timeout -k 10 N] env K=V ... bash -s -- ARGS`: short, so a failure message stays readable. */
    command: string;
    /** The script text, read by `bash -s`; shown in the preview diff like any input. */
    stdin: string;
}

/**
 * Renders one step of a node script. The script travels on the SSH session's
 * stdin (`bash -s`), never as a file left on the host and never inside the
 * command line: the provider quotes the whole command line in its error
 * messages, and an 8 kB one-line script would bury the script's own error.
 * Secrets never travel here: they are written by a `SecretFile` step first.
 */
export function renderNodeStep(a: NodeStepArgs): NodeStep {
    if (/\0/.test(a.script)) throw runError("node scripts must not contain NUL bytes");
    const env = Object.entries(a.env ?? {}).map(([k, v]) => {
        if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw runError(`invalid environment variable name ${JSON.stringify(k)}`);
        return `${k}=${shellQuote(v)}`;
    });
    const command = [
        ...(a.user === "root" ? [] : ["sudo", "-n"]),
        ...(a.timeoutSeconds ? ["timeout", "-k", "10", String(a.timeoutSeconds)] : []),
        "env",
        ...env,
        "bash",
        "-s",
        "--",
        ...(a.args ?? []).map(shellQuote),
    ].join(" ");
    return { command, stdin: a.script.endsWith("\n") ? a.script : `${a.script}\n` };
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
        throw runError(`${what} printed no result JSON (got ${JSON.stringify(stdout.slice(0, 200))})`);
    }
}
