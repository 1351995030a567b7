// Backups of one PostgreSQL datastore with pgBackRest, in pgBackRest's
// "dedicated repository host" layout mapped onto Kubernetes:
//   - the database pod archives every WAL segment itself (archive_command =
//     pgbackrest archive-push, straight to object storage), and runs
//     `pgbackrest server` as a sidecar: a TLS endpoint that lets an
//     authenticated client read the data directory and run pg_backup_start/stop;
//   - the backup CronJob is the repository host: `pgbackrest backup` reads
//     the data directory through that sidecar (mutual TLS, client certificate
//     allowed for this stanza only) and writes to object storage.
// The Job needs no shared volume, no exec rights and no SSH; a failing backup
// fails its Job.
import { containerSecurityContext, podSecurityContext } from "../services/security";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as tls from "@pulumi/tls";
import { podLabels } from "../services/labels";
import type { DatastoreArgs } from "./datastore";
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
import {
    pgArchiveCommand,
    PgbackrestCommon,
    renderPgBackupScript,
    renderPgbackrestDbConf,
    renderPgbackrestRepoConf,
} from "./backup-render";

/** pgBackRest's TLS server port in the database pod. */
export const PGBACKREST_TLS_PORT = 8432;
/** Requests and limits of the pgBackRest sidecar (in the database pod) and of the backup Job; the capacity check sums the same. */
export const PGBACKREST_RESOURCES = {
    sidecar: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "256Mi" } },
    job: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
} as const;
/** The postgres user of the official image (and images built on it): owns the data directory. */
const POSTGRES_UID = 999;
const CONF_DIR = "/etc/pgbackrest";
const TLS_DIR = "/etc/pgbackrest-tls";
const SOCKET_DIR = "/var/run/postgresql";
const S3_KEYS = { id: "PGBACKREST_REPO1_S3_KEY", secret: "PGBACKREST_REPO1_S3_KEY_SECRET" };

export interface PostgresBackupArgs {
    datastore: DatastoreArgs;
    backup: BackupArgs;
    /** The datastore's credentials Secret (`password` is read by the sidecar's libpq for the local socket). */
    credentialsSecretName: pulumi.Input<string>;
    /** The database role pgBackRest connects as (the image's superuser, the owner's role). */
    pgUser: string;
    pgPort: number;
    /** Data directory inside the database pod (the image's PGDATA). */
    pgData: string;
    /** Name of the data volume in the StatefulSet's pod. */
    dataVolumeName: string;
    dataMountPath: string;
}

/** What the StatefulSet's pod gets: the archive settings, the sidecar, and the mounts they need. */
export interface PostgresBackupPodParts {
    archive: { command: string; timeoutSeconds: number };
    /** Extra environment of the postgres container (the S3 keys archive-push uses). */
    env: k8s.types.input.core.v1.EnvVar[];
    /** Extra mounts of the postgres container (the pgBackRest config, the socket directory shared with the sidecar). */
    volumeMounts: k8s.types.input.core.v1.VolumeMount[];
    sidecar: k8s.types.input.core.v1.Container;
    volumes: k8s.types.input.core.v1.Volume[];
    /** The sidecar's port carries its own mutual TLS: Linkerd's proxy stays out of it. */
    annotations: Record<string, string>;
    /** Restarts the pod when the rendered pgBackRest config changes. */
    configText: string;
}

export class PostgresBackup extends pulumi.ComponentResource {
    public readonly podParts: PostgresBackupPodParts;
    public readonly cronJob: k8s.batch.v1.CronJob;
    public readonly status: pulumi.Output<BackupStatus>;
    private readonly jobSpec: k8s.types.input.batch.v1.JobSpec;
    private readonly componentName: string;
    private readonly ds: DatastoreArgs;

