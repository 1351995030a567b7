// Backups of one Redis datastore: on a schedule, a Job fetches an RDB snapshot
// over the replication protocol (`redis-cli --rdb`, checked with
// redis-check-rdb) and ships it with rclone under a UTC timestamp; snapshots
// older than the retention are deleted after a successful upload. The Redis
// pod itself keeps AOF (fsync every second) and RDB on its volume.
import * as pulumi from "@pulumi/pulumi";
import { containerSecurityContext, podSecurityContext } from "../services/security";
import * as k8s from "@pulumi/kubernetes";
import { LINKERD_INBOUND_PORT } from "../services/labels";
import type { DatastoreArgs } from "./datastore";
import { podLabels } from "../services/labels";
import {
    BackupArgs,
    backupCronJob,
    backupIngressPolicy,
    backupJobLabels,
    backupJobSpec,
    BackupStatus,
    backupStatus,
    checkBackupArgs,
    envFromSecret,
    objectPath,
    s3KeySecret,
    s3Target,
    storageEgressPolicy,
} from "./backup";
import { RCLONE_REMOTE, rcloneEnv, renderRedisShipScript, renderRedisSnapshotScript } from "./backup-render";

/** Pinned rclone (the version Debian 12 ships, which the tests run). */
export const RCLONE_IMAGE = "docker.io/rclone/rclone:1.60.1";
/** Requests and limits of the backup Job's snapshot (init) and ship containers; the capacity check sums the same. */
export const REDIS_BACKUP_RESOURCES = {
    snapshot: { requests: { cpu: "50m", memory: "32Mi" }, limits: { memory: "128Mi" } },
    ship: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
} as const;
/** The redis user of the official alpine image. */
const REDIS_UID = 999;
const SNAPSHOT = "/backup/dump.rdb";
const S3_KEYS = {
    id: `RCLONE_CONFIG_${RCLONE_REMOTE.toUpperCase()}_ACCESS_KEY_ID`,
    secret: `RCLONE_CONFIG_${RCLONE_REMOTE.toUpperCase()}_SECRET_ACCESS_KEY`,
};

export interface RedisBackupArgs {
    datastore: DatastoreArgs;
    backup: BackupArgs;
    /** The datastore's credentials Secret (`password`, as REDISCLI_AUTH for the snapshot). */
    credentialsSecretName: pulumi.Input<string>;
    /** The Redis image (has redis-cli and redis-check-rdb). */
    redisImage: string;
    host: pulumi.Input<string>;
    port: number;
}

export class RedisBackup extends pulumi.ComponentResource {
    public readonly cronJob: k8s.batch.v1.CronJob;
    public readonly status: pulumi.Output<BackupStatus>;

    constructor(name: string, args: RedisBackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:data:RedisBackup", name, {}, opts);
        const ds = args.datastore;
        const b = args.backup;
        checkBackupArgs("redis", ds.instance, b, this);
        const s3 = s3KeySecret(name, "redis", ds, b, S3_KEYS, this);
        // Pod Security `restricted` (the workloads namespace enforces it) checks every container.
        const asRedis = containerSecurityContext({ runAsUser: REDIS_UID, runAsGroup: REDIS_UID });
        const snapshot = { name: "snapshot", mountPath: "/backup" };

        const jobSpec = backupJobSpec(ds.instance, {
            securityContext: podSecurityContext({ runAsUser: REDIS_UID, runAsGroup: REDIS_UID, fsGroup: REDIS_UID }),
            initContainers: [
                {
                    name: "snapshot",
                    image: args.redisImage,
                    command: pulumi
                        .output(args.host)
                        .apply((host) => ["sh", "-c", renderRedisSnapshotScript({ host, port: args.port, file: SNAPSHOT })]),
                    env: [{ name: "REDISCLI_AUTH", valueFrom: { secretKeyRef: { name: args.credentialsSecretName, key: "password" } } }],
                    securityContext: asRedis,
                    resources: REDIS_BACKUP_RESOURCES.snapshot,
                    volumeMounts: [snapshot],
                },
            ],
            containers: [
                {
                    name: "ship",
                    image: b.image ?? RCLONE_IMAGE,
                    command: [
                        "sh",
                        "-c",
                        renderRedisShipScript({
                            file: SNAPSHOT,
                            bucket: b.bucket,
                            path: objectPath(b, ds.instance),
                            retentionDays: b.retentionDays,
                        }),
                    ],
                    env: [
                        ...Object.entries(rcloneEnv(s3Target(b))).map(([n, value]) => ({ name: n, value })),
                        ...envFromSecret(s3.metadata.name, [S3_KEYS.id, S3_KEYS.secret]),
                        // rclone wants a writable home for its cache; the config is the environment.
                        { name: "HOME", value: "/backup" },
                    ],
                    securityContext: asRedis,
                    resources: REDIS_BACKUP_RESOURCES.ship,
                    volumeMounts: [snapshot],
                },
            ],
            // Room for the snapshot: about the dataset's size, bounded by maxmemory.
            volumes: [{ name: "snapshot", emptyDir: { sizeLimit: "2Gi" } }],
        });
        this.cronJob = backupCronJob(`${name}-cron`, ds, b, jobSpec, this);

        const ports = [args.port, ...(ds.meshed === false ? [] : [LINKERD_INBOUND_PORT])];
        backupIngressPolicy(`${name}-ingress`, "redis", ds, ports, this);
        storageEgressPolicy(
            `${name}-job-egress`,
            ds,
            b,
            {
                policyName: `${ds.instance}-backup-egress`,
                podSelector: backupJobLabels(ds.instance),
                extra: [
                    {
                        to: [{ podSelector: { matchLabels: podLabels("redis", ds.instance) } }],
                        ports: ports.map((port) => ({ protocol: "TCP", port })),
                    },
                ],
            },
            this,
        );
        this.status = backupStatus("redis", ds.instance, b, this.cronJob);
        this.registerOutputs({ status: this.status });
    }
}
