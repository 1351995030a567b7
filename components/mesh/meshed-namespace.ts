import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { isDns1123Label } from "../validate";
import { resourceError, runError } from "../errors";

export interface MeshedNamespaceArgs {
    /** The cluster's kubernetes provider. */
    provider: k8s.Provider;
    /** Kubernetes namespace name (DNS-1123 label). Default: the resource name. */
    namespace?: string;
    /** Extra labels. */
    labels?: Record<string, string>;
    /** Extra annotations; `linkerd.io/inject` is always `enabled`. */
    annotations?: Record<string, string>;
    /**
     * The Linkerd control plane (Linkerd.controlPlane). The namespace waits for it,
     * so pods created in it afterwards are injected; a pod admitted before the
     * injector runs stays unmeshed until restarted.
     */
    controlPlane?: pulumi.Resource;
}

/**
 * Namespace metadata that meshes every pod created in it. Linkerd reads
 * `linkerd.io/inject` from the namespace as a default for its pods; the
 * `ingress` mode, though, only takes effect as a pod annotation, so a gateway
 * routing to endpoints sets it on its own pod template. Pure.
 */
export function meshedNamespaceMetadata(
    name: string,
    labels: Record<string, string> = {},
    annotations: Record<string, string> = {},
): { name: string; labels: Record<string, string>; annotations: Record<string, string> } {
    if (!isDns1123Label(name)) throw runError(`namespace ${JSON.stringify(name)} is not a DNS-1123 label`);
    return {
        name,
        labels: { ...labels, "app.kubernetes.io/managed-by": "nordstack" },
        annotations: { ...annotations, "linkerd.io/inject": "enabled" },
    };
}

/** A namespace whose pods get Linkerd's proxy injected (`linkerd.io/inject: enabled`). */
export class MeshedNamespace extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;

    constructor(name: string, args: MeshedNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:mesh:MeshedNamespace", name, {}, opts);
        let metadata: ReturnType<typeof meshedNamespaceMetadata>;
        try {
            metadata = meshedNamespaceMetadata(args.namespace ?? name, args.labels, args.annotations);
        } catch (e) {
            throw resourceError((e as Error).message, this);
        }
        const ns = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            { metadata },
            { parent: this, provider: args.provider, dependsOn: args.controlPlane ? [args.controlPlane] : [] },
        );
        this.namespace = ns.metadata.name;
        this.registerOutputs({ namespace: this.namespace });
    }
}
