import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { linkerdPkiParams } from "../../components/mesh/pki-params";
import { expiryWarning, issuerNamePart, warnDaysProblem } from "../../components/mesh/pki-lifecycle";

describe("linkerdPkiParams (pure)", () => {
    it("describes an ECDSA P-256 trust anchor and identity issuer, both CAs for cert and CRL signing only", () => {
        assert.deepEqual(linkerdPkiParams(), {
            trustAnchor: {
                key: { algorithm: "ECDSA", ecdsaCurve: "P256" },
                subject: { commonName: "root.linkerd.cluster.local" },
                isCaCertificate: true,
                allowedUses: ["cert_signing", "crl_signing"],
                validityPeriodHours: 87600,
                setSubjectKeyId: true,
                setAuthorityKeyId: true,
            },
            issuer: {
                key: { algorithm: "ECDSA", ecdsaCurve: "P256" },
                subject: { commonName: "identity.linkerd.cluster.local" },
                isCaCertificate: true,
                allowedUses: ["cert_signing", "crl_signing"],
                validityPeriodHours: 8760,
                setSubjectKeyId: true,
                setAuthorityKeyId: false,
            },
        });
    });

    it("follows the trust domain and lifetimes it is given", () => {
        const p = linkerdPkiParams({ trustDomain: "nordstack.internal", anchorValidityHours: 43800, issuerValidityHours: 2160 });
        assert.equal(p.trustAnchor.subject.commonName, "root.linkerd.nordstack.internal");
        assert.equal(p.issuer.subject.commonName, "identity.linkerd.nordstack.internal");
        assert.equal(p.trustAnchor.validityPeriodHours, 43800);
        assert.equal(p.issuer.validityPeriodHours, 2160);
    });

    it("refuses an issuer that would outlive its anchor, bad lifetimes and a bad trust domain, listing every problem", () => {
        assert.throws(
            () => linkerdPkiParams({ trustDomain: "Cluster_Local", anchorValidityHours: 8760, issuerValidityHours: 8760.5 }),
            (e: Error) => {
                assert.match(e.message, /trustDomain "Cluster_Local" is not a DNS name/);
                assert.match(e.message, /issuerValidityHours must be a whole number of hours, at least 24; got 8760.5/);
                assert.match(e.message, /issuerValidityHours \(8760.5\) must be shorter than anchorValidityHours \(8760\)/);
                return true;
            },
        );
        assert.throws(
            () => linkerdPkiParams({ anchorValidityHours: 12 }),
            /anchorValidityHours must be a whole number of hours, at least 24; got 12/,
        );
    });
});

describe("issuer rotation naming (pure)", () => {
    it("gives the issuer's resources a rotation-specific name part, none when unset", () => {
        assert.equal(issuerNamePart(), "issuer");
        assert.equal(issuerNamePart(""), "issuer");
        assert.equal(issuerNamePart(2), "issuer-2");
        assert.equal(issuerNamePart("2027-01"), "issuer-2027-01");
        assert.notEqual(issuerNamePart("1"), issuerNamePart("2"));
    });

    it("refuses values that cannot be part of a resource name", () => {
        for (const bad of ["has space", "-lead", "x".repeat(33), "a/b"]) {
            assert.throws(() => issuerNamePart(bad), /issuerRotation .* must be 1-32 letters/, bad);
        }
    });
});

describe("expiry warning (pure)", () => {
    const now = new Date("2026-11-28T00:00:00Z");
    const base = { what: "Linkerd identity issuer certificate", now, warnDays: 30, remedy: "set a new issuerRotation" };
    const inDays = (d: number, extraMs = 0) => new Date(now.getTime() + d * 86_400_000 + extraMs).toISOString();

    it("warns with the date when the certificate expires within warnDays", () => {
        const end = inDays(12, 3_600_000);
        assert.equal(
            expiryWarning({ ...base, validityEndTime: end }),
            `Linkerd identity issuer certificate expires on ${end} (in 12 days, within warnDays 30); set a new issuerRotation`,
        );
    });

    it("is silent outside warnDays, and warns right at the boundary", () => {
        assert.equal(expiryWarning({ ...base, validityEndTime: inDays(30, 60_000) }), undefined);
        assert.match(expiryWarning({ ...base, validityEndTime: inDays(30) }) ?? "", /in 30 days, within warnDays 30/);
        assert.match(expiryWarning({ ...base, validityEndTime: inDays(0, 60_000) }) ?? "", /in 0 days/);
    });

    it("says EXPIRED once the date has passed", () => {
        assert.equal(
            expiryWarning({ ...base, validityEndTime: "2026-11-01T00:00:00Z" }),
            "Linkerd identity issuer certificate EXPIRED on 2026-11-01T00:00:00.000Z; set a new issuerRotation",
        );
    });

    it("refuses a date it cannot read rather than staying silent", () => {
        assert.throws(() => expiryWarning({ ...base, validityEndTime: "next year" }), /is not an RFC 3339 date/);
    });

    it("refuses a warnDays that would warn for the whole life of the issuer", () => {
        assert.equal(warnDaysProblem(60, 8760), undefined);
        assert.match(warnDaysProblem(365, 8760) ?? "", /warnDays \(365\) must be shorter than the issuer's lifetime/);
        assert.match(warnDaysProblem(0, 8760) ?? "", /at least 1/);
    });
});
