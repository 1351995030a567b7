// Small, dependency-free helpers for reading untyped config into typed values
// while collecting every problem instead of stopping at the first one.
import { isIP } from "node:net";

/** One thing wrong with the stack config: where, and how to fix it. */
export interface ConfigProblem {
    /** Key path as the user writes it, e.g. `nodes[1].host`. */
    path: string;
    message: string;
}

/** Thrown by `parsePlatformConfig`; lists every problem found, not just the first. */
export class ConfigError extends Error {
    constructor(public readonly problems: ConfigProblem[]) {
        super(
            `nordstack: the stack configuration has ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n` +
                problems.map((p) => `  - ${p.path}: ${p.message}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}

export class Problems {
    readonly list: ConfigProblem[] = [];
    add(path: string, message: string): void {
        this.list.push({ path, message });
    }
}

export type Obj = Record<string, unknown>;

export function isObject(v: unknown): v is Obj {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reports keys the schema does not know, so a typo is not silently ignored. */
export function checkKnownKeys(obj: Obj, known: readonly string[], path: string, p: Problems): void {
    for (const key of Object.keys(obj)) {
        if (!known.includes(key)) {
            const near = known.find((k) => k.toLowerCase() === key.toLowerCase() || editDistance(k, key) <= 2);
            p.add(join(path, key), `unknown key${near ? `; did you mean "${near}"?` : ""} (known keys: ${known.join(", ")})`);
        }
    }
}

export function join(path: string, key: string | number): string {
    if (typeof key === "number") return `${path}[${key}]`;
    return path ? `${path}.${key}` : key;
}

export function readString(
    obj: Obj,
    key: string,
    path: string,
    p: Problems,
    opts: { default?: string; required?: boolean; fix?: string } = {},
): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null || v === "") {
        if (opts.required) p.add(join(path, key), `is required; ${opts.fix ?? "set it"}`);
        return opts.default;
    }
    if (typeof v !== "string") {
        p.add(join(path, key), `must be a string, got ${describe(v)}`);
        return opts.default;
    }
    return v;
}

/** Integers may arrive as strings from `pulumi config set` without `--path`. With a default, always a number. */
export function readInt(
    obj: Obj,
    key: string,
    path: string,
    p: Problems,
    range: { min: number; max: number; default: number; fix: string },
): number;
export function readInt(
    obj: Obj,
    key: string,
    path: string,
    p: Problems,
    range: { min: number; max: number; default?: number; fix: string },
): number | undefined;
export function readInt(
    obj: Obj,
    key: string,
    path: string,
    p: Problems,
    range: { min: number; max: number; default?: number; fix: string },
): number | undefined {
    const v = obj[key];
    if (v === undefined || v === null || v === "") return range.default;
    const n = typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n)) {
        p.add(join(path, key), `must be an integer, got ${describe(v)}; ${range.fix}`);
        return range.default;
    }
    if (n < range.min || n > range.max) {
        p.add(join(path, key), `${n} is outside ${range.min}–${range.max}; ${range.fix}`);
        return range.default;
    }
    return n;
}

export function readBool(obj: Obj, key: string, path: string, p: Problems, dflt: boolean): boolean {
    const v = obj[key];
    if (v === undefined || v === null || v === "") return dflt;
    if (v === true || v === "true") return true;
    if (v === false || v === "false") return false;
    p.add(join(path, key), `must be true or false, got ${describe(v)}`);
    return dflt;
}

export function readStringList(obj: Obj, key: string, path: string, p: Problems, dflt: string[]): string[] {
    const v = obj[key];
    if (v === undefined || v === null) return dflt;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
        p.add(join(path, key), `must be a list of strings, got ${describe(v)}`);
        return dflt;
    }
    return v as string[];
}

export function readStringMap(obj: Obj, key: string, path: string, p: Problems): Record<string, string> {
    const v = obj[key];
    if (v === undefined || v === null) return {};
    if (!isObject(v)) {
        p.add(join(path, key), `must be a map of strings, got ${describe(v)}`);
        return {};
    }
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
        if (typeof val === "string" || typeof val === "number" || typeof val === "boolean") out[k] = String(val);
        else p.add(join(join(path, key), k), `must be a string, got ${describe(val)}`);
    }
    return out;
}

export function describe(v: unknown): string {
    if (v === null) return "null";
    if (Array.isArray(v)) return "a list";
    if (typeof v === "object") return "a map";
    return `${typeof v} ${JSON.stringify(v)}`;
}

/** RFC 1123 hostname (each label 1–63 chars, total ≤ 253, last label not all digits). */
export function isHostname(s: string): boolean {
    if (s.length === 0 || s.length > 253) return false;
    const labels = s.replace(/\.$/, "").split(".");
    if (/^\d+$/.test(labels[labels.length - 1])) return false;
    return labels.every((l) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(l));
}

export function isAddress(s: string): boolean {
    return isIP(s) !== 0 || isHostname(s);
}

/** Kubernetes DNS-1123 label: what a Service, namespace or DNS name part may be. */
export function isDns1123Label(s: string): boolean {
    return /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(s);
}

function editDistance(a: string, b: string): number {
    const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++) {
        for (let j = 1; j <= b.length; j++) {
            d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
    }
    return d[a.length][b.length];
}
