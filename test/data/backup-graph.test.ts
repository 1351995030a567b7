// Pulumi mocks over the workload layer with backups on: one CronJob per
// datastore, S3 keys only in Secrets, egress to the storage endpoint only,
// PostgreSQL archiving through pgBackRest, and the status output.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { GraphRecorder, Recorded, value } from "../helpers/mocks";
import { outputsFor } from "../mesh/fake-outputs";
import { config } from "../helpers/fixtures";
import type { BackupsConfig } from "../../components/config";

const KEY_ID = "AKIDNORDSTACKTEST01";
const SECRET_KEY = "s3cr3t-Backup-Key-0123456789abcdef";
const LAST_OK = "2026-12-01T02:16:40Z";

before(() =>
    pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                const state: Record<string, unknown> = { ...(args.inputs as Record<string, unknown>), ...outputsFor(args) };
                if (args.type === "random:index/randomPassword:RandomPassword")
                    state.result = `Pw${args.name.replace(/[^A-Za-z0-9]/g, "")}0123456789abcdef`;
                // What the cluster reports once a Job of the CronJob has succeeded (read back by `pulumi refresh`).
                if (args.type === "kubernetes:batch/v1:CronJob")
                    state.status = { lastSuccessfulTime: LAST_OK, lastScheduleTime: "2026-12-01T02:15:00Z" };
                return { id: `${args.name}-id`, state };
            },
            call: (args) => args.inputs as Record<string, unknown>,
        },
        "nordstack",
        "test",
        false,
    ),
);

function backupsConfig(over: Partial<BackupsConfig> = {}): BackupsConfig {
    const b = config({
        backups: {
            endpoint: "https://198.51.100.7",
            bucket: "nordstack-backups",
            region: "no-osl-1",
            postgresImage: "registry.example.no/nordstack/postgres-pgbackrest:15.18-2.45",
        },
        backupAccessKeyId: true,
        backupSecretAccessKey: true,
    }).backups;
    assert.ok(b);
    return { ...b, ...over };
}

async function build(name: string, backups?: BackupsConfig) {
    const { Workloads } = await import("../../components/services/workloads");
    const rec = new GraphRecorder();
    const provider = new k8s.Provider(`${name}-k8s`, { kubeconfig: "{}" });
    const workloads = new Workloads(
        name,
        {
            provider,
            services: config().services,
            gateway: { serverNames: ["api.cool-client.no"] },
            ...(backups
                ? { backups: { config: backups, accessKeyId: pulumi.secret(KEY_ID), secretAccessKey: pulumi.secret(SECRET_KEY) } }
                : {}),
        },
        { transformations: [rec.transform] },
    );
    return { workloads, rec };
}

function find(rec: GraphRecorder, type: string, name: string): Recorded {
    const r = rec.ofType(type).find((x) => x.name === name);
    assert.ok(
        r,
        `no ${type} named ${name}; have ${rec
            .ofType(type)
            .map((x) => x.name)
            .join(", ")}`,
    );
    return r;
}

function props<T = Record<string, unknown>>(r: Recorded): Promise<T> {
    return value(pulumi.output(r.props)) as unknown as Promise<T>;
}

type CronJob = k8s.types.output.batch.v1.CronJob;
type Job = k8s.types.output.batch.v1.Job;
type StatefulSet = k8s.types.output.apps.v1.StatefulSet;
type NetworkPolicy = k8s.types.output.networking.v1.NetworkPolicy;
type ConfigMap = k8s.types.output.core.v1.ConfigMap;

const CRON = "kubernetes:batch/v1:CronJob";
const POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
const SECRET = "kubernetes:core/v1:Secret";

