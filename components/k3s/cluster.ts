import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import { remote } from "@pulumi/command";
import { createHash, createHmac } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import * as path from "node:path";
import type { FlannelBackend } from "../config";
import type { NodeHandle } from "../nodes/source";
import { loadNodeScript, renderNodeStep } from "../host/remote-script";
import { SecretFile } from "../host/secret-file";
import { K3S_INSTALL_SCRIPT_SHA256, K3S_INSTALL_SCRIPT_URL } from "./install-script-pin";
import { apiUrl, K3sRole, overlayMtu, renderK3sConfig, rewriteKubeconfig, REGISTRIES_FILE, TOKEN_FILE } from "./render";
import { resourceError } from "../errors";

/** One node of the cluster, with what preflight found on it. */
export interface ClusterNodeArgs {
    node: NodeHandle;
    /** Interface holding the private address (preflight's `privateInterface`). */
    privateInterface: pulumi.Input<string>;
}

/** Air-gapped install from local files (k3s release assets). */
export interface K3sAirgapArgs {
    binary: string;
    /** `k3s-airgap-images-amd64.tar`, `.tar.gz` or `.tar.zst`: k3s picks the decompressor from the extension. */
    images: string;
    installScript: string;
}

export interface ClusterArgs {
    /** Servers first is not required: the first node with role server starts the cluster. */
    nodes: ClusterNodeArgs[];
    /** Pinned k3s release, e.g. `v1.36.3+k3s1`. Changing it upgrades node by node. */
    version: string;
    /** The private interfaces' MTU (every node has it: preflight's gate checked). */
    interfaceMtu: number;
    /** Default `vxlan`; `wireguard-native` encrypts pod traffic between nodes. */
    flannelBackend?: FlannelBackend;
    /** Address in the API certificate and the exported kubeconfig. Default: the first server's public address. */
    apiHost?: pulumi.Input<string>;
    /** Default: a pinned commit of k3s-io/k3s (install-script-pin.ts). Ignored when `airgap` is set. */
    installScriptUrl?: string;
    /** sha256 the downloaded install script must have before it runs as root. Default: the pinned script's. */
    installScriptSha256?: string;
    airgap?: K3sAirgapArgs;
    /** Agents installed at once after the servers are Ready. Default 10. */
    joinConcurrency?: number;
    /** Agents drained and upgraded at once on a version change (a slot lease on the first server). Default 1. */
    upgradeBatch?: number;
    /** Base URL of the k3s release files (the install script's GITHUB_URL). Default https://github.com/k3s-io/k3s/releases. */
    downloadUrl?: string;
    /**
     * Content of /etc/rancher/k3s/registries.yaml (see renderRegistriesYaml); secret when it
     * holds credentials. Written 0600 by a SecretFile step per node from the SSH session's stdin.
     * Undefined: no registries.yaml (the install step removes the one nordstack wrote, and the
     * SecretFile's delete removes it too).
     */
    registriesYaml?: pulumi.Input<string>;
    /** Never fall back to the upstream registries when the mirrors fail (k3s `disable-default-registry-endpoint`). */
    disableDefaultRegistryEndpoint?: boolean;
    /** Seconds to wait for each node to become Ready, and for drains. Default 300. */
    readyTimeoutSeconds?: number;
    /** Anything that must finish first on the hosts (preflight, tuning, firewall, the smoke gate). */
    dependsOn?: pulumi.Resource[];
}

/** The per-node resources, exposed for ordering by later layers. */
export interface ClusterNodeResources {
    token: SecretFile;
    /** /etc/rancher/k3s/registries.yaml, when a registry mirror is configured. */
    registries?: SecretFile;
    prepare: remote.Command;
    install: remote.Command;
    ready: remote.Command;
}

/** sha256 of a local file, read in chunks (air-gap images are hundreds of MB). */
export function fileSha256(file: string): string {
    const h = createHash("sha256");
    const fd = openSync(file, "r");
    try {
        const buf = Buffer.alloc(1 << 20);
        for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
    } finally {
        closeSync(fd);
    }
    return h.digest("hex");
}

/** Where air-gap files are staged, relative to the SSH user's home (SFTP writes as that user). */
export const AIRGAP_STAGING_DIR = ".nordstack-airgap";

