import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { contentHash } from "../host/remote-script";
import { podLabels } from "../services/labels";
import { containerSecurityContext, podSecurityContext, POSTGRES_RUN_AS, writableDirs } from "../services/security";
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
import { pgIdentifier, PostgresConfInput, renderPgHba, renderPostgresConf } from "./postgres-conf";
import type { BackupArgs } from "./backup";
import { PostgresBackup } from "./backup-postgres";

/** Pinned to the PostgreSQL major and minor the tests run (Debian 12's postgresql-15). */
export const POSTGRES_IMAGE = "docker.io/library/postgres:15.18-bookworm";

/** The database container's default requests and memory limit; the capacity check sums the same. */
export const POSTGRES_RESOURCES = { cpu: "100m", memory: "256Mi", memoryLimit: "512Mi" } as const;

export interface PostgresArgs extends DatastoreArgs {
    /** postgresql.conf settings (connections, memory, timeouts); addresses and paths are the image's. */
    settings?: Pick<
        PostgresConfInput,
        "maxConnections" | "sharedBuffersMb" | "effectiveCacheSizeMb" | "workMemMb" | "slowQueryMs" | "idleInTransactionTimeoutSeconds"
    >;
    /** Continuous WAL archiving and scheduled base backups with pgBackRest (see PostgresBackup); `backup.image` replaces `image`. */
    backup?: BackupArgs;
}

const PORT = 5432;
const CONF_DIR = "/etc/postgresql";
const DATA_DIR = "/var/lib/postgresql/data";
// A subdirectory: the volume's root may hold lost+found, which initdb refuses.
const PGDATA = `${DATA_DIR}/pgdata`;

function withAnnotations(meta: k8s.types.input.meta.v1.ObjectMeta, extra?: Record<string, string>): k8s.types.input.meta.v1.ObjectMeta {
    return extra ? { ...meta, annotations: { ...(meta.annotations as Record<string, string>), ...extra } } : meta;
}

/**
 * One service's own PostgreSQL: a single-pod StatefulSet on a local-path
 * volume, its own database and user named after the owner, a generated
 * password kept in a Secret, and a NetworkPolicy that admits only the owner.
 *
 * The Secret `<instance>-credentials` holds `username`, `password`,
 * `database`, `host`, `port` and `url`; the owner's Deployment reads it.
 */
export class Postgres extends pulumi.ComponentResource {
    /** Name of the Secret with the credentials. */
    public readonly secretName: pulumi.Output<string>;
    /** Fully qualified DNS name of the instance. */
    public readonly host: pulumi.Output<string>;
    public readonly port: number = PORT;
    public readonly database: string;
    public readonly username: string;
    /** The generated password (secret). */
    public readonly password: pulumi.Output<string>;
    public readonly statefulSet: k8s.apps.v1.StatefulSet;
    public readonly networkPolicy: k8s.networking.v1.NetworkPolicy;
    /** Backups, when `backup` is set. */
    public readonly backup?: PostgresBackup;

    constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:data:Postgres", name, {}, opts);
        checkDatastoreArgs("postgres", args, this);
        const child = { parent: this, provider: args.provider };
        this.database = pgIdentifier(args.owner);
        this.username = pgIdentifier(args.owner);
        this.host = datastoreHost(args);
        const password = generatePassword(name, this);
        this.password = password.value;

        this.backup = args.backup
            ? new PostgresBackup(
                  `${name}-backup`,
                  {
                      datastore: args,
                      backup: args.backup,
                      credentialsSecretName: `${args.instance}-credentials`,
                      pgUser: this.username,
                      pgPort: PORT,
                      pgData: PGDATA,
                      dataVolumeName: "data",
                      dataMountPath: DATA_DIR,
                  },
                  { parent: this },
              )
            : undefined;
        const bk = this.backup?.podParts;
        const postgresqlConf = renderPostgresConf({
            ...args.settings,
            port: PORT,
            hbaFile: `${CONF_DIR}/pg_hba.conf`,
            archive: bk?.archive,
        });
        const hba = renderPgHba(this.database, this.username);
        const conf = new k8s.core.v1.ConfigMap(
            `${name}-conf`,
            {
                metadata: { name: `${args.instance}-conf`, namespace: args.namespace, labels: podLabels("postgres", args.instance) },
                data: { "postgresql.conf": postgresqlConf, "pg_hba.conf": hba },
            },
            child,
        );
        const secret = new k8s.core.v1.Secret(
            `${name}-credentials`,
            {
                metadata: { name: `${args.instance}-credentials`, namespace: args.namespace, labels: podLabels("postgres", args.instance) },
                type: "Opaque",
                stringData: pulumi.secret(
                    pulumi.all([this.host, this.password]).apply(([host, pw]) => ({
                        username: this.username,
                        password: pw,
                        database: this.database,
                        host,
                        port: String(PORT),
                        url: `postgresql://${this.username}:${pw}@${host}:${PORT}/${this.database}`,
                    })),
                ),
            },
            child,
        );
        this.secretName = secret.metadata.name;
        const service = headlessService(name, "postgres", args, PORT, this);
        this.networkPolicy = ownerOnlyPolicy(name, "postgres", args, PORT, this);

