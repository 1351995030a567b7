import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import type { NodeHandle } from "../nodes/source";
import { loadNodeScript, parseLastJsonLine, renderNodeStep } from "./remote-script";

export interface HostTuningArgs {
    node: NodeHandle;
    /** sysctl key -> value, e.g. `net.ipv4.tcp_tw_reuse: "1"`. */
    sysctls: Record<string, string>;
    /** Keys whose value is a minimum: a host already above it keeps its own (default `fs.file-max`). */
    floorKeys?: string[];
    /** Open-files limit for services (limits.d and systemd DefaultLimitNOFILE). */
    nofile: number;
    /** What must succeed before the host is touched: every node's preflight and the cross-node gate. */
    dependsOn?: pulumi.Resource[];
    /** Upper bound for each remote step in seconds. Default 120. */
    timeoutSeconds?: number;
}

/** The parsed stdout of `host-tuning.sh apply`. */
export interface TuningResult {
    changed: boolean;
    dropIn: string;
    nofile: number;
    values: Record<string, string>;
}

/** Renders the environment host-tuning.sh reads. Pure. */
export function tuningEnv(sysctls: Record<string, string>, floorKeys: string[], nofile: number): Record<string, string> {
    const keys = Object.keys(sysctls).sort();
    return {
        NORDSTACK_SYSCTLS: keys.map((k) => `${k}=${sysctls[k]}`).join("\n"),
        NORDSTACK_FLOOR_KEYS: floorKeys.filter((k) => k in sysctls).join(" "),
        NORDSTACK_NOFILE: String(nofile),
    };
}

/**
 * Applies the microservice sysctls and open-files limit on one node, verifies
 * them by reading back, and on delete removes the drop-ins and restores the
 * values the host had before. Changing a value re-applies in place.
 */
export class HostTuning extends pulumi.ComponentResource {
    public readonly result: pulumi.Output<TuningResult>;
    public readonly command: remote.Command;

    constructor(name: string, args: HostTuningArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:host:Tuning", name, {}, opts);
        const script = loadNodeScript("host-tuning.sh");
        const env = tuningEnv(args.sysctls, args.floorKeys ?? ["fs.file-max"], args.nofile);
        const run = (mode: string): string =>
            renderNodeStep({
                script,
                args: [mode],
                env: mode === "apply" ? env : {},
                user: args.node.user,
                timeoutSeconds: args.timeoutSeconds ?? 120,
            }).command;
        // Known at preview time: the diff shows exactly what will run on the host.
        const apply = run("apply");
        this.command = new remote.Command(
            `${name}-sysctl`,
            {
                connection: args.node.connection,
                create: apply,
                update: apply,
                delete: run("revert"),
                stdin: script,
                logging: "stderr",
                addPreviousOutputInEnv: false,
                triggers: args.node.identity ? [args.node.identity] : undefined,
            },
            // Revert before re-applying: a create-before-delete replacement would revert the new apply.
            { parent: this, deleteBeforeReplace: true, dependsOn: args.dependsOn },
        );
        this.result = this.command.stdout.apply((out) => parseLastJsonLine(`tuning on ${args.node.name}`, out) as TuningResult);
        this.registerOutputs({ result: this.result });
    }
}
