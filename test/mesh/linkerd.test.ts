import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { GraphRecorder, value, valueAndSecret } from "../helpers/mocks";
import { fake, installFakeOutputMocks, mockProvider } from "./fake-outputs";
import {
    linkerdCniValues,
    linkerdControlPlaneValues,
    linkerdCrdsValues,
    linkerdHighAvailability,
    linkerdNamespaceMetadata,
} from "../../components/mesh/linkerd-values";
import { chartSource, checkPinnedVersion } from "../../components/mesh/chart-source";
import { meshedNamespaceMetadata } from "../../components/mesh/meshed-namespace";
import type { LinkerdArgs } from "../../components/mesh/linkerd";

const ANCHOR = "-----BEGIN CERTIFICATE-----\nanchor\n-----END CERTIFICATE-----\n";
const ISSUER = "-----BEGIN CERTIFICATE-----\nissuer\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN EC PRIVATE KEY-----\nkey\n-----END EC PRIVATE KEY-----\n";

describe("Linkerd values (pure)", () => {
    it("puts the trust anchor and the issuer certificate and key where the control-plane chart reads them", () => {
        assert.deepEqual(
            linkerdControlPlaneValues({ trustAnchorPem: ANCHOR, issuerCertPem: ISSUER, issuerKeyPem: KEY, highAvailability: false }),
            {
                identityTrustAnchorsPEM: ANCHOR,
                cniEnabled: true,
                identity: { issuer: { scheme: "linkerd.io/tls", tls: { crtPEM: ISSUER, keyPEM: KEY } } },
                // No daily call to versioncheck.linkerd.io.
                disableHeartBeat: true,
                proxy: { capabilities: { drop: ["ALL"] } },
                networkValidator: { enableSecurityContext: true },
            },
        );
    });

    it("with a registry mirror, every image the chart runs or injects comes from it (HA proxy resources kept)", () => {
        const mirror = { host: "registry.example.no", path: "proxy" };
        const v = linkerdControlPlaneValues({
            trustAnchorPem: ANCHOR,
            issuerCertPem: ISSUER,
            issuerKeyPem: KEY,
            highAvailability: true,
            registryMirror: mirror,
        });
        assert.equal(v.controllerImage, "registry.example.no/proxy/cr.l5d.io/linkerd/controller");
        // No dead overrides: chart 2026.8.3 has no policyController.image or proxyInit.image.
        assert.equal(v.policyController, undefined);
        assert.equal(v.proxyInit, undefined);
        assert.deepEqual(v.proxy, {
            resources: { cpu: { request: "100m" }, memory: { limit: "250Mi", request: "20Mi" } },
            image: { name: "registry.example.no/proxy/cr.l5d.io/linkerd/proxy" },
            capabilities: { drop: ["ALL"] },
        });
        assert.deepEqual(v.debugContainer, { image: { name: "registry.example.no/proxy/cr.l5d.io/linkerd/debug" } });
        assert.equal(v.disableHeartBeat, true);
        assert.deepEqual(linkerdCniValues(undefined, mirror).image, { name: "registry.example.no/proxy/cr.l5d.io/linkerd/cni-plugin" });
        assert.equal(linkerdCniValues().image, undefined);
    });

    it("adds the chart's HA values from 3 nodes on: 3 replicas, anti-affinity, PDBs, a failing webhook policy", () => {
        assert.deepEqual(
            [1, 2, 3, 5].map((n) => linkerdHighAvailability(n)),
            [false, false, true, true],
        );
        const ha = linkerdControlPlaneValues({ trustAnchorPem: ANCHOR, issuerCertPem: ISSUER, issuerKeyPem: KEY, highAvailability: true });
        assert.equal(ha.controllerReplicas, 3);
        assert.equal(ha.enablePodAntiAffinity, true);
        assert.equal(ha.enablePodDisruptionBudget, true);
        assert.equal(ha.webhookFailurePolicy, "Fail");
        assert.equal(ha.highAvailability, true);
        assert.deepEqual(ha.identityResources, { cpu: { limit: "", request: "100m" }, memory: { limit: "250Mi", request: "10Mi" } });
        assert.equal(ha.identityTrustAnchorsPEM, ANCHOR, "HA keeps the PKI");
        assert.deepEqual(
            ha.proxy,
            { resources: { cpu: { request: "100m" }, memory: { limit: "250Mi", request: "20Mi" } }, capabilities: { drop: ["ALL"] } },
            "HA's proxy resources and the dropped capabilities together",
        );
    });

    it("refuses a PEM of the wrong kind (e.g. the key where the certificate belongs)", () => {
        assert.throws(
            () => linkerdControlPlaneValues({ trustAnchorPem: ANCHOR, issuerCertPem: KEY, issuerKeyPem: KEY, highAvailability: false }),
            /issuerCertPem is not a PEM CERTIFICATE/,
        );
        assert.throws(
            () =>
                linkerdControlPlaneValues({ trustAnchorPem: ANCHOR, issuerCertPem: ISSUER, issuerKeyPem: ISSUER, highAvailability: false }),
            /issuerKeyPem is not a PEM PRIVATE KEY/,
        );
    });

    it("renders the CRDs chart's Gateway API switch and the control-plane namespace metadata", () => {
        assert.deepEqual(linkerdCrdsValues(true), { installGatewayAPI: true });
        assert.deepEqual(linkerdCrdsValues(false), { installGatewayAPI: false });
        assert.deepEqual(linkerdNamespaceMetadata("linkerd"), {
            labels: {
                "linkerd.io/is-control-plane": "true",
                "config.linkerd.io/admission-webhooks": "disabled",
                "linkerd.io/control-plane-ns": "linkerd",
                "pod-security.kubernetes.io/enforce": "privileged",
            },
            annotations: { "linkerd.io/inject": "disabled" },
        });
    });

    it("resolves charts in an HTTP repository or an OCI mirror, and insists on exact versions", () => {
        assert.deepEqual(chartSource("https://helm.linkerd.io/edge/", "linkerd-crds"), {
            chart: "linkerd-crds",
            repositoryOpts: { repo: "https://helm.linkerd.io/edge" },
        });
        assert.deepEqual(chartSource("oci://harbor.internal.no/mirror/linkerd", "linkerd-crds"), {
            chart: "oci://harbor.internal.no/mirror/linkerd/linkerd-crds",
        });
        assert.throws(() => chartSource("helm.linkerd.io/edge", "x"), /must be an https:\/\/ Helm repository or an oci:\/\/ registry/);
        assert.doesNotThrow(() => checkPinnedVersion("2026.8.3", "v"));
        assert.doesNotThrow(() => checkPinnedVersion("1.2.3-rc.1", "v"));
        for (const range of ["^2026.8.3", "~1.2", "1.x", "*", "2026.8", ""]) {
            assert.throws(() => checkPinnedVersion(range, "crdsChartVersion"), /is not an exact chart version/, range);
        }
    });

    it("annotates meshed namespaces for injection, whatever the caller's annotations say", () => {
        assert.deepEqual(meshedNamespaceMetadata("shop", { team: "a" }, { "linkerd.io/inject": "disabled", note: "x" }), {
            name: "shop",
            labels: { team: "a", "app.kubernetes.io/managed-by": "nordstack" },
            annotations: { "linkerd.io/inject": "enabled", note: "x" },
        });
        assert.throws(() => meshedNamespaceMetadata("Shop_1"), /is not a DNS-1123 label/);
    });
});

