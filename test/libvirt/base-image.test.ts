// The base image download, verified: the validation of the checksum options
// (pure), and the real scripts/hypervisor/base-image.sh run with the exact
// command line LibvirtGuests renders, against an image and checksum files
// served from 127.0.0.1 (and file://): right hash, wrong hash, missing entry,
// http:// without a pin, a file changed on disk, idempotence and delete.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { BaseImageChecksum, renderBaseImageCommands } from "../../components/nodes/libvirt-render";
import { validateLibvirtGuests } from "../../components/nodes/libvirt-validate";
import type { LibvirtGuestsArgs } from "../../components/nodes/libvirt-guests";

const IMAGE = randomBytes(3 * 1024 * 1024);
const SHA = createHash("sha512").update(IMAGE).digest("hex");
const OTHER = createHash("sha512").update("another image").digest("hex");
let dir: string;
let server: http.Server;
let base: string;

before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "nordstack-base-image-"));
    writeFileSync(path.join(dir, "disk.qcow2"), IMAGE);
    const files: Record<string, Buffer | string> = {
        "/img/disk.qcow2": IMAGE,
        "/img/SHA512SUMS": `${OTHER}  other.qcow2\n${SHA}  disk.qcow2\n`,
        "/bsd/SHA512SUMS": `SHA512 (other.qcow2) = ${OTHER}\nSHA512 (disk.qcow2) = ${SHA.toUpperCase()}\n`,
        "/bad/SHA512SUMS": `${OTHER}  disk.qcow2\n`,
        "/none/SHA512SUMS": `${OTHER}  other.qcow2\n`,
    };
    server = http.createServer((req, res) => {
        const body = files[req.url ?? ""];
        res.writeHead(body === undefined ? 404 : 200).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the rendered create or delete command with the script on stdin (as remote.Command would, here locally as root). */
function run(
    action: "create" | "delete",
    url: string,
    dest: string,
    checksum: BaseImageChecksum,
): Promise<{ code: number; stderr: string }> {
    const step = renderBaseImageCommands(url, dest, "root", checksum);
    return new Promise((resolve) => {
        const child = spawn("sh", ["-c", step[action]], { stdio: ["pipe", "ignore", "pipe"], timeout: 60_000 });
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("close", (code) => resolve({ code: code ?? -1, stderr }));
        child.stdin.end(step.stdin);
    });
}

describe("base image checksum options (validation)", () => {
    const a = (over: Partial<LibvirtGuestsArgs>): string[] =>
        validateLibvirtGuests({
            hypervisor: { host: "hv", privateKey: "k" },
            guests: [{ name: "osl-1", role: "server", vcpus: 2, memoryMiB: 2048, diskGiB: 20, address: "10.197.0.10" }],
            ...over,
        });
    it("accepts the default image (Debian's SHA512SUMS), a pinned hash, a published checksum file, a local path", () => {
        assert.deepEqual(a({}), []);
        assert.deepEqual(a({ baseImage: "http://mirror.example.no/d.qcow2", baseImageSha512: SHA }), []);
        assert.deepEqual(
            a({ baseImage: "https://mirror.example.no/d.qcow2", baseImageChecksumUrl: "https://mirror.example.no/SHA512SUMS" }),
            [],
        );
        assert.deepEqual(a({ baseImage: "/srv/images/d.qcow2" }), []);
    });
    it("refuses http:// without a pinned hash, an unverifiable https:// image, and malformed or conflicting options", () => {
        assert.deepEqual(a({ baseImage: "http://mirror.example.no/d.qcow2" }), [
            "baseImage http://mirror.example.no/d.qcow2 is http://: refused without baseImageSha512 (anyone on the path could swap the image)",
        ]);
        assert.deepEqual(
            a({ baseImage: "http://mirror.example.no/d.qcow2", baseImageChecksumUrl: "https://mirror.example.no/SHA512SUMS" }),
            [
                "baseImage http://mirror.example.no/d.qcow2 is http://: refused without baseImageSha512 (anyone on the path could swap the image)",
            ],
        );
        assert.deepEqual(a({ baseImage: "https://mirror.example.no/d.qcow2" }), [
            "baseImage https://mirror.example.no/d.qcow2 has no checksum: set baseImageSha512 (its sha512sum) or baseImageChecksumUrl (its published SHA512SUMS)",
        ]);
        assert.deepEqual(a({ baseImageChecksumUrl: "http://mirror.example.no/SHA512SUMS" }), [
            "baseImageChecksumUrl must be an https:// URL, got http://mirror.example.no/SHA512SUMS",
        ]);
        assert.deepEqual(a({ baseImageSha512: "abc" }), ["baseImageSha512 must be 128 hex digits (sha512sum of the image)"]);
        assert.deepEqual(a({ baseImageSha512: SHA, baseImageChecksumUrl: "https://x/SHA512SUMS" }), [
            "baseImageSha512 and baseImageChecksumUrl conflict: set one of them",
        ]);
        assert.deepEqual(a({ baseImage: "/srv/d.qcow2", baseImageSha512: SHA }), [
            "baseImageSha512 and baseImageChecksumUrl apply to a downloaded image (baseImage an https:// URL), not to a path on the hypervisor",
        ]);
    });
});

describe("base-image.sh for real (images served from 127.0.0.1)", () => {
    it("downloads and verifies against a pinned SHA512, records it, and a second run changes nothing", async () => {
        const dest = path.join(dir, "store", "base-pinned.img");
        const url = `${base}/img/disk.qcow2`;
        const first = await run("create", url, dest, { sha512: SHA });
        assert.equal(first.code, 0, first.stderr);
        assert.ok(readFileSync(dest).equals(IMAGE));
        assert.equal(readFileSync(`${dest}.sha512`, "utf8").trim(), SHA);
        assert.match(first.stderr, new RegExp(`sha512 ${SHA} verified`));
        const mtime = statSync(dest).mtimeMs;
        const again = await run("create", url, dest, { sha512: SHA });
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stderr, /No change detected/);
        assert.equal(statSync(dest).mtimeMs, mtime, "not downloaded again");

        const del = await run("delete", url, dest, { sha512: SHA });
        assert.equal(del.code, 0, del.stderr);
        assert.equal(existsSync(dest) || existsSync(`${dest}.sha512`), false, "delete removes the image and its record");
    });

    it("a wrong pinned hash fails naming the URL, the expected and the actual hash, and leaves no file", async () => {
        const dest = path.join(dir, "store", "base-wrong.img");
        const url = `${base}/img/disk.qcow2`;
        const r = await run("create", url, dest, { sha512: OTHER });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`checksum mismatch for ${url.replace(/[.]/g, "\\.")}: expected sha512 ${OTHER}, actual ${SHA}`));
        assert.deepEqual([existsSync(dest), existsSync(`${dest}.part`), existsSync(`${dest}.sha512`)], [false, false, false]);
    });

    it("verifies against a published checksum file (GNU and BSD format), fails on a wrong or missing entry", async () => {
        const url = `file://${path.join(dir, "disk.qcow2")}`;
        for (const sums of ["img", "bsd"]) {
            const dest = path.join(dir, "store", `base-sums-${sums}.img`);
            const r = await run("create", url, dest, { url: `${base}/${sums}/SHA512SUMS` });
            assert.equal(r.code, 0, r.stderr);
            assert.equal(readFileSync(`${dest}.sha512`, "utf8").trim(), SHA);
        }
        const bad = await run("create", url, path.join(dir, "store", "base-bad.img"), { url: `${base}/bad/SHA512SUMS` });
        assert.notEqual(bad.code, 0);
        assert.match(bad.stderr, new RegExp(`checksum mismatch for file://\\S+disk\\.qcow2: expected sha512 ${OTHER}, actual ${SHA}`));
        const none = await run("create", url, path.join(dir, "store", "base-none.img"), { url: `${base}/none/SHA512SUMS` });
        assert.notEqual(none.code, 0);
        assert.match(none.stderr, /the checksum file http:\/\/127\.0\.0\.1:\d+\/none\/SHA512SUMS lists no disk\.qcow2/);
        assert.equal(existsSync(path.join(dir, "store", "base-none.img")), false);
    });

    it("refuses an http:// image without a pinned hash before downloading anything", async () => {
        const dest = path.join(dir, "store", "base-http.img");
        const r = await run("create", `${base}/img/disk.qcow2`, dest, { url: `${base}/img/SHA512SUMS` });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /refusing http:\/\/127\.0\.0\.1:\d+\/img\/disk\.qcow2: an http:\/\/ image needs NORDSTACK_BASE_SHA512/);
        assert.equal(existsSync(dest), false);
    });

    it("a present image changed on disk is an error, never silently replaced", async () => {
        const dest = path.join(dir, "store", "base-tamper.img");
        const url = `${base}/img/disk.qcow2`;
        assert.equal((await run("create", url, dest, { sha512: SHA })).code, 0);
        const changed = Buffer.from(IMAGE);
        changed[12345] ^= 0xff;
        writeFileSync(dest, changed);
        const actual = createHash("sha512").update(changed).digest("hex");
        const r = await run("create", url, dest, { sha512: SHA });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`changed on disk since it was verified: expected ${SHA}, actual ${actual}`));
        assert.ok(readFileSync(dest).equals(changed), "left as found, for the operator to look at");
    });
});
