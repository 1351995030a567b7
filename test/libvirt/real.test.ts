// The real thing: this machine as the hypervisor (SSH on 127.0.0.1, libvirt
// domain type qemu), one guest created by the commands LibvirtGuests renders
// (taken from the component under Pulumi mocks, then sent over SSH unchanged),
// logged into through the hypervisor with the guest key, checked by the real
// preflight script, then deleted without leaving a domain, disk or seed.
//
// The guest image is built by build-test-image.sh (cached): it has no
// cloud-init, but a stand-in that reads the same NoCloud seed (see there).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { GraphRecorder, value } from "../helpers/mocks";
import { LocalHypervisor, requireTools, testImage, TestImage } from "./hypervisor";
import { loadNodeScript, renderNodeStep } from "../../components/host/remote-script";
import { preflightEnv } from "../../components/host/preflight";
import { parsePreflightOutput } from "../../components/host/preflight-checks";
import { GuestSpec, guestPaths, renderGuestCommands } from "../../components/nodes/libvirt-render";
import type { NodeHandle } from "../../components/nodes/source";

const GUEST = "nslvt-osl-1";
const ADDRESS = "10.197.0.10";
const hv = new LocalHypervisor("/tmp/nordstack-libvirt-test", 2297, "nsvtbr0", "10.197.0.1/24");

interface Rendered {
    create: string;
    delete: string;
    wait: string;
    guestScript: string;
    waitScript: string;
    node: NodeHandle;
    connection: types.input.remote.ConnectionArgs;
}

/** Runs LibvirtGuests under mocks and returns the exact command lines and handle it produced. */
async function renderWithComponent(img: TestImage, guestKeyPath: string): Promise<Rendered> {
    pulumi.runtime.setMocks(
        {
            newResource: (a) => ({ id: `${a.name}-id`, state: { ...(a.inputs as Record<string, unknown>), stdout: "", stderr: "" } }),
            call: (a) => a.inputs as Record<string, unknown>,
        },
        "nordstack",
        "test",
        false,
    );
    const { LibvirtGuests } = await import("../../components/nodes/libvirt-guests");
    const rec = new GraphRecorder();
    const c = new LibvirtGuests(
        "lvt",
        {
            hypervisor: { host: "127.0.0.1", port: hv.sshPort, user: "root", privateKey: pulumi.secret(readFileSync(hv.keyPath, "utf8")) },
            guests: [{ name: GUEST, role: "server", vcpus: 2, memoryMiB: 1024, diskGiB: 3, address: ADDRESS, gateway: "10.197.0.1" }],
            baseImage: img.image,
            domainType: "qemu",
            storageDir: hv.storageDir,
            bridge: hv.bridge,
            nameservers: [],
            kernel: img.kernel,
            initrd: img.initrd,
            kernelArgs: "root=/dev/vda rw console=ttyS0 quiet",
            guestPrivateKey: pulumi.secret(readFileSync(guestKeyPath, "utf8")),
            guestPublicKey: readFileSync(`${guestKeyPath}.pub`, "utf8").trim(),
            sshWaitSeconds: 150,
        },
        { transformations: [rec.transform] },
    );
    const str = (n: string, f: string) => value(rec.byName(n).props[f] as pulumi.Input<string>);
    return {
        create: await str(`lvt-${GUEST}-domain`, "create"),
        delete: await str(`lvt-${GUEST}-domain`, "delete"),
        wait: await str(`lvt-${GUEST}-ssh-ready`, "create"),
        guestScript: await str(`lvt-${GUEST}-domain`, "stdin"),
        waitScript: await str(`lvt-${GUEST}-ssh-ready`, "stdin"),
        node: c.nodes[0],
        connection: await value(c.nodes[0].connection),
    };
}

const virsh = (...args: string[]) => spawnSync("virsh", ["-q", "-c", "qemu:///system", ...args], { encoding: "utf8" });

