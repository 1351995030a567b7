import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { DEFAULT_NOFILE } from "../config";
import { contentHash } from "../host/remote-script";
import { LINKERD_INJECT, podLabels } from "../services/labels";
import { containerSecurityContext, NGINX_RUN_AS, podSecurityContext, writableDirs } from "../services/security";
import { GatewayRoute, NGINX_CONF_DEFAULTS, nginxConfProblems, renderNginxConf } from "./nginx-conf";
import { resourceError } from "../errors";
import { parseCpuMillis } from "../quantity";

/** Pinned stable nginx. The rendered conf is tested with Debian's 1.22.1 and uses nothing newer. */
export const NGINX_IMAGE = "docker.io/library/nginx:1.28.0-alpine";

export interface NginxArgs {
    /** Kubernetes provider of the cluster (from the k3s layer). */
    provider: k8s.Provider;
    /** Namespace of the gateway's own objects. */
    namespace: pulumi.Input<string>;
    /** Namespace of the services it routes to. Default: `namespace`. */
    routesNamespace?: pulumi.Input<string>;
    /** The services to route; `ServiceConfig` satisfies it. */
    routes: GatewayRoute[];
    /** Public host names (`server_name`), e.g. `["api.example.no"]`. Required. */
    serverNames: string[];
    /** Gateway pods, each on its own node (required anti-affinity, hostPort). Default 2, at least 2; at most the number of nodes. */
    replicas?: number;
    /** Pinned image. Default `NGINX_IMAGE`. */
    image?: string;
    /** Kubernetes object names. Default `gateway`. */
    appName?: string;
    /** The nodes' tuned open-files limit (`nofile`), used for `worker_rlimit_nofile`. Default 1048576. */
    nofile?: number;
    /** Connections per worker (client + upstream). Default 16384. */
    workerConnections?: number;
    /** Floor of the idle upstream connections per worker per service. Default 64; 0 turns upstream keepalive off. */
    keepalive?: number;
    /** Concurrent requests one gateway pod serves at peak, all services together; sizes the keepalive pools. Default 256. */
    expectedConcurrency?: number;
    /** Attempts per request, the first included. Default 2. */
    nextUpstreamTries?: number;
    /** Seconds during which a retry may start. Default 10. */
    nextUpstreamTimeoutSeconds?: number;
    /** Seconds to connect to a service. Default 1. */
    connectTimeoutSeconds?: number;
    /** Seconds between two reads from a service. Default 10. */
    readTimeoutSeconds?: number;
    /** Seconds a 200 answer is cached (micro-cache with `proxy_cache_lock`); 0 disables. Default 0. */
    microCacheSeconds?: number;
    /** Sustained requests per second per client IP; 0 disables. Default 0. */
    rateLimitPerSecond?: number;
    /** Requests a client may send at once above the rate. Default 2x the rate. */
    rateLimitBurst?: number;
    /** Give requests without an `X-Request-ID` a random one (costs ~9 % CPU per request). Default false. */
    requestIds?: boolean;
    /** Buffer responses in the gateway; default false (streamed; `X-Accel-Buffering: yes` per response). On with the micro-cache. */
    responseBuffering?: boolean;
    /** PEM certificate chain; with `tlsPrivateKey`, port 443 serves the API and port 80 redirects. Default none. */
    tlsCertificate?: pulumi.Input<string>;
    /** PEM private key (kept secret); set together with `tlsCertificate`. */
    tlsPrivateKey?: pulumi.Input<string>;
    /**
     * Requests and limits. Default 100m / 128Mi, memory limit 512Mi, no CPU limit (throttling adds latency
     * to every request). With a `cpuLimit` the gateway runs one worker per whole core of it (at least one).
     */
    resources?: { cpu: string; memory: string; memoryLimit: string; cpuLimit?: string };
    /** Cluster DNS domain. Default `cluster.local`. */
    clusterDomain?: string;
    /**
     * Values whose change must restart the gateway, e.g. the services' ClusterIPs: nginx resolves
     * the service names only at start, so a replaced Service (new IP) needs fresh gateway pods.
     */
    rolloutTriggers?: pulumi.Input<string>[];
}

const CONF_DIR = "/etc/nginx/nordstack";

/**
 * nginx workers for a CPU limit (a Kubernetes quantity such as `1500m` or `2`): one per whole core,
 * at least one; 0 (`auto`, one per node core) without a limit. `auto` under a limit would start a
 * worker per node core that the CFS quota then throttles in turn, a stall of up to a period each.
 * Undefined for a value that is not a CPU quantity.
 */
export function workersForCpuLimit(limit: string | undefined): number | undefined {
    if (limit === undefined) return 0;
    const millis = parseCpuMillis(limit);
    if (millis === undefined || millis <= 0) return undefined;
    return Math.max(1, Math.floor(millis / 1000));
}
const TLS_DIR = "/etc/nginx/tls";

