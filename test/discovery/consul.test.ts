import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { GraphRecorder, value, valueAndSecret } from "../helpers/mocks";
import { fake, installFakeOutputMocks, mockProvider } from "../mesh/fake-outputs";
import { coreDnsCustomData, coreDnsDataHash } from "../../components/discovery/coredns";
import { podSecurityLabels } from "../../components/services/security";
import type { ConsulArgs } from "../../components/discovery/consul";

before(() => installFakeOutputMocks());

async function build(name: string, args: Partial<ConsulArgs> = {}) {
    const { Consul } = await import("../../components/discovery/consul");
    const rec = new GraphRecorder();
    const providers = new Map<string, pulumi.ProviderResource | undefined>();
    const provider = await mockProvider(`${name}-k8s`);
    const consul = new Consul(
        name,
        { provider, nodeCount: 3, ...args },
        {
            transformations: [
                rec.transform,
                (a) => {
                    providers.set(a.name, a.opts.provider);
                    return undefined;
                },
            ],
        },
    );
    return { consul, rec, providers, provider };
}

type SecretProps = { metadata: { name: string; namespace: pulumi.Output<string> }; stringData: pulumi.Output<Record<string, string>> };

describe("Consul (mocks)", () => {
    it("creates namespace, gossip key, bootstrap token and their Secrets before the chart, then the DNS forward", async () => {
        const { rec, providers, provider } = await build("c1");
        assert.deepEqual(
            rec.resources.map((r) => `${r.type} ${r.name} <- ${r.parent ?? "-"} after [${r.dependsOn.join(",")}]`),
            [
                "nordstack:discovery:Consul c1 <- - after []",
                "kubernetes:core/v1:Namespace c1-namespace <- c1 after []",
                "random:index/randomPassword:RandomPassword c1-gossip-key <- c1 after []",
                "kubernetes:core/v1:Secret c1-gossip-secret <- c1 after []",
                "random:index/randomPassword:RandomPassword c1-bootstrap-token <- c1 after []",
                "kubernetes:core/v1:Secret c1-bootstrap-token-secret <- c1 after []",
                "kubernetes:helm.sh/v3:Release c1-release <- c1 after [c1-namespace,c1-gossip-secret,c1-bootstrap-token-secret]",
                "kubernetes:core/v1:Service c1-dns-service <- c1 after [c1-release]",
                "kubernetes:core/v1:ConfigMap c1-coredns-custom <- c1 after []",
                "kubernetes:apps/v1:DeploymentPatch c1-coredns-restart <- c1 after [c1-coredns-custom]",
            ],
        );
        for (const r of rec.resources.filter((x) => x.type.startsWith("kubernetes:"))) {
            assert.equal(providers.get(r.name), provider, `${r.name} goes through the cluster's provider`);
        }
        const ns = rec.byName("c1-namespace").props as { metadata: { name: string; annotations: Record<string, string> } };
        assert.deepEqual(ns.metadata, {
            name: "consul",
            labels: {
                "config.linkerd.io/admission-webhooks": "disabled",
                "app.kubernetes.io/managed-by": "nordstack",
                ...podSecurityLabels("baseline"),
            },
            annotations: { "linkerd.io/inject": "disabled" },
        });
    });

    it("stores a 32-byte gossip key and a UUID bootstrap token in Secrets, as secrets, and outputs the token as a secret", async () => {
        const { consul, rec } = await build("c2");
        // 64 hex digits = 32 bytes, from a RandomPassword: its resource ID is "none", never the value.
        assert.deepEqual(rec.byName("c2-gossip-key").props.length, 64);
        assert.equal(rec.byName("c2-gossip-key").type, "random:index/randomPassword:RandomPassword");
        const gossip = rec.byName("c2-gossip-secret").props as unknown as SecretProps;
        assert.equal(gossip.metadata.name, "consul-gossip-encryption-key");
        assert.equal(await value(gossip.metadata.namespace), "consul");
        const [gossipData, gossipSecret] = await valueAndSecret(gossip.stringData);
        assert.deepEqual(gossipData, { key: fake.gossipKey("c2-gossip-key") });
        assert.equal(gossipSecret, true);
        assert.equal(Buffer.from(gossipData.key, "base64").length, 32, "AES-256 gossip key");

        const token = rec.byName("c2-bootstrap-token-secret").props as unknown as SecretProps;
        assert.equal(token.metadata.name, "consul-bootstrap-acl-token");
        assert.deepEqual(await valueAndSecret(token.stringData), [{ token: fake.uuid }, true]);
        assert.deepEqual(await valueAndSecret(consul.bootstrapToken), [fake.uuid, true]);
    });

    it("installs the pinned chart with values referencing those Secrets and never containing their contents", async () => {
        const { rec, consul } = await build("c3", { nodeCount: 2 });
        type Rel = { name: string; chart: string; version: string; repositoryOpts: { repo: string }; values: Record<string, unknown> };
        const rel = rec.byName("c3-release").props as unknown as Rel;
        assert.deepEqual(
            [rel.name, rel.chart, rel.version, rel.repositoryOpts.repo],
            ["consul", "consul", "2.0.3", "https://helm.releases.hashicorp.com"],
        );
        const values = await value(pulumi.output(rel.values));
        const global = values.global as Record<string, Record<string, unknown>>;
        assert.equal(global.gossipEncryption.secretName, "consul-gossip-encryption-key");
        assert.deepEqual(global.acls.bootstrapToken, { secretName: "consul-bootstrap-acl-token", secretKey: "token" });
        assert.equal((values.server as Record<string, unknown>).replicas, 2);
        assert.equal(consul.serverReplicas, 2);
        const text = JSON.stringify(values);
        assert.ok(!text.includes(fake.uuid) && !text.includes(fake.gossipKey("c3-gossip-key")), "no secret material in the values");
        assert.deepEqual((values.syncCatalog as Record<string, unknown>).k8sDenyNamespaces, [
            "kube-system",
            "kube-public",
            "kube-node-lease",
            "linkerd",
            "consul",
        ]);
    });

    it("forwards the consul zone from CoreDNS to the consul-dns Service's ClusterIP and rolls CoreDNS on change", async () => {
        const { rec, consul } = await build("c4");
        const svc = rec.byName("c4-dns-service");
        assert.equal(
            await value((svc.resource as pulumi.CustomResource).id),
            "consul/consul-dns",
            "reads the chart's DNS Service after the release",
        );
        assert.equal(await value(consul.dnsServiceIp), fake.clusterIp);

        const cm = rec.byName("c4-coredns-custom").props as {
            metadata: { name: string; namespace: string };
            data: pulumi.Output<Record<string, string>>;
        };
        assert.deepEqual(cm.metadata, { name: "coredns-custom", namespace: "kube-system" });
        const data = await value(cm.data);
        assert.deepEqual(data, coreDnsCustomData("consul", fake.clusterIp));
        assert.match(data["consul.server"], /forward \. 10\.43\.200\.53/);

        type Patch = {
            metadata: { name: string; namespace: string };
            spec: { template: { metadata: { annotations: Record<string, pulumi.Output<string>> } } };
        };
        const patch = rec.byName("c4-coredns-restart").props as unknown as Patch;
        assert.deepEqual(patch.metadata, { name: "coredns", namespace: "kube-system" });
        assert.equal(await value(patch.spec.template.metadata.annotations["nordstack.io/coredns-custom-sha256"]), coreDnsDataHash(data));
    });

    it("leaves CoreDNS alone when told to, and takes a mirror, namespace and sync namespaces", async () => {
        const { rec } = await build("c5", {
            manageCoreDns: false,
            chartRepository: "oci://harbor.internal.no/hashicorp",
            namespace: "discovery",
            syncAllowNamespaces: ["shop"],
        });
        assert.ok(!rec.resources.some((r) => r.name.startsWith("c5-coredns")));
        const rel = rec.byName("c5-release").props as { chart: string; repositoryOpts?: unknown; values: Record<string, unknown> };
        assert.equal(rel.chart, "oci://harbor.internal.no/hashicorp/consul");
        assert.equal(rel.repositoryOpts, undefined);
        const sync = (await value(pulumi.output(rel.values))).syncCatalog as Record<string, unknown>;
        assert.deepEqual(sync.k8sAllowNamespaces, ["shop"]);
        assert.ok((sync.k8sDenyNamespaces as string[]).includes("discovery"), "Consul's own namespace is not synced");
        assert.equal(await value((rec.byName("c5-dns-service").resource as pulumi.CustomResource).id), "discovery/consul-dns");
    });

    it("refuses bad settings before creating anything", async () => {
        await assert.rejects(build("bad1", { chartVersion: "2.x" }), /chartVersion "2.x" is not an exact chart version/);
        await assert.rejects(build("bad2", { nodeCount: 0 }), /nodeCount must be at least 1/);
        await assert.rejects(build("bad3", { namespace: "Consul" }), /namespace "Consul" is not a DNS-1123 label/);
    });
});
