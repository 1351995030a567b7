import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import type { NodeHandle } from "../nodes/source";
import { loadNodeScript, renderNodeStep } from "../host/remote-script";
import { PairResult, parseSmokeOutput, requiredGbps, SmokeThresholds } from "./results";
import { scheduleRounds, SmokeCoverage } from "./schedule";

export interface SmokeNodeArgs {
    node: NodeHandle;
    /** Link speed in Mbit/s (preflight's `linkSpeedMbps`; -1 when unknown). */
    linkSpeedMbps?: pulumi.Input<number>;
    /** Zone label, so ring neighbours are chosen in different zones. */
    zone?: string;
}

export interface NetworkSmokeArgs {
    nodes: SmokeNodeArgs[];
    /** The MTU every private interface has (preflight checked it); the path MTU must equal it. */
    mtu: number;
    thresholds: SmokeThresholds;
    /** `ring` (default): each node to its ring neighbour, 2–3 rounds for any node count; `full`: every pair. */
    coverage?: SmokeCoverage;
    /** Seconds per iperf3 run. Default 10. */
    durationSeconds?: number;
    /** Parallel TCP streams per run. Default 1. */
    parallel?: number;
    /** Default 5201. */
    port?: number;
    /** Changing it re-runs the tests: a config hash re-runs them on change, a timestamp on every `up`. */
    runId: pulumi.Input<string>;
    dependsOn?: pulumi.Resource[];
}

/**
 * Host-level network smoke test over the private network: an iperf3 server on
 * every node for the test only, then rounds of pairs in which every node takes
 * part in at most one measurement (so the pairs of a round run in parallel),
 * each a path-MTU probe and an iperf3 run. Each pair's step judges itself and
 * fails naming the pair and both figures, so a bad network stops the run, and
 * a failed step is not stored as done: the next `up` measures again.
 */
export class NetworkSmoke extends pulumi.ComponentResource {
    /** One row per measured pair. */
    public readonly results: pulumi.Output<PairResult[]>;
    /** Every pair step and every server stop: later layers depend on these (the smoke gate). */
    public readonly finished: remote.Command[];
    /** The schedule, for tests and the README: rounds of `from->to`. */
    public readonly rounds: string[][];

    constructor(name: string, args: NetworkSmokeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:smoke:Network", name, {}, opts);
        const server = loadNodeScript("iperf3-server.sh");
        const smoke = loadNodeScript("net-smoke.sh");
        const port = String(args.port ?? 5201);
        const duration = args.durationSeconds ?? 10;
        const triggers = [args.runId];
        const byName = new Map(args.nodes.map((n) => [n.node.name, n]));
        const schedule = scheduleRounds(
            args.nodes.map((n) => ({ name: n.node.name, zone: n.zone })),
            args.coverage ?? "ring",
        );
        this.rounds = schedule.map((r) => r.map((p) => `${p.from}->${p.to}`));
        const lifetime = (duration + 40) * schedule.length + 120;

        const servers = args.nodes.map(({ node }) => {
            const step = (mode: string, addr: string) =>
                renderNodeStep({
                    script: server,
                    args: [mode],
                    env:
                        mode === "start"
                            ? { NORDSTACK_IPERF_BIND: addr, NORDSTACK_IPERF_PORT: port, NORDSTACK_IPERF_LIFETIME: String(lifetime) }
                            : {},
                    user: node.user,
                    timeoutSeconds: 60,
                });
            return new remote.Command(
                `${name}-server-${node.name}`,
                {
                    connection: node.connection,
                    create: node.privateAddress.apply((a) => step("start", a).command),
                    delete: step("stop", "").command,
                    stdin: server,
                    triggers,
                    logging: "stderr",
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn: [...(args.dependsOn ?? []), ...node.dependsOn], deleteBeforeReplace: true },
            );
        });

        let previous: pulumi.Resource[] = servers;
        const pairSteps: remote.Command[] = [];
        for (const round of schedule) {
            const steps = round.map((p) => {
                const from = byName.get(p.from) as SmokeNodeArgs;
                const to = byName.get(p.to) as SmokeNodeArgs;
                const env = pulumi.all([to.node.privateAddress, from.linkSpeedMbps ?? -1, to.linkSpeedMbps ?? -1]).apply(
                    ([address, a, b]) =>
                        renderNodeStep({
                            script: smoke,
                            env: {
                                NORDSTACK_SELF_NAME: p.from,
                                NORDSTACK_PEER_NAME: p.to,
                                NORDSTACK_PEER_ADDRESS: address,
                                NORDSTACK_EXPECTED_MTU: String(args.mtu),
                                NORDSTACK_MIN_GBPS: String(requiredGbps(args.thresholds, a, b).gbps),
                                NORDSTACK_MAX_RETRANSMIT_RATE: String(args.thresholds.maxRetransmitRate),
                                NORDSTACK_IPERF_PORT: port,
                                NORDSTACK_IPERF_DURATION: String(duration),
                                NORDSTACK_IPERF_PARALLEL: String(args.parallel ?? 1),
                            },
                            user: from.node.user,
                            timeoutSeconds: duration + 90,
                        }).command,
                );
                return new remote.Command(
                    `${name}-pair-${p.from}-${p.to}`,
                    {
                        connection: from.node.connection,
                        create: env,
                        // A step that failed is retried on the next `up` (an update runs `create` again).
                        update: env,
                        stdin: smoke,
                        triggers,
                        logging: "stderr",
                        addPreviousOutputInEnv: false,
                    },
                    { parent: this, dependsOn: previous },
                );
            });
            pairSteps.push(...steps);
            previous = steps;
        }

        // Stop every server as soon as the last round is done (delete stops them too, idempotently).
        const stops = args.nodes.map(
            ({ node }) =>
                new remote.Command(
                    `${name}-stop-${node.name}`,
                    {
                        connection: node.connection,
                        create: renderNodeStep({ script: server, args: ["stop"], user: node.user, timeoutSeconds: 60 }).command,
                        stdin: server,
                        triggers,
                        logging: "stderr",
                        addPreviousOutputInEnv: false,
                    },
                    { parent: this, dependsOn: previous },
                ),
        );
        this.finished = [...pairSteps, ...stops];
        this.results = pulumi.all(pairSteps.map((c) => c.stdout)).apply((outs) => outs.flatMap(parseSmokeOutput));
        this.registerOutputs({ results: this.results });
    }
}
