// Pulumi mocks that record every resource the program registers: type, name,
// parent, explicit dependencies and the raw (possibly secret) inputs.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { outputsFor } from "../mesh/fake-outputs";

export interface Recorded {
    type: string;
    name: string;
    parent?: string;
    dependsOn: string[];
    /** The explicit `provider` option's resource name, if any. */
    provider?: string;
    props: Record<string, unknown>;
    resource: pulumi.Resource;
}

export class GraphRecorder {
    readonly resources: Recorded[] = [];
    private readonly names = new Map<pulumi.Resource, string>();

    /** Pass as `transformations: [recorder.transform]`; children inherit it. */
    readonly transform: pulumi.ResourceTransformation = (args) => {
        this.names.set(args.resource, args.name);
        const deps = args.opts.dependsOn;
        const list = Array.isArray(deps) ? deps : deps ? [deps] : [];
        this.resources.push({
            type: args.type,
            name: args.name,
            parent: args.opts.parent ? this.names.get(args.opts.parent) : undefined,
            dependsOn: (list as pulumi.Resource[]).map((r) => this.names.get(r) ?? "?"),
            provider: args.opts.provider ? (this.names.get(args.opts.provider) ?? "?") : undefined,
            props: args.props as Record<string, unknown>,
            resource: args.resource,
        });
        return undefined;
    };

    byName(name: string): Recorded {
        const r = this.resources.find((x) => x.name === name);
        if (!r) throw new Error(`no resource named ${name}; have ${this.resources.map((x) => x.name).join(", ")}`);
        return r;
    }

    ofType(type: string): Recorded[] {
        return this.resources.filter((r) => r.type === type);
    }
}

/** Resolves an Output (or plain value) in mocks. */
export function value<T>(o: pulumi.Input<T>): Promise<T> {
    return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

/** Resolves an Output to [value, isSecret]. */
export async function valueAndSecret<T>(o: pulumi.Output<T>): Promise<[T, boolean]> {
    return [await value(o), await pulumi.isSecret(o)];
}

export type StdoutFor = (args: pulumi.runtime.MockResourceArgs) => string | undefined;

const registered = new Set<string>();
/** Names of every resource the program sent to the (mock) engine so far, failed ones included. */
export function registeredNames(): Set<string> {
    return new Set(registered);
}

/** Installs mocks; `stdoutFor` supplies what a remote command would print. */
export function installMocks(stdoutFor: StdoutFor, preview = false): void {
    pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                registered.add(args.name);
                return newResource(args);
            },
            call: (args) => args.inputs as Record<string, unknown>,
        },
        "nordstack",
        "test",
        preview,
    );
    function newResource(args: pulumi.runtime.MockResourceArgs) {
        return {
            id: `${args.name}-id`,
            state: {
                ...(args.inputs as Record<string, unknown>),
                // Computed outputs of tls, random, Helm and Services, as the providers would return them.
                ...outputsFor(args),
                ...(args.type.startsWith("command:") ? { stdout: stdoutFor(args) ?? "", stderr: "" } : {}),
                ...(args.type === "random:index/randomPassword:RandomPassword" ? { result: mockPassword(args) } : {}),
            },
        };
    }
}

/** What a RandomPassword yields in these mocks: hex when asked for hex digits only, else a recognisable token. */
function mockPassword(args: pulumi.runtime.MockResourceArgs): string {
    const i = args.inputs as { length: number; overrideSpecial?: string; lower?: boolean };
    if (i.overrideSpecial === "0123456789abcdef" && i.lower === false) {
        return createHash("sha256").update(args.name).digest("hex").repeat(4).slice(0, i.length);
    }
    return `Tok3n${args.name.replace(/[^A-Za-z0-9]/g, "")}`;
}
