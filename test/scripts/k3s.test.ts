// The k3s node scripts over real SSH on lab hosts. The real k3s binary and the
// official install script cannot be downloaded here, so stand-ins take their
// place on the host, and they behave like the real ones where it matters:
// - install.sh restarts the service only when the binary, the unit or its env
//   file changed (printing "No change detected so skipping service start"
//   otherwise), exactly the rule that let config changes go unapplied;
// - systemctl records when the service (re)started and with which config.yaml;
// - k3s answers `--version` with the version baked into the binary, and the
//   kubectl calls the scripts make, from files.
// Everything of ours runs for real, as root and as a sudo user.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Lab, TEST_SSH_OPTIONS } from "../helpers/lab";
import { loadNodeScript, renderNodeStep } from "../../components/host/remote-script";
import { renderSecretFileCommands } from "../../components/host/secret-file";
import { renderK3sConfig, TOKEN_FILE } from "../../components/k3s/render";
import { renderRegistriesYaml } from "../../components/k3s/registries";

const V1 = "v1.35.5+k3s1";
const V2 = "v1.36.3+k3s1";
const TOKEN = "K10abcdefABCDEF0123456789tokenXYZ";
const SUDO_USER = "nordstack-t";
const STATE = "/var/lib/nordstack/standin";

const standInK3s = (version: string) => `#!/bin/sh
# stand-in k3s ${version}
state=${STATE}
mkdir -p "$state"
if [ "$1" = "--version" ]; then echo "k3s version ${version} (stand-in)"; exit 0; fi
[ "$1" = kubectl ] || exit 64
shift
echo "$*" >> "$state/kubectl.log"
case "$1 $2" in
"get node")
    [ -f "$state/node-$3" ] || { echo "Error from server (NotFound): nodes \\"$3\\" not found" >&2; exit 1; }
    case "$*" in
    *kubeletVersion*) sed -n 2p "$state/node-$3" ;;
    *Ready*) sed -n 1p "$state/node-$3" ;;
    esac ;;
"get nodes") ls "$state" | grep -c '^node-' ;;
"apply -f") cat > "$state/applied.yaml" ;;
"-n kube-system") printf '%s' "stand-in-sa-token" | base64 ;;
"drain "* | "uncordon "* | "delete node") exit 0 ;;
esac
`;

/** Like the real installer: unit + env file, restart only when binary, unit or env changed. */
const STAND_IN_INSTALLER = `#!/bin/sh
set -e
state=${STATE}
mkdir -p "$state"
echo run >> "$state/install-runs"
if [ "$INSTALL_K3S_SKIP_DOWNLOAD" != true ]; then
    # Like the real one: the binary and the release's sha256sum file from GITHUB_URL, checked.
    base="$GITHUB_URL/download/$INSTALL_K3S_VERSION"
    curl -sfL -o /tmp/k3s.download "$base/k3s"
    want=$(curl -sfL "$base/sha256sum-amd64.txt" | awk '$2 == "k3s" {print $1}')
    [ "$(sha256sum /tmp/k3s.download | cut -d' ' -f1)" = "$want" ] || { echo "[ERROR]  Download sha256 does not match" >&2; exit 1; }
    install -m 0755 /tmp/k3s.download /usr/local/bin/k3s
    rm -f /tmp/k3s.download
fi
svc=k3s
[ "$INSTALL_K3S_EXEC" = agent ] && svc=k3s-agent
printf '[Service]\\nExecStart=/usr/local/bin/k3s %s\\n' "$INSTALL_K3S_EXEC" > "$state/$svc.service"
env | grep -E '^K3S_' | sort > "$state/$svc.service.env"
env | grep -E '^(INSTALL_K3S|K3S)_' | sort > "$state/install-env"
name=k3s-uninstall.sh
[ "$INSTALL_K3S_EXEC" = agent ] && name=k3s-agent-uninstall.sh
printf '#!/bin/sh\\nsystemctl stop %s\\nrm -f /usr/local/bin/k3s /usr/local/bin/%s\\nrm -rf /var/lib/rancher/k3s\\n' "$svc" "$name" > /usr/local/bin/$name
chmod 0755 /usr/local/bin/$name
hash=$(cat /usr/local/bin/k3s "$state/$svc.service" "$state/$svc.service.env" | sha256sum)
if [ "$(cat "$state/$svc.hash" 2>/dev/null)" = "$hash" ]; then
    echo "[INFO]  No change detected so skipping service start" >&2
else
    echo "$hash" > "$state/$svc.hash"
    systemctl restart "$svc"
fi
`;

