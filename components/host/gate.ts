import * as pulumi from "@pulumi/pulumi";
import { local } from "@pulumi/command";

/**
 * A check across nodes that must hold before the next layer touches any host
 * (every MTU agrees, every smoke pair passed). It is its own resource: when
 * `verdict` throws, this resource fails and nothing that depends on it runs,
 * while the host steps after it keep their command text known at preview time
 * (the gate is not folded into their inputs). It runs `true` locally and
 * stores nothing that changes between runs, so a second preview shows no diff.
 */
export function gate(name: string, verdict: pulumi.Output<unknown>, opts: pulumi.CustomResourceOptions): local.Command {
    return new local.Command(name, { create: verdict.apply(() => "true"), logging: "none", addPreviousOutputInEnv: false }, opts);
}