    constructor(name: string, args: PostgresBackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:data:PostgresBackup", name, {}, opts);
        const ds = args.datastore;
        const b = args.backup;
        checkBackupArgs("postgres", ds.instance, b, this);
        this.componentName = name;
        this.ds = ds;
        const child = { parent: this, provider: ds.provider };
        const labels = podLabels("postgres", ds.instance);
        const fqdn = pulumi.interpolate`${ds.instance}.${ds.namespace}.svc.${ds.clusterDomain ?? "cluster.local"}`;
        const podFqdn = pulumi.interpolate`${ds.instance}-0.${ds.instance}.${ds.namespace}.svc.${ds.clusterDomain ?? "cluster.local"}`;
        const clientCn = `pgbackrest-${ds.instance}`;

        // A CA of this datastore alone, a server certificate for the pod's names, a client certificate for the Job.
        const key = (part: string) =>
            new tls.PrivateKey(`${name}-${part}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
        const caKey = key("ca");
        const ca = new tls.SelfSignedCert(
            `${name}-ca`,
            {
                privateKeyPem: caKey.privateKeyPem,
                subject: { commonName: `pgbackrest-ca.${ds.instance}` },
                isCaCertificate: true,
                validityPeriodHours: 87600,
                allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
            },
            { parent: this },
        );
        const leaf = (part: string, commonName: pulumi.Input<string>, dnsNames: pulumi.Input<string>[], use: string) => {
            const k = key(part);
            const csr = new tls.CertRequest(
                `${name}-${part}-csr`,
                { privateKeyPem: k.privateKeyPem, subject: { commonName }, dnsNames },
                { parent: this },
            );
            const cert = new tls.LocallySignedCert(
                `${name}-${part}-cert`,
                {
                    certRequestPem: csr.certRequestPem,
                    caPrivateKeyPem: caKey.privateKeyPem,
                    caCertPem: ca.certPem,
                    validityPeriodHours: 87600,
                    allowedUses: ["digital_signature", "key_encipherment", use],
                },
                { parent: this },
            );
            return { keyPem: pulumi.secret(k.privateKeyPem), certPem: cert.certPem };
        };
        const server = leaf("server", fqdn, [fqdn, podFqdn], "server_auth");
        const client = leaf("client", clientCn, [], "client_auth");
        const tlsSecret = (part: string, pair: { keyPem: pulumi.Output<string>; certPem: pulumi.Output<string> }) =>
            new k8s.core.v1.Secret(
                `${name}-tls-${part}`,
                {
                    metadata: { name: `${ds.instance}-backup-tls-${part}`, namespace: ds.namespace, labels },
                    type: "Opaque",
                    stringData: pulumi.secret(
                        pulumi
                            .all([pair.certPem, pair.keyPem, ca.certPem])
                            .apply(([crt, k, caPem]) => ({ "tls.crt": crt, "tls.key": k, "ca.crt": caPem })),
                    ),
                },
                child,
            );
        const serverTls = tlsSecret("server", server);
        const clientTls = tlsSecret("client", client);
        const s3 = s3KeySecret(`${name}`, "postgres", ds, b, S3_KEYS, this);

        const common: PgbackrestCommon = {
            stanza: ds.instance,
            s3: s3Target(b),
            repoPath: objectPath(b, ds.instance),
            retentionDays: b.retentionDays,
            pgPath: args.pgData,
            pgPort: args.pgPort,
            pgUser: args.pgUser,
            pgSocketPath: SOCKET_DIR,
        };
        const tlsFiles = { certFile: `${TLS_DIR}/tls.crt`, keyFile: `${TLS_DIR}/tls.key`, caFile: `${TLS_DIR}/ca.crt` };
        const dbConf = renderPgbackrestDbConf({ ...common, tlsServer: { port: PGBACKREST_TLS_PORT, ...tlsFiles, clientCn } });
        const repoConf = fqdn.apply((pgHost) =>
            renderPgbackrestRepoConf({ ...common, pgHost, pgHostPort: PGBACKREST_TLS_PORT, tlsClient: tlsFiles }),
        );
        const conf = new k8s.core.v1.ConfigMap(
            `${name}-conf`,
            {
                metadata: { name: `${ds.instance}-backup`, namespace: ds.namespace, labels },
                data: { "db.conf": dbConf, "repo.conf": repoConf },
            },
            child,
        );
        const confFile = `${CONF_DIR}/pgbackrest.conf`;
        const confVolume = (item: string): k8s.types.input.core.v1.Volume => ({
            name: "pgbackrest-conf",
            configMap: { name: conf.metadata.name, items: [{ key: item, path: "pgbackrest.conf" }] },
        });
        // Group-readable for the postgres group (fsGroup): the key files are readable by the tool and nobody else.
        const tlsVolume = (secret: k8s.core.v1.Secret): k8s.types.input.core.v1.Volume => ({
            name: "pgbackrest-tls",
            secret: { secretName: secret.metadata.name, defaultMode: 0o440 },
        });
        // Pod Security `restricted` (the workloads namespace enforces it) checks every container.
        const asPostgres = containerSecurityContext({ runAsUser: POSTGRES_UID, runAsGroup: POSTGRES_UID });
        const mounts = [
            { name: "pgbackrest-conf", mountPath: CONF_DIR, readOnly: true },
            { name: "pgbackrest-tls", mountPath: TLS_DIR, readOnly: true },
        ];

        this.podParts = {
            archive: { command: pgArchiveCommand(confFile, ds.instance), timeoutSeconds: b.archiveTimeoutSeconds ?? 300 },
            env: envFromSecret(s3.metadata.name, [S3_KEYS.id, S3_KEYS.secret]),
            volumeMounts: [
                { name: "pgbackrest-conf", mountPath: CONF_DIR, readOnly: true },
                { name: "pgbackrest-socket", mountPath: SOCKET_DIR },
            ],
            sidecar: {
                name: "pgbackrest",
                image: b.image,
                command: ["pgbackrest", `--config=${confFile}`, "server"],
                ports: [{ name: "pgbackrest", containerPort: PGBACKREST_TLS_PORT, protocol: "TCP" }],
                // libpq of the sidecar's pgBackRest reads the password for the (scram-sha-256) local socket.
                env: [{ name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: args.credentialsSecretName, key: "password" } } }],
                readinessProbe: { tcpSocket: { port: PGBACKREST_TLS_PORT }, periodSeconds: 10, timeoutSeconds: 2 },
                securityContext: asPostgres,
                resources: PGBACKREST_RESOURCES.sidecar,
                volumeMounts: [
                    { name: args.dataVolumeName, mountPath: args.dataMountPath },
                    { name: "pgbackrest-socket", mountPath: SOCKET_DIR },
                    ...mounts,
                ],
            },
            volumes: [confVolume("db.conf"), tlsVolume(serverTls), { name: "pgbackrest-socket", emptyDir: {} }],
            annotations: { "config.linkerd.io/skip-inbound-ports": String(PGBACKREST_TLS_PORT) },
            configText: dbConf,
        };

        this.jobSpec = backupJobSpec(ds.instance, {
            securityContext: podSecurityContext({ runAsUser: POSTGRES_UID, runAsGroup: POSTGRES_UID, fsGroup: POSTGRES_UID }),
            containers: [
                {
                    name: "pgbackrest",
                    image: b.image,
                    command: ["sh", "-c", renderPgBackupScript(confFile, ds.instance)],
                    env: envFromSecret(s3.metadata.name, [S3_KEYS.id, S3_KEYS.secret]),
                    securityContext: asPostgres,
                    resources: PGBACKREST_RESOURCES.job,
                    volumeMounts: mounts,
                },
            ],
            volumes: [confVolume("repo.conf"), tlsVolume(clientTls)],
        });
        this.cronJob = backupCronJob(`${name}-cron`, ds, b, this.jobSpec, this);

        // The Job reaches the sidecar; the Job and the database pod reach only DNS, the storage and (pod) the mesh's control plane.
        backupIngressPolicy(`${name}-ingress`, "postgres", ds, [PGBACKREST_TLS_PORT], this);
        storageEgressPolicy(
            `${name}-job-egress`,
            ds,
            b,
            {
                policyName: `${ds.instance}-backup-egress`,
                podSelector: backupJobLabels(ds.instance),
                extra: [{ to: [{ podSelector: { matchLabels: labels } }], ports: [{ protocol: "TCP", port: PGBACKREST_TLS_PORT }] }],
            },
            this,
        );
        storageEgressPolicy(
            `${name}-archive-egress`,
            ds,
            b,
            {
                policyName: `${ds.instance}-archive-egress`,
                podSelector: labels,
                extra:
                    ds.meshed === false
                        ? []
                        : [{ to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "linkerd" } } }] }],
            },
            this,
        );
        this.status = backupStatus("postgres", ds.instance, b, this.cronJob);
        this.registerOutputs({ status: this.status });
    }

    /**
     * The first backup, right after the database is up: stanza, archive check
     * and a full backup, awaited by `pulumi up`, so a wrong endpoint, key or
     * bucket fails the deployment instead of the first night's Job.
     */
    initialBackup(database: pulumi.Resource): k8s.batch.v1.Job {
        return new k8s.batch.v1.Job(
            `${this.componentName}-initial`,
            {
                metadata: {
                    name: `${this.ds.instance}-backup-initial`,
                    namespace: this.ds.namespace,
                    labels: backupJobLabels(this.ds.instance),
                },
                spec: this.jobSpec,
            },
            { parent: this, provider: this.ds.provider, dependsOn: [database], customTimeouts: { create: "30m" } },
        );
    }
}
