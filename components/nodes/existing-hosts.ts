import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { NodeHandle, NodeRole, NodeSource } from "./source";

/** A bastion in front of a node. Reached with the same key as the node. */
export interface JumpHostArgs {
    host: string;
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
    /** Pinned SSH host key (`ssh-ed25519 AAAA...`); strongly recommended. */
    hostKey?: string;
    jumpHost?: JumpHostArgs;
    labels?: Record<string, string>;
}

export interface ExistingHostsArgs {
    hosts: ExistingHostArgs[];
    /** SSH private key (PEM/OpenSSH) for every host and jump host. Kept secret. */
    privateKey: pulumi.Input<string>;
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
