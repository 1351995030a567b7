import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { CertParams, linkerdPkiParams } from "./pki-params";
import { DEFAULT_WARN_DAYS, expiryWarning, issuerNamePart, warnDaysProblem } from "./pki-lifecycle";
import { resourceError, runError } from "../errors";

export interface LinkerdPkiArgs {
    /** Linkerd's identity trust domain; the certificates are `root.linkerd.<domain>` and `identity.linkerd.<domain>`. Default `cluster.local`. */
    trustDomain?: string;
    /** Trust anchor lifetime in hours. Default 87600 (10 years). Changing it replaces the anchor: every meshed pod must restart. */
    anchorValidityHours?: number;
    /** Identity issuer lifetime in hours. Default 8760 (1 year); must be shorter than the anchor's. */
    issuerValidityHours?: number;
    /**
     * Any new value (e.g. `2027-01`, or a counter) issues a new issuer key and certificate
     * from the same trust anchor; the anchor is not touched, so running proxies keep verifying.
     * 1-32 letters, digits, `.`, `_`, `-`. Default: unset.
     */
    issuerRotation?: string | number;
    /**
     * Generation of the trust anchor (1-16 letters or digits). The anchor is never
     * replaced as a side effect (its parameters are pinned with ignoreChanges);
     * changing this replaces it deliberately: every meshed pod must then restart.
     * Default `1`.
     */
    trustAnchorGeneration?: string;
    /** Hours before the issuer expires from which `pulumi up` replaces it. Default 720 (30 days). */
    issuerEarlyRenewalHours?: number;
    /** Days before expiry from which every preview warns about the issuer (and anchor). Default 60, as `linkerd check`. */
    warnDays?: number;
}

/**
 * Linkerd's identity PKI made with @pulumi/tls: a self-signed trust anchor and
 * an identity issuer (intermediate CA) signed by it, as Linkerd's Helm charts
 * require. Private keys stay secrets; both expiry dates are outputs, and the
 * preview warns when one is within `warnDays`.
 */
export class LinkerdPki extends pulumi.ComponentResource {
    /** PEM of the trust anchor, for `identityTrustAnchorsPEM`. */
    public readonly trustAnchorPem: pulumi.Output<string>;
    /** PEM of the identity issuer certificate. */
    public readonly issuerCertPem: pulumi.Output<string>;
    /** PEM of the identity issuer private key (secret). */
    public readonly issuerKeyPem: pulumi.Output<string>;
    /** RFC 3339 end of the trust anchor's validity. */
    public readonly trustAnchorExpiresAt: pulumi.Output<string>;
    /** RFC 3339 end of the issuer's validity. */
    public readonly issuerExpiresAt: pulumi.Output<string>;

    constructor(name: string, args: LinkerdPkiArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:mesh:LinkerdPki", name, {}, opts);
        const warnDays = args.warnDays ?? DEFAULT_WARN_DAYS;
        let params: ReturnType<typeof linkerdPkiParams>;
        let issuerPart: string;
        try {
            params = linkerdPkiParams(args);
            issuerPart = issuerNamePart(args.issuerRotation);
            const problem = warnDaysProblem(warnDays, params.issuer.validityPeriodHours);
            if (problem) throw runError(problem);
        } catch (e) {
            throw resourceError((e as Error).message, this);
        }
        const child = { parent: this };

        // Generation 1 keeps the original names; any other generation is a new, deliberate anchor.
        const gen = !args.trustAnchorGeneration || args.trustAnchorGeneration === "1" ? "" : `-g${args.trustAnchorGeneration}`;
        // A silent anchor replacement breaks every proxy's trust: its inputs are pinned once created.
        const pinned = { ...child, ignoreChanges: ["algorithm", "ecdsaCurve", "rsaBits"] };
        const anchorKey = new tls.PrivateKey(`${name}-anchor-key${gen}`, params.trustAnchor.key, pinned);
        const anchorKeyPem = pulumi.secret(anchorKey.privateKeyPem);
        const anchor = new tls.SelfSignedCert(
            `${name}-anchor-cert${gen}`,
            {
                ...certArgs(params.trustAnchor),
                subject: params.trustAnchor.subject,
                privateKeyPem: anchorKeyPem,
                setAuthorityKeyId: params.trustAnchor.setAuthorityKeyId,
            },
            {
                ...child,
                ignoreChanges: ["validityPeriodHours", "earlyRenewalHours", "allowedUses", "subject", "isCaCertificate", "setSubjectKeyId"],
            },
        );

        const issuerKey = new tls.PrivateKey(`${name}-${issuerPart}-key`, params.issuer.key, child);
        const issuerKeyPem = pulumi.secret(issuerKey.privateKeyPem);
        const csr = new tls.CertRequest(
            `${name}-${issuerPart}-csr`,
            { privateKeyPem: issuerKeyPem, subject: params.issuer.subject },
            child,
        );
        const issuer = new tls.LocallySignedCert(
            `${name}-${issuerPart}-cert`,
            {
                ...certArgs(params.issuer),
                // Replaced by the first `up` inside this window, long before Linkerd would stop issuing.
                earlyRenewalHours: args.issuerEarlyRenewalHours ?? 720,
                certRequestPem: csr.certRequestPem,
                caCertPem: anchor.certPem,
                caPrivateKeyPem: anchorKeyPem,
            },
            child,
        );

        this.trustAnchorPem = anchor.certPem;
        this.issuerCertPem = issuer.certPem;
        this.issuerKeyPem = issuerKeyPem;
        this.trustAnchorExpiresAt = anchor.validityEndTime;
        this.issuerExpiresAt = issuer.validityEndTime;

        // Known only once the certificates exist: a preview of an existing stack
        // reads them from state and warns; a first preview has nothing to warn about.
        const now = new Date();
        this.warnWhenExpiring(this.issuerExpiresAt, now, warnDays, {
            what: "Linkerd identity issuer certificate",
            remedy: "set a new issuerRotation to issue a fresh issuer from the same trust anchor (no downtime)",
        });
        this.warnWhenExpiring(this.trustAnchorExpiresAt, now, warnDays, {
            what: "Linkerd trust anchor certificate",
            remedy: "plan a trust anchor rotation (bundle old and new anchors in identityTrustAnchorsPEM before switching)",
        });

        this.registerOutputs({
            trustAnchorPem: this.trustAnchorPem,
            issuerCertPem: this.issuerCertPem,
            issuerKeyPem: this.issuerKeyPem,
            trustAnchorExpiresAt: this.trustAnchorExpiresAt,
            issuerExpiresAt: this.issuerExpiresAt,
        });
    }

    private warnWhenExpiring(end: pulumi.Output<string>, now: Date, warnDays: number, m: { what: string; remedy: string }): void {
        end.apply((validityEndTime) => {
            if (!validityEndTime) return;
            const warning = expiryWarning({ ...m, validityEndTime, now, warnDays });
            if (warning) void pulumi.log.warn(warning, this);
        });
    }
}

/** The tls arguments shared by the self-signed anchor and the locally signed issuer (whose subject comes from its request). */
function certArgs(p: CertParams) {
    return {
        isCaCertificate: p.isCaCertificate,
        allowedUses: p.allowedUses,
        validityPeriodHours: p.validityPeriodHours,
        setSubjectKeyId: p.setSubjectKeyId,
    };
}
