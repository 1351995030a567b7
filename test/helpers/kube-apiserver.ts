// A real Kubernetes API server for tests: etcd (Debian's etcd-server) and
// kube-apiserver (built by scripts/toolchain/kube-apiserver.sh), both bound to
// 127.0.0.1 on free ports, with a throwaway data dir and certificates made
// here. The client authenticates with a certificate in system:masters.
//
// Objects that would make the API server connect somewhere (admission
// webhooks, APIServices, CRD conversion webhooks) are refused before they are
// sent: the server would resolve the Service or URL through this machine's
// resolver and dial off the machine.
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");
export const KUBE_APISERVER_BIN = path.join(process.env.TOOLCHAIN_DIR ?? path.join(ROOT, ".toolchain"), "bin", "kube-apiserver");
export const KUBE_APISERVER_BUILD = "bash scripts/toolchain/kube-apiserver.sh";
const ETCD_BIN = "/usr/bin/etcd";
/** k3s's default Service range, so ClusterIPs look like a real cluster's. */
export const SERVICE_CIDR = "10.43.0.0/16";

export type Manifest = Record<string, unknown> & {
    apiVersion: string;
    kind: string;
    metadata: { name?: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
};

export interface KubeResponse {
    status: number;
    body: Record<string, unknown>;
    /** The server's `Warning` headers (deprecations, ignored values). */
    warnings: string[];
}

export interface ApiResource {
    plural: string;
    namespaced: boolean;
    /** The collection path, with `{ns}` for namespaced resources. */
    path: (ns?: string) => string;
}

/** Thrown for objects the harness will not send; `reason` says why. */
export class RefusedObject extends Error {}

/**
 * Why the API server would open a connection because of this object, or
 * undefined. Admission webhooks are called on every matching request,
 * APIServices are proxied to and probed, CRD conversion webhooks are called
 * when versions are converted: each names a Service (resolved as
 * NAME.NAMESPACE.svc through this machine's resolver) or a URL.
 */
export function dialReason(m: Manifest): string | undefined {
    const [group] = m.apiVersion.includes("/") ? m.apiVersion.split("/") : [""];
    const name = `${m.kind} ${m.metadata?.name ?? "(unnamed)"}`;
    const target = (cfg: unknown): string => {
        const c = (cfg ?? {}) as { url?: string; service?: { namespace?: string; name?: string; port?: number } };
        if (c.url) return `the URL ${c.url}`;
        if (c.service) return `the Service ${c.service.name}.${c.service.namespace}.svc:${c.service.port ?? 443}`;
        return "a Service";
    };
    if (group === "admissionregistration.k8s.io" && /^(Validating|Mutating)WebhookConfiguration$/.test(m.kind)) {
        const hooks = ((m as { webhooks?: { name?: string; clientConfig?: unknown }[] }).webhooks ?? []).map(
            (w) => `${w.name}: ${target(w.clientConfig)}`,
        );
        return (
            `${name} is an admission webhook: the API server would call ${hooks.join(", ") || "its webhooks"} on matching requests, ` +
            "resolving the name through this machine's resolver and connecting off the machine"
        );
    }
    if (group === "apiregistration.k8s.io" && m.kind === "APIService") {
        const svc = (m as { spec?: { service?: unknown } }).spec?.service;
        return (
            `${name} is an aggregated API: the API server would proxy to and health-check ${target({ service: svc })}, ` +
            "resolving it through this machine's resolver and connecting off the machine"
        );
    }
    if (group === "apiextensions.k8s.io" && m.kind === "CustomResourceDefinition") {
        const conv = (m as { spec?: { conversion?: { strategy?: string; webhook?: { clientConfig?: unknown } } } }).spec?.conversion;
        if (conv?.strategy === "Webhook") {
            return (
                `${name} has a conversion webhook: the API server would call ${target(conv.webhook?.clientConfig)} to convert versions, ` +
                "resolving it through this machine's resolver and connecting off the machine"
            );
        }
    }
    return undefined;
}

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const a = s.address() as net.AddressInfo;
            s.close(() => resolve(a.port));
        });
    });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines = 25): string {
    try {
        return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
        return "(no log)";
    }
}