describe("backups in the resource graph", () => {
    it("one CronJob per datastore, UTC, never overlapping, failing visibly, without the mesh proxy", async () => {
        const { rec } = await build("bk", backupsConfig());
        const crons = rec.ofType(CRON);
        assert.deepEqual(crons.map((c) => c.name).sort(), ["bk-inventory-postgres-backup-cron", "bk-pricing-redis-backup-cron"]);
        for (const c of crons) {
            const cj = await props<CronJob>(c);
            const instance = c.name.replace(/^bk-/, "").replace(/-backup-cron$/, "");
            assert.equal(cj.metadata.name, `${instance}-backup`);
            assert.equal(cj.metadata.namespace, "nordstack");
            assert.equal(cj.spec.schedule, "15 2 * * *");
            assert.equal(cj.spec.timeZone, "Etc/UTC");
            assert.equal(cj.spec.concurrencyPolicy, "Forbid");
            assert.ok(cj.spec.failedJobsHistoryLimit >= 1, "failed Jobs stay visible");
            const job = cj.spec.jobTemplate.spec;
            assert.equal(job.backoffLimit, 1);
            assert.ok(job.activeDeadlineSeconds > 0);
            assert.equal(job.template.spec.restartPolicy, "Never");
            assert.equal(job.template.metadata.annotations["linkerd.io/inject"], "disabled");
            assert.equal(job.template.metadata.labels["nordstack.io/backup-of"], instance);
            for (const ctr of [...(job.template.spec.initContainers ?? []), ...job.template.spec.containers]) {
                assert.equal(ctr.securityContext.runAsNonRoot, true, `${instance}/${ctr.name} runs as non-root`);
                assert.equal(ctr.command[0], "sh");
                assert.match(ctr.command[2], /^set -eu\n/, "any failing step fails the Job");
            }
        }
        const pg = (await props<CronJob>(find(rec, CRON, "bk-inventory-postgres-backup-cron"))).spec.jobTemplate.spec.template.spec;
        assert.equal(pg.containers[0].image, "registry.example.no/nordstack/postgres-pgbackrest:15.18-2.45");
        assert.match(
            pg.containers[0].command[2],
            /pgbackrest --config=\/etc\/pgbackrest\/pgbackrest.conf --stanza=inventory-postgres --type=full backup/,
        );
        const redis = (await props<CronJob>(find(rec, CRON, "bk-pricing-redis-backup-cron"))).spec.jobTemplate.spec.template.spec;
        assert.match(
            redis.initContainers[0].command[2],
            /redis-cli -h pricing-redis.nordstack.svc.cluster.local -p 6379 --rdb \/backup\/dump.rdb/,
        );
        assert.equal(redis.initContainers[0].env[0].name, "REDISCLI_AUTH");
        assert.equal(redis.containers[0].image, "docker.io/rclone/rclone:1.60.1");
        assert.match(
            redis.containers[0].command[2],
            /rclone copyto \/backup\/dump.rdb backup:nordstack-backups\/nordstack\/pricing-redis\/"\$name"/,
        );
        assert.match(redis.containers[0].command[2], /rclone delete --min-age 14d/);
    });

    it("keeps the S3 keys in Secrets only: secret outputs, read through secretKeyRef, nowhere else", async () => {
        const { rec } = await build("sk", backupsConfig());
        const s3Secrets = rec.ofType(SECRET).filter((s) => s.name.endsWith("-backup-s3"));
        assert.deepEqual(s3Secrets.map((s) => s.name).sort(), ["sk-inventory-postgres-backup-s3", "sk-pricing-redis-backup-s3"]);
        for (const s of s3Secrets) {
            assert.equal(await pulumi.isSecret(pulumi.output(s.props.stringData)), true, `${s.name} stringData is a secret`);
            const data = await value(pulumi.output(s.props.stringData as Record<string, string>));
            assert.deepEqual(Object.values(data).sort(), [KEY_ID, SECRET_KEY].sort());
        }
        for (const tlsSecret of rec.ofType(SECRET).filter((s) => s.name.includes("-backup-tls-"))) {
            assert.equal(
                await pulumi.isSecret(pulumi.output(tlsSecret.props.stringData)),
                true,
                `${tlsSecret.name} (private key) is a secret`,
            );
        }
        // Nothing but Secrets holds the key values: not ConfigMaps, CronJobs, Jobs, StatefulSets.
        for (const r of rec.resources.filter((x) => x.type.startsWith("kubernetes:") && x.type !== SECRET)) {
            const text = JSON.stringify(await props(r));
            assert.ok(!text.includes(SECRET_KEY) && !text.includes(KEY_ID), `${r.type} ${r.name} holds an S3 key`);
        }
        const cron = await props<CronJob>(find(rec, CRON, "sk-inventory-postgres-backup-cron"));
        const env = cron.spec.jobTemplate.spec.template.spec.containers[0].env;
        assert.deepEqual(
            env.map((e) => [e.name, e.valueFrom?.secretKeyRef?.name]),
            [
                ["PGBACKREST_REPO1_S3_KEY", "inventory-postgres-backup-s3"],
                ["PGBACKREST_REPO1_S3_KEY_SECRET", "inventory-postgres-backup-s3"],
            ],
        );
    });

    it("lets backup traffic out only to the storage endpoint (its own policy objects), and in only to the datastore", async () => {
        const { rec } = await build("np", backupsConfig());
        const names = rec
            .ofType(POLICY)
            .map((p) => p.name)
            .sort();
        for (const n of [
            "np-inventory-postgres-backup-job-egress",
            "np-inventory-postgres-backup-archive-egress",
            "np-inventory-postgres-backup-ingress",
            "np-pricing-redis-backup-job-egress",
            "np-pricing-redis-backup-ingress",
        ]) {
            assert.ok(names.includes(n), `${n} in ${names.join(", ")}`);
        }
        const jobEgress = await props<NetworkPolicy>(find(rec, POLICY, "np-pricing-redis-backup-job-egress"));
        assert.deepEqual(jobEgress.spec.policyTypes, ["Egress"]);
        assert.equal(jobEgress.spec.podSelector.matchLabels["nordstack.io/backup-of"], "pricing-redis");
        assert.deepEqual(jobEgress.spec.egress[1], {
            to: [{ ipBlock: { cidr: "198.51.100.7/32" } }],
            ports: [{ protocol: "TCP", port: 443 }],
        });
        assert.deepEqual(
            jobEgress.spec.egress[0].ports.map((p) => `${p.protocol}/${p.port}`),
            ["UDP/53", "TCP/53"],
        );
        assert.equal(jobEgress.spec.egress[2].to[0].podSelector.matchLabels["app.kubernetes.io/name"], "pricing-redis");
        assert.equal(jobEgress.spec.egress.length, 3, "DNS, the storage, the datastore: nothing else");

        const archive = await props<NetworkPolicy>(find(rec, POLICY, "np-inventory-postgres-backup-archive-egress"));
        assert.equal(archive.metadata.name, "inventory-postgres-archive-egress");
        assert.deepEqual(archive.spec.podSelector.matchLabels, {
            "app.kubernetes.io/name": "inventory-postgres",
            "app.kubernetes.io/component": "postgres",
            "app.kubernetes.io/part-of": "nordstack",
        });
        assert.deepEqual(archive.spec.egress[1].to, [{ ipBlock: { cidr: "198.51.100.7/32" } }]);
        assert.deepEqual(
            archive.spec.egress[2].to,
            [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "linkerd" } } }],
            "the proxy's control plane",
        );

        const ingress = await props<NetworkPolicy>(find(rec, POLICY, "np-inventory-postgres-backup-ingress"));
        assert.deepEqual(ingress.spec.policyTypes, ["Ingress"]);
        assert.deepEqual(ingress.spec.ingress[0].ports, [{ protocol: "TCP", port: 8432 }], "only pgBackRest's TLS server, not 5432");
        assert.equal(ingress.spec.ingress[0].from[0].podSelector.matchLabels["nordstack.io/backup-of"], "inventory-postgres");

        // A hostname endpoint without egressCidrs: any address, but only on the endpoint's port.
        const { rec: open } = await build("np2", backupsConfig({ endpoint: "https://s3.osl.example.no:8443", egressCidrs: [] }));
        const any = await props<NetworkPolicy>(find(open, POLICY, "np2-pricing-redis-backup-job-egress"));
        assert.deepEqual(any.spec.egress[1], { ports: [{ protocol: "TCP", port: 8443 }] });
    });

    it("makes PostgreSQL archive every WAL segment with pgBackRest within 300 s, with the TLS server sidecar, and backs up once at deploy", async () => {
        const { rec } = await build("pg", backupsConfig());
        const conf = await props<ConfigMap>(find(rec, "kubernetes:core/v1:ConfigMap", "pg-inventory-postgres-conf"));
        const pgConf = conf.data["postgresql.conf"];
        assert.match(pgConf, /^archive_mode = on$/m);
        assert.match(
            pgConf,
            /^archive_command = 'pgbackrest --config=\/etc\/pgbackrest\/pgbackrest.conf --stanza=inventory-postgres archive-push %p'$/m,
        );
        assert.match(pgConf, /^archive_timeout = 300$/m);
        const bk = await props<ConfigMap>(find(rec, "kubernetes:core/v1:ConfigMap", "pg-inventory-postgres-backup-conf"));
        assert.match(bk.data["db.conf"], /^repo1-path=\/nordstack\/inventory-postgres$/m);
        assert.match(bk.data["db.conf"], /^tls-server-auth=pgbackrest-inventory-postgres=inventory-postgres$/m);
        assert.match(bk.data["repo.conf"], /^pg1-host=inventory-postgres.nordstack.svc.cluster.local$/m);
        assert.match(bk.data["repo.conf"], /^repo1-retention-full=14$/m);

        const sts = await props<StatefulSet>(find(rec, "kubernetes:apps/v1:StatefulSet", "pg-inventory-postgres"));
        const pod = sts.spec.template.spec;
        assert.deepEqual(
            pod.containers.map((c) => c.name),
            ["postgres", "pgbackrest"],
        );
        assert.equal(pod.containers[0].image, "registry.example.no/nordstack/postgres-pgbackrest:15.18-2.45");
        assert.deepEqual(pod.containers[1].command, ["pgbackrest", "--config=/etc/pgbackrest/pgbackrest.conf", "server"]);
        assert.ok(
            pod.containers[0].env.some(
                (e) => e.name === "PGBACKREST_REPO1_S3_KEY_SECRET" && e.valueFrom.secretKeyRef.name === "inventory-postgres-backup-s3",
            ),
        );
        assert.equal(sts.spec.template.metadata.annotations["config.linkerd.io/skip-inbound-ports"], "8432");
        assert.deepEqual(sts.spec.selector.matchLabels, sts.spec.template.metadata.labels, "the selector is unchanged");

        const initial = find(rec, "kubernetes:batch/v1:Job", "pg-inventory-postgres-backup-initial");
        assert.deepEqual(initial.dependsOn, ["pg-inventory-postgres"], "after the database is up");
        const job = await props<Job>(initial);
        assert.equal(job.metadata.name, "inventory-postgres-backup-initial");
    });

    it("reports the latest successful backup per datastore as an output", async () => {
        const { workloads } = await build("st", backupsConfig());
        const status = await value(workloads.backups);
        assert.deepEqual(status, {
            "inventory-postgres": {
                engine: "postgres",
                destination: "s3://nordstack-backups/nordstack/inventory-postgres/",
                schedule: "15 2 * * *",
                retentionDays: 14,
                lastSuccessfulTime: LAST_OK,
                lastScheduleTime: "2026-12-01T02:15:00Z",
                cronJob: "inventory-postgres-backup",
            },
            "pricing-redis": {
                engine: "redis",
                destination: "s3://nordstack-backups/nordstack/pricing-redis/",
                schedule: "15 2 * * *",
                retentionDays: 14,
                lastSuccessfulTime: LAST_OK,
                lastScheduleTime: "2026-12-01T02:15:00Z",
                cronJob: "pricing-redis-backup",
            },
        });
    });

    it("creates nothing for backups without the config, and leaves the datastores as they were", async () => {
        const { rec, workloads } = await build("off");
        assert.equal(rec.ofType(CRON).length, 0);
        assert.equal(rec.resources.filter((r) => r.name.includes("backup")).length, 0);
        assert.deepEqual(await value(workloads.backups), {});
        const sts = await props<StatefulSet>(find(rec, "kubernetes:apps/v1:StatefulSet", "off-inventory-postgres"));
        assert.deepEqual(
            sts.spec.template.spec.containers.map((c) => c.name),
            ["postgres"],
        );
        assert.equal(sts.spec.template.spec.containers[0].image, "docker.io/library/postgres:15.18-bookworm");
    });

    it("refuses an http:// endpoint for PostgreSQL at the component too", async () => {
        await assert.rejects(
            build("bad", backupsConfig({ endpoint: "http://10.0.0.9:9000", allowInsecure: true })),
            /pgBackRest speaks only HTTPS/,
        );
    });
});
