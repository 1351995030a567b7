import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { isDns1123Label } from "../validate";
import type { RegistryMirror } from "../images";
import { chartSource, checkPinnedVersion } from "./chart-source";
import {
    linkerdCniNamespaceMetadata,
    linkerdCniValues,
    linkerdControlPlaneValues,
    linkerdCrdsValues,
    linkerdHighAvailability,
    linkerdNamespaceMetadata,
} from "./linkerd-values";
import { resourceError, runError } from "../errors";

export const LINKERD_DEFAULTS = {
    /** Linkerd publishes only edge releases; chart version YYYY.M.N is release edge-YY.M.N. */
    chartRepository: "https://helm.linkerd.io/edge",
    crdsChartVersion: "2026.8.3",
    controlPlaneChartVersion: "2026.8.3",
    namespace: "linkerd",
    cniNamespace: "linkerd-cni",
    installGatewayApi: true,
    timeoutSeconds: 600,
};

export interface LinkerdArgs {
    /** The cluster's kubernetes provider (from the k3s layer); every resource is created through it. */
    provider: k8s.Provider;
    /** Nodes in the cluster; 3 or more turns on the chart's high-availability values (3 replicas, anti-affinity, PDBs). */
    nodeCount: number;
    /** Trust anchor PEM (LinkerdPki.trustAnchorPem). */
    trustAnchorPem: pulumi.Input<string>;
    /** Identity issuer certificate PEM (LinkerdPki.issuerCertPem). */
    issuerCertPem: pulumi.Input<string>;
    /** Identity issuer private key PEM, secret (LinkerdPki.issuerKeyPem). */
    issuerKeyPem: pulumi.Input<string>;
    /** Helm repository (`https://...`) or OCI registry (`oci://...`) holding both charts; an internal mirror works. Default https://helm.linkerd.io/edge. */
    chartRepository?: string;
    /** Exact linkerd-crds chart version. Default 2026.8.3 (edge-26.8.3). */
    crdsChartVersion?: string;
    /** Exact linkerd-control-plane chart version; keep it equal to crdsChartVersion. Default 2026.8.3. */
    controlPlaneChartVersion?: string;
    /** Control-plane namespace, created here. Default `linkerd`. */
    namespace?: string;
    /** Let linkerd-crds install the Gateway API CRDs Linkerd needs; set false when the cluster already has them (e.g. k3s with Traefik). Default true. */
    installGatewayApi?: boolean;
    /** Upper bound for each chart install/upgrade in seconds. Default 600. */
    timeoutSeconds?: number;
    /** Pull the controller, proxy, debug and CNI plugin images through this mirror. Default: cr.l5d.io directly. */
    registryMirror?: RegistryMirror;
}

/**
 * The Linkerd service mesh (the article's sidecar pattern): linkerd-crds, then
 * linkerd-control-plane with the given trust anchor and identity issuer.
 * Workloads join through namespaces annotated for injection (MeshedNamespace),
 * which should depend on `controlPlane` so no pod starts before the injector.
 */
