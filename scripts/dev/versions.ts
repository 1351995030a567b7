// Pure parts of `npm run check:versions`: which chart versions and image tags the
// stack pins, and how a repository's index.yaml and a chart's values.yaml are
// compared with them. Tested directly with small hand-written fixtures.
import { gunzipSync } from "node:zlib";
import { parse as parseYaml } from "yaml";
import { LINKERD_DEFAULTS } from "../../components/mesh/linkerd";
import { LINKERD_IMAGES } from "../../components/mesh/linkerd-values";
import { CONSUL_DEFAULTS } from "../../components/discovery/consul";
import { consulImages } from "../../components/discovery/consul-values";
import { splitImage } from "../../components/images";

/** One image reference the stack renders, and where the chart's values.yaml keeps the same image. */
export interface ImagePin {
    /** Dotted path in values.yaml, e.g. `global.image`. */
    valuesKey: string;
    /** What we pin: a full reference (`name:tag`), or only a name when the tag is the chart's. */
    expected: string;
    /** `ref`: name and tag must match; `name`: the repository name only. */
    compare: "ref" | "name";
}

export interface ChartPin {
    chart: string;
    version: string;
    /** `https://...` Helm repository or `oci://...` registry (whose index cannot be read). */
    repository: string;
    images: ImagePin[];
}

export interface PinOptions {
    /** One repository for every chart (the `chartMirror` key). */
    chartMirror?: string;
    linkerdChartRepository?: string;
    linkerdChartVersion?: string;
    consulChartRepository?: string;
    consulChartVersion?: string;
}

/** Linkerd's chart version YYYY.M.N is release edge-YY.M.N, the tag of every image it ships. */
export function linkerdReleaseOf(chartVersion: string): string | undefined {
    const m = /^20(\d\d)\.(\d+)\.(\d+)$/.exec(chartVersion);
    return m ? `edge-${m[1]}.${m[2]}.${m[3]}` : undefined;
}

/** The charts the stack installs, at the versions and from the repositories the components use. */
export function chartPins(o: PinOptions = {}): ChartPin[] {
    const linkerdRepo = o.linkerdChartRepository ?? o.chartMirror ?? LINKERD_DEFAULTS.chartRepository;
    const consulRepo = o.consulChartRepository ?? o.chartMirror ?? CONSUL_DEFAULTS.chartRepository;
    const lv = o.linkerdChartVersion ?? LINKERD_DEFAULTS.controlPlaneChartVersion;
    const cv = o.consulChartVersion ?? CONSUL_DEFAULTS.chartVersion;
    const release = linkerdReleaseOf(lv);
    const ci = consulImages(cv);
    return [
        { chart: "linkerd-crds", version: o.linkerdChartVersion ?? LINKERD_DEFAULTS.crdsChartVersion, repository: linkerdRepo, images: [] },
        {
            chart: "linkerd-control-plane",
            version: lv,
            repository: linkerdRepo,
            images: [
                // The tags are the chart's linkerdVersion; the mirror rewrites these names.
                ...(release ? [{ valuesKey: "linkerdVersion", expected: release, compare: "ref" as const }] : []),
                { valuesKey: "controllerImage", expected: LINKERD_IMAGES.controller, compare: "name" },
                { valuesKey: "proxy.image.name", expected: LINKERD_IMAGES.proxy, compare: "name" },
                { valuesKey: "debugContainer.image.name", expected: LINKERD_IMAGES.debug, compare: "name" },
            ],
        },
        {
            chart: "linkerd2-cni",
            version: lv,
            repository: linkerdRepo,
            images: [{ valuesKey: "image.name", expected: LINKERD_IMAGES.cniPlugin, compare: "name" }],
        },
        {
            chart: "consul",
            version: cv,
            repository: consulRepo,
            images: [
                { valuesKey: "global.image", expected: ci.image, compare: "ref" },
                { valuesKey: "global.imageK8S", expected: ci.imageK8S, compare: "ref" },
                { valuesKey: "global.imageConsulDataplane", expected: ci.imageConsulDataplane, compare: "ref" },
            ],
        },
    ];
}

export interface IndexEntry {
    version: string;
    urls: string[];
}

/** The entries of a Helm repository's index.yaml, by chart name. Throws when it is not one. */
export function parseIndex(text: string): Map<string, IndexEntry[]> {
    const doc = parseYaml(text) as { apiVersion?: unknown; entries?: Record<string, { version?: unknown; urls?: unknown }[]> } | null;
    if (!doc || typeof doc !== "object" || typeof doc.entries !== "object" || doc.entries === null) {
        throw new Error("not a Helm repository index (no `entries`)");
    }
    const out = new Map<string, IndexEntry[]>();
    for (const [chart, list] of Object.entries(doc.entries)) {
        out.set(
            chart,
            (Array.isArray(list) ? list : []).map((e) => ({
                version: String(e.version),
                urls: Array.isArray(e.urls) ? e.urls.map(String) : [],
            })),
        );
    }
    return out;
}

