// scripts/dev/pulumi.sh and run.sh: local state, the passphrase in the user's
// config directory, and no rewrite of a tracked stack file. Each test runs the
// scripts in a throwaway git checkout with its own HOME. The parts that need
// the Pulumi CLI use the pinned one the toolchain builds (/work/main/.toolchain/bin
// or this checkout's .toolchain/bin) and are skipped, saying so, without it.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");
const CLI_DIRS = [path.join(ROOT, ".toolchain", "bin"), "/work/main/.toolchain/bin"];
const CLI_DIR = CLI_DIRS.find((d) => existsSync(path.join(d, "pulumi")));

interface Checkout {
    dir: string;
    home: string;
    env: NodeJS.ProcessEnv;
    run: (cmd: string, input?: string) => { code: number; stdout: string; stderr: string };
    git: (...args: string[]) => string;
}

/** A git checkout of the files the scripts and the program need, committed, with node_modules linked. */
function checkout(): Checkout {
    const base = mkdtempSync(path.join(os.tmpdir(), "nordstack-wrapper-"));
    const dir = path.join(base, "repo");
    const home = path.join(base, "home");
    mkdirSync(home);
    for (const p of [
        "Pulumi.yaml",
        "Pulumi.dev.yaml",
        "package.json",
        "tsconfig.json",
        "index.ts",
        "components",
        "scripts",
        ".gitignore",
        ".pulumi-state/.gitkeep",
    ]) {
        cpSync(path.join(ROOT, p), path.join(dir, p), { recursive: true });
    }
    symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    const env: NodeJS.ProcessEnv = {
        PATH: `${CLI_DIR ? `${CLI_DIR}:` : ""}${process.env.PATH}`,
        HOME: home,
        // No inherited pulumi settings: the scripts must work with none.
        LANG: "C.UTF-8",
        PULUMI_HOME: path.join(home, ".pulumi"),
    };
    const git = (...args: string[]) =>
        execFileSync("git", ["-C", dir, "-c", "user.email=t@example.no", "-c", "user.name=t", ...args], { encoding: "utf8" });
    git("init", "-q");
    git("add", "-A");
    git("commit", "-qm", "checkout");
    const run = (cmd: string, input?: string) => {
        const r = spawnSync("bash", ["-c", cmd], { cwd: dir, env, input, encoding: "utf8", timeout: 240_000 });
        return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    return { dir, home, env, run, git };
}

const sourced = (fn: string) => `NORDSTACK_ROOT=$PWD; . scripts/dev/pulumi-env.sh; ${fn}`;

describe("pulumi wrapper environment (no CLI needed)", () => {
    let c: Checkout;
    before(() => (c = checkout()));
    after(() => rmSync(path.dirname(c.dir), { recursive: true, force: true }));

    it("generates the passphrase once in ~/.config/nordstack (0600, directory 0700), outside the repository", () => {
        const r = c.run(sourced('ensure_passphrase; echo "$PULUMI_CONFIG_PASSPHRASE_FILE"'));
        assert.equal(r.code, 0, r.stderr);
        const file = path.join(c.home, ".config", "nordstack", "passphrase");
        assert.equal(r.stdout.trim(), file);
        assert.match(r.stderr, /generated the passphrase .* back it up/);
        assert.equal(statSync(file).mode & 0o777, 0o600);
        assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
        const pass = readFileSync(file, "utf8");
        assert.match(pass, /^[A-Za-z0-9+/]{43}=\n$/);
        const again = c.run(sourced("ensure_passphrase"));
        assert.equal(again.stderr, "", "second run: nothing to say");
        assert.equal(readFileSync(file, "utf8"), pass, "never regenerated");
        const xdg = c.run(`XDG_CONFIG_HOME=${c.home}/xdg ${sourced('ensure_passphrase; echo "$PULUMI_CONFIG_PASSPHRASE_FILE"')}`);
        assert.equal(xdg.stdout.trim(), path.join(c.home, "xdg", "nordstack", "passphrase"));
        assert.equal(
            c.run(`PULUMI_CONFIG_PASSPHRASE=x ${sourced('ensure_passphrase; echo "${PULUMI_CONFIG_PASSPHRASE_FILE:-none}"')}`).stdout,
            "none\n",
        );
    });

    it("moves a passphrase from the old place beside the state (.nordstack/passphrase) to the config directory", () => {
        const home2 = path.join(c.home, "other");
        mkdirSync(path.join(c.dir, ".nordstack"), { recursive: true });
        writeFileSync(path.join(c.dir, ".nordstack", "passphrase"), "old-secret\n", { mode: 0o600 });
        const r = c.run(`HOME=${home2} ${sourced("ensure_passphrase")}`);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /moved the stack passphrase from .nordstack\/passphrase/);
        assert.equal(readFileSync(path.join(home2, ".config", "nordstack", "passphrase"), "utf8"), "old-secret\n");
        assert.equal(existsSync(path.join(c.dir, ".nordstack", "passphrase")), false);
    });

    it("a tracked stack file runs on an untracked copy that keeps the salt; an untracked one is used as it is", () => {
        const side = path.join(c.dir, ".pulumi-state", "stack-config", "Pulumi.dev.yaml");
        const first = c.run(sourced("config_file_args dev"));
        assert.deepEqual(first.stdout.split("\n"), ["--config-file", side, ""]);
        assert.equal(readFileSync(side, "utf8"), readFileSync(path.join(c.dir, "Pulumi.dev.yaml"), "utf8"));
        writeFileSync(side, `${readFileSync(side, "utf8")}encryptionsalt: v1:abc:def\n`);
        c.run(sourced("config_file_args dev"));
        assert.match(readFileSync(side, "utf8"), /\nencryptionsalt: v1:abc:def\n$/, "the salt survives a refresh of the copy");
        writeFileSync(path.join(c.dir, "Pulumi.prod.yaml"), "config: {}\n");
        assert.equal(c.run(sourced("config_file_args prod")).stdout, "");
        assert.equal(c.git("status", "--porcelain"), "?? Pulumi.prod.yaml\n");
    });
});