export class Linkerd extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;
    public readonly crds: k8s.helm.v3.Release;
    public readonly controlPlane: k8s.helm.v3.Release;
    /** The linkerd2-cni DaemonSet that sets up each meshed pod's iptables instead of a NET_ADMIN init container. */
    public readonly cni: k8s.helm.v3.Release;
    public readonly highAvailability: boolean;

    constructor(name: string, args: LinkerdArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:mesh:Linkerd", name, {}, opts);
        const D = LINKERD_DEFAULTS;
        const d = {
            chartRepository: args.chartRepository ?? D.chartRepository,
            crdsChartVersion: args.crdsChartVersion ?? D.crdsChartVersion,
            controlPlaneChartVersion: args.controlPlaneChartVersion ?? D.controlPlaneChartVersion,
            namespace: args.namespace ?? D.namespace,
            installGatewayApi: args.installGatewayApi ?? D.installGatewayApi,
            timeoutSeconds: args.timeoutSeconds ?? D.timeoutSeconds,
        };
        let crdsChart: ReturnType<typeof chartSource>;
        let cniChart: ReturnType<typeof chartSource>;
        let cpChart: ReturnType<typeof chartSource>;
        try {
            if (!Number.isInteger(args.nodeCount) || args.nodeCount < 1)
                throw runError(`nodeCount must be at least 1, got ${args.nodeCount}`);
            if (!isDns1123Label(d.namespace)) throw runError(`namespace ${JSON.stringify(d.namespace)} is not a DNS-1123 label`);
            checkPinnedVersion(d.crdsChartVersion, "crdsChartVersion");
            checkPinnedVersion(d.controlPlaneChartVersion, "controlPlaneChartVersion");
            if (d.crdsChartVersion !== d.controlPlaneChartVersion) {
                throw runError(
                    `crdsChartVersion (${d.crdsChartVersion}) and controlPlaneChartVersion (${d.controlPlaneChartVersion}) differ; ` +
                        `Linkerd releases both charts together, upgrade them together`,
                );
            }
            crdsChart = chartSource(d.chartRepository, "linkerd-crds");
            cpChart = chartSource(d.chartRepository, "linkerd-control-plane");
            cniChart = chartSource(d.chartRepository, "linkerd2-cni");
        } catch (e) {
            throw resourceError((e as Error).message, this);
        }
        const k8sOpts = { parent: this, provider: args.provider };
        this.highAvailability = linkerdHighAvailability(args.nodeCount);

        const ns = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            { metadata: { name: d.namespace, ...linkerdNamespaceMetadata(d.namespace) } },
            k8sOpts,
        );
        this.namespace = ns.metadata.name;

        this.crds = new k8s.helm.v3.Release(
            `${name}-crds`,
            {
                name: "linkerd-crds",
                ...crdsChart,
                version: d.crdsChartVersion,
                namespace: this.namespace,
                values: linkerdCrdsValues(d.installGatewayApi),
                atomic: true,
                timeout: d.timeoutSeconds,
            },
            { ...k8sOpts, dependsOn: [ns] },
        );

        const cniNs = new k8s.core.v1.Namespace(
            `${name}-cni-namespace`,
            { metadata: { name: D.cniNamespace, ...linkerdCniNamespaceMetadata() } },
            k8sOpts,
        );
        // Released with the control plane (same version); it must run on every node before a meshed pod starts.
        this.cni = new k8s.helm.v3.Release(
            `${name}-cni`,
            {
                name: "linkerd2-cni",
                ...cniChart,
                version: d.controlPlaneChartVersion,
                namespace: cniNs.metadata.name,
                values: linkerdCniValues(undefined, args.registryMirror),
                atomic: true,
                timeout: d.timeoutSeconds,
            },
            { ...k8sOpts, dependsOn: [cniNs] },
        );

        const values = pulumi
            .all([args.trustAnchorPem, args.issuerCertPem, args.issuerKeyPem])
            .apply(([trustAnchorPem, issuerCertPem, issuerKeyPem]) =>
                linkerdControlPlaneValues({
                    trustAnchorPem,
                    issuerCertPem,
                    issuerKeyPem,
                    highAvailability: this.highAvailability,
                    registryMirror: args.registryMirror,
                }),
            );
        this.controlPlane = new k8s.helm.v3.Release(
            `${name}-control-plane`,
            {
                name: "linkerd-control-plane",
                ...cpChart,
                version: d.controlPlaneChartVersion,
                namespace: this.namespace,
                // Secret as a whole: it carries the issuer's private key.
                values: pulumi.secret(values),
                atomic: true,
                timeout: d.timeoutSeconds,
            },
            // The control plane's custom resources (Servers, policies) need the CRDs first.
            { ...k8sOpts, dependsOn: [ns, this.crds, this.cni] },
        );

        this.registerOutputs({ namespace: this.namespace, highAvailability: this.highAvailability });
    }
}
