// Real crypto: the certificate parameters from linkerdPkiParams, and only
// those, are turned into openssl invocations that build the same certificates
// @pulumi/tls would (Go's x509: critical basicConstraints and keyUsage, no EKU
// unless asked, SHA-256 signatures with P-256, the signer's key id as
// authority key id). The chain and the extensions are then checked the way
// Linkerd checks them, and mutated parameters show the checks can fail.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CertParams, KeyParams, KeyUsage, linkerdPkiParams } from "../../components/mesh/pki-params";
import { linkerdControlPlaneValues } from "../../components/mesh/linkerd-values";

const CURVES: Record<string, string> = { P224: "P-224", P256: "P-256", P384: "P-384", P521: "P-521" };
const KEY_USAGE: Partial<Record<KeyUsage, string>> = {
    cert_signing: "keyCertSign",
    crl_signing: "cRLSign",
    digital_signature: "digitalSignature",
    key_encipherment: "keyEncipherment",
};
const EXT_KEY_USAGE: Partial<Record<KeyUsage, string>> = { server_auth: "serverAuth", client_auth: "clientAuth" };
const LEAF_NAME = "default.default.serviceaccount.identity.linkerd.cluster.local";

let dir = "";

function openssl(args: string[]): string {
    return execFileSync("openssl", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Runs openssl verify; returns [ok, output]. */
function verify(args: string[]): [boolean, string] {
    const r = spawnSync("openssl", ["verify", ...args], { cwd: dir, encoding: "utf8" });
    return [r.status === 0, `${r.stdout}${r.stderr}`];
}

function genKey(file: string, k: KeyParams): void {
    assert.equal(k.algorithm, "ECDSA", "only ECDSA keys are mapped: Linkerd's issuer must be ECDSA");
    const curve = CURVES[k.ecdsaCurve];
    assert.ok(curve, `curve ${k.ecdsaCurve} has no openssl name`);
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${curve}`, "-out", file]);
}

/** The openssl extension section equivalent to what the tls provider puts in a certificate with these parameters. */
function extSection(section: string, p: CertParams, selfSigned: boolean): string {
    const ku = p.allowedUses.map((u) => KEY_USAGE[u]).filter((x): x is string => x !== undefined);
    const eku = p.allowedUses.map((u) => EXT_KEY_USAGE[u]).filter((x): x is string => x !== undefined);
    const lines = [`[${section}]`, `basicConstraints = critical, CA:${p.isCaCertificate ? "TRUE" : "FALSE"}`];
    if (ku.length > 0) lines.push(`keyUsage = critical, ${ku.join(", ")}`);
    if (eku.length > 0) lines.push(`extendedKeyUsage = ${eku.join(", ")}`);
    lines.push(`subjectKeyIdentifier = ${p.setSubjectKeyId ? "hash" : "none"}`);
    // Go copies the signer's subject key id into a signed certificate; a self-signed one gets it only on request.
    lines.push(`authorityKeyIdentifier = ${!selfSigned || p.setAuthorityKeyId ? "keyid:always" : "none"}`);
    return lines.join("\n") + "\n";
}

function days(p: CertParams): string {
    assert.equal(p.validityPeriodHours % 24, 0, "openssl 3.0 expresses validity in whole days");
    return String(p.validityPeriodHours / 24);
}

/** Writes the config and creates `<name>.key` and a self-signed `<name>.crt`. */
function makeSelfSigned(name: string, p: CertParams): void {
    genKey(`${name}.key`, p.key);
    writeFileSync(join(dir, `${name}.cnf`), "[req]\ndistinguished_name = dn\n[dn]\n" + extSection("ext", p, true));
    openssl(
        ["req", "-x509", "-new", "-key", `${name}.key`, "-subj", `/CN=${p.subject.commonName}`, "-days", days(p), "-sha256"].concat([
            "-config",
            `${name}.cnf`,
            "-extensions",
            "ext",
            "-out",
            `${name}.crt`,
        ]),
    );
}

/** Creates `<name>.key` and `<name>.crt` signed by `<ca>.crt`/`<ca>.key`, through a CSR as LinkerdPki does. */
function makeSigned(name: string, ca: string, p: CertParams, sans: string[] = []): void {
    genKey(`${name}.key`, p.key);
    const ext = extSection("ext", p, false) + (sans.length > 0 ? `subjectAltName = ${sans.map((s) => `DNS:${s}`).join(", ")}\n` : "");
    writeFileSync(join(dir, `${name}.cnf`), "[req]\ndistinguished_name = dn\n[dn]\n" + ext);
    openssl([
        "req",
        "-new",
        "-key",
        `${name}.key`,
        "-subj",
        `/CN=${p.subject.commonName}`,
        "-config",
        `${name}.cnf`,
        "-out",
        `${name}.csr`,
    ]);
    openssl(
        ["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", days(p)].concat([
            "-sha256",
            "-extfile",
            `${name}.cnf`,
            "-extensions",
            "ext",
            "-out",
            `${name}.crt`,
        ]),
    );
}

function text(cert: string): string {
    return openssl(["x509", "-in", cert, "-noout", "-text"]);
}

/**
 * What Linkerd refuses in an issuer (pkg/issuercerts: ECDSA P-256 signed with
 * SHA-256, a CA) or in any CA of the chain (Go verifies the issuer for server
 * auth: an extended key usage without serverAuth fails). Empty: acceptable.
 */
function linkerdRejects(certText: string): string[] {
    const r: string[] = [];
    if (!/Public Key Algorithm: id-ecPublicKey/.test(certText)) r.push("not ECDSA");
    if (!/NIST CURVE: P-256/.test(certText)) r.push("not P-256");
    if (!/Signature Algorithm: ecdsa-with-SHA256/.test(certText)) r.push("not signed with ecdsa-with-SHA256");
    if (!/X509v3 Basic Constraints: critical\s+CA:TRUE/.test(certText)) r.push("not a CA");
    if (!/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\s*$/m.test(certText))
        r.push("key usage is not exactly cert and CRL signing");
    const eku = /X509v3 Extended Key Usage:\s*\n\s*(.*)/.exec(certText);
    if (eku && !/TLS Web Server Authentication/.test(eku[1])) r.push("extended key usage without serverAuth");
    return r;
}

describe("Linkerd PKI parameters through openssl (real crypto)", () => {
    const params = linkerdPkiParams();

    before(() => {
        dir = mkdtempSync(join(tmpdir(), "nordstack-pki-"));
        makeSelfSigned("anchor", params.trustAnchor);
        makeSigned("issuer", "anchor", params.issuer);
        // A proxy certificate as Linkerd's identity service issues it (pkg/tls/ca.go).
        const leaf: CertParams = {
            key: { algorithm: "ECDSA", ecdsaCurve: "P256" },
            subject: { commonName: LEAF_NAME },
            isCaCertificate: false,
            allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
            validityPeriodHours: 24,
            setSubjectKeyId: false,
            setAuthorityKeyId: false,
        };
        makeSigned("leaf", "issuer", leaf, [LEAF_NAME]);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("makes a trust anchor Linkerd accepts: self-signed P-256 CA, cert/CRL signing only, 10 years", () => {
        const t = text("anchor.crt");
        assert.deepEqual(linkerdRejects(t), []);
        assert.match(t, /Subject: CN ?= ?root\.linkerd\.cluster\.local/);
        assert.match(t, /Issuer: CN ?= ?root\.linkerd\.cluster\.local/);
        assert.match(t, /ASN1 OID: prime256v1/);
        assert.doesNotMatch(t, /pathlen/, "the tls provider sets no path length");
        assert.doesNotMatch(t, /Extended Key Usage/);
        const [ok, out] = verify(["-x509_strict", "-CAfile", "anchor.crt", "anchor.crt"]);
        assert.ok(ok, out);
    });

    it("makes an issuer signed by the anchor, verifying strictly, with the issuer's name and shorter validity", () => {
        const t = text("issuer.crt");
        assert.deepEqual(linkerdRejects(t), []);
        assert.match(t, /Subject: CN ?= ?identity\.linkerd\.cluster\.local/);
        assert.match(t, /Issuer: CN ?= ?root\.linkerd\.cluster\.local/);
        assert.doesNotMatch(t, /Extended Key Usage/);
        const [ok, out] = verify(["-x509_strict", "-CAfile", "anchor.crt", "issuer.crt"]);
        assert.ok(ok, out);
        assert.match(out, /issuer\.crt: OK/);

        const span = (f: string) => {
            const start = Date.parse(openssl(["x509", "-in", f, "-noout", "-startdate"]).split("=")[1]);
            const end = Date.parse(openssl(["x509", "-in", f, "-noout", "-enddate"]).split("=")[1]);
            return (end - start) / 3_600_000;
        };
        assert.equal(span("issuer.crt"), params.issuer.validityPeriodHours);
        assert.equal(span("anchor.crt"), params.trustAnchor.validityPeriodHours);
    });

    it("verifies a proxy certificate through the issuer to the anchor, for server and client auth", () => {
        for (const purpose of ["sslserver", "sslclient"]) {
            const [ok, out] = verify([
                "-x509_strict",
                "-purpose",
                purpose,
                "-CAfile",
                "anchor.crt",
                "-untrusted",
                "issuer.crt",
                "leaf.crt",
            ]);
            assert.ok(ok, `${purpose}: ${out}`);
        }
        const [partial, out] = verify(["-partial_chain", "-purpose", "sslserver", "-CAfile", "issuer.crt", "leaf.crt"]);
        assert.ok(partial, out);
    });

    it("does not verify the proxy certificate without the issuer in the chain, or against another anchor", () => {
        const [alone, out1] = verify(["-CAfile", "anchor.crt", "leaf.crt"]);
        assert.equal(alone, false);
        assert.match(out1, /unable to get local issuer certificate/);

        makeSelfSigned("other-anchor", params.trustAnchor);
        const [other, out2] = verify(["-CAfile", "other-anchor.crt", "-untrusted", "issuer.crt", "leaf.crt"]);
        assert.equal(other, false, out2);
        assert.match(out2, /unable to get local issuer certificate/);
    });

    it("gives Linkerd's chart PEMs it takes: the anchor, the issuer and its key (also as SEC1, the tls provider's form)", () => {
        openssl(["ec", "-in", "issuer.key", "-out", "issuer.sec1.key"]);
        const pem = (f: string) => readFileSync(join(dir, f), "utf8");
        assert.match(pem("issuer.sec1.key"), /-----BEGIN EC PRIVATE KEY-----/);
        for (const key of ["issuer.key", "issuer.sec1.key"]) {
            const values = linkerdControlPlaneValues({
                trustAnchorPem: pem("anchor.crt"),
                issuerCertPem: pem("issuer.crt"),
                issuerKeyPem: pem(key),
                highAvailability: false,
            });
            assert.equal(values.identityTrustAnchorsPEM, pem("anchor.crt"));
        }
        // The key is the issuer certificate's key.
        assert.equal(openssl(["pkey", "-in", "issuer.sec1.key", "-pubout"]), openssl(["x509", "-in", "issuer.crt", "-noout", "-pubkey"]));
    });

    describe("a parameter Linkerd would reject fails these checks", () => {
        const mutate = (m: Partial<CertParams>): CertParams => ({ ...params.issuer, ...m });

        it("P-384 issuer key", () => {
            makeSigned("bad-curve", "anchor", mutate({ key: { algorithm: "ECDSA", ecdsaCurve: "P384" } as unknown as KeyParams }));
            assert.deepEqual(linkerdRejects(text("bad-curve.crt")), ["not P-256"]);
        });

        it("issuer that is not a CA: nothing it signs verifies", () => {
            makeSigned("not-ca", "anchor", mutate({ isCaCertificate: false }));
            assert.ok(linkerdRejects(text("not-ca.crt")).includes("not a CA"));
            makeSigned("leaf-of-not-ca", "not-ca", { ...params.issuer, isCaCertificate: false, subject: { commonName: LEAF_NAME } });
            const [ok, out] = verify(["-CAfile", "anchor.crt", "-untrusted", "not-ca.crt", "leaf-of-not-ca.crt"]);
            assert.equal(ok, false, out);
            assert.match(out, /invalid CA certificate/);
        });

        it("issuer without cert signing", () => {
            makeSigned("no-sign", "anchor", mutate({ allowedUses: ["crl_signing"] }));
            assert.ok(linkerdRejects(text("no-sign.crt")).includes("key usage is not exactly cert and CRL signing"));
        });

        it("issuer limited to client auth: proxies' server certificates stop verifying", () => {
            makeSigned("client-only", "anchor", mutate({ allowedUses: ["cert_signing", "crl_signing", "client_auth"] }));
            assert.ok(linkerdRejects(text("client-only.crt")).includes("extended key usage without serverAuth"));
            const leaf: CertParams = {
                ...params.issuer,
                isCaCertificate: false,
                subject: { commonName: LEAF_NAME },
                allowedUses: ["digital_signature", "server_auth", "client_auth"],
            };
            makeSigned("leaf-of-client-only", "client-only", leaf, [LEAF_NAME]);
            const [ok, out] = verify([
                "-purpose",
                "sslserver",
                "-CAfile",
                "anchor.crt",
                "-untrusted",
                "client-only.crt",
                "leaf-of-client-only.crt",
            ]);
            assert.equal(ok, false, out);
            assert.match(out, /unsuitable certificate purpose/);
        });
    });
});