/** The gateway container's default requests and memory limit (no CPU limit); the capacity check sums the same. */
export const GATEWAY_RESOURCES = { cpu: "100m", memory: "128Mi", memoryLimit: "512Mi" } as const;

/**
 * Node port -> container port. nginx runs unprivileged (the image's nginx user,
 * every capability dropped) and so listens above 1024; the hostPort mapping
 * (the CNI portmap plugin's DNAT, no SNAT) hands it the node's 80/443 with the
 * client's address intact. NET_BIND_SERVICE is no alternative: Kubernetes
 * cannot give a capability to a non-root process (no ambient capabilities).
 */
export const GATEWAY_PORTS: Readonly<Record<80 | 443, number>> = { 80: 8080, 443: 8443 };

/**
 * The NGINX API gateway, the platform's only entry from outside: the rendered
 * nginx.conf in a ConfigMap, and a Deployment of 2+ pods, one per node, each
 * taking ports 80/443 of its node through hostPort.
 *
 * hostPort rather than a LoadBalancer Service through k3s ServiceLB: ServiceLB
 * is itself a hostPort pod per node that forwards to the Service, and with the
 * default externalTrafficPolicy it SNATs, so the gateway would see node
 * addresses instead of clients: X-Real-IP and per-client limit_req would be
 * wrong. hostPort goes straight to the gateway pod with the client's address
 * and one hop less. Point DNS (or a floating IP) at the nodes that run it.
 */
export class Nginx extends pulumi.ComponentResource {
    /** The rendered nginx.conf. */
    public readonly conf: pulumi.Output<string>;
    /** Node ports the gateway takes (80, and 443 with TLS). */
    public readonly ports: number[];
    /** Ports nginx listens on inside its pod, in the order of `ports` (8080, 8443). */
    public readonly containerPorts: number[];
    public readonly deployment: k8s.apps.v1.Deployment;

