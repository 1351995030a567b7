// User-facing failures thrown inside applies.
//
// Two things made a failing run cost ~40 s of CPU and ~3.6 GB in the Node program,
// RunError or not (measured: a preview of the lab stack failing on one parse error):
// - the SDK reports every uncaught error with `util.inspect(err, { colors: true })`
//   (for RunError too, as a trace event). With source maps, the SDK's own frames read
//   `.../node_modules/@pulumi/output.ts:516:31`, a scoped "package" with no file
//   below it, and Node 20's inspect colouring of node_modules frames then grows a
//   string until V8 refuses it ("Invalid string length", after ~30 s and GBs);
// - the SDK rethrows an apply's error from every input that awaits it, prefixing
//   the same object's message each time ("error serializing property "create": ...").
// `stable` gives the error its own inspect form (name and message, no frames) and
// pins the message to the text we wrote, so the CLI prints exactly that, at once.
import * as pulumi from "@pulumi/pulumi";
import { inspect } from "node:util";

/** Pins `e.message` to its text (the SDK's prefixes are dropped) and makes inspecting it cheap. */
function stable<E extends Error>(e: E): E {
    const message = e.message;
    Object.defineProperty(e, "message", {
        get: () => message,
        // The SDK assigns `message` to add property paths; keep ours.
        set: () => undefined,
        enumerable: false,
        configurable: true,
    });
    Object.defineProperty(e, inspect.custom, { value: () => `${e.name}: ${message}`, enumerable: false });
    return e;
}

/** A failure the user fixes (bad input, a failed check): the message only, no stack trace. */
export function runError(message: string): pulumi.RunError {
    return stable(new pulumi.RunError(message));
}

/** Like `runError`, attached to the resource whose input or check failed. */
export function resourceError(message: string, resource: pulumi.Resource): pulumi.ResourceError {
    return stable(new pulumi.ResourceError(message, resource, true));
}
