// Where an object storage endpoint is, for the sovereignty check: a small table
// of well-known S3 endpoint host patterns and the country of each region.
// Pure. An endpoint this table does not know is "unknown" (a warning under
// sovereignty: strict), never silently "fine".
import { isIP } from "node:net";

/** EU member states plus Iceland, Liechtenstein and Norway (ISO 3166-1 alpha-2, lower case). */
export const EEA_COUNTRIES: readonly string[] = [
    "at", "be", "bg", "hr", "cy", "cz", "dk", "ee", "fi", "fr", "de", "gr", "hu", "ie", "it", "lv", "lt",
    "lu", "mt", "nl", "pl", "pt", "ro", "sk", "si", "es", "se", "is", "li", "no",
]; // prettier-ignore

export type EndpointLocation =
    | { kind: "known"; provider: string; country: string; region: string }
    | { kind: "private"; reason: string }
    | { kind: "unknown" };

interface KnownPattern {
    provider: string;
    /** Matches the host; group 1 is the provider's region name. */
    host: RegExp;
    /** Region name -> country; a region missing here makes the endpoint "unknown". */
    regions: Record<string, string>;
}

// Host patterns as the providers document them; regions listed only where their location is public.
const KNOWN: readonly KnownPattern[] = [
    {
        provider: "AWS S3",
        host: /^(?:[a-z0-9.-]+\.)?s3[.-](?:dualstack\.)?([a-z]{2}-[a-z]+-\d)\.amazonaws\.com$/,
        regions: {
            "eu-north-1": "se", "eu-west-1": "ie", "eu-west-2": "gb", "eu-west-3": "fr", "eu-central-1": "de",
            "eu-central-2": "ch", "eu-south-1": "it", "eu-south-2": "es", "us-east-1": "us", "us-east-2": "us",
            "us-west-1": "us", "us-west-2": "us", "ca-central-1": "ca", "ap-northeast-1": "jp", "ap-southeast-1": "sg",
        }, // prettier-ignore
    },
    { provider: "Google Cloud Storage", host: /^(storage)\.googleapis\.com$/, regions: { storage: "us" } },
    {
        provider: "Scaleway Object Storage",
        host: /^(?:[a-z0-9.-]+\.)?s3\.([a-z]{2}-[a-z]{3})\.scw\.cloud$/,
        regions: { "fr-par": "fr", "nl-ams": "nl", "pl-waw": "pl" },
    },
    {
        provider: "Hetzner Object Storage",
        host: /^(?:[a-z0-9.-]+\.)?(fsn1|nbg1|hel1)\.your-objectstorage\.com$/,
        regions: { fsn1: "de", nbg1: "de", hel1: "fi" },
    },
    {
        provider: "Exoscale SOS",
        host: /^(?:[a-z0-9.-]+\.)?sos-([a-z]{2}-[a-z]{3}-\d)\.exo\.io$/,
        regions: {
            "ch-gva-2": "ch",
            "ch-dk-2": "ch",
            "de-fra-1": "de",
            "de-muc-1": "de",
            "at-vie-1": "at",
            "at-vie-2": "at",
            "bg-sof-1": "bg",
        },
    },
    {
        provider: "DigitalOcean Spaces",
        host: /^(?:[a-z0-9.-]+\.)?([a-z]{3}\d)\.digitaloceanspaces\.com$/,
        regions: { ams3: "nl", fra1: "de", lon1: "gb", nyc3: "us", sfo3: "us", sgp1: "sg", syd1: "au", tor1: "ca", blr1: "in" },
    },
    {
        provider: "Backblaze B2",
        host: /^(?:[a-z0-9.-]+\.)?s3\.([a-z]{2}-[a-z]+-\d{3})\.backblazeb2\.com$/,
        regions: { "eu-central-003": "nl", "us-west-001": "us", "us-west-002": "us", "us-west-004": "us", "us-east-005": "us" },
    },
];

/** Where `host` (a URL's host, without port) is, as far as the table knows. */
export function endpointLocation(host: string): EndpointLocation {
    const h = host.toLowerCase().replace(/^\[|\]$/g, "");
    if (isIP(h) !== 0) {
        if (isPrivateAddress(h)) return { kind: "private", reason: `${h} is a private or loopback address (storage on your own network)` };
        return { kind: "unknown" };
    }
    if (h === "localhost" || h.endsWith(".svc") || /\.svc\.[a-z0-9.-]+$/.test(h) || h.endsWith(".cluster.local")) {
        return { kind: "private", reason: `${h} is inside the cluster` };
    }
    for (const k of KNOWN) {
        const m = k.host.exec(h);
        if (!m) continue;
        const country = k.regions[m[1]];
        return country ? { kind: "known", provider: k.provider, country, region: m[1] } : { kind: "unknown" };
    }
    return { kind: "unknown" };
}

function isPrivateAddress(ip: string): boolean {
    if (ip === "::1" || /^f[cd][0-9a-f]{2}:/i.test(ip) || /^fe80:/i.test(ip)) return true;
    const o = ip.split(".").map(Number);
    if (o.length !== 4) return false;
    return o[0] === 10 || o[0] === 127 || (o[0] === 172 && o[1] >= 16 && o[1] <= 31) || (o[0] === 192 && o[1] === 168);
}

/**
 * The sovereignty verdict on an endpoint: an error for a known location
 * outside Norway/EEA under `strict`, a warning for one the table cannot place
 * (or, under `relaxed`, for one outside the EEA); nothing otherwise.
 */
export function endpointSovereignty(host: string, strict: boolean): { error?: string; warning?: string } {
    const loc = endpointLocation(host);
    if (loc.kind === "private") return {};
    if (loc.kind === "unknown") {
        return strict
            ? {
                  warning:
                      `${host} is not in nordstack's table of known object storage endpoints, so its location is not checked; ` +
                      "make sure it is in Norway or the EEA",
              }
            : {};
    }
    if (EEA_COUNTRIES.includes(loc.country)) return {};
    const where = `${host} is ${loc.provider} ${loc.region}, in ${loc.country.toUpperCase()} (outside Norway/EEA)`;
    return strict
        ? { error: `${where} while sovereignty is "strict"; use storage in Norway or the EEA, or set sovereignty: relaxed deliberately` }
        : { warning: where };
}
