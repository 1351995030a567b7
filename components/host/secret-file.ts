import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import type { types } from "@pulumi/command";
import { shellQuote } from "./remote-script";
import { runError } from "../errors";

/** Create/delete command lines of a SecretFile step. Pure. */
export function renderSecretFileCommands(path: string, user: string): { create: string; delete: string } {
    if (!/^\/[A-Za-z0-9._\/-]+$/.test(path) || path.includes("..")) {
        throw runError(`secret file path ${JSON.stringify(path)} must be absolute, of [A-Za-z0-9._/-]`);
    }
    const sudo = user === "root" ? "" : "sudo -n ";
    // umask before anything is created: the file is never readable by others, not even for an instant.
    const write = 'umask 077 && mkdir -p "${1%/*}" && cat > "$1.new" && mv -f "$1.new" "$1"';
    return {
        create: `${sudo}sh -c ${shellQuote(write)} nordstack-secret-file ${shellQuote(path)}`,
        delete: `${sudo}rm -f ${shellQuote(path)}`,
    };
}

export interface SecretFileArgs {
    connection: pulumi.Input<types.input.remote.ConnectionArgs>;
    /** SSH user (non-root users write through `sudo -n`). */
    user: string;
    /** Absolute path on the host; the file is created 0600, its directory 0700 when new. */
    path: string;
    /** The secret; travels only on the SSH session's stdin. */
    content: pulumi.Input<string>;
    /** Re-written when these change (e.g. the machine's identity). */
    triggers?: pulumi.Input<unknown>[];
    dependsOn?: pulumi.Resource[];
}

/**
 * Writes a secret into a root-only file on a host from the SSH session's stdin:
 * never in argv (`ps`), never in a log (`logging: none`), a secret in state.
 * Steps that need the secret read the file; `delete` removes it.
 */
export class SecretFile extends pulumi.ComponentResource {
    public readonly command: remote.Command;

    constructor(name: string, args: SecretFileArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:host:SecretFile", name, {}, opts);
        const cmds = renderSecretFileCommands(args.path, args.user);
        this.command = new remote.Command(
            `${name}-write`,
            {
                connection: args.connection,
                create: cmds.create,
                update: cmds.create,
                delete: cmds.delete,
                stdin: pulumi.secret(args.content),
                triggers: args.triggers,
                logging: "none",
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: args.dependsOn, additionalSecretOutputs: ["stdin"] },
        );
        this.registerOutputs({});
    }
}
