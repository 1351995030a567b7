// Shared config fixtures for unit tests.
import { parsePlatformConfig, PlatformConfig } from "../../components/config";
import { readFileSync } from "node:fs";
import * as path from "node:path";

/** A well-formed (fake) ed25519 host key line per test node. */
export const hostKeyOf = (name: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${Buffer.from(name.padEnd(32, "x")).toString("base64")}`;

export function rawConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        sshPrivateKey: true,
        gatewayServerNames: ["api.nordstack.example"],
        // The deploy machine (a documentation address): Pulumi reaches the API through the firewall.
        apiAllowFrom: ["198.51.100.7/32"],
        nodes: [
            { name: "osl-1", role: "server", host: "203.0.113.11", privateAddress: "10.10.0.5", hostKey: hostKeyOf("osl-1") },
            { name: "osl-2", role: "agent", host: "203.0.113.12", privateAddress: "10.10.0.6", hostKey: hostKeyOf("osl-2") },
            { name: "osl-3", role: "agent", host: "203.0.113.13", privateAddress: "10.10.0.7", hostKey: hostKeyOf("osl-3") },
        ],
        services: [
            { name: "inventory", image: "docker.io/traefik/whoami:v1.10.3", datastores: [{ engine: "postgres" }] },
            { name: "pricing", image: "docker.io/traefik/whoami:v1.10.3", datastores: [{ engine: "redis" }] },
        ],
        ...overrides,
    };
}

export function config(overrides: Record<string, unknown> = {}): PlatformConfig {
    return parsePlatformConfig(rawConfig(overrides));
}

/** A preflight result as the real script prints it (captured from a lab host). */
export function preflightJson(hostname: string, mtu = 1500): string {
    return JSON.stringify({
        hostname,
        os: "debian",
        osVersion: "12",
        arch: "x86_64",
        kernel: "6.1.0-28-amd64",
        virtualization: "kvm",
        privateInterface: "eth1",
        mtu,
        linkSpeedMbps: -1,
        timeSync: "yes",
        cpus: 4,
        memoryMiB: 7936,
        modules: { loaded: ["overlay", "br_netfilter", "vxlan"], missing: [] },
        warnings: [],
        problems: [],
        ok: true,
    });
}

/** What `firewall.sh confirm` prints on a node that took the rules. */
export function firewallConfirmJson(changed = true): string {
    return JSON.stringify({ changed, confirmed: true, hash: "0".repeat(64) });
}

/**
 * What healthy nodes print, by step name: preflight (MTU 1500), tuning (nothing to change), the
 * firewall's confirmation, the kubeconfig fixture, a 9 Gbit/s smoke pair. Undefined for the rest.
 */
export function healthyStepOutput(name: string): string | undefined {
    const m = /-preflight-(.*)-check$/.exec(name);
    if (m) return preflightJson(m[1], 1500);
    if (name.endsWith("-sysctl")) return JSON.stringify({ changed: false, values: {} });
    if (name.endsWith("-confirm")) return firewallConfirmJson();
    if (name.endsWith("-kubeconfig")) return readFileSync(path.join(__dirname, "..", "fixtures", "k3s.yaml"), "utf8");
    const c = /-smoke-pair-(.*)-(osl-\d)$/.exec(name);
    if (c) return JSON.stringify({ from: c[1], to: c[2], address: "10.10.0.9", pathMtu: 1500, gbps: 9, retransmits: 0, segments: 1 });
    return undefined;
}
