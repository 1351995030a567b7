// What the PostgreSQL and Redis backups share: their arguments, the S3 key
// Secret, the egress policy to the storage endpoint, the CronJob around the
// engine's pod spec, and the status read back from the CronJob.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { podLabels } from "../services/labels";
import type { DatastoreArgs, DatastoreKind } from "./datastore";
import { backupPath, S3Target } from "./backup-render";
import { resourceError } from "../errors";

export interface BackupArgs {
    /** `https://host[:port]` of the S3 API (`http://` only with `allowInsecure`, and only for Redis). */
    endpoint: string;
    bucket: string;
    /** Region the requests are signed for. */
    region: string;
    /** `path` (default) or `host` style bucket addressing. */
    uriStyle?: "path" | "host";
    /** Accept http:// (Redis only) and an unverified certificate. Default false. */
    allowInsecure?: boolean;
    /** Key prefix; this datastore's objects go under `<prefix>/<instance>/`. Default `nordstack`. */
    prefix?: string;
    /** Days base backups / snapshots are kept, at least 1. */
    retentionDays: number;
    /** Cron schedule (UTC) of base backups / snapshot shipping. */
    schedule: string;
    /** PostgreSQL: seconds before an idle server ships its WAL segment anyway (the RPO). Default 300. */
    archiveTimeoutSeconds?: number;
    /** Addresses the backup traffic may go to; empty: any address on the endpoint's port. */
    egressCidrs?: string[];
    /** The S3 key pair of this datastore (secrets): one pair per datastore where the storage can scope keys to a prefix. */
    accessKeyId: pulumi.Input<string>;
    secretAccessKey: pulumi.Input<string>;
    /** Image of the backup containers. PostgreSQL: the database image with pgBackRest (required). Redis: rclone's. */
    image?: string;
}

/** What `pulumi stack output backups` shows per datastore. */
export interface BackupStatus {
    engine: DatastoreKind;
    /** `s3://<bucket>/<prefix>/<instance>/` */
    destination: string;
    schedule: string;
    retentionDays: number;
    /** RFC 3339 time the CronJob last completed a Job successfully, as of the last `up`/`refresh`; null before the first. */
    lastSuccessfulTime: string | null;
    /** When the CronJob last started a Job; a later value than lastSuccessfulTime means the last run failed or runs. */
    lastScheduleTime: string | null;
    /** The CronJob to look at: `kubectl -n <ns> get cronjob <name>`. */
    cronJob: string;
}

/** Throws a ResourceError naming each bad field, before any resource exists. */
export function checkBackupArgs(kind: DatastoreKind, instance: string, b: BackupArgs, parent: pulumi.Resource): void {
    const problems: string[] = [];
    let scheme = "";
    try {
        scheme = new URL(b.endpoint).protocol;
    } catch {
        problems.push(`endpoint ${JSON.stringify(b.endpoint)} is not a URL`);
    }
    if (scheme === "http:" && !b.allowInsecure) problems.push(`endpoint ${b.endpoint} is plain http; use https:// or allowInsecure`);
    if (scheme === "http:" && kind === "postgres") problems.push(`endpoint ${b.endpoint}: pgBackRest speaks only HTTPS to object storage`);
    if (!Number.isInteger(b.retentionDays) || b.retentionDays < 1)
        problems.push(`retentionDays must be at least 1, got ${b.retentionDays}`);
    if (b.schedule.trim().split(/\s+/).length !== 5) problems.push(`schedule ${JSON.stringify(b.schedule)} is not a 5-field cron schedule`);
    if (kind === "postgres" && !b.image) problems.push("image is required: the PostgreSQL image that also carries pgBackRest");
    if (problems.length > 0) throw resourceError(`${kind} ${instance} backups: ${problems.join("; ")}`, parent);
}

export function s3Target(b: BackupArgs, caFile?: string): S3Target {
    return {
        endpoint: b.endpoint,
        bucket: b.bucket,
        region: b.region,
        uriStyle: b.uriStyle ?? "path",
        verifyTls: !b.allowInsecure,
        ...(caFile ? { caFile } : {}),
    };
}

export function objectPath(b: BackupArgs, instance: string): string {
    return backupPath(b.prefix ?? "nordstack", instance);
}

/** Labels of the backup Jobs' pods: what the egress and ingress policies select. */
export function backupJobLabels(instance: string): Record<string, string> {
    return {
        "app.kubernetes.io/name": `${instance}-backup`,
        "app.kubernetes.io/component": "backup",
        "app.kubernetes.io/part-of": "nordstack",
        "nordstack.io/backup-of": instance,
    };
}

/** The S3 keys in a Secret of their own, under the environment variable names the tool reads. */
export function s3KeySecret(
    name: string,
    kind: DatastoreKind,
    ds: DatastoreArgs,
    b: BackupArgs,
    keys: { id: string; secret: string },
    parent: pulumi.Resource,
): k8s.core.v1.Secret {
    return new k8s.core.v1.Secret(
        `${name}-s3`,
        {
            metadata: { name: `${ds.instance}-backup-s3`, namespace: ds.namespace, labels: podLabels(kind, ds.instance) },
            type: "Opaque",
            stringData: pulumi.secret(
                pulumi.all([b.accessKeyId, b.secretAccessKey]).apply(([id, secret]) => ({ [keys.id]: id, [keys.secret]: secret })),
            ),
        },
        { parent, provider: ds.provider },
    );
}

