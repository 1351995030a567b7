import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import type { NodeHandle } from "../nodes/source";
import { loadNodeScript, parseLastJsonLine, renderScriptCommand } from "./remote-script";

export interface HostTuningArgs {
    node: NodeHandle;
    /** sysctl key -> value, e.g. `net.ipv4.tcp_tw_reuse: "1"`. */
    sysctls: Record<string, string>;
    /** Keys whose value is a minimum: a host already above it keeps its own (default `fs.file-max`). */
    floorKeys?: string[];
    /** Open-files limit for services (limits.d and systemd DefaultLimitNOFILE). */
    nofile: number;
    /**
     * Anything that must hold before tuning runs, e.g. the cross-node MTU verdict.
     * When it throws, the step fails before touching the host.
     */
    gate?: pulumi.Input<string>;
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
            renderScriptCommand({
                script,
                args: [mode],
                env: mode === "apply" ? env : {},
                user: args.node.user,
                timeoutSeconds: args.timeoutSeconds ?? 120,
            });
        const apply = pulumi.output(args.gate ?? "").apply(() => run("apply"));
        this.command = new remote.Command(
            `${name}-sysctl`,
            {
                connection: args.node.connection,
                create: apply,
                update: apply,
                delete: run("revert"),
                logging: "stderr",
            },
            // Revert before re-applying: a create-before-delete replacement would revert the new apply.
            { parent: this, deleteBeforeReplace: true },
        );
        this.result = this.command.stdout.apply((out) => parseLastJsonLine(`tuning on ${args.node.name}`, out) as TuningResult);
        this.registerOutputs({ result: this.result });
    }
}
