// The real thing: this machine as the hypervisor (SSH on 127.0.0.1, libvirt
// domain type qemu), one guest created by the commands LibvirtGuests renders
// (taken from the component under Pulumi mocks, then sent over SSH unchanged),
// logged into through the hypervisor with the guest key, checked by the real
// preflight script, then deleted without leaving a domain, disk or seed.
//
// Host keys: the guest's host key stands in for the @pulumi/tls key (mocks
// cannot run the tls provider): a real ed25519 key from ssh-keygen, in the
// OpenSSH format the provider's privateKeyOpenssh has. The guest must come up
// with exactly that key, and OpenSSH with StrictHostKeyChecking=yes and a
// known_hosts made from the handle's pin must accept it and refuse any other.
// That checks the pin and what the guest serves; the command provider's own
// check of `connection.hostKey` is covered by the real-engine end-to-end run.
//
// The guest image is built by build-test-image.sh (cached): it has no
// cloud-init, but a stand-in that reads the same NoCloud seed (see there).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { GraphRecorder, value, valueAndSecret } from "../helpers/mocks";
import { LocalHypervisor, requireTools, testImage, TestImage } from "./hypervisor";
import { loadNodeScript, renderNodeStep } from "../../components/host/remote-script";
import { preflightEnv } from "../../components/host/preflight";
import { parsePreflightOutput } from "../../components/host/preflight-checks";
import { GuestSpec, guestPaths, guestUserDataPath, renderGuestCommands } from "../../components/nodes/libvirt-render";
import type { NodeHandle } from "../../components/nodes/source";

const GUEST = "nslvt-osl-1";
const ADDRESS = "10.197.0.10";
const hv = new LocalHypervisor("/tmp/nordstack-libvirt-test", 2297, "nsvtbr0", "10.197.0.1/24");
// Inside the hypervisor's throwaway dir (removed by down()), not this machine's /etc.
const SECRET_DIR = `${hv.dir}/secrets`;
const USER_DATA = guestUserDataPath(SECRET_DIR, GUEST);

