// Helm values and namespace metadata for Linkerd, rendered by pure functions
// (keys as in the linkerd-crds / linkerd-control-plane charts, edge 2026.8.3).
import { mirrorImage, RegistryMirror } from "../images";
import { runError } from "../errors";

/**
 * The chart's image names (tags come from the chart's linkerdVersion), all on cr.l5d.io.
 * Since edge-25.8.3 the policy controller runs from the controller image and since the
 * proxy-init merge the init/validator run from the proxy image: the chart has no
 * separate `policyController.image` or `proxyInit.image` to set.
 */
export const LINKERD_IMAGES = {
    controller: "cr.l5d.io/linkerd/controller",
    proxy: "cr.l5d.io/linkerd/proxy",
    debug: "cr.l5d.io/linkerd/debug",
    cniPlugin: "cr.l5d.io/linkerd/cni-plugin",
} as const;

/** Linkerd's HA values need at least this many nodes: they require one replica per node (pod anti-affinity). */
export const LINKERD_HA_MIN_NODES = 3;

export function linkerdHighAvailability(nodeCount: number): boolean {
    return nodeCount >= LINKERD_HA_MIN_NODES;
}

/**
 * Values of the linkerd-crds chart. Linkerd's policy controller needs the
 * Gateway API CRDs; since 2.19 the chart no longer installs them by default.
 */
export function linkerdCrdsValues(installGatewayApi: boolean): Record<string, unknown> {
    return { installGatewayAPI: installGatewayApi };
}

export interface ControlPlaneValuesInput {
    trustAnchorPem: string;
    issuerCertPem: string;
    issuerKeyPem: string;
    highAvailability: boolean;
    /** Pull every control-plane and injected image through this mirror (see mirrorImage). */
    registryMirror?: RegistryMirror;
}

/** Values of the linkerd-control-plane chart: the PKI, plus the chart's `values-ha.yaml` content when HA. */
export function linkerdControlPlaneValues(i: ControlPlaneValuesInput): Record<string, unknown> {
    checkPem(i.trustAnchorPem, "CERTIFICATE", "trustAnchorPem");
    checkPem(i.issuerCertPem, "CERTIFICATE", "issuerCertPem");
    checkPem(i.issuerKeyPem, "PRIVATE KEY", "issuerKeyPem");
    const ha: Record<string, unknown> = i.highAvailability ? HA_VALUES : {};
    const image = (name: string) => ({ image: { name: mirrorImage(name, i.registryMirror) } });
    const images = i.registryMirror
        ? {
              controllerImage: mirrorImage(LINKERD_IMAGES.controller, i.registryMirror),
              debugContainer: image(LINKERD_IMAGES.debug),
          }
        : {};
    return {
        identityTrustAnchorsPEM: i.trustAnchorPem,
        // iptables set up by the linkerd-cni DaemonSet, so no injected pod carries linkerd-init with
        // NET_ADMIN/NET_RAW, and the workloads' namespace can enforce Pod Security `restricted`.
        cniEnabled: true,
        identity: {
            issuer: {
                // The issuer comes from these values (not cert-manager): the chart writes it to linkerd-identity-issuer.
                scheme: "linkerd.io/tls",
                tls: { crtPEM: i.issuerCertPem, keyPEM: i.issuerKeyPem },
            },
        },
        // The heartbeat CronJob reports to versioncheck.linkerd.io (Buoyant, US) every day.
        disableHeartBeat: true,
        ...ha,
        ...images,
        // What `restricted` checks in each injected container beyond what the chart sets itself
        // (allowPrivilegeEscalation false, runAsNonRoot, seccomp RuntimeDefault): every capability dropped.
        proxy: {
            ...(ha.proxy as Record<string, unknown> | undefined),
            ...(i.registryMirror ? image(LINKERD_IMAGES.proxy) : {}),
            capabilities: { drop: ["ALL"] },
        },
        // The CNI mode's init container (checks the iptables redirect): non-root, no capabilities.
        networkValidator: { enableSecurityContext: true },
    };
}

/**
 * The resources of values-ha.yaml (below), exported so the capacity check sums the same figures.
 * Without HA the chart's defaults request nothing (every `request: ""` in its values.yaml).
 */
