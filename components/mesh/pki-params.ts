import { runError } from "../errors";
// The certificate parameters of Linkerd's identity PKI: the single source of
// truth that both LinkerdPki (@pulumi/tls) and the openssl test consume, so a
// parameter Linkerd would reject cannot reach a cluster without failing a test.

/**
 * RFC 5280 usages in the spelling the tls provider validates (`cert_signing`);
 * the camelCase list in @pulumi/tls's generated JSDoc is a doc-rewrite artifact.
 */
export type KeyUsage = "cert_signing" | "crl_signing" | "digital_signature" | "key_encipherment" | "server_auth" | "client_auth";

export interface KeyParams {
    /** Linkerd's identity service signs with ECDSA P-256 and rejects any other issuer key. */
    algorithm: "ECDSA";
    ecdsaCurve: "P256";
}

export interface CertParams {
    key: KeyParams;
    subject: { commonName: string };
    isCaCertificate: boolean;
    allowedUses: KeyUsage[];
    validityPeriodHours: number;
    setSubjectKeyId: boolean;
    /** Self-signed certificates only: a signed certificate takes its authority key id from the signer. */
    setAuthorityKeyId: boolean;
}

export interface LinkerdPkiParams {
    trustAnchor: CertParams;
    issuer: CertParams;
}

export interface LinkerdPkiOptions {
    /** Linkerd's identity trust domain (the cluster domain). Default `cluster.local`. */
    trustDomain?: string;
    /** Trust anchor lifetime in hours. Default 87600 (10 years): replacing it means a trust-bundle migration. */
    anchorValidityHours?: number;
    /** Identity issuer lifetime in hours. Default 8760 (1 year), as in Linkerd's own guide; must be shorter than the anchor's. */
    issuerValidityHours?: number;
}

export const LINKERD_PKI_DEFAULTS = {
    trustDomain: "cluster.local",
    anchorValidityHours: 87600,
    issuerValidityHours: 8760,
} as const;

const P256: KeyParams = { algorithm: "ECDSA", ecdsaCurve: "P256" };

/**
 * Returns the trust anchor and identity issuer parameters. Throws one Error
 * listing every invalid option.
 *
 * Both are CAs limited to cert and CRL signing, with no extended key usage:
 * Linkerd verifies the issuer as if it were a TLS server certificate, and Go
 * accepts a certificate without EKU for any purpose, while an EKU lacking
 * serverAuth would fail that check and every proxy's chain. No pathlen is
 * set: @pulumi/tls 5.x cannot express a path length, so the issuer is
 * `CA:TRUE` without one (Linkerd accepts it; the openssl test pins it).
 */
export function linkerdPkiParams(opts: LinkerdPkiOptions = {}): LinkerdPkiParams {
    const trustDomain = opts.trustDomain ?? LINKERD_PKI_DEFAULTS.trustDomain;
    const anchorHours = opts.anchorValidityHours ?? LINKERD_PKI_DEFAULTS.anchorValidityHours;
    const issuerHours = opts.issuerValidityHours ?? LINKERD_PKI_DEFAULTS.issuerValidityHours;

    const problems: string[] = [];
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(trustDomain)) {
        problems.push(`trustDomain ${JSON.stringify(trustDomain)} is not a DNS name like cluster.local`);
    }
    for (const [field, hours] of [
        ["anchorValidityHours", anchorHours],
        ["issuerValidityHours", issuerHours],
    ] as const) {
        if (!Number.isInteger(hours) || hours < 24) problems.push(`${field} must be a whole number of hours, at least 24; got ${hours}`);
    }
    if (issuerHours >= anchorHours) {
        problems.push(
            `issuerValidityHours (${issuerHours}) must be shorter than anchorValidityHours (${anchorHours}): ` +
                `an issuer outliving its trust anchor stops verifying the day the anchor expires`,
        );
    }
    if (problems.length > 0) throw runError(`invalid Linkerd PKI options:\n  - ${problems.join("\n  - ")}`);

    return {
        trustAnchor: {
            key: { ...P256 },
            subject: { commonName: `root.linkerd.${trustDomain}` },
            isCaCertificate: true,
            allowedUses: ["cert_signing", "crl_signing"],
            validityPeriodHours: anchorHours,
            setSubjectKeyId: true,
            setAuthorityKeyId: true,
        },
        issuer: {
            key: { ...P256 },
            subject: { commonName: `identity.linkerd.${trustDomain}` },
            isCaCertificate: true,
            allowedUses: ["cert_signing", "crl_signing"],
            validityPeriodHours: issuerHours,
            setSubjectKeyId: true,
            setAuthorityKeyId: false,
        },
    };
}
