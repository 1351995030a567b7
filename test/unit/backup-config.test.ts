// The `backups` config block: defaults, every bad input named by its key, and
// the storage endpoint's sovereignty check (known table, private, unknown).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parsePlatformConfig } from "../../components/config";
import { endpointLocation, endpointSovereignty } from "../../components/data/backup-endpoints";
import { rawConfig } from "../helpers/fixtures";

const GOOD = {
    endpoint: "https://s3.osl.example.no",
    bucket: "nordstack-backups",
    region: "no-osl-1",
    postgresImage: "registry.example.no/nordstack/postgres-pgbackrest:15.18-2.45",
};
const SECRETS = { backupAccessKeyId: true, backupSecretAccessKey: true };

function parse(backups: unknown, extra: Record<string, unknown> = SECRETS) {
    return parsePlatformConfig(rawConfig({ backups, ...extra }));
}

function problems(backups: unknown, extra: Record<string, unknown> = SECRETS): { path: string; message: string }[] {
    try {
        parse(backups, extra);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
        return e.problems;
    }
    assert.fail("the configuration was accepted");
}

describe("backups config", () => {
    it("is off without the key, and fills defaults when set", () => {
        assert.equal(parsePlatformConfig(rawConfig()).backups, undefined);
        const b = parse(GOOD).backups;
        assert.ok(b);
        assert.deepEqual(
            { ...b, warnings: b.warnings.map((w) => w.split(":")[0]) },
            {
                endpoint: "https://s3.osl.example.no",
                bucket: "nordstack-backups",
                region: "no-osl-1",
                prefix: "nordstack",
                retentionDays: 14,
                schedule: "15 2 * * *",
                archiveTimeoutSeconds: 300,
                allowInsecure: false,
                uriStyle: "path",
                egressCidrs: [],
                postgresImage: GOOD.postgresImage,
                // Unknown location, and a hostname without egressCidrs: both said, neither refused.
                warnings: ["backups.endpoint", "backups.egressCidrs"],
            },
        );
        assert.deepEqual(parse({ ...GOOD, endpoint: "https://10.20.0.9:9000" }).backups?.egressCidrs, ["10.20.0.9/32"]);
        assert.deepEqual(parse({ ...GOOD, endpoint: "https://10.20.0.9:9000" }).backups?.warnings, [], "a private address: no warning");
    });

    it("refuses missing bucket, region and credentials, naming each key", () => {
        const ps = problems({ endpoint: GOOD.endpoint, postgresImage: GOOD.postgresImage }, {});
        const paths = ps.map((p) => p.path).sort();
        assert.deepEqual(paths, ["backupAccessKeyId", "backupSecretAccessKey", "backups.bucket", "backups.region"]);
        assert.match(ps.find((p) => p.path === "backupAccessKeyId")?.message ?? "", /pulumi config set --secret backupAccessKeyId/);
        assert.deepEqual(
            problems(GOOD, { backupAccessKeyId: true }).map((p) => p.path),
            ["backupSecretAccessKey"],
        );
        assert.deepEqual(
            problems({ bucket: "b-1", region: "r" }).map((p) => p.path),
            ["backups.endpoint", "backups.postgresImage"],
        );
    });

    it("refuses http:// without allowInsecure, and for PostgreSQL even with it (pgBackRest is HTTPS-only)", () => {
        const plain = problems({ ...GOOD, endpoint: "http://10.20.0.9:9000" });
        assert.equal(plain.length, 1);
        assert.equal(plain[0].path, "backups.endpoint");
        assert.match(plain[0].message, /plain http.*allowInsecure/);
        const pg = problems({ ...GOOD, endpoint: "http://10.20.0.9:9000", allowInsecure: true });
        assert.deepEqual(
            pg.map((p) => p.path),
            ["backups.endpoint"],
        );
        assert.match(pg[0].message, /pgBackRest .* speaks only HTTPS/);
        // Redis only: http:// with allowInsecure is accepted.
        const redisOnly = {
            services: [{ name: "pricing", image: "docker.io/traefik/whoami:v1.10.3", datastores: [{ engine: "redis" }] }],
        };
        const b = parsePlatformConfig(
            rawConfig({
                ...redisOnly,
                ...SECRETS,
                backups: { endpoint: "http://10.20.0.9:9000", bucket: "b-1", region: "r", allowInsecure: true },
            }),
        ).backups;
        assert.equal(b?.endpoint, "http://10.20.0.9:9000");
        assert.equal(b?.postgresImage, undefined, "no postgres datastore, no pgBackRest image needed");
    });

    it("refuses retention 0, bad schedule, bucket, prefix, timeout, CIDRs and unknown keys", () => {
        const ps = problems({
            ...GOOD,
            retentionDays: 0,
            schedule: "every night",
            bucket: "Bad_Bucket",
            prefix: "/lead/",
            archiveTimeoutSeconds: 900,
            egressCidrs: ["198.51.100.7", "198.51.100.0/24"],
            endpoint: "https://s3.osl.example.no/nordstack",
            retentionDay: 3,
        });
        const byPath = Object.fromEntries(ps.map((p) => [p.path, p.message]));
        assert.deepEqual(Object.keys(byPath).sort(), [
            "backups.archiveTimeoutSeconds",
            "backups.bucket",
            "backups.egressCidrs[0]",
            "backups.endpoint",
            "backups.prefix",
            "backups.retentionDay",
            "backups.retentionDays",
            "backups.schedule",
        ]);
        assert.match(byPath["backups.retentionDays"], /0 is outside 1–3650; keep backups at least 1 day/);
        assert.match(byPath["backups.retentionDay"], /did you mean "retentionDays"/);
        assert.match(byPath["backups.archiveTimeoutSeconds"], /30–300/);
        assert.match(byPath["backups.endpoint"], /no path/);
    });

    it("checks the endpoint's country under sovereignty strict: outside Norway/EEA is an error, unknown a warning", () => {
        const us = problems({ ...GOOD, endpoint: "https://s3.us-east-1.amazonaws.com" });
        assert.deepEqual(
            us.map((p) => p.path),
            ["backups.endpoint"],
        );
        assert.match(us[0].message, /AWS S3 us-east-1, in US \(outside Norway\/EEA\) while sovereignty is "strict"/);
        assert.match(problems({ ...GOOD, endpoint: "https://sos-ch-gva-2.exo.io" })[0].message, /in CH/, "Switzerland is not in the EEA");
        // In the EEA: accepted without a location warning.
        for (const endpoint of [
            "https://s3.eu-north-1.amazonaws.com",
            "https://hel1.your-objectstorage.com",
            "https://s3.nl-ams.scw.cloud",
        ]) {
            const b = parse({ ...GOOD, endpoint }).backups;
            assert.ok(b && !b.warnings.some((w) => w.startsWith("backups.endpoint")), endpoint);
        }
        const unknown = parse({ ...GOOD, endpoint: "https://objects.example.no" }).backups;
        assert.match(unknown?.warnings[0] ?? "", /^backups.endpoint: objects.example.no is not in nordstack's table/);
        // Relaxed: a known non-EEA endpoint is allowed, with a warning.
        const relaxed = parsePlatformConfig(
            rawConfig({ sovereignty: "relaxed", ...SECRETS, backups: { ...GOOD, endpoint: "https://s3.us-east-1.amazonaws.com" } }),
        );
        assert.match(relaxed.backups?.warnings[0] ?? "", /outside Norway\/EEA/);
    });

    it("locates endpoints by the table, private addresses and in-cluster names", () => {
        assert.deepEqual(endpointLocation("bucket.s3.eu-central-1.amazonaws.com"), {
            kind: "known",
            provider: "AWS S3",
            country: "de",
            region: "eu-central-1",
        });
        assert.deepEqual(endpointLocation("nyc3.digitaloceanspaces.com"), {
            kind: "known",
            provider: "DigitalOcean Spaces",
            country: "us",
            region: "nyc3",
        });
        assert.equal(endpointLocation("s3.xx-nowhere-9.amazonaws.com").kind, "unknown", "a region the table lacks is not guessed");
        assert.equal(endpointLocation("minio.storage.svc.cluster.local").kind, "private");
        assert.equal(endpointLocation("192.168.10.4").kind, "private");
        assert.equal(endpointLocation("203.0.113.9").kind, "unknown");
        assert.deepEqual(endpointSovereignty("storage.googleapis.com", true).error?.includes("outside Norway/EEA"), true);
    });
});
