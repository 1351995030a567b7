import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { NodeHandle, NodeRole, NodeSource } from "./source";
import { resourceError } from "../errors";

/** A bastion in front of a node. Reached with the same key as the node. */
export interface JumpHostArgs {
    host: string;
    /** Pinned SSH host key of the bastion; required unless `insecureSkipHostKeyVerification`. */
    hostKey?: string;
    /** SSH port. Default: the node's port. */
    port?: number;
    /** Default: the node's user. */
    user?: string;
}

/** One VPS that already exists and is reachable over SSH. */
export interface ExistingHostArgs {
    /** Node name (DNS-1123 label). Changing it replaces everything on the node. */
    name: string;
    role: NodeRole;
    /** Public IP or DNS name used for SSH. */
    host: string;
    /** Private-network IP for cluster traffic. */
    privateAddress: string;
    /** Interface of the private address; preflight finds it when omitted. */
    privateInterface?: string;
    /** `<country>-<site>`. Default `no-oslo`. */
    region?: string;
    /** SSH port. Default 22. */
    port?: number;
    /** SSH user; non-root users need passwordless sudo. Default `root`. */
    user?: string;
    /** Pinned SSH host key (`ssh-ed25519 AAAA...`); required unless `insecureSkipHostKeyVerification`. */
    hostKey?: string;
    jumpHost?: JumpHostArgs;
    labels?: Record<string, string>;
}

export interface ExistingHostsArgs {
    hosts: ExistingHostArgs[];
    /** SSH private key (PEM/OpenSSH) for every host and jump host. Kept secret. */
    privateKey: pulumi.Input<string>;
    /**
     * Connect to hosts without a pinned `hostKey` (the provider then accepts any key).
     * Default false: a host without a key is refused, since whoever answers the first
     * connection would receive the cluster token. A warning names every such host.
     */
    insecureSkipHostKeyVerification?: boolean;
    /** Seconds per SSH dial attempt. Default 15. */
    dialTimeoutSeconds?: number;
    /** Dial attempts before a step fails. Default 10 (a freshly booted VPS may need a while). */
    dialAttempts?: number;
}

/** Summary of one node without any secret, for stack outputs. */
export interface NodeSummary {
    name: string;
    role: NodeRole;
    region: string;
    host: string;
    privateAddress: string;
}

/**
 * Nodes that already exist (ordered VPSs), reached over SSH. Creates no cloud
 * resources: it turns the host list into connections every later layer uses.
 */
export class ExistingHosts extends pulumi.ComponentResource implements NodeSource {
    public readonly nodes: NodeHandle[];
    public readonly summary: pulumi.Output<NodeSummary[]>;

    constructor(name: string, args: ExistingHostsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:nodes:ExistingHosts", name, {}, opts);
        const key = pulumi.secret(args.privateKey);
        const unpinned = args.hosts.flatMap((h) => [
            ...(h.hostKey ? [] : [h.name]),
            ...(h.jumpHost && !h.jumpHost.hostKey ? [`${h.name}'s jump host ${h.jumpHost.host}`] : []),
        ]);
        if (unpinned.length > 0 && !args.insecureSkipHostKeyVerification) {
            throw resourceError(
                `ExistingHosts: no pinned SSH host key for ${unpinned.join(", ")}; set hostKey (ssh-keyscan -t ed25519 HOST) ` +
                    "or insecureSkipHostKeyVerification deliberately",
                this,
            );
        }
        if (unpinned.length > 0) {
            void pulumi.log.warn(
                `insecureSkipHostKeyVerification: the SSH host keys of ${unpinned.join(", ")} are NOT verified; ` +
                    "whoever answers these connections receives the cluster token. Pin them with ssh-keyscan -t ed25519 HOST.",
                this,
            );
        }
        this.nodes = args.hosts.map((h) => {
            const user = h.user ?? "root";
            const connection = key.apply(
                (privateKey): types.input.remote.ConnectionArgs => ({
                    host: h.host,
                    port: h.port ?? 22,
                    user,
                    privateKey,
                    ...(h.hostKey ? { hostKey: h.hostKey } : {}),
                    perDialTimeout: args.dialTimeoutSeconds ?? 15,
                    dialErrorLimit: args.dialAttempts ?? 10,
                    ...(h.jumpHost
                        ? {
                              proxy: {
                                  host: h.jumpHost.host,
                                  port: h.jumpHost.port ?? h.port ?? 22,
                                  user: h.jumpHost.user ?? user,
                                  privateKey,
                                  ...(h.jumpHost.hostKey ? { hostKey: h.jumpHost.hostKey } : {}),
                              },
                          }
                        : {}),
                }),
            );
            return {
                name: h.name,
                role: h.role,
                region: h.region ?? "no-oslo",
                labels: { ...(h.labels ?? {}) },
                publicAddress: pulumi.output(h.host),
                privateAddress: pulumi.output(h.privateAddress),
                privateInterface: h.privateInterface,
                user,
                connection: pulumi.secret(connection),
                // A rebuilt VPS has a new host key: re-pinning it re-runs every step on the new machine.
                ...(h.hostKey ? { identity: pulumi.output(h.hostKey) } : {}),
                dependsOn: [],
            };
        });
        this.summary = pulumi.output(
            args.hosts.map((h) => ({
                name: h.name,
                role: h.role,
                region: h.region ?? "no-oslo",
                host: h.host,
                privateAddress: h.privateAddress,
            })),
        );
        this.registerOutputs({ summary: this.summary });
    }
}
