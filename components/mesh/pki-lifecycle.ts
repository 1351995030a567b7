import { runError } from "../errors";
// Certificate lifecycle decisions for the Linkerd PKI, kept pure: which name
// the issuer's resources carry (so a rotation replaces them), and when an
// expiry date deserves a warning. An expired issuer is the top cause of
// Linkerd outages: proxies cannot renew their certificates and mTLS stops.

const DAY_MS = 24 * 60 * 60 * 1000;

/** Default warning horizon: `linkerd check` warns below 60 days too. */
export const DEFAULT_WARN_DAYS = 60;

/**
 * The part of the issuer's resource names that carries `issuerRotation`.
 * A new value gives the issuer key, request and certificate new names, so
 * Pulumi creates a fresh issuer (new key) before deleting the old one, while
 * the trust anchor keeps its name and is untouched. Unset: no suffix.
 */
export function issuerNamePart(rotation?: string | number): string {
    if (rotation === undefined || rotation === "") return "issuer";
    const r = String(rotation);
    if (!/^[A-Za-z0-9]([A-Za-z0-9._-]{0,30}[A-Za-z0-9])?$/.test(r)) {
        throw runError(
            `issuerRotation ${JSON.stringify(r)} must be 1-32 letters, digits, '.', '_' or '-' (it becomes part of resource names), ` +
                `e.g. 2027-01 or 2`,
        );
    }
    return `issuer-${r}`;
}

/** Why `warnDays` cannot work with this issuer lifetime, or undefined. */
export function warnDaysProblem(warnDays: number, issuerValidityHours: number): string | undefined {
    if (!Number.isInteger(warnDays) || warnDays < 1) return `warnDays must be a whole number of days, at least 1; got ${warnDays}`;
    if (warnDays * 24 >= issuerValidityHours) {
        return (
            `warnDays (${warnDays}) must be shorter than the issuer's lifetime (issuerValidityHours ${issuerValidityHours} = ` +
            `${Math.floor(issuerValidityHours / 24)} days), or every preview would warn from the day it is issued`
        );
    }
    return undefined;
}

export interface ExpiryCheck {
    /** What expires, for the message, e.g. "Linkerd identity issuer certificate". */
    what: string;
    /** RFC 3339 end of validity (tls `validityEndTime`). */
    validityEndTime: string;
    now: Date;
    warnDays: number;
    /** What the operator should do, appended to the message. */
    remedy: string;
}

/** The warning to print when the certificate expires within `warnDays` (or already has), else undefined. */
export function expiryWarning(c: ExpiryCheck): string | undefined {
    const end = Date.parse(c.validityEndTime);
    if (Number.isNaN(end)) throw runError(`${c.what}: validityEndTime ${JSON.stringify(c.validityEndTime)} is not an RFC 3339 date`);
    const left = end - c.now.getTime();
    const date = new Date(end).toISOString();
    if (left <= 0) return `${c.what} EXPIRED on ${date}; ${c.remedy}`;
    if (left > c.warnDays * DAY_MS) return undefined;
    const days = Math.floor(left / DAY_MS);
    return `${c.what} expires on ${date} (in ${days} day${days === 1 ? "" : "s"}, within warnDays ${c.warnDays}); ${c.remedy}`;
}