/** Strict OpenSSH options for the guest hop: only what `knownHosts` pins is accepted. */
const pinned = (knownHosts: string, ...extra: string[]): string[] => [
    ...["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`],
    ...["-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", ...extra],
];

interface Rendered {
    /** The SecretFile step that writes user-data (with the host private key) from stdin. */
    writeUserData: string;
    deleteUserData: string;
    userData: string;
    userDataSecret: boolean;
    create: string;
    delete: string;
    wait: string;
    guestScript: string;
    waitScript: string;
    node: NodeHandle;
    connection: types.input.remote.ConnectionArgs;
}

/** Runs LibvirtGuests under mocks and returns the exact command lines and handle it produced. */
async function renderWithComponent(img: TestImage, guestKeyPath: string, hostKeyPath: string): Promise<Rendered> {
    const hostKey = {
        privateKeyOpenssh: readFileSync(hostKeyPath, "utf8"),
        publicKeyOpenssh: readFileSync(`${hostKeyPath}.pub`, "utf8"),
    };
    pulumi.runtime.setMocks(
        {
            newResource: (a) => ({
                id: `${a.name}-id`,
                state: {
                    ...(a.inputs as Record<string, unknown>),
                    ...(a.type === "tls:index/privateKey:PrivateKey" ? hostKey : { stdout: "", stderr: "" }),
                },
            }),
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
            secretDir: SECRET_DIR,
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
    const [userData, userDataSecret] = await valueAndSecret(
        pulumi.output(rec.byName(`lvt-${GUEST}-user-data-write`).props.stdin as pulumi.Input<string>),
    );
    return {
        writeUserData: await str(`lvt-${GUEST}-user-data-write`, "create"),
        deleteUserData: await str(`lvt-${GUEST}-user-data-write`, "delete"),
        userData,
        userDataSecret,
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
    let hostKey: string;
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
        hostKey = path.join(keyDir, "host_ed25519");
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", hostKey]);
        r = await renderWithComponent(img, guestKey, hostKey);
        mark("hypervisor up");
    });

    after(() => {
        // A failed run must not leave a guest behind: delete is idempotent.
        if (r) hv.ssh(r.delete, 120_000, r.guestScript);
        if (r) hv.ssh(r.deleteUserData, 30_000);
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

    it("writes the user-data with the host key root-only, from the SSH session's stdin, never in argv", () => {
        assert.equal(r.userDataSecret, true);
        assert.ok(r.userData.includes(readFileSync(hostKey, "utf8").split("\n")[1]), "the host private key is in user-data");
        for (const cmd of [r.writeUserData, r.deleteUserData, r.create, r.delete, r.wait]) assert.doesNotMatch(cmd, /PRIVATE KEY|ssh_keys/);
        const res = hv.ssh(r.writeUserData, 30_000, r.userData);
        assert.equal(res.code, 0, res.stderr);
        assert.equal(readFileSync(USER_DATA, "utf8"), r.userData);
        assert.equal(statSync(USER_DATA).mode & 0o777, 0o600);
        assert.equal(statSync(SECRET_DIR).mode & 0o777, 0o700);
    });

    it("creates the guest over SSH: overlay, seed, domain defined, autostarted, running", () => {
        const res = hv.ssh(r.create, 120_000, r.guestScript);
        assert.equal(res.code, 0, res.stderr);
        const p = guestPaths(hv.storageDir, GUEST);
        assert.ok(existsSync(p.disk) && existsSync(p.seed));
        const info = execFileSync("qemu-img", ["info", "--output=json", "-U", p.disk], { encoding: "utf8" });
        const disk = JSON.parse(info) as { format: string; "virtual-size": number; "backing-filename": string };
        assert.deepEqual([disk.format, disk["virtual-size"], disk["backing-filename"]], ["qcow2", 3 * 1024 ** 3, img.image]);
        assert.equal(statSync(p.seed).mode & 0o077, 0, "the seed holds the host private key: nobody but its owner reads it");
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

    it("serves exactly the generated host key, which the handle pins: strict checking against the pin succeeds", () => {
        const pin = readFileSync(`${hostKey}.pub`, "utf8").trim();
        assert.equal(r.connection.hostKey, pin);
        const knownHosts = path.join(keyDir, "known_hosts");
        writeFileSync(knownHosts, `${ADDRESS} ${r.connection.hostKey}\n`);
        const res = hv.sshGuest(
            "nordstack",
            ADDRESS,
            guestKey,
            "hostname && id -un && cd /etc/ssh && ls ssh_host_* && stat -c %a ssh_host_ed25519_key ssh_host_ed25519_key.pub",
            "",
            60_000,
            pinned(knownHosts),
        );
        assert.equal(res.code, 0, res.stderr);
        assert.equal(
            res.stdout,
            `${GUEST}\nnordstack\nssh_host_ed25519_key\nssh_host_ed25519_key.pub\n600\n644\n`,
            "the image's keys are gone, the stack's key is installed 0600/0644",
        );
        mark("pinned login passed");
    });

    it("refuses the guest when a different key is pinned, and offers no other key type to fall back on", () => {
        const other = path.join(keyDir, "other_ed25519");
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", other]);
        const knownHosts = path.join(keyDir, "known_hosts_wrong");
        writeFileSync(knownHosts, `${ADDRESS} ${readFileSync(`${other}.pub`, "utf8").trim()}\n`);
        const res = hv.sshGuest("nordstack", ADDRESS, guestKey, "echo reached", "", 60_000, pinned(knownHosts));
        assert.notEqual(res.code, 0);
        assert.equal(res.stdout, "", "no command ran");
        assert.match(res.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
        assert.match(res.stderr, /Host key verification failed/);
        // With every other host key type asked for, there is nothing to agree on: no unpinned key exists.
        // LogLevel INFO: OpenSSH reports the failed negotiation, with the server's offer, at that level.
        const noOther = hv.sshGuest("nordstack", ADDRESS, guestKey, "echo reached", "", 60_000, [
            ...["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=INFO"],
            ...["-o", "HostKeyAlgorithms=ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256"],
        ]);
        assert.notEqual(noOther.code, 0);
        assert.match(noOther.stderr, /no matching host key type found\. Their offer: ssh-ed25519\r?$/m);
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
        // Then the user-data file, as the engine deletes the SecretFile after the domain that depends on it.
        assert.equal(hv.ssh(r.deleteUserData, 30_000).code, 0);
        assert.equal(existsSync(USER_DATA), false, "user-data (host private key) left on the hypervisor");
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
        const broken = renderGuestCommands(spec, "root", "qemu:///system", USER_DATA);
        assert.equal(hv.ssh(r.writeUserData, 30_000, r.userData).code, 0);
        const res = hv.ssh(broken.create, 120_000, broken.stdin);
        assert.equal(hv.ssh(r.deleteUserData, 30_000).code, 0);
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
