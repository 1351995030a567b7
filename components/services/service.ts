import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { serviceHealth } from "../discovery/health-check";
import type { DatastoreEngine, ServiceConfig } from "../config";
import { envPrefix, LINKERD_INJECT, podLabels } from "./labels";
import {
    containerSecurityContext,
    lowPortSysctls,
    podSecurityContext,
    securityOverrideProblems,
    serviceRunAs,
    writableDirs,
} from "./security";
import { resourceError } from "../errors";

/** A datastore the service owns, as the data components describe it. */
export interface DatastoreBinding {
    engine: DatastoreEngine;
    /** Instance name; must be one of the service's own `datastores`. */
    instance: string;
    /** The instance's credentials Secret (`Postgres.secretName` / `Redis.secretName`). */
    secretName: pulumi.Input<string>;
}

export interface ServiceArgs {
    /** Kubernetes provider of the cluster (from the k3s layer). */
    provider: k8s.Provider;
    /** Namespace of the Deployment and Service; its datastores' Secrets live there too. */
    namespace: pulumi.Input<string>;
    /** The validated service configuration. */
    service: ServiceConfig;
    /** Credentials of the service's own datastores; anything it does not own is refused. Default none. */
    datastores?: DatastoreBinding[];
    /** Extra plain (non-secret) environment variables. Default none. */
    env?: Record<string, string>;
    /** Cluster DNS domain. Default `cluster.local`. */
    clusterDomain?: string;
}

// Secret keys the data components write, and the variable suffix each becomes.
const KEYS: Record<DatastoreEngine, [string, string][]> = {
    postgres: [
        ["HOST", "host"],
        ["PORT", "port"],
        ["USER", "username"],
        ["PASSWORD", "password"],
        ["DATABASE", "database"],
        ["URL", "url"],
    ],
    redis: [
        ["HOST", "host"],
        ["PORT", "port"],
        ["PASSWORD", "password"],
        ["URL", "url"],
    ],
};

/**
 * Datastore environment of a service, every value a reference to that datastore's
 * Secret (never the value itself): `<INSTANCE>_HOST`, `_PORT`, `_PASSWORD`, `_URL`
 * (+ `_USER`, `_DATABASE` for PostgreSQL), plus the conventional `DATABASE_URL` /
 * `REDIS_URL` when the service has exactly one datastore of that engine. Pure.
 */
export function datastoreEnv(
    bindings: { engine: DatastoreEngine; instance: string; secretName: pulumi.Input<string> }[],
): k8s.types.input.core.v1.EnvVar[] {
    const env: k8s.types.input.core.v1.EnvVar[] = [];
    const ref = (secretName: pulumi.Input<string>, key: string) => ({ secretKeyRef: { name: secretName, key } });
    for (const b of bindings) {
        for (const [suffix, key] of KEYS[b.engine])
            env.push({ name: `${envPrefix(b.instance)}_${suffix}`, valueFrom: ref(b.secretName, key) });
    }
    for (const [engine, name] of [
        ["postgres", "DATABASE_URL"],
        ["redis", "REDIS_URL"],
    ] as const) {
        const of = bindings.filter((b) => b.engine === engine);
        if (of.length === 1) env.push({ name, valueFrom: ref(of[0].secretName, "url") });
    }
    return env;
}

/**
 * One service: a Deployment spread across nodes, meshed by Linkerd, probed on
 * its health path, with its own datastores' credentials, and a ClusterIP
 * Service (never exposed outside the cluster; the gateway is the only entry).
 */
export class Service extends pulumi.ComponentResource {
    /** Kubernetes Service name (= the service name). */
    public readonly serviceName: pulumi.Output<string>;
    /** `<svc>.<ns>.svc.<domain>`, the name the gateway and other services use. */
    public readonly host: pulumi.Output<string>;
    public readonly port: number;
    /** The stable virtual IP behind `host`; the gateway restarts when it changes. */
    public readonly clusterIP: pulumi.Output<string>;
    public readonly deployment: k8s.apps.v1.Deployment;
    public readonly service: k8s.core.v1.Service;