/** CA, serving certificate for 127.0.0.1, client certificate (system:masters), service-account key pair. */
function makeCertificates(dir: string): void {
    const ossl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    ossl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=nordstack-test-ca");
    const leaf = (name: string, subject: string, ext: string) => {
        ossl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
        writeFileSync(path.join(dir, `${name}.ext`), ext);
        ossl(
            "x509",
            "-req",
            "-in",
            `${name}.csr`,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            `${name}.ext`,
            "-out",
            `${name}.crt`,
        );
    };
    leaf("server", "/CN=kube-apiserver", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    leaf("client", "/O=system:masters/CN=nordstack-test", "extendedKeyUsage=clientAuth\n");
    const sa = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    writeFileSync(path.join(dir, "sa.key"), sa.privateKey.export({ type: "pkcs8", format: "pem" }));
    writeFileSync(path.join(dir, "sa.pub"), sa.publicKey.export({ type: "spki", format: "pem" }));
}

/** The environment for both servers: no proxies, so nothing is ever sent through one. */
function childEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: os.tmpdir(), NO_PROXY: "*", no_proxy: "*" };
    return env;
}

export class KubeApiServer {
    private readonly resources = new Map<string, ApiResource>();

    private constructor(
        private readonly dir: string,
        private readonly procs: ChildProcess[],
        readonly port: number,
        private readonly tlsOpts: { ca: Buffer; cert: Buffer; key: Buffer },
    ) {}

    /** What stops this test from running here, or undefined when it can run. */
    static missing(): string | undefined {
        if (!existsSync(KUBE_APISERVER_BIN)) {
            return `no kube-apiserver at ${KUBE_APISERVER_BIN}: build it with \`${KUBE_APISERVER_BUILD}\` (8-10 min cold on 2 cores, Go modules from the proxy)`;
        }
        if (!existsSync(ETCD_BIN)) return `no ${ETCD_BIN}: install etcd-server with \`bash scripts/dev/system-deps.sh --install\``;
        return undefined;
    }

