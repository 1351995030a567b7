// A local hypervisor for the real libvirt test: this machine, reached over SSH
// on 127.0.0.1 (a private sshd with a throwaway key), libvirtd started by hand
// when it is not running (no systemd here), and a bridge on a private range for
// the guests. Everything it starts or creates is undone by down().
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync, chmodSync } from "node:fs";
import * as path from "node:path";
import { TEST_SSH_OPTIONS } from "../helpers/lab";

export const CACHE_DIR = "/var/cache/nordstack-test/libvirt";
// Runs share the guest name, bridge, subnet and port: one at a time per machine (the whole suite may run beside a developer's run).
const LOCK = "/run/nordstack-libvirt-test.lock";
const BUILD_SCRIPT = path.join(__dirname, "build-test-image.sh");

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

export interface TestImage {
    image: string;
    kernel: string;
    initrd: string;
}

/** Fails with the missing pieces named, instead of letting the test pass vacuously. */
export function requireTools(): void {
    if (process.getuid?.() !== 0) throw new Error("the libvirt test needs root (libvirtd, bridge, sshd)");
    const missing = [
        "virsh",
        "libvirtd",
        "virtlogd",
        "qemu-system-x86_64",
        "qemu-img",
        "cloud-localds",
        "mmdebstrap",
        "mkfs.ext4",
        "ssh",
        "ssh-keygen",
    ].filter((t) => spawnSync("sh", ["-c", `command -v ${t} || test -x /usr/sbin/${t}`], { stdio: "ignore" }).status !== 0);
    if (!existsSync("/usr/sbin/sshd")) missing.push("sshd");
    if (!readdirSync("/boot").some((f) => f.startsWith("vmlinuz-"))) missing.push("/boot/vmlinuz-* (linux-image-amd64)");
    if (missing.length)
        throw new Error(
            `missing on this machine: ${missing.join(", ")}; install them with: sudo bash scripts/dev/system-deps.sh --install (libvirt, QEMU, cloud-image-utils, mmdebstrap, linux-image-amd64)`,
        );
}

/** Builds (or reuses) the cached guest image; removes images of older builder versions. */
export function testImage(): TestImage {
    const image = execFileSync("bash", [BUILD_SCRIPT, CACHE_DIR], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
        timeout: 900_000,
    }).trim();
    for (const f of readdirSync(CACHE_DIR))
        if (/^debian12-.*\.raw$/.test(f) && path.join(CACHE_DIR, f) !== image) unlinkSync(path.join(CACHE_DIR, f));
    const kver = readdirSync(CACHE_DIR)
        .filter((f) => f.startsWith("vmlinuz-"))
        .map((f) => f.slice("vmlinuz-".length))
        .sort()
        .pop();
    if (!kver) throw new Error(`no kernel in ${CACHE_DIR}`);
    return { image, kernel: `${CACHE_DIR}/vmlinuz-${kver}`, initrd: `${CACHE_DIR}/initrd.img-${kver}` };
}

/** The daemon of this pid file runs (a zombie or a stale file does not count). */
function alive(pidFile: string): boolean {
    if (!existsSync(pidFile)) return false;
    const status = `/proc/${readFileSync(pidFile, "utf8").trim()}/status`;
    return existsSync(status) && !/^State:\s+Z/m.test(readFileSync(status, "utf8"));
}

const virshOk = () => spawnSync("virsh", ["-c", "qemu:///system", "version"], { stdio: "ignore", timeout: 10_000 }).status === 0;

export class LocalHypervisor {
    private started: number[] = [];
    private sshdPid?: number;
    readonly keyPath: string;
    readonly storageDir: string;

    constructor(
        readonly dir: string,
        readonly sshPort: number,
        readonly bridge: string,
        readonly bridgeCidr: string,
    ) {
        this.keyPath = path.join(dir, "hv_ed25519");
        this.storageDir = path.join(dir, "storage");
    }

    up(): void {
        this.lock(300_000);
        this.cleanup();
        mkdirSync(this.storageDir, { recursive: true });
        // libvirt-qemu must reach the disk and seed through these directories.
        chmodSync(this.dir, 0o755);
        chmodSync(this.storageDir, 0o755);
        this.startLibvirt();
        execFileSync("ip", ["link", "add", this.bridge, "type", "bridge"]);
        execFileSync("ip", ["addr", "add", this.bridgeCidr, "dev", this.bridge]);
        execFileSync("ip", ["link", "set", this.bridge, "up"]);
        this.startSshd();
    }

    private locked = false;

    /** Exclusive-create lock file holding our pid; a dead holder's lock is taken over. */
    private lock(timeoutMs: number): void {
        const until = Date.now() + timeoutMs;
        for (;;) {
            try {
                writeFileSync(LOCK, String(process.pid), { flag: "wx" });
                this.locked = true;
                return;
            } catch {
                const holder = existsSync(LOCK) ? readFileSync(LOCK, "utf8").trim() : "";
                if (holder && !alive(LOCK)) rmSync(LOCK, { force: true });
                else if (Date.now() > until) throw new Error(`another libvirt test run (pid ${holder}) still holds ${LOCK}`);
                else spawnSync("sleep", ["1"]);
            }
        }
    }

