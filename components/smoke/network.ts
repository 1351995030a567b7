import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import type { NodeHandle } from "../nodes/source";
import { loadNodeScript, renderScriptCommand } from "../host/remote-script";
import { judgePairs, PairResult, parseSmokeOutput, SmokeThresholds } from "./results";

export interface SmokeNodeArgs {
    node: NodeHandle;
    /** The node's private-interface MTU (preflight's `mtu`). */
    mtu: pulumi.Input<number>;
    /** Link speed in Mbit/s (preflight's `linkSpeedMbps`; -1 when unknown). */
    linkSpeedMbps?: pulumi.Input<number>;
}

export interface NetworkSmokeArgs {
    nodes: SmokeNodeArgs[];
    thresholds: SmokeThresholds;
    /** Seconds per iperf3 run. Default 10. */
    durationSeconds?: number;
    /** Parallel TCP streams per run. Default 1. */
    parallel?: number;
    /** Default 5201. */
    port?: number;
    /** Changing it re-runs the tests: a timestamp runs them on every `up`, a config hash only on change. */
    runId: pulumi.Input<string>;
    dependsOn?: pulumi.Resource[];
}

/**
 * Host-level network smoke test over the private network: an iperf3 server on
 * every node for the test only, then from every node to every other node a
 * path-MTU probe and an iperf3 run. Nodes test one after another so runs do not
 * share the links. A pair below the thresholds, or an MTU mismatch, fails the
 * deployment naming the pair and both figures; the table is an output.
 */
export class NetworkSmoke extends pulumi.ComponentResource {
    public readonly results: pulumi.Output<PairResult[]>;
    /** The last steps of a run; later layers order themselves after these. */
    public readonly finished: remote.Command[];

    constructor(name: string, args: NetworkSmokeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:smoke:Network", name, {}, opts);
        const server = loadNodeScript("iperf3-server.sh");
        const smoke = loadNodeScript("net-smoke.sh");
        const port = String(args.port ?? 5201);
        const duration = args.durationSeconds ?? 10;
        const triggers = [args.runId];
        const count = args.nodes.length;

        const servers = args.nodes.map(({ node }) => {
            const run = (mode: string) => (addr: string) =>
                renderScriptCommand({
                    script: server,
                    args: [mode],
                    env: {
                        NORDSTACK_IPERF_BIND: addr,
                        NORDSTACK_IPERF_PORT: port,
                        NORDSTACK_IPERF_LIFETIME: String((duration + 30) * count * count + 120),
                    },
                    user: node.user,
                    timeoutSeconds: 60,
                });
            return new remote.Command(
                `${name}-server-${node.name}`,
                {
                    connection: node.connection,
                    create: node.privateAddress.apply(run("start")),
                    delete: node.privateAddress.apply(run("stop")),
                    triggers,
                    logging: "stderr",
                },
                { parent: this, dependsOn: [...(args.dependsOn ?? []), ...node.dependsOn], deleteBeforeReplace: true },
            );
        });

        const peersOf = (self: NodeHandle) =>
            pulumi.all(args.nodes.filter((n) => n.node !== self).map((n) => n.node.privateAddress.apply((a) => `${n.node.name}=${a}`)));
        let previous: pulumi.Resource[] = servers;
        const clients = args.nodes.map(({ node, mtu }) => {
            const create = pulumi.all([peersOf(node), mtu]).apply(([peers, m]) =>
                renderScriptCommand({
                    script: smoke,
                    env: {
                        NORDSTACK_PEERS: peers.join(" "),
                        NORDSTACK_EXPECTED_MTU: String(m),
                        NORDSTACK_IPERF_PORT: port,
                        NORDSTACK_IPERF_DURATION: String(duration),
                        NORDSTACK_IPERF_PARALLEL: String(args.parallel ?? 1),
                    },
                    user: node.user,
                    timeoutSeconds: (duration + 60) * Math.max(1, count - 1),
                }),
            );
            const c = new remote.Command(
                `${name}-client-${node.name}`,
                { connection: node.connection, create, triggers, logging: "stderr" },
                { parent: this, dependsOn: previous },
            );
            previous = [c];
            return c;
        });

        // Stop every server as soon as the last client is done (delete stops them too, idempotently).
        this.finished = args.nodes.map(
            ({ node }) =>
                new remote.Command(
                    `${name}-stop-${node.name}`,
                    {
                        connection: node.connection,
                        create: renderScriptCommand({ script: server, args: ["stop"], user: node.user, timeoutSeconds: 60 }),
                        triggers,
                        logging: "stderr",
                    },
                    { parent: this, dependsOn: previous },
                ),
        );

        const mtus = pulumi.all(args.nodes.map((n) => pulumi.output(n.mtu).apply((m) => [n.node.name, m] as const)));
        const speeds = pulumi.all(args.nodes.map((n) => pulumi.output(n.linkSpeedMbps ?? -1).apply((s) => [n.node.name, s] as const)));
        this.results = pulumi.all([pulumi.all(clients.map((c) => c.stdout)), mtus, speeds]).apply(([outs, m, s]) => {
            const pairs = outs.flatMap(parseSmokeOutput);
            const problems = judgePairs(pairs, args.thresholds, Object.fromEntries(m), Object.fromEntries(s));
            if (problems.length > 0) throw new Error(`network smoke test failed:\n  - ${problems.join("\n  - ")}`);
            return pairs;
        });
        this.registerOutputs({ results: this.results });
    }
}