describe("LibvirtGuests on a real libvirt (domain type qemu, this machine as hypervisor)", { timeout: 900_000 }, () => {
    let img: TestImage;
    let r: Rendered;
    let keyDir: string;
    let guestKey: string;
    const t0 = Date.now();
    const mark = (what: string) => console.error(`[libvirt-test] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    before(async () => {
        requireTools();
        img = testImage();
        mark("image ready");
        hv.up();
        keyDir = mkdtempSync("/tmp/nordstack-libvirt-key-");
        guestKey = path.join(keyDir, "guest_ed25519");
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nordstack-guest", "-f", guestKey]);
        r = await renderWithComponent(img, guestKey);
        mark("hypervisor up");
    });

    after(() => {
        // A failed run must not leave a guest behind: delete is idempotent.
        if (r) hv.ssh(r.delete, 120_000, r.guestScript);
        hv.down();
        if (keyDir) rmSync(keyDir, { recursive: true, force: true });
    });

    it("hands on a handle that reaches the guest through the hypervisor", () => {
        assert.equal(r.node.user, "nordstack");
        assert.equal(r.node.privateInterface, "eth0");
        assert.equal(r.connection.host, ADDRESS);
        const proxy = r.connection.proxy as types.input.remote.ProxyConnectionArgs;
        assert.deepEqual([proxy.host, proxy.port, proxy.user], ["127.0.0.1", hv.sshPort, "root"]);
    });

    it("creates the guest over SSH: overlay, seed, domain defined, autostarted, running", () => {
        const res = hv.ssh(r.create, 120_000, r.guestScript);
        assert.equal(res.code, 0, res.stderr);
        const p = guestPaths(hv.storageDir, GUEST);
        assert.ok(existsSync(p.disk) && existsSync(p.seed));
        const info = execFileSync("qemu-img", ["info", "--output=json", "-U", p.disk], { encoding: "utf8" });
        const disk = JSON.parse(info) as { format: string; "virtual-size": number; "backing-filename": string };
        assert.deepEqual([disk.format, disk["virtual-size"], disk["backing-filename"]], ["qcow2", 3 * 1024 ** 3, img.image]);
        assert.equal(virsh("domstate", GUEST).stdout.trim(), "running");
        assert.match(virsh("dominfo", GUEST).stdout, /Autostart:\s+enable/);
        assert.match(virsh("dumpxml", GUEST).stdout, /<domain type='qemu'/);
        mark("guest started");
    });

    it("is idempotent: creating again changes nothing", () => {
        const res = hv.ssh(r.create, 120_000, r.guestScript);
        assert.equal(res.code, 0, res.stderr);
        assert.match(res.stderr, /No change detected/);
    });

    it("waits (bounded) until the guest answers on SSH", () => {
        const res = hv.ssh(r.wait, 200_000, r.waitScript);
        assert.equal(res.code, 0, res.stderr);
        assert.match(res.stderr, /SSH answers on 10\.197\.0\.10:22 after \d+ s/);
        mark("guest answers SSH");
    });

    it("logs in with the guest key and passes the real preflight as a qemu guest, not a container", () => {
        const whoami = hv.sshGuest("nordstack", ADDRESS, guestKey, "hostname && id -un");
        assert.equal(whoami.code, 0, whoami.stderr);
        assert.equal(whoami.stdout, `${GUEST}\nnordstack\n`);
        const step = renderNodeStep({
            script: loadNodeScript("preflight.sh"),
            env: preflightEnv(ADDRESS, { requiredModules: ["overlay", "br_netfilter"] }, r.node.privateInterface),
            user: r.node.user,
            timeoutSeconds: 120,
        });
        const res = hv.sshGuest(r.node.user, ADDRESS, guestKey, step.command, step.stdin);
        assert.equal(res.code, 0, res.stderr);
        const pf = parsePreflightOutput(GUEST, res.stdout);
        assert.equal(pf.ok, true);
        assert.equal(pf.virtualization, "qemu");
        assert.equal(pf.hostname, GUEST);
        assert.equal(pf.os, "debian");
        assert.equal(pf.privateInterface, "eth0");
        assert.deepEqual(pf.modules, { loaded: ["overlay", "br_netfilter"], missing: [] });
        mark("preflight passed");
    });

    it("deletes the guest, its disk and its seed, and nothing else", () => {
        const res = hv.ssh(r.delete, 120_000, r.guestScript);
        assert.equal(res.code, 0, res.stderr);
        assert.notEqual(virsh("dominfo", GUEST).status, 0, "domain still defined");
        const p = guestPaths(hv.storageDir, GUEST);
        assert.equal(existsSync(p.disk), false, "disk left");
        assert.equal(existsSync(p.seed), false, "seed left");
        assert.ok(existsSync(img.image), "the base image must survive");
        assert.equal(hv.ssh(r.delete, 120_000, r.guestScript).code, 0, "delete is idempotent");
        const wait = hv.ssh(r.wait, 120_000, r.waitScript);
        assert.notEqual(wait.code, 0);
        assert.match(wait.stderr, /domain is missing, not running/, "the SSH wait gives up at once when there is no guest");
        mark("guest deleted");
    });

    it("rolls back a failed create: no domain, disk or seed left", () => {
        // A bridge that does not exist: define succeeds, start fails.
        const spec: GuestSpec = {
            name: GUEST,
            domainType: "qemu",
            vcpus: 1,
            memoryMiB: 512,
            diskGiB: 3,
            address: ADDRESS,
            prefix: 24,
            nameservers: [],
            bridge: "nsvt-none",
            user: "nordstack",
            sshPublicKey: readFileSync(`${guestKey}.pub`, "utf8").trim(),
            baseImage: img.image,
            storageDir: hv.storageDir,
            kernel: img.kernel,
        };
        const broken = renderGuestCommands(spec, "root", "qemu:///system");
        const res = hv.ssh(broken.create, 120_000, broken.stdin);
        assert.notEqual(res.code, 0);
        assert.match(res.stderr, /create failed; removing what this run made/);
        assert.notEqual(virsh("dominfo", GUEST).status, 0, "domain still defined");
        const p = guestPaths(hv.storageDir, GUEST);
        assert.deepEqual([existsSync(p.disk), existsSync(p.seed)], [false, false]);
    });

    it("refuses to delete a domain nordstack did not create", () => {
        const foreign = `<domain type='qemu'><name>${GUEST}</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>`;
        const file = path.join(keyDir, "foreign.xml");
        execFileSync("sh", ["-c", 'printf %s "$1" >"$2"', "sh", foreign, file]);
        assert.equal(virsh("define", file).status, 0);
        try {
            const res = hv.ssh(r.delete, 120_000, r.guestScript);
            assert.notEqual(res.code, 0);
            assert.match(res.stderr, /was not created by nordstack; refusing to delete it/);
            assert.equal(virsh("dominfo", GUEST).status, 0, "the foreign domain must survive");
        } finally {
            virsh("undefine", GUEST);
        }
    });
});