/** systemctl for a host without systemd: records each (re)start and the config.yaml and token it started with. */
const STAND_IN_SYSTEMCTL = `#!/bin/sh
state=${STATE}
mkdir -p "$state"
case "$1" in
is-system-running) echo running ;;
show) cat "$state/$5.started" 2>/dev/null || echo 0 ;;
restart)
    n=$(($(cat "$state/$2.started" 2>/dev/null || echo 0) + 1))
    echo "$n" > "$state/$2.started"
    cp /etc/rancher/k3s/config.yaml "$state/$2.running-config"
    sha256sum < ${TOKEN_FILE} | cut -d' ' -f1 > "$state/$2.running-token"
    /usr/local/bin/k3s --version | awk '{print $3}' > "$state/$2.running-version" ;;
is-active) [ -f "$state/$3.started" ] ;;
stop) rm -f "$state/$2.started" ;;
esac
`;

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

interface InstallResult {
    changed: boolean;
    restarted: boolean;
    configChanged?: boolean;
    role: string;
    service: string;
    previousVersion: string;
    version: string;
}

describe("k3s node scripts over SSH (stand-in k3s that restarts like the real installer)", () => {
    let lab: Lab;
    const install = loadNodeScript("k3s-install.sh");
    const config = (labels: Record<string, string> = {}) =>
        renderK3sConfig({
            role: "agent",
            nodeName: "node2",
            nodeIp: "10.198.6.12",
            flannelIface: "eth0",
            serverUrl: "https://10.198.6.11:6443",
            flannelBackend: "vxlan",
            embeddedEtcd: false,
            labels,
        });
    const binaries: Record<string, string> = { [V1]: standInK3s(V1), [V2]: standInK3s(V2) };
    let version = V1;
    const airgapSums = () => `k3s=${sha(binaries[version])} images.tar.zst=${sha("stand-in images")} install.sh=${sha(STAND_IN_INSTALLER)}`;
    const env = (over: Record<string, string> = {}) => ({
        NORDSTACK_K3S_VERSION: version,
        NORDSTACK_K3S_ROLE: "agent",
        NORDSTACK_K3S_CONFIG: config(),
        NORDSTACK_K3S_SERVER_URL: "https://10.198.6.11:6443",
        NORDSTACK_K3S_AIRGAP_DIR: ".nordstack-airgap",
        NORDSTACK_K3S_AIRGAP_SHA256: airgapSums(),
        ...over,
    });
    /** The install step as the Cluster component sends it: script on stdin, as the sudo user. */
    const runInstall = (over: Record<string, string> = {}, user = SUDO_USER) =>
        lab.step("node2", renderNodeStep({ script: install, args: ["install"], env: env(over), user }), 60_000, user);
    const parsed = (stdout: string) => JSON.parse(stdout) as InstallResult;
    const writeToken = (token: string, user = SUDO_USER) => {
        const c = renderSecretFileCommands(TOKEN_FILE, user);
        return lab.ssh("node2", c.create, 30_000, `${token}\n`, user);
    };
    /** Uploads the air-gap files as the SSH user would over SFTP: into ~/.nordstack-airgap, no root. */
    const upload = (user = SUDO_USER) => {
        const put = (file: string, text: string) =>
            lab.ssh("node2", `mkdir -p -m 0700 .nordstack-airgap && cat > .nordstack-airgap/${file}`, 30_000, text, user);
        for (const [f, t] of [
            ["k3s", binaries[version]],
            ["images.tar.zst", "stand-in images"],
            ["install.sh", STAND_IN_INSTALLER],
        ])
            assert.equal(put(f, t).code, 0);
    };
    const member = (mode: string, node: string, extra: Record<string, string> = {}) =>
        lab.step(
            "node1",
            renderNodeStep({
                script: loadNodeScript("k3s-member.sh"),
                args: [mode, node],
                env: { NORDSTACK_TIMEOUT: "4", ...extra },
                user: "root",
            }),
        );
    const put = (node: string, file: string, text: string, mode = "0644") =>
        lab.ssh(node, `mkdir -p "$(dirname ${file})" && cat > ${file} && chmod ${mode} ${file}`, 30_000, text);

    before(() => {
        lab = Lab.up(2, 6);
        // A non-root SSH user with passwordless sudo, like the example stack's `debian`.
        execFileSync("sh", [
            "-c",
            `id ${SUDO_USER} >/dev/null 2>&1 || useradd -m -d /tmp/${SUDO_USER}-home -s /bin/bash ${SUDO_USER}; usermod -p "*" ${SUDO_USER}; ` +
                `echo '${SUDO_USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/${SUDO_USER} && chmod 0440 /etc/sudoers.d/${SUDO_USER}`,
        ]);
        put("node2", "/usr/local/bin/systemctl", STAND_IN_SYSTEMCTL, "0755");
        put("node1", "/usr/local/bin/k3s", standInK3s(V1), "0755");
    });
    after(() => {
        lab?.down();
        execFileSync("sh", [
            "-c",
            `rm -f /etc/sudoers.d/${SUDO_USER}; userdel -r ${SUDO_USER} 2>/dev/null || true; rm -rf /tmp/${SUDO_USER}-home`,
        ]);
    });

    it("refuses to run without its inputs (no token file yet, bad version), before changing anything", () => {
        upload();
        const cases: [Record<string, string>, RegExp][] = [
            [{ NORDSTACK_K3S_VERSION: "latest" }, /NORDSTACK_K3S_VERSION must be a k3s release like v1.36.3\+k3s1, got 'latest'/],
            [{ NORDSTACK_K3S_ROLE: "" }, /NORDSTACK_K3S_ROLE must be server-init, server-join or agent/],
            [{ NORDSTACK_K3S_SERVER_URL: "" }, /NORDSTACK_K3S_SERVER_URL is required for agents/],
            [{}, /no cluster token in \/var\/lib\/nordstack\/k3s-token; the token step runs before this one/],
        ];
        for (const [over, msg] of cases) {
            const r = runInstall(over);
            assert.equal(r.code, 1, JSON.stringify(over));
            assert.match(r.stderr, msg);
        }
        assert.equal(lab.ssh("node2", `test -e /etc/rancher/k3s/config.yaml || test -e /usr/local/bin/k3s`).code, 1);
    });

    it("writes the token from stdin into a root-only file, as a sudo user, never visible in ps", async () => {
        // Watch every process on the machine (lab hosts share its PID namespace) while the step runs.
        const seen: string[] = [];
        let watching = true;
        const watcher = (async () => {
            while (watching) {
                seen.push(execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }));
                await new Promise((r) => setTimeout(r, 20));
            }
        })();
        const c = renderSecretFileCommands(TOKEN_FILE, SUDO_USER);
        assert.ok(c.create.startsWith("sudo -n sh -c "), c.create);
        // Keep stdin open a while, so the command is surely running while ps looks.
        const child = spawn("ssh", ["-i", lab.keyPath, ...TEST_SSH_OPTIONS, `${SUDO_USER}@${lab.host("node2").address}`, c.create]);
        child.stdin.write(`${TOKEN}\n`);
        await new Promise((r) => setTimeout(r, 700));
        child.stdin.end();
        const code = await new Promise((r) => child.on("close", r));
        watching = false;
        await watcher;
        assert.equal(code, 0);
        assert.ok(seen.length > 5 && seen.some((s) => s.includes("nordstack-secret-file")), "ps saw the step running");
        assert.ok(!seen.some((s) => s.includes(TOKEN)), "the token never appears in any process's arguments");
        assert.equal(lab.run("node2", `stat -c '%a %U' ${TOKEN_FILE} && cat ${TOKEN_FILE}`), `600 root\n${TOKEN}\n`);
    });

    it("installs air-gapped as a sudo user: checks every upload's sha256, keeps the images' extension, starts once", () => {
        const r = runInstall();
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(parsed(r.stdout), {
            changed: true,
            restarted: true,
            configChanged: true,
            role: "agent",
            service: "k3s-agent",
            previousVersion: "",
            version: V1,
        });
        assert.equal(lab.run("node2", "stat -c '%a %U' /etc/rancher/k3s/config.yaml"), "600 root\n");
        assert.equal(lab.run("node2", "ls /var/lib/rancher/k3s/agent/images/"), "k3s-airgap-images.tar.zst\n");
        assert.equal(lab.ssh("node2", "test -e .nordstack-airgap", 30_000, "", SUDO_USER).code, 1, "staging removed");
        const installerEnv = lab.run("node2", `cat ${STATE}/install-env`);
        assert.match(
            installerEnv,
            new RegExp(`INSTALL_K3S_SKIP_DOWNLOAD=true\nINSTALL_K3S_VERSION=${V1.replace("+", "\\+")}\nK3S_TOKEN_FILE=${TOKEN_FILE}`),
        );
        assert.ok(!installerEnv.includes(TOKEN) && !r.stderr.includes(TOKEN) && !r.stdout.includes(TOKEN));
        assert.equal(lab.run("node2", `cat ${STATE}/k3s-agent.started`), "1\n");
        assert.equal(lab.run("node2", `cat ${STATE}/k3s-agent.running-config`), `${config()}\n`);
    });

    it("changes nothing on a second run with the same version, config and token", () => {
        const r = runInstall();
        assert.equal(r.code, 0, r.stderr);
        assert.equal(parsed(r.stdout).changed, false);
        assert.match(r.stderr, /already runs with this configuration; No change detected/);
        assert.equal(lab.run("node2", `wc -l < ${STATE}/install-runs`).trim(), "1");
        assert.equal(lab.run("node2", `cat ${STATE}/k3s-agent.started`), "1\n");
    });

    it("a config-only change restarts k3s (the installer alone would not) and the running process has the new config", () => {
        const labelled = config({ "topology.kubernetes.io/zone": "no-oslo-b" });
        const r = runInstall({ NORDSTACK_K3S_CONFIG: labelled });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /No change detected so skipping service start/, "the stand-in installer behaves like the real one");
        assert.match(r.stderr, /restarting k3s-agent: its configuration changed and the installer did not restart it/);
        assert.equal(parsed(r.stdout).restarted, true);
        assert.equal(lab.run("node2", `cat ${STATE}/k3s-agent.started`), "2\n");
        assert.equal(lab.run("node2", `cat ${STATE}/k3s-agent.running-config`), `${labelled}\n`);
        assert.equal(parsed(runInstall({ NORDSTACK_K3S_CONFIG: labelled }).stdout).changed, false);
        assert.equal(parsed(runInstall().stdout).restarted, true, "and back");
    });

    it("a new token restarts k3s with it", () => {
        assert.equal(writeToken(`${TOKEN}2`).code, 0);
        const r = runInstall();
        assert.equal(r.code, 0, r.stderr);
        assert.equal(parsed(r.stdout).restarted, true);
        assert.equal(lab.run("node2", `cat ${STATE}/k3s-agent.running-token`).trim(), sha(`${TOKEN}2\n`));
    });

    it("a new registries.yaml (written by its SecretFile step) restarts k3s; with the mirror dropped, nordstack's file is removed and k3s restarts", () => {
        const file = "/etc/rancher/k3s/registries.yaml";
        const yaml = renderRegistriesYaml({ host: "registry.example.no", path: "proxy" }, { username: "puller", password: "pa:ss" });
        const started = () => Number(lab.run("node2", `cat ${STATE}/k3s-agent.started`));
        const before = started();
        const managed = { NORDSTACK_K3S_REGISTRIES: "managed", NORDSTACK_K3S_REGISTRIES_REVISION: "r1" };
        const missing = runInstall(managed);
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /no \/etc\/rancher\/k3s\/registries.yaml; the registries step runs before this one/);
        const c = renderSecretFileCommands(file, SUDO_USER);
        assert.equal(lab.ssh("node2", c.create, 30_000, yaml, SUDO_USER).code, 0);
        assert.equal(lab.run("node2", `stat -c '%a %U' ${file}`), "600 root\n");
        const r = runInstall(managed);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(parsed(r.stdout).restarted, true);
        assert.equal(started(), before + 1);
        assert.ok(!r.stderr.includes("pa:ss") && !r.stdout.includes("pa:ss"));
        assert.equal(parsed(runInstall(managed).stdout).changed, false, "unchanged registries.yaml: no restart");
        const dropped = runInstall();
        assert.equal(dropped.code, 0, dropped.stderr);
        assert.match(dropped.stderr, /removed \/etc\/rancher\/k3s\/registries.yaml \(no registry mirror configured any more\)/);
        assert.equal(parsed(dropped.stdout).restarted, true);
        assert.equal(started(), before + 2);
        assert.equal(lab.ssh("node2", `test -e ${file}`).code, 1);
        // One written by someone else (no nordstack header) is left alone.
        assert.equal(lab.ssh("node2", c.create, 30_000, "mirrors: {}\n", SUDO_USER).code, 0);
        assert.equal(runInstall().code, 0);
        assert.equal(lab.run("node2", `cat ${file}`), "mirrors: {}\n");
        assert.equal(lab.ssh("node2", c.delete, 30_000, "", SUDO_USER).code, 0);
        assert.equal(runInstall().code, 0);
    });

    it("an air-gapped upgrade installs the new binary and restarts once: the running k3s reports the new version", () => {
        const before = Number(lab.run("node2", `cat ${STATE}/k3s-agent.started`));
        version = V2;
        upload();
        const r = runInstall();
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual([parsed(r.stdout).previousVersion, parsed(r.stdout).version, parsed(r.stdout).restarted], [V1, V2, true]);
        assert.doesNotMatch(r.stderr, /restarting k3s-agent/, "the installer restarted it (binary changed): no second restart");
        assert.equal(Number(lab.run("node2", `cat ${STATE}/k3s-agent.started`)), before + 1);
        assert.equal(lab.run("node2", `cat ${STATE}/k3s-agent.running-version`).trim(), V2);
    });

    it("refuses an upload whose sha256 differs, naming file, expected and actual hash", () => {
        upload();
        lab.ssh("node2", "echo tampered >> .nordstack-airgap/install.sh", 30_000, "", SUDO_USER);
        const r = runInstall({ NORDSTACK_K3S_CONFIG: config({ x: "y" }) });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /\.nordstack-airgap\/install\.sh has sha256 [0-9a-f]{64}, expected [0-9a-f]{64}; upload it again/);
        lab.ssh("node2", "rm -rf .nordstack-airgap", 30_000, "", SUDO_USER);
    });

    it("uninstall runs k3s's own uninstaller and removes what install created; twice is a no-op", () => {
        const step = renderNodeStep({ script: install, args: ["uninstall"], user: SUDO_USER });
        const r = lab.step("node2", step, 60_000, SUDO_USER);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), { uninstaller: "k3s-agent-uninstall.sh", removedFiles: 3 });
        assert.equal(lab.ssh("node2", "test -e /usr/local/bin/k3s || test -e /etc/rancher/k3s").code, 1);
        const again = lab.step("node2", step, 60_000, SUDO_USER);
        assert.equal(again.code, 0);
        assert.match(again.stderr, /k3s is not installed; No change detected/);
        const del = renderSecretFileCommands(TOKEN_FILE, SUDO_USER).delete;
        assert.equal(lab.ssh("node2", del, 30_000, "", SUDO_USER).code, 0);
        assert.equal(lab.ssh("node2", `test -e ${TOKEN_FILE}`).code, 1, "the token step's delete removes the token");
    });

    it("downloads: the install script from its pinned URL runs only with the configured sha256, naming URL, expected and actual", async () => {
        // A release mirror on the node's own loopback (lab hosts are namespaces): install.sh and
        // download/<version>/{k3s,sha256sum-amd64.txt}, as k3sInstallScriptUrl / k3sDownloadUrl would serve them.
        const dir = mkdtempSync(path.join(tmpdir(), "nordstack-k3s-mirror-"));
        mkdirSync(path.join(dir, "download", V1), { recursive: true });
        writeFileSync(path.join(dir, "install.sh"), STAND_IN_INSTALLER);
        writeFileSync(path.join(dir, "download", V1, "k3s"), binaries[V1]);
        writeFileSync(path.join(dir, "download", V1, "sha256sum-amd64.txt"), `${sha(binaries[V1])}  k3s\n`);
        const server = spawn(
            "ip",
            ["netns", "exec", lab.host("node2").netns, "python3", "-m", "http.server", "8791", "--bind", "127.0.0.1", "--directory", dir],
            {
                stdio: "ignore",
            },
        );
        try {
            const url = "http://127.0.0.1:8791/install.sh";
            for (let i = 0; i < 50 && lab.ssh("node2", `curl -sf -o /dev/null ${url}`).code !== 0; i++)
                await new Promise((r) => setTimeout(r, 100));
            version = V1;
            assert.equal(writeToken(TOKEN).code, 0);
            const online = (over: Record<string, string>) =>
                runInstall({
                    NORDSTACK_K3S_AIRGAP_DIR: "",
                    NORDSTACK_K3S_AIRGAP_SHA256: "",
                    NORDSTACK_K3S_INSTALL_SCRIPT_URL: url,
                    NORDSTACK_K3S_DOWNLOAD_URL: "http://127.0.0.1:8791",
                    ...over,
                });
            const runs = () => lab.ssh("node2", `cat ${STATE}/install-runs 2>/dev/null | wc -l`).stdout.trim();
            const before = runs();
            // No hash: refused before anything is downloaded.
            let r = online({ NORDSTACK_K3S_INSTALL_SCRIPT_SHA256: "" });
            assert.equal(r.code, 1);
            assert.match(
                r.stderr,
                /NORDSTACK_K3S_INSTALL_SCRIPT_SHA256 must be the sha256 of the script at http:\/\/127.0.0.1:8791\/install.sh; a downloaded script never runs unchecked/,
            );
            // Another script than the pinned one (a moved branch, a tampered mirror): not run.
            const wrong = sha("the script somebody reviewed");
            r = online({ NORDSTACK_K3S_INSTALL_SCRIPT_SHA256: wrong });
            assert.equal(r.code, 1);
            assert.ok(
                r.stderr.includes(`the install script from ${url} has sha256 ${sha(STAND_IN_INSTALLER)}, expected ${wrong}; it is not run`),
                r.stderr,
            );
            assert.match(r.stderr, /set nordstack:k3sInstallScriptSha256 to [0-9a-f]{64}/);
            assert.equal(runs(), before, "the installer never ran");
            assert.equal(lab.ssh("node2", "test -e /usr/local/bin/k3s").code, 1, "nothing installed");
            // The right hash: the script runs, downloads the binary from the mirror and checks it.
            r = online({ NORDSTACK_K3S_INSTALL_SCRIPT_SHA256: sha(STAND_IN_INSTALLER) });
            assert.equal(r.code, 0, r.stderr);
            assert.equal(parsed(r.stdout).version, V1);
            assert.match(
                lab.ssh("node2", "/usr/local/bin/k3s --version").stdout,
                new RegExp(`k3s version ${V1.replace("+", "\\+")} \\(stand-in\\)`),
            );
            assert.match(lab.ssh("node2", `cat ${STATE}/install-env`).stdout, /INSTALL_K3S_VERSION=v1\.35\.5\+k3s1/);
        } finally {
            server.kill();
            rmSync(dir, { recursive: true, force: true });
            // Leave node2 as the later tests expect it: uninstalled.
            lab.step("node2", renderNodeStep({ script: install, args: ["uninstall"], env: env(), user: SUDO_USER }), 60_000, SUDO_USER);
        }
    });

    it("membership: prepare skips nodes not yet joined and drains a node at another version, holding an upgrade slot", () => {
        const none = member("prepare", "node2", { NORDSTACK_K3S_VERSION: V2 });
        assert.equal(none.code, 0, none.stderr);
        assert.match(none.stderr, /node2 is not in the cluster yet; nothing to drain/);
        lab.run(
            "node1",
            `mkdir -p ${STATE} && printf 'True\\n${V1}\\n' > ${STATE}/node-node2 && printf 'True\\n${V1}\\n' > ${STATE}/node-node3`,
        );
        const drain = member("prepare", "node2", { NORDSTACK_K3S_VERSION: V2, NORDSTACK_UPGRADE_SLOTS: "1" });
        assert.equal(drain.code, 0, drain.stderr);
        assert.match(drain.stderr, /node2 holds upgrade slot 0 of 1/);
        assert.match(
            lab.run("node1", `tail -1 ${STATE}/kubectl.log`).trim(),
            /^drain node2 --ignore-daemonsets --delete-emptydir-data --timeout=4s$/,
        );
        // One slot: node3 must wait for node2's upgrade to finish (bounded).
        const blocked = member("prepare", "node3", { NORDSTACK_K3S_VERSION: V2, NORDSTACK_UPGRADE_SLOTS: "1" });
        assert.equal(blocked.code, 1);
        assert.match(blocked.stderr, /no upgrade slot free within 4 s \(1 in use by: node2 \)/);
    });

    it("membership: ready waits for the new version, uncordons and frees the slot; a node that never upgrades is named", () => {
        const stale = member("ready", "node2", { NORDSTACK_K3S_VERSION: V2 });
        assert.equal(stale.code, 1);
        assert.match(
            stale.stderr,
            new RegExp(
                `node node2 is Ready but reports ${V1.replace("+", "\\+")}, not ${V2.replace("+", "\\+")}: the upgrade did not restart k3s`,
            ),
        );
        lab.run("node1", `printf 'True\\n${V2}\\n' > ${STATE}/node-node2`);
        const ok = member("ready", "node2", { NORDSTACK_K3S_VERSION: V2 });
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(ok.stderr, /node2 freed its upgrade slot/);
        assert.match(
            lab.run("node1", `grep -c . ${STATE}/kubectl.log >/dev/null; grep uncordon ${STATE}/kubectl.log | tail -1`).trim(),
            /^uncordon node2$/,
        );
        const next = member("prepare", "node3", { NORDSTACK_K3S_VERSION: V2, NORDSTACK_UPGRADE_SLOTS: "1" });
        assert.equal(next.code, 0, next.stderr);
        lab.run("node1", "printf 'False\\n' > " + `${STATE}/node-node4`);
        const bad = member("ready", "node4");
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /node node4 did not become Ready within 4 s \(Ready=False\); check 'journalctl -u k3s'/);
    });

    it("membership: remove drains and deletes a node; an unknown node is a no-op", () => {
        const r = member("remove", "node2");
        assert.equal(r.code, 0, r.stderr);
        assert.match(lab.run("node1", `tail -2 ${STATE}/kubectl.log`).trim(), /^drain node2 .*\ndelete node node2$/);
        assert.match(member("remove", "node9").stderr, /node9 is not in the cluster; No change detected/);
        assert.equal(member("remove", "Bad_Name").code, 1);
    });

    it("kubeconfig: a long-lived ServiceAccount token with the cluster CA, nothing of k3s's one-year client cert", () => {
        put(
            "node1",
            "/etc/rancher/k3s/k3s.yaml",
            "clusters:\n- cluster:\n    certificate-authority-data: Q0EtREFUQQ==\n    server: https://127.0.0.1:6443\n",
            "0600",
        );
        const r = lab.step("node1", renderNodeStep({ script: loadNodeScript("k3s-kubeconfig.sh"), user: "root" }));
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /certificate-authority-data: Q0EtREFUQQ==/);
        assert.match(r.stdout, /token: stand-in-sa-token/);
        assert.doesNotMatch(r.stdout, /client-certificate-data|client-key-data/);
        const applied = lab.run("node1", `cat ${STATE}/applied.yaml`);
        assert.match(applied, /kind: ClusterRoleBinding[\s\S]*name: cluster-admin/);
        assert.match(applied, /type: kubernetes.io\/service-account-token/);
    });
});
