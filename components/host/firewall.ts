import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import { createHash } from "node:crypto";
import type { FlannelBackend } from "../config";
import type { NodeHandle } from "../nodes/source";
import { PublicPort, renderFirewallRules } from "./firewall-rules";
import { contentHash, loadNodeScript, parseLastJsonLine, renderNodeStep } from "./remote-script";
import { resourceError } from "../errors";

export interface FirewallArgs {
    node: NodeHandle;
    /** Interface of the private network (preflight's `privateInterface`). */
    privateInterface: pulumi.Input<string>;
    /** Private addresses (or CIDRs) of every node: the only sources the cluster ports accept. */
    privateSources: pulumi.Input<string>[];
    /** Port sshd listens on (the node's SSH port). */
    sshPort: number;
    /** CIDRs that may open SSH. Default: anywhere. */
    sshAllowFrom?: string[];
    /** CIDRs outside the private network that may reach the Kubernetes API on servers. Default: none. */
    apiAllowFrom?: string[];
    /** The node may run a gateway pod: 80/443 open to anyone. Default false. */
    gateway?: boolean;
    /** More ports open to anyone; cluster ports are refused. */
    extraPublicPorts?: PublicPort[];
    /** Default vxlan (8472/udp); wireguard-native opens 51820-51821/udp instead. */
    flannelBackend?: FlannelBackend;
    /** Seconds the new rules stay loaded without a confirming fresh SSH connection. Default 60, at most 120 (within SSH dial retries). */
    confirmSeconds?: number;
    /** Upper bound for each remote step in seconds. Default 120. */
    timeoutSeconds?: number;
}

/** The parsed stdout of `firewall.sh confirm`. */
export interface FirewallResult {
    changed: boolean;
    confirmed: boolean;
    hash: string;
}

/** sha256 of the rules, as firewall.sh computes it (`printf '%s' "$NORDSTACK_FW_RULES" | sha256sum`). */
export function rulesHash(rules: string): string {
    return createHash("sha256").update(rules).digest("hex");
}

/**
 * The node firewall: one nftables table of our own, cluster ports on the private
 * network only. Two steps, each its own SSH connection: `apply` loads the rules and
 * arms a rollback; `confirm` can only run if a NEW connection still gets through,
 * and cancels it. If the rules cut SSH, `confirm` cannot connect, the rollback
 * restores the previous rules after `confirmSeconds`, and `confirm` then fails
 * saying so. Delete removes exactly our table.
 */
export class Firewall extends pulumi.ComponentResource {
    /** The rendered ruleset (nft syntax). */
    public readonly rules: pulumi.Output<string>;
    public readonly result: pulumi.Output<FirewallResult>;
    /** Loads the rules (delete: removes our table). */
    public readonly command: remote.Command;
    /** The confirming fresh connection: what later layers wait for. */
    public readonly confirm: remote.Command;

    constructor(name: string, args: FirewallArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:host:Firewall", name, {}, opts);
        const confirmSeconds = args.confirmSeconds ?? 60;
        if (!Number.isInteger(confirmSeconds) || confirmSeconds < 10 || confirmSeconds > 120) {
            throw resourceError(`firewall on ${args.node.name}: confirmSeconds must be 10–120, got ${confirmSeconds}`, this);
        }
        const script = loadNodeScript("firewall.sh");
        const timeoutSeconds = args.timeoutSeconds ?? 120;
        const run = (mode: string, env: Record<string, string> = {}): string =>
            renderNodeStep({ script, args: [mode], env, user: args.node.user, timeoutSeconds }).command;

        this.rules = pulumi.all([args.privateInterface, pulumi.all(args.privateSources)]).apply(([privateInterface, privateSources]) => {
            try {
                return renderFirewallRules({
                    role: args.node.role,
                    sshPort: args.sshPort,
                    sshAllowFrom: args.sshAllowFrom,
                    apiAllowFrom: args.apiAllowFrom,
                    gateway: args.gateway ?? false,
                    extraPublicPorts: args.extraPublicPorts,
                    privateInterface,
                    privateSources,
                    flannelBackend: args.flannelBackend ?? "vxlan",
                });
            } catch (e) {
                throw resourceError(`firewall on ${args.node.name}: ${(e as Error).message}`, this);
            }
        });
        const apply = this.rules.apply((rules) =>
            run("apply", { NORDSTACK_FW_RULES: rules, NORDSTACK_FW_CONFIRM_SECONDS: String(confirmSeconds) }),
        );
        // A replaced machine (new identity) gets its firewall again, like its tuning.
        const triggers = [contentHash(script), this.rules, ...(args.node.identity ? [args.node.identity] : [])];
        this.command = new remote.Command(
            `${name}-rules`,
            {
                connection: args.node.connection,
                create: apply,
                update: apply,
                delete: run("revert"),
                stdin: script,
                triggers,
                logging: "stderr",
                addPreviousOutputInEnv: false,
            },
            // Revert before re-creating: a create-before-delete replacement would delete the new table.
            { parent: this, deleteBeforeReplace: true },
        );
        const confirm = this.rules.apply((rules) => run("confirm", { NORDSTACK_FW_HASH: rulesHash(rules) }));
        this.confirm = new remote.Command(
            `${name}-confirm`,
            {
                // A resource of its own dials its own SSH connection: the fresh connection that must get through.
                connection: args.node.connection,
                create: confirm,
                update: confirm,
                stdin: script,
                triggers,
                logging: "stderr",
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [this.command] },
        );
        this.result = this.confirm.stdout.apply((out) => parseLastJsonLine(`firewall on ${args.node.name}`, out) as FirewallResult);
        this.registerOutputs({ rules: this.rules, result: this.result });
    }
}
