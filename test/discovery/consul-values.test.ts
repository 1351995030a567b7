import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConsulValuesInput, consulServerReplicas, consulValues } from "../../components/discovery/consul-values";
import { consulServerBlock, coreDnsCustomData, coreDnsDataHash } from "../../components/discovery/coredns";

const input = (o: Partial<ConsulValuesInput> = {}): ConsulValuesInput => ({
    nodeCount: 3,
    datacenter: "no-oslo",
    gossipKey: { name: "consul-gossip-encryption-key", key: "key" },
    bootstrapToken: { name: "consul-bootstrap-acl-token", key: "token" },
    syncAllowNamespaces: ["*"],
    syncDenyNamespaces: ["kube-system", "consul"],
    serverStorage: "10Gi",
    tls: true,
    ...o,
});

describe("Consul values (pure)", () => {
    it("runs min(3, nodes) servers and expects exactly them", () => {
        assert.deepEqual([1, 2, 3, 4, 7].map(consulServerReplicas), [1, 2, 3, 3, 3]);
        for (const n of [1, 2, 5]) {
            const server = consulValues(input({ nodeCount: n })).server as Record<string, unknown>;
            assert.equal(server.replicas, Math.min(3, n));
            assert.equal(server.bootstrapExpect, Math.min(3, n));
        }
    });

    it("points gossip encryption and the ACL bootstrap token at the Secrets, never at the values themselves", () => {
        const v = consulValues(input());
        const global = v.global as Record<string, unknown>;
        assert.deepEqual(global.gossipEncryption, { autoGenerate: false, secretName: "consul-gossip-encryption-key", secretKey: "key" });
        assert.deepEqual(global.acls, {
            manageSystemACLs: true,
            bootstrapToken: { secretName: "consul-bootstrap-acl-token", secretKey: "token" },
        });
        assert.equal(global.name, "consul", "fixes the DNS Service name consul-dns");
        assert.equal(global.datacenter, "no-oslo");
        assert.deepEqual(global.tls, { enabled: true });
    });

    it("keeps Consul's mesh off, syncs Kubernetes Services into Consul under their own names, and serves DNS", () => {
        const v = consulValues(input({ syncAllowNamespaces: ["shop", "gateway"] }));
        assert.deepEqual(v.connectInject, { enabled: false });
        assert.equal((v.server as Record<string, unknown>).connect, false);
        assert.equal((v.global as Record<string, unknown>).installK8sNetworkingCRDs, false);
        assert.deepEqual(v.syncCatalog, {
            enabled: true,
            default: true,
            toConsul: true,
            toK8S: false,
            syncClusterIPServices: true,
            k8sAllowNamespaces: ["shop", "gateway"],
            k8sDenyNamespaces: ["kube-system", "consul"],
            addK8SNamespaceSuffix: false,
        });
        assert.deepEqual(v.dns, { enabled: true, enableRedirection: false, type: "ClusterIP" });
    });

    it("lists every invalid setting at once", () => {
        assert.throws(
            () =>
                consulValues(
                    input({
                        nodeCount: 0,
                        datacenter: "Oslo DC",
                        syncAllowNamespaces: [],
                        syncDenyNamespaces: ["Kube_System"],
                        serverStorage: "10GB",
                    }),
                ),
            (e: Error) => {
                for (const re of [
                    /nodeCount must be at least 1, got 0/,
                    /datacenter "Oslo DC" must be a DNS label/,
                    /syncAllowNamespaces is empty/,
                    /syncDenyNamespaces: "Kube_System" is not a namespace name/,
                    /serverStorage "10GB" must be a size like 10Gi/,
                ]) {
                    assert.match(e.message, re);
                }
                return true;
            },
        );
    });
});

describe("Consul values: nothing phones home, images through a mirror (pure)", () => {
    it("turns off the agents' update check and the chart's metrics, and leaves the chart's images alone without a mirror", () => {
        const v = consulValues(input());
        const global = v.global as Record<string, unknown>;
        assert.deepEqual(JSON.parse((v.server as { extraConfig: string }).extraConfig), { disable_update_check: true });
        assert.deepEqual(global.metrics, { enabled: false });
        assert.ok(!("image" in global) && !("imageK8S" in global) && !("imageConsulDataplane" in global));
    });

    it("with a mirror, sets consul, consul-k8s-control-plane and consul-dataplane (2.x share the chart's version)", () => {
        const registryMirror = { host: "registry.example.no:5000", path: "" };
        const global = consulValues(input({ registryMirror, chartVersion: "2.0.3" })).global as Record<string, unknown>;
        assert.equal(global.image, "registry.example.no:5000/docker.io/hashicorp/consul:2.0.3");
        assert.equal(global.imageK8S, "registry.example.no:5000/docker.io/hashicorp/consul-k8s-control-plane:2.0.3");
        assert.equal(global.imageConsulDataplane, "registry.example.no:5000/docker.io/hashicorp/consul-dataplane:2.0.3");
        assert.throws(() => consulValues(input({ registryMirror, chartVersion: "1.8.2" })), /consul-k8s 2.x releases only/);
    });
});

describe("CoreDNS forward for the consul zone (pure)", () => {
    it("renders a server block k3s's CoreDNS imports from coredns-custom, forwarding to Consul DNS, uncached", () => {
        assert.equal(consulServerBlock("consul", "10.43.200.53"), "consul:53 {\n    errors\n    forward . 10.43.200.53\n}\n");
        assert.deepEqual(Object.keys(coreDnsCustomData("consul", "10.43.200.53")), ["consul.server"]);
        assert.doesNotMatch(consulServerBlock("consul", "10.43.200.53"), /cache/);
    });

    it("refuses a non-IP upstream (CoreDNS forward needs an address) and a bad zone", () => {
        assert.throws(() => consulServerBlock("consul", "consul-dns.consul.svc"), /is not an IP address/);
        assert.throws(() => consulServerBlock("Consul.", "10.43.0.10"), /is not a DNS label/);
    });

    it("hashes the data stably, so CoreDNS restarts exactly when the forward changes", () => {
        const a = coreDnsCustomData("consul", "10.43.200.53");
        assert.equal(coreDnsDataHash(a), coreDnsDataHash({ ...a }));
        assert.equal(coreDnsDataHash({ b: "2", a: "1" }), coreDnsDataHash({ a: "1", b: "2" }));
        assert.notEqual(coreDnsDataHash(a), coreDnsDataHash(coreDnsCustomData("consul", "10.43.200.54")));
        assert.match(coreDnsDataHash(a), /^[0-9a-f]{64}$/);
    });
});