    /** Starts etcd and kube-apiserver; resolves once /readyz answers ok (bounded). */
    static async start(readyTimeoutMs = 120_000): Promise<KubeApiServer> {
        const why = KubeApiServer.missing();
        if (why) throw new Error(why);
        const dir = mkdtempSync(path.join(os.tmpdir(), "nordstack-kube-"));
        const procs: ChildProcess[] = [];
        const launch = (bin: string, args: string[], log: string) => {
            const out = createWriteStream(path.join(dir, log));
            const p = spawn(bin, args, { env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
            p.stdout?.pipe(out);
            p.stderr?.pipe(out);
            procs.push(p);
            return p;
        };
        try {
            makeCertificates(dir);
            const [client, peer, secure] = [await freePort(), await freePort(), await freePort()];
            const etcdUrl = `http://127.0.0.1:${client}`;
            const etcd = launch(
                ETCD_BIN,
                [
                    "--name=nordstack-test",
                    `--data-dir=${path.join(dir, "etcd")}`,
                    `--listen-client-urls=${etcdUrl}`,
                    `--advertise-client-urls=${etcdUrl}`,
                    `--listen-peer-urls=http://127.0.0.1:${peer}`,
                    `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
                    `--initial-cluster=nordstack-test=http://127.0.0.1:${peer}`,
                    "--initial-cluster-state=new",
                    "--logger=zap",
                    "--log-outputs=stderr",
                ],
                "etcd.log",
            );
            await waitFor(
                "etcd /health",
                etcd,
                path.join(dir, "etcd.log"),
                30_000,
                () =>
                    new Promise<boolean>((resolve) => {
                        const req = http.get(`${etcdUrl}/health`, { timeout: 2000 }, (res) => {
                            let body = "";
                            res.on("data", (c: Buffer) => (body += c.toString()));
                            res.on("end", () => resolve(/"health":\s*"true"/.test(body)));
                        });
                        req.on("error", () => resolve(false));
                        req.on("timeout", () => req.destroy());
                    }),
            );
            const f = (n: string) => path.join(dir, n);
            const api = launch(
                KUBE_APISERVER_BIN,
                [
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    `--secure-port=${secure}`,
                    `--etcd-servers=${etcdUrl}`,
                    `--cert-dir=${f("certs")}`,
                    `--tls-cert-file=${f("server.crt")}`,
                    `--tls-private-key-file=${f("server.key")}`,
                    `--client-ca-file=${f("ca.crt")}`,
                    `--service-account-key-file=${f("sa.pub")}`,
                    `--service-account-signing-key-file=${f("sa.key")}`,
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    "--authorization-mode=RBAC",
                    // Never call out, even if a webhook configuration slipped through.
                    "--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
                    `--service-cluster-ip-range=${SERVICE_CIDR}`,
                    // No Endpoints for the `kubernetes` Service: 127.0.0.1 is not a valid endpoint address.
                    "--endpoint-reconciler-type=none",
                    // As k3s runs it (Linkerd's and Consul's pods need it).
                    "--allow-privileged=true",
                    "--profiling=false",
                ],
                "kube-apiserver.log",
            );
            const tlsOpts = { ca: readFileSync(f("ca.crt")), cert: readFileSync(f("client.crt")), key: readFileSync(f("client.key")) };
            const server = new KubeApiServer(dir, procs, secure, tlsOpts);
            await waitFor("kube-apiserver /readyz", api, f("kube-apiserver.log"), readyTimeoutMs, async () => {
                const r = await server.request("GET", "/readyz").catch(() => undefined);
                return r?.status === 200;
            });
            return server;
        } catch (e) {
            await stopAll(procs);
            rmSync(dir, { recursive: true, force: true });
            throw e;
        }
    }

    /** Stops both servers and deletes the data dir and certificates. */
    async stop(): Promise<void> {
        await stopAll(this.procs);
        rmSync(this.dir, { recursive: true, force: true });
    }

    /** One HTTPS request to the server (JSON body unless a content type is given). */
    request(method: string, urlPath: string, body?: unknown, contentType = "application/json"): Promise<KubeResponse> {
        const data = body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
        return new Promise((resolve, reject) => {
            const req = https.request(
                {
                    host: "127.0.0.1",
                    port: this.port,
                    method,
                    path: urlPath,
                    ...this.tlsOpts,
                    servername: "localhost",
                    timeout: 30_000,
                    headers: {
                        Accept: "application/json",
                        ...(data ? { "Content-Type": contentType, "Content-Length": data.length } : {}),
                    },
                },
                (res) => {
                    const chunks: Buffer[] = [];
                    res.on("data", (c: Buffer) => chunks.push(c));
                    res.on("end", () => {
                        const text = Buffer.concat(chunks).toString("utf8");
                        let parsed: Record<string, unknown>;
                        try {
                            parsed = JSON.parse(text) as Record<string, unknown>;
                        } catch {
                            parsed = { text };
                        }
                        const w: string | string[] | undefined = res.headers.warning;
                        const warnings = (Array.isArray(w) ? w : w ? [w] : []).map((x: string) => x.replace(/^299 - /, ""));
                        resolve({ status: res.statusCode ?? 0, body: parsed, warnings });
                    });
                },
            );
            req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath}: no answer in 30 s`)));
            req.on("error", reject);
            if (data) req.write(data);
            req.end();
        });
    }

    /** The resource (plural, scope) serving apiVersion/kind, from the server's discovery; undefined if not served. */
    async resourceFor(apiVersion: string, kind: string): Promise<ApiResource | undefined> {
        const key = `${apiVersion}/${kind}`;
        const known = this.resources.get(key);
        if (known) return known;
        const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
        const r = await this.request("GET", base);
        if (r.status !== 200) return undefined;
        const list = (r.body.resources ?? []) as { name: string; kind: string; namespaced: boolean }[];
        const res = list.find((x) => x.kind === kind && !x.name.includes("/"));
        if (!res) return undefined;
        const found: ApiResource = {
            plural: res.name,
            namespaced: res.namespaced,
            path: (ns) => (res.namespaced ? `${base}/namespaces/${ns ?? "default"}/${res.name}` : `${base}/${res.name}`),
        };
        this.resources.set(key, found);
        return found;
    }

    /**
     * Creates an object (POST), after refusing anything that would make the
     * server dial out. `dryRun` validates and admits it without storing it.
     * Always with strict field validation: an unknown or duplicate field fails.
     */
    async create(m: Manifest, opts: { dryRun?: boolean } = {}): Promise<KubeResponse> {
        const why = dialReason(m);
        if (why) throw new RefusedObject(`refused: ${why}`);
        const res = await this.resourceFor(m.apiVersion, m.kind);
        if (!res) throw new Error(`${m.apiVersion} ${m.kind} is not served by this API server`);
        const q = `?fieldValidation=Strict${opts.dryRun ? "&dryRun=All" : ""}`;
        return this.request("POST", res.path(m.metadata.namespace) + q, m);
    }

    /** Server-side apply (what Pulumi's *Patch resources send), strict, optionally dry-run. */
    async apply(m: Manifest, fieldManager: string, opts: { dryRun?: boolean } = {}): Promise<KubeResponse> {
        const why = dialReason(m);
        if (why) throw new RefusedObject(`refused: ${why}`);
        const res = await this.resourceFor(m.apiVersion, m.kind);
        if (!res) throw new Error(`${m.apiVersion} ${m.kind} is not served by this API server`);
        const q = `?fieldManager=${encodeURIComponent(fieldManager)}&fieldValidation=Strict${opts.dryRun ? "&dryRun=All" : ""}`;
        return this.request("PATCH", `${res.path(m.metadata.namespace)}/${m.metadata.name}${q}`, m, "application/apply-patch+yaml");
    }
}

/** The server's reason for a failed request: message plus each cause's field and message. */
export function serverMessage(r: KubeResponse): string {
    const b = r.body as { message?: string; text?: string; details?: { causes?: { field?: string; message?: string }[] } };
    const causes = (b.details?.causes ?? []).map((c) => `${c.field ?? ""}: ${c.message ?? ""}`);
    return `HTTP ${r.status}: ${b.message ?? b.text ?? JSON.stringify(b)}${causes.length > 1 ? ` [${causes.join("; ")}]` : ""}`;
}

async function waitFor(what: string, proc: ChildProcess, log: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (proc.exitCode !== null || proc.signalCode !== null) {
            throw new Error(`${what}: the process exited (${proc.exitCode ?? proc.signalCode}); last log lines:\n${tail(log)}`);
        }
        if (await ok()) return;
        await sleep(500);
    }
    throw new Error(`${what}: not ready after ${timeoutMs / 1000} s; last log lines:\n${tail(log)}`);
}

/** Newest first (the API server before etcd): SIGTERM, then SIGKILL after 10 s; resolves once each has exited. */
async function stopAll(procs: ChildProcess[]): Promise<void> {
    for (const p of [...procs].reverse()) {
        if (p.exitCode !== null || p.signalCode !== null) continue;
        await new Promise<void>((resolve) => {
            const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
            p.once("exit", () => {
                clearTimeout(t);
                resolve();
            });
            p.kill("SIGTERM");
        });
    }
}
