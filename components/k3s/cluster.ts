import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import { remote } from "@pulumi/command";
import type { FlannelBackend } from "../config";
import type { NodeHandle } from "../nodes/source";
import { loadNodeScript, renderScriptCommand } from "../host/remote-script";
import { apiUrl, K3sRole, overlayMtu, renderK3sConfig, rewriteKubeconfig } from "./render";

/** One node of the cluster, with what preflight found on it. */
export interface ClusterNodeArgs {
    node: NodeHandle;
    /** Interface holding the private address (preflight's `privateInterface`). */
    privateInterface: pulumi.Input<string>;
    /** Real MTU of that interface (preflight's `mtu`). */
    interfaceMtu: pulumi.Input<number>;
}

export interface ClusterArgs {
    /** Servers first is not required: the first node with role server starts the cluster. */
    nodes: ClusterNodeArgs[];
    /** Pinned k3s release, e.g. `v1.31.4+k3s1`. Changing it upgrades node by node. */
    version: string;
    /** Default `vxlan`; `wireguard-native` encrypts pod traffic between nodes. */
    flannelBackend?: FlannelBackend;
    /** Address in the API certificate and the exported kubeconfig. Default: the first server's public address. */
    apiHost?: pulumi.Input<string>;
    /** Default `https://get.k3s.io`. Ignored when `airgap` is set. */
    installScriptUrl?: string;
    /** Base URL of the k3s release files (the install script's GITHUB_URL). Default https://github.com/k3s-io/k3s/releases. */
    downloadUrl?: string;
    /** Air-gapped install from local files (k3s binary, images tarball, install script). */
    airgap?: { binary: string; images: string; installScript: string };
    /**
     * Content of /etc/rancher/k3s/registries.yaml (see renderRegistriesYaml); secret when it
     * holds credentials. Travels on the SSH session's stdin after the token, written 0600.
     * Undefined: no registries.yaml (one written earlier by nordstack is removed).
     */
    registriesYaml?: pulumi.Input<string>;
    /** Never fall back to the upstream registries when the mirrors fail (k3s `disable-default-registry-endpoint`). */
    disableDefaultRegistryEndpoint?: boolean;
    /** Seconds to wait for each node to become Ready, and for drains. Default 300. */
    readyTimeoutSeconds?: number;
    /** Anything that must finish first on the hosts (preflight, tuning). */
    dependsOn?: pulumi.Resource[];
}

/** The per-node resources, exposed for ordering by later layers. */
export interface ClusterNodeResources {
    prepare: remote.Command;
    install: remote.Command;
    ready: remote.Command;
}

/**
 * k3s over SSH: the first server starts the cluster (embedded etcd when there
 * are 3 or 5 servers), the other nodes join one at a time, each waiting for
 * Ready. Version changes roll through the same chain: drain, upgrade, Ready,
 * uncordon. Removing a node drains it, deletes it and uninstalls k3s on it;
 * destroy uninstalls agents before servers.
 */
export class Cluster extends pulumi.ComponentResource {
    /** Admin kubeconfig reaching `apiHost`; a secret. */
    public readonly kubeconfig: pulumi.Output<string>;
    /** Provider for the cluster, for later layers and other stacks. */
    public readonly provider: k8s.Provider;
    public readonly apiUrl: pulumi.Output<string>;
    /** Pod MTU: the private interface MTU minus the backend's overhead. */
    public readonly overlayMtu: pulumi.Output<number>;
    public readonly version: string;
    public readonly members: Record<string, ClusterNodeResources> = {};

    constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:k3s:Cluster", name, {}, opts);
        const backend = args.flannelBackend ?? "vxlan";
        const timeout = args.readyTimeoutSeconds ?? 300;
        const servers = args.nodes.filter((n) => n.node.role === "server");
        if (servers.length === 0) throw new pulumi.ResourceError("k3s Cluster: at least one node must have role server", this);
        // Joining order: servers one at a time (etcd membership), then agents.
        const ordered = [...servers, ...args.nodes.filter((n) => n.node.role === "agent")];
        const first = servers[0].node;
        const embeddedEtcd = servers.length > 1;
        this.version = args.version;

        const token = new random.RandomPassword(`${name}-token`, { length: 48, special: false }, { parent: this });
        const joinUrl = first.privateAddress.apply(apiUrl);
        const apiHost = pulumi.output(args.apiHost ?? first.publicAddress);
        this.apiUrl = apiHost.apply(apiUrl);

        const mtus = ordered.map((n) => pulumi.output(n.interfaceMtu));
        this.overlayMtu = pulumi.all(mtus).apply((all) => {
            const distinct = [...new Set(all)];
            if (distinct.length > 1) throw new Error(`k3s: private interface MTUs differ between nodes (${distinct.join(", ")})`);
            return overlayMtu(distinct[0], backend);
        });

        const scripts = {
            install: loadNodeScript("k3s-install.sh"),
            uninstall: loadNodeScript("k3s-uninstall.sh"),
            member: loadNodeScript("k3s-member.sh"),
            kubeconfig: loadNodeScript("k3s-kubeconfig.sh"),
        };
        const onFirst = (mode: string, node: string, env: Record<string, string> = {}) =>
            renderScriptCommand({
                script: scripts.member,
                args: [mode, node],
                env: { NORDSTACK_TIMEOUT: String(timeout), ...env },
                user: first.user,
                timeoutSeconds: timeout + 60,
            });

