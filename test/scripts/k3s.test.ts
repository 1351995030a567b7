// The k3s node scripts over real SSH on lab hosts. The real k3s binary and the
// official install script cannot be downloaded here, so stand-ins take their
// place on the host (a `k3s` that reports a version and answers the few kubectl
// calls the scripts make; an install.sh that records what it was given and
// installs the uninstall script k3s would). Everything of ours runs for real.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../helpers/lab";
import { loadNodeScript, renderScriptCommand } from "../../components/host/remote-script";
import { renderK3sConfig, TOKEN_FILE } from "../../components/k3s/render";
import { renderRegistriesYaml } from "../../components/k3s/registries";

const VERSION = "v1.31.4+k3s1";
const TOKEN = "K10abcdefABCDEF0123456789tokenXYZ";

/** Stand-in k3s: `--version`, and `kubectl get/drain/uncordon/delete node` backed by files. */
const STAND_IN_K3S = `#!/bin/sh
state=/var/lib/nordstack/standin
mkdir -p "$state"
if [ "$1" = "--version" ]; then echo "k3s version $(cat "$state/pinned-version" "$state/version" 2>/dev/null | head -1) (stand-in)"; exit 0; fi
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
"drain "* | "uncordon "* | "delete node") exit 0 ;;
esac
`;

/** Stand-in for https://get.k3s.io: records its environment, installs k3s and its uninstaller. */
const STAND_IN_INSTALLER = `#!/bin/sh
set -e
env | grep -E '^(INSTALL_K3S|K3S)_' | sort > /var/lib/nordstack/standin-install-env
echo run >> /var/lib/nordstack/standin-install-runs
install -m 0755 /var/lib/nordstack/airgap/k3s /usr/local/bin/k3s
mkdir -p /var/lib/nordstack/standin
echo "$INSTALL_K3S_VERSION" > /var/lib/nordstack/standin/version
name=k3s-uninstall.sh
[ "$INSTALL_K3S_EXEC" = agent ] && name=k3s-agent-uninstall.sh
printf '#!/bin/sh\\nrm -f /usr/local/bin/k3s /usr/local/bin/%s\\nrm -rf /var/lib/rancher/k3s\\n' "$name" > /usr/local/bin/$name
chmod 0755 /usr/local/bin/$name
`;

interface InstallResult {
    changed: boolean;
    role: string;
    service: string;
    previousVersion: string;
    version: string;
}
const parsed = (stdout: string) => JSON.parse(stdout) as InstallResult;

