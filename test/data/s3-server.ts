// A real S3 server for the backup tests: versitygw (built from Go modules by
// scripts/s3-server/install.sh) with its posix backend, HTTPS on 127.0.0.1
// with a certificate from a throwaway CA made with openssl. The root keys
// reach it through its environment, never argv.
import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { freePort, sleep } from "../gateway/harness";

export const VERSITYGW = path.join(process.env.TOOLCHAIN_DIR ?? path.join(__dirname, "..", "..", ".toolchain"), "bin", "versitygw");

export function requireS3Server(): void {
    const check = spawnSync("bash", [path.join(__dirname, "..", "..", "scripts", "s3-server", "install.sh"), "--check"], {
        encoding: "utf8",
    });
    assert.equal(check.status, 0, `${check.stderr}(npm test as root and .ci/run build it)`);
}

function openssl(args: string[]): void {
    const r = spawnSync("openssl", args, { encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, `openssl ${args.join(" ")}: ${r.stderr}`);
}

export interface TestCa {
    dir: string;
    caFile: string;
    /** Issues a leaf certificate; returns its cert and key paths. */
    issue(
        name: string,
        o: { cn: string; dns?: string[]; ips?: string[]; usage: "serverAuth" | "clientAuth" },
    ): { cert: string; key: string };
}

/** A throwaway CA (ECDSA P-256) in `dir`. */
export function makeCa(dir: string): TestCa {
    mkdirSync(dir, { recursive: true });
    const caKey = path.join(dir, "ca.key");
    const caFile = path.join(dir, "ca.crt");
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", caKey]);
    openssl(["req", "-x509", "-new", "-key", caKey, "-sha256", "-days", "2", "-subj", "/CN=nordstack-test-ca", "-out", caFile]);
    return {
        dir,
        caFile,
        issue(name, o) {
            const key = path.join(dir, `${name}.key`);
            const csr = path.join(dir, `${name}.csr`);
            const cert = path.join(dir, `${name}.crt`);
            const ext = path.join(dir, `${name}.ext`);
            const san = [...(o.dns ?? []).map((d) => `DNS:${d}`), ...(o.ips ?? []).map((i) => `IP:${i}`)];
            writeFileSync(
                ext,
                [
                    "basicConstraints=CA:FALSE",
                    "keyUsage=digitalSignature,keyEncipherment",
                    `extendedKeyUsage=${o.usage}`,
                    ...(san.length > 0 ? [`subjectAltName=${san.join(",")}`] : []),
                    "",
                ].join("\n"),
            );
            openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key]);
            openssl(["req", "-new", "-key", key, "-subj", `/CN=${o.cn}`, "-out", csr]);
            openssl([
                "x509",
                "-req",
                "-in",
                csr,
                "-CA",
                caFile,
                "-CAkey",
                caKey,
                "-CAcreateserial",
                "-days",
                "2",
                "-sha256",
                "-extfile",
                ext,
                "-out",
                cert,
            ]);
            return { cert, key };
        },
    };
}

export interface RunningS3 {
    endpoint: string;
    port: number;
    accessKeyId: string;
    secretAccessKey: string;
    /** The backend directory: buckets are directories, objects files. */
    root: string;
    log(): string;
    stop(): Promise<void>;
}

/** Starts versitygw on 127.0.0.1 over HTTPS (`localhost` in the certificate) and waits until it listens. */
export async function startS3(dir: string, ca: TestCa, region: string): Promise<RunningS3> {
    requireS3Server();
    const root = path.join(dir, "s3-root");
    mkdirSync(root, { recursive: true });
    const { cert, key } = ca.issue("s3", { cn: "localhost", dns: ["localhost"], ips: ["127.0.0.1"], usage: "serverAuth" });
    const port = await freePort();
    const accessKeyId = `AK${randomBytes(8).toString("hex").toUpperCase()}`;
    const secretAccessKey = randomBytes(24).toString("base64url");
    const proc: ChildProcess = spawn(
        VERSITYGW,
        ["--quiet", "--port", `127.0.0.1:${port}`, "--region", region, "--cert", cert, "--key", key, "posix", root],
        {
            env: { ...process.env, ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
            stdio: ["ignore", "pipe", "pipe"],
        },
    );
    let log = "";
    proc.stdout?.on("data", (d: Buffer) => (log += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + 20_000;
    for (;;) {
        assert.equal(proc.exitCode, null, `versitygw exited: ${log}`);
        const up = await new Promise<boolean>((resolve) => {
            const s = net.connect(port, "127.0.0.1", () => {
                s.destroy();
                resolve(true);
            });
            s.on("error", () => resolve(false));
        });
        if (up) break;
        assert.ok(Date.now() < deadline, `versitygw did not listen within 20 s: ${log}`);
        await sleep(100);
    }
    return {
        endpoint: `https://localhost:${port}`,
        port,
        accessKeyId,
        secretAccessKey,
        root,
        log: () => log,
        async stop() {
            if (proc.exitCode !== null) return;
            const gone = new Promise((resolve) => proc.once("exit", resolve));
            proc.kill("SIGTERM");
            await Promise.race([gone, sleep(5000)]);
            if (proc.exitCode === null) proc.kill("SIGKILL");
        },
    };
}

/** Files under the S3 backend root (relative paths), to see what really landed in the bucket. */
export function listObjects(root: string, bucket: string): string[] {
    const base = path.join(root, bucket);
    if (!existsSync(base)) return [];
    const r = spawnSync("find", [base, "-type", "f", "-printf", "%P\\n"], { encoding: "utf8" });
    return r.stdout.split("\n").filter(Boolean).sort();
}