describe("Linkerd and MeshedNamespace (mocks)", () => {
    before(() => installFakeOutputMocks());

    async function build(name: string, nodeCount: number, extra: Partial<LinkerdArgs> = {}) {
        const { LinkerdPki } = await import("../../components/mesh/pki");
        const { Linkerd } = await import("../../components/mesh/linkerd");
        const rec = new GraphRecorder();
        const providers = new Map<string, pulumi.ProviderResource | undefined>();
        const transformations: pulumi.ResourceTransformation[] = [
            rec.transform,
            (a) => {
                providers.set(a.name, a.opts.provider);
                return undefined;
            },
        ];
        const provider = await mockProvider(`${name}-k8s`);
        const pki = new LinkerdPki(`${name}-pki`, {}, { transformations });
        const linkerd = new Linkerd(
            name,
            {
                provider,
                nodeCount,
                trustAnchorPem: pki.trustAnchorPem,
                issuerCertPem: pki.issuerCertPem,
                issuerKeyPem: pki.issuerKeyPem,
                ...extra,
            },
            { transformations },
        );
        return { linkerd, rec, providers, provider };
    }

    it("creates the control-plane namespace, then linkerd-crds, then linkerd-control-plane, through the cluster's provider", async () => {
        const { rec, providers, provider } = await build("l1", 1);
        const own = rec.resources.filter((r) => r.name === "l1" || r.parent === "l1");
        assert.deepEqual(
            own.map((r) => `${r.type} ${r.name} <- ${r.parent ?? "-"} after [${r.dependsOn.join(",")}]`),
            [
                "nordstack:mesh:Linkerd l1 <- - after []",
                "kubernetes:core/v1:Namespace l1-namespace <- l1 after []",
                "kubernetes:helm.sh/v3:Release l1-crds <- l1 after [l1-namespace]",
                "kubernetes:core/v1:Namespace l1-cni-namespace <- l1 after []",
                "kubernetes:helm.sh/v3:Release l1-cni <- l1 after [l1-cni-namespace]",
                "kubernetes:helm.sh/v3:Release l1-control-plane <- l1 after [l1-namespace,l1-crds,l1-cni]",
            ],
        );
        for (const r of own.slice(1)) assert.equal(providers.get(r.name), provider, `${r.name} uses the cluster's provider`);
        const ns = rec.byName("l1-namespace").props as { metadata: { name: string; labels: Record<string, string> } };
        assert.equal(ns.metadata.name, "linkerd");
        assert.equal(ns.metadata.labels["config.linkerd.io/admission-webhooks"], "disabled");
    });

    it("installs pinned chart versions from the configured repository into the namespace", async () => {
        const { rec } = await build("l2", 1);
        type Rel = { name: string; chart: string; version: string; namespace: pulumi.Output<string>; repositoryOpts: { repo: string } };
        const crds = rec.byName("l2-crds").props as unknown as Rel & { values: Record<string, unknown> };
        const cp = rec.byName("l2-control-plane").props as unknown as Rel;
        assert.deepEqual(
            [crds.name, crds.chart, crds.version, crds.repositoryOpts.repo],
            ["linkerd-crds", "linkerd-crds", "2026.8.3", "https://helm.linkerd.io/edge"],
        );
        assert.deepEqual([cp.name, cp.chart, cp.version], ["linkerd-control-plane", "linkerd-control-plane", "2026.8.3"]);
        assert.equal(await value(cp.namespace), "linkerd");
        assert.deepEqual(await value(crds.values), { installGatewayAPI: true });

        const { rec: mirrored } = await build("l3", 1, {
            chartRepository: "oci://harbor.internal.no/linkerd",
            crdsChartVersion: "2026.7.2",
            controlPlaneChartVersion: "2026.7.2",
            installGatewayApi: false,
        });
        const m = mirrored.byName("l3-control-plane").props as unknown as Rel;
        assert.equal(m.chart, "oci://harbor.internal.no/linkerd/linkerd-control-plane");
        assert.equal(m.repositoryOpts, undefined);
        assert.equal(m.version, "2026.7.2");
        assert.deepEqual(await value((mirrored.byName("l3-crds").props as { values: pulumi.Input<unknown> }).values), {
            installGatewayAPI: false,
        });
    });

    it("renders the control-plane values from the PKI's outputs, secret as a whole; HA only with 3+ nodes", async () => {
        const values = async (name: string, nodes: number) => {
            const { rec } = await build(name, nodes);
            return valueAndSecret(
                pulumi.output((rec.byName(`${name}-control-plane`).props as { values: pulumi.Input<Record<string, unknown>> }).values),
            );
        };
        const [small, secret] = await values("l4", 2);
        assert.equal(secret, true, "the values carry the issuer's private key");
        assert.deepEqual(small, {
            identityTrustAnchorsPEM: fake.certPem("l4-pki-anchor-cert"),
            cniEnabled: true,
            identity: {
                issuer: {
                    scheme: "linkerd.io/tls",
                    tls: { crtPEM: fake.certPem("l4-pki-issuer-cert"), keyPEM: fake.keyPem("l4-pki-issuer-key") },
                },
            },
            disableHeartBeat: true,
            proxy: { capabilities: { drop: ["ALL"] } },
            networkValidator: { enableSecurityContext: true },
        });
        const [big] = await values("l5", 3);
        assert.equal(big.controllerReplicas, 3);
        assert.equal(big.enablePodAntiAffinity, true);
        assert.equal((big.identity as { issuer: { tls: { keyPEM: string } } }).issuer.tls.keyPEM, fake.keyPem("l5-pki-issuer-key"));
    });

    it("refuses unpinned, mismatched or mistyped settings before creating anything", async () => {
        await assert.rejects(
            build("bad1", 3, { crdsChartVersion: "^2026.8.3", controlPlaneChartVersion: "^2026.8.3" }),
            /crdsChartVersion "\^2026.8.3" is not an exact chart version/,
        );
        await assert.rejects(
            build("bad2", 3, { crdsChartVersion: "2026.8.2" }),
            /crdsChartVersion \(2026.8.2\) and controlPlaneChartVersion \(2026.8.3\) differ/,
        );
        await assert.rejects(build("bad3", 0), /nodeCount must be at least 1, got 0/);
        await assert.rejects(
            build("bad4", 1, { chartRepository: "ftp://mirror" }),
            /must be an https:\/\/ Helm repository or an oci:\/\/ registry/,
        );
    });

    it("meshes a service namespace only after the control plane exists", async () => {
        const { linkerd, rec, provider } = await build("l6", 1);
        const { MeshedNamespace } = await import("../../components/mesh/meshed-namespace");
        new MeshedNamespace(
            "shop",
            { provider, controlPlane: linkerd.controlPlane, labels: { tier: "services" } },
            { transformations: [rec.transform] },
        );
        const ns = rec.byName("shop-namespace");
        assert.equal(ns.type, "kubernetes:core/v1:Namespace");
        assert.equal(ns.parent, "shop");
        assert.deepEqual(ns.dependsOn, ["l6-control-plane"]);
        assert.deepEqual(ns.props.metadata, {
            name: "shop",
            labels: { tier: "services", "app.kubernetes.io/managed-by": "nordstack" },
            annotations: { "linkerd.io/inject": "enabled" },
        });
    });
});
