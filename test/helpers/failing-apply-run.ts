// Runs the dev stack under mocks in its own process with one node's preflight
// printing no JSON, so the parse inside an apply fails as it would at preview on a
// corrupted stored result, and reports how the SDK would see that error: its
// message after every awaiter has had it, and its `util.inspect` with colours (what
// the Node runtime formats for every uncaught error, RunError included).
import { inspect } from "node:util";
import { installMocks } from "./mocks";
import { healthyStepOutput } from "./fixtures";
import { runDevStackThenReport } from "./dev-stack-run";

const broken = process.argv[2];
let first: Error | undefined;
let rejections = 0;
process.on("unhandledRejection", (e) => {
    rejections++;
    first ??= e as Error;
});

installMocks((args) => (args.name.endsWith(`-preflight-${broken}-check`) ? "preflight: garbage, not JSON" : healthyStepOutput(args.name)));

runDevStackThenReport(3000, () => ({
    rejections,
    name: first?.name,
    message: first?.message,
    stack: first?.stack,
    inspected: first ? inspect(first, { colors: true }) : "",
}));