export const LINKERD_HA_RESOURCES = {
    /** Each controller container (destination, sp-validator, proxy-injector; heartbeat is off). */
    controller: { cpu: { limit: "", request: "100m" }, memory: { limit: "250Mi", request: "50Mi" } },
    identity: { cpu: { limit: "", request: "100m" }, memory: { limit: "250Mi", request: "10Mi" } },
    /** Every injected proxy, the control plane's own included. */
    proxy: { cpu: { request: "100m" }, memory: { limit: "250Mi", request: "20Mi" } },
} as const;
/** values-ha.yaml's controllerReplicas: each control-plane Deployment runs this many pods. */
export const LINKERD_HA_REPLICAS = 3;
const controllerResources = LINKERD_HA_RESOURCES.controller;

// Mirrors values-ha.yaml of the pinned chart: the chart tarball (and so that
// file) is not reachable at render time, and a Release takes values, not files.
const HA_VALUES: Record<string, unknown> = {
    highAvailability: true,
    controllerReplicas: LINKERD_HA_REPLICAS,
    enablePodAntiAffinity: true,
    enablePodDisruptionBudget: true,
    controller: { podDisruptionBudget: { maxUnavailable: 1 } },
    deploymentStrategy: { rollingUpdate: { maxUnavailable: 1, maxSurge: "25%" } },
    // With HA, a pod must not start unmeshed in an injected namespace while the injector is down.
    webhookFailurePolicy: "Fail",
    proxy: { resources: LINKERD_HA_RESOURCES.proxy },
    controllerResources,
    destinationResources: controllerResources,
    identityResources: LINKERD_HA_RESOURCES.identity,
    heartbeatResources: controllerResources,
    proxyInjectorResources: controllerResources,
    spValidatorResources: controllerResources,
};

/**
 * Metadata of the control-plane namespace, as `linkerd install` writes it (the
 * Helm chart leaves the namespace to the installer): the admission-webhooks
 * label keeps the injector away from its own namespace, and proxy-init needs
 * NET_ADMIN, hence the privileged pod-security level.
 */
/**
 * Labels of every namespace the stack makes that is not meshed: Linkerd's proxy
 * injector webhook skips it, so nothing created there fails or waits on the
 * webhook while the control plane is not ready (with HA values the webhook's
 * failurePolicy is Fail).
 */
export const UNMESHED_NAMESPACE_LABELS: Readonly<Record<string, string>> = {
    "config.linkerd.io/admission-webhooks": "disabled",
    "app.kubernetes.io/managed-by": "nordstack",
};

export function linkerdNamespaceMetadata(namespace: string): { labels: Record<string, string>; annotations: Record<string, string> } {
    return {
        labels: {
            "linkerd.io/is-control-plane": "true",
            "config.linkerd.io/admission-webhooks": "disabled",
            "linkerd.io/control-plane-ns": namespace,
            "pod-security.kubernetes.io/enforce": "privileged",
        },
        annotations: { "linkerd.io/inject": "disabled" },
    };
}

/** Where k3s keeps its CNI configuration and (since v1.31.2, static across upgrades) its CNI binaries. */
export const K3S_CNI_PATHS = { netDir: "/var/lib/rancher/k3s/agent/etc/cni/net.d", binDir: "/var/lib/rancher/k3s/data/cni" };

/**
 * Values of the linkerd2-cni chart on k3s: the plugin chains itself onto k3s's
 * flannel conflist, in k3s's own directories (not /etc/cni/net.d, /opt/cni/bin).
 */
export function linkerdCniValues(
    paths: { netDir: string; binDir: string } = K3S_CNI_PATHS,
    registryMirror?: RegistryMirror,
): Record<string, unknown> {
    return {
        destCNINetDir: paths.netDir,
        destCNIBinDir: paths.binDir,
        // The chart's `image.name` (its tag stays the chart's own).
        ...(registryMirror ? { image: { name: mirrorImage(LINKERD_IMAGES.cniPlugin, registryMirror) } } : {}),
    };
}

/**
 * The CNI plugin's namespace: its DaemonSet writes to the nodes' CNI directories
 * through hostPath volumes, which only `privileged` admits; nothing else runs there.
 */
export function linkerdCniNamespaceMetadata(): { labels: Record<string, string>; annotations: Record<string, string> } {
    return {
        labels: {
            "config.linkerd.io/admission-webhooks": "disabled",
            "linkerd.io/cni-resource": "true",
            "pod-security.kubernetes.io/enforce": "privileged",
        },
        annotations: { "linkerd.io/inject": "disabled" },
    };
}

function checkPem(pem: string, label: string, field: string): void {
    if (!new RegExp(`-----BEGIN (EC )?${label}-----`).test(pem)) {
        throw runError(`${field} is not a PEM ${label}: Linkerd would fail to start its identity service`);
    }
}