/**
 * k3s over SSH. Servers join one at a time (etcd membership changes are
 * serial), each Ready before the next; agents then install in parallel,
 * at most `joinConcurrency` at once. A version change rolls through the same
 * graph: servers one at a time, agents drained and upgraded at most
 * `upgradeBatch` at once (a lease on the first server), each Ready at the new
 * version and uncordoned. Removing a node drains, deletes and uninstalls it;
 * destroy uninstalls agents before servers.
 */
export class Cluster extends pulumi.ComponentResource {
    /** Admin kubeconfig reaching `apiHost` with a long-lived token; a secret. */
    public readonly kubeconfig: pulumi.Output<string>;
    /** Provider for the cluster, for later layers and other stacks. */
    public readonly provider: k8s.Provider;
    public readonly apiUrl: pulumi.Output<string>;
    /** Pod MTU: the private interface MTU minus the backend's overhead. */
    public readonly overlayMtu: number;
    public readonly version: string;
    public readonly members: Record<string, ClusterNodeResources> = {};
    /** Every node's `ready` step: what later layers wait for. */
    public readonly ready: remote.Command[] = [];

    constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:k3s:Cluster", name, {}, opts);
        const backend = args.flannelBackend ?? "vxlan";
        const timeout = args.readyTimeoutSeconds ?? 300;
        const servers = args.nodes.filter((n) => n.node.role === "server");
        const agents = args.nodes.filter((n) => n.node.role === "agent");
        if (servers.length === 0) throw resourceError("k3s Cluster: at least one node must have role server", this);
        const concurrency = Math.max(1, args.joinConcurrency ?? 10);
        const first = servers[0].node;
        const embeddedEtcd = servers.length > 1;
        this.version = args.version;
        try {
            this.overlayMtu = overlayMtu(args.interfaceMtu, backend);
        } catch (e) {
            throw resourceError((e as Error).message, this);
        }

        const token = new random.RandomPassword(`${name}-token`, { length: 48, special: false }, { parent: this });
        const joinUrl = first.privateAddress.apply(apiUrl);
        const apiHost = pulumi.output(args.apiHost ?? first.publicAddress);
        this.apiUrl = apiHost.apply(apiUrl);

        const scripts = {
            install: loadNodeScript("k3s-install.sh"),
            member: loadNodeScript("k3s-member.sh"),
            kubeconfig: loadNodeScript("k3s-kubeconfig.sh"),
        };
        const onFirst = (mode: string, node: string, env: Record<string, string> = {}) =>
            renderNodeStep({
                script: scripts.member,
                args: [mode, node],
                env: { NORDSTACK_TIMEOUT: String(timeout), ...env },
                user: first.user,
                timeoutSeconds: timeout * 2 + 60,
            }).command;
        const airgapSums = args.airgap ? this.airgapSums(args.airgap) : undefined;

