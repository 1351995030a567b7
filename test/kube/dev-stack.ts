// Every Kubernetes object the dev stack (Pulumi.dev.yaml) renders, taken from
// the Pulumi mock graph and turned into plain manifests for a real API server.
//
// Stand-ins for what only a real deployment knows (documented in README):
// - provider outputs come from test/mesh/fake-outputs.ts (certificate and key
//   PEM placeholders, the random UUID and gossip key, a Service ClusterIP of
//   10.43.200.53) and random passwords are `Tok3n<name>`; mocks run in update
//   mode, so no value is unknown;
// - remote commands "print" what the real scripts print on a healthy lab
//   (preflight JSON, tuning result, the k3s kubeconfig fixture, 9.4 Gbit/s smoke pairs);
// - objects without metadata.name get the Kubernetes provider's auto-name,
//   `<resource name>-<8 characters>` (here 8 hex digits of a hash of the name);
// - the SSH key is a placeholder (never read here).
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { GraphRecorder } from "../helpers/mocks";
import { firewallConfirmJson, preflightJson } from "../helpers/fixtures";
import { outputsFor } from "../mesh/fake-outputs";
import type { Manifest } from "../helpers/kube-apiserver";

const ROOT = path.resolve(__dirname, "..", "..");

export interface RenderedObject {
    /** Pulumi type token, e.g. `kubernetes:apps/v1:Deployment`. */
    type: string;
    /** Pulumi resource name. */
    name: string;
    /** The object as the provider would send it; undefined when skipped. */
    manifest?: Manifest;
    /** A `*Patch` resource: server-side apply onto an object that exists already. */
    patch?: boolean;
    /** Why this resource yields no object to validate here. */
    skipped?: string;
    /** A Helm release's namespace: its chart's objects (Services included) live there. */
    releaseNamespace?: string;
    /** A Helm release's chart name and the values passed to it. */
    chart?: string;
    values?: Record<string, unknown>;
}

/** The provider's auto-name stand-in for objects without metadata.name. */
export function autoName(resourceName: string): string {
    return `${resourceName}-${createHash("sha256").update(resourceName).digest("hex").slice(0, 8)}`;
}

const pairLine = (from: string, to: string, pathMtu = 1500) =>
    JSON.stringify({
        from,
        peer: to,
        address: "10.10.0.9",
        pathMtu,
        ping: "",
        iperf: { end: { sum_received: { bits_per_second: 9.4e9 }, sum_sent: { retransmits: 0 } } },
    });

/** What each remote command of a healthy dev stack prints, by resource name. */
function stdoutFor(name: string, nodes: string[]): string {
    const pre = /-preflight-(.*)-check$/.exec(name);
    if (pre) return preflightJson(pre[1], 1500);
    if (name.endsWith("-sysctl"))
        return JSON.stringify({ changed: true, dropIn: "/etc/sysctl.d/90-nordstack.conf", nofile: 1048576, values: {} });
    if (name.endsWith("-kubeconfig")) return readFileSync(path.join(ROOT, "test", "fixtures", "k3s.yaml"), "utf8");
    if (name.endsWith("-confirm")) return firewallConfirmJson();
    const pair = /-smoke-pair-(.*)-(osl-\d+)$/.exec(name);
    if (pair && nodes.includes(pair[1])) return pairLine(pair[1], pair[2]);
    if (name.endsWith("-overlay-smoke-report")) return pairLine(`pod@${nodes[1]}`, "pod@server", 1450); // VXLAN overlay: 1500 - 50
    return "";
}

function installDevStackMocks(nodes: string[]): void {
    pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                const inputs = args.inputs as Record<string, unknown>;
                const state: Record<string, unknown> = { ...inputs, ...outputsFor(args) };
                if (args.type.startsWith("command:")) Object.assign(state, { stdout: stdoutFor(args.name, nodes), stderr: "" });
                if (args.type === "random:index/randomPassword:RandomPassword" && state.result === undefined)
                    state.result = `Tok3n${args.name.replace(/[^A-Za-z0-9]/g, "")}`;
                // The provider names objects that have no metadata.name, and reports it.
                if (args.type.startsWith("kubernetes:") && !args.type.startsWith("kubernetes:helm.sh/") && !args.id) {
                    const meta = (inputs.metadata ?? {}) as Record<string, unknown>;
                    if (meta.name === undefined) state.metadata = { ...meta, name: autoName(args.name) };
                }
                return { id: args.id ?? `${args.name}-id`, state };
            },
            call: (args) => args.inputs as Record<string, unknown>,
        },
        "nordstack",
        "dev",
        false,
    );
}