    constructor(name: string, args: ServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:services:Service", name, {}, opts);
        const s = args.service;
        const bindings = args.datastores ?? [];
        const problems: string[] = [];
        for (const b of bindings) {
            if (!s.datastores.some((d) => d.instance === b.instance && d.engine === b.engine)) {
                problems.push(`was given the credentials of ${b.engine} ${JSON.stringify(b.instance)}, which it does not own`);
            }
        }
        for (const d of s.datastores) {
            if (!bindings.some((b) => b.instance === d.instance))
                problems.push(`has no credentials for its ${d.engine} ${JSON.stringify(d.instance)}`);
        }
        for (const k of Object.keys(args.env ?? {})) {
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) problems.push(`env: ${JSON.stringify(k)} is not a variable name`);
        }
        problems.push(...securityOverrideProblems(s.securityContext ?? {}, "securityContext"));
        if (problems.length > 0) throw resourceError(`service ${s.name} ${problems.join("; ")}`, this);

        const child = { parent: this, provider: args.provider };
        const labels = podLabels("service", s.name);
        const runAs = serviceRunAs(s.securityContext);
        // With a read-only root filesystem, /tmp is the one writable path most runtimes expect.
        const scratch = writableDirs({ tmp: "/tmp" });
        // Consul's catalog sync takes health from readiness, so readiness carries the article's check (10 s, 1 s).
        const health = serviceHealth(s);
        const probe = (periodSeconds: number, failureThreshold: number): k8s.types.input.core.v1.Probe => ({
            httpGet: { path: s.healthPath, port: "http" },
            periodSeconds,
            // The article's Consul check: a health endpoint slower than 1 s counts as down.
            timeoutSeconds: 1,
            failureThreshold,
        });
        this.deployment = new k8s.apps.v1.Deployment(
            name,
            {
                metadata: { name: s.name, namespace: args.namespace, labels },
                spec: {
                    replicas: s.replicas,
                    selector: { matchLabels: labels },
                    strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
                    template: {
                        metadata: { labels, annotations: { ...LINKERD_INJECT } },
                        spec: {
                            // No Kubernetes API access: the service's own code never needs a token.
                            automountServiceAccountToken: false,
                            // A port below 1024 is bound without any capability (see lowPortSysctls).
                            securityContext: podSecurityContext(runAs, lowPortSysctls(s.port)),
                            // Soft spread: one pod per node while nodes allow it, yet never unschedulable when one is down.
                            topologySpreadConstraints: [
                                {
                                    maxSkew: 1,
                                    topologyKey: "kubernetes.io/hostname",
                                    whenUnsatisfiable: "ScheduleAnyway",
                                    labelSelector: { matchLabels: labels },
                                },
                            ],
                            containers: [
                                {
                                    name: s.name,
                                    image: s.image,
                                    securityContext: containerSecurityContext(runAs),
                                    ports: [{ name: "http", containerPort: s.port, protocol: "TCP" }],
                                    env: [
                                        { name: "PORT", value: String(s.port) },
                                        ...Object.entries(args.env ?? {}).map(([k, v]) => ({ name: k, value: v })),
                                        ...datastoreEnv(bindings),
                                    ],
                                    // Up to 60 s to start before liveness may kill it; then traffic only while healthy.
                                    startupProbe: probe(2, 30),
                                    readinessProbe: {
                                        ...health.readinessProbe,
                                        httpGet: { ...health.readinessProbe.httpGet, port: "http" },
                                    },
                                    // The article's health check interval: 10 s, timeout 1 s.
                                    livenessProbe: probe(10, 3),
                                    resources: {
                                        requests: { cpu: s.resources.cpu, memory: s.resources.memory },
                                        limits: {
                                            memory: s.resources.memoryLimit,
                                            ...(s.resources.cpuLimit ? { cpu: s.resources.cpuLimit } : {}),
                                        },
                                    },
                                    volumeMounts: scratch.mounts,
                                },
                            ],
                            volumes: scratch.volumes,
                        },
                    },
                },
            },
            child,
        );
        this.service = new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: { name: s.name, namespace: args.namespace, labels, annotations: health.serviceAnnotations },
                spec: {
                    type: "ClusterIP",
                    selector: labels,
                    ports: [{ name: "http", port: s.port, targetPort: "http", protocol: "TCP" }],
                },
            },
            child,
        );
        this.serviceName = this.service.metadata.name;
        this.host = pulumi.interpolate`${this.service.metadata.name}.${args.namespace}.svc.${args.clusterDomain ?? "cluster.local"}`;
        this.port = s.port;
        this.clusterIP = this.service.spec.clusterIP;
        this.registerOutputs({ serviceName: this.serviceName, host: this.host, port: this.port, clusterIP: this.clusterIP });
    }
}
