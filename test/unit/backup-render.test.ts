// The backup renderers' own rules (test/data/backup.test.ts runs their output for real).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
    backupPath,
    pgArchiveCommand,
    PgbackrestCommon,
    pgRestoreArgs,
    rcloneEnv,
    renderPgbackrestDbConf,
    renderPgbackrestRepoConf,
    renderRedisShipScript,
    shQuote,
} from "../../components/data/backup-render";

const COMMON: PgbackrestCommon = {
    stanza: "inventory-postgres",
    s3: { endpoint: "https://s3.osl.example.no:8443", bucket: "b-1", region: "no-osl-1", uriStyle: "path", verifyTls: true },
    repoPath: backupPath("/nordstack/", "inventory-postgres"),
    retentionDays: 14,
    pgPath: "/var/lib/postgresql/data/pgdata",
    pgPort: 5432,
    pgUser: "inventory",
    pgSocketPath: "/var/run/postgresql",
};
const TLS = { certFile: "/t/tls.crt", keyFile: "/t/tls.key", caFile: "/t/ca.crt" };

describe("backup renderers", () => {
    it("render both sides of pgBackRest with the S3 target, retention and no key", () => {
        const db = renderPgbackrestDbConf({ ...COMMON, tlsServer: { port: 8432, ...TLS, clientCn: "pgbackrest-inventory-postgres" } });
        const repo = renderPgbackrestRepoConf({
            ...COMMON,
            pgHost: "inventory-postgres.nordstack.svc.cluster.local",
            pgHostPort: 8432,
            tlsClient: TLS,
        });
        for (const conf of [db, repo]) {
            assert.match(conf, /^repo1-s3-endpoint=s3.osl.example.no$/m);
            assert.match(conf, /^repo1-storage-port=8443$/m);
            assert.match(conf, /^repo1-path=\/nordstack\/inventory-postgres$/m);
            assert.match(conf, /^repo1-retention-full-type=time$/m);
            assert.match(conf, /^\[inventory-postgres\]$/m);
            assert.doesNotMatch(conf, /s3-key|verify-tls/, "keys come from the environment; TLS verified by default");
        }
        assert.match(db, /^tls-server-auth=pgbackrest-inventory-postgres=inventory-postgres$/m);
        assert.doesNotMatch(db, /pg1-host/);
        assert.match(repo, /^pg1-host-type=tls$/m);
        assert.doesNotMatch(repo, /tls-server/);
        assert.match(
            renderPgbackrestDbConf({ ...COMMON, s3: { ...COMMON.s3, verifyTls: false }, tlsServer: { port: 1, ...TLS, clientCn: "c" } }),
            /^repo1-storage-verify-tls=n$/m,
        );
    });

    it("refuse what pgBackRest cannot do or would misread", () => {
        assert.throws(
            () =>
                renderPgbackrestRepoConf({
                    ...COMMON,
                    s3: { ...COMMON.s3, endpoint: "http://10.0.0.9:9000" },
                    pgHost: "h",
                    pgHostPort: 1,
                    tlsClient: TLS,
                }),
            /only HTTPS/,
        );
        assert.throws(
            () => renderPgbackrestRepoConf({ ...COMMON, retentionDays: 0, pgHost: "h", pgHostPort: 1, tlsClient: TLS }),
            /retentionDays must be at least 1/,
        );
        assert.throws(
            () => renderPgbackrestRepoConf({ ...COMMON, pgUser: "x\ny", pgHost: "h", pgHostPort: 1, tlsClient: TLS }),
            /not a one-line value/,
        );
        assert.throws(() => renderPgbackrestDbConf({ ...COMMON, tlsServer: { port: 1, ...TLS, clientCn: "a=b" } }), /tls-server-auth/);
        assert.throws(
            () => pgRestoreArgs({ configPath: "/c", stanza: "s", pgPath: "/p", target: "yesterday" }),
            /not a timestamp with a time zone/,
        );
        assert.throws(() => renderRedisShipScript({ file: "/f", bucket: "b", path: "p", retentionDays: 0 }), /at least 1/);
    });

    it("quote for sh and build the archive and restore commands", () => {
        assert.equal(shQuote("/etc/pgbackrest/pgbackrest.conf"), "/etc/pgbackrest/pgbackrest.conf");
        assert.equal(shQuote("it's here"), `'it'"'"'s here'`);
        assert.equal(
            pgArchiveCommand("/etc/pgbackrest/pgbackrest.conf", "inventory-postgres"),
            "pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=inventory-postgres archive-push %p",
        );
        assert.deepEqual(pgRestoreArgs({ configPath: "/c", stanza: "s", pgPath: "/p", target: "2026-12-01 21:30:00+00" }), [
            "--config=/c",
            "--stanza=s",
            "--pg1-path=/p",
            "--type=time",
            "--target=2026-12-01 21:30:00+00",
            "--target-action=promote",
            "restore",
        ]);
        assert.deepEqual(pgRestoreArgs({ configPath: "/c", stanza: "s", pgPath: "/p" }).slice(-1), ["restore"]);
        assert.deepEqual(rcloneEnv({ ...COMMON.s3, verifyTls: false, uriStyle: "host" }), {
            RCLONE_CONFIG_BACKUP_TYPE: "s3",
            RCLONE_CONFIG_BACKUP_PROVIDER: "Other",
            RCLONE_CONFIG_BACKUP_ENDPOINT: "https://s3.osl.example.no:8443",
            RCLONE_CONFIG_BACKUP_REGION: "no-osl-1",
            RCLONE_CONFIG_BACKUP_FORCE_PATH_STYLE: "false",
            RCLONE_CONFIG_BACKUP_NO_CHECK_BUCKET: "true",
            RCLONE_NO_CHECK_CERTIFICATE: "true",
        });
    });
});
