// One run of the deployment-graph benchmark (scripts/bench/graph.ts starts one
// process per scenario, so each gets its own peak RSS). The whole program runs
// under Pulumi mocks in which every remote command takes DELAY ms; the time until
// the last resource is registered, divided by the delay, is the number of serial
// remote steps on the critical path once the same run with no delay is subtracted
// (scripts/bench/graph.ts does both). Prints one JSON line.
//
//   node --import tsx scripts/bench/graph-run.ts NODES SERVERS DELAY_MS
import * as pulumi from "@pulumi/pulumi";
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
