// npm run check:versions [-- --config Pulumi.<stack>.yaml] [-- --chart-mirror <url>]
//
// Checks that every pinned chart version exists in its repository's index.yaml,
// and that every image the stack pins is the one that chart version ships (its
// values.yaml, read from the chart archive the index points to). The charts and
// repositories are the components' defaults, or the stack file's
// linkerdChart*/consulChart* and chartMirror keys (one repository for all charts).
//
// Exit codes: 0 all pins exist and agree; 1 a pin is missing or differs (each
// named with what exists); 2 some repository cannot be read (offline, or an
// oci:// registry, which has no index), so that part was not checked.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { archiveUrl, chartPins, ChartPin, fileFromTgz, findPinned, imageProblems, IndexEntry, parseIndex, PinOptions } from "./versions";

const TIMEOUT_MS = 20_000;

function usage(msg: string): never {
    console.error(`check:versions: ${msg}\nusage: npm run check:versions -- [--config Pulumi.<stack>.yaml] [--chart-mirror <url>]`);
    process.exit(64);
}

/** The chart keys of a stack file (`nordstack:chartMirror`, `nordstack:linkerdChartVersion`, ...). */
function optionsFromStackFile(file: string): PinOptions {
    const doc = parseYaml(readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
    const c = doc?.config ?? {};
    const get = (k: string) => (c[`nordstack:${k}`] === undefined ? undefined : String(c[`nordstack:${k}`]).replace(/\/+$/, ""));
    return {
        chartMirror: get("chartMirror"),
        linkerdChartRepository: get("linkerdChartRepository"),
        linkerdChartVersion: get("linkerdChartVersion"),
        consulChartRepository: get("consulChartRepository"),
        consulChartVersion: get("consulChartVersion"),
    };
}

function parseArgs(argv: string[]): PinOptions {
    let o: PinOptions = {};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const next = () => argv[++i] ?? usage(`${a} needs a value`);
        if (a === "--config") o = { ...optionsFromStackFile(next()), ...o };
        else if (a === "--chart-mirror") o = { ...o, chartMirror: next().replace(/\/+$/, "") };
        else usage(`unknown argument ${a}`);
    }
    return o;
}

async function get(url: string): Promise<Buffer> {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: "follow" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
}

function reason(e: unknown): string {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    return err.cause?.code ?? err.cause?.message ?? err.message;
}

async function main(): Promise<number> {
    const pins = chartPins(parseArgs(process.argv.slice(2)));
    const problems: string[] = [];
    const notChecked: string[] = [];
    const ok: string[] = [];
    const indexes = new Map<string, Map<string, IndexEntry[]> | undefined>();

    for (const repo of [...new Set(pins.map((p) => p.repository))]) {
        if (repo.startsWith("oci://")) {
            notChecked.push(`${repo} is an OCI registry, which has no index.yaml: not checked (${chartsOf(pins, repo)})`);
            indexes.set(repo, undefined);
            continue;
        }
        const url = `${repo}/index.yaml`;
        try {
            indexes.set(repo, parseIndex((await get(url)).toString("utf8")));
        } catch (e) {
            notChecked.push(`cannot reach ${url}: not checked (${reason(e)}; ${chartsOf(pins, repo)})`);
            indexes.set(repo, undefined);
        }
    }

    for (const pin of pins) {
        const index = indexes.get(pin.repository);
        if (!index) continue;
        const indexUrl = `${pin.repository}/index.yaml`;
        const entry = findPinned(index, pin, indexUrl);
        if (typeof entry === "string") {
            problems.push(entry);
            continue;
        }
        if (pin.images.length === 0) {
            ok.push(`${pin.chart} ${pin.version} exists`);
            continue;
        }
        const url = archiveUrl(entry, indexUrl);
        if (!url) {
            problems.push(`${pin.chart} ${pin.version}: its index entry has no archive URL, so its images cannot be checked`);
            continue;
        }
        let values: string | undefined;
        try {
            values = fileFromTgz(await get(url), `${pin.chart}/values.yaml`);
        } catch (e) {
            notChecked.push(`cannot reach ${url}: not checked (${reason(e)}; the images of ${pin.chart} ${pin.version})`);
            continue;
        }
        if (values === undefined) {
            problems.push(`${pin.chart} ${pin.version}: ${url} holds no ${pin.chart}/values.yaml`);
            continue;
        }
        const bad = imageProblems(pin, values);
        problems.push(...bad);
        if (bad.length === 0) ok.push(`${pin.chart} ${pin.version} exists and ships ${pin.images.map((i) => i.expected).join(", ")}`);
    }

    for (const line of ok) console.log(`ok: ${line}`);
    for (const line of notChecked) console.log(line);
    for (const line of problems) console.error(`FAIL: ${line}`);
    if (problems.length > 0) return 1;
    return notChecked.length > 0 ? 2 : 0;
}

function chartsOf(pins: ChartPin[], repo: string): string {
    return pins
        .filter((p) => p.repository === repo)
        .map((p) => `${p.chart} ${p.version}`)
        .join(", ");
}

main().then(
    (code) => process.exit(code),
    (e: unknown) => {
        console.error(`check:versions: ${(e as Error).message}`);
        process.exit(1);
    },
);
