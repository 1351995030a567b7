// Cluster DNS for `*.service.consul`. k3s's CoreDNS Corefile ends with
// `import /etc/coredns/custom/*.server` and mounts the optional ConfigMap
// kube-system/coredns-custom at /etc/coredns/custom, so a `<x>.server` key
// there adds a server block without editing the k3s-managed Corefile (k3s
// would put its own back).
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { runError } from "../errors";

export const COREDNS_CUSTOM = { namespace: "kube-system", name: "coredns-custom", deployment: "coredns" } as const;

/** Pod-template annotation whose change restarts CoreDNS: its `reload` plugin watches the Corefile, not imported files. */
export const COREDNS_RESTART_ANNOTATION = "nordstack.io/coredns-custom-sha256";

/**
 * A CoreDNS server block forwarding the Consul zone to Consul's DNS Service.
 * No `cache`: Consul answers with TTL 0 so an instance that turns unhealthy
 * drops out of answers at once; CoreDNS would keep it for its minimum TTL.
 */
export function consulServerBlock(domain: string, dnsServiceIp: string): string {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(domain)) throw runError(`DNS zone ${JSON.stringify(domain)} is not a DNS label`);
    if (isIP(dnsServiceIp) === 0) throw runError(`Consul DNS service address ${JSON.stringify(dnsServiceIp)} is not an IP address`);
    return [`${domain}:53 {`, "    errors", `    forward . ${dnsServiceIp}`, "}", ""].join("\n");
}

/** The coredns-custom ConfigMap data: one `.server` file per forwarded zone. */
export function coreDnsCustomData(domain: string, dnsServiceIp: string): Record<string, string> {
    return { [`${domain}.server`]: consulServerBlock(domain, dnsServiceIp) };
}

/** A stable digest of the ConfigMap data, for the restart annotation. */
export function coreDnsDataHash(data: Record<string, string>): string {
    const canonical = Object.keys(data)
        .sort()
        .map((k) => `${k}\n${data[k]}`)
        .join("\n---\n");
    return createHash("sha256").update(canonical).digest("hex");
}
