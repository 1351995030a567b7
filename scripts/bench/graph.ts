// npm run bench:graph: how the deployment graph scales with the node count.
// For each scenario the program runs twice under mocks (graph-run.ts, one process
// each): remote commands taking 0 ms, then DELAY ms. Serial steps on the critical
// path are counted exactly from the registrations' dependencies, and timed as a
// cross-check: (T_delay - T_0) / DELAY, whatever the mock overhead.
// A benchmark, not a test: it prints a table and asserts nothing.
import { execFileSync } from "node:child_process";
import * as path from "node:path";

const DELAY = Number(process.env.BENCH_GRAPH_DELAY_MS ?? 300);
const SCENARIOS: [number, number][] = [
    [3, 1],
    [10, 1],
    [25, 1],
    [50, 1],
    [3, 3],
    [10, 3],
    [25, 3],
    [50, 3],
];
interface Run {
    nodes: number;
    servers: number;
    resources: number;
    commands: number;
    wallMs: number;
    criticalPath: number;
    smokeRounds: number;
    mockRunSeconds: number;
    peakRssMB: number;
}
const run = (nodes: number, servers: number, delay: number): Run =>
    JSON.parse(
        execFileSync(
            process.execPath,
            ["--import", "tsx", path.join(__dirname, "graph-run.ts"), String(nodes), String(servers), String(delay)],
            {
                encoding: "utf8",
                stdio: ["ignore", "pipe", "ignore"],
            },
        )
            .trim()
            .split("\n")
            .pop() as string,
    ) as Run;

const rows = [
    `| nodes | servers | resources | remote commands | serial steps (exact) | serial steps (timed, ${DELAY} ms) | smoke rounds | mock run (0 ms commands) | peak RSS |`,
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
];
for (const [nodes, servers] of SCENARIOS) {
    const base = run(nodes, servers, 0);
    const slow = run(nodes, servers, DELAY);
    const steps = Math.round((slow.wallMs - base.wallMs) / DELAY);
    rows.push(
        `| ${nodes} | ${servers} | ${base.resources} | ${base.commands} | ${base.criticalPath} | ${steps} | ${base.smokeRounds} | ${base.mockRunSeconds} s | ${Math.max(base.peakRssMB, slow.peakRssMB)} MB |`,
    );
    console.error(`[bench:graph] ${nodes} nodes, ${servers} server(s): ${base.criticalPath} serial steps (timed ${steps})`);
}
console.log(rows.join("\n"));