        let previous: pulumi.Resource[] = args.dependsOn ?? [];
        let firstInstall: remote.Command | undefined;
        for (const n of ordered) {
            const node = n.node;
            const role: K3sRole = node === first ? "server-init" : node.role === "server" ? "server-join" : "agent";
            const airgapFiles = args.airgap ? this.uploadAirgap(`${name}-airgap-${node.name}`, node, args.airgap, previous) : [];

            const prepare = new remote.Command(
                `${name}-prepare-${node.name}`,
                {
                    connection: first.connection,
                    create: onFirst("prepare", node.name, { NORDSTACK_K3S_VERSION: args.version }),
                    logging: "stderr",
                },
                { parent: this, dependsOn: [...previous, ...(firstInstall ? [firstInstall] : [])] },
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
            const install = pulumi.all([config, joinUrl, this.overlayMtu]).apply(([cfg, serverUrl, mtu]) =>
                renderScriptCommand({
                    script: scripts.install,
                    env: {
                        NORDSTACK_K3S_VERSION: args.version,
                        NORDSTACK_K3S_ROLE: role,
                        NORDSTACK_K3S_CONFIG: cfg,
                        NORDSTACK_K3S_SERVER_URL: role === "agent" ? serverUrl : "",
                        NORDSTACK_K3S_INSTALL_SCRIPT_URL: args.installScriptUrl ?? "https://get.k3s.io",
                        NORDSTACK_K3S_DOWNLOAD_URL: args.downloadUrl ?? "https://github.com/k3s-io/k3s/releases",
                        NORDSTACK_K3S_AIRGAP: args.airgap ? "1" : "0",
                        NORDSTACK_K3S_EXPECTED_MTU: String(mtu),
                    },
                    user: node.user,
                    timeoutSeconds: 900,
                    secretOnStdin: true,
                }),
            );
            const installCmd = new remote.Command(
                `${name}-install-${node.name}`,
                {
                    connection: node.connection,
                    create: install,
                    update: install,
                    delete: renderScriptCommand({ script: scripts.uninstall, user: node.user, timeoutSeconds: 600 }),
                    // The token's line, then registries.yaml (if any) to the end of input.
                    stdin: pulumi.secret(pulumi.interpolate`${token.result}\n${args.registriesYaml ?? ""}`),
                    logging: "stderr",
                },
                { parent: this, dependsOn: [prepare, ...airgapFiles], additionalSecretOutputs: ["stdin"] },
            );
            firstInstall ??= installCmd;

            const ready = new remote.Command(
                `${name}-ready-${node.name}`,
                {
                    connection: first.connection,
                    // The version is part of the command so an upgrade re-runs the wait and uncordons.
                    create: onFirst("ready", node.name, { NORDSTACK_K3S_VERSION: args.version }),
                    update: onFirst("ready", node.name, { NORDSTACK_K3S_VERSION: args.version }),
                    // Removing a node from config: drain and delete it before k3s is uninstalled on it.
                    delete: node === first ? undefined : onFirst("remove", node.name),
                    logging: "stderr",
                },
                { parent: this, dependsOn: [installCmd] },
            );
            this.members[node.name] = { prepare, install: installCmd, ready };
            previous = [ready];
        }

        const fetched = new remote.Command(
            `${name}-kubeconfig`,
            {
                connection: first.connection,
                create: renderScriptCommand({ script: scripts.kubeconfig, user: first.user, timeoutSeconds: 180 }),
                triggers: [args.version],
            },
            { parent: this, dependsOn: previous, additionalSecretOutputs: ["stdout"] },
        );
        this.kubeconfig = pulumi.secret(
            pulumi.all([fetched.stdout, this.apiUrl]).apply(([raw, url]) => rewriteKubeconfig(raw, url, `nordstack-${name}`)),
        );
        this.provider = new k8s.Provider(`${name}-provider`, { kubeconfig: this.kubeconfig }, { parent: this });

        this.registerOutputs({ kubeconfig: this.kubeconfig, apiUrl: this.apiUrl, overlayMtu: this.overlayMtu, version: this.version });
    }

    private uploadAirgap(
        prefix: string,
        node: NodeHandle,
        files: NonNullable<ClusterArgs["airgap"]>,
        after: pulumi.Resource[],
    ): remote.CopyToRemote[] {
        const dir = "/var/lib/nordstack/airgap";
        return (
            [
                ["binary", files.binary, "k3s"],
                ["images", files.images, "images.tar"],
                ["script", files.installScript, "install.sh"],
            ] as const
        ).map(
            ([part, local, target]) =>
                new remote.CopyToRemote(
                    `${prefix}-${part}`,
                    { connection: node.connection, source: new pulumi.asset.FileAsset(local), remotePath: `${dir}/${target}` },
                    { parent: this, dependsOn: after },
                ),
        );
    }
}