        const fromSecret = (key: string): k8s.types.input.core.v1.EnvVarSource => ({ secretKeyRef: { name: secret.metadata.name, key } });
        // pg_isready needs no password: it asks whether the server accepts connections, not for a login.
        // Read-only root filesystem: the socket directory and /tmp (the entrypoint's nss_wrapper for other UIDs) are emptyDirs.
        // With backups the socket directory is the volume shared with the pgBackRest sidecar (bk's),
        // so it is not mounted twice.
        const scratch = writableDirs(
            bk?.volumeMounts.some((m) => m.mountPath === "/var/run/postgresql")
                ? { tmp: "/tmp" }
                : { run: "/var/run/postgresql", tmp: "/tmp" },
        );
        const ready = ["pg_isready", "-h", "127.0.0.1", "-p", String(PORT), "-U", this.username, "-d", this.database];
        this.statefulSet = new k8s.apps.v1.StatefulSet(
            name,
            {
                metadata: { name: args.instance, namespace: args.namespace, labels: podLabels("postgres", args.instance) },
                spec: {
                    serviceName: service.metadata.name,
                    replicas: 1,
                    selector: { matchLabels: podLabels("postgres", args.instance) },
                    template: {
                        metadata: withAnnotations(
                            podMetadata("postgres", args, contentHash(postgresqlConf, hba, ...(bk ? [bk.configText] : []))),
                            bk?.annotations,
                        ),
                        spec: {
                            // A fast shutdown checkpoint on a busy instance takes a while; SIGKILL before it risks a crash recovery.
                            terminationGracePeriodSeconds: 60,
                            automountServiceAccountToken: false,
                            // The image's postgres user; fsGroup makes the data volume its group's.
                            securityContext: podSecurityContext(POSTGRES_RUN_AS),
                            containers: [
                                {
                                    name: "postgres",
                                    image: args.backup?.image ?? args.image ?? POSTGRES_IMAGE,
                                    args: ["-c", `config_file=${CONF_DIR}/postgresql.conf`],
                                    securityContext: containerSecurityContext(POSTGRES_RUN_AS),
                                    ports: [{ name: "postgres", containerPort: PORT, protocol: "TCP" }],
                                    env: [
                                        // Read by the image's entrypoint at the first start only, to create the user and database.
                                        { name: "POSTGRES_USER", valueFrom: fromSecret("username") },
                                        { name: "POSTGRES_PASSWORD", valueFrom: fromSecret("password") },
                                        { name: "POSTGRES_DB", valueFrom: fromSecret("database") },
                                        { name: "PGDATA", value: PGDATA },
                                        ...(bk?.env ?? []),
                                    ],
                                    startupProbe: { exec: { command: ready }, periodSeconds: 2, failureThreshold: 90 },
                                    readinessProbe: { exec: { command: ready }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
                                    livenessProbe: { tcpSocket: { port: PORT }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 6 },
                                    resources: {
                                        requests: {
                                            cpu: args.resources?.cpu ?? POSTGRES_RESOURCES.cpu,
                                            memory: args.resources?.memory ?? POSTGRES_RESOURCES.memory,
                                        },
                                        limits: { memory: args.resources?.memoryLimit ?? POSTGRES_RESOURCES.memoryLimit },
                                    },
                                    volumeMounts: [
                                        { name: "data", mountPath: DATA_DIR },
                                        { name: "conf", mountPath: CONF_DIR, readOnly: true },
                                        ...scratch.mounts,
                                        ...(bk?.volumeMounts ?? []),
                                    ],
                                },
                                ...(bk ? [bk.sidecar] : []),
                            ],
                            volumes: [
                                { name: "conf", configMap: { name: conf.metadata.name, defaultMode: 0o444 } },
                                ...scratch.volumes,
                                ...(bk?.volumes ?? []),
                            ],
                        },
                    },
                    volumeClaimTemplates: [dataVolumeClaim(args)],
                },
            },
            child,
        );
        this.backup?.initialBackup(this.statefulSet);
        this.registerOutputs({
            secretName: this.secretName,
            host: this.host,
            port: this.port,
            database: this.database,
            username: this.username,
            password: this.password,
        });
    }
}