/** Newest first by numeric parts (pre-releases after their release). */
export function sortVersions(versions: string[]): string[] {
    const key = (v: string) => v.replace(/^v/, "").split(/[-+]/)[0].split(".").map(Number);
    return [...versions].sort((a, b) => {
        const ka = key(a);
        const kb = key(b);
        for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
            const d = (kb[i] ?? 0) - (ka[i] ?? 0);
            if (d !== 0) return d;
        }
        return Number(a.includes("-")) - Number(b.includes("-")) || a.localeCompare(b);
    });
}

/** The index entry of the pinned version, or the problem naming chart, pin and what exists. */
export function findPinned(index: Map<string, IndexEntry[]>, pin: ChartPin, indexUrl: string): IndexEntry | string {
    const entries = index.get(pin.chart);
    if (!entries || entries.length === 0) return `${pin.chart} ${pin.version}: ${indexUrl} has no chart named ${pin.chart}`;
    const hit = entries.find((e) => e.version === pin.version);
    if (hit) return hit;
    const newest = sortVersions(entries.map((e) => e.version)).slice(0, 5);
    return `${pin.chart} ${pin.version} is not in ${indexUrl}; it has ${entries.length} versions, newest ${newest.join(", ")}`;
}

/** The archive URL of an index entry (Helm allows URLs relative to the index). */
export function archiveUrl(entry: IndexEntry, indexUrl: string): string | undefined {
    const u = entry.urls[0];
    return u === undefined ? undefined : new URL(u, indexUrl).toString();
}

/** `docker.io/hashicorp/consul:2.0.3` and `hashicorp/consul:2.0.3` are the same image. */
export function normalizeImage(ref: string): string {
    const { registry, name } = splitImage(ref.trim());
    const short = name.replace(/^library\//, "");
    return registry === "docker.io" ? short : `${registry}/${short}`;
}

/** The repository part of a reference, without tag or digest. */
function imageName(ref: string): string {
    const noDigest = ref.split("@")[0];
    const lastSlash = noDigest.lastIndexOf("/");
    const colon = noDigest.lastIndexOf(":");
    return normalizeImage(colon > lastSlash ? noDigest.slice(0, colon) : noDigest);
}

function valueAt(values: unknown, dotted: string): unknown {
    return dotted
        .split(".")
        .reduce<unknown>((o, k) => (o !== null && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), values);
}

/** Every pinned image the chart's values.yaml does not ship, naming both. */
export function imageProblems(pin: ChartPin, valuesYaml: string): string[] {
    const values = parseYaml(valuesYaml) as unknown;
    const out: string[] = [];
    for (const img of pin.images) {
        const shipped = valueAt(values, img.valuesKey);
        const at = `${pin.chart} ${pin.version} values.yaml ${img.valuesKey}`;
        if (typeof shipped !== "string" || shipped === "") {
            out.push(`${at} is not set; we pin ${img.expected}`);
            continue;
        }
        const same =
            img.valuesKey === "linkerdVersion"
                ? shipped === img.expected
                : img.compare === "ref"
                  ? normalizeImage(shipped) === normalizeImage(img.expected)
                  : imageName(shipped) === imageName(img.expected);
        if (!same) out.push(`${at} is ${shipped}; we pin ${img.expected}`);
    }
    return out;
}

/**
 * One file of a gzipped tar (a Helm chart archive), by its path inside the archive
 * (`<chart>/values.yaml`); undefined when absent. Reads ustar, pax and GNU long names.
 */
export function fileFromTgz(tgz: Buffer, path: string): string | undefined {
    const tar = gunzipSync(tgz);
    let longName: string | undefined;
    for (let off = 0; off + 512 <= tar.length; ) {
        const h = tar.subarray(off, off + 512);
        if (h.every((b) => b === 0)) return undefined;
        const str = (a: number, b: number) => h.subarray(a, b).toString("utf8").replace(/\0.*$/s, "");
        const size = parseInt(str(124, 136).trim() || "0", 8);
        const type = String.fromCharCode(h[156] || 48);
        const prefix = h.subarray(257, 263).toString("latin1").startsWith("ustar") ? str(345, 500) : "";
        const name = longName ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
        const body = tar.subarray(off + 512, off + 512 + size);
        off += 512 + Math.ceil(size / 512) * 512;
        longName = undefined;
        if (type === "L") {
            longName = body.toString("utf8").replace(/\0.*$/s, "");
        } else if (type === "x") {
            const m = /\d+ path=([^\n]*)\n/.exec(body.toString("utf8"));
            if (m) longName = m[1];
        } else if ((type === "0" || type === "\0") && name.replace(/^\.\//, "") === path) {
            return body.toString("utf8");
        }
    }
    return undefined;
}