        const member = (n: ClusterNodeArgs, after: pulumi.Resource[], installAfter: pulumi.Resource[]): ClusterNodeResources => {
            const node = n.node;
            const role: K3sRole = node === first ? "server-init" : node.role === "server" ? "server-join" : "agent";
            const identity = node.identity ? [node.identity] : [];
            const tokenFile = new SecretFile(
                `${name}-token-${node.name}`,
                {
                    connection: node.connection,
                    user: node.user,
                    path: TOKEN_FILE,
                    content: pulumi.interpolate`${token.result}\n`,
                    triggers: identity,
                    dependsOn: [...(args.dependsOn ?? []), ...node.dependsOn],
                },
                { parent: this },
            );
            const registriesFile =
                args.registriesYaml === undefined
                    ? undefined
                    : new SecretFile(
                          `${name}-registries-${node.name}`,
                          {
                              connection: node.connection,
                              user: node.user,
                              path: REGISTRIES_FILE,
                              content: pulumi.output(args.registriesYaml).apply((y) => (y.endsWith("\n") ? y : `${y}\n`)),
                              triggers: identity,
                              dependsOn: [...(args.dependsOn ?? []), ...node.dependsOn],
                          },
                          { parent: this },
                      );
            // Changes with registries.yaml's content, so a new mirror or password re-runs the install (which
            // restarts k3s: the file is in its wanted hash). Keyed with the cluster token: the digest tells
            // nothing about the password to whoever reads the command line or the state.
            const registriesRevision =
                args.registriesYaml === undefined
                    ? pulumi.output("")
                    : pulumi.unsecret(
                          pulumi
                              .all([token.result, args.registriesYaml])
                              .apply(([key, y]) => createHmac("sha256", key).update(y).digest("hex").slice(0, 32)),
                      );
            const airgapFiles = args.airgap ? this.uploadAirgap(`${name}-airgap-${node.name}`, node, args.airgap, after) : [];

            const prepare = new remote.Command(
                `${name}-prepare-${node.name}`,
                {
                    connection: first.connection,
                    create: onFirst("prepare", node.name, {
                        NORDSTACK_K3S_VERSION: args.version,
                        NORDSTACK_UPGRADE_SLOTS: String(node.role === "server" ? 1 : Math.max(1, args.upgradeBatch ?? 1)),
                    }),
                    stdin: scripts.member,
                    triggers: identity,
                    logging: "stderr",
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn: after },
            );

            const config = pulumi
                .all([node.privateAddress, node.publicAddress, n.privateInterface, joinUrl, apiHost])
                .apply(([nodeIp, externalIp, iface, serverUrl, host]) =>
                    renderK3sConfig({
                        role,
                        nodeName: node.name,
                        nodeIp,
                        externalIp,
                        flannelIface: iface,
                        tlsSans: [externalIp, host],
                        serverUrl: role === "server-init" ? undefined : serverUrl,
                        flannelBackend: backend,
                        embeddedEtcd,
                        labels: node.labels,
                        disableDefaultRegistryEndpoint: args.disableDefaultRegistryEndpoint,
                    }),
                );
            const step = (mode: string, env: Record<string, string> = {}) =>
                renderNodeStep({ script: scripts.install, args: [mode], env, user: node.user, timeoutSeconds: 900 }).command;
            const install = pulumi.all([config, joinUrl, registriesRevision]).apply(([cfg, serverUrl, revision]) =>
                step("install", {
                    NORDSTACK_K3S_VERSION: args.version,
                    NORDSTACK_K3S_ROLE: role,
                    NORDSTACK_K3S_CONFIG: cfg,
                    NORDSTACK_K3S_SERVER_URL: role === "agent" ? serverUrl : "",
                    ...(airgapSums
                        ? { NORDSTACK_K3S_AIRGAP_DIR: AIRGAP_STAGING_DIR, NORDSTACK_K3S_AIRGAP_SHA256: airgapSums }
                        : {
                              NORDSTACK_K3S_INSTALL_SCRIPT_URL: args.installScriptUrl ?? K3S_INSTALL_SCRIPT_URL,
                              NORDSTACK_K3S_DOWNLOAD_URL: args.downloadUrl ?? "https://github.com/k3s-io/k3s/releases",
                              NORDSTACK_K3S_INSTALL_SCRIPT_SHA256: args.installScriptSha256 ?? K3S_INSTALL_SCRIPT_SHA256,
                          }),
                    NORDSTACK_K3S_EXPECTED_MTU: String(this.overlayMtu),
                    ...(revision ? { NORDSTACK_K3S_REGISTRIES: "managed", NORDSTACK_K3S_REGISTRIES_REVISION: revision } : {}),
                }),
            );
            const installCmd = new remote.Command(
                `${name}-install-${node.name}`,
                {
                    connection: node.connection,
                    create: install,
                    update: install,
                    delete: step("uninstall"),
                    stdin: scripts.install,
                    // A new token (or a rebuilt machine) re-runs the install, which restarts k3s with it.
                    triggers: [tokenFile.command.id, ...identity],
                    logging: "stderr",
                    addPreviousOutputInEnv: false,
                },
                {
                    parent: this,
                    dependsOn: [prepare, tokenFile, ...(registriesFile ? [registriesFile] : []), ...airgapFiles, ...installAfter],
                },
            );

            const ready = new remote.Command(
                `${name}-ready-${node.name}`,
                {
                    connection: first.connection,
                    // The version is part of the command: an upgrade waits until the node reports it, then uncordons.
                    create: onFirst("ready", node.name, { NORDSTACK_K3S_VERSION: args.version }),
                    update: onFirst("ready", node.name, { NORDSTACK_K3S_VERSION: args.version }),
                    // Removing a node from config: drain and delete it before k3s is uninstalled on it.
                    delete: node === first ? undefined : onFirst("remove", node.name),
                    stdin: scripts.member,
                    triggers: identity,
                    logging: "stderr",
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn: [installCmd] },
            );
            const m = { token: tokenFile, ...(registriesFile ? { registries: registriesFile } : {}), prepare, install: installCmd, ready };
            this.members[node.name] = m;
            this.ready.push(ready);
            return m;
        };