describe("pulumi wrapper with the real CLI", { skip: CLI_DIR ? false : "no pinned pulumi CLI built here yet (npm run toolchain)" }, () => {
    let c: Checkout;
    before(() => (c = checkout()));
    after(() => rmSync(path.dirname(c.dir), { recursive: true, force: true }));

    it("npm run preview leaves every tracked file as it was (the salt lives in .pulumi-state/)", () => {
        const r = c.run("bash scripts/dev/run.sh preview dev");
        // The preview itself may stop at a provider plugin this machine lacks; the state and config path must not.
        assert.doesNotMatch(r.stderr, /PULUMI_ACCESS_TOKEN|passphrase must be set|Enter your passphrase/);
        assert.equal(c.git("status", "--porcelain"), "", `tracked files unchanged\n${r.stderr.slice(-2000)}`);
        assert.match(readFileSync(path.join(c.dir, ".pulumi-state", "stack-config", "Pulumi.dev.yaml"), "utf8"), /\nencryptionsalt: v1:/);
        assert.ok(
            existsSync(path.join(c.dir, ".pulumi-state", ".pulumi", "stacks", "nordstack", "dev.json")) ||
                existsSync(path.join(c.dir, ".pulumi-state", ".pulumi", "stacks", "nordstack", "dev.json.gz")),
            "the stack lives in the local state",
        );
        const again = c.run("bash scripts/dev/run.sh preview dev");
        assert.doesNotMatch(again.stderr, /incorrect passphrase/);
        assert.equal(c.git("status", "--porcelain"), "");
    });

    it("README step 3 as written: npm run pulumi -- config set --stack prod --secret sshPrivateKey < key", () => {
        const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n";
        const set = c.run("npm run -s pulumi -- config set --stack prod --secret sshPrivateKey", key);
        assert.equal(set.code, 0, set.stderr);
        const file = readFileSync(path.join(c.dir, "Pulumi.prod.yaml"), "utf8");
        assert.match(file, /nordstack:sshPrivateKey:\n\s+secure: v1:/);
        assert.ok(!file.includes("not-a-real-key"), "encrypted in the stack file");
        const get = c.run("npm run -s pulumi -- config get --stack prod sshPrivateKey");
        assert.equal(get.code, 0, get.stderr);
        assert.equal(get.stdout.trim(), key.trim());
        // Plain pulumi from the repository root finds the same local state through Pulumi.yaml's backend.url.
        const plain = c.run(`PULUMI_CONFIG_PASSPHRASE_FILE=${c.home}/.config/nordstack/passphrase pulumi stack ls --json`);
        assert.equal(plain.code, 0, plain.stderr);
        assert.deepEqual((JSON.parse(plain.stdout) as { name: string }[]).map((s) => s.name).sort(), ["dev", "prod"]);
        assert.equal(c.git("status", "--porcelain"), "?? Pulumi.prod.yaml\n");
    });
});
