import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { apiUrl, overlayMtu, renderK3sConfig, rewriteKubeconfig, TOKEN_FILE } from "../../components/k3s/render";

const base = { nodeName: "osl-1", nodeIp: "10.10.0.5", flannelIface: "eth1", flannelBackend: "vxlan" as const, embeddedEtcd: false };

describe("overlayMtu", () => {
    it("subtracts the backend's overhead from the real interface MTU", () => {
        assert.equal(overlayMtu(1500, "vxlan"), 1450);
        assert.equal(overlayMtu(1500, "wireguard-native"), 1420);
        assert.equal(overlayMtu(9000, "vxlan"), 8950);
        assert.equal(overlayMtu(1400, "vxlan"), 1350);
    });
    it("refuses an interface too small for the overlay", () => {
        assert.throws(
            () => overlayMtu(1300, "wireguard-native"),
            /interface MTU 1300 leaves 1220 for wireguard-native pods; the overlay needs at least 1280/,
        );
    });
});

describe("renderK3sConfig", () => {
    it("first server of an HA cluster: cluster-init, private IPs, SANs, no traefik or servicelb, encryption, 0600", () => {
        const cfg = parse(
            renderK3sConfig({
                ...base,
                role: "server-init",
                embeddedEtcd: true,
                externalIp: "203.0.113.11",
                tlsSans: ["203.0.113.11", "api.example.no"],
                labels: { zone: "a" },
            }),
        ) as Record<string, unknown>;
        assert.deepEqual(cfg, {
            "node-name": "osl-1",
            "node-ip": "10.10.0.5",
            "node-external-ip": "203.0.113.11",
            "flannel-iface": "eth1",
            "token-file": TOKEN_FILE,
            "node-label": ["zone=a"],
            "cluster-init": true,
            "advertise-address": "10.10.0.5",
            "tls-san": ["10.10.0.5", "203.0.113.11", "api.example.no"],
            disable: ["traefik", "servicelb"],
            "secrets-encryption": true,
            "write-kubeconfig-mode": "0600",
            "flannel-backend": "vxlan",
        });
    });

    it("single server: no cluster-init (SQLite); joining server: server URL, no cluster-init", () => {
        assert.equal((parse(renderK3sConfig({ ...base, role: "server-init" })) as Record<string, unknown>)["cluster-init"], undefined);
        const join = parse(
            renderK3sConfig({ ...base, role: "server-join", embeddedEtcd: true, serverUrl: "https://10.10.0.5:6443" }),
        ) as Record<string, unknown>;
        assert.equal(join.server, "https://10.10.0.5:6443");
        assert.equal(join["cluster-init"], undefined);
        assert.equal(join["flannel-backend"], "vxlan");
    });

    it("agent: only node settings, the server URL and the token file; never the token itself", () => {
        const text = renderK3sConfig({ ...base, role: "agent", serverUrl: "https://10.10.0.5:6443", flannelBackend: "wireguard-native" });
        const cfg = parse(text) as Record<string, unknown>;
        assert.deepEqual(Object.keys(cfg).sort(), ["flannel-iface", "node-ip", "node-name", "server", "token-file"]);
        assert.doesNotMatch(text, /^token:/m);
        assert.throws(() => renderK3sConfig({ ...base, role: "agent" }), /a joining node needs serverUrl/);
    });
});

describe("rewriteKubeconfig", () => {
    const sample = readFileSync(path.join(__dirname, "..", "fixtures", "k3s.yaml"), "utf8");

    it("points a real k3s kubeconfig at the public API and names it after the cluster", () => {
        const out = parse(rewriteKubeconfig(sample, "https://203.0.113.11:6443", "nordstack-dev")) as {
            clusters: { name: string; cluster: { server: string; "certificate-authority-data": string } }[];
            contexts: { name: string; context: { cluster: string; user: string } }[];
            users: { name: string; user: Record<string, string> }[];
            "current-context": string;
        };
        const original = parse(sample) as typeof out;
        assert.equal(out.clusters[0].cluster.server, "https://203.0.113.11:6443");
        assert.equal(out.clusters[0].name, "nordstack-dev");
        assert.deepEqual(out.contexts[0], { name: "nordstack-dev", context: { cluster: "nordstack-dev", user: "nordstack-dev" } });
        assert.equal(out["current-context"], "nordstack-dev");
        assert.equal(out.clusters[0].cluster["certificate-authority-data"], original.clusters[0].cluster["certificate-authority-data"]);
        assert.deepEqual(out.users[0].user, original.users[0].user);
    });

    it("rejects something that is not a kubeconfig", () => {
        assert.throws(() => rewriteKubeconfig("error: no such file", "https://x:6443", "n"), /has no cluster, context or user/);
    });

    it("brackets IPv6 API hosts", () => {
        assert.equal(apiUrl("2001:db8::1"), "https://[2001:db8::1]:6443");
        assert.equal(apiUrl("api.example.no"), "https://api.example.no:6443");
    });
});
