// The Nginx component under Pulumi mocks: what the tuning inputs (expected
// concurrency, CPU limit) turn into in the rendered conf and the Deployment.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { GraphRecorder, value } from "../helpers/mocks";
import { renderNginxConf } from "../../components/gateway/nginx-conf";
import { workersForCpuLimit } from "../../components/gateway/nginx";

before(() =>
    pulumi.runtime.setMocks(
        {
            newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs as Record<string, unknown> }),
            call: (args) => args.inputs as Record<string, unknown>,
        },
        "nordstack",
        "test",
        false,
    ),
);

const ROUTES = [{ name: "inventory", port: 8080, gatewayPath: "/api/inventory" }];

async function build(name: string, extra: Record<string, unknown>) {
    const { Nginx } = await import("../../components/gateway/nginx");
    const rec = new GraphRecorder();
    const provider = new k8s.Provider(`${name}-k8s`, { kubeconfig: "{}" });
    const gw = new Nginx(
        name,
        { provider, namespace: "shop", routes: ROUTES, serverNames: ["api.cool-client.no"], ...extra },
        { transformations: [rec.transform] },
    );
    const recorded = rec.ofType("kubernetes:apps/v1:Deployment").find((r) => r.name === name);
    assert.ok(recorded, `no Deployment ${name}`);
    const deployment = (await value(pulumi.output(recorded.props))) as unknown as k8s.types.output.apps.v1.Deployment;
    return { conf: await value(gw.conf), container: deployment.spec.template.spec.containers[0] };
}

describe("Nginx component: keepalive pools and workers", () => {
    it("one worker per whole core of a CPU limit, at least one; auto without a limit; refuses what is not a CPU quantity", () => {
        assert.equal(workersForCpuLimit(undefined), 0);
        assert.equal(workersForCpuLimit("2"), 2);
        assert.equal(workersForCpuLimit("1500m"), 1);
        assert.equal(workersForCpuLimit("2.5"), 2);
        assert.equal(workersForCpuLimit("250m"), 1);
        assert.equal(workersForCpuLimit("0"), undefined);
        assert.equal(workersForCpuLimit("1Gi"), undefined);
    });

    it("without a CPU limit: worker_processes auto and a pool covering the whole expected concurrency", async () => {
        const { conf, container } = await build("gw1", { expectedConcurrency: 400 });
        assert.equal(
            conf,
            renderNginxConf({
                routes: ROUTES,
                namespace: "shop",
                serverNames: ["api.cool-client.no"],
                expectedConcurrency: 400,
                nofile: 1048576,
            }),
        );
        assert.match(conf, /^worker_processes auto;$/m);
        assert.match(conf, /^ {8}keepalive 400;$/m);
        assert.deepEqual(container.resources.limits, { memory: "512Mi" }, "no CPU limit unless asked for");
    });

    it("with a CPU limit: that many workers, the limit on the container, each worker's pool its share", async () => {
        const { conf, container } = await build("gw2", {
            expectedConcurrency: 400,
            resources: { cpu: "500m", memory: "128Mi", memoryLimit: "512Mi", cpuLimit: "2" },
        });
        assert.match(conf, /^worker_processes 2;$/m);
        assert.match(conf, /^ {8}keepalive 250;$/m, "400 / 2 workers + a quarter");
        assert.deepEqual(container.resources.limits, { memory: "512Mi", cpu: "2" });
        assert.deepEqual(container.resources.requests, { cpu: "500m", memory: "128Mi" });
    });

    it("refuses a CPU limit that is no CPU quantity before any resource exists", async () => {
        await assert.rejects(
            build("gw3", { resources: { cpu: "100m", memory: "128Mi", memoryLimit: "512Mi", cpuLimit: "lots" } }),
            (e: Error) => e instanceof pulumi.ResourceError && /resources.cpuLimit "lots" is not a positive CPU quantity/.test(e.message),
        );
    });
});
