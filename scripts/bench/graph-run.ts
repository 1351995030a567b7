// One run of the deployment-graph benchmark (scripts/bench/graph.ts starts one
// process per scenario, so each gets its own peak RSS). The whole program runs
// under Pulumi mocks in which every remote command takes DELAY ms. Two measures of
// the critical path:
// - exact: every registration's dependency URNs (inputs, dependsOn, provider) and
//   parent are recorded from the mock monitor; a command's depth is 1 + the deepest
//   command it waits for, transitively through components and plain resources.
// - timed: the time until the last resource is registered, divided by the delay,
//   once the same run with no delay is subtracted (scripts/bench/graph.ts).
// Prints one JSON line.
//
//   node --import tsx scripts/bench/graph-run.ts NODES SERVERS DELAY_MS
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { outputsFor } from "../../test/mesh/fake-outputs";

const [nodes, servers, delay] = process.argv.slice(2).map(Number);
const ROOT = path.resolve(__dirname, "..", "..");
const kubeconfig = readFileSync(path.join(ROOT, "test", "fixtures", "k3s.yaml"), "utf8");
let resources = 0;
let commands = 0;
let last = 0;
let t0 = 0;

// Exact critical path: depth of every registered URN, in remote commands.
const depth = new Map<string, number>();
const startDepth = new Map<string, number>();
const childrenOf = new Map<string, string[]>();
interface RegisterRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
    getProvider(): string;
    getDependenciesList(): string[];
    getPropertydependenciesMap(): { forEach(cb: (v: { getUrnsList(): string[] }) => void): void };
}
const depthOf = (urn: string): number => Math.max(depth.get(urn) ?? 0, ...(childrenOf.get(urn) ?? []).map(depthOf));
type Register = (this: MockMonitor, req: RegisterRequest, cb: unknown) => Promise<void>;
const proto = MockMonitor.prototype as unknown as { registerResource: Register; newUrn(p: string, t: string, n: string): string };
const original = proto.registerResource;
proto.registerResource = function (req, cb) {
    const urn = proto.newUrn.call(this, req.getParent(), req.getType(), req.getName());
    const deps = new Set(req.getDependenciesList());
    req.getPropertydependenciesMap().forEach((v) => v.getUrnsList().forEach((u) => deps.add(u)));
    // A provider reference is "URN::ID": a resource waits for its provider too.
    const provider = req.getProvider();
    if (provider) deps.add(provider.slice(0, provider.lastIndexOf("::")));
    const own = req.getType().startsWith("command:") ? 1 : 0;
    // A child waits for its parent's registration, which waited for the parent's dependsOn.
    const parent = req.getParent();
    const start = Math.max(parent ? (startDepth.get(parent) ?? 0) : 0, ...[...deps].map(depthOf));
    startDepth.set(urn, start);
    depth.set(urn, start + own);
    if (parent) childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), urn]);
    return original.call(this, req, cb);
};

function stdout(name: string): string {
    const pre = /-preflight-(.*)-check$/.exec(name);
    if (pre)
        return JSON.stringify({
            hostname: pre[1],
            os: "debian",
            virtualization: "kvm",
            privateInterface: "eth1",
            mtu: 1500,
            linkSpeedMbps: -1,
            ok: true,
        });
    if (name.endsWith("-sysctl")) return JSON.stringify({ changed: true, values: {} });
    if (name.endsWith("-confirm")) return JSON.stringify({ changed: true, confirmed: true, hash: "0".repeat(64) });
    if (name.endsWith("-kubeconfig")) return kubeconfig;
    const pair = /-smoke-pair-(n\d+)-(n\d+)$/.exec(name);
    if (pair)
        return JSON.stringify({ from: pair[1], to: pair[2], address: "10.10.0.1", pathMtu: 1500, gbps: 9, retransmits: 0, segments: 1 });
    return "";
}

void pulumi.runtime.setMocks(
    {
        newResource: async (args) => {
            resources++;
            const isCommand = args.type.startsWith("command:");
            if (isCommand) {
                commands++;
                await new Promise((r) => setTimeout(r, delay));
            }
            last = Date.now();
            return {
                id: `${args.name}-id`,
                state: {
                    ...(args.inputs as Record<string, unknown>),
                    ...(isCommand ? { stdout: stdout(args.name), stderr: "" } : {}),
                    ...(args.type.includes("RandomPassword")
                        ? { result: "Tok3n".padEnd((args.inputs as { length: number }).length, "x") }
                        : {}),
                    // The same stand-ins for provider-computed outputs as the unit tests use.
                    ...outputsFor(args),
                },
            };
        },
        call: (args) => args.inputs as Record<string, unknown>,
    },
    "nordstack",
    "bench",
    false,
);

void (async () => {
    const { parsePlatformConfig } = await import("../../components/config");
    const { Platform } = await import("../../components/platform");
    const key = (n: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${Buffer.from(n.padEnd(32, "x")).toString("base64")}`;
    const cfg = parsePlatformConfig({
        sshPrivateKey: true,
        gatewayServerNames: ["api.example.no"],
        apiAllowFrom: ["198.51.100.7/32"],
        nodes: Array.from({ length: nodes }, (_, i) => ({
            name: `n${String(i).padStart(2, "0")}`,
            role: i < servers ? "server" : "agent",
            host: `192.0.2.${i + 1}`,
            privateAddress: `10.10.${Math.floor(i / 200)}.${(i % 200) + 1}`,
            hostKey: key(`n${i}`),
            labels: { "topology.kubernetes.io/zone": `no-oslo-${"abc"[i % 3]}` },
        })),
        services: [
            { name: "inventory", image: "docker.io/traefik/whoami:v1.10.3", datastores: [{ engine: "postgres" }] },
            { name: "pricing", image: "docker.io/traefik/whoami:v1.10.3", datastores: [{ engine: "redis" }] },
        ],
    });
    t0 = Date.now();
    new Platform("bench", { config: cfg, sshPrivateKey: pulumi.secret("KEY"), smokeRunId: "run" });
    // Done when nothing registered for 4 delays.
    const idle = setInterval(
        () => {
            if (last > 0 && Date.now() - last > Math.max(4 * delay, 1000)) {
                clearInterval(idle);
                const wall = (last - t0) / 1000;
                process.stdout.write(
                    `${JSON.stringify({
                        nodes,
                        servers,
                        resources,
                        commands,
                        wallMs: last - t0,
                        criticalPath: Math.max(0, ...depth.values()),
                        // Rounds as the graph runs them: distinct depths of the host smoke pairs.
                        smokeRounds: new Set([...depth].filter(([u]) => /-smoke-pair-[^:]*$/.test(u)).map(([, d]) => d)).size,
                        mockRunSeconds: Math.round(wall * 10) / 10,
                        peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
                    })}\n`,
                );
                process.exit(0);
            }
        },
        Math.max(delay, 100),
    );
})();