describe("k3s node scripts over SSH (stand-in k3s)", () => {
    let lab: Lab;
    const install = loadNodeScript("k3s-install.sh");
    const config = renderK3sConfig({
        role: "agent",
        nodeName: "node2",
        nodeIp: "10.198.6.12",
        flannelIface: "eth0",
        serverUrl: "https://10.198.6.11:6443",
        flannelBackend: "vxlan",
        embeddedEtcd: false,
    });
    const env = (over: Record<string, string> = {}) => ({
        NORDSTACK_K3S_VERSION: VERSION,
        NORDSTACK_K3S_ROLE: "agent",
        NORDSTACK_K3S_CONFIG: config,
        NORDSTACK_K3S_SERVER_URL: "https://10.198.6.11:6443",
        NORDSTACK_K3S_AIRGAP: "1",
        ...over,
    });
    /** Runs the install step as the Cluster component does: script in argv, token (then registries.yaml) on stdin. */
    const runInstall = (token: string, over: Record<string, string> = {}, registries = "") =>
        lab.ssh(
            "node2",
            `printf '%s\\n%s' ${token ? `'${token}'` : "''"} '${registries.replace(/'/g, `'"'"'`)}' | ${renderScriptCommand({ script: install, env: env(over), user: "root", secretOnStdin: true })}`,
        );
    const member = (mode: string, node: string, extra: Record<string, string> = {}) =>
        lab.ssh(
            "node1",
            renderScriptCommand({
                script: loadNodeScript("k3s-member.sh"),
                args: [mode, node],
                env: { NORDSTACK_TIMEOUT: "4", ...extra },
                user: "root",
            }),
        );

    before(() => {
        lab = Lab.up(2, 6);
        const put = (node: string, file: string, text: string, mode = "0644") =>
            lab.run(
                node,
                `mkdir -p "$(dirname ${file})" && printf '%s' '${text.replace(/'/g, `'"'"'`)}' > ${file} && chmod ${mode} ${file}`,
            );
        put("node2", "/var/lib/nordstack/airgap/k3s", STAND_IN_K3S, "0755");
        put("node2", "/var/lib/nordstack/airgap/install.sh", STAND_IN_INSTALLER, "0755");
        put("node2", "/var/lib/nordstack/airgap/images.tar", "stand-in images");
        put("node1", "/usr/local/bin/k3s", STAND_IN_K3S, "0755");
    });
    after(() => lab?.down());

    it("refuses to run without its required inputs, before changing anything", () => {
        const cases: [Record<string, string>, string, RegExp][] = [
            [{ NORDSTACK_K3S_VERSION: "latest" }, TOKEN, /NORDSTACK_K3S_VERSION must be a k3s release like v1.31.4\+k3s1, got 'latest'/],
            [{ NORDSTACK_K3S_ROLE: "" }, TOKEN, /NORDSTACK_K3S_ROLE must be server-init, server-join or agent/],
            [{ NORDSTACK_K3S_CONFIG: "" }, TOKEN, /NORDSTACK_K3S_CONFIG \(the node's config.yaml\) is required/],
            [{ NORDSTACK_K3S_SERVER_URL: "" }, TOKEN, /NORDSTACK_K3S_SERVER_URL is required for agents/],
            [{}, "", /no cluster token on descriptor 0/],
        ];
        for (const [over, token, msg] of cases) {
            const r = runInstall(token, over);
            assert.equal(r.code, 1, JSON.stringify(over));
            assert.match(r.stderr, msg);
        }
        assert.equal(
            lab.ssh("node2", `test -e ${TOKEN_FILE} || test -e /etc/rancher/k3s/config.yaml || test -e /usr/local/bin/k3s`).code,
            1,
        );
    });

    it("installs air-gapped: token in a root-only file, config 0600, installer given version/exec/token file, never the token", () => {
        const r = runInstall(TOKEN);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), {
            changed: true,
            role: "agent",
            service: "k3s-agent",
            previousVersion: "",
            version: VERSION,
        });
        assert.equal(lab.run("node2", `stat -c '%a %U' ${TOKEN_FILE} /etc/rancher/k3s/config.yaml`), "600 root\n600 root\n");
        assert.equal(lab.run("node2", `cat ${TOKEN_FILE}`), `${TOKEN}\n`);
        assert.equal(lab.run("node2", "cat /etc/rancher/k3s/config.yaml"), `${config}\n`);
        const installerEnv = lab.run("node2", "cat /var/lib/nordstack/standin-install-env");
        assert.equal(
            installerEnv,
            [
                `INSTALL_K3S_EXEC=agent`,
                `INSTALL_K3S_FORCE_RESTART=true`,
                `INSTALL_K3S_SKIP_DOWNLOAD=true`,
                `INSTALL_K3S_VERSION=${VERSION}`,
                `K3S_TOKEN_FILE=${TOKEN_FILE}`,
                `K3S_URL=https://10.198.6.11:6443`,
                "",
            ].join("\n"),
        );
        assert.ok(!installerEnv.includes(TOKEN) && !r.stderr.includes(TOKEN) && !r.stdout.includes(TOKEN));
        assert.equal(lab.run("node2", "ls /var/lib/rancher/k3s/agent/images/"), "k3s-airgap-images.tar\n");
        assert.equal(lab.ssh("node1", "test -e /var/lib/nordstack/k3s-token").code, 1, "node1 untouched");
    });

    it("is idempotent when the wanted version is installed with the same config and token", () => {
        const r = runInstall(TOKEN);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(parsed(r.stdout).changed, false);
        assert.match(r.stderr, /already installed with this configuration; No change detected/);
        assert.equal(lab.run("node2", "wc -l < /var/lib/nordstack/standin-install-runs").trim(), "1");
    });

    it("re-runs the installer when the version or the token changes", () => {
        const up = runInstall(TOKEN, { NORDSTACK_K3S_VERSION: "v1.32.3+k3s1" });
        assert.equal(up.code, 0, up.stderr);
        assert.deepEqual(JSON.parse(up.stdout), {
            changed: true,
            role: "agent",
            service: "k3s-agent",
            previousVersion: VERSION,
            version: "v1.32.3+k3s1",
        });
        assert.match(lab.run("node2", "cat /var/lib/nordstack/standin-install-env"), /INSTALL_K3S_VERSION=v1.32.3\+k3s1/);
        assert.equal(parsed(runInstall(TOKEN).stdout).previousVersion, "v1.32.3+k3s1", "and back");
        const rotated = runInstall(`${TOKEN}2`);
        assert.equal(parsed(rotated.stdout).changed, true, rotated.stderr);
        assert.equal(lab.run("node2", `cat ${TOKEN_FILE}`), `${TOKEN}2\n`);
        assert.equal(lab.run("node2", "wc -l < /var/lib/nordstack/standin-install-runs").trim(), "4");
    });

    it("writes registries.yaml from the input after the token (0600, never echoed), re-runs on change, removes only its own", () => {
        const mirror = { host: "registry.example.no:5000", path: "proxy" };
        const yaml = renderRegistriesYaml(mirror, { username: "puller", password: "s3cr3t-Pa55" });
        const runs = () => lab.run("node2", "wc -l < /var/lib/nordstack/standin-install-runs").trim();
        const before = runs();
        const r = runInstall(TOKEN, {}, yaml);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(parsed(r.stdout).changed, true);
        assert.equal(lab.run("node2", "stat -c '%a %U' /etc/rancher/k3s/registries.yaml"), "600 root\n");
        assert.equal(lab.run("node2", "cat /etc/rancher/k3s/registries.yaml"), yaml);
        assert.ok(!r.stderr.includes("s3cr3t") && !r.stdout.includes("s3cr3t"));
        assert.match(
            lab.run("node2", "cat /var/lib/nordstack/standin-install-env"),
            /INSTALL_K3S_FORCE_RESTART=true/,
            "k3s restarts to read it",
        );
        assert.equal(Number(runs()), Number(before) + 1);
        assert.equal(parsed(runInstall(TOKEN, {}, yaml).stdout).changed, false, "same file: No change detected");
        const other = renderRegistriesYaml({ host: "registry.example.no", path: "" });
        assert.equal(parsed(runInstall(TOKEN, {}, other).stdout).changed, true);
        assert.equal(lab.run("node2", "cat /etc/rancher/k3s/registries.yaml"), other);
        const dropped = runInstall(TOKEN);
        assert.equal(parsed(dropped.stdout).changed, true, dropped.stderr);
        assert.match(dropped.stderr, /removed \/etc\/rancher\/k3s\/registries.yaml/);
        assert.equal(lab.ssh("node2", "test -e /etc/rancher/k3s/registries.yaml").code, 1);
        // A registries.yaml the operator wrote by hand is not ours to delete.
        lab.run("node2", "printf 'mirrors: {}\\n' > /etc/rancher/k3s/registries.yaml");
        assert.equal(parsed(runInstall(TOKEN).stdout).changed, false);
        assert.equal(lab.run("node2", "cat /etc/rancher/k3s/registries.yaml"), "mirrors: {}\n");
        lab.run("node2", "rm /etc/rancher/k3s/registries.yaml");
        const bad = runInstall(TOKEN, {}, "mirrors: {}\n");
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /must start with '# Managed by nordstack/);
    });

    it("fails when the installed k3s does not report the wanted version", () => {
        lab.run("node2", `echo ${VERSION} > /var/lib/nordstack/standin/pinned-version`);
        try {
            const r = runInstall(TOKEN, { NORDSTACK_K3S_VERSION: "v1.33.0+k3s1" });
            assert.equal(r.code, 1);
            assert.match(r.stderr, /after install, k3s reports 'v1.31.4\+k3s1', not v1.33.0\+k3s1/);
        } finally {
            lab.run("node2", "rm /var/lib/nordstack/standin/pinned-version");
        }
    });

    it("uninstall runs k3s's own uninstaller and removes what install created; twice is a no-op", () => {
        const script = loadNodeScript("k3s-uninstall.sh");
        const r = lab.ssh("node2", renderScriptCommand({ script, user: "root" }));
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), { uninstaller: "k3s-agent-uninstall.sh", removedFiles: 3 });
        assert.equal(
            lab.run("node2", "ls -A /usr/local/bin /var/lib/rancher /etc/rancher; ls /var/lib/nordstack | grep -c 'k3s\\|airgap' || true"),
            "/etc/rancher:\n\n/usr/local/bin:\n\n/var/lib/rancher:\n0\n",
        );
        const again = lab.ssh("node2", renderScriptCommand({ script, user: "root" }));
        assert.equal(again.code, 0);
        assert.match(again.stderr, /k3s is not installed; No change detected/);
    });

    it("membership: prepare skips nodes not yet joined and drains a node at another version", () => {
        const none = member("prepare", "node2", { NORDSTACK_K3S_VERSION: VERSION });
        assert.equal(none.code, 0, none.stderr);
        assert.match(none.stderr, /node2 is not in the cluster yet; nothing to drain/);
        lab.run("node1", "mkdir -p /var/lib/nordstack/standin && printf 'True\\nv1.30.8+k3s1\\n' > /var/lib/nordstack/standin/node-node2");
        const drain = member("prepare", "node2", { NORDSTACK_K3S_VERSION: VERSION });
        assert.equal(drain.code, 0, drain.stderr);
        assert.match(
            lab.run("node1", "tail -1 /var/lib/nordstack/standin/kubectl.log").trim(),
            /^drain node2 --ignore-daemonsets --delete-emptydir-data --timeout=4s$/,
        );
        lab.run("node1", `printf 'True\\n${VERSION}\\n' > /var/lib/nordstack/standin/node-node2`);
        assert.match(
            member("prepare", "node2", { NORDSTACK_K3S_VERSION: VERSION }).stderr,
            /node2 already runs v1.31.4\+k3s1; No change detected/,
        );
    });

    it("membership: ready uncordons a Ready node and names a node that never becomes Ready", () => {
        const ok = member("ready", "node2");
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(lab.run("node1", "tail -1 /var/lib/nordstack/standin/kubectl.log").trim(), /^uncordon node2$/);
        lab.run("node1", "printf 'False\\n' > /var/lib/nordstack/standin/node-node3");
        const started = Date.now();
        const bad = member("ready", "node3");
        assert.equal(bad.code, 1);
        assert.match(
            bad.stderr,
            /node node3 did not become Ready within 4 s \(Ready=False\); check 'journalctl -u k3s' or 'journalctl -u k3s-agent' on node3/,
        );
        assert.ok(Date.now() - started < 30_000, "the wait is bounded");
    });

    it("membership: remove drains and deletes a node; an unknown node is a no-op", () => {
        const r = member("remove", "node2");
        assert.equal(r.code, 0, r.stderr);
        assert.match(lab.run("node1", "tail -2 /var/lib/nordstack/standin/kubectl.log").trim(), /^drain node2 .*\ndelete node node2$/);
        assert.match(member("remove", "node9").stderr, /node9 is not in the cluster; No change detected/);
        assert.equal(member("remove", "Bad_Name").code, 1);
    });
});
