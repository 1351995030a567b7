import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BackupsConfig, ServiceConfig } from "../config";
import type { BackupArgs, BackupStatus } from "../data/backup";
import { Postgres } from "../data/postgres";
import { Redis } from "../data/redis";
import { Nginx, NginxArgs } from "../gateway/nginx";
import { LINKERD_INJECT } from "./labels";
import { renderWorkloadPolicies } from "./network-policies";
import { podSecurityLabels } from "./security";
import { DatastoreBinding, Service } from "./service";
import { resourceError } from "../errors";

export interface WorkloadsArgs {
    /** Kubernetes provider of the cluster (from the k3s layer). */
    provider: k8s.Provider;
    /**
     * Linkerd's control plane: the meshed namespace waits for it, so no pod or Service
     * is created while the injector webhook (failurePolicy Fail in HA) has no endpoints.
     */
    controlPlane?: pulumi.Resource;
    /** The validated services (`PlatformConfig.services`). */
    services: ServiceConfig[];
    /** Namespace created for the services and their datastores (Pod Security `restricted` enforced). Default `nordstack`. */
    namespace?: string;
    /**
     * Namespace created for the gateway alone. Its own because it takes host ports, which Pod
     * Security admission refuses already at `baseline`: this namespace enforces `privileged`
     * (warning and auditing against `restricted`), and holds nothing else. Default `nordstack-gateway`.
     */
    gatewayNamespace?: string;
    /** Gateway settings; routes, namespace and provider come from here. `serverNames` is required. */
    gateway: Omit<NginxArgs, "provider" | "namespace" | "routes" | "rolloutTriggers" | "clusterDomain">;
    /** Pinned PostgreSQL image. Default `POSTGRES_IMAGE`. */
    postgresImage?: string;
    /** Pinned Redis image. Default `REDIS_IMAGE`. */
    redisImage?: string;
    /** Image of the Redis backups' upload container. Default `RCLONE_IMAGE`. */
    rcloneImage?: string;
    /** Size of each datastore volume. Default `1Gi`. */
    datastoreStorageSize?: string;
    /** Storage class of datastore volumes. Default `local-path`. */
    storageClassName?: string;
    /** Cluster DNS domain. Default `cluster.local`. */
    clusterDomain?: string;
    /** Namespace of the Linkerd control plane, which the pods' proxies reach (NetworkPolicies). Default `linkerd`. */
    linkerdNamespace?: string;
    /** Backups of every datastore to object storage, with the S3 key pair (secrets). Default: none. */
    backups?: { config: BackupsConfig; accessKeyId: pulumi.Input<string>; secretAccessKey: pulumi.Input<string> };
}

/**
 * Names that must be unique in the namespace: services, datastore instances
 * (each a Kubernetes Service of the same name) and the gateway. Pure.
 */
export function workloadNameProblems(services: ServiceConfig[], gatewayName = "gateway"): string[] {
    const owners = new Map<string, string>([[gatewayName, "the gateway"]]);
    const problems: string[] = [];
    const claim = (name: string, what: string) => {
        const prev = owners.get(name);
        if (prev !== undefined) problems.push(`${what} and ${prev} are both named ${JSON.stringify(name)}; rename one`);
        else owners.set(name, what);
    };
    for (const s of services) claim(s.name, `service ${s.name}`);
    for (const s of services) for (const d of s.datastores) claim(d.instance, `${d.engine} ${d.instance} of ${s.name}`);
    return problems;
}

/**
 * Layer 6: every service with its own datastores, and the gateway in front of
 * them, in one namespace with Linkerd injection.
 */
