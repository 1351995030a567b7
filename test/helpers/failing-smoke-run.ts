// Runs the dev stack under mocks in its own process with one smoke pair failing
// (as net-smoke.sh exits 1 on a bad pair) and prints which resources reached the
// engine. A separate process: the failed registration rejects every dependent's
// promise, which a test runner would report as its own unhandled rejections.
import * as pulumi from "@pulumi/pulumi";
import { GraphRecorder, installMocks, registeredNames } from "./mocks";
import { config, healthyStepOutput } from "./fixtures";

const failingPair = process.argv[2];
const errors: string[] = [];
process.on("unhandledRejection", (e) => errors.push(String((e as Error)?.message ?? e)));

installMocks((args) => {
    if (args.name === failingPair) throw new Error(`network smoke test ${args.name} failed: 0.2 Gbit/s, required 1 Gbit/s`);
    return healthyStepOutput(args.name);
});

void (async () => {
    const { Platform } = await import("../../components/platform");
    new Platform(
        "f",
        { config: config(), sshPrivateKey: pulumi.secret("KEY"), smokeRunId: "run-1" },
        { transformations: [new GraphRecorder().transform] },
    );
    setTimeout(() => {
        process.stdout.write(JSON.stringify({ registered: [...registeredNames()], errors: [...new Set(errors)] }));
        process.exit(0);
    }, 1500);
})();
