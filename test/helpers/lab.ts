// Local test hosts (scripts/lab/lab.sh) for tests that run node scripts over real SSH.
import { execFileSync, spawnSync } from "node:child_process";
import * as path from "node:path";

const LAB_SCRIPT = path.resolve(__dirname, "..", "..", "scripts", "lab", "lab.sh");

/** OpenSSH client options for throwaway test hosts: no prompts, no known_hosts, bounded connect. */
export const TEST_SSH_OPTIONS: readonly string[] = [
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=5",
];

export interface LabHost {
    name: string;
    address: string;
    netns: string;
    hostKey: string;
}

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** A lab of its own per test file: own state dir, name prefix and /24, so files never collide. */
export class Lab {
    private constructor(
        private readonly env: NodeJS.ProcessEnv,
        readonly keyPath: string,
        readonly hosts: LabHost[],
    ) {}

    static up(count: number, id: number): Lab {
        if (process.getuid?.() !== 0) throw new Error("lab tests need root (network namespaces); run them as root or in CI");
        const env = {
            ...process.env,
            NORDSTACK_LAB_DIR: `/tmp/nordstack-lab-test-${id}`,
            NORDSTACK_LAB_PREFIX: `nlt${id}`,
            NORDSTACK_LAB_SUBNET: `10.198.${id}`,
        };
        spawnSync("bash", [LAB_SCRIPT, "down"], { env, stdio: "ignore" }); // leftovers of a killed run
        const out = execFileSync("bash", [LAB_SCRIPT, "up", String(count)], {
            env,
            encoding: "utf8",
            stdio: ["ignore", "pipe", "inherit"],
        });
        const inv = JSON.parse(out) as { keyPath: string; hosts: LabHost[] };
        return new Lab(env, inv.keyPath, inv.hosts);
    }

    down(): void {
        execFileSync("bash", [LAB_SCRIPT, "down"], { env: this.env, stdio: ["ignore", "ignore", "inherit"] });
    }

    host(name: string): LabHost {
        const h = this.hosts.find((x) => x.name === name);
        if (!h) throw new Error(`no lab host ${name}`);
        return h;
    }

    /** Runs a command line on a host over SSH, exactly as a remote.Command would send it (with its stdin). */
    ssh(name: string, command: string, timeoutMs = 60_000, stdin = "", user = "root"): RunResult {
        const r = spawnSync("ssh", ["-i", this.keyPath, ...TEST_SSH_OPTIONS, `${user}@${this.host(name).address}`, command], {
            encoding: "utf8",
            timeout: timeoutMs,
            input: stdin,
        });
        if (r.error) throw r.error;
        return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    }

    /** Runs a rendered node step: its command line, the script on stdin. */
    step(name: string, step: { command: string; stdin: string }, timeoutMs = 60_000, user = "root"): RunResult {
        return this.ssh(name, step.command, timeoutMs, step.stdin, user);
    }

    /** Like ssh() but throws with stderr when the command fails. */
    run(name: string, command: string): string {
        const r = this.ssh(name, command);
        if (r.code !== 0) throw new Error(`on ${name}: ${command.split("\n")[0]} exited ${r.code}: ${r.stderr}`);
        return r.stdout;
    }

    /** Runs a command inside a host's network namespace from the machine (e.g. to change its MTU). */
    netns(name: string, ...args: string[]): string {
        return execFileSync("ip", ["netns", "exec", this.host(name).netns, ...args], { encoding: "utf8" });
    }
}

/** A kernel-global sysctl (shared by every namespace): read it, and restore it later. */
export function globalSysctl(key: string): { value: string; restore: () => void } {
    const file = `/proc/sys/${key.replace(/\./g, "/")}`;
    const value = execFileSync("cat", [file], { encoding: "utf8" }).trim();
    return { value, restore: () => execFileSync("sh", ["-c", `printf '%s\\n' "$1" > "$2"`, "sh", value, file]) };
}
