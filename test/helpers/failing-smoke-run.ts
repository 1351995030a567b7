// Runs the dev stack under mocks in its own process with one smoke pair failing
// (as net-smoke.sh exits 1 on a bad pair) and prints which resources reached the
// engine.
import { installMocks, registeredNames } from "./mocks";
import { healthyStepOutput } from "./fixtures";
import { runDevStackThenReport } from "./dev-stack-run";

const failingPair = process.argv[2];
const errors: string[] = [];
process.on("unhandledRejection", (e) => errors.push(String((e as Error)?.message ?? e)));

installMocks((args) => {
    if (args.name === failingPair) throw new Error(`network smoke test ${args.name} failed: 0.2 Gbit/s, required 1 Gbit/s`);
    return healthyStepOutput(args.name);
});

runDevStackThenReport(1500, () => ({ registered: [...registeredNames()], errors: [...new Set(errors)] }));