        // Servers: strictly one after another, each Ready before the next starts.
        let previous: pulumi.Resource[] = args.dependsOn ?? [];
        let firstInstall: remote.Command | undefined;
        let firstReady: pulumi.Resource[] = previous;
        for (const s of servers) {
            const m = member(s, [...previous, ...(firstInstall ? [firstInstall] : [])], []);
            if (!firstInstall) firstReady = [m.ready];
            firstInstall ??= m.install;
            previous = [m.ready];
        }
        // Agents: installs after every server is Ready, in a window of `concurrency`. Their
        // prepare step (the drain lease on the first server) needs only the first server,
        // so it runs while the other servers join and stays off the critical path.
        const serversReady = previous;
        const installs: remote.Command[] = [];
        const firstWindowReady: pulumi.Resource[] = [];
        agents.forEach((a, i) => {
            const window = i >= concurrency ? [installs[i - concurrency]] : [];
            const m = member(a, firstReady, [...serversReady, ...window]);
            installs.push(m.install);
            if (i < concurrency) firstWindowReady.push(m.ready);
        });

        const fetched = new remote.Command(
            `${name}-kubeconfig`,
            {
                connection: first.connection,
                create: renderNodeStep({ script: scripts.kubeconfig, user: first.user, timeoutSeconds: 180 }).command,
                stdin: scripts.kubeconfig,
                // A long-lived token, not k3s's one-year client certificate: re-read only when the
                // first server's k3s is (re)installed, so every preview stays quiet.
                triggers: [args.version, this.members[first.name].install.id],
                logging: "none",
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: serversReady, additionalSecretOutputs: ["stdout", "stderr"] },
        );
        this.kubeconfig = pulumi.secret(
            pulumi.all([fetched.stdout, this.apiUrl]).apply(([raw, url]) => rewriteKubeconfig(raw, url, `nordstack-${name}`)),
        );
        // The layers above start once the servers and the first window of agents are Ready
        // (enough nodes for the mesh's HA anti-affinity); later windows keep joining
        // meanwhile, so the critical path does not grow with the node count. `up` still
        // ends only when every node is Ready.
        this.provider = new k8s.Provider(
            `${name}-provider`,
            { kubeconfig: this.kubeconfig },
            { parent: this, dependsOn: [...serversReady, ...firstWindowReady] },
        );

        this.registerOutputs({ kubeconfig: this.kubeconfig, apiUrl: this.apiUrl, overlayMtu: this.overlayMtu, version: this.version });
    }

    private airgapSums(files: K3sAirgapArgs): string {
        return [
            `k3s=${fileSha256(files.binary)}`,
            `${path.basename(files.images)}=${fileSha256(files.images)}`,
            `install.sh=${fileSha256(files.installScript)}`,
        ].join(" ");
    }

    /** Uploads as the SSH user into ~/.nordstack-airgap; the install step checks each sha256 and moves them into place as root. */
    private uploadAirgap(prefix: string, node: NodeHandle, files: K3sAirgapArgs, after: pulumi.Resource[]): pulumi.Resource[] {
        const staging = new remote.Command(
            `${prefix}-staging`,
            {
                connection: node.connection,
                create: `mkdir -p -m 0700 ${AIRGAP_STAGING_DIR}`,
                delete: `rm -rf ${AIRGAP_STAGING_DIR}`,
                logging: "stderr",
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [...after, ...node.dependsOn] },
        );
        return [
            staging,
            ...(
                [
                    ["binary", files.binary, "k3s"],
                    ["images", files.images, path.basename(files.images)],
                    ["script", files.installScript, "install.sh"],
                ] as const
            ).map(
                ([part, local, target]) =>
                    new remote.CopyToRemote(
                        `${prefix}-${part}`,
                        {
                            connection: node.connection,
                            source: new pulumi.asset.FileAsset(local),
                            remotePath: `${AIRGAP_STAGING_DIR}/${target}`,
                            triggers: [fileSha256(local)],
                        },
                        { parent: this, dependsOn: [staging] },
                    ),
            ),
        ];
    }
}
