import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { contentHash } from "../host/remote-script";
import { podLabels } from "../services/labels";
import { containerSecurityContext, podSecurityContext, REDIS_RUN_AS, writableDirs } from "../services/security";
import {
    checkDatastoreArgs,
    dataVolumeClaim,
    DatastoreArgs,
    datastoreHost,
    generatePassword,
    headlessService,
    ownerOnlyPolicy,
    podMetadata,
} from "./datastore";
import { RedisConfInput, renderRedisAuthConf, renderRedisConf } from "./redis-conf";
import type { BackupArgs } from "./backup";
import { RedisBackup } from "./backup-redis";

/** Pinned to the Redis version the tests run (Debian 12's redis-server 7.0.15). */
export const REDIS_IMAGE = "docker.io/library/redis:7.0.15-alpine";

/** The Redis container's default requests and memory limit; the capacity check sums the same. */
export const REDIS_RESOURCES = { cpu: "50m", memory: "128Mi", memoryLimit: "256Mi" } as const;

export interface RedisArgs extends DatastoreArgs {
    /** redis.conf settings; keep `maxMemoryMb` below the memory limit (default 192 under 256Mi). */
    settings?: Pick<RedisConfInput, "maxMemoryMb" | "maxMemoryPolicy" | "appendOnly">;
    /** RDB snapshots shipped to object storage on a schedule (see RedisBackup). */
    backup?: BackupArgs;
}

const PORT = 6379;
const AUTH_DIR = "/etc/redis/auth";

/**
 * One service's own Redis: a single-pod StatefulSet with an append-only file
 * on a local-path volume, `requirepass` with a generated password, and a
 * NetworkPolicy that admits only the owner.
 *
 * redis.conf (a ConfigMap) `include`s auth.conf, which only the Secret
 * `<instance>-credentials` holds, next to `password`, `host`, `port`, `url`.
 */
export class Redis extends pulumi.ComponentResource {
    /** Name of the Secret with the credentials. */
    public readonly secretName: pulumi.Output<string>;
    /** Fully qualified DNS name of the instance. */
    public readonly host: pulumi.Output<string>;
    public readonly port: number = PORT;
    /** The generated password (secret). */
    public readonly password: pulumi.Output<string>;
    public readonly statefulSet: k8s.apps.v1.StatefulSet;
    public readonly networkPolicy: k8s.networking.v1.NetworkPolicy;
    /** Backups, when `backup` is set. */
    public readonly backup?: RedisBackup;

    constructor(name: string, args: RedisArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:data:Redis", name, {}, opts);
        checkDatastoreArgs("redis", args, this);
        const child = { parent: this, provider: args.provider };
        this.host = datastoreHost(args);
        const password = generatePassword(name, this);
        this.password = password.value;

        const redisConf = renderRedisConf({ ...args.settings, port: PORT, dir: "/data", authFile: `${AUTH_DIR}/auth.conf` });
        const conf = new k8s.core.v1.ConfigMap(
            `${name}-conf`,
            {
                metadata: { name: `${args.instance}-conf`, namespace: args.namespace, labels: podLabels("redis", args.instance) },
                data: { "redis.conf": redisConf },
            },
            child,
        );
        const secret = new k8s.core.v1.Secret(
            `${name}-credentials`,
            {
                metadata: { name: `${args.instance}-credentials`, namespace: args.namespace, labels: podLabels("redis", args.instance) },
                type: "Opaque",
                stringData: pulumi.secret(
                    pulumi.all([this.host, this.password]).apply(([host, pw]) => ({
                        password: pw,
                        host,
                        port: String(PORT),
                        url: `redis://:${pw}@${host}:${PORT}/0`,
                        "auth.conf": renderRedisAuthConf(pw),
                    })),
                ),
            },
            child,
        );
        this.secretName = secret.metadata.name;
        const service = headlessService(name, "redis", args, PORT, this);
        this.networkPolicy = ownerOnlyPolicy(name, "redis", args, PORT, this);

        const scratch = writableDirs({ tmp: "/tmp" });
        this.statefulSet = new k8s.apps.v1.StatefulSet(
            name,
            {
                metadata: { name: args.instance, namespace: args.namespace, labels: podLabels("redis", args.instance) },
                spec: {
                    serviceName: service.metadata.name,
                    replicas: 1,
                    selector: { matchLabels: podLabels("redis", args.instance) },
                    template: {
                        metadata: podMetadata("redis", args, contentHash(redisConf)),
                        spec: {
                            automountServiceAccountToken: false,
                            // The image's redis user (alpine: 999, group 1000); fsGroup makes /data and auth.conf its group's.
                            securityContext: podSecurityContext(REDIS_RUN_AS),
                            containers: [
                                {
                                    name: "redis",
                                    image: args.image ?? REDIS_IMAGE,
                                    args: ["redis-server", "/etc/redis/redis.conf"],
                                    securityContext: containerSecurityContext(REDIS_RUN_AS),
                                    ports: [{ name: "redis", containerPort: PORT, protocol: "TCP" }],
                                    // redis-cli reads REDISCLI_AUTH, so the probe's password is in neither argv nor a file.
                                    env: [
                                        {
                                            name: "REDISCLI_AUTH",
                                            valueFrom: { secretKeyRef: { name: secret.metadata.name, key: "password" } },
                                        },
                                    ],
                                    readinessProbe: {
                                        exec: { command: ["sh", "-c", '[ "$(redis-cli -h 127.0.0.1 ping)" = PONG ]'] },
                                        periodSeconds: 5,
                                        timeoutSeconds: 2,
                                        failureThreshold: 2,
                                    },
                                    livenessProbe: { tcpSocket: { port: PORT }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 6 },
                                    resources: {
                                        requests: {
                                            cpu: args.resources?.cpu ?? REDIS_RESOURCES.cpu,
                                            memory: args.resources?.memory ?? REDIS_RESOURCES.memory,
                                        },
                                        limits: { memory: args.resources?.memoryLimit ?? REDIS_RESOURCES.memoryLimit },
                                    },
                                    volumeMounts: [
                                        { name: "data", mountPath: "/data" },
                                        { name: "conf", mountPath: "/etc/redis/redis.conf", subPath: "redis.conf", readOnly: true },
                                        { name: "auth", mountPath: AUTH_DIR, readOnly: true },
                                        ...scratch.mounts,
                                    ],
                                },
                            ],
                            volumes: [
                                { name: "conf", configMap: { name: conf.metadata.name, defaultMode: 0o444 } },
                                // Readable by the redis group only (fsGroup), the user redis runs as from the start.
                                {
                                    name: "auth",
                                    secret: {
                                        secretName: secret.metadata.name,
                                        items: [{ key: "auth.conf", path: "auth.conf" }],
                                        defaultMode: 0o440,
                                    },
                                },
                                ...scratch.volumes,
                            ],
                        },
                    },
                    volumeClaimTemplates: [dataVolumeClaim(args)],
                },
            },
            child,
        );
        if (args.backup) {
            this.backup = new RedisBackup(
                `${name}-backup`,
                {
                    datastore: args,
                    backup: args.backup,
                    credentialsSecretName: secret.metadata.name,
                    redisImage: args.image ?? REDIS_IMAGE,
                    host: this.host,
                    port: PORT,
                },
                { parent: this, dependsOn: [this.statefulSet] },
            );
        }
        this.registerOutputs({ secretName: this.secretName, host: this.host, port: this.port, password: this.password });
    }
}