/** Pulumi.dev.yaml's `nordstack:*` keys as index.ts reads them: scalars as strings, the rest as objects. */
export function devStackRawConfig(): Record<string, unknown> {
    const doc = parseYaml(readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config?: Record<string, unknown> };
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(doc.config ?? {})) {
        if (!k.startsWith("nordstack:")) continue;
        raw[k.slice("nordstack:".length)] = v !== null && typeof v === "object" ? v : String(v);
    }
    return raw;
}

function resolve<T>(v: T): Promise<T> {
    // The Output's own promise: a rejected input surfaces as an error instead of a silent hang.
    return (pulumi.output(v) as unknown as { promise: () => Promise<T> }).promise();
}

/** Drops undefined fields (JSON has none) so strict validation sees what the provider sends. */
function plain(v: unknown): unknown {
    return JSON.parse(JSON.stringify(v ?? null)) as unknown;
}

/**
 * Renders the dev stack under mocks and returns every Kubernetes resource, in registration order.
 * `overrides` replace top-level keys of Pulumi.dev.yaml; `secrets` are extra Platform arguments
 * (e.g. the backup key pair that `backups` needs).
 */
export async function renderDevStack(
    overrides: Record<string, unknown> = {},
    secrets: { backupAccessKeyId?: pulumi.Input<string>; backupSecretAccessKey?: pulumi.Input<string> } = {},
): Promise<RenderedObject[]> {
    const { parsePlatformConfig, Platform, smokeRunId } = await import("../../components");
    const cfg = parsePlatformConfig({ ...devStackRawConfig(), ...overrides });
    installDevStackMocks(cfg.nodes.map((n) => n.name));

    const rec = new GraphRecorder();
    const reads = new Set<string>();
    const readTransform: pulumi.ResourceTransformation = (args) => {
        if (args.opts.id !== undefined) reads.add(`${args.type}::${args.name}`);
        return undefined;
    };
    new Platform(
        "nordstack",
        {
            config: cfg,
            sshPrivateKey: pulumi.secret("placeholder SSH key (never read)"),
            ...secrets,
            smokeRunId: smokeRunId(cfg, new Date("2026-12-01T00:00:00Z")),
        },
        { transformations: [rec.transform, readTransform] },
    );

    // Resources can be registered inside applies: resolve until nothing new appears.
    let seen = -1;
    const props = new Map<string, Record<string, unknown>>();
    while (seen !== rec.resources.length) {
        seen = rec.resources.length;
        for (const r of rec.resources) {
            const key = `${r.type}::${r.name}`;
            if (!props.has(key)) props.set(key, await resolve(r.props));
        }
    }

    const out: RenderedObject[] = [];
    for (const r of rec.resources.filter((x) => x.type.startsWith("kubernetes:"))) {
        const p = plain(props.get(`${r.type}::${r.name}`)) as Record<string, unknown>;
        if (r.type.startsWith("kubernetes:helm.sh/")) {
            const repo = (p.repositoryOpts as { repo?: string } | undefined)?.repo ?? String(p.chart);
            out.push({
                type: r.type,
                name: r.name,
                releaseNamespace: String(p.namespace),
                chart: String(p.chart),
                values: (p.values ?? {}) as Record<string, unknown>,
                skipped: `Helm chart ${String(p.chart)} ${String(p.version)} from ${repo}: chart repositories are not reachable here, so its objects cannot be rendered`,
            });
            continue;
        }
        if (r.type === "pulumi:providers:kubernetes") continue;
        if (reads.has(`${r.type}::${r.name}`)) {
            out.push({
                type: r.type,
                name: r.name,
                skipped: "a read of an object created by someone else (Resource.get): nothing is rendered",
            });
            continue;
        }
        const m = /^kubernetes:([^:]+):(\w+)$/.exec(r.type);
        if (!m) {
            out.push({ type: r.type, name: r.name, skipped: `not a Kubernetes object type` });
            continue;
        }
        const [group, version] = m[1].split("/");
        const apiVersion = group === "core" ? version : `${group}/${version}`;
        const patch = m[2].endsWith("Patch");
        const kind = patch ? m[2].slice(0, -"Patch".length) : m[2];
        const manifest = { ...p, apiVersion, kind } as Manifest;
        if (p.apiVersion !== apiVersion || p.kind !== kind) {
            throw new Error(`${r.name}: type ${r.type} but the object says ${String(p.apiVersion)} ${String(p.kind)}`);
        }
        manifest.metadata = { ...(manifest.metadata ?? {}) };
        if (manifest.metadata.name === undefined && !patch) manifest.metadata.name = autoName(r.name);
        out.push({ type: r.type, name: r.name, manifest, patch });
    }
    return out;
}