    private startLibvirt(): void {
        if (virshOk()) return;
        for (const [daemon, pidFile] of [
            ["virtlogd", "/run/virtlogd.pid"],
            ["libvirtd", "/run/libvirtd.pid"],
        ]) {
            if (alive(pidFile)) continue;
            rmSync(pidFile, { force: true });
            execFileSync(daemon, ["-d"]);
            const until = Date.now() + 10_000;
            while (!existsSync(pidFile) && Date.now() < until) spawnSync("sleep", ["0.1"]);
            if (!existsSync(pidFile)) throw new Error(`${daemon} -d did not write ${pidFile}`);
            this.started.push(Number(readFileSync(pidFile, "utf8").trim()));
        }
        const until = Date.now() + 20_000;
        while (!virshOk()) {
            if (Date.now() > until) throw new Error("libvirtd started but qemu:///system does not answer; see /var/log/libvirt/");
            spawnSync("sleep", ["0.2"]);
        }
    }

    private startSshd(): void {
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nordstack-libvirt-test", "-f", this.keyPath]);
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(this.dir, "host_ed25519")]);
        writeFileSync(path.join(this.dir, "authorized_keys"), readFileSync(`${this.keyPath}.pub`));
        writeFileSync(
            path.join(this.dir, "sshd_config"),
            [
                `ListenAddress 127.0.0.1`,
                `Port ${this.sshPort}`,
                `HostKey ${this.dir}/host_ed25519`,
                `PidFile ${this.dir}/sshd.pid`,
                `AuthorizedKeysFile ${this.dir}/authorized_keys`,
                `PermitRootLogin prohibit-password`,
                `PasswordAuthentication no`,
                `KbdInteractiveAuthentication no`,
                `UsePAM no`,
                `StrictModes no`,
                // The guests are reached through the hypervisor as jump host.
                `AllowTcpForwarding yes`,
                `LogLevel ERROR`,
                ``,
            ].join("\n"),
        );
        mkdirSync("/run/sshd", { recursive: true });
        const p = spawn("/usr/sbin/sshd", ["-D", "-f", path.join(this.dir, "sshd_config"), "-E", path.join(this.dir, "sshd.log")], {
            detached: true,
            stdio: "ignore",
        });
        p.unref();
        this.sshdPid = p.pid;
        const until = Date.now() + 10_000;
        while (this.ssh("true").code !== 0) {
            if (Date.now() > until) throw new Error(`private sshd on 127.0.0.1:${this.sshPort} did not answer; see ${this.dir}/sshd.log`);
            spawnSync("sleep", ["0.1"]);
        }
    }

    /** Runs a command line on the hypervisor over SSH, exactly as a remote.Command sends it. */
    ssh(command: string, timeoutMs = 120_000, stdin = ""): RunResult {
        const r = spawnSync("ssh", ["-i", this.keyPath, "-p", String(this.sshPort), ...TEST_SSH_OPTIONS, "root@127.0.0.1", command], {
            encoding: "utf8",
            timeout: timeoutMs,
            input: stdin,
        });
        return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
    }

    /**
     * Runs a command on a guest through the hypervisor as jump host, the way the NodeHandle's `proxy` connects.
     * `guestOptions` replace the test defaults for the guest hop (e.g. strict checking against a pinned key).
     */
    sshGuest(
        user: string,
        address: string,
        guestKey: string,
        command: string,
        stdin = "",
        timeoutMs = 120_000,
        guestOptions: readonly string[] = TEST_SSH_OPTIONS,
    ): RunResult {
        const jump = ["ssh", "-i", this.keyPath, "-p", String(this.sshPort), ...TEST_SSH_OPTIONS, "-W", "%h:%p", "root@127.0.0.1"].join(
            " ",
        );
        const r = spawnSync("ssh", ["-i", guestKey, ...guestOptions, "-o", `ProxyCommand=${jump}`, `${user}@${address}`, command], {
            encoding: "utf8",
            timeout: timeoutMs,
            input: stdin,
        });
        return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
    }

    /** Undoes up(); does nothing when this run never got the lock (the holder's hypervisor is not ours). */
    down(): void {
        if (!this.locked) return;
        this.cleanup();
        if (existsSync(LOCK) && readFileSync(LOCK, "utf8").trim() === String(process.pid)) rmSync(LOCK, { force: true });
        this.locked = false;
    }

    /** Stops and removes what up() made, also a killed earlier run's leftovers (same fixed names). */
    private cleanup(): void {
        if (this.sshdPid) spawnSync("kill", [String(this.sshdPid)]);
        this.sshdPid = undefined;
        const pidFile = path.join(this.dir, "sshd.pid");
        if (existsSync(pidFile)) spawnSync("kill", [readFileSync(pidFile, "utf8").trim()]);
        spawnSync("ip", ["link", "del", this.bridge], { stdio: "ignore" });
        // libvirtd first, so it does not respawn a log daemon connection.
        for (const pid of this.started.reverse()) spawnSync("kill", [String(pid)]);
        this.started = [];
        rmSync(this.dir, { recursive: true, force: true });
    }
}