export class Workloads extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;
    public readonly gatewayNamespace: pulumi.Output<string>;
    public readonly services: Record<string, Service> = {};
    public readonly datastores: Record<string, Postgres | Redis> = {};
    public readonly gateway: Nginx;
    /** Per datastore instance: where its backups go and when the last one succeeded; empty without backups. */
    public readonly backups: pulumi.Output<Record<string, BackupStatus>>;
    /** Per service: DNS name and port inside the cluster. */
    public readonly endpoints: pulumi.Output<Record<string, { host: string; port: number }>>;

    constructor(name: string, args: WorkloadsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:services:Workloads", name, {}, opts);
        const problems = workloadNameProblems(args.services, args.gateway.appName);
        if (problems.length > 0) throw resourceError(`workloads: ${problems.join("; ")}`, this);
        const child = { parent: this, provider: args.provider };

        const nsName = args.namespace ?? "nordstack";
        const ns = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            {
                metadata: {
                    name: nsName,
                    // `restricted` is enforced: Linkerd runs with its CNI plugin, so no pod here needs NET_ADMIN/NET_RAW.
                    labels: podSecurityLabels("restricted"),
                    annotations: { ...LINKERD_INJECT },
                },
            },
            { ...child, dependsOn: args.controlPlane ? [args.controlPlane] : [] },
        );
        this.namespace = ns.metadata.name;
        const gwNsName = args.gatewayNamespace ?? "nordstack-gateway";
        if (gwNsName === nsName) {
            throw resourceError(
                `workloads: gatewayNamespace must differ from namespace (${nsName}): host ports need their own namespace`,
                this,
            );
        }
        const gwNs = new k8s.core.v1.Namespace(
            `${name}-gateway-namespace`,
            { metadata: { name: gwNsName, labels: podSecurityLabels("privileged"), annotations: { ...LINKERD_INJECT } } },
            // Meshed too: its pods must find the injector running.
            { ...child, dependsOn: args.controlPlane ? [args.controlPlane] : [] },
        );
        this.gatewayNamespace = gwNs.metadata.name;
        const common = { provider: args.provider, namespace: this.namespace, clusterDomain: args.clusterDomain };
        const bc = args.backups?.config;
        const backup: BackupArgs | undefined =
            bc && args.backups
                ? {
                      endpoint: bc.endpoint,
                      bucket: bc.bucket,
                      region: bc.region,
                      uriStyle: bc.uriStyle,
                      allowInsecure: bc.allowInsecure,
                      prefix: bc.prefix,
                      retentionDays: bc.retentionDays,
                      schedule: bc.schedule,
                      archiveTimeoutSeconds: bc.archiveTimeoutSeconds,
                      egressCidrs: bc.egressCidrs,
                      accessKeyId: args.backups.accessKeyId,
                      secretAccessKey: args.backups.secretAccessKey,
                  }
                : undefined;

        for (const s of args.services) {
            const bindings: DatastoreBinding[] = s.datastores.map((d) => {
                const dsArgs = {
                    ...common,
                    instance: d.instance,
                    owner: s.name,
                    storageSize: args.datastoreStorageSize,
                    storageClassName: args.storageClassName,
                };
                const store =
                    d.engine === "postgres"
                        ? new Postgres(
                              `${name}-${d.instance}`,
                              {
                                  ...dsArgs,
                                  image: args.postgresImage,
                                  ...(backup ? { backup: { ...backup, image: bc?.postgresImage } } : {}),
                              },
                              { parent: this },
                          )
                        : new Redis(
                              `${name}-${d.instance}`,
                              { ...dsArgs, image: args.redisImage, backup: backup && { ...backup, image: args.rcloneImage } },
                              { parent: this },
                          );
                this.datastores[d.instance] = store;
                return { engine: d.engine, instance: d.instance, secretName: store.secretName };
            });
            this.services[s.name] = new Service(`${name}-${s.name}`, { ...common, service: s, datastores: bindings }, { parent: this });
        }

        const services = Object.values(this.services);
        this.gateway = new Nginx(
            `${name}-gateway`,
            {
                ...args.gateway,
                ...common,
                namespace: this.gatewayNamespace,
                routesNamespace: this.namespace,
                routes: args.services,
                // nginx resolves the services' names only when it starts. Their ClusterIPs in the pods'
                // restart hash make the Deployment wait for the Services, and roll when one is replaced.
                rolloutTriggers: services.map((s) => s.clusterIP),
            },
            { parent: this },
        );
        // Default-deny both ways, then exactly the platform's flows (see network-policies.ts).
        const policies = renderWorkloadPolicies({
            namespace: nsName,
            gatewayNamespace: gwNsName,
            services: args.services.map((s) => ({
                name: s.name,
                port: s.port,
                datastores: s.datastores.map((d) => ({ ...d, port: this.datastores[d.instance].port })),
            })),
            gateway: { name: args.gateway.appName ?? "gateway", containerPorts: this.gateway.containerPorts },
            linkerdNamespace: args.linkerdNamespace ?? "linkerd",
        });
        for (const pol of policies) {
            const inGateway = pol.metadata.namespace === gwNsName;
            new k8s.networking.v1.NetworkPolicy(
                `${name}-${inGateway ? "gateway-" : ""}netpol-${pol.metadata.name}`,
                // The namespace as an output: created after the namespace exists.
                { metadata: { ...pol.metadata, namespace: inGateway ? this.gatewayNamespace : this.namespace }, spec: pol.spec },
                child,
            );
        }
        this.endpoints = pulumi
            .all(services.map((s) => pulumi.all([s.serviceName, s.host]).apply(([n, host]) => [n, { host, port: s.port }] as const)))
            .apply((entries) => Object.fromEntries(entries));
        this.registerOutputs({ namespace: this.namespace, gatewayNamespace: this.gatewayNamespace, endpoints: this.endpoints });
        this.backups = pulumi
            .all(
                Object.entries(this.datastores).flatMap(([instance, store]) =>
                    store.backup ? [store.backup.status.apply((st) => [instance, st] as const)] : [],
                ),
            )
            .apply((entries) => Object.fromEntries(entries));
        this.registerOutputs({ namespace: this.namespace, endpoints: this.endpoints, backups: this.backups });
    }
}
