// The dev stack under mocks in a process of its own (test/helpers/failing-*-run.ts):
// a failed registration or apply rejects every dependent's promise, which a test
// runner would report as its own unhandled rejections. Starts the Platform, then
// after `settleMs` writes what `report` returns as one JSON document and exits.
import * as pulumi from "@pulumi/pulumi";
import { GraphRecorder } from "./mocks";
import { config } from "./fixtures";

export function runDevStackThenReport(settleMs: number, report: () => unknown): void {
    void (async () => {
        const { Platform } = await import("../../components/platform");
        new Platform(
            "f",
            { config: config(), sshPrivateKey: pulumi.secret("KEY"), smokeRunId: "run-1" },
            { transformations: [new GraphRecorder().transform] },
        );
        setTimeout(() => {
            process.stdout.write(JSON.stringify(report()));
            process.exit(0);
        }, settleMs);
    })();
}
