import { describe, it, before, mock } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { GraphRecorder, value, valueAndSecret } from "../helpers/mocks";
import { fake, installFakeOutputMocks, validityEnd } from "./fake-outputs";
import type { LinkerdPkiArgs } from "../../components/mesh/pki";

before(() => installFakeOutputMocks());

async function build(name: string, args: LinkerdPkiArgs = {}) {
    const { LinkerdPki } = await import("../../components/mesh/pki");
    const rec = new GraphRecorder();
    const pki = new LinkerdPki(name, args, { transformations: [rec.transform] });
    return { pki, rec };
}

const props = <T>(rec: GraphRecorder, name: string) => rec.byName(name).props as unknown as T;

describe("LinkerdPki (mocks)", () => {
    it("registers the anchor key and self-signed cert, then the issuer key, request and signed cert, all its children", async () => {
        const { rec } = await build("p1");
        assert.deepEqual(
            rec.resources.map((r) => `${r.type} ${r.name} <- ${r.parent ?? "-"}`),
            [
                "nordstack:mesh:LinkerdPki p1 <- -",
                "tls:index/privateKey:PrivateKey p1-anchor-key <- p1",
                "tls:index/selfSignedCert:SelfSignedCert p1-anchor-cert <- p1",
                "tls:index/privateKey:PrivateKey p1-issuer-key <- p1",
                "tls:index/certRequest:CertRequest p1-issuer-csr <- p1",
                "tls:index/locallySignedCert:LocallySignedCert p1-issuer-cert <- p1",
            ],
        );
    });

    it("passes the certificate parameters Linkerd needs to @pulumi/tls", async () => {
        const { rec } = await build("p2");
        for (const key of ["p2-anchor-key", "p2-issuer-key"]) {
            const k = props<Record<string, unknown>>(rec, key);
            assert.deepEqual(
                { algorithm: k.algorithm, ecdsaCurve: k.ecdsaCurve, rsaBits: k.rsaBits },
                { algorithm: "ECDSA", ecdsaCurve: "P256", rsaBits: undefined },
                key,
            );
        }
        const anchor = props<Record<string, unknown>>(rec, "p2-anchor-cert");
        assert.equal(anchor.isCaCertificate, true);
        assert.deepEqual(anchor.allowedUses, ["cert_signing", "crl_signing"]);
        assert.equal(anchor.validityPeriodHours, 87600);
        assert.deepEqual(anchor.subject, { commonName: "root.linkerd.cluster.local" });
        assert.equal(anchor.setSubjectKeyId, true);

        const csr = props<Record<string, unknown>>(rec, "p2-issuer-csr");
        assert.deepEqual(csr.subject, { commonName: "identity.linkerd.cluster.local" });
        const issuer = props<Record<string, unknown>>(rec, "p2-issuer-cert");
        assert.equal(issuer.isCaCertificate, true);
        assert.deepEqual(issuer.allowedUses, ["cert_signing", "crl_signing"]);
        assert.equal(issuer.validityPeriodHours, 8760);
        assert.ok((issuer.validityPeriodHours as number) < (anchor.validityPeriodHours as number));
    });

    it("signs the issuer with the anchor: its request from the issuer key, the anchor's cert and key as CA", async () => {
        const { rec } = await build("p3");
        type Signed = { certRequestPem: pulumi.Output<string>; caCertPem: pulumi.Output<string>; caPrivateKeyPem: pulumi.Output<string> };
        const issuer = props<Signed>(rec, "p3-issuer-cert");
        assert.equal(await value(issuer.caCertPem), fake.certPem("p3-anchor-cert"));
        assert.deepEqual(await valueAndSecret(issuer.caPrivateKeyPem), [fake.keyPem("p3-anchor-key"), true]);
        assert.equal(await value(issuer.certRequestPem), fake.csrPem("p3-issuer-csr"));

        const csr = props<{ privateKeyPem: pulumi.Output<string> }>(rec, "p3-issuer-csr");
        assert.deepEqual(await valueAndSecret(csr.privateKeyPem), [fake.keyPem("p3-issuer-key"), true]);
        const anchor = props<{ privateKeyPem: pulumi.Output<string> }>(rec, "p3-anchor-cert");
        assert.deepEqual(await valueAndSecret(anchor.privateKeyPem), [fake.keyPem("p3-anchor-key"), true]);
    });

    it("outputs the anchor and issuer PEMs, the issuer key as a secret, and both expiry dates", async () => {
        validityEnd["p4-anchor-cert"] = "2036-11-25T10:00:00Z";
        validityEnd["p4-issuer-cert"] = "2027-11-28T10:00:00Z";
        const { pki } = await build("p4");
        assert.deepEqual(await valueAndSecret(pki.trustAnchorPem), [fake.certPem("p4-anchor-cert"), false]);
        assert.deepEqual(await valueAndSecret(pki.issuerCertPem), [fake.certPem("p4-issuer-cert"), false]);
        assert.deepEqual(await valueAndSecret(pki.issuerKeyPem), [fake.keyPem("p4-issuer-key"), true]);
        assert.equal(await value(pki.trustAnchorExpiresAt), "2036-11-25T10:00:00Z");
        assert.equal(await value(pki.issuerExpiresAt), "2027-11-28T10:00:00Z");
    });

    it("rotating the issuer replaces only the issuer: the anchor keeps its URNs and inputs, the new issuer is signed by it", async () => {
        const graph = async (rotation?: string | number) => {
            const { pki, rec } = await build("rot", { issuerRotation: rotation });
            const nodes = await Promise.all(
                rec.resources.map(async (r) => ({
                    urn: await value(r.resource.urn),
                    name: r.name,
                    props: r.name.includes("anchor") ? JSON.stringify(r.props) : "",
                })),
            );
            return { pki, rec, nodes };
        };
        const before = await graph(undefined);
        const first = await graph(1);
        const second = await graph("2027-01");

        const urns = (g: typeof before, part: string) =>
            g.nodes
                .filter((n) => n.name.includes(part))
                .map((n) => n.urn)
                .sort();
        for (const g of [first, second]) {
            assert.deepEqual(urns(g, "anchor"), urns(before, "anchor"), "the anchor's URNs are unchanged");
            assert.deepEqual(
                g.nodes.filter((n) => n.name.includes("anchor")).map((n) => n.props),
                before.nodes.filter((n) => n.name.includes("anchor")).map((n) => n.props),
                "the anchor's inputs are unchanged",
            );
            assert.equal(urns(g, "issuer").length, 3);
        }
        const all = [before, first, second].map((g) => urns(g, "issuer"));
        assert.equal(new Set(all.flat()).size, 9, "every rotation value gives the issuer key, request and cert new URNs");
        assert.ok(
            urns(second, "issuer").includes(
                "urn:pulumi:test::nordstack::nordstack:mesh:LinkerdPki$tls:index/locallySignedCert:LocallySignedCert::rot-issuer-2027-01-cert",
            ),
        );

        type Signed = { caCertPem: pulumi.Output<string> };
        assert.equal(await value(props<Signed>(second.rec, "rot-issuer-2027-01-cert").caCertPem), fake.certPem("rot-anchor-cert"));
        assert.equal(await value(second.pki.issuerKeyPem), fake.keyPem("rot-issuer-2027-01-key"));
    });

    it("warns in the preview when the issuer expires within warnDays, naming the date", async () => {
        const warn = mock.method(console, "warn", () => undefined);
        try {
            const soon = new Date(Date.now() + 10 * 86_400_000).toISOString();
            validityEnd["w1-issuer-cert"] = soon;
            const { pki } = await build("w1", { warnDays: 30 });
            await value(pki.issuerExpiresAt);
            await new Promise((r) => setImmediate(r));
            const messages = warn.mock.calls.map((c) => String(c.arguments[0]));
            const issuerWarnings = messages.filter((m) => m.includes("Linkerd identity issuer certificate"));
            assert.equal(issuerWarnings.length, 1, messages.join("\n"));
            assert.match(
                issuerWarnings[0],
                new RegExp(`expires on ${soon.replace(/[.]/g, "\\.")} \\(in (9|10) days, within warnDays 30\\)`),
            );
            assert.match(issuerWarnings[0], /issuerRotation/);
            assert.ok(!messages.some((m) => m.includes("Linkerd trust anchor certificate")), "the anchor is far from expiry");

            warn.mock.resetCalls();
            validityEnd["w2-issuer-cert"] = new Date(Date.now() + 100 * 86_400_000).toISOString();
            const quiet = await build("w2", { warnDays: 30 });
            await value(quiet.pki.issuerExpiresAt);
            await new Promise((r) => setImmediate(r));
            assert.equal(warn.mock.calls.length, 0);

            validityEnd["w3-anchor-cert"] = new Date(Date.now() - 86_400_000).toISOString();
            const expired = await build("w3");
            await value(expired.pki.trustAnchorExpiresAt);
            await new Promise((r) => setImmediate(r));
            assert.equal(warn.mock.calls.length, 1);
            assert.match(
                String(warn.mock.calls[0].arguments[0]),
                /Linkerd trust anchor certificate EXPIRED on .*; plan a trust anchor rotation/,
            );
        } finally {
            warn.mock.restore();
        }
    });

    it("refuses bad options before creating any certificate, naming them", async () => {
        await assert.rejects(build("bad1", { issuerRotation: "not ok" }), /issuerRotation "not ok" must be 1-32 letters/);
        await assert.rejects(
            build("bad2", { issuerValidityHours: 87600 }),
            /issuerValidityHours \(87600\) must be shorter than anchorValidityHours/,
        );
        await assert.rejects(build("bad3", { warnDays: 400 }), /warnDays \(400\) must be shorter than the issuer's lifetime/);
    });
});