    constructor(name: string, args: NginxArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:gateway:Nginx", name, {}, opts);
        const replicas = args.replicas ?? 2;
        const appName = args.appName ?? "gateway";
        const tls = args.tlsCertificate !== undefined || args.tlsPrivateKey !== undefined;
        const workers = workersForCpuLimit(args.resources?.cpuLimit);
        const confInput = {
            listenHttp: String(GATEWAY_PORTS[80]),
            listenHttps: String(GATEWAY_PORTS[443]),
            // An unprivileged master: no `user` line (it would only warn), pid file on the /tmp emptyDir.
            user: "",
            pidPath: "/tmp/nginx.pid",
            routes: args.routes,
            serverNames: args.serverNames,
            clusterDomain: args.clusterDomain,
            nofile: args.nofile ?? DEFAULT_NOFILE,
            workerConnections: args.workerConnections,
            keepalive: args.keepalive,
            expectedConcurrency: args.expectedConcurrency,
            workerProcesses: workers ?? 0,
            nextUpstreamTries: args.nextUpstreamTries,
            nextUpstreamTimeoutSeconds: args.nextUpstreamTimeoutSeconds,
            connectTimeoutSeconds: args.connectTimeoutSeconds,
            readTimeoutSeconds: args.readTimeoutSeconds,
            microCacheSeconds: args.microCacheSeconds,
            rateLimitPerSecond: args.rateLimitPerSecond,
            rateLimitBurst: args.rateLimitBurst,
            requestIds: args.requestIds,
            responseBuffering: args.responseBuffering,
            ...(tls ? { tlsCertificatePath: `${TLS_DIR}/tls.crt`, tlsKeyPath: `${TLS_DIR}/tls.key` } : {}),
        };
        // Validate now, with a stand-in namespace, so a bad argument stops the program before any resource exists.
        const problems = nginxConfProblems({ ...confInput, namespace: "default" });
        if (!Number.isInteger(replicas) || replicas < 2) {
            problems.push(`replicas ${replicas}: the only entry point must survive the loss of a node; use 2 or more (on as many nodes)`);
        }
        if ((args.tlsCertificate === undefined) !== (args.tlsPrivateKey === undefined)) {
            problems.push("tlsCertificate and tlsPrivateKey must be set together");
        }
        if (workers === undefined) {
            problems.push(`resources.cpuLimit ${JSON.stringify(args.resources?.cpuLimit)} is not a positive CPU quantity like 1500m or 2`);
        }
        if (problems.length > 0) throw resourceError(`gateway: ${problems.join("; ")}`, this);

        const child = { parent: this, provider: args.provider };
        const labels = podLabels("gateway", appName);
        this.conf = pulumi
            .output(args.routesNamespace ?? args.namespace)
            .apply((namespace) => renderNginxConf({ ...confInput, namespace }));
        this.ports = tls ? [80, 443] : [80];
        this.containerPorts = this.ports.map((p) => GATEWAY_PORTS[p as 80 | 443]);
        // Read-only root filesystem: buffers, the micro-cache and the pid file go to emptyDirs.
        // No size limit: a large proxied response may buffer to disk (up to proxy_max_temp_file_size, 1 GiB).
        const scratch = writableDirs({ cache: NGINX_CONF_DEFAULTS.tempDir, tmp: "/tmp" }, null);

        const configMap = new k8s.core.v1.ConfigMap(
            `${name}-conf`,
            { metadata: { name: `${appName}-conf`, namespace: args.namespace, labels }, data: { "nginx.conf": this.conf } },
            child,
        );
        const tlsSecret = tls
            ? new k8s.core.v1.Secret(
                  `${name}-tls`,
                  {
                      metadata: { name: `${appName}-tls`, namespace: args.namespace, labels },
                      type: "kubernetes.io/tls",
                      stringData: { "tls.crt": args.tlsCertificate ?? "", "tls.key": pulumi.secret(args.tlsPrivateKey ?? "") },
                  },
                  child,
              )
            : undefined;
        const restartHash = pulumi
            .all([this.conf, ...(args.rolloutTriggers ?? []), tls ? pulumi.output(args.tlsCertificate ?? "") : ""])
            .apply((parts) => contentHash(...parts));

        this.deployment = new k8s.apps.v1.Deployment(
            name,
            {
                metadata: { name: appName, namespace: args.namespace, labels },
                spec: {
                    replicas,
                    selector: { matchLabels: labels },
                    // A node's ports are held by the old pod until it is gone: replace one pod at a time, never surge.
                    strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
                    template: {
                        metadata: {
                            labels,
                            annotations: {
                                ...LINKERD_INJECT,
                                // Clients reach nginx directly (their address intact); its calls to services go through the mesh.
                                "config.linkerd.io/skip-inbound-ports": this.containerPorts.join(","),
                                "nordstack.io/restart-hash": restartHash,
                            },
                        },
                        spec: {
                            automountServiceAccountToken: false,
                            securityContext: podSecurityContext(NGINX_RUN_AS),
                            affinity: {
                                podAntiAffinity: {
                                    requiredDuringSchedulingIgnoredDuringExecution: [
                                        { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: labels } },
                                    ],
                                },
                            },
                            containers: [
                                {
                                    name: "nginx",
                                    image: args.image ?? NGINX_IMAGE,
                                    // Our conf only; skips the image's entrypoint scripts that rewrite its default conf.
                                    // `-e stderr`: the compiled-in /var/log/nginx/error.log is not writable (read-only root).
                                    command: ["nginx", "-e", "stderr", "-c", `${CONF_DIR}/nginx.conf`],
                                    securityContext: containerSecurityContext(NGINX_RUN_AS),
                                    ports: this.ports.map((p, i) => ({
                                        name: p === 80 ? "http" : "https",
                                        containerPort: this.containerPorts[i],
                                        hostPort: p,
                                        protocol: "TCP",
                                    })),
                                    readinessProbe: {
                                        httpGet: { path: "/healthz", port: "http" },
                                        periodSeconds: 5,
                                        timeoutSeconds: 1,
                                        failureThreshold: 2,
                                    },
                                    livenessProbe: {
                                        httpGet: { path: "/healthz", port: "http" },
                                        periodSeconds: 10,
                                        timeoutSeconds: 1,
                                        failureThreshold: 3,
                                    },
                                    resources: {
                                        requests: {
                                            cpu: args.resources?.cpu ?? GATEWAY_RESOURCES.cpu,
                                            memory: args.resources?.memory ?? GATEWAY_RESOURCES.memory,
                                        },
                                        limits: {
                                            memory: args.resources?.memoryLimit ?? GATEWAY_RESOURCES.memoryLimit,
                                            ...(args.resources?.cpuLimit ? { cpu: args.resources.cpuLimit } : {}),
                                        },
                                    },
                                    volumeMounts: [
                                        { name: "conf", mountPath: CONF_DIR, readOnly: true },
                                        ...scratch.mounts,
                                        ...(tlsSecret ? [{ name: "tls", mountPath: TLS_DIR, readOnly: true }] : []),
                                    ],
                                },
                            ],
                            volumes: [
                                { name: "conf", configMap: { name: configMap.metadata.name, defaultMode: 0o444 } },
                                ...scratch.volumes,
                                // Group-readable (fsGroup = nginx's group): the unprivileged master reads the key itself.
                                ...(tlsSecret
                                    ? [{ name: "tls", secret: { secretName: tlsSecret.metadata.name, defaultMode: 0o440 } }]
                                    : []),
                            ],
                        },
                    },
                },
            },
            child,
        );
        new k8s.policy.v1.PodDisruptionBudget(
            `${name}-pdb`,
            {
                metadata: { name: appName, namespace: args.namespace, labels },
                // Node drains take the gateway down one pod at a time.
                spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
            },
            child,
        );
        this.registerOutputs({ conf: this.conf, ports: this.ports, containerPorts: this.containerPorts });
    }
}
