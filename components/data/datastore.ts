// What Postgres and Redis share: arguments, the generated password, the
// headless Service, the owner-only NetworkPolicy and the volume claim.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import { LINKERD_INBOUND_PORT, LINKERD_INJECT, podLabels } from "../services/labels";
import { resourceError } from "../errors";

export interface DatastoreArgs {
    /** Kubernetes provider of the cluster (from the k3s layer). */
    provider: k8s.Provider;
    /** Namespace of the instance; the same as its owner's (Secrets are only usable there). */
    namespace: pulumi.Input<string>;
    /** Instance name, a DNS-1123 label: the StatefulSet, the headless Service and `<instance>.<ns>.svc.<domain>`. */
    instance: string;
    /** The owning service's name: only its pods may connect, and only it gets the credentials. */
    owner: string;
    /** Pinned container image. Default per engine (see Postgres/Redis). */
    image?: string;
    /** Size of the persistent volume, a Kubernetes quantity. Default `1Gi`. */
    storageSize?: string;
    /** Storage class of the volume. Default `local-path` (k3s: a directory on the node the pod first lands on). */
    storageClassName?: string;
    /** Cluster DNS domain. Default `cluster.local`. */
    clusterDomain?: string;
    /** Give the pods the Linkerd proxy (mTLS to the owner) and admit its inbound port in the policy. Default true. */
    meshed?: boolean;
    /** Requests and memory limit. Default per engine. */
    resources?: { cpu: string; memory: string; memoryLimit: string };
}

export type DatastoreKind = "postgres" | "redis";

/** Throws a ResourceError naming every bad field, before any resource exists. */
export function checkDatastoreArgs(kind: DatastoreKind, args: DatastoreArgs, parent: pulumi.Resource): void {
    const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
    const problems: string[] = [];
    if (!label.test(args.instance)) problems.push(`instance ${JSON.stringify(args.instance)} is not a DNS-1123 label`);
    if (!label.test(args.owner)) problems.push(`owner ${JSON.stringify(args.owner)} is not a DNS-1123 label`);
    if (args.instance === args.owner)
        problems.push(`instance and owner are both ${JSON.stringify(args.owner)}; their Services would collide`);
    if (args.storageSize !== undefined && !/^\d+(\.\d+)?(Ki|Mi|Gi|Ti)$/.test(args.storageSize)) {
        problems.push(`storageSize ${JSON.stringify(args.storageSize)} is not a quantity like 1Gi`);
    }
    if (problems.length > 0) throw resourceError(`${kind} ${args.instance}: ${problems.join("; ")}`, parent);
}

/** `<instance>.<ns>.svc.<domain>`: a fully qualified name skips the resolver's search-list round trips. */
export function datastoreHost(args: DatastoreArgs): pulumi.Output<string> {
    return pulumi.interpolate`${args.instance}.${args.namespace}.svc.${args.clusterDomain ?? "cluster.local"}`;
}

/**
 * A 32-character alphanumeric password (about 190 bits; nothing to escape in
 * URLs or config files), marked secret again in case a provider forgets.
 */
export function generatePassword(name: string, parent: pulumi.Resource): { resource: random.RandomPassword; value: pulumi.Output<string> } {
    const resource = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent });
    return { resource, value: pulumi.secret(resource.result) };
}

/** A headless Service: a stable DNS name for the single pod, no virtual IP in between. */
export function headlessService(
    name: string,
    kind: DatastoreKind,
    args: DatastoreArgs,
    port: number,
    parent: pulumi.Resource,
): k8s.core.v1.Service {
    return new k8s.core.v1.Service(
        `${name}-service`,
        {
            metadata: { name: args.instance, namespace: args.namespace, labels: podLabels(kind, args.instance) },
            spec: {
                clusterIP: "None",
                selector: podLabels(kind, args.instance),
                ports: [{ name: kind, port, targetPort: kind, protocol: "TCP" }],
            },
        },
        { parent, provider: args.provider },
    );
}

/** Only the owner's pods may open connections to the datastore's pods; everything else is dropped. */
export function ownerOnlyPolicy(
    name: string,
    kind: DatastoreKind,
    args: DatastoreArgs,
    port: number,
    parent: pulumi.Resource,
): k8s.networking.v1.NetworkPolicy {
    const ports = [port, ...(args.meshed === false ? [] : [LINKERD_INBOUND_PORT])];
    return new k8s.networking.v1.NetworkPolicy(
        `${name}-policy`,
        {
            metadata: { name: `${args.instance}-owner-only`, namespace: args.namespace, labels: podLabels(kind, args.instance) },
            spec: {
                podSelector: { matchLabels: podLabels(kind, args.instance) },
                policyTypes: ["Ingress"],
                ingress: [
                    {
                        from: [{ podSelector: { matchLabels: podLabels("service", args.owner) } }],
                        ports: ports.map((p) => ({ protocol: "TCP", port: p })),
                    },
                ],
            },
        },
        { parent, provider: args.provider },
    );
}

/** The StatefulSet's claim: one ReadWriteOnce volume per instance, kept when the pod moves or restarts. */
export function dataVolumeClaim(args: DatastoreArgs): k8s.types.input.core.v1.PersistentVolumeClaim {
    return {
        metadata: { name: "data" },
        spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName: args.storageClassName ?? "local-path",
            resources: { requests: { storage: args.storageSize ?? "1Gi" } },
        },
    };
}

/** Pod template metadata: labels, mesh injection, and a hash that restarts the pod when its configuration changes. */
export function podMetadata(kind: DatastoreKind, args: DatastoreArgs, configHash: string): k8s.types.input.meta.v1.ObjectMeta {
    return {
        labels: podLabels(kind, args.instance),
        annotations: {
            ...(args.meshed === false ? {} : LINKERD_INJECT),
            "nordstack.io/config-hash": configHash,
        },
    };
}