/** Environment entries read from a Secret, one per key. */
export function envFromSecret(secretName: pulumi.Input<string>, keys: string[]): k8s.types.input.core.v1.EnvVar[] {
    return keys.map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: secretName, key } } }));
}

const DNS_EGRESS: k8s.types.input.networking.v1.NetworkPolicyEgressRule = {
    to: [
        {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
            podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
        },
    ],
    ports: [
        { protocol: "UDP", port: 53 },
        { protocol: "TCP", port: 53 },
    ],
};

/** The storage endpoint's port, and its addresses when known. */
export function storageEgressRule(b: BackupArgs): k8s.types.input.networking.v1.NetworkPolicyEgressRule {
    const url = new URL(b.endpoint);
    const port = Number(url.port || (url.protocol === "http:" ? 80 : 443));
    const cidrs = b.egressCidrs ?? [];
    return {
        ...(cidrs.length > 0 ? { to: cidrs.map((cidr) => ({ ipBlock: { cidr } })) } : {}),
        ports: [{ protocol: "TCP", port }],
    };
}

/**
 * Egress of the selected pods: DNS, the storage endpoint, and `extra` (the
 * datastore itself for a backup Job). Anything else they open is dropped.
 */
export function storageEgressPolicy(
    name: string,
    ds: DatastoreArgs,
    b: BackupArgs,
    o: { policyName: string; podSelector: Record<string, string>; extra: k8s.types.input.networking.v1.NetworkPolicyEgressRule[] },
    parent: pulumi.Resource,
): k8s.networking.v1.NetworkPolicy {
    return new k8s.networking.v1.NetworkPolicy(
        name,
        {
            metadata: { name: o.policyName, namespace: ds.namespace, labels: o.podSelector },
            spec: {
                podSelector: { matchLabels: o.podSelector },
                policyTypes: ["Egress"],
                egress: [DNS_EGRESS, storageEgressRule(b), ...o.extra],
            },
        },
        { parent, provider: ds.provider },
    );
}

/** Admits the backup Jobs' pods to the datastore's pods on `ports` (NetworkPolicies add up: the owner keeps its access). */
export function backupIngressPolicy(
    name: string,
    kind: DatastoreKind,
    ds: DatastoreArgs,
    ports: number[],
    parent: pulumi.Resource,
): k8s.networking.v1.NetworkPolicy {
    return new k8s.networking.v1.NetworkPolicy(
        name,
        {
            metadata: { name: `${ds.instance}-backup-ingress`, namespace: ds.namespace, labels: podLabels(kind, ds.instance) },
            spec: {
                podSelector: { matchLabels: podLabels(kind, ds.instance) },
                policyTypes: ["Ingress"],
                ingress: [
                    {
                        from: [{ podSelector: { matchLabels: backupJobLabels(ds.instance) } }],
                        ports: ports.map((port) => ({ protocol: "TCP", port })),
                    },
                ],
            },
        },
        { parent, provider: ds.provider },
    );
}

/**
 * The Job every backup run is: no mesh proxy (a Job with a proxy never
 * completes), no retry loops hiding a failure (one retry, then Failed), a
 * deadline, and failed Jobs kept for `kubectl describe`.
 */
export function backupJobSpec(instance: string, pod: k8s.types.input.core.v1.PodSpec): k8s.types.input.batch.v1.JobSpec {
    return {
        backoffLimit: 1,
        activeDeadlineSeconds: 6 * 3600,
        template: {
            metadata: { labels: backupJobLabels(instance), annotations: { "linkerd.io/inject": "disabled" } },
            spec: { restartPolicy: "Never", ...pod },
        },
    };
}

export function backupCronJob(
    name: string,
    ds: DatastoreArgs,
    b: BackupArgs,
    jobSpec: k8s.types.input.batch.v1.JobSpec,
    parent: pulumi.Resource,
): k8s.batch.v1.CronJob {
    return new k8s.batch.v1.CronJob(
        name,
        {
            metadata: { name: `${ds.instance}-backup`, namespace: ds.namespace, labels: backupJobLabels(ds.instance) },
            spec: {
                schedule: b.schedule,
                timeZone: "Etc/UTC",
                // Never two backups of one datastore at once; a run missed by more than an hour is skipped, not piled up.
                concurrencyPolicy: "Forbid",
                startingDeadlineSeconds: 3600,
                successfulJobsHistoryLimit: 3,
                failedJobsHistoryLimit: 5,
                jobTemplate: { metadata: { labels: backupJobLabels(ds.instance) }, spec: jobSpec },
            },
        },
        { parent, provider: ds.provider },
    );
}

export function backupStatus(
    kind: DatastoreKind,
    instance: string,
    b: BackupArgs,
    cron: k8s.batch.v1.CronJob,
): pulumi.Output<BackupStatus> {
    return pulumi.all([cron.metadata.name, cron.status]).apply(([cronJob, status]) => ({
        engine: kind,
        destination: `s3://${b.bucket}/${objectPath(b, instance)}/`,
        schedule: b.schedule,
        retentionDays: b.retentionDays,
        lastSuccessfulTime: status?.lastSuccessfulTime ?? null,
        lastScheduleTime: status?.lastScheduleTime ?? null,
        cronJob,
    }));
}
